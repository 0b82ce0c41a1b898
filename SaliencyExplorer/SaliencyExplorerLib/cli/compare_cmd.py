"""`compare`: which map to trust. Runs several methods on one volume (or a cohort of cases), checks each
the same way (deletion/insertion against one shared random baseline, cascading-randomisation sanity check,
pointing game and energy fraction with --region) and ranks them by the faithfulness score
(insertion - random insertion) - (deletion - random deletion).

One volume: OUT/comparison.json, OUT/comparison.csv, OUT/comparison.png, OUT/heatmaps/<method>.nrrd.
A cohort (--cases CSV or folder, run on dask.distributed): OUT/cases/<case>.json, OUT/cases.csv,
OUT/summary.csv, OUT/summary.png; a re-run skips the cases already finished.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..errors import SaliencyError
from ..figures.compare import cohort_figure, comparison_figure, save_figure
from ..output_files import write_text
from ..volumes.image_files import read_image, write_image
from ..workflow.cohort import read_cases, run_cohort
from ..workflow.compare_image import compare_image
from .evaluate_cmd import _replacement
from .explain_cmd import ProgressBar, add_trust_argument, check_device, model_run, parse_target
from .figure_cmd import display_arrays


def _methods(text):
    if text is None:
        return None
    names = [m.strip() for m in text.split(",") if m.strip()]
    if not names:
        raise SaliencyError("--methods is empty; give names separated by commas, e.g. --methods gradcam,occlusion.")
    return names


def _checks(args) -> dict:

    return dict(steps=args.steps, random_repeats=args.random_repeats, sanity=not args.no_sanity,
                sanity_layers=args.sanity_layers, seed=args.seed, replacement=_replacement(args.replacement),
                batch_size=args.batch_size)


def _output_dir(path, protected) -> Path:
    out = Path(path)
    resolved = {Path(p).resolve() for p in protected if p}
    if out.resolve() in resolved or (out.exists() and not out.is_dir()):
        raise SaliencyError(f"--output-dir {out} is an input file or a file; give a folder for the results.")
    if not out.parent.resolve().is_dir():
        raise SaliencyError(f"--output-dir {out}: its parent folder does not exist. Create it first.")
    out.mkdir(exist_ok=True)
    return out


def compare_one(args) -> dict:
    """One volume: compare, then write the table, the figure and each method's heatmap."""
    from ..models.loading import load_model  # noqa: PLC0415  (torch: lazy for the Slicer side and CLI)

    protected = [p for p in (args.input, args.model, args.card, args.region) if p]
    out = _output_dir(args.output_dir, protected)
    targets = [out / "comparison.json", out / "comparison.csv", out / "comparison.png"]
    if any(t.resolve() in {Path(p).resolve() for p in protected if p} for t in targets):
        raise SaliencyError(f"an output in {out} would overwrite an input; choose another --output-dir.")
    device = check_device(args.device)
    image = read_image(args.input, "--input")
    region = read_image(args.region, "--region") if args.region else None
    loaded = load_model(args.model, args.card, trust_code=args.trust_code, device=device)
    bar = None if args.quiet else ProgressBar()
    with model_run(bar):
        result = compare_image(image, loaded.module, loaded.card, _methods(args.methods),
                               parse_target(args.target), region=region, region_label=args.region_label,
                               progress=None if bar is None else (lambda d, t, _name: bar(d, t)), **_checks(args))
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
        save_figure(out / "comparison.png", comparison_figure(image_array, maps, report["curves"], report["table"],
                                                              spacing=spacing))
    return report


def compare_cohort(args):

    cases = read_cases(args.cases)
    out = _output_dir(args.output_dir, [args.cases, args.model, args.card])
    bar = None if args.quiet else ProgressBar()
    try:
        result = run_cohort(cases, args.model, args.card, _methods(args.methods), out, workers=args.workers,
                            scheduler=args.scheduler, device=check_device(args.device),
                            trust_code=args.trust_code, progress=bar, **_checks(args))
    finally:
        if bar is not None:
            bar.close()
    if not args.no_figure and any(r["cases"] for r in result.summary):

        save_figure(out / "summary.png", cohort_figure(result.summary))
    return result


def run(args) -> int:
    if bool(args.input) == bool(args.cases):
        raise SaliencyError("give --input IMG (one volume) or --cases CSV|FOLDER (a cohort), exactly one.")
    if args.input and (args.workers or args.scheduler):
        raise SaliencyError("--workers and --scheduler are for cohorts (--cases); leave them out with --input.")
    if args.input:
        report = compare_one(args)
        for row in report["table"]:
            score = row.get("faithfulness_score")
            flag = "  sanity: FLAGGED" if row.get("sanity_flagged") else ""
            where = f"  error: {row['error']}" if row.get("error") else ""
            print(f"{row.get('rank') or '-':>3} {row['method']:<22} score "
                  f"{'n/a' if score is None else f'{score:.3f}'}  {(row.get('seconds') or 0):.2f}s{flag}{where}")
    else:
        result = compare_cohort(args)
        failed = sum(1 for r in result.records if r.get("error"))
        print(f"{len(result.records)} cases ({len(result.skipped)} already done, {failed} failed) in "
              f"{result.seconds:.1f}s; results in {result.output_dir}")
        for row in result.summary:
            score = row.get("faithfulness_score")
            print(f"{row.get('rank') or '-':>3} {row['method']:<22} cases {row['cases']} failed {row['failed']} "
                  f"score {'n/a' if score != score else f'{score:.3f}'}")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("compare", help="run several methods, check and rank their maps (one volume "
                                   "or a cohort on dask)", description=__doc__)
    what = parser.add_argument_group("what to compare")
    what.add_argument("--input", "-i", default=None, metavar="IMG", help="one volume (NRRD, NIfTI, MHA, DICOM)")
    what.add_argument("--cases", default=None, metavar="CSV|FOLDER",
                      help="a cohort: CSV with image[,region,target,case] (paths relative to it) or a folder")
    what.add_argument("--region", default=None, metavar="MASK", help="label volume (any grid): pointing game, energy")
    what.add_argument("--region-label", type=int, default=None, help="label value inside MASK (default: any non-zero)")
    what.add_argument("--model", "-m", required=True, help="model file (state dict + card, TorchScript, .pt2)")
    what.add_argument("--card", "-c", default=None, help="model card JSON (default: model.json beside the model)")
    what.add_argument("--methods", default=None, metavar="A,B",
                      help="comma-separated methods (default gradcam,hirescam,layercam,gradcam++,smoothgrad,"
                           "integrated-gradients,occlusion in its fast mode)")
    what.add_argument("--target", default=None, help="class index or name from the card (default: top class)")
    checks = parser.add_argument_group("the checks")
    checks.add_argument("--steps", type=int, default=50, help="deletion/insertion steps (default 50)")
    checks.add_argument("--random-repeats", type=int, default=3, help="random orderings for the baseline (default 3)")
    checks.add_argument("--replacement", default="0", help="removed voxels become: a number, mean or blur")
    checks.add_argument("--no-sanity", action="store_true", help="skip the model-randomisation check")
    checks.add_argument("--sanity-layers", type=int, default=None, help="randomise only the top N layers")
    checks.add_argument("--seed", type=int, default=0, help="random seed")
    checks.add_argument("--batch-size", type=int, default=16, help="perturbed copies per forward pass (default 16)")
    run_group = parser.add_argument_group("where it runs")
    run_group.add_argument("--workers", type=int, default=None, help="cohort: local dask workers (default one per core)")
    run_group.add_argument("--scheduler", default=None, metavar="ADDRESS", help="cohort: a running dask scheduler")
    run_group.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    add_trust_argument(run_group)
    out = parser.add_argument_group("output")
    out.add_argument("--output-dir", "-o", required=True, help="folder for the results (created if missing)")
    out.add_argument("--no-figure", action="store_true", help="skip the PNG figure")
    out.add_argument("--quiet", "-q", action="store_true", help="no progress bar on stderr")
    parser.set_defaults(func=run)
