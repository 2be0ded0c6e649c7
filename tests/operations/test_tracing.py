"""Optional tracing (api/tracing.py): with AFTERCARE_TRACING=otlp every request has a span
named by its route template, its SQL has spans under it, and no span names anyone: no id,
no path as sent, no address, no query values."""

from __future__ import annotations

import re

import pytest
from litestar.testing import AsyncTestClient
from opentelemetry import propagate
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from api.app import create_app
from api.settings import ConfigError, Settings
from tests import helpers
from tests.config import make_settings

UUID_LIKE = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}")


async def test_requests_and_their_sql_are_traced_and_name_no_one(database_url, conn, hasher):
    spans = InMemorySpanExporter()
    settings = make_settings(database_url, tracing="otlp", span_exporter=spans)
    async with AsyncTestClient(app=create_app(settings)) as client:
        staff = await helpers.account(client, conn, hasher, ["staff"])
        graduate = await helpers.graduate(client, staff, alias="Robin")
        spans.clear()
        created = await client.post(
            "/v1/checkins?note=x", json=helpers.checkin_body(note="I feel awful"), headers=graduate.headers
        )
        assert created.status_code == 201, created.text
        read = await client.get(f"/v1/staff/participants/{graduate.id}", headers=staff.headers)
        assert read.status_code == 200
        await client.get("/health/live")  # not traced: probes would be most of the spans
        admin = await helpers.account(client, conn, hasher, ["admin"])
        account = {"email": "dup@example.org", "name": "A", "roles": ["staff"]}
        for expected in (201, 409):  # the second fails in the database, which quotes the email
            answer = await client.post("/v1/staff/accounts", json=account, headers=admin.headers)
            assert answer.status_code == expected, answer.text
    finished = spans.get_finished_spans()  # the provider was flushed as the app stopped
    names = [s.name for s in finished]
    assert "POST /v1/checkins" in names and "GET /v1/staff/participants/{participant_id}" in names
    assert not [n for n in names if "health" in n]
    checkin = next(s for s in finished if s.name == "POST /v1/checkins")
    sql = [s for s in finished if s.parent is not None and s.parent.span_id == checkin.context.span_id]
    statements = " ".join(str(s.attributes.get("db.statement", "")) for s in sql)
    assert "checkin_submit(" in statements and "auth_sessions" in statements  # the sign-in check and the check-in
    failed_sql = [s for s in finished if s.events]
    assert failed_sql and all(set(e.attributes) <= {"exception.type"} for s in failed_sql for e in s.events)
    for span in finished:
        assert "dup@example.org" not in str(span.status.description), span.name
        for name, value in (span.attributes or {}).items():
            text = str(value)
            assert not UUID_LIKE.search(text), (span.name, name, text)
            assert "awful" not in text and "Robin" not in text and "note=x" not in text, (span.name, name, text)
            if span.name.split()[0] in ("GET", "POST"):  # a request's own: nothing of the caller
                assert "testclient" not in text.lower() and "127.0.0.1" not in text, (span.name, name, text)


@pytest.mark.parametrize("propagators", [None, "none", "tracecontext"])
async def test_a_callers_trace_context_is_trusted_only_when_the_operator_says_so(
    database_url, monkeypatch, propagators
):
    """A client's `traceparent` neither picks our trace id nor becomes the parent of our span
    (it could force every trace of its requests to be kept, or join ours to its own); so too
    with OTEL_PROPAGATORS=none, which OpenTelemetry alone would turn into a failure a request.
    An operator whose callers are their own services opts in with OTEL_PROPAGATORS=tracecontext."""
    if propagators is None:
        monkeypatch.delenv("OTEL_PROPAGATORS", raising=False)
    else:
        monkeypatch.setenv("OTEL_PROPAGATORS", propagators)
    # The process-wide propagator as OpenTelemetry made it at import from that setting (unset:
    # W3C trace context; "none": none at all), whatever an earlier test left.
    trusting = [] if propagators == "none" else [TraceContextTextMapPropagator()]
    monkeypatch.setattr(propagate, "_HTTP_TEXT_FORMAT", CompositePropagator(trusting))
    spans = InMemorySpanExporter()
    theirs = "0af7651916cd43dd8448eb211c80319c"
    async with AsyncTestClient(app=create_app(make_settings(database_url, tracing="otlp", span_exporter=spans))) as c:
        answer = await c.get("/v1/groups", headers={"traceparent": f"00-{theirs}-b7ad6b7169203331-01"})
        assert answer.status_code == 401
    [span] = [s for s in spans.get_finished_spans() if s.name.startswith("GET")]
    adopted = format(span.context.trace_id, "032x") == theirs
    if propagators == "tracecontext":
        assert adopted and span.parent is not None and format(span.parent.span_id, "016x") == "b7ad6b7169203331"
    else:
        assert span.parent is None and not adopted


def test_tracing_needs_a_known_mode(monkeypatch):
    monkeypatch.setenv("AFTERCARE_TRACING", "jaeger")
    with pytest.raises(ConfigError, match="AFTERCARE_TRACING must be one of off, otlp"):
        Settings.from_env(database_url="postgresql://x@127.0.0.1/x", secret_key="k" * 40)


async def test_off_by_default_nothing_is_traced(client, graduate):
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

    with pytest.raises(KeyError):
        client.app.plugins.get("OpenTelemetryPlugin")
    assert not AsyncPGInstrumentor().is_instrumented_by_opentelemetry
    assert (await client.get("/v1/checkins/due", headers=graduate.headers)).status_code == 200


def test_ids_in_any_text_and_recorded_headers_do_not_leave():
    """What the request test cannot reach: a live socket's LISTEN names its person or group
    (32 hex digits), and headers OpenTelemetry records when an operator asks it to."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    from api.tracing import redacting

    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(redacting(spans)))
    person = "0123456789abcdef0123456789abcdef"
    with provider.get_tracer("t").start_as_current_span("LISTEN") as span:
        span.set_attribute("db.statement", f'LISTEN "aftercare_person_{person}"')
        span.set_attribute("http.request.header.authorization", ("Bearer abc",))
        span.set_attribute("db.system", "postgresql")
    (sent,) = spans.get_finished_spans()
    assert sent.attributes["db.statement"] == 'LISTEN "aftercare_person_<id>"'
    assert sent.attributes["http.request.header.authorization"] == "redacted"
    assert sent.attributes["db.system"] == "postgresql"
