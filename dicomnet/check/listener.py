"""The check's own SCP: where the peer opens associations to us.

Some questions can only be asked on an association the peer opens: the C-MOVE
sub-operations (PS3.4 C.4.2), a storage commitment report sent on a new association
(PS3.4 J.3.3), and a release collision, which needs the peer to be the requestor (an
SCP never releases an association we open). The user names one address for all of them
with ``--listen AET=HOST:PORT``: the peer knows AET at HOST:PORT. The check listens
there only while a check that needs it runs.

Two listeners share that address, one at a time:

* :func:`serving` runs a dicomnet :class:`~dicomnet.server.Server` (the C-MOVE
  destination, the storage commitment report receiver): the questions there are about
  what the peer sends, not about its PDUs;
* :class:`ReleasingStorageSCP` speaks PDUs itself: a storage SCP that answers the last
  C-STORE-RQ it expects, sends our own A-RELEASE-RQ so that it crosses the peer's, and
  keeps what the peer did next, PDU by PDU. dicomnet's association driver would answer
  a collision correctly and show nothing of it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Literal

import anyio
from anyio.abc import SocketStream, TaskStatus

from dicomnet.acse import AcceptorPolicy, negotiate
from dicomnet.check.model import CheckContext
from dicomnet.check.probe import describe
from dicomnet.check.sop_classes import FAMILIES
from dicomnet.dimse import (
    CStoreRQ,
    Reassembler,
    encode_command,
    fragment_message,
    response_to,
)
from dicomnet.dimse.reassembly import CommandReceived
from dicomnet.errors import DicomNetError
from dicomnet.pdu import (
    PDU,
    AAbort,
    AAssociateRQ,
    AReleaseRP,
    AReleaseRQ,
    PDataTF,
    PDUFramer,
    encode_pdu,
)
from dicomnet.server import Server

#: What the skip reason of a check that needs the listening SCP says.
NO_LISTEN = ("no --listen AET=HOST:PORT given (the check's own SCP, where the peer "
             "knows AET at HOST:PORT)")
#: The maximum PDU the releasing SCP announces (PS3.8 D.1).
OUR_MAX_PDU = 1 << 16


def listen_address(ctx: CheckContext) -> tuple[str, str, int] | None:
    """(AE title, host, port) of the check's own SCP, None when the user gave none."""
    return ctx.target.listen


@asynccontextmanager
async def serving(server: Server, host: str, port: int) -> AsyncIterator[Server]:
    """``server`` listening on ``host:port`` for the length of the block; shut down
    with a short grace period (a sub-operation or a report under way may finish)."""
    async with anyio.create_task_group() as tg:
        await tg.start(partial(server.serve, host, port))
        try:
            yield server
        finally:
            server.shutdown(grace=2)


@dataclass
class Transcript:
    """What happened on one association the peer opened to the releasing SCP."""

    calling_ae: str = ""
    called_ae: str = ""
    stores: int = 0
    #: we sent our A-RELEASE-RQ (after the last C-STORE-RSP expected)
    released: bool = False
    #: the peer's own A-RELEASE-RQ came after ours was sent: a real collision
    collision: bool = False
    #: the peer answered our A-RELEASE-RQ with A-RELEASE-RP
    answered: bool = False
    #: the peer closed the connection at the end (after the last A-RELEASE-RP)
    closed_by_peer: bool = False
    aborted: str | None = None
    #: what went wrong, in one phrase (None: nothing)
    problem: str | None = None
    #: each PDU received after our A-RELEASE-RQ and what we did, in order
    steps: list[str] = field(default_factory=list)

    def summary(self) -> str:
        head = (f"{self.calling_ae or '?'} -> {self.called_ae or '?'}: {self.stores} "
                f"C-STORE-RQ answered")
        if not self.released:
            return f"{head}, no A-RELEASE-RQ of ours sent ({self.problem or 'ended first'})"
        steps = "; ".join(self.steps) or "nothing"
        return f"{head}; then: {steps}"


class ReleasingStorageSCP:
    """A storage SCP of PDUs: accepts every SOP class and transfer syntax family
    proposed (the data sets are not read), answers each C-STORE-RQ with Success and,
    after the ``release_after``-th response, sends our A-RELEASE-RQ so that it crosses
    the A-RELEASE-RQ of a requestor which releases after its last response: a release
    collision (PS3.8 7.2, 9.2.2; see :meth:`_release`).

    As the acceptor in a collision we wait for the requestor's A-RELEASE-RP before
    sending ours (PS3.8 Table 9-10: Sta10 + Evt13, AR-10, then AR-4 in Sta12); without
    a collision its A-RELEASE-RP ends the association (Sta7 + Evt13, AR-3). Every wait
    is bounded by ``wait`` seconds. ``finished`` is set when an association has
    ended.
    """

    def __init__(self, ae_title: str, *, release_after: int, wait: float,
                 hold: float = 2.0) -> None:
        self.policy = AcceptorPolicy(ae_title=ae_title, require_called_ae_title=False,
                                     any_abstract_syntax=tuple(FAMILIES),
                                     max_pdu_length=OUR_MAX_PDU)
        self.release_after = release_after
        self.wait = wait
        self.hold = hold
        self.transcripts: list[Transcript] = []
        self.finished = anyio.Event()

    async def serve(self, host: str, port: int, *,
                    task_status: TaskStatus[int] = anyio.TASK_STATUS_IGNORED) -> None:
        """Accept on ``host:port`` until cancelled; each connection in a task."""
        listener = await anyio.create_tcp_listener(local_host=host, local_port=port)
        async with listener:
            task_status.started(port)
            await listener.serve(self._converse)

    async def _converse(self, stream: SocketStream) -> None:
        transcript = Transcript()
        self.transcripts.append(transcript)
        framer = PDUFramer(max_pdata_length=OUR_MAX_PDU, max_other_length=1 << 20)
        try:
            await self._run(stream, framer, transcript)
        except (DicomNetError, anyio.BrokenResourceError, OSError) as exc:
            transcript.problem = transcript.problem or f"{type(exc).__name__}: {exc}"
        finally:
            await anyio.aclose_forcefully(stream)
            self.finished.set()

    async def _next(self, stream: SocketStream, framer: PDUFramer,
                    within: float | None = None) -> PDU | None:
        with anyio.fail_after(within or self.wait):
            while True:
                pdu = framer.next_pdu()
                if pdu is not None:
                    return pdu
                try:
                    framer.feed(await stream.receive())
                except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
                    return None

    async def _run(self, stream: SocketStream, framer: PDUFramer,
                   transcript: Transcript) -> None:
        rq = await self._next(stream, framer)
        if not isinstance(rq, AAssociateRQ):
            transcript.problem = f"{describe(rq)} instead of an A-ASSOCIATE-RQ"
            return
        transcript.calling_ae = rq.calling_ae_title.strip()
        transcript.called_ae = rq.called_ae_title.strip()
        ac, negotiated = negotiate(rq, self.policy)
        await stream.send(encode_pdu(ac))
        reassembler = Reassembler(tuple(negotiated.accepted))
        peer_max = rq.user_information.maximum_length or 0
        store: tuple[int, CStoreRQ] | None = None
        while True:
            try:
                pdu = await self._next(stream, framer)
            except TimeoutError:
                transcript.problem = f"nothing more from the peer within {self.wait:g} s"
                return
            if isinstance(pdu, AReleaseRQ):  # released before the last store expected
                await stream.send(encode_pdu(AReleaseRP()))
                transcript.problem = "the peer released before the last C-STORE expected"
                return
            if not isinstance(pdu, PDataTF):
                transcript.aborted = describe(pdu) if isinstance(pdu, AAbort) else None
                transcript.problem = f"{describe(pdu)} before the last C-STORE expected"
                return
            for event in reassembler.feed(pdu):
                if isinstance(event, CommandReceived):
                    if not isinstance(event.message, CStoreRQ):
                        transcript.problem = (f"a {type(event.message).__name__} where "
                                              "only C-STORE-RQs were expected")
                        return
                    store = (event.context_id, event.message)
                    continue
                if not event.is_last or store is None:
                    continue
                context_id, message = store
                store = None
                transcript.stores += 1
                data = b"".join(fragment_message(context_id, encode_command(
                    response_to(message, 0)), None, peer_max))
                await stream.send(data)
                if transcript.stores >= self.release_after:
                    await self._release(stream, framer, transcript)
                    return

    async def _release(self, stream: SocketStream, framer: PDUFramer,
                       transcript: Transcript) -> None:
        """Send our A-RELEASE-RQ so that it crosses the peer's. The peer's next PDU
        (its A-RELEASE-RQ, from a mover that releases after its last response) is
        awaited for at most :attr:`hold` seconds and kept unread while ours goes out:
        to our upper layer it has not arrived (no Evt12 yet), so we are in Sta6 and may
        ask to release (PS3.8 7.2: either side may), and to the peer ours arrives after
        it sent its own, as when two requests cross on the network. A peer that sends
        nothing in that time keeps the association open: ours goes out anyway, a
        release the acceptor asked for."""
        held: PDU | Literal[False] | None
        try:
            held = await self._next(stream, framer, self.hold)
        except TimeoutError:
            held = False  # nothing came
        if held is None:
            transcript.problem = ("the peer closed the connection after the last "
                                  "C-STORE-RSP, without A-RELEASE-RQ or A-ABORT")
            return
        transcript.released = True
        await stream.send(encode_pdu(AReleaseRQ()))
        if held is False:
            transcript.steps.append(f"nothing from the peer within {self.hold:g} s of "
                                    f"the last C-STORE-RSP; our A-RELEASE-RQ sent")
        else:
            transcript.steps.append("our A-RELEASE-RQ sent while the peer's next PDU, "
                                    "already there, was held unread")
        await self._after_release(stream, framer, transcript,
                                  None if held is False else held)

    async def _after_release(self, stream: SocketStream, framer: PDUFramer,
                             transcript: Transcript, held: PDU | None) -> None:
        """Sta7 after our A-RELEASE-RQ: the peer's A-RELEASE-RQ (Evt12, a collision:
        AR-8, Sta10), its A-RELEASE-RP (Evt13: AR-3 without a collision, AR-10 and then
        our A-RELEASE-RP with one), P-DATA it still had to send (Evt10, AR-6), or an
        A-ABORT."""
        steps = transcript.steps
        while True:
            try:
                pdu, held = (held, None) if held is not None \
                    else (await self._next(stream, framer), None)
            except TimeoutError:
                if transcript.answered:  # our RP sent; the requestor closes (AR-3)
                    steps.append(f"the connection still open {self.wait:g} s after "
                                 f"our A-RELEASE-RP")
                    return
                transcript.problem = (f"no A-RELEASE-RP within {self.wait:g} s of our "
                                      f"A-RELEASE-RQ")
                steps.append(transcript.problem)
                return
            if pdu is None:
                transcript.closed_by_peer = True
                steps.append("the peer closed the connection")
                if not transcript.answered:
                    transcript.problem = "the connection closed without an A-RELEASE-RP"
                return
            if isinstance(pdu, AAbort):
                transcript.aborted = describe(pdu)
                transcript.problem = describe(pdu)
                steps.append(describe(pdu))
                return
            if isinstance(pdu, AReleaseRQ):
                transcript.collision = True
                steps.append("its A-RELEASE-RQ: a collision (Sta10, we wait for its "
                             "A-RELEASE-RP)")
            elif isinstance(pdu, AReleaseRP):
                transcript.answered = True
                if transcript.collision:
                    await stream.send(encode_pdu(AReleaseRP()))
                    steps.append("its A-RELEASE-RP (Sta12), answered with ours")
                    continue  # the requestor closes now (Sta11 + Evt13, AR-3)
                steps.append("its A-RELEASE-RP; we close (AR-3)")
                return
            elif isinstance(pdu, PDataTF):
                steps.append("a P-DATA-TF (it had more to send)")
            else:
                transcript.problem = f"{describe(pdu)} after our A-RELEASE-RQ"
                steps.append(transcript.problem)
                return


__all__ = ["NO_LISTEN", "ReleasingStorageSCP", "Transcript", "listen_address", "serving"]
