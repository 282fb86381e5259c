"""build_request: the A-ASSOCIATE-RQ a requestor sends (PS3.8 §9.3.2, PS3.7 D.3.3)."""

from __future__ import annotations

from typing import Any

import pytest
from acse_support import (
    CT_STORAGE,
    ENHANCED_SR,
    EXPLICIT_LE,
    IMPLICIT_LE,
    JPEG_BASELINE,
    MR_STORAGE,
    PROCEDURE_LOG,
    STORAGE_COMMITMENT,
    STORAGE_SERVICE_CLASS,
    VERIFICATION,
    request,
    wire_rq,
)

from dicomnet.acse import MAX_CONTEXTS, build_request, check_ae_title
from dicomnet.identity import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME
from dicomnet.pdu import (
    DICOM_APPLICATION_CONTEXT,
    AAssociateRQ,
    AsyncOperationsWindowSubItem,
    ImplementationClassUIDSubItem,
    ImplementationVersionNameSubItem,
    MaximumLengthSubItem,
    PresentationContextRQ,
    RoleSelectionSubItem,
    SOPClassCommonExtendedNegotiationSubItem,
    SOPClassExtendedNegotiationSubItem,
    UserIdentityRQSubItem,
    UserIdentityType,
)


def _kinds(rq: AAssociateRQ) -> list[type]:
    return [type(sub) for sub in rq.user_information.sub_items]


# -- presentation contexts -------------------------------------------------------------


@pytest.mark.parametrize("count", [1, 2, 3, 64, 127, MAX_CONTEXTS])
def test_context_ids_are_consecutive_odd_numbers(count: int) -> None:
    contexts = [(f"1.2.3.{n}", [IMPLICIT_LE]) for n in range(count)]
    rq = request(contexts)
    ids = [pc.context_id for pc in rq.presentation_contexts]
    assert ids == [2 * n + 1 for n in range(count)]
    assert ids[-1] <= 255
    # Order and content are those proposed.
    assert [pc.abstract_syntax for pc in rq.presentation_contexts] == \
        [abstract for abstract, _ in contexts]


def test_128_contexts_fit_and_encode() -> None:
    assert MAX_CONTEXTS == 128
    contexts = [(f"1.2.3.{n}", [IMPLICIT_LE, EXPLICIT_LE]) for n in range(128)]
    rq = request(contexts)
    assert rq.presentation_contexts[-1].context_id == 255
    assert wire_rq(rq) == rq


@pytest.mark.parametrize("count", [129, 200])
def test_more_than_128_contexts_is_refused(count: int) -> None:
    contexts = [(f"1.2.3.{n}", [IMPLICIT_LE]) for n in range(count)]
    with pytest.raises(ValueError, match="128"):
        request(contexts)


def test_no_context_is_refused() -> None:
    with pytest.raises(ValueError):
        request([])


def test_context_without_transfer_syntax_is_refused() -> None:
    with pytest.raises(ValueError, match=CT_STORAGE):
        request([(VERIFICATION, [IMPLICIT_LE]), (CT_STORAGE, [])])


def test_same_abstract_syntax_in_several_contexts_keeps_each_proposal() -> None:
    rq = request([(CT_STORAGE, [JPEG_BASELINE]), (CT_STORAGE, [EXPLICIT_LE, IMPLICIT_LE])])
    assert rq.presentation_contexts == (
        PresentationContextRQ(1, CT_STORAGE, (JPEG_BASELINE,)),
        PresentationContextRQ(3, CT_STORAGE, (EXPLICIT_LE, IMPLICIT_LE)),
    )


def test_transfer_syntax_lists_become_tuples_in_order() -> None:
    syntaxes = [EXPLICIT_LE, IMPLICIT_LE]
    rq = request([(VERIFICATION, syntaxes)])
    syntaxes.append("1.2.840.10008.1.2.2")  # the request does not alias the caller's list
    assert rq.presentation_contexts[0].transfer_syntaxes == (EXPLICIT_LE, IMPLICIT_LE)


# -- AE titles ----------------------------------------------------------------------------

INVALID_TITLES = [
    pytest.param("", id="empty"),
    pytest.param("    ", id="only-spaces"),
    pytest.param("A" * 17, id="17-chars"),
    pytest.param("AB\\CD", id="backslash"),
    pytest.param("ÄRZTE", id="non-ascii"),
    pytest.param("SCU\t", id="tab"),
    pytest.param("SC\nU", id="newline"),
    pytest.param("SCU\x00", id="nul"),
    pytest.param("SCU\x7f", id="del"),
]


@pytest.mark.parametrize("title", INVALID_TITLES)
@pytest.mark.parametrize("which", ["calling_ae_title", "called_ae_title"])
def test_invalid_ae_titles_are_refused(which: str, title: str) -> None:
    kwargs: dict[str, Any] = {"calling_ae_title": "SCU", "called_ae_title": "SCP",
                              which: title}
    with pytest.raises(ValueError):
        build_request(contexts=[(VERIFICATION, [IMPLICIT_LE])], max_pdu_length=0,
                      **kwargs)


@pytest.mark.parametrize(("title", "stored"), [
    ("A", "A"),
    ("A" * 16, "A" * 16),
    ("  SCU  ", "SCU"),
    ("ABCDEFGHIJKLMNOP ", "ABCDEFGHIJKLMNOP"),  # padding does not count
    ("MY SCU", "MY SCU"),  # inner spaces are part of the value
    ("a-b_c.d@e", "a-b_c.d@e"),
])
def test_valid_ae_titles_are_stored_without_padding(title: str, stored: str) -> None:
    rq = request(calling=title, called=title)
    assert rq.calling_ae_title == stored
    assert rq.called_ae_title == stored
    assert wire_rq(rq).calling_ae_title == stored
    assert check_ae_title(title) == stored


def test_calling_and_called_are_not_swapped() -> None:
    rq = request(calling="ME", called="YOU")
    assert (rq.calling_ae_title, rq.called_ae_title) == ("ME", "YOU")
    decoded = wire_rq(rq)
    assert (decoded.calling_ae_title, decoded.called_ae_title) == ("ME", "YOU")


def test_ae_title_error_names_the_field() -> None:
    with pytest.raises(ValueError, match="called AE title"):
        request(called="")
    with pytest.raises(ValueError, match="calling AE title"):
        request(calling="X" * 17)


# -- user information -------------------------------------------------------------------


def test_minimal_request_has_the_mandatory_sub_items() -> None:
    rq = request(max_pdu_length=32768)
    info = rq.user_information
    assert rq.application_context == DICOM_APPLICATION_CONTEXT
    assert info.maximum_length == 32768
    assert info.implementation_class_uid == IMPLEMENTATION_CLASS_UID
    assert info.implementation_version_name == IMPLEMENTATION_VERSION_NAME
    assert info.async_operations_window is None
    assert info.role_selections == ()
    assert info.extended_negotiations == ()
    assert info.common_extended_negotiations == ()
    assert info.user_identity_rq is None
    # PS3.7 D.3.3.2 and PS3.8 D.1: maximum length first, then the class UID.
    assert _kinds(rq)[:2] == [MaximumLengthSubItem, ImplementationClassUIDSubItem]


@pytest.mark.parametrize("max_pdu_length", [0, 1, 4096, 16382, 1 << 20, 0xFFFFFFFF])
def test_max_pdu_length_is_sent_as_given(max_pdu_length: int) -> None:
    rq = request(max_pdu_length=max_pdu_length)
    assert rq.user_information.maximum_length == max_pdu_length
    assert wire_rq(rq).user_information.maximum_length == max_pdu_length


def test_implementation_identity_as_given() -> None:
    rq = request(implementation_class_uid="1.2.3.4.5", implementation_version_name="TEST_1")
    assert rq.user_information.implementation_class_uid == "1.2.3.4.5"
    assert rq.user_information.implementation_version_name == "TEST_1"


@pytest.mark.parametrize("name", [None, ""])
def test_no_version_name_sub_item_when_none_or_empty(name: str | None) -> None:
    rq = request(implementation_version_name=name)
    assert ImplementationVersionNameSubItem not in _kinds(rq)
    assert wire_rq(rq).user_information.implementation_version_name is None


@pytest.mark.parametrize("window", [(1, 1), (0, 0), (5, 1), (1, 0), (0xFFFF, 0xFFFF)])
def test_async_window_sub_item(window: tuple[int, int]) -> None:
    rq = request(async_window=window)
    assert rq.user_information.async_operations_window == AsyncOperationsWindowSubItem(*window)
    assert _kinds(rq).count(AsyncOperationsWindowSubItem) == 1


def test_role_selection_one_sub_item_per_sop_class() -> None:
    roles = {STORAGE_COMMITMENT: (True, True), CT_STORAGE: (False, True),
             MR_STORAGE: (True, False)}
    rq = request([(STORAGE_COMMITMENT, [IMPLICIT_LE]), (CT_STORAGE, [IMPLICIT_LE])],
                 roles=roles)
    assert rq.user_information.role_selections == (
        RoleSelectionSubItem(STORAGE_COMMITMENT, True, True),
        RoleSelectionSubItem(CT_STORAGE, False, True),
        RoleSelectionSubItem(MR_STORAGE, True, False),
    )


def test_extended_negotiation_sub_items() -> None:
    extended = {CT_STORAGE: b"\x01\x00\x01", MR_STORAGE: b""}
    rq = request(extended=extended)
    assert rq.user_information.extended_negotiations == (
        SOPClassExtendedNegotiationSubItem(CT_STORAGE, b"\x01\x00\x01"),
        SOPClassExtendedNegotiationSubItem(MR_STORAGE, b""),
    )


def test_common_extended_negotiation_sub_items() -> None:
    common = (
        SOPClassCommonExtendedNegotiationSubItem(PROCEDURE_LOG, STORAGE_SERVICE_CLASS,
                                                 (ENHANCED_SR,)),
        SOPClassCommonExtendedNegotiationSubItem("1.2.840.10008.5.1.4.1.1.7.1",
                                                 STORAGE_SERVICE_CLASS),
    )
    rq = request(common_extended=common)
    assert rq.user_information.common_extended_negotiations == common


@pytest.mark.parametrize("identity", [
    UserIdentityRQSubItem(UserIdentityType.USERNAME, False, b"alice"),
    UserIdentityRQSubItem(UserIdentityType.USERNAME_AND_PASSCODE, True, b"alice", b"s3cret"),
    UserIdentityRQSubItem(UserIdentityType.JWT, True, b"eyJ.a.b"),
])
def test_user_identity_sub_item(identity: UserIdentityRQSubItem) -> None:
    rq = request(user_identity=identity)
    assert rq.user_information.user_identity_rq == identity
    assert wire_rq(rq).user_information.user_identity_rq == identity


def test_everything_at_once_encodes_and_decodes_back_equal() -> None:
    rq = request(
        [(VERIFICATION, [IMPLICIT_LE]), (CT_STORAGE, [EXPLICIT_LE, IMPLICIT_LE]),
         (STORAGE_COMMITMENT, [IMPLICIT_LE]), (PROCEDURE_LOG, [EXPLICIT_LE])],
        calling="STORESCU", called="ARCHIVE", max_pdu_length=65536,
        implementation_class_uid="1.2.826.0.1.3680043.9.1", implementation_version_name="V1",
        async_window=(3, 0),
        roles={STORAGE_COMMITMENT: (True, True)},
        extended={CT_STORAGE: b"\x01"},
        common_extended=[SOPClassCommonExtendedNegotiationSubItem(
            PROCEDURE_LOG, STORAGE_SERVICE_CLASS, (ENHANCED_SR,))],
        user_identity=UserIdentityRQSubItem(2, True, b"user", b"pass"),
    )
    decoded = wire_rq(rq)
    assert decoded == rq
    # Each kind of sub-item is present exactly as often as asked.
    kinds = _kinds(decoded)
    for kind in (MaximumLengthSubItem, ImplementationClassUIDSubItem,
                 ImplementationVersionNameSubItem, AsyncOperationsWindowSubItem,
                 RoleSelectionSubItem, SOPClassExtendedNegotiationSubItem,
                 SOPClassCommonExtendedNegotiationSubItem, UserIdentityRQSubItem):
        assert kinds.count(kind) == 1, kind


def test_empty_optional_arguments_add_nothing() -> None:
    rq = request(roles={}, extended={}, common_extended=(), async_window=None,
                 user_identity=None)
    assert _kinds(rq) == [MaximumLengthSubItem, ImplementationClassUIDSubItem,
                          ImplementationVersionNameSubItem]
