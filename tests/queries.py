"""Query identifiers for the tests of C-FIND, C-GET and C-MOVE."""

from __future__ import annotations

import pydicom


def query(level: str, **keys: str) -> pydicom.Dataset:
    """An identifier at Query/Retrieve Level ``level`` with ``keys`` (keyword=value;
    an empty value asks for the attribute to be returned)."""
    identifier = pydicom.Dataset()
    identifier.QueryRetrieveLevel = level
    for keyword, value in keys.items():
        setattr(identifier, keyword, value)
    return identifier
