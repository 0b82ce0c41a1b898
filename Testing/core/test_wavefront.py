"""Saliency over the predicted region without the clean pass (core/wavefront.py): the maps equal the clean-pass
path's (the previous algorithm, run beside it) and the gradient through MONAI's own sliding_window_inference,
whether every window waited for its neighbours, guessed its region right, or guessed wrong and was corrected;
the passes counted are the passes run."""

import pytest
import torch
from SaliencyExplorerLib import explain
from SaliencyExplorerLib.core import window_pairs
from SaliencyExplorerLib.core.wavefront import Wavefront
from SaliencyExplorerLib.errors import SaliencyError
from SaliencyExplorerLib.methods.gradient.saliency import InputXGradient, Saliency

monai = pytest.importorskip("monai")
from helpers.window_models import ROI, BrightBlobSeg, relative_error  # noqa: E402
from monai.inferers import sliding_window_inference  # noqa: E402


@pytest.fixture(autouse=True)
def one_window_per_pass(monkeypatch):
    """The wavefront runs where windows do not pay in pairs (a GPU, sw_batch_size > 1); here the CPU's pairs are
    switched off to test it (core/window_pairs.py)."""
    monkeypatch.setattr(window_pairs, "ENABLED", False)


def both(monkeypatch, model, x, method="saliency", policy="auto", **kwargs):
    """(new, old): the wavefront path under `policy`, and the clean-pass path on the same input."""
    monkeypatch.setattr(Wavefront, "policy", policy)
    new = explain(model, x, method, **kwargs)
    monkeypatch.setattr(Saliency, "wavefront", False)
    monkeypatch.setattr(InputXGradient, "wavefront", False)
    old = explain(model, x, method, **kwargs)
    monkeypatch.undo()
    monkeypatch.setattr(window_pairs, "ENABLED", False)
    return new, old


def attributions(result):
    return torch.from_numpy(result.extras["attributions"])


@pytest.mark.parametrize("policy", ["auto", "always", "never"])
@pytest.mark.parametrize("overlap, blend, target", [(0.25, "gaussian", 1), (0.5, "constant", None)])
def test_same_map_as_the_clean_pass(monkeypatch, unet, volume, policy, overlap, blend, target):
    sw = {"roi_size": ROI, "overlap": overlap, "blend": blend}
    new, old = both(monkeypatch, unet, volume, policy=policy, target=target, sliding_window=sw)
    assert relative_error(attributions(new), attributions(old)) < 1e-5
    assert abs(new.raw - old.raw).max() <= 1e-5 * abs(old.raw).max()
    counts = new.extras["sliding_windows"]
    windows = counts["windows"]
    # every window once forward and backward, plus the forwards run ahead and the corrections
    assert new.passes["backward"] == windows - counts["skipped"] + counts["corrected"]
    assert new.passes["forward"] == counts["ran_ahead"] + new.passes["backward"]
    assert old.passes["forward"] == 2 * windows - counts["skipped"]  # the clean pass, then the windows again
    if policy == "always":  # a random net's windows disagree near the region's edges: guesses get corrected
        assert counts["guessed"] > 0 and counts["corrected"] > 0
        assert any("ran again for the difference" in w for w in new.warnings)
    else:  # waiting for the neighbours: exact at once, fewer forwards than the clean pass
        assert counts["corrected"] == 0 and not any("ran again" in w for w in new.warnings)
    if policy == "auto":  # the windows with every grid index even (4 of 3x3x2, 4 of 5x5x3) never run ahead
        assert counts["ran_ahead"] <= windows - 4 and new.passes["forward"] < old.passes["forward"]


def test_the_gradient_through_monai_of_its_predicted_region(monkeypatch, unet, volume):
    """Independent truth: autograd through MONAI's inference, the region from MONAI's blended argmax."""
    monkeypatch.setattr(Wavefront, "policy", "always")  # corrections on: the sum of guess and correction
    leaf = volume.clone().requires_grad_(True)
    y = sliding_window_inference(leaf, ROI, 1, unet, overlap=0.25, mode="gaussian")
    region = (y.detach().argmax(1) == 2).float()
    (ref,) = torch.autograd.grad((y[:, 2] * region).sum(), leaf)
    sw = {"roi_size": ROI, "overlap": 0.25, "blend": "gaussian"}
    result = explain(unet, volume, "inputxgradient", target=2, sliding_window=sw)
    assert result.extras["sliding_windows"]["corrected"] > 0
    assert relative_error(attributions(result), volume * ref) < 1e-5


def test_windows_that_agree_need_no_correction(monkeypatch):
    """A net whose windows agree wherever they overlap (1x1x1 convolutions: no border effect) lets every guess
    stand: no window is corrected, and under "auto" the evidence (no mask ever changed) lets windows guess."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv3d(1, 4, 1), torch.nn.ReLU(), torch.nn.Conv3d(4, 2, 1)).eval()
    x = torch.randn(1, 1, 40, 36, 28)
    for policy in ("always", "auto"):
        sw = {"roi_size": ROI, "overlap": 0.25, "blend": "gaussian"}
        new, old = both(monkeypatch, model, x, policy=policy, target=1, sliding_window=sw)
        counts = new.extras["sliding_windows"]
        assert counts["corrected"] == 0 and counts["guessed"] > 0, counts
        assert relative_error(attributions(new), attributions(old)) < 1e-5
        assert new.passes["backward"] == counts["windows"]
        if policy == "always":  # each window once forward (with its graph) and once backward: nothing else
            assert new.passes["forward"] == counts["windows"]
        else:  # the first windows wait for evidence; then guessing pays
            assert 0 < counts["ran_ahead"] < counts["windows"] - 4, counts


@pytest.mark.parametrize("policy", ["auto", "always"])
def test_a_lesion_in_a_few_windows(monkeypatch, policy):
    """A bright blob inside a few windows: windows far from it run once without gradient and no backward
    (as after the clean pass), the map equals the clean pass's and is zero where no window with the lesion reaches."""
    x = torch.zeros(1, 1, 40, 36, 28)
    x[0, 0, 4:10, 4:10, 4:10] = 2.0
    sw = {"roi_size": ROI, "overlap": 0.25, "blend": "constant"}
    new, old = both(monkeypatch, BrightBlobSeg().eval(), x, policy=policy, target=1, sliding_window=sw)
    assert relative_error(attributions(new), attributions(old)) < 1e-5
    counts = new.extras["sliding_windows"]
    assert counts["skipped"] == old.extras["sliding_windows"]["skipped"] > 0
    assert new.passes["backward"] == old.passes["backward"] + counts["corrected"]


def test_a_grid_smaller_than_a_window_on_one_axis(monkeypatch, unet):
    """The padding is outside the target's region: waiting for neighbours stays exact there (no correction)."""
    x = torch.randn(1, 1, 40, 12, 28, generator=torch.Generator().manual_seed(2))
    sw = {"roi_size": ROI, "overlap": 0.25, "blend": "gaussian", "padding_mode": "reflect"}
    new, old = both(monkeypatch, unet, x, policy="never", target=1, sliding_window=sw)
    assert relative_error(attributions(new), attributions(old)) < 1e-5
    assert new.extras["sliding_windows"]["corrected"] == 0


def test_several_samples_and_the_cards_labels(monkeypatch, unet, volume):
    """Two samples (each its own region and default class) and a callable mask (the card's postprocessing:
    here the predicted labels with class 1 removed inside a box), which the guess does not know."""
    x = torch.cat([volume, volume.flip(2)])

    def labels(output):
        predicted = output.argmax(1)
        predicted[:, :10] = 0
        return predicted

    sw = {"roi_size": ROI, "overlap": 0.25, "blend": "gaussian"}
    for mask in (None, labels):
        new, old = both(monkeypatch, unet, x, target=None, mask=mask, sliding_window=sw)
        assert relative_error(attributions(new), attributions(old)) < 1e-5
        assert new.extras["sliding_windows"]["windows"] == 2 * 18


def test_an_empty_prediction_explains_the_whole_grid_as_before(monkeypatch, volume):
    """No voxel of the class: the target's rule (the whole grid, with a note) holds; the guesses (empty) are
    corrected window by window."""
    torch.manual_seed(0)
    model = torch.nn.Conv3d(1, 2, 3, padding=1).eval()
    with torch.no_grad():
        model.bias.copy_(torch.tensor([10.0, -10.0]))  # class 1 never wins
    new, old = both(monkeypatch, model, volume, target=1, sliding_window={"roi_size": ROI})
    assert relative_error(attributions(new), attributions(old)) < 1e-5
    assert any("predicts no voxel of class 1" in w for w in new.warnings)
    assert new.extras["sliding_windows"]["corrected"] == 18  # every window ran again: none guessed a region


@pytest.mark.parametrize("policy", ["auto", "always", "never"])
def test_window_batches(monkeypatch, unet, volume, policy):
    """sw_batch_size 3: windows run ahead, wait and are corrected in batches; one window per guess."""
    sw = {"roi_size": ROI, "overlap": 0.25, "blend": "gaussian", "sw_batch_size": 3}
    new, old = both(monkeypatch, unet, volume, policy=policy, target=1, sliding_window=sw)
    assert relative_error(attributions(new), attributions(old)) < 1e-5
    counts = new.extras["sliding_windows"]
    assert new.passes["backward"] == counts["windows"] - counts["skipped"] + counts["corrected"]
    assert new.passes["forward"] == counts["ran_ahead"] + new.passes["backward"]


def test_other_targets_keep_the_clean_pass(unet, volume):
    """A callable score takes the clean-pass path (2 forwards per window)."""
    sw = {"roi_size": ROI, "overlap": 0.25}
    result = explain(unet, volume, "saliency", target=lambda y: y[:, 1].mean((1, 2, 3)), sliding_window=sw)
    assert result.passes["forward"] == 2 * 18 and "ran_ahead" not in result.extras["sliding_windows"]


def test_a_class_the_model_lacks_is_one_line(unet, volume):
    with pytest.raises(SaliencyError, match="out of range"):
        explain(unet, volume, "saliency", target=7, sliding_window={"roi_size": ROI})
