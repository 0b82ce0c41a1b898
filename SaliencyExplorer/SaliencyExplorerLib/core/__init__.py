"""The engine: ``explain()`` and what every method uses to run one explanation.

``engine`` (explain, input checks, upsampling and normalisation of the result), ``run`` (``ExplainRun``:
what a method may use), ``result`` (``Explanation``), ``method`` (the method contract and registry),
``hooks`` (layer capture, always removed), ``layers`` (names, defaults, ``list_layers``), ``targets``
(what is explained), ``tokens`` (transformer token grids), ``maps`` (upsampling, normalisation),
``batching`` (memory-bounded batches, progress, cancel), ``model_guard`` (the model left as it was),
``options`` (method options from text). Needs torch (but ``options`` does not, so this file imports
nothing at import time: the Slicer panel reads options before PyTorch is installed).
"""

_PUBLIC = {
    "explain": "engine",
    "list_layers": "layers",
    "Explanation": "result",
    "Method": "method",
    "MethodOutput": "method",
    "available_methods": "method",
    "get_method": "method",
    "register": "method",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name):
    if name not in _PUBLIC:
        raise AttributeError(name)
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{_PUBLIC[name]}"), name)
