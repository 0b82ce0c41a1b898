"""MONAI's sliding-window inference rebuilt in torch (core/sliding_window.py), checked against MONAI itself:
the window plan, padding, importance map and blended output to float tolerance; bad settings name the field."""

import pytest
import torch
from SaliencyExplorerLib.core.sliding_window import SlidingWindow, WindowPlan
from SaliencyExplorerLib.errors import SaliencyError

monai = pytest.importorskip("monai")
from helpers.window_models import ROI, SHAPE, relative_error  # noqa: E402
from monai.inferers import sliding_window_inference  # noqa: E402


@pytest.mark.parametrize("overlap", [0.25, 0.5])
@pytest.mark.parametrize("blend", ["gaussian", "constant"])
def test_blended_output_equals_monai(unet, volume, overlap, blend):
    with torch.no_grad():
        ref = sliding_window_inference(volume, ROI, 2, unet, overlap=overlap, mode=blend)
        ours = WindowPlan(SlidingWindow(ROI, overlap, blend, sw_batch_size=2), SHAPE).infer(unet, volume)
    assert ours.shape == ref.shape
    assert relative_error(ours, ref) <= 1e-5


def test_padding_of_a_grid_smaller_than_a_window_equals_monai(unet):
    x = torch.randn((2, 1, 12, 36, 9), generator=torch.Generator().manual_seed(2))
    for mode, cval in (("constant", 0.5), ("reflect", 0.0), ("replicate", 0.0)):
        spec = SlidingWindow(ROI, 0.5, "gaussian", sigma_scale=0.2, padding_mode=mode, cval=cval, sw_batch_size=3)
        extra = {"cval": cval} if mode == "constant" else {}  # MONAI passes cval on; torch refuses it for reflect
        with torch.no_grad():
            ref = sliding_window_inference(
                x, ROI, 3, unet, overlap=0.5, mode="gaussian", sigma_scale=0.2, padding_mode=mode, **extra
            )
            ours = WindowPlan(spec, x.shape[2:]).infer(unet, x)
        assert relative_error(ours, ref) <= 1e-5, mode


@pytest.mark.parametrize(
    "bad, field",
    [
        ({"roi_size": (16, 16, 0)}, "roi_size"),
        ({"roi_size": (16, 16), "overlap": 1.0}, "overlap"),
        ({"roi_size": (16, 16), "blend": "median"}, "blend"),
        ({"roi_size": (16, 16), "sw_batch_size": 0}, "sw_batch_size"),
    ],
)
def test_bad_settings_name_the_field(bad, field):
    with pytest.raises(SaliencyError, match=field):
        SlidingWindow.of(bad)


def test_roi_of_the_wrong_length_is_refused():
    with pytest.raises(SaliencyError, match="roi_size"):
        WindowPlan(SlidingWindow((16, 16)), SHAPE)
