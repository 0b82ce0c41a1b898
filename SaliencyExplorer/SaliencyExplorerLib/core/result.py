"""The result of an explanation: maps, what was explained, and how (provenance for the user and the scene)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Explanation:
    r"""The result of ``explain()``: ``heatmap`` (N, *spatial) in [0, 1] at the input's size, ``raw`` before
    scaling (signed for gradient maps), the class explained per sample, the model's scores, and how the map
    was made (method, layers, options, passes, seconds, warnings)."""

    heatmap: np.ndarray  # float32 (N, *spatial) in [0, 1], 1 = most important
    raw: np.ndarray  # float32 (N, *spatial), before normalisation
    target: list  # class explained per sample (None for a callable target)
    scores: np.ndarray  # the model's output for the unperturbed input
    method: str = ""
    signed: bool = False  # the map keeps its sign: .heatmap is |raw| / max |raw| (else min-max)
    layers: list = field(default_factory=list)
    options: dict = field(default_factory=dict)
    extras: dict = field(default_factory=dict)  # method-specific arrays (attributions, per-class maps)
    warnings: list = field(default_factory=list)
    # {"forward": rows the whole model ran on, "backward": rows back-propagated, "tail": rows of model calls that
    # ran only the layers after the CAM layer (sliding windows replaying the clean pass's stored outputs)}
    passes: dict = field(default_factory=dict)
    seconds: float = 0.0
    output_activation: str | None = None  # how scores become probabilities ("auto" resolved), None: unknown

    @property
    def target_scores(self) -> list:
        """The explained class's output value per sample (classification outputs)."""
        if self.scores.ndim != 2:
            return [None] * len(self.target)
        return [float(self.scores[i, t]) if t is not None else None for i, t in enumerate(self.target)]
