"""The retrieve group: C-GET and C-MOVE in the Study Root model (PS3.4 C.4.2, C.4.3).

Only instances the check itself stored (``--store``) are retrieved, so the answer is
known: exactly those instances, as stored, with sub-operation counts that add up
(PS3.4 C.4.2.1.5, C.4.3.1.5 and the status tables C.4-2, C.4-3). A C-MOVE goes only to
the check's own SCP named with ``--listen`` (a storage SCP this check runs itself,
dicomnet.check.listener) or to an AE title no peer can know; without stored
instances those checks SKIP.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import anyio
from pydicom import Dataset
from pydicom.uid import generate_uid

from dicomnet.check.instances import make_instance
from dicomnet.check.listener import NO_LISTEN, listen_address, serving
from dicomnet.check.model import (
    Check,
    CheckContext,
    Result,
    RuleBrokenError,
    StoredInstance,
    check,
    failed,
    passed,
    skipped,
)
from dicomnet.check.probe import Probe, request
from dicomnet.check.queries import image_identifier
from dicomnet.check.sop_classes import CT, MR, SC, STUDY_GET, STUDY_MOVE, UNCOMPRESSED
from dicomnet.dimse import (
    CCancelRQ,
    CGetRQ,
    CGetRSP,
    CMoveRQ,
    CMoveRSP,
    CStoreRQ,
    encode_command,
    fragment_message,
    response_to,
)
from dicomnet.incoming_request import IncomingRequest
from dicomnet.server import Server

PENDING = 0xFF00
CANCEL = 0xFE00
#: PS3.4 Table C.4-2: Refused: Move Destination unknown
DESTINATION_UNKNOWN = 0xA801
STORAGE = (CT, MR, SC)
#: Where a peer that never ends a retrieve is given up on.
RESPONSE_LIMIT = 1000


@dataclass
class Retrieval:
    """What one C-GET or C-MOVE brought: every response's (status, remaining,
    completed, failed, warning), the instances that came as C-STORE sub-operations."""

    responses: list[tuple[int, int | None, int, int, int]] = field(default_factory=list)
    received: list[Dataset] = field(default_factory=list)

    @property
    def final(self) -> tuple[int, int | None, int, int, int]:
        return self.responses[-1]

    def summary(self) -> str:
        status, remaining, completed, failures, warnings = self.final
        return (f"{len(self.responses) - 1} pending responses, {len(self.received)} "
                f"instances received; final status {status:#06x} (completed {completed}, "
                f"failed {failures}, warning {warnings}, remaining {remaining})")


def _counts(response: CGetRSP | CMoveRSP, message_id: int
            ) -> tuple[int, int | None, int, int, int]:
    """A retrieve response's status and sub-operation counts; it must answer our
    request ``message_id`` (PS3.7 9.3.1.1)."""
    if response.message_id_being_responded_to != message_id:
        raise RuleBrokenError(f"a response to Message ID "
                              f"{response.message_id_being_responded_to}, not {message_id}")
    return (response.status, response.number_of_remaining_suboperations,
            response.number_of_completed_suboperations or 0,
            response.number_of_failed_suboperations or 0,
            response.number_of_warning_suboperations or 0)


def count_problems(retrieval: Retrieval, expected: int | None) -> list[str]:
    """Where the counts do not add up (PS3.4 C.4.3.1.5: pending responses carry the
    remaining count; completed + failed + warning + remaining is the number of
    sub-operations, which does not change; the final counts say what was done)."""
    problems = []
    total: int | None = expected
    last_remaining: int | None = None
    for _status, remaining, completed, failures, warnings in retrieval.responses[:-1]:
        if remaining is None:
            problems.append("a pending response without Number of Remaining "
                            "Sub-operations")
            continue
        subtotal = remaining + completed + failures + warnings
        if total is None:
            total = subtotal
        if subtotal != total:
            problems.append(f"pending counts add up to {subtotal}, not {total}")
        if last_remaining is not None and remaining > last_remaining:
            problems.append(f"remaining went up from {last_remaining} to {remaining}")
        last_remaining = remaining
    status, remaining, completed, failures, warnings = retrieval.final
    done = completed + failures + warnings
    if status == CANCEL:  # remaining: what the cancel left undone, when it says
        if total is not None and (done + remaining != total if remaining is not None
                                  else done > total):
            problems.append(f"cancelled with counts adding up to "
                            f"{done + (remaining or 0)}, not {total}")
    elif total is not None and done != total:
        problems.append(f"final counts add up to {done}, not {total}")
    return problems[:3]


async def retrieve(ctx: CheckContext, identifier: Dataset, *, message_id: int,
                   move_destination: str | None = None, cancel: bool = False,
                   before_release: Callable[[], Awaitable[None]] | None = None
                   ) -> Retrieval:
    """One C-GET (or C-MOVE to ``move_destination``) on a new association, answering
    every C-STORE sub-operation with Success. ``cancel``: send a C-CANCEL after the
    first pending response or sub-operation (PS3.4 C.4.3.2.3). ``before_release`` is
    awaited after the final response, before the association is released (a C-MOVE
    whose sub-operation association must end first)."""
    model = STUDY_GET if move_destination is None else STUDY_MOVE
    contexts: list[tuple[str, Sequence[str]]] = [(model, UNCOMPRESSED)]
    roles = None
    if move_destination is None:  # we are the storage SCP of the sub-operations
        contexts += [(sop_class, UNCOMPRESSED) for sop_class in STORAGE]
        roles = {sop_class: (False, True) for sop_class in STORAGE}
    rq = request(ctx.target, contexts, roles=roles)
    result = Retrieval()
    async with Probe(ctx.target) as probe:
        context_id = await probe.open_context(rq, model, "retrieve")
        if move_destination is None:
            await probe.send_message(context_id, CGetRQ(
                message_id=message_id, affected_sop_class_uid=model), identifier)
        else:
            await probe.send_message(context_id, CMoveRQ(
                message_id=message_id, affected_sop_class_uid=model,
                move_destination=move_destination), identifier)
        cancelled = not cancel
        while len(result.responses) + len(result.received) < RESPONSE_LIMIT:
            message, dataset = await probe.receive_message()
            if isinstance(message, CStoreRQ):
                if dataset is not None:
                    result.received.append(dataset)
                await probe.send_message(probe.last_context_id, response_to(message, 0))
            elif isinstance(message, CGetRSP | CMoveRSP):
                result.responses.append(_counts(message, message_id))
                if message.status != PENDING:
                    if before_release is not None:
                        await before_release()
                    await probe.release()
                    return result
            else:
                raise RuleBrokenError(f"answered with {type(message).__name__}")
            if not cancelled:
                cancelled = True
                await probe.send_message(context_id, CCancelRQ(
                    message_id_being_responded_to=message_id))
    raise RuleBrokenError(f"no final response after {RESPONSE_LIMIT} messages")


def content_problems(received: list[Dataset], expected: list[StoredInstance]) -> list[str]:
    """What differs between the instances received and those stored: the SOP Instance
    UIDs, and the pixel data (we offered only uncompressed syntaxes, so even a peer that
    transcoded must give back the same pixels)."""
    wanted = {item.sop_instance_uid: item for item in expected}
    got = [str(ds.get("SOPInstanceUID", "")) for ds in received]
    problems = []
    if sorted(got) != sorted(wanted):
        strangers = [uid for uid in got if uid not in wanted]
        missing = [uid for uid in wanted if uid not in got]
        problems.append(f"received {len(got)} instances for {len(wanted)} asked: "
                        f"{len(strangers)} not asked for, {len(missing)} missing")
    for ds in received:
        item = wanted.get(str(ds.get("SOPInstanceUID", "")))
        if item is None:
            continue
        pixels = make_instance(item.sop_class_uid, item.patient_id).PixelData
        if ds.get("PixelData") != pixels or ds.get("PatientID") != item.patient_id \
                or ds.get("StudyInstanceUID") != item.study_instance_uid:
            problems.append(f"{ds.SOPInstanceUID}: differs from what was stored")
    return problems[:3]


def study_key(uid: str) -> Dataset:
    """A retrieve identifier naming one study (or a list of them) by its UID."""
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    ds.StudyInstanceUID = uid
    return ds


def _needs_get(ctx: CheckContext) -> Result | None:
    if not ctx.facts.accepts(STUDY_GET):
        return skipped("the peer does not accept Study Root C-GET")
    if not ctx.facts.stored:
        return skipped("nothing was stored to retrieve (run with --store)")
    return None


def _judge(results: list[tuple[StoredInstance, Retrieval]], level: str) -> Result:
    evidence = [f"C-GET {level} of instance {item.sop_instance_uid}: {got.summary()}"
                for item, got in results[:2]]
    if len(results) > 2:
        evidence.append(f"(and {len(results) - 2} more C-GETs)")
    problems = []
    for item, got in results:
        status = got.final[0]
        here = count_problems(got, 1) + content_problems(got.received, [item])
        if status != 0:
            here.insert(0, f"final status {status:#06x}, not Success")
        problems += [f"{item.sop_instance_uid}: {p}" for p in here]
    if problems:
        return failed("; ".join(problems[:3]), *evidence)
    return passed("each stored instance came back, as stored, with counts that add up",
                  *evidence)


@check("retrieve", "get-study", "C-GET at STUDY level returns exactly the stored instances",
       "PS3.4 C.4.3.1.3, C.4.3.1.5, C.4.3.3")
async def get_study(ctx: CheckContext) -> Result:
    if (skip := _needs_get(ctx)) is not None:
        return skip
    results = [(item, await retrieve(ctx, study_key(item.study_instance_uid),
                                     message_id=300 + number))
               for number, item in enumerate(ctx.facts.stored, 1)]
    return _judge(results, "STUDY")


@check("retrieve", "get-image", "C-GET at IMAGE level returns exactly the instance asked",
       "PS3.4 C.4.3.1.3, C.4.3.1.5, C.4.3.3")
async def get_image(ctx: CheckContext) -> Result:
    if (skip := _needs_get(ctx)) is not None:
        return skip
    results = []
    for number, item in enumerate(ctx.facts.stored, 1):
        identifier = image_identifier(item.study_instance_uid, item.series_instance_uid,
                                      item.sop_instance_uid)
        del identifier.SOPClassUID  # not a key of a retrieve (PS3.4 C.4.3.2.1)
        results.append((item, await retrieve(ctx, identifier, message_id=320 + number)))
    return _judge(results, "IMAGE")


@check("retrieve", "get-unknown", "C-GET of an unknown study: Success, nothing sent",
       "PS3.4 C.4.3.1.3.1, Table C.4-3")
async def get_unknown(ctx: CheckContext) -> Result:
    # Nothing matches, so there are no sub-operations, and all of them (none) completed
    # without failure: Table C.4-3's 0x0000. Its failures say the peer could not do
    # something (resources, an identifier that does not fit the model, "unable to
    # process"), none of which a well-formed query for a study it lacks is.
    if not ctx.facts.accepts(STUDY_GET):
        return skipped("the peer does not accept Study Root C-GET")
    uid = generate_uid()
    got = await retrieve(ctx, study_key(uid), message_id=340)
    evidence = f"C-GET STUDY {uid} (a UID just made): {got.summary()}"
    status, _remaining, completed, failures, warnings = got.final
    if got.received:
        return failed(f"sent {len(got.received)} instances for a study it cannot hold",
                      evidence)
    if status != 0:
        return failed(f"final status {status:#06x}, not Success with no sub-operations",
                      evidence)
    if completed or failures or warnings:
        return failed("counts of sub-operations that did not happen", evidence)
    return passed("Success, no sub-operations", evidence)


def _all_studies(ctx: CheckContext) -> Dataset:
    # PS3.4 C.4.3.1.3.1 (Note): in the Baseline behaviour more than one entity may be
    # retrieved at STUDY level with List of UID Matching (PS3.4 C.2.2.2.2)
    return study_key("\\".join(item.study_instance_uid for item in ctx.facts.stored))


@check("retrieve", "get-list", "C-GET of a list of studies: all of them, counts that add up",
       "PS3.4 C.4.3.1.3.1, C.2.2.2.2, C.4.3.1.5")
async def get_list(ctx: CheckContext) -> Result:
    if (skip := _needs_get(ctx)) is not None:
        return skip
    stored = ctx.facts.stored
    got = await retrieve(ctx, _all_studies(ctx), message_id=345)
    evidence = (f"C-GET STUDY with the {len(stored)} stored Study Instance UIDs as a list: "
                f"{got.summary()}")
    problems = count_problems(got, len(stored)) + content_problems(got.received, stored)
    if got.final[0] != 0:
        problems.insert(0, f"final status {got.final[0]:#06x}, not Success")
    if problems:
        return failed("; ".join(problems[:3]), evidence)
    return passed(f"all {len(stored)} instances, with counts that add up", evidence)


#: Sub-operations a peer honouring a C-CANCEL of a C-GET may still start after it: the
#: one it was about to send when the cancel came (read between two sub-operations, as
#: PS3.4 C.4.3.2.3 has it), and one more for a peer that reads it in another task. One
#: that sends more went on as if it had never come.
GET_CANCEL_SLACK = 2
#: How long we take to answer each C-STORE sub-operation after the C-CANCEL: time for a
#: peer honouring it to see it before the next sub-operation, however it reads it.
SUBOP_DELAY = 0.25


@dataclass
class CancelledGet(Retrieval):
    """A C-GET cancelled after its first pending response or sub-operation: how many
    sub-operations had come when the C-CANCEL went out, and how many came after."""

    before: int = 0
    after: int = 0


async def _get_cancelled(ctx: CheckContext, identifier: Dataset, *,
                         message_id: int) -> CancelledGet:
    """One C-GET on a new association; the C-CANCEL goes in the same write as our answer
    to the first sub-operation (or right after the first pending response), and each
    later sub-operation is answered SUBOP_DELAY late."""
    contexts: list[tuple[str, Sequence[str]]] = [(STUDY_GET, UNCOMPRESSED)]
    contexts += [(sop_class, UNCOMPRESSED) for sop_class in STORAGE]
    rq = request(ctx.target, contexts,
                 roles={sop_class: (False, True) for sop_class in STORAGE})
    result = CancelledGet()
    cancel = encode_command(CCancelRQ(message_id_being_responded_to=message_id))
    async with Probe(ctx.target) as probe:
        context_id = await probe.open_context(rq, STUDY_GET, "retrieve")
        await probe.send_message(context_id, CGetRQ(
            message_id=message_id, affected_sop_class_uid=STUDY_GET), identifier)
        cancelled = False
        while len(result.responses) + len(result.received) < RESPONSE_LIMIT:
            message, dataset = await probe.receive_message()
            out = b""
            if isinstance(message, CStoreRQ):
                if dataset is not None:
                    result.received.append(dataset)
                if cancelled:
                    result.after += 1
                    await anyio.sleep(SUBOP_DELAY)
                else:
                    result.before += 1
                out = b"".join(fragment_message(probe.last_context_id, encode_command(
                    response_to(message, 0)), None, probe.peer_max_pdu))
            elif isinstance(message, CGetRSP):
                result.responses.append(_counts(message, message_id))
                if message.status != PENDING:
                    await probe.release()
                    return result
            else:
                raise RuleBrokenError(f"answered with {type(message).__name__}")
            if not cancelled:
                cancelled = True
                out += b"".join(fragment_message(context_id, cancel, None,
                                                 probe.peer_max_pdu))
            if out:
                await probe.send(out)
    raise RuleBrokenError(f"no final response after {RESPONSE_LIMIT} messages")


@check("retrieve", "get-cancel", "C-CANCEL of a C-GET stops its sub-operations",
       "PS3.4 C.4.3.2.3, C.4.3.1.5; PS3.7 9.3.3.3")
async def get_cancel(ctx: CheckContext) -> Result:
    if (skip := _needs_get(ctx)) is not None:
        return skip
    stored = ctx.facts.stored
    got = await _get_cancelled(ctx, _all_studies(ctx), message_id=350)
    left = len(stored) - got.before  # what remained when the C-CANCEL went out
    evidence = (f"C-GET STUDY of the {len(stored)} stored studies, C-CANCEL after the first "
                f"pending response or sub-operation ({got.before} sub-operations before "
                f"it, {left} left); {got.after} sub-operations after it, each answered "
                f"{SUBOP_DELAY:g} s late: {got.summary()}")
    status = got.final[0]
    if status not in (CANCEL, 0x0000):
        return failed(f"final status {status:#06x}: neither Cancel (0xFE00) nor Success",
                      evidence)
    # PS3.4 C.4.3.2.3: on a C-CANCEL the SCP "shall interrupt all C-STORE sub-operation
    # processing"; the one on its way and one more may pass (GET_CANCEL_SLACK), not
    # the rest of them
    if got.after > GET_CANCEL_SLACK:
        return failed(f"went on with {got.after} sub-operations after the C-CANCEL "
                      f"({left} remained)" + (", then ended Success" if status == 0 else ""),
                      evidence)
    problems = count_problems(got, len(stored))
    # what it sent must be among what was asked, and all of it when it finished
    if status == 0:
        problems += content_problems(got.received, stored)
    elif not {str(ds.get("SOPInstanceUID", "")) for ds in got.received} \
            <= {item.sop_instance_uid for item in stored}:
        problems.append("sent an instance not asked for")
    if problems:
        return failed("; ".join(problems[:3]), evidence)
    if status == CANCEL:
        return passed("Cancel, with counts that add up", evidence)
    # all of them sent, so only ``left`` <= GET_CANCEL_SLACK came after the cancel
    return passed(f"finished (Success) before the cancel took effect: {left} "
                  f"sub-operations remained, within the {GET_CANCEL_SLACK} allowed", evidence)


async def _collect(ctx: CheckContext, aet: str, host: str, port: int,
                   received: list[Dataset]) -> Retrieval:
    """C-MOVE every stored study to our own storage SCP ``aet`` at ``host:port``."""
    server = Server(aet)
    all_came = anyio.Event()

    @server.on_store(sop_classes=STORAGE)
    async def keep(request: IncomingRequest) -> int:
        if request.dataset is not None:
            received.append(request.dataset)
        if len(received) >= len(ctx.facts.stored):
            all_came.set()
        return 0

    async with serving(server, host, port):
        got = Retrieval()
        for number, item in enumerate(ctx.facts.stored, 1):
            identifier = study_key(item.study_instance_uid)
            one = await retrieve(ctx, identifier, message_id=360 + number,
                                 move_destination=aet)
            got.responses += one.responses
            if one.final[0] == DESTINATION_UNKNOWN:
                break
        with anyio.move_on_after(2):  # a peer may answer before its last C-STORE
            await all_came.wait()
    got.received = received
    return got


@check("retrieve", "move", "C-MOVE to our own storage SCP moves exactly the stored instances",
       "PS3.4 C.4.2.1.3, C.4.2.1.5, C.4.2.3")
async def move(ctx: CheckContext) -> Result:
    if not ctx.facts.accepts(STUDY_MOVE):
        return skipped("the peer does not accept Study Root C-MOVE")
    if not ctx.facts.stored:
        return skipped("nothing was stored to move (run with --store)")
    if (listen := listen_address(ctx)) is None:
        return skipped(f"{NO_LISTEN}: the peer must know AET as a move destination")
    aet, host, port = listen
    got = await _collect(ctx, aet, host, port, [])
    finals = [r for r in got.responses if r[0] != PENDING]
    evidence = [f"C-MOVE STUDY of {len(ctx.facts.stored)} stored studies to {aet} at "
                f"{host}:{port}: {len(got.received)} instances arrived; final statuses "
                f"{', '.join(f'{r[0]:#06x}' for r in finals)}"]
    if any(r[0] == DESTINATION_UNKNOWN for r in finals):
        return skipped(f"the peer does not know {aet} as a move destination (0xA801): "
                       f"configure it as {host}:{port}", *evidence)
    problems = [f"final status {r[0]:#06x}, not Success" for r in finals if r[0] != 0]
    problems += [f"final counts say {r[2]} completed, {r[3]} failed for one study"
                 for r in finals if r[0] == 0 and (r[2], r[3]) != (1, 0)]
    problems += content_problems(got.received, ctx.facts.stored)
    if problems:
        return failed("; ".join(problems[:3]), *evidence)
    return passed("each stored study moved, as stored", *evidence)


@check("retrieve", "move-unknown", "C-MOVE to an unknown destination: 0xA801",
       "PS3.4 C.4.2.1.5, Table C.4-2")
async def move_unknown(ctx: CheckContext) -> Result:
    if not ctx.facts.accepts(STUDY_MOVE):
        return skipped("the peer does not accept Study Root C-MOVE")
    if not ctx.facts.stored:
        # a study it holds, else a peer may well answer "nothing to move" first
        return skipped("nothing was stored to move (run with --store)")
    nowhere = f"NOWHERE-{secrets.token_hex(4).upper()}"
    item = ctx.facts.stored[0]
    got = await retrieve(ctx, study_key(item.study_instance_uid), message_id=380,
                         move_destination=nowhere)
    evidence = f"C-MOVE STUDY {item.study_instance_uid} to {nowhere}: {got.summary()}"
    if got.final[0] != DESTINATION_UNKNOWN:
        return failed(f"final status {got.final[0]:#06x}, not Move Destination unknown "
                      "(0xA801)", evidence)
    return passed("Move Destination unknown", evidence)


CHECKS: tuple[Check, ...] = (get_study, get_image, get_list, get_unknown, get_cancel, move,
                             move_unknown)
