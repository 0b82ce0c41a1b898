"""The nnU-Net agreement table: the tool's --prediction-output path against nnUNetPredictor's defaults
(mirroring on) on 24 geometries (NIfTI and NRRD; axial, oblique about 1-3 axes, flipped, flipped and
oblique; near-isotropic and anisotropic 4 mm slices), with a tiny lesion network trained by the fixture.

    PYTHONPATH=SaliencyExplorer:Testing python benchmarks/nnunet_fidelity.py [--folder DIR] [--steps 250]

Columns: input max |ours - DefaultPreprocessor| (equal shape), voxel agreement and lesion Dice against
nnU-Net as shipped (float16 accumulation) and against the same predictor accumulating in float64, the max
probability difference to both, nnU-Net's own float16 noise (its float16 vs float64 probabilities, and the
share of voxels whose label it flips), the reference's lesion size, the tool's Dice against the true lesion,
and "before": the agreement and lesion Dice of the tool's previous path (through space, no mirroring, argmax on
the model grid) against the same reference.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import SimpleITK as sitk

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "Testing"))

from helpers.nnunet_agreement import (  # noqa: E402
    compare,
    dice,
    predictor,
    previous_path,
)
from helpers.nnunet_lesion_fixture import (  # noqa: E402
    LESION_RAS,
    SCAN_CENTRE,
    geometries,
    make_lesion_folder,
    scan,
)
from SaliencyExplorerLib.models.loading import load_model  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", help="an existing trained folder (else one is planned and trained)")
    parser.add_argument("--steps", type=int, default=250)
    parser.add_argument("--only", help="geometry names containing this")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="nnunet_fidelity_"))
    folder = Path(args.folder) if args.folder else make_lesion_folder(work / "model", steps=args.steps)
    loaded = load_model(folder)
    p, p64 = predictor(folder), predictor(folder, float64=True)
    print(
        f"{'geometry':28s} {'input':>8s} {'agree':>8s} {'dice':>6s} {'dprob':>8s} {'agree64':>8s} {'dice64':>6s} "
        f"{'dprob64':>8s} {'fp16':>8s} {'fp16flip':>8s} {'lesion':>6s} {'truth':>6s} {'before':>8s} {'bdice':>6s} {'s':>5s}"
    )
    rows = []
    for n, (name, suffix, size, spacing, direction) in enumerate(geometries()):
        if args.only and args.only not in name:
            continue
        image, truth = scan(size, spacing, direction, origin=SCAN_CENTRE, lesion_ras=LESION_RAS, seed=100 + n)
        path = work / f"{name}{suffix}"
        sitk.WriteImage(image, str(path))
        t = time.perf_counter()
        r = compare(loaded, p, p64, path)
        r["truth_dice"] = dice(r.pop("seg"), sitk.GetArrayFromImage(truth))
        before, ref_seg = previous_path(loaded, path), r.pop("ref_seg")
        r["before_agree"], r["before_dice"] = float((before == ref_seg).mean()), dice(before, ref_seg)
        rows.append(r)
        print(
            f"{name:28s} {r['input_max_diff']:8.1e} {r['agreement']:8.4%} {r['lesion_dice']:6.3f} "
            f"{r['max_prob_diff']:8.1e} {r['agreement64']:8.4%} {r['lesion_dice64']:6.3f} {r['max_prob_diff64']:8.1e} "
            f"{r['fp16_noise']:8.1e} {r['fp16_label_flips']:8.4%} {r['ref_lesion_voxels']:6d} {r['truth_dice']:6.3f} {r['before_agree']:8.4%} {r['before_dice']:6.3f} {time.perf_counter() - t:5.1f}",
            flush=True,
        )
    print(
        f"before issue 18: min agreement {min(r['before_agree'] for r in rows):.4%}, lesion Dice "
        f"{min(r['before_dice'] for r in rows):.3f}-{max(r['before_dice'] for r in rows):.3f}"
    )
    print(
        f"min agreement {min(r['agreement'] for r in rows):.4%}, min lesion Dice {min(r['lesion_dice'] for r in rows):.3f}"
        f" (float64 reference: {min(r['agreement64'] for r in rows):.4%}, {min(r['lesion_dice64'] for r in rows):.3f}); "
        f"input max diff {max(r['input_max_diff'] for r in rows):.1e}; nnU-Net's float16 noise max "
        f"{max(r['fp16_noise'] for r in rows):.1e} in probability, label flips max "
        f"{max(r['fp16_label_flips'] for r in rows):.4%}"
    )


if __name__ == "__main__":
    main()
