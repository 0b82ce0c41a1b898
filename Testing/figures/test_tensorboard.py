"""TensorBoard helpers: event files read back with TensorBoard's own reader hold the pictures."""

import io
import sys

import numpy as np
import pytest
from PIL import Image
from SaliencyExplorerLib.errors import SaliencyError
from SaliencyExplorerLib.figures import tensorboard

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402
from torch.utils.tensorboard import SummaryWriter  # noqa: E402


def read_images(logdir):
    acc = EventAccumulator(str(logdir), size_guidance={"images": 0})
    acc.Reload()
    return {tag: acc.Images(tag) for tag in acc.Tags()["images"]}


def test_2d_and_3d_overlays_and_images_read_back(tmp_path):
    rng = np.random.default_rng(0)
    volume = rng.normal(0, 1, (7, 12, 10))
    heat = np.zeros((7, 12, 10))
    heat[5, 8, 2] = 1.0
    with SummaryWriter(str(tmp_path)) as writer:
        assert tensorboard.add_overlay(writer, "cam/3d", volume, heat, step=3, zoom=2, cmap="gray", alpha=1.0) == "gif"
        assert tensorboard.add_overlay(writer, "cam/2d", volume[5], heat[5], step=4, zoom=1) == "png"
        tensorboard.add_image(writer, "input/3d", volume, step=0, every=2)
        tensorboard.add_image(writer, "input/rgb", rng.integers(0, 255, (9, 11, 3), dtype=np.uint8), step=0)
    images = read_images(tmp_path)
    assert set(images) == {"cam/3d", "cam/2d", "input/3d", "input/rgb"}
    event = images["cam/3d"][0]
    assert event.step == 3 and (event.height, event.width) == (24 + 12, 20)  # frame + slice-number band
    with Image.open(io.BytesIO(event.encoded_image_string)) as gif:
        assert gif.format == "GIF" and gif.n_frames == 7
        gif.seek(5)
        frame = np.asarray(gif.convert("L"))[:24]
        assert np.unravel_index(np.argmax(frame), frame.shape) == (16, 4)  # voxel (8, 2) at zoom 2
    with Image.open(io.BytesIO(images["cam/2d"][0].encoded_image_string)) as png:
        assert png.format == "PNG" and png.size == (10, 12)
    with Image.open(io.BytesIO(images["input/3d"][0].encoded_image_string)) as gif:
        assert gif.n_frames == 4  # every 2nd of 7 slices
    with Image.open(io.BytesIO(images["input/rgb"][0].encoded_image_string)) as png:
        assert png.format == "PNG"
        assert png.size[0] % 11 == 0 and png.size[1] % 9 == 0


def test_bad_writer_and_missing_tensorboard(monkeypatch):
    with pytest.raises(SaliencyError, match="SummaryWriter"):
        tensorboard.add_overlay(object(), "x", np.zeros((4, 4)), np.zeros((4, 4)))
    monkeypatch.setitem(sys.modules, "tensorboard.compat.proto.summary_pb2", None)
    with pytest.raises(SaliencyError, match=r"pip install 'SaliencyExplorer\[tensorboard\]'"):
        tensorboard.add_image(object(), "x", np.zeros((4, 4)))
