"""card.run_parsing: the inference section in MONAI's SlidingWindowInferer form reads as the flat form (errors
named as the user wrote them); the output section's prediction fields are checked."""

import pytest
from SaliencyExplorerLib.card.run_parsing import _inference, _output
from SaliencyExplorerLib.errors import CardError


def test_monai_sliding_window_form_equals_the_flat_form():
    monai = _inference({"sliding_window": {"roi_size": 32, "overlap": 0.5, "mode": "gaussian", "progress": True}}, 3)
    flat = _inference({"mode": "sliding_window", "roi_size": [32, 32, 32], "overlap": 0.5, "blend": "gaussian"}, 3)
    assert monai == flat and monai.roi_size == (32, 32, 32) and monai.overlap == (0.5,) and monai.blend == "gaussian"


@pytest.mark.parametrize(
    "value, field",
    [
        ({"sliding_window": {"roi_size": [32, 32, 32], "mode": "triangle"}}, "'inference.sliding_window.mode'"),
        ({"sliding_window": {"roi_size": [32, 32, 32], "with_coord": True}}, "'inference.sliding_window.with_coord'"),
        ({"mode": "whole", "mirror_axes": [0, 3]}, "'inference.mirror_axes'"),
    ],
)
def test_bad_inference_names_the_field_as_written(value, field):
    with pytest.raises(CardError, match=field.replace(".", r"\.").replace("[", r"\[")):
        _inference(value, 3)


def test_output_fields_and_their_errors():
    out = _output({"activation": "sigmoid", "threshold": 0.55, "smooth": {"sigma": [1, 2, 3]}, "resample": "logits"}, 3)
    assert (out.threshold, out.smooth.sigma, out.smooth.kernel, out.resample) == (
        0.55,
        (1.0, 2.0, 3.0),
        "erf",
        "logits",
    )
    assert _output({}, 3).resample == "auto"
    for value, field in (
        ({"threshold": 1.0}, "output.threshold"),
        ({"resample": "nearest"}, "output.resample"),
        ({"largest_component": 1}, "output.largest_component"),
    ):
        with pytest.raises(CardError, match=f"'{field}'"):
            _output(value, 3)
