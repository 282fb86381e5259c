"""The conformance statement is what the code does: regenerate it and compare."""

from __future__ import annotations

from pathlib import Path

from statement import statement

HERE = Path(__file__).parent


def test_conformance_statement_is_current() -> None:
    written = (HERE / "CONFORMANCE.md").read_text()
    assert written == statement(), (
        "conformance/CONFORMANCE.md is stale; regenerate it with "
        "'.venv/bin/python conformance/statement.py > conformance/CONFORMANCE.md'")
