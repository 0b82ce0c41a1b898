"""What every gradient method shares: the target score's gradient to the input, batched and cheap.

Why `torch.autograd.grad(score, input)` with the parameters frozen for the pass: the backward then
computes only what reaches the input (no weight gradients, nothing left in `.grad`), which is the
difference between MONAI's SmoothGrad and n x (forward + backward to the input).
"""

from __future__ import annotations

import abc
import contextlib

import torch

from ...core.batching import batch_ranges, bounded_batch_size
from ...core.method import Method, MethodOutput
from ...core.model_guard import all_modules
from ...errors import SaliencyError

REDUCTIONS = ("sum", "abs", "max-abs", "l2")


def check_reduce(value) -> str:
    if value not in REDUCTIONS:
        raise SaliencyError(
            f"reduce={value!r} is not a channel reduction; use one of {', '.join(REDUCTIONS)} "
            f"('sum' keeps the sign, the others give a magnitude)."
        )
    return value


def reduce_channels(attributions: torch.Tensor, how: str) -> torch.Tensor:
    """(N, C, *spatial) per-channel attributions -> (N, *spatial) map."""
    if attributions.shape[1] == 1:  # one channel: every magnitude is |a| (a reduction over it costs 0.4 ms at 64^3)
        return attributions[:, 0].clone() if how == "sum" else attributions[:, 0].abs()
    if how == "sum":
        return attributions.sum(1)
    if how == "abs":
        return attributions.abs().sum(1)
    if how == "max-abs":
        return attributions.abs().amax(1)
    return attributions.pow(2).sum(1).sqrt()


@contextlib.contextmanager
def input_only_gradients(model: torch.nn.Module):
    """Parameters stop requiring gradients during the pass and are restored afterwards, even on error."""
    # one walk over the modules' own parameter dicts, touching only those that need it (~3x cheaper than
    # parameters() on a 500-module network: part of the fixed cost of every gradient call)
    trainable = [p for m in all_modules(model) for p in m._parameters.values() if p is not None and p.requires_grad]
    try:
        for param in trainable:
            param.requires_grad_(False)
        yield
    finally:
        for param in trainable:
            param.requires_grad_(True)


NOT_DIFFERENTIABLE = (
    "The explained score does not depend differentiably on the input (the model runs under no_grad, "
    "detaches, or rounds/argmaxes its output). Gradient methods need a differentiable model: choose "
    "'occlusion' or 'rise', which only evaluate the model."
)


def score_gradients(run, inputs: torch.Tensor, rows, set_clean: bool = False):
    """d score_j / d input_j for a batch (rows[j] = the sample row j explains): (gradient, output)."""
    leaf = inputs.detach().requires_grad_(True)
    with input_only_gradients(run.model):
        output = run.forward(leaf, grad=True)
        if set_clean and run.clean_output is None:
            run.set_clean_output(output)  # this batch is the clean input: no separate forward needed
        score = run.score(output, rows)
        if not score.requires_grad:
            raise SaliencyError(NOT_DIFFERENTIABLE)
        (grad,) = torch.autograd.grad(score.sum(), leaf)
    run.passes["backward"] += int(inputs.shape[0])
    return grad.detach(), output.detach()


def gradient_batch_size(run, total: int) -> int:
    """Batch size for forward + backward passes: the saved activations of a backward cost several times
    the no-grad working memory, so the per-sample estimate is scaled up before the memory bound."""
    if total <= 1:
        return 1
    return bounded_batch_size(run.batch_size, 3 * run.per_sample_bytes(), run.device, total, cpu_budget=256 << 20)


def clean_gradients(run) -> torch.Tensor:
    """The target score's gradient at the unperturbed input, for every sample (N, C, *spatial)."""
    n = run.x.shape[0]
    # A few samples go in one pass without a memory probe: the probe would cost a forward of its own.
    size = n if (run.batch_size is None and n <= 4) else gradient_batch_size(run, n)
    if run.target is None and size < n:
        run.ensure_target()
    grads = []
    for start in range(0, n, size):
        rows = torch.arange(start, min(start + size, n), device=run.device)
        grad, _ = score_gradients(run, run.x[start : start + size], rows, set_clean=(size >= n))
        grads.append(grad)
        run.check_cancel()
    return grads[0] if len(grads) == 1 else torch.cat(grads)


def gradient_passes(run, per_sample: int, fill, accumulate) -> None:
    """`per_sample` perturbed gradient passes for every sample, built batch by batch in ONE reused buffer.

    fill(batch, rows, ks) writes the perturbed inputs in place (rows: sample of each row, ks: its index
    among that sample's passes); accumulate(grad, rows, ks) folds the gradients into the caller's sums.
    Progress counts passes; cancellation is checked after every batch.
    """
    run.ensure_target()
    n = run.x.shape[0]
    total = n * per_sample
    size = gradient_batch_size(run, total)
    buffer = torch.empty((size, *run.x.shape[1:]), dtype=run.x.dtype, device=run.device)
    for start, stop in batch_ranges(total, size, run.progress(total)):
        index = torch.arange(start, stop, device=run.device)
        rows, ks = index // per_sample, index % per_sample
        batch = buffer[: stop - start]
        fill(batch, rows, ks)
        grad, _ = score_gradients(run, batch, rows)
        accumulate(grad, rows, ks)


def broadcast(per_sample: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(B,) values shaped to multiply a (B, C, *spatial) batch."""
    return per_sample.reshape(-1, *([1] * (like.dim() - 1))).to(like.dtype)


class GradientMethod(Method):
    """Base of the input-gradient family: signed maps with a `reduce` option for channels -> map."""

    kind = "gradient"
    signed = True
    window_combine = "sum"  # gradients of a sum of window scores add up: exact over sliding windows
    # True: the attributions are linear in the window score's weights (one gradient at the clean input), so
    # the predicted region may be guessed per window and corrected later (core/wavefront.py: no clean pass)
    wavefront = False

    @abc.abstractmethod
    def attributions(self, run):
        """(N, C, *spatial) per-channel attributions, or (attributions, extras dict)."""

    def compute(self, run):
        how = check_reduce(run.options["reduce"])  # a bad option fails before any model evaluation
        out = self.attributions(run)
        attributions, extras = out if isinstance(out, tuple) else (out, {})
        return MethodOutput(reduce_channels(attributions, how), {"attributions": attributions, **extras})

    def from_window_sum(self, attributions, run):
        return MethodOutput(
            reduce_channels(attributions, check_reduce(run.options["reduce"])), {"attributions": attributions}
        )
