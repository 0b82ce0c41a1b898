"""One vocabulary across subcommands: list options in both forms, defaults and method names in --help,
the prog name the user typed, `worker` unlisted, a closed pipe ends quietly."""

import subprocess
import sys

import pytest
from helpers.paths import SAMPLES
from SaliencyExplorerLib.cli import build_parser, main
from SaliencyExplorerLib.cli.compare_cmd import split_options
from SaliencyExplorerLib.cli.vocabulary import METHOD_NAMES, prog_name
from SaliencyExplorerLib.core.method import available_methods


def _help(*command) -> str:
    parser = build_parser("saliency-explorer")
    for action in parser._actions:
        if hasattr(action, "choices") and isinstance(action.choices, dict) and command:
            return action.choices[command[0]].format_help()
    return parser.format_help()


def test_the_help_names_every_registered_method():
    assert list(METHOD_NAMES) == available_methods()
    for command in ("explain", "evaluate", "compare"):
        text = " ".join(_help(command).split())
        assert all(name in text for name in METHOD_NAMES), command


def test_prog_name_is_what_the_user_typed():
    assert prog_name("/x/.venv/bin/saliency-explorer") == "saliency-explorer"
    assert prog_name("C:\\venv\\Scripts\\saliency-explorer.exe") == "saliency-explorer"
    assert prog_name("/x/SaliencyExplorerLib/__main__.py") == "python -m SaliencyExplorerLib"
    assert _help().startswith("usage: saliency-explorer ")


@pytest.mark.parametrize(
    "command, option, default",
    [
        ("compare", "--replacement", "0"),
        ("compare", "--random-repeats", "3"),
        ("evaluate", "--replacement", "0"),
        ("evaluate", "--random-repeats", "3"),
        ("evaluate", "--sanity-mode", "cascade"),
        ("figure", "--axis", "axial"),
        ("evaluate", "--method", "gradcam"),
        ("compare", "--device", "cpu"),
    ],
)
def test_defaults_are_shown(command, option, default):
    text = " ".join(_help(command).split())
    after = text[text.index(f"  {option} ") if f"  {option} " in text else text.index(option) :]
    entry = after[: after.index("  --", 3) if "  --" in after[3:] else len(after)]
    assert f"default: {default}" in entry or f"default {default}" in entry, entry


def test_every_is_explained_in_help():
    assert "default: montage at most 16 tiles, GIF every slice" in " ".join(_help("figure").split())


def test_worker_is_not_listed_but_still_runs():
    top = _help()
    assert "worker" not in top and "compare" in top
    assert "JOB" in _help("worker")


@pytest.mark.parametrize("command", ["explain", "evaluate", "compare"])
def test_layer_takes_commas_and_repetition(command):
    parser = build_parser()
    base = ["--input", "a.nrrd", "--model", "m.pt", "-o", "out"]
    args = parser.parse_args([command, *base, "--layer", "a.b,c", "--layer", "d"])
    assert args.layer == ["a.b", "c", "d"]


def test_compare_methods_take_commas_and_repetition():
    args = build_parser().parse_args(
        ["compare", "-i", "a", "-m", "m", "-o", "o", "--methods", "gradcam,saliency", "--method", "rise"]
    )
    assert args.methods == ["gradcam", "saliency", "rise"]


def test_truth_mask_is_the_localisation_region_and_the_old_name_still_works():
    parser = build_parser()
    new = parser.parse_args(["evaluate", "-i", "a", "-m", "m", "--truth-mask", "t.nrrd", "--truth-label", "2"])
    old = parser.parse_args(["evaluate", "-i", "a", "-m", "m", "--region", "t.nrrd", "--region-label", "2"])
    assert (new.region, new.region_label) == (old.region, old.region_label) == ("t.nrrd", 2)
    text = _help("evaluate")
    assert "--truth-mask" in text and "--region-mask" in text and "--region " not in text


def test_compare_options_go_to_the_methods_that_have_them():
    per_method, shared = split_options(
        ["max_channels=4", "occlusion:window=[4,4,4]", "aug_smooth=True"],
        ["gradcam", "scorecam", "ablationcam", "occlusion"],
    )
    assert per_method == {
        "scorecam": {"max_channels": 4},
        "ablationcam": {"max_channels": 4},
        "occlusion": {"window": [4, 4, 4]},
    }
    assert shared == {"aug_smooth": True}


def test_a_closed_pipe_ends_quietly():
    """`card ... | head`: the reader goes away; no BrokenPipeError traceback."""
    command = [sys.executable, "-m", "SaliencyExplorerLib", "card", "--model", str(SAMPLES / "lesion_classifier.pt")]
    shell = " ".join(f"'{c}'" for c in command) + " | true"  # the reader is gone before the first line
    done = subprocess.run(["bash", "-o", "pipefail", "-c", shell], capture_output=True, text=True, timeout=120)
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr
    assert done.returncode in (0, 141)


def test_main_returns_141_when_stdout_is_closed(monkeypatch, capsys):
    class Closed:
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            raise BrokenPipeError(32, "Broken pipe")

        def fileno(self):
            return sys.__stdout__.fileno() if sys.__stdout__ else 1

    import os

    saved = os.dup(1)
    try:
        monkeypatch.setattr(sys, "stdout", Closed())
        assert main(["card", "--model", str(SAMPLES / "lesion_classifier.pt")]) == 141
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def test_number_ranges_refuse_with_the_range_and_accept_the_ends():
    """One shared argparse type: the ends are accepted, outside / NaN / inf / fractions of a count refused
    with the range in the message; ``check`` holds a Python-built value to the same range."""
    import argparse

    from SaliencyExplorerLib.cli.vocabulary import SIGMA, STEPS, NumberRange
    from SaliencyExplorerLib.errors import SaliencyError

    assert STEPS("1") == 1 and STEPS("10000") == 10000
    for text, problem in (
        ("0", "out of range"),
        ("10001", "out of range"),
        ("2.5", "not a whole number"),
        ("x", "not a whole number"),
    ):
        with pytest.raises(argparse.ArgumentTypeError, match=f"{problem}: give a whole number from 1 to 10000"):
            STEPS(text)
    assert SIGMA("1e-9") == 1e-9
    for text in ("0", "nan", "inf", "-1"):
        with pytest.raises(argparse.ArgumentTypeError, match="above 0 and at most 10000"):
            SIGMA(text)
    with pytest.raises(argparse.ArgumentTypeError, match="'nan' is not finite: give a finite number$"):
        NumberRange(whole=False)("nan")
    STEPS.check(None, "--steps")
    with pytest.raises(SaliencyError, match="--steps 0 is out of range; give a whole number from 1 to 10000"):
        STEPS.check(0, "--steps")
