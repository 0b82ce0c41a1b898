"""Figures of a method comparison and of a cohort summary (matplotlib, drawn off-screen with Agg).

``comparison_figure``: every method's map over the SAME slice of the image (the slice holding the
best-ranked map's peak, unless one is given), so the maps can be compared side by side, and their
deletion and insertion curves with the shared random baseline dashed. ``cohort_figure``: per method, the
mean of each metric over the cases with its 95% interval.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import SaliencyError
from ..output_files import atomic_output, check_writable
from . import annotate
from .pictures import Overlay, _require_matplotlib, make_style

# Curves must stay apart in print and for colour-blind readers: each method its own line style and marker.
_STYLES = ["-", "--", "-.", ":"]
_MARKERS = ["o", "s", "^", "v", "D", "P", "X", "*", "<", ">"]


def _figure(width, height):
    from matplotlib.figure import Figure  # noqa: PLC0415  (matplotlib: optional extra, loaded only to draw)

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def comparison_figure(
    image,
    maps: dict,
    curves: dict,
    rows: list,
    axis: int = 0,
    index: int | None = None,
    spacing=None,
    columns: int = 4,
    cmap: str = "turbo",
    alpha: float = 0.5,
    region=None,
    geometry=None,
    target: str | None = None,
):
    """A matplotlib Figure. ``image`` and every map in ``maps`` (name -> array) share one 2D/3D grid (in
    display order, e.g. LPI); ``curves`` and ``rows`` as in ``Comparison`` (rows give the rank order).
    ``region`` (a mask on that grid) is outlined on every map, ``geometry`` (``annotate.Geometry``) puts the
    patient's directions on the maps' edges and the slice's position in mm in the title; ``target``: the
    class explained, for the title."""
    _require_matplotlib()
    if not maps:
        raise SaliencyError("No map to draw: every method failed. Read each method's error in the table.")
    order = [r["method"] for r in rows if r["method"] in maps]
    first = Overlay(
        image, maps[order[0]], make_style({"cmap": cmap, "alpha": alpha, "spacing": spacing}), region, geometry
    )
    if index is None:
        index = first.hottest_slice(axis)
    ncol = max(1, min(columns, len(order)))
    nrow = -(-len(order) // ncol)
    fig = _figure(3.0 * max(ncol, 2), 3.0 * nrow + 3.2)
    grid = fig.add_gridspec(nrow + 1, max(ncol, 2), height_ratios=[1.0] * nrow + [1.1])
    by_name = {r["method"]: r for r in rows}
    map_axes = []
    for k, name in enumerate(order):
        overlay = Overlay(
            image,
            maps[name],
            make_style(
                {"cmap": cmap, "alpha": alpha, "spacing": spacing, "window": first.window, "heat_range": (0.0, 1.0)}
            ),
            region,
            geometry,
        )
        ax = fig.add_subplot(grid[k // ncol, k % ncol])
        ax.imshow(overlay.slice_rgb(axis, index), interpolation="nearest")
        _edge_letters(ax, overlay.letters(axis))
        map_axes.append(ax)
        row = by_name.get(name, {})
        rank = row.get("rank")
        score = row.get("faithfulness_score")
        flag = " (sanity: flagged)" if row.get("sanity_flagged") else ""
        label = f"#{rank} {name}" if rank else name
        ax.set_title(f"{label}\nscore {score:.3f}{flag}" if _finite(score) else label, fontsize=9)
        ax.set_axis_off()
    half = max(ncol, 2) // 2
    fractions = curves.get("fraction")
    for col, (key, title) in enumerate(
        (("deletion", "Deletion (lower is better)"), ("insertion", "Insertion (higher is better)"))
    ):
        ax = fig.add_subplot(grid[nrow, col * half : (col + 1) * half] if half > 1 else grid[nrow, col])
        for n, name in enumerate(order):
            if name in curves:
                ax.plot(
                    fractions,
                    curves[name][key],
                    label=name,
                    linewidth=1.4,
                    linestyle=_STYLES[n % len(_STYLES)],
                    marker=_MARKERS[n % len(_MARKERS)],
                    markevery=max(1, len(fractions or []) // 8),
                    markersize=4,
                )
        if curves.get(f"random_{key}"):
            ax.plot(
                fractions, curves[f"random_{key}"], color="black", linestyle=(0, (1, 1)), label="random", linewidth=2.0
            )
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("fraction of voxels removed" if key == "deletion" else "fraction of voxels revealed", fontsize=8)
        ax.set_ylabel("target probability", fontsize=8)
        ax.set_ylim(-0.02, 1.02)
        ax.tick_params(labelsize=7)
        if col == 1:
            ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    _colour_bar(fig, map_axes, cmap)
    where = annotate.slice_caption(geometry, first.heat.shape, first.axis(axis), index)
    about = f' for class "{target}"' if target else ""
    fig.suptitle(
        f"Methods compared{about}, ranked by faithfulness score; {where}"
        + ("; outline: the region" if region is not None else ""),
        fontsize=10,
    )
    return fig


def _edge_letters(ax, letters) -> None:
    """The patient's directions at the middle of each edge of an image axes."""
    if not letters:
        return
    spots = {
        "top": (0.5, 0.98, "center", "top"),
        "bottom": (0.5, 0.02, "center", "bottom"),
        "left": (0.02, 0.5, "left", "center"),
        "right": (0.98, 0.5, "right", "center"),
    }
    for edge, (x, y, ha, va) in spots.items():
        ax.text(
            x, y, letters[edge], transform=ax.transAxes, ha=ha, va=va, fontsize=8, color="#ffdc00", fontweight="bold"
        )


def _colour_bar(fig, axes, cmap) -> None:
    from matplotlib.cm import ScalarMappable  # noqa: PLC0415  (matplotlib: optional extra, loaded only to draw)
    from matplotlib.colors import Normalize  # noqa: PLC0415  (matplotlib: optional extra, loaded only to draw)

    bar = fig.colorbar(ScalarMappable(Normalize(0.0, 1.0), cmap), ax=axes, shrink=0.8, pad=0.01)
    bar.set_label(annotate.COLORBAR_LABEL, fontsize=8)
    bar.ax.tick_params(labelsize=7)


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


COHORT_METRICS = [
    ("deletion_auc", "Deletion AUC (lower is better)"),
    ("insertion_auc", "Insertion AUC (higher is better)"),
    ("pointing_game", "Pointing game (hit rate)"),
    ("energy_fraction", "Energy fraction in region"),
]


def cohort_figure(summary: list):
    """Bars (mean over cases) with 95% intervals per method, one panel per metric present."""
    _require_matplotlib()
    names = [r["method"] for r in summary]
    present = [(k, t) for k, t in COHORT_METRICS if any(_finite(r.get(k)) for r in summary)]
    if not present:
        raise SaliencyError("The cohort summary has no numbers to draw: every case failed. Read cases.csv.")
    fig = _figure(4.0 * len(present), 3.6)
    for col, (key, title) in enumerate(present):
        ax = fig.add_subplot(1, len(present), col + 1)
        means = np.array([r.get(key) if _finite(r.get(key)) else np.nan for r in summary], dtype=float)
        low = np.array([r.get(f"{key}_ci_low") if _finite(r.get(f"{key}_ci_low")) else np.nan for r in summary])
        high = np.array([r.get(f"{key}_ci_high") if _finite(r.get(f"{key}_ci_high")) else np.nan for r in summary])
        err = np.vstack([np.nan_to_num(means - low), np.nan_to_num(high - means)])
        ax.bar(range(len(names)), np.nan_to_num(means), yerr=err, capsize=3, color="tab:blue", alpha=0.8)
        ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=7)
        ax.set_title(title, fontsize=9)
        ax.set_ylim(0, 1.05)
        ax.tick_params(labelsize=7)
    fig.suptitle("Cohort: mean over cases, 95% interval", fontsize=10)
    return fig


def save_figure(path, fig) -> str:
    """Write a Figure to PNG atomically, with normal permissions (``output_files.atomic_output``)."""
    path = check_writable(path, what="figure")
    with atomic_output(path, "figure") as tmp:
        fig.savefig(tmp, format="png")
    return str(path)
