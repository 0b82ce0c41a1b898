"""Pictures of heatmaps over images: ``pictures`` (overlays, montages, GIFs; the only matplotlib user)
and ``tensorboard`` (the same as TensorBoard summaries)."""

from .pictures import montage, save_gif, save_montage, save_png, save_slice, slice_overlay

__all__ = ["montage", "save_gif", "save_montage", "save_png", "save_slice", "slice_overlay"]
