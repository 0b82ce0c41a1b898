"""Agreement with independent implementations: MONAI (Grad-CAM, Grad-CAM++) and captum (LayerGradCam),
in 2D and 3D, and where MONAI is wrong (batch > 1) ours equals per-sample runs. (Score-CAM against
torchcam: ``test_scorecam.py``.)

Peer quirks handled here (measured): MONAI's default normaliser maps the minimum to 1 (so we compare
with an identity post-processing, and check that 1 - its default output is our heatmap); MONAI never
removes its hooks and turns the layer's in-place ReLU off, so it gets a deep copy of the model.
DenseNet121 inputs are >= 64 per axis so that the last grid is not 1x1(x1).
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers.engine_models import blob_image
from helpers.numerics import pearson
from SaliencyExplorerLib import explain

monai_nets = pytest.importorskip("monai.networks.nets")
monai_visualize = pytest.importorskip("monai.visualize")
LAYER = "class_layers.relu"
MODES = {2: "bilinear", 3: "trilinear"}


@pytest.fixture(scope="module")
def densenet_cases():
    """(model, input) per spatial dim: MONAI DenseNet121, 3 classes, random weights, blob inputs."""
    cases = {}
    for dims, shape in ((2, (128, 160)), (3, (64, 64, 96))):
        torch.manual_seed(0)
        model = monai_nets.DenseNet121(spatial_dims=dims, in_channels=1, out_channels=3).eval()
        x = blob_image(shape, [s * 0.3 for s in shape], radius=6, amplitude=2.0, noise=0.3)
        cases[dims] = (model, x)
    return cases


def identity(t):
    return t


@pytest.mark.parametrize("dims", [2, 3])
@pytest.mark.parametrize("method,peer", [("gradcam", "GradCAM"), ("gradcam++", "GradCAMpp")])
def test_gradcam_family_agrees_with_monai(densenet_cases, dims, method, peer, record_property):
    model, x = densenet_cases[dims]
    ours = explain(model, x, method)  # default layer and top class, as MONAI's defaults
    assert ours.layers == [LAYER]
    peer_cls = getattr(monai_visualize, peer)
    raw = peer_cls(copy.deepcopy(model), target_layers=LAYER, postprocessing=identity)(x)
    inverted = peer_cls(copy.deepcopy(model), target_layers=LAYER)(x)  # its default normaliser
    r_raw = pearson(ours.raw[0], raw[0, 0])
    r_default = pearson(ours.heatmap[0], 1 - inverted[0, 0])
    record_property(f"pearson_{method}_{dims}d", r_raw)
    assert r_raw >= 0.999
    assert r_default >= 0.999
    assert pearson(ours.heatmap[0], inverted[0, 0]) <= -0.999  # the peer's default really is inverted


def test_batch_of_three_equals_single_runs_where_monai_does_not(densenet_cases, record_property):
    """Ours: N=3 with targets [1, 2, 1] equals three N=1 runs (and each agrees with MONAI at N=1).
    MONAI at N=3 indexes logits[:, class_idx] with a vector, mixing every sample's class into every
    sample's gradient (Grad-CAM), and Grad-CAM++ fails on the shapes; we record what it gives."""
    model, _ = densenet_cases[2]
    centres = [(20, 30), (70, 100), (45, 25)]
    xs = torch.cat(
        [blob_image((96, 128), c, radius=6, amplitude=2.0, noise=0.3, seed=i) for i, c in enumerate(centres)]
    )
    targets = [1, 2, 1]  # class 0's Grad-CAM is all zero for this random network
    for method, peer in (("gradcam", "GradCAM"), ("gradcam++", "GradCAMpp")):
        batch = explain(model, xs, method, target=targets)
        assert batch.target == targets
        singles = [explain(model, xs[i : i + 1], method, target=t) for i, t in enumerate(targets)]
        np.testing.assert_allclose(
            batch.raw, np.concatenate([s.raw for s in singles]), rtol=0, atol=1e-5 * float(batch.raw.max())
        )
        peer_cls = getattr(monai_visualize, peer)
        for i, t in enumerate(targets):
            single = peer_cls(copy.deepcopy(model), target_layers=LAYER, postprocessing=identity)(
                xs[i : i + 1], class_idx=t
            )
            assert pearson(singles[i].raw[0], single[0, 0]) >= 0.999
        try:
            monai_batch = peer_cls(copy.deepcopy(model), target_layers=LAYER, postprocessing=identity)(
                xs, class_idx=torch.tensor(targets)
            )
            worst = min(pearson(monai_batch[i, 0], singles[i].raw[0]) for i in range(3))
            record_property(f"monai_{method}_batch3_min_pearson_vs_single", worst)
        except RuntimeError as exc:  # measured for GradCAMpp with MONAI 1.6: a shape error
            record_property(f"monai_{method}_batch3_error", str(exc)[:120])


@pytest.mark.parametrize("dims", [2, 3])
def test_gradcam_agrees_with_captum_layergradcam(densenet_cases, dims):
    """captum asks autograd for the layer's gradient only, as we do; upsampled with the same
    (bi/tri)linear interpolation its map must equal ours, on the in-place ReLU of MONAI's DenseNet."""
    captum_attr = pytest.importorskip("captum.attr")
    model, x = densenet_cases[dims]
    ours = explain(model, x, "gradcam", layers=LAYER, target=2)
    peer_model = copy.deepcopy(model)
    layer = dict(peer_model.named_modules())[LAYER]
    attribution = captum_attr.LayerGradCam(peer_model, layer).attribute(x, target=2, relu_attributions=True)
    peer = F.interpolate(attribution, size=x.shape[2:], mode=MODES[dims], align_corners=False)[0, 0]
    assert pearson(ours.raw[0], peer) >= 0.9999
    np.testing.assert_allclose(ours.raw[0], peer.detach().numpy(), rtol=0, atol=1e-4 * float(ours.raw.max()))
