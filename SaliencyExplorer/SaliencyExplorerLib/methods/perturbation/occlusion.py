"""Occlusion (Zeiler & Fergus 2014): hide one window at a time and see how much the target score drops.

Exhaustive mode evaluates every window (its cost is windows x one forward, the lower bound for this
method); fast mode (occlusion_fast.py) evaluates only the windows predicted to matter most and
estimates the rest (see docs/methods.md for the trade-off). Scores are read after the output
activation chosen from the number of OUTPUT classes (softmax for several, sigmoid for one,
`output_activation="none"` for logits). The map of every class comes at no extra cost in `extras["per_class"]` (N, K, *spatial).
"""

from __future__ import annotations

from ...core.batching import bounded_batch_size
from ...core.method import Method, MethodOutput, register
from ...errors import SaliencyError
from .fill import Occluder
from .layout import check_layout
from .occlusion_fast import fast_occlusion
from .scoring import DropSums, WindowScorer, plan_line
from .windows import WindowGrid, roi_masks, selected_windows, strides, window_sizes

MODES = ("exhaustive", "fast")
# Bytes of estimated working memory an automatic CPU batch may use. Measured on DenseNet121-3D at 64^3 (126
# occlusions, one thread, CPU time): batch 1 19.1 s / +14 MB above the loaded model, 2: 13.6 s / +24 MB,
# 3: 12.0 s / +42 MB, 7 (the general 256 MB budget): 13.1 s / +160 MB; MONAI's occlusion runs batch 1
# (+21 MB). 96 MB gives that model batch 2: MONAI's memory, two thirds of its time.
CPU_BUDGET = 96 << 20


@register
class Occlusion(Method):
    r"""Occlusion (Zeiler & Fergus, ECCV 2014): the score drop when each window is hidden.

    .. math:: M(x) = \frac{1}{|W_x|} \sum_{w \ni x} \big(y^{(c)}(X) - y^{(c)}(X \text{ with } w \text{ filled})\big)

    over the windows :math:`w` covering voxel :math:`x` (``window``, ``stride``; every voxel is covered).
    Model-agnostic; one forward per window, batched. ``mode="fast"`` evaluates a coarse grid and the windows
    the gradient ranks highest, estimating the rest.
    """

    name = "occlusion"
    kind = "perturbation"
    summary = "Occlusion: score drop when each window is hidden (model-agnostic; fast gradient-guided mode)"
    options = {
        "window": None,
        "stride": None,
        "overlap": None,
        "occluder": "constant",
        "value": 0.0,
        "gaussian_sigma": 0.25,
        "roi": None,
        "mode": "exhaustive",
        "refine": 0.25,
        "layout": "auto",
    }

    def compute(self, run):
        opts = run.options
        shape, n = run.spatial_shape, run.x.shape[0]
        if opts["mode"] not in MODES:
            raise SaliencyError(
                f"mode={opts['mode']!r} is unknown; use 'exhaustive' or 'fast' (gradient-guided refinement)."
            )
        check_layout(opts["layout"])
        window = window_sizes(opts["window"], shape, opts["stride"], opts["overlap"])
        fine = WindowGrid(shape, window, strides(opts["stride"], opts["overlap"], window))
        occluder = Occluder(opts["occluder"], opts["value"], opts["gaussian_sigma"], run.x, window)
        roi = roi_masks(opts["roi"], n, shape)
        fine_windows = selected_windows(fine, roi, n)
        if opts["mode"] == "fast":
            refine = opts["refine"]
            if not isinstance(refine, (int, float)) or isinstance(refine, bool) or not 0 < refine <= 1:
                raise SaliencyError(f"refine={refine!r} must be in (0, 1]: the fraction of windows evaluated.")
            return fast_occlusion(self, run, fine, fine_windows, roi, occluder, refine)
        items = [(i, w) for i in range(n) for w in fine_windows[i]]
        scorer = self._scorer(run, len(items), plan=self.plan(run, fine, fine_windows, len(items)))
        sums = DropSums(run.x, scorer.classes)
        scorer.evaluate(fine, occluder, items, sums)
        drop, per_class, covered = sums.mean()
        return MethodOutput(drop, self._extras(per_class, covered, len(items), fine, plan=scorer.plan))

    @staticmethod
    def plan(run, grid: WindowGrid, windows, evaluations: int, **more) -> dict:
        """What the run will do, known before the first evaluation (windows, evaluations, window size)."""
        return {
            "method": "occlusion" if run.options["mode"] == "exhaustive" else "occlusion (fast)",
            "windows": sum(len(w) for w in windows),
            "grid": list(grid.counts),
            "window": list(grid.window),
            "stride": list(grid.stride),
            "default_window": run.options["window"] is None,
            "evaluations": evaluations,
            **more,
        }

    def _scorer(self, run, total: int, per_class: bool = True, plan: dict | None = None) -> WindowScorer:
        run.ensure_target()
        size = bounded_batch_size(run.batch_size, run.per_sample_bytes(), run.device, total, cpu_budget=CPU_BUDGET)
        progress = run.progress(total)
        if plan is not None:
            plan.update(batch_size=size, batches=-(-plan["evaluations"] // size), estimated_seconds=None)
            progress.status(plan_line(plan))
        return WindowScorer(run, size, progress, per_class, run.options["layout"], plan)

    def _extras(self, per_class, covered, evaluations: int, grid: WindowGrid, **more) -> dict:
        extras = {
            "evaluations": evaluations,
            "windows": grid.counts,
            "window": grid.window,
            "stride": grid.stride,
            "covered": covered,
            **more,
        }
        if per_class is not None:
            extras["per_class"] = per_class
        return extras
