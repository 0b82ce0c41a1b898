"""Every README command marked runnable works verbatim after the set-up, and prints what the README shows.

Markers in README.md: a line `<!-- runnable -->` right before a ```bash block runs that block (in bash, in a
fresh folder holding a copy of `Resources/`, with the venv's `bin/` first on PATH, as after
`source .venv/bin/activate`); a line `<!-- output -->` right before the next fenced block lists lines the
command must print, in order (`*` matches anything). Blocks without a marker (set-up, Slicer, other
engineers' sections) are only read, never run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.S | re.M)


def readme_blocks(text: str) -> list[dict]:
    """Runnable blocks with their expected output lines, in README order."""
    blocks = []
    for match in FENCE.finditer(text):
        before = text[: match.start()].rstrip().splitlines()
        marker = before[-1].strip() if before else ""
        if marker == "<!-- runnable -->":
            blocks.append({"command": match.group(2), "line": text[: match.start()].count("\n") + 1, "expect": []})
        elif marker == "<!-- output -->" and blocks:
            blocks[-1]["expect"] = [line for line in match.group(2).splitlines() if line.strip()]
    return blocks


def _matches(line: str, pattern: str) -> bool:
    """``pattern`` with ``*`` matching anything, every other character literally (brackets included)."""
    return re.fullmatch(".*".join(re.escape(part) for part in pattern.split("*")), line) is not None


def printed_in_order(expected: list[str], printed: str) -> list[str]:
    """The expected lines (``*`` matches anything) not found in ``printed`` in order."""
    lines, position, missing = printed.splitlines(), 0, []
    for pattern in expected:
        found = next((n for n in range(position, len(lines)) if _matches(lines[n], pattern)), None)
        if found is None:
            missing.append(pattern)
        else:
            position = found + 1
    return missing


BLOCKS = readme_blocks(README.read_text())


def test_the_readme_marks_its_tour_runnable_and_says_how_to_run_the_tool():
    text = README.read_text()
    assert len(BLOCKS) >= 5
    assert "source .venv/bin/activate" in text and ".venv/bin/saliency-explorer" in text
    assert "bash scripts/demo.sh" in text and "bash scripts/test.sh" in text
    assert "bash scripts/setup_env.sh nnunet" in text
    assert all(b["command"].lstrip().startswith(("saliency-explorer", "printf")) for b in BLOCKS)
    for link in re.findall(r"\]\(((?:docs|Resources|benchmarks)/[^)#]+|[A-Z]+\.md)", text):
        if link != "docs/web.md":  # written by the web front door's own change
            assert (REPO / link).exists(), link


def test_readme_parser_finds_markers_and_matches_output():
    text = "<!-- runnable -->\n```bash\necho hi\n```\n\n<!-- output -->\n```text\nh*\n```\n```bash\nnot run\n```\n"
    blocks = readme_blocks(text)
    assert [b["command"] for b in blocks] == ["echo hi\n"] and blocks[0]["expect"] == ["h*"]
    assert printed_in_order(["a *", "c"], "a 1\nb\nc\n") == []
    assert printed_in_order(["c", "a *"], "a 1\nb\nc\n") == ["a *"]
    assert printed_in_order(["at [1, 2] *"], "at [1, 2] mm\n") == [] and printed_in_order(["[12]"], "1\n") == ["[12]"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A folder like a fresh checkout's root, as far as the tour reads it: a copy of Resources/."""
    folder = tmp_path_factory.mktemp("readme")
    shutil.copytree(REPO / "Resources" / "Samples", folder / "Resources" / "Samples")
    return folder


def _environment() -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", OMP_WAIT_POLICY="PASSIVE", PYTHONIOENCODING="utf-8")
    bindir = Path(sys.executable).parent
    shim = None
    if not (bindir / "saliency-explorer").exists():  # not installed as a console script: the same program
        shim = Path(os.environ.get("TMPDIR", "/tmp")) / f"saliency-explorer-shim-{os.getpid()}"
        shim.mkdir(exist_ok=True)
        script = shim / "saliency-explorer"
        script.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m SaliencyExplorerLib "$@"\n')
        script.chmod(0o755)
    env["PATH"] = os.pathsep.join([str(p) for p in (shim, bindir) if p] + [env.get("PATH", "")])
    library = str(REPO / "SaliencyExplorer")  # this checkout's library, whichever venv runs the test
    env["PYTHONPATH"] = os.pathsep.join([library, env["PYTHONPATH"]]) if env.get("PYTHONPATH") else library
    return env


@pytest.mark.parametrize("block", BLOCKS, ids=[f"README line {b['line']}" for b in BLOCKS])
def test_readme_command_runs_verbatim(block, workdir):
    done = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", block["command"]],
        cwd=workdir,
        env=_environment(),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=300,
    )
    assert done.returncode == 0, f"README line {block['line']}:\n{block['command']}\n{done.stderr[-2000:]}"
    missing = printed_in_order(block["expect"], done.stdout)
    assert not missing, f"README line {block['line']} printed:\n{done.stdout}\nnot:\n" + "\n".join(missing)
