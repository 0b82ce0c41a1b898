"""The command line: one module per subcommand, each registering itself here.

A subcommand module defines ``register(subparsers)`` that adds its parser and sets ``func``; ``func(args)``
returns the exit status. Errors of the project's own type become a message on stderr and exit status 2.
"""

import argparse
import importlib
import sys

from ..errors import SaliencyError

# Subcommand modules, in the order `--help` lists them.
SUBCOMMANDS = ["explain_cmd", "layers_cmd", "card_cmd", "demo_cmd", "figure_cmd", "evaluate_cmd", "compare_cmd",
               "worker_cmd", "web_cmd"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m SaliencyExplorerLib",
        description="Explain where a PyTorch model looked in a 2D/3D medical image, in patient space.",
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
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except SaliencyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cancelled", file=sys.stderr)
        return 130
