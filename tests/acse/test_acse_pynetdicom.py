"""Cross-checks against pynetdicom's PDU classes and negotiation rules (no sockets)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from acse_support import (
    ABSTRACT_SYNTAXES,
    CT_STORAGE,
    ENHANCED_SR,
    EXPLICIT_LE,
    IMPLICIT_LE,
    JPEG_BASELINE,
    MR_STORAGE,
    PROCEDURE_LOG,
    STORAGE_COMMITMENT,
    STORAGE_SERVICE_CLASS,
    TRANSFER_SYNTAXES,
    VERIFICATION,
    request,
    wire_ac,
    wire_rq,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from dicomnet.acse import AcceptorPolicy, interpret_accept, negotiate
from dicomnet.pdu import (
    AAssociateAC,
    AAssociateRQ,
    ContextResult,
    PresentationContextAC,
    RoleSelectionSubItem,
    SOPClassCommonExtendedNegotiationSubItem,
    UserIdentityRQSubItem,
    UserInformationItem,
    decode_pdu,
    encode_pdu,
)

pdu = pytest.importorskip("pynetdicom.pdu")
pdu_items = pytest.importorskip("pynetdicom.pdu_items")
pdu_primitives = pytest.importorskip("pynetdicom.pdu_primitives")
presentation = pytest.importorskip("pynetdicom.presentation")


def _user_items(decoded: Any, kind: str) -> list[Any]:
    return [item for item in decoded.user_information.user_data
            if type(item).__name__ == kind]


def _pyn_context(context_id: int | None, abstract: str, syntaxes: list[str],
                 result: int | None = None, roles: tuple[bool, bool] | None = None) -> Any:
    cx = presentation.PresentationContext()
    if context_id is not None:
        cx.context_id = context_id
    cx.abstract_syntax = abstract
    cx.transfer_syntax = syntaxes
    if result is not None:
        cx.result = result
    if roles is not None:
        cx.scu_role, cx.scp_role = roles
    return cx


# -- dicomnet's A-ASSOCIATE-RQ, read by pynetdicom --------------------------------------


def test_pynetdicom_reads_our_request() -> None:
    identity = UserIdentityRQSubItem(2, True, b"alice", b"s3cret")
    rq = request(
        [(VERIFICATION, [IMPLICIT_LE]), (CT_STORAGE, [EXPLICIT_LE, IMPLICIT_LE]),
         (STORAGE_COMMITMENT, [IMPLICIT_LE]), (PROCEDURE_LOG, [EXPLICIT_LE])],
        calling="STORESCU", called="ARCHIVE", max_pdu_length=65536,
        implementation_class_uid="1.2.826.0.1.3680043.9.7", implementation_version_name="DN_9",
        async_window=(3, 0), roles={STORAGE_COMMITMENT: (False, True)},
        extended={CT_STORAGE: b"\x01\x00\x01"},
        common_extended=[SOPClassCommonExtendedNegotiationSubItem(
            PROCEDURE_LOG, STORAGE_SERVICE_CLASS, (ENHANCED_SR,))],
        user_identity=identity)
    theirs = pdu.A_ASSOCIATE_RQ()
    theirs.decode(encode_pdu(rq))

    assert theirs.calling_ae_title.strip() == "STORESCU"
    assert theirs.called_ae_title.strip() == "ARCHIVE"
    assert theirs.application_context_name == "1.2.840.10008.3.1.1.1"
    seen = [(cx.context_id, cx.abstract_syntax, list(cx.transfer_syntax))
            for cx in theirs.presentation_context]
    assert seen == [(1, VERIFICATION, [IMPLICIT_LE]), (3, CT_STORAGE, [EXPLICIT_LE, IMPLICIT_LE]),
                    (5, STORAGE_COMMITMENT, [IMPLICIT_LE]), (7, PROCEDURE_LOG, [EXPLICIT_LE])]

    (max_length,) = _user_items(theirs, "MaximumLengthSubItem")
    assert max_length.maximum_length_received == 65536
    (class_uid,) = _user_items(theirs, "ImplementationClassUIDSubItem")
    assert class_uid.implementation_class_uid == "1.2.826.0.1.3680043.9.7"
    (version,) = _user_items(theirs, "ImplementationVersionNameSubItem")
    assert version.implementation_version_name in ("DN_9", b"DN_9")
    (window,) = _user_items(theirs, "AsynchronousOperationsWindowSubItem")
    assert (window.maximum_number_operations_invoked,
            window.maximum_number_operations_performed) == (3, 0)
    (role,) = _user_items(theirs, "SCP_SCU_RoleSelectionSubItem")
    assert (role.sop_class_uid, role.scu_role, role.scp_role) == (STORAGE_COMMITMENT, 0, 1)
    (ext,) = _user_items(theirs, "SOPClassExtendedNegotiationSubItem")
    assert (ext.sop_class_uid, ext.service_class_application_information) == \
        (CT_STORAGE, b"\x01\x00\x01")
    (common,) = _user_items(theirs, "SOPClassCommonExtendedNegotiationSubItem")
    assert common.sop_class_uid == PROCEDURE_LOG
    assert common.service_class_uid == STORAGE_SERVICE_CLASS
    assert list(common.related_general_sop_class_identification) == [ENHANCED_SR]
    (user,) = _user_items(theirs, "UserIdentitySubItemRQ")
    assert (user.user_identity_type, user.positive_response_requested,
            user.primary_field, user.secondary_field) == (2, 1, b"alice", b"s3cret")

    # pynetdicom re-encodes what it read to the very same bytes.
    assert theirs.encode() == encode_pdu(rq)


def test_pynetdicom_reads_a_128_context_request() -> None:
    contexts = [(f"1.2.826.0.1.3680043.9.7.{n}", [IMPLICIT_LE, EXPLICIT_LE])
                for n in range(128)]
    theirs = pdu.A_ASSOCIATE_RQ()
    theirs.decode(encode_pdu(request(contexts)))
    ids = [cx.context_id for cx in theirs.presentation_context]
    assert ids == list(range(1, 256, 2))


# -- dicomnet's A-ASSOCIATE-AC, read by pynetdicom --------------------------------------


def test_pynetdicom_reads_our_accept() -> None:
    policy = AcceptorPolicy(
        contexts={VERIFICATION: [IMPLICIT_LE], STORAGE_COMMITMENT: [IMPLICIT_LE],
                  CT_STORAGE: [JPEG_BASELINE]},
        roles={STORAGE_COMMITMENT: (True, True)},
        max_pdu_length=32768, max_operations_invoked=2, max_operations_performed=5,
        extended_negotiation=lambda sop_class, info: b"\x01")
    rq = request([(VERIFICATION, [IMPLICIT_LE]), (STORAGE_COMMITMENT, [IMPLICIT_LE]),
                  (CT_STORAGE, [EXPLICIT_LE]), (MR_STORAGE, [IMPLICIT_LE])],
                 async_window=(0, 4), roles={STORAGE_COMMITMENT: (False, True)},
                 extended={CT_STORAGE: b"\x00"},
                 user_identity=UserIdentityRQSubItem(1, True, b"alice"))
    ac, _ = negotiate(wire_rq(rq), policy, user_identity_response=b"ticket")
    theirs = pdu.A_ASSOCIATE_AC()
    theirs.decode(encode_pdu(ac))

    assert [(cx.context_id, cx.result) for cx in theirs.presentation_context] == \
        [(1, 0), (3, 0), (5, 4), (7, 3)]
    assert [cx.transfer_syntax for cx in theirs.presentation_context][:2] == \
        [IMPLICIT_LE, IMPLICIT_LE]
    (max_length,) = _user_items(theirs, "MaximumLengthSubItem")
    assert max_length.maximum_length_received == 32768
    (window,) = _user_items(theirs, "AsynchronousOperationsWindowSubItem")
    # AC invoked = min(requested invoked (unlimited), our performed 5); AC performed =
    # min(requested performed 4, our invoked 2).
    assert (window.maximum_number_operations_invoked,
            window.maximum_number_operations_performed) == (5, 2)
    (role,) = _user_items(theirs, "SCP_SCU_RoleSelectionSubItem")
    assert (role.sop_class_uid, role.scu_role, role.scp_role) == (STORAGE_COMMITMENT, 0, 1)
    (ext,) = _user_items(theirs, "SOPClassExtendedNegotiationSubItem")
    assert ext.service_class_application_information == b"\x01"
    (user,) = _user_items(theirs, "UserIdentitySubItemAC")
    assert user.response == b"ticket"
    assert theirs.encode() == encode_pdu(ac)


# -- pynetdicom's A-ASSOCIATE-RQ, answered by dicomnet ----------------------------------


def _pynetdicom_request_bytes() -> bytes:
    primitive = pdu_primitives.A_ASSOCIATE()
    primitive.application_context_name = "1.2.840.10008.3.1.1.1"
    primitive.calling_ae_title = "PYNETDICOM"
    primitive.called_ae_title = "DICOMNET"
    primitive.presentation_context_definition_list = [
        _pyn_context(1, VERIFICATION, [IMPLICIT_LE]),
        _pyn_context(3, STORAGE_COMMITMENT, [EXPLICIT_LE, IMPLICIT_LE]),
        _pyn_context(5, MR_STORAGE, [IMPLICIT_LE]),
    ]
    max_length = pdu_primitives.MaximumLengthNotification()
    max_length.maximum_length_received = 16382
    class_uid = pdu_primitives.ImplementationClassUIDNotification()
    class_uid.implementation_class_uid = "1.2.826.0.1.3680043.9.3811.3"
    role = pdu_primitives.SCP_SCU_RoleSelectionNegotiation()
    role.sop_class_uid = STORAGE_COMMITMENT
    role.scu_role = True
    role.scp_role = True
    window = pdu_primitives.AsynchronousOperationsWindowNegotiation()
    window.maximum_number_operations_invoked = 4
    window.maximum_number_operations_performed = 0
    primitive.user_information = [max_length, class_uid, role, window]
    rq = pdu.A_ASSOCIATE_RQ()
    rq.from_primitive(primitive)
    return bytes(rq.encode())


def test_dicomnet_answers_a_pynetdicom_request() -> None:
    received = decode_pdu(_pynetdicom_request_bytes())
    assert isinstance(received, AAssociateRQ)
    assert (received.calling_ae_title, received.called_ae_title) == ("PYNETDICOM", "DICOMNET")
    policy = AcceptorPolicy(contexts={VERIFICATION: [IMPLICIT_LE],
                                      STORAGE_COMMITMENT: [IMPLICIT_LE, EXPLICIT_LE]},
                            roles={STORAGE_COMMITMENT: (True, False)},
                            max_operations_invoked=3, max_operations_performed=2)
    ac, negotiated = negotiate(received, policy)
    assert [(pc.context_id, pc.result, pc.transfer_syntax)
            for pc in ac.presentation_contexts][:2] == [(1, 0, IMPLICIT_LE), (3, 0, IMPLICIT_LE)]
    assert ac.presentation_contexts[2].result == ContextResult.ABSTRACT_SYNTAX_NOT_SUPPORTED
    assert negotiated.peer_max_pdu_length == 16382
    assert negotiated.peer_implementation_class_uid == "1.2.826.0.1.3680043.9.3811.3"
    ctx = negotiated.accepted[3]
    assert (ctx.scu_role, ctx.scp_role) == (True, False)
    # Requested (4, unlimited) against ours (invoke 3, perform 2): AC (2, 3).
    assert ac.user_information.async_operations_window is not None
    assert (ac.user_information.async_operations_window.max_operations_invoked,
            ac.user_information.async_operations_window.max_operations_performed) == (2, 3)
    assert (negotiated.max_invoke, negotiated.max_perform) == (3, 2)


# -- the same rules as pynetdicom's negotiate_as_acceptor / _as_requestor ---------------


@settings(max_examples=100, deadline=None)
@given(
    proposed=st.lists(
        st.tuples(st.sampled_from(ABSTRACT_SYNTAXES),
                  st.lists(st.sampled_from(TRANSFER_SYNTAXES), min_size=1, max_size=4,
                           unique=True)),
        min_size=1, max_size=10),
    supported=st.dictionaries(
        st.sampled_from(ABSTRACT_SYNTAXES),
        st.lists(st.sampled_from(TRANSFER_SYNTAXES), min_size=1, max_size=4, unique=True),
        max_size=6),
)
def test_acceptor_results_match_pynetdicom(proposed: list[tuple[str, list[str]]],
                                           supported: dict[str, list[str]]) -> None:
    rq = request(proposed)
    ac, _ = negotiate(wire_rq(rq), AcceptorPolicy(contexts=supported))
    theirs, _ = presentation.negotiate_as_acceptor(
        [_pyn_context(pc.context_id, pc.abstract_syntax, list(pc.transfer_syntaxes))
         for pc in rq.presentation_contexts],
        [_pyn_context(None, abstract, syntaxes) for abstract, syntaxes in supported.items()])
    ours = {pc.context_id: pc for pc in ac.presentation_contexts}
    assert sorted(ours) == sorted(cx.context_id for cx in theirs)
    for cx in theirs:
        assert ours[cx.context_id].result == cx.result
        if cx.result == 0:
            assert ours[cx.context_id].transfer_syntax == cx.transfer_syntax[0]


ROLE_VALUES = [None, (True, True), (True, False), (False, True), (False, False)]


@pytest.mark.parametrize(("proposed", "reply"),
                         list(itertools.product(ROLE_VALUES, ROLE_VALUES)))
def test_requestor_roles_match_pynetdicom(proposed: tuple[bool, bool] | None,
                                          reply: tuple[bool, bool] | None) -> None:
    rq = request([(STORAGE_COMMITMENT, [IMPLICIT_LE])],
                 roles={STORAGE_COMMITMENT: proposed} if proposed else None)
    # An acceptor that replies ``reply`` (built by hand: it may even be non-conforming).
    subs = (RoleSelectionSubItem(STORAGE_COMMITMENT, *reply),) if reply else ()
    ac = wire_ac(AAssociateAC("DICOMNET", "SCU", (PresentationContextAC(1, 0, IMPLICIT_LE),),
                              UserInformationItem(subs)))
    ctx = interpret_accept(rq, ac).accepted[1]

    theirs = presentation.negotiate_as_requestor(
        [_pyn_context(1, STORAGE_COMMITMENT, [IMPLICIT_LE], roles=proposed)],
        [_pyn_context(1, STORAGE_COMMITMENT, [IMPLICIT_LE], result=0)],
        {STORAGE_COMMITMENT: reply} if reply else None)
    assert (ctx.scu_role, ctx.scp_role) == (theirs[0].as_scu, theirs[0].as_scp)
