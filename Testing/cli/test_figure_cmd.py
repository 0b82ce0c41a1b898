"""`figure` command: files in any orientation and grid, the peak drawn at its physical place."""

import numpy as np
import pytest
import SimpleITK as sitk
from PIL import Image
from SaliencyExplorerLib.cli import main
from SaliencyExplorerLib.demo.phantoms import make_phantom

PEAK_LPS = (10.0, -5.0, 8.0)
FLIP = (-1.0, 0, 0, 0, 1.0, 0, 0, 0, -1.0)  # i towards R, k towards I: not LPS order on disk


def heatmap_around(point, size=(20, 20, 12), spacing=(2.0, 2.0, 3.0)):
    """A coarse heatmap on its own (identity) grid: a Gaussian blob at `point`."""
    heat = sitk.Image(size, sitk.sitkFloat32)
    heat.SetSpacing(spacing)
    heat.SetOrigin(tuple(p - s * (n - 1) / 2 for p, s, n in zip(point, spacing, size)))
    idx = np.stack(np.meshgrid(*[np.arange(n) for n in reversed(size)], indexing="ij"), -1)[..., ::-1]
    pts = np.asarray(heat.GetOrigin()) + idx * np.asarray(spacing)
    arr = np.exp(-np.sum((pts - np.asarray(point)) ** 2, -1) / (2 * 6.0 ** 2)).astype(np.float32)
    out = sitk.GetImageFromArray(arr)
    out.CopyInformation(heat)
    return out


@pytest.fixture()
def files(tmp_path):
    image, _ = make_phantom(size=(40, 36, 14), spacing=(1.0, 1.2, 2.5), direction=FLIP,
                            lesion_center_lps=PEAK_LPS, lesion_radius_mm=5.0, seed=0)
    sitk.WriteImage(image, str(tmp_path / "image.nrrd"))
    sitk.WriteImage(heatmap_around(PEAK_LPS), str(tmp_path / "heat.nii.gz"))
    return image, tmp_path


@pytest.mark.parametrize("axis", ["axial", "coronal", "sagittal"])
def test_peak_lands_on_its_physical_position_in_every_view(files, axis):
    image, tmp = files
    out = tmp / f"{axis}.png"
    assert main(["figure", str(tmp / "image.nrrd"), str(tmp / "heat.nii.gz"), "-o", str(out), "--kind", "slice",
                 "--axis", axis, "--zoom", "1", "--cmap", "gray", "--alpha", "1", "--no-colorbar"]) == 0
    picture = np.asarray(Image.open(out))
    lpi = sitk.DICOMOrient(image, "LPI")
    i, j, k = lpi.TransformPhysicalPointToIndex(PEAK_LPS)
    spacing_kji = tuple(reversed(lpi.GetSpacing()))
    rows_cols = {"axial": ((j, 1), (i, 2)), "coronal": ((k, 0), (i, 2)), "sagittal": ((k, 0), (j, 1))}[axis]
    zooms = [max(1, round(spacing_kji[a] / min(spacing_kji[b] for _, b in rows_cols))) for _, a in rows_cols]
    y, x = np.unravel_index(np.argmax(picture[..., 0]), picture.shape[:2])
    assert abs(y // zooms[0] - rows_cols[0][0]) <= 1 and abs(x // zooms[1] - rows_cols[1][0]) <= 1
    # LPI: superior is up in coronal/sagittal views, anterior is up in the axial view
    sizes = {"axial": (36, 40), "coronal": (14, 40), "sagittal": (14, 36)}[axis]
    assert picture.shape[0] // zooms[0] == sizes[0] and picture.shape[1] // zooms[1] == sizes[1]


def test_lpi_orientation_puts_superior_at_the_top(files):
    image, tmp = files
    lpi = sitk.DICOMOrient(image, "LPI")
    top = lpi.TransformIndexToPhysicalPoint((0, 0, 0))
    bottom = lpi.TransformIndexToPhysicalPoint((0, 0, lpi.GetSize()[2] - 1))
    assert top[2] > bottom[2]  # row 0 of a coronal picture is the most superior slice


def test_montage_and_gif_outputs(files):
    _, tmp = files
    assert main(["figure", str(tmp / "image.nrrd"), str(tmp / "heat.nii.gz"), "-o", str(tmp / "m.png"),
                 "--every", "2", "--columns", "7", "--zoom", "2"]) == 0
    with Image.open(tmp / "m.png") as png:
        # 7 axial tiles (every 2nd of 14) in one row: 36 x 40 voxels, 1.2 x 1.0 mm -> 72 x 80 pixels at
        # zoom 2, 2-pixel gaps, plus the 90-pixel colour bar
        assert png.size == (7 * 80 + 8 * 2 + 90, 72 + 2 * 2)
    assert main(["figure", str(tmp / "image.nrrd"), str(tmp / "heat.nii.gz"), "-o", str(tmp / "a.gif"),
                 "--axis", "coronal"]) == 0
    with Image.open(tmp / "a.gif") as gif:
        assert gif.n_frames == 36  # one frame per coronal slice


def test_figure_errors_are_clear(files, capsys):
    _, tmp = files
    assert main(["figure", str(tmp / "missing.nrrd"), str(tmp / "heat.nii.gz"), "-o", str(tmp / "x.png")]) == 2
    assert "does not exist" in capsys.readouterr().err
    flat = sitk.Image((8, 8), sitk.sitkFloat32)
    sitk.WriteImage(flat, str(tmp / "flat.nrrd"))
    assert main(["figure", str(tmp / "image.nrrd"), str(tmp / "flat.nrrd"), "-o", str(tmp / "x.png")]) == 2
    assert "same dimension" in capsys.readouterr().err
    assert main(["figure", str(tmp / "image.nrrd"), str(tmp / "heat.nii.gz"), "-o", str(tmp / "x.png"),
                 "--axis", "oblique"]) == 2
    assert "--axis" in capsys.readouterr().err
