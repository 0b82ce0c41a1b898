"""Sliding-window explanations vs MONAI's sliding_window_inference alone: time and peak memory.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/bench_windows.py        # 160x160x96, roi 64^3: 18 windows (~10 min, 2 cores)
    OMP_WAIT_POLICY=PASSIVE python benchmarks/bench_windows.py --size 112 112 64 --repeats 3 --json out.json

A MONAI SegResNet with random weights (seed 0) on a random volume (seed 1) (`--model lesions`: a trained-like
stand-in, see setup()); Gaussian blend, overlap 0.25, sw_batch_size 1; target class 1 over its predicted region.
Cases: `monai` (sliding_window_inference, no grad: the yardstick), `gradcam` (ours: one clean pass keeping the
layer's outputs, each window's tail and its backward run as soon as its neighbours have run),
`gradcam_store_all` (the same, but every window's layer output kept till the pass ends: before
core/ready_windows.py), `gradcam_recompute` (every window re-run forward and backward after the clean pass: the
older algorithm), `gradcam_given` (logits on a given region: no clean pass), `saliency` (ours: the clean pass
at sw_batch_size 1, then the windows forward and backward two at a time: core/window_pairs.py),
`saliency_wavefront` (one window per pass, each once forward and backward, its region guessed or waited for, no
clean pass: core/wavefront.py, the default before pairs), `saliency_clean_pass` (before core/wavefront.py: a
clean pass for the region, then every window forward and backward, one at a time), `monai_autograd` (the
gradient through MONAI's whole inference), `monai_pairs` (MONAI's inference with sw_batch_size 2: what pairs do
to the yardstick itself; on the CPU ATen's oneDNN rule makes it faster, see core/window_pairs.py) and
`saliency_sw2` (saliency with sw_batch_size 2: the wavefront in batches of two; compare with `monai_pairs`).
`saliency_wavefront` is also what `batch_size=1` runs. Not run by default: `occlusion_box` (occlusion by a 16^3
occluder over a box mid-volume; each perturbed input re-runs only the windows it changed, two at a time) and
`occlusion_box_one_window` (the same, one window at a time): `--cases monai occlusion_box
occlusion_box_one_window --repeats 2`.

Time (the process's CPU time on one thread by default: on a loaded machine wall time counts other
processes' turns; `--clock wall --threads 2` for elapsed time): all cases in ONE process, interleaved (case order rotated each repeat), a warm-up of MONAI and Grad-CAM, the median of
`--repeats` per case and its ratio to MONAI's median, so machine load hits every case alike. Peak memory:
each case once in its own subprocess (its process's peak RSS, psutil sampled every 5 ms and ru_maxrss).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# "cpu": the process's CPU time (all threads): on a loaded shared machine it moves far less than wall time,
# which counts the time other processes held the cores; "wall": elapsed time.
CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}
DEFAULT_CASES = (
    "monai",
    "gradcam",
    "gradcam_store_all",
    "gradcam_recompute",
    "saliency",
    "saliency_wavefront",
    "saliency_clean_pass",
    "monai_autograd",
    "monai_pairs",
    "saliency_sw2",
)
CASES = DEFAULT_CASES + ("gradcam_given", "occlusion_box", "occlusion_box_one_window")  # the rest on request
ONE_WINDOW_PER_PASS = (
    "gradcam_recompute",
    "saliency_wavefront",
    "saliency_clean_pass",
    "occlusion_box_one_window",
)  # the algorithms before


def setup(size, threads, kind="random"):
    """The model and volume. "random": SegResNet's random weights on noise (logit margins near 0: the predicted
    region flips between windows everywhere). "lesions": a trained-like stand-in, the same SegResNet (same cost)
    whose logits add a confident smooth term (class 1 where the blurred input exceeds a level, zero-padded at the
    window borders as a CNN is) on noise with three bright blobs: windows agree except near the blobs' edges."""
    import torch
    from monai.networks.nets import SegResNet

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "SaliencyExplorer"))
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = SegResNet(spatial_dims=3, init_filters=8, in_channels=1, out_channels=2).eval()
    x = torch.randn((1, 1, *size), generator=torch.Generator().manual_seed(1))
    if kind == "lesions":
        model = lesion_model(model).eval()
        grid = torch.stack(torch.meshgrid(*[torch.arange(s, dtype=torch.float32) for s in size], indexing="ij"))
        for centre, radius in (((0.3, 0.35, 0.4), 12.0), ((0.55, 0.6, 0.5), 9.0), ((0.7, 0.25, 0.6), 7.0)):
            point = torch.tensor([c * s for c, s in zip(centre, size)])[:, None, None, None]
            x[0, 0] += 4 * torch.exp(-((grid - point) ** 2).sum(0) / (2 * radius**2))
    return model, x


def lesion_model(net):
    """SegResNet x 0.1 plus 8 x (5^3 box blur of the input - 1) as class 1's logit (minus it for class 0)."""
    import torch
    from torch import nn

    class Lesions(nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net, self.blur = net, nn.Conv3d(1, 1, 5, padding=2, bias=False)
            with torch.no_grad():
                self.blur.weight.fill_(1 / 125)

        def forward(self, x):
            s = 8 * (self.blur(x) - 1.0)
            return 0.1 * self.net(x) + torch.cat([-s, s], 1)

    return Lesions(net)


def run_case(case, model, x, roi):
    """Run one case; returns the explanation's pass counts (empty for MONAI's own)."""
    import torch
    from monai.inferers import sliding_window_inference
    from SaliencyExplorerLib.core import ready_windows, window_pairs
    from SaliencyExplorerLib.core.engine import explain
    from SaliencyExplorerLib.methods.cam.base import CamMethod
    from SaliencyExplorerLib.methods.gradient.saliency import Saliency

    settings = {"roi_size": tuple(roi), "overlap": 0.25, "blend": "gaussian", "sw_batch_size": 1}
    if case == "saliency_sw2":  # sw_batch_size 2 for the clean pass too: compare with monai_pairs
        settings["sw_batch_size"] = 2
    if case in ("monai", "monai_pairs"):  # monai_pairs: MONAI's inference with sw_batch_size 2, for reference
        with torch.no_grad():
            sliding_window_inference(x, tuple(roi), 1 + (case == "monai_pairs"), model, overlap=0.25, mode="gaussian")
        return {}
    if case == "monai_autograd":
        leaf = x.clone().requires_grad_(True)
        y = sliding_window_inference(leaf, tuple(roi), 1, model, overlap=0.25, mode="gaussian")
        region = (y.argmax(1) == 1).float()
        torch.autograd.grad((y[:, 1] * region).sum(), leaf)
        return {}
    if case.startswith("occlusion_box"):  # a 16^3 occluder over a box of a fifth of each axis, mid-volume
        box = torch.zeros(tuple(x.shape[2:]), dtype=torch.bool)
        box[tuple(slice(2 * s // 5, 2 * s // 5 + s // 5) for s in x.shape[2:])] = True
        window_pairs.ENABLED = case == "occlusion_box"
        try:
            result = explain(
                model, x, "occlusion", target=1, task="segmentation", sliding_window=settings, window=16, roi=box
            )
        finally:
            window_pairs.ENABLED = True
        return {"windows": result.extras["sliding_windows"], "evaluations": result.extras["evaluations"]}
    if case == "gradcam_given":  # logits of class 1 on a given region (the whole volume): no clean pass
        mask = torch.ones(tuple(x.shape[2:]), dtype=torch.bool)
        result = explain(
            model,
            x,
            "gradcam",
            target=1,
            task="segmentation",
            mask=mask,
            output_activation="none",
            sliding_window=settings,
        )
    else:
        CamMethod.replays_layer = case != "gradcam_recompute"
        Saliency.wavefront = case != "saliency_clean_pass"
        applies = ready_windows.applies
        window_pairs.ENABLED = case not in ONE_WINDOW_PER_PASS
        if case == "gradcam_store_all":  # the store keeps every window till the end (explained after the pass)
            ready_windows.applies = lambda run: False
        try:
            result = explain(model, x, case.split("_")[0], target=1, task="segmentation", sliding_window=settings)
        finally:
            CamMethod.replays_layer = Saliency.wavefront = window_pairs.ENABLED = True
            ready_windows.applies = applies
    return {"passes": result.passes, "windows": result.extras["sliding_windows"], "layers": result.layers}


def memory_child(case, size, roi, threads, kind):
    import psutil

    model, x = setup(size, threads, kind)
    process, peak, done = psutil.Process(), [0], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], process.memory_info().rss)
            time.sleep(0.005)

    before = process.memory_info().rss
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    info = run_case(case, model, x, roi)
    done.set()
    sampler.join()
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(
        json.dumps({"case": case, "setup_rss_mb": before / 2**20, "peak_rss_mb": max(peak[0], maxrss) / 2**20, **info})
    )


def timing_child(cases, size, roi, threads, repeats, clock, kind):
    model, x = setup(size, threads, kind)
    for case in [c for c in cases if c in ("monai", "gradcam")]:  # warm-up: kernels, the default-layer lookup
        run_case(case, model, x, roi)
    seconds = {case: [] for case in cases}
    for k in range(repeats):
        order = cases[k % len(cases) :] + cases[: k % len(cases)]
        for case in order:
            started = CLOCKS[clock]()
            run_case(case, model, x, roi)
            seconds[case].append(CLOCKS[clock]() - started)
    print(json.dumps(seconds))


def measure(size, roi, threads, repeats, cases, clock="cpu", kind="random"):
    """{case: row} with median seconds, its ratio to MONAI's, the runs, and the case's own peak memory."""
    common = ["--size", *map(str, size), "--roi", *map(str, roi), "--threads", str(threads), "--model", kind]
    out = (
        subprocess.run(
            [
                sys.executable,
                __file__,
                "--timing",
                "--cases",
                *cases,
                "--repeats",
                str(repeats),
                "--clock",
                clock,
                *common,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    seconds = json.loads(out)
    rows = {}
    for case in cases:
        out = (
            subprocess.run(
                [sys.executable, __file__, "--memory", case, *common], capture_output=True, text=True, check=True
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        rows[case] = {**json.loads(out), "runs_s": seconds[case], "median_s": statistics.median(seconds[case])}
    base = rows.get("monai")
    for row in rows.values():
        if base:
            row["time_x_monai"] = row["median_s"] / base["median_s"]
            row["memory_x_monai"] = row["peak_rss_mb"] / base["peak_rss_mb"]
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, nargs=3, default=[160, 160, 96])
    parser.add_argument("--roi", type=int, nargs=3, default=[64, 64, 64])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cases", nargs="+", default=list(DEFAULT_CASES), choices=CASES)
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="cpu")
    parser.add_argument("--model", choices=("random", "lesions"), default="random", help="see setup()")
    parser.add_argument("--json")
    parser.add_argument("--memory", help=argparse.SUPPRESS)
    parser.add_argument("--timing", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory:
        return memory_child(args.memory, args.size, args.roi, args.threads, args.model)
    if args.timing:
        return timing_child(args.cases, args.size, args.roi, args.threads, args.repeats, args.clock, args.model)
    rows = measure(args.size, args.roi, args.threads, args.repeats, args.cases, args.clock, args.model)
    print(
        f"SegResNet ({args.model}), {'x'.join(map(str, args.size))} volume, roi {'x'.join(map(str, args.roi))}, gaussian, "
        f"overlap 0.25, {args.threads} threads, {args.clock} time, median of {args.repeats} interleaved runs in one process"
    )
    print(f"{'case':20}{'median s':>10}{'x monai':>9}{'peak MB':>10}{'x monai':>9}  passes")
    for case, r in rows.items():
        print(
            f"{case:20}{r['median_s']:10.2f}{r.get('time_x_monai', 0):9.2f}{r['peak_rss_mb']:10.0f}"
            f"{r.get('memory_x_monai', 0):9.2f}  {r.get('passes', '')}"
        )
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "model": args.model,
                    "size": args.size,
                    "roi": args.roi,
                    "threads": args.threads,
                    "clock": args.clock,
                    "repeats": args.repeats,
                    "rows": rows,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
