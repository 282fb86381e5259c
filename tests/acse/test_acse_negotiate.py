"""negotiate: the acceptor's answer to an A-ASSOCIATE-RQ (PS3.8 §9.3.3, PS3.7 Annex D)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import pytest
from acse_support import (
    CT_STORAGE,
    DEFLATED_LE,
    ENHANCED_SR,
    EXPLICIT_BE,
    EXPLICIT_LE,
    IMPLICIT_LE,
    JPEG_BASELINE,
    MR_STORAGE,
    PROCEDURE_LOG,
    STORAGE_COMMITMENT,
    STORAGE_SERVICE_CLASS,
    VERIFICATION,
    request,
    wire_ac,
    wire_rq,
)

from dicomnet.acse import AcceptedContext, AcceptorPolicy, Negotiated, negotiate
from dicomnet.identity import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME
from dicomnet.pdu import (
    DICOM_APPLICATION_CONTEXT,
    AAssociateAC,
    AAssociateRQ,
    AsyncOperationsWindowSubItem,
    ContextResult,
    PresentationContextAC,
    PresentationContextRQ,
    RoleSelectionSubItem,
    SOPClassCommonExtendedNegotiationSubItem,
    SOPClassExtendedNegotiationSubItem,
    UserIdentityACSubItem,
    UserIdentityRQSubItem,
    UserInformationItem,
)

ACCEPT = ContextResult.ACCEPTANCE
NO_ABSTRACT = ContextResult.ABSTRACT_SYNTAX_NOT_SUPPORTED
NO_TRANSFER = ContextResult.TRANSFER_SYNTAXES_NOT_SUPPORTED


def _negotiate(rq: AAssociateRQ, policy: AcceptorPolicy,
               **kwargs: bytes | None) -> tuple[AAssociateAC, Negotiated]:
    """negotiate() on the request as received; checks the AC survives the codec."""
    ac, negotiated = negotiate(wire_rq(rq), policy, **kwargs)
    assert wire_ac(ac) == ac
    return ac, negotiated


def _results(ac: AAssociateAC) -> list[tuple[int, int, str]]:
    return [(pc.context_id, pc.result, pc.transfer_syntax) for pc in ac.presentation_contexts]


# -- presentation contexts --------------------------------------------------------------


@pytest.mark.parametrize(("ours", "proposed", "prefer_requestor", "chosen"), [
    # Our order of preference wins by default ...
    ([EXPLICIT_LE, IMPLICIT_LE], [IMPLICIT_LE, EXPLICIT_LE], False, EXPLICIT_LE),
    ([IMPLICIT_LE, EXPLICIT_LE], [EXPLICIT_LE, IMPLICIT_LE], False, IMPLICIT_LE),
    # ... the requestor's when asked.
    ([EXPLICIT_LE, IMPLICIT_LE], [IMPLICIT_LE, EXPLICIT_LE], True, IMPLICIT_LE),
    ([IMPLICIT_LE, EXPLICIT_LE], [EXPLICIT_LE, IMPLICIT_LE], True, EXPLICIT_LE),
    # A single common syntax is chosen whatever the order.
    ([JPEG_BASELINE, IMPLICIT_LE], [EXPLICIT_LE, IMPLICIT_LE], False, IMPLICIT_LE),
    ([JPEG_BASELINE, IMPLICIT_LE], [EXPLICIT_LE, IMPLICIT_LE], True, IMPLICIT_LE),
    # Syntaxes only one side knows are skipped.
    ([EXPLICIT_BE, JPEG_BASELINE, EXPLICIT_LE, IMPLICIT_LE],
     [IMPLICIT_LE, DEFLATED_LE, EXPLICIT_LE], False, EXPLICIT_LE),
    ([EXPLICIT_BE, JPEG_BASELINE, EXPLICIT_LE, IMPLICIT_LE],
     [DEFLATED_LE, IMPLICIT_LE, EXPLICIT_LE], True, IMPLICIT_LE),
])
def test_transfer_syntax_choice(ours: list[str], proposed: list[str],
                                prefer_requestor: bool, chosen: str) -> None:
    policy = AcceptorPolicy(contexts={CT_STORAGE: ours},
                            prefer_requestor_order=prefer_requestor)
    ac, negotiated = _negotiate(request([(CT_STORAGE, proposed)]), policy)
    assert _results(ac) == [(1, ACCEPT, chosen)]
    assert negotiated.accepted == {1: AcceptedContext(1, CT_STORAGE, chosen, True, False)}
    assert negotiated.rejected == {}


def test_abstract_syntax_not_supported() -> None:
    policy = AcceptorPolicy(contexts={VERIFICATION: [IMPLICIT_LE]})
    ac, negotiated = _negotiate(request([(CT_STORAGE, [EXPLICIT_LE, IMPLICIT_LE])]), policy)
    assert [(pc.context_id, pc.result) for pc in ac.presentation_contexts] == \
        [(1, NO_ABSTRACT)]
    assert negotiated.accepted == {}
    assert negotiated.rejected == {1: (CT_STORAGE, NO_ABSTRACT)}


def test_transfer_syntaxes_not_supported() -> None:
    policy = AcceptorPolicy(contexts={CT_STORAGE: [JPEG_BASELINE]})
    ac, negotiated = _negotiate(request([(CT_STORAGE, [EXPLICIT_LE, IMPLICIT_LE])]), policy)
    assert [(pc.context_id, pc.result) for pc in ac.presentation_contexts] == \
        [(1, NO_TRANSFER)]
    # PS3.8 §9.3.3.2: a transfer syntax sub-item is still sent; it names one proposed.
    assert ac.presentation_contexts[0].transfer_syntax in (EXPLICIT_LE, IMPLICIT_LE)
    assert negotiated.rejected == {1: (CT_STORAGE, NO_TRANSFER)}


def test_policy_with_no_transfer_syntax_for_an_abstract_syntax_rejects_it() -> None:
    policy = AcceptorPolicy(contexts={CT_STORAGE: []})
    ac, _ = _negotiate(request([(CT_STORAGE, [IMPLICIT_LE])]), policy)
    assert ac.presentation_contexts[0].result == NO_TRANSFER


def test_empty_policy_rejects_everything() -> None:
    ac, negotiated = _negotiate(request([(VERIFICATION, [IMPLICIT_LE]),
                                         (CT_STORAGE, [IMPLICIT_LE])]), AcceptorPolicy())
    assert [pc.result for pc in ac.presentation_contexts] == [NO_ABSTRACT, NO_ABSTRACT]
    assert negotiated.accepted == {}
    assert set(negotiated.rejected) == {1, 3}


def test_mixed_list_is_answered_in_proposal_order() -> None:
    policy = AcceptorPolicy(contexts={VERIFICATION: [IMPLICIT_LE],
                                      CT_STORAGE: [EXPLICIT_LE, IMPLICIT_LE]})
    rq = request([
        (VERIFICATION, [IMPLICIT_LE]),           # 1 accepted
        (CT_STORAGE, [JPEG_BASELINE]),           # 3 transfer syntax not supported
        (MR_STORAGE, [IMPLICIT_LE]),             # 5 abstract syntax not supported
        (CT_STORAGE, [IMPLICIT_LE, EXPLICIT_LE]),  # 7 accepted, our preference
        (CT_STORAGE, [IMPLICIT_LE]),             # 9 accepted
        (STORAGE_COMMITMENT, [EXPLICIT_BE]),     # 11 abstract syntax not supported
    ])
    ac, negotiated = _negotiate(rq, policy)
    assert [(pc.context_id, pc.result) for pc in ac.presentation_contexts] == [
        (1, ACCEPT), (3, NO_TRANSFER), (5, NO_ABSTRACT), (7, ACCEPT), (9, ACCEPT),
        (11, NO_ABSTRACT)]
    assert negotiated.accepted == {
        1: AcceptedContext(1, VERIFICATION, IMPLICIT_LE),
        7: AcceptedContext(7, CT_STORAGE, EXPLICIT_LE),
        9: AcceptedContext(9, CT_STORAGE, IMPLICIT_LE),
    }
    assert negotiated.rejected == {3: (CT_STORAGE, NO_TRANSFER), 5: (MR_STORAGE, NO_ABSTRACT),
                                   11: (STORAGE_COMMITMENT, NO_ABSTRACT)}
    assert [ctx.context_id for ctx in negotiated.contexts_for(CT_STORAGE)] == [7, 9]


def test_same_abstract_syntax_in_several_contexts_each_gets_its_own_answer() -> None:
    policy = AcceptorPolicy(contexts={CT_STORAGE: [JPEG_BASELINE, EXPLICIT_LE, IMPLICIT_LE]})
    rq = request([(CT_STORAGE, [JPEG_BASELINE]), (CT_STORAGE, [EXPLICIT_LE]),
                  (CT_STORAGE, [IMPLICIT_LE]), (CT_STORAGE, [EXPLICIT_BE])])
    ac, negotiated = _negotiate(rq, policy)
    assert _results(ac)[:3] == [(1, ACCEPT, JPEG_BASELINE), (3, ACCEPT, EXPLICIT_LE),
                                (5, ACCEPT, IMPLICIT_LE)]
    assert ac.presentation_contexts[3].result == NO_TRANSFER
    assert sorted(negotiated.accepted) == [1, 3, 5]


def test_duplicate_context_id_is_answered_once() -> None:
    rq = AAssociateRQ("DICOMNET", "SCU", presentation_contexts=(
        PresentationContextRQ(1, VERIFICATION, (IMPLICIT_LE,)),
        PresentationContextRQ(1, CT_STORAGE, (IMPLICIT_LE,)),
        PresentationContextRQ(3, CT_STORAGE, (IMPLICIT_LE,)),
    ))
    policy = AcceptorPolicy(contexts={VERIFICATION: [IMPLICIT_LE], CT_STORAGE: [IMPLICIT_LE]})
    ac, negotiated = negotiate(rq, policy)
    assert [pc.context_id for pc in ac.presentation_contexts] == [1, 3]
    assert negotiated.accepted[1].abstract_syntax == VERIFICATION


def test_context_without_transfer_syntax_is_refused_not_crashed() -> None:
    rq = AAssociateRQ("DICOMNET", "SCU", presentation_contexts=(
        PresentationContextRQ(1, VERIFICATION, ()),))
    ac, negotiated = negotiate(rq, AcceptorPolicy(contexts={VERIFICATION: [IMPLICIT_LE]}))
    assert ac.presentation_contexts == (PresentationContextAC(1, NO_TRANSFER, ""),)
    assert negotiated.accepted == {}
    assert wire_ac(ac).presentation_contexts[0].result == NO_TRANSFER


@pytest.mark.parametrize(("contexts", "any_syntax", "proposed", "expected"), [
    # Anything goes with the catch-all syntaxes ...
    ({}, [EXPLICIT_LE, IMPLICIT_LE], [(MR_STORAGE, [IMPLICIT_LE, EXPLICIT_LE])],
     [(1, ACCEPT, EXPLICIT_LE)]),
    ({}, [EXPLICIT_LE], [("1.2.3.4.5.6", [IMPLICIT_LE, EXPLICIT_LE])],
     [(1, ACCEPT, EXPLICIT_LE)]),
    # ... but the transfer syntaxes must still match ...
    ({}, [EXPLICIT_LE], [(MR_STORAGE, [IMPLICIT_LE])], [(1, NO_TRANSFER, IMPLICIT_LE)]),
    # ... and an explicit entry takes precedence over the catch-all.
    ({CT_STORAGE: [JPEG_BASELINE]}, [IMPLICIT_LE], [(CT_STORAGE, [IMPLICIT_LE])],
     [(1, NO_TRANSFER, IMPLICIT_LE)]),
    ({CT_STORAGE: [JPEG_BASELINE]}, [IMPLICIT_LE],
     [(CT_STORAGE, [JPEG_BASELINE, IMPLICIT_LE]), (MR_STORAGE, [JPEG_BASELINE, IMPLICIT_LE])],
     [(1, ACCEPT, JPEG_BASELINE), (3, ACCEPT, IMPLICIT_LE)]),
])
def test_any_abstract_syntax(contexts: Mapping[str, Sequence[str]], any_syntax: list[str],
                             proposed: list[tuple[str, list[str]]],
                             expected: list[tuple[int, int, str]]) -> None:
    policy = AcceptorPolicy(contexts=contexts, any_abstract_syntax=any_syntax)
    ac, _ = _negotiate(request(proposed), policy)
    assert _results(ac) == expected


# -- SCP/SCU role selection (PS3.7 D.3.3.4) ---------------------------------------------

ROLE_CASES = [
    # proposed (SCU, SCP), policy entry or None, expected reply == requestor's roles
    pytest.param((True, True), (True, True), (True, True), id="both-allowed"),
    pytest.param((False, True), (True, True), (False, True), id="scp-only-allowed"),
    pytest.param((True, True), (True, False), (True, False), id="policy-refuses-scp"),
    pytest.param((False, True), (True, False), (False, False), id="scp-refused"),
    pytest.param((True, True), None, (True, False), id="absent-both"),
    pytest.param((False, True), None, (False, False), id="absent-scp-only"),
    pytest.param((True, False), None, (True, False), id="absent-scu-only"),
    pytest.param((True, False), (True, True), (True, False), id="never-grant-unproposed-scp"),
    pytest.param((False, True), (True, True), (False, True), id="never-grant-unproposed-scu"),
    pytest.param((True, True), (False, True), (False, True), id="policy-refuses-scu"),
    pytest.param((True, True), (False, False), (False, False), id="policy-refuses-all"),
]


@pytest.mark.parametrize(("proposed", "allowed", "granted"), ROLE_CASES)
def test_role_selection(proposed: tuple[bool, bool], allowed: tuple[bool, bool] | None,
                        granted: tuple[bool, bool]) -> None:
    roles = {STORAGE_COMMITMENT: allowed} if allowed is not None else {}
    policy = AcceptorPolicy(contexts={STORAGE_COMMITMENT: [IMPLICIT_LE]}, roles=roles)
    rq = request([(STORAGE_COMMITMENT, [IMPLICIT_LE])], roles={STORAGE_COMMITMENT: proposed})
    ac, negotiated = _negotiate(rq, policy)
    # The reply is sent for a proposed SOP class, and grants at most what was asked.
    assert ac.user_information.role_selections == (
        RoleSelectionSubItem(STORAGE_COMMITMENT, *granted),)
    # Role selection does not reject the context.
    assert ac.presentation_contexts[0].result == ACCEPT
    ctx = negotiated.accepted[1]
    assert (ctx.scu_role, ctx.scp_role) == granted
    # The acceptor plays the complementary roles.
    assert negotiated.can_act_as_scp(ctx) is granted[0]
    assert negotiated.can_act_as_scu(ctx) is granted[1]


@pytest.mark.parametrize("allowed", [None, (True, True), (False, True)])
def test_no_role_proposal_means_requestor_scu_and_no_reply(
        allowed: tuple[bool, bool] | None) -> None:
    roles = {CT_STORAGE: allowed} if allowed is not None else {}
    policy = AcceptorPolicy(contexts={CT_STORAGE: [IMPLICIT_LE]}, roles=roles)
    ac, negotiated = _negotiate(request([(CT_STORAGE, [IMPLICIT_LE])]), policy)
    # PS3.7 D.3.3.4: no role selection item in the indication, none in the response.
    assert ac.user_information.role_selections == ()
    ctx = negotiated.accepted[1]
    assert (ctx.scu_role, ctx.scp_role) == (True, False)
    assert negotiated.can_act_as_scp(ctx)
    assert not negotiated.can_act_as_scu(ctx)


def test_role_reply_per_sop_class_only_for_accepted_contexts() -> None:
    policy = AcceptorPolicy(
        contexts={STORAGE_COMMITMENT: [IMPLICIT_LE], CT_STORAGE: [EXPLICIT_LE]},
        roles={STORAGE_COMMITMENT: (True, True), CT_STORAGE: (True, True)})
    rq = request(
        [(STORAGE_COMMITMENT, [IMPLICIT_LE]), (STORAGE_COMMITMENT, [EXPLICIT_LE, IMPLICIT_LE]),
         (CT_STORAGE, [IMPLICIT_LE])],                  # CT: transfer syntax refused
        roles={STORAGE_COMMITMENT: (True, True), CT_STORAGE: (False, True),
               MR_STORAGE: (False, True)})              # MR: not even proposed
    ac, negotiated = _negotiate(rq, policy)
    assert ac.user_information.role_selections == (
        RoleSelectionSubItem(STORAGE_COMMITMENT, True, True),)
    assert all((ctx.scu_role, ctx.scp_role) == (True, True)
               for ctx in negotiated.accepted.values())
    assert sorted(negotiated.accepted) == [1, 3]


def test_roles_apply_per_abstract_syntax() -> None:
    policy = AcceptorPolicy(contexts={STORAGE_COMMITMENT: [IMPLICIT_LE],
                                      CT_STORAGE: [IMPLICIT_LE]},
                            roles={CT_STORAGE: (True, True)})
    rq = request([(STORAGE_COMMITMENT, [IMPLICIT_LE]), (CT_STORAGE, [IMPLICIT_LE])],
                 roles={CT_STORAGE: (False, True)})
    _, negotiated = _negotiate(rq, policy)
    assert (negotiated.accepted[1].scu_role, negotiated.accepted[1].scp_role) == (True, False)
    assert (negotiated.accepted[3].scu_role, negotiated.accepted[3].scp_role) == (False, True)


# -- asynchronous operations window (PS3.7 D.3.3.3) -------------------------------------

WINDOW_CASES = [
    # requested (invoked, performed), policy (invoked, performed), AC (invoked, performed)
    pytest.param((1, 1), (1, 1), (1, 1), id="sync"),
    pytest.param((5, 3), (1, 1), (1, 1), id="we-are-synchronous"),
    pytest.param((5, 3), (2, 10), (5, 2), id="negotiated-down-per-direction"),
    pytest.param((5, 3), (10, 2), (2, 3), id="negotiated-down-other-way"),
    pytest.param((2, 2), (8, 8), (2, 2), id="never-more-than-asked"),
    pytest.param((0, 0), (0, 0), (0, 0), id="both-unlimited"),
    pytest.param((0, 0), (4, 7), (7, 4), id="they-unlimited"),
    pytest.param((3, 2), (0, 0), (3, 2), id="we-unlimited"),
    pytest.param((0, 5), (0, 8), (8, 5), id="mixed-zero"),
    pytest.param((6, 0), (9, 0), (6, 9), id="mixed-zero-other-way"),
    pytest.param((1, 0), (0, 1), (1, 0), id="unlimited-both-ways-stays-unlimited"),
    pytest.param((1, 0), (1, 0), (1, 1), id="each-limits-one-direction"),
]


@pytest.mark.parametrize(("asked", "ours", "answer"), WINDOW_CASES)
def test_async_window(asked: tuple[int, int], ours: tuple[int, int],
                      answer: tuple[int, int]) -> None:
    policy = AcceptorPolicy(contexts={VERIFICATION: [IMPLICIT_LE]},
                            max_operations_invoked=ours[0],
                            max_operations_performed=ours[1])
    ac, negotiated = _negotiate(request(async_window=asked), policy)
    assert ac.user_information.async_operations_window == \
        AsyncOperationsWindowSubItem(*answer)
    # We invoke what the requestor performs; we perform what it invokes.
    assert (negotiated.max_invoke, negotiated.max_perform) == (answer[1], answer[0])


@pytest.mark.parametrize("ours", [(1, 1), (0, 0), (5, 9)])
def test_no_window_asked_no_window_answered(ours: tuple[int, int]) -> None:
    policy = AcceptorPolicy(contexts={VERIFICATION: [IMPLICIT_LE]},
                            max_operations_invoked=ours[0],
                            max_operations_performed=ours[1])
    ac, negotiated = _negotiate(request(), policy)
    assert ac.user_information.async_operations_window is None
    assert (negotiated.max_invoke, negotiated.max_perform) == (1, 1)


# -- extended negotiation (PS3.7 D.3.3.5) -----------------------------------------------


def test_extended_negotiation_replies_only_when_callback_returns_bytes() -> None:
    calls: list[tuple[str, bytes]] = []

    def callback(sop_class: str, info: bytes) -> bytes | None:
        calls.append((sop_class, info))
        return {CT_STORAGE: b"\x01\x00", MR_STORAGE: b""}.get(sop_class)

    policy = AcceptorPolicy(contexts={CT_STORAGE: [IMPLICIT_LE], MR_STORAGE: [IMPLICIT_LE],
                                      VERIFICATION: [IMPLICIT_LE]},
                            extended_negotiation=callback)
    rq = request([(CT_STORAGE, [IMPLICIT_LE]), (MR_STORAGE, [IMPLICIT_LE]),
                  (VERIFICATION, [IMPLICIT_LE])],
                 extended={CT_STORAGE: b"\x01\x01\x01", MR_STORAGE: b"\x02",
                           VERIFICATION: b"\x03"})
    ac, negotiated = _negotiate(rq, policy)
    assert calls == [(CT_STORAGE, b"\x01\x01\x01"), (MR_STORAGE, b"\x02"),
                     (VERIFICATION, b"\x03")]
    assert ac.user_information.extended_negotiations == (
        SOPClassExtendedNegotiationSubItem(CT_STORAGE, b"\x01\x00"),
        SOPClassExtendedNegotiationSubItem(MR_STORAGE, b""),  # empty bytes still answer
    )
    assert dict(negotiated.extended) == {CT_STORAGE: b"\x01\x00", MR_STORAGE: b""}


def test_extended_negotiation_without_callback_is_not_answered() -> None:
    policy = AcceptorPolicy(contexts={CT_STORAGE: [IMPLICIT_LE]})
    ac, negotiated = _negotiate(
        request([(CT_STORAGE, [IMPLICIT_LE])], extended={CT_STORAGE: b"\x01"}), policy)
    assert ac.user_information.extended_negotiations == ()
    assert dict(negotiated.extended) == {}


def test_extended_negotiation_callback_not_called_without_items() -> None:
    def callback(sop_class: str, info: bytes) -> bytes | None:
        raise AssertionError("called without an extended negotiation sub-item")

    policy = AcceptorPolicy(contexts={CT_STORAGE: [IMPLICIT_LE]},
                            extended_negotiation=callback)
    ac, _ = _negotiate(request([(CT_STORAGE, [IMPLICIT_LE])]), policy)
    assert ac.user_information.extended_negotiations == ()


# -- common extended negotiation (PS3.7 D.3.3.6) ----------------------------------------

PROCEDURE_LOG_ITEM = SOPClassCommonExtendedNegotiationSubItem(
    PROCEDURE_LOG, STORAGE_SERVICE_CLASS, (ENHANCED_SR,))


def test_specialised_sop_class_accepted_through_related_general_class() -> None:
    policy = AcceptorPolicy(contexts={ENHANCED_SR: [EXPLICIT_LE, IMPLICIT_LE]})
    rq = request([(PROCEDURE_LOG, [IMPLICIT_LE, EXPLICIT_LE])],
                 common_extended=[PROCEDURE_LOG_ITEM])
    ac, negotiated = _negotiate(rq, policy)
    # The general class's transfer syntaxes, in our preference order.
    assert _results(ac) == [(1, ACCEPT, EXPLICIT_LE)]
    # The context keeps the specialised abstract syntax that was proposed.
    assert negotiated.accepted[1] == AcceptedContext(1, PROCEDURE_LOG, EXPLICIT_LE)
    # PS3.7 D.3.3.6: the common extended negotiation sub-item is requestor-only.
    assert ac.user_information.common_extended_negotiations == ()


def test_related_general_class_honours_its_transfer_syntaxes() -> None:
    policy = AcceptorPolicy(contexts={ENHANCED_SR: [EXPLICIT_LE]})
    rq = request([(PROCEDURE_LOG, [IMPLICIT_LE])], common_extended=[PROCEDURE_LOG_ITEM])
    ac, _ = _negotiate(rq, policy)
    assert ac.presentation_contexts[0].result == NO_TRANSFER


@pytest.mark.parametrize(("policy", "common"), [
    pytest.param(AcceptorPolicy(contexts={ENHANCED_SR: [IMPLICIT_LE]},
                                accept_related_general_sop_classes=False),
                 [PROCEDURE_LOG_ITEM], id="disabled"),
    pytest.param(AcceptorPolicy(contexts={CT_STORAGE: [IMPLICIT_LE]}),
                 [PROCEDURE_LOG_ITEM], id="general-class-not-supported"),
    pytest.param(AcceptorPolicy(contexts={ENHANCED_SR: [IMPLICIT_LE]}), [],
                 id="no-common-extended-item"),
    pytest.param(AcceptorPolicy(contexts={ENHANCED_SR: [IMPLICIT_LE]}),
                 [SOPClassCommonExtendedNegotiationSubItem(PROCEDURE_LOG,
                                                           STORAGE_SERVICE_CLASS)],
                 id="no-related-general-class"),
    pytest.param(AcceptorPolicy(contexts={ENHANCED_SR: [IMPLICIT_LE]}),
                 [SOPClassCommonExtendedNegotiationSubItem(MR_STORAGE, STORAGE_SERVICE_CLASS,
                                                           (ENHANCED_SR,))],
                 id="item-for-another-sop-class"),
])
def test_specialised_sop_class_refused(
        policy: AcceptorPolicy,
        common: list[SOPClassCommonExtendedNegotiationSubItem]) -> None:
    rq = request([(PROCEDURE_LOG, [IMPLICIT_LE])], common_extended=common)
    ac, negotiated = _negotiate(rq, policy)
    assert ac.presentation_contexts[0].result == NO_ABSTRACT
    assert negotiated.accepted == {}


def test_first_supported_related_general_class_is_used() -> None:
    item = SOPClassCommonExtendedNegotiationSubItem(
        PROCEDURE_LOG, STORAGE_SERVICE_CLASS, (CT_STORAGE, ENHANCED_SR, MR_STORAGE))
    policy = AcceptorPolicy(contexts={MR_STORAGE: [EXPLICIT_LE], ENHANCED_SR: [IMPLICIT_LE]})
    rq = request([(PROCEDURE_LOG, [EXPLICIT_LE, IMPLICIT_LE])], common_extended=[item])
    ac, _ = _negotiate(rq, policy)
    assert _results(ac) == [(1, ACCEPT, IMPLICIT_LE)]


def test_disabled_related_classes_fall_back_to_any_abstract_syntax() -> None:
    policy = AcceptorPolicy(contexts={ENHANCED_SR: [EXPLICIT_LE]},
                            any_abstract_syntax=[IMPLICIT_LE],
                            accept_related_general_sop_classes=False)
    rq = request([(PROCEDURE_LOG, [EXPLICIT_LE, IMPLICIT_LE])],
                 common_extended=[PROCEDURE_LOG_ITEM])
    ac, _ = _negotiate(rq, policy)
    assert _results(ac) == [(1, ACCEPT, IMPLICIT_LE)]


# -- user identity (PS3.7 D.3.3.7) ------------------------------------------------------


@pytest.mark.parametrize(("positive", "response", "expected"), [
    (True, b"server-token", b"server-token"),
    (True, b"", b""),  # an empty response is still a response
    (True, None, None),
    (False, b"server-token", None),
    (False, None, None),
])
def test_user_identity_response(positive: bool, response: bytes | None,
                                expected: bytes | None) -> None:
    identity = UserIdentityRQSubItem(2, positive, b"alice", b"s3cret")
    policy = AcceptorPolicy(contexts={VERIFICATION: [IMPLICIT_LE]})
    ac, negotiated = _negotiate(request(user_identity=identity), policy,
                                user_identity_response=response)
    if expected is None:
        assert ac.user_information.user_identity_ac is None
    else:
        assert ac.user_information.user_identity_ac == UserIdentityACSubItem(expected)
    assert negotiated.user_identity == identity


def test_no_user_identity_asked_none_answered() -> None:
    policy = AcceptorPolicy(contexts={VERIFICATION: [IMPLICIT_LE]})
    ac, negotiated = _negotiate(request(), policy, user_identity_response=b"token")
    assert ac.user_information.user_identity_ac is None
    assert negotiated.user_identity is None


# -- the rest of the A-ASSOCIATE-AC -----------------------------------------------------


def test_ac_echoes_titles_and_carries_our_identity() -> None:
    policy = AcceptorPolicy(ae_title="ARCHIVE", contexts={VERIFICATION: [IMPLICIT_LE]},
                            max_pdu_length=32768)
    rq = request(calling="STORESCU", called="ARCHIVE", max_pdu_length=16384,
                 implementation_class_uid="1.2.3.4", implementation_version_name="PEER_1")
    ac, negotiated = _negotiate(rq, policy)
    assert (ac.calling_ae_title, ac.called_ae_title) == ("STORESCU", "ARCHIVE")
    assert ac.application_context == DICOM_APPLICATION_CONTEXT
    info = ac.user_information
    assert info.maximum_length == 32768
    assert info.implementation_class_uid == IMPLEMENTATION_CLASS_UID
    assert info.implementation_version_name == IMPLEMENTATION_VERSION_NAME
    assert not negotiated.is_requestor
    assert (negotiated.calling_ae_title, negotiated.called_ae_title) == ("STORESCU", "ARCHIVE")
    assert negotiated.local_max_pdu_length == 32768
    assert negotiated.peer_max_pdu_length == 16384
    assert negotiated.peer_implementation_class_uid == "1.2.3.4"
    assert negotiated.peer_implementation_version_name == "PEER_1"
    assert negotiated.user_identity_response is None


def test_policy_implementation_identity() -> None:
    policy = AcceptorPolicy(contexts={VERIFICATION: [IMPLICIT_LE]},
                            implementation_class_uid="1.2.3.9",
                            implementation_version_name=None)
    ac, _ = _negotiate(request(), policy)
    assert ac.user_information.implementation_class_uid == "1.2.3.9"
    assert ac.user_information.implementation_version_name is None


@pytest.mark.parametrize(("theirs", "ours"), [(0, 0), (0, 16384), (16384, 0)])
def test_max_pdu_length_zero_passes_through(theirs: int, ours: int) -> None:
    policy = AcceptorPolicy(contexts={VERIFICATION: [IMPLICIT_LE]}, max_pdu_length=ours)
    ac, negotiated = _negotiate(request(max_pdu_length=theirs), policy)
    assert ac.user_information.maximum_length == ours
    assert negotiated.local_max_pdu_length == ours
    assert negotiated.peer_max_pdu_length == theirs


def test_request_without_user_information_sub_items() -> None:
    # A minimal (non-conforming) peer: no maximum length, no implementation UID.
    rq = AAssociateRQ("DICOMNET", "SCU", presentation_contexts=(
        PresentationContextRQ(1, VERIFICATION, (IMPLICIT_LE,)),),
        user_information=UserInformationItem())
    ac, negotiated = negotiate(rq, AcceptorPolicy(contexts={VERIFICATION: [IMPLICIT_LE]}))
    assert ac.presentation_contexts[0].result == ACCEPT
    assert negotiated.peer_max_pdu_length == 0
    assert negotiated.peer_implementation_class_uid is None
    assert (negotiated.max_invoke, negotiated.max_perform) == (1, 1)


def test_negotiated_mappings_are_read_only() -> None:
    _, negotiated = _negotiate(request(), AcceptorPolicy(contexts={VERIFICATION: [IMPLICIT_LE]}))
    with pytest.raises(TypeError):
        negotiated.accepted[3] = AcceptedContext(3, CT_STORAGE, IMPLICIT_LE)  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        negotiated.max_invoke = 5  # type: ignore[misc]
