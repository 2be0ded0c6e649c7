"""The load generators, each in its own process: wrk (HTTP) and pgbench (the database alone).

`wrk` comes from Debian's package of that name and `pgbench` with PostgreSQL; `ensure_tools`
installs wrk with apt-get when it is missing and says what to do when that is not possible.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

LUA = Path(__file__).with_name("wrk") / "scenario.lua"


class ToolMissing(Exception):
    pass


def ensure_tools() -> tuple[str, str]:
    """Paths of wrk and pgbench, installing wrk from Debian's packages if needed."""
    wrk = shutil.which("wrk")
    if wrk is None and shutil.which("apt-get") and os.geteuid() == 0:
        print("  installing wrk (apt-get install wrk)...", flush=True)
        subprocess.run(["apt-get", "update", "-qq"], check=False, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False, capture_output=True)
        wrk = shutil.which("wrk")
    if wrk is None:
        raise ToolMissing("wrk is not installed: run `sudo apt-get install wrk` (Debian/Ubuntu) or `brew install wrk`")
    pgbench = shutil.which("pgbench") or next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin/pgbench"))), None)
    if pgbench is None:
        raise ToolMissing(
            "pgbench is not installed: it comes with PostgreSQL (Debian: postgresql-contrib or postgresql)"
        )
    return wrk, str(pgbench)


@dataclass(frozen=True)
class Result:
    requests: int
    rate: float  # per second
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: int
    detail: str = ""  # what the errors were


def wrk(
    url: str, plan: list[tuple[int, str, str]], tokens: list[str], connections: int, seconds: float, threads: int = 2
) -> Result:
    """Drive `url` with the weighted `plan` ((weight, method, path), ...) for `seconds`."""
    with tempfile.TemporaryDirectory() as folder:
        tokens_file, plan_file = Path(folder, "tokens"), Path(folder, "plan")
        tokens_file.write_text("\n".join(tokens) + "\n")
        plan_file.write_text("".join(f"{w}\t{m}\t{p}\n" for w, m, p in plan))
        completed = subprocess.run(
            [
                "wrk",
                "-t",
                str(threads),
                "-c",
                str(connections),
                "-d",
                f"{seconds:.0f}s",
                "--timeout",
                "10s",
                "-s",
                str(LUA),
                url,
            ],
            env=os.environ | {"BENCH_TOKENS": str(tokens_file), "BENCH_PLAN": str(plan_file)},
            capture_output=True,
            text=True,
            check=False,
        )
    line = next((x for x in completed.stdout.splitlines() if x.startswith("BENCH ")), None)
    if completed.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({completed.returncode}):\n{completed.stdout}\n{completed.stderr}")
    data = json.loads(line[len("BENCH ") :])
    errors = data["socket_errors"] + data["timeouts"] + data["non_2xx"]
    detail = ", ".join(f"{count}× {status}" for status, count in sorted(data["statuses"].items()))
    if data["socket_errors"] or data["timeouts"]:
        detail = ", ".join(
            filter(None, [detail, f"{data['socket_errors']} socket errors, {data['timeouts']} timeouts"])
        )
    return Result(
        requests=data["requests"],
        rate=data["requests"] / (data["duration_us"] / 1e6),
        p50_ms=data["p50_us"] / 1000,
        p95_ms=data["p95_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        errors=errors,
        detail=detail,
    )


def pgbench(
    pgbench_path: str, database_url: str, scripts: list[str], connections: int, seconds: float, threads: int = 2
) -> Result:
    """Run pgbench's custom `scripts` (equal weights), prepared statements, for `seconds`."""
    with tempfile.TemporaryDirectory() as folder:
        args = [
            pgbench_path,
            "-n",
            "-M",
            "prepared",
            "-c",
            str(connections),
            "-j",
            str(threads),
            "-T",
            f"{seconds:.0f}",
            "-l",
            "--log-prefix",
            f"{folder}/tx",
        ]
        for number, script in enumerate(scripts):
            path = Path(folder, f"script{number}.sql")
            path.write_text(script)
            args += ["-f", f"{path}@1"]
        completed = subprocess.run([*args, database_url], capture_output=True, text=True, check=False)
        if completed.returncode not in (0, 2):  # 2: some transactions failed, counted below
            raise RuntimeError(f"pgbench failed ({completed.returncode}):\n{completed.stdout}\n{completed.stderr}")
        # Per-transaction log: client, transaction, latency (µs), script, epoch s, µs.
        latencies = sorted(
            int(fields[2]) / 1000
            for log in Path(folder).glob("tx*")
            for fields in (line.split() for line in log.read_text().splitlines())
        )
    tps = next((float(line.split()[2]) for line in completed.stdout.splitlines() if line.startswith("tps = ")), None)
    if tps is None:
        raise RuntimeError(f"pgbench printed no rate:\n{completed.stdout}\n{completed.stderr[-3000:]}")
    failed = next(
        (int(line.split(":")[1].split()[0]) for line in completed.stdout.splitlines() if "failed transactions" in line),
        0,
    )
    if not latencies:
        raise RuntimeError(f"pgbench ran nothing:\n{completed.stdout}\n{completed.stderr}")
    cuts = statistics.quantiles(latencies, n=100)
    return Result(
        requests=len(latencies),
        rate=tps,
        p50_ms=cuts[49],
        p95_ms=cuts[94],
        p99_ms=cuts[98],
        errors=failed,
        detail=completed.stderr.strip().splitlines()[-1] if failed and completed.stderr.strip() else "",
    )
