"""The dependency audit (.ci/audit_dependencies.py) against a local stand-in for PyPI's
JSON API: it finds a vulnerability, honours an explanation, and fails closed."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / ".ci" / "audit_dependencies.py"
VULN = {"id": "PYSEC-2099-1", "aliases": ["CVE-2099-0001"], "fixed_in": ["1.1"], "withdrawn": None}
# What the stand-in serves: per-release pages for "oldlib", only project pages for the
# rest (as this machine's mirror does).
PAGES = {
    "/pypi/oldlib/1.0/json": {"info": {"version": "1.0"}, "vulnerabilities": [VULN]},
    "/pypi/latestlib/json": {"info": {"version": "2.0"}, "vulnerabilities": []},
    "/pypi/stalelib/json": {"info": {"version": "3.1"}, "vulnerabilities": []},
}


def _files(age: timedelta) -> list[dict]:
    at = datetime.now(UTC) - age
    return [{"upload_time_iso_8601": at.strftime("%Y-%m-%dT%H:%M:%SZ")}]


# Behind by releases of known age: "freshlib" 4.0 -> 4.1 came out two days ago; "oldpin"
# 5.0 -> 5.1 forty days ago (5.2 two days ago does not restart its clock).
PAGES["/pypi/freshlib/json"] = {
    "info": {"version": "4.1"},
    "vulnerabilities": [],
    "releases": {"4.0": _files(timedelta(days=90)), "4.1": _files(timedelta(days=2))},
    "urls": _files(timedelta(days=2)),
}
PAGES["/pypi/oldpin/json"] = {
    "info": {"version": "5.2"},
    "vulnerabilities": [],
    "releases": {
        "5.0": _files(timedelta(days=100)),
        "5.1": _files(timedelta(days=40)),
        "5.2": _files(timedelta(days=2)),
    },
    "urls": _files(timedelta(days=2)),
}


class _PyPI(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        page = PAGES.get(self.path)
        body = json.dumps(page).encode() if page else b"{}"
        self.send_response(200 if page else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def index():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _PyPI)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _audit(tmp_path: Path, index: str, lock: str, ignore: str = "") -> subprocess.CompletedProcess:
    (tmp_path / "lock.txt").write_text(lock)
    (tmp_path / "ignore.txt").write_text(ignore)
    command = [sys.executable, str(SCRIPT), "--index", index, "--lock", str(tmp_path / "lock.txt")]
    command += ["--ignore", str(tmp_path / "ignore.txt")]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def test_a_known_vulnerability_fails_until_explained(tmp_path, index):
    lock = "oldlib==1.0\n    # via us\nlatestlib==2.0\nstalelib==3.0\n"
    result = _audit(tmp_path, index, lock)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "oldlib 1.0: PYSEC-2099-1, CVE-2099-0001 (fixed in 1.1) UNEXPLAINED" in result.stdout
    assert "unchecked: stalelib 3.0 (latest is 3.1) UNEXPLAINED" in result.stdout
    summary = "3 packages: 1 with known vulnerabilities, 1 unchecked, 0 due for a lock refresh, 2 unexplained"
    assert summary in result.stdout

    only_one = _audit(tmp_path, index, lock, ignore="CVE-2099-0001 only in a code path we never call\n")
    assert only_one.returncode == 1, only_one.stdout  # the unchecked pin is still unexplained
    assert "explained: only in a code path we never call" in only_one.stdout

    ignore = "CVE-2099-0001 only in a code path we never call\nunchecked:stalelib 3.1 needs Python 3.12\n"
    explained = _audit(tmp_path, index, lock, ignore=ignore)
    assert explained.returncode == 0, explained.stdout
    assert "(latest is 3.1) explained: 3.1 needs Python 3.12" in explained.stdout


def test_an_audit_that_cannot_run_is_not_a_pass(tmp_path):
    result = _audit(tmp_path, "http://127.0.0.1:1", "oldlib==1.0\n")
    assert result.returncode == 2
    assert "did not run" in result.stderr
    assert _audit(tmp_path, "http://127.0.0.1:1", "# nothing pinned\n").returncode == 2


def test_a_pin_behind_a_days_old_release_is_due_and_one_long_behind_fails(tmp_path, index):
    fresh = _audit(tmp_path, index, "freshlib==4.0\nlatestlib==2.0\n")
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    due_by = (datetime.now(UTC) + timedelta(days=5)).date()
    assert "unchecked: freshlib 4.0 (latest is 4.1) due: refresh the lock by" in fresh.stdout
    assert str(due_by) in fresh.stdout or str(due_by - timedelta(days=1)) in fresh.stdout
    assert "1 due for a lock refresh, 0 unexplained" in fresh.stdout

    stale = _audit(tmp_path, index, "oldpin==5.0\n")
    assert stale.returncode == 1, stale.stdout
    assert "unchecked: oldpin 5.0 (latest is 5.2) UNEXPLAINED" in stale.stdout

    # A window of one day: two days behind fails too.
    (tmp_path / "lock.txt").write_text("freshlib==4.0\n")
    command = [sys.executable, str(SCRIPT), "--index", index, "--lock", str(tmp_path / "lock.txt"), "--grace-days", "1"]
    assert subprocess.run(command, capture_output=True, text=True, timeout=60).returncode == 1
