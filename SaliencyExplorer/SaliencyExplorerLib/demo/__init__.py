"""The embedded demo: ``network`` (the lesion classifier), ``phantoms`` (synthetic CT-like volumes with a
lesion at a known physical point, in any geometry), ``data`` (training cases), ``job`` (``run_demo``)."""

__all__ = ["run_demo"]


def __getattr__(name):
    if name == "run_demo":
        from .job import run_demo

        return run_demo
    raise AttributeError(name)
