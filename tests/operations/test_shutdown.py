"""Stopping without failing a request (api/shutdown.py): on SIGTERM the API says it is not
ready first, keeps answering while it drains, finishes what is in flight, then exits."""

from __future__ import annotations

import asyncio
import signal
import time

import httpx

from api.shutdown import Drain
from tests.helpers import assert_problem
from tests.live_server import served_processes

DRAIN_S = 2


async def test_readiness_says_no_while_draining(client):
    assert (await client.get("/health/ready")).status_code == 200
    client.app.state.drain.draining = True
    body = assert_problem(await client.get("/health/ready"), 503, "shutting_down")
    assert "elsewhere" in body["detail"]
    answer = await client.get("/health/live")  # alive, and asking the client to close
    assert answer.status_code == 200 and answer.headers["connection"] == "close"


async def test_without_uvicorn_nothing_is_installed():
    before = signal.getsignal(signal.SIGTERM)
    assert Drain(5).install() is False
    assert signal.getsignal(signal.SIGTERM) is before


async def test_sigterm_under_load_fails_no_request(database_url, conn, tmp_path):
    """`aftercare serve --workers 2` under steady load (16 clients on keep-alive
    connections), then SIGTERM. The clients act as a load balancer would: they stop sending
    once readiness says no. Every request sent gets its answer, readiness turned false
    while the process still answered, and the process exits cleanly after the drain."""
    log_path = tmp_path / "serve.log"
    served = served_processes(database_url, log_path, AFTERCARE_SHUTDOWN_DRAIN_S=str(DRAIN_S))
    answered, failed = [], []
    not_ready = asyncio.Event()
    with served as (server, url):

        async def client() -> None:
            async with httpx.AsyncClient(base_url=url, timeout=10) as http:
                while not not_ready.is_set():
                    try:
                        answer = await http.get("/v1/crisis-resources")
                        (answered if answer.status_code == 200 else failed).append(answer.status_code)
                    except httpx.TransportError as exc:
                        failed.append(repr(exc))

        async def balancer() -> float:
            """Polls readiness as a load balancer does; when it said no."""
            async with httpx.AsyncClient(base_url=url, timeout=5) as http:
                while True:
                    answer = await http.get("/health/ready")
                    if answer.status_code == 503:
                        assert answer.json()["code"] == "shutting_down"
                        not_ready.set()
                        return time.monotonic()
                    await asyncio.sleep(0.05)

        clients = [asyncio.create_task(client()) for _ in range(16)]
        watching = asyncio.create_task(balancer())
        # Steady load first: a freshly started worker's first answers can take a while on a
        # busy machine (CI once saw none in the first second), and the point is a drain under load.
        flowing_by = time.monotonic() + 20
        while len(answered) <= 50 and time.monotonic() < flowing_by:
            await asyncio.sleep(0.05)
        before_signal = len(answered)
        signalled = time.monotonic()
        server.send_signal(signal.SIGTERM)
        said_no = await asyncio.wait_for(watching, 10)
        await asyncio.gather(*clients)
        exit_code = await asyncio.to_thread(server.wait, 30)
        stopped = time.monotonic()
    assert failed == [], (failed[:5], log_path.read_text()[-3000:])
    assert before_signal > 50 and len(answered) > before_signal
    assert said_no - signalled < 1.0  # readiness turned false at once...
    assert stopped - signalled >= DRAIN_S  # ...while it went on answering for the drain
    assert exit_code == 0, log_path.read_text()[-3000:]
    assert "not ready from now" in log_path.read_text()
