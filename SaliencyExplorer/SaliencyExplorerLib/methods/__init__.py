"""The explanation methods, one small registered class each, in three families.

``cam/`` weighs a layer's channels (Grad-CAM and its kin), ``gradient/`` differentiates the target score
with respect to the input, ``perturbation/`` changes the input and watches the score. Importing this
package imports every family so that each method registers itself with ``core.method.register``; the
contract (``Method``, ``MethodOutput``) and the lookup (``get_method``, ``available_methods``) live in
``core/method.py`` and are re-exported here.
"""

from ..core.method import Method, MethodOutput, available_methods, get_method, register
from . import cam, gradient, perturbation  # noqa: F401  (registers every method)

__all__ = ["Method", "MethodOutput", "available_methods", "get_method", "register"]
