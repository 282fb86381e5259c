"""Attribute matching (PS3.4 C.2.2.2): one table per rule, with the standard's examples."""

from __future__ import annotations

import pydicom
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.dataelem import DataElement

from dicomnet.archive.matching import (
    MatchError,
    identifier_matches,
    key_matcher,
    return_identifier,
)


def _matches(vr: str, key: str | None, stored: str | None, **options: bool) -> bool:
    matcher = key_matcher(vr, key, **options)
    return True if matcher is None else matcher(stored)


# -- C.2.2.2.1 Single Value Matching --------------------------------------------------

@pytest.mark.parametrize(("vr", "key", "stored", "expected"), [
    # exact...
    ("CS", "CT", "CT", True),
    ("CS", "CT", "MR", False),
    ("SH", "ABC", "ABCD", False),
    ("SH", "ABCD", "ABC", False),
    ("LO", "ID1", "ID1", True),
    # ...and case-sensitive, except PN
    ("LO", "smith", "SMITH", False),
    ("CS", "ct", "CT", False),
    ("AE", "store_scp", "STORE_SCP", False),
    # absent or empty stored values never match a value
    ("CS", "CT", None, False),
    ("CS", "CT", "", False),
    # DA, TM, DT: the literal value
    ("DA", "20060705", "20060705", True),
    ("DA", "20060705", "20060706", False),
    ("TM", "1000", "1000", True),
    ("TM", "1000", "100000", False),
    ("DT", "20060705120000", "20060705120000", True),
    ("DT", "20060705120000-0500", "20060705120000-0500", True),  # an offset, not a range
    ("DT", "20060705120000-0500", "20060705120000", False),
    # other VRs: the literal value
    ("IS", "5", "5", True),
    ("IS", "5", "50", False),
    ("IS", "5*", "50", False),  # no wild cards outside C.2.2.2.4's VRs
    ("US", "16", "16", True),
])
def test_single_value(vr: str, key: str, stored: str | None, expected: bool) -> None:
    assert _matches(vr, key, stored) is expected


@pytest.mark.parametrize(("key", "stored", "expected"), [
    # PN is case-insensitive in this implementation (C.2.2.2.1 allows it)
    ("smith^john", "SMITH^JOHN", True),
    ("Smith^John", "SMITH^JOHN", True),
    ("SMITH^JOHN", "SMITH^JANE", False),
    ("SMITH", "SMITH^JOHN", False),
    # trailing component and group delimiters are not significant (PS3.5 6.2)
    ("DOE^JOHN", "DOE^JOHN^^^", True),
    ("DOE^JOHN^^", "DOE^JOHN", True),
    # a key without "=" may match any component group
    ("yamada^tarou", "Yamada^Tarou=山田^太郎=やまだ^たろう", True),
    ("山田^太郎", "Yamada^Tarou=山田^太郎=やまだ^たろう", True),
    ("Yamada^Tarou=山田^太郎", "Yamada^Tarou=山田^太郎", True),
    ("Yamada^Tarou=山田^花子", "Yamada^Tarou=山田^太郎", False),
])
def test_person_names(key: str, stored: str, expected: bool) -> None:
    assert _matches("PN", key, stored) is expected


@pytest.mark.parametrize(("vr", "key", "stored"), [
    # padding of the key and of the stored value is not significant
    ("CS", "CT", "CT "),
    ("CS", "CT ", "CT"),
    ("LO", " ID1", "ID1"),
    ("LO", "ID1", "  ID1  "),
    ("SH", "A B", " A B "),
    ("UI", "1.2.3\x00", "1.2.3"),
    ("UI", "1.2.3", "1.2.3\x00"),
    ("PN", "DOE^JANE ", "DOE^JANE"),
    ("DA", "20060705 ", "20060705"),
    ("LO", "A*", " AB "),
])
def test_padding_is_not_significant(vr: str, key: str, stored: str) -> None:
    assert _matches(vr, key, stored)


def test_inner_spaces_are_significant() -> None:
    assert not _matches("LO", "A B", "AB")
    assert not _matches("LO", "AB", "A B")


@pytest.mark.parametrize(("vr", "key", "stored", "expected"), [
    # C.2.2.3: a multi-valued stored attribute matches when any value does
    ("CS", "CT", "CT\\PT", True),
    ("CS", "PT", "CT\\PT", True),
    ("CS", "MR", "CT\\PT", False),
    ("CS", "C?", "MR\\CT", True),
    ("UI", "1.2.4", "1.2.3\\1.2.4", True),
    # a multi-valued key (no Multiple Value Matching negotiated): any of its values
    ("CS", "CT\\MR", "MR", True),
    ("CS", "CT\\MR", "US", False),
    ("CS", "CT\\M*", "MG", True),
    ("CS", "CT\\*", "US", True),
    ("DA", "20060101\\20070101", "20070101", True),
    ("DA", "20060101\\20070101-20070131", "20070115", True),
    ("DA", "20060101\\20070101-20070131", "20070215", False),
    # in LT, ST, UT and UR (one value) a backslash is a character, not a delimiter
    ("ST", "foo", "foo\\bar", False),
    ("ST", "foo\\bar", "foo\\bar", True),
    ("UT", "foo\\*", "foo\\bar", True),
    ("LT", "foo\\bar", "foo", False),
])
def test_multiple_values(vr: str, key: str, stored: str, expected: bool) -> None:
    assert _matches(vr, key, stored) is expected


# -- C.2.2.2.2 List of UID Matching ---------------------------------------------------

@pytest.mark.parametrize(("key", "stored", "expected"), [
    ("1.2.3\\1.2.4", "1.2.3", True),
    ("1.2.3\\1.2.4", "1.2.4", True),
    ("1.2.3\\1.2.4", "1.2.5", False),
    ("1.2.3\\1.2.4\\1.2.5", "1.2.5", True),
    ("1.2.3\\1.2.4", None, False),
    ("1.2.3\\1.2.4", "1.2", False),  # whole UIDs only, no prefixes
    ("1.2.3", "1.2.3", True),  # one UID: Single Value Matching
    ("1.2.3", "1.2.30", False),
    ("1.2.3", "1.2", False),
])
def test_list_of_uid(key: str, stored: str | None, expected: bool) -> None:
    assert _matches("UI", key, stored) is expected


@pytest.mark.parametrize("key", ["1.2.*", "1.2.?", "*", "1.2.3\\1.2.*"])
def test_wild_cards_in_uids_are_match_errors(key: str) -> None:
    with pytest.raises(MatchError):
        key_matcher("UI", key)


# -- C.2.2.2.3 Universal Matching -----------------------------------------------------

@pytest.mark.parametrize("vr", ["PN", "CS", "LO", "DA", "TM", "DT", "UI", "IS", "AE"])
@pytest.mark.parametrize("key", [None, "", " ", "\x00"])
def test_universal(vr: str, key: str | None) -> None:
    # a zero-length key matches every entity, with or without a value
    assert key_matcher(vr, key) is None


@pytest.mark.parametrize(("vr", "key"), [
    ("PN", "*"), ("LO", "**"), ("CS", " * "), ("UT", "*"),  # C.2.2.2.4: "*" is universal
    ("DA", "-"), ("TM", "-"), ("DT", " - "),  # a range with neither end
    ("UI", "\\"), ("CS", "\\"),  # delimiters only: no value
])
def test_keys_equivalent_to_universal_matching(vr: str, key: str) -> None:
    assert key_matcher(vr, key) is None


# -- C.2.2.2.4 Wild Card Matching -----------------------------------------------------

@pytest.mark.parametrize(("vr", "key", "stored", "expected"), [
    # "*" any sequence of characters, including none
    ("PN", "Sm*th", "SMITH", True),  # PN: case-insensitive
    ("PN", "Sm*th", "SMYTHE", False),
    ("PN", "SM*", "SMITH^JOHN", True),
    ("PN", "*ITH", "SMITH", True),
    ("PN", "*ITH", "SMITH^JOHN", False),
    ("LO", "A*C", "AC", True),
    ("LO", "A*C", "ABBBC", True),
    ("LO", "A*C", "ABBBD", False),
    ("LO", "*B*", "ABC", True),
    ("LO", "*B*", "AC", False),
    ("LO", "A**C", "AXC", True),
    ("CS", "C*", "CT", True),
    ("CS", "C*", "MR", False),
    ("CS", "c*", "CT", False),  # not PN: case-sensitive
    ("LO", "A*", None, False),
    ("LO", "A*", "", False),
    ("LO", "*X*", "", False),
    # "?" exactly one character
    ("PN", "SM?TH", "SMITH", True),
    ("PN", "SM?TH", "SMTH", False),
    ("PN", "SM?TH", "SMYYTH", False),
    ("LO", "??", "AB", True),
    ("LO", "??", "A", False),
    ("LO", "??", "ABC", False),
    ("LO", "?", "É", True),  # a character, not a byte
    ("SH", "A?C*", "ABCDEF", True),
    ("SH", "A?C*", "ACDEF", False),
    # every other character is literal: DICOM has no escapes, no classes
    ("SH", "[AB]*", "[AB]X", True),
    ("SH", "[AB]*", "AX", False),
    ("LO", "A.C*", "ABC", False),
    ("LO", "A.C*", "A.C", True),
    ("LO", "\\*", "\\", True),  # "\" is a value delimiter, not an escape
    ("LO", "^$*", "^$X", True),
    ("LO", "(a|b)*", "(a|b)c", True),
    ("LO", "(a|b)*", "a", False),
    # wild cards apply to the text VRs only
    ("AE", "STORE*", "STORESCP", True),
    ("UR", "http://*", "http://example.org", True),
    ("ST", "*note*", "a note here", True),
    ("UC", "A?", "AB", True),
])
def test_wildcard(vr: str, key: str, stored: str | None, expected: bool) -> None:
    assert _matches(vr, key, stored) is expected


@pytest.mark.parametrize(("vr", "key"), [
    ("DA", "2006*"), ("TM", "10?000"), ("DT", "2006*"), ("DA", "2006*-20070101"),
])
def test_wild_cards_in_dates_and_times_are_match_errors(vr: str, key: str) -> None:
    with pytest.raises(MatchError):
        key_matcher(vr, key)


# -- C.2.2.2.5 Range Matching ---------------------------------------------------------

@pytest.mark.parametrize(("key", "stored", "expected"), [
    # the standard's forms, inclusive: "<date1>-<date2>", "-<date1>", "<date1>-"
    ("20060705-20060707", "20060705", True),
    ("20060705-20060707", "20060706", True),
    ("20060705-20060707", "20060707", True),
    ("20060705-20060707", "20060708", False),
    ("20060705-20060707", "20060704", False),
    ("20060705-20060705", "20060705", True),
    ("-19980101", "19970101", True),
    ("-19980101", "19980101", True),
    ("-19980101", "19980102", False),
    ("19980101-", "20000101", True),
    ("19980101-", "19980101", True),
    ("19980101-", "19971231", False),
    ("20061231-20070101", "20070101", True),  # across a year: dates, not strings
    (" 20060705 - 20060707 ", "20060706", True),  # as PS3.4 writes it
    # stored values that are absent or not dates never match a range
    ("20060705-20060707", None, False),
    ("20060705-20060707", "", False),
    ("20060705-20060707", "garbage", False),
    ("20060705-20060707", "20060732", False),
    ("19980101-", "1999.01.01", True),  # an ACR-NEMA stored date is still a date
])
def test_date_range(key: str, stored: str | None, expected: bool) -> None:
    assert _matches("DA", key, stored) is expected


@pytest.mark.parametrize(("key", "stored", "expected"), [
    ("100000-120000", "100000", True),
    ("100000-120000", "110000", True),
    ("100000-120000", "113000.123", True),
    ("100000-120000", "120000", True),
    ("100000-120000", "120000.999999", True),  # "120000" reaches the end of its second
    ("100000-120000", "120001", False),
    ("100000-120000", "093000", False),
    ("100000-120000", "095959.999999", False),
    ("1000-1200", "1130", True),
    ("1000-12", "125959", True),  # an end covers its precision: "12" is the whole hour
    ("1000-12", "130000", False),
    ("-1000", "000000", True),  # "prior" starts at midnight of the same day
    ("-1000", "1000", True),
    ("-1000", "100059", True),
    ("-1000", "1001", False),
    ("2200-", "235959.999999", True),
    ("2200-", "215959", False),
    ("100000.5-100001", "100000.4", False),
    ("100000.5-100001", "100000.5", True),
    ("100000-120000", "11:30:00", True),  # ACR-NEMA stored form
    ("100000-120000", "not a time", False),
])
def test_time_range(key: str, stored: str, expected: bool) -> None:
    assert _matches("TM", key, stored) is expected


@pytest.mark.parametrize(("key", "stored", "expected"), [
    ("20060705120000-20060705130000", "20060705123000", True),
    ("20060705120000-20060705130000", "20060705140000", False),
    ("20060705120000-20060705130000", "20060705115959.999999", False),
    ("20060705-20060706", "20060706235959", True),  # an end covers its precision
    ("20060705-20060706", "20060707000000", False),
    ("2006-2007", "20071231235959", True),
    ("2006-2007", "2008", False),
    ("200602-", "20060201", True),
    ("-200602", "20060228235959", True),  # the last day of February 2006
    ("-200602", "20060301", False),
    ("-2006", "2006", True),
    # offsets from UTC are taken into account when both sides have one
    ("20060705120000+0100-20060705130000+0100", "20060705113000+0000", True),
    ("20060705120000+0100-20060705130000+0100", "20060705123000+0000", False),
    ("20060705120000-0500-20060705130000-0500", "20060705173000+0000", True),
    ("20060705120000-0500-", "20060705165959+0000", False),
    ("-20060705120000-0500", "20060705165959+0000", True),
    ("20060705120000-20060705130000", "20060705123000+0900", True),  # local times
    ("20060705120000-20060705130000", None, False),
])
def test_datetime_range(key: str, stored: str | None, expected: bool) -> None:
    assert _matches("DT", key, stored) is expected


@pytest.mark.parametrize(("vr", "key"), [
    ("DA", "2006-01-01"),  # an ISO date is not a DICOM date, nor a range
    ("DA", "2006-01-01x"),
    ("DA", "abc-def"),
    ("DA", "20060705-2006070"),
    ("DA", "20061305-"),  # no month 13
    ("DA", "-20060230"),  # no 30 February
    ("DA", "20060707-20060705"),  # the first end after the second
    ("DA", "20060705--"),
    ("DA", "20060705-20060707-20060709"),
    ("TM", "250000-"),
    ("TM", "1000-0900"),  # would cross midnight: not supported
    ("TM", "10000-1100"),  # five digits
    ("TM", "1000.5-1100"),  # a fraction needs seconds
    ("DT", "2006-20060230"),
    ("DT", "20060705120000+1500-"),  # no such offset
    ("DT", "2007-2006"),
])
def test_invalid_ranges_are_match_errors(vr: str, key: str) -> None:
    with pytest.raises(MatchError):
        key_matcher(vr, key)


def test_match_error_is_a_value_error() -> None:
    assert issubclass(MatchError, ValueError)


def test_ranges_apply_to_dates_and_times_only() -> None:
    # a "-" elsewhere is an ordinary character (C.2.2.2.5 is for DA, TM, DT)
    assert _matches("LO", "A-B", "A-B")
    assert not _matches("LO", "A-C", "B")
    assert _matches("IS", "-5", "-5")
    assert not _matches("IS", "-5", "-4")


# -- C.2.2.2.7 Empty Value Matching (only when agreed) ---------------------------------

@pytest.mark.parametrize(("vr", "stored", "expected"), [
    ("LO", None, True),
    ("LO", "", True),
    ("LO", "  ", True),
    ("LO", "X", False),
    ("DA", None, True),
    ("DA", "20060705", False),
    ("PN", "DOE", False),
])
def test_empty_value_matching_when_agreed(vr: str, stored: str | None,
                                          expected: bool) -> None:
    assert _matches(vr, '""', stored, empty_value_matching=True) is expected


def test_two_quotes_are_an_ordinary_value_without_empty_value_matching() -> None:
    assert not _matches("LO", '""', None)
    assert not _matches("LO", '""', "")
    assert _matches("LO", '""', '""')


# -- property: wild cards generalise the value they are made from ----------------------

_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E,
                              blacklist_characters="\\"), min_size=1, max_size=20)


@st.composite
def _value_and_key(draw: st.DrawFn) -> tuple[str, str, str]:
    vr = draw(st.sampled_from(["LO", "SH", "PN", "CS", "AE", "UT"]))
    value = draw(_TEXT.map(lambda text: text.strip(" ")).filter(bool))
    if draw(st.booleans()):
        index = draw(st.integers(0, len(value) - 1))
        key = value[:index] + "?" + value[index + 1:]
    else:
        index = draw(st.integers(0, len(value)))
        key = value[:index] + "*"
    return vr, value, key


@settings(max_examples=300, deadline=None)
@given(_value_and_key())
def test_a_wild_card_key_made_from_a_value_matches_it(case: tuple[str, str, str]) -> None:
    vr, value, key = case
    assert _matches(vr, key, value)
    assert _matches(vr, key, value + " ")  # and its padded form


@settings(max_examples=200, deadline=None)
@given(_TEXT.map(lambda text: text.strip(" ")).filter(lambda text: bool(text)
                                                        and "*" not in text
                                                        and "?" not in text))
def test_a_value_matches_itself_only(value: str) -> None:
    assert _matches("LO", value, value)
    assert not _matches("LO", value, value + "x")


# -- identifiers: every key must match; C.2.2.2.6 Sequence Matching ---------------------

def _ds(**values: object) -> pydicom.Dataset:
    ds = pydicom.Dataset()
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    return ds


def _study() -> pydicom.Dataset:
    return _ds(PatientID="P1", PatientName="DOE^JANE", StudyDate="20200101",
               StudyInstanceUID="1.2.3", ModalitiesInStudy=["CT", "PT"],
               SpecificCharacterSet="ISO_IR 100",
               ProcedureCodeSequence=[
                   _ds(CodeValue="A1", CodingSchemeDesignator="X", CodeMeaning="Alpha"),
                   _ds(CodeValue="B2", CodingSchemeDesignator="Y", CodeMeaning="Beta")])


@pytest.mark.parametrize(("keys", "expected"), [
    ({}, True),
    ({"PatientID": "P1"}, True),
    ({"PatientID": "P2"}, False),
    ({"PatientID": "P1", "PatientName": "doe*"}, True),
    ({"PatientID": "P1", "PatientName": "ROE*"}, False),  # all keys must match
    ({"StudyDate": "20190101-20201231"}, True),
    ({"StudyDate": "20210101-"}, False),
    ({"StudyInstanceUID": ["1.2.9", "1.2.3"]}, True),  # pydicom gives a UID list
    ({"StudyInstanceUID": ["1.2.9", "1.2.8"]}, False),
    ({"ModalitiesInStudy": "PT"}, True),
    ({"ModalitiesInStudy": "MR"}, False),
    ({"StudyDescription": ""}, True),  # universal, though the study has none
    ({"StudyDescription": "HEAD"}, False),  # a value the study lacks
    ({"AccessionNumber": "*"}, True),
    ({"QueryRetrieveLevel": "STUDY", "PatientID": "P1"}, True),  # never a key
    ({"SpecificCharacterSet": "ISO_IR 192"}, True),  # never a key
    ({"InstanceAvailability": "ONLINE"}, False),  # an ordinary key here
    ({"RetrieveAETitle": ""}, True),
])
def test_identifier_matches(keys: dict[str, object], expected: bool) -> None:
    assert identifier_matches(_ds(**keys), _study()) is expected


def test_group_length_is_not_a_key() -> None:
    query = _ds(PatientID="P1")
    query.add(DataElement(0x00100000, "UL", 1234))
    assert identifier_matches(query, _study())


def test_vr_from_the_dictionary_when_the_query_element_has_none() -> None:
    query = pydicom.Dataset()
    query.add(DataElement(0x00080020, "UN", b"20190101-20201231"))  # Study Date
    assert identifier_matches(query, _study())


@pytest.mark.parametrize(("item", "expected"), [
    ({"CodeValue": "B2"}, True),  # matches the second item
    ({"CodeValue": "A1"}, True),
    ({"CodeValue": "C3"}, False),
    ({"CodeValue": "B*"}, True),
    ({"CodeValue": "A1", "CodingSchemeDesignator": "X"}, True),
    # all item keys must match in the same item
    ({"CodeValue": "A1", "CodingSchemeDesignator": "Y"}, False),
    ({"CodeValue": "B2", "CodingSchemeDesignator": "Y"}, True),
    ({"CodeValue": "", "CodeMeaning": ""}, True),  # universal item keys
    ({}, True),  # an empty item: universal
])
def test_sequence_matching(item: dict[str, object], expected: bool) -> None:
    query = _ds(ProcedureCodeSequence=[_ds(**item)])
    assert identifier_matches(query, _study()) is expected


def test_an_empty_sequence_key_is_universal() -> None:
    query = _ds(ProcedureCodeSequence=[])
    assert identifier_matches(query, _study())
    assert identifier_matches(query, _ds(PatientID="P1"))  # even without the sequence


def test_a_sequence_key_needs_the_candidate_to_have_an_item() -> None:
    query = _ds(ProcedureCodeSequence=[_ds(CodeValue="A*")])
    assert not identifier_matches(query, _ds(PatientID="P1"))
    assert not identifier_matches(query, _ds(ProcedureCodeSequence=[]))


def test_nested_sequence_matching() -> None:
    inner = _ds(CodeValue="Z9", CodingSchemeDesignator="X")
    candidate = _ds(RequestAttributesSequence=[
        _ds(RequestedProcedureID="R1"),
        _ds(RequestedProcedureID="R2", ScheduledProtocolCodeSequence=[inner])])
    hit = _ds(RequestAttributesSequence=[_ds(
        RequestedProcedureID="R*", ScheduledProtocolCodeSequence=[_ds(CodeValue="Z9")])])
    miss = _ds(RequestAttributesSequence=[_ds(
        RequestedProcedureID="R1", ScheduledProtocolCodeSequence=[_ds(CodeValue="Z9")])])
    assert identifier_matches(hit, candidate)
    assert not identifier_matches(miss, candidate)


def test_a_sequence_key_of_two_items_is_a_match_error() -> None:
    query = _ds(ProcedureCodeSequence=[_ds(CodeValue="A1"), _ds(CodeValue="B2")])
    with pytest.raises(MatchError):
        identifier_matches(query, _study())


@pytest.mark.filterwarnings("ignore:Invalid value for VR DA")
def test_invalid_keys_raise_from_identifier_matches() -> None:
    with pytest.raises(MatchError):
        identifier_matches(_ds(StudyDate="2006-01-01"), _study())


def test_empty_value_matching_through_identifiers() -> None:
    query = _ds(StudyDescription='""')
    assert not identifier_matches(query, _study())
    assert identifier_matches(query, _study(), empty_value_matching=True)
    assert not identifier_matches(_ds(PatientID='""'), _study(), empty_value_matching=True)


# -- return_identifier (C.2.2.1.2, C.2.2.2.6) ------------------------------------------

def test_return_identifier_keeps_requested_keys_empty() -> None:
    query = _ds(QueryRetrieveLevel="STUDY", StudyInstanceUID="", StudyDescription="",
                PatientName="D*", ModalitiesInStudy="")
    identifier = return_identifier(query, _study())
    assert identifier.QueryRetrieveLevel == "STUDY"
    assert identifier.StudyInstanceUID == "1.2.3"
    assert identifier.PatientName == "DOE^JANE"
    assert list(identifier.ModalitiesInStudy) == ["CT", "PT"]  # all values (C.2.2.3)
    assert "StudyDescription" in identifier  # asked for, none stored: zero length
    assert identifier["StudyDescription"].is_empty
    assert identifier["StudyDescription"].VR == "LO"
    assert "PatientID" not in identifier  # not asked for: not returned
    assert "StudyDate" not in identifier
    assert identifier.SpecificCharacterSet == "ISO_IR 100"  # the candidate's


def test_return_identifier_without_level_or_character_set() -> None:
    identifier = return_identifier(_ds(PatientID=""), _ds(PatientID="P1"))
    assert "QueryRetrieveLevel" not in identifier
    assert "SpecificCharacterSet" not in identifier
    assert identifier.PatientID == "P1"


def test_return_identifier_ignores_the_querys_character_set_and_group_length() -> None:
    query = _ds(SpecificCharacterSet="ISO_IR 192", PatientID="")
    query.add(DataElement(0x00100000, "UL", 8))
    identifier = return_identifier(query, _ds(PatientID="P1"))
    assert "SpecificCharacterSet" not in identifier
    assert 0x00100000 not in identifier


def test_return_identifier_does_not_alias_the_candidate() -> None:
    candidate = _study()
    identifier = return_identifier(_ds(ModalitiesInStudy="", ProcedureCodeSequence=[]),
                                   candidate)
    identifier.ModalitiesInStudy.append("MR")
    identifier.ProcedureCodeSequence[0].CodeValue = "CHANGED"
    assert list(candidate.ModalitiesInStudy) == ["CT", "PT"]
    assert candidate.ProcedureCodeSequence[0].CodeValue == "A1"


@pytest.mark.parametrize(("item", "values"), [
    # the matching items, with only the requested attributes
    ({"CodeValue": "B*"}, [{"CodeValue": "B2"}]),
    ({"CodeValue": "", "CodeMeaning": ""},
     [{"CodeValue": "A1", "CodeMeaning": "Alpha"}, {"CodeValue": "B2", "CodeMeaning": "Beta"}]),
    ({"CodeValue": "A1", "CodingSchemeVersion": ""},
     [{"CodeValue": "A1", "CodingSchemeVersion": None}]),  # requested, absent: empty
])
def test_return_identifier_restricts_sequence_items(item: dict[str, object],
                                                    values: list[dict[str, object]]) -> None:
    identifier = return_identifier(_ds(ProcedureCodeSequence=[_ds(**item)]), _study())
    returned = [{element.keyword: element.value or None for element in returned_item}
                for returned_item in identifier.ProcedureCodeSequence]
    assert returned == [{k: v or None for k, v in expected.items()} for expected in values]


@pytest.mark.parametrize("items", [[], [{}]])
def test_an_empty_sequence_key_returns_the_entire_sequence(items: list[dict[str, object]]
                                                           ) -> None:
    # C.2.2.2.6: "the entire Sequence of Items" is returned
    query = _ds(ProcedureCodeSequence=[_ds(**item) for item in items])
    identifier = return_identifier(query, _study())
    assert identifier.ProcedureCodeSequence == _study().ProcedureCodeSequence


def test_a_requested_sequence_the_candidate_lacks_comes_back_empty() -> None:
    query = _ds(ProcedureCodeSequence=[_ds(CodeValue="")])
    identifier = return_identifier(query, _ds(PatientID="P1"))
    assert "ProcedureCodeSequence" in identifier
    assert len(identifier.ProcedureCodeSequence) == 0
