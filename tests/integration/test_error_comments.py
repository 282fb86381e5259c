"""Every failure status the server sends says why: an Error Comment (0000,0902) of at
most 64 printable ASCII characters (LO), and an Offending Element (0000,0901) for an
identifier problem (PS3.4 Tables C.4-1 to C.4-3, PS3.7 Annex C)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pydicom
import pytest
from queries import query as _query

import dicomnet
from dicomnet import Association
from dicomnet.archive import Archive, install
from dicomnet.association import IncomingRequest, Response
from dicomnet.dimse import DIMSEMessage, Status, StatusCategory
from dicomnet.server import Server
from dicomnet.services import query_retrieve as qr
from dicomnet.services.failure import ServiceFailure
from dicomnet.services.mpps import MPPS
from dicomnet.services.normalized import n_set
from dicomnet.uids import VERIFICATION

pytestmark = pytest.mark.anyio
Serving = Callable[..., AbstractAsyncContextManager[int]]
CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"



def _server(folder: Path) -> Server:
    server = Server("ARCHIVE")
    install(server, Archive(folder), {"KNOWN": ("127.0.0.1", 9)}.get)
    return server


async def _final(assoc: Association, responses: AsyncIterator[Response]) -> Response:
    return [r async for r in responses][-1]


async def _find_bad_level(assoc: Association) -> Response:
    return await _final(assoc, qr.find(assoc, _query("FRAME")))


async def _find_no_study(assoc: Association) -> Response:
    return await _final(assoc, qr.find(assoc, _query("SERIES", SeriesInstanceUID="")))


async def _get_no_study(assoc: Association) -> Response:
    return await _final(assoc, qr.get(assoc, _query("SERIES", SeriesInstanceUID="")))


async def _move_unknown(assoc: Association) -> Response:
    return await _final(assoc, qr.move(assoc, _query("STUDY", StudyInstanceUID="1.2"),
                                       destination="NOWHERE\x07"))


async def _move_no_identifier_level(assoc: Association) -> Response:
    return await _final(assoc, qr.move(assoc, _query("IMAGE"), destination="KNOWN"))


async def _n_set_unknown_step(assoc: Association) -> Response:
    modifications = pydicom.Dataset()
    modifications.PerformedProcedureStepStatus = "COMPLETED"
    return (await n_set(assoc, MPPS, "1.2.3.4", modifications)).response


#: (case, status, what the comment says, Offending Element)
CASES: list[tuple[Callable[[Association], Awaitable[Response]], int, str,
                  tuple[int, ...] | None]] = [
    (_find_bad_level, 0xA900, "Query/Retrieve Level 'FRAME'", (0x00080052,)),
    (_find_no_study, 0xA900, "a hierarchical SERIES query needs one StudyInstanceUID",
     (0x0020000D,)),
    (_get_no_study, 0xA900, "a hierarchical SERIES query needs one StudyInstanceUID",
     (0x0020000D,)),
    (_move_unknown, 0xA801, "move destination 'NOWHERE/x07' is not known", None),
    (_move_no_identifier_level, 0xA900, "a hierarchical IMAGE query needs one",
     (0x0020000D,)),
    (_n_set_unknown_step, Status.NO_SUCH_SOP_INSTANCE, "no such Performed Procedure",
     None),
]


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[DIMSEMessage]:
    """Every response the server's associations put on the wire, for the scan."""
    messages: list[DIMSEMessage] = []
    original = Association.send_message

    async def recording(self: Association, context: Any, message: DIMSEMessage,
                        dataset: Any = None) -> None:
        if message.is_response:
            messages.append(message)
        await original(self, context, message, dataset)

    monkeypatch.setattr(Association, "send_message", recording)
    return messages


def _check_scan(sent: list[DIMSEMessage]) -> None:
    failures = [m for m in sent if m.status_category == StatusCategory.FAILURE]  # type: ignore[union-attr]
    assert failures
    for message in failures:
        comment = message.error_comment  # type: ignore[union-attr]
        assert comment, message
        assert len(comment) <= 64 and comment.isascii() and comment.isprintable()


Case = tuple[Callable[[Association], Awaitable[Response]], int, str,
             tuple[int, ...] | None]


@pytest.mark.parametrize("expected", CASES,
                         ids=[case.__name__.strip("_") for case, *_ in CASES])
async def test_failures_from_the_archive_say_why(
        serving: Serving, tmp_path: Path, sent: list[DIMSEMessage], expected: Case
        ) -> None:
    case, status, says, offending = expected
    async with serving(_server(tmp_path)) as port, dicomnet.connect(
            "127.0.0.1", port, called_ae="ARCHIVE",
            contexts=[qr.STUDY_ROOT_FIND, qr.STUDY_ROOT_GET, qr.STUDY_ROOT_MOVE,
                      MPPS]) as assoc:
        final = await case(assoc)
    assert final.status == status
    comment = final.message.error_comment  # type: ignore[union-attr]
    assert comment is not None and says in comment
    assert final.message.offending_element == offending  # type: ignore[union-attr]
    _check_scan(sent)


async def test_handlers_that_raise_say_what_they_raised(
        serving: Serving, sent: list[DIMSEMessage]) -> None:
    server = Server("SCP")

    @server.on_find()
    async def broken_find(request: IncomingRequest) -> AsyncIterator[pydicom.Dataset]:
        raise RuntimeError("index gone\nsecond line")
        yield pydicom.Dataset()  # pragma: no cover - an async generator

    @server.on_store()
    async def broken_store(request: IncomingRequest) -> int:
        raise KeyError("x" * 200)

    @server.on_echo()
    async def refusing_echo(request: IncomingRequest) -> int:
        raise ServiceFailure(Status.PROCESSING_FAILURE, "maintenance at the caf\u00e9")

    ct = pydicom.Dataset()
    ct.SOPClassUID = CT_STORAGE
    ct.SOPInstanceUID = "1.2.3.4"
    async with serving(server) as port, dicomnet.connect(
            "127.0.0.1", port, called_ae="SCP",
            contexts=[qr.STUDY_ROOT_FIND, CT_STORAGE, VERIFICATION]) as assoc:
        found = await _final(assoc, qr.find(assoc, _query("STUDY")))
        echo = await assoc.echo()
        stored = await assoc.store(ct)
    assert found.status == 0xC000
    assert found.message.error_comment == "RuntimeError: index gone"  # type: ignore[union-attr]
    assert echo == Status.PROCESSING_FAILURE
    assert stored == Status.PROCESSING_FAILURE
    comments = [m.error_comment for m in sent]  # type: ignore[union-attr]
    assert "maintenance at the caf/xe9" in comments
    assert any(c and c.startswith("KeyError: 'xxx") and c.endswith("...") for c in comments)
    _check_scan(sent)
