"""One command-line vocabulary for every subcommand: list options, defaults in --help, method names.

Why one module: a user who learned ``--methods a,b`` in one subcommand must not meet ``--layer`` repeated
in another, and every --help must show the same defaults and name the methods it accepts. Torch-free, so
``--help`` stays instant; ``METHOD_NAMES`` is checked against the registry by its test.
"""

from __future__ import annotations

import argparse
import sys

from ..core.options import DEFAULT_METHOD

#: The registered methods (``available_methods()``), written out so that --help needs no torch.
METHOD_NAMES = ("ablationcam", "cam", "eigencam", "eigengradcam", "gradcam", "gradcam++", "guided-backprop",
                "guided-gradcam", "hirescam", "inputxgradient", "integrated-gradients", "layercam", "occlusion",
                "rise", "saliency", "scorecam", "smoothgrad", "xgradcam")


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
        if (action.option_strings and default not in (None, False, argparse.SUPPRESS) and "default" not in text
                and not isinstance(action, (argparse._HelpAction, argparse._VersionAction))):
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
    parser.add_argument("--layer", action=ListAction, metavar="L[,L2]",
                        help="target layer(s) for CAMs (default: the card's, else the engine's choice; see the "
                             "`layers` command); comma-separated or repeated: maps are averaged")


def apply_formatter(parser: argparse.ArgumentParser) -> None:
    """The shared formatter on a parser and on every subcommand parser below it."""
    parser.formatter_class = HelpFormatter
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                apply_formatter(sub)
