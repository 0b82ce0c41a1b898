"""ExplainRun, everything a method may use: forward passes counted by rows, the target resolved from the
clean output, captured layer outputs and gradients, the working-memory estimate that sizes batches.

Truth: PatternNet's activations in numpy (and, with global average pooling, d logit_k / d A_c = W[k, c] / P
everywhere), logits computed by hand, and activation sizes counted by hand.
"""

import numpy as np
import pytest
import torch
from helpers.engine_models import FC_WEIGHT, PatternNet, numpy_pattern_activations
from SaliencyExplorerLib.core.layers import resolve_layers
from SaliencyExplorerLib.core.model_call import call_model
from SaliencyExplorerLib.core.run import ExplainRun
from SaliencyExplorerLib.errors import SaliencyError
from torch import nn


def _x(n=2):
    return torch.from_numpy(np.random.default_rng(0).normal(size=(n, 1, 9, 12)).astype(np.float32))


def test_a_model_error_names_the_input_shape_and_saliency_errors_pass_through():
    def broken(x):
        raise IndexError("index 3 is out of bounds")

    with pytest.raises(SaliencyError, match=r"raised IndexError on an input of shape \(2, 1, 9, 12\): index 3"):
        call_model(broken, _x())

    def refusing(x):
        raise SaliencyError("my own message")

    with pytest.raises(SaliencyError, match="^my own message$"):
        call_model(refusing, _x())


def test_the_first_clean_forward_sets_the_target_and_rows_are_counted():
    model = PatternNet(2, "mean")
    x = _x()
    run = ExplainRun(model, x, target=[2, 0])
    with pytest.raises(RuntimeError, match="before the target"):
        run.score(torch.zeros(2, 3))
    out = run.forward()
    assert run.target.classes == [2, 0] and torch.equal(run.clean_output, out)
    run.forward(torch.cat([x, x, x]))  # a perturbed batch of 6 rows: counted, the clean output kept
    assert run.passes == {"forward": 2 + 6, "backward": 0, "tail": 0} and torch.equal(run.clean_output, out)
    # rows 0..3 of a batch belong to samples 1, 1, 0, 0: each is scored against its own sample's class
    scores = run.score(out[[1, 1, 0, 0]], rows=[1, 1, 0, 0])
    assert scores.tolist() == pytest.approx([out[1, 0].item()] * 2 + [out[0, 2].item()] * 2)


def test_ensure_target_runs_one_forward_only_when_none_ran():
    run = ExplainRun(PatternNet(2, "mean"), _x())
    target = run.ensure_target()
    assert run.passes["forward"] == 2 and run.ensure_target() is target and run.passes["forward"] == 2
    assert target.classes == run.clean_output.argmax(1).tolist()  # the top class by default


def test_activations_and_gradients_of_a_layer_are_known_in_closed_form():
    model = PatternNet(2, "mean")
    x = _x()
    run = ExplainRun(model, x, layers=resolve_layers(model, "features"), target=[1, 2])
    [(name, a, g)] = run.activations_and_gradients()
    assert name == "features" and a.shape == g.shape == (2, 4, 9, 12)
    for i, klass in enumerate([1, 2]):
        np.testing.assert_allclose(a[i].numpy(), numpy_pattern_activations(x[i].numpy()), rtol=1e-5, atol=1e-5)
        expected = np.broadcast_to((FC_WEIGHT[klass] / (9 * 12)).reshape(4, 1, 1), (4, 9, 12))
        np.testing.assert_allclose(g[i].numpy(), expected, rtol=1e-5, atol=1e-8)
    assert run.passes == {"forward": 2, "backward": 2, "tail": 0}
    assert all(p.grad is None for p in model.parameters())


def test_a_layer_that_never_runs_or_does_not_reach_the_score_is_refused():
    class Sidetrack(nn.Module):
        def __init__(self):
            super().__init__()
            self.used = nn.Conv2d(1, 2, 3, padding=1)
            self.unused = nn.Conv2d(1, 2, 3, padding=1)
            self.side = nn.Conv2d(1, 2, 3, padding=1)

        def forward(self, x):
            self.side(x)  # computed, but the output does not depend on it
            return self.used(x).mean((2, 3))

    model = Sidetrack()
    with pytest.raises(SaliencyError, match="unused did not run"):
        ExplainRun(model, _x(), layers=resolve_layers(model, "unused")).capture()
    with pytest.raises(SaliencyError, match="does not depend on layer 'side'"):
        ExplainRun(model, _x(), layers=resolve_layers(model, "side"), target=0).activations_and_gradients()


def test_working_memory_per_sample_is_four_largest_activations_plus_two_inputs():
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 2))
    run = ExplainRun(model, torch.zeros(3, 1, 10, 10), batch_size=5)
    # largest activation: the conv's 8 x 10 x 10 float32 = 3200 bytes; one input sample = 400 bytes
    assert run.per_sample_bytes() == 4 * 3200 + 2 * 400
    assert run.passes["forward"] == 3 and run.target is not None  # the probe was the clean forward
    assert run.choose_batch_size(total=4) == 4 and run.choose_batch_size(total=50) == 5


def test_run_settings_are_explains_keywords_and_nothing_else_is_taken():
    """One list (RUN_SETTINGS) serves ExplainRun and explain(): each setting is a keyword explain() takes and
    passes on, the run keeps what it is given, and a name outside the list is refused."""
    import inspect

    from SaliencyExplorerLib.core.engine import explain
    from SaliencyExplorerLib.core.run import RUN_SETTINGS

    assert set(RUN_SETTINGS) <= set(inspect.signature(explain).parameters)
    run = ExplainRun(PatternNet(2, "mean"), _x(), target=[1], batch_size=3, progress=print)
    assert (run.requested_target, run.batch_size, run.progress_callback, run.relu) == ([1], 3, print, True)
    with pytest.raises(TypeError, match="aug_smooth"):
        ExplainRun(PatternNet(2, "mean"), _x(), aug_smooth=True)
