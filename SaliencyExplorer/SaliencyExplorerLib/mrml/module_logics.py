"""Slicer's module logics for a scene, in the application or headless (``slicer-core``), the same way.

Why: the scene code (colour tables, legends, label maps, subject hierarchy, saving) needs Slicer's module
logics. Inside the Slicer application they hang off ``slicer.app.applicationLogic()``; in plain Python with
``slicer-core`` nothing creates them, so :func:`start_headless` builds the minimal "application" (scene +
application logic + Colors, Volumes, Transforms, SubjectHierarchy, Segmentations, Data logics) that
batch scripts and tests use. :func:`module_logic` hides the difference. Imports ``slicer``, never ``qt``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref

from ..errors import SaliencyError

# Logic name as Slicer registers it -> class name in the ``slicer`` namespace.
_LOGIC_CLASSES = {
    "Colors": "vtkSlicerColorLogic",
    "Volumes": "vtkSlicerVolumesLogic",
    "Transforms": "vtkSlicerTransformLogic",
    "SubjectHierarchy": "vtkSlicerSubjectHierarchyModuleLogic",
    "Segmentations": "vtkSlicerSegmentationsModuleLogic",
    "Data": "vtkSlicerDataModuleLogic",
}

_SESSIONS: dict = {}  # scene address -> HeadlessSession, so module_logic(scene=...) finds its logics
_APP_LOGICS: dict = {}  # scene address -> (scene, application logic) made for a scene someone else built


def import_slicer():
    """``slicer`` or a clear error saying how to get it (the library itself never needs it)."""
    try:
        import slicer  # noqa: PLC0415  (slicer: only in a Slicer/slicer-core process)

        return slicer
    except ImportError as exc:
        raise SaliencyError(
            "Slicer's MRML library is not available: run this inside 3D Slicer, or install it into this "
            "Python with `pip install slicer-core` (or `pip install SaliencyExplorer[slicer]`)."
        ) from exc


def in_application() -> bool:
    """True inside the 3D Slicer application (not the ``slicer-core`` wheel)."""
    slicer = import_slicer()
    return getattr(slicer, "app", None) is not None


class HeadlessSession:
    """A scene with Slicer's module logics wired as the application wires them (no Qt, no OpenGL)."""

    def __init__(self, home_dir: str | None = None, share_dir: str = "share"):
        slicer = import_slicer()
        self.scene = slicer.vtkMRMLScene()
        self.app_logic = slicer.vtkSlicerApplicationLogic()
        if home_dir:  # colour files in <home>/<share>/ColorFiles, as the application lays them out
            self.app_logic.SetHomeDirectory(home_dir)
            self.app_logic.SetShareDirectory(share_dir)
        self.app_logic.SetMRMLScene(self.scene)
        self._cache_dir = tempfile.mkdtemp(prefix="saliency-mrml-cache-")
        # removed on close(), and at interpreter exit for a session nobody closed (a batch script)
        self._remove_cache = weakref.finalize(self, shutil.rmtree, self._cache_dir, True)
        cache = slicer.vtkCacheManager()
        cache.SetRemoteCacheDirectory(self._cache_dir)
        self.scene.SetCacheManager(cache)
        io = slicer.vtkDataIOManager()
        io.SetCacheManager(cache)
        self.scene.SetDataIOManager(io)
        self.logics = {}
        for name, class_name in _LOGIC_CLASSES.items():
            logic = getattr(slicer, class_name)()
            logic.SetMRMLApplicationLogic(self.app_logic)
            logic.SetMRMLScene(self.scene)
            self.app_logic.SetModuleLogic(name, logic)
            self.logics[name] = logic
        self.app_logic.SetColorLogic(self.logics["Colors"])
        slicer.mrmlScene = self.scene  # slicer.util helpers look here
        _SESSIONS[self.scene.GetAddressAsString("")] = self

    def logic(self, name: str):
        return self.logics[name]

    def close(self):
        """Forget this session (the scene is cleared; logics are released)."""
        _SESSIONS.pop(self.scene.GetAddressAsString(""), None)
        self.scene.Clear(1)
        for logic in self.logics.values():
            logic.SetMRMLScene(None)
        self.logics.clear()
        self._remove_cache()  # the cache folder goes with the session


def start_headless(home_dir: str | None = None, share_dir: str = "share") -> HeadlessSession:
    """A fresh headless scene with its module logics; ``slicer.mrmlScene`` points at it.

    ``home_dir``: a folder with ``<share_dir>/ColorFiles/*.txt`` to load Slicer's colour files from (e.g. a
    Slicer installation's home with ``share_dir="share/Slicer-5.12"``); without it, only built-in tables.
    """
    return HeadlessSession(home_dir, share_dir)


def module_logic(name: str, scene=None):
    """Slicer's module logic ``name`` ("Colors", "Volumes", ...) for ``scene``.

    In the application: the application's logic. Headless: the logic of the session that owns ``scene``
    (or of the most recent session). Raises a clear error when there is none.
    """
    slicer = import_slicer()
    if in_application():
        logic = slicer.app.applicationLogic().GetModuleLogic(name)
        if logic is not None:
            return logic
    if scene is not None:
        session = _SESSIONS.get(scene.GetAddressAsString(""))
        if session is not None:
            return session.logic(name)
    if _SESSIONS and scene is None:
        return list(_SESSIONS.values())[-1].logic(name)
    raise SaliencyError(
        f"no Slicer '{name}' module logic for this scene: outside the Slicer application create the scene "
        "with SaliencyExplorerLib.mrml.module_logics.start_headless() and use its .scene."
    )


def application_logic(scene):
    """The application logic that serves ``scene`` (slice views need one), whoever built the scene.

    In the application: Slicer's. For a scene from :func:`start_headless`: its session's. For a scene a
    script built from plain slicer-core (``vtkMRMLScene`` + its own logics, as trame-slicer does): one made
    here for that scene and kept while the scene lives. An application logic adds no node to the scene;
    module logics are never made here, since a Colors logic removes its colour tables when it is deleted.
    """
    slicer = import_slicer()
    if in_application():
        return slicer.app.applicationLogic()
    key = scene.GetAddressAsString("")
    session = _SESSIONS.get(key)
    if session is not None:
        return session.app_logic
    made = _APP_LOGICS.get(key)
    if made is None or made[0] is not scene:
        app_logic = slicer.vtkSlicerApplicationLogic()
        app_logic.SetMRMLScene(scene)
        made = _APP_LOGICS[key] = (scene, app_logic)
    return made[1]


def default_home_dir() -> str | None:
    """The Slicer home folder when running in the application (colour files live below it)."""
    slicer = import_slicer()
    if in_application():
        return slicer.app.slicerHome
    return os.environ.get("SLICER_HOME")
