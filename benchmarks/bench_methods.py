"""Benchmark: this project vs MONAI, captum and torchcam, per method, on the same model and input.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/bench_methods.py            # DenseNet121-3D, 1x1x96^3
    OMP_WAIT_POLICY=PASSIVE python benchmarks/bench_methods.py --small    # DenseNet121-3D, 1x1x64^3

Every (implementation, method) runs in its own subprocess (so its peak memory is its own) with the same
model weights, input, thread count and OpenMP policy; it reports the median time, the forward and
backward passes through the model (counted by hooks, rows of a batch included), and the peak RSS.
The parent prints ratios to one forward pass and to the peer and writes everything as JSON.
See benchmarks/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # spinning OpenMP threads made timings 2-6x worse

# target = the class the model predicts for this input (what MONAI explains by default)
CASES = {
    "densenet96": dict(
        size=96,
        window=16,
        stride=12,
        target=0,
        rise_masks=64,
        peer_batch=1,
        occlusion_roi_windows=64,
        peers_for_occlusion=False,
    ),
    "densenet64": dict(
        size=64,
        window=16,
        stride=12,
        target=1,
        rise_masks=200,
        peer_batch=1,
        occlusion_roi_windows=None,
        peers_for_occlusion=True,
    ),
}
LAYER = "class_layers.relu"
METHODS = [
    ("forward", ["torch"]),
    ("forward+backward", ["torch"]),
    ("gradcam", ["ours", "monai", "captum", "torchcam"]),
    ("saliency", ["ours", "monai", "captum"]),
    ("inputxgradient", ["ours", "captum"]),
    ("guided-backprop", ["ours", "monai", "captum"]),
    ("guided-gradcam", ["ours", "captum"]),
    ("smoothgrad", ["ours", "monai", "captum"]),
    ("integrated-gradients", ["ours", "captum"]),
    ("occlusion", ["ours", "monai", "captum"]),
    ("occlusion-fast", ["ours"]),
    ("rise", ["ours"]),
]
SLOW = {"smoothgrad", "integrated-gradients", "occlusion", "occlusion-fast", "rise"}


def build(case_name: str):
    """The model (fixed seed) and a CT-like phantom with a lesion, normalised to about [0, 1]."""
    import numpy as np
    import SimpleITK as sitk
    import torch
    from monai.networks.nets import DenseNet121
    from SaliencyExplorerLib.demo.phantoms import make_phantom

    case = dict(CASES[case_name])
    size = case["size"]
    torch.manual_seed(0)
    model = DenseNet121(spatial_dims=3, in_channels=1, out_channels=2).eval()
    image, _ = make_phantom(
        size=(size,) * 3,
        spacing=(192.0 / size,) * 3,
        lesion_center_lps=(10.0, -5.0, 2.0),
        lesion_radius_mm=12.0,
        seed=0,
    )
    x = torch.from_numpy((sitk.GetArrayFromImage(image).astype(np.float32) + 1000.0) / 1000.0)[None, None]
    if case["occlusion_roi_windows"]:
        # Exhaustive occlusion of 512 windows takes ~8 min here: time a block of windows (a ROI in one
        # corner) and extrapolate per window; the bound is windows x one forward.
        roi = np.zeros((size,) * 3, bool)
        roi[:40, :40, :40] = True
        case["occlusion_roi"] = roi
    return model, x, case


class PassCounter:
    """Counts rows through the model forward, and rows whose output gradient was taken (backward)."""

    def __init__(self, model):
        self.forward = self.backward = 0
        model.register_forward_hook(self._hook)

    def _hook(self, module, inputs, output):
        rows = int(inputs[0].shape[0])
        self.forward += rows
        if isinstance(output, __import__("torch").Tensor) and output.requires_grad:
            output.register_hook(lambda g: setattr(self, "backward", self.backward + rows))


def worker(case_name: str, impl: str, method: str, repeats: int, threads: int) -> dict:
    import torch
    from bench_peers import IMPLEMENTATIONS

    torch.set_num_threads(threads)
    model, x, case = build(case_name)
    fn = IMPLEMENTATIONS[impl](model, x, method, LAYER, case)
    if fn is None:
        return {"skipped": "not offered by this implementation"}
    counter = PassCounter(model)
    rss_setup = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    times, result = [], None
    runs = 1 if method in SLOW else repeats + 1  # fast methods: one warm-up run, then `repeats`
    forwards = []  # one plain forward timed right before each run, in this process: the fair ratio
    for i in range(runs):
        start = time.perf_counter()
        with torch.no_grad():
            model(x)
        forward_s = time.perf_counter() - start
        counter.forward = counter.backward = 0
        start = time.perf_counter()
        result = fn()
        if i > 0 or runs == 1:
            times.append(time.perf_counter() - start)
            forwards.append(forward_s)
    out = {
        "median_s": statistics.median(times),
        "times_s": times,
        "forward_rows": counter.forward,
        "backward_rows": counter.backward,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "setup_rss_mb": rss_setup,
        "forward_same_process_s": statistics.median(forwards),
    }
    if impl == "ours":
        # Our own exact counts: the hook counter misses passes through a channels-last model copy.
        out["hook_forward_rows"], out["hook_backward_rows"] = out["forward_rows"], out["backward_rows"]
        out["forward_rows"], out["backward_rows"] = result.passes["forward"], result.passes["backward"]
        out["passes"] = result.passes
        out["evaluations"] = result.extras.get("evaluations")
        if method.startswith("occlusion"):
            import numpy as np

            out["windows"] = int(np.prod(result.extras["windows"]))
            reference = os.environ.get("BENCH_OCCLUSION_REFERENCE")
            if reference and os.path.exists(reference):
                ref = np.load(reference)["map"].ravel()
                out["pearson_vs_exhaustive"] = float(np.corrcoef(result.raw.ravel(), ref)[0, 1])
            if os.environ.get("BENCH_OUT"):
                np.save(os.path.join(os.environ["BENCH_OUT"], f"{method}_{case_name}.npy"), result.raw)
    return out


def run_worker(case_name, impl, method, args) -> dict:
    command = [
        sys.executable,
        __file__,
        "--worker",
        impl,
        method,
        "--case",
        case_name,
        "--repeats",
        str(args.repeats),
        "--threads",
        str(args.threads),
    ]
    env = dict(
        os.environ,
        PYTHONPATH=os.path.dirname(os.path.abspath(__file__)) + os.pathsep + os.environ.get("PYTHONPATH", ""),
    )
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=args.timeout)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {"error": (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]}
    return json.loads(lines[-1])


def summarise(results: dict, case: dict) -> list[str]:
    forward = results.get("forward", {}).get("torch", {}).get("median_s")
    rows = [f"{'method':<22}{'impl':<10}{'median s':>10}{'fwd':>7}{'bwd':>6}{'x fwd':>8}{'x peer':>8}{'peak MB':>9}"]
    for method, impls in results.items():
        ours = impls.get("ours", {}).get("median_s")
        for impl, r in impls.items():
            if "median_s" not in r:
                rows.append(f"{method:<22}{impl:<10}  {r.get('skipped') or r.get('error')}")
                continue
            same = r.get("forward_same_process_s") or forward
            ratio_fwd = r["median_s"] / same if same else float("nan")
            r["ratio_to_forward"] = ratio_fwd
            ratio_peer = ""
            if impl != "ours" and ours:
                r["ours_over_peer"] = ours / r["median_s"]
                ratio_peer = f"{ours / r['median_s']:.2f}"
            rows.append(
                f"{method:<22}{impl:<10}{r['median_s']:>10.2f}{r['forward_rows']:>7}{r['backward_rows']:>6}"
                f"{ratio_fwd:>8.2f}{ratio_peer:>8}{r['peak_rss_mb']:>9.0f}"
            )
        occ = impls.get("ours", {})
        if method.startswith("occlusion") and "windows" in occ and forward:
            bound = occ["windows"] * forward
            occ["exhaustive_bound_s"] = bound
            if method == "occlusion" and case.get("occlusion_roi_windows"):
                per_window = occ["median_s"] / max(occ["forward_rows"] - 1, 1)
                occ["extrapolated_exhaustive_s"] = per_window * occ["windows"]
                rows.append(
                    f"  occlusion timed on {occ['forward_rows'] - 1} windows of {occ['windows']}: "
                    f"{per_window:.3f} s/window = {per_window / forward:.2f}x one forward; "
                    f"extrapolated {per_window * occ['windows']:.0f} s vs bound {bound:.0f} s"
                )
            if method == "occlusion-fast":
                rows.append(
                    f"  fast occlusion: {occ['median_s']:.1f} s = {bound / occ['median_s']:.2f}x faster "
                    f"than the exhaustive bound ({occ['windows']} windows x forward); Pearson r vs "
                    f"exhaustive: {occ.get('pearson_vs_exhaustive', 'n/a (no reference map)')}"
                )
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true", help="DenseNet121-3D at 64^3: a few minutes")
    parser.add_argument("--case", default=None, choices=sorted(CASES))
    parser.add_argument("--methods", nargs="*", default=None, help="only these methods")
    parser.add_argument("--impls", nargs="*", default=None, help="only these implementations")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of fast methods (median)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per subprocess")
    parser.add_argument("--json", default=None, help="where to write the results (default bench_<case>.json)")
    parser.add_argument("--worker", nargs=2, metavar=("IMPL", "METHOD"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    case_name = args.case or ("densenet64" if args.small else "densenet96")
    if args.worker:
        print(json.dumps(worker(case_name, *args.worker, args.repeats, args.threads)))
        return
    case = CASES[case_name]
    results = {}
    for method, impls in METHODS:
        if args.methods and method not in args.methods and method not in ("forward",):
            continue
        for impl in impls:
            if args.impls and impl not in args.impls and impl != "torch":
                continue
            if method == "occlusion" and impl != "ours" and not case["peers_for_occlusion"]:
                results.setdefault(method, {})[impl] = {"skipped": "peers' occlusion runs on --small only"}
                continue
            results.setdefault(method, {})[impl] = run_worker(case_name, impl, method, args)
            print(f"  {method:<22}{impl:<10}{json.dumps(results[method][impl])[:150]}", flush=True)
    rows = summarise(results, case)
    print(
        f"\ncase {case_name}: MONAI DenseNet121(spatial_dims=3, in_channels=1, out_channels=2), "
        f"input 1x1x{case['size']}^3, {args.threads} threads, OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}"
    )
    print("\n".join(rows))
    path = args.json or f"bench_{case_name}.json"
    with open(path, "w") as handle:
        json.dump(
            {
                "case": case_name,
                "config": {k: v for k, v in case.items()},
                "threads": args.threads,
                "results": results,
                "table": rows,
            },
            handle,
            indent=1,
            default=str,
        )
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
