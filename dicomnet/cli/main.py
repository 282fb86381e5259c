"""Entry point of the ``dicomnet`` command."""

from __future__ import annotations

import argparse
import atexit
import importlib
import os
import sys
from collections.abc import Sequence
from contextlib import suppress
from typing import NoReturn

from dicomnet import __version__
from dicomnet.cli.common import command_logging, fail
from dicomnet.cli.parser import CommandParser
from dicomnet.cli.security import OptionError

#: Each command and the module of dicomnet.cli whose ``add_parsers`` adds it, in the
#: order of ``--help``.
_COMMANDS = {"echo": "echo", "store": "store", "find": "query", "get": "query",
             "move": "query", "serve": "serve", "check": "check", "tls": "tls",
             "user": "user"}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole command line, also used to generate the CLI reference in docs/.

    With ``command``, only the module adding that command is imported and asked for its
    parser: building and importing them all would be paid by every run of a command
    that needs one.
    """
    parser = CommandParser(
        prog="dicomnet",
        description="DICOM networking toolbox: verify peers, send files, query and "
                    "retrieve, and run a small DICOM archive (storage and query/retrieve "
                    "SCP with an SQLite index).",
        epilog="Run 'dicomnet COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"dicomnet {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND",
                                       parser_class=CommandParser)
    chosen = [_COMMANDS[command]] if command in _COMMANDS else _COMMANDS.values()
    for name in dict.fromkeys(chosen):
        importlib.import_module(f"dicomnet.cli.{name}").add_parsers(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv[0] if argv else None)
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help(sys.stderr)
        return 2
    with command_logging(args):
        try:
            return int(args.run(args))
        except OptionError as exc:
            return fail(str(exc), 2)
        except KeyboardInterrupt:
            return 130


def entry() -> NoReturn:
    """The ``dicomnet`` command (and ``python -m dicomnet``): :func:`main`, then exit.

    Exit is immediate once the exit handlers (which flush the logs) have run: the
    interpreter's own teardown, freeing every module and object one at a time, is a
    sizeable part of a short ``dicomnet store``, and nothing needs it once
    :func:`main` has returned: every file and connection is closed by then.
    """
    code = main()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with suppress(OSError, ValueError):  # a closed pipe: nothing more can be said
            stream.flush()
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    entry()
