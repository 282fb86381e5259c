"""Attribute matching (PS3.4 C.2.2.2), one table per rule, with the standard's examples."""

from __future__ import annotations

import pydicom
import pytest

from dicomnet.archive.matching import (
    MatchError,
    identifier_matches,
    key_matcher,
    return_identifier,
)


def _matches(vr: str, key: str, stored: str | None) -> bool:
    matcher = key_matcher(vr, key)
    return True if matcher is None else matcher(stored)


@pytest.mark.parametrize(("vr", "key", "stored", "expected"), [
    # C.2.2.2.1 single value matching: exact, case-sensitive...
    ("CS", "CT", "CT", True),
    ("CS", "CT", "MR", False),
    ("LO", "smith", "SMITH", False),
    ("SH", "ABC", "ABCD", False),
    # ...padding is not significant...
    ("CS", "CT", "CT ", True),
    ("LO", " ID1", "ID1", True),
    # ...except PN, which this implementation matches case-insensitively (allowed)
    ("PN", "smith^john", "SMITH^JOHN", True),
    ("PN", "SMITH^JOHN", "SMITH^JANE", False),
    ("DA", "20060705", "20060705", True),
    ("DA", "20060705", "20060706", False),
    ("IS", "5", "5", True),
    ("CS", "CT", None, False),
])
def test_single_value(vr: str, key: str, stored: str | None, expected: bool) -> None:
    assert _matches(vr, key, stored) is expected


@pytest.mark.parametrize(("key", "stored", "expected"), [
    # C.2.2.2.2 list of UID matching
    ("1.2.3\\1.2.4", "1.2.3", True),
    ("1.2.3\\1.2.4", "1.2.4", True),
    ("1.2.3\\1.2.4", "1.2.5", False),
    ("1.2.3", "1.2.3", True),
    ("1.2.3", "1.2.30", False),
])
def test_list_of_uid(key: str, stored: str, expected: bool) -> None:
    assert _matches("UI", key, stored) is expected


@pytest.mark.parametrize("vr", ["PN", "CS", "DA", "UI", "LO"])
@pytest.mark.parametrize("stored", ["anything", "", None])
def test_universal(vr: str, stored: str | None) -> None:
    # C.2.2.2.3: a zero-length key matches every entity, with or without a value
    assert key_matcher(vr, "") is None
    assert key_matcher(vr, None) is None
    assert _matches(vr, "", stored)


@pytest.mark.parametrize(("vr", "key", "stored", "expected"), [
    # C.2.2.2.4 wild card matching: * any sequence, ? one character
    ("PN", "Sm*th", "SMITH", True),
    ("PN", "SM*", "SMITH^JOHN", True),
    ("PN", "*ITH", "SMITH", True),
    ("PN", "SM?TH", "SMITH", True),
    ("PN", "SM?TH", "SMYYTH", False),
    ("LO", "A*C", "ABBBC", True),
    ("LO", "A*C", "ABBBD", False),
    ("LO", "??", "AB", True),
    ("LO", "??", "ABC", False),
    ("CS", "C*", "CT", True),
    ("CS", "C*", "MR", False),
    ("SH", "[AB]*", "[AB]X", True),  # brackets are ordinary characters in DICOM
    ("SH", "[AB]*", "AX", False),
])
def test_wildcard(vr: str, key: str, stored: str, expected: bool) -> None:
    assert _matches(vr, key, stored) is expected


def test_a_lone_star_is_universal() -> None:
    assert key_matcher("PN", "*") is None
    assert key_matcher("LO", "**") is None


def test_wildcards_are_not_allowed_in_uids() -> None:
    with pytest.raises(MatchError):
        key_matcher("UI", "1.2.*")


@pytest.mark.parametrize(("vr", "key", "stored", "expected"), [
    # C.2.2.2.5 range matching, the standard's forms: a-b, -b, a- (inclusive)
    ("DA", "20060705-20060707", "20060705", True),
    ("DA", "20060705-20060707", "20060706", True),
    ("DA", "20060705-20060707", "20060707", True),
    ("DA", "20060705-20060707", "20060708", False),
    ("DA", "20060705-20060707", "20060704", False),
    ("DA", "-19980101", "19970101", True),
    ("DA", "-19980101", "19980102", False),
    ("DA", "19980101-", "20000101", True),
    ("DA", "19980101-", "19971231", False),
    ("TM", "100000-120000", "110000", True),
    ("TM", "100000-120000", "113000.123", True),
    ("TM", "100000-120000", "093000", False),
    ("TM", "100000-120000", "120001", False),
    ("DT", "20060705120000-20060705130000", "20060705123000", True),
    ("DT", "20060705120000-20060705130000", "20060705140000", False),
    ("DA", "20060705-20060707", None, False),
])
def test_range(vr: str, key: str, stored: str | None, expected: bool) -> None:
    assert _matches(vr, key, stored) is expected


@pytest.mark.parametrize("key", ["-", "2006-01-01x", "abc-def"])
def test_bad_ranges_are_match_errors(key: str) -> None:
    with pytest.raises(MatchError):
        key_matcher("DA", key)


def _item(**values: str) -> pydicom.Dataset:
    item = pydicom.Dataset()
    for keyword, value in values.items():
        setattr(item, keyword, value)
    return item


def test_sequence_matching() -> None:
    # C.2.2.2.6: a query item matches if any item of the candidate's sequence matches
    candidate = pydicom.Dataset()
    candidate.ProcedureCodeSequence = [_item(CodeValue="A1", CodingSchemeDesignator="X"),
                                       _item(CodeValue="B2", CodingSchemeDesignator="X")]
    query = pydicom.Dataset()
    query.ProcedureCodeSequence = [_item(CodeValue="B2")]
    assert identifier_matches(query, candidate)
    query.ProcedureCodeSequence = [_item(CodeValue="C3")]
    assert not identifier_matches(query, candidate)
    query.ProcedureCodeSequence = [_item(CodeValue="B*")]
    assert identifier_matches(query, candidate)
    query.ProcedureCodeSequence = []  # an empty sequence key is universal
    assert identifier_matches(query, candidate)


def test_all_keys_must_match_and_level_is_not_a_key() -> None:
    candidate = _item(PatientID="P1", PatientName="DOE^JANE", StudyDate="20200101")
    query = _item(QueryRetrieveLevel="STUDY", PatientID="P1", PatientName="DOE*",
                  StudyDate="20190101-20201231")
    assert identifier_matches(query, candidate)
    query.PatientID = "P2"
    assert not identifier_matches(query, candidate)


def test_return_identifier_keeps_requested_keys_empty() -> None:
    # C.2.2.1.2: keys asked for but without a value at the SCP come back zero-length
    candidate = _item(PatientID="P1", StudyInstanceUID="1.2.3")
    query = _item(QueryRetrieveLevel="STUDY", StudyInstanceUID="", StudyDescription="")
    identifier = return_identifier(query, candidate)
    assert identifier.QueryRetrieveLevel == "STUDY"
    assert identifier.StudyInstanceUID == "1.2.3"
    assert "StudyDescription" in identifier
    assert not identifier.StudyDescription
    assert "PatientID" not in identifier  # not asked for: not returned
