"""``explain_volume_node``: a volume node + a model -> a heatmap node beside it, in the same scene.

Why: the Slicer console, batch scripts and the module's logic class all need the same one call. It reads
the node as a SimpleITK image in patient space (``volume_node``), runs the geometry-aware pipeline
(``pipeline.explain_image``: resample to the model grid, explain, resample back onto the source grid) and
writes the result with ``scene.write_heatmap``. No ``qt``; works in Slicer and with ``slicer-core``.

    from SaliencyExplorerLib import explain_volume_node
    heat = explain_volume_node(volumeNode, "model.pt", card="model.json", method="gradcam")
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

from . import __version__, scene, volume_node
from .errors import SaliencyError
from .file_hash import file_sha256

# Options that shape the scene output; every other keyword goes to the pipeline / engine.
SCENE_OPTIONS = ("name", "color_map", "threshold", "label_map", "segmentation", "legend")


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
                        output_node=None, *, evaluate=False, region=None, region_label=None, **options):
    """Explain ``model``'s output on the volume node; returns the heatmap volume node.

    ``model``: a model file path or a loaded ``torch.nn.Module``; ``card``: a model card path, dict or
    ``ModelCard`` (``None``: the card next to the model file, or defaults). Scene keywords: ``name``,
    ``color_map`` ("Inferno"), ``threshold`` (0.2), ``label_map``, ``segmentation``, ``legend``; the rest
    (``device``, ``progress``, ``cancel``, ``batch_size``, method options, ...) go to the pipeline.
    ``region_mask`` may be a label map node on the same grid. The source node is never modified;
    ``output_node`` is overwritten (content only). On any error the scene is left as it was.

    ``evaluate``: ``True`` (the evaluation's defaults) or a dict of checks (``steps``, ``max_layers``,
    ``sanity``, ...) also measures how far to trust the map (``evaluation.volume.evaluate_volume``);
    ``region`` (a label map or segmentation node on any grid, or a SimpleITK label image) adds
    localisation. The report is shown as a table + deletion/insertion chart and stored on the returned
    node: ``scene_metrics.evaluation_of(node)`` gives it back as a dict.
    """
    scene.check_source(volume_node_)
    scene_opts, pipeline_opts = split_options(dict(options))
    mask = pipeline_opts.get("region_mask")
    if mask is not None and hasattr(mask, "GetImageData"):
        pipeline_opts["region_mask"] = volume_node.node_to_image(mask, world=True)
    image = volume_node.node_to_image(volume_node_, world=True)
    if region is not None and hasattr(region, "GetScene"):
        from .scene_metrics import region_image  # noqa: PLC0415

        region = region_image(region, volume_node_)

    result, report = explain_and_evaluate(image, model, card, method, layers, target, evaluate=evaluate,
                                          region=region, region_label=region_label, **pipeline_opts)
    node = write_result(volume_node_, result.heatmap_image, provenance(result, model, card, method),
                        output_node=output_node, **scene_opts)
    show_report(node, report)
    return node


@contextmanager
def _torch_errors():
    """A missing torch and torch's shape errors turned into messages with the fix."""
    try:
        yield
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


def run_pipeline(image, model, card, method, layers, target, **options):
    """``pipeline.explain_image`` with a missing torch and torch's shape errors turned into messages with the fix."""
    with _torch_errors():
        from .pipeline import explain_image  # noqa: PLC0415  (torch is imported only now)

        return explain_image(image, model, card, method=method, layers=layers, target=target, **options)


def explain_and_evaluate(image, model, card, method, layers, target, *, evaluate=False, region=None,
                         region_label=None, **options):
    """(pipeline result, evaluation report or None): the one place the in-process and worker paths share.

    Why load here: the evaluation needs the loaded ``nn.Module`` the map was made with (to perturb its
    input and randomise its layers), so the model is loaded once and handed to both. ``region``: a
    SimpleITK label image on any grid (resampled onto the source grid by nearest neighbour).
    """
    if evaluate is None or evaluate is False:  # an empty dict of checks still means: evaluate
        if region is not None:
            raise SaliencyError("a region is only used by the evaluation: pass evaluate=True (or tick "
                                "'Evaluate' in the panel), or leave the region out")
        return run_pipeline(image, model, card, method, layers, target, **options), None
    checks = {} if evaluate is True else dict(evaluate)
    with _torch_errors():
        module = model
        if not hasattr(model, "parameters"):
            from .models import load_model  # noqa: PLC0415

            loaded = load_model(model, card, trust_pickle=options.get("trust_pickle", False),
                                device=options.get("device"))
            module, card = loaded.module, loaded.card
        result = run_pipeline(image, module, card, method, layers, target, **options)
        from .evaluation.volume import evaluate_volume  # noqa: PLC0415

        checks.setdefault("progress", options.get("progress"))
        checks.setdefault("cancel", options.get("cancel"))
        report = evaluate_volume(result, module, region=region, region_label=region_label,
                                 region_mask=options.get("region_mask"), **checks)
    return result, report


def write_result(source, heatmap_image, provenance_dict, output_node=None, **scene_opts):
    """Write a heatmap image computed on ``source``'s grid into the scene (shared with the worker path)."""
    return scene.write_heatmap(source, heatmap_image, output_node, provenance=provenance_dict, **scene_opts)


def show_report(heatmap_node, report, show_in_layout=False) -> None:
    """Table + chart and the node attribute for an evaluated run; for a plain run, drop an older report."""
    from . import scene_metrics  # noqa: PLC0415

    if report is None:
        scene_metrics.detach_evaluation(heatmap_node)
    else:
        scene_metrics.attach_evaluation(heatmap_node, report, show_in_layout=show_in_layout)


def start_background(volume_node_, model, card=None, method="gradcam", layers=None, target=None, *,
                     folder=None, python=None, region_mask_node=None, evaluate=None, region=None,
                     region_label=None, **pipeline_options):
    """Start a worker process on this volume (the GUI path); returns a ``worker.WorkerProcess``.

    Only plain data crosses over (the volume as NRRD in patient space, paths, JSON options); the scene is
    untouched until :func:`finish_background`, so a cancel or a crash leaves it as it was. ``evaluate``
    (None, True or a dict of checks) and ``region`` (label map / segmentation node) as for
    :func:`explain_volume_node`; the worker stores the report in ``result.json``.
    """
    import tempfile  # noqa: PLC0415

    from . import worker  # noqa: PLC0415

    scene.check_source(volume_node_)
    model_identity(model)  # a missing model file fails here, before a process starts
    image = volume_node.node_to_image(volume_node_, world=True)
    mask = volume_node.node_to_image(region_mask_node, world=True) if region_mask_node is not None else None
    if region is not None and hasattr(region, "GetScene"):
        from .scene_metrics import region_image  # noqa: PLC0415

        region = region_image(region, volume_node_)
    if region is not None and (evaluate is None or evaluate is False):
        raise SaliencyError("a region is only used by the evaluation: tick 'Evaluate' (evaluate=True) or "
                            "clear the region")
    owns_folder = folder is None
    folder = folder or tempfile.mkdtemp(prefix="saliency-job-")
    job = worker.write_job(folder, image, model, card, method, layers, target, pipeline_options, mask,
                           evaluate=evaluate, region=region, region_label=region_label)
    return worker.WorkerProcess(job, python=python, owns_folder=owns_folder)


def finish_background(process, volume_node_, output_node=None, show_in_layout=False, **scene_opts):
    """Bring a finished worker's heatmap into the scene (same writing as the in-process path); when the
    job evaluated the map, its report is shown and stored on the node as in :func:`explain_volume_node`."""
    try:
        image, record = process.result()
        report = process.evaluation()
        node = write_result(volume_node_, image, record, output_node=output_node, **scene_opts)
        show_report(node, report, show_in_layout)
        return node
    finally:
        process.cleanup()
