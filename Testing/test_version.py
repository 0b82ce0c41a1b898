"""The library's version (recorded in every heatmap's provenance) is the package's version."""

import re

import SaliencyExplorerLib
from helpers.paths import ROOT
from SaliencyExplorerLib.version import __version__


def test_version_is_the_packaged_one_and_public():
    project = (ROOT / "pyproject.toml").read_text().split("[project]", 1)[1]  # no tomllib before Python 3.11
    assert __version__ == re.search(r'^version = "([^"]+)"', project, re.M).group(1)
    assert SaliencyExplorerLib.__version__ == __version__ and "__version__" in SaliencyExplorerLib.__all__
    assert re.fullmatch(r"\d+\.\d+\.\d+", __version__)
