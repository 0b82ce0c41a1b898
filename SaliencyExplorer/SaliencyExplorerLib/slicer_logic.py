"""``explain_volume_node``: a volume node + a model -> a heatmap node beside it, in the same scene.

Why: the Slicer console, batch scripts and the module's logic class all need the same one call. It reads
the node as a SimpleITK image in patient space (``volume_node``), runs the geometry-aware pipeline
(``pipeline.explain_image``: resample to the model grid, explain, resample back onto the source grid) and
writes the result with ``scene.write_heatmap``. No ``qt``; works in Slicer and with ``slicer-core``.

    from SaliencyExplorerLib import explain_volume_node
    heat = explain_volume_node(volumeNode, "model.pt", card="model.json", method="gradcam")
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from . import __version__, scene, volume_node
from .errors import SaliencyError

# Options that shape the scene output; every other keyword goes to the pipeline / engine.
SCENE_OPTIONS = ("name", "color_map", "threshold", "label_map", "segmentation", "legend")


def file_sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_identity(model) -> tuple[str, str]:
    """(description, SHA-256) of a model path, or of an in-memory model ("", its class name)."""
    if isinstance(model, (str, os.PathLike)):
        path = Path(model)
        if not path.is_file():
            raise SaliencyError(f"model file '{path}' does not exist: pick the model file (.pt, .pth, .ts)")
        return str(path), file_sha256(path)
    return f"<in-memory {type(model).__name__}>", ""


def card_identity(card) -> str:
    if card is None:
        return ""
    if isinstance(card, (str, os.PathLike)):
        return str(card)
    return getattr(card, "path", None) and str(card.path) or "<in-memory card>"


def provenance(result, model, card, method) -> dict:
    """The attributes that say how a heatmap was made (stored on the node, also by the worker path)."""
    model_name, sha = model_identity(model)
    explanation = getattr(result, "explanation", None)
    record = {
        "method": getattr(explanation, "method", None) or method,
        "layers": list(getattr(explanation, "layers", None) or []),
        "target": getattr(result, "target_index", None),
        "targetName": getattr(result, "target_name", None),
        "score": getattr(result, "score", None),
        "peakRAS": ",".join(f"{v:.3f}" for v in result.peak_ras) if getattr(result, "peak_ras", None) is not None else None,
        "model": model_name,
        "modelSHA256": sha,
        "card": card_identity(card),
        "version": __version__,
    }
    return {k: v for k, v in record.items() if v not in (None, "", [])}


def split_options(options: dict) -> tuple[dict, dict]:
    """(scene options, pipeline options) out of one keyword dictionary."""
    scene_opts = {k: options.pop(k) for k in list(options) if k in SCENE_OPTIONS}
    return scene_opts, options


def explain_volume_node(volume_node_, model, card=None, method="gradcam", layers=None, target=None,
                        output_node=None, **options):
    """Explain ``model``'s output on the volume node; returns the heatmap volume node.

    ``model``: a model file path or a loaded ``torch.nn.Module``; ``card``: a model card path, dict or
    ``ModelCard`` (``None``: the card next to the model file, or defaults). Scene keywords: ``name``,
    ``color_map`` ("Inferno"), ``threshold`` (0.2), ``label_map``, ``segmentation``, ``legend``; the rest
    (``device``, ``progress``, ``cancel``, ``batch_size``, method options, ...) go to the pipeline.
    ``region_mask`` may be a label map node on the same grid. The source node is never modified;
    ``output_node`` is overwritten (content only). On any error the scene is left as it was.
    """
    scene.check_source(volume_node_)
    scene_opts, pipeline_opts = split_options(dict(options))
    mask = pipeline_opts.get("region_mask")
    if mask is not None and hasattr(mask, "GetImageData"):
        pipeline_opts["region_mask"] = volume_node.node_to_image(mask, world=True)
    image = volume_node.node_to_image(volume_node_, world=True)

    result = run_pipeline(image, model, card, method, layers, target, **pipeline_opts)
    return write_result(volume_node_, result.heatmap_image, provenance(result, model, card, method),
                        output_node=output_node, **scene_opts)


def run_pipeline(image, model, card, method, layers, target, **options):
    """``pipeline.explain_image`` with a missing torch and torch's shape errors turned into messages with the fix."""
    try:
        from .pipeline import explain_image  # noqa: PLC0415  (torch is imported only now)

        return explain_image(image, model, card, method=method, layers=layers, target=target, **options)
    except ImportError as exc:
        if (exc.name or "").split(".")[0] != "torch":
            raise
        raise SaliencyError("PyTorch is not installed: in Slicer install the 'PyTorch' extension (the module "
                            "offers to), elsewhere `pip install torch`") from exc
    except RuntimeError as exc:  # torch's way of saying the input does not fit the model
        raise SaliencyError(
            f"the model failed on this volume ({exc}). Check that the model card matches the model "
            "(spatial_dims 2 or 3, in_channels, input size) and pick the card in the panel / pass card=."
        ) from exc


def write_result(source, heatmap_image, provenance_dict, output_node=None, **scene_opts):
    """Write a heatmap image computed on ``source``'s grid into the scene (shared with the worker path)."""
    return scene.write_heatmap(source, heatmap_image, output_node, provenance=provenance_dict, **scene_opts)


def start_background(volume_node_, model, card=None, method="gradcam", layers=None, target=None, *,
                     folder=None, python=None, region_mask_node=None, **pipeline_options):
    """Start a worker process on this volume (the GUI path); returns a ``worker.WorkerProcess``.

    Only plain data crosses over (the volume as NRRD in patient space, paths, JSON options); the scene is
    untouched until :func:`finish_background`, so a cancel or a crash leaves it as it was.
    """
    import tempfile  # noqa: PLC0415

    from . import worker  # noqa: PLC0415

    scene.check_source(volume_node_)
    model_identity(model)  # a missing model file fails here, before a process starts
    image = volume_node.node_to_image(volume_node_, world=True)
    mask = volume_node.node_to_image(region_mask_node, world=True) if region_mask_node is not None else None
    owns_folder = folder is None
    folder = folder or tempfile.mkdtemp(prefix="saliency-job-")
    job = worker.write_job(folder, image, model, card, method, layers, target, pipeline_options, mask)
    return worker.WorkerProcess(job, python=python, owns_folder=owns_folder)


def finish_background(process, volume_node_, output_node=None, **scene_opts):
    """Bring a finished worker's heatmap into the scene (same writing as the in-process path)."""
    try:
        image, record = process.result()
        return write_result(volume_node_, image, record, output_node=output_node, **scene_opts)
    finally:
        process.cleanup()
