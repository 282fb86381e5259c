"""The endurance group (``--hostile`` only): a requestor that is slow, and values longer
than their VR allows. The peer may refuse either (PS3.8 9.3.1, Table 9-10: A-ABORT or
closing; PS3.7 C.4: a failure status), but must answer, and keep serving others
meanwhile and after.
"""

from __future__ import annotations

import struct
import warnings

import anyio

from dicomnet.check.model import Check, CheckContext, Result, check, failed, passed, skipped
from dicomnet.check.probe import PeerEndedError, Probe, describe, echo_on_fresh_association, request
from dicomnet.check.queries import study_identifier
from dicomnet.check.sop_classes import STUDY_FIND, UNCOMPRESSED
from dicomnet.dimse import CEchoRSP, CFindRQ, CFindRSP, encode_command, encode_dataset
from dicomnet.dimse.fragment import fragment_message
from dicomnet.pdu import AAssociateAC, encode_pdu
from dicomnet.uids import IMPLICIT_VR_LITTLE_ENDIAN, VERIFICATION

#: How long a new association's C-ECHO may take while the slow one is open.
ECHO_WAIT = 10.0
#: The pause between two bytes of the slow A-ASSOCIATE-RQ.
DRIP = 0.05
#: A UI value longer than the 64 characters PS3.5 Table 6.2-1 allows.
LONG_UID = "1.2.840.10008.1.1." + "1" * 60
#: The length of the oversized C-FIND value: 64 KiB of Patient's Name, where PS3.5 6.2
#: allows a PN component group 64 characters.
LONG_VALUE = 1 << 16
#: The largest P-DATA-TF the oversized C-FIND goes in (less when the peer's maximum is
#: less), so that its identifier arrives in several PDUs, as any long message would.
FIND_PDU = 16384
#: How long the peer may take to answer the oversized C-FIND (all of it: sending,
#: pending responses, the final one) before the association counts as left hanging.
FIND_WAIT = 20.0
#: Pending responses read before a peer that never ends the C-FIND is given up on.
FIND_LIMIT = 1000
PENDING = (0xFF00, 0xFF01)


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


def _find_answer(status: int) -> str | None:
    """None when ``status`` may end a C-FIND (PS3.4 Table C.4-1: Success, Refused: Out
    of Resources 0xA700, Identifier Does Not Match SOP Class 0xA900, Unable to Process
    0xCxxx); else why not."""
    if status == 0 or status in (0xA700, 0xA900) or status & 0xF000 == 0xC000:
        return None
    return f"final status {status:#06x}, none of those PS3.4 Table C.4-1 has for C-FIND"


@check("endurance", "oversized-find-value", "a C-FIND with a 64 KiB Patient's Name is "
       "answered, and the peer stays up", "PS3.5 6.2; PS3.4 C.4.1.1.4, Table C.4-1; "
       "PS3.8 9.3.1")
async def oversized_find_value(ctx: CheckContext) -> Result:
    """A Study Root C-FIND at STUDY level whose Patient's Name (a required key, so every
    SCP matches on it: PS3.4 C.6.2.1) is 64 KiB long, sent in several P-DATA-TF within
    the peer's maximum. Refusing it (a failure status, A-ABORT, closing) and answering
    it (Success, with or without matches) both conform; leaving it unanswered holds the
    requestor until its own timer fires, and no longer serving anyone is a crash."""
    if not ctx.facts.accepts(STUDY_FIND):
        return skipped("the peer does not accept Study Root C-FIND")
    # Implicit VR Little Endian only: its 4-byte value length holds 64 KiB, where the
    # 2-byte one of explicit VR PN (PS3.5 7.1.2) stops at 65534 bytes.
    rq = request(ctx.target, [(STUDY_FIND, (IMPLICIT_VR_LITTLE_ENDIAN,))])
    with warnings.catch_warnings():  # pydicom warns of the very length we want
        warnings.simplefilter("ignore")
        identifier = encode_dataset(study_identifier(PatientName="X" * LONG_VALUE),
                                    IMPLICIT_VR_LITTLE_ENDIAN)
    what: str | None = None  # the peer's answer; None: none came in time
    wrong: str | None = None  # what is wrong with that answer
    async with Probe(ctx.target) as probe:
        context_id = await probe.open_context(
            rq, STUDY_FIND, "Study Root C-FIND (Implicit VR Little Endian)")
        largest = min(probe.peer_max_pdu or FIND_PDU, FIND_PDU)
        pdus = list(fragment_message(context_id, encode_command(CFindRQ(
            message_id=31, affected_sop_class_uid=STUDY_FIND)), identifier, largest))
        sent = pending = 0
        with anyio.move_on_after(FIND_WAIT):
            try:
                for pdu in pdus:
                    await probe.send(pdu)
                    sent += 1
                while what is None:
                    response, _ = await probe.receive_message(FIND_WAIT)
                    if not isinstance(response, CFindRSP):
                        what = f"{type(response).__name__} instead of a C-FIND-RSP"
                        wrong = "answered the C-FIND with another message"
                    elif response.status not in PENDING:
                        what = (f"{pending} pending responses, then status "
                                f"{response.status:#06x}")
                        wrong = _find_answer(response.status)
                    elif (pending := pending + 1) >= FIND_LIMIT:
                        what = f"{pending} pending responses and counting"
                        wrong = f"no final response after {FIND_LIMIT} pending ones"
                if wrong is None:
                    await probe.release()
            except PeerEndedError as exc:
                what = describe(exc.pdu)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                what = f"the connection went away after {sent} of {len(pdus)} P-DATA-TF"
            except TimeoutError:
                pass  # none came in time
            except Exception as exc:  # an answer we cannot read counts as one
                what = f"an unreadable answer ({exc})"
    hung = what is None
    if what is None:
        what = (f"no answer within {FIND_WAIT:g} s" + (f" ({pending} pending responses)"
                                                       if pending else ""))
    problem = await echo_on_fresh_association(ctx.target)
    evidence = (f"sent a Study Root C-FIND STUDY whose Patient's Name has {LONG_VALUE} "
                f"characters, in {len(pdus)} P-DATA-TF of at most {largest} bytes "
                f"(the peer's maximum: {probe.peer_max_pdu or 'none'}); the peer: {what}",)
    if problem is not None:
        return failed(f"stopped serving after it: {problem}", *evidence)
    if hung:
        return failed(f"left the association hanging: {what}", *evidence)
    if wrong is not None:
        return failed(wrong, *evidence)
    return passed("answered or refused it, and a new association's C-ECHO succeeded",
                  *evidence)


CHECKS: tuple[Check, ...] = (slow_requestor, oversized_value, oversized_find_value)
