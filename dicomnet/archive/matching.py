"""Attribute matching of PS3.4 C.2.2.2 (Query/Retrieve), as pure functions."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

__all__ = ["MatchError", "identifier_matches", "key_matcher", "return_identifier"]

Matcher = Callable[[str | None], bool]

#: VRs whose values wild card matching applies to (PS3.4 C.2.2.2.4).
_WILDCARD_VRS = frozenset({"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT"})
_RANGE_VRS = frozenset({"DA", "TM", "DT"})
_IGNORED = frozenset({0x00080052, 0x00080005})  # Query/Retrieve Level, Character Set


class MatchError(ValueError):
    """A key value that is not a valid matching key."""


def _clean(value: str | None) -> str:
    return (value or "").strip(" \x00")


def key_matcher(vr: str, value: str | None) -> Matcher | None:
    key = _clean(value)
    if not key:
        return None  # C.2.2.2.3 universal matching
    if vr == "UI":
        if "*" in key or "?" in key:
            raise MatchError(f"wild cards are not allowed in a UID key: {key!r}")
        uids = {uid.strip(" \x00") for uid in key.split("\\")}  # C.2.2.2.2 list of UID
        return lambda stored: _clean(stored) in uids
    if vr in _RANGE_VRS and "-" in key:
        return _range(vr, key)
    if vr in _WILDCARD_VRS and ("*" in key or "?" in key):
        if set(key) == {"*"}:
            return None  # "*" alone matches everything, like universal matching
        flags = re.IGNORECASE if vr == "PN" else 0
        pattern = re.compile(fnmatch.translate(key).replace("[", "\\["), flags | re.DOTALL)
        return lambda stored: pattern.fullmatch(_clean(stored)) is not None
    if vr == "PN":
        folded = key.casefold()  # PN may match case-insensitively (C.2.2.2.1)
        return lambda stored: _clean(stored).casefold() == folded
    return lambda stored: _clean(stored) == key  # C.2.2.2.1 single value


def _range(vr: str, key: str) -> Matcher:
    low, _sep, high = key.partition("-")
    low, high = low.strip(), high.strip()
    if not low and not high:
        raise MatchError(f"a range needs at least one end: {key!r}")
    for end in (low, high):
        if end and not re.fullmatch(r"[0-9.+\-]+", end):
            raise MatchError(f"not a {vr} value: {end!r}")

    def matches(stored: str | None) -> bool:
        value = _clean(stored)
        if not value:
            return False
        if low and value[:len(low)] < low:
            return False
        return not (high and value[:len(high)] > high)

    return matches


def identifier_matches(query: Dataset, candidate: Dataset) -> bool:
    for element in query:
        if element.tag in _IGNORED or element.tag.element == 0:
            continue
        if element.VR == "SQ":
            items = list(element.value or [])
            if not items or len(items[0]) == 0:
                continue
            stored_items = candidate.get(element.tag)
            if stored_items is None or not any(
                    identifier_matches(items[0], item) for item in stored_items.value):
                return False
            continue
        matcher = key_matcher(element.VR, _text(element.value))
        if matcher is None:
            continue
        stored = candidate.get(element.tag)
        if not matcher(None if stored is None else _text(stored.value)):
            return False
    return True


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in cast("Iterable[object]", value))
    return str(value)


def return_identifier(query: Dataset, candidate: Dataset) -> Dataset:
    from pydicom.dataset import Dataset

    result = Dataset()
    for element in query:
        if element.tag in _IGNORED:
            continue
        stored = candidate.get(element.tag)
        if stored is None:
            result.add_new(element.tag, element.VR, [] if element.VR == "SQ" else None)
        else:
            result.add(stored)
    if "QueryRetrieveLevel" in query:
        result.QueryRetrieveLevel = query.QueryRetrieveLevel
    if "SpecificCharacterSet" in candidate:
        result.SpecificCharacterSet = candidate.SpecificCharacterSet
    return result
