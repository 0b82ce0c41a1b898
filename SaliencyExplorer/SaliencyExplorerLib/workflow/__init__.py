"""Whole runs on volumes, without Slicer: ``explain_image`` (image + model + card -> heatmap on the
image's own grid), ``explain_and_evaluate`` (the same plus the trust checks, one model load),
``provenance`` (how a heatmap was made), ``worker`` (the background process the panel starts)."""

__all__ = ["explain_image"]


def __getattr__(name):  # explain_image needs torch; keep `import ...workflow.worker` light
    if name == "explain_image":
        from .explain_image import explain_image

        return explain_image
    raise AttributeError(name)
