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
from pathlib import Path
from typing import cast

import anyio
import pytest
from anyio.abc import SocketAttribute, SocketListener
from pydicom.dataset import Dataset

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
    PresentationContextAC,
)
from dicomnet.pdu.items import MaximumLengthSubItem, UserInformationItem
from dicomnet.server import Server
from dicomnet.services.query_retrieve import STUDY_ROOT_GET
from dicomnet.testing import RawPeer
from dicomnet.uids import IMPLICIT_VR_LITTLE_ENDIAN, VERIFICATION

pytestmark = pytest.mark.anyio

JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
Serving = Callable[..., AbstractAsyncContextManager[int]]


Script = Callable[[RawPeer], Awaitable[None]]


@asynccontextmanager
async def raw_acceptor(script: Script) -> AsyncIterator[int]:
    """Listen on a free loopback port; run ``script`` on the first connection."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(SocketAttribute.local_port)

    async def serve_one() -> None:
        stream = await cast(SocketListener, listener.listeners[0]).accept()
        async with stream:
            await script(RawPeer.on(stream))

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

    async def script(side: RawPeer) -> None:
        request = await side.receive_pdu()
        assert isinstance(request, AAssociateRQ)
        proposed = request.presentation_contexts[0]
        assert JPEG_BASELINE not in proposed.transfer_syntaxes
        await side.send(_accept(request, [PresentationContextAC(
            proposed.context_id, 0, JPEG_BASELINE)]))
        after_ac.extend(await side.wait_closed())

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

    async def script(side: RawPeer) -> None:
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


# -- 5 and 6: the storage contexts `dicomnet get` proposes -------------------------------------

def _write_instance(folder: Path, sop_class: str) -> Path:
    """A small uncompressed Part 10 file of ``sop_class``, without pixel data."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    ds = Dataset()
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = "1.2.3"
    ds.PatientID = "P1"
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    path = folder / f"{ds.SOPInstanceUID}.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


def _get_from(files: list[Path], output: Path, *options: str) -> int:
    from dicomnet.cli.main import main
    from dicomnet.testing import serving_in_a_thread

    server = Server("ARCHIVE")

    @server.on_get()
    async def retrieve(request: object) -> AsyncIterator[str]:
        for path in files:
            yield str(path)

    with serving_in_a_thread(server) as port:
        return main(["get", "-aec", "ARCHIVE", "127.0.0.1", str(port), "-L", "STUDY",
                     "-k", "StudyInstanceUID=1.2.3", "-o", str(output), *options])


def _received(output: Path) -> dict[str, tuple[str, bytes]]:
    """SOP Instance UID -> (transfer syntax, data set bytes) of each file received."""
    from dicomnet.part10 import read_header_at

    found = {}
    for path in output.glob("*.dcm"):
        header = read_header_at(path)
        found[header.sop_instance_uid] = (header.transfer_syntax,
                                          path.read_bytes()[header.dataset_offset:])
    return found


def _stored(path: Path) -> tuple[str, str, bytes]:
    from dicomnet.part10 import read_header_at

    header = read_header_at(path)
    return (header.sop_instance_uid, header.transfer_syntax,
            path.read_bytes()[header.dataset_offset:])


def test_get_receives_each_compressed_instance_as_stored(tmp_path: Path) -> None:
    """One Secondary Capture class held in three compressed syntaxes, JPEG-LS MR, and an
    X-Ray Radiation Dose SR (in most CT studies): a context per compressed syntax lets
    the peer send each as it holds it (PS3.8 §9.3.3.2: one syntax per context), and the
    dose SR class is proposed at all."""
    from pydicom.data import get_testdata_file

    names = ["JPEG2000.dcm", "SC_rgb_rle.dcm", "SC_rgb_jpeg_gdcm.dcm",
             "MR_small_jpeg_ls_lossless.dcm", "CT_small.dcm"]
    files = [Path(str(get_testdata_file(name))) for name in names]
    files.append(_write_instance(tmp_path, "1.2.840.10008.5.1.4.1.1.88.67"))
    output = tmp_path / "out"
    assert _get_from(files, output) == 0
    expected = {uid: (syntax, data) for uid, syntax, data in map(_stored, files)}
    assert _received(output) == expected


def test_get_propose_uncompressed_has_the_peer_decompress(tmp_path: Path) -> None:
    """--propose-uncompressed (getscu's default): only uncompressed contexts, so a
    compressed instance the peer cannot decompress fails, and the exit code says so."""
    from pydicom.data import get_testdata_file

    files = [Path(str(get_testdata_file("JPEG2000.dcm"))),
             Path(str(get_testdata_file("CT_small.dcm")))]
    output = tmp_path / "out"
    assert _get_from(files, output, "--propose-uncompressed", "--passes", "1") == 1
    assert [syntax for syntax, _data in _received(output).values()] == \
        ["1.2.840.10008.1.2.1"]


def test_get_asks_again_for_classes_that_did_not_fit(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Lensometry Measurements is far down the ranking of pydicom's ~200 storage classes,
    past the 127 contexts of the first association (PS3.8 §9.3.2.2): the C-GET is asked
    again on a new association proposing the next classes, and the instance arrives."""
    from dicomnet.services.receive_contexts import storage_context_batches

    rare = "1.2.840.10008.5.1.4.1.1.78.1"
    batches = storage_context_batches()
    assert all(sop_class != rare for sop_class, _ts in batches[0])
    files = [_write_instance(tmp_path, rare),
             _write_instance(tmp_path, "1.2.840.10008.5.1.4.1.1.88.67")]
    output = tmp_path / "out"
    assert _get_from(files, output, "-v") == 0
    assert set(_received(output)) == {_stored(path)[0] for path in files}
    assert "C-GET pass 2" in capsys.readouterr().err
    # With one pass only, the rare class is missing and the exit code says so.
    again = tmp_path / "again"
    assert _get_from(files, again, "--passes", "1") == 1
    assert set(_received(again)) == {_stored(files[1])[0]}


def test_batches_cover_every_storage_class_within_the_context_limit() -> None:
    from dicomnet.services.receive_contexts import (
        DEFAULT_COMPRESSED,
        compressed_syntax,
        storage_context_batches,
    )
    from dicomnet.uids import UNCOMPRESSED_TRANSFER_SYNTAXES, storage_sop_classes

    private = "1.2.826.0.1.3680043.9.9999.1"
    batches = storage_context_batches(extra_classes=[private])
    assert all(1 <= len(batch) <= 127 for batch in batches)
    flat = [context for batch in batches for context in batch]
    assert {sop_class for sop_class, _ts in flat} == {*storage_sop_classes(), private}
    # Every compressed syntax alone in its context (PS3.8 §9.3.3.2: one per context).
    assert all(len(ts) == 1 or list(ts) == list(UNCOMPRESSED_TRANSFER_SYNTAXES)
               for _sop, ts in flat)
    first = batches[0]
    assert first[0] == (private, list(UNCOMPRESSED_TRANSFER_SYNTAXES))
    ct = [ts for sop, ts in first if sop == "1.2.840.10008.5.1.4.1.1.2"]
    assert [t for (t,) in ct[1:]] == list(DEFAULT_COMPRESSED)
    dose_sr = [ts for sop, ts in first if sop == "1.2.840.10008.5.1.4.1.1.88.67"]
    assert dose_sr == [list(UNCOMPRESSED_TRANSFER_SYNTAXES)]  # no pixels: no JPEG
    assert compressed_syntax("j2k-lossless") == "1.2.840.10008.1.2.4.90"
    assert compressed_syntax("1.2.840.10008.1.2.4.201") == "1.2.840.10008.1.2.4.201"
    with pytest.raises(ValueError, match="unknown transfer syntax"):
        compressed_syntax("jpeg3000")
