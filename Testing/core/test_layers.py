"""Target layers: DataParallel prefixes, mistyped names, the proposed default layer.

Several layers at once: ``methods/cam/test_base.py``; transformer token outputs: ``test_tokens.py``."""

from __future__ import annotations

import pytest
import torch
from helpers.engine_models import SmallCNN, TinyResNet
from helpers.numerics import close
from SaliencyExplorerLib import SaliencyError, explain, list_layers
from torch import nn


@pytest.fixture(scope="module")
def cnn():
    return SmallCNN(dims=2, channels=5, classes=3, seed=7).eval(), torch.randn(2, 1, 14, 18)


def test_dataparallel_prefix_accepted_both_ways(cnn):
    model, x = cnn
    reference = explain(model, x, "gradcam", layers="features.3", target=[0, 2])
    prefixed = explain(model, x, "gradcam", layers="module.features.3", target=[0, 2])
    close(prefixed.raw, reference.raw)
    wrapped = nn.DataParallel(model)  # on CPU it simply calls the module
    plain_name = explain(wrapped, x, "gradcam", layers="features.3", target=[0, 2])
    full_name = explain(wrapped, x, "gradcam", layers="module.features.3", target=[0, 2])
    close(plain_name.raw, reference.raw)
    close(full_name.raw, reference.raw)


def test_mistyped_layer_names_the_closest_layers(cnn):
    model, x = cnn
    with pytest.raises(SaliencyError) as info:
        explain(model, x, "gradcam", layers="featres.3")
    message = str(info.value)
    assert "featres.3" in message and "features.3" in message and "list_layers" in message


def test_list_layers_default_on_monai_densenet121():
    nets = pytest.importorskip("monai.networks.nets")
    model = nets.DenseNet121(spatial_dims=2, in_channels=1, out_channels=2).eval()
    infos = list_layers(model, torch.zeros(1, 1, 64, 64))
    by_name = {info.name: info for info in infos}
    defaults = [info.name for info in infos if info.is_default]
    assert defaults == ["class_layers.relu"]
    assert by_name["class_layers.relu"].output_shape == (1, 1024, 2, 2)
    assert by_name["class_layers.relu"].cam_capable
    assert not by_name["class_layers.pool"].cam_capable and not by_name["class_layers.out"].cam_capable
    assert by_name["class_layers.out"].output_shape == (1, 2) and by_name["class_layers.out"].type == "Linear"
    assert explain(model, torch.randn(1, 1, 64, 64), "gradcam").layers == ["class_layers.relu"]


def test_list_layers_default_on_a_torch_only_resnet():
    model = TinyResNet().eval()
    infos = list_layers(model, torch.zeros(1, 1, 16, 24))
    by_name = {info.name: info for info in infos}
    default = [info for info in infos if info.is_default]
    assert len(default) == 1
    # the last layer with spatial output, before the global pooling: layer2 (= its last block)
    assert default[0].name in ("layer2", "layer2.1")
    assert default[0].output_shape == (1, 8, 8, 12)
    assert by_name["avgpool"].output_shape == (1, 8, 1, 1) and not by_name["avgpool"].cam_capable
    assert by_name["conv1"].cam_capable and by_name["conv1"].type == "Conv2d"
    assert len(by_name) == len([n for n, _ in model.named_modules() if n])


def test_an_exported_program_lists_no_torch_internal_rows():
    """torch.export's unflattened module carries a `_guards_fn` submodule: not a layer of the model."""
    from helpers.paths import SAMPLES
    from SaliencyExplorerLib.models.loading import load_model

    loaded = load_model(SAMPLES / "lesion_classifier.pt2", SAMPLES / "lesion_classifier.json")
    names = [row.name for row in list_layers(loaded.module, torch.zeros(1, 1, 32, 32, 32))]
    assert "features.block3" in names
    assert not [n for n in names if "_guards_fn" in n]
