"""Small-input fixed cost: ours against captum, torchcam and MONAI on DenseNet121-3D at 64^3, in ONE process.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/bench_fixed_cost.py --repeats 7 --json fixed.json

Why one process and interleaved runs: on a shared machine the load changes from second to second; every
implementation runs once per round (the order rotated each round), so load hits all of them alike, and each
figure is the median over rounds divided by the median of a plain no-grad forward pass measured in the same
rounds. By default the clock is the process's CPU time on one thread (`--clock wall --threads 2` for elapsed
time): on a loaded machine wall time counts other processes' turns on the cores. Peak memory is not measured here (bench_methods.py runs each case in its own process for that).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# "cpu": the process's CPU time (all threads): on a loaded shared machine it moves far less than wall time,
# which counts the time other processes held the cores; "wall": elapsed time.
CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "SaliencyExplorer"))

CASES = [
    ("forward", "torch"),
    ("forward+backward", "torch"),
    ("gradcam", "ours"),
    ("gradcam", "captum"),
    ("gradcam", "torchcam"),
    ("gradcam", "monai"),
    ("saliency", "ours"),
    ("saliency", "captum"),
    ("saliency", "monai"),
]


def measure(repeats: int, threads: int, clock: str = "cpu", case_name: str = "densenet64") -> dict:
    import torch
    from bench_methods import LAYER, build
    from bench_peers import IMPLEMENTATIONS

    torch.set_num_threads(threads)
    model, x, case = build(case_name)
    runs = {}
    for method, impl in CASES:
        try:
            fn = IMPLEMENTATIONS[impl](model, x, method, LAYER, case)
        except ImportError:
            fn = None
        if fn is not None:
            runs[(method, impl)] = fn
    for fn in runs.values():  # warm-up
        fn()
    keys = list(runs)
    seconds = {key: [] for key in keys}
    for k in range(repeats):
        for key in keys[k % len(keys) :] + keys[: k % len(keys)]:
            started = CLOCKS[clock]()
            runs[key]()
            seconds[key].append(CLOCKS[clock]() - started)
    forward = statistics.median(seconds[("forward", "torch")])
    return {
        f"{m}/{i}": {"median_s": statistics.median(v), "x_forward": statistics.median(v) / forward, "runs_s": v}
        for (m, i), v in seconds.items()
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="cpu")
    parser.add_argument("--json")
    args = parser.parse_args()
    rows = measure(args.repeats, args.threads, args.clock)
    print(
        f"DenseNet121-3D, 1x1x64^3, {args.threads} threads, {args.clock} time, median of {args.repeats} interleaved "
        f"rounds"
    )
    print(f"{'method/impl':24}{'median s':>10}{'x forward':>11}")
    for key, row in rows.items():
        print(f"{key:24}{row['median_s']:10.3f}{row['x_forward']:11.3f}")
    if args.json:
        Path(args.json).write_text(
            json.dumps({"repeats": args.repeats, "threads": args.threads, "clock": args.clock, "rows": rows}, indent=2)
        )


if __name__ == "__main__":
    main()
