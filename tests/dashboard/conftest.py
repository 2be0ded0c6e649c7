"""Fixtures of the dashboard's tests (the `dashboard` AppTest maker is in tests/conftest.py:
the sign-in budget tests use it too)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.dashboard.browser import REPO
from tests.live_server import free_port


@pytest.fixture
def streamlit_app(api_url: str, tmp_path: Path):
    """`streamlit run admin_dashboard/app.py` on a free port, pointed at the live API: its URL."""
    port = free_port()
    log = (tmp_path / "streamlit.log").open("w")
    env = os.environ | {"AFTERCARE_API_URL": api_url, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "api.cli",  # as people start it: `aftercare dashboard`
            "dashboard",
            "--port",
            str(port),
        ],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise AssertionError(f"streamlit exited early:\n{(tmp_path / 'streamlit.log').read_text()}")
            try:
                if httpx.get(f"{url}/_stcore/health", timeout=2).text.strip() == "ok":
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"streamlit did not answer:\n{(tmp_path / 'streamlit.log').read_text()}")
            time.sleep(0.25)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
