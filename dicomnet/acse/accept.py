"""The acceptor side of negotiation: a policy, the checks that reject, and the answer
to every proposed presentation context (PS3.8 §7.1.1, §9.3.3-4; PS3.7 Annex D)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import field
from types import MappingProxyType

from dicomnet.acse.limits import (
    check_max_pdu_length,
    check_uid,
    check_version_name,
    check_window,
    min_window,
)
from dicomnet.acse.negotiated import AcceptedContext, Negotiated
from dicomnet.acse.titles import ae_title_key, check_ae_title
from dicomnet.config import DEFAULT_MAX_PDU_LENGTH
from dicomnet.identity import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME
from dicomnet.pdu import (
    DICOM_APPLICATION_CONTEXT,
    AAssociateAC,
    AAssociateRJ,
    AAssociateRQ,
    AsyncOperationsWindowSubItem,
    ContextResult,
    ImplementationClassUIDSubItem,
    ImplementationVersionNameSubItem,
    MaximumLengthSubItem,
    PresentationContextAC,
    PresentationContextRQ,
    RejectResult,
    RejectSource,
    RoleSelectionSubItem,
    SOPClassExtendedNegotiationSubItem,
    UserIdentityACSubItem,
    UserInformationItem,
    UserSubItem,
)
from dicomnet.pdu.constants import (
    ACSERejectReason,
    PresentationRejectReason,
    UserRejectReason,
)
from dicomnet.records import record

__all__ = [
    "REJECT_APPLICATION_CONTEXT_NOT_SUPPORTED",
    "REJECT_CALLED_AE_NOT_RECOGNIZED",
    "REJECT_CALLING_AE_NOT_RECOGNIZED",
    "REJECT_LOCAL_LIMIT_EXCEEDED",
    "REJECT_NO_REASON",
    "REJECT_PROTOCOL_VERSION_NOT_SUPPORTED",
    "REJECT_TEMPORARY_CONGESTION",
    "REJECT_USER_IDENTITY",
    "AcceptorPolicy",
    "check_request",
    "even_context_ids",
    "negotiate",
    "reject",
]


def reject(result: int, source: int, reason: int) -> AAssociateRJ:
    """An A-ASSOCIATE-RJ (PS3.8 §9.3.4, Table 9-21)."""
    return AAssociateRJ(result=int(result), source=int(source), reason=int(reason))


_PERMANENT, _TRANSIENT = RejectResult.REJECTED_PERMANENT, RejectResult.REJECTED_TRANSIENT
REJECT_NO_REASON = reject(_PERMANENT, RejectSource.SERVICE_USER, UserRejectReason.NO_REASON)
#: PS3.7 D.3.3.7: an identity the acceptor does not accept is an authorisation failure,
#: "rejected-permanent" with the ACSE-related service provider as source.
REJECT_USER_IDENTITY = reject(_PERMANENT, RejectSource.SERVICE_PROVIDER_ACSE,
                              ACSERejectReason.NO_REASON)
REJECT_APPLICATION_CONTEXT_NOT_SUPPORTED = reject(
    _PERMANENT, RejectSource.SERVICE_USER, UserRejectReason.APPLICATION_CONTEXT_NOT_SUPPORTED)
REJECT_CALLING_AE_NOT_RECOGNIZED = reject(
    _PERMANENT, RejectSource.SERVICE_USER, UserRejectReason.CALLING_AE_NOT_RECOGNIZED)
REJECT_CALLED_AE_NOT_RECOGNIZED = reject(
    _PERMANENT, RejectSource.SERVICE_USER, UserRejectReason.CALLED_AE_NOT_RECOGNIZED)
REJECT_PROTOCOL_VERSION_NOT_SUPPORTED = reject(
    _PERMANENT, RejectSource.SERVICE_PROVIDER_ACSE,
    ACSERejectReason.PROTOCOL_VERSION_NOT_SUPPORTED)
REJECT_TEMPORARY_CONGESTION = reject(
    _TRANSIENT, RejectSource.SERVICE_PROVIDER_PRESENTATION,
    PresentationRejectReason.TEMPORARY_CONGESTION)
REJECT_LOCAL_LIMIT_EXCEEDED = reject(
    _TRANSIENT, RejectSource.SERVICE_PROVIDER_PRESENTATION,
    PresentationRejectReason.LOCAL_LIMIT_EXCEEDED)


@record()
class AcceptorPolicy:
    """What an acceptor agrees to.

    ``contexts`` maps abstract syntaxes to transfer syntaxes in our order of preference;
    ``roles`` maps SOP classes to the roles the requestor may take (SCU, SCP), default
    (True, False): the PS3.7 D.3.3.4 default roles. A SOP class accepted through its
    related general SOP class (PS3.7 D.3.3.6) falls back to the general class's roles.

    The policy is a value: the mappings given are copied into read-only views (transfer
    syntax lists into tuples), so changing the caller's dict afterwards changes nothing,
    and one policy can answer many associations concurrently. Derive a new policy with
    :func:`dataclasses.replace`. Values that could not go on the wire raise ValueError
    here, at configuration time, rather than when the first peer connects.
    """

    ae_title: str = "DICOMNET"
    require_called_ae_title: bool = True
    allowed_calling_ae_titles: frozenset[str] | None = None
    contexts: Mapping[str, Sequence[str]] = field(default_factory=dict)
    any_abstract_syntax: Sequence[str] | None = None
    prefer_requestor_order: bool = False
    roles: Mapping[str, tuple[bool, bool]] = field(default_factory=dict)
    max_pdu_length: int = DEFAULT_MAX_PDU_LENGTH
    max_operations_invoked: int = 1
    max_operations_performed: int = 1
    implementation_class_uid: str = IMPLEMENTATION_CLASS_UID
    implementation_version_name: str | None = IMPLEMENTATION_VERSION_NAME
    extended_negotiation: Callable[[str, bytes], bytes | None] | None = None
    accept_related_general_sop_classes: bool = True

    def __post_init__(self) -> None:
        check_ae_title(self.ae_title, "our AE title")
        check_max_pdu_length(self.max_pdu_length)
        check_window(self.max_operations_invoked, "maximum number of operations invoked")
        check_window(self.max_operations_performed,
                     "maximum number of operations performed")
        check_uid(self.implementation_class_uid, "implementation class UID")
        check_version_name(self.implementation_version_name)
        contexts: dict[str, tuple[str, ...]] = {}
        for abstract, syntaxes in self.contexts.items():
            if isinstance(syntaxes, str):  # a lone UID, not a list of them
                raise ValueError(f"policy for {abstract}: give a sequence of transfer "
                                 f"syntaxes, not the string {syntaxes!r}")
            contexts[abstract] = tuple(syntaxes)
        object.__setattr__(self, "contexts", MappingProxyType(contexts))
        roles = {sop_class: (bool(scu), bool(scp))
                 for sop_class, (scu, scp) in self.roles.items()}
        object.__setattr__(self, "roles", MappingProxyType(roles))
        if self.any_abstract_syntax is not None:
            if isinstance(self.any_abstract_syntax, str):
                raise ValueError("any_abstract_syntax is a sequence of transfer syntaxes, "
                                 f"not the string {self.any_abstract_syntax!r}")
            object.__setattr__(self, "any_abstract_syntax", tuple(self.any_abstract_syntax))
        if self.allowed_calling_ae_titles is not None:
            if isinstance(self.allowed_calling_ae_titles, str):
                raise ValueError("allowed_calling_ae_titles is a collection of titles, "
                                 f"not the string {self.allowed_calling_ae_titles!r}")
            # Checked and unpadded once, here, so check_request compares like with like.
            object.__setattr__(self, "allowed_calling_ae_titles", frozenset(
                check_ae_title(title, "allowed calling AE title")
                for title in self.allowed_calling_ae_titles))


def check_request(request: AAssociateRQ, policy: AcceptorPolicy) -> AAssociateRJ | None:
    """The rejection ``request`` deserves under ``policy``, or None to go on.

    The protocol version is checked by the upper layer before this (PS3.8 §9.3.2).
    """
    if request.application_context != DICOM_APPLICATION_CONTEXT:
        return REJECT_APPLICATION_CONTEXT_NOT_SUPPORTED  # PS3.7 A.2.1
    # AE titles compare without their padding (leading and trailing spaces are not
    # significant, PS3.5 §6.2), exactly otherwise: case-sensitive, and a control
    # character is part of the title, not padding (see ae_title_key).
    if policy.require_called_ae_title and \
            ae_title_key(request.called_ae_title) != ae_title_key(policy.ae_title):
        return REJECT_CALLED_AE_NOT_RECOGNIZED
    # The allow list was unpadded when the policy was made.
    if policy.allowed_calling_ae_titles is not None and \
            ae_title_key(request.calling_ae_title) not in policy.allowed_calling_ae_titles:
        return REJECT_CALLING_AE_NOT_RECOGNIZED
    return None


def even_context_ids(request: AAssociateRQ) -> list[int]:
    """The presentation context IDs of ``request`` that are even.

    PS3.8 §9.3.2.2 wants odd IDs; some requestors (older dicom-rs builds) number 2, 4,
    .... An ID only names a context, and DCMTK accepts such requests, so dicomnet
    negotiates them as any other and the caller logs one warning with these IDs.
    """
    return [pc.context_id for pc in request.presentation_contexts if not pc.context_id & 1]


def _supported_syntaxes(pc: PresentationContextRQ, policy: AcceptorPolicy,
                        related: Mapping[str, Sequence[str]]
                        ) -> tuple[Sequence[str] | None, str]:
    """Our transfer syntaxes for the context's abstract syntax (None: not supported),
    and the SOP class whose policy entry applies (its own, or a general one)."""
    syntaxes = policy.contexts.get(pc.abstract_syntax)
    if syntaxes is not None:
        return syntaxes, pc.abstract_syntax
    if policy.accept_related_general_sop_classes:
        # PS3.7 D.3.3.6: a specialised SOP class may be accepted through a related
        # general SOP class the acceptor supports, in the requestor's order.
        for general in related.get(pc.abstract_syntax, ()):
            if general in policy.contexts:
                return policy.contexts[general], general
    return policy.any_abstract_syntax, pc.abstract_syntax


def _choose_syntax(proposed: Sequence[str], ours: Sequence[str],
                   prefer_requestor_order: bool) -> str | None:
    if prefer_requestor_order:
        return next((ts for ts in proposed if ts in ours), None)
    return next((ts for ts in ours if ts in proposed), None)


def negotiate(request: AAssociateRQ, policy: AcceptorPolicy, *,
              user_identity_response: bytes | None = None
              ) -> tuple[AAssociateAC, Negotiated]:
    """Answer every proposed presentation context, in the order proposed (PS3.8
    §7.1.1.14), and the user information sub-items that ask for an answer."""
    info = request.user_information
    related = {item.sop_class_uid: item.related_general_sop_class_uids
               for item in info.common_extended_negotiations}
    proposed_roles = {rs.sop_class_uid: rs for rs in info.role_selections}
    role_replies: dict[str, tuple[bool, bool]] = {}
    answers: list[PresentationContextAC] = []
    accepted: dict[int, AcceptedContext] = {}
    rejected: dict[int, tuple[str, int]] = {}
    seen: set[int] = set()
    for pc in request.presentation_contexts:
        if pc.context_id in seen:  # a duplicate ID cannot be answered twice
            continue
        seen.add(pc.context_id)
        syntaxes, policy_class = _supported_syntaxes(pc, policy, related)
        if syntaxes is None:
            result = ContextResult.ABSTRACT_SYNTAX_NOT_SUPPORTED
            chosen = None
        else:
            chosen = _choose_syntax(pc.transfer_syntaxes, syntaxes,
                                    policy.prefer_requestor_order)
            result = ContextResult.ACCEPTANCE if chosen else \
                ContextResult.TRANSFER_SYNTAXES_NOT_SUPPORTED
        if chosen is None:
            # PS3.8 §9.3.3.2: the transfer syntax sub-item is still sent, and ignored.
            answers.append(PresentationContextAC(pc.context_id, result,
                                                 pc.transfer_syntaxes[0]
                                                 if pc.transfer_syntaxes else ""))
            rejected[pc.context_id] = (pc.abstract_syntax, result)
            continue
        # PS3.7 D.3.3.4: the reply grants at most the roles proposed ("shall not return
        # the value (1) if the Association-requestor has not proposed the role"); without
        # a proposal the requestor is SCU and we are SCP, and no reply is sent.
        # A context whose roles end up both false stays ACCEPTED, not USER_REJECTION:
        # role selection is negotiated per SOP class in the user information item and
        # D.3.3.4 only lets the acceptor accept or turn down each role; nothing there or
        # in PS3.8 §9.3.3.2 ties it to a presentation context result. The requestor
        # learns from the 54H reply that it cannot use the context.
        scu, scp = True, False
        asked = proposed_roles.get(pc.abstract_syntax)
        if asked is not None:
            allowed_scu, allowed_scp = policy.roles.get(
                pc.abstract_syntax, policy.roles.get(policy_class, (True, False)))
            scu, scp = asked.scu_role and allowed_scu, asked.scp_role and allowed_scp
            role_replies[pc.abstract_syntax] = (scu, scp)
        answers.append(PresentationContextAC(pc.context_id, ContextResult.ACCEPTANCE, chosen))
        accepted[pc.context_id] = AcceptedContext(pc.context_id, pc.abstract_syntax, chosen,
                                                  scu, scp)
    sub_items: list[UserSubItem] = [
        MaximumLengthSubItem(policy.max_pdu_length),
        ImplementationClassUIDSubItem(policy.implementation_class_uid),
    ]
    max_invoke, max_perform = 1, 1  # our view: what we invoke / what they invoke
    window = info.async_operations_window
    if window is not None:
        # Both values count the requestor's operations (PS3.7 D.3.3.3): it invokes
        # what we perform, and performs what we invoke.
        their_invoked = min_window(window.max_operations_invoked,
                                    policy.max_operations_performed)
        their_performed = min_window(window.max_operations_performed,
                                      policy.max_operations_invoked)
        sub_items.append(AsyncOperationsWindowSubItem(their_invoked, their_performed))
        max_invoke, max_perform = their_performed, their_invoked
    for sop_class, (scu, scp) in role_replies.items():
        sub_items.append(RoleSelectionSubItem(sop_class, scu, scp))
    if policy.implementation_version_name:
        sub_items.append(ImplementationVersionNameSubItem(policy.implementation_version_name))
    extended: dict[str, bytes] = {}
    if policy.extended_negotiation is not None:
        for item in info.extended_negotiations:
            reply = policy.extended_negotiation(item.sop_class_uid,
                                                item.service_class_application_information)
            if reply is not None:
                extended[item.sop_class_uid] = reply
                sub_items.append(SOPClassExtendedNegotiationSubItem(item.sop_class_uid, reply))
    identity = info.user_identity_rq
    if identity is not None and identity.positive_response_requested \
            and user_identity_response is not None:
        sub_items.append(UserIdentityACSubItem(user_identity_response))  # PS3.7 D.3.3.7
    accept = AAssociateAC(
        called_ae_title=request.called_ae_title,
        calling_ae_title=request.calling_ae_title,
        presentation_contexts=tuple(answers),
        user_information=UserInformationItem(tuple(sub_items)),
    )
    negotiated = Negotiated(
        is_requestor=False,
        calling_ae_title=request.calling_ae_title,
        called_ae_title=request.called_ae_title,
        accepted=accepted,
        rejected=rejected,
        local_max_pdu_length=policy.max_pdu_length,
        peer_max_pdu_length=info.maximum_length or 0,
        max_invoke=max_invoke,
        max_perform=max_perform,
        peer_implementation_class_uid=info.implementation_class_uid,
        peer_implementation_version_name=info.implementation_version_name,
        extended=extended,
        user_identity=identity,
        user_identity_response=None,
    )
    return accept, negotiated
