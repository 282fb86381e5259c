"""The negotiation group: the optional A-ASSOCIATE sub-items the association group does
not propose (PS3.7 Annex D.3.3.5, D.3.3.6) and a Maximum Length of 0 (PS3.8 D.1).

An acceptor may ignore SOP Class Extended Negotiation, so leaving it out of the
A-ASSOCIATE-AC passes; what fails is an answer the requestor cannot have asked for
(a class it did not propose it for) or one it cannot read. SOP Class Common Extended
Negotiation is requestor-only: any answer to it is wrong.
"""

from __future__ import annotations

from dicomnet.acse import build_request
from dicomnet.check.model import Check, CheckContext, Result, check, failed, passed, skipped
from dicomnet.check.probe import Probe, describe
from dicomnet.check.sop_classes import CT, STUDY_FIND, UNCOMPRESSED
from dicomnet.dimse import CEchoRQ, CEchoRSP
from dicomnet.pdu import AAssociateAC, AAssociateRQ, SOPClassCommonExtendedNegotiationSubItem
from dicomnet.uids import VERIFICATION, uid_name

#: PS3.4 C.5.1.1.3 (Q/R) byte 1, relational queries, and PS3.4 B.3.1 (Storage) byte 1,
#: level of support: both one byte, 1 = asked for / level 2.
_ASKED = b"\x01"
#: PS3.4 B.5: the Storage Service Class UID, for the common extended item.
_STORAGE_SERVICE_CLASS = "1.2.840.10008.4.2"


def _request(ctx: CheckContext, *, extended: dict[str, bytes] | None = None,
             common: tuple[SOPClassCommonExtendedNegotiationSubItem, ...] = (),
             max_pdu: int = 1 << 16) -> AAssociateRQ:
    contexts = [(VERIFICATION, UNCOMPRESSED)]
    for sop_class in (CT, STUDY_FIND):
        if ctx.facts.accepts(sop_class):
            contexts.append((sop_class, UNCOMPRESSED))
    target = ctx.target
    return build_request(calling_ae_title=target.calling_ae,
                         called_ae_title=target.called_ae, contexts=contexts,
                         max_pdu_length=max_pdu, extended=extended,
                         common_extended=common, user_identity=target.identity)


async def _associate(ctx: CheckContext, rq: AAssociateRQ) -> AAssociateAC | str:
    """The peer's A-ASSOCIATE-AC, else what it answered instead."""
    async with Probe(ctx.target) as probe:
        answer = await probe.associate(rq)
        if not isinstance(answer, AAssociateAC):
            return describe(answer)
        await probe.release()
    return answer


@check("negotiation", "extended", "SOP Class Extended Negotiation answered only for what "
       "was proposed", "PS3.7 D.3.3.5")
async def extended(ctx: CheckContext) -> Result:
    asked = [c for c in (CT, STUDY_FIND) if ctx.facts.accepts(c)]
    if not asked:
        return skipped("the peer accepts neither CT Storage nor Study Root C-FIND")
    rq = _request(ctx, extended=dict.fromkeys(asked, _ASKED))
    ac = await _associate(ctx, rq)
    if isinstance(ac, str):
        return failed(f"an association proposing extended negotiation was answered with {ac}"
                      " (PS3.7 D.3.3.5: an acceptor that does not support it ignores it)")
    answers = ac.user_information.extended_negotiations
    evidence = (f"proposed for {', '.join(uid_name(c) for c in asked)}",
                "answered: " + (", ".join(f"{uid_name(a.sop_class_uid)} "
                                          f"{a.service_class_application_information.hex()}"
                                          for a in answers) or "nothing"))
    # PS3.7 D.3.3.5.2: the acceptor answers one item per SOP class proposed with one.
    problems = [f"an answer for {uid_name(a.sop_class_uid)}, which was not proposed with "
                "extended negotiation" for a in answers if a.sop_class_uid not in asked]
    problems += [f"an empty answer for {uid_name(a.sop_class_uid)}" for a in answers
                 if a.sop_class_uid in asked
                 and not a.service_class_application_information]
    seen = [a.sop_class_uid for a in answers]
    problems += [f"{uid_name(c)} answered twice" for c in set(seen) if seen.count(c) > 1]
    if problems:
        return failed("; ".join(problems), *evidence)
    if not answers:
        return passed("not answered (the peer does not negotiate it, which is allowed)",
                      *evidence)
    return passed("answered for proposed classes only", *evidence)


@check("negotiation", "common-extended", "SOP Class Common Extended Negotiation not "
       "answered", "PS3.7 D.3.3.6")
async def common_extended(ctx: CheckContext) -> Result:
    if not ctx.facts.accepts(CT):
        return skipped("the peer does not accept CT Image Storage")
    item = SOPClassCommonExtendedNegotiationSubItem(CT, _STORAGE_SERVICE_CLASS)
    ac = await _associate(ctx, _request(ctx, common=(item,)))
    if isinstance(ac, str):
        return failed(f"an association proposing common extended negotiation was answered "
                      f"with {ac}")
    # PS3.7 D.3.3.6: the item is sent by the requestor only; no reply is defined.
    answers = ac.user_information.common_extended_negotiations
    if answers:
        return failed("the A-ASSOCIATE-AC carries SOP Class Common Extended Negotiation "
                      "items, which only a requestor sends",
                      *(f"answered for {uid_name(a.sop_class_uid)}" for a in answers))
    return passed("not answered", "proposed for CT Image Storage (Storage Service Class)")


@check("negotiation", "unlimited-pdu", "a Maximum Length of 0 (no limit) is accepted",
       "PS3.8 D.1")
async def unlimited_pdu(ctx: CheckContext) -> Result:
    rq = _request(ctx, max_pdu=0)
    async with Probe(ctx.target) as probe:
        answer = await probe.associate(rq)
        if not isinstance(answer, AAssociateAC):
            return failed(f"an association announcing no maximum PDU was answered with "
                          f"{describe(answer)}")
        context_id = probe.context_for(rq, VERIFICATION)
        if context_id is None:
            return skipped("Verification was not accepted")
        await probe.send_message(context_id, CEchoRQ(message_id=1,
                                                     affected_sop_class_uid=VERIFICATION))
        response, _ = await probe.receive_message()
        await probe.release()
    if not isinstance(response, CEchoRSP):
        return failed(f"the C-ECHO got {type(response).__name__}")
    return passed("accepted, and the C-ECHO answered",
                  f"the peer's maximum: {answer.user_information.maximum_length}")


CHECKS: tuple[Check, ...] = (extended, common_extended, unlimited_pdu)
