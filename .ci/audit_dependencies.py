#!/usr/bin/env python3
"""Check every package pinned in requirements.lock against PyPI's vulnerability data.

PyPI publishes known vulnerabilities (from the OSV database) in its JSON API; pip-audit
reads them from the per-release endpoint, /pypi/<name>/<version>/json. This machine's CI
reaches PyPI only through a registry mirror that serves the project endpoint,
/pypi/<name>/json, and not the per-release one, so pip-audit cannot run here. This script
asks the per-release endpoint first (as pip-audit does) and, where that is not served,
the project endpoint, whose vulnerabilities are those of the latest release: exact when
the lock pins the latest release. A pin older than the latest cannot be checked that way;
it is listed as "unchecked" (refresh the lock, see README "Dependencies").

A vulnerability fails the run unless .ci/audit-ignore.txt explains it (one line each:
`<id> <why it does not affect us>`), and so does a pin that could not be checked, unless a
line `unchecked:<package> <why it stays behind>` explains that, or unless the first release
after the pin reached PyPI less than --grace-days ago: then the lock is "due" for a refresh
by a date the script prints. Without that window, any upstream release published between a
commit and its CI run would turn the run red though nothing in the project changed.

Exit codes: 0 nothing unexplained, 1 something unexplained, 2 PyPI unreachable or
the lock unreadable (fails closed: an audit that could not run is not a pass).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)")


@dataclass
class Finding:
    name: str
    version: str
    vulnerabilities: list[dict] = field(default_factory=list)
    unchecked_because: str | None = None
    # When the first release after the pinned one reached PyPI (None: not known).
    behind_since: datetime | None = None


def pins(lock: Path) -> list[tuple[str, str]]:
    return [(m[1], m[2]) for line in lock.read_text().splitlines() if (m := PIN.match(line.strip()))]


def _get(url: str) -> dict | None:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise


def check(name: str, version: str, index: str) -> Finding:
    release = _get(f"{index}/pypi/{name}/{version}/json")
    if release is None:
        project = _get(f"{index}/pypi/{name}/json")
        if project is None:
            return Finding(name, version, unchecked_because="not on PyPI")
        latest = project["info"]["version"]
        if latest != version:
            behind_since = _behind_since(project, version)
            return Finding(name, version, unchecked_because=f"latest is {latest}", behind_since=behind_since)
        release = project
    live = [v for v in release.get("vulnerabilities") or [] if not v.get("withdrawn")]
    return Finding(name, version, vulnerabilities=live)


def _first_upload(files: list[dict]) -> datetime | None:
    times = [f["upload_time_iso_8601"] for f in files if f.get("upload_time_iso_8601")]
    return min((datetime.fromisoformat(t.replace("Z", "+00:00")) for t in times), default=None)


def _behind_since(project: dict, version: str) -> datetime | None:
    """When the first release newer than `version` (by upload time) was published."""
    releases = project.get("releases") or {}
    pinned_at = _first_upload(releases.get(version) or [])
    if pinned_at is None:
        return _first_upload(project.get("urls") or [])
    later = (at for files in releases.values() if (at := _first_upload(files)) and at > pinned_at)
    return min(later, default=None) or _first_upload(project.get("urls") or [])


def explained(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    reasons = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            vuln_id, _, why = line.strip().partition(" ")
            reasons[vuln_id] = why.strip()
    return reasons


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lock", type=Path, default=ROOT / "requirements.lock", help="pinned requirements")
    parser.add_argument("--ignore", type=Path, default=ROOT / ".ci" / "audit-ignore.txt", help="explained ids")
    parser.add_argument("--index", default="https://pypi.org", help="PyPI's address (default: %(default)s)")
    parser.add_argument(
        "--grace-days",
        type=int,
        default=7,
        help="days an unexplained pin may stay behind a newer release before it fails (default: %(default)s)",
    )
    args = parser.parse_args()

    try:
        pinned = pins(args.lock)
    except OSError as error:
        print(f"cannot read {args.lock}: {error}", file=sys.stderr)
        return 2
    if not pinned:
        print(f"{args.lock} pins nothing: regenerate it (README, Dependencies)", file=sys.stderr)
        return 2
    reasons = explained(args.ignore)
    print(f"auditing {len(pinned)} pinned packages against {args.index}")
    findings: list[Finding] = []
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            for done, finding in enumerate(pool.map(lambda p: check(*p, args.index), pinned), 1):
                findings.append(finding)
                if done % 25 == 0 or done == len(pinned):
                    print(f"  {done}/{len(pinned)}", flush=True)
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        print(f"PyPI is unreachable ({error}): the audit did not run", file=sys.stderr)
        return 2

    unexplained = 0
    for finding in findings:
        for vuln in finding.vulnerabilities:
            vuln_id = vuln.get("id", "?")
            aliases = [vuln_id, *(vuln.get("aliases") or [])]
            why = next((reasons[a] for a in aliases if a in reasons), None)
            fixed = ", ".join(vuln.get("fixed_in") or []) or "no fix yet"
            state = f"explained: {why}" if why else "UNEXPLAINED"
            unexplained += why is None
            print(f"{finding.name} {finding.version}: {', '.join(aliases)} (fixed in {fixed}) {state}")
    unchecked = [f for f in findings if f.unchecked_because]
    now = datetime.now(UTC)
    due = 0
    for finding in unchecked:
        why = reasons.get(f"unchecked:{finding.name}")
        deadline = finding.behind_since + timedelta(days=args.grace_days) if finding.behind_since else None
        if why:
            state = f"explained: {why}"
        elif deadline and now < deadline:
            due += 1
            days = (now - finding.behind_since).days
            state = f"due: refresh the lock by {deadline:%Y-%m-%d} (a newer release came out {days} day(s) ago)"
        else:
            unexplained += 1
            state = "UNEXPLAINED: refresh the lock, or say why it stays"
        print(f"unchecked: {finding.name} {finding.version} ({finding.unchecked_because}) {state}")
    vulnerable = sum(bool(f.vulnerabilities) for f in findings)
    print(
        f"{len(findings)} packages: {vulnerable} with known vulnerabilities, {len(unchecked)} unchecked, "
        f"{due} due for a lock refresh, {unexplained} unexplained"
    )
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
