"""The command line: one module per subcommand, each registering itself here.

A subcommand module defines ``register(subparsers)`` that adds its parser and sets ``func``; ``func(args)``
returns the exit status. Errors of the project's own type become a message on stderr and exit status 2.

Around every subcommand: its input files are protected (``output_files.protecting``: no write may touch a
file an input consists of), warnings from the libraries below are held back (an error is one line, not
a page of ITK and torch warnings; on success they follow as one ``warning:`` line each), and anything
that still escapes as an exception is one line and exit status 3 (a bug to report, never a traceback).
"""

import argparse
import contextlib
import importlib
import os
import re
import sys
import warnings

from ..errors import SaliencyError
from ..output_files import protecting
from .vocabulary import HelpFormatter, apply_formatter, prog_name

# Subcommand modules, in the order `--help` lists them.
SUBCOMMANDS = [
    "explain_cmd",
    "layers_cmd",
    "card_cmd",
    "demo_cmd",
    "figure_cmd",
    "evaluate_cmd",
    "compare_cmd",
    "worker_cmd",
    "web_cmd",
]
# Subcommands that work but are not listed in --help (the Slicer panel's background process).
HIDDEN = {"worker"}


class OneLineParser(argparse.ArgumentParser):
    """argparse, with a usage mistake said in one line (``error: ...``) as every other refusal is."""

    def error(self, message):
        self.exit(2, f"error: {self.prog}: {message}. See {self.prog} --help.\n")


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = OneLineParser(
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


# Options whose value is a list of numbers that may start with a minus sign ("-18.5,13.4,10.0"): argparse
# would take such a value for an option, so ``--region-at -18.5,...`` is rewritten to ``--region-at=-18.5,...``.
NUMBER_LIST_OPTIONS = ("--region-at", "--region-box")
_NUMBERS = re.compile(r"^-[0-9.]")


def join_negative_values(argv: list[str]) -> list[str]:
    """``--region-at -1,2,3`` -> ``--region-at=-1,2,3`` (argparse reads a leading minus as an option)."""
    out = []
    for word in argv:
        if out and out[-1] in NUMBER_LIST_OPTIONS and _NUMBERS.match(word):
            out[-1] = f"{out[-1]}={word}"
            continue
        out.append(word)
    return out


# Arguments that name input files: every output is refused when it would write one of their files.
INPUT_ARGUMENTS = ("input", "model", "card", "region", "region_mask", "body_mask", "cases", "image", "heatmap")


def input_paths(args) -> list[str]:
    """Every input path a parsed command line names, and the card found beside a model file."""
    paths = []
    for name in INPUT_ARGUMENTS:
        value = getattr(args, name, None)
        paths += [str(v) for v in (value if isinstance(value, (list, tuple)) else [value]) if v]
    model = getattr(args, "model", None)
    if model and not getattr(args, "card", None):
        from ..card import find_card_for  # noqa: PLC0415  (stdlib + json: cheap)

        with contextlib.suppress(OSError, ValueError):
            beside = find_card_for(model)
            if beside is not None:
                paths.append(str(beside))
    return paths


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else ""


def _quiet_itk() -> None:
    """ITK prints its warnings straight to stderr from C++: off in the command line (we check ourselves)."""
    with contextlib.suppress(ImportError, AttributeError):
        import SimpleITK as sitk  # noqa: PLC0415

        sitk.ProcessObject.SetGlobalWarningDisplay(False)


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(join_negative_values(sys.argv[1:] if argv is None else argv))
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    _quiet_itk()
    held = []
    try:
        with warnings.catch_warnings(record=True) as held, protecting(input_paths(args)):
            warnings.simplefilter("default")
            status = int(args.func(args) or 0)
        sys.stdout.flush()  # inside the try: a reader that went away (`| head`) is caught below
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
    except RecursionError:
        print("error: an input is nested too deeply to read (recursion limit). Check the files given.", file=sys.stderr)
        return 3
    except MemoryError:
        print("error: out of memory. Use a smaller input, window or --batch-size.", file=sys.stderr)
        return 3
    except Exception as exc:  # noqa: BLE001 - the last resort: one line, never a traceback
        print(
            f"error: unexpected {type(exc).__name__}: {_first_line(exc)}. This is a bug: please report it with "
            "the command line.",
            file=sys.stderr,
        )
        return 3
    for text in dict.fromkeys(_first_line(w.message) for w in held if _first_line(w.message)):
        print(f"warning: {text}", file=sys.stderr)
    return status
