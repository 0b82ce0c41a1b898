"""Gradient attributions: the target score differentiated with respect to the input (``base.GradientMethod``).

``saliency`` (|gradient|, input x gradient), ``smoothgrad`` (noisy copies averaged),
``integrated_gradients`` (path integral from a baseline), ``guided_backprop`` (ReLU gradients rectified;
guided Grad-CAM). Signed: ``.raw`` keeps the sign.
"""

from . import guided_backprop, integrated_gradients, saliency, smoothgrad  # noqa: F401  (registers the methods)
from .base import GradientMethod

__all__ = ["GradientMethod"]
