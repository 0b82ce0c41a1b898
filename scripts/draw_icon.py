"""Draws the 128x128 extension/module icon: an axial head slice with an Inferno saliency blob.

Run: python scripts/draw_icon.py (writes both icon copies). Kept as code so the
icon can be regenerated and reviewed, not a binary of unknown origin.
"""

from pathlib import Path

import matplotlib
import numpy as np
from PIL import Image

SIZE = 128
REPO = Path(__file__).resolve().parents[1]
TARGETS = [
    REPO / "SaliencyExplorer" / "Resources" / "Icons" / "SaliencyExplorer.png",
    REPO / "Resources" / "Icons" / "SaliencyExplorer.png",
]


def draw() -> np.ndarray:
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(float) / (SIZE - 1) * 2 - 1
    head = (x / 0.82) ** 2 + (y / 0.95) ** 2
    skull = (head <= 1.0) & (head >= 0.80)
    brain = head < 0.80
    grey = np.where(skull, 0.92, np.where(brain, 0.42 + 0.08 * np.cos(9 * x) * np.cos(7 * y), 0.0))
    heat = np.exp(-(((x - 0.28) ** 2 + (y + 0.22) ** 2) / (2 * 0.2**2)))
    rgb = np.repeat(grey[..., None], 3, axis=2)
    colour = matplotlib.colormaps["inferno"](heat)[..., :3]
    alpha = np.clip((heat - 0.15) / 0.5, 0, 1)[..., None] * 0.9 * brain[..., None]
    rgb = rgb * (1 - alpha) + colour * alpha
    opacity = np.clip(1.0 - (head - 1.0) * 20, 0, 1)  # soft edge, transparent outside the head
    return (np.dstack([rgb, opacity]) * 255).round().astype(np.uint8)


if __name__ == "__main__":
    pixels = draw()
    for target in TARGETS:
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels, "RGBA").save(target)
        print(target)
