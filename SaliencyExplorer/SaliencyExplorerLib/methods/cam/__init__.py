"""Class activation maps: a layer's channels weighed and summed (``base.CamMethod``).

``gradient_cams``: weights from gradients (Grad-CAM, Grad-CAM++, XGrad-CAM, HiResCAM, LayerCAM) or from
principal components (Eigen-CAM, Eigen-Grad-CAM) or the classifier (CAM); ``scorecam`` and ``ablationcam``
weigh channels by how the score changes when the input is masked by / the layer loses each channel
(``perturbed_base``).
"""

from . import ablationcam, gradient_cams, scorecam  # noqa: F401  (registers the methods)
from .base import CamMethod

__all__ = ["CamMethod"]
