"""Volumes in patient space: ``geometry`` (the model grid, one resampling there and one back),
``intensity`` (the card's normalisation), ``image_files`` (reading NRRD/NIfTI/MHA/DICOM, writing
without touching an input). SimpleITK and numpy; no torch at import."""

from .geometry import ModelInput, heatmap_to_native, to_model
from .image_files import read_image, write_image

__all__ = ["ModelInput", "heatmap_to_native", "read_image", "to_model", "write_image"]
