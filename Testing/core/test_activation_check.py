"""``output_activation="auto"`` and a model that already outputs probabilities (issue 11, item 7).

Truth: the model's own output. A model ending in ``nn.Softmax`` returns probabilities; applying softmax
again would squash 0.997 towards 1/K. The reported score must be the model's own probability.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
sitk = pytest.importorskip("SimpleITK")

from SaliencyExplorerLib.core.engine import explain  # noqa: E402
from SaliencyExplorerLib.core.targets import ALREADY_PROBABILITIES, is_probabilities, resolve_activation  # noqa: E402
from SaliencyExplorerLib.workflow.explain_image import explain_image  # noqa: E402
from torch import nn  # noqa: E402


def _softmax_model(scale=6.0):
    torch.manual_seed(0)
    conv = nn.Conv3d(1, 3, 3, padding=1)
    with torch.no_grad():
        conv.weight.mul_(scale)
    return nn.Sequential(
        conv, nn.ReLU(), nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(3, 3), nn.Softmax(dim=1)
    ).eval()


def _volume(seed=1):
    rng = np.random.default_rng(seed)
    image = sitk.GetImageFromArray((rng.random((10, 12, 11)) * 4).astype(np.float32))
    image.SetSpacing((1.0, 1.2, 2.0))
    return image


def test_is_probabilities_needs_non_negative_rows_summing_to_one():
    probs = torch.softmax(torch.randn(4, 5), 1)
    assert is_probabilities(probs)
    assert is_probabilities(torch.softmax(torch.randn(2, 3, 4, 4, 4), 1))
    assert not is_probabilities(torch.randn(4, 5))  # logits
    assert not is_probabilities(probs * 1.01)  # off by more than 1e-4
    assert not is_probabilities(torch.sigmoid(torch.randn(4, 1)))  # one class: undecidable, sigmoid stays
    assert not is_probabilities(torch.tensor([[1.2, -0.2]]))  # sums to 1 but negative


def test_explicit_activation_is_kept_and_auto_is_resolved():
    probs = torch.softmax(torch.randn(2, 4), 1)
    assert resolve_activation("softmax", probs) == ("softmax", None)
    assert resolve_activation("auto", probs) == ("none", ALREADY_PROBABILITIES)
    assert resolve_activation("auto", torch.randn(2, 4) * 5) == ("softmax", None)
    assert resolve_activation("auto", torch.randn(2, 1)) == ("sigmoid", None)


def test_score_of_a_softmax_model_is_its_own_probability_and_a_warning_names_the_card_setting():
    model = _softmax_model()
    image = _volume()
    result = explain_image(image, model, method="gradcam", layers="1")
    x = torch.from_numpy(sitk.GetArrayFromImage(image)).permute(2, 1, 0)[None, None].float()
    with torch.no_grad():
        own = model(x)[0]
    top = int(own.argmax())
    assert result.target_index == top
    assert result.score == pytest.approx(float(own[top]), abs=1e-5)
    assert any("already probabilities" in w and '"activation": "none"' in w for w in result.warnings)
    assert result.explanation.output_activation == "none"


def test_explicit_card_activation_none_gives_no_warning_and_logits_keep_softmax():
    model = _softmax_model()
    result = explain(model, torch.rand(1, 1, 8, 8, 8), method="gradcam", layers="1", output_activation="none")
    assert not any("already probabilities" in w for w in result.warnings)
    logits = nn.Sequential(*list(_softmax_model())[:-1]).eval()
    result = explain(logits, torch.rand(1, 1, 8, 8, 8), method="gradcam", layers="1")
    assert result.output_activation == "softmax"
    assert not any("already probabilities" in w for w in result.warnings)


def test_segmentation_softmax_output_is_detected_per_voxel():
    model = nn.Sequential(nn.Conv3d(1, 3, 1), nn.Softmax(dim=1)).eval()
    result = explain(model, torch.rand(1, 1, 6, 6, 6), method="saliency", task="segmentation")
    assert result.output_activation == "none"
    assert sum("already probabilities" in w for w in result.warnings) == 1
