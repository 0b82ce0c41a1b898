"""The project's error types: every user-caused problem is a SaliencyError (a ValueError), which the
front doors catch and show as a message; anything else is a bug.

Truth: the class hierarchy, and the CLI turning each kind into exit status 2 with the message on stderr.
"""

import pytest
import SaliencyExplorerLib
from SaliencyExplorerLib.cli import main
from SaliencyExplorerLib.errors import CardError, ExplanationCancelled, ModelLoadError, SaliencyError


@pytest.mark.parametrize("kind", [CardError, ModelLoadError, ExplanationCancelled])
def test_every_error_is_a_saliency_error_and_a_value_error(kind):
    assert issubclass(kind, SaliencyError) and issubclass(kind, ValueError)
    with pytest.raises(SaliencyError, match="the fix"):
        raise kind("what is wrong, and the fix")


def test_the_public_names_are_these_classes():
    assert SaliencyExplorerLib.SaliencyError is SaliencyError
    assert SaliencyExplorerLib.ExplanationCancelled is ExplanationCancelled


def test_the_cli_shows_a_saliency_error_as_a_message_and_exit_status_2(tmp_path, capsys):
    missing = tmp_path / "nope.pt"
    assert main(["layers", "--model", str(missing)]) == 2  # a ModelLoadError inside
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(missing) in err and "Traceback" not in err
    (tmp_path / "card.json").write_text('{"spatial_dims": 3, "bogus": 1}')
    (tmp_path / "m.pt").write_bytes(b"")
    assert main(["layers", "--model", str(tmp_path / "m.pt"), "--card", str(tmp_path / "card.json")]) == 2
    assert "bogus" in capsys.readouterr().err  # a CardError names the field
