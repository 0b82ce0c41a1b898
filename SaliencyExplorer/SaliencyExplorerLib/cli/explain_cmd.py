"""``explain``: volume file(s) + model (+ card) -> a heatmap file on the volume's own grid.

Why this order: every output path is checked before anything heavy runs (an unwritable or input-clobbering
output fails in a second, not after a long explanation); inputs are only ever read; the summary (``--json``)
carries what a script needs: target class and score, peak in RAS and LPS mm, timings.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
import time

import SimpleITK as sitk

from ..card import find_card_for
from ..core.options import DEFAULT_METHOD, parse_method_options
from ..core.resources import check_device as check
from ..core.resources import is_out_of_memory, out_of_memory_error
from ..errors import SaliencyError
from ..output_files import write_text
from ..volumes.image_files import WRITE_SUFFIXES, check_output_path, read_image, write_image
from ..workflow.explain_image import explain_image
from .vocabulary import ANY_NUMBER, BATCH, add_layer_argument, methods_help


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "explain",
        help="explain a model on a volume; write the heatmap on the volume's own grid",
        description="Explain where a model looked: reads the volume(s) (NRRD, NIfTI, MHA or a DICOM series "
        "folder), brings them onto the model's grid in patient space as the model card says, "
        "runs the method and writes the heatmap back on the input's own grid (0 outside the "
        "model's field of view). Exit status 0 only on success.",
    )
    p.add_argument(
        "--input",
        "-i",
        action="append",
        required=True,
        metavar="VOL",
        help="input volume; repeat once per model input channel (co-registered volumes)",
    )
    p.add_argument("--model", "-m", required=True, help="model file (.pt/.pth/.ckpt state dict, TorchScript, .pt2)")
    p.add_argument("--card", "-c", help="model card JSON (default: model.json beside model.pt)")
    p.add_argument("--method", default=DEFAULT_METHOD, help=methods_help())
    add_layer_argument(p)
    p.add_argument("--target", help="class to explain: an index or a class name from the card (default: top class)")
    p.add_argument("--region-mask", metavar="MASK", help="segmentation target region (a mask volume)")
    p.add_argument(
        "--region-at",
        metavar="X,Y,Z",
        type=ras_numbers(3),
        help="segmentation: explain the predicted component of --target at this RAS point (mm); a negative "
        "first value is fine (--region-at -18.5,13.4,10 or --region-at=-18.5,13.4,10)",
    )
    p.add_argument(
        "--region-box",
        metavar="X0,Y0,Z0,X1,Y1,Z1",
        type=ras_numbers(6),
        help="segmentation: explain the voxels inside this RAS box (two opposite corners in any order, mm)",
    )
    p.add_argument("--output", "-o", required=True, help="heatmap file (.nrrd, .nii.gz, .nii, .mha)")
    p.add_argument("--label-output", metavar="MASK", help="also write a label map of heatmap >= --threshold")
    p.add_argument("--threshold", type=ANY_NUMBER, default=0.5, help="threshold for --label-output (default 0.5)")
    p.add_argument(
        "--prediction-output",
        metavar="FILE",
        help="also write the model's own answer: a label volume (.nrrd, .nii.gz) on the input's grid "
        "for segmentation, a JSON of class probabilities (.json) for classification",
    )
    p.add_argument(
        "--disable-tta",
        action="store_true",
        help="no test-time mirroring for a card with inference.mirror_axes (nnU-Net's --disable_tta)",
    )
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    p.add_argument(
        "--batch-size",
        type=BATCH,
        help="samples per forward pass for many-pass methods; under sliding windows 1 also keeps one window's "
        "gradient graph at a time (least memory; the CPU's default runs two)",
    )
    add_option_argument(p)
    add_trust_argument(p)
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


class ProgressBar:
    """A one-line text progress bar on stderr, redrawn in place."""

    def __init__(self, stream=None, width=30):
        self.stream = stream or sys.stderr
        self.width = width
        self.started = time.perf_counter()
        self.drawn = False

    def __call__(self, done, total):
        if not total:
            return
        filled = int(self.width * done / total)
        elapsed = time.perf_counter() - self.started
        self.stream.write(f"\r[{'#' * filled}{'.' * (self.width - filled)}] {done}/{total} {elapsed:5.1f}s")
        self.stream.flush()
        self.drawn = True

    def status(self, text):
        """A plan or estimate from the method, on its own line above the bar."""
        self.stream.write(("\r\033[K" if self.drawn else "") + text + "\n")
        self.stream.flush()

    def close(self):
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()


def add_option_argument(parser) -> None:
    parser.add_argument(
        "--option",
        action="append",
        metavar="NAME=VALUE",
        help="a method or engine option, e.g. --option window=[16,16,8] --option occluder=mean "
        "--option aug_smooth=True (Python literals; repeat for several)",
    )


def method_options(args) -> dict:
    """--option NAME=VALUE pairs (and --batch-size) as keyword arguments for the engine."""

    options = parse_method_options(", ".join(getattr(args, "option", None) or []))
    if args.batch_size is not None:
        if not 1 <= args.batch_size <= 2**20:
            raise SaliencyError(
                f"--batch-size {args.batch_size} is not a number of samples per pass; give an integer from 1 (e.g. 8)."
            )
        options["batch_size"] = args.batch_size
    return options


@contextlib.contextmanager
def model_run(bar):
    """Around the heavy work: torch refusing the input becomes a clear error; the progress bar ends its line."""
    try:
        yield
    except (RuntimeError, MemoryError) as exc:  # torch refusing the input: the model and the card disagree
        if is_out_of_memory(exc):  # not the card's fault: say so, with --batch-size as the fix
            raise out_of_memory_error(exc) from None
        if isinstance(exc, MemoryError):
            raise
        from ..core.model_call import short_reason  # noqa: PLC0415  (torch: lazy for the CLI)

        first = short_reason(exc)
        raise SaliencyError(
            f"the model failed on the prepared input: {first}. Check the card's in_channels, "
            "spatial_dims, input.size and array_order against the model."
        ) from None
    finally:
        if bar is not None:
            bar.close()


def add_trust_argument(parser) -> None:
    """The one opt-in for running code from a model file or card, the same in every subcommand."""
    parser.add_argument(
        "--trust-code",
        "--trust-pickle",
        dest="trust_code",
        action="store_true",
        help="allow what runs code from the model or card: a pickled model, a file the safety "
        "check refuses, a card class outside the allow-list or a file.py:Class (only for "
        "files you trust; --trust-pickle is an alias)",
    )


def check_device(device: str) -> str:
    """The device if it exists here, else one line naming it and the fix (before anything is loaded)."""

    return check(device, "--device")


def ras_numbers(count: int):
    """An argparse type: ``count`` comma-separated numbers (RAS millimetres)."""

    def parse(text: str) -> list[float]:
        try:
            values = [float(v) for v in text.split(",")]
        except ValueError:
            values = []
        if len(values) != count or not all(math.isfinite(v) for v in values):
            raise argparse.ArgumentTypeError(f"give {count} comma-separated finite numbers in mm, not {text!r}")
        return values

    return parse


def parse_target(text):
    """'1' -> 1; 'lesion' stays a name (resolved against the card's classes)."""
    if text is None:
        return None
    return int(text) if text.strip().lstrip("-").isdigit() else text.strip()


def run(args) -> int:

    beside = None if args.card else find_card_for(args.model)  # the card found beside the model is an input too
    protected = [*args.input, args.model] + [p for p in (args.card, args.region_mask, beside) if p]
    check_output_path(args.output, protected, "--output")
    if args.label_output:
        check_output_path(args.label_output, protected + [args.output], "--label-output")
        if not 0.0 <= args.threshold <= 1.0:
            raise SaliencyError(f"--threshold {args.threshold} is outside [0, 1]: heatmaps are in [0, 1].")
    prediction_output = getattr(args, "prediction_output", None)
    if prediction_output:
        check_output_path(
            prediction_output,
            protected + [p for p in (args.output, args.label_output) if p],
            "--prediction-output",
            PREDICTION_SUFFIXES,
        )
    device = check_device(args.device)
    tick = time.perf_counter()
    images = [read_image(path, "--input") for path in args.input]
    region = read_image(args.region_mask, "--region-mask") if args.region_mask else None
    read_seconds = time.perf_counter() - tick

    bar = None if args.quiet else ProgressBar()
    options = method_options(args)
    with model_run(bar):
        result = explain_image(
            images,
            args.model,
            args.card,
            method=args.method,
            layers=args.layer,
            target=parse_target(args.target),
            device=device,
            region_mask=region,
            region_at=args.region_at,
            region_box=None if args.region_box is None else [args.region_box[:3], args.region_box[3:]],
            progress=bar,
            trust_code=args.trust_code,
            disable_tta=args.disable_tta,
            **options,
        )

    if prediction_output:  # before any file is written: a wrong kind of output leaves nothing behind
        check_prediction_kind(prediction_output, result)
    tick = time.perf_counter()
    write_image(result.heatmap_image, args.output, protected, "--output")
    if args.label_output:
        label = sitk.Cast(result.heatmap_image >= float(args.threshold), sitk.sitkUInt8)
        write_image(label, args.label_output, protected + [args.output], "--label-output")
    if prediction_output:
        write_prediction(result, prediction_output, protected + [p for p in (args.output, args.label_output) if p])
    timings = {"read": read_seconds, **result.timings, "write": time.perf_counter() - tick}
    summary = summarise(args, result, timings)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(human_summary(summary))
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


PREDICTION_SUFFIXES = (*WRITE_SUFFIXES, ".json")


def check_prediction_kind(path, result) -> None:
    """A label volume for a segmentation model, a JSON for a classification model: else one line with the fix."""
    is_json = str(path).lower().endswith(".json")
    if result.prediction_image is not None and is_json:
        raise SaliencyError(
            f"--prediction-output {path}: this segmentation model's answer is a label volume, not "
            "JSON. Give a .nrrd or .nii.gz file name."
        )
    if result.prediction_scores is not None and not is_json:
        raise SaliencyError(
            f"--prediction-output {path}: this classification model's answer is class "
            "probabilities, not a volume. Give a .json file name."
        )
    if result.prediction_image is None and result.prediction_scores is None:
        raise SaliencyError(
            f"--prediction-output {path}: the model's output has no class axis to read an answer "
            "from. Leave --prediction-output out."
        )


def write_prediction(result, path, protected) -> None:
    """The model's answer: the label volume, or {"classes": {name: probability}, ...} as JSON."""
    check_prediction_kind(path, result)
    if result.prediction_image is not None:
        write_image(result.prediction_image, path, protected, "--prediction-output")
        return
    record = {
        "task": "classification",
        "activation": result.explanation.output_activation,
        "classes": {name: round(float(p), 8) for name, p in result.prediction_scores.items()},
        "top": max(result.prediction_scores, key=result.prediction_scores.get),
    }
    write_text(path, json.dumps(record, indent=2) + "\n", "--prediction-output", protected, (".json",))


def _point(p):
    return None if p is None else [round(float(v), 3) for v in p]


def summarise(args, result, timings) -> dict:
    exp = result.explanation
    return {
        "inputs": list(args.input),
        "model": args.model,
        "card": result.card.path if result.card else None,
        "method": exp.method,
        "layers": list(exp.layers),
        "target": {"index": result.target_index, "name": result.target_name},
        "score": None if result.score is None else round(float(result.score), 6),
        "peak": {"lps_mm": _point(result.peak_lps), "ras_mm": _point(result.peak_ras)},
        "output": args.output,
        "label_output": args.label_output,
        "prediction_output": getattr(args, "prediction_output", None),
        "prediction": result.prediction_scores
        if result.prediction_scores is not None
        else (
            {str(k): v for k, v in result.prediction_labels().items()} if result.prediction_image is not None else None
        ),
        "threshold": args.threshold if args.label_output else None,
        "model_grid": {
            "size": list(result.model_input.grid.size),
            "spacing": [round(s, 6) for s in result.model_input.grid.spacing],
        },
        "timings_s": {k: round(float(v), 4) for k, v in timings.items()},
        "warnings": list(result.warnings),
    }


def human_summary(s: dict) -> str:
    name = f" ({s['target']['name']})" if s["target"]["name"] else ""
    score = "" if s["score"] is None else f", score {s['score']:.3f}"
    ras = s["peak"]["ras_mm"]
    peak = "no peak (all-zero map)" if ras is None else f"peak at RAS {ras} mm (LPS {s['peak']['lps_mm']})"
    return (
        f"{s['method']} on {', '.join(s['layers']) or 'input'}: class {s['target']['index']}{name}{score}; "
        f"{peak}; wrote {s['output']} in {s['timings_s']['total']:.2f}s"
    )
