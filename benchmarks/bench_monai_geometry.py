"""The MONAI agreement table: geometry -> model input difference, grid difference, voxel agreement, lesion Dice.

    PYTHONPATH=SaliencyExplorer python benchmarks/bench_monai_geometry.py [--itk] [--out table.md]

For each case of Testing/helpers/monai_matrix.py (NRRD float64/float32, NIfTI sform/qform; oblique about 0-3
axes; flips; anisotropic; a tied size), MONAI's own transforms and bundle postprocessing (Invertd, argmax)
against the tool's ``to_model`` and ``explain_image(...).prediction_image``. ``--itk`` adds the NRRD cases
read by MONAI's ITKReader (whose affine can differ from pynrrd's in the last bit).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import SimpleITK as sitk

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "Testing"))

from helpers import monai_matrix as mm  # noqa: E402
from SaliencyExplorerLib import explain_image  # noqa: E402
from SaliencyExplorerLib.models.monai_bundle import derive_card  # noqa: E402
from SaliencyExplorerLib.volumes.geometry import to_model  # noqa: E402
from SaliencyExplorerLib.volumes.image_files import read_image  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--itk", action="store_true", help="also the NRRD cases through MONAI's ITKReader")
    parser.add_argument("--out", help="write the table (Markdown) here too")
    args = parser.parse_args(argv)
    card = derive_card(mm.CONFIG, {"name": "matrix"}, Path("/bundle/configs/inference.json"))
    net = mm.MeanThreshold().eval()
    rows = [
        "| geometry | MONAI grid | model input max diff | grid max diff (mm) | voxel agreement | lesion Dice |",
        "|---|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for case in mm.cases() + (mm.itk_cases() if args.itk else []):
            path = mm.write(case, Path(tmp))
            theirs, affine, _, _ = mm.monai_preprocessed(path, case.reader)
            image = read_image(path)
            if case.reader == "ITKReader":  # the tool then computes the grid from ITK's own affine
                for key in image.GetMetaDataKeys():
                    if key.startswith("SaliencyExplorer"):
                        image.EraseMetaData(key)
            model_input = to_model(image, card)
            ours = model_input.tensor[0].numpy()
            same = ours.shape == theirs.shape
            diff = f"{np.abs(ours - theirs).max():.1e}" if same else f"shape {ours.shape[1:]} vs {theirs.shape[1:]}"
            grid = np.abs(mm.ras_affine(model_input.grid) - affine).max()
            labels = mm.monai_labels(path, net, case.reader)
            pred = explain_image(image, net, card=card, method="saliency").prediction_image
            pred = sitk.GetArrayFromImage(pred).transpose(2, 1, 0)
            size = "x".join(str(n) for n in theirs.shape[1:])
            rows.append(
                f"| {case.name} | {size} | {diff} | {grid:.1e} | {np.mean(pred == labels):.2%} | "
                f"{mm.dice(pred, labels):.4f} |"
            )
            print(rows[-1], flush=True)
    if args.out:
        Path(args.out).write_text("\n".join(rows) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
