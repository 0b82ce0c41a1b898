"""Renders the README's screenshots headless: the demo sample with its Grad-CAM heatmap in three slice views.

    python scripts/render_screenshots.py [--samples Resources/Samples]

Uses Slicer's own slice logic (``SaliencyExplorerLib.mrml.rendering``), so the pictures are what Slicer's slice
views show (without the 2D annotations), cut through the heatmap's peak.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
HERE = REPO / "Resources" / "Screenshots"  # where the pictures go


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=Path, default=REPO / "Resources" / "Samples")
    parser.add_argument("--method", default="gradcam")
    parser.add_argument("--size", type=int, default=400)
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args()

    import SimpleITK as sitk
    from PIL import Image
    from SaliencyExplorerLib import explain_volume_node
    from SaliencyExplorerLib.mrml import heatmap_node, module_logics, rendering, volume_nodes

    session = module_logics.start_headless()
    source = volume_nodes.add_volume_from_image(
        session.scene, sitk.ReadImage(str(args.samples / "sample_ct.nrrd")), "sample CT"
    )
    display = source.GetDisplayNode()
    display.SetAutoWindowLevel(False)
    display.SetWindowLevel(400, 40)  # soft-tissue window
    heat = explain_volume_node(
        source,
        str(args.samples / "lesion_classifier.pt"),
        card=str(args.samples / "lesion_classifier.json"),
        method=args.method,
        threshold=0.3,
    )
    record = heatmap_node.provenance_of(heat)
    peak = np.array(record["peakRAS"].split(","), dtype=float)
    truth = json.loads((args.samples / "sample_ct.json").read_text())["lesion_center_ras_mm"]
    panels = []
    for orientation in ("Axial", "Coronal", "Sagittal"):
        rgba = rendering.render_slice(
            source, heat, opacity=0.6, orientation=orientation, center_ras=peak, size=(args.size, args.size)
        )
        rgb = (rgba[..., :3].astype(float) * (rgba[..., 3:] / 255.0)).round().astype(np.uint8)  # over black
        Image.fromarray(rgb).save(args.out / f"{orientation.lower()}.png")
        panels.append(rgb)
    Image.fromarray(np.concatenate(panels, axis=1)).save(args.out / "views.png")
    print(
        f"{record['method']} on {record['layers']}: class {record.get('targetName')} score {record.get('score')}; "
        f"peak RAS {np.round(peak, 1)} vs lesion {truth}: {np.linalg.norm(peak - truth):.1f} mm"
    )


if __name__ == "__main__":
    main()
