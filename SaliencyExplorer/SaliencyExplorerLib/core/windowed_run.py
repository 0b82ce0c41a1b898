"""`WindowedRun`: an ExplainRun whose model is the blended sliding-window output, explained window by window.

Why one wrapper and not windowed versions of each method: the explained score S of the blended output Y
depends on window w only through its blend-weighted share, so with G = dS/dY (taken once, on the output
grid) S's gradient is exactly the sum over windows of the gradient of the window score
``sum(G[window] * importance / count * out_w)``. Every gradient method and CAM therefore runs unchanged on
a sub-run whose input is one window batch and whose target is that window score (`WindowTarget`);
the wrapper places the results: attributions are added (gradient methods, ``window_combine = "sum"``),
maps are blended with the importance weights (CAMs, ``"blend"``). Memory is one window batch's, and a
window whose score weights are all zero (no target voxel in it) costs no backward pass. Perturbation
methods (``window_combine = None``) see the blended model through `forward`; a perturbed input re-runs
only the windows it changed, the others reuse the clean pass.
"""

from __future__ import annotations

import torch

from ..errors import SaliencyError
from . import ready_windows
from .batching import Progress
from .maps import upsample
from .method import MethodOutput
from .model_call import WINDOW_HINT, call_model
from .ready_windows import ReadyWindows
from .run import ExplainRun
from .sliding_window import SlidingWindow, WindowPlan
from .tail import LayerTail, TailRun
from .targets import Target, activate, pick_output, resolve_target
from .wavefront import Wavefront, applies
from .window_pairs import PAIR, graph_batches, pairs_pay


class WindowTarget(Target):
    """One window's share of the explained score: sum(weights * output) (weights = dS/dY x blend share)."""

    def __init__(self, weights: torch.Tensor, activation: str, classes=None):
        self.weights = weights  # (B, K, *roi)
        self.activation = activation
        self.classes = classes

    def score(self, output, rows, probability=False):
        weights = self.weights.to(output.device, output.dtype)[rows]
        if probability:  # the weighted mean of the activated output (Score-CAM's scale)
            values = activate(output, self.activation)
            return (values * weights).flatten(1).sum(1) / weights.abs().flatten(1).sum(1).clamp_min(1e-12)
        return (output * weights).flatten(1).sum(1)


class WindowedRun(ExplainRun):
    def __init__(self, model, x, *, sliding_window, **kwargs):
        super().__init__(model, x, **kwargs)
        self.sliding = SlidingWindow.of(sliding_window)
        self.plan = WindowPlan(self.sliding, self.spatial_shape, x.dtype, x.device)
        self.window_counts = {"windows": len(self.plan) * x.shape[0], "evaluated": 0, "reused": 0, "skipped": 0}
        self._clean_windows = None  # (padded input, {(i, w): weighted window output}) from the clean pass
        self._tail: LayerTail | None = None  # a CAM layer's per-window outputs kept by the clean pass
        self._progress: Progress | None = None  # set while the clean pass is the first phase of _per_window
        self._after_batch = None  # called with (items, blended total so far) after each clean-pass batch
        self._keep_windows = True  # the clean pass keeps each window's output (perturbations reuse them)

    # --- the blended model ----------------------------------------------------------------------------
    def _window_call(self, windows: torch.Tensor) -> torch.Tensor:
        self.passes["forward"] += int(windows.shape[0])
        self.window_counts["evaluated"] += int(windows.shape[0])
        return pick_output(call_model(self.model, windows, WINDOW_HINT), self.output_key)

    def _call_model(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[2:]) != self.spatial_shape:
            return super()._call_model(x)
        if x is self.x and self._clean_windows is None and not torch.is_grad_enabled():
            return self._clean_pass()
        if self._clean_windows is not None and not torch.is_grad_enabled():
            return self._reusing_pass(x)
        return self.plan.infer(self._window_call, x)

    def _clean_pass(self) -> torch.Tensor:
        """The blended output of the clean input, keeping each window's weighted output for reuse."""
        plan, padded = self.plan, self.plan.pad_input(self.x)
        cache, total, count = {}, None, len(plan) * self.x.shape[0]
        self._clean_windows = (padded, cache)  # filled as the pass goes (windows explained during it read it)
        for items in plan.batches(plan.items(self.x.shape[0]), self.sliding.sw_batch_size):
            windows = plan.gather(padded, items)
            y = (
                self._window_call(windows)
                if self._tail is None
                else self._tail.record(self._window_call, windows, items, count)
            )
            plan.check_output(y)
            weighted = y * plan.importance.to(y.dtype)
            if total is None:
                total = torch.zeros((self.x.shape[0], y.shape[1], *plan.padded), dtype=y.dtype, device=y.device)
            plan.add(total, items, weighted, weighted=False)
            if self._keep_windows:
                cache.update(zip(items, weighted))
            if self._progress is not None:
                self._progress.advance(len(items))
            if self._after_batch is not None:
                self._after_batch(items, total)
        return plan.finish(total)

    def _reusing_pass(self, x: torch.Tensor) -> torch.Tensor:
        """Blended output of perturbed inputs: only windows that differ from the clean input run the model.

        Row j is compared with the clean sample whose windows it matches most (perturbation methods
        batch variants of every sample), so an occluder re-runs just the windows it overlaps.
        """
        plan, (clean, cache) = self.plan, self._clean_windows
        padded = plan.pad_input(x)
        n = self.x.shape[0]
        todo, total, reused = [], None, []
        for j in range(x.shape[0]):
            same = [
                [
                    torch.equal(padded[(j, slice(None), *plan.slices(w))], clean[(i, slice(None), *plan.slices(w))])
                    for w in range(len(plan))
                ]
                for i in range(n)
            ]
            sample = max(range(n), key=lambda i: sum(same[i]))
            for w in range(len(plan)):
                (reused if same[sample][w] and (sample, w) in cache else todo).append((j, w, sample))
        for j, w, sample in reused:
            value = cache[(sample, w)]
            if total is None:
                total = torch.zeros((x.shape[0], value.shape[0], *plan.padded), dtype=value.dtype, device=value.device)
            total[(j, slice(None), *plan.slices(w))] += value
        self.window_counts["reused"] += len(reused)
        # the changed windows in pairs where they pay (core/window_pairs.py); the clean pass kept sw_batch_size
        size = PAIR if pairs_pay(self) else self.sliding.sw_batch_size
        self.window_counts["perturbed_batch"] = size
        for batch in plan.batches([(j, w) for j, w, _ in todo], size):
            y = self._window_call(plan.gather(padded, batch))
            plan.check_output(y)
            if total is None:
                total = torch.zeros((x.shape[0], y.shape[1], *plan.padded), dtype=y.dtype, device=y.device)
            plan.add(total, batch, y)
        return plan.finish(total)

    def _profile_forward(self) -> None:
        """The clean blended output (the target needs it); activation memory is measured only on demand."""
        if self.clean_output is None:
            with torch.no_grad():
                self.set_clean_output(self._call_model(self.x))

    def per_sample_bytes(self) -> int:
        """Working memory of one blended pass: one window batch's activations, measured on one window."""
        if not self._max_activation_bytes:
            window = ExplainRun(
                self.model, self.plan.gather(self.plan.pad_input(self.x[:1]), [(0, 0)]), output_key=self.output_key
            )
            window._profile_forward()
            self.passes["forward"] += window.passes["forward"]
            self._max_activation_bytes = max(window._max_activation_bytes * self.sliding.sw_batch_size, 1)
        return super().per_sample_bytes()

    def capture(self, x=None, need_grad=False, modify=None):
        raise SaliencyError("Layer captures run per window under sliding-window inference (a method bug).")

    # --- methods window by window -----------------------------------------------------------------------
    def _output_independent_gradient(self):
        """G without the clean pass, when dS/dY does not depend on Y: logits (output_activation "none"), given
        classes and a given region mask make S linear in the output. None otherwise (a predicted class or
        region, or probabilities, need the whole blended output first). Costs one window's forward (K)."""
        if (
            self.clean_output is not None
            or self.output_activation != "none"
            or self.mask is None
            or callable(self.mask)
            or self.requested_target is None
            or callable(self.requested_target)
        ):
            return None
        if isinstance(self.requested_target, (list, tuple)) and any(t is None for t in self.requested_target):
            return None
        plan = self.plan
        with torch.no_grad():
            probe = self._window_call(plan.gather(plan.pad_input(self.x[:1]), [(0, 0)]))
        plan.check_output(probe)
        if probe.dim() != self.x.dim():
            return None
        shape = (self.x.shape[0], probe.shape[1], *self.spatial_shape)
        self._output_channels = int(probe.shape[1])
        if self.target is None:
            self.target = resolve_target(
                self.requested_target,
                probe.new_zeros(shape),
                len(self.spatial_shape),
                self.task,
                self.mask,
                self.output_activation,
            )
        if getattr(self.target, "activation", None) != "none":
            return None
        leaf = probe.new_zeros(shape).requires_grad_(True)
        with torch.enable_grad():
            score = self.target.score(leaf, torch.arange(shape[0], device=leaf.device))
            (grad,) = torch.autograd.grad(score.sum(), leaf)
        return grad

    def output_gradient(self) -> torch.Tensor:
        """G = d score / d blended output (N, K, *spatial): the weight of every output voxel in the score."""
        self._profile_forward()  # the clean output, also when the target was given (aug_smooth's flips)
        target = self.ensure_target()
        leaf = self.clean_output.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            score = target.score(leaf, torch.arange(leaf.shape[0], device=leaf.device))
            if not score.requires_grad:
                raise SaliencyError(
                    "The explained score does not depend differentiably on the model output, "
                    "so it cannot be split over sliding windows; use a region or class target."
                )
            (grad,) = torch.autograd.grad(score.sum(), leaf)
        return grad

    def explain_with(self, method):
        """Run `method` over the windows (or on the blended model) and return its output on the grid."""
        combine = getattr(method, "window_combine", None)
        if combine is None:
            out = method.compute(self)
        else:
            out = self._per_window(method, combine)
        evaluated = self.window_counts["evaluated"]
        if self.window_counts["reused"]:
            share = self.window_counts["reused"] / (self.window_counts["reused"] + evaluated)
            self.warnings.append(
                f"Sliding windows: {self.window_counts['reused']} window evaluations reused from "
                f"the clean pass ({share:.0%} of the model calls saved)."
            )
        return out

    def _per_window(self, method, combine: str):
        if applies(self, method, combine):  # the predicted region without a clean pass (core/wavefront.py)
            total = Wavefront(self, method).compute()
            return method.from_window_sum(total[(slice(None), slice(None), *self.plan.crop)], self)
        plan, n = self.plan, self.x.shape[0]
        self._keep_windows = combine != "sum"  # a gradient method's windows run again; a CAM's may replay them
        given = self._output_independent_gradient() if combine == "blend" else None
        if (
            combine == "blend"
            and given is None
            and len(self.layers) == 1
            and self.clean_output is None
            and getattr(method, "replays_layer", False)
            and self.layer_output is None
        ):
            self._tail = LayerTail(self.model, *self.layers[0])  # the clean pass keeps the layer's outputs
        # one count over both phases (the clean pass, then the explanation), so "window k of N" runs throughout
        windows, clean = len(plan) * n, given is None and self.clean_output is None
        progress = Progress(self.progress_callback, windows * (2 if clean else 1), self.cancel)
        roi = "x".join(str(r) for r in plan.roi)
        early = self._tail is not None and clean and ready_windows.applies(self)  # explained during the clean pass
        progress.status(
            f"sliding windows: {windows} windows of {roi}"
            + (
                f", each run twice (steps 1-{windows}: the model's output, {windows + 1}-{2 * windows}: "
                f"the explanation)"
                if clean and not early
                else ", each run for its output, then explained once its neighbours have run"
                if early
                else ""
            )
        )
        progress.start()
        uses_target = combine == "sum" or getattr(method, "needs_gradients", False)
        if combine == "blend" and (
            len(self.layers) > 1 or self.eigen_smooth or getattr(method, "principal_component", False)
        ):
            self.warnings.append(
                "Under sliding windows, several layers and principal components are computed per "
                "window (each window scaled on its own) before blending."
            )
        padded = plan.pad_input(self.x)
        # without the clean pass: the blended output, assembled from the windows' own passes
        acc = {"total": None, "blended": None, "reached": None, "given": given}

        def explain_batch(items, weights, classes):
            """Explain window batch `items` with its score weights; place its maps or attributions."""
            keep = [k for k in range(len(items)) if not uses_target or bool(weights[k].any())]
            self.window_counts["skipped"] += len(items) - len(keep)
            if not keep:
                return
            chosen = [items[k] for k in keep]
            sub = self._sub_run(
                plan.gather(padded, chosen),
                weights[keep],
                None if classes is None else [classes[i] for i, _ in chosen],
                chosen,
            )
            out = method.compute(sub)
            if acc["given"] is not None and sub.clean_output is not None:
                y = sub.clean_output * plan.importance.to(sub.clean_output.dtype)
                if acc["blended"] is None:
                    acc["blended"] = torch.zeros((n, y.shape[1], *plan.padded), dtype=y.dtype, device=y.device)
                    acc["reached"] = torch.zeros((n, 1, *plan.padded), dtype=y.dtype, device=y.device)
                plan.add(acc["blended"], chosen, y, weighted=False)
                plan.add(acc["reached"], chosen, torch.ones_like(y[:, :1]))
            elif acc["given"] is not None:
                acc["given"] = False  # a method whose sub-runs keep no clean output: one clean pass at the end
            for key in self.passes:
                self.passes[key] += sub.passes[key]
            if getattr(sub, "tail_rows", 0):
                self.window_counts["tail_only"] = self.window_counts.get("tail_only", 0) + sub.tail_rows
            self.window_counts["evaluated"] += len(chosen)
            self.warnings += [w for w in sub.warnings if w not in self.warnings]
            if combine == "sum":
                values = out.extras["attributions"]
            else:
                values = out.map if isinstance(out, MethodOutput) else out
                values = values.detach().float()
                values = upsample(values.clamp_min(0) if self.relu else values, plan.roi).unsqueeze(1)
            if acc["total"] is None:
                acc["total"] = torch.zeros((n, values.shape[1], *plan.padded), dtype=values.dtype, device=values.device)
            plan.add(acc["total"], chosen, values.detach(), weighted=(combine == "blend"))

        ready = None
        if early:
            ready = ReadyWindows(plan, n, self.requested_target)
            self._after_batch = lambda items, blend: self._explain_ready(ready, items, blend, explain_batch)
        self._progress = progress if clean else None
        try:
            weights_grid = plan.pad_output(self.output_gradient() if given is None else given)
        finally:
            self._progress, self._after_batch = None, None
        target = self.target

        def window_weights(items):
            weights = torch.stack([weights_grid[(i, slice(None), *plan.slices(w))] for i, w in items])
            return weights * plan.weights(items, weights.dtype)

        rest = [item for item in plan.items(n) if ready is None or item not in ready.explained]
        if uses_target:  # a window with no target voxel costs nothing: left out before windows are paired
            needed = [item for item in rest if bool(window_weights([item]).any())]
            for _ in range(len(rest) - len(needed)):
                self.window_counts["skipped"] += 1
                progress.advance(1)
            rest = needed
        # pairs only where the clean pass gave the output (a given region's output is blended from these passes)
        for items in graph_batches(self, rest, pairs=self._tail is None and acc["given"] is None):
            explain_batch(items, window_weights(items), target.classes)
            progress.advance(len(items))
        total, given = acc["total"], acc["given"]
        blended, reached = acc["blended"], acc["reached"]
        if self._tail is not None:
            if self._tail.note:
                self.warnings.append(self._tail.note)
            self._tail.store.clear()
            self._tail = None
        if total is None:  # no window touched the target: nothing to explain anywhere
            channels = self.x.shape[1] if combine == "sum" else 1
            total = torch.zeros((n, channels, *plan.padded), dtype=self.x.dtype, device=self.device)
        if combine == "sum":
            return method.from_window_sum(total[(slice(None), slice(None), *plan.crop)], self)
        if given is not None and given is not False:
            self._set_assembled_output(blended, None if blended is None else reached)
        elif given is False:
            self._profile_forward()
        return plan.finish(total)[:, 0]

    def _explain_ready(self, ready, items, blend, explain_batch) -> None:
        """During the clean pass: explain the windows whose weights are now final, and drop their stored layer
        outputs and clean outputs (the store then holds about one slab of windows, not all of them)."""
        stored = len(self._tail.store)  # its most, just after this batch was recorded
        self.window_counts["stored_peak"] = max(self.window_counts.get("stored_peak", 0), stored)
        weights = {item: ready.weights(item, blend) for item in ready.add(items, blend)}
        run = [item for item, w in weights.items() if bool(w.any())]
        for item in weights:  # no region voxel: the weights change only if the class is predicted nowhere
            if item not in run:
                self._tail.store.pop(item, None)
        for batch in self.plan.batches(run, self.sliding.sw_batch_size):
            stacked = torch.stack([weights[item] for item in batch])
            with torch.enable_grad():  # the clean pass runs without gradients; the explanation needs them
                explain_batch(batch, stacked * self.plan.weights(batch, stacked.dtype), ready.classes)
            ready.explained.update(batch)
            for item in batch:
                self._clean_windows[1].pop(item, None)
            self._progress.advance(len(batch))

    def _set_assembled_output(self, blended, reached) -> None:
        """The clean output from the windows explained (no separate pass). Windows skipped because no target
        voxel lies in them are missing: the output is blended from the others (exact where no skipped
        window reaches), 0 where none reaches, and a warning says so."""
        skipped = self.window_counts["skipped"]
        if blended is None or skipped:
            self.warnings.append(
                f"Sliding windows: no separate clean pass (logit target on a given region); the reported output "
                f"is blended from the windows explained only, {skipped} window(s) outside the region were not "
                f"run (the output is exact where none of them reaches, 0 where only they do)."
            )
        if blended is None:
            shape = (self.x.shape[0], self._output_channels, *self.spatial_shape)
            self.clean_output = torch.zeros(shape, dtype=self.x.dtype, device=self.device)
            return
        value = torch.where(reached > 0, blended / reached.clamp_min(1e-12), torch.zeros_like(blended))
        self.clean_output = value[(slice(None), slice(None), *self.plan.crop)].detach()

    def _sub_run(self, windows, weights, classes, items=()) -> ExplainRun:
        """An ordinary run on a window batch whose target is each window's share of the score (its layer
        gradients from the clean pass's store and the model's tail alone, when the store holds them)."""
        tail = self._tail if self._tail is not None and self._tail.active else None
        sub = (ExplainRun if tail is None else _TailSubRun)(
            self.model,
            windows,
            layers=self.layers,
            options=self.options,
            task=self.task,
            output_key=self.output_key,
            layer_output=self.layer_output,
            grid=self.grid,
            output_activation=self.output_activation,
            relu=self.relu,
            eigen_smooth=self.eigen_smooth,
            batch_size=windows.shape[0],
            cancel=self.cancel,
        )
        activation = getattr(self.target, "activation", "none")
        sub.target = WindowTarget(weights, activation, classes)
        # the batch size is given, so the sub-run needs no memory probe of its own
        sub._max_activation_bytes = max(self._max_activation_bytes // self.sliding.sw_batch_size, 1)
        if tail is not None:
            sub.tail, sub.items, sub.clean_outputs, sub.importance = (
                tail,
                list(items),
                self._clean_windows[1],
                self.plan.importance,
            )
        return sub


class _TailSubRun(TailRun, ExplainRun):
    """A window batch's run whose layer activations and gradients come from the stored layer outputs."""
