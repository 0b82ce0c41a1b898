"""Fixtures shared by the whole suite.

The test tree mirrors the library (``Testing/<subpackage>/test_<module>.py``); helper models and phantom
builders live in the ``helpers`` package (``from helpers.engine_models import SmallCNN``), importable
because ``pyproject.toml`` puts ``Testing`` on the path. Fixtures used by one folder only live in that
folder's ``conftest.py``.
"""

from __future__ import annotations

import pytest


@pytest.fixture
def mrml():
    """A fresh headless Slicer session (``.scene``, ``.logic(name)``), closed after the test.

    Real MRML from ``slicer-core``; a test that asks for it is skipped where slicer-core is missing.
    """
    pytest.importorskip("slicer", reason="slicer-core is needed: pip install slicer-core")
    import vtk
    from SaliencyExplorerLib.mrml import module_logics

    vtk.vtkObject.GlobalWarningDisplayOff()
    session = module_logics.start_headless()
    yield session
    session.close()
