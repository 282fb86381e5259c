"""Wild Card Matching (PS3.4 C.2.2.2.4) is the glob it always was, in linear time: the
matcher gives the answers of a regular expression, without its exponential
backtracking on keys with many "*"."""

from __future__ import annotations

import re
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from dicomnet.archive.matching import key_matcher

ALPHABET = "ab?*"


def _reference(key: str, value: str, *, ignore_case: bool = False) -> bool:
    """The glob as a regular expression (fine on short inputs)."""
    pattern = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch)
                      for ch in key)
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return re.fullmatch(pattern, value, flags) is not None


@settings(max_examples=600, deadline=None)
@given(key=st.text(alphabet=ALPHABET, min_size=1, max_size=9),
       value=st.text(alphabet="abAB\n", max_size=10))
def test_the_matcher_agrees_with_a_regular_expression(key: str, value: str) -> None:
    if "*" not in key and "?" not in key:
        key += "*"  # a key without wild cards is Single Value Matching
    matcher = key_matcher("LO", key)
    if matcher is None:  # only "*": universal
        assert set(key) == {"*"}
        return
    assert matcher(value) == _reference(key, value.strip(" \x00"))


@settings(max_examples=300, deadline=None)
@given(key=st.text(alphabet="aBc?*", min_size=1, max_size=8),
       value=st.text(alphabet="AbCabc", max_size=10))
def test_person_names_match_without_regard_to_case(key: str, value: str) -> None:
    if ("*" not in key and "?" not in key) or set(key) == {"*"}:
        return
    matcher = key_matcher("PN", key)
    assert matcher is not None
    assert matcher(value) == _reference(key, value, ignore_case=True)


def test_a_backtracking_key_is_matched_at_once() -> None:
    key = "*?*?*?*?*?*?*#"
    value = "x" * 64  # no "#": a backtracking regular expression tries every split
    matcher = key_matcher("LO", key)
    assert matcher is not None
    started = time.perf_counter()
    for _ in range(10):
        assert not matcher(value)
    assert (time.perf_counter() - started) / 10 < 0.005
    assert matcher("x" * 63 + "#")
    assert not matcher("x" * 5 + "#")  # six "?" need six characters before the "#"


def test_a_middle_segment_is_found_after_the_one_before() -> None:
    matcher = key_matcher("LO", "ab*ba*ab")
    assert matcher is not None
    assert matcher("abbaab")
    assert not matcher("abab")  # "ba" would overlap the first and last segments
    assert not matcher("abbab")
