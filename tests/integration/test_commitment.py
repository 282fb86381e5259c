"""Storage Commitment Push Model (PS3.4 Annex J) between dicomnet's SCU and SCP, on
asyncio and trio, in both association modes: the report on the requesting association,
and on a new association the SCP opens to the SCU (which takes it with the SCP role
negotiated for the requestor). The archive commits what its index holds."""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import anyio
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

import dicomnet
from dicomnet.archive import Archive, install
from dicomnet.dimse import Status
from dicomnet.server import Server
from dicomnet.services import commitment
from dicomnet.services.commitment import (
    STORAGE_COMMITMENT_INSTANCE,
    STORAGE_COMMITMENT_PUSH,
    CommitmentError,
    CommitmentResults,
    CommitmentSCP,
    Failed,
    Reference,
)
from dicomnet.services.normalized import n_action
from dicomnet.services.storage import contexts_for
from dicomnet.testing import dicomnet_command, free_port, start_process

pytestmark = pytest.mark.anyio
Serving = Callable[..., AbstractAsyncContextManager[int]]

CT = get_testdata_file("CT_small.dcm")
CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "storage_commitment_scu.py"


async def test_report_on_the_same_association(serving: Serving, tmp_path: Path) -> None:
    """The archive commits the instance it holds; an unknown instance fails with 0112
    and a wrong SOP class with 0119 (PS3.4 J.3.3.1.1); the report arrives while the
    SCU keeps the association open."""
    ct = pydicom.dcmread(CT)
    server = Server("ARCHIVE")
    install(server, Archive(tmp_path))
    unknown = generate_uid()
    results = CommitmentResults()
    async with serving(server) as port:
        async with dicomnet.connect("127.0.0.1", port, called_ae="ARCHIVE",
                                    contexts=[*contexts_for([CT]), STORAGE_COMMITMENT_PUSH],
                                    on_request=results.on_request) as assoc:
            assert await assoc.store(CT) == Status.SUCCESS
            transaction = await commitment.request_commitment(
                assoc, [CT, (CT_STORAGE, unknown), (MR_STORAGE, ct.SOPInstanceUID)])
            with anyio.fail_after(10):
                result = await results.wait(transaction)
    assert result.transaction_uid == transaction
    assert result.committed == (Reference(CT_STORAGE, ct.SOPInstanceUID),)
    assert set(result.failed) == {Failed(CT_STORAGE, unknown, 0x0112),
                                  Failed(MR_STORAGE, ct.SOPInstanceUID, 0x0119)}
    assert result.retrieve_ae_title == "ARCHIVE"
    assert not result.all_committed


async def test_report_on_a_new_association(serving: Serving) -> None:
    """The SCU releases right after the N-ACTION-RSP; the SCP, once it has decided,
    opens an association to the SCU's AE title (PS3.4 J.3.3) and reports there,
    through the ``connect`` its server has at report time."""
    decide = anyio.Event()
    instance = generate_uid()

    async def check(reference: Reference) -> int | None:
        await decide.wait()  # decide only once the requesting association has ended
        return None if reference.sop_instance_uid == instance else 0x0112

    scu_server = Server("COMMITSCU")
    results = CommitmentResults()
    results.install(scu_server)
    async with serving(scu_server) as scu_port:
        scp = Server("COMMITSCP")
        committer = CommitmentSCP(
            check, ae_title="COMMITSCP",
            destinations={"COMMITSCU": ("127.0.0.1", scu_port)}.get)
        committer.install(scp)
        opened: list[tuple[str, int, str]] = []

        def recording_connect(host: str, port: int, **options: Any
                              ) -> AbstractAsyncContextManager[dicomnet.Association]:
            opened.append((host, port, options["called_ae"]))
            return dicomnet.connect(host, port, **options)

        scp.connect = recording_connect  # after install: read when the report goes
        async with serving(scp) as port:
            async with dicomnet.connect("127.0.0.1", port, called_ae="COMMITSCP",
                                        calling_ae="COMMITSCU",
                                        contexts=[STORAGE_COMMITMENT_PUSH]) as assoc:
                transaction = await commitment.request_commitment(
                    assoc, [(CT_STORAGE, instance), (CT_STORAGE, "1.2.3.4")])
            decide.set()
            with anyio.fail_after(10):
                result = await results.wait(transaction)
            with anyio.fail_after(5):
                while not committer.delivered:
                    await anyio.sleep(0.01)
    assert result.committed == (Reference(CT_STORAGE, instance),)
    assert result.failed == (Failed(CT_STORAGE, "1.2.3.4", 0x0112),)
    assert committer.delivered == [(transaction, "new")]
    assert opened == [("127.0.0.1", scu_port, "COMMITSCU")]


async def test_report_refused_on_the_association_goes_on_a_new_one(
        serving: Serving, tmp_path: Path) -> None:
    """An SCU that keeps its association open but takes no reports there (it answers
    0211) still gets the report: on a new association to its listening AE."""
    ct = pydicom.dcmread(CT)
    scu_server = Server("COMMITSCU")
    results = CommitmentResults()
    results.install(scu_server)
    async with serving(scu_server) as scu_port:
        archive = Server("ARCHIVE")
        install(archive, Archive(tmp_path), {"COMMITSCU": ("127.0.0.1", scu_port)}.get)
        async with serving(archive) as port:
            async with dicomnet.connect("127.0.0.1", port, called_ae="ARCHIVE",
                                        calling_ae="COMMITSCU",
                                        contexts=[*contexts_for([CT]),
                                                  STORAGE_COMMITMENT_PUSH]) as assoc:
                assert await assoc.store(CT) == Status.SUCCESS
                transaction = await commitment.request_commitment(assoc, [CT])
                with anyio.fail_after(10):
                    result = await results.wait(transaction)
                assert assoc.is_established  # it came while this one stayed open
    assert result.committed == (Reference(CT_STORAGE, ct.SOPInstanceUID),)


async def test_refused_requests(serving: Serving, tmp_path: Path) -> None:
    """Requests the SCP cannot act on are refused with the N-ACTION statuses of
    PS3.7 C.4: another SOP instance (0112), another action (0123), no Transaction UID
    or no instances (0120)."""
    server = Server("ARCHIVE")
    install(server, Archive(tmp_path))
    async with serving(server) as port:
        async with dicomnet.connect("127.0.0.1", port, called_ae="ARCHIVE",
                                    contexts=[STORAGE_COMMITMENT_PUSH]) as assoc:
            no_transaction = pydicom.Dataset()
            no_transaction.ReferencedSOPSequence = [pydicom.Dataset()]
            no_items = pydicom.Dataset()
            no_items.TransactionUID = generate_uid()
            statuses = [
                (await n_action(assoc, STORAGE_COMMITMENT_PUSH, "1.2.3", 1,
                                no_items)).status,
                (await n_action(assoc, STORAGE_COMMITMENT_PUSH,
                                STORAGE_COMMITMENT_INSTANCE, 2, no_items)).status,
                (await n_action(assoc, STORAGE_COMMITMENT_PUSH,
                                STORAGE_COMMITMENT_INSTANCE, 1, no_transaction)).status,
                (await n_action(assoc, STORAGE_COMMITMENT_PUSH,
                                STORAGE_COMMITMENT_INSTANCE, 1, no_items)).status,
            ]
            with pytest.raises(CommitmentError, match="0x0120"):
                await commitment.request_commitment(assoc, [])
    assert statuses == [0x0112, 0x0123, 0x0120, 0x0120]


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_example_against_dicomnet_serve(tmp_path: Path) -> None:
    """examples/storage_commitment_scu.py against the real `dicomnet serve`."""
    ct = pydicom.dcmread(CT)
    other = tmp_path / "not-sent.dcm"
    ct.SOPInstanceUID = ct.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ct.save_as(other)
    port = free_port()
    server = start_process(dicomnet_command("serve", "--port", str(port),
                                            "--data", str(tmp_path / "archive")), port)
    try:
        stored = await anyio.run_process(
            dicomnet_command("store", "-aec", "DICOMNET", "127.0.0.1", str(port), CT),
            check=False)
        assert stored.returncode == 0, stored.stdout + stored.stderr
        done = await anyio.run_process(
            [sys.executable, str(EXAMPLE), "127.0.0.1", str(port), CT, str(other),
             "--aec", "DICOMNET"], check=False)
    finally:
        assert server.stop() == 0, server.output
    output = done.stdout.decode() + done.stderr.decode()
    assert done.returncode == 1, output  # one instance was not committed
    assert f"committed {pydicom.dcmread(CT).SOPInstanceUID}" in output
    assert f"failed    {ct.SOPInstanceUID} (reason 0x0112)" in output


async def test_an_undelivered_report_does_not_outlast_the_shutdown_grace() -> None:
    """A report still being decided when the server shuts down is cancelled once the
    grace period is over: shutdown is bounded by the grace, not by report_timeout."""
    started = anyio.Event()

    async def check(reference: Reference) -> int | None:
        started.set()
        await anyio.sleep_forever()  # never decides
        return None

    scp = Server("COMMITSCP")
    CommitmentSCP(check, ae_title="COMMITSCP", destinations=lambda _title: None,
                  report_timeout=120).install(scp)
    async with anyio.create_task_group() as tg:
        port = await tg.start(scp.serve, "127.0.0.1", 0)
        async with dicomnet.connect("127.0.0.1", port, called_ae="COMMITSCP",
                                    contexts=[STORAGE_COMMITMENT_PUSH]) as assoc:
            await commitment.request_commitment(assoc, [(CT_STORAGE, generate_uid())])
        with anyio.fail_after(5):
            await started.wait()
        before = anyio.current_time()
        scp.shutdown(grace=0.5)
        with anyio.fail_after(10):
            await scp.wait_stopped()
        assert anyio.current_time() - before < 5
