"""volumes.prediction: the card's postprocessing equals MONAI's transforms (GaussianSmooth, AsDiscrete with a
threshold, KeepLargestConnectedComponent) and scipy's gaussian_filter; scores brought back linearly (Invertd
with nearest_interp=False) decide on the native grid, where a label brought back by nearest cannot."""

import numpy as np
import pytest
import SimpleITK as sitk
from SaliencyExplorerLib.card import parse_card
from SaliencyExplorerLib.volumes.geometry import to_model
from SaliencyExplorerLib.volumes.native_labels import predict
from SaliencyExplorerLib.volumes.prediction import decide, keep_largest_component, smooth

monai_transforms = pytest.importorskip("monai.transforms")
torch = pytest.importorskip("torch")
ndimage = pytest.importorskip("scipy.ndimage")

LOGITS = np.random.default_rng(0).normal(size=(2, 13, 11, 7)).astype(np.float32)  # (C, *spatial)


@pytest.mark.parametrize("sigma", [1.0, (2.5, 0.8, 1.7)])
def test_erf_zeros_smoothing_equals_monai_gaussian_smooth(sigma):
    theirs = monai_transforms.GaussianSmooth(sigma=sigma)(torch.from_numpy(LOGITS)).numpy()
    assert np.abs(smooth(LOGITS, sigma, 3) - theirs).max() < 1e-5


def test_sampled_nearest_smoothing_equals_scipy_gaussian_filter_as_taps_runs_it():
    theirs = ndimage.gaussian_filter(LOGITS, sigma=(0.0, 2.5, 2.5, 2.5), mode="nearest")
    assert np.abs(smooth(LOGITS, 2.5, 3, "sampled", "nearest") - theirs).max() < 1e-5


def test_threshold_and_argmax_equal_monai_as_discrete():
    probability = 1 / (1 + np.exp(-LOGITS[:1]))
    theirs = monai_transforms.AsDiscrete(threshold=0.55)(torch.from_numpy(probability)).numpy()[0]
    assert np.array_equal(decide(probability, 0.55), theirs.astype(np.uint8))
    assert 0 < decide(probability, 0.55).sum() < decide(probability, 0.5).sum()  # 0.55 really removes voxels
    assert np.array_equal(decide(LOGITS), monai_transforms.AsDiscrete(argmax=True)(torch.from_numpy(LOGITS))[0].numpy())


def test_largest_component_equals_monai_keep_largest_connected_component():
    labels = np.zeros((12, 10, 9), np.uint8)
    labels[1:4, 1:4, 1:4] = 1  # 27 voxels
    labels[6:8, 6:8, 6:8] = 1  # 8 voxels: removed
    labels[4, 4, 4] = 1  # touches the first block only at a corner: kept with full connectivity
    labels[9:12, 0:5, 0:2] = 2  # class 2, largest
    labels[0, 8, 8] = 2  # class 2, removed
    theirs = monai_transforms.KeepLargestConnectedComponent()(torch.from_numpy(labels[None].astype(np.int64)))
    ours = sitk.GetArrayFromImage(keep_largest_component(sitk.GetImageFromArray(labels)))
    assert np.array_equal(ours, theirs[0].numpy()) and ours[4, 4, 4] == 1 and ours[7, 7, 7] == 0


def test_logits_resampled_linearly_decide_on_the_native_grid():
    """A logit ramp along i on a 3 mm model grid, the volume at 1 mm: linear interpolation of a ramp is exact, so
    the foreground starts exactly where the ramp crosses logit(0.55) (21.31 mm: native voxel 22); labels brought
    back by nearest start where the first foreground model voxel (24 mm) is nearest (native voxel 23)."""
    native = sitk.Image(40, 6, 6, sitk.sitkFloat32)  # 1 mm voxels, origin 0
    card = {
        "task": "segmentation",
        "input": {"spacing": [3.0, 1.0, 1.0], "fit": "first_voxel"},
        "output": {"activation": "sigmoid", "threshold": 0.55},
    }
    model_input = to_model(native, parse_card(card))
    i_mm = np.arange(model_input.tensor.shape[2]) * 3.0  # first voxel kept: model voxel n sits at 3n mm
    ramp = ((i_mm - 19.3) * 0.1).astype(np.float32)  # logit(0.55) = 0.2007 reached at 21.307 mm
    scores = np.broadcast_to(ramp[:, None, None], model_input.tensor.shape[2:])[None, None].copy()

    def first_foreground(**output):
        spec = parse_card({**card, "output": {**card["output"], **output}}).output
        return int(np.argmax(sitk.GetArrayFromImage(predict(scores, "sigmoid", spec, model_input))[3, 3, :]))

    assert first_foreground(resample="logits") == 22
    assert first_foreground(resample="probabilities") == 22  # sigmoid after or before: the same crossing here
    assert first_foreground() == 22  # resample "auto": MONAI's order, the probabilities back
    assert first_foreground(resample="labels") == 23  # nearest neighbour
    assert (
        first_foreground(resample="labels", threshold=0.5) == 20
    )  # logit 0 at 19.3 mm: nearest model voxel 7 (21 mm) reaches 20
    assert first_foreground(resample="logits", smooth={"sigma": 1.0}) == 22  # a symmetric blur keeps a ramp


# -- several sigmoid channels: multi-label (MONAI's BraTS bundle, nnU-Net's region-based training) ---------------
MULTI = np.random.default_rng(3).normal(size=(1, 3, 9, 8, 6)).astype(np.float32)  # (N, C, *spatial) logits


def test_multi_label_rule_equals_monai_activations_and_asdiscrete_per_channel():
    """The engine's region of each class is its own channel above the threshold, as MONAI's postprocessing
    Activations(sigmoid=True) + AsDiscrete(threshold=0.5) makes it, not an argmax across channels."""
    from SaliencyExplorerLib.card.spec import OutputSpec
    from SaliencyExplorerLib.volumes.prediction import labels_rule

    theirs = monai_transforms.AsDiscrete(threshold=0.5)(
        monai_transforms.Activations(sigmoid=True)(torch.from_numpy(MULTI[0]))
    ).numpy()
    ours = labels_rule(OutputSpec(activation="sigmoid", largest_component=True), "sigmoid")(MULTI)
    assert ours.shape == MULTI.shape
    largest = monai_transforms.KeepLargestConnectedComponent(independent=True, connectivity=3)
    for c in range(3):
        assert np.array_equal(ours[0, c], largest(torch.from_numpy(theirs[c : c + 1])).numpy()[0])
    plain = labels_rule(OutputSpec(activation="sigmoid", threshold=0.5), "sigmoid")(MULTI)
    assert (
        np.array_equal(plain[0], theirs)
        and (plain[0] != (MULTI[0].argmax(0) == np.arange(3)[:, None, None, None])).any()
    )


def test_multi_label_labels_equal_nnunet_regions_class_order():
    nnunet = pytest.importorskip("nnunetv2.utilities.label_handling.label_handling")
    manager = nnunet.LabelManager(
        {"background": 0, "a": [1, 2, 3], "b": [2, 3], "c": [3]}, regions_class_order=[1, 2, 3]
    )
    probabilities = 1.0 / (1.0 + np.exp(-MULTI[0]))
    theirs = manager.convert_probabilities_to_segmentation(probabilities)
    assert np.array_equal(decide(probabilities, 0.5, axis=0, regions=(1, 2, 3)), theirs)
    assert set(np.unique(theirs)) == {0, 1, 2, 3}


def test_region_labels_must_name_one_label_per_channel():
    from SaliencyExplorerLib.card.spec import OutputSpec
    from SaliencyExplorerLib.errors import SaliencyError
    from SaliencyExplorerLib.volumes.prediction import region_labels

    assert region_labels("sigmoid", 3, OutputSpec()) == (1, 2, 3)
    assert region_labels("softmax", 3, OutputSpec()) is None and region_labels("sigmoid", 1, OutputSpec()) is None
    with pytest.raises(SaliencyError, match="names 2 labels but the model has 3 sigmoid output channels"):
        region_labels("sigmoid", 3, OutputSpec(region_labels=(1, 2)))
