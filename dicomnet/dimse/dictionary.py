"""The DICOM data dictionary (PS3.6 §6) without importing pydicom.

pydicom's package import brings numpy and its pixel handlers: most of the start-up of
a ``dicomnet find`` that needs nothing but the dictionary (keywords to tags for ``-k``,
tags to VRs and names to read and print the matches). pydicom keeps the dictionary in a
plain module of literals with no imports of its own; it is loaded here by path, on
first use, under a private name. If pydicom is already imported, or its layout is not
the one expected, pydicom's own module is used.
"""

from __future__ import annotations

import importlib.util
import sys
from functools import cache
from types import ModuleType

__all__ = ["entry", "tag_for_keyword"]

#: tag -> (VR, VM, name, retired, keyword), as in pydicom.
Entry = tuple[str, str, str, str, str]


@cache
def _module() -> ModuleType:
    loaded = sys.modules.get("pydicom._dicom_dict")
    if loaded is not None:
        return loaded
    spec = importlib.util.find_spec("pydicom")
    locations = spec.submodule_search_locations if spec is not None else None
    if locations:
        for folder in locations:
            path = f"{folder}/_dicom_dict.py"
            part = importlib.util.spec_from_file_location("_dicomnet_pydicom_dict", path)
            if part is None or part.loader is None:
                continue
            module = importlib.util.module_from_spec(part)
            try:
                part.loader.exec_module(module)
            except OSError:
                continue
            if isinstance(getattr(module, "DicomDictionary", None), dict):
                return module
    import pydicom._dicom_dict

    return pydicom._dicom_dict


def _dictionary() -> dict[int, Entry]:
    table: dict[int, Entry] = _module().DicomDictionary
    return table


@cache
def _keywords() -> dict[str, int]:
    return {values[4]: tag for tag, values in _dictionary().items() if values[4]}


def entry(tag: int) -> Entry | None:
    """The dictionary's entry for a public tag, None if it has none (private,
    unknown, or a repeating group such as (60xx,3000))."""
    return _dictionary().get(tag)


def tag_for_keyword(keyword: str) -> int | None:
    return _keywords().get(keyword)
