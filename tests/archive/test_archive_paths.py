"""Received values never escape the archive folder (issue: path traversal via UIDs/IDs)."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from dicomnet.archive.paths import safe_component


@settings(max_examples=500)
@given(st.text(max_size=200))
def test_any_value_gives_one_harmless_component(value: str) -> None:
    name = safe_component(value)
    assert name and len(name) <= 64
    assert "/" not in name and "\\" not in name and "\x00" not in name
    assert not name.startswith(".")
    root = Path("/archive")
    assert (root / name).resolve().parent == root


@given(st.text(max_size=80), st.text(max_size=80))
def test_different_values_do_not_collide(a: str, b: str) -> None:
    if a.strip() != b.strip() and a.strip() and b.strip():
        assert safe_component(a) != safe_component(b)


def test_uids_and_plain_ids_are_kept_as_they_are() -> None:
    assert safe_component("1.2.840.113619.2.55.3") == "1.2.840.113619.2.55.3"
    assert safe_component("PAT-001_x") == "PAT-001_x"


def test_traversal_attempts_are_rewritten() -> None:
    for hostile in ("..", ".", "../../etc", "/etc/passwd", "a/../../b", "C:\\x", "a\x00b"):
        name = safe_component(hostile)
        assert name != hostile
        assert ".." not in name.split("/")


def test_empty_values_have_a_name() -> None:
    assert safe_component("") == "UNKNOWN"
    assert safe_component(None) == "UNKNOWN"
    assert safe_component("   ") == "UNKNOWN"
