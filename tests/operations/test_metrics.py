"""The API's Prometheus metrics (api/metrics.py): GET /metrics only with its token, every
answer counted by route template (never an id), refusals and errors included, the pool's
connections, and one sum over several worker processes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests import helpers
from tests.helpers import assert_problem
from tests.live_server import served_processes

TOKEN = "metrics-" + "t" * 40
WITH_METRICS = pytest.mark.parametrize("settings", [{"metrics_token": TOKEN}], indirect=True)
ASKED = {"Authorization": f"Bearer {TOKEN}"}
UUID_LIKE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-")


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """(sample name, sorted labels) -> value, from the text format."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def answers(scraped: dict, method: str, route: str, status: int) -> float:
    key = ("aftercare_api_requests_total", (("method", method), ("route", route), ("status", str(status))))
    return scraped.get(key, 0.0)


async def scrape(client) -> dict:
    response = await client.get("/metrics", headers=ASKED)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return samples(response.text)


async def test_there_is_no_metrics_endpoint_without_a_token(client):
    assert_problem(await client.get("/metrics", headers=ASKED), 404)


@WITH_METRICS
async def test_metrics_need_the_token(client, graduate):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}, graduate.headers):
        assert_problem(await client.get("/metrics", headers=headers), 401)
    assert "/metrics" not in (await client.get("/schema/openapi.json")).json()["paths"]


@WITH_METRICS
async def test_every_answer_is_counted_by_its_route_template(client, graduate):
    before = await scrape(client)
    created = await client.post("/v1/checkins", json=helpers.checkin_body(), headers=graduate.headers)
    assert created.status_code == 201, created.text
    missing = await client.get(f"/v1/staff/participants/{uuid.uuid4()}", headers=graduate.headers)
    assert missing.status_code == 403  # a graduate on a staff route
    unsigned = await client.get("/v1/checkins/due")  # refused by the auth middleware
    assert unsigned.status_code == 401
    await client.get(f"/nowhere/{uuid.uuid4()}")
    after = await scrape(client)

    assert answers(after, "POST", "/v1/checkins", 201) - answers(before, "POST", "/v1/checkins", 201) == 1
    route = "/v1/staff/participants/{participant_id}"
    assert answers(after, "GET", route, 403) - answers(before, "GET", route, 403) == 1
    assert answers(after, "GET", "/v1/checkins/due", 401) - answers(before, "GET", "/v1/checkins/due", 401) == 1
    assert answers(after, "GET", "unmatched", 404) - answers(before, "GET", "unmatched", 404) == 1
    latency = ("aftercare_api_request_duration_seconds_count", (("method", "POST"), ("route", "/v1/checkins")))
    assert after[latency] - before.get(latency, 0) == 1
    # Timed from its arrival also when the auth middleware refused it (it is inside ours).
    refused = ("aftercare_api_request_duration_seconds_count", (("method", "GET"), ("route", "/v1/checkins/due")))
    assert after[refused] - before.get(refused, 0) == 1
    # No id and no raw path in any label: only route templates and fixed words.
    labels = {value for _, pairs in after for _, value in pairs}
    assert not [value for value in labels if UUID_LIKE.search(value) or "/nowhere" in value]
    pool = {
        dict(pairs)["state"]: value
        for (name, pairs), value in after.items()
        if name == "aftercare_api_db_pool_connections"
    }
    assert set(pool) == {"in_use", "idle", "waiting"} and pool["in_use"] >= 0 and pool["waiting"] == 0


@pytest.mark.parametrize("settings", [{"metrics_token": TOKEN, "auth_rate_limit_per_minute": 2}], indirect=True)
async def test_rate_limit_refusals_are_counted(client):
    before = await scrape(client)
    statuses = [
        (await client.post(helpers.LOGIN, json=helpers.login_body("nobody@example.org", "wrong password"))).status_code
        for _ in range(4)
    ]
    assert 429 in statuses, statuses
    after = await scrape(client)
    key = ("aftercare_api_rate_limited_total", (("route", helpers.LOGIN),))
    assert after[key] - before.get(key, 0) == statuses.count(429)


def test_two_worker_processes_answer_for_both(database_url, conn, tmp_path):
    """`aftercare serve --workers 2`: whichever process answers /metrics counts the
    requests both served."""
    # No drain to wait for at the end (tests/operations/test_shutdown.py has it).
    env = {"AFTERCARE_METRICS_TOKEN": TOKEN, "AFTERCARE_SHUTDOWN_DRAIN_S": "0"}
    with served_processes(database_url, tmp_path / "serve.log", **env) as (_, url):
        sent = 60
        for _ in range(sent):  # a new connection each: the two processes share them out
            assert httpx.get(f"{url}/v1/crisis-resources", timeout=5).status_code == 200
        for _ in range(4):  # any process's answer counts them all
            scraped = samples(httpx.get(f"{url}/metrics", headers=ASKED, timeout=5).text)
            assert answers(scraped, "GET", "/v1/crisis-resources", 200) == sent


def test_a_dead_processs_gauges_are_forgotten(tmp_path):
    """A worker process uvicorn replaced leaves its gauge files: its last values must not be
    summed for ever (counters keep counting its past)."""
    from api.metrics import forget_dead_processes

    script = (
        "from prometheus_client import Counter, Gauge\n"
        "Gauge('g', 'g', multiprocess_mode='livesum').set(5)\n"
        "Counter('c', 'c').inc()\n"
    )
    env = os.environ | {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    subprocess.run([sys.executable, "-c", script], env=env, check=True)
    assert [p.name for p in tmp_path.glob("gauge_live*")]
    forget_dead_processes(tmp_path)
    assert not list(tmp_path.glob("gauge_live*")) and list(tmp_path.glob("counter_*"))
