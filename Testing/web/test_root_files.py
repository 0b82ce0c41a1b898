"""The root guard: what a browser names is read and written under ``--root`` only, links included.

Truth: the file system itself (a symlink made to point outside, files created before the call).
"""

from __future__ import annotations

import os

import pytest
from SaliencyExplorerLib.errors import SaliencyError
from SaliencyExplorerLib.web.root_files import Root


@pytest.fixture
def root(tmp_path):
    inside = tmp_path / "root"
    (inside / "cases").mkdir(parents=True)
    (inside / "cases" / "ct.nrrd").write_bytes(b"x")
    (inside / "models").mkdir()
    (inside / "models" / "net.pt").write_bytes(b"x")
    (inside / "models" / "net.json").write_text("{}")
    (inside / "nnunet").mkdir()
    (inside / "nnunet" / "plans.json").write_text("{}")
    (inside / "nnunet" / "dataset.json").write_text("{}")
    (inside / "series").mkdir()
    (inside / "series" / "IM0001").write_bytes(b"\0" * 128 + b"DICM" + b"\0" * 16)
    outside = tmp_path / "secret"
    outside.mkdir()
    (outside / "other.nrrd").write_bytes(b"x")
    os.symlink(outside / "other.nrrd", inside / "cases" / "link.nrrd")
    os.symlink(outside, inside / "escape")
    return Root(inside)


def test_a_relative_path_resolves_under_the_root(root):
    assert root.resolve("cases/ct.nrrd") == root.path / "cases" / "ct.nrrd"
    assert root.resolve("./cases/../cases/ct.nrrd") == root.path / "cases" / "ct.nrrd"


@pytest.mark.parametrize("path", ["../secret/other.nrrd", "cases/link.nrrd", "escape/other.nrrd", "/etc/passwd"])
def test_anything_resolving_outside_is_refused_with_the_reason(root, path):
    with pytest.raises(SaliencyError, match="is outside the root"):
        root.resolve(path, "volume")


def test_a_missing_file_and_an_empty_pick_are_refused(root):
    with pytest.raises(SaliencyError, match="does not exist under the root"):
        root.resolve("cases/none.nrrd")
    with pytest.raises(SaliencyError, match="no model given"):
        root.resolve("  ", "model")


def test_the_listing_offers_volumes_models_and_cards_and_no_link_out(root):
    listing = root.listing()
    assert listing["volumes"] == ["cases/ct.nrrd", "series"]
    assert listing["models"] == ["models/net.pt", "nnunet"]
    assert listing["cards"] == ["models/net.json"]


def test_results_never_overwrite_a_file(root):
    first = root.results_path("ct_gradcam.nrrd")
    assert first == root.path / "results" / "ct_gradcam.nrrd"
    first.write_bytes(b"kept")
    second = root.results_path("ct_gradcam.nrrd")
    assert second.name == "ct_gradcam-2.nrrd" and first.read_bytes() == b"kept"
    assert root.results_path("ct.nii.gz").name == "ct.nii.gz"


def test_an_upload_lands_in_uploads_under_its_base_name(root):
    path = root.save_upload("../../etc/passwd.nrrd", b"data")
    assert path == root.path / "uploads" / "passwd.nrrd" and path.read_bytes() == b"data"
    again = root.save_upload("passwd.nrrd", b"new")
    assert again.name == "passwd-2.nrrd" and path.read_bytes() == b"data"
    with pytest.raises(SaliencyError, match="not a file name"):
        root.save_upload("..", b"")


def test_a_root_that_is_not_a_folder_is_refused(tmp_path):
    with pytest.raises(SaliencyError, match="is not a folder"):
        Root(tmp_path / "missing")


def test_a_folder_holding_a_link_out_of_the_root_is_refused(root, tmp_path):
    (root.path / "series" / "IM0002").symlink_to(tmp_path / "secret" / "other.nrrd")
    with pytest.raises(SaliencyError, match="holds 'IM0002', which links outside the root"):
        root.resolve("series", "volume")
    assert root.resolve("nnunet", "model") == root.path / "nnunet"
