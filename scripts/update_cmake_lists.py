"""Rewrites the library file lists in SaliencyExplorer/CMakeLists.txt from ``git ls-files``.

    python scripts/update_cmake_lists.py

Why: Slicer packages only the .py files listed in MODULE_PYTHON_SCRIPTS (and data in
MODULE_PYTHON_RESOURCES); Testing/module/test_extension.py fails when a committed library file is missing.
"""

import re
import subprocess
from pathlib import Path

MODULE_DIR = Path(__file__).resolve().parents[1] / "SaliencyExplorer"
CMAKE = MODULE_DIR / "CMakeLists.txt"


def tracked(suffix):
    out = subprocess.run(
        ["git", "ls-files", "SaliencyExplorerLib"], cwd=MODULE_DIR, capture_output=True, text=True, check=True
    ).stdout.split()
    return sorted(f for f in out if f.endswith(suffix) and (MODULE_DIR / f).exists())


def replace_block(text, variable, fixed, files):
    body = "\n".join(f"  {f}" for f in fixed + files)
    return re.sub(rf"set\({variable}\n.*?\n  \)", f"set({variable}\n{body}\n  )", text, count=1, flags=re.S)


def main():
    text = CMAKE.read_text()
    text = replace_block(text, "MODULE_PYTHON_SCRIPTS", ["${MODULE_NAME}.py"], tracked(".py"))
    text = replace_block(
        text,
        "MODULE_PYTHON_RESOURCES",
        ["Resources/Icons/${MODULE_NAME}.png", "Resources/UI/${MODULE_NAME}.ui"],
        tracked(".json"),
    )
    CMAKE.write_text(text)
    print(f"{CMAKE}: {len(tracked('.py'))} library .py files, {len(tracked('.json'))} data files")


if __name__ == "__main__":
    main()
