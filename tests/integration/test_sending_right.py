"""What dicomnet puts on the wire when it sends a data set, checked by raw peers that
record every PDV: fragments of even length within an odd maximum PDU length (PS3.8
Annex E.1), deflated data sets of even length (PS3.5 §A.5), the data set's own SOP
Instance UID, and damaged files refused before they are sent."""

from __future__ import annotations

import logging
import zlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import pydicom
import pytest
from anyio.abc import SocketAttribute, SocketStream
from pydicom.data import get_testdata_file

import dicomnet
from dicomnet.acse import AcceptorPolicy, build_request, negotiate
from dicomnet.archive import Archive, install
from dicomnet.association import IncomingRequest
from dicomnet.dimse import (
    CGetRQ,
    CGetRSP,
    CStoreRQ,
    CStoreRSP,
    decode_command,
    encode_command,
    encode_dataset,
    pdata_pdu,
)
from dicomnet.part10 import dataset_bytes
from dicomnet.pdu import (
    PDV,
    AAssociateAC,
    AAssociateRQ,
    AReleaseRP,
    AReleaseRQ,
    PDataTF,
    PDUFramer,
    encode_pdu,
)
from dicomnet.server import Server
from dicomnet.services.file_check import DamagedFileError
from dicomnet.services.query_retrieve import STUDY_ROOT_GET
from dicomnet.services.storage import contexts_for
from dicomnet.testing import RawPeer
from dicomnet.uids import DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN, EXPLICIT_VR_LITTLE_ENDIAN

pytestmark = pytest.mark.anyio
Serving = Callable[..., AbstractAsyncContextManager[int]]

CT = str(get_testdata_file("CT_small.dcm"))
DEFLATED = str(get_testdata_file("image_dfl.dcm"))
CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
#: An odd maximum PDU length, as some peers announce: 4091 bytes would fit a PDV.
ODD_MAX = 4097
ALL_SYNTAXES = [EXPLICIT_VR_LITTLE_ENDIAN, "1.2.840.10008.1.2", "1.2.840.10008.1.2.2",
                DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN]


@dataclass
class Recorded:
    """What a raw peer received: every PDV, and each data set reassembled."""

    pdvs: list[PDV] = field(default_factory=list)
    datasets: list[bytes] = field(default_factory=list)
    commands: list[object] = field(default_factory=list)


def _data_pdvs(recorded: Recorded) -> list[int]:
    return [len(pdv.data) for pdv in recorded.pdvs if not pdv.is_command]


@asynccontextmanager
async def raw_store_scp(max_pdu: int, recorded: Recorded) -> AsyncIterator[int]:
    """A storage SCP made of PDUs: accepts what is proposed with ``max_pdu`` as its
    maximum length, records every PDV and answers each C-STORE with Success."""
    policy = AcceptorPolicy(ae_title="RAWSCP", require_called_ae_title=False,
                            any_abstract_syntax=ALL_SYNTAXES, prefer_requestor_order=True,
                            max_pdu_length=max_pdu)

    async def handle(stream: SocketStream) -> None:
        framer = PDUFramer(max_pdata_length=1 << 24)
        command = bytearray()
        dataset = bytearray()
        async with stream:
            while True:
                try:
                    framer.feed(await stream.receive())
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    return
                while (pdu := framer.next_pdu()) is not None:
                    if isinstance(pdu, AAssociateRQ):
                        accept, _ = negotiate(pdu, policy)
                        await stream.send(encode_pdu(accept))
                    elif isinstance(pdu, AReleaseRQ):
                        await stream.send(encode_pdu(AReleaseRP()))
                        return
                    elif isinstance(pdu, PDataTF):
                        for pdv in pdu.pdvs:
                            recorded.pdvs.append(pdv)
                            (command if pdv.is_command else dataset).extend(pdv.data)
                            if pdv.is_command or not pdv.is_last:
                                continue
                            request = decode_command(bytes(command))
                            recorded.commands.append(request)
                            recorded.datasets.append(bytes(dataset))
                            command.clear()
                            dataset.clear()
                            assert isinstance(request, CStoreRQ)
                            await stream.send(pdata_pdu(pdv.context_id, True, True,
                                                        encode_command(CStoreRSP(
                                message_id_being_responded_to=request.message_id,
                                affected_sop_class_uid=request.affected_sop_class_uid,
                                affected_sop_instance_uid=request.affected_sop_instance_uid,
                                status=0))))

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, handle)
        yield listener.extra(SocketAttribute.local_port)
        group.cancel_scope.cancel()


def _assert_even_fragments(lengths: list[int], limit: int) -> None:
    assert lengths, "no data set PDV was received"
    assert all(length % 2 == 0 for length in lengths), sorted(set(lengths))
    assert all(2 <= length <= limit for length in lengths), sorted(set(lengths))


# -- 9a: even fragments under an odd maximum PDU length, as the requestor -----------------


async def test_c_store_fragments_are_even_when_the_peers_maximum_is_odd(
        anyio_backend: str) -> None:
    recorded = Recorded()
    ds = pydicom.dcmread(CT)
    async with raw_store_scp(ODD_MAX, recorded) as port, dicomnet.connect(
            "127.0.0.1", port, called_ae="RAWSCP", contexts=contexts_for([CT])) as assoc:
        assert assoc.negotiated.peer_max_pdu_length == ODD_MAX
        assert await assoc.store(CT) == 0  # streamed from the file
        assert await assoc.store(ds) == 0  # encoded in memory
    lengths = _data_pdvs(recorded)
    # Each PDU within the peer's maximum: PDV item (4 + 2 + data) plus the PDU header.
    _assert_even_fragments(lengths, ODD_MAX - 6)
    assert max(lengths) == ODD_MAX - 7  # 4090: the largest even fragment that fits
    _, data = dataset_bytes(CT)
    assert recorded.datasets[0] == data


# -- 9a: the same as the acceptor, in C-GET sub-operations ---------------------------------


async def test_c_get_sub_operation_fragments_are_even_when_the_peers_maximum_is_odd(
        serving: Serving, tmp_path: Path, anyio_backend: str) -> None:
    archive = Archive(tmp_path / "archive")
    server = Server("ARCHIVE")
    install(server, archive)
    header, data = dataset_bytes(CT)
    study = str(pydicom.dcmread(CT, stop_before_pixels=True).StudyInstanceUID)
    identifier = pydicom.Dataset()
    identifier.QueryRetrieveLevel = "STUDY"
    identifier.StudyInstanceUID = study
    async with serving(server) as port:
        async with dicomnet.connect("127.0.0.1", port, called_ae="ARCHIVE",
                                    contexts=contexts_for([CT])) as assoc:
            assert await assoc.store(CT) == 0
        async with RawPeer("127.0.0.1", port) as peer:
            await peer.send(encode_pdu(build_request(
                calling_ae_title="RAW", called_ae_title="ARCHIVE",
                contexts=[(STUDY_ROOT_GET, [EXPLICIT_VR_LITTLE_ENDIAN]),
                          (CT_STORAGE, [header.transfer_syntax])],
                max_pdu_length=ODD_MAX, roles={CT_STORAGE: (False, True)})))
            assert isinstance(await peer.receive_pdu(), AAssociateAC)
            await peer.send(pdata_pdu(1, True, True, encode_command(CGetRQ(
                message_id=7, affected_sop_class_uid=STUDY_ROOT_GET))))
            await peer.send(pdata_pdu(1, False, True, encode_dataset(
                identifier, EXPLICIT_VR_LITTLE_ENDIAN)))
            pdvs: list[PDV] = []
            command = bytearray()
            received = bytearray()
            final = None
            with anyio.fail_after(20):
                while final is None:
                    pdu = await peer.receive_pdu()
                    assert isinstance(pdu, PDataTF), pdu
                    for pdv in pdu.pdvs:
                        pdvs.append(pdv)
                        if not pdv.is_command:
                            received.extend(pdv.data)
                            if pdv.is_last:
                                store = decode_command(bytes(command))
                                assert isinstance(store, CStoreRQ)
                                await peer.send(pdata_pdu(pdv.context_id, True, True,
                                                          encode_command(CStoreRSP(
                                    message_id_being_responded_to=store.message_id,
                                    affected_sop_class_uid=store.affected_sop_class_uid,
                                    affected_sop_instance_uid=store.
                                    affected_sop_instance_uid, status=0))))
                                command.clear()
                            continue
                        command.extend(pdv.data)
                        if pdv.is_last:
                            message = decode_command(bytes(command))
                            if isinstance(message, CGetRSP):
                                if message.status != 0xFF00:
                                    final = message
                                command.clear()
            assert final.status == 0, final
            assert final.number_of_completed_suboperations == 1
            await peer.send(AReleaseRQ())
            assert isinstance(await peer.receive_pdu(), AReleaseRP)
    archive.close()
    assert bytes(received) == data
    lengths = [len(pdv.data) for pdv in pdvs if not pdv.is_command]
    _assert_even_fragments(lengths, ODD_MAX - 6)
    assert max(lengths) == ODD_MAX - 7


# -- 1: deflated data sets of even length (PS3.5 §A.5) --------------------------------------


async def test_an_odd_deflated_file_goes_out_with_a_trailing_null(
        anyio_backend: str) -> None:
    header, data = dataset_bytes(DEFLATED)
    assert header.transfer_syntax == DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN
    assert len(data) % 2 == 1  # the file as pydicom ships it: an odd deflated stream
    recorded = Recorded()
    async with raw_store_scp(16384, recorded) as port, dicomnet.connect(
            "127.0.0.1", port, called_ae="RAWSCP",
            contexts=contexts_for([DEFLATED])) as assoc:
        assert await assoc.store(DEFLATED) == 0
        # The same data set encoded by dicomnet's own deflater, in memory.
        assert await assoc.store(pydicom.dcmread(DEFLATED)) == 0
    assert recorded.datasets[0] == data + b"\x00"
    assert all(len(sent) % 2 == 0 for sent in recorded.datasets)
    _assert_even_fragments(_data_pdvs(recorded), 16384)
    # Both still inflate to the data set (the pad is after the deflate stream's end).
    for sent in recorded.datasets:
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        inflater.decompress(sent)
        assert inflater.eof


def test_dicomnets_deflater_pads_to_even_length() -> None:
    """Small data sets deflate to odd lengths about half the time: each gets its NUL."""
    odd_before_padding = 0
    for index in range(20):
        ds = pydicom.Dataset()
        ds.PatientID = f"P{index * 7919}"
        ds.StudyDescription = "".join(chr(65 + (index * 7 + j * j) % 26)
                                      for j in range(5 + 3 * index))
        ds.SOPInstanceUID = f"1.2.3.{index}"
        encoded = encode_dataset(ds, DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN)
        assert len(encoded) % 2 == 0, index
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        plain = inflater.decompress(encoded)
        assert inflater.eof
        assert plain == encode_dataset(ds, EXPLICIT_VR_LITTLE_ENDIAN)
        if inflater.unused_data:
            assert inflater.unused_data == b"\x00"
            odd_before_padding += 1
    assert odd_before_padding >= 3  # the case is exercised, not only the even one



# -- 2: the data set's SOP Instance UID, not a stale File Meta copy -------------------------


@pytest.mark.parametrize("name", ["rtplan.dcm", "rtdose.dcm"])
async def test_the_request_names_the_data_sets_instance_not_the_file_metas(
        anyio_backend: str, name: str, caplog: pytest.LogCaptureFixture) -> None:
    path = str(get_testdata_file(name))
    header, data = dataset_bytes(path)
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    assert header.sop_instance_uid != ds.SOPInstanceUID  # pydicom ships them so
    recorded = Recorded()
    async with raw_store_scp(16384, recorded) as port, dicomnet.connect(
            "127.0.0.1", port, called_ae="RAWSCP", contexts=contexts_for([path])) as assoc:
        assert await assoc.store(path) == 0
    (request,) = recorded.commands
    assert isinstance(request, CStoreRQ)
    assert request.affected_sop_instance_uid == ds.SOPInstanceUID
    assert recorded.datasets == [data]
    warnings = [r.getMessage() for r in caplog.records
                if r.levelno == logging.WARNING and r.name == "dicomnet.storage"]
    assert len(warnings) == 1, warnings
    assert header.sop_instance_uid in warnings[0] and ds.SOPInstanceUID in warnings[0]
    assert str(ds.PatientName) not in warnings[0] and path not in warnings[0]


# -- 3: a truncated file is refused before it is sent, and the batch goes on ----------------


@pytest.fixture
def truncated(tmp_path: Path) -> Path:
    """CT_small.dcm with its pixel data shorter than its length says."""
    path = tmp_path / "truncated.dcm"
    path.write_bytes(Path(CT).read_bytes()[:-5000])
    return path


async def test_a_truncated_file_is_refused_before_sending_and_the_batch_goes_on(
        anyio_backend: str, truncated: Path) -> None:
    recorded = Recorded()
    async with raw_store_scp(16384, recorded) as port, dicomnet.connect(
            "127.0.0.1", port, called_ae="RAWSCP", contexts=contexts_for([CT])) as assoc:
        results = [(item, status) async for item, status in
                   assoc.store_each([truncated, CT, truncated, CT])]
    assert [item for item, _ in results] == [truncated, CT, truncated, CT]
    for item, status in results:
        if item == truncated:
            assert isinstance(status, DamagedFileError), status
            assert "(7FE0,0010)" in str(status) and "cut short" in str(status)
        else:
            assert status == 0
    _, data = dataset_bytes(CT)
    assert recorded.datasets == [data, data]  # nothing of the truncated file went out


# -- 4: an association that dies mid-batch: what was stored, refused, never sent ------------


def test_store_reports_stored_refused_and_unsent_when_the_association_dies(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from dicomnet.cli.main import main
    from dicomnet.services.failure import ServiceFailure
    from dicomnet.testing import serving_in_a_thread

    server = Server("SCP")
    seen: list[str] = []

    @server.on_store()
    async def store_two_refuse_one_then_abort(request: IncomingRequest) -> int:
        seen.append(request.message.affected_sop_instance_uid)  # type: ignore[union-attr]
        if len(seen) == 2:
            raise ServiceFailure(0xA700, "no room for this one")
        if len(seen) == 4:
            await request.association.abort()
        return 0

    files = []
    for index in range(6):
        path = tmp_path / f"{index}.dcm"
        path.write_bytes(Path(CT).read_bytes())
        files.append(path)
    with serving_in_a_thread(server) as port:
        code = main(["store", "127.0.0.1", str(port), "-aec", "SCP", "--no-progress",
                     *map(str, files)])
    assert code == 1
    out = capsys.readouterr()
    assert "2 of 6 instances stored, 1 failed, 3 not sent" in out.out, out
    assert f"E: {files[1]}: 0xA700" in out.err and "no room for this one" in out.err
    for path in files[3:]:
        assert f"E: {path}: not sent" in out.err, out.err
    for path in (files[0], files[2]):
        assert f"E: {path}:" not in out.err


def test_get_reports_received_and_never_sent_when_the_association_dies(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A C-GET SCP made of PDUs sends one instance, reports 2 remaining, then aborts."""
    import anyio.from_thread

    from dicomnet.cli.main import main
    from dicomnet.pdu import AAbort

    header, data = dataset_bytes(CT)
    policy = AcceptorPolicy(ae_title="RAWSCP", require_called_ae_title=False,
                            any_abstract_syntax=ALL_SYNTAXES, prefer_requestor_order=True,
                            roles={CT_STORAGE: (False, True)})

    async def handle(stream: SocketStream) -> None:
        framer = PDUFramer(max_pdata_length=1 << 24)
        command = bytearray()
        async with stream:
            while True:
                try:
                    framer.feed(await stream.receive())
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    return
                while (pdu := framer.next_pdu()) is not None:
                    if isinstance(pdu, AAssociateRQ):
                        accept, negotiated = negotiate(pdu, policy)
                        await stream.send(encode_pdu(accept))
                        continue
                    assert isinstance(pdu, PDataTF), pdu
                    for pdv in pdu.pdvs:
                        if pdv.is_command:
                            command.extend(pdv.data)
                        if not pdv.is_last:
                            continue
                        message = decode_command(bytes(command))
                        if pdv.is_command and message.has_dataset:
                            continue  # the identifier follows
                        command.clear()
                        if isinstance(message, CGetRQ):
                            get_id, get_context = message.message_id, pdv.context_id
                            ct = next(c for c in negotiated.contexts_for(CT_STORAGE)
                                      if c.transfer_syntax == header.transfer_syntax)
                            await stream.send(pdata_pdu(ct.context_id, True, True,
                                                        encode_command(CStoreRQ(
                                message_id=1, affected_sop_class_uid=CT_STORAGE,
                                affected_sop_instance_uid=header.sop_instance_uid))))
                            await stream.send(pdata_pdu(ct.context_id, False, True, data))
                        elif isinstance(message, CStoreRSP):
                            await stream.send(pdata_pdu(get_context, True, True,
                                                        encode_command(CGetRSP(
                                message_id_being_responded_to=get_id,
                                affected_sop_class_uid=STUDY_ROOT_GET, status=0xFF00,
                                number_of_remaining_suboperations=2,
                                number_of_completed_suboperations=1,
                                number_of_failed_suboperations=0,
                                number_of_warning_suboperations=0))))
                            await anyio.sleep(0.2)
                            await stream.send(encode_pdu(AAbort(source=0, reason=0)))
                            return

    async def serve(task_status: anyio.abc.TaskStatus[int]) -> None:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        async with listener:
            task_status.started(listener.extra(SocketAttribute.local_port))
            await listener.serve(handle)

    output = tmp_path / "got"
    with anyio.from_thread.start_blocking_portal() as portal:
        future, port = portal.start_task(serve)
        try:
            code = main(["get", "127.0.0.1", str(port), "-aec", "RAWSCP", "-L", "STUDY",
                         "-k", "StudyInstanceUID=1.2.3", "-o", str(output)])
        finally:
            future.cancel()
    assert code == 1
    err = capsys.readouterr().err
    assert "C-GET ended before it was complete: 1 received, 0 refused here; 1 completed, " \
           "0 failed, 0 warning, 2 never sent" in err, err
    assert [path.name for path in output.iterdir()] == [header.sop_instance_uid + ".dcm"]


def test_move_reports_completed_and_never_sent_when_the_association_dies(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A C-MOVE SCP sends five instances to a destination that aborts the move's own
    association while it receives the third: the command says what the peer last
    counted, the remaining ones never sent."""
    import anyio.from_thread

    from dicomnet.cli.main import main

    template = pydicom.dcmread(CT)
    instances = []
    for number in range(5):
        instance = template.copy()
        instance.SOPInstanceUID = f"1.2.826.0.1.3680043.2.1143.7.{number + 1}"
        instances.append(instance)
    moving: list[dicomnet.Association] = []
    kept: list[str] = []
    destination = Server("DEST")

    @destination.on_store()
    async def keep_two_then_abort_the_move(request: IncomingRequest) -> int:
        kept.append(request.message.affected_sop_instance_uid)  # type: ignore[union-attr]
        if len(kept) == 3:
            await moving[0].abort()  # the association the C-MOVE-RQ came on
        return 0

    mover = Server("MOVESCP")
    ports: list[int] = []

    @mover.on_move(destinations=lambda aet: ("127.0.0.1", ports[0]) if aet == "DEST"
                   else None)
    async def move_five(request: IncomingRequest) -> AsyncIterator[object]:
        moving.append(request.association)  # type: ignore[arg-type]
        for instance in instances:
            yield instance

    # Both servers on one event loop: the destination's handler aborts the mover's
    # association directly.
    with anyio.from_thread.start_blocking_portal() as portal:
        dest_future, dest_port = portal.start_task(destination.serve, "127.0.0.1", 0)
        ports.append(dest_port)
        move_future, port = portal.start_task(mover.serve, "127.0.0.1", 0)
        try:
            code = main(["move", "127.0.0.1", str(port), "-aec", "MOVESCP", "-aem", "DEST",
                         "-L", "STUDY", "-k", "StudyInstanceUID=1.2.3"])
        finally:
            for server, future in ((mover, move_future), (destination, dest_future)):
                portal.call(server.shutdown, 1)
                future.result(timeout=10)
    assert code == 1
    err = capsys.readouterr().err
    assert "C-MOVE ended before it was complete: 2 completed, 0 failed, 0 warning, " \
           "3 never sent (the peer's last counts)" in err, err


def test_the_check_before_sending_reads_a_bounded_part_of_a_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A deflated data set is inflated to be walked, where the sender prepares its next
    request; past CHECK_LIMIT bytes the rest goes unchecked (the receiver checks what
    arrives), so one big file cannot hold the event loop."""
    from dicomnet.dataset_io import FileRegion
    from dicomnet.part10 import read_header_at
    from dicomnet.services import file_check

    source = Path(str(get_testdata_file("image_dfl.dcm")))
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(source.read_bytes()[:-2000])
    header = read_header_at(cut)
    with cut.open("rb") as handle:
        region = FileRegion(handle, header.dataset_offset, cut.stat().st_size
                            - header.dataset_offset)
        assert file_check.check_file(region, header.transfer_syntax).damage is not None
        monkeypatch.setattr(file_check, "CHECK_LIMIT", 1024)
        unchecked = file_check.check_file(region, header.transfer_syntax)
    assert unchecked.damage is None
    assert unchecked.sop_instance_uid == pydicom.dcmread(source).SOPInstanceUID


def test_a_server_reads_and_checks_retrieved_files_off_its_event_loop(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """C-GET sub-operations from files: the check that reads each file (up to 8 MiB)
    runs in a worker thread, so the server's other associations are not held up by a
    retrieve's disk reads."""
    import threading

    from dicomnet.cli.main import main
    from dicomnet.services import storage
    from dicomnet.testing import serving_in_a_thread

    checked_in: list[int] = []
    real_check = storage.check_file

    def recording_check(*args: object, **kwargs: object) -> object:
        checked_in.append(threading.get_ident())
        return real_check(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(storage, "check_file", recording_check)
    loop_threads: list[int] = []
    server = Server("ARCHIVE")

    @server.on_get()
    async def retrieve(request: IncomingRequest) -> AsyncIterator[str]:
        loop_threads.append(threading.get_ident())
        for _ in range(3):
            yield CT

    with serving_in_a_thread(server) as port:
        code = main(["get", "-aec", "ARCHIVE", "127.0.0.1", str(port), "-L", "STUDY",
                     "-k", "StudyInstanceUID=1.2.3", "-o", str(tmp_path / "out"), "-q"])
    assert code == 0
    assert len(checked_in) == 3
    assert loop_threads and loop_threads[0] not in checked_in


@pytest.mark.parametrize("status", [0xA701, 0xA900, 0xC000])
def test_get_exits_1_when_the_peer_refuses_the_retrieve_itself(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], status: int) -> None:
    """A C-GET refused as a whole (out of resources, identifier does not match, unable
    to process), its counts sent as zeros as dicomnet's own SCP sends them: exit 1 with
    the status, not 0 for "nothing failed"."""
    from dicomnet.cli.main import main
    from dicomnet.services.failure import ServiceFailure
    from dicomnet.testing import serving_in_a_thread

    server = Server("ARCHIVE")

    @server.on_get()
    async def refuse(request: IncomingRequest) -> AsyncIterator[str]:
        raise ServiceFailure(status, "not today")
        yield CT  # an async generator, as a handler is

    with serving_in_a_thread(server) as port:
        code = main(["get", "-aec", "ARCHIVE", "127.0.0.1", str(port), "-L", "STUDY",
                     "-k", "StudyInstanceUID=1.2.3", "-o", str(tmp_path / "out")])
    assert code == 1
    assert f"0x{status:04X}" in capsys.readouterr().err


def test_a_client_reads_and_checks_files_off_its_event_loop(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`dicomnet store` (store_each) prepares the next file while the peer works on the
    last one: the reading and checking run in a worker thread, not in the thread of
    the event loop (an application's other tasks go on meanwhile)."""
    import threading

    from dicomnet.cli.main import main
    from dicomnet.services import storage
    from dicomnet.testing import serving_in_a_thread

    checked_in: list[int] = []
    real_check = storage.check_file

    def recording_check(*args: object, **kwargs: object) -> object:
        checked_in.append(threading.get_ident())
        return real_check(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(storage, "check_file", recording_check)
    server = Server("SCP")

    @server.on_store()
    async def keep(request: IncomingRequest) -> int:
        return 0

    files = []
    for index in range(3):
        path = tmp_path / f"{index}.dcm"
        path.write_bytes(Path(CT).read_bytes())
        files.append(str(path))
    with serving_in_a_thread(server) as port:
        code = main(["store", "127.0.0.1", str(port), "-aec", "SCP", "-q", *files])
    assert code == 0
    assert len(checked_in) == 3
    assert threading.get_ident() not in checked_in  # the command's loop runs here
