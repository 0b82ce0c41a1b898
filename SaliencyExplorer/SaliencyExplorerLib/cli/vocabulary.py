"""One command-line vocabulary for every subcommand: list options, defaults in --help, method names, and the
range of every numeric option (``NumberRange``: refused by argparse in one line that says the range).

Why one module: a user who learned ``--methods a,b`` in one subcommand must not meet ``--layer`` repeated
in another, and every --help must show the same defaults and name the methods it accepts. Torch-free, so
``--help`` stays instant; ``METHOD_NAMES`` is checked against the registry by its test.
"""

from __future__ import annotations

import argparse
import math
import sys

from ..core.options import DEFAULT_METHOD
from ..errors import SaliencyError

#: The registered methods (``available_methods()``), written out so that --help needs no torch.
METHOD_NAMES = (
    "ablationcam",
    "cam",
    "eigencam",
    "eigengradcam",
    "gradcam",
    "gradcam++",
    "guided-backprop",
    "guided-gradcam",
    "hirescam",
    "inputxgradient",
    "integrated-gradients",
    "layercam",
    "occlusion",
    "rise",
    "saliency",
    "scorecam",
    "smoothgrad",
    "xgradcam",
)


def _shown(number) -> str:
    return str(number) if isinstance(number, int) else f"{number:g}"


class NumberRange:
    """An argparse type and a check in one: a finite whole or real number in [low, high] (``None``: open).

    Why one class: a count of 0, a NaN tolerance or 10**9 steps is refused by argparse, before anything is
    read, in one line that says the range; ``check`` applies the same range to a value set from Python."""

    def __init__(self, low=None, high=None, *, whole: bool = True, above: bool = False):
        self.low, self.high, self.whole, self.above = low, high, whole, above  # above: low itself excluded

    def range_text(self) -> str:
        kind = "a whole number" if self.whole else "a finite number"
        if self.low is None and self.high is None:
            return kind
        if self.high is None:
            return f"{kind} {'above' if self.above else 'of at least'} {_shown(self.low)}"
        if self.low is None:
            return f"{kind} of at most {_shown(self.high)}"
        if self.above:
            return f"{kind} above {_shown(self.low)} and at most {_shown(self.high)}"
        return f"{kind} from {_shown(self.low)} to {_shown(self.high)}"

    def fits(self, value) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return False
        if self.whole and value != int(value):
            return False
        low_ok = self.low is None or (value > self.low if self.above else value >= self.low)
        return low_ok and (self.high is None or value <= self.high)

    def __call__(self, text: str):
        try:
            value = int(text) if self.whole else float(text)
        except (TypeError, ValueError):
            value = None
        if value is None or not self.fits(value):
            problem = (
                ("not a whole number" if self.whole else "not a number")
                if value is None
                else "not finite"
                if not math.isfinite(value)
                else "out of range"
            )
            raise argparse.ArgumentTypeError(f"{text!r} is {problem}: give {self.range_text()}")
        return value

    def check(self, value, name: str) -> None:
        """The same range for a value that did not come through argparse (a Namespace built in Python)."""
        if value is not None and not self.fits(value):
            raise SaliencyError(f"{name} {value} is out of range; give {self.range_text()}.")


#: The ranges of the numeric options, one place for every subcommand.
STEPS = NumberRange(1, 10_000)  # deletion/insertion steps (never more than the grid's voxels are used)
REPEATS = NumberRange(1, 10_000)  # random orderings for the baseline
LAYER_COUNT = NumberRange(1, 10_000)  # --sanity-layers
BATCH = NumberRange(1, 2**20)  # samples per forward pass
SEED = NumberRange(0, 2**32 - 1)  # numpy's and torch's seeds both take it
WORKERS = NumberRange(1, 1024)
LABEL = NumberRange(-(2**31), 2**31 - 1)  # a label value (label files are read as 32-bit integers)
MILLIMETRES = NumberRange(0, 1e4, whole=False)  # a tolerance, 0 to 10 m
SIGMA = NumberRange(0, 1e4, whole=False, above=True)  # a blur sigma in voxels
ANY_NUMBER = NumberRange(whole=False)  # finite: a threshold, a window end, RAS millimetres
OPACITY = NumberRange(0, 1, whole=False)
ZOOM = NumberRange(1, 256)  # pixels per voxel
EVERY = NumberRange(1, 100_000)
COLUMNS = NumberRange(1, 1_000)
SLICE = NumberRange(0, 100_000)
FRAME_MS = NumberRange(10, 655_350)  # a GIF stores frame durations in hundredths of a second, 16 bits
SIZE = NumberRange(1, 4_096)  # a probe input's size along one axis
PORT = NumberRange(0, 65_535)


def replacement(text: str):
    """--replacement: a finite number, 'mean' or 'blur' (checked by argparse, before anything runs)."""
    if text in ("mean", "blur"):
        return text
    try:
        number = float(text)
    except (TypeError, ValueError):
        number = None
    if number is None or not math.isfinite(number):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number, 'mean' or 'blur': give one of those")
    return number


class OrderedPair(argparse.Action):
    """``LOW HIGH`` (``nargs=2``, ``type`` a NumberRange): refused unless LOW < HIGH."""

    def __call__(self, parser, namespace, values, option_string=None):
        if not values[0] < values[1]:
            parser.error(f"argument {option_string}: give LOW below HIGH, not {values[0]:g} {values[1]:g}")
        setattr(namespace, self.dest, list(values))


def prog_name(argv0: str | None = None) -> str:
    """What the user typed: ``saliency-explorer`` for the console script, else ``python -m SaliencyExplorerLib``."""
    argv0 = sys.argv[0] if argv0 is None else argv0
    name = argv0.replace("\\", "/").rsplit("/", 1)[-1]
    if name.endswith(".exe"):
        name = name[:-4]
    if name.startswith("saliency-explorer"):
        return "saliency-explorer"
    return "python -m SaliencyExplorerLib"


class HelpFormatter(argparse.HelpFormatter):
    """Adds '(default: X)' to every option that has a real default and does not already name it."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if (
            action.option_strings
            and default not in (None, False, argparse.SUPPRESS)
            and "default" not in text
            and not isinstance(action, (argparse._HelpAction, argparse._VersionAction))
        ):
            shown = ",".join(map(str, default)) if isinstance(default, (list, tuple)) else default
            text = f"{text} (default: {shown})" if text else f"default: {shown}"
        return text.replace("%", "%%") if "%(" not in text else text


class ListAction(argparse.Action):
    """A list option that takes both forms: ``--layer a,b`` and ``--layer a --layer b`` (or a mix)."""

    def __call__(self, parser, namespace, values, option_string=None):
        items = list(getattr(namespace, self.dest, None) or [])
        items += [part.strip() for part in str(values).split(",") if part.strip()]
        setattr(namespace, self.dest, items)  # empty ('--methods ,'): the command says so in one line


def methods_help(default: str = DEFAULT_METHOD) -> str:
    return f"explanation method (default {default}); one of: {', '.join(METHOD_NAMES)}"


def add_layer_argument(parser) -> None:
    parser.add_argument(
        "--layer",
        action=ListAction,
        metavar="L[,L2]",
        help="target layer(s) for CAMs (default: the card's, else the engine's choice; see the "
        "`layers` command); comma-separated or repeated: maps are averaged",
    )


def apply_formatter(parser: argparse.ArgumentParser) -> None:
    """The shared formatter on a parser and on every subcommand parser below it."""
    parser.formatter_class = HelpFormatter
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                apply_formatter(sub)
