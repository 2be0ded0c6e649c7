"""Embedded PostgreSQL (the `pgserver` wheel) for when no DATABASE_URL is given, so that a
newcomer needs nothing but Python."""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import psutil


class EmbeddedPostgres:
    """A running embedded server. pgserver counts the processes using one data folder and
    stops the server when the last of them exits (or calls `stop`)."""

    def __init__(self, data_dir: Path, *, delete_on_exit: bool = False) -> None:
        # pgserver logs from an atexit hook, after test runners have closed their streams.
        logging.getLogger("pgserver").setLevel(logging.WARNING)
        data_dir.mkdir(parents=True, exist_ok=True)
        _forget_dead_users(data_dir)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR as root
            # From its module: the package re-exports it without saying so (no `__all__`).
            from pgserver.postgres_server import get_server

            self._server = get_server(data_dir, cleanup_mode="delete" if delete_on_exit else "stop")
        self.url: str = self._server.get_uri()

    def stop(self) -> None:
        """Let go of the server now (it stops if no other process uses it)."""
        self._server.cleanup()


def _forget_dead_users(data_dir: Path) -> None:
    """pgserver keeps the pids using the server in `.handle_pids.json`; a process killed
    before its exit hook ran stays listed, and the server would then never be stopped.
    Drop the pids that no longer run."""
    pid_file = data_dir / ".handle_pids.json"
    try:
        pids = json.loads(pid_file.read_text())
    except (OSError, ValueError):
        return
    alive = [pid for pid in pids if _running(pid)]
    if alive != pids:
        pid_file.write_text(json.dumps(alive))


def _running(pid: int) -> bool:
    # A killed process can linger as a zombie until its parent reaps it: that is not running.
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def start_embedded(data_dir: Path, *, delete_on_exit: bool = False) -> str:
    """Start (or join) the embedded server keeping its data in `data_dir`; return its URL."""
    return EmbeddedPostgres(data_dir, delete_on_exit=delete_on_exit).url
