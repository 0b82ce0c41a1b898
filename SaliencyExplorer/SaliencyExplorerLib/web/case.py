"""The Slicer panel's steps for one browser session, on a scene, without trame: the page only shows this.

Why: what the web page can do (open a volume and a model under the root, list layers/methods/classes,
run in the background worker, cancel, compare, save) must be testable without a browser, and must decide
exactly as the Slicer panel does. So every decision is ``mrml.panel``'s, every run goes through
``mrml.explain_node.start_background`` (the worker process: the server keeps serving), every scene write
through ``finish_background``/``finish_comparison`` (rolled back on error). The volume is read from its
file and that image is what the worker explains, so the saved heatmap is on the file's own grid: the same
numbers ``python -m SaliencyExplorerLib explain`` writes for the same files.
"""

from __future__ import annotations

import io
import json
import sys
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..card import card_to_dict, find_card_for, load_card
from ..errors import SaliencyError
from ..figures.pictures import default_window
from ..mrml import compare_nodes, explain_node, heatmap_node, panel, volume_nodes
from ..output_files import suffix_of, write_text
from ..volumes.image_files import read_image, write_image
from .root_files import VOLUME_SUFFIXES, Root

COLOR_MAP = "Inferno"


def stem_of(path: Path) -> str:
    """``ct`` for ``ct.nii.gz``, ``series`` for a DICOM folder."""
    suffix = suffix_of(path) if suffix_of(path) in VOLUME_SUFFIXES else ""
    return path.name[: len(path.name) - len(suffix)] if suffix else path.name


class Case:
    """One session's choices, its run and its results, on ``scene`` (trame-slicer's, or any MRML scene)."""

    def __init__(self, root: Root, scene, python: str | None = None):
        self.root, self.scene, self.python = root, scene, python or sys.executable
        self.volume_path = self.volume_image = self.volume_node = None
        self.model_path = self.card_path = None
        self.card_text, self.task, self.choices = "", None, None
        self.region_point = self.region_node = None
        self.process = self.state = None
        self.comparing = False
        self.method = None
        self.heatmap_node = self.heatmap_image = self.prediction = None
        self.comparison_rows, self.comparison_png = None, None
        self.started_at = self.finished_at = None
        self._added: list[str] = []  # node IDs this case put in the scene (removed when another volume opens)

    # -- the panel's inputs ------------------------------------------------------------------------------
    def open_volume(self, relative: str):
        """Read a volume (file or DICOM folder) under the root into the scene; replaces the previous one."""
        path = self.root.resolve(relative, "volume")
        image = read_image(path, "volume")
        if image.GetDimension() != 3:
            raise SaliencyError(
                f"volume '{relative}' is {image.GetDimension()}D: the web front door shows 3D "
                "volumes; use the CLI (python -m SaliencyExplorerLib explain) for 2D images"
            )
        self.cancel()
        self._clear_scene()
        node = volume_nodes.add_volume_from_image(self.scene, image, stem_of(path))
        self._added.append(node.GetID())
        low, high = default_window(sitk.GetArrayViewFromImage(image))  # the figures' window: anatomy keeps contrast
        node.GetDisplayNode().SetAutoWindowLevel(False)
        node.GetDisplayNode().SetWindowLevelMinMax(low, high)
        self.volume_path, self.volume_image, self.volume_node = path, image, node
        self.region_point = None
        return node

    def open_model(self, relative: str, card_relative: str | None = None) -> dict:
        """A model file or folder under the root (and its card): the layer, method and class lists."""
        path = self.root.resolve(relative, "model")
        card = self.root.resolve(card_relative, "card") if panel.path_or_none(card_relative) else None
        if card is None and path.is_file():
            card = find_card_for(path)
        self.card_text, self.task = self._card_text(path, card)
        self.choices = panel.model_choices(str(path), None if card is None else str(card))
        self.model_path, self.card_path = path, card
        return self.choices

    @staticmethod
    def _card_text(model: Path, card) -> tuple[str, str | None]:
        """The card as JSON text (read-only on the page) and its task; derived for a model folder."""
        if card is not None:
            loaded = load_card(str(card))
        elif model.is_dir():
            from ..models.folders import derive_folder_card  # noqa: PLC0415  (torch: loads only when needed)

            loaded, _notes = derive_folder_card(str(model))
        else:
            return "(no card beside the model: it runs on the volume's own grid)", None
        return json.dumps(card_to_dict(loaded), indent=2), loaded.task

    def set_region_point(self, ras) -> str:
        """A click on a slice view: the predicted component there is the region (segmentation models)."""
        if self.task != "segmentation":
            raise SaliencyError(
                "a click picks a region only for a segmentation model: this model's card says "
                f"'{self.task or 'no task'}'. Explain the whole output instead"
            )
        self.region_point = [round(float(v), 3) for v in ras]
        return "Region: the predicted component at R {:.1f}, A {:.1f}, S {:.1f} mm".format(*self.region_point)

    def open_region(self, relative: str | None):
        """A region volume (label map) under the root for a segmentation model, or None to clear it."""
        if self.region_node is not None and self.region_node.GetScene() is self.scene:
            self.scene.RemoveNode(self.region_node)
        self.region_node = None
        if panel.path_or_none(relative):
            image = read_image(self.root.resolve(relative, "region volume"), "region volume")
            self.region_node = volume_nodes.add_volume_from_image(
                self.scene, image, "region", "vtkMRMLLabelMapVolumeNode"
            )
            self._added.append(self.region_node.GetID())
        return self.region_node

    # -- the run -------------------------------------------------------------------------------------------
    def start(
        self,
        method: str,
        layer: str | None = None,
        target: str | None = None,
        trust_code: bool = False,
        compare: bool = False,
    ):
        """Start the worker (Apply, or Compare methods); the scene is untouched until it finishes."""
        if self.process is not None:
            raise SaliencyError("a run is going: wait for it or Cancel it first")
        ok, why = panel.can_apply(self.volume_node, None if self.model_path is None else str(self.model_path))
        if not ok:
            raise SaliencyError(why)
        options = panel.run_options("", 0, "auto", trust_code)
        if self.region_point is not None:
            options["region_at"] = self.region_point
        common = dict(
            card=None if self.card_path is None else str(self.card_path),
            layers=layer or None,
            target=panel.target_value(target or ""),
            python=self.python,
            image=self.volume_image,
            region_mask_node=self.region_node,
        )
        if compare:
            checks, _region = panel.comparison_options(None)
            self.process = explain_node.start_background(
                self.volume_node, str(self.model_path), compare=True, evaluate=checks, **common, **options
            )
        else:
            self.process = explain_node.start_background(
                self.volume_node, str(self.model_path), method=method, **common, **options
            )
        self.comparing, self.method = compare, method
        self.state = panel.RunState()
        self.started_at, self.finished_at = time.perf_counter(), None
        return self.state

    def poll(self):
        """The run's state (``panel.RunState``); a finished run's result is brought into the scene here."""
        if self.process is None:
            return self.state
        events = self.process.poll()
        self.state.update(events, cancelled=self.process.cancelled)
        if not any(kind == "exit" for kind, _ in events):
            return self.state
        process, self.process = self.process, None
        try:
            if self.state.state == "done":
                self._finish(process)
        except SaliencyError as exc:
            self.state.state, self.state.status, self.state.message = "error", "Failed", str(exc)
        finally:
            process.cleanup()
            self.finished_at = time.perf_counter()
        return self.state

    def wait(self, timeout: float = 600.0, interval: float = 0.1):
        """Poll until the run ends (scripts and tests; the page polls from its own loop)."""
        deadline = time.monotonic() + timeout
        while self.process is not None and time.monotonic() < deadline:
            time.sleep(interval)
            self.poll()
        return self.state

    def cancel(self) -> None:
        """Kill the worker; its job folder goes, nothing reaches the scene (the next poll says 'Cancelled')."""
        if self.process is not None:
            self.process.cancel()

    def _finish(self, process) -> None:
        if self.comparing:
            stored = process.comparison()
            nodes = explain_node.finish_comparison(process, self.volume_node)
            self._added += [n.GetID() for n in nodes["heatmaps"].values()]
            self._added += [nodes[k].GetID() for k in ("table", "chart", "curves")]
            self.comparison_rows = compare_nodes.comparison_of(nodes["table"])["table"]
            self.comparison_png = comparison_picture(self.volume_image, stored)
            self.state.status = panel.comparison_summary(self.comparison_rows)
            return
        image, _record = process.result()
        self.prediction = process.prediction()
        output = self.heatmap_node if panel.output_belongs_to(self.heatmap_node, self.volume_node) else None
        node = explain_node.finish_background(
            process, self.volume_node, output_node=output, color_map=COLOR_MAP, prediction=True, segmentation=True
        )
        if node.GetID() not in self._added:
            self._added.append(node.GetID())
        self.heatmap_node, self.heatmap_image = node, image

    def restyle(self, threshold: float, opacity: float) -> bool:
        """New threshold/opacity on the shown heatmap (slice views; the 3D surface follows the threshold)."""
        if self.heatmap_node is None:
            return False
        heatmap_node.restyle(self.volume_node, self.heatmap_node, COLOR_MAP, threshold, opacity)
        heatmap_node.update_masks(self.heatmap_node, heatmap_node.checked_threshold(threshold), segmentation=True)
        surface = self.heatmap_node.GetNodeReference(heatmap_node.SEGMENTATION_ROLE)
        if surface is not None:  # the 3D view shows the thresholded heatmap as a surface
            surface.CreateClosedSurfaceRepresentation()
        return True

    # -- results -------------------------------------------------------------------------------------------
    def save(self, threshold: float = 0.2) -> list[Path]:
        """Heatmap (the volume's own grid), the model's answer and a figure into ROOT/results/ (new names)."""
        if self.heatmap_image is None:
            raise SaliencyError("nothing to save yet: click Apply and wait for the heatmap")
        stem = f"{stem_of(self.volume_path)}_{self.method}"
        inputs = [p for p in (self.volume_path, self.model_path, self.card_path) if p is not None]
        written = [write_image(self.heatmap_image, self.root.results_path(f"{stem}.nrrd"), inputs, "heatmap")]
        if self.prediction is not None:
            written.append(
                write_image(self.prediction[0], self.root.results_path(f"{stem}_prediction.nrrd"), inputs, "prediction")
            )
        else:
            probabilities = heatmap_node.provenance_of(self.heatmap_node).get("prediction")
            if probabilities:
                written.append(write_text(self.root.results_path(f"{stem}_prediction.json"), probabilities + "\n"))
        figure = overlay_picture(self.volume_image, self.heatmap_image, threshold)
        if figure is not None:
            from ..figures.pictures import save_png  # noqa: PLC0415  (Pillow: optional, only to write)

            written.append(Path(save_png(self.root.results_path(f"{stem}.png"), figure)))
        if self.comparison_png is not None:
            path = self.root.results_path(f"{stem_of(self.volume_path)}_comparison.png")
            with open(path, "xb") as handle:
                handle.write(self.comparison_png)
            written.append(path)
        return written

    def _clear_scene(self) -> None:
        for node_id in reversed(self._added):
            node = self.scene.GetNodeByID(node_id)
            if node is not None:
                for role in (heatmap_node.LABEL_MAP_ROLE, heatmap_node.SEGMENTATION_ROLE):
                    derived = node.GetNodeReference(role)
                    if derived is not None:
                        self.scene.RemoveNode(derived)
                self.scene.RemoveNode(node)
        self._added.clear()
        self.heatmap_node = self.heatmap_image = self.prediction = self.region_node = None
        self.comparison_rows = self.comparison_png = None


def display_arrays(image: sitk.Image, heatmap: sitk.Image):
    """(image, heatmap, spacing) as arrays in LPI order, as the CLI's figures show them."""
    image, heatmap = sitk.DICOMOrient(image, "LPI"), sitk.DICOMOrient(heatmap, "LPI")
    return sitk.GetArrayFromImage(image), sitk.GetArrayFromImage(heatmap), tuple(reversed(image.GetSpacing()))


def overlay_picture(image: sitk.Image, heatmap: sitk.Image, threshold: float):
    """RGB axial slice through the heatmap's peak with its colour bar; None without matplotlib/Pillow."""
    try:
        from ..figures.pictures import slice_overlay  # noqa: PLC0415  (matplotlib: optional)

        array, heat, spacing = display_arrays(image, heatmap)
        return slice_overlay(array, heat, axis=0, colorbar=True, threshold=threshold, spacing=spacing, zoom=3)
    except ImportError:
        return None


def comparison_picture(image: sitk.Image, stored) -> bytes | None:
    """The comparison figure (each method's map on the hottest slice, deletion/insertion curves) as PNG."""
    try:
        from ..figures.compare import comparison_figure  # noqa: PLC0415  (matplotlib: optional)
    except ImportError:
        return None
    maps, array, spacing = {}, None, None
    for name, heat in stored.heatmap_images.items():
        array, maps[name], spacing = display_arrays(image, heat)
    if not maps:
        return None
    figure = comparison_figure(array, maps, stored.comparison.curves, stored.rows, spacing=spacing)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=72)
    return buffer.getvalue()


def peak_ras(heatmap: sitk.Image) -> np.ndarray:
    """RAS (mm) of the heatmap's maximum: where the page's slice views go after a run."""
    array = sitk.GetArrayFromImage(heatmap)
    k, j, i = np.unravel_index(int(np.argmax(array)), array.shape)
    lps = np.asarray(heatmap.TransformIndexToPhysicalPoint((int(i), int(j), int(k))))
    return lps * [-1.0, -1.0, 1.0]
