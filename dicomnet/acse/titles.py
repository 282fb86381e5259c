"""AE titles as PS3.5 §6.2 defines the AE value representation."""

from __future__ import annotations

__all__ = ["check_ae_title"]


def check_ae_title(title: str, what: str = "AE title") -> str:
    """Return ``title`` stripped, or raise ValueError if it is not a valid AE title:
    1-16 characters of the default character repertoire without backslash or
    control characters, and not only spaces (PS3.5 §6.2, VR AE)."""
    stripped = title.strip(" ")
    if not stripped:
        raise ValueError(f"{what} is empty")
    if len(title) > 16 and len(stripped) > 16:
        raise ValueError(f"{what} {title!r} is longer than 16 characters")
    if any(not (0x20 <= ord(ch) < 0x7F) or ch == "\\" for ch in stripped):
        raise ValueError(f"{what} {title!r} may only hold printable ASCII without '\\'")
    return stripped
