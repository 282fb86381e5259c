"""dicomnet.otel: events as OpenTelemetry spans and metrics, read back through the
SDK's in-memory exporter and metric reader."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from synthetic_events import (
    VERIFICATION,
    echo_rq,
    echo_rsp,
    info,
    request,
    requested_association,
    served_association,
)

from dicomnet.events import (
    AssociationAccepted,
    AssociationRejected,
    AssociationRequested,
    ConnectionClosed,
    Event,
    EventHub,
    PDUReceived,
    PDUSent,
    RequestAnswered,
    RequestReceived,
)
from dicomnet.otel import instrument


@dataclass
class Telemetry:
    hub: EventHub
    spans: InMemorySpanExporter
    reader: InMemoryMetricReader

    def emit(self, events: list[Event]) -> None:
        for event in events:
            self.hub.emit(event)

    def finished(self) -> dict[str, ReadableSpan]:
        return {span.name: span for span in self.spans.get_finished_spans()}

    def points(self, name: str) -> list[tuple[dict[str, Any], Any]]:
        """(attributes, point) of every data point of the metric ``name``."""
        data = self.reader.get_metrics_data()
        found: list[tuple[dict[str, Any], Any]] = []
        for resource in data.resource_metrics if data else []:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        found.extend((dict(p.attributes or {}), p)
                                     for p in metric.data.data_points)
        return found

    def value(self, name: str, **attributes: object) -> float:
        """The sum of the metric's points whose attributes include ``attributes``."""
        wanted = {key.replace("__", "."): value for key, value in attributes.items()}
        return float(sum(point.value for attrs, point in self.points(name)
                         if wanted.items() <= attrs.items()))


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    hub = EventHub()
    stop = instrument(hub, tracer_provider=tracer_provider, meter_provider=meter_provider)
    yield Telemetry(hub, spans, reader)
    stop()
    meter_provider.shutdown()
    tracer_provider.shutdown()


def _seconds(nanoseconds: int | None) -> float:
    assert nanoseconds is not None
    return nanoseconds / 1e9


def test_instrument_subscribes_and_stops() -> None:
    hub = EventHub()
    stop = instrument(hub, TracerProvider(), MeterProvider())
    assert hub.active
    stop()
    assert not hub.active


def test_served_association_is_one_span_with_a_child_per_request(
        telemetry: Telemetry) -> None:
    telemetry.emit(served_association(start=1000.0))
    spans = telemetry.finished()
    assert set(spans) == {"DICOM association", "C-ECHO", "C-STORE"}
    association, echo, store = spans["DICOM association"], spans["C-ECHO"], spans["C-STORE"]
    assert association.kind is SpanKind.SERVER
    assert (_seconds(association.start_time), _seconds(association.end_time)) == (1000, 1005)
    attributes = dict(association.attributes or {})
    assert attributes["dicom.calling_ae_title"] == "STORESCU"
    assert attributes["dicom.called_ae_title"] == "DICOMNET"
    assert attributes["network.peer.address"] == "127.0.0.1"
    assert attributes["dicom.contexts_accepted"] == 1
    assert attributes["dicom.association.outcome"] == "released"
    assert association.status.status_code is StatusCode.UNSET
    for child in (echo, store):
        assert child.parent is not None
        assert child.parent.span_id == association.context.span_id
        assert child.context.trace_id == association.context.trace_id
        assert child.kind is SpanKind.SERVER
    assert (_seconds(echo.start_time), _seconds(echo.end_time)) == (1002, 1002.5)
    assert dict(echo.attributes or {})["dicom.status"] == 0
    assert echo.status.status_code is StatusCode.UNSET
    store_attributes = dict(store.attributes or {})
    assert store_attributes["dicom.status"] == 0xA700
    assert store_attributes["dicom.status_category"] == "Failure"
    assert store_attributes["dicom.error_comment"] == "out of space"
    assert store_attributes["dicom.command"] == "C-STORE-RQ"
    assert store.status.status_code is StatusCode.ERROR
    # No SOP Instance UID on any span.
    for span in spans.values():
        assert "1.2.3.4.5.6.7.8.9" not in repr(dict(span.attributes or {}))


def test_requested_association_aborted_with_a_request_open(telemetry: Telemetry) -> None:
    telemetry.emit(requested_association(start=2000.0))
    spans = telemetry.finished()
    association, find, echo = spans["DICOM association"], spans["C-FIND"], spans["C-ECHO"]
    assert association.kind is SpanKind.CLIENT and find.kind is SpanKind.CLIENT
    assert association.status.status_code is StatusCode.ERROR
    assert "aborted by the peer" in (association.status.description or "")
    find_attributes = dict(find.attributes or {})
    assert find_attributes["dicom.pending_responses"] == 2
    assert find_attributes["dicom.status"] == 0
    assert find.status.status_code is StatusCode.UNSET
    assert (_seconds(find.start_time), _seconds(find.end_time)) == (2002, 2002.3)
    # The echo never got its answer: ended with the association, as an error.
    assert echo.status.status_code is StatusCode.ERROR
    assert _seconds(echo.end_time) == 2004


def test_rejection_is_an_errored_span(telemetry: Telemetry) -> None:
    who = info(3)
    telemetry.emit([
        AssociationRequested(association=who, request=request(who), time=10.0),
        AssociationRejected(association=who, result=1, source=1, reason=7,
                            text="called AE title not recognized\n", time=10.5),
        ConnectionClosed(association=who, duration=0.6, time=10.6)])
    [span] = telemetry.spans.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "rejected: called AE title not recognized\\x0a"
    assert dict(span.attributes or {})["dicom.reason"] == 7
    assert telemetry.value("dicom.associations", dicom__association__outcome="rejected") == 1
    assert telemetry.value("dicom.associations.active") == 0


def test_association_metrics(telemetry: Telemetry) -> None:
    telemetry.emit(served_association(1, start=100.0)[:2])  # requested, accepted
    telemetry.emit(requested_association(2, start=100.0)[:2])
    assert telemetry.value("dicom.associations.active") == 2
    assert telemetry.value("dicom.associations.active",
                           dicom__association__role="acceptor") == 1
    telemetry.emit(served_association(1, start=100.0)[2:])
    telemetry.emit(requested_association(2, start=100.0)[2:])
    assert telemetry.value("dicom.associations.active") == 0
    assert telemetry.value("dicom.associations", dicom__association__outcome="released",
                           dicom__association__role="acceptor") == 1
    assert telemetry.value("dicom.associations", dicom__association__outcome="aborted",
                           dicom__association__role="requestor") == 1
    # The connection closed after the release or abort: not counted twice.
    assert telemetry.value("dicom.associations") == 2


def test_request_metrics_by_service_status_and_direction(telemetry: Telemetry) -> None:
    telemetry.emit(served_association(start=100.0) + requested_association(start=100.0))
    assert telemetry.value("dicom.requests", dicom__service="C-ECHO",
                           dicom__status_category="Success",
                           dicom__request__direction="received") == 1
    assert telemetry.value("dicom.requests", dicom__service="C-STORE",
                           dicom__status_category="Failure") == 1
    # Pending responses are not requests; the final one is.
    assert telemetry.value("dicom.requests", dicom__service="C-FIND",
                           dicom__request__direction="sent") == 1
    assert telemetry.value("dicom.requests") == 3
    [(attributes, echo)] = [(a, p) for a, p in telemetry.points("dicom.request.duration")
                            if a["dicom.service"] == "C-ECHO"]
    assert echo.count == 1 and echo.sum == pytest.approx(0.5)
    assert attributes["dicom.status_category"] == "Success"
    # No AE title or address in metric attributes: their series stay bounded.
    for name in ("dicom.requests", "dicom.associations", "dicom.request.duration"):
        for attributes, _point in telemetry.points(name):
            assert not {"dicom.calling_ae_title", "network.peer.address"} & set(attributes)


def test_byte_counters(telemetry: Telemetry) -> None:
    who = info()
    telemetry.emit(served_association(start=100.0) + requested_association(start=100.0))
    assert telemetry.value("dicom.dataset.io", network__io__direction="receive") == \
        5000 + 300 + 200  # the C-STORE's data set, the C-FIND's two matches
    assert telemetry.value("dicom.dataset.io", network__io__direction="transmit") == 120
    assert telemetry.value("dicom.dataset.io", dicom__service="C-STORE") == 5000
    assert telemetry.points("dicom.pdu.io") == []  # no PDU events, no PDU bytes
    telemetry.emit([PDUSent(association=who, pdu_type=1, length=205),
                    PDUReceived(association=who, pdu_type=2, length=180),
                    PDUReceived(association=who, pdu_type=4, length=84)])
    assert telemetry.value("dicom.pdu.io", network__io__direction="transmit") == 205
    assert telemetry.value("dicom.pdu.io", network__io__direction="receive") == 264


def test_events_of_an_association_seen_late_still_make_spans(telemetry: Telemetry) -> None:
    """A hub instrumented while an association is open: its span starts at the first
    event seen, and a request answered with no span known is still counted."""
    who = info(11)
    telemetry.emit([
        RequestAnswered(association=who, request=echo_rq(9), response=echo_rsp(9),
                        status=0, duration=0.1, time=50.0),
        RequestReceived(association=who, context_id=1, abstract_syntax=VERIFICATION,
                        message=echo_rq(10), dataset_size=None, time=51.0),
        RequestAnswered(association=who, request=echo_rq(10), response=echo_rsp(10),
                        status=0, duration=0.1, time=51.1),
        ConnectionClosed(association=who, duration=9.0, time=52.0)])
    spans = telemetry.finished()
    assert set(spans) == {"DICOM association", "C-ECHO"}
    assert _seconds(spans["DICOM association"].start_time) == 51.0
    assert dict(spans["DICOM association"].attributes or {})[
        "dicom.association.outcome"] == "closed"
    assert telemetry.value("dicom.requests") == 2


def test_accepted_twice_counts_once(telemetry: Telemetry) -> None:
    who = info(12)
    events = served_association(12)
    accepted = events[1]
    assert isinstance(accepted, AssociationAccepted)
    telemetry.emit([events[0], accepted, accepted])
    assert telemetry.value("dicom.associations.active") == 1
    telemetry.emit([ConnectionClosed(association=who, duration=1.0)])
    assert telemetry.value("dicom.associations.active") == 0


def test_a_failing_provider_fails_instrument_and_subscribes_nothing() -> None:
    class Broken(TracerProvider):
        def get_tracer(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("exporter misconfigured")

    hub = EventHub()
    with pytest.raises(RuntimeError):
        instrument(hub, Broken(), MeterProvider())  # fails at once, loudly
    assert not hub.active


def test_importing_dicomnet_never_imports_opentelemetry() -> None:
    code = ("import sys, dicomnet, dicomnet.events, dicomnet.event_log, dicomnet.server, "
            "dicomnet.client; print([m for m in sys.modules if m.startswith('opentelemetry')])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=True)
    assert done.stdout.strip() == "[]"


def test_missing_extra_says_what_to_install() -> None:
    code = ("import sys; sys.modules['opentelemetry'] = None\n"
            "try:\n    import dicomnet.otel\n"
            "except ImportError as exc:\n    print(exc)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=True)
    assert "pip install 'dicomnet[otel]'" in done.stdout, done.stdout + done.stderr
