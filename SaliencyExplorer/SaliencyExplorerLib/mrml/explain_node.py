"""``explain_volume_node``: a volume node + a model -> a heatmap node beside it, in the same scene.

Why: the Slicer console, batch scripts and the module's logic class all need the same one call. It reads
the node as a SimpleITK image in patient space (``volume_nodes``), runs the geometry-aware pipeline
(``explain_image.explain_image``: resample to the model grid, explain, resample back onto the source grid) and
writes the result with ``heatmap_node.write_heatmap``. No ``qt``; works in Slicer and with ``slicer-core``.

    from SaliencyExplorerLib import explain_volume_node
    heat = explain_volume_node(volumeNode, "model.pt", card="model.json", method="gradcam")
"""

from __future__ import annotations

import shutil
import tempfile

from ..card import load_card
from ..core.options import DEFAULT_METHOD
from ..errors import SaliencyError
from ..workflow import worker
from ..workflow.explain_and_evaluate import explain_and_evaluate, trusted
from ..workflow.provenance import model_identity, provenance
from . import evaluation_nodes, heatmap_node, prediction_node, volume_nodes
from .compare_nodes import show_comparison
from .evaluation_nodes import region_image
from .rollback import undone_on_error

# Options that shape the scene output; every other keyword goes to the pipeline / engine.
SCENE_OPTIONS = ("name", "color_map", "threshold", "label_map", "segmentation", "legend")


def split_options(options: dict) -> tuple[dict, dict]:
    """(scene options, pipeline options) out of one keyword dictionary."""
    scene_opts = {k: options.pop(k) for k in list(options) if k in SCENE_OPTIONS}
    return scene_opts, options


def explain_volume_node(
    volume_node_,
    model,
    card=None,
    method=DEFAULT_METHOD,
    layers=None,
    target=None,
    output_node=None,
    *,
    evaluate=False,
    region=None,
    region_label=None,
    prediction=False,
    **options,
):
    """Explain ``model``'s output on the volume node; returns the heatmap volume node.

    ``model``: a model file path or a loaded ``torch.nn.Module``; ``card``: a model card path, dict or
    ``ModelCard`` (``None``: the card next to the model file, or defaults). Scene keywords: ``name``,
    ``color_map`` ("Inferno"), ``threshold`` (0.2), ``label_map``, ``segmentation``, ``legend``; the rest
    (``device``, ``progress``, ``cancel``, ``batch_size``, method options, ...) go to the pipeline.
    ``region_mask`` may be a label map node on the same grid. The source node is never modified;
    ``output_node`` must be a heatmap this tool made for the same volume (anything else is refused) and
    is overwritten (content only). On any error the scene is left as it was. ``trust_code=True`` allows
    a model file or card that runs code (see ``models.loading.load_model``).

    ``evaluate``: ``True`` (the evaluation's defaults) or a dict of checks (``steps``, ``max_layers``,
    ``sanity``, ...) also measures how far to trust the map (``evaluation.volume.evaluate_volume``);
    ``region`` (a label map or segmentation node on any grid, or a SimpleITK label image) adds
    localisation. The report is shown as a table + deletion/insertion chart and stored on the returned
    node: ``evaluation_nodes.evaluation_of(node)`` gives it back as a dict.

    ``prediction=True`` also shows the model's own answer: for segmentation a segmentation node (one
    segment per class, named from the card; ``prediction_node.write_prediction``) in the heatmap's
    subject-hierarchy folder, reused on a re-run for the same volume. A classification model's
    probabilities are always stored on the heatmap node (attribute ``SaliencyExplorer.prediction``, JSON).
    """
    heatmap_node.check_source(volume_node_)
    scene_opts, pipeline_opts = split_options(dict(options))
    heatmap_node._check_output(volume_node_, output_node)  # before the long run, not after it
    mask = pipeline_opts.get("region_mask")
    if mask is not None and hasattr(mask, "GetImageData"):
        pipeline_opts["region_mask"] = volume_nodes.node_to_image(mask, world=True)
    image = volume_nodes.node_to_image(volume_node_, world=True)
    if region is not None and hasattr(region, "GetScene"):
        region = region_image(region, volume_node_)

    result, report = explain_and_evaluate(
        image,
        model,
        card,
        method,
        layers,
        target,
        evaluate=evaluate,
        region=region,
        region_label=region_label,
        **pipeline_opts,
    )
    with undone_on_error(volume_node_.GetScene()):  # any error below: the nodes it added are removed
        node = write_result(
            volume_node_,
            result.heatmap_image,
            provenance(result, model, card, method, trusted(pipeline_opts)),
            output_node=output_node,
            **scene_opts,
        )
        show_report(node, report)
        if prediction and result.prediction_image is not None:
            prediction_node.write_prediction(
                volume_node_, result.prediction_image, result.prediction_labels(), beside=node
            )
    return node


def write_result(source, heatmap_image, provenance_dict, output_node=None, **scene_opts):
    """Write a heatmap image computed on ``source``'s grid into the scene (shared with the worker path)."""
    return heatmap_node.write_heatmap(source, heatmap_image, output_node, provenance=provenance_dict, **scene_opts)


def show_report(heatmap_node, report, show_in_layout=False) -> None:
    """Table + chart and the node attribute for an evaluated run; for a plain run, drop an older report."""
    if report is None:
        evaluation_nodes.detach_evaluation(heatmap_node)
    else:
        evaluation_nodes.attach_evaluation(heatmap_node, report, show_in_layout=show_in_layout)


def start_background(
    volume_node_,
    model,
    card=None,
    method=DEFAULT_METHOD,
    layers=None,
    target=None,
    *,
    folder=None,
    python=None,
    region_mask_node=None,
    evaluate=None,
    region=None,
    region_label=None,
    compare=None,
    image=None,
    **pipeline_options,
):
    """Start a worker process on this volume (the GUI path); returns a ``worker.WorkerProcess``.

    Only plain data crosses over (the volume as NRRD in patient space, paths, JSON options); the scene is
    untouched until :func:`finish_background` (or :func:`finish_comparison`), so a cancel or a crash leaves
    it as it was. ``evaluate`` (None, True or a dict of checks) and ``region`` (label map / segmentation
    node) as for :func:`explain_volume_node`; the worker stores the report in ``result.json``.
    ``compare``: True (the default set of methods) or a list of names ranks methods instead of explaining
    ``method`` (``compare_volume_node`` in the background); ``evaluate`` then holds its checks.
    ``image``: the node's voxels as read from its file (SimpleITK), sent instead of the node's copy so that
    the heatmap comes back on the file's own voxel grid, as the CLI's (the web front door passes it).
    """
    heatmap_node.check_source(volume_node_)
    model_identity(model)  # a missing model file fails here, before a process starts
    _check_region_mask_task(card, model, region_mask_node)
    image = volume_nodes.node_to_image(volume_node_, world=True) if image is None else image
    mask = volume_nodes.node_to_image(region_mask_node, world=True) if region_mask_node is not None else None
    if region is not None and hasattr(region, "GetScene"):
        region = region_image(region, volume_node_)
    if region is not None and (evaluate is None or evaluate is False) and not compare:
        raise SaliencyError(
            "a region is only used by the evaluation: tick 'Evaluate' (evaluate=True) or clear the region"
        )
    owns_folder = folder is None
    folder = folder or tempfile.mkdtemp(prefix="saliency-job-")
    try:
        job = worker.write_job(
            folder,
            image,
            model,
            card,
            method,
            layers,
            target,
            pipeline_options,
            mask,
            evaluate=evaluate,
            region=region,
            region_label=region_label,
            compare=compare,
        )
        process = worker.WorkerProcess(job, python=python, owns_folder=owns_folder)
    except BaseException:
        if owns_folder:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    # the result belongs to the volume explained now, whatever the panel shows when it finishes
    process.source_node_id, process.source_name = volume_node_.GetID(), volume_node_.GetName()
    process.scene = volume_node_.GetScene()
    return process


def finish_background(
    process, volume_node_=None, output_node=None, show_in_layout=False, prediction=False, **scene_opts
):
    """Bring a finished worker's heatmap into the scene (same writing as the in-process path); when the
    job evaluated the map, its report is shown and stored on the node as in :func:`explain_volume_node`;
    ``prediction=True`` adds the model's label map (``prediction.nrrd`` from the worker) as a segmentation.

    The heatmap goes to the volume the run explained (remembered at start), not to whatever
    ``volume_node_`` is selected now; if that volume was deleted meanwhile nothing is added.
    """
    try:
        source = _explained_source(process, volume_node_)
        image, record = process.result()
        report = process.evaluation()
        answer = process.prediction() if prediction else None
        with undone_on_error(source.GetScene()):
            node = write_result(source, image, record, output_node=output_node, **scene_opts)
            show_report(node, report, show_in_layout)
            if answer is not None:  # the worker wrote the model's label map beside the heatmap
                prediction_node.write_prediction(source, answer[0], answer[1], beside=node)
        return node
    finally:
        process.cleanup()


def finish_comparison(process, volume_node_=None, threshold: float = 0.2, show_in_layout=False) -> dict:
    """Bring a finished compare job into the scene beside the volume it compared (as
    ``compare_volume_node`` does in-process); returns the nodes made. Nothing is added if that volume left."""
    try:
        source = _explained_source(process, volume_node_)
        comparison = process.comparison()
        with undone_on_error(source.GetScene()):
            return show_comparison(source, comparison, threshold=threshold, show_in_layout=show_in_layout)
    finally:
        process.cleanup()


def _explained_source(process, volume_node_):
    """The volume node a background run explained; a clear error if it left the scene meanwhile."""
    source_id = getattr(process, "source_node_id", None)
    if source_id is None:  # a process started by hand: trust the caller
        return volume_node_
    scene = getattr(process, "scene", None) or (volume_node_.GetScene() if volume_node_ is not None else None)
    source = scene.GetNodeByID(source_id) if scene is not None else None
    if source is None or (volume_node_ is not None and volume_node_.GetScene() is not scene):
        raise SaliencyError(
            f"the volume '{process.source_name}' that was explained was deleted while the run "
            "was going: no heatmap was added. Load it again and re-run"
        )
    return source


def _check_region_mask_task(card, model, region_mask) -> None:
    """A region mask only means something for segmentation: refuse it for a classification card."""
    if region_mask is None or card is None:
        return

    task = load_card(card).task
    if task != "segmentation":
        raise SaliencyError(
            f"a region mask selects voxels of a segmentation output, but the card's task is "
            f"'{task}': it would be ignored. Leave the region mask out, or use a segmentation card"
        )


def explained_volume(process, selected=None):
    """The volume node a background run explained (remembered at start); SaliencyError if it was deleted."""
    return _explained_source(process, selected)
