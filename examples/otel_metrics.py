"""OpenTelemetry from a dicomnet server: spans and metrics of one C-ECHO.

    pip install 'dicomnet[otel]' opentelemetry-sdk
    python examples/otel_metrics.py

The server's events go to an :class:`~dicomnet.events.EventHub`;
:func:`dicomnet.otel.instrument` turns them into spans and metrics. Here the SDK keeps
them in memory and the program prints them after one echo; in production you would
give ``instrument`` the providers your application already exports with (OTLP,
Prometheus, ...).
"""

from __future__ import annotations

import anyio
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import dicomnet
from dicomnet.events import EventHub
from dicomnet.otel import instrument


async def main() -> None:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])

    hub = EventHub()
    instrument(hub, tracer_provider=tracer_provider, meter_provider=meter_provider)
    server = dicomnet.Server("OTELSCP", on_event=hub)

    async with anyio.create_task_group() as tg:
        port = await tg.start(server.serve, "127.0.0.1", 0)
        async with dicomnet.connect("127.0.0.1", port, called_ae="OTELSCP") as assoc:
            status = await assoc.echo()
        print(f"C-ECHO status 0x{status:04X}")
        server.shutdown()  # serve() returns once the association has ended

    for span in spans.get_finished_spans():
        attributes = dict(span.attributes or {})
        print(f"span {span.name}: status {span.status.status_code.name}, "
              f"{attributes.get('dicom.calling_ae_title', '')} "
              f"{attributes.get('dicom.status', '')}".rstrip())
    data = reader.get_metrics_data()
    for resource in data.resource_metrics if data else []:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    value = getattr(point, "value", None)
                    if value is None:  # a histogram: how many, and their sum
                        value = f"count {getattr(point, 'count', 0)}, " \
                                f"sum {getattr(point, 'sum', 0):.4f}"
                    print(f"metric {metric.name} {dict(point.attributes or {})}: {value}")


if __name__ == "__main__":
    anyio.run(main)
