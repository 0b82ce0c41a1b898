"""Model files into hookable ``nn.Module``s: ``loading`` (the one door: state dict, TorchScript,
``torch.export``, pickle only with trust), ``architectures`` (the network a state dict belongs to, from
the card), ``torchscript`` / ``exported`` / ``taps`` (compiled models made hookable)."""

from .loading import LoadedModel, load_model

__all__ = ["LoadedModel", "load_model"]
