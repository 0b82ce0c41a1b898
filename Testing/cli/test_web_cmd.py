"""``python -m SaliencyExplorerLib web``: one-line errors before anything starts (bad root, bad port, no trame).

The server itself is started and driven in a real browser by ``Testing/web/test_app.py``.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from SaliencyExplorerLib.cli import main


def test_a_missing_root_is_a_one_line_error(tmp_path, capsys):
    assert main(["web", "--root", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --root") and "is not a folder" in err and len(err.splitlines()) == 1


def test_a_bad_port_is_a_one_line_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:  # refused by argparse, before anything starts
        main(["web", "--root", str(tmp_path), "--port", "70000"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "--port: '70000' is out of range: give a whole number from 0 to 65535" in err
    assert err.count("\n") == 1


def test_without_trame_the_command_says_how_to_install_it_and_the_rest_works(tmp_path):
    """trame made unimportable in a fresh interpreter: `web` explains the fix; `card` still runs."""
    block = (
        "import sys; sys.modules['trame'] = None; sys.modules['trame_slicer'] = None; "
        "from SaliencyExplorerLib.cli import main; "
    )
    web = subprocess.run(
        [sys.executable, "-c", block + f"sys.exit(main(['web', '--root', {str(tmp_path)!r}]))"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert web.returncode == 2
    assert "pip install 'SaliencyExplorer[web]'" in web.stderr and len(web.stderr.strip().splitlines()) == 1
    helped = subprocess.run(
        [sys.executable, "-c", block + "sys.exit(main(['web', '--help']))"], capture_output=True, text=True, timeout=120
    )
    assert helped.returncode == 0 and "--root" in helped.stdout
