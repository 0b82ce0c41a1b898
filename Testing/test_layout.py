"""The test tree mirrors the library: every module ``SaliencyExplorerLib/<sub>/<module>.py`` has
``Testing/<sub>/test_<module>.py`` (or ``test_<module>_<aspect>.py``), so a module without tests shows.

Package files (``__init__``, ``__main__``) are exempt: their behaviour is their modules'.
"""

from __future__ import annotations

import pkgutil
from pathlib import Path

import SaliencyExplorerLib

TESTING = Path(__file__).resolve().parent
LIBRARY = Path(SaliencyExplorerLib.__file__).resolve().parent


def library_modules() -> list[str]:
    """Dotted paths relative to the package ("core.engine", "card"), found by walking its packages."""
    prefix = SaliencyExplorerLib.__name__ + "."
    found = []
    for info in pkgutil.walk_packages(SaliencyExplorerLib.__path__, prefix):  # imports the subpackages only
        name = info.name[len(prefix) :]
        if not info.ispkg and name.rsplit(".", 1)[-1] not in ("__init__", "__main__"):
            found.append(name)
    return sorted(found)


def files_testing(module: str) -> list[Path]:
    *folders, leaf = module.split(".")
    folder = TESTING.joinpath(*folders)
    return sorted(folder.glob(f"test_{leaf}.py")) + sorted(folder.glob(f"test_{leaf}_*.py"))


def test_the_walk_finds_the_library_layers():
    modules = library_modules()
    assert {"card.parsing", "errors", "core.engine", "methods.cam.gradient_cams", "mrml.panel", "cli.demo_cmd"} <= set(
        modules
    )
    on_disk = {
        str(p.relative_to(LIBRARY).with_suffix("")).replace("/", ".")
        for p in LIBRARY.rglob("*.py")
        if p.stem not in ("__init__", "__main__")
    }
    assert set(modules) == on_disk  # no package hidden from the walk (every folder has an __init__.py)


def expected_test_file(module: str) -> str:
    *folders, leaf = module.split(".")
    return "/".join(["Testing", *folders, f"test_{leaf}.py"])


def test_every_library_module_has_a_test_file_named_after_it():
    missing = [
        f"SaliencyExplorerLib/{m.replace('.', '/')}.py: write {expected_test_file(m)}"
        for m in library_modules()
        if not files_testing(m)
    ]
    assert not missing, "modules without a test file:\n" + "\n".join(missing)
