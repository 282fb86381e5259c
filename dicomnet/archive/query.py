"""Queries and retrievals over the archive's index (PS3.4 C.6 information models).

A query is matched, with the rules of PS3.4 C.2.2.2 (:mod:`~dicomnet.archive.matching`),
against the entities of its Query/Retrieve Level, each carrying its own attributes and
those of its parents (a study row knows its patient). Only the attributes the index
keeps are matched (and Modalities in Study); the counts of PS3.4 C.6.1.1 / C.6.2.1
are computed when asked for; other keys asked for come back empty (C.2.2.1.2).

A C-FIND is matched in SQL (:mod:`~dicomnet.archive.find_sql`), with the same results
as matching row by row in Python (:func:`python_identifiers`, kept as the reference
the SQL path is tested against). Retrievals match in Python: their candidates are few once the
unique keys have narrowed them.

The functions read a reader's connection and run in the archive's worker threads
(:mod:`~dicomnet.archive.worker`), never on the event loop.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from dicomnet.archive.database import dialect_of
from dicomnet.archive.find_sql import plan, run
from dicomnet.archive.index import COLUMNS, LEVEL_TABLES, level_rows
from dicomnet.archive.matching import _text, identifier_matches, return_identifier
from dicomnet.services.query_retrieve import IdentifierError

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

    from dicomnet.archive.database import IndexConnection

__all__ = ["QueryError", "matching_identifiers", "matching_instances"]

_INDEXED = frozenset(keyword for table in COLUMNS.values() for keyword in table)
#: PS3.4 C.6.1 / C.6.2: the levels each root information model has.
_MODEL_LEVELS = {"patient": ("PATIENT", "STUDY", "SERIES", "IMAGE"),
                 "study": ("STUDY", "SERIES", "IMAGE")}


class QueryError(IdentifierError):
    """The identifier is not a valid query for the model (bad or missing level, a
    missing unique key): A900, with the reason and the offending attribute."""


#: Query/Retrieve Level (0008,0052), and the tags of the unique keys (PS3.6).
_LEVEL_TAG = 0x00080052
_UNIQUE_KEY_TAGS = {"PatientID": 0x00100020, "StudyInstanceUID": 0x0020000D,
                    "SeriesInstanceUID": 0x0020000E, "SOPInstanceUID": 0x00080018}

#: The unique key of each level (PS3.4 C.6.1.1 / C.6.2.1).
_UNIQUE_KEYS = {"PATIENT": "PatientID", "STUDY": "StudyInstanceUID",
                "SERIES": "SeriesInstanceUID", "IMAGE": "SOPInstanceUID"}


def _level(query: Dataset, model: str, *, strict: bool = True) -> str:
    """The query's level, checked against the model; a hierarchical query must name
    one entity at every level above it by its unique key (PS3.4 C.4.1.2.1, C.4.2.2.1:
    relational queries are not negotiated here).

    Not ``strict``, an IMAGE query naming its study but not its series is answered:
    peers send them (dcmqrscp and Orthanc answer them), and the study bounds the
    search as well as the series would."""
    levels = _MODEL_LEVELS.get(model, ())
    level = str(query.get("QueryRetrieveLevel", "") or "").strip().upper()
    if level not in levels:
        raise QueryError(f"Query/Retrieve Level {level!r} is not one of the {model} root "
                         f"model's {levels} (PS3.4 C.6)", offending=[_LEVEL_TAG])
    for above in levels[:levels.index(level)]:
        keyword = _UNIQUE_KEYS[above]
        if not strict and above == "SERIES" and \
                _single_value(query, "StudyInstanceUID") is not None:
            continue
        if _single_value(query, keyword) is None:
            # The reason comes first: an Error Comment keeps 64 characters.
            raise QueryError(f"a hierarchical {level} query needs one {keyword} "
                             f"(the unique key of the {above} level, PS3.4 C.4.1.2.1)",
                             offending=[_UNIQUE_KEY_TAGS[keyword]])
    return level


def _keys(query: Dataset, level: str | None = None) -> Dataset:
    """The keys that take part in matching: those the index holds; with ``level``,
    only those of its entities and the levels above. A key of a level below is not
    matched, as in find_sql: the Hierarchical Search Method matches the keys against
    the entities of the query's level (PS3.4 C.4.1.3.1.1)."""
    from pydicom.dataset import Dataset

    held = _INDEXED if level is None else \
        {keyword for table in LEVEL_TABLES[level] for keyword in COLUMNS[table]}
    keys = Dataset()
    for element in query:
        if element.keyword in held:
            keys.add(element)
    return keys


def _candidate(row: dict[str, str], wanted: list[tuple[int, str, str]]) -> Dataset:
    """A data set of the row's values for the attributes the query names (building
    only those: a data set per row is the cost of a large query)."""
    from pydicom.dataelem import DataElement
    from pydicom.dataset import Dataset

    candidate = Dataset()
    for tag, vr, keyword in wanted:
        value = row.get(keyword)
        if value is not None:
            candidate.add(DataElement(tag, vr, value))
    return candidate


def _single_value(query: Dataset, keyword: str) -> str | None:
    """The unique key's value if it names one entity: not empty, no wild card, no
    list."""
    element = query.get(_UNIQUE_KEY_TAGS[keyword])
    # The text, several values joined by "\\" (str() of pydicom's MultiValue is a
    # Python list's text, and would pass for one value).
    value = "" if element is None else _text(element.value).strip(" \x00")
    if not value or any(ch in value for ch in "*?\\"):
        return None
    return value


def _exact(query: Dataset) -> dict[str, str]:
    """Unique keys naming one entity: those entities can be looked up rather than
    scanned."""
    values = {keyword: _single_value(query, keyword) for keyword in _UNIQUE_KEYS.values()}
    return {keyword: value for keyword, value in values.items() if value is not None}


def _wanted(query: Dataset) -> list[tuple[int, str, str]]:
    """(tag, VR, keyword) of the query's attributes the index holds."""
    return [(int(element.tag), element.VR, element.keyword) for element in query
            if element.keyword in _INDEXED]


def matching_identifiers(db: IndexConnection, query: Dataset, model: str, *,
                         transfer_syntax: str | None = None, strict: bool = True
                         ) -> Iterator[Dataset | bytes | None]:
    """The identifiers a C-FIND returns for ``query`` (PS3.4 C.4.1.2.2): matched in
    SQL, each encoded in ``transfer_syntax`` when :mod:`~dicomnet.archive.find_sql`
    can, else a data set. ``strict``: see :func:`_level`."""
    level = _level(query, model, strict=strict)
    yield from run(db, plan(query, level, dialect_of(db)), transfer_syntax)


def python_identifiers(db: IndexConnection, query: Dataset, level: str
                       ) -> Iterator[Dataset | None]:
    """The identifiers of :func:`matching_identifiers`, matched row by row in Python
    (``None`` for each row that does not match): the reference the SQL path is
    tested against."""
    keys = _keys(query, level)
    wanted = _wanted(query)
    for row in level_rows(db, level, _exact(keys)):
        candidate = _candidate(row, wanted)
        if not identifier_matches(keys, candidate):
            yield None
            continue
        identifier = return_identifier(query, candidate)
        if any(not str(value).isascii() for value in row.values()):
            identifier.SpecificCharacterSet = "ISO_IR 192"  # the index keeps Unicode
        yield identifier


def matching_instances(db: IndexConnection, folder: Path, query: Dataset, model: str
                       ) -> list[tuple[Path, str]]:
    """The files of the instances a C-GET or C-MOVE of ``query`` retrieves (every
    instance below the matching entities of the query's level, PS3.4 C.4.2.2.1), each
    with its SOP Instance UID as the index knows it: what a retrieval reports for a
    file that has gone missing or bad."""
    _level(query, model)
    keys = _keys(query)
    wanted = _wanted(keys)
    return [(folder / row["_path"], row.get("SOPInstanceUID", ""))
            for row in level_rows(db, "IMAGE", _exact(keys))
            if identifier_matches(keys, _candidate(row, wanted))]
