#!/usr/bin/env python3
"""Exports a fixed set of telemetry to an OTLP/HTTP endpoint with the real OpenTelemetry SDK.

Sends, with resource service.name=tally-e2e:
  - 3 metric data points: a counter with 2 attribute sets, and a histogram with 1;
  - 2 log records, emitted inside the child span (so they carry its trace and span ids);
  - 2 spans, a parent and its child.

Prints one line of JSON saying what was sent (counts, trace id, export results) and exits 0
only if every export call reported success; 1 otherwise, 2 on bad arguments.

  tests/otel/export.py --endpoint http://127.0.0.1:8081 --key KEY [--protocol protobuf]

`--protocol json` uses the OTLP/JSON exporter (opentelemetry-exporter-otlp-json-http, a beta
that cannot share a venv with the protobuf exporter); scripts/install.sh installs only the
protobuf one into $TALLY_CACHE/venv.
"""

import argparse
import importlib
import json
import sys

from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExportResult
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricExportResult
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult

SERVICE_NAME = "tally-e2e"
EXPORTER_MODULES = {
    "protobuf": "opentelemetry.exporter.otlp.proto.http",
    "json": "opentelemetry.exporter.otlp.json.http",
}


def exporter_classes(protocol):
    """Returns the (span, metric, log) exporter classes of the protocol's package."""
    package = EXPORTER_MODULES[protocol]
    try:
        return (
            importlib.import_module(f"{package}.trace_exporter").OTLPSpanExporter,
            importlib.import_module(f"{package}.metric_exporter").OTLPMetricExporter,
            importlib.import_module(f"{package}._log_exporter").OTLPLogExporter,
        )
    except ImportError as error:
        sys.exit(f"export.py: the {protocol} exporter is not installed ({error})")


def recording(exporter_class, results, signal):
    """Subclasses an exporter so that each export call's result and item count is kept."""

    class Recording(exporter_class):
        def export(self, batch, *args, **kwargs):
            result = super().export(batch, *args, **kwargs)
            results.append({"signal": signal, "items": count_items(signal, batch), "result": result.name})
            return result

    return Recording


def count_items(signal, batch):
    if signal != "metrics":
        return len(batch)
    return sum(
        len(metric.data.data_points)
        for resource_metrics in batch.resource_metrics
        for scope_metrics in resource_metrics.scope_metrics
        for metric in scope_metrics.metrics
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True, help="base URL, such as http://127.0.0.1:8081")
    parser.add_argument("--key", required=True, help="API key, sent as `authorization: Bearer KEY`")
    parser.add_argument("--protocol", choices=sorted(EXPORTER_MODULES), default="protobuf")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds per export, retries included")
    args = parser.parse_args()

    endpoint = args.endpoint.rstrip("/")
    options = {"headers": {"authorization": f"Bearer {args.key}"}, "timeout": args.timeout}
    span_class, metric_class, log_class = exporter_classes(args.protocol)
    results = []
    resource = Resource.create({"service.name": SERVICE_NAME})

    # Spans and logs: batch processors, flushed once, so each signal goes in one request.
    tracer_provider = TracerProvider(resource=resource)
    span_exporter = recording(span_class, results, "traces")(endpoint=f"{endpoint}/v1/traces", **options)
    tracer_provider.add_span_processor(BatchSpanProcessor(span_exporter))
    logger_provider = LoggerProvider(resource=resource)
    log_exporter = recording(log_class, results, "logs")(endpoint=f"{endpoint}/v1/logs", **options)
    logger_provider.add_log_record_processor(BatchLogRecordProcessor(log_exporter))

    tracer = tracer_provider.get_tracer("tally.e2e", "1.0.0")
    logger = logger_provider.get_logger("tally.e2e", "1.0.0")
    with tracer.start_as_current_span("checkout", attributes={"tally.step": "parent"}) as parent:
        trace_id = format(parent.get_span_context().trace_id, "032x")
        with tracer.start_as_current_span("charge card", attributes={"tally.step": "child"}):
            logger.emit(
                severity_number=SeverityNumber.INFO,
                severity_text="INFO",
                body="charging card",
                attributes={"amount_cents": 1299},
            )
            logger.emit(
                severity_number=SeverityNumber.WARN,
                severity_text="WARN",
                body={"message": "slow payment provider", "latency_ms": 812.5},
                attributes={"provider": "acme"},
                event_name="tally.e2e.slow_provider",
            )

    # Metrics: read once from an in-memory reader and exported in one call, so that no
    # periodic or shutdown collection sends the points twice.
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader], shutdown_on_exit=False)
    meter = meter_provider.get_meter("tally.e2e", "1.0.0")
    requests = meter.create_counter("tally_e2e.requests", unit="{request}", description="Requests")
    requests.add(1, {"route": "/a"})
    requests.add(2, {"route": "/b"})
    latency = meter.create_histogram("tally_e2e.latency", unit="ms", description="Latency")
    latency.record(12.5, {"route": "/a"})
    metric_exporter = recording(metric_class, results, "metrics")(
        endpoint=f"{endpoint}/v1/metrics", **options
    )
    metric_exporter.export(reader.get_metrics_data())

    flushed = all([tracer_provider.force_flush(), logger_provider.force_flush()])
    tracer_provider.shutdown()
    logger_provider.shutdown()
    meter_provider.shutdown()
    metric_exporter.shutdown()

    successes = {result.SUCCESS.name for result in (SpanExportResult, MetricExportResult, LogRecordExportResult)}
    sent = {
        signal: sum(result["items"] for result in results if result["signal"] == signal)
        for signal in ("metrics", "logs", "traces")
    }
    ok = (
        flushed
        and bool(results)
        and all(result["result"] in successes for result in results)
        and sent == {"metrics": 3, "logs": 2, "traces": 2}
    )
    summary = {
        "ok": ok,
        "protocol": args.protocol,
        "service_name": SERVICE_NAME,
        "metric_points": sent["metrics"],
        "log_records": sent["logs"],
        "spans": sent["traces"],
        "trace_id": trace_id,
        "exports": results,
    }
    print(json.dumps(summary, separators=(",", ":")))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
