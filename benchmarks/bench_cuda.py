"""Grad-CAM and saliency on a CUDA device against the yardstick, one forward pass, in one process.

    python benchmarks/bench_cuda.py [--size 128] [--repeats 5]

A plain-torch 3D CNN (no MONAI needed on the GPU machine), a 1x1xN^3 input; every timing is the median of
``--repeats`` runs after a warm-up, with ``torch.cuda.synchronize``; peak memory is
``torch.cuda.max_memory_allocated`` per run. Besides one forward, the yardstick "forward+map to host"
adds copying one input-sized float32 map to host memory (through pinned memory, as ``explain`` does):
``explain`` returns numpy maps (the scaled heatmap and the raw map), and on a fast GPU those copies cost
more than the forward itself. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "SaliencyExplorer"))
from SaliencyExplorerLib import explain  # noqa: E402
from SaliencyExplorerLib.core.maps import to_host  # noqa: E402


def network(width=32):
    def block(cin, cout, stride):
        return nn.Sequential(
            nn.Conv3d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm3d(cout), nn.ReLU(inplace=True)
        )

    return nn.Sequential(
        block(1, width, 2),
        block(width, width, 1),
        block(width, 2 * width, 2),
        block(2 * width, 2 * width, 1),
        block(2 * width, 4 * width, 2),
        block(4 * width, 4 * width, 1),
        nn.AdaptiveAvgPool3d(1),
        nn.Flatten(),
        nn.Linear(4 * width, 2),
    )


def timed(fn, repeats):
    fn()
    torch.cuda.synchronize()
    seconds, peaks = [], []
    for _ in range(repeats):
        torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        seconds.append(time.perf_counter() - start)
        peaks.append(torch.cuda.max_memory_allocated())
    return statistics.median(seconds), max(peaks)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = network().cuda().eval()
    x = torch.randn(1, 1, args.size, args.size, args.size, device="cuda")
    layer = "5"  # the last block before pooling

    def forward():
        with torch.no_grad():
            model(x)

    def forward_and_map_to_host():  # the least any explanation must do: run the model, hand back a map
        with torch.no_grad():
            model(x)
        to_host(x[0, 0])

    rows = {
        "forward": timed(forward, args.repeats),
        "forward+map to host": timed(forward_and_map_to_host, args.repeats),
    }
    rows["gradcam"] = timed(lambda: explain(model, x, "gradcam", layers=layer, target=[1]), args.repeats)
    rows["saliency"] = timed(lambda: explain(model, x, "saliency", target=[1]), args.repeats)
    base_seconds, base_memory = rows["forward"]
    print(
        json.dumps(
            {
                "device": torch.cuda.get_device_name(),
                "torch": torch.__version__,
                "input": [1, 1] + [args.size] * 3,
                "seconds": {k: round(v[0], 5) for k, v in rows.items()},
                "time_vs_forward": {k: round(v[0] / base_seconds, 3) for k, v in rows.items()},
                "peak_memory_mb": {k: round(v[1] / 2**20, 1) for k, v in rows.items()},
                "memory_vs_forward": {k: round(v[1] / base_memory, 3) for k, v in rows.items()},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
