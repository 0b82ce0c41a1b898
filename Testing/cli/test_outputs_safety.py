"""Outputs never overwrite inputs (also through symlinks), have the format's suffix, appear atomically
with normal permissions."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest
import SimpleITK as sitk
from SaliencyExplorerLib.cli import main
from SaliencyExplorerLib.errors import SaliencyError
from SaliencyExplorerLib.output_files import atomic_output
from SaliencyExplorerLib.volumes.image_files import check_output_path, write_image


@pytest.fixture
def images(tmp_path):
    rng = np.random.default_rng(0)
    for name in ("ct.nrrd", "heat.nrrd"):
        sitk.WriteImage(sitk.GetImageFromArray(rng.random((6, 8, 10)).astype(np.float32)), str(tmp_path / name))
    return tmp_path / "ct.nrrd", tmp_path / "heat.nrrd"


def test_symlink_to_an_input_is_refused(images, tmp_path):
    ct, _ = images
    os.symlink(ct, tmp_path / "link.nrrd")
    with pytest.raises(SaliencyError, match="never overwritten"):
        check_output_path(tmp_path / "link.nrrd", [ct])


@pytest.mark.parametrize("which", ["image", "heatmap", "txt"])
def test_figure_refuses_inputs_and_wrong_suffix(images, tmp_path, capsys, which):
    ct, heat = images
    out = {"image": ct, "heatmap": heat, "txt": tmp_path / "f.txt"}[which]
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert main(["figure", str(ct), str(heat), "-o", str(out)]) == 2
    assert capsys.readouterr().err.startswith("error: ")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_outputs_get_normal_permissions_and_no_temp_is_left(images, tmp_path, capsys):
    ct, heat = images
    old = os.umask(0o022)
    try:
        write_image(sitk.ReadImage(str(ct)), tmp_path / "copy.nrrd", [ct])
        assert main(["figure", str(ct), str(heat), "-o", str(tmp_path / "f.png")]) == 0
    finally:
        os.umask(old)
    for name in ("copy.nrrd", "f.png"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_failed_write_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_output(tmp_path / "x.png") as tmp:
            open(tmp, "wb").write(b"half")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
