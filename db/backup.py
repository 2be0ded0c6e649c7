"""Backups of the whole database in pg_dump's custom format (`-Fc`), and restores of them into
an empty database: what `aftercare db backup` and `aftercare db restore` run.

Which binaries: with the embedded PostgreSQL, the pg_dump and pg_restore that come inside the
pgserver wheel (the server's own version); with a server of one's own, the first found on PATH
(then in Debian's /usr/lib/postgresql/NN/bin) whose major version is at least the server's, as
an older pg_dump refuses a newer server and an older pg_restore cannot read newer archives.

The password never reaches a command line or a message: it is taken out of the URL and given
to the tools as PGPASSWORD, and every URL shown is masked.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import re
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

import asyncpg

from db import migrate

Progress = Callable[[str], None]

# Where Debian and Ubuntu (postgresql-client-NN) put each major version's tools; /usr/bin has
# only a wrapper that may pick a version by the local clusters rather than the server.
DEBIAN_TOOL_DIRS = "/usr/lib/postgresql/*/bin"
MIGRATIONS_TABLE = "schema_migrations"  # db/migrate.py's ledger
LOCK_WAIT_MS = 60_000  # pg_dump gives up rather than queue behind a migration for ever
_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?")
_TABLE_ENTRY = re.compile(r"^\d+; \d+ \d+ TABLE (?!DATA |ATTACH )\S+ \S+ ")


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says what to do next. `code` is the
    command's exit code: 1 failed, 2 refused."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Tool:
    """A pg_dump or pg_restore binary and its version."""

    name: str
    path: Path
    version: str  # as it says, e.g. "15.20"
    major: int


@dataclass(frozen=True, slots=True)
class Target:
    """A database URL split for the tools: the URL without its password, and the password."""

    url: str
    password: str | None

    @classmethod
    def parse(cls, url: str) -> Target:
        parts = urlsplit(url)
        password = unquote(parts.password) if parts.password is not None else None
        netloc = parts.netloc
        if parts.password is not None:
            userinfo, _, hostinfo = netloc.rpartition("@")
            netloc = f"{userinfo.partition(':')[0]}@{hostinfo}"
        query = parse_qsl(parts.query, keep_blank_values=True)
        new_query = parts.query
        if any(key == "password" for key, _ in query):
            password = next(value for key, value in query if key == "password")
            new_query = urlencode([(k, v) for k, v in query if k != "password"], quote_via=quote, safe="/")
        clean = urlunsplit(parts._replace(netloc=netloc, query=new_query))
        return cls(url=clean, password=password or None)

    def env(self) -> dict[str, str]:
        """The environment for a tool: this one, with the password (if any) as PGPASSWORD."""
        env = dict(os.environ)
        if self.password is not None:
            env["PGPASSWORD"] = self.password
        return env


def mask_url(url: str) -> str:
    """The URL as it may be shown: any password replaced by ***."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password:  # (an empty one, as the embedded server's URL has, hides nothing)
        userinfo, _, hostinfo = netloc.rpartition("@")
        netloc = f"{userinfo.partition(':')[0]}:***@{hostinfo}"
    query = parse_qsl(parts.query, keep_blank_values=True)
    new_query = parts.query
    if any(key == "password" for key, _ in query):
        masked = [(key, "***" if key == "password" else value) for key, value in query]
        new_query = urlencode(masked, quote_via=quote, safe="/*")
    return urlunsplit(parts._replace(netloc=netloc, query=new_query))


def _scrub(text: str, target: Target) -> str:
    """A tool's output with the password taken out, should it ever echo one."""
    if target.password:
        text = text.replace(target.password, "***").replace(quote(target.password, safe=""), "***")
    return text


# --- finding the binaries ---------------------------------------------------------------------


def embedded_tool_dir() -> Path | None:
    """The bin folder of the PostgreSQL inside the pgserver wheel (found without importing it)."""
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def tool_version(name: str, path: Path) -> Tool | None:
    """What `path --version` says, or None when it does not run or says nothing we know."""
    try:
        out = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found = _VERSION.search(out)
    if found is None:
        return None
    major = int(found[1])
    version = f"{found[1]}.{found[2]}" if found[2] else found[1]
    return Tool(name=name, path=path, version=version, major=major)


def _debian_dirs() -> list[Path]:
    def major(folder: Path) -> int:
        return int(folder.parent.name) if folder.parent.name.isdigit() else -1

    return sorted((Path(p) for p in Path("/").glob(DEBIAN_TOOL_DIRS.lstrip("/"))), key=major, reverse=True)


def candidate_paths(name: str, search_path: str | None = None, extra_dirs: Iterable[Path] | None = None) -> list[Path]:
    """Every `name` on PATH, in PATH's order, then in `extra_dirs` (default: Debian's
    versioned folders, newest first); each binary once."""
    folders = [Path(p) for p in (os.environ.get("PATH", "") if search_path is None else search_path).split(os.pathsep)]
    folders += list(_debian_dirs() if extra_dirs is None else extra_dirs)
    seen, found = set(), []
    for folder in folders:
        if not str(folder):
            continue
        path = folder / name
        if not (path.is_file() and os.access(path, os.X_OK)):
            continue
        real = path.resolve()
        key = path if real.name != name else real  # Debian's wrapper acts by the name it is run as
        if key in seen:
            continue
        seen.add(key)
        found.append(path)
    return found


def _install_advice(major: int) -> str:
    return (
        f"install PostgreSQL {major}'s client tools (Debian/Ubuntu: `apt-get install postgresql-client-{major}`, "
        f"from apt.postgresql.org if your release lacks it; macOS: `brew install postgresql@{major}`) "
        "or put a new enough pg_dump and pg_restore first on PATH, then run this again"
    )


def find_tool(
    name: str,
    server_major: int,
    *,
    embedded: bool,
    search_path: str | None = None,
    extra_dirs: Iterable[Path] | None = None,
) -> Tool:
    """The pg_dump or pg_restore to use with a server of major version `server_major`: the
    embedded server's own, or the first found (PATH, then Debian's folders) at least as new as
    the server. Raises BackupError saying what to install when there is none."""
    if embedded:
        folder = embedded_tool_dir()
        tool = tool_version(name, folder / name) if folder is not None else None
        if tool is None:
            raise BackupError(
                f"{name} is missing from the pgserver package ({folder or 'not installed'}): reinstall it "
                "(`pip install --force-reinstall -c requirements.lock pgserver`), or set DATABASE_URL to a server "
                "whose tools you have"
            )
        return tool
    tools = [t for t in (tool_version(name, p) for p in candidate_paths(name, search_path, extra_dirs)) if t]
    for tool in tools:
        if tool.major >= server_major:
            return tool
    if not tools:
        raise BackupError(f"{name} was not found (on PATH, nor in {DEBIAN_TOOL_DIRS}): {_install_advice(server_major)}")
    newest = max(tools, key=lambda t: t.major)
    raise BackupError(
        f"the server runs PostgreSQL {server_major}, but the newest {name} found is {newest.version} "
        f"({newest.path}), and {name} must be at least as new as the server: {_install_advice(server_major)}"
    )


# --- the database, as seen before and after --------------------------------------------------


@dataclass(frozen=True, slots=True)
class DatabaseInfo:
    server_version: str  # e.g. "15.20"
    server_major: int
    tables: list[str]  # the tables in schema public
    views: list[str]  # and its views
    has_ledger: bool  # the migrations' table, in any schema
    migration: str | None  # the last migration applied
    migrations: int

    @property
    def empty(self) -> bool:
        return not self.tables and not self.views and not self.has_ledger


async def inspect(conn: asyncpg.Connection) -> DatabaseInfo:
    """The server's version, what schema public holds, and the migration history."""
    number = int(await conn.fetchval("select current_setting('server_version_num')"))
    version = (await conn.fetchval("select current_setting('server_version')")).split()[0]
    relations = await conn.fetch(
        """
        select c.relname, c.relkind in ('v', 'm') as view from pg_class c join pg_namespace n on n.oid = c.relnamespace
         where n.nspname = 'public' and c.relkind in ('r', 'p', 'f', 'v', 'm') order by 1
        """
    )
    ledger = await conn.fetchval(
        "select format('%I.%I', n.nspname, c.relname) from pg_class c join pg_namespace n on n.oid = c.relnamespace"
        " where c.relname = $1 and c.relkind in ('r', 'p') order by n.nspname = 'public' desc limit 1",
        MIGRATIONS_TABLE,
    )
    migration, count = None, 0
    if ledger is not None:
        row = await conn.fetchrow(f"select max(version) as last, count(*) as n from {ledger}")
        assert row is not None  # aggregates without `group by`: always one row
        migration, count = row["last"], row["n"]
    return DatabaseInfo(
        server_version=version,
        server_major=number // 10_000,
        tables=[r["relname"] for r in relations if not r["view"]],
        views=[r["relname"] for r in relations if r["view"]],
        has_ledger=ledger is not None,
        migration=migration,
        migrations=count,
    )


async def _connect(url: str) -> asyncpg.Connection:
    try:
        return await asyncpg.connect(url, timeout=15)
    except asyncpg.InvalidCatalogNameError as exc:
        raise BackupError(
            f"{mask_url(url)}: the database does not exist ({exc}); create it first (`createdb NAME`, or "
            "`create database NAME` in psql) or check the URL"
        ) from None
    except asyncpg.InvalidAuthorizationSpecificationError as exc:
        raise BackupError(
            f"{mask_url(url)}: the server refused the sign-in ({type(exc).__name__}); check the user and password"
        ) from None
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        raise BackupError(
            f"cannot reach the database at {mask_url(url)} ({type(exc).__name__}: {_scrub(str(exc), Target.parse(url))})."
            " Is it running, and is the URL (DATABASE_URL or --database-url) right?"
        ) from None


def read_database(url: str) -> DatabaseInfo:
    async def read() -> DatabaseInfo:
        conn = await _connect(url)
        try:
            return await inspect(conn)
        finally:
            await conn.close()

    return asyncio.run(read())


# --- the commands' argument lists and their runs ---------------------------------------------


def dump_args(tool: Tool, target: Target, file: Path) -> list[str]:
    return [
        str(tool.path),
        "--format=custom",
        "--no-password",  # never a prompt: the password comes as PGPASSWORD
        f"--lock-wait-timeout={LOCK_WAIT_MS}",
        f"--file={file}",
        f"--dbname={target.url}",
    ]


def restore_args(tool: Tool, target: Target, file: Path) -> list[str]:
    return [
        str(tool.path),
        "--no-owner",  # the objects belong to whoever restores, as roles differ between servers
        "--no-privileges",  # likewise grants to roles the target may not have
        "--exit-on-error",
        "--single-transaction",  # a failed restore leaves nothing behind
        "--no-password",
        f"--dbname={target.url}",
        str(file),
    ]


def list_args(tool: Tool, file: Path) -> list[str]:
    return [str(tool.path), "--list", str(file)]


def _run(args: Sequence[str], target: Target | None = None) -> subprocess.CompletedProcess[str]:
    env = target.env() if target is not None else None
    return subprocess.run(list(args), capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL)


def _run_or_fail(args: Sequence[str], target: Target, advice: str) -> None:
    """Run a tool; when it fails, a BackupError with the end of what it said, then `advice`."""
    done = _run(args, target)
    if done.returncode != 0:
        raise BackupError(f"{Path(args[0]).name} failed ({_tail(done.stderr, target)}); {advice}")


def _tail(text: str, target: Target | None, lines: int = 6) -> str:
    kept = [line for line in text.strip().splitlines() if line.strip()][-lines:]
    joined = " | ".join(kept) or "no message"
    return _scrub(joined, target) if target is not None else joined


@dataclass(frozen=True, slots=True)
class Archive:
    """What `pg_restore --list` tells of a custom-format backup."""

    created: str | None
    dumped_from: str | None  # the server's version
    dumped_by: str | None  # pg_dump's version
    tables: int

    @property
    def source_major(self) -> int | None:
        found = re.match(r"(\d+)", self.dumped_from or "")
        return int(found[1]) if found else None


def read_archive(tool: Tool, file: Path) -> Archive:
    """Read a backup's table of contents (which also checks pg_restore can read it)."""
    listed = _run(list_args(tool, file))
    if listed.returncode != 0:
        raise BackupError(
            f"pg_restore {tool.version} cannot read {file} ({_tail(listed.stderr, None, 2)}): is it a backup made by "
            "`aftercare db backup` (pg_dump's custom format)? One made by a newer pg_dump needs a pg_restore at least "
            "as new (Debian/Ubuntu: postgresql-client-NN)"
        )
    header: dict[str, str] = {}
    tables = 0
    for line in listed.stdout.splitlines():
        if line.startswith(";"):
            key, sep, value = line.lstrip("; ").partition(":")
            if sep:
                header.setdefault(key.strip(), value.strip())
        elif _TABLE_ENTRY.match(line):
            tables += 1
    created = re.search(r"^;\s*Archive created at (.+)$", listed.stdout, re.M)
    return Archive(
        created=created[1].strip() if created else None,
        dumped_from=header.get("Dumped from database version"),
        dumped_by=header.get("Dumped by pg_dump version"),
        tables=tables,
    )


def human_size(size: int) -> str:
    if size < 1000:
        return f"{size} bytes"
    scaled = size / 1000
    for unit in ("KB", "MB"):
        if scaled < 1000:
            return f"{scaled:.1f} {unit}"
        scaled /= 1000
    return f"{scaled:.1f} GB"


# --- backup -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BackupSummary:
    file: Path
    size: int
    tables: int
    migration: str | None
    seconds: float


def refuse_overwrite(file: Path, force: bool) -> None:
    """Refuse (exit 2) a FILE that exists, unless forced, or that cannot be written."""
    if file.is_dir():
        raise BackupError(f"{file} is a folder: give the backup file's name, e.g. {file / 'aftercare.dump'}", 2)
    if file.exists() and not force:
        raise BackupError(f"{file} exists already: choose another name, or pass --force to replace it", 2)
    if not file.parent.is_dir():
        raise BackupError(f"the folder {file.parent} does not exist: create it first, or choose another place", 2)


def backup(url: str, file: Path, *, force: bool, embedded: bool, progress: Progress) -> BackupSummary:
    """Dump the database at `url` to `file` (custom format), checked readable, readable by the
    owner only; `file` appears (or is replaced) only once the dump is whole."""
    started = time.monotonic()
    refuse_overwrite(file, force)
    target = Target.parse(url)
    progress(f"Reading {mask_url(url)}")
    info = read_database(url)
    progress(
        f"  PostgreSQL {info.server_version}, {len(info.tables)} tables in schema public, "
        f"migration {info.migration or '(none recorded)'}"
    )
    pg_dump = find_tool("pg_dump", info.server_major, embedded=embedded)
    pg_restore = find_tool("pg_restore", info.server_major, embedded=embedded)
    progress(f"Using pg_dump {pg_dump.version} ({pg_dump.path})")
    partial = file.with_name(f".{file.name}.partial")
    partial.unlink(missing_ok=True)
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))  # it holds health data
    try:
        progress(f"Dumping to {file} (custom format)")
        _run_or_fail(
            dump_args(pg_dump, target, partial),
            target,
            f"{file} was not written. Check that the database is reachable and that its user may read every "
            "table, then run this again",
        )
        progress("Checking the backup reads back (pg_restore --list)")
        archive = read_archive(pg_restore, partial)
        os.replace(partial, file)
    finally:
        partial.unlink(missing_ok=True)
    return BackupSummary(
        file=file,
        size=file.stat().st_size,
        tables=archive.tables,
        migration=info.migration,
        seconds=time.monotonic() - started,
    )


# --- restore ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RestoreSummary:
    file: Path
    size: int
    tables: int
    migration: str | None
    migrations: int
    pending: list[str]  # migrations this code has that the restored database lacks
    history_problem: str | None  # the restored history does not match this code: what to do
    seconds: float


def refuse_non_empty(url: str, info: DatabaseInfo) -> None:
    if info.empty:
        return
    found = info.tables + info.views
    shown = ", ".join(found[:5]) + (", ..." if len(found) > 5 else "")
    counted = [f"{len(names)} {kind}" for names, kind in ((info.tables, "tables"), (info.views, "views")) if names]
    what = (
        f"{' and '.join(counted)} in schema public ({shown})" if found else f"the migrations' table {MIGRATIONS_TABLE}"
    )
    raise BackupError(
        f"{mask_url(url)} is not empty: it has {what}. A backup is restored only into an empty database: "
        "create a new one (`createdb NAME`, or `create database NAME` in psql) and pass it with --database-url "
        "(or DATABASE_URL); nothing was changed",
        2,
    )


def restore(url: str, file: Path, *, embedded: bool, progress: Progress) -> RestoreSummary:
    """Restore a custom-format backup into the empty database at `url`, in one transaction."""
    started = time.monotonic()
    target = Target.parse(url)
    progress(f"Checking that {mask_url(url)} is empty")
    info = read_database(url)
    refuse_non_empty(url, info)
    progress(f"  empty; PostgreSQL {info.server_version}")
    pg_restore = find_tool("pg_restore", info.server_major, embedded=embedded)
    progress(f"Using pg_restore {pg_restore.version} ({pg_restore.path})")
    archive = read_archive(pg_restore, file)
    progress(
        f"Backup {file}: {human_size(file.stat().st_size)}, {archive.tables} tables, made "
        f"{archive.created or '(date unknown)'} from PostgreSQL {archive.dumped_from or '(unknown)'}"
    )
    if archive.source_major is not None and archive.source_major > info.server_major:
        progress(
            f"  note: it comes from a newer PostgreSQL ({archive.source_major}) than this server "
            f"({info.server_major}); if the restore fails, nothing is kept"
        )
    progress("Restoring in one transaction (all or nothing)")
    _run_or_fail(
        restore_args(pg_restore, target, file),
        target,
        "it ran in one transaction, so nothing was kept and the database is still empty. Fix the cause above "
        "and run this again",
    )
    progress("Updating the planner's statistics (analyze)")

    async def after() -> tuple[DatabaseInfo, list[str], str | None]:
        conn = await _connect(url)
        try:
            await conn.execute("analyze")
            found = await inspect(conn)
            try:
                return found, await migrate.pending(conn), None
            except migrate.MigrationError as exc:
                return found, [], str(exc)
        finally:
            await conn.close()

    done, pending, problem = asyncio.run(after())
    return RestoreSummary(
        file=file,
        size=file.stat().st_size,
        tables=len(done.tables),
        migration=done.migration,
        migrations=done.migrations,
        pending=pending,
        history_problem=problem,
        seconds=time.monotonic() - started,
    )
