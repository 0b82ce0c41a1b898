"""Method options written as text (the panel's and CLI's form): Python literals, bare words as strings,
commas inside brackets kept, anything that is not ``name=value`` refused with the fix; no torch needed.
"""

import subprocess
import sys

import numpy as np
import pytest
from SaliencyExplorerLib.core.options import non_negative_float, parse_method_options, positive_int
from SaliencyExplorerLib.errors import SaliencyError


@pytest.mark.parametrize(
    "text,expected",
    [
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
    ],
)
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
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, encoding="utf-8", timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_positive_int():
    """One check for every count option (was two, with opposite argument orders)."""
    assert positive_int(3, "steps") == 3 and positive_int(np.int64(2), "steps") == 2
    assert positive_int(0, "repeats", minimum=0) == 0
    for bad in (0, -2, 1.0, 2.0, True, "3", "4"):
        with pytest.raises(SaliencyError, match="steps must be an integer >= 1"):
            positive_int(bad, "steps")


def test_non_negative_float():
    assert non_negative_float("noise", 0) == 0.0 and non_negative_float("noise", "0.5") == 0.5
    for bad in (-0.1, float("nan"), float("inf"), "x", None, True):
        with pytest.raises(SaliencyError, match="noise must be a finite number >= 0"):
            non_negative_float("noise", bad)


def test_commas_inside_quotes_stay_in_their_value():
    assert parse_method_options("name='a, b', window=[8, 8, 4], note=\"x,y\", mode=fast") == {
        "name": "a, b",
        "window": [8, 8, 4],
        "note": "x,y",
        "mode": "fast",
    }
