"""`compare`: which map to trust. Runs several methods on one volume (or a cohort of cases), checks each
the same way (deletion/insertion against one shared random baseline, cascading-randomisation sanity check,
pointing game and energy fraction with --truth-mask) and ranks them by the faithfulness score
(insertion - random insertion) - (deletion - random deletion).

One volume: OUT/comparison.json, OUT/comparison.csv, OUT/comparison.png, OUT/heatmaps/<method>.nrrd.
A cohort (--cases CSV or folder, run on dask.distributed): OUT/cases/<case>.json, OUT/cases.csv,
OUT/summary.csv, OUT/summary.png; a re-run skips the cases already finished.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..core.options import parse_method_options
from ..errors import SaliencyError
from ..figures.compare import cohort_figure, comparison_figure, save_figure
from ..output_files import check_writable, clash_message, find_clash, write_text
from ..volumes.image_files import read_image, write_image
from ..workflow.cohort import check_cohort_options, read_cases, run_cohort
from ..workflow.compare_image import compare_image
from .evaluate_cmd import _replacement, add_truth_arguments, check_numbers
from .explain_cmd import ProgressBar, add_trust_argument, check_device, model_run, parse_target
from .figure_cmd import display_arrays, display_geometry, region_array
from .vocabulary import (
    BATCH,
    LAYER_COUNT,
    METHOD_NAMES,
    REPEATS,
    SEED,
    STEPS,
    WORKERS,
    ListAction,
    add_layer_argument,
    replacement,
)


def _methods(given):
    if given is None:
        return None
    names = [m.strip() for part in ([given] if isinstance(given, str) else given) for m in part.split(",") if m.strip()]
    if not names:
        raise SaliencyError("--methods is empty; give names separated by commas, e.g. --methods gradcam,occlusion.")
    return names


def _checks(args) -> dict:

    checks = dict(
        steps=args.steps,
        random_repeats=args.random_repeats,
        sanity=not args.no_sanity,
        sanity_layers=args.sanity_layers,
        seed=args.seed,
        replacement=_replacement(args.replacement),
        batch_size=args.batch_size,
    )
    if getattr(args, "layer", None):
        checks["layers"] = list(args.layer)
    per_method, shared = split_options(getattr(args, "option", None), _methods(args.methods))
    if per_method:
        checks["method_options"] = per_method
    if shared:
        checks["explain_options"] = shared
    return checks


def split_options(given, methods) -> tuple[dict, dict]:
    """--option NAME=VALUE (or METHOD:NAME=VALUE) -> ({method: {name: value}}, engine options for all).

    A NAME that some of the compared methods declare (e.g. max_channels, n_samples) goes to those methods
    only; any other NAME (relu, aug_smooth, ...) is an engine option for every method; METHOD:NAME=VALUE
    is for that method alone."""
    if not given:
        return {}, {}
    from ..core.method import get_method  # noqa: PLC0415  (torch: lazy for the Slicer side and CLI)
    from ..evaluation.compare import resolve_methods  # noqa: PLC0415  (torch: lazy for the Slicer side and CLI)

    names = resolve_methods(methods)
    per_method, shared = {}, {}
    for text in given:
        head, sep, rest = text.partition(":")
        if sep and "=" not in head:
            method = get_method(head.strip()).name
            per_method.setdefault(method, {}).update(parse_method_options(rest))
            continue
        for key, value in parse_method_options(text).items():
            owners = [n for n in names if key in get_method(n).options]
            for owner in owners:
                per_method.setdefault(get_method(owner).name, {})[key] = value
            if not owners:
                shared[key] = value
    return per_method, shared


def _output_dir(path, protected) -> Path:
    out = Path(path)
    clash = find_clash(out, [p for p in protected if p])
    if clash is not None:  # before the folder is made: nothing is created inside an input folder
        raise SaliencyError(clash_message("--output-dir", out, clash))
    if out.exists() and not out.is_dir():
        raise SaliencyError(f"--output-dir {out} is a file; give a folder for the results.")
    if not out.parent.resolve().is_dir():
        raise SaliencyError(f"--output-dir {out}: its parent folder does not exist. Create it first.")
    out.mkdir(exist_ok=True)
    return out


def compare_one(args) -> dict:
    """One volume: compare, then write the table, the figure and each method's heatmap."""
    from ..models.loading import load_model  # noqa: PLC0415  (torch: lazy for the Slicer side and CLI)

    protected = [p for p in (args.input, args.model, args.card, args.region, args.body_mask) if p]
    out = _output_dir(args.output_dir, protected)
    for target in [out / "comparison.json", out / "comparison.csv", out / "comparison.png"]:
        check_writable(target, protected, "the output")
    device = check_device(args.device)
    image = read_image(args.input, "--input")
    region = read_image(args.region, "--truth-mask") if args.region else None
    body = read_image(args.body_mask, "--body-mask") if args.body_mask else None
    loaded = load_model(args.model, args.card, trust_code=args.trust_code, device=device)
    bar = None if args.quiet else ProgressBar()
    with model_run(bar):
        result = compare_image(
            image,
            loaded.module,
            loaded.card,
            _methods(args.methods),
            parse_target(args.target),
            region=region,
            region_label=args.region_label,
            body_mask=body,
            progress=None if bar is None else (lambda d, t, _name: bar(d, t)),
            **_checks(args),
        )
    report = result.to_dict()
    for warning in report.get("warnings") or []:
        print(f"warning: {warning}", file=sys.stderr)
    write_text(out / "comparison.json", json.dumps(report, indent=2) + "\n")
    result.comparison.write_csv(out / "comparison.csv")
    (out / "heatmaps").mkdir(exist_ok=True)
    for name, heat in result.heatmap_images.items():
        write_image(heat, out / "heatmaps" / f"{name.replace('+', 'plus')}.nrrd", protected, "heatmap")
    if not args.no_figure:
        maps, image_array, spacing = {}, None, None
        for name, heat in result.heatmap_images.items():
            image_array, maps[name], spacing = display_arrays(image, heat)
        outline = region_array(region, image, args.region_label) if region is not None else None
        save_figure(
            out / "comparison.png",
            comparison_figure(
                image_array,
                maps,
                report["curves"],
                report["table"],
                spacing=spacing,
                region=outline,
                geometry=display_geometry(image),
                target=result.target_name,
            ),
        )
    return report


def compare_cohort(args):

    cases = read_cases(args.cases)
    out = _output_dir(
        args.output_dir, [args.cases, args.model, args.card] + [p for c in cases for p in (c.image, c.region) if p]
    )
    bar = None if args.quiet else ProgressBar()
    try:
        result = run_cohort(
            args.cases,
            args.model,
            args.card,
            _methods(args.methods),
            out,
            workers=args.workers,
            scheduler=args.scheduler,
            device=check_device(args.device),
            trust_code=args.trust_code,
            progress=bar,
            **_checks(args),
        )
    finally:
        if bar is not None:
            bar.close()
    if not args.no_figure and any(r["cases"] for r in result.summary):
        save_figure(out / "summary.png", cohort_figure(result.summary))
    return result


def run(args) -> int:
    if bool(args.input) == bool(args.cases):
        raise SaliencyError("give --input IMG (one volume) or --cases CSV|FOLDER (a cohort), exactly one.")
    if args.cases and args.body_mask:
        raise SaliencyError("--body-mask is for one volume (--input); a cohort's cases each have their own grid.")
    if args.input and (args.workers is not None or args.scheduler):
        raise SaliencyError("--workers and --scheduler are for cohorts (--cases); leave them out with --input.")
    # every option checked before the output folder is made: a refused command leaves nothing behind
    check_numbers(args)
    _checks(args)
    if args.cases:
        check_cohort_options(args.workers, args.scheduler)
    from ..evaluation.compare import resolve_methods  # noqa: PLC0415  (torch: lazy for the Slicer side and CLI)

    resolve_methods(_methods(args.methods))
    if args.input:
        report = compare_one(args)
        for row in report["table"]:
            score = row.get("faithfulness_score")
            flag = "  sanity: FLAGGED" if row.get("sanity_flagged") else ""
            where = f"  error: {row['error']}" if row.get("error") else ""
            print(
                f"{row.get('rank') or '-':>3} {row['method']:<22} score "
                f"{'n/a' if score is None else f'{score:.3f}'}  {(row.get('seconds') or 0):.2f}s{flag}{where}"
            )
    else:
        result = compare_cohort(args)
        failed = sum(1 for r in result.records if r.get("error"))
        print(
            f"{len(result.records)} cases ({len(result.skipped)} already done, {failed} failed) in "
            f"{result.seconds:.1f}s; results in {result.output_dir}"
        )
        for row in result.summary:
            score = row.get("faithfulness_score")
            print(
                f"{row.get('rank') or '-':>3} {row['method']:<22} cases {row['cases']} failed {row['failed']} "
                f"score {'n/a' if score != score else f'{score:.3f}'}"
            )
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="run several methods, check and rank their maps (one volume or a cohort on dask)",
        description=__doc__,
    )
    what = parser.add_argument_group("what to compare")
    what.add_argument("--input", "-i", default=None, metavar="IMG", help="one volume (NRRD, NIfTI, MHA, DICOM)")
    what.add_argument(
        "--cases",
        default=None,
        metavar="CSV|FOLDER",
        help="a cohort: CSV with image[,region,target,case] (paths relative to it) or a folder",
    )
    add_truth_arguments(what)
    what.add_argument("--model", "-m", required=True, help="model file (state dict + card, TorchScript, .pt2)")
    what.add_argument("--card", "-c", default=None, help="model card JSON (default: model.json beside the model)")
    what.add_argument(
        "--methods",
        "--method",
        action=ListAction,
        default=None,
        metavar="A,B",
        help="methods, comma-separated or repeated (default gradcam,hirescam,layercam,gradcam++,"
        "smoothgrad,integrated-gradients,occlusion in its fast mode); any of: "
        f"{', '.join(METHOD_NAMES)}",
    )
    add_layer_argument(what)
    what.add_argument(
        "--option",
        action="append",
        metavar="[METHOD:]NAME=VALUE",
        help="a method or engine option, e.g. --option max_channels=32 (every method that has it), "
        "--option occlusion:window=[8,8,4] (one method), --option aug_smooth=True (all); repeat",
    )
    what.add_argument("--target", default=None, help="class index or name from the card (default: top class)")
    checks = parser.add_argument_group("the checks")
    checks.add_argument("--steps", type=STEPS, default=50, help="deletion/insertion steps (default 50)")
    checks.add_argument(
        "--random-repeats", type=REPEATS, default=3, help="random orderings for the baseline (default 3)"
    )
    checks.add_argument(
        "--replacement", type=replacement, default="0", help="removed voxels become: a number, 'mean' or 'blur'"
    )
    checks.add_argument("--no-sanity", action="store_true", help="skip the model-randomisation check")
    checks.add_argument("--sanity-layers", type=LAYER_COUNT, default=None, help="randomise only the top N layers")
    checks.add_argument(
        "--body-mask",
        default=None,
        metavar="MASK",
        help="where the sanity check compares maps (any grid; default: voxels that are not background)",
    )
    checks.add_argument("--seed", type=SEED, default=0, help="random seed")
    checks.add_argument("--batch-size", type=BATCH, default=16, help="perturbed copies per forward pass (default 16)")
    run_group = parser.add_argument_group("where it runs")
    run_group.add_argument(
        "--workers", type=WORKERS, default=None, help="cohort: local dask workers (default one per core)"
    )
    run_group.add_argument("--scheduler", default=None, metavar="ADDRESS", help="cohort: a running dask scheduler")
    run_group.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    add_trust_argument(run_group)
    out = parser.add_argument_group("output")
    out.add_argument("--output-dir", "-o", required=True, help="folder for the results (created if missing)")
    out.add_argument("--no-figure", action="store_true", help="skip the PNG figure")
    out.add_argument("--quiet", "-q", action="store_true", help="no progress bar on stderr")
    parser.set_defaults(func=run)
