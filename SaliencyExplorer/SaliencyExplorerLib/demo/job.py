"""The embedded demo: explain the shipped sample CT with the shipped lesion classifier, and say whether
the heatmap's peak lies in the lesion.

Why: one command shows the whole product working in patient space on a volume that is oblique and
anisotropic, with ground truth to compare against (``Resources/Samples/sample_ct.json``). The files are made
by ``scripts/make_demo.py`` (see ``docs/demo.md``).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..core.options import DEFAULT_METHOD
from ..errors import SaliencyError
from ..figures import annotate, pictures
from ..volumes.image_files import check_output_path, read_image, write_image
from ..workflow.explain_image import explain_image

MODEL_FILES = {"state_dict": "lesion_classifier.pt", "export": "lesion_classifier.pt2"}


def sample_dir_candidates() -> list[Path]:
    """Where the demo files may be: ``$SALIENCY_EXPLORER_SAMPLES``, the source tree's ``Resources/Samples``
    (this package lives in ``SaliencyExplorer/``), or ``Resources/Samples`` beside the installed package
    (a Slicer extension's ``qt-scripted-modules/``)."""
    here = Path(__file__).resolve()
    found = [Path(os.environ["SALIENCY_EXPLORER_SAMPLES"])] if os.environ.get("SALIENCY_EXPLORER_SAMPLES") else []
    return found + [here.parents[3] / "Resources" / "Samples", here.parents[2] / "Resources" / "Samples"]


def samples_dir() -> Path:
    """The first candidate folder holding ``sample_ct.json`` (else the source tree's, for the error)."""
    candidates = sample_dir_candidates()
    return next((c for c in candidates if (c / "sample_ct.json").is_file()), candidates[-2])


@dataclass
class DemoResult:
    r"""What ``run_demo`` made and found: the heatmap file (and overlay PNG), the model's answer, and the
    heatmap's peak against the sample's known lesion centre, in RAS millimetres."""

    heatmap_path: Path
    png_path: Path | None
    predicted: str
    probability: float
    peak_lps: np.ndarray | None
    peak_ras: np.ndarray | None
    lesion_center_ras: np.ndarray
    lesion_radius_mm: float
    distance_mm: float | None
    seconds: float

    @property
    def peak_in_lesion(self) -> bool:
        return self.distance_mm is not None and self.distance_mm <= self.lesion_radius_mm

    def summary(self) -> str:
        where = "n/a" if self.peak_ras is None else ", ".join(f"{v:.1f}" for v in self.peak_ras)
        centre = ", ".join(f"{v:.1f}" for v in self.lesion_center_ras)
        verdict = "INSIDE" if self.peak_in_lesion else "OUTSIDE"
        dist = "n/a" if self.distance_mm is None else f"{self.distance_mm:.1f} mm"
        return "\n".join(
            [
                f"model says: {self.predicted} (p = {self.probability:.3f})",
                f"heatmap peak (RAS mm): ({where}); lesion centre (RAS mm): ({centre}), radius "
                f"{self.lesion_radius_mm:.1f} mm",
                f"peak is {dist} from the lesion centre: {verdict} the lesion",
                f"heatmap: {self.heatmap_path}",
                f"overlay: {self.png_path if self.png_path else 'not written (install matplotlib and Pillow)'}",
                f"time: {self.seconds:.1f} s",
            ]
        )


def _sample_truth(folder: Path) -> dict:
    info_path = folder / "sample_ct.json"
    if not info_path.is_file():
        raise SaliencyError(
            f"The demo files are missing ({info_path}). Run `python scripts/make_demo.py` to make "
            "them, restore Resources/Samples from the repository, or point "
            "SALIENCY_EXPLORER_SAMPLES at a folder holding them."
        )
    return json.loads(info_path.read_text())


def write_overlay(path: Path, image, heatmap, peak_lps) -> Path | None:
    """PNG of the axial (k) slice through the peak, heatmap over the CT; None without matplotlib/Pillow."""

    try:
        index = None
        if peak_lps is not None:
            index = int(round(image.TransformPhysicalPointToContinuousIndex([float(v) for v in peak_lps])[2]))
        pictures.save_slice(
            path,
            sitk.GetArrayFromImage(image),
            sitk.GetArrayFromImage(heatmap),
            axis=0,
            index=index,
            colorbar=True,
            window=(-200.0, 300.0),
            threshold=0.2,
            zoom=5,
            spacing=tuple(reversed(image.GetSpacing())),
            title=annotate.title_from_heatmap(heatmap) or "heatmap",
            geometry=annotate.Geometry.of(image),
        )
    except (ImportError, SaliencyError) as exc:
        if "matplotlib" in str(exc) or "Pillow" in str(exc) or isinstance(exc, ImportError):
            return None
        raise
    return path


def run_demo(
    output_dir, method: str = DEFAULT_METHOD, model: str = "state_dict", folder=None, png=True, progress=None
) -> DemoResult:
    """Explain ``sample_ct.nrrd`` with the demo model; write the heatmap (NRRD) and overlay (PNG)."""

    started = time.perf_counter()
    folder = Path(folder) if folder else samples_dir()
    truth = _sample_truth(folder)
    if model not in MODEL_FILES:
        raise SaliencyError(f"Unknown demo model {model!r}; choose from {sorted(MODEL_FILES)}.")
    sample_path = folder / truth["file"]
    out = Path(output_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SaliencyError(
            f"Cannot create the output folder {out}: {exc.strerror or exc}. Choose a writable --output-dir."
        ) from exc
    heat_path = check_output_path(out / f"sample_ct_{method}.nrrd", inputs=[sample_path])
    image = read_image(sample_path)
    result = explain_image(
        image,
        str(folder / MODEL_FILES[model]),
        card=str(folder / "lesion_classifier.json"),
        method=method,
        target="lesion",
        progress=progress,
    )
    write_image(result.heatmap_image, heat_path, inputs=[sample_path])
    png_path = (
        write_overlay(out / f"sample_ct_{method}.png", image, result.heatmap_image, result.peak_lps) if png else None
    )
    scores = np.asarray(result.explanation.scores)[0]
    probs = np.exp(scores - scores.max())
    probs /= probs.sum()
    classes = list(result.card.classes)
    centre_lps = np.asarray(truth["lesion_center_lps_mm"], dtype=float)
    distance = None if result.peak_lps is None else float(np.linalg.norm(result.peak_lps - centre_lps))
    return DemoResult(
        heatmap_path=heat_path,
        png_path=png_path,
        predicted=classes[int(probs.argmax())],
        probability=float(probs.max()),
        peak_lps=result.peak_lps,
        peak_ras=result.peak_ras,
        lesion_center_ras=np.asarray(truth["lesion_center_ras_mm"], dtype=float),
        lesion_radius_mm=float(truth["lesion_radius_mm"]),
        distance_mm=distance,
        seconds=time.perf_counter() - started,
    )
