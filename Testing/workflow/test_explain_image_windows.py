"""The card's `inference` section (MONAI's sliding-window names) and explain_image over windows."""

import json

import pytest
from SaliencyExplorerLib.card import SCHEMA_PATH, InferenceSpec, parse_card
from SaliencyExplorerLib.errors import CardError

SLIDING = {
    "mode": "sliding_window",
    "roi_size": [16, 16, 16],
    "overlap": 0.5,
    "blend": "gaussian",
    "sigma_scale": 0.125,
    "padding_mode": "constant",
    "sw_batch_size": 2,
}


def card(inference, **more):
    return {"task": "segmentation", "inference": inference, **more}


def test_sliding_window_card_is_parsed():
    spec = parse_card(card(SLIDING)).inference
    assert spec.sliding and spec.roi_size == (16, 16, 16) and spec.overlap == (0.5,)
    assert spec.blend == "gaussian" and spec.sw_batch_size == 2 and spec.padding_mode == "constant"
    assert parse_card({}).inference == InferenceSpec() and not InferenceSpec().sliding


@pytest.mark.parametrize(
    "change, field",
    [
        ({"overlap": 1.0}, "inference.overlap"),
        ({"overlap": -0.1}, "inference.overlap"),
        ({"overlap": [0.25, 0.5]}, "inference.overlap"),
        ({"roi_size": [16, 16]}, "inference.roi_size"),
        ({"roi_size": [16, 0, 16]}, r"inference.roi_size\[1\]"),
        ({"roi_size": None}, "inference.roi_size"),
        ({"blend": "median"}, "inference.blend"),
        ({"sw_batch_size": 0}, "inference.sw_batch_size"),
        ({"padding_mode": "zeros"}, "inference.padding_mode"),
        ({"sigma_scale": 0}, "inference.sigma_scale"),
        ({"mode": "tiles"}, "inference.mode"),
        ({"roi": [16, 16, 16]}, "inference.roi"),
    ],
)
def test_bad_inference_is_one_line_card_error_naming_the_field(change, field):
    with pytest.raises(CardError, match=field) as info:
        parse_card(card({**SLIDING, **change}))
    assert "\n" not in str(info.value)


def test_missing_roi_size_and_2d_roi_length():
    with pytest.raises(CardError, match="inference.roi_size"):
        parse_card(card({"mode": "sliding_window"}))
    spec = parse_card(card({"mode": "sliding_window", "roi_size": [32, 32]}, spatial_dims=2)).inference
    assert spec.roi_size == (32, 32)


def test_schema_accepts_and_rejects_like_the_parser():
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text()))
    assert validator.is_valid(card(SLIDING))
    assert not validator.is_valid(card({**SLIDING, "overlap": 1.0}))
    assert not validator.is_valid(card({"mode": "sliding_window"}))


# ---------------------------------------------------------------- explain_image and the CLI over windows
torch = pytest.importorskip("torch")
sitk = pytest.importorskip("SimpleITK")
np = pytest.importorskip("numpy")

from helpers.window_models import SEG_CARD, BrightBlobSeg  # noqa: E402

LESION_IJK = (16, 12, 14)  # straddles window borders on every axis


def scan(size=(40, 40, 28)):
    k, j, i = np.meshgrid(*[np.arange(s) for s in size[::-1]], indexing="ij")
    distance = np.sqrt((i - LESION_IJK[0]) ** 2 + (j - LESION_IJK[1]) ** 2 + (k - LESION_IJK[2]) ** 2)
    image = sitk.GetImageFromArray((distance <= 3).astype(np.float32) * 100.0)
    image.SetSpacing((1.5, 1.5, 2.0))
    image.SetOrigin((-10.0, 5.0, 20.0))
    return image


def test_explain_image_uses_the_cards_sliding_windows():
    from SaliencyExplorerLib.workflow.explain_image import explain_image

    image, calls = scan(), []
    result = explain_image(
        image,
        BrightBlobSeg(),
        SEG_CARD,
        method="gradcam",
        target="lesion",
        progress=lambda done, total: calls.append((done, total)),
    )
    assert tuple(result.model_input.tensor.shape) == (1, 1, 40, 40, 28)  # the whole volume at its spacing
    assert result.explanation.extras["sliding_windows"]["windows"] == 18
    assert calls[0] == (0, 36) and calls[-1] == (36, 36)  # progress counts windows: clean pass + explanation
    # each window is explained once its neighbours ran (core/ready_windows.py), so the two phases interleave
    assert len(calls) > 10 and [d for d, _ in calls] == sorted(d for d, _ in calls)
    lesion = np.asarray(image.TransformIndexToPhysicalPoint(LESION_IJK))
    assert np.linalg.norm(result.peak_lps - lesion) <= 3 * 2.0
    sized = explain_image(
        image,
        BrightBlobSeg(),
        {**SEG_CARD, "input": {**SEG_CARD["input"], "size": [32, 32, 20]}},
        method="saliency",
        target=1,
    )
    assert tuple(sized.model_input.tensor.shape) == (1, 1, 32, 32, 20)  # an explicit size still fixes the grid


def test_cli_explain_runs_the_sliding_window_card(tmp_path, capsys):
    import json

    from SaliencyExplorerLib.cli import main
    from SaliencyExplorerLib.volumes.image_files import write_image

    image = scan()
    write_image(image, tmp_path / "ct.nrrd")
    torch.jit.script(BrightBlobSeg()).save(str(tmp_path / "seg.pt"))
    (tmp_path / "seg.json").write_text(json.dumps(SEG_CARD))
    code = main(
        [
            "explain",
            "-i",
            str(tmp_path / "ct.nrrd"),
            "-m",
            str(tmp_path / "seg.pt"),
            "--method",
            "gradcam",
            "--target",
            "lesion",
            "-o",
            str(tmp_path / "heat.nrrd"),
        ]
    )
    assert code in (0, None)
    heat = sitk.ReadImage(str(tmp_path / "heat.nrrd"))
    peak = np.unravel_index(int(np.argmax(sitk.GetArrayViewFromImage(heat))), heat.GetSize()[::-1])[::-1]
    assert np.linalg.norm(np.subtract(peak, LESION_IJK) * np.array([1.5, 1.5, 2.0])) <= 6.0
