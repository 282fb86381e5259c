"""AE titles as PS3.5 §6.2 defines the AE value representation."""

from __future__ import annotations

__all__ = ["ae_title_key", "check_ae_title"]


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


def ae_title_key(title: str) -> str:
    """``title`` as access rules compare it: without the padding PS3.5 §6.2 says is not
    significant (leading and trailing spaces) and the trailing NULs some peers write
    (C strings), so ``"MODALITY1 "`` is ``"MODALITY1"``. Nothing else is dropped: a tab
    or newline is part of the title, not padding, and case is kept, since AE titles
    are case-sensitive (``"modality1"`` is another title, as in DCMTK)."""
    return title.rstrip(" \x00").lstrip(" ")
