"""The robustness group (``--hostile`` only: a fragile peer may crash): PDUs no
conformant requestor sends. The peer must refuse them (A-ABORT, A-ASSOCIATE-RJ, or
closing the connection, PS3.8 9.3.1 and Table 9-10) and keep serving: a C-ECHO on a new
association after each proves it did.
"""

from __future__ import annotations

import struct

import anyio

from dicomnet.check.model import Check, CheckContext, Result, check, failed, passed, skipped
from dicomnet.check.probe import (
    Probe,
    describe,
    echo_on_fresh_association,
    oversized_pdata_start,
    request,
)
from dicomnet.check.sop_classes import UNCOMPRESSED
from dicomnet.pdu import AAbort, AAssociateAC, AAssociateRJ, PDataTF, encode_pdu
from dicomnet.uids import VERIFICATION

_REFUSALS = (AAbort, AAssociateRJ)
#: How long the peer has to refuse what it was sent.
REFUSAL_WAIT = 10.0


async def _refused(probe: Probe) -> tuple[bool, str]:
    """Whether the peer refused what was just sent, and what it did."""
    try:
        while True:
            pdu = await probe.receive_pdu(REFUSAL_WAIT)
            if not isinstance(pdu, PDataTF):
                break
    except TimeoutError:
        return False, f"no answer within {REFUSAL_WAIT:g} s (the connection stayed open)"
    except Exception as exc:
        return False, f"answered with bytes that are no PDU ({exc})"
    if pdu is None or isinstance(pdu, _REFUSALS):
        return True, describe(pdu)
    return False, f"answered with {describe(pdu)}"


async def _served_meanwhile(ctx: CheckContext) -> str:
    """Whether the peer serves a new association while the one it did not refuse is
    still open: a peer that handles one association at a time is stuck until the
    hostile one goes away."""
    with anyio.move_on_after(REFUSAL_WAIT):
        problem = await echo_on_fresh_association(ctx.target)
        return ("meanwhile, a new association's C-ECHO was answered" if problem is None
                else f"meanwhile, {problem}")
    return (f"meanwhile, a new association got no answer within {REFUSAL_WAIT:g} s "
            "(the peer serves no one while that connection is open)")


async def _judge(ctx: CheckContext, refused: bool, what: str, sent: str,
                 meanwhile: str | None) -> Result:
    problem = await echo_on_fresh_association(ctx.target)
    evidence = (f"sent {sent}; the peer: {what}",) + ((meanwhile,) if meanwhile else ())
    if not refused:
        return failed(f"did not refuse it: {what}", *evidence)
    if problem:
        return failed(f"refused it, then stopped serving: {problem}", *evidence)
    return passed("refused, and the next association's C-ECHO succeeded", *evidence)


async def _associated(ctx: CheckContext, probe: Probe) -> Result | None:
    answer = await probe.associate(request(ctx.target, [(VERIFICATION, UNCOMPRESSED)]))
    if not isinstance(answer, AAssociateAC):
        return failed(f"a Verification association was answered with {describe(answer)}")
    return None


@check("robustness", "unknown-pdu", "an unknown PDU type is refused", "PS3.8 9.3.1, 9.3.8")
async def unknown_pdu(ctx: CheckContext) -> Result:
    async with Probe(ctx.target) as probe:
        if (result := await _associated(ctx, probe)) is not None:
            return result
        await probe.send(struct.pack(">BBI", 0x55, 0, 4) + b"\x00" * 4)
        refused, what = await _refused(probe)
        meanwhile = None if refused else await _served_meanwhile(ctx)
    return await _judge(ctx, refused, what, "a PDU of type 0x55 on an open association",
                        meanwhile)


@check("robustness", "bad-item", "an A-ASSOCIATE-RQ with a bad item is refused",
       "PS3.8 9.3.2, 9.3.8")
async def bad_item(ctx: CheckContext) -> Result:
    rq = encode_pdu(request(ctx.target, [(VERIFICATION, UNCOMPRESSED)]))
    # The presentation context item (20H), the first after the application context
    # item that follows the PDU's 74-byte fixed part (PS3.8 Table 9-11), claims to run
    # past the end of the PDU.
    at = rq.index(b"\x20\x00", 74)
    bad = rq[:at + 2] + struct.pack(">H", 0xFFF0) + rq[at + 4:]
    async with Probe(ctx.target) as probe:
        await probe.send(bad)
        refused, what = await _refused(probe)
        meanwhile = None if refused else await _served_meanwhile(ctx)
    return await _judge(ctx, refused, what, "an A-ASSOCIATE-RQ whose presentation "
                        "context item is longer than the PDU", meanwhile)


@check("robustness", "oversized-pdu", "a P-DATA-TF over the peer's maximum is refused",
       "PS3.8 D.1, 9.3.8")
async def oversized_pdu(ctx: CheckContext) -> Result:
    async with Probe(ctx.target) as probe:
        if (result := await _associated(ctx, probe)) is not None:
            return result
        limit = probe.peer_max_pdu
        if limit == 0:
            return skipped("the peer announces no maximum PDU")
        if limit >= 0xFFFFFFFF:
            return skipped("the peer's maximum is the largest length a PDU can announce")
        await probe.send(oversized_pdata_start(1, limit + 1))
        refused, what = await _refused(probe)
        meanwhile = None if refused else await _served_meanwhile(ctx)
    return await _judge(ctx, refused, what, f"the header of a P-DATA-TF of {limit + 1} "
                        f"bytes (its maximum is {limit}) and 64 bytes of it", meanwhile)


CHECKS: tuple[Check, ...] = (unknown_pdu, bad_item, oversized_pdu)
