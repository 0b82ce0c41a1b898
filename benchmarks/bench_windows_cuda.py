"""Whole-scan explanations by sliding windows on a CT-sized volume, on a CUDA device, against MONAI's own
``sliding_window_inference`` (the yardstick) in the same process.

    python benchmarks/bench_windows_cuda.py [--size 512 512 300] [--models segresnet swinunetr]

A synthetic 512x512x300 volume (a CT at 0.8x0.8x1.5 mm), windows of 96^3, overlap 0.25, Gaussian blend,
sw_batch_size 4; MONAI SegResNet and SwinUNETR with random weights. Cases: MONAI inference (no grad), our
Grad-CAM (class 1 over the predicted region: needs the whole blended output first), our Grad-CAM with a
given region on the logits (no clean pass), our saliency. Each timing is one run after a warm-up, with
``torch.cuda.synchronize``; peak memory is ``torch.cuda.max_memory_allocated``. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "SaliencyExplorer"))
from SaliencyExplorerLib.core.engine import explain  # noqa: E402

ROI = (96, 96, 96)


def network(name):
    from monai.networks.nets import SegResNet, SwinUNETR

    torch.manual_seed(0)
    if name == "segresnet":
        return SegResNet(spatial_dims=3, init_filters=16, in_channels=1, out_channels=2), "up_layers.2"
    return SwinUNETR(in_channels=1, out_channels=2, feature_size=24, spatial_dims=3), "decoder1"


def timed(fn):
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    out = fn()
    torch.cuda.synchronize()
    return time.perf_counter() - start, torch.cuda.max_memory_allocated() / 2**20, out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, nargs=3, default=[512, 512, 300])
    parser.add_argument("--models", nargs="+", default=["segresnet", "swinunetr"])
    args = parser.parse_args()
    from monai.inferers import sliding_window_inference

    x = torch.randn((1, 1, *args.size), generator=torch.Generator().manual_seed(1)).cuda()
    settings = {"roi_size": ROI, "overlap": 0.25, "blend": "gaussian", "sw_batch_size": 4}
    region = torch.zeros(args.size, device="cuda")
    region[200:300, 200:300, 100:180] = 1  # a lesion-sized box: only the windows that see it are explained
    report = {
        "device": torch.cuda.get_device_name(),
        "torch": torch.__version__,
        "input": [1, 1, *args.size],
        "roi": list(ROI),
        "models": {},
    }
    for name in args.models:
        model, layer = network(name)
        model = model.cuda().eval()

        def monai():
            with torch.no_grad():
                return sliding_window_inference(x, ROI, 4, model, overlap=0.25, mode="gaussian")

        monai()  # warm-up (cuDNN autotuning, allocator)
        rows = {"monai_inference": timed(monai)[:2]}
        cases = {
            "gradcam_predicted_region": lambda: explain(
                model, x, "gradcam", layers=layer, target=1, task="segmentation", sliding_window=settings
            ),
            "gradcam_given_region_logits": lambda: explain(
                model,
                x,
                "gradcam",
                layers=layer,
                target=1,
                task="segmentation",
                mask=region,
                output_activation="none",
                sliding_window=settings,
            ),
            "saliency_predicted_region": lambda: explain(
                model, x, "saliency", target=1, task="segmentation", sliding_window=settings
            ),
        }
        passes = {}
        for case, fn in cases.items():
            seconds, memory, result = timed(fn)
            rows[case] = (seconds, memory)
            passes[case] = {
                **result.passes,
                **{k: v for k, v in result.extras.get("sliding_windows", {}).items() if isinstance(v, (int, float))},
            }
            del result
        base_s, base_mb = rows["monai_inference"]
        report["models"][name] = {
            "layer": layer,
            "seconds": {k: round(v[0], 3) for k, v in rows.items()},
            "time_vs_monai": {k: round(v[0] / base_s, 2) for k, v in rows.items()},
            "peak_gpu_mb": {k: round(v[1]) for k, v in rows.items()},
            "memory_vs_monai": {k: round(v[1] / base_mb, 2) for k, v in rows.items()},
            "passes": passes,
        }
        del model
        torch.cuda.empty_cache()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
