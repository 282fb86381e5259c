"""Two :class:`~dicomnet.connection.DicomConnection` objects wired to each other in memory.

The connection is sans-IO, so its rules are tested the way h11's are: a requestor and
an acceptor, the bytes one queues handed to the other's ``receive_data``, the events
collected. No socket, no task, no clock: a test says exactly which bytes arrive when,
which is how the races (a release collision, a request pipelined behind the
A-ASSOCIATE-RQ, a C-CANCEL crossing a final response) are set up deterministically.

DIMSE messages are not queued by the connection (the driver writes them, a data set
may stream from a file); :meth:`Pair.request` and :meth:`Pair.respond` do what the
driver does around a write (``start_request``/``message_sent``) and return the bytes
:class:`~dicomnet.outgoing.OutgoingMessage` makes, for the test to deliver when it
wants.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from dicomnet.acse import (
    AcceptedContext,
    AcceptorPolicy,
    Negotiated,
    build_request,
    interpret_accept,
    negotiate,
)
from dicomnet.config import MAX_IDENTIFIER_SIZE
from dicomnet.connection import DicomConnection, SinkFor
from dicomnet.connection_events import ConnectionEvent, Established, RequestArrived
from dicomnet.dataset_io import DatasetSink
from dicomnet.dimse import DIMSEMessage, Status, response_to
from dicomnet.outgoing import OutgoingMessage
from dicomnet.pdu import PDU, AAssociateAC, PDUFramer

VERIFICATION = "1.2.840.10008.1.1"
FIND = "1.2.840.10008.5.1.4.1.2.2.1"  # Study Root Query/Retrieve - FIND
MOVE = "1.2.840.10008.5.1.4.1.2.2.2"
GET = "1.2.840.10008.5.1.4.1.2.2.3"
CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
SYNTAXES = (VERIFICATION, FIND, MOVE, GET, CT_STORAGE)

#: A small identifier in Explicit VR Little Endian: (0008,0052) CS "STUDY ".
IDENTIFIER = b"\x08\x00\x52\x00CS\x06\x00STUDY "
#: A whole data set for C-STORE: (0008,0016) UI, (0008,0018) UI, (0010,0020) LO,
#: each element's header followed by exactly its value (PS3.5 §7.1.2).
STORE_DATASET = (b"\x08\x00\x16\x00UI\x1a\x00" + CT_STORAGE.encode() + b"\x00" * 1
                 + b"\x08\x00\x18\x00UI\x08\x001.2.3.4\x00"
                 + b"\x10\x00\x20\x00LO\x40\x00" + b"X" * 64)
PDU_LENGTH = 16384


class RecordingSink:
    """A :class:`~dicomnet.dataset_io.DatasetSink` that remembers what was done to it."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.closed = False
        self.discarded = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.chunks.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def discard(self) -> None:
        self.discarded = True

    @property
    def data(self) -> bytes:
        return b"".join(self.chunks)


@dataclass
class Sinks:
    """A sink factory for the acceptor (``sink_for``) that hands out recording sinks."""

    made: list[RecordingSink] = field(default_factory=list)

    def __call__(self, context: AcceptedContext, message: DIMSEMessage) -> DatasetSink:
        sink = RecordingSink()
        self.made.append(sink)
        return sink


class Pair:
    """A requestor and an acceptor; the requestor proposes every syntax of
    :data:`SYNTAXES` (context IDs 1, 3, 5...) and the acceptor accepts them all.

    ``invoked`` and ``performed`` are the requestor's window proposal (PS3.7 D.3.3.3),
    which the acceptor's policy matches: the requestor may have ``invoked`` requests
    outstanding on the acceptor (0: unlimited). ``sink_for`` is the acceptor's sink
    factory, ``requestor_sink_for`` the requestor's; ``max_identifier_size`` holds for
    both sides, ``max_dataset_size`` for the acceptor.
    """

    def __init__(self, *, invoked: int = 1, performed: int = 1,
                 max_dataset_size: int | None = None,
                 max_identifier_size: int | None = MAX_IDENTIFIER_SIZE,
                 sink_for: SinkFor | None = None, requestor_sink_for: SinkFor | None = None,
                 pdu_length: int = PDU_LENGTH) -> None:
        self.requestor = DicomConnection(max_pdu_length=pdu_length, interpret=interpret_accept,
                                         max_identifier_size=max_identifier_size,
                                         sink_for=requestor_sink_for)
        self.acceptor = DicomConnection(max_pdu_length=pdu_length,
                                        max_dataset_size=max_dataset_size,
                                        max_identifier_size=max_identifier_size,
                                        sink_for=sink_for)
        self.rq = build_request(calling_ae_title="SCU", called_ae_title="SCP",
                                contexts=[(uid, [EXPLICIT_LE]) for uid in SYNTAXES],
                                max_pdu_length=pdu_length,
                                async_window=(invoked, performed))
        self.policy = AcceptorPolicy(ae_title="SCP",
                                     contexts={uid: [EXPLICIT_LE] for uid in SYNTAXES},
                                     max_pdu_length=pdu_length,
                                     max_operations_invoked=performed,
                                     max_operations_performed=invoked)

    @classmethod
    def established(cls, **options: object) -> Pair:
        """A pair whose association is accepted, both sides in Sta6."""
        pair = cls(**options)  # type: ignore[arg-type]
        pair.open()
        events = pair.accept()
        assert [type(e) for e in events] == [Established], events
        assert pair.requestor.established and pair.acceptor.established
        return pair

    # -- association --------------------------------------------------------------------

    def open(self) -> list[ConnectionEvent]:
        """Requestor AE-1/AE-2, acceptor AE-5; the A-ASSOCIATE-RQ delivered: the
        acceptor's events."""
        self.requestor.associate(self.rq)
        self.requestor.transport_connected()
        self.acceptor.transport_accepted()
        return self.to_acceptor()

    def answer(self) -> tuple[AAssociateAC, Negotiated]:
        """The acceptor's answer to :attr:`rq` under :attr:`policy`."""
        return negotiate(self.rq, self.policy)

    def accept(self) -> list[ConnectionEvent]:
        """The acceptor accepts (AE-7); the A-ASSOCIATE-AC delivered: the requestor's
        events."""
        accept, negotiated = self.answer()
        self.acceptor.accept(accept, negotiated)
        return self.to_requestor()

    # -- the wire -------------------------------------------------------------------------

    def to_acceptor(self, extra: bytes = b"") -> list[ConnectionEvent]:
        """What the requestor queued (then ``extra``), given to the acceptor."""
        return self.acceptor.receive_data(self.requestor.data_to_send() + extra)

    def to_requestor(self, extra: bytes = b"") -> list[ConnectionEvent]:
        return self.requestor.receive_data(self.acceptor.data_to_send() + extra)

    # -- DIMSE ----------------------------------------------------------------------------

    def context(self, abstract_syntax: str) -> AcceptedContext:
        negotiated = self.requestor.negotiated or self.acceptor.negotiated
        assert negotiated is not None
        return negotiated.contexts_for(abstract_syntax)[0]

    def encode(self, message: DIMSEMessage, dataset: bytes | None = None, *,
               context: AcceptedContext | None = None, capacity: int = PDU_LENGTH) -> bytes:
        """``message`` (and its data set) as P-DATA-TF PDUs, on the context of its
        SOP class unless given."""
        if context is None:
            context = self.context(str(getattr(message, "affected_sop_class_uid", "")))
        return b"".join(OutgoingMessage(context, message, dataset, capacity).writes())

    def request(self, message: DIMSEMessage, dataset: bytes | None = None, *,
                capacity: int = PDU_LENGTH) -> tuple[DIMSEMessage, bytes]:
        """The requestor sends ``message``: its Message ID and window place taken, the
        bytes to deliver."""
        started = self.requestor.start_request(message)
        self.requestor.message_sent()
        return started, self.encode(started, dataset, capacity=capacity)

    def respond(self, request: DIMSEMessage, status: int = Status.SUCCESS,
                dataset: bytes | None = None, *,
                context: AcceptedContext | None = None) -> bytes:
        """The acceptor answers ``request`` with ``status``."""
        self.acceptor.message_sent()
        if context is None:
            context = self.context(str(getattr(request, "affected_sop_class_uid", "")))
        return self.encode(response_to(request, status), dataset, context=context)


def drive(conn: DicomConnection, data: bytes) -> list[ConnectionEvent]:
    """``receive_data`` as the driver's read loop calls it: while parsing is paused
    for nothing but a decision already taken, go on with what waits in the framer."""
    events = conn.receive_data(data)
    while conn.paused and not conn.deciding and not conn.holding and not conn.wants_close:
        events += conn.receive_data(b"")
    return events


def arrived(events: Sequence[ConnectionEvent]) -> list[RequestArrived]:
    return [e for e in events if isinstance(e, RequestArrived)]


def message_id(message: DIMSEMessage) -> int:
    return int(getattr(message, "message_id", 0))


def pdus(data: bytes) -> list[PDU]:
    """The whole PDUs in ``data`` (what a peer would read)."""
    framer = PDUFramer(max_pdata_length=1 << 20)
    framer.feed(data)
    found = []
    while (pdu := framer.next_pdu()) is not None:
        found.append(pdu)
    assert framer.buffered == 0, "a PDU was cut short"
    return found
