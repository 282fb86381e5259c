"""A C-STORE sender that disappears at every point of a transfer leaves nothing behind.

The issue (robustness) asks that "a peer that aborts, resets the connection, or vanishes
mid-PDU, mid-message or mid-file leaves no partial file and no index row". PS3.8 §7.3
(A-ABORT) and §9.2 (Evt17, transport closed: AA-4 in Table 9-10) say the association
just ends; PS3.7 §9.1.1 makes a C-STORE whose data set never completed a message that
never was, so the archive must not keep any of it. test_storage.py already covers an
A-ABORT PDU sent at a PDU boundary half way through the data set; this file adds the
other ways and places:

- where: after the command only (mid-message: the .part file is open, no data yet),
  after a few data set PDUs (mid-file) and inside a data set PDU (mid-PDU: the framer
  holds half a PDU);
- how: a plain close (FIN), a connection reset (SO_LINGER 0, RST), an A-ABORT PDU, and
  a peer that vanishes without a word (the network timeout must end it).

Each case then checks that the archive is still usable: a whole store succeeds.
"""

from __future__ import annotations

import logging
import socket
import struct
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import anyio
import pytest
from anyio.abc import SocketAttribute
from archive_files import partial_files
from pydicom.data import get_testdata_file

import dicomnet
from dicomnet.acse import build_request
from dicomnet.archive import Archive, install
from dicomnet.config import Timeouts
from dicomnet.dimse import CStoreRQ, Status, decode_command, encode_command, pdata_pdu
from dicomnet.part10 import dataset_bytes
from dicomnet.pdu import AAbort, AAssociateAC, PDataTF, encode_pdu
from dicomnet.server import Server
from dicomnet.services.storage import contexts_for
from dicomnet.testing import RawPeer
from dicomnet.uids import EXPLICIT_VR_LITTLE_ENDIAN

pytestmark = pytest.mark.anyio
Serving = Callable[..., AbstractAsyncContextManager[int]]

CT = get_testdata_file("CT_small.dcm")
CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
FRAGMENT = 4096  # data set bytes per P-DATA-TF PDU the raw peer sends

CASES = [
    (where, how)
    for where in ("mid-message", "mid-file", "mid-pdu")
    for how in ("close", "reset", "abort", "vanish")
    # An A-ABORT inside a PDU would only be more bytes of that PDU; and an A-ABORT at a
    # PDU boundary mid-file is test_storage.py's test_peer_aborting_mid_store...
    if not (how == "abort" and where in ("mid-pdu", "mid-file"))
]


async def _hang_up(peer: RawPeer, how: str) -> None:
    assert peer.stream is not None
    if how == "abort":
        await peer.send(AAbort(source=0, reason=0))
        await anyio.aclose_forcefully(peer.stream)
    elif how == "reset":
        sock = peer.stream.extra(SocketAttribute.raw_socket)
        # SO_LINGER on with a zero timeout: close() sends RST instead of FIN.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await anyio.aclose_forcefully(peer.stream)
    elif how == "close":
        await anyio.aclose_forcefully(peer.stream)
    # "vanish": say nothing and keep the connection open, like a peer whose cable was
    # pulled; the server's network timeout must end the association.


@pytest.mark.parametrize(("where", "how"), CASES, ids=[f"{w}-{h}" for w, h in CASES])
async def test_sender_gone_leaves_no_file_and_no_row(
        serving: Serving, tmp_path: Path, caplog: pytest.LogCaptureFixture,
        where: str, how: str) -> None:
    server = Server("SCP", prefer_requestor_order=True, timeouts=Timeouts(network=0.5))
    archive = Archive(tmp_path / "archive")
    install(server, archive)
    header, data = dataset_bytes(CT)
    assert len(data) > 4 * FRAGMENT
    async with serving(server) as port:
        async with RawPeer("127.0.0.1", port) as peer:
            await peer.send(encode_pdu(build_request(
                calling_ae_title="RAW", called_ae_title="SCP",
                contexts=[(CT_STORAGE, [EXPLICIT_VR_LITTLE_ENDIAN])],
                max_pdu_length=16384)))
            assert isinstance(await peer.receive_pdu(), AAssociateAC)
            await peer.send(pdata_pdu(1, True, True, encode_command(CStoreRQ(
                message_id=1, affected_sop_class_uid=CT_STORAGE,
                affected_sop_instance_uid=header.sop_instance_uid))))
            if where in ("mid-file", "mid-pdu"):
                for start in range(0, 3 * FRAGMENT, FRAGMENT):
                    await peer.send(pdata_pdu(1, False, False,
                                              data[start:start + FRAGMENT]))
            if where == "mid-pdu":
                chunk = pdata_pdu(1, False, False, data[3 * FRAGMENT:4 * FRAGMENT])
                await peer.send(chunk[:len(chunk) // 2])
            # The server has opened the temporary file: the transfer really began.
            with anyio.fail_after(5):
                while not partial_files(archive):
                    await anyio.sleep(0.01)
            await anyio.sleep(0.05)  # let the server read what was sent
            await _hang_up(peer, how)
            with anyio.fail_after(5):
                while server.associations:
                    await anyio.sleep(0.01)
        assert not partial_files(archive), "a partial .part file was left"
        assert not list(archive.folder.rglob("*.dcm"))
        assert archive.index.count("instance") == 0
        # The archive is as good as before: a whole instance is filed and indexed.
        async with dicomnet.connect("127.0.0.1", port, called_ae="SCP",
                                    contexts=contexts_for([CT])) as assoc:
            assert await assoc.store(CT) == Status.SUCCESS
    assert archive.index.count("instance") == 1
    assert len(list(archive.folder.rglob("*.dcm"))) == 1
    archive.close()
    crashes = [r for r in caplog.records if r.exc_info is not None]
    assert not crashes, crashes[0].getMessage()
    assert not [r for r in caplog.records
                if r.name == "dicomnet.server" and r.levelno >= logging.ERROR]


async def test_a_c_store_without_a_data_set_is_refused_not_crashed(
        serving: Serving, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A C-STORE-RQ whose Command Data Set Type says "no data set" (PS3.7 E.1-1: 0101H)
    has nothing to store: "Error: Cannot understand" (C000, PS3.4 Table B.2-1), and the
    store handler never runs. Found by conformance/test_fuzz_captures.py: the archive's
    handler failed an assertion (a traceback, and 0110 to the peer)."""
    server = Server("SCP", prefer_requestor_order=True)
    archive = Archive(tmp_path / "archive")
    install(server, archive)
    header, _data = dataset_bytes(CT)
    async with serving(server) as port:
        async with RawPeer("127.0.0.1", port) as peer:
            await peer.send(encode_pdu(build_request(
                calling_ae_title="RAW", called_ae_title="SCP",
                contexts=[(CT_STORAGE, [EXPLICIT_VR_LITTLE_ENDIAN])],
                max_pdu_length=16384)))
            assert isinstance(await peer.receive_pdu(), AAssociateAC)
            await peer.send(pdata_pdu(1, True, True, encode_command(CStoreRQ(
                message_id=1, affected_sop_class_uid=CT_STORAGE,
                affected_sop_instance_uid=header.sop_instance_uid, has_dataset=False))))
            answer = await peer.receive_pdu()
    archive.close()
    assert isinstance(answer, PDataTF)
    response = decode_command(answer.pdvs[0].data)
    assert response.status == 0xC000  # type: ignore[union-attr]
    crashes = [r.getMessage() for r in caplog.records if r.exc_info is not None]
    assert not crashes, crashes
