"""Receiving and negotiating what deployed peers send (issue 20, items 5-8 and 9b).

A scripted acceptor (a raw TCP listener speaking dicomnet's own PDU codec) plays the odd
peer: Orthanc's command sets with elements outside group 0000, an A-ASSOCIATE-AC the
requestor cannot use. A raw requestor plays the peer that numbers its contexts 2, 4, ...
"""

from __future__ import annotations

import logging
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import cast

import anyio
import pytest
from anyio.abc import SocketAttribute, SocketListener, SocketStream
from pydicom.dataset import Dataset
from rawpeer import RawPeer

import dicomnet
from dicomnet.acse import build_request
from dicomnet.dimse import CGetRQ, CGetRSP, decode_command, encode_command
from dicomnet.errors import DicomNetError
from dicomnet.pdu import (
    PDU,
    PDV,
    AAbort,
    AAssociateAC,
    AAssociateRQ,
    AReleaseRP,
    AReleaseRQ,
    PDataTF,
    PDUFramer,
    PresentationContextAC,
    encode_pdu,
)
from dicomnet.pdu.items import MaximumLengthSubItem, UserInformationItem
from dicomnet.server import Server
from dicomnet.services.query_retrieve import STUDY_ROOT_GET
from dicomnet.uids import IMPLICIT_VR_LITTLE_ENDIAN, VERIFICATION

pytestmark = pytest.mark.anyio

JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
Serving = Callable[..., AbstractAsyncContextManager[int]]


class RawAcceptorSide:
    """The acceptor's end of one TCP connection: send and receive whole PDUs."""

    def __init__(self, stream: SocketStream) -> None:
        self.stream = stream
        self.framer = PDUFramer(max_pdata_length=1 << 24)

    async def send(self, pdu: PDU | bytes) -> None:
        await self.stream.send(pdu if isinstance(pdu, bytes) else encode_pdu(pdu))

    async def receive_pdu(self, timeout: float = 10.0) -> PDU | None:
        """The next PDU, or None once the requestor closed the connection."""
        with anyio.fail_after(timeout):
            while True:
                pdu = self.framer.next_pdu()
                if pdu is not None:
                    return pdu
                try:
                    data = await self.stream.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    return None
                self.framer.feed(data)

    async def until_closed(self) -> list[PDU]:
        received: list[PDU] = []
        while (pdu := await self.receive_pdu()) is not None:
            received.append(pdu)
        return received


Script = Callable[[RawAcceptorSide], Awaitable[None]]


@asynccontextmanager
async def raw_acceptor(script: Script) -> AsyncIterator[int]:
    """Listen on a free loopback port; run ``script`` on the first connection."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(SocketAttribute.local_port)

    async def serve_one() -> None:
        stream = await cast(SocketListener, listener.listeners[0]).accept()
        async with stream:
            await script(RawAcceptorSide(stream))

    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(serve_one)
        yield port


def _accept(request: AAssociateRQ, answers: list[PresentationContextAC]) -> AAssociateAC:
    return AAssociateAC(called_ae_title=request.called_ae_title,
                        calling_ae_title=request.calling_ae_title,
                        presentation_contexts=tuple(answers),
                        user_information=UserInformationItem(
                            (MaximumLengthSubItem(16384),)))


# -- 9b: an unusable A-ASSOCIATE-AC is answered with an A-ABORT before the close ---------------

async def test_unusable_ac_gets_an_abort_before_the_close(anyio_backend: str) -> None:
    """PS3.8 Table 9-10: a requestor that cannot use the AC it got (here: a context
    accepted with a transfer syntax it never proposed, §9.3.3.2) issues A-ABORT (AA-1)
    and only then closes; a bare close leaves the acceptor to guess."""
    after_ac: list[PDU] = []

    async def script(side: RawAcceptorSide) -> None:
        request = await side.receive_pdu()
        assert isinstance(request, AAssociateRQ)
        proposed = request.presentation_contexts[0]
        assert JPEG_BASELINE not in proposed.transfer_syntaxes
        await side.send(_accept(request, [PresentationContextAC(
            proposed.context_id, 0, JPEG_BASELINE)]))
        after_ac.extend(await side.until_closed())

    with anyio.fail_after(30):
        async with raw_acceptor(script) as port:
            with pytest.raises(DicomNetError):
                async with dicomnet.connect("127.0.0.1", port, called_ae="RAW",
                                            contexts=[VERIFICATION]):
                    pass
    assert after_ac, "the requestor closed the connection without an A-ABORT"
    assert isinstance(after_ac[0], AAbort)
    assert after_ac[0].source == 0  # service-user (PS3.8 §9.3.8)


# -- 7: elements outside group 0000 in a command set -------------------------------------------

def _orthanc_get_failure(message_id: int) -> bytes:
    """A C-GET-RSP command set as Orthanc sends it on a failed retrieve: Failed SOP
    Instance UID List (0008,0058) inside the command set, group length over both."""
    command = encode_command(CGetRSP(message_id_being_responded_to=message_id,
                                     affected_sop_class_uid=STUDY_ROOT_GET, status=0xA702,
                                     number_of_remaining_suboperations=0,
                                     number_of_completed_suboperations=0,
                                     number_of_failed_suboperations=1,
                                     number_of_warning_suboperations=0))
    uid = b"1.2.3.4.5\x00"
    body = command[12:] + struct.pack("<HHI", 0x0008, 0x0058, len(uid)) + uid
    return struct.pack("<HHII", 0, 0, 4, len(body)) + body


async def test_foreign_command_element_is_skipped_not_aborted(
        anyio_backend: str, caplog: pytest.LogCaptureFixture) -> None:
    released: list[bool] = []

    async def script(side: RawAcceptorSide) -> None:
        request = await side.receive_pdu()
        assert isinstance(request, AAssociateRQ)
        answers = [PresentationContextAC(pc.context_id, 0 if pc.abstract_syntax ==
                                         STUDY_ROOT_GET else 3, IMPLICIT_VR_LITTLE_ENDIAN)
                   for pc in request.presentation_contexts]
        await side.send(_accept(request, answers))
        command = b""
        context_id = 0
        dataset_done = False
        while not dataset_done:
            pdu = await side.receive_pdu()
            assert isinstance(pdu, PDataTF)
            for pdv in pdu.pdvs:
                context_id = pdv.context_id
                if pdv.is_command:
                    command += bytes(pdv.data)
                elif pdv.is_last:
                    dataset_done = True
        get_request = decode_command(command)
        assert isinstance(get_request, CGetRQ)
        message_id = get_request.message_id
        await side.send(PDataTF((PDV(context_id, True, True,
                                     _orthanc_get_failure(message_id)),)))
        pdu = await side.receive_pdu()
        if isinstance(pdu, AReleaseRQ):
            released.append(True)
            await side.send(AReleaseRP())

    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID = "1.2.3"
    statuses = []
    with caplog.at_level(logging.WARNING, logger="dicomnet"), anyio.fail_after(30):
        async with raw_acceptor(script) as port:
            async with dicomnet.connect("127.0.0.1", port, called_ae="ORTHANC",
                                        contexts=[STUDY_ROOT_GET]) as assoc:
                async for response in assoc.get(query):
                    statuses.append(response.status)
    assert statuses == [0xA702]
    assert released == [True]
    warnings = [r.getMessage() for r in caplog.records
                if r.name == "dicomnet.dimse" and r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "(0008,0058)" in warnings[0]


# -- 8: a requestor numbering its contexts 2, 4, ... -------------------------------------------

def _even_request() -> AAssociateRQ:
    request = build_request(calling_ae_title="DICOMRS", called_ae_title="SCP",
                            contexts=[(VERIFICATION, [IMPLICIT_VR_LITTLE_ENDIAN])],
                            max_pdu_length=16384)
    (context,) = request.presentation_contexts
    return AAssociateRQ(called_ae_title=request.called_ae_title,
                        calling_ae_title=request.calling_ae_title,
                        presentation_contexts=(type(context)(2, context.abstract_syntax,
                                                             context.transfer_syntaxes),),
                        user_information=request.user_information)


async def test_even_context_ids_are_accepted_with_one_warning(
        anyio_backend: str, serving: Serving,
        caplog: pytest.LogCaptureFixture) -> None:
    """PS3.8 §9.3.2.2 wants odd IDs; DCMTK accepts even ones, and so does dicomnet: the
    context is accepted under its own ID, an echo on it is answered, and the log has one
    warning that says so."""
    from dicomnet.dimse import CEchoRQ, CEchoRSP

    server = Server("SCP")
    with caplog.at_level(logging.WARNING, logger="dicomnet"):
        async with serving(server) as port:
            async with RawPeer("127.0.0.1", port) as peer:
                await peer.send(_even_request())
                answer = await peer.receive_pdu()
                assert isinstance(answer, AAssociateAC)
                assert [(pc.context_id, pc.result) for pc in
                        answer.presentation_contexts] == [(2, 0)]
                command = encode_command(CEchoRQ(message_id=7,
                                                 affected_sop_class_uid=VERIFICATION))
                await peer.send(PDataTF((PDV(2, True, True, command),)))
                reply = await peer.receive_pdu()
                assert isinstance(reply, PDataTF)
                assert reply.pdvs[0].context_id == 2
                response = decode_command(b"".join(bytes(p.data) for p in reply.pdvs))
                assert isinstance(response, CEchoRSP) and response.status == 0
                await peer.send(AReleaseRQ())
                assert isinstance(await peer.receive_pdu(), AReleaseRP)
    warnings = [r.getMessage() for r in caplog.records
                if r.levelno >= logging.WARNING and "even IDs" in r.getMessage()]
    assert len(warnings) == 1 and "(2)" in warnings[0]
