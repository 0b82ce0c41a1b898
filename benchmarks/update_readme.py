"""Run the benchmarks and rewrite the results table in benchmarks/README.md (between the markers).

    OMP_WAIT_POLICY=PASSIVE python benchmarks/update_readme.py               # all three (~40 min on 2 cores)
    python benchmarks/update_readme.py --reuse                              # redraw from the JSON files kept here

Runs bench_methods.py --small (every method, each in its own process: time x one forward and peak memory,
against MONAI, captum and torchcam), bench_fixed_cost.py (Grad-CAM and saliency against the peers in one
process, interleaved: the small-input fixed cost) and bench_windows.py (whole-scan sliding windows against
MONAI's sliding_window_inference). Their JSON goes to benchmarks/results_*.json; the table says what each
figure is against (its yardstick) and the conditions it was measured under.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
README = HERE / "README.md"
BEGIN, END = "<!-- results:begin (benchmarks/update_readme.py) -->", "<!-- results:end -->"
FILES = {
    "methods": HERE / "results_densenet64.json",
    "fixed": HERE / "results_fixed_cost64.json",
    "windows": HERE / "results_windows_cpu.json",
}
# what each method's time is measured against: (yardstick, passes of it)
YARDSTICK = {
    "gradcam": ("forward", 1),
    "guided-gradcam": ("forward+backward", 1),
    "saliency": ("forward+backward", 1),
    "inputxgradient": ("forward+backward", 1),
    "guided-backprop": ("forward+backward", 1),
    "smoothgrad": ("forward+backward", 25),
    "integrated-gradients": ("forward+backward", 50),
    "occlusion": ("forward", "windows"),
    "occlusion-fast": ("forward", "windows"),
    "rise": ("forward", 200),
}
PEERS = ("monai", "captum", "torchcam")


def run(args, out: Path):
    env = dict(
        os.environ, PYTHONPATH=str(HERE.parent / "SaliencyExplorer") + os.pathsep + os.environ.get("PYTHONPATH", "")
    )
    subprocess.run([sys.executable, *map(str, args), "--json", str(out)], check=True, env=env, cwd=HERE)
    data = json.loads(out.read_text())
    data["measured"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    out.write_text(json.dumps(data, indent=1, default=str))


def measured(data: dict) -> str:
    return f"measured {data['measured']}" if data.get("measured") else "date not recorded"


def methods_table(data: dict) -> list[str]:
    res = data["results"]
    fwd = res["forward"]["torch"]["median_s"]
    fb = res.get("forward+backward", {}).get("torch", {}).get("median_s", float("nan"))
    base = {"forward": fwd, "forward+backward": fb}
    rows = [
        "| method | yardstick | ours x yardstick | ours s | "
        + " | ".join(f"{p} x ours" for p in PEERS)
        + " | peak MB ours | "
        + " | ".join(f"peak MB {p}" for p in PEERS)
        + " |",
        "|---|---|---|---|" + "---|" * (2 * len(PEERS) + 1),
    ]
    for method, (stick, times) in YARDSTICK.items():
        ours = res.get(method, {}).get("ours", {})
        if "median_s" not in ours:
            continue
        count = ours.get("windows", 1) if times == "windows" else times
        one = ours.get("forward_same_process_s", fwd) if stick == "forward" else base[stick]  # same process when known
        bound = one * count
        peers = [res[method].get(p, {}) for p in PEERS]
        rows.append(
            f"| {method} | {count} x {stick} ({bound:.2f} s) | {ours['median_s'] / bound:.2f} | "
            f"{ours['median_s']:.2f} | "
            + " | ".join(f"{p['median_s'] / ours['median_s']:.2f}" if "median_s" in p else "-" for p in peers)
            + f" | {ours['peak_rss_mb']:.0f} | "
            + " | ".join(f"{p['peak_rss_mb']:.0f}" if "peak_rss_mb" in p else "-" for p in peers)
            + " |"
        )
    return rows


def fixed_table(data: dict) -> list[str]:
    rows = data["rows"]
    out = ["| method | ours x forward | " + " | ".join(f"{p} x forward" for p in PEERS) + " |", "|---|---|---|---|---|"]
    for method in ("gradcam", "saliency"):
        cells = [rows.get(f"{method}/{impl}", {}).get("x_forward") for impl in ("ours", *PEERS)]
        out.append(f"| {method} | " + " | ".join("-" if c is None else f"{c:.3f}" for c in cells) + " |")
    fb = rows.get("forward+backward/torch", {}).get("x_forward")
    if fb:
        out.append(f"| (forward+backward to the input) | {fb:.3f} | | | |")
    return out


def windows_table(data: dict) -> list[str]:
    out = [
        "| case | median s | x MONAI time | peak RSS MB | x MONAI memory | forward, backward passes |",
        "|---|---|---|---|---|---|",
    ]
    for case, r in data["rows"].items():
        passes = r.get("passes")
        out.append(
            f"| {case} | {r['median_s']:.2f} | {r.get('time_x_monai', float('nan')):.2f} | "
            f"{r['peak_rss_mb']:.0f} | {r.get('memory_x_monai', float('nan')):.2f} | "
            f"{'' if not passes else str(passes['forward']) + ', ' + str(passes['backward'])} |"
        )
    return out


def render() -> str:
    when = time.strftime("%Y-%m-%d", time.gmtime())
    lines = [
        BEGIN,
        f"Generated {when} by `python benchmarks/update_readme.py` on {platform.machine()} "
        f"({os.cpu_count()} cores; shared machines make times move: ratios come from one process where "
        f"marked). Per-figure conditions are in the JSON files.",
        "",
    ]
    if FILES["methods"].exists():
        data = json.loads(FILES["methods"].read_text())
        lines += (
            [
                f"**Every method, DenseNet121-3D at 64^3** ({measured(data)}; `bench_methods.py --small`: each case in its own process, "
                f"median of {data.get('repeats', 3)} runs for single-pass methods, {data.get('threads', 2)} threads; "
                "`peer x ours` > 1 = we are faster):",
                "",
            ]
            + methods_table(data)
            + [""]
        )
    if FILES["fixed"].exists():
        data = json.loads(FILES["fixed"].read_text())
        lines += (
            [
                f"**Small-input fixed cost** ({measured(data)}; `bench_fixed_cost.py`: DenseNet121-3D at 64^3, one "
                f"process, {data.get('threads', 1)} thread(s), {data.get('clock', 'wall')} time, median of "
                f"{data['repeats']} interleaved rounds, each time / the median no-grad forward of the same "
                "rounds):",
                "",
            ]
            + fixed_table(data)
            + [""]
        )
    if FILES["windows"].exists():
        data = json.loads(FILES["windows"].read_text())
        lines += (
            [
                f"**Whole scan by sliding windows** ({measured(data)}; `bench_windows.py`: SegResNet, "
                f"{'x'.join(map(str, data['size']))} volume, windows {'x'.join(map(str, data['roi']))}, time: "
                f"{data.get('clock', 'wall')} time on {data.get('threads', 1)} thread(s), median of {data['repeats']} "
                "interleaved runs in one process; memory: each case once in its own process):",
                "",
            ]
            + windows_table(data)
            + [""]
        )
    return "\n".join(lines + [END])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reuse", action="store_true", help="do not run anything: redraw from the JSON files")
    parser.add_argument("--only", nargs="+", choices=sorted(FILES), help="run only these benchmarks")
    args = parser.parse_args()
    if not args.reuse:
        todo = args.only or sorted(FILES)
        if "methods" in todo:
            run([HERE / "bench_methods.py", "--small"], FILES["methods"])
        if "fixed" in todo:
            run([HERE / "bench_fixed_cost.py"], FILES["fixed"])
        if "windows" in todo:
            run([HERE / "bench_windows.py"], FILES["windows"])
    text = README.read_text()
    table = render()
    if BEGIN in text and END in text:
        text = text[: text.index(BEGIN)] + table + text[text.index(END) + len(END) :]
    else:
        text = text.replace("## Results\n", "## Results\n" + table + "\n\n", 1)
    README.write_text(text)
    print(table)


if __name__ == "__main__":
    main()
