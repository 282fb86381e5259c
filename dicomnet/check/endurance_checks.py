"""The endurance group (``--hostile`` only): a requestor that is slow, and values longer
than their VR allows. The peer may refuse either (PS3.8 9.3.1, Table 9-10: A-ABORT or
closing; PS3.7 C.4: a failure status), but must keep serving others meanwhile and after.
"""

from __future__ import annotations

import struct

import anyio

from dicomnet.check.model import Check, CheckContext, Result, check, failed, passed
from dicomnet.check.probe import PeerEndedError, Probe, describe, echo_on_fresh_association, request
from dicomnet.check.sop_classes import UNCOMPRESSED
from dicomnet.dimse import CEchoRSP
from dicomnet.pdu import AAssociateAC, encode_pdu
from dicomnet.uids import VERIFICATION

#: How long a new association's C-ECHO may take while the slow one is open.
ECHO_WAIT = 10.0
#: The pause between two bytes of the slow A-ASSOCIATE-RQ.
DRIP = 0.05
#: A UI value longer than the 64 characters PS3.5 Table 6.2-1 allows.
LONG_UID = "1.2.840.10008.1.1." + "1" * 60


@check("endurance", "slow-requestor", "serves others while an A-ASSOCIATE-RQ trickles in",
       "PS3.8 9.1.4, 9.3.1")
async def slow_requestor(ctx: CheckContext) -> Result:
    """The A-ASSOCIATE-RQ goes a byte at a time until a new association's C-ECHO is
    answered (or ECHO_WAIT has passed), then the rest at once. Waiting, or giving up
    with the ARTIM timer (PS3.8 9.1.4), both conform; serving no one meanwhile does not."""
    rq = encode_pdu(request(ctx.target, [(VERIFICATION, UNCOMPRESSED)]))
    meanwhile: list[str | None] = []
    async with Probe(ctx.target) as probe:
        async with anyio.create_task_group() as tg:
            async def echo() -> None:
                with anyio.move_on_after(ECHO_WAIT):
                    meanwhile.append(await echo_on_fresh_association(ctx.target))
                    return
                meanwhile.append(f"no answer within {ECHO_WAIT:g} s")

            tg.start_soon(echo)
            sent = 0
            try:
                while sent < len(rq):
                    if meanwhile:  # done: the rest at once
                        await probe.send(rq[sent:])
                        sent = len(rq)
                        break
                    await probe.send(rq[sent:sent + 1])
                    sent += 1
                    await anyio.sleep(DRIP)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                pass  # the peer gave up on us: allowed
        try:
            answer = await probe.receive_pdu(ctx.target.timeouts.acse or 30.0)
            what = describe(answer)
            if isinstance(answer, AAssociateAC):
                await probe.release()
        except (TimeoutError, OSError) as exc:
            what = f"no answer ({type(exc).__name__})"
    problem = meanwhile[0] if meanwhile else "the C-ECHO did not run"
    evidence = (f"sent {sent} of {len(rq)} bytes of the A-ASSOCIATE-RQ, "
                f"one every {DRIP:g} s; the peer then: {what}",)
    if problem is not None:
        return failed(f"a new association meanwhile: {problem}", *evidence)
    return passed("a new association's C-ECHO was answered meanwhile", *evidence)


def _echo_command(sop_class_uid: str, message_id: int) -> bytes:
    """A C-ECHO-RQ command set, written by hand (dicomnet's encoder refuses a UID over 64
    characters): Implicit VR Little Endian, PS3.7 E.1 and 9.3.5."""
    uid = sop_class_uid.encode() + (b"\x00" if len(sop_class_uid) % 2 else b"")

    def element(tag: int, value: bytes) -> bytes:
        return struct.pack("<HHI", 0, tag, len(value)) + value

    body = (element(0x0002, uid) + element(0x0100, struct.pack("<H", 0x0030))
            + element(0x0110, struct.pack("<H", message_id))
            + element(0x0800, struct.pack("<H", 0x0101)))
    return element(0x0000, struct.pack("<I", len(body))) + body


@check("endurance", "oversized-value", "a UID over 64 characters is refused, and the peer "
       "stays up", "PS3.5 6.2; PS3.7 9.1.5, C.4")
async def oversized_value(ctx: CheckContext) -> Result:
    rq = request(ctx.target, [(VERIFICATION, UNCOMPRESSED)])
    async with Probe(ctx.target) as probe:
        answer = await probe.associate(rq)
        if not isinstance(answer, AAssociateAC):
            return failed(f"a Verification association was answered with {describe(answer)}")
        context_id = probe.context_for(rq, VERIFICATION)
        if context_id is None:
            return failed("Verification was not accepted")
        command = _echo_command(LONG_UID, 1)
        await probe.send(struct.pack(">BBII", 0x04, 0, len(command) + 6, len(command) + 2)
                         + bytes((context_id, 0x03)) + command)
        try:
            response, _ = await probe.receive_message()
            if isinstance(response, CEchoRSP) and response.status == 0:
                what, refused = "C-ECHO-RSP with status Success", False
            else:
                status = getattr(response, "status", None)
                what, refused = f"{type(response).__name__} status {status:#06x}" \
                    if status is not None else type(response).__name__, True
        except PeerEndedError as exc:
            what, refused = describe(exc.pdu), True
        except TimeoutError:
            what, refused = "no answer", False
        except Exception as exc:  # an answer we cannot read counts as one
            what, refused = f"an unreadable answer ({exc})", True
    problem = await echo_on_fresh_association(ctx.target)
    evidence = (f"sent a C-ECHO-RQ whose Affected SOP Class UID has {len(LONG_UID)} "
                f"characters; the peer: {what}",)
    if problem is not None:
        return failed(f"stopped serving after it: {problem}", *evidence)
    if not refused:
        return failed(f"accepted a value its VR does not allow: {what}", *evidence)
    return passed("refused, and a new association's C-ECHO succeeded", *evidence)


CHECKS: tuple[Check, ...] = (slow_requestor, oversized_value)
