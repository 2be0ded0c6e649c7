"""Embedded PostgreSQL (the `pgserver` wheel) for when no DATABASE_URL is given, so that a
newcomer needs nothing but Python."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path


def start_embedded(data_dir: Path, *, delete_on_exit: bool = False) -> str:
    """Start (or reuse) an embedded server keeping its data in `data_dir`; return its URL.

    The server stops when the last process using it exits; its data stays unless
    `delete_on_exit` (used by the tests).
    """
    # pgserver logs from an atexit hook, after test runners have closed their streams.
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR as root
        import pgserver

        data_dir.mkdir(parents=True, exist_ok=True)
        server = pgserver.get_server(data_dir, cleanup_mode="delete" if delete_on_exit else "stop")
    return server.get_uri()
