"""Server.on_*: one decorator shape for every registration, and dispatch by command.

Every registration is a decorator factory; the handler given where the options go (a
bare ``@server.on_echo``, ``server.on_store(handler)``) is a TypeError at once, naming
the right spelling, instead of a name silently bound to a decorator. Requests go to
the service registered for their Command Field; another command gets 0211 with a
comment; C-MOVE opens its sub-association with the server's ``connect``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.uid import generate_uid

import dicomnet
from dicomnet.association import IncomingRequest
from dicomnet.dimse import CStoreRQ, NGetRQ, Status
from dicomnet.server import Server
from dicomnet.services import query_retrieve as qr
from dicomnet.services.normalized import NormalizedRequest, n_get
from dicomnet.uids import VERIFICATION
from tests.instances import instance_bytes

Serving = Callable[..., AbstractAsyncContextManager[int]]

MR_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
PRINTER = "1.2.840.10008.5.1.1.16"


async def _status(_request: object) -> int:
    return Status.SUCCESS


async def _nothing(_request: object) -> AsyncIterator[pydicom.Dataset]:
    return
    yield  # an async generator that yields nothing


# (what was written, the spelling the error must show)
# The server goes in as Any: a type checker refuses these shapes already, and the
# point is what happens at run time to a caller without one.
WRONG_SHAPES: list[tuple[str, Callable[[Any], object], str]] = [
    ("@server.on_echo", lambda s: s.on_echo(_status), "@server.on_echo()"),
    ("@server.on_store", lambda s: s.on_store(_status), "@server.on_store()"),
    ("@server.on_find", lambda s: s.on_find(_nothing), "@server.on_find()"),
    ("@server.on_get", lambda s: s.on_get(_nothing), "@server.on_get()"),
    ("@server.on_move", lambda s: s.on_move(_nothing),
     "@server.on_move(destinations=lookup)"),
    ("@server.on_normalized", lambda s: s.on_normalized(_status),
     '@server.on_normalized(sop_class, "N-SET")'),
    ("server.on_normalized(uid, op, handler)",
     lambda s: s.on_normalized(PRINTER, "N-GET", _status),
     '@server.on_normalized(sop_class, "N-SET")'),
]


@pytest.mark.parametrize(("written", "register", "spelling"), WRONG_SHAPES,
                         ids=[shape[0] for shape in WRONG_SHAPES])
def test_the_handler_where_the_options_go_is_refused_with_the_right_spelling(
        written: str, register: Callable[[Any], object], spelling: str) -> None:
    server = Server("SCP")
    contexts = dict(server.policy.contexts)
    with pytest.raises(TypeError) as caught:
        register(server)
    message = str(caught.value)
    assert spelling in message
    assert "decorator factory" in message
    # Nothing was registered half way: no context accepted, no operation served.
    assert dict(server.policy.contexts) == contexts


def test_the_error_moves_the_options_given_to_their_place() -> None:
    """``server.on_store(handler, inline=True)``: the error shows the call with those
    options and the handler after it."""
    server = Server("SCP")
    with pytest.raises(TypeError, match=r"server\.on_store\(inline=\.\.\.\)\(handler\)"):
        server.on_store(_status, inline=True)  # type: ignore[call-arg, arg-type]


def test_every_decorator_gives_the_function_back_unchanged() -> None:
    server = Server("SCP")
    assert server.on_echo()(_status) is _status
    assert server.on_store(inline=True)(_status) is _status
    assert server.on_find()(_nothing) is _nothing
    assert server.on_get()(_nothing) is _nothing
    assert server.on_move(destinations=lambda _title: None)(_nothing) is _nothing
    assert server.on_normalized(PRINTER, "N-GET")(_status) is _status


def test_an_unknown_dimse_n_operation_is_refused_at_the_factory() -> None:
    with pytest.raises(ValueError, match="N-FROB"):
        Server("SCP").on_normalized(PRINTER, "N-FROB")  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_each_command_goes_to_its_registered_service(
        serving: Serving, tmp_path: Path) -> None:
    """One server with every kind of handler; each request reaches its own, and the
    C-MOVE sub-operations go through ``server.connect``."""
    mr = tmp_path / "mr.dcm"
    mr.write_bytes(instance_bytes(PatientID="P1"))
    reached: list[str] = []
    server = Server("SCP")
    destination = Server("DEST")
    stored: list[str] = []

    @destination.on_store()
    async def keep(request: IncomingRequest) -> int:
        assert isinstance(request.message, CStoreRQ)
        stored.append(str(request.message.affected_sop_instance_uid))
        return Status.SUCCESS

    @server.on_echo()
    async def echo(request: IncomingRequest) -> int:
        reached.append("C-ECHO")
        return Status.SUCCESS

    @server.on_store()
    async def store(request: IncomingRequest) -> int:
        reached.append("C-STORE")
        return Status.SUCCESS

    @server.on_find()
    async def find(request: IncomingRequest) -> AsyncIterator[pydicom.Dataset]:
        reached.append("C-FIND")
        match = pydicom.Dataset()
        match.QueryRetrieveLevel = "PATIENT"
        match.PatientID = "P1"
        yield match

    async def retrieve(request: IncomingRequest) -> AsyncIterator[Path]:
        reached.append("C-MOVE")
        yield mr

    @server.on_normalized(PRINTER, "N-GET")
    async def printer(request: NormalizedRequest) -> int:
        reached.append("N-GET")
        return Status.SUCCESS

    async with serving(destination) as dest_port:
        opened: list[tuple[str, int, str]] = []

        def recording_connect(host: str, port: int, **options: Any
                              ) -> AbstractAsyncContextManager[dicomnet.Association]:
            opened.append((host, port, options["called_ae"]))
            return dicomnet.connect(host, port, **options)

        server.connect = recording_connect
        server.on_move(destinations={"DEST": ("127.0.0.1", dest_port)}.get)(retrieve)
        async with serving(server) as port, dicomnet.connect(
                "127.0.0.1", port, called_ae="SCP",
                contexts=[VERIFICATION, MR_STORAGE, qr.FIND_MODELS["patient"],
                          qr.MOVE_MODELS["patient"], PRINTER]) as assoc:
            assert await assoc.echo() == Status.SUCCESS
            assert await assoc.store(mr) == Status.SUCCESS
            query = pydicom.Dataset()
            query.QueryRetrieveLevel = "PATIENT"
            query.PatientID = "P1"
            found = [r async for r in qr.find(assoc, query, model="patient")]
            assert [r.status for r in found] == [Status.PENDING, Status.SUCCESS]
            moved = [r async for r in qr.move(assoc, query, destination="DEST",
                                              model="patient")]
            assert moved[-1].status == Status.SUCCESS
            assert (await n_get(assoc, PRINTER, "1.2.3")).status == Status.SUCCESS
    assert reached == ["C-ECHO", "C-STORE", "C-FIND", "C-MOVE", "N-GET"]
    assert opened == [("127.0.0.1", dest_port, "DEST")]
    assert len(stored) == 1


@pytest.mark.anyio
async def test_a_command_without_a_service_gets_0211_with_a_comment(
        serving: Serving) -> None:
    """C-STORE on a storage context accepted for C-GET (no store handler) and an N-GET
    with no DIMSE-N handler registered: refused 0211, the association goes on."""
    server = Server("SCP")
    server.on_get()(_nothing)
    async with serving(server) as port, dicomnet.connect(
            "127.0.0.1", port, called_ae="SCP",
            contexts=[VERIFICATION, MR_STORAGE]) as assoc:
        context = assoc.negotiated.find_context(MR_STORAGE)
        assert context is not None
        uid = str(generate_uid())
        store = CStoreRQ(
                         affected_sop_class_uid=MR_STORAGE, affected_sop_instance_uid=uid)
        responses = [r async for r in assoc.request(context, store, b"")]
        assert [r.status for r in responses] == [Status.UNRECOGNIZED_OPERATION]
        assert getattr(responses[0].message, "error_comment", "") == \
            "C-STORE is not served here"
        verification = assoc.negotiated.find_context(VERIFICATION)
        assert verification is not None
        get = NGetRQ(
                     requested_sop_class_uid=VERIFICATION,
                     requested_sop_instance_uid=uid)
        responses = [r async for r in assoc.request(verification, get)]
        assert [r.status for r in responses] == [Status.UNRECOGNIZED_OPERATION]
        assert getattr(responses[0].message, "error_comment", "") == \
            "N-GET is not served here"
        assert await assoc.echo() == Status.SUCCESS
