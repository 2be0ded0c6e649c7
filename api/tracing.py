"""Optional tracing: OpenTelemetry spans of every request and of the SQL it runs, sent to a
collector over OTLP/HTTP (README, "Metrics"). Off unless AFTERCARE_TRACING=otlp; needs the
`tracing` extra (`pip install 'aftercare[tracing]'`).

Spans name no one. A request's span is named by its route template (`POST /v1/checkins`,
`GET /v1/groups/{group_id}`), never by the path as sent; the attributes that would carry the
path, its query, the caller's address or their user agent are replaced as each span starts
(`redacting`: on the way out, so whenever an instrumentation sets them), as are ids in
any text and the message of an error (only its type goes: a database error quotes the values it
refused). SQL spans carry the statement's text with its `$1` placeholders, never the values
(asyncpg's instrumentation records none unless asked).

Where the spans go is OpenTelemetry's own configuration: OTEL_EXPORTER_OTLP_ENDPOINT (or
..._TRACES_ENDPOINT), OTEL_EXPORTER_OTLP_HEADERS, OTEL_SERVICE_NAME (default aftercare-api).
A caller's `traceparent` and `baggage` are ignored unless OTEL_PROPAGATORS names propagators
(unset or `none`: ignored).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from litestar.plugins import PluginProtocol
from litestar.types import Message, Scope

if TYPE_CHECKING:
    # The `tracing` extra, imported where it is used: without it the API still starts.
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.sdk.trace.export import SpanExporter

# What the server span of a request would otherwise carry about who asked and for what.
_NOT_RECORDED = (
    "http.target",
    "http.url",
    "url.path",
    "url.query",
    "url.full",
    "http.client_ip",
    "client.address",
    "client.port",
    "net.peer.ip",
    "net.peer.port",
    "net.sock.peer.addr",
    "net.sock.peer.port",
    "network.peer.address",
    "network.peer.port",
    "http.user_agent",
    "user_agent.original",
)
REDACTED = "redacted"


def span_details(scope: Scope) -> tuple[str, dict[str, Any]]:
    """A request's span name as it starts: the method alone. The span starts before routing,
    when only the path as sent is known; `name_by_route` names it once the route is found."""
    method = cast("str | None", scope.get("method"))  # a socket's scope has none
    return (method or scope.get("type", "request")), {}


async def name_by_route(message: Message, scope: Scope) -> None:
    """A `before_send` hook: the request's span named by its route template, as the metrics
    label it (`POST /v1/checkins`)."""
    if message["type"] != "http.response.start":
        return
    from opentelemetry import trace

    span = trace.get_current_span()
    if span.is_recording():
        route = scope.get("path_template") or "unmatched"
        span.update_name(f"{scope.get('method')} {route}")
        span.set_attribute("http.route", route)


def tracing_plugins(mode: str, exporter: Any = None) -> tuple[list[PluginProtocol], Any]:
    """The Litestar plugin that traces requests, and the tracer provider behind it (for the
    SQL spans and for shutting down); `exporter` replaces OTLP (the tests keep spans in memory).
    Nothing, and None, when tracing is off. With it, `name_by_route` goes in `before_send`."""
    if mode == "off":
        return [], None
    from litestar.plugins.opentelemetry import OpenTelemetryConfig, OpenTelemetryPlugin
    from opentelemetry.metrics import NoOpMeterProvider
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    provider = TracerProvider(
        resource=Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME") or "aftercare-api"})
    )
    provider.add_span_processor(BatchSpanProcessor(redacting(exporter)))
    # "none" too: OpenTelemetry's own reading of it (no propagator at all) leaves no context
    # for the ASGI instrumentation to attach, and every traced request would fail.
    if os.environ.get("OTEL_PROPAGATORS", "").strip().lower() in ("", "none"):
        # A client's `traceparent` would choose our trace ids and whether a trace is kept (and
        # its `baggage` would ride along): incoming context is trusted only where the operator
        # says so, with OpenTelemetry's own setting (OTEL_PROPAGATORS=tracecontext behind a
        # proxy that starts traces). Process-wide, as propagation is.
        from opentelemetry.propagate import set_global_textmap

        set_global_textmap(_no_incoming_context())
    config = OpenTelemetryConfig(
        tracer_provider=provider,
        # The ASGI instrumentation's own metrics label durations with the path as sent (ids):
        # no meter for them (the API's metrics are Prometheus', api/metrics.py).
        meter_provider=NoOpMeterProvider(),
        scope_span_details_extractor=span_details,
        exclude=["^/health/", "^/metrics$"],  # probes and scrapes every few seconds: noise
        exclude_spans=["receive", "send"],
    )
    return [OpenTelemetryPlugin(config)], provider


def _no_incoming_context() -> Any:
    """A propagator that reads nothing from a request: each one starts a trace of its own.
    (An empty CompositePropagator would not do: the ASGI instrumentation attaches what
    `extract` returns, and its None leaves no current context at all.)"""
    from opentelemetry.context import Context
    from opentelemetry.propagators.textmap import TextMapPropagator

    class NoIncomingContext(TextMapPropagator):
        def extract(self, carrier: Any, context: Context | None = None, getter: Any = None) -> Context:
            return Context() if context is None else context

        def inject(self, carrier: Any, context: Context | None = None, setter: Any = None) -> None:
            return None

        @property
        def fields(self) -> set[str]:
            return set()

    return NoIncomingContext()


# Ids as they appear in SQL text (LISTEN "aftercare_person_<hex>") and anywhere else.
_ID = re.compile(r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}")
# Headers an operator may ask OpenTelemetry to record (OTEL_INSTRUMENTATION_HTTP_CAPTURE_...).
_HEADERS = ("http.request.header.", "http.response.header.")


def _clean(name: str, value: Any) -> Any:
    if name in _NOT_RECORDED or name.startswith(_HEADERS):
        return REDACTED
    if isinstance(value, str):
        return _ID.sub("<id>", value)
    return value


def redacting(exporter: SpanExporter) -> SpanExporter:
    """`exporter`, sending each span without what could name someone: the attributes of
    `_NOT_RECORDED` and recorded headers replaced, ids in any text replaced, and of an error
    only its type (a database error's text quotes the values it refused: an email, a note)."""
    from opentelemetry.sdk.trace import Event, ReadableSpan
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
    from opentelemetry.trace import Status

    def redacted(span: ReadableSpan) -> ReadableSpan:
        events = [
            Event(e.name, {k: v for k, v in (e.attributes or {}).items() if k == "exception.type"}, e.timestamp)
            for e in span.events
        ]
        return ReadableSpan(
            name=_ID.sub("<id>", span.name),
            context=span.context,
            parent=span.parent,
            resource=span.resource,
            attributes={k: _clean(k, v) for k, v in (span.attributes or {}).items()},
            events=events,
            links=span.links,
            kind=span.kind,
            status=Status(span.status.status_code),
            start_time=span.start_time,
            end_time=span.end_time,
            instrumentation_scope=span.instrumentation_scope,
        )

    class Redacting(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            return exporter.export([redacted(span) for span in spans])

        def shutdown(self) -> None:
            exporter.shutdown()

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return exporter.force_flush(timeout_millis)

    return Redacting()


def trace_sql(provider: Any) -> AsyncPGInstrumentor:
    """Spans of every asyncpg query, under the request's; returns what stops them."""
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

    # Its constructor is unannotated (`capture_parameters=False`), in a package marked typed.
    instrumentor = AsyncPGInstrumentor()  # type: ignore[no-untyped-call]
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument(tracer_provider=provider)
    return instrumentor
