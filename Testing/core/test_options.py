"""Method options written as text (the panel's and CLI's form): Python literals, bare words as strings,
commas inside brackets kept, anything that is not ``name=value`` refused with the fix; no torch needed.
"""

import subprocess
import sys

import pytest

from SaliencyExplorerLib.core.options import parse_method_options
from SaliencyExplorerLib.errors import SaliencyError


@pytest.mark.parametrize("text,expected", [
    ("relu=False, n_samples=8", {"relu": False, "n_samples": 8}),
    ("noise=0.25, steps=50", {"noise": 0.25, "steps": 50}),
    ("value=-1e-3", {"value": -0.001}),
    ("window=[8, 8, 4], occluder=mean", {"window": [8, 8, 4], "occluder": "mean"}),
    ("stride=(2, 4, 2)", {"stride": (2, 4, 2)}),
    ("baseline = 'zero' ,  fc_layer=None", {"baseline": "zero", "fc_layer": None}),
    ("rule=gauss-legendre", {"rule": "gauss-legendre"}),  # a bare word stays a string
    ("grid={'rows': [1, 2]}, seed=3,", {"grid": {"rows": [1, 2]}, "seed": 3}),  # trailing comma
    ("", {}),
    (None, {}),
])
def test_literals_lists_and_bare_words(text, expected):
    parsed = parse_method_options(text)
    assert parsed == expected
    assert all(type(parsed[k]) is type(v) for k, v in expected.items())  # 8 stays int, 0.25 float, ...


@pytest.mark.parametrize("text", ["relu", "1a=2", "=3", "window=[8, 8], 4"])
def test_anything_but_name_equals_value_is_refused_with_an_example(text):
    with pytest.raises(SaliencyError, match="is not 'name=value'.*relu=False, batch_size=4"):
        parse_method_options(text)


def test_importing_the_parser_does_not_import_torch():
    """The Slicer panel parses options before PyTorch is installed."""
    code = "import sys; import SaliencyExplorerLib.core.options; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
