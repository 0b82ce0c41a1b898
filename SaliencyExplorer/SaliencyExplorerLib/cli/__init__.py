"""The command line: one module per subcommand, each registering itself here.

A subcommand module defines ``register(subparsers)`` that adds its parser and sets ``func``; ``func(args)``
returns the exit status. Errors of the project's own type become a message on stderr and exit status 2.
"""

import argparse
import importlib
import os
import sys

from ..errors import SaliencyError
from .vocabulary import HelpFormatter, apply_formatter, prog_name

# Subcommand modules, in the order `--help` lists them.
SUBCOMMANDS = ["explain_cmd", "layers_cmd", "card_cmd", "demo_cmd", "figure_cmd", "evaluate_cmd", "compare_cmd",
               "worker_cmd", "web_cmd"]
# Subcommands that work but are not listed in --help (the Slicer panel's background process).
HIDDEN = {"worker"}


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog or prog_name(),
        description="Explain where a PyTorch model looked in a 2D/3D medical image, in patient space.",
        formatter_class=HelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:  # a subcommand whose module is not there yet
            if exc.name and exc.name.endswith(name):
                continue
            raise
        module.register(sub)
    sub._choices_actions = [a for a in sub._choices_actions if a.dest not in HIDDEN]
    apply_formatter(parser)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        status = int(args.func(args) or 0)
        sys.stdout.flush()  # inside the try: a reader that went away (`| head`) is caught below
        return status
    except BrokenPipeError:  # the reader closed the pipe: stop quietly, as a Unix filter does
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # Python's own flush at exit must not fail again
        return 141
    except SaliencyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cancelled", file=sys.stderr)
        return 130
