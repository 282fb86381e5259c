"""association.release-collision: both sides send A-RELEASE-RQ (PS3.8 7.2, 9.2.2).

A release collision needs the peer as the association-requestor (an SCP does not
release an association we open), so it is made on the one association a Q/R SCP opens
to us: a C-MOVE sub-operation. The check stores one generated instance (``--store``),
moves its study to its own SCP at ``--listen`` (dicomnet.check.listener), answers the
one C-STORE-RQ, and sends our A-RELEASE-RQ once the peer's next PDU is on the wire but
before reading it: a mover that releases after its last response has then sent its
A-RELEASE-RQ, and ours reaches it afterwards, as when two requests cross on the network.
PS3.8 Table 9-10 has the requestor answer first (Sta9, AR-9), the acceptor after it
(Sta10, AR-10, Sta12, AR-4). A peer that keeps the association open instead gets ours
alone after 2 s and answers a release the acceptor asked for (Sta6 + Evt12, AR-2); the
evidence says which of the two happened.

It runs in the association group, before the storage group, and so stores its own
instance rather than using the storage group's.
"""

from __future__ import annotations

from functools import partial

import anyio
from pydicom import Dataset

from dicomnet.check.instances import make_instance, run_tag
from dicomnet.check.listener import NO_LISTEN, ReleasingStorageSCP, Transcript, listen_address
from dicomnet.check.model import (
    Check,
    CheckContext,
    Result,
    RuleBrokenError,
    check,
    failed,
    passed,
    skipped,
)
from dicomnet.check.probe import Probe, request
from dicomnet.check.retrieve_checks import DESTINATION_UNKNOWN, retrieve, study_key
from dicomnet.check.sop_classes import CT, MR, SC, STUDY_MOVE, UNCOMPRESSED
from dicomnet.check.storage_checks import store_instance
from dicomnet.uids import uid_name

_TAG = run_tag()


async def store_one(ctx: CheckContext, sop_class: str) -> Dataset:
    """Store one generated instance of ``sop_class`` (a study of its own); the data set
    stored. RuleBrokenError when the peer does not take it."""
    rq = request(ctx.target, [(sop_class, UNCOMPRESSED)])
    ds = make_instance(sop_class, f"DNCHK{_TAG}RC")
    async with Probe(ctx.target) as probe:
        context_id = await probe.open_context(rq, sop_class, "storage")
        got = await store_instance(probe, context_id, ds, 395)
        if not got.ended:
            await probe.release()
    if not got.stored:
        raise RuleBrokenError(f"the instance to move was not stored: {got.text}")
    return ds


@check("association", "release-collision",
       "A-RELEASE-RQ from both sides of an association the peer opened (C-MOVE)",
       "PS3.8 7.2, 9.2.2; Table 9-10 AR-8, AR-9, AR-10")
async def release_collision(ctx: CheckContext) -> Result:
    if not ctx.facts.accepts(STUDY_MOVE):
        return skipped("the peer does not accept Study Root C-MOVE (the association it "
                       "opens to us is a C-MOVE sub-operation's)")
    if (listen := listen_address(ctx)) is None:
        return skipped(NO_LISTEN)
    if not ctx.store:
        return skipped("stores an instance to move: run with --store")
    sop_class = next((c for c in (CT, MR, SC) if ctx.facts.accepts(c)), None)
    if sop_class is None:
        return skipped("the peer accepts none of CT, MR and Secondary Capture storage")
    aet, host, port = listen
    ds = await store_one(ctx, sop_class)
    wait = ctx.target.timeouts.acse or 10.0
    scp = ReleasingStorageSCP(aet, release_after=1, wait=wait)

    async def sub_association_ended() -> None:
        # The final C-MOVE-RSP may come before the sub-operation association ends; the
        # C-MOVE association stays open until then, so that what is judged is the
        # collision, not how the peer treats a sub-operation association outliving it.
        if scp.transcripts:
            with anyio.move_on_after(2 * wait + scp.hold):
                await scp.finished.wait()

    async with anyio.create_task_group() as tg:
        await tg.start(partial(scp.serve, host, port))
        got = await retrieve(ctx, study_key(ds.StudyInstanceUID), message_id=390,
                             move_destination=aet, before_release=sub_association_ended)
        tg.cancel_scope.cancel()
    evidence = [f"stored one {uid_name(sop_class)} instance, then C-MOVE of its study "
                f"to {aet} at {host}:{port}: {got.summary()}"]
    evidence += [t.summary() for t in scp.transcripts[:3]]
    if got.final[0] == DESTINATION_UNKNOWN:
        return skipped(f"the peer does not know {aet} as a move destination (0xA801): "
                       f"configure it as {host}:{port}", *evidence)
    released = next((t for t in scp.transcripts if t.released), None)
    status = got.final[0]
    if released is None:
        why = next((t.problem for t in scp.transcripts if t.problem), None)
        stored = any(t.stores for t in scp.transcripts)
        return failed(("our A-RELEASE-RQ could not be sent" if stored else
                       "no C-STORE-RQ came to answer before our A-RELEASE-RQ")
                      + (f": {why}" if why else ""), *evidence)
    return _judge(released, status, evidence)


def _judge(transcript: Transcript, status: int, evidence: list[str]) -> Result:
    if transcript.aborted is not None:
        return failed(f"the peer answered our A-RELEASE-RQ with {transcript.aborted}"
                      + (" in a release collision" if transcript.collision else ""),
                      *evidence)
    if not transcript.answered:
        problem = transcript.problem or "no A-RELEASE-RP"
        if transcript.collision:
            # PS3.8 Table 9-10: the requestor in Sta9 answers first (Evt14, AR-9)
            return failed(f"release collision: the peer sent its A-RELEASE-RQ but not "
                          f"the A-RELEASE-RP it owes first as requestor (Sta9, AR-9): "
                          f"{problem}", *evidence)
        return failed(f"our A-RELEASE-RQ was not answered: {problem}", *evidence)
    if transcript.collision and not transcript.closed_by_peer:
        # PS3.8 Table 9-10: Sta11 + Evt13 (our A-RELEASE-RP), AR-3: the requestor
        # issues the A-RELEASE confirmation and closes the transport connection.
        return failed("release collision: the peer did not close the connection after "
                      "our A-RELEASE-RP (Sta11, AR-3)", *evidence)
    if status != 0:
        return failed(f"the C-MOVE ended with {status:#06x}, not Success", *evidence)
    if transcript.collision:
        return passed("release collision (the peer's A-RELEASE-RQ crossed ours): it "
                      "answered first as requestor, then took our A-RELEASE-RP; "
                      "C-MOVE Success", *evidence)
    return passed("no collision this time (the peer read our A-RELEASE-RQ before "
                  "sending its own): it answered a release its acceptor asked for; "
                  "C-MOVE Success", *evidence)


CHECKS: tuple[Check, ...] = (release_collision,)
