"""Both sides of a negotiation agree: build_request -> codec -> check_request/negotiate ->
codec -> interpret_accept, for random proposals and policies (PS3.7 Annex D)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from acse_support import (
    ABSTRACT_SYNTAXES,
    ENHANCED_SR,
    PROCEDURE_LOG,
    STORAGE_SERVICE_CLASS,
    TRANSFER_SYNTAXES,
    wire_ac,
    wire_rq,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from dicomnet.acse import (
    AcceptedContext,
    AcceptorPolicy,
    build_request,
    check_request,
    interpret_accept,
    negotiate,
)
from dicomnet.pdu import (
    AAssociateRQ,
    ContextResult,
    SOPClassCommonExtendedNegotiationSubItem,
    UserIdentityRQSubItem,
)

windows = st.integers(0, 4)
roles = st.tuples(st.booleans(), st.booleans())
syntax_lists = st.lists(st.sampled_from(TRANSFER_SYNTAXES), unique=True, max_size=4)


@dataclass(frozen=True)
class Proposal:
    """What build_request is asked for."""

    contexts: list[tuple[str, list[str]]]
    max_pdu_length: int
    async_window: tuple[int, int] | None
    roles: dict[str, tuple[bool, bool]]
    extended: dict[str, bytes]
    common_extended: list[SOPClassCommonExtendedNegotiationSubItem]
    user_identity: UserIdentityRQSubItem | None

    def request(self) -> AAssociateRQ:
        return build_request(
            calling_ae_title="REQUESTOR", called_ae_title="ACCEPTOR",
            contexts=self.contexts, max_pdu_length=self.max_pdu_length,
            implementation_class_uid="1.2.3.4.5", implementation_version_name="REQ_1",
            async_window=self.async_window, roles=self.roles, extended=self.extended,
            common_extended=self.common_extended, user_identity=self.user_identity)


proposals = st.builds(
    Proposal,
    contexts=st.lists(st.tuples(st.sampled_from(ABSTRACT_SYNTAXES),
                                syntax_lists.filter(bool)), min_size=1, max_size=12),
    max_pdu_length=st.sampled_from([0, 4096, 16384, 1 << 20]),
    async_window=st.none() | st.tuples(windows, windows),
    roles=st.dictionaries(st.sampled_from(ABSTRACT_SYNTAXES), roles, max_size=4),
    extended=st.dictionaries(st.sampled_from(ABSTRACT_SYNTAXES), st.binary(max_size=4),
                             max_size=3),
    common_extended=st.sampled_from([
        [], [SOPClassCommonExtendedNegotiationSubItem(PROCEDURE_LOG, STORAGE_SERVICE_CLASS,
                                                      (ENHANCED_SR,))]]),
    user_identity=st.none() | st.builds(UserIdentityRQSubItem, st.sampled_from([1, 2]),
                                        st.booleans(), st.binary(min_size=1, max_size=8),
                                        st.binary(max_size=8)),
)


def _extended_callback(answered: frozenset[str]) -> Callable[[str, bytes], bytes | None]:
    def callback(sop_class: str, info: bytes) -> bytes | None:
        return info[::-1] + b"\x01" if sop_class in answered else None
    return callback


@st.composite
def policies(draw: st.DrawFn) -> AcceptorPolicy:
    answered = draw(st.frozensets(st.sampled_from(ABSTRACT_SYNTAXES)))
    return AcceptorPolicy(
        ae_title="ACCEPTOR",
        contexts=draw(st.dictionaries(st.sampled_from(ABSTRACT_SYNTAXES), syntax_lists,
                                      max_size=6)),
        any_abstract_syntax=draw(st.none() | syntax_lists),
        prefer_requestor_order=draw(st.booleans()),
        roles=draw(st.dictionaries(st.sampled_from(ABSTRACT_SYNTAXES), roles, max_size=4)),
        max_pdu_length=draw(st.sampled_from([0, 16384, 1 << 20])),
        max_operations_invoked=draw(windows),
        max_operations_performed=draw(windows),
        implementation_class_uid="1.2.3.9",
        implementation_version_name=draw(st.sampled_from([None, "ACC_1"])),
        extended_negotiation=draw(st.sampled_from([None, _extended_callback(answered)])),
        accept_related_general_sop_classes=draw(st.booleans()),
    )


def _expected_syntax(abstract: str, proposed: Sequence[str], policy: AcceptorPolicy,
                     related: Mapping[str, Sequence[str]]) -> tuple[int, str | None]:
    """An independent statement of the acceptor's rules: (result, chosen syntax)."""
    ours: Sequence[str] | None = policy.contexts.get(abstract)
    if ours is None and policy.accept_related_general_sop_classes:
        ours = next((policy.contexts[g] for g in related.get(abstract, ())
                     if g in policy.contexts), None)
    if ours is None:
        ours = policy.any_abstract_syntax
    if ours is None:
        return ContextResult.ABSTRACT_SYNTAX_NOT_SUPPORTED, None
    common = [ts for ts in (proposed if policy.prefer_requestor_order else ours)
              if ts in (ours if policy.prefer_requestor_order else proposed)]
    if not common:
        return ContextResult.TRANSFER_SYNTAXES_NOT_SUPPORTED, None
    return ContextResult.ACCEPTANCE, common[0]


def _window_bound(agreed: int, *limits: int) -> bool:
    """``agreed`` respects every limit (0 = unlimited) and is unlimited only if all are."""
    if agreed == 0:
        return all(limit == 0 for limit in limits)
    return all(limit == 0 or agreed <= limit for limit in limits)


@settings(max_examples=200, deadline=None)
@given(proposal=proposals, policy=policies(),
       identity_response=st.none() | st.binary(max_size=8))
def test_requestor_and_acceptor_agree(proposal: Proposal, policy: AcceptorPolicy,
                                      identity_response: bytes | None) -> None:
    rq = proposal.request()
    received = wire_rq(rq)
    assert received == rq
    assert check_request(received, policy) is None

    ac, acceptor = negotiate(received, policy, user_identity_response=identity_response)
    answered = wire_ac(ac)
    assert answered == ac
    requestor = interpret_accept(rq, answered)

    assert requestor.is_requestor and not acceptor.is_requestor
    ids = [2 * n + 1 for n in range(len(proposal.contexts))]
    # Every proposed context is answered once, in order.
    assert [pc.context_id for pc in ac.presentation_contexts] == ids
    for view in (requestor, acceptor):
        assert set(view.accepted) | set(view.rejected) == set(ids)
        assert not set(view.accepted) & set(view.rejected)

    # Same contexts, syntaxes and roles on both sides.
    assert dict(requestor.accepted) == dict(acceptor.accepted)
    assert dict(requestor.rejected) == dict(acceptor.rejected)

    # ... and they are what the rules say.
    related = {item.sop_class_uid: item.related_general_sop_class_uids
               for item in proposal.common_extended}
    for context_id, (abstract, syntaxes) in zip(ids, proposal.contexts, strict=True):
        result, chosen = _expected_syntax(abstract, syntaxes, policy, related)
        if chosen is None:
            assert requestor.rejected[context_id] == (abstract, result)
            continue
        asked = proposal.roles.get(abstract)
        if asked is None:
            expected_roles = (True, False)
        else:
            # A class accepted through its related general SOP class (PS3.7 D.3.3.6)
            # takes the general class's roles when it has none of its own.
            through = abstract if abstract in policy.contexts else next(
                (g for g in related.get(abstract, ()) if g in policy.contexts), abstract)
            allowed = policy.roles.get(abstract, policy.roles.get(through, (True, False)))
            expected_roles = (asked[0] and allowed[0], asked[1] and allowed[1])
        assert requestor.accepted[context_id] == AcceptedContext(
            context_id, abstract, chosen, *expected_roles)

    # Complementary roles.
    for context_id, ctx in requestor.accepted.items():
        theirs = acceptor.accepted[context_id]
        assert requestor.can_act_as_scu(ctx) == acceptor.can_act_as_scp(theirs)
        assert requestor.can_act_as_scp(ctx) == acceptor.can_act_as_scu(theirs)
        # Role replies only grant what was proposed.
        if not proposal.roles.get(ctx.abstract_syntax, (True, False))[1]:
            assert not ctx.scp_role

    # Windows are swapped views of one agreement.
    assert requestor.max_invoke == acceptor.max_perform
    assert requestor.max_perform == acceptor.max_invoke
    if proposal.async_window is None:
        assert ac.user_information.async_operations_window is None
        assert (requestor.max_invoke, requestor.max_perform) == (1, 1)
    else:
        asked_invoked, asked_performed = proposal.async_window
        assert _window_bound(requestor.max_invoke, asked_invoked,
                             policy.max_operations_performed)
        assert _window_bound(requestor.max_perform, asked_performed,
                             policy.max_operations_invoked)

    # Maximum lengths and implementation identities cross over.
    assert requestor.local_max_pdu_length == acceptor.peer_max_pdu_length == \
        proposal.max_pdu_length
    assert requestor.peer_max_pdu_length == acceptor.local_max_pdu_length == \
        policy.max_pdu_length
    assert acceptor.peer_implementation_class_uid == "1.2.3.4.5"
    assert acceptor.peer_implementation_version_name == "REQ_1"
    assert requestor.peer_implementation_class_uid == "1.2.3.9"
    assert requestor.peer_implementation_version_name == policy.implementation_version_name

    # Extended negotiation: both sides keep the same replies, for proposed classes only.
    assert dict(requestor.extended) == dict(acceptor.extended)
    assert set(requestor.extended) <= set(proposal.extended)
    if policy.extended_negotiation is None:
        assert dict(requestor.extended) == {}

    # User identity: a response only when asked for and given.
    assert requestor.user_identity == acceptor.user_identity == proposal.user_identity
    expected_response = identity_response if (
        proposal.user_identity is not None
        and proposal.user_identity.positive_response_requested) else None
    assert requestor.user_identity_response == expected_response

    assert (requestor.calling_ae_title, requestor.called_ae_title) == \
        (acceptor.calling_ae_title, acceptor.called_ae_title) == ("REQUESTOR", "ACCEPTOR")


@settings(max_examples=100, deadline=None)
@given(proposal=proposals, policy=policies())
def test_every_usable_context_can_be_found_on_both_sides(proposal: Proposal,
                                                         policy: AcceptorPolicy) -> None:
    rq = proposal.request()
    ac, acceptor = negotiate(wire_rq(rq), policy)
    requestor = interpret_accept(rq, wire_ac(ac))
    for view in (requestor, acceptor):
        for ctx in view.accepted.values():
            if view.can_act_as_scu(ctx):
                assert view.find_context(ctx.abstract_syntax, [ctx.transfer_syntax]) \
                    is not None
            if view.can_act_as_scp(ctx):
                assert view.find_context(ctx.abstract_syntax, [ctx.transfer_syntax],
                                         as_scp=True) is not None
        # What one side may send, the other may answer.
        for ctx in view.accepted.values():
            other = acceptor if view is requestor else requestor
            if view.can_act_as_scu(ctx):
                assert other.find_context(ctx.abstract_syntax, [ctx.transfer_syntax],
                                          as_scp=True) is not None
