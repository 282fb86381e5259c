"""The command line parser: built whole for ``--help`` and the docs, or for one command
only (cli.main.build_parser(command)) when a run names it. Both must agree."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from dicomnet.cli.main import _COMMANDS, build_parser


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def test_the_table_names_every_command_of_the_whole_parser_in_order() -> None:
    assert list(_commands(build_parser())) == list(_COMMANDS)


@pytest.mark.parametrize("command", list(_COMMANDS))
def test_a_parser_for_one_command_is_that_command_of_the_whole(command: str) -> None:
    alone = _commands(build_parser(command))
    assert command in alone
    whole = _commands(build_parser())[command]
    assert alone[command].format_help() == whole.format_help()


def test_a_word_that_is_no_command_gets_the_whole_list() -> None:
    done = subprocess.run([sys.executable, "-m", "dicomnet", "stor"], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "invalid choice: 'stor'" in done.stderr
    assert all(f"'{command}'" in done.stderr for command in _COMMANDS)


def test_a_command_run_imports_only_its_own_module() -> None:
    code = ("import sys\nfrom dicomnet.cli.main import main\n"
            "try:\n    main(['store', '--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.startswith('dicomnet.cli.')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    loaded = done.stdout.strip().splitlines()[-1]
    assert "dicomnet.cli.store" in loaded
    assert "dicomnet.cli.query" not in loaded and "dicomnet.cli.serve" not in loaded


def test_plain_tcp_without_identity_imports_neither_tls_nor_user_identity() -> None:
    code = ("import sys\nfrom dicomnet.cli.main import build_parser\n"
            "from dicomnet.cli.security import client_identity, client_ssl_context\n"
            "args = build_parser('store').parse_args(['store', '127.0.0.1', '104', 'x'])\n"
            "assert client_ssl_context(args) is None and client_identity(args) is None\n"
            "print('dicomnet.tls' in sys.modules, 'dicomnet.user_identity' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout.split() == ["False", "False"]
