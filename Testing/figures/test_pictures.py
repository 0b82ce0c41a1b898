"""Figures: sizes, frame counts, and the hottest voxel showing up exactly where it is in the volume."""

import io

import numpy as np
import pytest
from PIL import Image
from SaliencyExplorerLib.errors import SaliencyError
from SaliencyExplorerLib.figures import pictures


def blob_volume(shape=(20, 16, 12), peak=(9, 5, 7), seed=0):
    rng = np.random.default_rng(seed)
    image = rng.normal(100.0, 20.0, shape)
    grids = np.meshgrid(*[np.arange(s) for s in shape], indexing="ij")
    dist2 = sum((g - p) ** 2 for g, p in zip(grids, peak))
    heat = np.exp(-dist2 / 8.0)
    return image, heat


def test_montage_size_grid_and_colorbar():
    image, heat = blob_volume()
    picture = pictures.montage(image, heat, axis=0, every=3, zoom=2, pad=2, colorbar=False)
    # slices 0,3,..,18 = 7 tiles -> 3 columns x 3 rows of 32 x 24 pixel tiles with 2-pixel gaps
    assert pictures.montage_indices(20, 3) == [0, 3, 6, 9, 12, 15, 18]
    assert picture.shape == (3 * 32 + 4 * 2, 3 * 24 + 4 * 2, 3) and picture.dtype == np.uint8
    with_bar = pictures.montage(image, heat, axis=0, every=3, zoom=2, pad=2, colorbar=True)
    assert with_bar.shape[0] == picture.shape[0] and with_bar.shape[1] == picture.shape[1] + 90
    np.testing.assert_array_equal(with_bar[:, : picture.shape[1]], picture)
    # the colour bar shows the colour map's top colour somewhere (high = important)
    bar = with_bar[:, picture.shape[1] :].astype(int)

    def nearest_row(value):
        colour = np.round(np.array(pictures._colormap("turbo")(value)[:3]) * 255)
        distance = np.abs(bar - colour).sum(-1)
        assert distance.min() <= 12
        return np.unravel_index(np.argmin(distance), distance.shape)[0]

    assert nearest_row(1.0) < nearest_row(0.5) < nearest_row(0.0)  # high values at the top
    assert pictures.montage(image, heat, every=3, zoom=2, columns=7, colorbar=False).shape[:2] == (36, 7 * 24 + 16)


@pytest.mark.parametrize("axis,tile_pos", [(0, (5, 7)), (1, (9, 7)), (2, (9, 5))])
def test_hottest_pixel_of_the_montage_is_the_hottest_voxel(axis, tile_pos):
    peak = (9, 5, 7)
    image, heat = blob_volume(peak=peak)
    count = heat.shape[axis]
    picture = pictures.montage(
        image,
        heat,
        axis=axis,
        every=1,
        columns=count,
        zoom=3,
        pad=1,
        colorbar=False,
        labels=False,
        cmap="gray",
        alpha=1.0,
    )
    rows, cols = [s for a, s in enumerate(heat.shape) if a != axis]
    y, x = np.unravel_index(np.argmax(picture[..., 0]), picture.shape[:2])
    tile_col, in_x = divmod(x - 1, cols * 3 + 1)
    assert tile_col == peak[axis]  # one row of tiles, slice k in column k
    assert ((y - 1) // 3, in_x // 3) == tile_pos
    assert picture[y, x, 0] == 255


def test_hottest_pixel_with_a_colour_map_and_greyscale_background():
    image, heat = blob_volume(peak=(4, 10, 3), shape=(8, 14, 10))
    lo, hi = 60.0, 140.0
    picture = pictures.slice_overlay(image, heat, axis=0, zoom=1, cmap="inferno", alpha=0.6, window=(lo, hi))
    assert picture.shape == (14, 10, 3)  # default slice: the one holding the peak (k = 4)
    background = np.clip((image[4] - lo) / (hi - lo), 0, 1)[..., None]
    colours = pictures._colormap("inferno")(heat[4])[..., :3]
    expected = np.round((background * 0.4 + colours * 0.6) * 255)
    np.testing.assert_allclose(picture, expected, atol=1)


def test_spacing_keeps_the_physical_aspect_ratio():
    image, heat = blob_volume(shape=(6, 8, 10))
    picture = pictures.slice_overlay(image, heat, axis=0, index=2, zoom=2, spacing=(3.0, 2.0, 1.0))
    assert picture.shape == (8 * 4, 10 * 2, 3)  # rows 2 mm, columns 1 mm
    sagittal = pictures.slice_overlay(image, heat, axis=2, index=2, zoom=1, spacing=(3.0, 2.0, 1.0))
    assert sagittal.shape == (6 * 2, 8 * 1, 3)  # 3 mm : 2 mm -> round(1.5) = 2 : 1


def test_2d_rgb_background_with_window_and_threshold():
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    heat = np.zeros((30, 40))
    heat[10, 20] = 1.0
    picture = pictures.slice_overlay(rgb, heat, zoom=2, threshold=0.5, alpha=1.0, cmap="gray")
    assert picture.shape == (60, 80, 3)
    shown = picture[::2, ::2]
    mask = heat < 0.5
    np.testing.assert_array_equal(shown[mask], rgb[mask])  # below threshold: the background untouched
    assert tuple(shown[10, 20]) == (255, 255, 255)
    volume_rgb = rng.integers(0, 256, (4, 5, 6, 3), dtype=np.uint8)
    tiles = pictures.montage(
        volume_rgb, np.zeros((4, 5, 6)), every=1, columns=4, zoom=1, pad=0, alpha=0.0, colorbar=False, labels=False
    )
    assert tiles.shape == (5, 24, 3)
    np.testing.assert_array_equal(tiles[:, 6:12], volume_rgb[1])  # RGB voxels shown as they are
    grey = np.linspace(0, 100, 30 * 40).reshape(30, 40)
    plain = pictures.slice_overlay(grey, heat, zoom=1, alpha=0.0, window=(25, 75))
    assert plain[0, 0, 0] == 0 and plain[-1, -1, 0] == 255
    mid = np.unravel_index(np.argmin(np.abs(grey - 50)), grey.shape)
    assert abs(int(plain[mid][0]) - 128) <= 2


def test_gif_frame_count_size_and_hottest_frame(tmp_path):
    image, heat = blob_volume(shape=(9, 12, 10), peak=(6, 3, 8))
    path = pictures.save_gif(tmp_path / "a.gif", image, heat, axis=0, zoom=2, cmap="gray", alpha=1.0)
    with Image.open(path) as gif:
        assert gif.n_frames == 9 and gif.size == (20, 24 + 12)  # 12-pixel slice-number band
        peaks = []
        for frame in range(gif.n_frames):
            gif.seek(frame)
            peaks.append(np.asarray(gif.convert("L"))[:24].max())
    assert int(np.argmax(peaks)) == 6
    # identical empty slices stay separate frames thanks to the band
    blank = pictures.encode_gif(pictures.gif_frames(np.zeros((5, 8, 8)), np.zeros((5, 8, 8)), zoom=4))
    with Image.open(io.BytesIO(blank)) as gif:
        assert gif.n_frames == 5
    every = pictures.gif_frames(image, heat, axis=1, every=4)
    assert len(every) == 3  # slices 1, 5, 9 of 12 (centred)
    flat = pictures.gif_frames(image[0], heat[0])
    assert len(flat) == 1


def test_png_written_and_read_back(tmp_path):
    image, heat = blob_volume()
    path = pictures.save_montage(tmp_path / "m.png", image, heat, every=5, zoom=1)
    with Image.open(path) as png:
        assert png.format == "PNG"
        picture = np.asarray(png)
    np.testing.assert_array_equal(picture, pictures.montage(image, heat, every=5, zoom=1))
    assert pictures.save_slice(tmp_path / "s.png", image, heat, colorbar=True).endswith("s.png")


def test_bad_figure_inputs():
    image, heat = blob_volume()
    with pytest.raises(SaliencyError, match="does not match"):
        pictures.montage(image, heat[:, :, :5])
    with pytest.raises(SaliencyError, match="colour map"):
        pictures.montage(image, heat, cmap="not-a-map")
    with pytest.raises(SaliencyError, match="Unknown figure option"):
        pictures.montage(image, heat, colour="red")
    with pytest.raises(SaliencyError, match="every"):
        pictures.montage(image, heat, every=0)
    with pytest.raises(SaliencyError, match="outside the volume"):
        pictures.slice_overlay(image, heat, index=20)
    with pytest.raises(SaliencyError, match="window"):
        pictures.slice_overlay(image, heat, window=(5, 5))
    with pytest.raises(SaliencyError, match="axis"):
        pictures.slice_overlay(image, heat, axis=3)
    for zoom in (0, -2, 1.5):  # 0 is not "the default": it names no size
        with pytest.raises(SaliencyError, match="zoom must be a positive integer"):
            pictures.slice_overlay(image, heat, zoom=zoom)


def test_default_window_keeps_the_anatomy_of_a_ct_visible():
    rng = np.random.default_rng(0)
    ct = -1000 + rng.normal(0, 10, (40, 40))  # air
    ct[5:35, 5:35] = 40 + rng.normal(0, 10, (30, 30))  # body
    ct[18:22, 18:22] = 150  # lesion
    picture = pictures.slice_overlay(ct, np.zeros((40, 40)), zoom=1, alpha=0.0)[..., 0].astype(int)
    air, body, lesion = picture[1, 1], np.median(picture[8:15, 8:15]), picture[20, 20]
    assert air == 0
    assert 20 < body < 200  # grey, not squeezed into white by the air
    assert lesion == 255 and lesion - body > 50
    # no dark background: the window is simply the image's own 1st-99th percentile (to within the noise)
    flat = rng.normal(100, 20, (200, 200))
    lo, hi = pictures.default_window(flat)
    assert lo == pytest.approx(100 - 2.33 * 20, abs=6) and hi == pytest.approx(100 + 2.33 * 20, abs=3)
