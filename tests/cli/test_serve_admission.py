"""`dicomnet serve`'s admission options reach the server it builds."""

from __future__ import annotations

import os

import pytest

from dicomnet.cli.main import build_parser, main
from dicomnet.cli.serve import make_server


def test_admission_options_reach_the_server() -> None:
    args = build_parser("serve").parse_args([
        "serve", "--max-associations", "5", "--max-associations-per-address", "2",
        "--max-pending", "40", "--max-pending-per-address", "4",
        "--associate-deadline", "3.5", "--handshake-timeout", "1.5"])
    server = make_server(args)
    books = server.admission
    assert (books.max_associations, books.max_associations_per_address,
            books.max_pending, books.max_pending_per_address) == (5, 2, 40, 4)
    assert (server.associate_deadline, server.handshake_timeout) == (3.5, 1.5)


def test_admission_defaults() -> None:
    server = make_server(build_parser("serve").parse_args(["serve"]))
    books = server.admission
    assert (books.max_associations, books.max_associations_per_address,
            books.max_pending, books.max_pending_per_address) == (64, None, 256, 32)
    assert (server.associate_deadline, server.handshake_timeout) == (10.0, 5.0)


@pytest.mark.parametrize("option", ["--max-pending", "--max-pending-per-address"])
def test_a_pending_bound_below_one_is_refused(option: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", option, "0"]) == 2
    assert f"{option} must be at least 1" in capsys.readouterr().err


def test_workers_default_to_one_and_auto_to_the_usable_cores() -> None:
    parser = build_parser("serve")
    assert parser.parse_args(["serve"]).workers == 1
    assert parser.parse_args(["serve", "--workers", "3"]).workers == 3
    assert parser.parse_args(["serve", "--workers", "auto"]).workers \
        == len(os.sched_getaffinity(0))


@pytest.mark.parametrize("value", ["0", "-1", "many", "257"])
def test_a_bad_worker_count_is_refused(value: str, capsys: pytest.CaptureFixture[str]
                                      ) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser("serve").parse_args(["serve", "--workers", value])
    assert exited.value.code == 2
    assert "--workers" in capsys.readouterr().err


def test_workers_are_explained_in_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--workers N|auto serve with N processes" in text
    assert "count for the whole server" in text
