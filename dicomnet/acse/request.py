"""The requestor side of negotiation: build the A-ASSOCIATE-RQ, read the -AC (PS3.8 §7.1,
PS3.7 Annex D)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from dicomnet.acse.limits import (
    check_max_pdu_length,
    check_uid,
    check_version_name,
    check_window,
    min_window,
)
from dicomnet.acse.negotiated import AcceptedContext, Negotiated
from dicomnet.acse.titles import check_ae_title
from dicomnet.errors import NegotiationError
from dicomnet.identity import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME
from dicomnet.pdu import (
    AAssociateAC,
    AAssociateRQ,
    AsyncOperationsWindowSubItem,
    ContextResult,
    ImplementationClassUIDSubItem,
    ImplementationVersionNameSubItem,
    MaximumLengthSubItem,
    PresentationContextRQ,
    RoleSelectionSubItem,
    SOPClassCommonExtendedNegotiationSubItem,
    SOPClassExtendedNegotiationSubItem,
    UserIdentityRQSubItem,
    UserInformationItem,
    UserSubItem,
)

__all__ = ["MAX_CONTEXTS", "build_request", "interpret_accept"]

#: PS3.8 §9.3.2.2: presentation context IDs are odd integers 1-255.
MAX_CONTEXTS = 128


def build_request(
    *,
    calling_ae_title: str,
    called_ae_title: str,
    contexts: Sequence[tuple[str, Sequence[str]]],
    max_pdu_length: int,
    implementation_class_uid: str = IMPLEMENTATION_CLASS_UID,
    implementation_version_name: str | None = IMPLEMENTATION_VERSION_NAME,
    async_window: tuple[int, int] | None = None,
    roles: Mapping[str, tuple[bool, bool]] | None = None,
    extended: Mapping[str, bytes] | None = None,
    common_extended: Sequence[SOPClassCommonExtendedNegotiationSubItem] = (),
    user_identity: UserIdentityRQSubItem | None = None,
) -> AAssociateRQ:
    """An A-ASSOCIATE-RQ proposing ``contexts`` (abstract syntax, transfer syntaxes) in
    order, with context IDs 1, 3, 5...

    Raises ValueError for what the caller got wrong, before anything is encoded: invalid
    AE titles, no context or more than 128, a context without transfer syntaxes, a
    string that is not a UID, a maximum length or window value that does not fit its
    field, an implementation version name that is not 1-16 characters.
    """
    calling = check_ae_title(calling_ae_title, "calling AE title")
    called = check_ae_title(called_ae_title, "called AE title")
    check_max_pdu_length(max_pdu_length)
    check_uid(implementation_class_uid, "implementation class UID")
    check_version_name(implementation_version_name)
    if async_window is not None:
        check_window(async_window[0], "maximum number of operations invoked")
        check_window(async_window[1], "maximum number of operations performed")
    for sop_class in (*(roles or {}), *(extended or {})):
        check_uid(sop_class, "SOP class UID")
    if not contexts:
        raise ValueError("propose at least one presentation context (PS3.8 §7.1.1.13)")
    if len(contexts) > MAX_CONTEXTS:
        raise ValueError(f"{len(contexts)} presentation contexts proposed; at most "
                         f"{MAX_CONTEXTS} fit one association (PS3.8 §9.3.2.2)")
    proposed = []
    for index, (abstract, syntaxes) in enumerate(contexts):
        check_uid(abstract, "abstract syntax")
        if isinstance(syntaxes, str):  # a lone UID would be proposed character by character
            raise ValueError(f"context for {abstract}: give a sequence of transfer "
                             f"syntaxes, not the string {syntaxes!r}")
        if not syntaxes:
            raise ValueError(f"context for {abstract} proposes no transfer syntax")
        for syntax in syntaxes:
            check_uid(syntax, f"transfer syntax of the context for {abstract}")
        proposed.append(PresentationContextRQ(2 * index + 1, abstract, tuple(syntaxes)))
    sub_items: list[UserSubItem] = [
        MaximumLengthSubItem(max_pdu_length),
        ImplementationClassUIDSubItem(implementation_class_uid),
    ]
    if async_window is not None:
        sub_items.append(AsyncOperationsWindowSubItem(*async_window))
    for sop_class, (scu, scp) in (roles or {}).items():
        sub_items.append(RoleSelectionSubItem(sop_class, scu, scp))
    if implementation_version_name:
        sub_items.append(ImplementationVersionNameSubItem(implementation_version_name))
    for sop_class, info in (extended or {}).items():
        sub_items.append(SOPClassExtendedNegotiationSubItem(sop_class, info))
    sub_items.extend(common_extended)
    if user_identity is not None:
        sub_items.append(user_identity)
    return AAssociateRQ(
        called_ae_title=called,
        calling_ae_title=calling,
        presentation_contexts=tuple(proposed),
        user_information=UserInformationItem(tuple(sub_items)),
    )


def interpret_accept(request: AAssociateRQ, accept: AAssociateAC) -> Negotiated:
    """The requestor's view of an A-ASSOCIATE-AC, checked against what was proposed.

    Raises :class:`NegotiationError` when the AC answers a context that was not
    proposed, answers one twice, accepts a transfer syntax that was not offered for it,
    or gives a result the standard does not define; the caller aborts the association.
    What can be read safely is read leniently instead: a context left unanswered counts
    as rejected, roles and windows above what was proposed are held to the proposal,
    and replies to things never asked (roles, windows, extended negotiation, user
    identity) are ignored.
    """
    proposed = {pc.context_id: pc for pc in request.presentation_contexts}
    our_roles = {rs.sop_class_uid: rs for rs in request.user_information.role_selections}
    # PS3.7 D.3.3.4: without a role selection reply the requestor is SCU only; the
    # acceptor may only confirm roles that were proposed.
    granted: dict[str, tuple[bool, bool]] = {}
    for reply in accept.user_information.role_selections:
        mine = our_roles.get(reply.sop_class_uid)
        if mine is not None:
            granted[reply.sop_class_uid] = (reply.scu_role and mine.scu_role,
                                            reply.scp_role and mine.scp_role)
    accepted: dict[int, AcceptedContext] = {}
    rejected: dict[int, tuple[str, int]] = {}
    for answer in accept.presentation_contexts:
        pc = proposed.get(answer.context_id)
        if pc is None:
            raise NegotiationError(f"the A-ASSOCIATE-AC answers presentation context "
                                   f"{answer.context_id}, which was not proposed")
        # PS3.8 §7.1.1.14: one result per proposed context; a second answer would leave
        # the context both accepted and rejected.
        if answer.context_id in accepted or answer.context_id in rejected:
            raise NegotiationError(f"the A-ASSOCIATE-AC answers presentation context "
                                   f"{answer.context_id} more than once")
        if answer.result not in tuple(ContextResult):
            raise NegotiationError(f"presentation context {answer.context_id}: result "
                                   f"{answer.result} is not defined (PS3.8 Table 9-18)")
        if answer.result != ContextResult.ACCEPTANCE:
            rejected[answer.context_id] = (pc.abstract_syntax, answer.result)
            continue
        if answer.transfer_syntax not in pc.transfer_syntaxes:
            raise NegotiationError(f"presentation context {answer.context_id}: accepted "
                                   f"transfer syntax {answer.transfer_syntax} was not "
                                   "proposed")
        scu, scp = granted.get(pc.abstract_syntax, (True, False))
        accepted[answer.context_id] = AcceptedContext(
            answer.context_id, pc.abstract_syntax, answer.transfer_syntax, scu, scp)
    # PS3.8 §7.1.1.14 wants an answer for every proposed context; a context the AC
    # forgot is simply not usable, which is no reason to abort the whole association.
    for context_id, pc in proposed.items():
        if context_id not in accepted and context_id not in rejected:
            rejected[context_id] = (pc.abstract_syntax, ContextResult.NO_REASON)
    window = accept.user_information.async_operations_window
    asked = request.user_information.async_operations_window
    max_invoke, max_perform = 1, 1
    if window is not None and asked is not None:
        # PS3.7 D.3.3.3: both items count the requestor's operations; the acceptor's
        # values are those it agrees to, "equal or less" than proposed. A reply above
        # the proposal (0 = unlimited counts as above any number) is held to the
        # proposal rather than trusted: we never run more operations than we offered.
        max_invoke = min_window(window.max_operations_invoked,
                                asked.max_operations_invoked)
        max_perform = min_window(window.max_operations_performed,
                                 asked.max_operations_performed)
    # PS3.7 D.3.3.5: the acceptor answers SOP classes the requestor asked about; a reply
    # for any other is not an agreement and is dropped.
    asked_extended = {item.sop_class_uid
                      for item in request.user_information.extended_negotiations}
    extended = {item.sop_class_uid: item.service_class_application_information
                for item in accept.user_information.extended_negotiations
                if item.sop_class_uid in asked_extended}
    # PS3.7 D.3.3.7: a server response only means something if an identity was sent.
    sent_identity = request.user_information.user_identity_rq
    identity = accept.user_information.user_identity_ac if sent_identity is not None \
        else None
    return Negotiated(
        is_requestor=True,
        calling_ae_title=request.calling_ae_title,
        called_ae_title=request.called_ae_title,
        accepted=accepted,
        rejected=rejected,
        local_max_pdu_length=request.user_information.maximum_length or 0,
        peer_max_pdu_length=accept.user_information.maximum_length or 0,
        max_invoke=max_invoke,
        max_perform=max_perform,
        peer_implementation_class_uid=accept.user_information.implementation_class_uid,
        peer_implementation_version_name=accept.user_information.implementation_version_name,
        extended=extended,
        user_identity=sent_identity,
        user_identity_response=identity.server_response if identity is not None else None,
    )
