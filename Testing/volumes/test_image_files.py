"""Reading and writing images: NRRD, NIfTI, DICOM series; geometry preserved; bad files refused clearly."""

import os

import numpy as np
import pytest
import SimpleITK as sitk
from helpers.geometry_helpers import write_dicom_series
from SaliencyExplorerLib.demo.phantoms import make_phantom, rotation_direction
from SaliencyExplorerLib.errors import SaliencyError
from SaliencyExplorerLib.volumes.image_files import check_output_path, read_image, write_image


@pytest.mark.parametrize("suffix", [".nrrd", ".nii.gz", ".nii", ".mha"])
def test_round_trip_keeps_voxels_and_geometry(tmp_path, suffix):
    img, _ = make_phantom(size=(20, 18, 7), spacing=(0.7, 0.7, 3.0), direction=rotation_direction((20, -15, 0)))
    path = write_image(img, tmp_path / f"vol{suffix}")
    back = read_image(path)
    assert back.GetSize() == img.GetSize()
    assert np.allclose(back.GetSpacing(), img.GetSpacing(), atol=1e-6)
    assert np.allclose(back.GetOrigin(), img.GetOrigin(), atol=1e-5)
    assert np.allclose(back.GetDirection(), img.GetDirection(), atol=1e-6)
    assert np.array_equal(sitk.GetArrayFromImage(back), sitk.GetArrayFromImage(img))
    assert [p.name for p in tmp_path.iterdir()] == [f"vol{suffix}"]  # no temporary file left behind


def test_dicom_series_folder_reads_in_patient_space(tmp_path):
    img, _ = make_phantom(size=(16, 14, 6), spacing=(0.8, 0.8, 2.5), direction=rotation_direction((15, 0, 10)))
    folder = write_dicom_series(img, tmp_path / "series")
    back = read_image(folder)
    assert back.GetSize() == img.GetSize()
    assert np.allclose(back.GetOrigin(), img.GetOrigin(), atol=1e-4)
    assert np.allclose(back.GetDirection(), img.GetDirection(), atol=1e-6)
    assert np.allclose(back.GetSpacing(), img.GetSpacing(), atol=1e-4)
    assert np.abs(sitk.GetArrayFromImage(back) - np.round(sitk.GetArrayFromImage(img))).max() <= 1


def test_bad_inputs_say_what_is_wrong(tmp_path):
    with pytest.raises(SaliencyError, match="does not exist"):
        read_image(tmp_path / "missing.nrrd")
    junk = tmp_path / "junk.nrrd"
    junk.write_bytes(b"not an image at all")
    with pytest.raises(SaliencyError, match="cannot read"):
        read_image(junk)
    vec = sitk.Image([6, 6, 6], sitk.sitkVectorFloat32, 3)
    sitk.WriteImage(vec, str(tmp_path / "vec.nrrd"))
    with pytest.raises(SaliencyError, match="vector image"):
        read_image(tmp_path / "vec.nrrd")
    four = sitk.Image([6, 6, 6, 2], sitk.sitkFloat32)
    sitk.WriteImage(four, str(tmp_path / "four.nii.gz"))
    with pytest.raises(SaliencyError, match="4 dimensions"):
        read_image(tmp_path / "four.nii.gz")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SaliencyError, match="without a DICOM series"):
        read_image(tmp_path / "empty")


def test_outputs_never_overwrite_inputs(tmp_path):
    img, _ = make_phantom(size=(6, 6, 6))
    src = write_image(img, tmp_path / "in.nrrd")
    before = src.read_bytes()
    with pytest.raises(SaliencyError, match="inputs are never overwritten"):
        write_image(img * 2, tmp_path / "sub" / ".." / "in.nrrd", inputs=[src])
    link = tmp_path / "alias.nrrd"
    os.symlink(src, link)
    with pytest.raises(SaliencyError, match="inputs are never overwritten"):
        write_image(img * 2, link, inputs=[src])
    assert src.read_bytes() == before
    with pytest.raises(SaliencyError, match="does not exist"):
        check_output_path(tmp_path / "nowhere" / "heat.nrrd")
    with pytest.raises(SaliencyError, match="unknown image suffix"):
        check_output_path(tmp_path / "heat.png")
    with pytest.raises(SaliencyError, match="is a folder"):
        check_output_path(tmp_path / "d.nrrd") if (tmp_path / "d.nrrd").mkdir() is None else None


def test_a_dicom_series_with_a_missing_or_repeated_slice_is_refused_in_one_line(tmp_path):
    img, _ = make_phantom(size=(12, 10, 6), spacing=(0.8, 0.8, 2.5), direction=rotation_direction((15, 0, 10)))
    folder = write_dicom_series(img, tmp_path / "series")
    assert read_image(folder).GetSize() == img.GetSize()  # complete: read as before
    (folder / "slice003.dcm").unlink()  # a slice missing in the middle: 5 mm there, 2.5 mm elsewhere
    with pytest.raises(SaliencyError, match=r"not evenly spaced: 5 mm between slices 3 and 4, 2.5 mm") as caught:
        read_image(folder)
    assert "\n" not in str(caught.value) and "complete series" in str(caught.value)
