"""Status codes: categories by the rules of PS3.7 Annex C, meanings by service (PS3.4)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dicomnet.dimse import Status, StatusCategory, category, describe
from dicomnet.dimse.status import SERVICES

S = StatusCategory

# (code, category): the examples of PS3.7 Annex C and the PS3.4 service tables.
CATEGORIES = [
    (0x0000, S.SUCCESS),
    (0xFE00, S.CANCEL),
    (0xFF00, S.PENDING),
    (0xFF01, S.PENDING),
    # Warnings: C.4.1 (0001), C.4.2 (0107), C.4.3 (0116), Bxxx (PS3.4 services)
    (0x0001, S.WARNING),
    (0x0107, S.WARNING),
    (0x0116, S.WARNING),
    (0xB000, S.WARNING),
    (0xB006, S.WARNING),
    (0xB007, S.WARNING),
    (0xB123, S.WARNING),
    (0xBFFF, S.WARNING),
    # Failures: Axxx, Cxxx (PS3.4), the 01xx/02xx of C.4 that are not warnings
    (0xA700, S.FAILURE),
    (0xA7FF, S.FAILURE),
    (0xA701, S.FAILURE),
    (0xA702, S.FAILURE),
    (0xA801, S.FAILURE),
    (0xA900, S.FAILURE),
    (0xA000, S.FAILURE),
    (0xAFFF, S.FAILURE),
    (0xC000, S.FAILURE),
    (0xC001, S.FAILURE),
    (0xCFFF, S.FAILURE),
    (0x0105, S.FAILURE),
    (0x0106, S.FAILURE),
    (0x0110, S.FAILURE),
    (0x0111, S.FAILURE),
    (0x0112, S.FAILURE),
    (0x0117, S.FAILURE),
    (0x0118, S.FAILURE),
    (0x0119, S.FAILURE),
    (0x0120, S.FAILURE),
    (0x0121, S.FAILURE),
    (0x0122, S.FAILURE),
    (0x0123, S.FAILURE),
    (0x0124, S.FAILURE),
    (0x0210, S.FAILURE),
    (0x0211, S.FAILURE),
    (0x0212, S.FAILURE),
    (0x0213, S.FAILURE),
]


@pytest.mark.parametrize(("code", "expected"), CATEGORIES, ids=lambda v: f"{v:04X}"
                         if isinstance(v, int) else v.name)
def test_category(code: int, expected: StatusCategory) -> None:
    assert category(code) is expected


@given(st.integers(0xB000, 0xBFFF))
def test_every_bxxx_is_a_warning(code: int) -> None:
    assert category(code) is S.WARNING


@given(st.integers(0xA000, 0xAFFF) | st.integers(0xC000, 0xCFFF))
def test_every_axxx_and_cxxx_is_a_failure(code: int) -> None:
    assert category(code) is S.FAILURE


@given(st.integers(0, 0xFFFF))
def test_category_is_total(code: int) -> None:
    """Every code has a category; only the five special values are not warning/failure."""
    result = category(code)
    assert isinstance(result, StatusCategory)
    if result is S.SUCCESS:
        assert code == 0
    if result is S.CANCEL:
        assert code == 0xFE00
    if result is S.PENDING:
        assert code in (0xFF00, 0xFF01)
    if result is S.WARNING:
        assert code in (0x0001, 0x0107, 0x0116) or 0xB000 <= code <= 0xBFFF


def test_named_statuses_have_the_category_of_their_name() -> None:
    for status in Status:
        name = status.name
        if name.startswith("PENDING"):
            assert category(status) is S.PENDING, name
        elif name in ("SUCCESS", "CANCEL"):
            assert category(status) is S[name], name


def test_b000_is_one_value_with_two_names() -> None:
    assert Status.COERCION_OF_DATA_ELEMENTS is Status.SUBOPERATIONS_COMPLETE_WITH_FAILURES
    assert Status(0xB000) is Status.COERCION_OF_DATA_ELEMENTS
    assert Status.OUT_OF_RESOURCES == 0xA700
    assert Status.CANNOT_UNDERSTAND == 0xC000
    assert Status.SOP_CLASS_NOT_SUPPORTED == 0x0122


@pytest.mark.parametrize(("code", "service", "text"), [
    # One code, a meaning per service (PS3.4 B.2.3 vs C.4.2.1.5 / C.4.3.1.4).
    (0xB000, "storage", "Warning: Coercion of Data Elements"),
    (0xB000, "move", "Warning: Sub-operations complete, one or more failures"),
    (0xB000, "get", "Warning: Sub-operations complete, one or more failures or warnings"),
    (0xB006, "storage", "Warning: Elements Discarded"),
    (0xB007, "storage", "Warning: Data Set does not match SOP Class"),
    # Storage ranges: A7xx, A9xx, Cxxx (PS3.4 Table B.2-1).
    (0xA700, "storage", "Refused: Out of Resources"),
    (0xA701, "storage", "Refused: Out of Resources"),
    (0xA7FF, "storage", "Refused: Out of Resources"),
    (0xA900, "storage", "Error: Data Set does not match SOP Class"),
    (0xA9FF, "storage", "Error: Data Set does not match SOP Class"),
    (0xC000, "storage", "Error: Cannot understand"),
    (0xC123, "storage", "Error: Cannot understand"),
    (0xCFFF, "storage", "Error: Cannot understand"),
    # Query/retrieve.
    (0xA700, "find", "Refused: Out of Resources"),
    (0xA900, "find", "Failed: Identifier does not match SOP Class"),
    (0xC000, "find", "Failed: Unable to process"),
    (0xCFFF, "find", "Failed: Unable to process"),
    (0xFF00, "find", "Pending: Matches are continuing"),
    (0xFF01, "find", "Pending: Matches are continuing, optional keys not supported"),
    (0xFE00, "find", "Cancel: Matching terminated due to Cancel request"),
    (0xA701, "move", "Refused: Out of Resources - Unable to calculate number of matches"),
    (0xA702, "move", "Refused: Out of Resources - Unable to perform sub-operations"),
    (0xA801, "move", "Refused: Move Destination unknown"),
    (0xC012, "move", "Failed: Unable to process"),
    (0xFF00, "move", "Pending: Sub-operations are continuing"),
    (0xFE00, "move", "Cancel: Sub-operations terminated due to Cancel indication"),
    (0xA702, "get", "Refused: Out of Resources - Unable to perform sub-operations"),
    (0xCABC, "get", "Failed: Unable to process"),
    (0xFE00, "get", "Cancel: Sub-operations terminated due to Cancel indication"),
])
def test_describe_service_meanings(code: int, service: str, text: str) -> None:
    assert describe(code, service) == f"0x{code:04X} {text}"


@pytest.mark.parametrize(("code", "service", "text"), [
    # Not in the service's table: the general meanings of PS3.7 Annex C.
    (0x0000, "storage", "Success"),
    (0x0000, None, "Success"),
    (0xFE00, None, "Cancel"),
    (0xFF00, None, "Pending"),
    (0xFF01, "move", "Pending: warning"),
    (0x0122, "storage", "Refused: SOP Class not supported"),
    (0x0124, None, "Refused: Not authorized"),
    (0x0110, "find", "Failure: Processing failure"),
    (0x0211, None, "Failure: Unrecognized operation"),
    (0x0107, None, "Warning: Attribute list error"),
    (0x0116, "get", "Warning: Attribute Value out of range"),
    (0x0001, None, "Warning: Requested optional Attributes are not supported"),
    # No meaning anywhere: the category.
    (0xB000, None, "Warning"),
    (0xB123, "storage", "Warning"),
    (0xA750, "find", "Failure"),  # find names A700 only, not the range
    (0xA801, "storage", "Failure"),  # move destination unknown is a move code
    (0xC000, None, "Failure"),
    (0xD123, None, "Failure"),
    (0x0002, None, "Failure"),
    (0xA700, "unknown-service", "Failure"),
    (0xB000, "", "Warning"),
])
def test_describe_fallbacks(code: int, service: str | None, text: str) -> None:
    assert describe(code, service) == f"0x{code:04X} {text}"


@given(st.integers(0, 0xFFFF), st.sampled_from([None, *sorted(SERVICES)]))
def test_describe_always_starts_with_the_code(code: int, service: str | None) -> None:
    text = describe(code, service)
    assert text.startswith(f"0x{code:04X} ")
    assert len(text) > 7


@pytest.mark.parametrize(("code", "service", "text"), [
    # Modality Worklist C-FIND has the Query/Retrieve C-FIND codes (PS3.4 K.4.1.1.4).
    (0xA700, "worklist", "Refused: Out of Resources"),
    (0xC001, "worklist", "Failed: Unable to process"),
    (0xFF01, "worklist", "Pending: Matches are continuing, optional keys not supported"),
    # MPPS N-SET on a finished step (PS3.4 F.7.2.2.4, Table F.7.2-2).
    (0x0110, "mpps", "Failure: Processing failure (Performed Procedure Step Object may "
                     "no longer be updated)"),
    (0x0106, "mpps", "Failure: Invalid attribute value"),
    # Verification and Storage Commitment: the general codes only (PS3.7 C).
    (0x0000, "verification", "Success"),
    (0x0110, "verification", "Failure: Processing failure"),
    (0x0110, "commitment", "Failure: Processing failure"),
    (0x0213, "commitment", "Failure: Resource limitation"),
    (0xB000, "commitment", "Warning"),
    (0xA700, "commitment", "Failure"),
])
def test_describe_other_services(code: int, service: str, text: str) -> None:
    assert describe(code, service) == f"0x{code:04X} {text}"


def test_services_named_by_the_spec_are_known() -> None:
    assert {"verification", "storage", "find", "get", "move", "commitment",
            "mpps"} <= SERVICES
