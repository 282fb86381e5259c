"""A raw-bytes DICOM peer on a plain blocking socket, for tests that drive a server from
synchronous code (a hypothesis state machine, a test of a server subprocess).

Like dicomnet.testing.RawPeer it builds PDUs with dicomnet's codec and sends whatever the test
says; every wait is bounded by a timeout.
"""

from __future__ import annotations

import socket
import struct
import time

from dicomnet.acse import build_request
from dicomnet.dimse import CEchoRQ, CStoreRQ, decode_command, encode_command, pdata_pdu
from dicomnet.dimse.messages import DIMSEMessage
from dicomnet.pdu import PDU, PDataTF, PDUFramer, encode_pdu
from dicomnet.uids import VERIFICATION

IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"


class PeerClosedError(Exception):
    """The server closed (or reset) the connection."""


class BlockingPeer:
    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 5.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.framer = PDUFramer(max_pdata_length=1 << 24)
        self.closed_by_server = False

    def send(self, data: bytes | PDU) -> None:
        """Send bytes; raises PeerClosedError if the server has already closed."""
        if not isinstance(data, bytes | bytearray):
            data = encode_pdu(data)
        try:
            self.sock.sendall(bytes(data))
        except OSError as exc:
            raise PeerClosedError(str(exc)) from exc

    def receive_pdu(self, timeout: float = 5.0) -> PDU | None:
        """The next PDU, or None when the server closed the connection. Raises
        TimeoutError when neither happens within ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            pdu = self.framer.next_pdu()
            if pdu is not None:
                return pdu
            if self.closed_by_server:
                return None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no PDU and no close within {timeout} s")
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(1 << 16)
            except TimeoutError:
                raise TimeoutError(f"no PDU and no close within {timeout} s") from None
            except OSError:  # reset
                data = b""
            if not data:
                self.closed_by_server = True
                continue
            self.framer.feed(data)

    def nothing_within(self, seconds: float) -> bool:
        """True if no PDU arrives (and the connection stays open) for ``seconds``."""
        try:
            pdu = self.receive_pdu(seconds)
        except TimeoutError:
            return True
        if pdu is not None:
            raise AssertionError(f"unexpected {type(pdu).__name__}")
        return False

    def wait_closed(self, timeout: float = 5.0) -> list[PDU]:
        """Read until the server closes the connection; return what came before."""
        received: list[PDU] = []
        while (pdu := self.receive_pdu(timeout)) is not None:
            received.append(pdu)
        return received

    def close(self, reset: bool = False) -> None:
        if reset:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def __enter__(self) -> BlockingPeer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def request_bytes(called: str = "SCP", calling: str = "RAW", *,
                  storage: bool = True, max_pdu: int = 16384) -> bytes:
    """An A-ASSOCIATE-RQ: Verification on context 1, CT storage on context 3."""
    contexts = [(VERIFICATION, [IMPLICIT_LE])]
    if storage:
        contexts.append((CT_STORAGE, [EXPLICIT_LE]))
    return encode_pdu(build_request(calling_ae_title=calling, called_ae_title=called,
                         contexts=contexts, max_pdu_length=max_pdu))


def echo_bytes(message_id: int, context_id: int = 1) -> bytes:
    return pdata_pdu(context_id, True, True, encode_command(
        CEchoRQ(message_id=message_id, affected_sop_class_uid=VERIFICATION)))


def store_command_bytes(message_id: int, sop_instance_uid: str, context_id: int = 3) -> bytes:
    return pdata_pdu(context_id, True, True, encode_command(CStoreRQ(
        message_id=message_id, affected_sop_class_uid=CT_STORAGE,
        affected_sop_instance_uid=sop_instance_uid)))


def response_of(pdu: PDU | None) -> DIMSEMessage:
    """The DIMSE command in a single-PDV, single-fragment P-DATA-TF response."""
    assert isinstance(pdu, PDataTF), f"expected P-DATA-TF, got {pdu!r}"
    assert len(pdu.pdvs) == 1 and pdu.pdvs[0].is_command and pdu.pdvs[0].is_last, pdu
    return decode_command(pdu.pdvs[0].data)
