"""The API as it runs in production (`aftercare serve --workers N`), or another server (the
peers, bench/peers.py), in its own processes, with its memory watched: the peak resident size
of the whole process tree, sampled."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from typing import Self

import psutil


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MemoryWatch:
    """Samples the resident memory of a process and its children every `every` seconds."""

    def __init__(self, pid: int, every: float = 0.25) -> None:
        self._root = psutil.Process(pid)
        self._every = every
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.samples: list[tuple[float, int]] = []
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def rss(self) -> int:
        total = 0
        for process in [self._root, *self._root.children(recursive=True)]:
            try:
                total += process.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        return total

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            try:
                sample = (time.monotonic(), self.rss())
            except psutil.NoSuchProcess:
                return
            with self._lock:
                self.samples.append(sample)

    def peak_since(self, started: float) -> int:
        with self._lock:
            return max((rss for at, rss in self.samples if at >= started), default=self.rss())

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class Server:
    """`argv` (a server listening on `port`, `workers` processes) in its own processes; `url`,
    `memory`; ready once `ready_path` answers 200 and every worker is up; stopped with SIGTERM."""

    def __init__(
        self, name: str, argv: list[str], port: int, workers: int, env: dict[str, str], ready_path: str
    ) -> None:
        self.name = name
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        # Its log (an access line a request, as in production) goes to a file, not to a pipe
        # nobody reads (a full pipe would stall the server).
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(argv, env=os.environ | env, stdout=self.log, stderr=subprocess.STDOUT)
        try:
            self._wait_ready(workers, ready_path)
        except BaseException:
            self._stop()  # not left running (and its workers orphaned) when start-up fails
            raise
        self.memory = MemoryWatch(self.process.pid)

    def _wait_ready(self, workers: int, ready_path: str) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.log.seek(0)
                raise RuntimeError(f"{self.name} exited at start-up:\n{self.log.read().decode()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}{ready_path}", timeout=2) as response:
                    # Every worker must be up, or the first seconds measure start-up.
                    # (One worker is the server's own process: uvicorn starts no child for it.)
                    if response.status == 200 and (workers == 1 or self._workers_started() >= workers):
                        time.sleep(1)
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not become ready within 60 s")

    def _workers_started(self) -> int:
        """uvicorn's worker processes (multiprocessing's resource tracker is a child too)."""
        return sum(
            "resource_tracker" not in " ".join(child.cmdline()) for child in psutil.Process(self.process.pid).children()
        )

    def _stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()

    def close(self) -> None:
        self.memory.stop()
        self._stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_) -> None:
        self.close()


class ApiServer(Server):
    """`python -m api.cli serve` on a free port."""

    def __init__(self, database_url: str, secret_key: str, workers: int, env: dict[str, str] | None = None) -> None:
        port = free_port()
        super().__init__(
            "the API",
            [sys.executable, "-m", "api.cli", "serve", "--port", str(port), "--workers", str(workers)],
            port,
            workers,
            {"DATABASE_URL": database_url, "AFTERCARE_SECRET_KEY": secret_key} | (env or {}),
            "/health/ready",
        )
