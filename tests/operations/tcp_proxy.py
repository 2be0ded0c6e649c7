"""A TCP proxy in front of a real server (Redis), that can stop answering or answer late:
the failures a socket timeout is for, which a stopped server (connection refused) is not.

It runs its own event loop in a thread, because AsyncTestClient blocks the test's loop while
a request is in flight. Modes, switchable at any time, per chunk of data:
  "pass"       forward both ways
  "blackhole"  accept and read, never forward or answer (a hung server, a dropped route)
  "delay"      forward, but hold each reply `delay_s` seconds (an overloaded server)
"""

from __future__ import annotations

import asyncio
import threading


class TcpProxy:
    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.mode = "pass"
        self.delay_s = 0.0
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> TcpProxy:
        self._thread.start()
        start = asyncio.start_server(self._connection, "127.0.0.1", 0)
        self._server = asyncio.run_coroutine_threadsafe(start, self._loop).result(timeout=5)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc) -> None:
        async def stop() -> None:
            self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def set(self, mode: str, delay_s: float = 0.0) -> None:
        self.mode, self.delay_s = mode, delay_s

    async def _connection(self, client_reader, client_writer) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.upstream)
        await asyncio.gather(
            self._pump(client_reader, upstream_writer, replies=False),
            self._pump(upstream_reader, client_writer, replies=True),
            return_exceptions=True,
        )

    async def _pump(self, reader, writer, *, replies: bool) -> None:
        try:
            while data := await reader.read(65536):
                if self.mode == "blackhole":
                    continue
                if replies and self.mode == "delay":
                    await asyncio.sleep(self.delay_s)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
