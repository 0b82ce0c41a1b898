"""`Wavefront`: input gradients of the predicted region over sliding windows without a clean pass first.

Why: the gradient of the blended score is sum_w J_w^T g_w, linear in each window's output gradient
g_w = G[window] x importance / count, and G (class c where the blend predicts c) needs the windows that
overlap w, not the whole scan. Each window therefore runs once forward with its graph and once backward:
- when every window overlapping it is known, its g_w is exact (up to the default class, which is global);
- else, when the evidence says a guess is safe (how often a newly known window changed the predicted mask
  of its known neighbours: `RegionGuess`), with g_w guessed from the known blend and its own output;
- else it runs ahead without gradient (a forward that only joins the blend) and forward and backward once
  its neighbours are known. Windows are ordered so that those with every grid index even come last: they
  never need to run ahead (no two of them overlap).
Once every window is known, G is computed from the blended output exactly as the clean-pass path does;
a window whose g_w differs from what it used runs again forward and backward for the difference
(exact by linearity). Memory: one window's graph at a time plus the blend, as the clean-pass path.
"""

from __future__ import annotations

import numbers

import torch

from .batching import Progress
from .region_guess import RegionGuess
from .targets import Target, _class_list
from .window_pairs import pairs_pay

SPECULATE_BELOW = 1 / 3  # guess when P(wrong) is below ~ one no-grad forward / (forward with graph + backward)


class GuessTarget(Target):
    """A window's score share with g_w guessed from its own output (read between forward and backward)."""

    classes = None

    def __init__(self, guess: RegionGuess, item, share: torch.Tensor, check):
        self.guess, self.item, self.share, self.check = guess, item, share, check
        self.used = None  # (class, mask) the score was built with

    def score(self, output, rows, probability=False):
        if probability or output.shape[0] != 1:
            raise RuntimeError("GuessTarget explains one window's logits")  # a method bug, not user input
        self.check(output)
        c, mask = self.guess.guess(self.item, output.detach()[0])
        if not bool(mask.any()):
            raise NoRegion(output.detach())  # no backward: the window waits for its neighbours instead
        self.used = (c, mask)
        return (output * weights_of(c, mask, self.share, output.shape[1])).flatten(1).sum(1)


class NoRegion(Exception):
    """Raised by GuessTarget between forward and backward when the guessed region misses the window."""

    def __init__(self, output: torch.Tensor):
        super().__init__("no region guessed in this window")
        self.output = output


def weights_of(c: int, mask: torch.Tensor, share: torch.Tensor, channels: int) -> torch.Tensor:
    """One window's output-gradient weights (1, K, *roi): class c's channel = mask x blend share."""
    weights = share.new_zeros((1, channels, *share.shape[2:]))
    weights[0, c] = mask.to(share.dtype) * share[0, 0]
    return weights


def applies(run, method, combine: str) -> bool:
    """Whether a gradient method over windows can skip the clean pass: a method linear in its window weights,
    a class target over the predicted region (argmax or the card's labels). Not where windows pay in pairs (the
    CPU, one window per batch): there the clean pass and paired passes cost less (2.2x against 3.3x MONAI's
    time on the benchmark's SegResNet), and windows run ahead cannot wait for a partner without more memory."""
    target = run.requested_target
    if isinstance(target, (list, tuple)):
        plain = all(t is None or (isinstance(t, numbers.Integral) and not isinstance(t, bool)) for t in target)
    else:
        plain = target is None or (isinstance(target, numbers.Integral) and not isinstance(target, bool))
    return (
        combine == "sum"
        and getattr(method, "wavefront", False)
        and plain
        and run.clean_output is None
        and run.target is None
        and run.task in (None, "segmentation")
        and (run.mask is None or callable(run.mask))
        and not pairs_pay(run)
    )


class Wavefront:
    """Runs `method` over every window of `run` (a WindowedRun) once, guessing or waiting for g_w."""

    policy = "auto"  # "auto": guess when it pays; "always" / "never" (tests: every path on purpose)

    def __init__(self, run, method):
        self.run, self.method, self.plan = run, method, run.plan
        n = run.x.shape[0]
        target = run.requested_target
        classes = list(target) if isinstance(target, (list, tuple)) else [target] * n
        self.guess = RegionGuess(self.plan, n, classes if len(classes) == n else [None] * n)
        self.items = self.plan.items(n)
        self.padded = self.plan.pad_input(run.x)
        self.used = {}  # item -> (class, mask) its graph run used; absent: none ran (zero weights)
        self.pending = []  # windows run ahead (their output known), waiting for their neighbours
        self.total = None  # summed attributions on the padded grid
        self.counts = {"ran_ahead": 0, "guessed": 0, "corrected": 0}
        windows = len(self.items)
        self.progress = Progress(run.progress_callback, 2 * windows, run.cancel)
        roi = "x".join(str(r) for r in self.plan.roi)
        self.progress.status(
            f"sliding windows: {windows} windows of {roi}, each once forward and backward (a window whose "
            f"neighbours have not run yet may first run ahead without gradient)"
        )

    def order(self) -> list:
        """MONAI's order, the windows with every grid index even last (their neighbours are then all known)."""
        axes = [sorted({s[a] for s in self.plan.starts}) for a in range(len(self.plan.roi))]

        def last(item):
            return all(axes[a].index(s) % 2 == 0 for a, s in enumerate(self.plan.starts[item[1]]))

        return sorted(self.items, key=lambda item: (item[0], last(item), item[1]))

    # --- one window -------------------------------------------------------------------------------------
    def _share(self, item) -> torch.Tensor:
        return self.plan.weights([item], self.run.x.dtype)

    def _ahead(self, items: list) -> None:
        """Forwards without gradient (one window batch): the outputs join the blend; gradients come later."""
        with torch.no_grad():
            y = self.run._window_call(self.plan.gather(self.padded, items))
        self._check_classes(y)
        for item, output in zip(items, y):
            self.guess.add(item, output)
        self.counts["ran_ahead"] += len(items)
        self.pending += items
        self.progress.advance(len(items))

    def _check_classes(self, y: torch.Tensor) -> None:
        """A requested class the model does not have fails on the first window, as the clean pass would."""
        self.plan.check_output(y)
        if self.guess.total is None:
            _class_list(self.run.requested_target, self.run.x.shape[0], int(y.shape[1]), [0] * self.run.x.shape[0])

    def _explain(self, items: list, weights: torch.Tensor | None = None):
        """Forward with graph and backward for window batch `items` with fixed `weights` (B, K, *roi), or for
        one window with g_w guessed from its own output (which then joins the blend). Returns the target."""
        run, lazy = self.run, weights is None
        item, share = items[0], self._share(items[0])
        # fixed weights: the run's own window target (WindowTarget); else g_w guessed from the window's output
        sub = run._sub_run(self.plan.gather(self.padded, items), share if lazy else weights, None, items)
        if lazy:
            sub.target = GuessTarget(self.guess, item, share, self._check_classes)
        try:
            out = self.method.compute(sub)
        except NoRegion as empty:  # its forward only joins the blend, as a window run ahead
            run.passes["forward"] += sub.passes["forward"]
            run.window_counts["evaluated"] += 1
            self.guess.add(item, empty.output[0])
            self.counts["ran_ahead"] += 1
            self.pending.append(item)
            self.progress.advance(1)
            return sub.target
        for key in run.passes:
            run.passes[key] += sub.passes[key]
        run.window_counts["evaluated"] += len(items)
        run.warnings += [w for w in sub.warnings if w not in run.warnings]
        values = out.extras["attributions"].detach()
        if self.total is None:
            self.total = torch.zeros((run.x.shape[0], values.shape[1], *self.plan.padded), dtype=values.dtype)
            self.total = self.total.to(values.device)
        self.plan.add(self.total, items, values, weighted=False)
        if lazy:
            output = sub.clean_output
            if output is None:  # a method whose pass kept no output: one forward without gradient for it
                with torch.no_grad():
                    output = run._window_call(sub.x)
            self.plan.check_output(output)
            self.guess.add(item, output[0])
        self.progress.advance(len(items))
        return sub.target

    def _decide(self, item) -> str:
        if self.policy != "auto":
            return "guess" if self.policy == "always" else "ahead"
        covered, region = self.guess.region_seen(item)
        if covered and not region:
            return "ahead"  # probably outside the region: a pass without gradient, and none at all if so
        unknown = self.guess.unknown_neighbours(item)
        if unknown == 0:
            return "guess"  # the mask is exact
        risk = 1 - (1 - self.guess.flip_rate()) ** unknown
        return "guess" if risk < SPECULATE_BELOW else "ahead"

    def _drain(self) -> None:
        """Forward and backward for the windows that ran ahead and whose neighbours are now all known."""
        ready = [p for p in self.pending if self.guess.unknown_neighbours(p) == 0]
        run = []
        for item in ready:
            self.pending.remove(item)
            c, mask = self.guess.guess(item)
            if bool(mask.any()):
                run.append(item)
                self.used[item] = (c, mask)
            else:
                self.run.window_counts["skipped"] += 1
        for batch in self.plan.batches(run, self.run.sliding.sw_batch_size):
            channels = self.guess.channels()
            self._explain(batch, torch.cat([weights_of(*self.used[i], self._share(i), channels) for i in batch]))

    # --- all windows ------------------------------------------------------------------------------------
    def compute(self) -> torch.Tensor:
        """Summed attributions on the padded grid (N, C, *padded); sets the run's clean output and target."""
        self.progress.start()
        size, ahead = self.run.sliding.sw_batch_size, []
        for item in self.order():
            if self._decide(item) == "ahead":  # run ahead in window batches
                ahead.append(item)
                if len(ahead) == size:
                    self._ahead(ahead)
                    ahead = []
                    self._drain()
                continue
            if ahead:  # the guess below sees them
                self._ahead(ahead)
                ahead = []
            exact = self.guess.unknown_neighbours(item) == 0
            used = self._explain([item]).used
            if used is not None:
                self.used[item] = used
            self.counts["guessed"] += int(used is not None and not exact)
            self._drain()
        if ahead:
            self._ahead(ahead)
        self._drain()
        self._correct()
        self.progress.advance(self.progress.total)
        counts = self.run.window_counts
        counts.update({k: counts.get(k, 0) + v for k, v in self.counts.items()})
        if self.counts["corrected"]:
            self.run.warnings.append(
                f"Sliding windows: {self.counts['corrected']} window(s) were explained with a region that differed "
                f"from the final one (guessed before all their neighbours had run: {self.counts['guessed']}, or a "
                f"default class or whole-grid rule known only at the end); they ran again for the difference "
                f"(the map is exact either way)."
            )
        return self.total

    def _correct(self) -> None:
        """G from the blended output as the clean-pass path computes it; windows that used another g_w run
        again forward and backward with the difference."""
        run = self.run
        run.set_clean_output(self.guess.blended())
        grid = self.plan.pad_output(run.output_gradient())
        wrong = []
        for item in self.items:
            i, w = item
            true = grid[(i, slice(None), *self.plan.slices(w))]
            used = torch.zeros_like(true)
            if item in self.used:
                c, mask = self.used[item]
                used[c] = mask.to(used.dtype)
            if torch.equal(true, used):
                continue
            self.counts["corrected"] += 1
            if item not in self.used:
                run.window_counts["skipped"] -= 1  # it does run after all
            wrong.append((item, ((true - used) * self._share(item)[0]).unsqueeze(0)))
        for batch in self.plan.batches(wrong, run.sliding.sw_batch_size):
            self._explain([item for item, _ in batch], torch.cat([delta for _, delta in batch]))
        if self.total is None:  # no window ran with a gradient: nothing of the class anywhere
            self.total = torch.zeros((run.x.shape[0], run.x.shape[1], *self.plan.padded), dtype=run.x.dtype)
