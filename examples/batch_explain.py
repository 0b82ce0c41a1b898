"""Explain every volume of a folder and save the heatmaps (NRRD) beside a summary (JSON).

Runs the same way inside 3D Slicer and in plain Python with ``slicer-core``::

    Slicer --no-splash --no-main-window --python-script examples/batch_explain.py \
        INPUT_FOLDER OUTPUT_FOLDER --model model.pt [--card model.json] [--method gradcam] [--layer NAME]

    python examples/batch_explain.py INPUT_FOLDER OUTPUT_FOLDER --model model.pt

Each input volume becomes a node, ``explain_volume_node`` writes its heatmap node (same grid, colour,
threshold, provenance), and the heatmap is saved as ``<name>_saliency.nrrd``; ``--scene`` also saves the
whole scene as an ``.mrb`` to open in Slicer. The exit status is 0 when every volume worked, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

PATTERNS = ("*.nrrd", "*.nhdr", "*.nii", "*.nii.gz", "*.mha", "*.mhd")


def parse_args(argv):
    parser = argparse.ArgumentParser(description="Saliency heatmaps for every volume in a folder.")
    parser.add_argument("input", type=Path, help="folder of volumes (NRRD, NIfTI, MHA)")
    parser.add_argument("output", type=Path, help="folder for the heatmaps and summary.json")
    parser.add_argument("--model", required=True, help="model file (TorchScript, torch.export, or state dict + card)")
    parser.add_argument("--card", help="model card JSON (default: the one beside the model)")
    parser.add_argument("--method", default="gradcam")
    parser.add_argument("--layer", action="append", help="target layer (repeat for several; default: card/auto)")
    parser.add_argument("--target", help="class index or name (default: top class)")
    parser.add_argument("--threshold", type=float, default=0.2)
    parser.add_argument("--scene", type=Path, help="also save the scene (volumes + heatmaps) as this .mrb")
    parser.add_argument(
        "--trust-code", action="store_true", help="allow a model file or card that runs code (only for files you trust)"
    )
    return parser.parse_args(argv)


def volume_stem(path: Path) -> str:
    name = path.name
    for suffix in (".nii.gz", ".nrrd", ".nhdr", ".nii", ".mha", ".mhd"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from SaliencyExplorerLib.mrml import module_logics

    session = None
    if module_logics.in_application():
        import slicer

        mrml = slicer.mrmlScene
    else:
        session = module_logics.start_headless()  # closed at the end: its cache folder goes with it
        mrml = session.scene
    try:
        return _run(args, mrml, files_of(args))
    finally:
        if session is not None:
            session.close()


def files_of(args):
    return sorted({p for pattern in PATTERNS for p in args.input.glob(pattern)})


def _run(args, mrml, files):
    from SaliencyExplorerLib import explain_volume_node
    from SaliencyExplorerLib.cli.explain_cmd import parse_target
    from SaliencyExplorerLib.errors import SaliencyError
    from SaliencyExplorerLib.mrml import heatmap_node, volume_nodes
    from SaliencyExplorerLib.volumes.image_files import read_image, write_image

    if not files:
        print(f"error: no volumes ({', '.join(PATTERNS)}) in {args.input}", file=sys.stderr)
        return 1
    args.output.mkdir(parents=True, exist_ok=True)
    target = parse_target(args.target)
    layers = args.layer[0] if args.layer and len(args.layer) == 1 else args.layer
    summary, failures = [], 0
    for path in files:
        started = time.perf_counter()
        record = {"input": str(path)}
        try:
            # a damaged file is one failed record (SaliencyError naming it), not the end of the batch
            node = volume_nodes.add_volume_from_image(mrml, read_image(path, "volume"), volume_stem(path))
            heat = explain_volume_node(
                node,
                args.model,
                card=args.card,
                method=args.method,
                layers=layers,
                target=target,
                threshold=args.threshold,
                trust_code=args.trust_code,
            )
            out_path = args.output / f"{volume_stem(path)}_saliency.nrrd"
            # atomic, and never over one of the inputs (a volume named like an earlier heatmap)
            write_image(volume_nodes.node_to_image(heat, world=False), out_path, files + [args.model], "heatmap")
            record.update(output=str(out_path), **heatmap_node.provenance_of(heat))
            print(
                f"{path.name}: {record.get('targetName') or record.get('target')} "
                f"score {record.get('score')} peak RAS {record.get('peakRAS')} -> {out_path.name}"
            )
        except SaliencyError as exc:
            failures += 1
            record["error"] = str(exc)
            print(f"{path.name}: error: {exc}", file=sys.stderr)
        record["seconds"] = round(time.perf_counter() - started, 3)
        summary.append(record)
    (args.output / "summary.json").write_text(json.dumps(summary, indent=1))
    if args.scene:
        mrml.WriteToMRB(str(args.scene))
    print(f"{len(files) - failures}/{len(files)} volumes explained; summary: {args.output / 'summary.json'}")
    return 1 if failures else 0


if __name__ == "__main__":
    status = main()
    try:
        import slicer

        if getattr(slicer, "app", None) is not None:  # inside Slicer: quit the application with the status
            slicer.util.exit(status)
    except ImportError:
        pass
    sys.exit(status)
