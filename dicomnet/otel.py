"""OpenTelemetry traces and metrics from dicomnet's events (the ``otel`` extra).

:func:`instrument` subscribes to an :class:`~dicomnet.events.EventHub` and turns what
it hears into telemetry, so that a DICOM service shows up in the same tracing and
metrics back-end as the rest of an application:

Traces
    One span per association (``DICOM association``, kind SERVER for the acceptor,
    CLIENT for the requestor), from the A-ASSOCIATE-RQ to its release, abort or
    rejection, with the AE titles, the peer's address and the contexts accepted; one
    child span per DIMSE request (named by its service, ``C-STORE``, ``N-ACTION``,
    ...), from the request received or sent to the final response, with its status,
    status category and the number of pending responses. A failure status, an abort
    or a rejection sets the span's status to ERROR; a warning or a cancel does not.
    Spans keep the events' own times, so they are right even when recorded late.

Metrics
    ``dicom.associations.active`` (up-down counter, by role),
    ``dicom.associations`` (associations ended, by role and outcome: released,
    aborted, rejected, or closed without any of these),
    ``dicom.requests`` and ``dicom.request.duration`` (seconds; by service, status
    category and direction: ``received`` for requests the peer made, ``sent`` for
    ours), ``dicom.pdu.io`` (bytes of whole PDUs, by ``network.io.direction``; only
    when the emitter sends PDU events) and ``dicom.dataset.io`` (bytes of data sets in
    DIMSE messages, by direction and service).

Attributes never hold data set contents or SOP Instance UIDs; metric attributes hold
no AE title or address either, so their number of series stays bounded whoever
connects. Importing :mod:`dicomnet` never imports OpenTelemetry: only this module
does, and it says which extra to install when it is missing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

try:
    from opentelemetry import metrics, trace
    from opentelemetry.trace import SpanKind, Status, StatusCode
except ImportError as exc:  # pragma: no cover - depends on what is installed
    raise ImportError(
        "dicomnet.otel needs the OpenTelemetry API, which is not installed: "
        "pip install 'dicomnet[otel]' (or opentelemetry-api)") from exc

from dicomnet import __version__
from dicomnet.dimse.messages import CommandField
from dicomnet.dimse.status import StatusCategory, category
from dicomnet.events import (
    AssociationAborted,
    AssociationAccepted,
    AssociationInfo,
    AssociationRejected,
    AssociationReleased,
    AssociationRequested,
    ConnectionClosed,
    Event,
    EventHub,
    PDUReceived,
    PDUSent,
    RequestAnswered,
    RequestReceived,
    RequestSent,
    ResponseReceived,
    Scalar,
    service_name,
)
from dicomnet.logtext import peer_text

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import Span, TracerProvider

    from dicomnet.dimse import DIMSEMessage

__all__ = ["instrument"]

#: The instrumentation scope's name, as back-ends show it.
SCOPE = "dicomnet"

# Seconds: a C-ECHO on a LAN takes a millisecond, a C-MOVE of a study minutes.
_DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                     5.0, 10.0, 30.0, 60.0, 300.0)

#: What a final response adds to its request's span (the rest named the request).
_OUTCOME_FIELDS = frozenset({"status", "status_category", "error_comment", "duration"})

_RENAMED = {"association_id": "dicom.association.id", "role": "dicom.association.role",
            "peer_address": "network.peer.address", "peer_port": "network.peer.port"}


def span_attributes(fields: dict[str, Scalar]) -> dict[str, Scalar]:
    """An event's flat fields as span attributes: ``dicom.<field>``, and the peer's
    address and port under OpenTelemetry's ``network.peer.*`` names."""
    return {_RENAMED.get(key, "dicom." + key): value for key, value in fields.items()
            if key != "event"}


def _ns(seconds: float) -> int:
    return int(seconds * 1_000_000_000)


@dataclass
class _Request:
    span: Span
    pending: int = 0


@dataclass
class _Association:
    span: Span
    role: str
    accepted: bool = False
    requests: dict[tuple[str, int], _Request] = field(default_factory=dict)


class _Instrumentation:
    """The subscriber: live spans by association ID and the instruments."""

    def __init__(self, tracer_provider: TracerProvider | None,
                 meter_provider: MeterProvider | None) -> None:
        self.tracer = trace.get_tracer(SCOPE, __version__, tracer_provider=tracer_provider)
        meter = metrics.get_meter(SCOPE, __version__, meter_provider=meter_provider)
        self.active = meter.create_up_down_counter(
            "dicom.associations.active", unit="{association}",
            description="Associations established and not yet ended")
        self.ended = meter.create_counter(
            "dicom.associations", unit="{association}",
            description="Associations ended, by outcome")
        self.requests = meter.create_counter(
            "dicom.requests", unit="{request}",
            description="DIMSE requests completed, by service and status category")
        try:
            self.duration = meter.create_histogram(
                "dicom.request.duration", unit="s",
                description="From a DIMSE request to its final response",
                explicit_bucket_boundaries_advisory=list(_DURATION_BUCKETS))
        except TypeError:  # an API before 1.23 takes no advice on buckets
            self.duration = meter.create_histogram(
                "dicom.request.duration", unit="s",
                description="From a DIMSE request to its final response")
        self.pdu_bytes = meter.create_counter(
            "dicom.pdu.io", unit="By", description="Bytes of whole PDUs sent and received")
        self.dataset_bytes = meter.create_counter(
            "dicom.dataset.io", unit="By",
            description="Bytes of data sets in DIMSE messages sent and received")
        self.live: dict[int, _Association] = {}
        self.handlers: dict[type, Callable[..., None]] = {
            AssociationRequested: self.requested,
            AssociationAccepted: self.accepted,
            AssociationRejected: self.rejected,
            AssociationReleased: self.released,
            AssociationAborted: self.aborted,
            ConnectionClosed: self.closed,
            RequestReceived: self.request_started,
            RequestSent: self.request_started,
            RequestAnswered: self.request_answered,
            ResponseReceived: self.response_received,
            PDUSent: self.pdu,
            PDUReceived: self.pdu,
        }

    def __call__(self, event: Event) -> None:
        handler = self.handlers.get(type(event))
        if handler is not None:
            handler(event)

    # -- associations ------------------------------------------------------------------

    def association(self, info: AssociationInfo, time: float) -> _Association:
        """The live association's record, its span started at ``time`` if this is its
        first event (a hub instrumented while associations are open sees them late)."""
        live = self.live.get(info.id)
        if live is None:
            kind = SpanKind.SERVER if info.role == "acceptor" else SpanKind.CLIENT
            span = self.tracer.start_span("DICOM association", kind=kind,
                                          attributes=span_attributes(info.attributes()),
                                          start_time=_ns(time))
            live = self.live[info.id] = _Association(span, info.role)
        return live

    def requested(self, event: AssociationRequested) -> None:
        live = self.association(event.association, event.time)
        live.span.set_attributes(span_attributes(event.attributes()))

    def accepted(self, event: AssociationAccepted) -> None:
        live = self.association(event.association, event.time)
        live.span.set_attributes(span_attributes(event.attributes()))
        live.span.add_event("accepted", timestamp=_ns(event.time))
        if not live.accepted:
            live.accepted = True
            self.active.add(1, {"dicom.association.role": live.role})

    def rejected(self, event: AssociationRejected) -> None:
        live = self.association(event.association, event.time)
        live.span.set_attributes(span_attributes(event.attributes()))
        self.end(event.association, event.time, "rejected",
                 f"rejected: {peer_text(event.text, 200)}")

    def released(self, event: AssociationReleased) -> None:
        self.end(event.association, event.time, "released", None)

    def aborted(self, event: AssociationAborted) -> None:
        live = self.association(event.association, event.time)
        live.span.set_attributes(span_attributes(event.attributes()))
        by = "by us" if event.local else "by the peer"
        self.end(event.association, event.time, "aborted",
                 f"aborted {by}: {peer_text(event.text, 200)}")

    def closed(self, event: ConnectionClosed) -> None:
        self.end(event.association, event.time, "closed",
                 "connection closed without release or abort")

    def end(self, info: AssociationInfo, time: float, outcome: str,
            error: str | None) -> None:
        """End the association's span and whatever requests it left open."""
        live = self.live.pop(info.id, None)
        if live is None:
            return
        role = {"dicom.association.role": live.role}
        for request in live.requests.values():
            request.span.set_status(Status(StatusCode.ERROR, "no final response: "
                                           f"association {outcome}"))
            request.span.end(end_time=_ns(time))
        if live.accepted:
            self.active.add(-1, role)
        self.ended.add(1, {**role, "dicom.association.outcome": outcome})
        live.span.set_attribute("dicom.association.outcome", outcome)
        if error is not None:
            live.span.set_status(Status(StatusCode.ERROR, error))
        live.span.end(end_time=_ns(time))

    # -- DIMSE requests ----------------------------------------------------------------

    def request_started(self, event: RequestReceived | RequestSent) -> None:
        direction = "received" if isinstance(event, RequestReceived) else "sent"
        if event.dataset_size:
            self.dataset_bytes.add(event.dataset_size, {
                "network.io.direction": "receive" if direction == "received"
                else "transmit", "dicom.service": service_name(event.message)})
        live = self.association(event.association, event.time)
        if event.message.command_field == CommandField.C_CANCEL_RQ:
            # PS3.7 §9.3.2.3: a C-CANCEL has no response; it marks the request it stops.
            target = live.requests.get(
                (direction, getattr(event.message, "message_id_being_responded_to", -1)))
            if target is not None:
                target.span.add_event("cancel requested", timestamp=_ns(event.time))
            return
        kind = SpanKind.SERVER if direction == "received" else SpanKind.CLIENT
        span = self.tracer.start_span(
            service_name(event.message), context=trace.set_span_in_context(live.span), kind=kind,
            attributes={**span_attributes(event.attributes()),
                        "dicom.request.direction": direction},
            start_time=_ns(event.time))
        message_id: int = getattr(event.message, "message_id", 0)
        live.requests[(direction, message_id)] = _Request(span)

    def request_answered(self, event: RequestAnswered) -> None:
        self.finish_request(event, event.request, getattr(event.request, "message_id", 0))
        if event.dataset_size:
            self.dataset_bytes.add(event.dataset_size, {
                "network.io.direction": "transmit",
                "dicom.service": service_name(event.request)})

    def response_received(self, event: ResponseReceived) -> None:
        if event.dataset_size:
            self.dataset_bytes.add(event.dataset_size, {
                "network.io.direction": "receive",
                "dicom.service": service_name(event.response)})
        message_id: int = getattr(event.response, "message_id_being_responded_to", 0)
        if event.pending:
            live = self.live.get(event.association.id)
            request = live.requests.get(("sent", message_id)) if live else None
            if request is not None:
                request.pending += 1
            return
        self.finish_request(event, event.request or event.response, message_id)

    def finish_request(self, event: RequestAnswered | ResponseReceived,
                       message: DIMSEMessage, message_id: int) -> None:
        """Count a request answered (ours or the peer's) and end its span."""
        direction = "received" if isinstance(event, RequestAnswered) else "sent"
        kind = category(event.status)
        labels = {"dicom.service": service_name(message),
                  "dicom.status_category": kind.value,
                  "dicom.request.direction": direction}
        self.requests.add(1, labels)
        self.duration.record(event.duration, labels)
        live = self.live.get(event.association.id)
        request = live.requests.pop((direction, message_id), None) if live else None
        if request is None:
            return
        request.span.set_attributes(span_attributes(
            {key: value for key, value in event.attributes().items()
             if key in _OUTCOME_FIELDS}))
        pending = getattr(event, "pending_responses", 0) or request.pending
        if pending:
            request.span.set_attribute("dicom.pending_responses", pending)
        if kind is StatusCategory.FAILURE:
            request.span.set_status(Status(StatusCode.ERROR, f"status 0x{event.status:04X}"))
        request.span.end(end_time=_ns(event.time))

    # -- PDUs --------------------------------------------------------------------------

    def pdu(self, event: PDUSent | PDUReceived) -> None:
        direction = "transmit" if isinstance(event, PDUSent) else "receive"
        self.pdu_bytes.add(event.length, {"network.io.direction": direction})


def instrument(hub: EventHub, tracer_provider: TracerProvider | None = None,
               meter_provider: MeterProvider | None = None) -> Callable[[], None]:
    """Record the events of ``hub`` as OpenTelemetry spans and metrics (see the
    module's doc); returns the function that stops it. Without providers, the global
    ones (:func:`opentelemetry.trace.set_tracer_provider`, ...) are used, which do
    nothing until the application configures an SDK."""
    return hub.subscribe(_Instrumentation(tracer_provider, meter_provider))
