"""``demo``: explain the shipped sample CT with the shipped lesion classifier; say if the peak is in the lesion.

Why: the first command a new user runs (``scripts/demo.sh``). It needs no data and no model of their own,
and it checks itself against ground truth: the lesion's centre and radius are recorded beside the sample.
"""

from __future__ import annotations

import json

from ..core.options import DEFAULT_METHOD
from ..demo import job


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "demo",
        help="explain the embedded sample CT with the embedded lesion classifier",
        description="Explains Resources/Samples/sample_ct.nrrd (oblique, anisotropic, with a lesion) with the "
        "demo lesion classifier, writes the heatmap (NRRD, on the sample's own grid) and a PNG "
        "overlay, and prints how far the heatmap's peak lies from the lesion centre.",
    )
    p.add_argument("--output-dir", "-o", default="demo-output", help="where to write (default demo-output)")
    p.add_argument("--method", default=DEFAULT_METHOD, help=f"explanation method (default {DEFAULT_METHOD})")
    p.add_argument(
        "--model",
        choices=["state_dict", "export"],
        default="state_dict",
        help="which shipped file to load: the state dict + card, or the torch.export program",
    )
    p.add_argument("--no-png", action="store_true", help="skip the PNG overlay")
    p.add_argument(
        "--require-hit",
        action="store_true",
        help="exit with status 1 when the peak is outside the lesion (for scripts and CI)",
    )
    p.add_argument("--json", action="store_true", help="print a JSON summary instead of text")
    p.set_defaults(func=run)


def run(args) -> int:

    result = job.run_demo(args.output_dir, method=args.method, model=args.model, png=not args.no_png)
    if args.json:

        def listed(v):
            return None if v is None else [round(float(x), 3) for x in v]

        print(
            json.dumps(
                {
                    "predicted": result.predicted,
                    "probability": round(result.probability, 6),
                    "peak_ras_mm": listed(result.peak_ras),
                    "peak_lps_mm": listed(result.peak_lps),
                    "lesion_center_ras_mm": listed(result.lesion_center_ras),
                    "lesion_radius_mm": result.lesion_radius_mm,
                    "distance_mm": None if result.distance_mm is None else round(result.distance_mm, 3),
                    "peak_in_lesion": result.peak_in_lesion,
                    "heatmap": str(result.heatmap_path),
                    "png": None if result.png_path is None else str(result.png_path),
                    "seconds": round(result.seconds, 2),
                },
                indent=2,
            )
        )
    else:
        print(result.summary())
    return 1 if args.require_hit and not result.peak_in_lesion else 0
