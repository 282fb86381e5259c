"""A requestor that speaks PDUs itself, so that a check sees exactly what the peer sent.

dicomnet's own association driver is lenient where reading is safe and refuses what it
cannot use; a check needs the opposite: the A-ASSOCIATE-AC as it came, every P-DATA-TF
with its length, a Message ID Being Responded To that does not match, and the freedom to
send what a well-behaved requestor never would (an unknown PDU type, a bad item, a PDU
over the peer's maximum). The probe reads without a length limit of its own, so a PDU
longer than we announced is measured rather than refused.
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Mapping, Sequence
from types import TracebackType

import anyio
from anyio.abc import ByteStream
from pydicom import Dataset

from dicomnet.acse import build_request
from dicomnet.check.lengths import odd_lengths
from dicomnet.check.model import RuleBrokenError, Target
from dicomnet.dimse import (
    CEchoRQ,
    CEchoRSP,
    DIMSEMessage,
    Reassembler,
    decode_dataset,
    encode_command,
    encode_dataset,
    fragment_message,
)
from dicomnet.dimse.reassembly import CommandReceived, DatasetFragment
from dicomnet.pdu import (
    PDU,
    AAbort,
    AAssociateAC,
    AAssociateRJ,
    AAssociateRQ,
    AReleaseRP,
    AReleaseRQ,
    PDataTF,
    PDUFramer,
    UserIdentityRQSubItem,
    describe_abort,
    describe_reject,
    encode_pdu,
)
from dicomnet.uids import DEFAULT_TRANSFER_SYNTAXES, VERIFICATION

#: PS3.8 9.3.5: each PDV item adds a 4-byte length, a context ID and a control header.
_PDV_ITEM_OVERHEAD = 6


class PeerEndedError(Exception):
    """The peer ended the association (``pdu`` is its A-ABORT or A-RELEASE-RP, None
    when it closed the connection) while the probe waited for something else."""

    def __init__(self, pdu: PDU | None) -> None:
        self.pdu = pdu
        super().__init__(describe(pdu))


def describe(pdu: PDU | None) -> str:
    if pdu is None:
        return "the peer closed the connection"
    if isinstance(pdu, AAbort):
        return f"A-ABORT ({describe_abort(pdu.source, pdu.reason)})"
    if isinstance(pdu, AAssociateRJ):
        return f"A-ASSOCIATE-RJ ({describe_reject(pdu.result, pdu.source, pdu.reason)})"
    return _NAMES.get(type(pdu), type(pdu).__name__)


_NAMES = {AAssociateAC: "A-ASSOCIATE-AC", AReleaseRQ: "A-RELEASE-RQ",
          AReleaseRP: "A-RELEASE-RP", PDataTF: "P-DATA-TF"}


def pdata_length(pdu: PDataTF) -> int:
    """The PDU-length field of ``pdu`` as it was on the wire (PS3.8 9.3.5)."""
    return sum(_PDV_ITEM_OVERHEAD + len(pdv.data) for pdv in pdu.pdvs)


def request(target: Target, contexts: Sequence[tuple[str, Sequence[str]]], *,
            max_pdu: int = 1 << 16, roles: Mapping[str, tuple[bool, bool]] | None = None,
            async_window: tuple[int, int] | None = None,
            identity: UserIdentityRQSubItem | None = None) -> AAssociateRQ:
    """An A-ASSOCIATE-RQ from us to the target; with the user's identity when one was
    given (a peer that demands one would refuse every check's association without)."""
    return build_request(calling_ae_title=target.calling_ae,
                         called_ae_title=target.called_ae, contexts=contexts,
                         max_pdu_length=max_pdu, roles=roles, async_window=async_window,
                         user_identity=identity or target.identity)


class Probe:
    """One connection to the peer, driven PDU by PDU. ``pdata_lengths`` lists the
    PDU-length of every P-DATA-TF received."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.stream: ByteStream | None = None
        self.framer = PDUFramer(max_pdata_length=0, max_other_length=1 << 24)
        self.pdata_lengths: list[int] = []
        self.accept: AAssociateAC | None = None
        self.peer_max_pdu = 0
        #: the odd value lengths seen in the data sets received (PS3.5 7.1.1)
        self.odd_lengths: list[str] = []
        self._reassembler: Reassembler | None = None
        self._syntaxes: dict[int, str] = {}
        self._events: deque[CommandReceived | DatasetFragment] = deque()
        #: the presentation context of the last message received (a C-STORE sub-operation
        #: is answered on the context it came on, PS3.7 9.1.1)
        self.last_context_id = 0

    async def __aenter__(self) -> Probe:
        target = self.target
        with anyio.fail_after(target.timeouts.connect or 30):
            if target.ssl is None:
                self.stream = await anyio.connect_tcp(target.host, target.port)
            else:
                self.stream = await anyio.connect_tcp(target.host, target.port,
                                                      ssl_context=target.ssl,
                                                      tls_hostname=target.host)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        if self.stream is not None:
            await anyio.aclose_forcefully(self.stream)

    @property
    def wait(self) -> float:
        return self.target.timeouts.dimse or 30.0

    async def send(self, data: bytes | PDU) -> None:
        assert self.stream is not None
        if not isinstance(data, bytes | bytearray):
            data = encode_pdu(data)
        await self.stream.send(bytes(data))

    async def receive_pdu(self, within: float | None = None) -> PDU | None:
        """The next PDU, None when the peer closed the connection; TimeoutError when
        nothing whole came in time; PDUError for bytes that are no PDU."""
        assert self.stream is not None
        with anyio.fail_after(within or self.wait):
            while True:
                pdu = self.framer.next_pdu()
                if pdu is not None:
                    if isinstance(pdu, PDataTF):
                        self.pdata_lengths.append(pdata_length(pdu))
                    return pdu
                try:
                    data = await self.stream.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
                    return None
                self.framer.feed(data)

    async def associate(self, rq: AAssociateRQ) -> PDU | None:
        """Send ``rq``; the answer (A-ASSOCIATE-AC/RJ, A-ABORT, or None: closed)."""
        await self.send(rq)
        answer = await self.receive_pdu(self.target.timeouts.acse or 30.0)
        if isinstance(answer, AAssociateAC):
            self.accept = answer
            self.peer_max_pdu = answer.user_information.maximum_length or 0
            accepted = {pc.context_id: pc.transfer_syntax
                        for pc in answer.presentation_contexts if pc.result == 0}
            self._syntaxes = accepted
            self._reassembler = Reassembler(accepted)
        return answer

    async def open_context(self, rq: AAssociateRQ, sop_class: str, what: str) -> int:
        """Associate with ``rq``; the ID of the context the peer accepted for
        ``sop_class``. RuleBrokenError (the check fails) when the peer did not accept
        the association or that context: ``what`` names the association's purpose."""
        answer = await self.associate(rq)
        context_id = self.context_for(rq, sop_class)
        if not isinstance(answer, AAssociateAC) or context_id is None:
            raise RuleBrokenError(f"a {what} association was answered with "
                                  f"{describe(answer)}")
        return context_id

    def context_for(self, rq: AAssociateRQ, abstract_syntax: str) -> int | None:
        """The ID of an accepted context proposed for ``abstract_syntax``."""
        for pc in rq.presentation_contexts:
            if pc.abstract_syntax == abstract_syntax and pc.context_id in self._syntaxes:
                return pc.context_id
        return None

    async def send_message(self, context_id: int, message: DIMSEMessage,
                           dataset: Dataset | None = None, *,
                           pdu_length: int | None = None) -> None:
        """Send ``message`` in P-DATA-TF of the peer's maximum length, or of
        ``pdu_length`` (no longer than the peer's maximum: the caller's business)."""
        data = None if dataset is None \
            else encode_dataset(dataset, self._syntaxes[context_id])
        for pdu in fragment_message(context_id, encode_command(message), data,
                                    pdu_length or self.peer_max_pdu):
            await self.send(pdu)

    async def receive_message(self, within: float | None = None
                              ) -> tuple[DIMSEMessage, Dataset | None]:
        """The next whole DIMSE message (and its data set); PeerEndedError when the
        peer aborted, released or closed instead. One P-DATA-TF may hold several
        messages (PS3.8 9.3.5): those after the first wait in ``_events``."""
        assert self._reassembler is not None
        message: DIMSEMessage | None = None
        context_id = 0
        parts: list[bytes] = []
        while True:
            if not self._events:
                pdu = await self.receive_pdu(within)
                if not isinstance(pdu, PDataTF):
                    raise PeerEndedError(pdu)
                self._events.extend(self._reassembler.feed(pdu))
                continue
            event = self._events.popleft()
            if isinstance(event, CommandReceived):
                message, context_id = event.message, event.context_id
                self.last_context_id = context_id
                if not message.has_dataset:
                    return message, None
            else:
                parts.append(bytes(event.data))
                if event.is_last and message is not None:
                    data, syntax = b"".join(parts), self._syntaxes[context_id]
                    self.odd_lengths += odd_lengths(data, syntax)
                    return message, decode_dataset(data, syntax)

    async def release(self) -> PDU | None:
        """A-RELEASE-RQ; the peer's answer (A-RELEASE-RP, else what came instead)."""
        await self.send(AReleaseRQ())
        while True:
            pdu = await self.receive_pdu(self.target.timeouts.acse or 30.0)
            if not isinstance(pdu, PDataTF):
                return pdu


async def echo_on_fresh_association(target: Target) -> str | None:
    """None when a new association's C-ECHO is answered; else what went wrong (a check's
    proof that the peer is still serving after what went before)."""
    rq = request(target, [(VERIFICATION, DEFAULT_TRANSFER_SYNTAXES)])
    try:
        async with Probe(target) as probe:
            answer = await probe.associate(rq)
            if not isinstance(answer, AAssociateAC):
                return f"a new association was answered with {describe(answer)}"
            context_id = probe.context_for(rq, VERIFICATION)
            if context_id is None:
                return "a new association did not accept Verification"
            await probe.send_message(context_id, CEchoRQ(
                message_id=1, affected_sop_class_uid=VERIFICATION))
            response, _ = await probe.receive_message()
            # Any C-ECHO-RSP shows the peer serving; its status is verification.echo's
            # business.
            if not isinstance(response, CEchoRSP):
                return f"the C-ECHO on a new association got {type(response).__name__}"
            await probe.release()
    except (OSError, TimeoutError, PeerEndedError) as exc:
        return f"a new association failed: {str(exc) or type(exc).__name__}"
    return None


def oversized_pdata_start(context_id: int, length: int) -> bytes:
    """The first bytes of a P-DATA-TF whose PDU-length field says ``length``: the
    header and the start of one command PDV, never the rest. A peer that holds PDUs
    to its maximum refuses it from the header; one that reads on waits for bytes that
    never come, and is seen not to refuse (whatever the contents would have been, they
    cannot be what it objects to)."""
    return struct.pack(">BBIIBB", 0x04, 0, length, length - 4, context_id, 0x03) \
        + bytes(64)


__all__ = [
    "AReleaseRP",
    "PeerEndedError",
    "Probe",
    "describe",
    "echo_on_fresh_association",
    "oversized_pdata_start",
    "pdata_length",
    "request",
]
