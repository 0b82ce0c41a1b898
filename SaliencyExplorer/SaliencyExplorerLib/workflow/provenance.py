"""How a heatmap was made: method, layers, target, score, peak, model file and its SHA-256, card, version.

Stored as attributes on the heatmap node (in-process path) and in the worker's ``result.json`` (background
path), so both record the same thing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import SaliencyError
from ..file_hash import model_sha256
from ..version import __version__


def model_identity(model) -> tuple[str, str]:
    """(description, SHA-256) of a model path, or of an in-memory model ("", its class name)."""
    if isinstance(model, (str, os.PathLike)):
        path = Path(model)
        if not path.exists():
            raise SaliencyError(
                f"model '{path}' does not exist: pick the model file (.pt, .pth, .ts, .pt2) or "
                "model folder (nnU-Net, MONAI bundle)"
            )
        return str(path), model_sha256(path)
    return f"<in-memory {type(model).__name__}>", ""


def card_identity(card) -> str:
    if card is None:
        return ""
    if isinstance(card, (str, os.PathLike)):
        return str(card)
    return getattr(card, "path", None) and str(card.path) or "<in-memory card>"


def provenance(result, model, card, method, trust_code=False) -> dict:
    """The attributes that say how a heatmap was made (stored on the node, also by the worker path)."""
    model_name, sha = model_identity(model)
    explanation = getattr(result, "explanation", None)
    record = {
        "method": getattr(explanation, "method", None) or method,
        "layers": list(getattr(explanation, "layers", None) or []),
        "target": getattr(result, "target_index", None),
        "targetName": getattr(result, "target_name", None),
        "score": getattr(result, "score", None),
        "peakRAS": ",".join(f"{v:.3f}" for v in result.peak_ras)
        if getattr(result, "peak_ras", None) is not None
        else None,
        "model": model_name,
        "modelSHA256": sha,
        "card": card_identity(card),
        "version": __version__,
        "trustCode": "true" if trust_code else "false",  # whether code from the model/card was allowed to run
        # a classification model's own answer, {class: probability} as JSON (segmentation: a node of its own)
        "prediction": (
            json.dumps({k: round(float(v), 6) for k, v in scores.items()})
            if (scores := getattr(result, "prediction_scores", None))
            else None
        ),
        # what the user must know about this map (an empty prediction explained over the whole image, ...)
        "warnings": json.dumps(list(warnings)) if (warnings := getattr(result, "warnings", None)) else None,
    }
    return {k: v for k, v in record.items() if v not in (None, "", [])}
