"""A C-FIND over the index as one SQL statement, its answers encoded from the rows.

The keys the index holds are matched in SQL (:mod:`~dicomnet.archive.sqlmatch`); the
counts of PS3.4 C.6.1.1 / C.6.2.1 (Number of ... Related ..., Modalities in Study) are
computed by correlated subqueries, only when the query asks for them; and each match's
identifier is encoded straight from its row (:mod:`~dicomnet.dimse.text_elements`),
with no pydicom data set, when the context's transfer syntax allows. The identifier is
the one :func:`~dicomnet.archive.matching.return_identifier` builds: every key of the
query with the entity's value, or empty when the index has none (C.2.2.1.2), the
Query/Retrieve Level, and Specific Character Set ISO_IR 192 when a value is not ASCII.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dicomnet.archive.database import POSTGRESQL, SQLITE, Dialect, IndexConnection
from dicomnet.archive.index import COLUMNS, LEVEL_TABLES, level_tables_sql
from dicomnet.archive.matching import MatchError, _is_key, _text, _vr_of, key_matcher
from dicomnet.archive.sqlmatch import as_pydicom, key_condition
from dicomnet.dimse.text_elements import TEXT_VRS, encode_text_elements, fast_syntax

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

__all__ = ["COUNTS", "FindPlan", "plan", "run"]

_QUERY_RETRIEVE_LEVEL = 0x00080052
_SPECIFIC_CHARACTER_SET = 0x00080005
_MODALITIES_IN_STUDY = "ModalitiesInStudy"

#: Keyword -> (table, column) of the index's attributes.
_COLUMN_OF = {keyword: (table, column) for table, columns in COLUMNS.items()
              for keyword, column in columns.items()}
#: Unique keys naming one entity, narrowed with "=" on their (indexed) column.
_UNIQUE = {"PatientID": "patient.patient_id", "StudyInstanceUID": "study.study_uid",
           "SeriesInstanceUID": "series.series_uid",
           "SOPInstanceUID": "instance.sop_instance_uid"}

_STUDY_SERIES = "FROM series s WHERE s.study_uid = study.study_uid"
_STUDY_INSTANCES = ("FROM series s JOIN instance i ON i.series_uid = s.series_uid "
                    "WHERE s.study_uid = study.study_uid")
_PATIENT_STUDIES = "FROM study st WHERE st.patient_id = patient.patient_id"
_PATIENT_SERIES = ("FROM study st JOIN series s ON s.study_uid = st.study_uid "
                   "WHERE st.patient_id = patient.patient_id")
_PATIENT_INSTANCES = ("FROM study st JOIN series s ON s.study_uid = st.study_uid "
                      "JOIN instance i ON i.series_uid = s.series_uid "
                      "WHERE st.patient_id = patient.patient_id")
#: PS3.4 C.6.1.1.2-4 / C.6.2.1.2-3: the optional return keys counted at each level,
#: as SQL over the entity's row. Asked at another level, they come back empty.
def _counts(dialect: Dialect) -> dict[str, dict[str, str]]:
    modalities = dialect.string_agg("m", "'\\'")
    return {
        "PATIENT": _COUNTS["PATIENT"],
        "STUDY": {**_COUNTS["STUDY"], _MODALITIES_IN_STUDY:
                  # The study's modalities, each once, as the values of one CS element.
                  f"coalesce((SELECT {modalities} FROM (SELECT DISTINCT s.modality AS m "
                  f"{_STUDY_SERIES} AND coalesce(s.modality, '') <> '' ORDER BY m) AS d), "
                  "'')"},
        "SERIES": _COUNTS["SERIES"],
    }


_COUNTS: dict[str, dict[str, str]] = {
    "PATIENT": {
        "NumberOfPatientRelatedStudies": f"(SELECT count(*) {_PATIENT_STUDIES})",
        "NumberOfPatientRelatedSeries": f"(SELECT count(*) {_PATIENT_SERIES})",
        "NumberOfPatientRelatedInstances": f"(SELECT count(*) {_PATIENT_INSTANCES})",
    },
    "STUDY": {
        "NumberOfStudyRelatedSeries": f"(SELECT count(*) {_STUDY_SERIES})",
        "NumberOfStudyRelatedInstances": f"(SELECT count(*) {_STUDY_INSTANCES})",
    },
    "SERIES": {
        "NumberOfSeriesRelatedInstances":
            "(SELECT count(*) FROM instance i WHERE i.series_uid = series.series_uid)",
    },
}
#: The SQL of each count, per level, as SQLite says it.
COUNTS = _counts(SQLITE)
_COUNTS_OF = {dialect.name: _counts(dialect) for dialect in (SQLITE, POSTGRESQL)}
#: The key of each table, by which PostgreSQL's scans are sliced.
_KEY_OF = {"patient": "patient.patient_id", "study": "study.study_uid",
           "series": "series.series_uid", "instance": "instance.sop_instance_uid"}

@dataclass
class FindPlan:
    """A query made SQL: the statement, its parameters, and what each match returns:
    (tag, VR, index of the selected column or None for an empty value)."""

    sql: str
    parameters: list[str]
    #: The level's own table, scanned in slices of its rows (by rowid) when no
    #: unique key narrows the query; None when one does.
    sliced: str | None
    returned: list[tuple[int, str, int | None]]
    #: The Query/Retrieve Level element as the query has it: (VR, text).
    level: tuple[str, str] | None
    #: Without Python in SQL: (index of the selected column, the key's matcher) of each
    #: key the statement may have let through; a row must satisfy them all.
    checks: list[tuple[int, str, Callable[[str | None], bool]]] = field(
        default_factory=list)
    #: Without rowids (PostgreSQL), an unnarrowed scan's statement, sliced by the
    #: level table's key: :data:`_AFTER` stands for the condition on the last key seen.
    keyset: str | None = None

    def text_only(self) -> bool:
        return all(vr in TEXT_VRS for _tag, vr, _i in self.returned) and \
            (self.level is None or self.level[0] in TEXT_VRS)


def plan(query: Dataset, level: str, dialect: Dialect = SQLITE) -> FindPlan:
    """The SQL for ``query`` at ``level``, in ``dialect``.

    Raises :class:`~dicomnet.archive.matching.MatchError` for a key that cannot be
    valid."""
    tables = LEVEL_TABLES[level]
    counts = _COUNTS_OF[dialect.name].get(level, {})
    python_in_sql = dialect.python_in_sql
    checks: list[tuple[int, str, Callable[[str | None], bool]]] = []
    selected: list[str] = []
    conditions: list[str] = []
    parameters: list[str] = []
    returned: list[tuple[int, str, int | None]] = []
    for element in query:
        tag = element.tag
        if not _is_key(tag):
            continue
        keyword = element.keyword
        raw_vr = str(element.VR)
        source: str | None = None
        if keyword in _COLUMN_OF:
            if raw_vr not in TEXT_VRS:
                # A sequence or binary key for a text attribute: no value of the
                # index can be one (Python's rules could not build the candidate).
                raise MatchError(f"{keyword} cannot be a {raw_vr} key (PS3.4 C.2.2.2)")
            table, column = _COLUMN_OF[keyword]
            text = _text(element.value)
            if table in tables:
                source = f"coalesce({table}.{column}, '')"
                condition = key_condition(_vr_of(element), text, source, dialect)
                if condition is not None:
                    conditions.append(condition[0])
                    parameters += condition[1]
                    if not python_in_sql:
                        _check(checks, len(selected), _vr_of(element), text)
            # Else a key of a level below the query's (a series' Modality in a STUDY
            # query): not matched, returned empty. The Hierarchical Search Method
            # matches the keys against the entities of the query's level (PS3.4
            # C.4.1.3.1.1), down to that level and no further (C.4.1.2.1); a study has
            # no Modality of its own to match, and filtering studies by their series
            # would be a relational query, which is not negotiated here.
        elif keyword in counts and raw_vr in TEXT_VRS:
            source = counts[keyword]
            if keyword == _MODALITIES_IN_STUDY:
                # An optional matching key (PS3.4 C.6.2.1.2): any modality may match.
                text = _text(element.value)
                if key_matcher(_vr_of(element), text) is not None:
                    if python_in_sql:
                        conditions.append(f"dn_match(?, ?, {source})")
                        parameters += [_vr_of(element), text]
                    else:
                        _check(checks, len(selected), _vr_of(element), text)
        if source is None:
            returned.append((int(tag), _vr_of(element), None))
        else:
            returned.append((int(tag), raw_vr, len(selected)))
            selected.append(source)
    # The unique keys that name one entity: an index look-up rather than a scan.
    narrowed = False
    for keyword, column in _UNIQUE.items():
        if column.split(".")[0] not in tables or keyword not in query:
            continue
        key = query.data_element(keyword)
        value = "" if key is None else _text(key.value).strip(" \x00")
        if value and not any(ch in value for ch in "*?\\"):
            conditions.append(f"{column} = ?")
            parameters.append(value)
            narrowed = True
    columns = ", ".join(selected) or "1"
    where = " AND ".join(conditions or ["TRUE"])
    sql = f"SELECT {columns} {level_tables_sql(level)} WHERE {where}"
    keyset = None
    if not dialect.rowid and not narrowed:
        # The level's key, selected last (after the identifiers' columns), orders the
        # slices: see _keyset.
        level_key = _KEY_OF[tables[-1]]
        keyset = (f"SELECT {columns}, {level_key} {level_tables_sql(level)} WHERE {where} "
                  f"{_AFTER} ORDER BY {level_key} LIMIT ?")
    level_element = query.get(_QUERY_RETRIEVE_LEVEL)
    level_value = None if level_element is None else \
        (str(level_element.VR), _text(level_element.value))
    return FindPlan(sql, parameters, None if narrowed else tables[-1], returned,
                    level_value, checks, keyset)


def _check(checks: list[tuple[int, str, Callable[[str | None], bool]]], index: int,
           vr: str, key: str) -> None:
    """Match the selected column ``index`` by the key's own matcher, in Python, as
    ``dn_match`` does inside SQLite."""
    matcher = key_matcher(vr, key)
    if matcher is not None:
        checks.append((index, vr.upper(), matcher))


def _statements(db: IndexConnection, find: FindPlan) -> Iterator[Iterable[Any]]:
    """The query, as one statement, or one per slice of :data:`_SLICE_ROWS` rows of
    the level's table when nothing narrows it: a statement cannot be paused, and
    between two matches SQLite may skip any number of rows, during which the first
    matches would wait and the scan could not hand them over."""
    if find.sliced is None:
        cursor = db.execute(find.sql, find.parameters)
        try:
            yield cursor
        finally:
            cursor.close()
        return
    table = find.sliced
    if find.keyset is not None:
        yield from _keyset(db, find, table)
        return
    last = db.execute(f"SELECT max(rowid) FROM {table}").fetchone()[0] or 0
    sql = f"{find.sql} AND {table}.rowid BETWEEN ? AND ?"
    for first in range(0, last + 1, _SLICE_ROWS):
        cursor = db.execute(sql, [*find.parameters, first, first + _SLICE_ROWS - 1])
        try:
            yield cursor
        finally:
            cursor.close()


#: Rows of the level's table one statement of an unnarrowed query looks at.
_SLICE_ROWS = 4096
#: In a keyset statement, where the condition on the last key seen goes.
_AFTER = "/*after*/"


def _keyset(db: IndexConnection, find: FindPlan, table: str) -> Iterator[list[Any]]:
    """PostgreSQL's slices: the next :data:`_SLICE_ROWS` matches after the last key
    seen, in the order of the table's key (an index scan). The key is selected last,
    after the columns the identifiers are made of."""
    assert find.keyset is not None
    first = find.keyset.replace(_AFTER, "")
    next_ = find.keyset.replace(_AFTER, f"AND {_KEY_OF[table]} > ?")
    rows = db.execute(first, [*find.parameters, _SLICE_ROWS]).fetchall()
    while True:
        yield rows
        if len(rows) < _SLICE_ROWS:
            return
        rows = db.execute(next_, [*find.parameters, rows[-1][-1], _SLICE_ROWS]).fetchall()


def run(db: IndexConnection, find: FindPlan, transfer_syntax: str | None
        ) -> Iterator[bytes | Dataset | None]:
    """The identifiers of the matches: encoded in ``transfer_syntax`` when it is one
    :mod:`~dicomnet.dimse.text_elements` writes, else pydicom data sets; ``None``
    after each slice of the table (see :meth:`IndexWorker.scan_batches`)."""
    implicit = None if transfer_syntax is None else fast_syntax(transfer_syntax)
    fast = implicit is not None and find.text_only()
    returned = find.returned
    level = find.level
    checks = find.checks
    for cursor in _statements(db, find):
        for row in cursor:
            if checks and not all(matcher(as_pydicom(vr, str(row[index])))
                                  for index, vr, matcher in checks):
                continue
            elements = [(tag, vr, "" if index is None else as_pydicom(vr, str(row[index])))
                        for tag, vr, index in returned]
            if level is not None:
                elements.append((_QUERY_RETRIEVE_LEVEL, *level))
            ascii_only = all(text.isascii() for _t, _v, text in elements)
            if not ascii_only:
                elements.append((_SPECIFIC_CHARACTER_SET, "CS", "ISO_IR 192"))
            if fast:
                assert implicit is not None
                data = encode_text_elements(elements, implicit=implicit,
                                            codec="ascii" if ascii_only else "utf-8")
                if data is not None:
                    yield data
                    continue
            yield _dataset(elements, returned)
        yield None  # a slice of the table looked at: the scan may hand over, or stop


def _dataset(elements: list[tuple[int, str, str]],
             returned: list[tuple[int, str, int | None]]) -> Dataset:
    """The identifier as a pydicom data set (sequence keys empty, other keys without
    a value when the index has none), for pydicom to encode."""
    from pydicom.dataelem import DataElement
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    empty = {tag for tag, _vr, index in returned if index is None}
    identifier = Dataset()
    for tag, vr, text in elements:
        if vr == "SQ":
            identifier.add(DataElement(tag, "SQ", Sequence([])))
        else:
            identifier.add(DataElement(tag, vr, None if tag in empty else text))
    return identifier
