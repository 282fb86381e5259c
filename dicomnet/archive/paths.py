"""File names made safe from whatever a peer sent.

Patient IDs, UIDs and other values come from the network and end up in paths. A value is
kept as is only when it is made of letters, digits, ``.``, ``_`` and ``-`` and does not
start with a dot; anything else is rewritten and a short hash of the original keeps two
different values from colliding. No ``/``, ``..``, NUL or control character survives,
so no received value can point outside the archive folder.
"""

from __future__ import annotations

import hashlib
import re

__all__ = ["safe_component"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_MAX_LENGTH = 64


def safe_component(value: str | None, *, empty: str = "UNKNOWN") -> str:
    """One path component for ``value``: unchanged if already safe, else rewritten."""
    if not value or not value.strip():
        return empty
    value = value.strip()
    cleaned = _UNSAFE.sub("_", value).lstrip(".")
    if cleaned == value and len(value) <= _MAX_LENGTH:
        return value
    digest = hashlib.sha256(value.encode("utf-8", "surrogateescape")).hexdigest()[:10]
    return f"{cleaned[:_MAX_LENGTH - 11] or empty}_{digest}"
