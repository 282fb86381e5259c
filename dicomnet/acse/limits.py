"""Numeric limits of negotiation, checked where a caller sets them.

The codec would refuse an out-of-range value too, but only when the PDU is encoded, as a
wire-format error; checking here turns a configuration mistake into a ValueError at the
line that made it. :func:`min_window` is the one rule both sides use to combine
asynchronous operations windows.
"""

from __future__ import annotations

__all__ = [
    "MAX_PDU_LENGTH_LIMIT",
    "MAX_WINDOW",
    "check_max_pdu_length",
    "check_uid",
    "check_version_name",
    "check_window",
    "min_window",
]

#: PS3.8 Annex D.1, Table D.1-1: the maximum length is a 4-byte unsigned field.
MAX_PDU_LENGTH_LIMIT = 0xFFFF_FFFF

#: PS3.7 D.3.3.3.1, Table D.3-7: each window value is a 2-byte unsigned field.
MAX_WINDOW = 0xFFFF


def check_max_pdu_length(value: int, what: str = "maximum PDU length") -> int:
    """``value`` if it fits the 51H sub-item (0 = no limit), else ValueError."""
    if not 0 <= value <= MAX_PDU_LENGTH_LIMIT:
        raise ValueError(f"{what} {value} is outside 0..{MAX_PDU_LENGTH_LIMIT} "
                         "(PS3.8 Annex D.1)")
    return value


def check_window(value: int, what: str) -> int:
    """``value`` if it fits one field of the 53H sub-item (0 = unlimited), else
    ValueError."""
    if not 0 <= value <= MAX_WINDOW:
        raise ValueError(f"{what} {value} is outside 0..{MAX_WINDOW} (PS3.7 D.3.3.3.1)")
    return value


def check_uid(uid: str, what: str) -> str:
    """``uid`` if it looks like a UID, else ValueError: 1-64 characters of digits and
    dots (PS3.5 §9.1). Leading zeros in components are not refused, as some deployed
    implementation class UIDs have them and peers accept them."""
    if not uid or len(uid) > 64 or any(ch not in "0123456789." for ch in uid):
        raise ValueError(f"{what} {uid!r} is not a UID of 1-64 digits and dots (PS3.5 §9.1)")
    return uid


def check_version_name(name: str | None) -> str | None:
    """``name`` if it is a valid implementation version name or None/empty (no 55H
    sub-item), else ValueError: 1-16 characters of the default repertoire, no
    backslash (PS3.7 D.3.3.2.3, VR SH)."""
    if not name:
        return name
    if len(name) > 16:
        raise ValueError(f"implementation version name {name!r} is longer than 16 "
                         "characters (PS3.7 D.3.3.2.3)")
    if any(not (0x20 <= ord(ch) < 0x7F) or ch == "\\" for ch in name):
        raise ValueError(f"implementation version name {name!r} may only hold printable "
                         "ASCII without '\\' (PS3.7 D.3.3.2.3)")
    return name


def min_window(first: int, second: int) -> int:
    """The smaller of two operation windows, where 0 means unlimited (PS3.7 D.3.3.3):
    the acceptor never grants more than proposed, nor more than it supports."""
    if first == 0:
        return second
    if second == 0:
        return first
    return min(first, second)
