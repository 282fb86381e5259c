"""``dicomnet user add FILE NAME``: keep the passcode file of ``dicomnet serve --users``
(PS3.7 D.3.3.7 username and passcode), with passcodes stored hashed (scrypt)."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from dicomnet.cli.common import add_logging_options, fail


def add_parsers(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "user", help="manage the passcode file of 'dicomnet serve --users'",
        description="Users that 'dicomnet serve --users FILE' accepts through User "
                    "Identity Negotiation (username and passcode).")
    commands = parser.add_subparsers(title="user commands", metavar="COMMAND")
    add = commands.add_parser(
        "add", help="add a user to FILE, or change their passcode",
        description="Ask for the passcode (twice, not echoed), or read one line from "
                    "standard input with --passcode-stdin, and store its scrypt hash "
                    "under NAME in FILE (created 0600 if missing).",
        epilog="example: dicomnet user add users.txt modality1")
    add.add_argument("file", metavar="FILE", help="the passcode file")
    add.add_argument("name", metavar="NAME", help="the username")
    add.add_argument("--passcode-stdin", action="store_true",
                     help="read the passcode from standard input (for scripts)")
    add_logging_options(add)
    add.set_defaults(run=run_add)


def run_add(args: argparse.Namespace) -> int:
    from dicomnet.user_identity import add_to_passcode_file

    if args.passcode_stdin:
        passcode = sys.stdin.readline().rstrip("\r\n")
    else:
        passcode = getpass.getpass(f"passcode for {args.name}: ")
        if getpass.getpass("again: ") != passcode:
            return fail("the passcodes differ")
    if not passcode:
        return fail("empty passcode")
    try:
        add_to_passcode_file(Path(args.file), args.name, passcode)
    except (OSError, ValueError) as exc:
        return fail(str(exc))
    print(f"{args.name} saved in {args.file}")
    return 0
