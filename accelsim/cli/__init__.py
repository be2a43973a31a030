"""The ``accelsim`` command line: one module per sub-command.

Each module ``accelsim.cli.<command>`` defines ``add_parser(subparsers)`` that registers its
parser and sets ``func`` to a function ``(args) -> int`` (the exit code). :func:`main` prints any
:class:`~accelsim.errors.AccelsimError` on one line and exits non-zero. An :class:`OSError` from the
file system that no stage turned into an accelsim error (a full disk, a read-only folder) is printed
the same way, naming the path and the cause; other exceptions are bugs and keep their traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings

from accelsim import __version__
from accelsim.atomic import describe_os_error
from accelsim.errors import AccelsimError

COMMANDS = ("run", "simulate", "quantize", "evaluate", "sweep", "report", "sensitivity", "search")
"""Sub-commands, in the order ``accelsim --help`` lists them."""

EXIT_USER_ERROR = 2


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``accelsim`` parser with every sub-command, or with only *command* if it is one of :data:`COMMANDS`.

    :func:`main` registers only the sub-command it runs, so a command imports its own module and
    nothing of the others (``accelsim simulate`` never loads the sweep's executors or the reports);
    the top-level help and an unknown command get them all.
    """
    parser = argparse.ArgumentParser(
        prog="accelsim",
        description="Cycle-accurate simulation of quantized CNN inference on systolic arrays.",
    )
    parser.add_argument("--version", action="version", version=f"accelsim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in (command,) if command in COMMANDS else COMMANDS:
        try:
            module = importlib.import_module(f"accelsim.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"accelsim.cli.{name}":
                continue  # command not built yet
            raise
        module.add_parser(sub)
    return parser


def command_of(argv: list[str]) -> str | None:
    """The sub-command *argv* names: its first word not starting with ``-`` (the top-level parser
    has only the ``--help`` and ``--version`` options, neither taking a value)."""
    return next((arg for arg in argv if not arg.startswith("-")), None)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(command_of(argv))
    args, extra = parser.parse_known_args(argv)
    if extra:  # named by the sub-command's parser, as its other errors are (exits 2)
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        (sub.choices[args.command] if args.command else parser).error(f"unrecognized arguments: {' '.join(extra)}")
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USER_ERROR
    def show_warning(message, category, filename, lineno, file=None, line=None):
        print(f"accelsim {args.command}: warning: {message}", file=sys.stderr)

    try:
        with warnings.catch_warnings():
            warnings.showwarning = show_warning
            return int(args.func(args) or 0)
    except AccelsimError as exc:
        print(f"accelsim {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except OSError as exc:  # backstop: a file-system error no stage named (disk full, read-only, ...)
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"accelsim {args.command}: error: {where}{describe_os_error(exc)}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print(f"accelsim {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
