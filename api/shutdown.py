"""Stopping without failing a request (README, "Restarts and upgrades").

On SIGTERM (`docker stop`, Kubernetes, systemd) an API process first drains, for
AFTERCARE_SHUTDOWN_DRAIN_S: `/health/ready` answers 503 at once, so the load balancer stops
sending it new requests, while it goes on answering those that still arrive, each answer
closing its connection (no idle keep-alive connection is left for the final close to cut
under a request being sent). Then uvicorn's own graceful shutdown: no new connections, the
requests in flight finish, the process exits.

uvicorn takes SIGTERM for itself as it starts serving; the app's start-up runs after that,
so `Drain.install` wraps uvicorn's handler: ours first, uvicorn's after the drain. Where no
uvicorn handler is there (the tests' in-process client, a server in a thread), it installs
nothing.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from types import FrameType
from typing import Any

import uvicorn
from litestar.datastructures import MutableScopeHeaders
from litestar.types import Message, Scope

log = logging.getLogger("aftercare.api")


class Drain:
    __slots__ = ("drain_s", "draining")

    def __init__(self, drain_s: float) -> None:
        self.drain_s = drain_s
        self.draining = False

    def install(self) -> bool:
        """Take SIGTERM before uvicorn does; whether there was a uvicorn to take it from."""
        if threading.current_thread() is not threading.main_thread():
            return False
        uvicorn_exit = signal.getsignal(signal.SIGTERM)
        # uvicorn's handler is a bound method of its Server (`callable` says so to the type checker).
        if not callable(uvicorn_exit) or not isinstance(getattr(uvicorn_exit, "__self__", None), uvicorn.Server):
            return False
        loop = asyncio.get_running_loop()

        def on_sigterm(sig: int, frame: FrameType | None) -> None:
            if self.draining:
                return  # a second SIGTERM changes nothing: the drain is already timed
            self.draining = True
            # Signal handlers run between bytecodes of the loop's thread: the timer is set
            # through the loop, as any callback from outside it.
            loop.call_soon_threadsafe(loop.call_later, self.drain_s, uvicorn_exit, sig, frame)
            log.info("SIGTERM: not ready from now; stopping in %.1f s, after the requests in flight", self.drain_s)

        signal.signal(signal.SIGTERM, on_sigterm)
        return True

    async def close_connections(self, message: Message, scope: Scope) -> None:
        """A `before_send` hook: while draining, every answer closes its connection."""
        if self.draining and message["type"] == "http.response.start":
            message["headers"] = list(message.get("headers", ()))
            MutableScopeHeaders.from_message(message)["Connection"] = "close"


def draining(state: Any) -> bool:
    drain = getattr(state, "drain", None)
    return drain is not None and drain.draining
