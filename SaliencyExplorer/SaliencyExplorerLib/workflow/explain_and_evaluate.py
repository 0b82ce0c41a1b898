"""``explain_and_evaluate``: one volume explained and, when asked, its map checked, with one model load.

Why here: the in-process Slicer path, the worker process and the CLI's evaluate share it, so torch's
errors get the same messages everywhere (a missing torch, a model that does not fit its card).
"""

from __future__ import annotations

from contextlib import contextmanager

from ..core.resources import is_out_of_memory, out_of_memory_error
from ..errors import SaliencyError
from .explain_image import explain_image


@contextmanager
def _torch_errors():
    """A missing torch and torch's shape errors turned into messages with the fix."""
    try:
        yield
    except ImportError as exc:
        if (exc.name or "").split(".")[0] != "torch":
            raise
        raise SaliencyError(
            "PyTorch is not installed: in Slicer install the 'PyTorch' extension (the module "
            "offers to), elsewhere `pip install torch`"
        ) from exc
    except (RuntimeError, MemoryError) as exc:  # torch's way of saying the input does not fit the model
        if is_out_of_memory(exc):  # not the card's fault: say so, with --batch-size as the fix
            raise out_of_memory_error(exc) from None
        if isinstance(exc, MemoryError):
            raise
        from ..core.model_call import short_reason  # noqa: PLC0415  (torch: lazy for the Slicer side and CLI)

        raise SaliencyError(
            f"the model failed on this volume ({short_reason(exc)}). Check that the model card matches the model "
            "(spatial_dims 2 or 3, in_channels, input size) and pick the card in the panel / pass card=."
        ) from exc


def trusted(options: dict) -> bool:
    """The one opt-in, under either name (``trust_code``, or its alias ``trust_pickle``)."""
    return bool(options.get("trust_code") or options.get("trust_pickle"))


def run_pipeline(image, model, card, method, layers, target, **options):
    """``explain_image.explain_image`` with a missing torch and torch's shape errors turned into messages with the fix."""
    with _torch_errors():
        return explain_image(image, model, card, method=method, layers=layers, target=target, **options)


def explain_and_evaluate(
    image, model, card, method, layers, target, *, evaluate=False, region=None, region_label=None, **options
):
    """(pipeline result, evaluation report or None): the one place the in-process and worker paths share.

    Why load here: the evaluation needs the loaded ``nn.Module`` the map was made with (to perturb its
    input and randomise its layers), so the model is loaded once and handed to both. ``region``: a
    SimpleITK label image on any grid (resampled onto the source grid by nearest neighbour).
    """
    if evaluate is None or evaluate is False:  # an empty dict of checks still means: evaluate
        if region is not None:
            raise SaliencyError(
                "a region is only used by the evaluation: pass evaluate=True (or tick "
                "'Evaluate' in the panel), or leave the region out"
            )
        return run_pipeline(image, model, card, method, layers, target, **options), None
    checks = {} if evaluate is True else dict(evaluate)
    with _torch_errors():
        from ..models.loading import resolve_model  # noqa: PLC0415  (torch: lazy for the Slicer side and CLI)

        module, card = resolve_model(model, card, options.get("device"), trust_code=trusted(options))
        result = run_pipeline(image, module, card, method, layers, target, **options)
        from ..evaluation.volume import evaluate_volume  # noqa: PLC0415  (torch: lazy for the Slicer side and CLI)

        checks.setdefault("progress", options.get("progress"))
        checks.setdefault("cancel", options.get("cancel"))
        report = evaluate_volume(
            result, module, region=region, region_label=region_label, region_mask=options.get("region_mask"), **checks
        )
    return result, report
