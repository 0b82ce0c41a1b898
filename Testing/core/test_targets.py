"""Batches and targets: N=3 with three targets equals three single runs for every CAM method; every
kind of target (int, list, None, callable, single-logit, segmentation region, container outputs) is
checked against a second, independent way of asking the same question."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.engine_models import ContainerOutput, SmallCNN, TinyUNet, TupleLayerNet
from helpers.numerics import close
from SaliencyExplorerLib import available_methods, explain


@pytest.fixture(scope="module")
def cnn():
    torch.manual_seed(5)
    return SmallCNN(dims=2, channels=6, classes=3, seed=3).eval(), torch.randn(3, 1, 16, 20)


@pytest.mark.parametrize("method", available_methods("cam"))
def test_batch_with_different_targets_equals_single_runs(cnn, method):
    model, x = cnn
    targets = [2, 0, 1]
    batch = explain(model, x, method, layers="features", target=targets, batch_size=4)
    assert batch.target == targets
    for i, t in enumerate(targets):
        single = explain(model, x[i : i + 1], method, layers="features", target=t, batch_size=4)
        close(batch.raw[i], single.raw[0])
        close(batch.heatmap[i], single.heatmap[0], tol=1e-4)
        close(batch.scores[i], single.scores[0])


def test_batch_in_3d_equals_single_runs():
    model = SmallCNN(dims=3, channels=4, classes=3, seed=4).eval()
    x = torch.randn(3, 1, 6, 8, 10, generator=torch.Generator().manual_seed(1))
    for method in ("gradcam", "gradcam++", "scorecam"):
        batch = explain(model, x, method, layers="features", target=[1, 2, 0])
        for i, t in enumerate([1, 2, 0]):
            close(batch.raw[i], explain(model, x[i : i + 1], method, layers="features", target=t).raw[0])


def test_int_list_and_none_targets(cnn):
    model, x = cnn
    with torch.no_grad():
        logits = model(x).numpy()
    top = explain(model, x, "gradcam", layers="features")
    assert top.target == logits.argmax(1).tolist()
    close(top.scores, logits)
    as_int = explain(model, x, "gradcam", layers="features", target=1)
    as_list = explain(model, x, "gradcam", layers="features", target=[1, 1, 1])
    assert as_int.target == [1, 1, 1]
    close(as_int.raw, as_list.raw)
    mixed = explain(model, x, "gradcam", layers="features", target=torch.tensor([0, 2, 1]))
    assert mixed.target == [0, 2, 1]


def test_callable_target_is_linear_in_the_gradient(cnn):
    """Grad-CAM's signed map is linear in the score: the map of y1 - y0 equals map(y1) - map(y0)."""
    model, x = cnn
    diff = explain(model, x, "gradcam", layers="features", relu=False, target=lambda out: out[:, 1] - out[:, 0])
    one = explain(model, x, "gradcam", layers="features", relu=False, target=1)
    zero = explain(model, x, "gradcam", layers="features", relu=False, target=0)
    close(diff.raw, one.raw - zero.raw)
    assert np.abs(diff.raw).max() > 0


def test_single_logit_model_explains_its_only_output():
    model = SmallCNN(dims=2, channels=4, classes=1, seed=2).eval()
    x = torch.randn(2, 1, 12, 12, generator=torch.Generator().manual_seed(0))
    res = explain(model, x, "gradcam", layers="features")
    assert res.target == [0, 0] and res.scores.shape == (2, 1)
    same = explain(model, x, "gradcam", layers="features", target=lambda out: out[:, 0])
    close(res.raw, same.raw)


def test_multilabel_sigmoid_targets_per_sample():
    model = SmallCNN(dims=2, channels=4, classes=4, seed=6).eval()
    x = torch.randn(2, 1, 12, 12, generator=torch.Generator().manual_seed(2))
    res = explain(model, x, "scorecam", layers="features", target=[3, 0], output_activation="sigmoid")
    assert res.target == [3, 0]
    for i, t in enumerate([3, 0]):
        close(
            res.raw[i],
            explain(model, x[i : i + 1], "scorecam", layers="features", target=t, output_activation="sigmoid").raw[0],
        )


def region_score(klass, mask):
    mask = torch.as_tensor(mask, dtype=torch.float32)
    return lambda out: (out[:, klass] * mask).flatten(1).sum(1)


@pytest.mark.parametrize("dims,shape", [(2, (16, 20)), (3, (8, 10, 12))])
def test_segmentation_default_region_is_the_predicted_class(dims, shape):
    model = TinyUNet(dims=dims, classes=3, seed=1).eval()
    x = torch.randn(1, 1, *shape, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        predicted = model(x).argmax(1)
    counts = np.bincount(predicted.flatten().numpy(), minlength=3)
    klass = 1 + int(np.argmax(counts[1:]))  # most frequent foreground class
    assert counts[klass] > 0
    res = explain(model, x, "gradcam", layers="dec", relu=False)
    assert res.target == [klass]
    truth = explain(model, x, "gradcam", layers="dec", relu=False, target=region_score(klass, predicted == klass))
    close(res.raw, truth.raw)


def test_segmentation_with_a_callers_mask():
    model = TinyUNet(dims=2, classes=3, seed=1).eval()
    x = torch.randn(2, 1, 16, 20, generator=torch.Generator().manual_seed(4))
    mask = torch.zeros(2, 16, 20, dtype=torch.bool)
    mask[:, 2:7, 11:18] = True
    res = explain(model, x, "gradcam", layers="dec", relu=False, task="segmentation", target=2, mask=mask)
    truth = explain(model, x, "gradcam", layers="dec", relu=False, target=region_score(2, mask))
    close(res.raw, truth.raw)
    other = explain(model, x, "gradcam", layers="dec", relu=False, task="segmentation", target=2, mask=~mask)
    assert not np.allclose(other.raw, res.raw, atol=1e-6)  # the mask really changes the question


@pytest.mark.parametrize("kind,key", [("tuple", 0), ("dict", "logits")])
def test_container_outputs_with_output_key(cnn, kind, key):
    model, x = cnn
    wrapped = ContainerOutput(model, kind).eval()
    reference = explain(model, x, "gradcam", layers="features", target=[0, 1, 2])
    res = explain(wrapped, x, "gradcam", layers="inner.features", target=[0, 1, 2], output_key=key)
    close(res.raw, reference.raw)
    close(res.scores, reference.scores)


def test_layer_returning_a_tuple_uses_the_chosen_element(cnn):
    model, x = cnn
    wrapped = TupleLayerNet(model).eval()
    reference = explain(model, x, "gradcam++", layers="features", target=[2, 1, 0])
    res = explain(wrapped, x, "gradcam++", layers="block", layer_output=0, target=[2, 1, 0])
    close(res.raw, reference.raw)


def test_several_sigmoid_channels_are_multi_label_regions():
    """Multi-label (several sigmoid channels): a class's predicted region is where its own logit > 0, the
    default class the channel predicted on most voxels; softmax keeps the argmax."""
    from SaliencyExplorerLib.core.targets import resolve_target

    out = torch.randn(2, 3, 6, 5, generator=torch.Generator().manual_seed(1))
    out[:, 1] += 1.0  # channel 1 above 0 on most voxels
    target = resolve_target(None, out, 2, task="segmentation", activation="sigmoid")
    assert target.classes == [1, 1]
    assert torch.equal(target.masks, (out[:, 1] > 0).float())
    explicit = resolve_target(0, out, 2, task="segmentation", activation="sigmoid")
    assert torch.equal(explicit.masks, (out[:, 0] > 0).float())
    assert not torch.equal(explicit.masks, (out.argmax(1) == 0).float())  # not what an argmax would explain
    softmax = resolve_target(0, out, 2, task="segmentation", activation="softmax")
    assert torch.equal(softmax.masks, (out.argmax(1) == 0).float())
