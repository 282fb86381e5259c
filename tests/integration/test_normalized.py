"""The six DIMSE-N operations (PS3.7 §10) between dicomnet's client and server, on
asyncio and trio: every operation round-trips with its identifiers, lists and type IDs,
and the general failure statuses (PS3.7 C.4) come back as the standard names them."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import anyio
import pydicom
import pytest
from pydicom.uid import generate_uid

import dicomnet
from dicomnet.dimse import NGetRQ, Status
from dicomnet.errors import NegotiationError
from dicomnet.server import Server
from dicomnet.services.normalized import (
    NFailure,
    NormalizedHandlers,
    NormalizedRequest,
    n_action,
    n_create,
    n_delete,
    n_event_report,
    n_get,
    n_set,
    select_attributes,
)
from dicomnet.uids import VERIFICATION

pytestmark = pytest.mark.anyio
Serving = Callable[..., AbstractAsyncContextManager[int]]

#: Basic Film Session (PS3.4 H): a SOP class defining every N-operation but N-EVENT-
#: REPORT; the handlers below give it an in-memory behaviour of their own.
FILM_SESSION = "1.2.840.10008.5.1.1.1"
#: Printer (PS3.4 H.4.6): a second class, accepted but given no handlers.
PRINTER = "1.2.840.10008.5.1.1.16"


class Instances:
    """A toy SCP managing SOP instances in memory, one handler per operation."""

    def __init__(self) -> None:
        self.items: dict[str, pydicom.Dataset] = {}
        self.events: list[tuple[int | None, str, pydicom.Dataset | None]] = []

    def _get(self, request: NormalizedRequest) -> pydicom.Dataset:
        item = self.items.get(request.sop_instance_uid)
        if item is None:
            raise NFailure(Status.NO_SUCH_SOP_INSTANCE)
        return item

    async def create(self, request: NormalizedRequest) -> tuple[int, pydicom.Dataset]:
        if request.sop_instance_uid in self.items:
            raise NFailure(Status.DUPLICATE_SOP_INSTANCE)
        self.items[request.sop_instance_uid] = request.dataset or pydicom.Dataset()
        return Status.SUCCESS, self.items[request.sop_instance_uid]

    async def get(self, request: NormalizedRequest) -> tuple[int, pydicom.Dataset]:
        return Status.SUCCESS, select_attributes(self._get(request),
                                                 request.attribute_identifier_list)

    async def set(self, request: NormalizedRequest) -> int:
        item = self._get(request)
        assert request.dataset is not None
        for element in request.dataset:
            item[element.tag] = element
        return Status.SUCCESS

    async def action(self, request: NormalizedRequest) -> tuple[int, pydicom.Dataset]:
        self._get(request)
        if request.action_type_id != 1:
            raise NFailure(Status.NO_SUCH_ACTION, "only action 1 (print) here")
        reply = pydicom.Dataset()
        reply.ReferencedPrintJobSequence = [pydicom.Dataset()]
        reply.ReferencedPrintJobSequence[0].ReferencedSOPInstanceUID = "1.2.3.4"
        return Status.SUCCESS, reply

    async def delete(self, request: NormalizedRequest) -> int:
        self._get(request)
        del self.items[request.sop_instance_uid]
        return Status.SUCCESS

    async def event(self, request: NormalizedRequest) -> tuple[int, pydicom.Dataset]:
        self.events.append((request.event_type_id, request.sop_instance_uid,
                            request.dataset))
        reply = pydicom.Dataset()
        reply.EventTypeID = request.event_type_id  # echoed, to prove the reply arrives
        return Status.SUCCESS, reply

    def install(self, server: Server) -> None:
        server.on_normalized(FILM_SESSION, "N-CREATE")(self.create)
        server.on_normalized(FILM_SESSION, "N-GET")(self.get)
        server.on_normalized(FILM_SESSION, "N-SET")(self.set)
        server.on_normalized(FILM_SESSION, "N-ACTION")(self.action)
        server.on_normalized(FILM_SESSION, "N-DELETE")(self.delete)
        server.on_normalized(FILM_SESSION, "N-EVENT-REPORT")(self.event)


def _session(copies: str = "1") -> pydicom.Dataset:
    ds = pydicom.Dataset()
    ds.NumberOfCopies = copies
    ds.PrintPriority = "LOW"
    ds.MediumType = "PAPER"
    return ds


async def test_every_operation_round_trips(serving: Serving) -> None:
    server = Server("NSCP")
    instances = Instances()
    instances.install(server)
    async with serving(server) as port:
        async with dicomnet.connect("127.0.0.1", port, called_ae="NSCP",
                                    contexts=[FILM_SESSION],
                                    roles={FILM_SESSION: (True, True)}) as assoc:
            uid = generate_uid()
            status, created = await n_create(assoc, FILM_SESSION, uid, _session())
            assert status == Status.SUCCESS
            assert created is not None and created.NumberOfCopies == 1
            # Without a UID the SCP chooses one and returns it (PS3.7 §10.1.5.1.3).
            chosen = await n_create(assoc, FILM_SESSION, None, _session("2"))
            assert chosen.status == Status.SUCCESS
            assert chosen.sop_instance_uid is not None and chosen.sop_instance_uid != uid
            assert chosen.sop_instance_uid in instances.items

            status, attributes = await n_get(assoc, FILM_SESSION, uid,
                                             [0x20000010, 0x20000040])
            assert status == Status.SUCCESS and attributes is not None
            assert attributes.NumberOfCopies == 1 and attributes.FilmDestination == ""
            assert "MediumType" not in attributes
            everything = await n_get(assoc, FILM_SESSION, uid)
            assert everything.dataset is not None and everything.dataset.MediumType == "PAPER"

            change = pydicom.Dataset()
            change.NumberOfCopies = "3"
            status, _reply = await n_set(assoc, FILM_SESSION, uid, change)
            assert status == Status.SUCCESS
            assert instances.items[uid].NumberOfCopies == 3

            action = await n_action(assoc, FILM_SESSION, uid, 1)
            assert action.status == Status.SUCCESS
            assert action.dataset is not None
            assert action.dataset.ReferencedPrintJobSequence[0].ReferencedSOPInstanceUID \
                == "1.2.3.4"
            assert action.response.message.action_type_id == 1  # type: ignore[union-attr]
            assert action.sop_instance_uid == uid

            information = pydicom.Dataset()
            information.PrinterStatus = "NORMAL"
            report = await n_event_report(assoc, FILM_SESSION, uid, 4, information)
            assert report.status == Status.SUCCESS
            assert report.dataset is not None and report.dataset.EventTypeID == 4
            assert report.response.message.event_type_id == 4  # type: ignore[union-attr]
            assert instances.events[0][:2] == (4, uid)
            assert instances.events[0][2] is not None
            assert instances.events[0][2].PrinterStatus == "NORMAL"

            status, _ = await n_delete(assoc, FILM_SESSION, uid)
            assert status == Status.SUCCESS
            gone = await n_get(assoc, FILM_SESSION, uid)
            assert gone.status == Status.NO_SUCH_SOP_INSTANCE
            assert uid not in instances.items


async def test_failure_statuses(serving: Serving) -> None:
    server = Server("NSCP")
    instances = Instances()
    instances.install(server)
    @server.on_normalized(PRINTER, "N-GET")
    async def broken(request: NormalizedRequest) -> int:
        raise RuntimeError("a handler bug")

    async with serving(server) as port:
        async with dicomnet.connect("127.0.0.1", port, called_ae="NSCP",
                                    contexts=[FILM_SESSION, PRINTER, VERIFICATION]
                                    ) as assoc:
            uid = generate_uid()
            missing = await n_set(assoc, FILM_SESSION, uid, _session())
            assert missing.status == Status.NO_SUCH_SOP_INSTANCE
            assert missing.sop_instance_uid == uid
            assert (await n_create(assoc, FILM_SESSION, uid, _session())).status == 0
            duplicate = await n_create(assoc, FILM_SESSION, uid, _session())
            assert duplicate.status == Status.DUPLICATE_SOP_INSTANCE
            unknown_action = await n_action(assoc, FILM_SESSION, uid, 9)
            assert unknown_action.status == Status.NO_SUCH_ACTION
            assert unknown_action.error_comment == "only action 1 (print) here"
            assert unknown_action.dataset is None
            # A handler that raises: processing failure (PS3.7 C.4.1 0110).
            assert (await n_get(assoc, PRINTER, "1.2.3")).status == \
                Status.PROCESSING_FAILURE
            # An operation the SOP class has no handler for (PS3.7 C.4.2 0211).
            assert (await n_delete(assoc, PRINTER, "1.2.3")).status == \
                Status.UNRECOGNIZED_OPERATION
            # A request naming another SOP class than its context's (0122), and one on
            # an accepted context whose class defines no N-operation (0211), sent
            # below the convenience functions.
            for context_class, sop_class, expected in (
                    (PRINTER, "1.2.3.4.5", Status.SOP_CLASS_NOT_SUPPORTED),
                    (PRINTER, FILM_SESSION, Status.SOP_CLASS_NOT_SUPPORTED),
                    (VERIFICATION, VERIFICATION, Status.UNRECOGNIZED_OPERATION)):
                context = assoc.negotiated.find_context(context_class)
                assert context is not None
                message = NGetRQ(requested_sop_class_uid=sop_class,
                                 requested_sop_instance_uid=uid)
                responses = [r async for r in assoc.request(context, message)]
                assert [r.status for r in responses] == [expected]
            # Sending an event report needs the SCP role, not negotiated here.
            with pytest.raises(NegotiationError):
                await n_event_report(assoc, FILM_SESSION, uid, 1)


async def test_server_reports_an_event_on_the_requesting_association(
        serving: Serving) -> None:
    """An SCP sends N-EVENT-REPORT back on the association after answering a request
    (the pattern of storage commitment, PS3.4 J.3.3): the requestor's handlers get it."""
    server = Server("NSCP")
    answered: list[int] = []

    @server.on_normalized(FILM_SESSION, "N-ACTION")
    async def action(request: NormalizedRequest) -> int:
        association = request.association

        async def report() -> None:
            information = pydicom.Dataset()
            information.ExecutionStatus = "DONE"
            result = await n_event_report(association, FILM_SESSION,
                                          request.sop_instance_uid, 1, information)
            answered.append(result.status)

        request.after_response(report)
        return Status.SUCCESS

    received = anyio.Event()
    seen: list[tuple[int | None, str]] = []

    async def on_event(request: NormalizedRequest) -> int:
        assert request.dataset is not None and request.dataset.ExecutionStatus == "DONE"
        seen.append((request.event_type_id, request.sop_instance_uid))
        received.set()
        return Status.SUCCESS

    handlers = NormalizedHandlers()
    handlers.add(FILM_SESSION, "N-EVENT-REPORT", on_event)
    async with serving(server) as port:
        async with dicomnet.connect("127.0.0.1", port, called_ae="NSCP",
                                    contexts=[FILM_SESSION], on_request=handlers) as assoc:
            result = await n_action(assoc, FILM_SESSION, "1.2.3.9", 1)
            assert result.status == Status.SUCCESS
            with anyio.fail_after(5):
                await received.wait()
            with anyio.fail_after(5):
                while not answered:
                    await anyio.sleep(0.01)
    assert seen == [(1, "1.2.3.9")]
    assert answered == [Status.SUCCESS]
