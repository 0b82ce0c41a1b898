"""Sliding-window explanations vs MONAI's sliding_window_inference alone: time and peak memory.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/bench_windows.py                  # 112x112x64, roi 64^3 (~1-2 min, 2 cores)
    OMP_WAIT_POLICY=PASSIVE python benchmarks/bench_windows.py --size 160 160 96 --roi 96 96 96

A MONAI SegResNet with random weights (seed 0) on a random volume (seed 1); Gaussian blend, overlap 0.25,
sw_batch_size 1. Each case runs in its own subprocess, so its peak RSS (psutil, sampled every 5 ms, and the
process's ru_maxrss) is its own: `monai` (sliding_window_inference, no grad: the yardstick), `gradcam` and
`saliency` (ours, window by window, target class 1 over the predicted region), and `monai_autograd`
(the gradient taken through MONAI's whole sliding_window_inference: what one would do without windowed
explanations; its memory grows with the number of windows).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
CASES = ("monai", "gradcam", "gradcam_given", "saliency", "monai_autograd")


def child(case, size, roi, threads):
    import psutil
    import torch
    from monai.inferers import sliding_window_inference
    from monai.networks.nets import SegResNet

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "SaliencyExplorer"))
    from SaliencyExplorerLib.core.engine import explain

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = SegResNet(spatial_dims=3, init_filters=8, in_channels=1, out_channels=2).eval()
    x = torch.randn((1, 1, *size), generator=torch.Generator().manual_seed(1))
    settings = {"roi_size": tuple(roi), "overlap": 0.25, "blend": "gaussian", "sw_batch_size": 1}
    process, peak, done = psutil.Process(), [0], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], process.memory_info().rss)
            time.sleep(0.005)

    setup = process.memory_info().rss
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    info = {}
    if case == "monai":
        with torch.no_grad():
            sliding_window_inference(x, tuple(roi), 1, model, overlap=0.25, mode="gaussian")
    elif case == "monai_autograd":
        leaf = x.clone().requires_grad_(True)
        y = sliding_window_inference(leaf, tuple(roi), 1, model, overlap=0.25, mode="gaussian")
        region = (y.argmax(1) == 1).float()
        torch.autograd.grad((y[:, 1] * region).sum(), leaf)
    elif case == "gradcam_given":  # logits of class 1 on a given region (the whole volume): no clean pass
        mask = torch.ones(tuple(size), dtype=torch.bool)
        result = explain(model, x, "gradcam", target=1, task="segmentation", mask=mask, output_activation="none",
                         sliding_window=settings)
        info = {"passes": result.passes, "windows": result.extras["sliding_windows"], "layers": result.layers}
    else:
        result = explain(model, x, case, target=1, task="segmentation", sliding_window=settings)
        info = {"passes": result.passes, "windows": result.extras["sliding_windows"], "layers": result.layers}
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"case": case, "seconds": seconds, "setup_rss_mb": setup / 2**20,
                      "peak_rss_mb": max(peak[0], maxrss) / 2**20, **info}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, nargs=3, default=[112, 112, 64])
    parser.add_argument("--roi", type=int, nargs=3, default=[64, 64, 64])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    parser.add_argument("--json")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.size, args.roi, args.threads)
    rows = []
    for case in args.cases:
        cmd = [sys.executable, __file__, "--child", case, "--size", *map(str, args.size), "--roi", *map(str, args.roi),
               "--threads", str(args.threads)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        rows.append(json.loads(out))
    base = next((r for r in rows if r["case"] == "monai"), rows[0])
    print(f"SegResNet, {'x'.join(map(str, args.size))} volume, roi {'x'.join(map(str, args.roi))}, "
          f"gaussian, overlap 0.25, {args.threads} threads")
    print(f"{'case':16}{'time s':>9}{'x monai':>9}{'peak MB':>10}{'x monai':>9}{'above setup MB':>16}")
    for r in rows:
        print(f"{r['case']:16}{r['seconds']:9.1f}{r['seconds'] / base['seconds']:9.2f}{r['peak_rss_mb']:10.0f}"
              f"{r['peak_rss_mb'] / base['peak_rss_mb']:9.2f}{r['peak_rss_mb'] - r['setup_rss_mb']:16.0f}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
