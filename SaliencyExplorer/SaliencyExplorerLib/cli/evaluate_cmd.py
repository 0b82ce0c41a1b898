"""`evaluate`: explain a volume exactly as `explain` does, then say how far to trust the map, as JSON.

Faithfulness (deletion/insertion areas against a random map) and the model-randomisation sanity check run
on the model's grid, where the map was made; localisation (`--region`, a label volume on any grid) runs on
the source image's own grid, where the user drew the region, after resampling it there through physical
space (nearest neighbour).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..errors import SaliencyError
from .figure_cmd import read_image


def region_on_image(region_path, reference, label: int | None):
    """The region file as a bool (k, j, i) array on `reference`'s grid (see evaluation.volume)."""
    from ..evaluation.volume import region_on_grid

    return region_on_grid(read_image(region_path, "region"), reference, label, name=f"region {region_path}")


def _parse_target(value):
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return value  # a class name from the card


def _replacement(value: str):
    try:
        return float(value)
    except ValueError:
        if value in ("mean", "blur"):
            return value
        raise SaliencyError(f"--replacement must be a number, 'mean' or 'blur', not {value!r}.") from None


def evaluate_files(args) -> dict:
    """The whole command without printing: used by `run` and by tests."""
    import SimpleITK as sitk

    from ..evaluation.volume import evaluate_volume
    from ..models import load_model
    from ..pipeline import explain_image

    images = [read_image(path, "input") for path in args.input]
    region = region_on_image(args.region, images[0], args.region_label) if args.region else None
    loaded = load_model(args.model, args.card, trust_pickle=args.trust_pickle, device=args.device)
    result = explain_image(images, loaded.module, loaded.card, method=args.method, layers=args.layer or None,
                           target=_parse_target(args.target), device=args.device)
    progress = None
    if not args.quiet:
        def progress(done, total):
            print(f"sanity check: {done}/{total} layers randomised", file=sys.stderr, flush=True)
    report = evaluate_volume(
        result, loaded.module, region=region, tolerance_mm=args.tolerance_mm, steps=args.steps,
        batch_size=args.batch_size, replacement=_replacement(args.replacement), blur_sigma=args.blur_sigma,
        random_repeats=args.random_repeats, sanity=not args.no_sanity, sanity_mode=args.sanity_mode,
        max_layers=args.sanity_layers, seed=args.seed, progress=progress,
    )
    if not args.curves:
        report.pop("curves", None)
    if args.output:
        sitk.WriteImage(result.heatmap_image, str(args.output), True)
    if args.figure:
        from .figure_cmd import display_arrays, write_figure

        image_array, heat_array, spacing = display_arrays(images[0], result.heatmap_image)
        write_figure(args.figure, image_array, heat_array, spacing, "auto", _figure_defaults(args.figure))
    return report


def _figure_defaults(path):
    import argparse

    return argparse.Namespace(axis="axial", cmap="turbo", alpha=0.5, threshold=None, window=None,
                              heat_range=None, zoom=None, every=None, columns=None, slice=None,
                              duration_ms=100, no_colorbar=False, no_labels=False)


def run(args) -> int:
    report = evaluate_files(args)
    text = json.dumps(report, indent=2)
    if args.json_output:
        Path(args.json_output).write_text(text + "\n")
    print(text)
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate", help="explain a volume, then print faithfulness, sanity and localisation numbers as JSON",
        description=__doc__,
    )
    explain = parser.add_argument_group("the explanation (as for `explain`)")
    explain.add_argument("--input", action="append", required=True, metavar="VOL",
                         help="input volume (NRRD, NIfTI, MHA, DICOM folder); repeat for multi-channel models")
    explain.add_argument("--model", required=True, help="model file (state dict + card, TorchScript, export)")
    explain.add_argument("--card", default=None, help="model card JSON (default: the one beside the model)")
    explain.add_argument("--method", default="gradcam", help="explanation method (default gradcam)")
    explain.add_argument("--layer", action="append", default=None, help="target layer(s) (default: the card's)")
    explain.add_argument("--target", default=None, help="class index or name (default: the top class)")
    explain.add_argument("--device", default=None, help="cpu | cuda (default cpu)")
    explain.add_argument("--trust-pickle", action="store_true", help="allow full pickled models (runs code)")
    explain.add_argument("--output", default=None, help="also write the heatmap (.nrrd / .nii.gz)")
    explain.add_argument("--figure", default=None, help="also write a figure (.png montage or .gif)")
    checks = parser.add_argument_group("the checks")
    checks.add_argument("--region", default=None, metavar="MASK", help="label volume on any grid: localisation")
    checks.add_argument("--region-label", type=int, default=None, help="label value inside MASK (default: any non-zero)")
    checks.add_argument("--tolerance-mm", type=float, default=0.0, help="pointing game tolerance (default 0)")
    checks.add_argument("--steps", type=int, default=50, help="deletion/insertion steps (default 50)")
    checks.add_argument("--batch-size", type=int, default=16, help="perturbed copies per forward (default 16)")
    checks.add_argument("--replacement", default="0", help="removed voxels become: a number, mean or blur")
    checks.add_argument("--blur-sigma", type=float, default=None, help="blur sigma in voxels (with --replacement blur)")
    checks.add_argument("--random-repeats", type=int, default=3, help="random maps averaged for the baseline")
    checks.add_argument("--no-sanity", action="store_true", help="skip the model-randomisation check")
    checks.add_argument("--sanity-mode", default="cascade", choices=["cascade", "independent"])
    checks.add_argument("--sanity-layers", type=int, default=None, help="randomise only the top N layers")
    checks.add_argument("--seed", type=int, default=0, help="random seed (random maps, re-initialisation)")
    out = parser.add_argument_group("output")
    out.add_argument("--curves", action="store_true", help="include the curves' points in the JSON")
    out.add_argument("--json-output", default=None, help="also write the JSON to this file")
    out.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    parser.set_defaults(func=run)
