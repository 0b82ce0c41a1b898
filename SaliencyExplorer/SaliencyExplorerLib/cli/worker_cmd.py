"""``worker JOB.json``: run one job written by the Slicer module (see ``worker.py`` for the protocol)."""

from __future__ import annotations

from ..workflow.worker import run_job


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "worker",
        help="run a background job written by the Slicer module (progress lines on stdout)",
        description="Run one explanation job: reads JOB.json and its volume, prints SALIENCY-* progress lines, "
        "writes heatmap.nrrd and result.json next to it. Used by the Slicer panel's Apply.",
    )
    parser.add_argument("job", help="path of the job.json file")
    parser.add_argument(
        "--trust-code",
        "--trust-pickle",
        dest="trust_code",
        action="store_true",
        help="allow what runs code from the model or card (also set by the job's trust_code)",
    )
    parser.set_defaults(func=_run)


def _run(args) -> int:

    return run_job(args.job, trust_code=args.trust_code)
