"""The verification group: C-ECHO as PS3.7 9.3.5 and PS3.4 Annex A describe it."""

from __future__ import annotations

from dicomnet.check.model import Check, CheckContext, Result, check, failed, passed
from dicomnet.check.probe import Probe, describe, request
from dicomnet.check.sop_classes import UNCOMPRESSED
from dicomnet.dimse import CEchoRQ, CEchoRSP
from dicomnet.pdu import AAssociateAC
from dicomnet.uids import VERIFICATION

#: A Message ID no counter starting at 1 would reach by chance, so that a peer
#: answering with its own count (or always 1) is caught.
ECHO_MESSAGE_ID = 0x2D2D


@check("verification", "echo", "C-ECHO answered: status, Message ID and SOP class echoed",
       "PS3.7 9.3.5.2; PS3.4 A.4")
async def echo(ctx: CheckContext) -> Result:
    rq = request(ctx.target, [(VERIFICATION, UNCOMPRESSED)])
    async with Probe(ctx.target) as probe:
        answer = await probe.associate(rq)
        if not isinstance(answer, AAssociateAC):
            return failed(f"a Verification association was answered with "
                          f"{describe(answer)}")
        context_id = probe.context_for(rq, VERIFICATION)
        if context_id is None:
            return failed("Verification was not accepted (PS3.4 A: every AE is an SCP "
                          "of it when it accepts associations)")
        await probe.send_message(context_id, CEchoRQ(
            message_id=ECHO_MESSAGE_ID, affected_sop_class_uid=VERIFICATION))
        response, _ = await probe.receive_message()
        await probe.release()
    sent = f"sent C-ECHO-RQ Message ID {ECHO_MESSAGE_ID}"
    if not isinstance(response, CEchoRSP):
        return failed(f"answered with {type(response).__name__}", sent)
    got = (f"got status {response.status:#06x}, responding to "
           f"{response.message_id_being_responded_to}, SOP class "
           f"{response.affected_sop_class_uid}")
    problems = []
    if response.status != 0:
        problems.append(f"status {response.status:#06x}, not Success")
    if response.message_id_being_responded_to != ECHO_MESSAGE_ID:
        problems.append(f"Message ID Being Responded To "
                        f"{response.message_id_being_responded_to}, not {ECHO_MESSAGE_ID}")
    if response.affected_sop_class_uid not in (None, VERIFICATION):
        problems.append(f"Affected SOP Class UID {response.affected_sop_class_uid}, not "
                        "Verification")
    if problems:
        return failed("; ".join(problems), sent, got)
    return passed("Success, Message ID and SOP class echoed", sent, got)


CHECKS: tuple[Check, ...] = (echo,)
