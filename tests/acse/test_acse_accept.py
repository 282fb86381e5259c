"""interpret_accept: the requestor's reading of an A-ASSOCIATE-AC (PS3.8 §9.3.3,
PS3.7 Annex D)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from acse_support import (
    CT_STORAGE,
    EXPLICIT_BE,
    EXPLICIT_LE,
    IMPLICIT_LE,
    MR_STORAGE,
    STORAGE_COMMITMENT,
    VERIFICATION,
    request,
    wire_ac,
)

from dicomnet.acse import AcceptedContext, interpret_accept
from dicomnet.errors import AssociationError, NegotiationError, PDUError
from dicomnet.pdu import (
    AAssociateAC,
    AAssociateRQ,
    AsyncOperationsWindowSubItem,
    ContextResult,
    ImplementationClassUIDSubItem,
    ImplementationVersionNameSubItem,
    MaximumLengthSubItem,
    PresentationContextAC,
    RoleSelectionSubItem,
    SOPClassExtendedNegotiationSubItem,
    UserIdentityACSubItem,
    UserIdentityRQSubItem,
    UserInformationItem,
    UserSubItem,
)

ACCEPT = ContextResult.ACCEPTANCE


def _ac(rq: AAssociateRQ, answers: Sequence[PresentationContextAC],
        *extra: UserSubItem, max_pdu_length: int = 32768, wire: bool = True) -> AAssociateAC:
    """An A-ASSOCIATE-AC answering ``rq``, as received (through the codec unless
    ``wire`` is false: the codec already refuses some malformed answers)."""
    sub_items: tuple[UserSubItem, ...] = (
        MaximumLengthSubItem(max_pdu_length), ImplementationClassUIDSubItem("1.2.3.4"),
        *extra)
    ac = AAssociateAC(rq.called_ae_title, rq.calling_ae_title, tuple(answers),
                      UserInformationItem(sub_items))
    return wire_ac(ac) if wire else ac


def _roles(ctx: AcceptedContext) -> tuple[bool, bool]:
    return ctx.scu_role, ctx.scp_role


# -- a normal answer --------------------------------------------------------------------


def test_normal_accept() -> None:
    rq = request([(VERIFICATION, [IMPLICIT_LE]), (CT_STORAGE, [EXPLICIT_LE, IMPLICIT_LE]),
                  (MR_STORAGE, [IMPLICIT_LE])],
                 calling="STORESCU", called="ARCHIVE", max_pdu_length=16384)
    ac = _ac(rq, [PresentationContextAC(1, ACCEPT, IMPLICIT_LE),
                  PresentationContextAC(3, ACCEPT, IMPLICIT_LE),
                  PresentationContextAC(5, ContextResult.ABSTRACT_SYNTAX_NOT_SUPPORTED,
                                        IMPLICIT_LE)],
             ImplementationVersionNameSubItem("PEER_2"), max_pdu_length=65536)
    negotiated = interpret_accept(rq, ac)
    assert negotiated.is_requestor
    assert (negotiated.calling_ae_title, negotiated.called_ae_title) == ("STORESCU", "ARCHIVE")
    assert negotiated.accepted == {
        1: AcceptedContext(1, VERIFICATION, IMPLICIT_LE, True, False),
        3: AcceptedContext(3, CT_STORAGE, IMPLICIT_LE, True, False),
    }
    assert negotiated.rejected == {5: (MR_STORAGE, ContextResult.ABSTRACT_SYNTAX_NOT_SUPPORTED)}
    assert negotiated.local_max_pdu_length == 16384
    assert negotiated.peer_max_pdu_length == 65536
    assert negotiated.peer_implementation_class_uid == "1.2.3.4"
    assert negotiated.peer_implementation_version_name == "PEER_2"
    assert (negotiated.max_invoke, negotiated.max_perform) == (1, 1)
    assert dict(negotiated.extended) == {}
    assert negotiated.user_identity is None
    assert negotiated.user_identity_response is None
    ctx = negotiated.accepted[3]
    assert negotiated.can_act_as_scu(ctx)
    assert not negotiated.can_act_as_scp(ctx)


@pytest.mark.parametrize("result", [
    ContextResult.USER_REJECTION, ContextResult.NO_REASON,
    ContextResult.ABSTRACT_SYNTAX_NOT_SUPPORTED, ContextResult.TRANSFER_SYNTAXES_NOT_SUPPORTED,
])
@pytest.mark.parametrize("syntax", [IMPLICIT_LE, EXPLICIT_BE, ""])
def test_rejected_context_transfer_syntax_is_not_tested(result: int, syntax: str) -> None:
    # PS3.8 §9.3.3.2: when not accepted the transfer syntax is not significant.
    rq = request([(VERIFICATION, [IMPLICIT_LE])])
    negotiated = interpret_accept(rq, _ac(rq, [PresentationContextAC(1, result, syntax)]))
    assert negotiated.accepted == {}
    assert negotiated.rejected == {1: (VERIFICATION, result)}


def test_answers_in_any_order() -> None:
    rq = request([(VERIFICATION, [IMPLICIT_LE]), (CT_STORAGE, [EXPLICIT_LE])])
    ac = _ac(rq, [PresentationContextAC(3, ACCEPT, EXPLICIT_LE),
                  PresentationContextAC(1, ACCEPT, IMPLICIT_LE)])
    negotiated = interpret_accept(rq, ac)
    assert negotiated.accepted[1].abstract_syntax == VERIFICATION
    assert negotiated.accepted[3].abstract_syntax == CT_STORAGE


@pytest.mark.parametrize("answered", [[], [1], [3], [1, 5]])
def test_contexts_missing_from_the_ac_count_as_rejected(answered: list[int]) -> None:
    rq = request([(VERIFICATION, [IMPLICIT_LE]), (CT_STORAGE, [IMPLICIT_LE]),
                  (MR_STORAGE, [IMPLICIT_LE])])
    ac = _ac(rq, [PresentationContextAC(i, ACCEPT, IMPLICIT_LE) for i in answered])
    negotiated = interpret_accept(rq, ac)
    assert sorted(negotiated.accepted) == answered
    missing = {1, 3, 5} - set(answered)
    assert set(negotiated.rejected) == missing
    assert all(reason == ContextResult.NO_REASON for _, reason in negotiated.rejected.values())
    abstract = {1: VERIFICATION, 3: CT_STORAGE, 5: MR_STORAGE}
    assert all(negotiated.rejected[i][0] == abstract[i] for i in missing)


# -- bogus answers ----------------------------------------------------------------------


@pytest.mark.parametrize("answer", [
    pytest.param(PresentationContextAC(3, ACCEPT, IMPLICIT_LE), id="unknown-context-id"),
    pytest.param(PresentationContextAC(2, ACCEPT, IMPLICIT_LE), id="even-context-id"),
    pytest.param(PresentationContextAC(255, ContextResult.USER_REJECTION, IMPLICIT_LE),
                 id="unknown-context-id-rejected"),
    pytest.param(PresentationContextAC(1, ACCEPT, EXPLICIT_LE), id="ts-not-proposed"),
    pytest.param(PresentationContextAC(1, ACCEPT, ""), id="ts-missing"),
    pytest.param(PresentationContextAC(1, 5, IMPLICIT_LE), id="result-5"),
    pytest.param(PresentationContextAC(1, 0xFF, IMPLICIT_LE), id="result-255"),
])
@pytest.mark.parametrize("wire", [True, False], ids=["decoded", "built"])
def test_bogus_ac_raises_negotiation_error(answer: PresentationContextAC, wire: bool) -> None:
    rq = request([(VERIFICATION, [IMPLICIT_LE])])
    try:
        ac = _ac(rq, [answer], wire=wire)
    except PDUError:
        # The codec already refuses an accepted context without a transfer syntax;
        # interpret_accept must still refuse it when built. (An even ID is read, and
        # refused by interpret_accept as one that was never proposed.)
        assert wire and not answer.transfer_syntax
        return
    with pytest.raises(NegotiationError):
        interpret_accept(rq, ac)


@pytest.mark.parametrize(("first", "second"), [
    (ACCEPT, ContextResult.ABSTRACT_SYNTAX_NOT_SUPPORTED),
    (ContextResult.USER_REJECTION, ACCEPT),
    (ACCEPT, ACCEPT),
    (ContextResult.NO_REASON, ContextResult.NO_REASON),
])
def test_context_answered_twice_raises_negotiation_error(first: int, second: int) -> None:
    # PS3.8 §7.1.1.14: one result per proposed context.
    rq = request([(VERIFICATION, [IMPLICIT_LE]), (CT_STORAGE, [IMPLICIT_LE])])
    ac = _ac(rq, [PresentationContextAC(1, first, IMPLICIT_LE),
                  PresentationContextAC(3, ACCEPT, IMPLICIT_LE),
                  PresentationContextAC(1, second, IMPLICIT_LE)])
    with pytest.raises(NegotiationError, match="more than once"):
        interpret_accept(rq, ac)


def test_transfer_syntax_of_another_context_is_not_accepted() -> None:
    rq = request([(VERIFICATION, [IMPLICIT_LE]), (CT_STORAGE, [EXPLICIT_LE])])
    ac = _ac(rq, [PresentationContextAC(1, ACCEPT, EXPLICIT_LE)])
    with pytest.raises(NegotiationError, match="transfer syntax"):
        interpret_accept(rq, ac)


def test_negotiation_error_is_an_association_error() -> None:
    rq = request()
    with pytest.raises(AssociationError):
        interpret_accept(rq, _ac(rq, [PresentationContextAC(7, ACCEPT, IMPLICIT_LE)]))


# -- role selection (PS3.7 D.3.3.4) ------------------------------------------------------


@pytest.mark.parametrize(("proposed", "reply", "granted"), [
    pytest.param(None, None, (True, False), id="nothing-proposed"),
    pytest.param((True, True), None, (True, False), id="no-reply-scu-only"),
    pytest.param((False, True), None, (True, False), id="no-reply-scp-proposal-lost"),
    pytest.param((True, True), (True, True), (True, True), id="both-granted"),
    pytest.param((False, True), (False, True), (False, True), id="scp-granted"),
    pytest.param((True, True), (True, False), (True, False), id="scp-refused"),
    pytest.param((False, True), (False, False), (False, False), id="nothing-granted"),
    pytest.param((True, False), (True, True), (True, False), id="unproposed-scp-ignored"),
    pytest.param((False, True), (True, True), (False, True), id="unproposed-scu-ignored"),
    pytest.param(None, (True, True), (True, False), id="reply-without-proposal-ignored"),
])
def test_role_reply(proposed: tuple[bool, bool] | None, reply: tuple[bool, bool] | None,
                    granted: tuple[bool, bool]) -> None:
    roles = {STORAGE_COMMITMENT: proposed} if proposed is not None else None
    rq = request([(STORAGE_COMMITMENT, [IMPLICIT_LE])], roles=roles)
    extra = [RoleSelectionSubItem(STORAGE_COMMITMENT, *reply)] if reply is not None else []
    negotiated = interpret_accept(
        rq, _ac(rq, [PresentationContextAC(1, ACCEPT, IMPLICIT_LE)], *extra))
    ctx = negotiated.accepted[1]
    assert _roles(ctx) == granted
    assert negotiated.can_act_as_scu(ctx) is granted[0]
    assert negotiated.can_act_as_scp(ctx) is granted[1]


def test_role_reply_for_another_sop_class_does_not_apply() -> None:
    rq = request([(STORAGE_COMMITMENT, [IMPLICIT_LE]), (CT_STORAGE, [IMPLICIT_LE])],
                 roles={STORAGE_COMMITMENT: (True, True), CT_STORAGE: (False, True)})
    ac = _ac(rq, [PresentationContextAC(1, ACCEPT, IMPLICIT_LE),
                  PresentationContextAC(3, ACCEPT, IMPLICIT_LE)],
             RoleSelectionSubItem(CT_STORAGE, False, True))
    negotiated = interpret_accept(rq, ac)
    assert _roles(negotiated.accepted[1]) == (True, False)  # no reply: default
    assert _roles(negotiated.accepted[3]) == (False, True)


def test_role_reply_applies_to_every_context_of_the_sop_class() -> None:
    rq = request([(STORAGE_COMMITMENT, [IMPLICIT_LE]), (STORAGE_COMMITMENT, [EXPLICIT_LE])],
                 roles={STORAGE_COMMITMENT: (True, True)})
    ac = _ac(rq, [PresentationContextAC(1, ACCEPT, IMPLICIT_LE),
                  PresentationContextAC(3, ACCEPT, EXPLICIT_LE)],
             RoleSelectionSubItem(STORAGE_COMMITMENT, False, True))
    negotiated = interpret_accept(rq, ac)
    assert [_roles(c) for c in negotiated.contexts_for(STORAGE_COMMITMENT)] == \
        [(False, True), (False, True)]


# -- asynchronous operations window (PS3.7 D.3.3.3) -------------------------------------


@pytest.mark.parametrize(("asked", "answer", "expected"), [
    pytest.param(None, None, (1, 1), id="none"),
    pytest.param((5, 5), None, (1, 1), id="no-reply-defaults-1-1"),
    pytest.param(None, (5, 3), (1, 1), id="unsolicited-reply-ignored"),
    pytest.param((5, 5), (3, 2), (3, 2), id="negotiated"),
    pytest.param((0, 0), (0, 0), (0, 0), id="unlimited"),
    pytest.param((0, 4), (7, 4), (7, 4), id="mixed"),
    pytest.param((1, 1), (1, 1), (1, 1), id="sync"),
])
def test_async_window(asked: tuple[int, int] | None, answer: tuple[int, int] | None,
                      expected: tuple[int, int]) -> None:
    rq = request(async_window=asked)
    extra = [AsyncOperationsWindowSubItem(*answer)] if answer is not None else []
    negotiated = interpret_accept(
        rq, _ac(rq, [PresentationContextAC(1, ACCEPT, IMPLICIT_LE)], *extra))
    # Both AC values count the requestor's operations: what it invokes, what it performs.
    assert (negotiated.max_invoke, negotiated.max_perform) == expected


# -- other user information -------------------------------------------------------------


def test_extended_negotiation_reply() -> None:
    rq = request([(CT_STORAGE, [IMPLICIT_LE])], extended={CT_STORAGE: b"\x01\x01"})
    ac = _ac(rq, [PresentationContextAC(1, ACCEPT, IMPLICIT_LE)],
             SOPClassExtendedNegotiationSubItem(CT_STORAGE, b"\x01\x00"))
    assert dict(interpret_accept(rq, ac).extended) == {CT_STORAGE: b"\x01\x00"}


@pytest.mark.parametrize("response", [None, b"", b"ticket"])
def test_user_identity_response(response: bytes | None) -> None:
    identity = UserIdentityRQSubItem(1, True, b"alice")
    rq = request(user_identity=identity)
    extra = [UserIdentityACSubItem(response)] if response is not None else []
    negotiated = interpret_accept(
        rq, _ac(rq, [PresentationContextAC(1, ACCEPT, IMPLICIT_LE)], *extra))
    assert negotiated.user_identity == identity
    assert negotiated.user_identity_response == response


@pytest.mark.parametrize(("ours", "theirs"), [(0, 0), (0, 16384), (16384, 0)])
def test_max_pdu_length_zero_passes_through(ours: int, theirs: int) -> None:
    rq = request(max_pdu_length=ours)
    negotiated = interpret_accept(
        rq, _ac(rq, [PresentationContextAC(1, ACCEPT, IMPLICIT_LE)], max_pdu_length=theirs))
    assert negotiated.local_max_pdu_length == ours
    assert negotiated.peer_max_pdu_length == theirs


def test_ac_without_user_information_sub_items() -> None:
    rq = request(async_window=(4, 4), roles={VERIFICATION: (True, True)})
    ac = AAssociateAC(rq.called_ae_title, rq.calling_ae_title,
                      (PresentationContextAC(1, ACCEPT, IMPLICIT_LE),))
    negotiated = interpret_accept(rq, ac)
    assert negotiated.peer_max_pdu_length == 0
    assert negotiated.peer_implementation_class_uid is None
    assert (negotiated.max_invoke, negotiated.max_perform) == (1, 1)
    assert _roles(negotiated.accepted[1]) == (True, False)
