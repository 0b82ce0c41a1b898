"""Slicer's module logics for a scene, built headless exactly as the application wires them.

Truth: the real logics of slicer-core: a session's logic is found from its scene, a scene without a
session is refused with the fix.
"""

from __future__ import annotations

import pytest
from SaliencyExplorerLib.errors import SaliencyError
from SaliencyExplorerLib.mrml import module_logics

pytest.importorskip("slicer", reason="slicer-core is needed: pip install slicer-core")


def test_module_logic_outside_a_session_names_the_fix():
    import slicer
    from SaliencyExplorerLib.mrml import module_logics

    with pytest.raises(SaliencyError, match="start_headless"):
        module_logics.module_logic("Colors", slicer.vtkMRMLScene())


def test_a_session_has_its_logics_and_module_logic_finds_them_by_scene(mrml):
    assert not module_logics.in_application()
    for name, class_name in (
        ("Colors", "vtkSlicerColorLogic"),
        ("Volumes", "vtkSlicerVolumesLogic"),
        ("SubjectHierarchy", "vtkSlicerSubjectHierarchyModuleLogic"),
    ):
        logic = mrml.logic(name)
        assert logic.IsA(class_name) and logic.GetMRMLScene() is mrml.scene
        assert module_logics.module_logic(name, mrml.scene) is logic
    assert module_logics.module_logic("Volumes") is mrml.logic("Volumes")  # the latest session
    import slicer

    assert slicer.mrmlScene is mrml.scene  # slicer.util helpers look there


def test_a_closed_session_is_forgotten():
    session = module_logics.start_headless()
    scene = session.scene
    session.close()
    with pytest.raises(SaliencyError, match="no Slicer 'Colors' module logic"):
        module_logics.module_logic("Colors", scene)


def test_home_dir_outside_the_application_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("SLICER_HOME", "/opt/Slicer-5.12")
    assert module_logics.default_home_dir() == "/opt/Slicer-5.12"
    monkeypatch.delenv("SLICER_HOME")
    assert module_logics.default_home_dir() is None
