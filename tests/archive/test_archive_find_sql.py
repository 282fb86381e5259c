"""C-FIND matched in SQL (archive/sqlmatch.py, find_sql.py) gives exactly what the
Python matcher (matching.py, PS3.4 C.2.2.2) gives, row by row: a differential test
over random indexes and random keys of every VR the index holds, plus the cases a
random search may miss and the counts the SQL computes."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from dicomnet.archive import index as index_module
from dicomnet.archive.database import POSTGRESQL, SQLITE, IndexConnection, dialect_of
from dicomnet.archive.find_sql import plan, run
from dicomnet.archive.index_postgresql import PostgresBackend
from dicomnet.archive.matching import WILDCARD_VRS, MatchError, key_matcher
from dicomnet.archive.query import QueryError, _level, python_identifiers
from dicomnet.archive.schema import statements
from dicomnet.archive.sqlmatch import MAX_GLOB_STARS, key_condition, register
from dicomnet.dimse import encode_dataset

# Keys and values are random text, not valid for their VR: pydicom says so.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

EXPLICIT = "1.2.840.10008.1.2.1"
IMPLICIT = "1.2.840.10008.1.2"

_TEXT = "AaBbz0 ^=\\*?[]-.éßK\x00"
_STORED = {
    "DA": ["20200101", "20200229", "20210229", "2020.03.01", "", "2020010", "20201231 ",
           "00000101", "20201301", "20200315", "19991231"],
    "TM": ["101010", "1010", "10", "101010.123", "10:10:10", "", "246060", "235959"],
    "UI": ["1.2", "1.2.3", "1.2 ", "1.2\\1.3", "", "1.3"],
    "IS": ["1", "01", " 1", "1\\2", "", "2"],
}
_KEYS = {
    "DA": ["20200101-20201231", "-20200301", "20200201-", "20200101", "20200229",
           "2020.03.01", "20201301-", "20200101-20200101\\19991231", "-", "*"],
    "TM": ["10-11", "1010-", "-10", "101010", "10", "1030-1000"],
    "UI": ["1.2\\1.3", "1.2", "1.2.3", "1.2*", "\\"],
    "IS": ["1", "01", "2\\1"],
}
_COLUMNS = {keyword: (table, column) for table, columns in index_module.COLUMNS.items()
            for keyword, column in columns.items()}


#: A new, empty index connection (SQLite in memory, or a PostgreSQL database emptied).
Fresh = Callable[[], IndexConnection]


def _sqlite() -> IndexConnection:
    db = sqlite3.connect(":memory:")
    register(db)
    for statement in statements(SQLITE):
        db.execute(statement)
    return db


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh(request: pytest.FixtureRequest) -> Iterator[Fresh]:
    """Both back-ends: the SQL of each is checked against matching.py."""
    if request.param == "sqlite":
        yield _sqlite
        return
    db = PostgresBackend(str(request.getfixturevalue("postgres_url")), 5.0).connect()

    def emptied() -> IndexConnection:
        db.execute("TRUNCATE instance, series, study, patient")
        return db

    yield emptied
    db.close()


def _vr(keyword: str) -> str:
    return dictionary_VR(tag_for_keyword(keyword))


_POOL = ["Doe^John", "DOE^JOHN^", "doe^john=Dó^J", "CT", "MR", "CT\\MR", " ab", "ab",
         "a[b]", "K", "STRASSE", "Straße", "x y", "Dó", "A^B^^", "a=b"]


def _stored(keyword: str) -> st.SearchStrategy[str | None]:
    vr = _vr(keyword)
    if vr in _STORED:
        return st.sampled_from([*_STORED[vr], None])
    return st.one_of(st.none(), st.sampled_from(_POOL), st.text(_TEXT, max_size=6))


@st.composite
def _wild(draw: st.DrawFn) -> str:
    """A value of the pool with some characters made wild cards, its case changed."""
    value = list(draw(st.sampled_from(_POOL)))
    for _ in range(draw(st.integers(0, 3))):
        if value:
            value[draw(st.integers(0, len(value) - 1))] = draw(st.sampled_from("*?"))
    text = "".join(value)
    return draw(st.sampled_from([text, text.lower(), text.upper()]))


def _key(keyword: str) -> st.SearchStrategy[str]:
    vr = _vr(keyword)
    if vr in _KEYS:
        return st.sampled_from(["", *_KEYS[vr], *_STORED[vr]])
    return st.one_of(st.just(""), st.sampled_from(_POOL), _wild(),
                     st.sampled_from(_POOL).map(str.lower), st.text(_TEXT, max_size=6),
                     st.sampled_from(["doe*", "D?E^*", "*", "**A*", "*^JOHN", "ct",
                                      "CT\\MR", "strasse", "STRAßE", "a[b]", "a[*",
                                      "*a*b*a*b*a*b*", "dó*", "K*", '""', "CT\\*"]))


@st.composite
def _index(draw: st.DrawFn, fresh: Fresh) -> tuple[IndexConnection, dict[str, list[str]]]:
    """A small random index, and the values it holds by keyword (for keys that hit)."""
    held: dict[str, list[str]] = {}

    def value(keyword: str) -> str | None:
        text = draw(_stored(keyword))
        if text:
            held.setdefault(keyword, []).append(text)
        return text

    db = fresh()
    patients = [f"P{n}" for n in range(draw(st.integers(1, 2)))]
    for patient in patients:
        values = {c: value(k) for k, (t, c) in _COLUMNS.items()
                  if t == "patient" and c != "patient_id"}
        db.execute("INSERT INTO patient VALUES (?, ?, ?, ?)",
                   (patient, values["patient_name"], values["birth_date"], values["sex"]))
    for number in range(draw(st.integers(1, 3))):
        study = f"1.{number}"
        v = {c: value(k) for k, (t, c) in _COLUMNS.items()
             if t == "study" and c != "study_uid"}
        db.execute("INSERT INTO study VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   (study, draw(st.sampled_from(patients)), v["study_date"], v["study_time"],
                    v["accession_number"], v["study_id"], v["description"],
                    v["referring_physician"]))
        for s in range(draw(st.integers(0, 2))):
            series = f"{study}.{s}"
            db.execute("INSERT INTO series VALUES (?, ?, ?, ?, ?)",
                       (series, study, value("Modality"),
                        value("SeriesNumber"), value("SeriesDescription")))
            for i in range(draw(st.integers(0, 2))):
                db.execute("INSERT INTO instance VALUES (?, ?, ?, ?, '1.2', 'p', 0, '', 0)",
                           (f"{series}.{i}", series, value("SOPClassUID") or "",
                            value("InstanceNumber")))
    return db, held


def _hit(value: str, vr: str, draw: st.DrawFn) -> str:
    """A key made from a value the index holds: as it is, its case changed, or with
    some of its characters made wild cards."""
    if vr not in WILDCARD_VRS:
        return draw(st.sampled_from([value, f" {value} "]))
    chars = list(value)
    for _ in range(draw(st.integers(0, 2))):
        if chars:
            chars[draw(st.integers(0, len(chars) - 1))] = draw(st.sampled_from("*?"))
    text = draw(st.sampled_from([value, "".join(chars)]))
    return draw(st.sampled_from([text, text.lower(), text.upper(), f" {text} "]))


@st.composite
def _query(draw: st.DrawFn, held: dict[str, list[str]]) -> tuple[Dataset, str]:
    level = draw(st.sampled_from(["PATIENT", "STUDY", "SERIES", "IMAGE"]))
    query = Dataset()
    query.QueryRetrieveLevel = level
    # Mostly keys of the level's own entities: a key of a level below is not matched.
    own = [k for k, (table, _c) in _COLUMNS.items()
           if table in index_module.LEVEL_TABLES[level]]
    keywords = draw(st.lists(st.sampled_from(own), max_size=3, unique=True))
    keywords += draw(st.lists(st.sampled_from(sorted(_COLUMNS)), max_size=1))
    for keyword in dict.fromkeys(keywords):
        if held.get(keyword) and draw(st.booleans()):
            key = _hit(draw(st.sampled_from(held[keyword])), _vr(keyword), draw)
        else:
            key = draw(_key(keyword))
        query.add(DataElement(tag_for_keyword(keyword), _vr(keyword), key))
    if draw(st.booleans()):
        query.StudyComments = ""  # a key the index does not hold: returned empty
    return query, level


def _python(db: IndexConnection, query: Dataset, level: str) -> list[Dataset]:
    return [found for found in python_identifiers(db, query, level) if found is not None]


def _key_of(identifier: Dataset) -> list[tuple[int, str]]:
    return sorted((int(element.tag), str(element.value)) for element in identifier
                  if int(element.tag) != 0x00080005)


@settings(max_examples=600, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.data())
def test_sql_matches_as_python_does(fresh: Fresh, data: st.DataObject) -> None:
    db, held = data.draw(_index(fresh))
    query, level = data.draw(_query(held))
    try:
        find = plan(query, level, dialect_of(db))
    except MatchError:
        # Refused whatever the index holds; Python refuses it too once it meets it.
        return
    expected = _python(db, query, level)
    got = [found for found in run(db, find, None) if found is not None]
    assert all(isinstance(identifier, Dataset) for identifier in got)
    assert sorted(map(_key_of, got)) == sorted(map(_key_of, expected))  # type: ignore[arg-type]
    # The identifiers encoded from the rows are the bytes pydicom writes for the
    # Python path's identifiers (with the character set declared when needed).
    for syntax in (EXPLICIT, IMPLICIT):
        # (pydicom encodes those the row encoder leaves to it: text out of its VR's
        # repertoire, a sequence key.)
        encoded = sorted(data if isinstance(data, bytes) else encode_dataset(data, syntax)
                         for data in run(db, find, syntax) if data is not None)
        reference = []
        for identifier in expected:
            values = [str(e.value) for e in identifier if int(e.tag) != 0x00080005]
            if all(text.isascii() for text in values):
                identifier.pop(0x00080005, None)
            else:
                identifier.SpecificCharacterSet = "ISO_IR 192"
            reference.append(encode_dataset(identifier, syntax))
        assert encoded == sorted(reference)


@pytest.mark.parametrize("value", [
    "20200229", "20210229", "19000229", "20000229", "20230431", "20231301", "20230100",
    "00010101", "00000101", "99991231", "2023010", "2023-01-01"])
def test_a_da_range_checks_each_stored_date_as_python_does(value: str) -> None:
    """SQLite's date() takes "2023-02-30" as it is: the SQL's date check must not."""
    db = sqlite3.connect(":memory:")
    register(db)
    db.execute("CREATE TABLE v (c TEXT)")
    db.execute("INSERT INTO v VALUES (?)", (value,))
    for key in ("00010101-99991231", "20200101-", "-20201231"):
        condition = key_condition("DA", key, "v.c")
        assert condition is not None
        got = db.execute(f"SELECT {condition[0]} FROM v", condition[1]).fetchone()[0]
        matcher = key_matcher("DA", key)
        assert matcher is not None
        assert bool(got) is matcher(value)


@pytest.mark.parametrize("value", [
    "20200229", "20210229", "19000229", "20000229", "20230431", "20231301", "20230100",
    "00010101", "00000101", "99991231", "2023010", "2023-01-01", "20230228"])
def test_a_postgresql_da_range_keeps_every_date_python_matches(
        value: str, fresh: Fresh, request: pytest.FixtureRequest) -> None:
    """PostgreSQL cannot call matching.py: its condition may keep more rows (they are
    matched in Python afterwards) but never fewer."""
    if dialect_of(fresh()) is not POSTGRESQL:
        return  # the SQLite case is exact: the test above
    db = fresh()
    db.execute("CREATE TEMPORARY TABLE IF NOT EXISTS v (c TEXT COLLATE \"C\")")
    db.execute("DELETE FROM v")
    db.execute("INSERT INTO v VALUES (?)", (value,))
    for key in ("00010101-99991231", "20200101-", "-20201231", "20230201-20230228"):
        condition = key_condition("DA", key, "v.c", POSTGRESQL)
        assert condition is not None
        got = db.execute(f"SELECT {condition[0]} FROM v", condition[1]).fetchone()[0]
        matcher = key_matcher("DA", key)
        assert matcher is not None
        if matcher(value):
            assert got


def test_many_stars_do_not_backtrack(fresh: Fresh) -> None:
    """SQLite's GLOB retries each "*" at every later place: a key of many "*" against
    a long value would take a power of its length. Such keys go to the linear
    matcher; the query is answered in about the time of a plain one."""
    db = fresh()
    db.execute("INSERT INTO patient VALUES ('P', ?, '', '')", ("a" * 60,))
    for stars in (MAX_GLOB_STARS, 30):
        query = Dataset()
        query.QueryRetrieveLevel = "PATIENT"
        query.add(DataElement(0x00100010, "PN", "*a" * stars + "*b"))
        find = plan(query, "PATIENT", dialect_of(db))
        started = time.perf_counter()
        assert [found for found in run(db, find, EXPLICIT) if found is not None] == []
        assert time.perf_counter() - started < 2.0


def _counting_index(fresh: Fresh) -> IndexConnection:
    db = fresh()
    db.execute("INSERT INTO patient VALUES ('P1', 'A', '', '')")
    db.execute("INSERT INTO patient VALUES ('P2', 'B', '', '')")
    db.execute("INSERT INTO study (study_uid, patient_id) VALUES ('1.1', 'P1')")
    db.execute("INSERT INTO study (study_uid, patient_id) VALUES ('1.2', 'P1')")
    db.execute("INSERT INTO study (study_uid, patient_id) VALUES ('1.3', 'P2')")
    for series, study, modality, instances in (("1.1.1", "1.1", "MR", 2),
                                               ("1.1.2", "1.1", "CT", 3),
                                               ("1.1.3", "1.1", "CT", 0),
                                               ("1.2.1", "1.2", "US", 1)):
        db.execute("INSERT INTO series VALUES (?, ?, ?, '', '')", (series, study, modality))
        for number in range(instances):
            db.execute("INSERT INTO instance VALUES (?, ?, '1.2', '', '1.2', 'p', 0, '', 0)",
                       (f"{series}.{number}", series))
    return db


def _find(db: IndexConnection, level: str, **keys: str) -> list[Dataset]:
    query = Dataset()
    query.QueryRetrieveLevel = level
    for keyword, value in keys.items():
        setattr(query, keyword, value)
    find = plan(query, level, dialect_of(db))
    return [found for found in run(db, find, None) if isinstance(found, Dataset)]


def test_counts_are_computed_when_asked(fresh: Fresh) -> None:
    db = _counting_index(fresh)
    studies = {s.StudyInstanceUID: s for s in _find(
        db, "STUDY", StudyInstanceUID="", NumberOfStudyRelatedSeries="",
        NumberOfStudyRelatedInstances="", ModalitiesInStudy="")}
    assert (studies["1.1"].NumberOfStudyRelatedSeries, studies["1.1"].NumberOfStudyRelatedInstances,
            list(studies["1.1"].ModalitiesInStudy)) == (3, 5, ["CT", "MR"])
    assert (studies["1.3"].NumberOfStudyRelatedSeries, studies["1.3"].NumberOfStudyRelatedInstances,
            studies["1.3"].ModalitiesInStudy) == (0, 0, "")
    series = {s.SeriesInstanceUID: s.NumberOfSeriesRelatedInstances for s in _find(
        db, "SERIES", SeriesInstanceUID="", NumberOfSeriesRelatedInstances="")}
    assert series == {"1.1.1": 2, "1.1.2": 3, "1.1.3": 0, "1.2.1": 1}
    patients = {p.PatientID: (p.NumberOfPatientRelatedStudies, p.NumberOfPatientRelatedSeries,
                              p.NumberOfPatientRelatedInstances) for p in _find(
        db, "PATIENT", PatientID="", NumberOfPatientRelatedStudies="",
        NumberOfPatientRelatedSeries="", NumberOfPatientRelatedInstances="")}
    assert patients == {"P1": (2, 4, 6), "P2": (1, 0, 0)}
    # Modalities in Study is a matching key too (PS3.4 C.6.2.1.2): any of them.
    assert [s.StudyInstanceUID for s in _find(db, "STUDY", StudyInstanceUID="",
                                              ModalitiesInStudy="MR")] == ["1.1"]
    # Counts of another level come back empty, as keys the index does not hold.
    (image,) = _find(db, "STUDY", StudyInstanceUID="1.2", NumberOfSeriesRelatedInstances="")
    assert image.NumberOfSeriesRelatedInstances is None


def test_a_key_of_a_level_below_is_not_matched(fresh: Fresh) -> None:
    """A series' Modality or Series Instance UID in a STUDY query: a study has none of
    its own, so the key takes no part (PS3.4 C.4.1.3.1.1) and comes back empty; SQL
    and Python alike."""
    db = _counting_index(fresh)
    for keyword, value in (("Modality", "XX"), ("SeriesInstanceUID", "9.9"),
                           ("Modality", "CT")):
        query = Dataset()
        query.QueryRetrieveLevel = "STUDY"
        query.StudyInstanceUID = "1.2"
        setattr(query, keyword, value)
        (found,) = _find(db, "STUDY", StudyInstanceUID="1.2", **{keyword: value})
        assert found.StudyInstanceUID == "1.2"
        assert found[keyword].value in (None, "")
        assert [ds.StudyInstanceUID for ds in _python(db, query, "STUDY")] == ["1.2"]


def test_a_sequence_key_goes_the_python_way(fresh: Fresh) -> None:
    db = _counting_index(fresh)
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID = "1.1"
    query.ReferencedStudySequence = Sequence([])
    find = plan(query, "STUDY", dialect_of(db))
    (found,) = [found for found in run(db, find, EXPLICIT) if found is not None]
    assert isinstance(found, Dataset)  # pydicom encodes the sequence
    assert found.ReferencedStudySequence == Sequence([])


def test_a_study_level_image_query_is_answered_unless_strict() -> None:
    query = Dataset()
    query.QueryRetrieveLevel = "IMAGE"
    query.StudyInstanceUID = "1.1"
    query.SOPInstanceUID = ""
    assert _level(query, "study", strict=False) == "IMAGE"
    with pytest.raises(QueryError, match="SeriesInstanceUID") as refused:
        _level(query, "study", strict=True)
    assert refused.value.offending == (0x0020000E,)


@pytest.mark.parametrize(("vr", "keyword", "stored"), [
    ("UI", "StudyInstanceUID", "1.1"), ("CS", "Modality", "CT"), ("PN", "PatientName", "A")])
def test_a_key_of_very_many_values_is_answered(vr: str, keyword: str, stored: str,
                                              fresh: Fresh) -> None:
    """A peer's list of 40,000 values: more than SQLite's variables per statement, or
    its expression depth, if each were a condition of its own."""
    db = _counting_index(fresh)
    values = [f"X{n}" for n in range(40_000)] + [stored]
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY" if keyword != "Modality" else "SERIES"
    query.add(DataElement(tag_for_keyword(keyword), vr, "\\".join(values)))
    level = str(query.QueryRetrieveLevel)
    find = plan(query, level, dialect_of(db))
    got = [found for found in run(db, find, EXPLICIT) if found is not None]
    assert len(got) == len(_python(db, query, level)) > 0


def test_a_sequence_key_for_a_text_attribute_is_refused() -> None:
    """A peer may send a key the index holds as a sequence: no stored value can match
    it, and the Python path could not even build its candidates; refused (A900)."""
    query = Dataset()
    query.QueryRetrieveLevel = "PATIENT"
    query.add(DataElement(0x00100010, "SQ", Sequence([])))  # Patient's Name
    with pytest.raises(MatchError, match="PatientName cannot be a SQ key"):
        plan(query, "PATIENT")


def test_a_reader_with_an_unfinished_cursor_still_answers_a_find(tmp_path: object) -> None:
    """Found by the fuzz suite: a reader connection given back with a statement still
    active (a cursor not read to its end) made the next find fail in SQLite ("Error
    creating function"), since the matcher was registered again at every find."""
    from pathlib import Path

    index = index_module.ArchiveIndex(Path(str(tmp_path)))
    reader = index.reader()
    query = Dataset()
    query.QueryRetrieveLevel = "PATIENT"
    query.PatientName = "A*?*?*?*?*?*"  # more "*" than a GLOB may have: dn_match
    find = plan(query, "PATIENT")
    assert [found for found in run(reader, find, None) if found is not None] == []
    unfinished = reader.execute("SELECT 1 UNION ALL SELECT 2")
    assert unfinished.fetchone() == (1,)  # the statement stays active
    assert [found for found in run(reader, find, None) if found is not None] == []
    reader.close()
    index.close()


def test_an_unnarrowed_scan_returns_every_match_across_slices(
        fresh: Fresh, monkeypatch: pytest.MonkeyPatch) -> None:
    """A scan is sliced (by rowid on SQLite, by the level's key on PostgreSQL): every
    match comes back once, an empty Patient ID too, whatever the slices' size."""
    from dicomnet.archive import find_sql

    monkeypatch.setattr(find_sql, "_SLICE_ROWS", 3)
    db = fresh()
    ids = ["", *(f"P{n:02d}" for n in range(10))]
    for patient in ids:
        db.execute("INSERT INTO patient VALUES (?, ?, '', '')",
                   (patient, "Doe^Odd" if patient and patient[-1] in "13579" else "Doe^Even"))
    everyone = _find(db, "PATIENT", PatientID="")
    assert sorted(str(p.PatientID or "") for p in everyone) == ids
    odd = _find(db, "PATIENT", PatientID="", PatientName="doe^odd")
    assert sorted(str(p.PatientID) for p in odd) == ["P01", "P03", "P05", "P07", "P09"]
