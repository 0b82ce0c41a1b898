"""`evaluate`: explain a volume exactly as `explain` does, then say how far to trust the map, as JSON.

Faithfulness (deletion/insertion areas against a random map) and the model-randomisation sanity check run
on the model's grid, where the map was made; localisation (`--truth-mask`, a label volume on any grid) runs on
the source image's own grid, where the user drew the region, after resampling it there through physical
space (nearest neighbour).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from ..card import find_card_for
from ..core.options import DEFAULT_METHOD
from ..errors import SaliencyError
from ..figures.annotate import heatmap_title
from ..output_files import atomic_output, check_writable, same_file
from ..volumes.image_files import check_output_path, read_image, write_image
from ..workflow.explain_image import explain_image
from .explain_cmd import (
    ProgressBar,
    add_option_argument,
    add_trust_argument,
    check_device,
    method_options,
    model_run,
    parse_target,
)
from .figure_cmd import check_figure_output, display_arrays, display_geometry, region_array, write_figure
from .vocabulary import (
    BATCH,
    LABEL,
    LAYER_COUNT,
    MILLIMETRES,
    REPEATS,
    SEED,
    SIGMA,
    STEPS,
    add_layer_argument,
    methods_help,
    replacement,
)


def add_truth_arguments(group) -> None:
    """--truth-mask / --truth-label: the ground truth the map is scored against (pointing game, energy).

    Named apart from --region-mask (the segmentation region whose prediction is explained); the old names
    --region / --region-label keep working, unlisted."""
    group.add_argument(
        "--truth-mask",
        dest="region",
        default=None,
        metavar="MASK",
        help="ground-truth label volume (any grid, e.g. the lesion): pointing game and energy fraction",
    )
    group.add_argument(
        "--truth-label",
        dest="region_label",
        type=LABEL,
        default=None,
        metavar="N",
        help="label value inside MASK (default: any non-zero)",
    )
    group.add_argument("--region", dest="region", default=None, help=argparse.SUPPRESS)  # old name
    group.add_argument("--region-label", dest="region_label", type=LABEL, default=None, help=argparse.SUPPRESS)


def region_on_image(region_path, reference, label: int | None):
    """The region file as a bool (k, j, i) array on `reference`'s grid (see evaluation.volume)."""
    from ..evaluation.volume import region_on_grid  # noqa: PLC0415  (torch: lazy for the Slicer side and CLI)

    return region_on_grid(read_image(region_path, "--truth-mask"), reference, label, name=f"region {region_path}")


def _replacement(value: str):
    try:
        number = float(value)
        if not math.isfinite(number):
            raise SaliencyError(f"--replacement {value} is not a finite number; give a number, 'mean' or 'blur'.")
        return number
    except ValueError:
        if value in ("mean", "blur"):
            return value
        raise SaliencyError(f"--replacement must be a number, 'mean' or 'blur', not {value!r}.") from None


def check_numbers(args) -> None:
    """The numeric options in their ranges, for a Namespace built in Python (the command line's argparse
    types refuse them first, with the same ranges: cli.vocabulary); checked before anything runs."""
    checks = [
        ("--tolerance-mm", "tolerance_mm", MILLIMETRES),
        ("--blur-sigma", "blur_sigma", SIGMA),
        ("--steps", "steps", STEPS),
        ("--random-repeats", "random_repeats", REPEATS),
        ("--sanity-layers", "sanity_layers", LAYER_COUNT),
        ("--batch-size", "batch_size", BATCH),
        ("--seed", "seed", SEED),
    ]
    for name, attribute, allowed in checks:
        allowed.check(getattr(args, attribute, None), name)
    _replacement(getattr(args, "replacement", 0))


def _check_outputs(args) -> None:
    """Every output path checked before anything heavy runs; inputs are never overwritten."""
    check_numbers(args)

    beside = None if args.card else find_card_for(args.model)  # the card found beside the model is an input too
    protected = [*args.input, args.model] + [
        p for p in (args.card, beside, args.region, args.region_mask, args.body_mask) if p
    ]
    if args.output:
        check_output_path(args.output, protected, "--output")
    for path, what in ((args.figure, "--figure"), (args.json_output, "--json-output")):
        if path:
            check_writable(path, protected, what)
    if args.figure:
        check_figure_output(args.figure, protected, "auto", "--figure")
    outputs = [p for p in (args.output, args.figure, args.json_output) if p]
    for n, first in enumerate(outputs):
        if any(same_file(first, other) for other in outputs[n + 1 :]):
            raise SaliencyError(f"{first} is given for two outputs; give each output its own path.")


def evaluate_files(args) -> dict:
    """The whole command without printing: used by `run` and by tests."""
    from ..evaluation.volume import evaluate_volume  # noqa: PLC0415  (torch: lazy for the Slicer side and CLI)
    from ..models.loading import load_model  # noqa: PLC0415  (torch: lazy for the Slicer side and CLI)

    _check_outputs(args)
    device = check_device(args.device)
    images = [read_image(path, "--input") for path in args.input]
    region = region_on_image(args.region, images[0], args.region_label) if args.region else None
    target_mask = read_image(args.region_mask, "--region-mask") if args.region_mask else None
    body = read_image(args.body_mask, "--body-mask") if args.body_mask else None
    loaded = load_model(args.model, args.card, trust_code=args.trust_code, device=device)
    bar = None if args.quiet else ProgressBar()
    options = method_options(args)
    with model_run(bar):
        result = explain_image(
            images,
            loaded.module,
            loaded.card,
            method=args.method,
            layers=args.layer,
            target=parse_target(args.target),
            device=device,
            region_mask=target_mask,
            progress=bar,
            **options,
        )
        report = evaluate_volume(
            result,
            loaded.module,
            region=region,
            region_mask=target_mask,
            body_mask=body,
            tolerance_mm=args.tolerance_mm,
            steps=args.steps,
            batch_size=args.batch_size or 16,
            replacement=_replacement(args.replacement),
            blur_sigma=args.blur_sigma,
            random_repeats=args.random_repeats,
            sanity=not args.no_sanity,
            sanity_mode=args.sanity_mode,
            max_layers=args.sanity_layers,
            seed=args.seed,
            progress=bar,
        )
    if not args.curves:
        report.pop("curves", None)
    if args.output:
        write_image(result.heatmap_image, args.output, list(args.input) + [args.model], "--output")
        # (every input, the card beside the model included, is protected by _check_outputs and the CLI)
    if args.figure:
        image_array, heat_array, spacing = display_arrays(images[0], result.heatmap_image)
        truth = (
            region_array(read_image(args.region, "--truth-mask"), images[0], args.region_label) if args.region else None
        )
        title = heatmap_title(result.explanation.method, result.target_name, result.score)
        write_figure(
            args.figure,
            image_array,
            heat_array,
            spacing,
            "auto",
            _figure_defaults(args.figure),
            title=title,
            region=truth,
            geometry=display_geometry(images[0]),
        )
    return report


def _figure_defaults(path):

    return argparse.Namespace(
        axis="axial",
        cmap="turbo",
        alpha=0.5,
        threshold=None,
        window=None,
        heat_range=None,
        zoom=None,
        every=None,
        columns=None,
        slice=None,
        duration_ms=100,
        no_colorbar=False,
        no_labels=False,
        no_title=False,
    )


def run(args) -> int:
    report = evaluate_files(args)
    text = json.dumps(report, indent=2)
    if args.json_output:
        with atomic_output(args.json_output, "--json-output") as tmp:
            Path(tmp).write_text(text + "\n")
    print(text)
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="explain a volume, then print faithfulness, sanity and localisation numbers as JSON",
        description=__doc__,
    )
    explain = parser.add_argument_group("the explanation (as for `explain`)")
    explain.add_argument(
        "--input",
        "-i",
        action="append",
        required=True,
        metavar="VOL",
        help="input volume (NRRD, NIfTI, MHA, DICOM folder); repeat for multi-channel models",
    )
    explain.add_argument("--model", "-m", required=True, help="model file (state dict + card, TorchScript, .pt2)")
    explain.add_argument("--card", "-c", default=None, help="model card JSON (default: model.json beside the model)")
    explain.add_argument("--method", default=DEFAULT_METHOD, help=methods_help())
    add_layer_argument(explain)
    explain.add_argument("--target", default=None, help="class index or name from the card (default: top class)")
    explain.add_argument(
        "--region-mask",
        metavar="MASK",
        help="segmentation: the region whose prediction is explained (as for `explain`)",
    )
    add_option_argument(explain)
    explain.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    explain.add_argument(
        "--batch-size",
        type=BATCH,
        default=None,
        help="samples per forward pass, for the method and for the perturbed copies (default 16)",
    )
    add_trust_argument(explain)
    explain.add_argument("--output", "-o", default=None, help="also write the heatmap (.nrrd / .nii.gz)")
    explain.add_argument("--figure", default=None, help="also write a figure (.png montage or .gif)")
    checks = parser.add_argument_group("the checks")
    add_truth_arguments(checks)
    checks.add_argument(
        "--body-mask",
        default=None,
        metavar="MASK",
        help="where the sanity check compares maps (any grid; default: voxels that are not background)",
    )
    checks.add_argument("--tolerance-mm", type=MILLIMETRES, default=0.0, help="pointing game tolerance (default 0)")
    checks.add_argument("--steps", type=STEPS, default=50, help="deletion/insertion steps (default 50)")
    checks.add_argument(
        "--replacement", type=replacement, default="0", help="removed voxels become: a number, 'mean' or 'blur'"
    )
    checks.add_argument("--blur-sigma", type=SIGMA, default=None, help="blur sigma in voxels (with --replacement blur)")
    checks.add_argument("--random-repeats", type=REPEATS, default=3, help="random orderings averaged for the baseline")
    checks.add_argument("--no-sanity", action="store_true", help="skip the model-randomisation check")
    checks.add_argument(
        "--sanity-mode",
        default="cascade",
        choices=["cascade", "independent"],
        help="randomise layers top-down cumulatively (cascade) or one at a time",
    )
    checks.add_argument("--sanity-layers", type=LAYER_COUNT, default=None, help="randomise only the top N layers")
    checks.add_argument("--seed", type=SEED, default=0, help="random seed (random maps, re-initialisation)")
    out = parser.add_argument_group("output")
    out.add_argument("--curves", action="store_true", help="include the curves' points in the JSON")
    out.add_argument("--json-output", default=None, help="also write the JSON to this file")
    out.add_argument("--quiet", "-q", action="store_true", help="no progress bar on stderr")
    parser.set_defaults(func=run)
