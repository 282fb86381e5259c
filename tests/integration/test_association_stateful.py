"""Random sequences of PDUs and DIMSE operations against a live server (issue:
robustness, "hypothesis stateful tests drive the state machine and the association with
random event sequences").

tests/ul drives the sans-IO upper layer machine alone. Here a real :class:`Server`
(with the archive installed) runs on 127.0.0.1 in a blocking portal thread, and

- a hypothesis ``RuleBasedStateMachine`` plays a raw-socket peer: valid and invalid
  A-ASSOCIATE-RQ, P-DATA with C-ECHO and fragmented C-STORE (valid, on a context never
  proposed, a data set before its command, a command inside a data set, reserved
  control-header bits), A-RELEASE-RQ/RP, A-ABORT, unknown PDU types, truncated PDUs and
  closed or reset connections, in any order. The model tracks where the server's state
  machine must be (Sta2, Sta6, Sta13) and every answer is checked against PS3.8 Table
  9-10: A-ASSOCIATE-AC/RJ (AE-7/AE-8), the DIMSE response (DT-2), A-RELEASE-RP (AR-4),
  A-ABORT with the right source (AA-1 service-user in Sta2, AA-8/AA-7 service-provider
  in Sta6/Sta13), silence (AA-6, PDUs ignored in Sta13) and closing (AA-2/AA-3);
- a second test drives dicomnet's own client :class:`Association` with random
  interleavings of echo, store, a store cancelled half way, release and abort, some of
  them concurrent: each operation either succeeds or raises a typed ``DicomNetError``,
  and every store that succeeded is filed and indexed.

Every wait is bounded (a hang fails the test). After every sequence a fresh association
still gets its C-ECHO answered, no ``.part`` file is left, and nothing was logged with
a traceback (``log.exception``) or as a failed connection by ``dicomnet.server``.
"""

from __future__ import annotations

import copy
import logging
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import anyio
import pydicom
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from archive_files import partial_files
from blockingpeer import (
    BlockingPeer,
    PeerClosedError,
    echo_bytes,
    request_bytes,
    response_of,
    store_command_bytes,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

import dicomnet
from dicomnet.archive import Archive, install
from dicomnet.config import Timeouts
from dicomnet.dimse import Status, pdata_pdu
from dicomnet.errors import DicomNetError
from dicomnet.part10 import dataset_bytes
from dicomnet.pdu import (
    PDV,
    AAbort,
    AAssociateAC,
    AAssociateRJ,
    AReleaseRP,
    AReleaseRQ,
    PDataTF,
    encode_pdu,
)
from dicomnet.server import Server
from dicomnet.services.storage import contexts_for
from dicomnet.uids import VERIFICATION

CT = get_testdata_file("CT_small.dcm")
CT_HEADER, CT_DATA = dataset_bytes(CT)
WAIT = 5.0  # the longest any single answer may take


class _Records(logging.Handler):
    """Keeps what the library logged, to find crashes the server swallowed."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def crashes(self) -> list[str]:
        return [f"{r.name}: {r.getMessage()}" for r in self.records
                if r.exc_info is not None
                or (r.name == "dicomnet.server" and "failed" in r.getMessage())]


@dataclass
class Live:
    portal: BlockingPortal
    server: Server
    archive: Archive
    port: int
    records: _Records

    def settle(self) -> None:
        """Wait (bounded) until the server has finished every association."""
        deadline = time.monotonic() + WAIT
        while self.portal.call(lambda: len(self.server.associations)):
            assert time.monotonic() < deadline, "an association never ended"
            time.sleep(0.005)

    def check_healthy(self) -> None:
        """The invariants that must hold between sequences."""
        self.settle()
        leftovers = [p.name for p in partial_files(self.archive)]
        assert not leftovers, f"partial files left: {leftovers}"
        with BlockingPeer(self.port) as peer:  # a fresh association still works
            peer.send(request_bytes())
            assert isinstance(peer.receive_pdu(WAIT), AAssociateAC)
            peer.send(echo_bytes(7))
            answer = response_of(peer.receive_pdu(WAIT))
            assert answer.status == Status.SUCCESS  # type: ignore[union-attr]
            peer.send(AReleaseRQ())
            assert isinstance(peer.receive_pdu(WAIT), AReleaseRP)
        crashes = self.records.crashes()
        assert not crashes, crashes


@pytest.fixture(scope="module", params=["asyncio", "trio"])
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[Live]:
    records = _Records()
    library = logging.getLogger("dicomnet")
    library.addHandler(records)
    level = library.level
    library.setLevel(logging.INFO)
    server = Server("SCP", max_operations=4, prefer_requestor_order=True,
                    timeouts=Timeouts(artim=5, network=5, acse=5))
    archive = Archive(tmp_path_factory.mktemp("archive"))
    install(server, archive)
    try:
        with start_blocking_portal(backend=request.param) as portal:
            future, port = portal.start_task(server.serve, "127.0.0.1", 0)
            yield Live(portal, server, archive, port, records)
            portal.call(server.shutdown, 2.0)
            future.result(timeout=10)
    finally:
        archive.close()
        library.removeHandler(records)
        library.setLevel(level)


# -- the raw peer state machine ---------------------------------------------------------

HITS: Counter[str] = Counter()
UNKNOWN_PDU = b"\x09\x00\x00\x00\x00\x02\x00\x00"  # PDU type 09H does not exist
NONE, STA2, STA6, STA13 = "no connection", "Sta2", "Sta6", "Sta13"


class RawPeerMachine(RuleBasedStateMachine):
    """The model: ``state`` is where the server's upper layer must be for our
    connection (Sta2 awaiting A-ASSOCIATE-RQ, Sta6 established, Sta13 awaiting our close
    after A-ASSOCIATE-RJ or A-RELEASE-RP); ``store`` is how much of a C-STORE data set
    has been sent (None when no data set is expected)."""

    live: Live  # set by the test

    def __init__(self) -> None:
        super().__init__()
        self.peer: BlockingPeer | None = None
        self.state = NONE
        self.store: int | None = None
        self.message_id = 0

    # -- helpers --

    def _hit(self, kind: str = "") -> None:
        """Count the rule (and kind) that runs: the test checks that all were run."""
        name = sys._getframe(1).f_code.co_name
        HITS[f"{name}:{kind}" if kind else name] += 1

    def _peer(self) -> BlockingPeer:
        assert self.peer is not None
        return self.peer

    def _next_id(self) -> int:
        self.message_id = self.message_id % 65535 + 1
        return self.message_id

    def _gone(self) -> None:
        if self.peer is not None:
            self.peer.close()
        self.peer, self.state, self.store = None, NONE, None

    def _send(self, data: bytes | Any) -> None:
        self._peer().send(data)

    def _expect_abort(self, source: int, reason: int | None = None) -> None:
        """The server answers with one A-ABORT and closes (it aborted: AA-1/7/8; it
        does not wait for ARTIM to close, PS3.8 §9.2.3)."""
        received = self._peer().wait_closed(WAIT)
        assert len(received) == 1 and isinstance(received[0], AAbort), received
        assert received[0].source == source, received[0]
        if reason is not None:
            assert received[0].reason == reason, received[0]
        self._gone()

    def _expect_closed_silently(self) -> None:
        assert self._peer().wait_closed(WAIT) == []
        self._gone()

    # -- connection --

    @precondition(lambda self: self.state == NONE)
    @rule()
    def connect(self) -> None:
        self._hit()
        self.peer = BlockingPeer(self.live.port, timeout=WAIT)
        self.state = STA2

    @precondition(lambda self: self.state != NONE)
    @rule(how=st.sampled_from(["close", "reset", "truncate", "abort-0", "abort-2"]),
          data=st.sampled_from([request_bytes(), echo_bytes(1), encode_pdu(AReleaseRQ()),
                                store_command_bytes(1, "1.2.3")]),
          cut=st.floats(0.05, 0.95))
    def hang_up(self, how: str, data: bytes, cut: float) -> None:
        """The peer goes away in any state. A close or reset is Evt17 (AA-4/AA-5/AR-5:
        the server just ends the association); half a PDU then a close, likewise. An
        A-ABORT is Evt16: AA-2 in Sta2/Sta13, AA-3 in Sta6; the server closes and sends
        nothing back."""
        self._hit(how)
        if how.startswith("abort"):
            try:
                self._send(AAbort(source=int(how[-1]), reason=0))
            except PeerClosedError:
                self._gone()
                return
            self._expect_closed_silently()
            return
        if how == "truncate":
            self._send(data[:max(1, int(len(data) * cut))])
        self._peer().close(reset=how == "reset")
        self.peer, self.state, self.store = None, NONE, None

    # -- Sta2 --

    @precondition(lambda self: self.state == STA2)
    @rule(max_pdu=st.sampled_from([0, 4096, 16384, 1 << 20]))
    def associate(self, max_pdu: int) -> None:
        """Evt6 in Sta2, acceptable: AE-6/AE-7, A-ASSOCIATE-AC, Sta6."""
        self._hit()
        self._send(request_bytes(max_pdu=max_pdu))
        answer = self._peer().receive_pdu(WAIT)
        assert isinstance(answer, AAssociateAC), answer
        results = {c.context_id: c.result for c in answer.presentation_contexts}
        assert results == {1: 0, 3: 0}, results
        self.state = STA6

    @precondition(lambda self: self.state == STA2)
    @rule(kind=st.sampled_from(["called", "version", "p-data", "release-rq", "release-rp",
                                "unknown-type", "bad-rq-body"]))
    def misbehave_in_sta2(self, kind: str) -> None:
        """An A-ASSOCIATE-RQ we must refuse: AE-8, A-ASSOCIATE-RJ (PS3.8 Table 9-21),
        then Sta13. Any other PDU (Evt10/12/13/19 in Sta2): AA-1, an A-ABORT with
        service-user source and reason 0 (PS3.8 §9.3.8), and the server closes."""
        self._hit(kind)
        if kind in ("called", "version"):
            if kind == "called":
                self._send(request_bytes(called="NOT-THE-SCP"))
                expected = (1, 1, 7)  # permanent, service-user, called AE not recognized
            else:
                raw = bytearray(request_bytes())
                raw[6:8] = b"\x00\x02"  # protocol version without bit 0 (PS3.8 §9.3.2)
                self._send(bytes(raw))
                expected = (1, 2, 2)  # permanent, provider (presentation), version
            answer = self._peer().receive_pdu(WAIT)
            assert isinstance(answer, AAssociateRJ), answer
            assert (answer.result, answer.source, answer.reason) == expected
            self.state = STA13
            return
        self._send({"p-data": echo_bytes(1), "release-rq": encode_pdu(AReleaseRQ()),
                    "release-rp": encode_pdu(AReleaseRP()), "unknown-type": UNKNOWN_PDU,
                    "bad-rq-body": b"\x01\x00\x00\x00\x00\x10" + b"\xff" * 16}[kind])
        self._expect_abort(source=0, reason=0)

    # -- Sta6 --

    @precondition(lambda self: self.state == STA6 and self.store is None)
    @rule()
    def echo(self) -> None:
        """Evt10 in Sta6, a C-ECHO-RQ: DT-2, and the C-ECHO-RSP comes back (PS3.7 9.1.5)."""
        self._hit()
        message_id = self._next_id()
        self._send(echo_bytes(message_id))
        answer = response_of(self._peer().receive_pdu(WAIT))
        assert answer.message_id_being_responded_to == message_id  # type: ignore[union-attr]
        assert answer.status == Status.SUCCESS  # type: ignore[union-attr]

    @precondition(lambda self: self.state == STA6 and self.store is None)
    @rule()
    def store_command(self) -> None:
        """A C-STORE-RQ command announcing a data set: no answer until the data set."""
        self._hit()
        self._send(store_command_bytes(self._next_id(), CT_HEADER.sop_instance_uid))
        self.store = 0

    @precondition(lambda self: self.state == STA6 and self.store is not None)
    @rule(size=st.integers(1, 24000), pdvs=st.integers(1, 3))
    def store_fragment(self, size: int, pdvs: int) -> None:
        """Data set fragments (several PDVs in one PDU sometimes, PS3.8 §9.3.5); after
        the last one the C-STORE-RSP must say success: the archive filed it."""
        self._hit()
        self._send_fragments(size, pdvs)

    @precondition(lambda self: self.state == STA6 and self.store is not None)
    @rule(pieces=st.integers(1, 8))
    def store_rest(self, pieces: int) -> None:
        """The rest of the data set in ``pieces`` PDUs."""
        self._hit()
        assert self.store is not None
        size = -(-(len(CT_DATA) - self.store) // pieces)
        while self.store is not None:
            self._send_fragments(size, 1)

    def _send_fragments(self, size: int, pdvs: int) -> None:
        assert self.store is not None
        items = []
        for _ in range(pdvs):
            chunk = CT_DATA[self.store:self.store + size]
            self.store += len(chunk)
            last = self.store >= len(CT_DATA)
            items.append(PDV(3, False, last, chunk))
            if last:
                break
        self._send(PDataTF(tuple(items)))
        if self.store >= len(CT_DATA):
            self.store = None
            answer = response_of(self._peer().receive_pdu(WAIT))
            assert answer.message_id_being_responded_to == self.message_id  # type: ignore[union-attr]
            assert answer.status == Status.SUCCESS, hex(answer.status)  # type: ignore[union-attr]

    @precondition(lambda self: self.state == STA6)
    @rule(kind=st.sampled_from(["context-5", "context-99", "context-255", "out-of-order",
                                "control-0x04", "control-0x80", "control-0xFF",
                                "associate-rq", "release-rp", "unknown-type"]))
    def protocol_error_in_sta6(self, kind: str) -> None:
        """What the standard says the provider must abort (PS3.8 Table 9-10, Sta6):

        - a PDV on a context never proposed (PS3.8 §9.3.5 allows only accepted ones), a
          data set fragment that no command announced or a command in the middle of a
          data set (PS3.7 §6.3.1): A-ABORT, provider, unexpected PDU parameter (5);
        - reserved bits 2-7 of the message control header set (PS3.8 Annex E.2): an
          invalid PDU, Evt19 -> AA-8, invalid PDU parameter value (6);
        - A-ASSOCIATE-RQ or A-RELEASE-RP (Evt6/Evt13): AA-8, unexpected PDU (2);
        - an unknown PDU type (Evt19): AA-8, unrecognized PDU (1).
        """
        self._hit(kind)
        reason = 5
        if kind.startswith("context-"):
            self._send(echo_bytes(self._next_id(), context_id=int(kind[8:])))
        elif kind == "out-of-order":
            if self.store is None:
                self._send(pdata_pdu(3, False, False, CT_DATA[:100]))
            else:
                self._send(echo_bytes(self._next_id()))
        elif kind.startswith("control-"):
            pdu = bytearray(echo_bytes(self._next_id()))
            pdu[11] = int(kind[8:], 16)
            self._send(bytes(pdu))
            reason = 6
        elif kind == "unknown-type":
            self._send(UNKNOWN_PDU)
            reason = 1
        else:
            self._send(request_bytes() if kind == "associate-rq" else encode_pdu(AReleaseRP()))
            reason = 2
        self._expect_abort(source=2, reason=reason)

    @precondition(lambda self: self.state == STA6)
    @rule()
    def release(self) -> None:
        """Evt12 in Sta6: AR-2 then AR-4, A-RELEASE-RP, Sta13 (also with a data set half
        sent: the server must answer, and keep nothing of it)."""
        self._hit()
        self._send(AReleaseRQ())
        assert isinstance(self._peer().receive_pdu(WAIT), AReleaseRP)
        self.state, self.store = STA13, None

    # -- Sta13 --

    @precondition(lambda self: self.state == STA13)
    @rule(kind=st.sampled_from(["p-data", "release-rq", "release-rp", "associate-rq",
                                "unknown-type"]))
    def after_the_end(self, kind: str) -> None:
        """Sta13 (after A-ASSOCIATE-RJ or A-RELEASE-RP, until we close): P-DATA and
        A-RELEASE-RQ/RP (Evt10/12/13) are ignored (AA-6) and the connection stays up;
        an A-ASSOCIATE-RQ or an unknown PDU (Evt6/Evt19) gets an A-ABORT (AA-7)."""
        self._hit(kind)
        pdu = {"p-data": echo_bytes(1), "release-rq": encode_pdu(AReleaseRQ()),
               "release-rp": encode_pdu(AReleaseRP()), "associate-rq": request_bytes(),
               "unknown-type": UNKNOWN_PDU}[kind]
        self._send(pdu)
        if kind in ("associate-rq", "unknown-type"):
            self._expect_abort(source=2)
        else:
            assert self._peer().nothing_within(0.02)

    @invariant()
    def server_is_running(self) -> None:
        assert not self.live.portal.call(self.live.server._stopped.is_set)

    def teardown(self) -> None:
        self._gone()
        self.live.check_healthy()


STEPS = {"asyncio": 25, "trio": 25}
EXAMPLES = {"asyncio": 150, "trio": 80}


def test_random_pdu_sequences_against_a_live_server(live: Live,
                                                    request: pytest.FixtureRequest) -> None:
    from hypothesis.stateful import run_state_machine_as_test

    backend = request.node.callspec.params["live"]
    RawPeerMachine.live = live
    HITS.clear()
    started = time.monotonic()
    associations = live.server.associations_served
    run_state_machine_as_test(RawPeerMachine, settings=settings(
        max_examples=EXAMPLES[backend], stateful_step_count=STEPS[backend], deadline=None,
        derandomize=True, suppress_health_check=list(HealthCheck), database=None))
    print(f"\n{backend}: {EXAMPLES[backend]} sequences, "
          f"{live.server.associations_served - associations} connections, "
          f"{time.monotonic() - started:.1f} s; rules run: {dict(HITS)}")
    rules = {name for name, value in vars(RawPeerMachine).items()
             if callable(value) and hasattr(value, "hypothesis_stateful_rule")}
    ran = {name.partition(":")[0] for name in HITS}
    assert rules - ran == set(), f"rules never run: {rules - ran}"


# -- the client Association driven at random ------------------------------------------

OPS = ["echo", "store", "cancelled-store", "release", "abort"]


@given(steps=st.lists(st.lists(st.sampled_from(OPS), min_size=1, max_size=3),
                      min_size=1, max_size=6),
       window=st.sampled_from([None, (4, 4)]))
@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_random_client_operations(live: Live, steps: list[list[str]],
                                  window: tuple[int, int] | None) -> None:
    """Each step runs its operations at once on one association. Before release or
    abort, echo and store succeed; after, or racing with them, an operation may only
    fail with a DicomNetError (typed, PS3.8 §7.2/§7.3 ended the association), never
    hang; and every store that returned success is on disk and in the index."""
    stored: list[str] = []
    outcomes: list[tuple[str, str]] = []

    async def run() -> None:
        template = pydicom.dcmread(CT)
        async with dicomnet.connect("127.0.0.1", live.port, called_ae="SCP",
                                    contexts=[VERIFICATION, *contexts_for([CT])],
                                    async_window=window,
                                    timeouts=Timeouts(acse=WAIT, dimse=WAIT,
                                                      network=WAIT)) as assoc:
            ended = False

            async def one(op: str) -> None:
                try:
                    if op == "echo":
                        assert await assoc.echo() == Status.SUCCESS
                    elif op in ("store", "cancelled-store"):
                        ds = copy.deepcopy(template)  # not .copy(): shared elements
                        ds.SOPInstanceUID = generate_uid()
                        if op == "store":
                            assert await assoc.store(ds) == Status.SUCCESS
                            stored.append(ds.SOPInstanceUID)
                        else:
                            with anyio.move_on_after(0.0005):
                                await assoc.store(ds)
                    elif op == "release":
                        await assoc.release()
                    else:
                        await assoc.abort()
                    outcomes.append((op, "ok"))
                except DicomNetError as exc:
                    outcomes.append((op, type(exc).__name__))
                    if not ended and not racing:
                        raise

            for step in steps:
                racing = any(op in ("release", "abort", "cancelled-store") for op in step) \
                    and len(step) > 1
                with anyio.fail_after(WAIT * 2):
                    async with anyio.create_task_group() as tg:
                        for op in step:
                            tg.start_soon(one, op)
                if any(op in ("release", "abort") for op in step) or assoc.is_closed:
                    ended = True
            if ended:
                assert assoc.is_closed

    live.portal.call(run)
    live.settle()
    for uid in stored:
        assert live.archive.index.instance_path(uid) is not None, uid
    live.check_healthy()
