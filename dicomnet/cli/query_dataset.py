"""The C-FIND/C-GET/C-MOVE identifier of ``-k`` keys and ``-f FILE``, built with pydicom.

A key names an attribute by keyword (``PatientID``), by tag (``(0010,0020)`` or
``00100020``) or by a path through sequences, in dicomnet's and in DCMTK's spelling
(``ScheduledProcedureStepSequence[0].Modality=CT``,
``(0040,0100)[0].(0008,0060)=CT``): each step but the last is a sequence and an item
number, created empty as needed. A sequence named last, or with ``=`` and no value, is
sent empty (universal sequence matching, PS3.4 C.2.2.2.6). ``-f`` starts from a data
set read from a file (its file meta left out); the keys are applied on top of it, as
findscu applies ``-k`` to its query file.

Every mistake in a key is a ValueError whose message names the key: the command prints
it as one line, never a traceback.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

__all__ = ["build_query", "read_query_file"]

#: One step of a key's path: a keyword or a tag, then an optional item number.
_STEP = re.compile(r"\s*(?P<name>\([0-9a-fA-F]{4},[0-9a-fA-F]{4}\)|[0-9a-fA-F]{4},"
                   r"[0-9a-fA-F]{4}|[0-9a-fA-F]{8}|[A-Za-z][A-Za-z0-9]*)"
                   r"\s*(?:\[(?P<item>[0-9]+)\])?\s*")
#: More items than a query needs is a typing mistake, not a query.
_MAX_ITEM = 99


def _tag(name: str, key: str) -> int:
    from pydicom.datadict import dictionary_has_tag, tag_for_keyword

    if name[0].isalpha() and not re.fullmatch(r"[0-9a-fA-F]{8}", name):
        number = tag_for_keyword(name)
        if number is None:
            raise ValueError(f"unknown attribute keyword {name!r} in -k {key!r}")
        return int(number)
    tag = int(re.sub(r"[(),]", "", name), 16)
    if not dictionary_has_tag(tag):
        kind = "a private tag" if (tag >> 16) & 1 else "not in the DICOM dictionary"
        raise ValueError(f"({tag >> 16:04X},{tag & 0xFFFF:04X}) in -k {key!r} is {kind}: "
                         "its VR is unknown, so it cannot be a query key")
    return tag


def _path(name: str, key: str) -> list[tuple[int, int | None]]:
    """The steps of a key's attribute path: (tag, item number or None)."""
    steps: list[tuple[int, int | None]] = []
    for part in name.split("."):
        match = _STEP.fullmatch(part)
        if match is None:
            raise ValueError(f"cannot read {part.strip()!r} in -k {key!r}: expected a "
                             "keyword or (gggg,eeee), optionally with [item]")
        item = match["item"]
        steps.append((_tag(match["name"], key), None if item is None else int(item)))
    return steps


def add_key(query: Dataset, key: str) -> None:
    """Set one ``-k`` key in ``query`` (creating sequences and items on its path)."""
    from pydicom.datadict import dictionary_VR
    from pydicom.dataset import Dataset

    name, _sep, value = key.partition("=")
    steps = _path(name, key)
    target = query
    for number, (tag, item) in enumerate(steps):
        vr = dictionary_VR(tag)
        last = number == len(steps) - 1
        if item is not None and vr != "SQ":
            raise ValueError(f"-k {key!r}: {dictionary_keyword(tag)} is not a sequence, "
                             "so it has no items")
        if not last and item is None:
            raise ValueError(f"-k {key!r}: say which item of {dictionary_keyword(tag)} "
                             "([0] for the first)")
        if vr != "SQ":
            target.add_new(tag, vr, value)
            continue
        if last and item is None:
            if value:
                raise ValueError(f"-k {key!r}: a sequence takes no value; name an "
                                 "attribute of its item ([0].Keyword=VALUE)")
            target.add_new(tag, vr, [])
            continue
        assert item is not None
        if item > _MAX_ITEM:
            raise ValueError(f"-k {key!r}: item {item} is more than a query needs")
        if tag not in target or target[tag].VR != "SQ":
            target.add_new(tag, vr, [])
        items = target[tag].value
        while len(items) <= item:
            items.append(Dataset())
        target = items[item]
        if last and value:
            raise ValueError(f"-k {key!r}: an item takes no value; name an attribute "
                             "of it (.Keyword=VALUE)")


def dictionary_keyword(tag: int) -> str:
    from pydicom.datadict import keyword_for_tag

    return keyword_for_tag(tag) or f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def read_query_file(path: str) -> Dataset:
    """The data set of a query file (DICOM, with or without a file meta header), without
    its file meta: an identifier carries none."""
    from pydicom import dcmread
    from pydicom.errors import InvalidDicomError

    try:
        found = dcmread(path, force=True)
    except (OSError, InvalidDicomError, ValueError, EOFError) as exc:
        raise ValueError(f"cannot read the query file {path}: {exc}") from exc
    from pydicom.dataset import Dataset

    query = Dataset()
    for element in found:
        if element.tag.group != 0x0002:  # a file meta element read as the data set's
            query.add(element)
    if len(query) == 0:
        raise ValueError(f"the query file {path} holds no data set")
    return query


def build_query(keys: list[str], level: str | None, model: str,
                base: Dataset | None = None) -> Dataset:
    """The identifier for ``-k`` keys (and ``base``, the ``-f`` file's data set): VRs
    from the dictionary (PS3.6)."""
    from pydicom.dataset import Dataset

    query = Dataset() if base is None else base
    if model != "worklist" and (level is not None or "QueryRetrieveLevel" not in query):
        query.QueryRetrieveLevel = level or "STUDY"
    for key in keys:
        add_key(query, key)
    return query
