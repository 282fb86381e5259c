"""C-STORE between dicomnet's client and server on asyncio and trio: data sets, paths and
open files; conversion between uncompressed syntaxes; the asynchronous operations
window; and a peer that aborts half way leaving nothing behind."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractAsyncContextManager, aclosing
from pathlib import Path
from typing import Any

import anyio
import pydicom
import pytest
from archive_files import partial_files
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

import dicomnet
from dicomnet.acse import build_request
from dicomnet.archive import Archive, install
from dicomnet.association import IncomingRequest
from dicomnet.dimse import CFindRQ, CStoreRQ, Status, encode_command, pdata_pdu
from dicomnet.errors import NegotiationError
from dicomnet.part10 import dataset_bytes
from dicomnet.pdu import AAbort, AAssociateAC, encode_pdu
from dicomnet.server import Server
from dicomnet.services.storage import contexts_for
from dicomnet.testing import RawPeer
from dicomnet.uids import EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN, VERIFICATION

pytestmark = pytest.mark.anyio
Serving = Callable[..., AbstractAsyncContextManager[int]]

CT = get_testdata_file("CT_small.dcm")
MR_BE = get_testdata_file("MR_small_bigendian.dcm")
CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_STORAGE = "1.2.840.10008.5.1.4.1.1.4"


def _archive_server(folder: Path, **kwargs: object) -> tuple[Server, Archive]:
    server = Server("SCP", prefer_requestor_order=True, **kwargs)  # type: ignore[arg-type]
    archive = Archive(folder)
    install(server, archive)
    return server, archive


async def test_store_path_dataset_and_open_file(serving: Serving, tmp_path: Path) -> None:
    server, archive = _archive_server(tmp_path)
    ct = pydicom.dcmread(CT)
    ct.SOPInstanceUID = generate_uid()
    async with serving(server) as port:
        async with dicomnet.connect("127.0.0.1", port, called_ae="SCP",
                                    contexts=contexts_for([CT, MR_BE])) as assoc:
            assert await assoc.store(CT) == Status.SUCCESS
            assert await assoc.store(ct) == Status.SUCCESS
            with open(MR_BE, "rb") as fp:  # noqa: ASYNC230 - store() takes plain files
                assert await assoc.store(fp) == Status.SUCCESS
    assert archive.index.count("instance") == 3
    # The files went as they were: same data set bytes, same transfer syntax.
    for source in (CT, MR_BE):
        header, data = dataset_bytes(source)
        stored = tmp_path / str(archive.index.instance_path(header.sop_instance_uid))
        stored_header, stored_data = dataset_bytes(stored)
        assert stored_data == data
        assert stored_header.transfer_syntax == header.transfer_syntax


async def test_each_data_set_goes_into_the_spare_made_after_the_last_answer(
        serving: Serving, tmp_path: Path) -> None:
    server, archive = _archive_server(tmp_path)
    assert archive.spare is None
    async with serving(server) as port:
        async with dicomnet.connect("127.0.0.1", port, called_ae="SCP",
                                    contexts=contexts_for([CT])) as assoc:
            taken = []
            for _ in range(3):
                ct = pydicom.dcmread(CT)
                ct.SOPInstanceUID = generate_uid()
                assert await assoc.store(ct) == Status.SUCCESS
                with anyio.fail_after(5):
                    while archive.spare is None:  # made once the answer is out
                        await anyio.sleep(0.005)
                spare = archive.spare
                assert spare not in taken
                taken.append(spare)
            assert archive.index.count("instance") == 3
            # The 2nd and 3rd data sets were written into the spares made before them.
            assert all(not spare.exists() for spare in taken[:-1])
            assert partial_files(archive) == []
    archive.close()
    assert not list(archive.incoming.iterdir())


async def test_after_answer_runs_once_the_final_response_is_out(serving: Serving) -> None:
    """Work a handler queues with after_answer runs after the response, in order, and
    also after the failure sent for a handler that raised."""
    server = Server("SCP", prefer_requestor_order=True)
    calls: list[tuple[str, bool]] = []

    async def handler(request: IncomingRequest) -> int:
        for name in ("first", "second"):
            request.after_answer(lambda name=name: calls.append((name, request.answered)))
        if len(calls) >= 2:
            raise RuntimeError("the second store fails")
        assert calls == []  # nothing runs before the answer
        return int(Status.SUCCESS)

    server.on_store()(handler)
    async with serving(server) as port:
        async with dicomnet.connect("127.0.0.1", port, called_ae="SCP",
                                    contexts=contexts_for([CT])) as assoc:
            for status, total in ((Status.SUCCESS, 2), (Status.PROCESSING_FAILURE, 4)):
                assert await assoc.store(CT) == status
                with anyio.fail_after(5):  # the server's task may run them a bit later
                    while len(calls) < total:
                        await anyio.sleep(0.005)
            assert calls == [("first", True), ("second", True)] * 2


async def test_a_store_is_over_when_it_returns(serving: Serving, tmp_path: Path) -> None:
    # Its Message ID is free at once, not when the garbage collector gets to the
    # request generator and the event loop runs the finalizer's cleanup later.
    server, _archive = _archive_server(tmp_path)
    async with serving(server) as port:
        async with dicomnet.connect("127.0.0.1", port, called_ae="SCP",
                                    contexts=[*contexts_for([CT]), VERIFICATION]) as assoc:
            assert await assoc.store(CT) == Status.SUCCESS
            assert assoc.connection.message_ids_in_use == 0
            assert await assoc.echo() == Status.SUCCESS
            assert assoc.connection.message_ids_in_use == 0


async def test_store_each_reports_every_item_in_order(serving: Serving,
                                                     tmp_path: Path) -> None:
    server, archive = _archive_server(tmp_path)
    not_dicom = tmp_path / "notes.txt"
    not_dicom.write_text("not a DICOM file")
    items: list[object] = [CT, not_dicom, MR_BE]
    async with serving(server) as port:
        async with dicomnet.connect("127.0.0.1", port, called_ae="SCP",
                                    contexts=contexts_for([CT, MR_BE])) as assoc:
            results = [pair async for pair in assoc.store_each(items)]  # type: ignore[arg-type]
    assert [item for item, _ in results] == items
    assert results[0][1] == Status.SUCCESS and results[2][1] == Status.SUCCESS
    assert isinstance(results[1][1], ValueError)  # unreadable: reported, not raised
    assert archive.index.count("instance") == 2
    for source in (CT, MR_BE):
        header, data = dataset_bytes(source)
        stored = tmp_path / str(archive.index.instance_path(header.sop_instance_uid))
        assert dataset_bytes(stored)[1] == data


async def _store_each_statuses(serving: Serving, handler: Callable[..., Any],
                               items: Iterable[str]) -> list[int | Exception]:
    """Statuses of ``store_each(items)`` sent to a server answering with ``handler``."""
    server = Server("SCP", prefer_requestor_order=True)
    server.on_store()(handler)
    async with serving(server) as port:
        async with dicomnet.connect("127.0.0.1", port, called_ae="SCP",
                                    contexts=contexts_for([CT, MR_BE])) as assoc:
            return [status async for _item, status in assoc.store_each(items)]


async def test_store_each_opens_the_next_item_while_the_peer_works(serving: Serving) -> None:
    # The handler of the first C-STORE waits until the client has taken the second
    # item from its iterable: that happens only if the client prepares the next item
    # while its request is outstanding, not after the response.
    second_taken = anyio.Event()

    def items() -> Iterator[str]:
        yield CT
        second_taken.set()
        yield MR_BE

    async def handler(request: IncomingRequest) -> int:
        with anyio.fail_after(5):
            await second_taken.wait()
        return Status.SUCCESS

    assert await _store_each_statuses(serving, handler, items()) == [Status.SUCCESS] * 2


async def test_store_each_asks_the_disk_for_the_next_data_set_while_the_peer_works(
        serving: Serving, monkeypatch: pytest.MonkeyPatch) -> None:
    # The kernel is told (posix_fadvise WILLNEED) to read the second file's data set
    # while the first request is outstanding, so it is in memory when it is sent: the
    # first handler answers only once that advice was given.
    advised: list[tuple[int, int, int]] = []
    second_advised = anyio.Event()

    def fadvise(fd: int, offset: int, length: int, advice: int) -> None:
        assert advice == os.POSIX_FADV_WILLNEED
        advised.append((os.fstat(fd).st_ino, offset, length))
        if len(advised) == 2:  # asked from the worker thread that prepares the file
            anyio.from_thread.run_sync(second_advised.set)

    monkeypatch.setattr(os, "posix_fadvise", fadvise, raising=False)

    async def handler(request: IncomingRequest) -> int:
        with anyio.fail_after(5):
            await second_advised.wait()
        return Status.SUCCESS

    assert await _store_each_statuses(serving, handler, [CT, MR_BE]) == [Status.SUCCESS] * 2
    expected = []
    for source in (CT, MR_BE):
        header, data = dataset_bytes(source)
        expected.append((os.stat(source).st_ino, header.dataset_offset, len(data)))
    assert advised == expected  # the whole data set: both are under the limit


async def test_store_each_encodes_the_next_request_while_the_peer_works(
        serving: Serving, monkeypatch: pytest.MonkeyPatch) -> None:
    # The second C-STORE-RQ is encoded (and its first write built) while the first is
    # outstanding, so that only the writing is left once the answer comes: the first
    # handler answers only after the client encoded a second command.
    import dicomnet.outgoing

    encoded = 0
    second_encoded = anyio.Event()
    original = dicomnet.outgoing.encode_command

    def counting(message: Any) -> bytes:
        nonlocal encoded
        encoded += 1
        if encoded == 2:
            second_encoded.set()
        return original(message)

    monkeypatch.setattr(dicomnet.outgoing, "encode_command", counting)

    async def handler(request: IncomingRequest) -> int:
        with anyio.fail_after(5):
            await second_encoded.wait()
        return Status.SUCCESS

    assert await _store_each_statuses(serving, handler, [CT, MR_BE]) == [Status.SUCCESS] * 2


async def test_store_each_left_early_gives_back_what_it_prepared(serving: Serving,
                                                                 tmp_path: Path) -> None:
    # Leaving after the first result: the second request, already encoded with a
    # Message ID and its file open, is never sent; its Message ID is free again.
    server, archive = _archive_server(tmp_path)
    async with serving(server) as port:
        async with dicomnet.connect("127.0.0.1", port, called_ae="SCP",
                                    contexts=contexts_for([CT, MR_BE])) as assoc:
            async with aclosing(assoc.store_each([CT, MR_BE])) as results:
                async for _item, status in results:
                    assert status == Status.SUCCESS
                    assert assoc.connection.message_ids_in_use == 1  # the second one's
                    break
            assert assoc.connection.message_ids_in_use == 0
            assert await assoc.store(MR_BE) == Status.SUCCESS
    assert archive.index.count("instance") == 2


async def test_a_prepared_request_that_can_be_cancelled_is_refused(serving: Serving,
                                                                  tmp_path: Path) -> None:
    # request_prepared() knows one response; a C-FIND must go through request().
    server, _archive = _archive_server(tmp_path)
    async with serving(server) as port:
        async with dicomnet.connect("127.0.0.1", port, called_ae="SCP",
                                    contexts=contexts_for([CT])) as assoc:
            context = assoc.negotiated.contexts_for(CT_STORAGE)[0]
            outgoing = assoc.prepare(context, CFindRQ(affected_sop_class_uid=CT_STORAGE),
                                     b"")
            with pytest.raises(ValueError, match="use request"):
                await assoc.request_prepared(outgoing)
            assoc.discard(outgoing)
            assert await assoc.store(CT) == Status.SUCCESS


async def test_big_endian_file_is_converted_when_refused(serving: Serving,
                                                         tmp_path: Path) -> None:
    server = Server("SCP")
    received: list[pydicom.Dataset] = []

    @server.on_store(sop_classes=[MR_STORAGE], transfer_syntaxes=[IMPLICIT_VR_LITTLE_ENDIAN])
    async def keep(request: IncomingRequest) -> int:
        assert request.dataset is not None
        received.append(request.dataset)
        return Status.SUCCESS

    async with serving(server) as port:
        async with dicomnet.connect("127.0.0.1", port, called_ae="SCP",
                                    contexts=contexts_for([MR_BE])) as assoc:
            assert await assoc.store(MR_BE) == Status.SUCCESS
    original = pydicom.dcmread(MR_BE)
    (copy,) = received
    assert copy.SOPInstanceUID == original.SOPInstanceUID
    assert copy.pixel_array.tolist() == original.pixel_array.tolist()


async def test_storing_without_a_context_says_why(serving: Serving) -> None:
    async with serving(Server("SCP")) as port:
        async with dicomnet.connect("127.0.0.1", port, called_ae="SCP") as assoc:
            with pytest.raises(NegotiationError, match="no accepted presentation context"):
                await assoc.store(CT)


async def test_handler_status_reaches_the_client(serving: Serving) -> None:
    server = Server("SCP")
    server.on_store(sop_classes=[CT_STORAGE])(lambda request: _status(0xA700))
    async with serving(server) as port:
        async with dicomnet.connect("127.0.0.1", port, called_ae="SCP",
                                    contexts=[CT_STORAGE]) as assoc:
            assert await assoc.store(CT) == 0xA700


async def _status(value: int) -> int:
    return value


async def test_async_window_of_eight_really_overlaps(serving: Serving) -> None:
    server = Server("SCP", max_operations=8)
    active = 0
    most = 0
    all_in = anyio.Event()

    @server.on_store(sop_classes=[CT_STORAGE])
    async def slow(request: IncomingRequest) -> int:
        nonlocal active, most
        active += 1
        most = max(most, active)
        if most == 8:
            all_in.set()
        with anyio.move_on_after(5):
            await all_in.wait()
        active -= 1
        return Status.SUCCESS

    ct = pydicom.dcmread(CT)
    datasets = []
    for _ in range(16):
        copy = ct.copy()
        copy.SOPInstanceUID = generate_uid()
        datasets.append(copy)
    statuses: list[int] = []
    async with serving(server) as port:
        async with dicomnet.connect("127.0.0.1", port, called_ae="SCP",
                                    contexts=[CT_STORAGE], async_window=(8, 8)) as assoc:
            assert assoc.negotiated.max_invoke == 8

            async def one(ds: pydicom.Dataset) -> None:
                statuses.append(await assoc.store(ds))

            with anyio.fail_after(20):
                async with anyio.create_task_group() as tg:
                    for ds in datasets:
                        tg.start_soon(one, ds)
    assert statuses == [0] * 16
    assert most == 8  # eight handlers ran at once, never more than the window


async def test_inline_store_handlers_run_one_at_a_time_in_the_reader(
        serving: Serving) -> None:
    """on_store(inline=True): no task per request, so even with a window of eight the
    handlers never overlap, however long they take; every request is answered."""
    server = Server("SCP", max_operations=8)
    active = 0
    most = 0

    @server.on_store(sop_classes=[CT_STORAGE], inline=True)
    async def slow(request: IncomingRequest) -> int:
        nonlocal active, most
        active += 1
        most = max(most, active)
        await anyio.sleep(0.01)  # a task-per-request server would start the others
        active -= 1
        return Status.SUCCESS

    ct = pydicom.dcmread(CT)
    statuses: list[int] = []
    async with serving(server) as port:
        async with dicomnet.connect("127.0.0.1", port, called_ae="SCP",
                                    contexts=[CT_STORAGE], async_window=(8, 8)) as assoc:

            async def one() -> None:
                copy = ct.copy()
                copy.SOPInstanceUID = generate_uid()
                statuses.append(await assoc.store(copy))

            with anyio.fail_after(20):
                async with anyio.create_task_group() as tg:
                    for _ in range(16):
                        tg.start_soon(one)
    assert statuses == [0] * 16
    assert most == 1


async def test_peer_aborting_mid_store_leaves_no_file_and_no_row(serving: Serving,
                                                                 tmp_path: Path) -> None:
    server, archive = _archive_server(tmp_path)
    header, data = dataset_bytes(CT)
    async with serving(server) as port:
        async with RawPeer("127.0.0.1", port) as peer:
            await peer.send(encode_pdu(build_request(
                calling_ae_title="RAW", called_ae_title="SCP",
                contexts=[(CT_STORAGE, [EXPLICIT_VR_LITTLE_ENDIAN])],
                max_pdu_length=16384)))
            accept = await peer.receive_pdu()
            assert isinstance(accept, AAssociateAC)
            command = encode_command(CStoreRQ(message_id=1, affected_sop_class_uid=CT_STORAGE,
                                              affected_sop_instance_uid=header.sop_instance_uid))
            await peer.send(pdata_pdu(1, True, True, command))
            await peer.send(pdata_pdu(1, False, False, data[:20000]))
            with anyio.fail_after(5):
                while not partial_files(archive):
                    await anyio.sleep(0.01)  # the data set is being written...
            await peer.send(AAbort(source=0, reason=0))
        with anyio.fail_after(5):
            while partial_files(archive) or server.associations:
                await anyio.sleep(0.01)
    assert archive.index.count("instance") == 0
    assert not list(tmp_path.rglob("*.dcm"))  # noqa: ASYNC240 - the test is over


async def test_a_failing_handler_gives_a_failure_status(serving: Serving) -> None:
    server = Server("SCP")

    @server.on_store(sop_classes=[CT_STORAGE])
    async def broken(request: IncomingRequest) -> int:
        raise RuntimeError("the handler has a bug")

    async with serving(server) as port:
        async with dicomnet.connect("127.0.0.1", port, called_ae="SCP",
                                    contexts=[CT_STORAGE]) as assoc:
            assert await assoc.store(CT) == Status.PROCESSING_FAILURE
            assert await assoc.store(CT) == Status.PROCESSING_FAILURE  # still serving
            assert assoc.is_established


async def test_an_operation_the_server_lacks_is_refused_not_aborted(serving: Serving) -> None:
    from dicomnet.dimse import CFindRQ
    from dicomnet.uids import VERIFICATION

    async with serving(Server("SCP")) as port:
        async with dicomnet.connect("127.0.0.1", port, called_ae="SCP") as assoc:
            context = assoc.negotiated.find_context(VERIFICATION)
            assert context is not None
            query = CFindRQ(affected_sop_class_uid=VERIFICATION)
            statuses = [r.status async for r in assoc.request(context, query, b"")]
            assert statuses == [Status.UNRECOGNIZED_OPERATION]
            assert await assoc.echo() == Status.SUCCESS


async def test_disk_full_gives_out_of_resources_and_no_file(
        serving: Serving, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A write failing half way (ENOSPC simulated: the test cannot fill a real disk)
    answers A700 and leaves neither a file nor a row; the next store works."""
    import errno

    from dicomnet.archive.store import IncomingFile

    server, archive = _archive_server(tmp_path)
    real_write = IncomingFile.write
    calls = {"n": 0}

    def failing_write(self: IncomingFile, data: bytes | bytearray | memoryview) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(self, data)

    monkeypatch.setattr(IncomingFile, "write", failing_write)
    async with serving(server) as port:
        async with dicomnet.connect("127.0.0.1", port, called_ae="SCP",
                                    contexts=contexts_for([CT]), max_pdu_length=16384
                                    ) as assoc:
            assert await assoc.store(CT) == 0xA700  # Refused: Out of Resources
            assert not partial_files(archive)
            assert archive.index.count("instance") == 0
            assert await assoc.store(CT) == Status.SUCCESS
    assert archive.index.count("instance") == 1


@pytest.mark.parametrize("with_archive", [True, False])
async def test_a_data_set_over_the_size_limit_is_refused(serving: Serving, tmp_path: Path,
                                                        with_archive: bool) -> None:
    called: list[object] = []
    if with_archive:
        server = Server("SCP", prefer_requestor_order=True, max_dataset_size=10_000)
        archive = Archive(tmp_path)
        install(server, archive)
    else:
        server = Server("SCP", max_dataset_size=10_000)
        server.on_store(sop_classes=[CT_STORAGE])(lambda request: _record(called, request))
    async with serving(server) as port:
        async with dicomnet.connect("127.0.0.1", port, called_ae="SCP",
                                    contexts=[*contexts_for([CT]), VERIFICATION]) as assoc:
            assert await assoc.store(CT) == 0xA700  # Refused: Out of Resources
            assert await assoc.echo() == Status.SUCCESS  # the association goes on
    assert called == []
    if with_archive:
        assert archive.index.count("instance") == 0
        assert not partial_files(archive)


async def _record(called: list[object], request: object) -> int:
    called.append(request)
    return Status.SUCCESS
