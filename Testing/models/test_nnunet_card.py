"""nnU-Net model cards (models/nnunet_card.py): the derived card says the plans' spacing, patch, tiling,
mirroring and resampling, round-trips through JSON, and bad mirror axes or transposes are refused.

The folder is planned by nnU-Net itself on a tiny synthetic dataset (helpers/nnunet_fixture.py), random weights.
"""

import json

import pytest

pytest.importorskip("dynamic_network_architectures")
pytest.importorskip("nnunetv2")

from helpers.nnunet_fixture import make_nnunet_folder  # noqa: E402
from SaliencyExplorerLib.card import card_to_dict, parse_card  # noqa: E402
from SaliencyExplorerLib.errors import CardError  # noqa: E402
from SaliencyExplorerLib.models.loading import load_model  # noqa: E402


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_nnunet_folder(tmp_path_factory.mktemp("nnunet"))


def test_derived_card_round_trips_and_names_the_plans(folder):
    card = load_model(folder).card
    assert parse_card(json.loads(json.dumps(card_to_dict(card)))) == card
    plans = json.loads((folder / "plans.json").read_text())
    config = plans["configurations"]["3d_fullres"]
    assert card.input.array_order == "zyx" and card.input.orientation is None
    assert card.input.spacing == tuple(config["spacing"][::-1])
    assert card.inference.roi_size == tuple(config["patch_size"]) and card.inference.tiling == "nnunet"
    assert card.classes == ("background", "body")


def test_derived_card_says_mirroring_and_nnunet_resampling(folder):
    card = load_model(folder).card
    assert card.inference.mirror_axes == (0, 1, 2)  # the checkpoint's inference_allowed_mirroring_axes
    assert card.input.resampling == "nnunet"
    assert parse_card(json.loads(json.dumps(card_to_dict(card)))).inference.mirror_axes == (0, 1, 2)


@pytest.mark.parametrize("axes, match", [([0, 3], "beyond"), ([1, 1], "twice"), ("012", "list")])
def test_bad_mirror_axes_are_refused(folder, axes, match):
    data = card_to_dict(load_model(folder).card)
    data["inference"]["mirror_axes"] = axes
    with pytest.raises(CardError, match=match):
        parse_card(data)


@pytest.mark.parametrize(
    "transpose, resampling, match",
    [([0, 0, 1], "nnunet", "permutation"), ([2, 0, 1], "physical", "only nnU-Net's resampling")],
)
def test_bad_transpose_is_refused(folder, transpose, resampling, match):
    data = card_to_dict(load_model(folder).card)
    data["input"].update(transpose=transpose, resampling=resampling)
    with pytest.raises(CardError, match=match):
        parse_card(data)
