"""``python -m SaliencyExplorerLib`` never imports a module from the current folder (a model folder someone
sent may hold ``monai/`` or ``dynamic_network_architectures/``)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import SaliencyExplorerLib
import torch
from SaliencyExplorerLib.__main__ import _drop_current_folder
from SaliencyExplorerLib.demo.network import LesionNet

SHADOW = "import pathlib; pathlib.Path(__file__).resolve().parents[1].joinpath('pwned-{}').touch()\n"


def _shadow_folder(tmp_path):
    for name in ("monai", "dynamic_network_architectures"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text(SHADOW.format(name))
    torch.save(LesionNet(1, 2, 2).state_dict(), tmp_path / "model.pt")
    return tmp_path


def _run(args, cwd):
    env = {**os.environ, "PYTHONPATH": str(Path(SaliencyExplorerLib.__file__).parents[1])}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_control_the_shadow_folder_is_imported_from_the_current_folder(tmp_path):
    folder = _shadow_folder(tmp_path)
    _run(["-c", "import sys; sys.path.insert(0, ''); import monai"], folder)
    assert (folder / "pwned-monai").exists()


def test_dash_m_does_not_import_from_the_current_folder(tmp_path):
    folder = _shadow_folder(tmp_path)
    # one class is enough: the mechanism (the current folder off sys.path) is the same for monai (slow to import)
    for cls in ("dynamic_network_architectures.architectures.unet.PlainConvUNet",):
        (folder / "card.json").write_text(
            json.dumps(
                {
                    "spatial_dims": 3,
                    "in_channels": 1,
                    "classes": ["a", "b"],
                    "architecture": {"class": cls, "kwargs": {}},
                }
            )
        )
        result = _run(["-m", "SaliencyExplorerLib", "layers", "-m", "model.pt", "-c", "card.json"], folder)
        assert "Traceback" not in result.stderr, result.stderr
    assert not list(folder.glob("pwned-*"))


def test_drop_current_folder_keeps_every_other_entry(tmp_path):
    other = str(tmp_path / "lib")
    assert _drop_current_folder(["", ".", str(tmp_path), other, "/usr/lib/python3"], str(tmp_path)) == [
        other,
        "/usr/lib/python3",
    ]
