"""The data set of a request other than a C-STORE is held in memory whole (a query
identifier, N-ACTION information...), so it has a bound of its own,
``max_identifier_size``: past it the rest of the bytes are dropped as they come, the
request is refused "out of resources" with an Error Comment, its handler never runs,
and the association goes on. Unbounded, one peer sending a 1 GiB C-FIND identifier
made ``dicomnet serve`` hold twice that in memory and then answer Success. A response's
data set has the same bound on the requestor's side, which aborts past it.
"""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import anyio
import pytest
from pydicom import Dataset
from serve_process import rss, serve_process

import dicomnet
from dicomnet.config import MAX_IDENTIFIER_SIZE
from dicomnet.dimse import Status, encode_dataset
from dicomnet.errors import DicomNetError
from dicomnet.server import Server
from dicomnet.services.commitment import STORAGE_COMMITMENT_INSTANCE, STORAGE_COMMITMENT_PUSH
from dicomnet.services.normalized import NormalizedRequest
from dicomnet.uids import IMPLICIT_VR_LITTLE_ENDIAN, VERIFICATION

pytestmark = pytest.mark.anyio
Serving = Callable[..., AbstractAsyncContextManager[int]]

STUDY_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
STUDY_MOVE = "1.2.840.10008.5.1.4.1.2.2.2"
LIMIT = 64 << 10


def _identifier(padding: int) -> bytes:
    """A STUDY-level identifier with a private OB-sized value of ``padding`` bytes
    (Implicit VR Little Endian: a private tag, any length)."""
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID = ""
    return encode_dataset(query, IMPLICIT_VR_LITTLE_ENDIAN) \
        + struct.pack("<HHI", 0x0009, 0x1010, padding) + b"\0" * padding


def _server(called: list[str], limit: int | None = LIMIT) -> Server:
    server = Server("SCP", max_identifier_size=limit)

    @server.on_find()
    async def find(request: object) -> AsyncIterator[Dataset]:
        called.append("find")
        return
        yield  # an async generator with no match

    def destination(_aet: str) -> None:
        called.append("move")  # the service asks once the request reached it

    @server.on_move(destinations=destination)
    async def move(request: object) -> AsyncIterator[Dataset]:
        return
        yield

    @server.on_normalized(STORAGE_COMMITMENT_PUSH, "N-ACTION")
    async def commit(request: NormalizedRequest) -> int:
        called.append("n-action")
        return Status.SUCCESS

    return server


async def _ask(port: int, operation: str, padding: int) -> tuple[int, str | None]:
    """Send ``operation`` with an identifier of ``padding`` extra bytes; its final
    status and Error Comment, after checking that the association still serves."""
    async with dicomnet.connect("127.0.0.1", port, called_ae="SCP", contexts=[
            VERIFICATION, (STUDY_FIND, [IMPLICIT_VR_LITTLE_ENDIAN]), STUDY_MOVE,
            STORAGE_COMMITMENT_PUSH]) as assoc:
        identifier = _identifier(padding)
        if operation == "find":
            responses = [r async for r in assoc.find(identifier)]
        elif operation == "move":
            # move() encodes a Dataset: the padding goes in as a private OB element.
            query = Dataset()
            query.QueryRetrieveLevel = "STUDY"
            query.StudyInstanceUID = "1.2.3"
            query.add_new(0x00091010, "OB", b"\0" * padding)
            responses = [r async for r in assoc.move(query, destination="NOWHERE")]
        else:
            information = Dataset()
            information.TransactionUID = "1.2.3.4"
            information.add_new(0x00091010, "OB", b"\0" * padding)
            result = await assoc.n_action(STORAGE_COMMITMENT_PUSH,
                                          STORAGE_COMMITMENT_INSTANCE, 1, information)
            responses = [result.response]
        final = responses[-1]
        assert await assoc.echo() == Status.SUCCESS  # the association goes on
    return final.status, getattr(final.message, "error_comment", None)


@pytest.mark.parametrize(("operation", "status"), [
    ("find", Status.OUT_OF_RESOURCES),                # PS3.4 Table C.4-1
    ("move", Status.UNABLE_TO_CALCULATE_MATCHES),     # PS3.4 Table C.4-2
    ("n-action", Status.RESOURCE_LIMITATION),         # PS3.7 C.5
])
async def test_a_request_data_set_past_the_limit_is_refused_before_its_handler(
        serving: Serving, operation: str, status: int) -> None:
    called: list[str] = []
    async with serving(_server(called)) as port:
        got, comment = await _ask(port, operation, 4 * LIMIT)
    assert got == status
    assert comment is not None and str(LIMIT) in comment
    assert called == []


@pytest.mark.parametrize("operation", ["find", "move", "n-action"])
async def test_a_request_data_set_within_the_limit_reaches_its_handler(
        serving: Serving, operation: str) -> None:
    called: list[str] = []
    async with serving(_server(called)) as port:
        got, _comment = await _ask(port, operation, LIMIT // 2)
    assert called == [operation]
    assert got not in (Status.OUT_OF_RESOURCES, Status.RESOURCE_LIMITATION)


async def test_no_identifier_limit_when_none(serving: Serving) -> None:
    called: list[str] = []
    async with serving(_server(called, limit=None)) as port:
        await _ask(port, "find", 4 * LIMIT)
    assert called == ["find"]


# -- dicomnet serve, a real process: its memory, read from /proc -------------------------

#: What `serve` may grow by while 256 MiB of identifier stream past its default limit of
#: 16 MiB: the limit, plus room for buffers. Kept whole, it grew by twice the size.
HUGE = 256 << 20
RSS_GROWTH_LIMIT = 96 << 20


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[tuple[int, int]]:
    """`dicomnet serve` with its defaults on a free port: (pid, port)."""
    with serve_process("--aet", "SCP", "--data", str(tmp_path / "data")) as served:
        yield served


async def test_serve_refuses_a_huge_identifier_with_bounded_memory(
        serve: tuple[int, int]) -> None:
    pid, port = serve
    async with dicomnet.connect("127.0.0.1", port, called_ae="SCP") as assoc:
        assert await assoc.echo() == Status.SUCCESS
    before = peak = rss(pid)

    async def watch() -> None:
        nonlocal peak
        while True:
            peak = max(peak, rss(pid))
            await anyio.sleep(0.02)

    with anyio.fail_after(120):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(watch)
            async with dicomnet.connect("127.0.0.1", port, called_ae="SCP",
                                        contexts=[VERIFICATION, (STUDY_FIND, [
                                            IMPLICIT_VR_LITTLE_ENDIAN])]) as assoc:
                responses = [r async for r in assoc.find(_identifier(HUGE))]
                assert await assoc.echo() == Status.SUCCESS  # the association goes on
            tasks.cancel_scope.cancel()
    final = responses[-1]
    assert final.status == Status.OUT_OF_RESOURCES
    assert "limit" in (final.message.error_comment or "")  # type: ignore[union-attr]
    assert peak - before < RSS_GROWTH_LIMIT, f"grew by {(peak - before) >> 20} MiB"
    async with dicomnet.connect("127.0.0.1", port, called_ae="SCP") as assoc:
        assert await assoc.echo() == Status.SUCCESS


async def test_a_client_ends_the_association_on_a_response_past_the_limit(
        serving: Serving) -> None:
    # A response cannot be refused with a status; the requestor aborts instead of
    # holding a peer's huge pending identifier.
    server = Server("SCP")

    @server.on_find()
    async def find(request: object) -> AsyncIterator[Dataset]:
        match = Dataset()
        match.QueryRetrieveLevel = "STUDY"
        match.add_new(0x00091010, "OB", b"\0" * (MAX_IDENTIFIER_SIZE + 2))
        yield match

    async with serving(server) as port:
        with pytest.raises(DicomNetError, match="limit"):
            async with dicomnet.connect("127.0.0.1", port, called_ae="SCP", contexts=[
                    (STUDY_FIND, [IMPLICIT_VR_LITTLE_ENDIAN])]) as assoc:
                async for _response in assoc.find(_identifier(0)):
                    pass
        async with dicomnet.connect("127.0.0.1", port, called_ae="SCP") as assoc:
            assert await assoc.echo() == Status.SUCCESS
