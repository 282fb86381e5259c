"""dicomnet.events: the records and the hub's delivery (callbacks and streams)."""

from __future__ import annotations

import dataclasses
import logging
import subprocess
import sys

import anyio
import anyio.lowlevel
import pytest
from synthetic_events import (
    echo_rq,
    echo_rsp,
    info,
    requested_association,
    served_association,
    store_rq,
    store_rsp,
)

from dicomnet.events import (
    EVENT_TYPES,
    AssociationRejected,
    ConnectionOpened,
    Event,
    EventHub,
    PDUSent,
    RequestAnswered,
    RequestReceived,
    as_hub,
)


def _pdu(n: int) -> PDUSent:
    return PDUSent(association=info(), pdu_type=4, length=n)


# -- records -------------------------------------------------------------------------------


def test_records_are_frozen_slotted_and_named() -> None:
    names: set[str] = set()
    for cls in EVENT_TYPES:
        assert "__slots__" in cls.__dict__, cls
        assert dataclasses.is_dataclass(cls)
        names.add(cls.name)
    assert len(names) == len(EVENT_TYPES)  # one name each
    event = served_association()[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.time = 0.0  # type: ignore[misc]
    assert not hasattr(event, "__dict__")


def test_time_defaults_to_the_emission_time() -> None:
    import time

    before = time.time()
    event = _pdu(10)
    assert before <= event.time <= time.time()


def test_attributes_are_flat_escaped_and_name_no_instance() -> None:
    who = info(calling="EVIL\nINFO fake line", called="DICOMNET")
    event = RequestAnswered(association=who, request=store_rq(2),
                            response=store_rsp(2, 0xA700, "disk\x1b[2J full"),
                            status=0xA700, duration=0.25, dataset_size=10)
    fields = event.attributes()
    assert fields["event"] == "request.answered"
    assert fields["association_id"] == 7
    assert fields["role"] == "acceptor"
    assert fields["calling_ae_title"] == "EVIL\\x0aINFO fake line"
    assert fields["error_comment"] == "disk\\x1b[2J full"
    assert fields["command"] == "C-STORE-RQ"
    assert fields["service"] == "C-STORE"
    assert fields["status"] == 0xA700
    assert fields["status_category"] == "Failure"
    assert fields["sop_class_uid"] == "1.2.840.10008.5.1.4.1.1.2"
    assert all(isinstance(v, str | int | float | bool) for v in fields.values())
    # The SOP Instance UID leads to a patient: it is in the record, never in the fields.
    assert "1.2.3.4.5.6.7.8.9" not in repr(fields)
    assert "1.2.3.4.5.6.7.8.9" in repr(event)


def test_attributes_leave_out_what_is_unknown() -> None:
    fields = ConnectionOpened(peer_address="10.0.0.1", peer_port=104,
                              role="acceptor").attributes()
    assert fields == {"event": "connection.opened", "role": "acceptor",
                      "peer_address": "10.0.0.1", "peer_port": 104}
    rejected = AssociationRejected(association=info(calling=None, called=None), result=1,
                                   source=1, reason=7, text="called AE title not recognized")
    assert "calling_ae_title" not in rejected.attributes()
    assert rejected.attributes()["reason"] == 7


def test_label_escapes_peer_text() -> None:
    assert info(calling="A\r\nB").label() == "A\\x0d\\x0aB->DICOMNET [127.0.0.1:40404]"


# -- callbacks -------------------------------------------------------------------------------


def test_hub_is_active_only_while_someone_listens() -> None:
    hub = EventHub()
    assert not hub.active
    stop = hub.subscribe(lambda event: None)
    assert hub.active
    stop()
    stop()  # twice is harmless
    assert not hub.active


def test_callbacks_get_every_event_in_order() -> None:
    hub = EventHub()
    first: list[Event] = []
    second: list[str] = []
    hub.subscribe(first.append)
    hub.subscribe(lambda event: second.append(event.name))
    events = served_association()
    for event in events:
        hub.emit(event)
    assert first == events
    assert second == [event.name for event in events]


def test_unsubscribed_callback_gets_nothing_more() -> None:
    hub = EventHub()
    seen: list[Event] = []
    stop = hub.subscribe(seen.append)
    hub.emit(_pdu(1))
    stop()
    hub.emit(_pdu(2))
    assert [e.length for e in seen if isinstance(e, PDUSent)] == [1]


def test_a_callback_may_unsubscribe_itself_while_called() -> None:
    hub = EventHub()
    seen: list[int] = []
    others: list[int] = []

    def once(event: Event) -> None:
        seen.append(1)
        stop()

    stop = hub.subscribe(once)
    hub.subscribe(lambda event: others.append(1))
    hub.emit(_pdu(1))
    hub.emit(_pdu(2))
    assert seen == [1]
    assert others == [1, 1]  # the one after it was not skipped


def test_failing_callback_is_isolated_and_logged_once_at_error(
        caplog: pytest.LogCaptureFixture) -> None:
    hub = EventHub()
    before: list[Event] = []
    after: list[Event] = []

    def broken(event: Event) -> None:
        raise RuntimeError("observer bug")

    hub.subscribe(before.append)
    hub.subscribe(broken)
    hub.subscribe(after.append)
    caplog.set_level(logging.DEBUG, logger="dicomnet.events")
    for n in range(3):
        hub.emit(_pdu(n))  # never raises
    assert len(before) == len(after) == 3
    assert hub.callback_errors == 3
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "broken" in errors[0].getMessage()
    assert errors[0].exc_info is not None
    assert sum(r.levelno == logging.DEBUG for r in caplog.records) == 2


def test_async_callbacks_are_refused() -> None:
    async def handler(event: Event) -> None:
        pass

    with pytest.raises(TypeError, match="stream"):
        EventHub().subscribe(handler)


def test_as_hub() -> None:
    assert as_hub(None) is None
    hub = EventHub()
    assert as_hub(hub) is hub
    seen: list[Event] = []
    made = as_hub(seen.append)
    assert made is not None and made.active
    made.emit(_pdu(3))
    assert len(seen) == 1
    with pytest.raises(TypeError, match="EventHub or a callable"):
        as_hub("log")  # type: ignore[arg-type]


def test_importing_events_loads_no_event_loop_and_no_opentelemetry() -> None:
    code = ("import sys, dicomnet, dicomnet.events, dicomnet.event_log, dicomnet.acse; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('anyio', 'trio', 'opentelemetry') or m.startswith(('dicomnet.association', "
            "'dicomnet.server', 'dicomnet.client', 'dicomnet.services'))))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=True)
    assert done.stdout.strip() == "[]", done.stdout


# -- streams ---------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_stream_yields_emitted_events_in_order(anyio_backend: str) -> None:
    hub = EventHub()
    events = served_association() + requested_association()
    received: list[Event] = []
    with anyio.fail_after(10):
        async with hub.stream() as stream:
            assert hub.active
            for event in events:
                hub.emit(event)
            hub.close()  # the stream ends once it is drained
            async for event in stream:
                received.append(event)
    assert received == events
    assert stream.dropped == 0
    assert not hub.active


@pytest.mark.anyio
async def test_stream_reader_in_another_task_sees_events_as_they_come(
        anyio_backend: str) -> None:
    hub = EventHub()
    received: list[int] = []
    ready = anyio.Event()

    async def read() -> None:
        async with hub.stream(max_buffer=4) as stream:
            ready.set()
            async for event in stream:
                assert isinstance(event, PDUSent)
                received.append(event.length)
                if len(received) == 20:
                    return

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(read)
            await ready.wait()
            for n in range(20):  # the reader keeps up: one at a time, nothing dropped
                hub.emit(_pdu(n))
                while len(received) <= n:  # bounded by fail_after
                    await anyio.lowlevel.checkpoint()
    assert received == list(range(20))
    assert not hub.active  # leaving the block unsubscribes


@pytest.mark.anyio
async def test_full_stream_drops_and_counts_without_blocking_the_emitter(
        anyio_backend: str, caplog: pytest.LogCaptureFixture) -> None:
    hub = EventHub()
    caplog.set_level(logging.WARNING, logger="dicomnet.events")
    callback_seen: list[Event] = []
    hub.subscribe(callback_seen.append)
    with anyio.fail_after(10):
        async with hub.stream(max_buffer=5) as stream:
            for n in range(50):  # nobody reads: emit must still return at once
                hub.emit(_pdu(n))
            assert stream.dropped == 45
            hub.close()
            kept = [e.length async for e in stream if isinstance(e, PDUSent)]
    assert kept == [0, 1, 2, 3, 4]  # the oldest are kept, the overflow dropped
    assert len(callback_seen) == 50  # callbacks are not affected by a slow stream
    warnings = [r for r in caplog.records if r.name == "dicomnet.events"]
    assert len(warnings) == 1 and "fell behind" in warnings[0].getMessage()


@pytest.mark.anyio
async def test_streams_are_independent(anyio_backend: str) -> None:
    hub = EventHub()
    with anyio.fail_after(10):
        async with hub.stream(max_buffer=2) as small, hub.stream(max_buffer=10) as big:
            for n in range(6):
                hub.emit(_pdu(n))
            hub.close()
            assert (small.dropped, big.dropped) == (4, 0)
            assert len([e async for e in big]) == 6
            assert len([e async for e in small]) == 2


@pytest.mark.anyio
async def test_stream_of_a_closed_hub_ends_at_once(anyio_backend: str) -> None:
    hub = EventHub()
    hub.close()
    with anyio.fail_after(10):
        async with hub.stream() as stream:
            assert [e async for e in stream] == []


@pytest.mark.anyio
async def test_emitting_after_the_stream_block_is_harmless(anyio_backend: str) -> None:
    hub = EventHub()
    async with hub.stream() as stream:
        pass
    hub.emit(_pdu(1))
    assert stream.dropped == 0
    assert not hub.active


def test_stream_needs_a_positive_buffer() -> None:
    with pytest.raises(ValueError, match="max_buffer"):
        EventHub().stream(max_buffer=0)


def test_records_compare_by_value() -> None:
    a = RequestReceived(association=info(), context_id=1, abstract_syntax="1.2",
                        message=echo_rq(), dataset_size=None, time=1.0)
    b = RequestReceived(association=info(), context_id=1, abstract_syntax="1.2",
                        message=echo_rq(), dataset_size=None, time=1.0)
    assert a == b and hash(a) == hash(b)
    assert a != dataclasses.replace(a, context_id=3)
    assert echo_rsp().status == 0
