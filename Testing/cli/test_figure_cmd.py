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
    arr = np.exp(-np.sum((pts - np.asarray(point)) ** 2, -1) / (2 * 6.0**2)).astype(np.float32)
    out = sitk.GetImageFromArray(arr)
    out.CopyInformation(heat)
    return out


@pytest.fixture()
def files(tmp_path):
    image, _ = make_phantom(
        size=(40, 36, 14),
        spacing=(1.0, 1.2, 2.5),
        direction=FLIP,
        lesion_center_lps=PEAK_LPS,
        lesion_radius_mm=5.0,
        seed=0,
    )
    sitk.WriteImage(image, str(tmp_path / "image.nrrd"))
    sitk.WriteImage(heatmap_around(PEAK_LPS), str(tmp_path / "heat.nii.gz"))
    return image, tmp_path


@pytest.mark.parametrize("axis", ["axial", "coronal", "sagittal"])
def test_peak_lands_on_its_physical_position_in_every_view(files, axis):
    image, tmp = files
    out = tmp / f"{axis}.png"
    assert (
        main(
            [
                "figure",
                str(tmp / "image.nrrd"),
                str(tmp / "heat.nii.gz"),
                "-o",
                str(out),
                "--kind",
                "slice",
                "--axis",
                axis,
                "--zoom",
                "1",
                "--cmap",
                "gray",
                "--alpha",
                "1",
                "--no-colorbar",
                "--no-title",
                "--no-labels",
            ]
        )
        == 0
    )  # pixel-exact: no annotations (tested below)
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
    assert (
        main(
            [
                "figure",
                str(tmp / "image.nrrd"),
                str(tmp / "heat.nii.gz"),
                "-o",
                str(tmp / "m.png"),
                "--every",
                "2",
                "--columns",
                "7",
                "--zoom",
                "2",
                "--no-title",
            ]
        )
        == 0
    )
    with Image.open(tmp / "m.png") as png:
        # 7 axial tiles (every 2nd of 14) in one row: 36 x 40 voxels, 1.2 x 1.0 mm -> 72 x 80 pixels at
        # zoom 2, 2-pixel gaps, plus the 90-pixel colour bar
        assert png.size == (7 * 80 + 8 * 2 + 90, 72 + 2 * 2)
    assert (
        main(
            ["figure", str(tmp / "image.nrrd"), str(tmp / "heat.nii.gz"), "-o", str(tmp / "a.gif"), "--axis", "coronal"]
        )
        == 0
    )
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
    assert (
        main(
            ["figure", str(tmp / "image.nrrd"), str(tmp / "heat.nii.gz"), "-o", str(tmp / "x.png"), "--axis", "oblique"]
        )
        == 2
    )
    assert "--axis" in capsys.readouterr().err


@pytest.fixture()
def box_case(tmp_path):
    """An LPS-identity volume 30 x 30 x 10 (1 mm) with a region box i 10-19, j 5-14 on every slice."""
    image = sitk.Image((30, 30, 10), sitk.sitkFloat32)
    image.SetOrigin((-15.0, -15.0, -5.0))
    region = sitk.Image((30, 30, 10), sitk.sitkUInt8)
    region.CopyInformation(image)
    region[10:20, 5:15, :] = 1
    heat = sitk.GetImageFromArray(np.linspace(0, 1, 9000, dtype=np.float32).reshape(10, 30, 30))
    heat.CopyInformation(image)
    for name, item in (("ct.nrrd", image), ("lesion.nrrd", region), ("heat.nrrd", heat)):
        sitk.WriteImage(item, str(tmp_path / name))
    return tmp_path


def test_slice_figure_is_titled_wide_and_outlines_the_region_where_it_is(box_case):
    out = box_case / "s.png"
    assert (
        main(
            [
                "figure",
                str(box_case / "ct.nrrd"),
                str(box_case / "heat.nrrd"),
                "-o",
                str(out),
                "--kind",
                "slice",
                "--slice",
                "4",
                "--outline",
                str(box_case / "lesion.nrrd"),
                "--title",
                "T",
            ]
        )
        == 0
    )
    picture = np.asarray(Image.open(out).convert("RGB"))
    zoom = -(-520 // 30)  # the default: a slice at least 520 px wide -> 18 px per voxel
    tile = 30 * zoom
    assert picture.shape[1] >= 600 and picture.shape[1] == tile + 90  # tile + colour bar
    band = picture.shape[0] - tile  # the title band above the tile
    assert band > 20
    rows, cols = np.nonzero(np.all(picture[band:] == (255, 0, 255), axis=-1))
    # LPI keeps i (columns) and j (rows) of an LPS volume: the box's edges at voxels 5-14 (rows), 10-19 (cols)
    assert (rows.min(), rows.max() + 1) == (5 * zoom, 15 * zoom)
    assert (cols.min(), cols.max() + 1) == (10 * zoom, 20 * zoom)
    inner = picture[band + 5 * zoom + zoom : band + 15 * zoom - zoom, 10 * zoom + zoom : 20 * zoom - zoom]
    assert not np.all(inner == (255, 0, 255), axis=-1).any()


def test_gif_frames_are_titled_with_a_colour_bar_and_wide(box_case):
    out = box_case / "a.gif"
    assert main(["figure", str(box_case / "ct.nrrd"), str(box_case / "heat.nrrd"), "-o", str(out), "--every", "3"]) == 0
    with Image.open(out) as gif:
        assert gif.n_frames == 4 and gif.size[0] >= 600
        frame = np.asarray(gif.convert("RGB"))
    bar = frame[frame.shape[0] // 2 :, -80:-60]  # the colour bar's column, lower half
    assert len({tuple(p) for p in bar.reshape(-1, 3)}) > 20  # a gradient of colours, not a blank strip
