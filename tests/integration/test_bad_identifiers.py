"""A C-FIND, C-GET or C-MOVE whose identifier cannot be decoded, or names no level the
model has, is refused with "Identifier does not match SOP Class" (A900, PS3.4 Tables
C.4-1, C.4-2 and C.4-3), quietly: it is the peer's mistake, not a crash of ours.

Found by conformance/test_fuzz_captures.py: a mutated findscu identifier made the
archive's handler raise, which the association logged with a traceback ("handler for
C-FIND-RQ failed") and answered 0110 (Processing failure), a status C-FIND does not list.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest
from pydicom import Dataset

from dicomnet.acse import build_request
from dicomnet.archive import Archive, install
from dicomnet.dimse import (
    CFindRQ,
    CGetRQ,
    CMoveRQ,
    decode_command,
    encode_command,
    encode_dataset,
    pdata_pdu,
)
from dicomnet.pdu import AAssociateAC, PDataTF, encode_pdu
from dicomnet.server import Server
from dicomnet.services.query_retrieve import STUDY_ROOT_FIND, STUDY_ROOT_GET, STUDY_ROOT_MOVE
from dicomnet.testing import RawPeer
from dicomnet.uids import EXPLICIT_VR_LITTLE_ENDIAN

pytestmark = pytest.mark.anyio
Serving = Callable[..., AbstractAsyncContextManager[int]]

# A (0008,0052) element whose explicit length runs far past the end of the data set.
UNDECODABLE = b"\x08\x00\x52\x00CS\xff\x7f" + b"STUDY "
_wrong_level = Dataset()
_wrong_level.QueryRetrieveLevel = "GALAXY"
WRONG_LEVEL = encode_dataset(_wrong_level, EXPLICIT_VR_LITTLE_ENDIAN)

REQUESTS = {
    "find": (STUDY_ROOT_FIND, lambda: CFindRQ(message_id=1,
                                              affected_sop_class_uid=STUDY_ROOT_FIND)),
    "get": (STUDY_ROOT_GET, lambda: CGetRQ(message_id=1,
                                           affected_sop_class_uid=STUDY_ROOT_GET)),
    "move": (STUDY_ROOT_MOVE, lambda: CMoveRQ(message_id=1,
                                              affected_sop_class_uid=STUDY_ROOT_MOVE,
                                              move_destination="ANYWHERE")),
}


@pytest.mark.parametrize("identifier", [UNDECODABLE, WRONG_LEVEL],
                         ids=["undecodable", "wrong-level"])
@pytest.mark.parametrize("service", sorted(REQUESTS))
async def test_an_unusable_identifier_gets_a900(
        serving: Serving, tmp_path: Path, caplog: pytest.LogCaptureFixture,
        service: str, identifier: bytes) -> None:
    server = Server("SCP")
    archive = Archive(tmp_path)
    install(server, archive, lambda title: ("127.0.0.1", 9))
    sop_class, make = REQUESTS[service]
    async with serving(server) as port:
        async with RawPeer("127.0.0.1", port) as peer:
            await peer.send(encode_pdu(build_request(
                calling_ae_title="RAW", called_ae_title="SCP",
                contexts=[(sop_class, [EXPLICIT_VR_LITTLE_ENDIAN])],
                max_pdu_length=16384)))
            assert isinstance(await peer.receive_pdu(), AAssociateAC)
            await peer.send(pdata_pdu(1, True, True, encode_command(make())))
            await peer.send(pdata_pdu(1, False, True, identifier))
            answer = await peer.receive_pdu()
    archive.close()
    assert isinstance(answer, PDataTF)
    response = decode_command(answer.pdvs[0].data)
    assert response.status == 0xA900  # type: ignore[union-attr]
    crashes = [r.getMessage() for r in caplog.records
               if r.exc_info is not None or r.levelno >= logging.ERROR]
    assert not crashes, crashes


async def test_an_identifier_that_cannot_be_encoded_gets_c000(
        serving: Serving, caplog: pytest.LogCaptureFixture) -> None:
    """A match whose values cannot be encoded (here a UID holding U+FFFD, as a mutated
    data set once put into the archive's index during the capture fuzz test) ends the
    C-FIND with "Unable to process" (C000, PS3.4 C.4.1.1.4), logged without a
    traceback; before, it was a "handler failed" traceback and 0110."""
    server = Server("SCP")

    async def find(request: object) -> AsyncIterator[Dataset]:
        match = Dataset()
        match.QueryRetrieveLevel = "STUDY"
        match.StudyInstanceUID = "1.2.\ufffd.3"
        yield match

    server.on_find(sop_classes=[STUDY_ROOT_FIND])(find)
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID = ""
    async with serving(server) as port:
        async with RawPeer("127.0.0.1", port) as peer:
            await peer.send(encode_pdu(build_request(
                calling_ae_title="RAW", called_ae_title="SCP",
                contexts=[(STUDY_ROOT_FIND, [EXPLICIT_VR_LITTLE_ENDIAN])],
                max_pdu_length=16384)))
            assert isinstance(await peer.receive_pdu(), AAssociateAC)
            await peer.send(pdata_pdu(1, True, True, encode_command(
                CFindRQ(message_id=1, affected_sop_class_uid=STUDY_ROOT_FIND))))
            await peer.send(pdata_pdu(1, False, True, encode_dataset(
                query, EXPLICIT_VR_LITTLE_ENDIAN)))
            answer = await peer.receive_pdu()
    assert isinstance(answer, PDataTF)
    response = decode_command(answer.pdvs[0].data)
    assert response.status == 0xC000  # type: ignore[union-attr]
    crashes = [r.getMessage() for r in caplog.records if r.exc_info is not None]
    assert not crashes, crashes
