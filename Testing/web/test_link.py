"""A link that opens a case: the query string's parameters, and the one-line errors for bad ones."""

from __future__ import annotations

import pytest
from SaliencyExplorerLib.errors import SaliencyError
from SaliencyExplorerLib.web.link import parse_link, target_choice

TARGETS = [("top class", None), ("0: no lesion", 0), ("1: lesion", 1)]


def test_a_full_link_is_read_with_paths_kept_relative():
    link = parse_link(
        "?volume=cases/ct%20a.nrrd&model=models/net.pt&card=models/net.json&method=gradcam"
        "&layer=features.block3&target=1&run=1&ui=main"
    )
    assert (link.volume, link.model, link.card, link.method, link.layer, link.target, link.run) == (
        "cases/ct a.nrrd",
        "models/net.pt",
        "models/net.json",
        "gradcam",
        "features.block3",
        "1",
        True,
    )


def test_no_parameters_open_nothing_and_run_is_off_by_default():
    assert parse_link("").empty and not parse_link("").run
    assert not parse_link("volume=a.nrrd&model=m.pt").run
    assert parse_link("volume=a.nrrd&model=m.pt&run").run  # a bare "run" means run


@pytest.mark.parametrize(
    "query, words",
    [
        ("volume=a.nrrd&modle=m.pt", "unknown link parameter(s) modle"),
        ("volume=a.nrrd&run=1", "run=1 needs volume= and model="),
        ("volume=a.nrrd&model=m.pt&run=maybe", "run=maybe in the link"),
    ],
)
def test_bad_links_are_one_line_errors(query, words):
    with pytest.raises(SaliencyError, match=words.replace("(", r"\(").replace(")", r"\)")):
        parse_link(query)


def test_a_target_is_an_index_or_a_class_name():
    assert target_choice("1", TARGETS) == "1: lesion"
    assert target_choice("no lesion", TARGETS) == "0: no lesion"
    assert target_choice(None, TARGETS) == "top class"
    with pytest.raises(SaliencyError, match="not one of this model's classes"):
        target_choice("tumour", TARGETS)
