"""The association group: what the peer's A-ASSOCIATE-AC says and how it negotiates
(PS3.8 §7, §9.3; PS3.7 Annex D), release and abort.

Every association here is driven by :class:`~dicomnet.check.probe.Probe`, which keeps
the peer's PDUs as they came: dicomnet's own driver would quietly hold a reply to the
proposal instead of showing what was wrong with it.
"""

from __future__ import annotations

from dicomnet.check.model import Check, CheckContext, Result, Target, check, failed, passed, skipped
from dicomnet.check.probe import Probe, describe, echo_on_fresh_association, request
from dicomnet.check.queries import study_identifier
from dicomnet.check.sop_classes import CT, DISCOVERED, FAMILIES, STUDY_FIND, UNCOMPRESSED
from dicomnet.dimse import CEchoRQ, CFindRQ, CFindRSP
from dicomnet.pdu import (
    DICOM_APPLICATION_CONTEXT,
    PDU,
    AAbort,
    AAssociateAC,
    AAssociateRJ,
    AAssociateRQ,
    AReleaseRP,
    UserIdentityRQSubItem,
)
from dicomnet.uids import IMPLICIT_VR_LITTLE_ENDIAN, VERIFICATION, storage_sop_classes, uid_name

#: What a check proposes as our maximum PDU when it wants the peer held to a small one.
SMALL_PDU = 4096


async def discover(target: Target) -> tuple[AAssociateRQ, PDU | None]:
    """Propose every service a check uses; the peer's answer. OSError when nothing
    listens; the caller ends the run then (nothing can be checked)."""
    rq = request(target, [(sop_class, UNCOMPRESSED) for sop_class in DISCOVERED])
    async with Probe(target) as probe:
        answer = await probe.associate(rq)
        if isinstance(answer, AAssociateAC):
            await probe.release()
        return rq, answer


def context_problems(rq: AAssociateRQ, ac: AAssociateAC) -> list[str]:
    """What is wrong with the AC's presentation context items for ``rq`` (PS3.8
    §9.3.3.2: one answer per proposed context, same odd ID, a transfer syntax that was
    offered for it, a result of Table 9-18)."""
    proposed = {pc.context_id: pc for pc in rq.presentation_contexts}
    problems: list[str] = []
    seen: set[int] = set()
    for answer in ac.presentation_contexts:
        pc = proposed.get(answer.context_id)
        if answer.context_id in seen:
            problems.append(f"context {answer.context_id} answered twice")
        seen.add(answer.context_id)
        if pc is None:
            problems.append(f"context {answer.context_id} answered but never proposed"
                            + (" (an even ID)" if answer.context_id % 2 == 0 else ""))
            continue
        if answer.result not in range(5):
            problems.append(f"context {answer.context_id}: result {answer.result} is not "
                            "defined")
        elif answer.result == 0 and answer.transfer_syntax not in pc.transfer_syntaxes:
            problems.append(f"context {answer.context_id} ({uid_name(pc.abstract_syntax)}): "
                            f"accepted transfer syntax {answer.transfer_syntax}, which was "
                            f"not offered for it")
    missing = sorted(set(proposed) - seen)
    if missing:
        problems.append(f"contexts {missing[:8]}{'...' if len(missing) > 8 else ''} "
                        "left unanswered")
    return problems


def accepted_syntaxes(rq: AAssociateRQ, ac: AAssociateAC) -> dict[int, str]:
    return {pc.context_id: pc.transfer_syntax for pc in ac.presentation_contexts
            if pc.result == 0 and pc.context_id in
            {p.context_id for p in rq.presentation_contexts}}


@check("association", "accept", "A-ASSOCIATE-AC is well formed", "PS3.8 9.3.3; PS3.7 D.3.3.2")
async def accept(ctx: CheckContext) -> Result:
    rq, ac = ctx.facts.discovery_request, ctx.facts.discovery
    if ac is None or rq is None:
        return skipped("the discovery association was not accepted")
    problems = context_problems(rq, ac)
    if not ac.protocol_version & 1:
        problems.append(f"protocol version {ac.protocol_version:#06x} lacks bit 0")
    if ac.application_context != DICOM_APPLICATION_CONTEXT:
        problems.append(f"application context {ac.application_context!r}")
    if ac.called_ae_title.strip() != rq.called_ae_title.strip() \
            or ac.calling_ae_title.strip() != rq.calling_ae_title.strip():
        problems.append(f"AE titles not echoed: called {ac.called_ae_title!r}, calling "
                        f"{ac.calling_ae_title!r}")
    info = ac.user_information
    if info.maximum_length is None:
        problems.append("no Maximum Length sub-item (PS3.8 D.1)")
    if not info.implementation_class_uid:
        problems.append("no Implementation Class UID sub-item (PS3.7 D.3.3.2)")
    accepted = accepted_syntaxes(rq, ac)
    evidence = (f"proposed {len(rq.presentation_contexts)} contexts, accepted "
                f"{len(accepted)}: " + ", ".join(
                    uid_name(pc.abstract_syntax) for pc in rq.presentation_contexts
                    if pc.context_id in accepted),
                f"max PDU {info.maximum_length}; implementation "
                f"{info.implementation_class_uid} {info.implementation_version_name or ''}")
    if problems:
        return failed("; ".join(problems), *evidence)
    return passed("well formed", *evidence)


@check("association", "max-pdu", "honours the maximum PDU we announce", "PS3.8 D.1")
async def max_pdu(ctx: CheckContext) -> Result:
    """We announce 4 KiB; every P-DATA-TF the peer sends must fit (the length field
    counts the variable part, PS3.8 D.1). The peer only sends more than a command when
    it has something to say: a C-FIND's identifiers, where it answers C-FIND."""
    contexts = [(VERIFICATION, UNCOMPRESSED)]
    if ctx.facts.accepts(STUDY_FIND):
        contexts.append((STUDY_FIND, UNCOMPRESSED))
    rq = request(ctx.target, contexts, max_pdu=SMALL_PDU)
    async with Probe(ctx.target) as probe:
        answer = await probe.associate(rq)
        if not isinstance(answer, AAssociateAC):
            return failed(f"an association announcing {SMALL_PDU} bytes was answered "
                          f"with {describe(answer)}")
        sent = ["C-ECHO"]
        echo_context = probe.context_for(rq, VERIFICATION)
        if echo_context is not None:
            await probe.send_message(echo_context, CEchoRQ(
                message_id=1, affected_sop_class_uid=VERIFICATION))
            await probe.receive_message()
        find_context = probe.context_for(rq, STUDY_FIND)
        if find_context is not None:
            sent.append("C-FIND STUDY *")
            await probe.send_message(find_context, CFindRQ(
                message_id=3, affected_sop_class_uid=STUDY_FIND), study_identifier())
            while True:
                response, _ = await probe.receive_message()
                if not isinstance(response, CFindRSP) or response.status not in (
                        0xFF00, 0xFF01):
                    break
        await probe.release()
    lengths = probe.pdata_lengths
    largest = max(lengths, default=0)
    offered = probe.peer_max_pdu
    evidence = (f"the peer offers max PDU {offered}" + (" (no limit)" if offered == 0
                                                          else ""),
                f"we announced {SMALL_PDU}; sent {', '.join(sent)}; received "
                f"{len(lengths)} P-DATA-TF, the largest {largest} bytes")
    if largest > SMALL_PDU:
        return failed(f"sent a P-DATA-TF of {largest} bytes, over the {SMALL_PDU} we "
                      "announced", *evidence)
    return passed("every P-DATA-TF within our maximum", *evidence)


def _contexts_check(count: int) -> Check:
    @check("association", f"contexts-{count}", f"{count} presentation contexts answered",
           "PS3.8 9.3.3.2, 7.1.1.13")
    async def contexts(ctx: CheckContext) -> Result:
        classes = [VERIFICATION, *storage_sop_classes()]
        proposal = [(classes[i % len(classes)], UNCOMPRESSED) for i in range(count)]
        rq = request(ctx.target, proposal)
        async with Probe(ctx.target) as probe:
            answer = await probe.associate(rq)
            if isinstance(answer, AAssociateAC):
                await probe.release()
        if isinstance(answer, AAssociateRJ):
            return passed(f"rejected the association (result {answer.result}, source "
                          f"{answer.source}, reason {answer.reason}): an answer")
        if not isinstance(answer, AAssociateAC):
            return failed(f"answered {count} contexts with {describe(answer)}")
        problems = context_problems(rq, answer)
        evidence = f"{len(accepted_syntaxes(rq, answer))} of {count} accepted"
        if problems:
            return failed("; ".join(problems), evidence)
        return passed("each context answered once, with its own odd ID", evidence)

    return contexts


def _syntax_check(name: str, sop_class: str) -> Check:
    @check("association", f"transfer-syntaxes-{name}",
           f"transfer syntax negotiation for {uid_name(sop_class)}", "PS3.5 10.1; PS3.8 9.3.3.2")
    async def syntaxes(ctx: CheckContext) -> Result:
        if sop_class != VERIFICATION and not ctx.facts.accepts(sop_class):
            return skipped(f"the peer did not accept {uid_name(sop_class)}")
        # One context per syntax: the answer for each says whether it is supported.
        rq = request(ctx.target, [(sop_class, [ts]) for ts in FAMILIES])
        async with Probe(ctx.target) as probe:
            answer = await probe.associate(rq)
            if isinstance(answer, AAssociateAC):
                await probe.release()
        if not isinstance(answer, AAssociateAC):
            return failed(f"answered with {describe(answer)}")
        problems = context_problems(rq, answer)
        accepted = set(accepted_syntaxes(rq, answer).values())
        ctx.facts.accepted[sop_class] = [ts for ts in FAMILIES if ts in accepted]
        evidence = ("accepted: " + (", ".join(FAMILIES[ts] for ts in FAMILIES
                                              if ts in accepted) or "none"),)
        if IMPLICIT_VR_LITTLE_ENDIAN not in accepted:
            problems.append("Implicit VR Little Endian, the default every AE supports "
                            "(PS3.5 10.1), was rejected")
        if problems:
            return failed("; ".join(problems), *evidence)
        return passed(f"{len(accepted)} of {len(FAMILIES)} families accepted", *evidence)

    return syntaxes


@check("association", "roles", "SCP/SCU role selection answered within the proposal",
       "PS3.7 D.3.3.4")
async def roles(ctx: CheckContext) -> Result:
    proposed = {VERIFICATION: (True, False)}
    if ctx.facts.accepts(CT):
        proposed[CT] = (False, True)  # as a C-GET requestor proposes for storage
    rq = request(ctx.target, [(sop_class, UNCOMPRESSED) for sop_class in proposed],
                 roles=proposed)
    async with Probe(ctx.target) as probe:
        answer = await probe.associate(rq)
        if isinstance(answer, AAssociateAC):
            await probe.release()
    if not isinstance(answer, AAssociateAC):
        return failed(f"answered a role selection proposal with {describe(answer)}")
    problems: list[str] = []
    replies = []
    for reply in answer.user_information.role_selections:
        replies.append(f"{uid_name(reply.sop_class_uid)}: SCU={int(reply.scu_role)} "
                       f"SCP={int(reply.scp_role)}")
        mine = proposed.get(reply.sop_class_uid)
        if mine is None:
            problems.append(f"a role reply for {reply.sop_class_uid}, not proposed")
        elif (reply.scu_role and not mine[0]) or (reply.scp_role and not mine[1]):
            problems.append(f"{uid_name(reply.sop_class_uid)}: granted a role that was "
                            "not proposed")
    evidence = ("proposed: " + "; ".join(f"{uid_name(uid)}: SCU={int(scu)} SCP={int(scp)}"
                                         for uid, (scu, scp) in proposed.items()),
                "replied: " + ("; ".join(replies) or "nothing (default roles)"))
    if problems:
        return failed("; ".join(problems), *evidence)
    return passed("replies within the proposal", *evidence)


@check("association", "async-window", "asynchronous operations window answered",
       "PS3.7 D.3.3.3")
async def async_window(ctx: CheckContext) -> Result:
    asked = (5, 5)
    rq = request(ctx.target, [(VERIFICATION, UNCOMPRESSED)], async_window=asked)
    async with Probe(ctx.target) as probe:
        answer = await probe.associate(rq)
        if isinstance(answer, AAssociateAC):
            await probe.release()
    if not isinstance(answer, AAssociateAC):
        return failed(f"answered a window proposal with {describe(answer)}")
    window = answer.user_information.async_operations_window
    if window is None:
        return passed("no reply: synchronous operation (the default)",
                      f"proposed invoked={asked[0]} performed={asked[1]}")
    values = (window.max_operations_invoked, window.max_operations_performed)
    evidence = f"proposed {asked}, answered {values}"
    # "equal or less": 0 means unlimited, more than any number proposed
    if any(value == 0 or value > mine for value, mine in zip(values, asked, strict=True)):
        return failed("answered a window larger than proposed", evidence)
    return passed("window within the proposal", evidence)


@check("association", "user-identity", "user identity with a positive response requested",
       "PS3.7 D.3.3.7")
async def user_identity(ctx: CheckContext) -> Result:
    identity = ctx.target.identity or UserIdentityRQSubItem(
        identity_type=1, positive_response_requested=True, primary_field=b"dicomnet-check")
    if not identity.positive_response_requested:
        identity = UserIdentityRQSubItem(identity.identity_type, True,
                                         identity.primary_field, identity.secondary_field)
    rq = request(ctx.target, [(VERIFICATION, UNCOMPRESSED)], identity=identity)
    async with Probe(ctx.target) as probe:
        answer = await probe.associate(rq)
        if isinstance(answer, AAssociateAC):
            await probe.release()
    if isinstance(answer, AAssociateRJ):
        return passed("refused the identity with A-ASSOCIATE-RJ",
                      f"result {answer.result}, source {answer.source}, reason "
                      f"{answer.reason}")
    if not isinstance(answer, AAssociateAC):
        return failed(f"answered a user identity with {describe(answer)}")
    response = answer.user_information.user_identity_ac
    # The AC sub-item answers a request for a positive response (PS3.7 D.3.3.7.2): to
    # the same identity asked without one, the peer has nothing to send.
    unasked = UserIdentityRQSubItem(identity.identity_type, False, identity.primary_field,
                                    identity.secondary_field)
    rq = request(ctx.target, [(VERIFICATION, UNCOMPRESSED)], identity=unasked)
    async with Probe(ctx.target) as probe:
        second = await probe.associate(rq)
        if isinstance(second, AAssociateAC):
            await probe.release()
    if isinstance(second, AAssociateAC) and second.user_information.user_identity_ac:
        return failed("a User Identity response to a request that asked for none",
                      f"identity type {identity.identity_type}, positive response not "
                      "requested: the A-ASSOCIATE-AC carried a User Identity sub-item")
    if response is None:
        return passed("accepted without the positive response (allowed: the requestor "
                      "decides)", f"identity type {identity.identity_type}")
    return passed("accepted with a positive response, none when not asked",
                  f"server response of {len(response.server_response)} bytes")


@check("association", "release", "A-RELEASE-RQ answered with A-RELEASE-RP", "PS3.8 7.2")
async def release(ctx: CheckContext) -> Result:
    rq = request(ctx.target, [(VERIFICATION, UNCOMPRESSED)])
    async with Probe(ctx.target) as probe:
        answer = await probe.associate(rq)
        if not isinstance(answer, AAssociateAC):
            return failed(f"the association was answered with {describe(answer)}")
        reply = await probe.release()
    if isinstance(reply, AReleaseRP):
        return passed("A-RELEASE-RP")
    return failed(f"answered A-RELEASE-RQ with {describe(reply)}")


@check("association", "abort", "a new association works after an A-ABORT", "PS3.8 7.3")
async def abort(ctx: CheckContext) -> Result:
    rq = request(ctx.target, [(VERIFICATION, UNCOMPRESSED)])
    async with Probe(ctx.target) as probe:
        answer = await probe.associate(rq)
        if not isinstance(answer, AAssociateAC):
            return failed(f"the association was answered with {describe(answer)}")
        await probe.send(AAbort(source=0, reason=0))
        try:
            after = await probe.receive_pdu(5)
        except TimeoutError:
            after = None  # still open: closing it is ours to do
    if after is not None:
        return failed(f"answered A-ABORT with {describe(after)} (PS3.8 9.3.8: no reply)")
    problem = await echo_on_fresh_association(ctx.target)
    if problem:
        return failed(problem, "sent A-ABORT, then opened a new association")
    return passed("the next association's C-ECHO succeeded")


CHECKS: tuple[Check, ...] = (
    accept, max_pdu, _contexts_check(1), _contexts_check(16), _contexts_check(128),
    _syntax_check("verification", VERIFICATION), _syntax_check("ct", CT),
    roles, async_window, user_identity, release, abort,
)
