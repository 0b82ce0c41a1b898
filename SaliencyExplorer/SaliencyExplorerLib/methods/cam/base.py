"""The shared shape of every class activation map: weigh a layer's channels, sum them, combine layers.

A CAM method only says how it weighs the activations (`weighted`); this base captures the activations
(and gradients when the method needs them), applies `eigen_smooth` (first principal component of the
weighted activations instead of their sum) and aggregates several layers.
"""

from __future__ import annotations

import abc

import torch

from ...core.maps import normalise, upsample
from ...core.method import Method


def first_component(weighted: torch.Tensor) -> torch.Tensor:
    """Per sample, the projection of (C, *grid) activations on their first principal component.

    The sign of a principal component is arbitrary; it is chosen so that the map correlates positively
    with the plain channel sum, which keeps "high = important".
    """
    n, c = weighted.shape[:2]
    grid = weighted.shape[2:]
    maps = []
    for sample in weighted.reshape(n, c, -1):
        points = sample.T.double()  # (P, C)
        centred = points - points.mean(0, keepdim=True)
        _, _, vh = torch.linalg.svd(centred, full_matrices=False)
        projection = centred @ vh[0]
        reference = points.sum(1)
        if torch.dot(projection - projection.mean(), reference - reference.mean()) < 0:
            projection = -projection
        maps.append(projection.float())
    return torch.stack(maps).reshape(n, *grid)


class CamMethod(Method):
    r"""The CAM family's base: a subclass says how it weighs a layer's activations :math:`A` (and gradients
    :math:`G`) in ``weighted``; the map is the sum over channels (or, with ``eigen_smooth``, their first
    principal component); several layers are each rectified, scaled to [0, 1] and averaged."""

    kind = "cam"
    uses_layers = True
    needs_gradients = True
    window_combine = "blend"

    replays_layer = True  # under sliding windows, activations_and_gradients may come from the clean pass
    principal_component = False  # True: the map is always the first component (Eigen-CAM family)

    @abc.abstractmethod
    def weighted(self, activations: torch.Tensor, gradients, run) -> torch.Tensor:
        """(N, C, *grid) channel contributions whose sum over C is the map."""

    def layer_map(self, activations, gradients, run) -> torch.Tensor:
        weighted = self.weighted(activations, gradients, run)
        if self.principal_component or run.eigen_smooth:
            return first_component(weighted)
        return weighted.sum(1)

    def layer_data(self, run):
        return run.activations_and_gradients(need_grad=self.needs_gradients)

    layer: str | None = None  # the layer being weighed now (Ablation-CAM zeroes channels of this one only)

    def compute(self, run):
        maps = []
        for name, activations, gradients in self.layer_data(run):
            self.layer = name
            maps.append(self.layer_map(activations, gradients, run))
        if len(maps) == 1:
            return maps[0]
        # Several layers: each map rectified at its own resolution (as for one layer), brought to the
        # input's size and scaled to [0, 1] so that no layer dominates by its units, then averaged.
        scaled = []
        for layer_map in maps:
            layer_map = layer_map.clamp_min(0) if run.relu else layer_map
            scaled.append(normalise(upsample(layer_map, run.spatial_shape)))
        return torch.stack(scaled).mean(0)


def spatial_mean(t: torch.Tensor) -> torch.Tensor:
    """Mean over the spatial axes, shaped to broadcast against (N, C, *grid)."""
    return t.flatten(2).mean(2).reshape(*t.shape[:2], *([1] * (t.dim() - 2)))


def spatial_sum(t: torch.Tensor) -> torch.Tensor:
    return t.flatten(2).sum(2).reshape(*t.shape[:2], *([1] * (t.dim() - 2)))
