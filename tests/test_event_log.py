"""dicomnet.event_log: each event as one log record, on its layer's logger, at its
level, with escaped text and the event's fields as ``dicomnet_*`` attributes."""

from __future__ import annotations

import logging

import pytest
from synthetic_events import (
    VERIFICATION,
    echo_rq,
    echo_rsp,
    info,
    negotiated,
    request,
    requested_association,
    served_association,
    store_rq,
    store_rsp,
)

from dicomnet.event_log import FIELD_PREFIX, log_event, logger_and_level
from dicomnet.events import (
    EVENT_TYPES,
    AssociationAborted,
    AssociationAccepted,
    AssociationRejected,
    AssociationReleased,
    AssociationRequested,
    ConnectionClosed,
    ConnectionOpened,
    Event,
    EventHub,
    PDUReceived,
    PDUSent,
    RequestAnswered,
    RequestReceived,
    RequestSent,
    ResponseReceived,
)

WHO = info()


def _one_of_each() -> list[Event]:
    return [
        ConnectionOpened(peer_address="127.0.0.1", peer_port=40404, role="acceptor"),
        AssociationRequested(association=WHO, request=request(WHO)),
        AssociationAccepted(association=WHO, negotiated=negotiated(WHO), duration=0.004),
        AssociationRejected(association=WHO, result=1, source=1, reason=7,
                            text="rejected-permanent, called AE title not recognized"),
        AssociationReleased(association=WHO, duration=2.5),
        AssociationAborted(association=WHO, source=None, reason=None,
                           text="connection lost", local=True),
        RequestReceived(association=WHO, context_id=1, abstract_syntax=VERIFICATION,
                        message=echo_rq(), dataset_size=None),
        RequestAnswered(association=WHO, request=echo_rq(), response=echo_rsp(), status=0,
                        duration=0.0015),
        RequestSent(association=WHO, context_id=1, abstract_syntax=VERIFICATION,
                    message=echo_rq(), dataset_size=None),
        ResponseReceived(association=WHO, request=echo_rq(), response=echo_rsp(), status=0,
                         pending=False, duration=0.002),
        PDUSent(association=WHO, pdu_type=0x01, length=205),
        PDUReceived(association=WHO, pdu_type=0x04, length=84),
        ConnectionClosed(association=WHO, duration=2.6),
    ]


EXPECTED = {
    ConnectionOpened: ("dicomnet.association", logging.DEBUG),
    ConnectionClosed: ("dicomnet.association", logging.DEBUG),
    AssociationRequested: ("dicomnet.association", logging.INFO),
    AssociationAccepted: ("dicomnet.association", logging.INFO),
    AssociationReleased: ("dicomnet.association", logging.INFO),
    AssociationRejected: ("dicomnet.association", logging.WARNING),
    AssociationAborted: ("dicomnet.association", logging.WARNING),
    RequestReceived: ("dicomnet.dimse", logging.DEBUG),
    RequestAnswered: ("dicomnet.dimse", logging.DEBUG),
    RequestSent: ("dicomnet.dimse", logging.DEBUG),
    ResponseReceived: ("dicomnet.dimse", logging.DEBUG),
    PDUSent: ("dicomnet.pdu", logging.DEBUG),
    PDUReceived: ("dicomnet.pdu", logging.DEBUG),
}


def test_every_event_type_has_a_route() -> None:
    assert set(EXPECTED) == set(EVENT_TYPES)
    assert {type(e) for e in _one_of_each()} == set(EVENT_TYPES)


@pytest.mark.parametrize("event", _one_of_each(), ids=lambda e: e.name)
def test_one_record_per_event_on_its_logger_at_its_level(
        event: Event, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="dicomnet")
    log_event(event)
    assert len(caplog.records) == 1
    record = caplog.records[0]
    assert (record.name, record.levelno) == EXPECTED[type(event)]
    logger, level = logger_and_level(event)
    assert (logger.name, level) == EXPECTED[type(event)]
    assert "\n" not in record.getMessage()
    # The structured fields ride along, prefixed.
    fields = event.attributes()
    for key, value in fields.items():
        assert getattr(record, FIELD_PREFIX + key) == value
    assert record.dicomnet_event == event.name  # type: ignore[attr-defined]


def test_messages_say_what_happened(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="dicomnet")
    for event in _one_of_each():
        log_event(event)
    lines = [r.getMessage() for r in caplog.records]
    who = "STORESCU->DICOMNET [127.0.0.1:40404]"
    assert lines == [
        "connection from 127.0.0.1:40404",
        f"{who}: association requested (2 contexts)",
        f"{who}: association accepted (1 of 2 contexts, 4.0 ms)",
        f"{who}: association rejected: rejected-permanent, called AE title not recognized",
        f"{who}: association released after 2.50 s",
        f"{who}: association aborted by us: connection lost",
        f"{who}: received C-ECHO-RQ #1 on context 1",
        f"{who}: answered C-ECHO-RQ #1: 0x0000 Success (1.5 ms)",
        f"{who}: sent C-ECHO-RQ #1 on context 1",
        f"{who}: received C-ECHO-RSP (to #1, 0x0000 Success) after 2.0 ms",
        f"{who}: sent A-ASSOCIATE-RQ (205 B)",
        f"{who}: received P-DATA-TF (84 B)",
        f"{who}: connection closed after 2.60 s",
    ]


def test_peer_text_is_escaped_in_message_and_fields(caplog: pytest.LogCaptureFixture) -> None:
    forged = "X\nWARNING forged record\x1b[31m"
    who = info(calling=forged, called="A" * 500)
    caplog.set_level(logging.DEBUG, logger="dicomnet")
    log_event(AssociationAborted(association=who, source=0, reason=0,
                                 text=f"peer said {forged}", local=False))
    log_event(RequestAnswered(association=who, request=store_rq(), status=0xC000,
                              response=store_rsp(2, 0xC000, forged), duration=0.1))
    for record in caplog.records:
        message = record.getMessage()
        assert "\n" not in message and "\x1b" not in message
        assert "X\\x0aWARNING forged record\\x1b[31m" in message
        assert "...(500 chars)" in message  # a long title is cut, saying how long it was
        assert "\n" not in record.dicomnet_calling_ae_title  # type: ignore[attr-defined]
    assert "\x1b" not in caplog.records[1].dicomnet_error_comment  # type: ignore[attr-defined]


def test_no_patient_data_and_no_instance_uid(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="dicomnet")
    for event in served_association() + requested_association():
        log_event(event)
    assert caplog.records
    for record in caplog.records:
        text = record.getMessage() + repr(vars(record))
        assert "1.2.3.4.5.6.7.8.9" not in text  # the C-STORE's SOP Instance UID


def test_failure_status_and_comment_of_an_answer(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="dicomnet.dimse")
    log_event(RequestAnswered(association=WHO, request=store_rq(), duration=0.25,
                              response=store_rsp(2, 0xA700, "out of space"), status=0xA700,
                              pending_responses=0))
    assert caplog.records[0].getMessage().endswith(
        "answered C-STORE-RQ #2: 0xA700 Failure (250.0 ms): out of space")
    assert caplog.records[0].dicomnet_status_category == "Failure"  # type: ignore[attr-defined]


def test_nothing_is_built_below_the_logger_level(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="dicomnet")
    for event in _one_of_each():
        log_event(event)
    assert sorted({r.levelno for r in caplog.records}) == [logging.INFO, logging.WARNING]
    assert len(caplog.records) == 5


def test_log_event_is_a_hub_subscriber(caplog: pytest.LogCaptureFixture) -> None:
    hub = EventHub()
    hub.subscribe(log_event)
    caplog.set_level(logging.INFO, logger="dicomnet")
    for event in served_association():
        hub.emit(event)
    assert [r.getMessage().split(": ", 1)[1] for r in caplog.records] == [
        "association requested (2 contexts)",
        "association accepted (1 of 2 contexts, 10.0 ms)",
        "association released after 5.00 s"]
