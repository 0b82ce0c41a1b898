"""models.network_build: the one sequence that builds a network from a file's arguments -- downloads refused
before any constructor runs, the meta-device size check under the audit hook, then the real build."""

from pathlib import Path

import pytest
from SaliencyExplorerLib.core import resources
from SaliencyExplorerLib.errors import ModelLoadError, SaliencyError
from SaliencyExplorerLib.models.network_build import build_from_args
from torch import nn


class Counted(nn.Module):
    """Counts its constructions; optionally writes a file (as a constructor that caches weights would)."""

    calls = 0

    def __init__(self, channels=4, pretrained_url=None, scribble=None):
        super().__init__()
        type(self).calls += 1
        if scribble:
            Path(scribble).write_text("cached weights")
        self.conv = nn.Conv3d(1, channels, 3)


@pytest.fixture(autouse=True)
def _reset():
    Counted.calls = 0


def test_a_download_argument_is_refused_before_any_constructor_runs(monkeypatch):
    monkeypatch.setattr(resources, "available_memory", lambda: 2**30)
    with pytest.raises(ModelLoadError, match=r"card: Counted argument pretrained_url='https://x.org/w.pth'"):
        build_from_args(Counted, {"channels": 10_000_000, "pretrained_url": "https://x.org/w.pth"}, "card", "Fix.")
    assert Counted.calls == 0  # not even on the meta device


def test_the_size_check_holds_with_trust_code_and_the_hook_does_not(monkeypatch, tmp_path):
    monkeypatch.setattr(resources, "available_memory", lambda: 2**30)  # 1 GiB free; 10M channels: ~1 GiB
    with pytest.raises(SaliencyError, match=r"card: Counted with these arguments .* only 1.0 GiB is free"):
        build_from_args(Counted, {"channels": 10_000_000, "pretrained_url": "w.pth"}, "card", "Fix.", trust_code=True)
    assert Counted.calls == 1  # the meta-device probe only
    monkeypatch.chdir(tmp_path)  # the user's own code (trust_code) may write: the hook is off
    built = build_from_args(Counted, {"channels": 2, "scribble": "cache.txt"}, "card", "Fix.", trust_code=True)
    assert built.conv.out_channels == 2 and (tmp_path / "cache.txt").read_text() == "cached weights"


def test_a_constructor_that_writes_is_stopped_during_the_meta_build(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelLoadError, match=r"card: building the network tried to write 'cache.txt'"):
        build_from_args(Counted, {"scribble": "cache.txt"}, "card", "Fix.")
    assert Counted.calls == 1 and not (tmp_path / "cache.txt").exists()  # stopped at the probe, nothing written
