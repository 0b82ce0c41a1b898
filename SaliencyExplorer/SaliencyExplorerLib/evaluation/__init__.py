"""How far to trust a heatmap: faithfulness (deletion/insertion), model randomisation, localisation.

All functions work on the model's own grid: a model, an input tensor (N, C, *spatial), a map (N, *spatial)
and a target, so they apply to any explanation, from this library or elsewhere.
"""

from .compare import Comparison, compare_methods, faithfulness_score
from .faithfulness import FaithfulnessResult, deletion_curve, faithfulness, insertion_curve
from .localisation import energy_fraction, pointing_game
from .ranks import spearman
from .report import evaluate_explanation, json_safe, localisation_report
from .sanity import SanityResult, foreground_mask, randomisable_layers, sanity_check

__all__ = [
    "Comparison",
    "compare_methods",
    "faithfulness_score",
    "foreground_mask",
    "FaithfulnessResult",
    "SanityResult",
    "deletion_curve",
    "energy_fraction",
    "evaluate_explanation",
    "faithfulness",
    "json_safe",
    "localisation_report",
    "insertion_curve",
    "pointing_game",
    "randomisable_layers",
    "sanity_check",
    "spearman",
]
