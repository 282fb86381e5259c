"""The ``dicomnet`` command as users run it: a process whose exit skips the interpreter's
teardown (cli.main.entry). What it prints must still arrive, and its exit code must be
main()'s."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest


def _dicomnet(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    # Buffered output, as for any user: what is not flushed before the exit is lost.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    return subprocess.run([sys.executable, "-m", "dicomnet", *args], input=stdin, text=True,
                          capture_output=True, timeout=60, check=False, env=env)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # nobody listens once the probe is closed


def test_the_console_script_is_the_entry_that_exits_at_once() -> None:
    (script,) = [ep for ep in entry_points(group="console_scripts") if ep.name == "dicomnet"]
    assert script.value == "dicomnet.cli.main:entry"


def test_output_and_exit_code_survive_the_quick_exit(tmp_path: Path) -> None:
    users = tmp_path / "users.txt"
    done = _dicomnet("user", "add", "--passcode-stdin", str(users), "alice", stdin="pw\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"alice saved in {users}\n"  # printed to a pipe, flushed
    assert "alice" in users.read_text()


def test_a_failure_keeps_its_exit_code_and_message() -> None:
    port = _closed_port()
    done = _dicomnet("echo", "127.0.0.1", str(port))
    assert done.returncode == 1
    assert f"cannot connect to 127.0.0.1:{port}" in done.stderr


def test_main_leaves_logging_as_it_found_it(capsys: pytest.CaptureFixture[str]) -> None:
    """main() called from Python (a test, an application) sets up its stderr lines for
    the command only: afterwards the dicomnet logger propagates again (pytest's caplog,
    an application's handlers see it) and holds no handler on a stream that may close."""
    import logging
    import warnings

    from dicomnet.cli.main import main

    logger = logging.getLogger("dicomnet")
    before = (logger.handlers[:], logger.level, logger.propagate, warnings.showwarning)
    assert main(["echo", "-q", "127.0.0.1", str(_closed_port())]) != 0
    assert (logger.handlers, logger.level, logger.propagate, warnings.showwarning) == before
    assert "E:" in capsys.readouterr().err  # the command's own lines were there
