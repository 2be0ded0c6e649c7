"""The `aftercare` command: the composition root for everything a person runs."""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from api.settings import ConfigError, Settings, check_database_url, data_dir

DEFAULT_PORT = 8000
DASHBOARD_PORT = 8501


if TYPE_CHECKING:
    # Imported where used, so that `aftercare --help` starts quickly.
    import asyncpg

T = TypeVar("T")


def _fail(message: str, code: int = 1) -> NoReturn:
    click.secho(f"error: {message}", fg="red", err=True)
    sys.exit(code)


def _database_url(*, announce: bool = True) -> str:
    """DATABASE_URL, or an embedded PostgreSQL in the data folder (started if needed)."""
    url = os.environ.get("DATABASE_URL")
    if url:
        try:
            return check_database_url(url)
        except ConfigError as exc:
            _fail(str(exc))
    from db.embedded import start_embedded

    folder = data_dir() / "pgdata"
    if announce:
        click.echo(f"No DATABASE_URL: using embedded PostgreSQL in {folder}")
    started = time.monotonic()
    try:
        url = start_embedded(folder)
    except Exception as exc:  # pgserver reports failures as assorted exceptions
        _fail(
            f"could not start embedded PostgreSQL ({type(exc).__name__}: {exc}). "
            "Set DATABASE_URL to use a server you run instead."
        )
    if announce:
        click.echo(f"  ready in {time.monotonic() - started:.1f}s")
    os.environ["DATABASE_URL"] = url
    return url


def _dev_secret_key() -> str:
    """AFTERCARE_SECRET_KEY, or one generated once and kept in the data folder (development)."""
    key = os.environ.get("AFTERCARE_SECRET_KEY")
    if key:
        return key
    path = data_dir() / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    key = path.read_text().strip()
    os.environ["AFTERCARE_SECRET_KEY"] = key
    return key


async def _upgrade(url: str, lock_tries: int) -> list[str]:
    import asyncpg

    from db import migrate

    conn = await asyncpg.connect(url)
    try:
        return await migrate.upgrade(conn, tries=lock_tries)
    finally:
        await conn.close()


def _run_upgrade(url: str, lock_tries: int = 10) -> None:
    from db.migrate import MigrationBusy, MigrationError

    try:
        applied = asyncio.run(_upgrade(url, lock_tries))
    except MigrationError as exc:
        _fail(str(exc), 2)
    except MigrationBusy as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"cannot reach the database ({exc}). Is it running, and is DATABASE_URL right?")
    click.echo(
        f"Migrations: applied {len(applied)}" + (f" ({', '.join(applied)})" if applied else ", schema up to date")
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="aftercare", message="%(prog)s %(version)s")
def main() -> None:
    """Aftercare: backend and staff dashboard for addiction-recovery aftercare.

    Without DATABASE_URL every command uses an embedded PostgreSQL kept in
    ./.aftercare (or AFTERCARE_DATA_DIR). See README.md for all settings.
    """


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", default=DEFAULT_PORT, type=click.IntRange(1, 65535), show_default=True, help="Port for the API."
)
@click.option(
    "--demo/--no-demo",
    default=None,
    help="Load demo data. Default: yes with the embedded database, no with DATABASE_URL.",
)
@click.option("--worker/--no-worker", default=True, show_default=True, help="Also run the background worker.")
@click.option(
    "--dashboard-port",
    default=DASHBOARD_PORT,
    type=click.IntRange(0, 65535),
    show_default=True,
    help="Port for the staff dashboard; 0: no dashboard.",
)
def up(host: str, port: int, demo: bool | None, worker: bool, dashboard_port: int) -> None:
    """Start everything for development.

    Database (embedded without DATABASE_URL), migrations, demo data, the worker (pushes,
    reminders, the sweep), the staff dashboard and the API. Runs until Ctrl-C or SIGTERM.
    """
    _check_port_free(host, port)
    if dashboard_port == port:
        _fail(f"--dashboard-port {dashboard_port} is the API's port too: choose another", 2)
    if dashboard_port:
        _check_port_free(host, dashboard_port)
    embedded = not os.environ.get("DATABASE_URL")
    url = _database_url()
    _dev_secret_key()
    _run_upgrade(url)
    if demo if demo is not None else embedded:
        _load_demo(url)
        # Demo sign-ins work without an authenticator app; a deployment's default asks admins
        # and staff to set one up at their first sign-in.
        if not os.environ.get("AFTERCARE_REQUIRE_MFA"):
            os.environ["AFTERCARE_REQUIRE_MFA"] = "none"
            click.echo("Two-factor sign-in: optional in this demo (AFTERCARE_REQUIRE_MFA=none); by default")
            click.echo("  admins and staff must set it up at their first sign-in (README, Configuration)")
    if worker:
        _start_child("Worker", ["worker"])
        click.echo("           pushes are only logged without AFTERCARE_FCM_CREDENTIALS")
    else:  # nobody waits for jobs that nobody runs: the dashboard shows no "late" banner
        os.environ.setdefault("AFTERCARE_WORKER_EXPECTED", "false")
    if dashboard_port:
        # Lets the API believe the browser addresses the dashboard passes along (so each staff
        # member has their own sign-in budget): both processes get it from this environment.
        if not os.environ.get("AFTERCARE_DASHBOARD_SECRET"):  # set but empty would turn it off
            os.environ["AFTERCARE_DASHBOARD_SECRET"] = secrets.token_urlsafe(32)
        _start_child(
            "Dashboard", ["dashboard", "--host", host, "--port", str(dashboard_port)], api_url=_local_url(host, port)
        )
    click.echo("")
    if dashboard_port:
        click.secho(f"Dashboard: http://{host}:{dashboard_port} (sign in as the admin or the counselor)", bold=True)
    click.secho(f"API:      http://{host}:{port}", bold=True)
    click.echo(f"API docs: http://{host}:{port}/schema")
    click.echo(f"Health:   http://{host}:{port}/health/ready")
    click.echo("Press Ctrl-C to stop.")
    # One machine, no load balancer to tell: SIGTERM stops at once (README, "Restarts and upgrades").
    os.environ.setdefault("AFTERCARE_SHUTDOWN_DRAIN_S", "0")
    _serve(host, port, workers=1)


def _local_url(host: str, port: int) -> str:
    """How a process on this machine reaches a server listening on host:port (a wildcard
    address is no address to connect to)."""
    if host in ("0.0.0.0", "", "::"):
        host = "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _start_child(name: str, args: list[str], api_url: str | None = None) -> None:
    """Another `aftercare` command beside the API (the worker, the dashboard), stopped
    (before the database) when `up` exits."""
    import atexit
    import subprocess

    env = os.environ | ({"AFTERCARE_API_URL": api_url} if api_url else {})
    process = subprocess.Popen([sys.executable, "-m", "api.cli", *args], env=env)
    click.echo(f"{name + ':':<11}started (pid {process.pid})")

    def stop() -> None:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()

    atexit.register(stop)  # registered after the embedded database's hook, so it runs first


def _load_demo(url: str) -> None:
    """Load the demo program once; on every start print its sign-ins, with fresh activation
    codes for demo graduates who have not signed in yet."""
    import asyncpg

    from api.auth.credentials import Hasher
    from api.demo import (
        ADMIN_EMAIL,
        COUNSELOR_EMAIL,
        FACILITATOR_EMAIL,
        DemoLogins,
        NotEmpty,
        demo_graduate_codes,
        load_demo,
    )

    password_file = data_dir() / "demo-password.txt"

    async def load() -> tuple[DemoLogins | None, dict[str, str]]:
        conn = await asyncpg.connect(url)
        try:
            hasher = Hasher()
            created = await load_demo(conn, hasher, progress=click.echo)
            # Just loaded: its codes are fresh (new ones would cost an argon2 hash each).
            return created, created.activation_codes if created else await demo_graduate_codes(conn, hasher)
        finally:
            await conn.close()

    click.echo("Demo data (an invented program: about 60 graduates, 7 groups, 4 months of history):")
    try:
        created, codes = asyncio.run(load())
    except NotEmpty as exc:
        click.echo(
            f"  not loaded: {exc}, and invented graduates must not mix with real ones."
            " Load it into an empty database (a new DATABASE_URL), or start without --demo."
        )
        return
    if created is not None:
        password_file.parent.mkdir(parents=True, exist_ok=True)
        password_file.write_text(created.password + "\n")
        password_file.chmod(0o600)
    else:
        click.echo("  already loaded")
    password = password_file.read_text().strip() if password_file.exists() else "(unknown: see README)"
    click.echo(f"Staff sign-in (POST /v1/auth/login); the password for all of them is {password}")
    for role, emails in (
        ("admin", ADMIN_EMAIL),
        ("counselors", f"{COUNSELOR_EMAIL} (the bigger caseload), counselor2@aftercare.example"),
        ("facilitators", f"{FACILITATOR_EMAIL}, facilitator2@aftercare.example, facilitator3@aftercare.example"),
    ):
        click.echo(f"  {role + ':':<14}{emails}")
    click.echo("Graduate activation codes (POST /v1/auth/activate): new ones at every start, each works once:")
    for alias, code in codes.items():
        click.echo(f"  {alias:<8} {code}")


def _check_port_free(host: str, port: int) -> None:
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            _fail(f"port {port} on {host} is in use (another `aftercare up`?); try --port {port + 1}")


def _serve(host: str, port: int, workers: int) -> None:
    import signal

    import uvicorn

    from api.logs import uvicorn_log_config

    # uvicorn handles SIGTERM (kill, systemd, docker stop) gracefully and then raises it
    # again; exiting normally on it lets the embedded PostgreSQL be stopped by its exit hook.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Each worker process writes its metrics here and /metrics, in whichever process
        # answers, sums them all (api/metrics.py). A fresh folder: old numbers would count.
        import atexit
        import shutil
        import tempfile

        os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder = tempfile.mkdtemp(prefix="aftercare-metrics-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        log_config=uvicorn_log_config(),
    )


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", default=DEFAULT_PORT, type=click.IntRange(1, 65535), show_default=True, help="Port to listen on."
)
@click.option(
    "--workers", default=1, type=click.IntRange(1, 64), show_default=True, help="Worker processes (about one per core)."
)
def serve(host: str, port: int, workers: int) -> None:
    """Run the API alone, as in production.

    Needs AFTERCARE_SECRET_KEY; never migrates (run `aftercare db upgrade` first).
    """
    try:  # every other setting first, before starting anything
        Settings.from_env(database_url=os.environ.get("DATABASE_URL") or "embedded")
    except ConfigError as exc:
        _fail(str(exc))
    if not os.environ.get("DATABASE_URL"):
        _database_url()
    _check_port_free(host, port)
    _serve(host, port, workers)


@main.group()
def db() -> None:
    """Database schema, backups and restores."""


@db.command("upgrade")
@click.option(
    "--lock-tries",
    default=10,
    type=click.IntRange(1, 1000),
    show_default=True,
    help="Times to try when a table stays busy. Each try waits at most 1 s for each lock it needs "
    "(requests queue behind it meanwhile), then undoes itself and pauses 2 s.",
)
def db_upgrade(lock_tries: int) -> None:
    """Apply pending migrations (safe to run from several places at once).

    Never holds up requests for long: see README, "Restarts and upgrades". A database a newer
    release migrated further is left as it is (exit 0).
    """
    _run_upgrade(_database_url(), lock_tries)


@db.command("status")
def db_status() -> None:
    """List pending migrations; exit 1 when there are any."""
    import asyncpg

    from db import migrate

    async def check() -> list[str]:
        conn = await asyncpg.connect(_database_url(announce=False))
        try:
            return await migrate.pending(conn)
        finally:
            await conn.close()

    try:
        todo = asyncio.run(check())
    except migrate.MigrationError as exc:
        _fail(str(exc), 2)
    if todo:
        click.echo(f"{len(todo)} pending: {', '.join(todo)}. Run `aftercare db upgrade`.")
        sys.exit(1)
    click.echo("Schema up to date.")


def _backup_source(database_url: str | None) -> tuple[str, bool]:
    """The database a backup or restore works on, and whether it is the embedded one (whose
    own pg_dump and pg_restore are then used)."""
    if database_url:
        return database_url, False
    embedded = not os.environ.get("DATABASE_URL")
    return _database_url(), embedded


_DATABASE_URL_OPTION = click.option(
    "--database-url",
    metavar="URL",
    default=None,
    help="The database to use instead (default: DATABASE_URL, else the embedded one).",
)


@db.command("backup", short_help="Back up the database to FILE (pg_dump custom format).")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Replace FILE if it exists (only once the new backup is whole).")
@_DATABASE_URL_OPTION
def db_backup(file: Path, force: bool, database_url: str | None) -> None:
    """Back up the whole database to FILE, in pg_dump's custom format (-Fc).

    One consistent snapshot of the schema, the data and the migration history, compressed,
    read back by `aftercare db restore` (or pg_restore) into an EMPTY database. FILE is
    written readable by its owner only (it holds participants' health data), appears only
    once the dump is whole and read back, and an existing FILE is never replaced without
    --force.

    Binaries: with the embedded database, the pg_dump that comes with it; otherwise the
    first pg_dump on PATH (then in /usr/lib/postgresql/NN/bin) at least as new as the
    server, or an error saying what to install (e.g. postgresql-client-16).
    """
    from db import backup as backups

    try:
        backups.refuse_overwrite(file, force)  # before starting anything
        url, embedded = _backup_source(database_url)
        done = backups.backup(url, file, force=force, embedded=embedded, progress=click.echo)
    except backups.BackupError as exc:
        _fail(str(exc), exc.code)
    click.echo(
        f"Backup written: {done.file}, {backups.human_size(done.size)}, {done.tables} tables, "
        f"migration {done.migration or '(none)'}, in {done.seconds:.1f}s."
    )


@db.command("restore", short_help="Restore a backup FILE into an empty database.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_DATABASE_URL_OPTION
def db_restore(file: Path, database_url: str | None) -> None:
    """Restore FILE, a backup made by `aftercare db backup` (pg_dump's custom format, -Fc).

    Only into an EMPTY database: refused, with exit code 2 and nothing changed, when the
    target has any table or view in schema public or the migrations' table
    (schema_migrations). Create a new database for it (`createdb NAME`) and pass it with
    --database-url. Runs pg_restore --no-owner --no-privileges --exit-on-error
    --single-transaction: objects belong to the user restoring, and a restore that fails
    keeps nothing. Then prints the migration version restored (run `aftercare db upgrade`
    when this code has newer ones).

    Binaries: with the embedded database, the pg_restore that comes with it; otherwise the
    first pg_restore on PATH (then in /usr/lib/postgresql/NN/bin) at least as new as the
    server, or an error saying what to install.
    """
    from db import backup as backups

    try:
        url, embedded = _backup_source(database_url)
        done = backups.restore(url, file, embedded=embedded, progress=click.echo)
    except backups.BackupError as exc:
        _fail(str(exc), exc.code)
    click.echo(f"Migration version: {done.migration or '(none recorded)'} ({done.migrations} applied)")
    if done.history_problem:
        click.secho(f"note: {done.history_problem}", fg="yellow", err=True)
    elif done.pending:
        click.echo(f"  this code has {len(done.pending)} newer: run `aftercare db upgrade` before serving it")
    click.echo(
        f"Restored {done.file} ({backups.human_size(done.size)}) into {backups.mask_url(url)}: "
        f"{done.tables} tables in {done.seconds:.1f}s."
    )


def _learn_zones(*, required: bool) -> None:
    """Accept only the time zones the database knows too, as the API does. A dry run works
    without a database (then Python's zones are used, and the import may refuse some later)."""
    import asyncpg

    from api.validation import accept_zones_known_to
    from db.zones import postgres_zone_names

    async def read() -> set[str]:
        conn = await asyncpg.connect(_database_url(announce=False), timeout=10)
        try:
            return await postgres_zone_names(conn)
        finally:
            await conn.close()

    try:
        accept_zones_known_to(asyncio.run(read()))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        if required:
            _fail(f"cannot reach the database ({type(exc).__name__}). Is it running, and is DATABASE_URL right?")
        click.echo(f"note: the database cannot be reached ({type(exc).__name__}); time zones checked by Python alone")


@main.command("create-admin")
@click.option("--email", required=True, help="Sign-in email of the new admin.")
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="At least 12 characters, hard to guess, without the email or name (asked for when left out, so it "
    "stays out of shell history).",
)
@click.option("--name", default="Administrator", show_default=True, help="Display name.")
def create_admin(email: str, password: str, name: str) -> None:
    """Create an admin account.

    The account is admin and staff: use it for the first sign-in on a new server.
    """
    import asyncpg
    import msgspec
    from litestar.plugins.problem_details import ProblemDetailsException

    from api.admin.schemas import AccountCreate
    from api.auth.credentials import Hasher
    from api.auth.passwords import check_strength
    from api.validation import explain
    from db import people as people_db

    try:
        required_mfa = Settings.from_env(database_url="embedded", need_secret=False).require_mfa
    except ConfigError as exc:
        _fail(str(exc), 2)
    try:  # the same rules as POST /v1/staff/accounts
        account = msgspec.convert({"email": email, "name": name, "roles": ["admin", "staff"]}, AccountCreate)
    except msgspec.ValidationError as exc:
        _fail(f"{explain(exc)} (the name needs 1 to 100 characters)", 2)
    try:  # the same rules as choosing one's own password (/v1/auth/setup, /v1/me/password)
        check_strength(password, "password", email=account.email, name=account.name)
    except ProblemDetailsException as exc:
        _fail(str(exc.detail), 2)

    async def create() -> str:
        conn = await asyncpg.connect(_database_url(announce=False))
        try:
            row = await people_db.insert_account(
                conn,
                email=account.email,
                password_hash=await Hasher().hash(password),
                name=account.name,
                roles=account.roles,
                timezone=account.timezone,
            )
            return str(row["id"])
        finally:
            await conn.close()

    try:
        person_id = asyncio.run(create())
    except asyncpg.UniqueViolationError:
        _fail(f"an account with the email {email} already exists")
    except asyncpg.UndefinedTableError:
        _fail("the database has no schema yet: run `aftercare db upgrade` first")
    except OSError as exc:
        _fail(f"cannot reach the database ({exc}). Is it running, and is DATABASE_URL right?")
    except asyncpg.PostgresError as exc:  # its detail could echo the values: name the kind only
        _fail(f"the database refused the account ({type(exc).__name__})")
    click.echo(f"Created admin {email} (id {person_id}).")
    if "admin" in required_mfa:
        click.echo("At the first sign-in, set up two-factor sign-in with an authenticator app (AFTERCARE_REQUIRE_MFA).")


@main.group()
def groups() -> None:
    """Peer support groups."""


@groups.command("import-meeting-guide")
@click.argument("feed", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--timezone", default=None, help="IANA zone for meetings whose feed gives none, e.g. America/Toronto.")
@click.option("--dry-run", is_flag=True, help="Read and report, write nothing.")
def import_meeting_guide(feed: Path, timezone: str | None, dry_run: bool) -> None:
    """Import groups from a Meeting Guide JSON feed (code4recovery format).

    Groups are matched by slug: importing again updates them. Meetings the feed marks
    inactive, closed or incomplete are skipped, each with its reason.
    """
    import json

    import asyncpg

    from api.groups.importer import import_groups
    from api.groups.meeting_guide import parse_feed
    from api.validation import accepted_zones

    if not dry_run or os.environ.get("DATABASE_URL"):  # a dry run starts no embedded database
        _learn_zones(required=not dry_run)
    if timezone is not None and timezone not in accepted_zones():
        _fail(f"--timezone {timezone!r} is not a time zone this server accepts (an IANA place like America/Chicago)", 2)
    try:
        data = json.loads(feed.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        _fail(f"{feed} is not a readable JSON file ({exc})", 2)
    found, skipped = parse_feed(data, timezone)
    for item in skipped:
        click.echo(f"  skipped {item.slug} ({item.name}): {item.reason}")
    if dry_run:
        click.echo(f"Dry run: {len(found)} groups would be imported, {len(skipped)} meetings skipped.")
        return

    def progress(done: int, total: int) -> None:
        if done % 50 == 0 or done == total:
            click.echo(f"  {done}/{total} groups written")

    async def run() -> tuple[int, int, list[str]]:
        conn = await asyncpg.connect(_database_url(announce=False))
        try:
            return await import_groups(conn, found, progress)
        finally:
            await conn.close()

    try:
        created, updated, refused = asyncio.run(run())
    except asyncpg.UndefinedTableError:
        _fail("the database has no schema yet: run `aftercare db upgrade` first")
    except OSError as exc:
        _fail(f"cannot reach the database ({exc}). Is it running, and is DATABASE_URL right?")
    for slug in refused:
        click.echo(f"  skipped {slug}: a group staff manage has this slug (imports never change those)")
    click.echo(
        f"Imported {created + updated} groups ({created} new, {updated} updated); "
        f"skipped {len(skipped) + len(refused)} meetings."
    )


@main.command()
@click.option("--once", is_flag=True, help="Run each job once (dispatch until nothing is due) and exit.")
@click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    envvar="AFTERCARE_WORKER_METRICS_PORT",
    show_envvar=True,
    help="Serve Prometheus metrics at http://HOST:PORT/metrics (off unless given; not with --once).",
)
@click.option(
    "--metrics-host",
    default="127.0.0.1",
    show_default=True,
    envvar="AFTERCARE_WORKER_METRICS_HOST",
    show_envvar=True,
    help="Address the metrics listen on (0.0.0.0: every interface, as in a container).",
)
def worker(once: bool, metrics_port: int | None, metrics_host: str) -> None:
    """Run the background jobs until Ctrl-C or SIGTERM.

    Pushes due notifications (woken at once by new ones), writes check-in and session
    reminders every minute, and runs the missed-check-in sweep every 10 minutes (see
    README, "The worker"). Run as many as you like: they share the work through
    PostgreSQL and never send a message twice. Without AFTERCARE_FCM_CREDENTIALS, pushes
    are logged instead of sent. With --metrics-port, each worker serves its own Prometheus
    metrics (job runs, failures and durations, the outbox, pushes by outcome).
    """
    # The worker's metrics are its own, in memory: never in the API's multi-process folder
    # (api/metrics.py), were it set for every process on the host. Before prometheus_client loads.
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    import logging.config
    import signal

    import asyncpg

    from api.logs import worker_log_config
    from api.worker import Worker, make_sender, run_worker_loop, settle_garbage_collector
    from db.pool import create_pool

    logging.config.dictConfig(worker_log_config())
    try:
        settings = Settings.from_env(database_url=_database_url(announce=False), need_secret=False)
    except ConfigError as exc:
        _fail(str(exc))
    serve_metrics = metrics_port is not None and not once  # a run of --once ends before any scrape
    if serve_metrics:
        from api import worker_metrics

        try:
            assert metrics_port is not None  # serve_metrics says so
            worker_metrics.serve(metrics_host, metrics_port)
        except OSError as exc:  # the port is taken, or the address is not this machine's
            _fail(f"cannot serve metrics on {metrics_host}:{metrics_port} ({exc.strerror or exc})")

    async def run() -> None:
        try:  # before the pool: an unreadable file must not be called the database's fault
            sender = make_sender(settings)
        except OSError as exc:
            raise ValueError(f"cannot read {settings.fcm_credentials_file} ({exc.strerror or exc})") from None
        pool = await create_pool(
            settings.database_url,
            max_size=3 + settings.push_lanes,  # a job's connection, dispatch's other lanes, and room
            statement_timeout_ms=max(settings.statement_timeout_ms, 60_000),  # the sweep is a big statement
            application_name="aftercare-worker",
        )
        try:
            background = Worker(settings, pool, sender, metrics=serve_metrics)
            if once:
                await background.run_once()
                return
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, stop.set)
            settle_garbage_collector()  # everything is imported and made: a process of its own from here
            await background.run(stop)
        finally:
            await pool.close()

    try:
        run_worker_loop(run())
    except asyncpg.UndefinedTableError:
        _fail("the database has no schema yet: run `aftercare db upgrade` first")
    except OSError as exc:
        _fail(f"cannot reach the database ({exc}). Is it running, and is DATABASE_URL right?")
    except ValueError as exc:  # firebase-admin's word for an unreadable service-account file
        _fail(f"AFTERCARE_FCM_CREDENTIALS: {exc}")
    click.echo("Worker stopped.")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", default=DASHBOARD_PORT, type=click.IntRange(1, 65535), show_default=True, help="Port for the dashboard."
)
def dashboard(host: str, port: int) -> None:
    """Run the staff dashboard (Streamlit).

    It talks only to the API, at AFTERCARE_API_URL (default http://127.0.0.1:8000); staff
    and admins sign in with their email and password.
    """
    from importlib.util import find_spec

    from admin_dashboard.client import api_url

    if find_spec("streamlit") is None:
        _fail("Streamlit is not installed here: run `pip install -e .` in the project first")
    _check_port_free(host, port)
    script = Path(__file__).resolve().parent.parent / "admin_dashboard" / "app.py"
    click.echo(f"Dashboard: http://{host}:{port} (API: {api_url()})")
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(script),
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "minimal",
        # No CSV download or copy in the tables' own toolbars: their CSV holds cells as typed
        # (a peer's "=HYPERLINK(...)" reaches a spreadsheet as a formula). Each table has our
        # download beside it, which neutralises such cells (admin_dashboard/typed.py).
        "--client.disableDataExport",
        "true",
        # An error a page did not turn into a message shows without its stack trace.
        "--client.showErrorDetails",
        "none",
    ]
    os.execv(sys.executable, command)  # Streamlit handles SIGTERM and Ctrl-C itself


def _run_job(run: Callable[[], Coroutine[Any, Any, T]], failed: Callable[[asyncpg.PostgresError], str]) -> T:
    """Run a job's coroutine; a database that is missing, unreachable or failing ends the
    command with a message saying what to do (`failed(exc)` words the last)."""
    import asyncpg

    try:
        return asyncio.run(run())
    except asyncpg.UndefinedTableError:
        _fail("the database has no schema yet: run `aftercare db upgrade` first")
    except OSError as exc:
        _fail(f"cannot reach the database ({exc}). Is it running, and is DATABASE_URL right?")
    except asyncpg.PostgresError as exc:
        _fail(failed(exc))


@main.group()
def jobs() -> None:
    """Scheduled work (the worker runs these on a timer; run one by hand here)."""


@jobs.command("sweep-missed")
@click.option(
    "--lookback-days",
    default=7,
    show_default=True,
    type=click.IntRange(1, 31),
    help="How far back to look for slots that ended without a check-in (the state keeps 31 days).",
)
def sweep_missed(lookback_days: int) -> None:
    """Record missed check-ins and raise alerts (2 in a row, 4 in a row, under 50% in 14 days).

    Safe to run twice or from two places at once: the second run changes nothing.
    """
    import datetime as dt

    import asyncpg

    from api.worker import Outcome, advice, record_run, unwatched_graduates
    from db import job_health
    from db import zones as zones_db
    from notifications.reminders import sweep_and_nudge

    async def run() -> tuple[dict[str, int], int]:
        conn = await asyncpg.connect(_database_url(announce=False))
        now = dt.datetime.now(dt.UTC)
        try:
            await zones_db.refresh_known(conn)  # as a worker does at its start: the server's list may have changed
            try:
                counts = await sweep_and_nudge(conn, now, lookback_days)
            except asyncpg.PostgresError as exc:  # recorded where staff see job health, then reported
                await job_health.record_failure(conn, "sweep", now, time.monotonic() - started, type(exc).__name__)
                raise
            skipped = await unwatched_graduates(conn)
            # A run by hand is a run of the sweep: staff see it in the system status.
            await record_run(conn, "sweep", now, time.monotonic() - started, Outcome(skipped=skipped))
            return counts, len(skipped)
        finally:
            await conn.close()

    started = time.monotonic()
    counts, skipped = _run_job(run, lambda exc: f"the sweep failed ({type(exc).__name__}): {advice(exc)}")
    if skipped:
        click.secho(
            f"Skipped {skipped} graduate(s) whose time zone the database does not know: fix it on their "
            "participant page (the dashboard lists them; GET /v1/staff/system-status).",
            fg="yellow",
            err=True,
        )
    click.echo(
        f"Sweep done in {time.monotonic() - started:.2f}s: {counts['graduates_visited']} graduates visited, "
        f"{counts['missed_recorded']} missed check-ins recorded, "
        f"{counts['misses_alerted']} counted in alerts, {counts['adherence_alerts']} low-adherence alerts opened"
        f"{f', {skipped} graduates skipped' if skipped else ''}."
    )


@jobs.command("rebuild-engagement")
@click.option(
    "--batch", default=20_000, show_default=True, type=click.IntRange(100, 1_000_000), help="Graduates per transaction."
)
def rebuild_engagement(batch: int) -> None:
    """Work every graduate's engagement state out again from their history.

    The state (each graduate's current slot, misses in a row, slots of the last month, and
    the metrics' rollups) is kept as things happen; this recomputes it from the check-ins,
    plans and alerts, batch by batch, while the API keeps answering. Run it after restoring
    a backup or changing the plan rules; running it twice changes nothing.
    """
    import datetime as dt

    import asyncpg

    from db import engagement

    def shown(done: int, total: int) -> None:
        click.echo(f"  {done:,}/{total:,} graduates", err=True)

    async def run() -> int:
        conn = await asyncpg.connect(_database_url(announce=False))
        try:
            return await engagement.rebuild(conn, dt.datetime.now(dt.UTC), batch, shown)
        finally:
            await conn.close()

    started = time.monotonic()
    counted = _run_job(
        run, lambda exc: f"the rebuild failed ({type(exc).__name__}: {exc}); nothing of the batch that failed was kept"
    )
    click.echo(f"Engagement rebuilt in {time.monotonic() - started:.2f}s: {counted:,} active graduates.")


if __name__ == "__main__":
    main()
