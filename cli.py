"""``lapor-bridge``: the command line (bridge.md, "Commands").

Exit codes: 0 fine; 1 something is left pending, quarantined, in doubt, or
unknown; 2 a bad configuration (one message naming the key). ``quarantine``
exits 0 whatever happens to the record (bridge.md), 1 only for an unknown ID.
Every time printed is RFC 3339 with its offset (in WIB, as ``status`` shows them).
"""

from __future__ import annotations

import errno
import getpass
import json
import os
import re
import sqlite3
import sys
import textwrap
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import psycopg
import typer
from pydantic import SecretStr

from adapters import registry
from adapters.lapor.client import CapabilityMissing
from bridge.core.errors import Ambiguous, Rejected, Unavailable
from bridge.core.ports import LocalSource, RawRecord
from bridge.core.text import clean
from bridge.core.timefmt import display, parse_rfc3339, utcnow
from bridge.reports import status as status_mod
from bridge.reports import trace as trace_mod
from bridge.runtime import logs, memory, stores
from bridge.runtime.health import sync_exit_code
from bridge.runtime.http import RetryPolicy
from bridge.runtime.service import ListenError, LockedError
from bridge.runtime.settings import (
    CAPABILITIES,
    ConfigError,
    PostgresDatabase,
    Settings,
    StateDatabase,
    config_warnings,
    load_settings,
    postgres_database,
)
from bridge.sync import requests as operator_requests
from bridge.sync.engine import Engine, PassReport, SourceReport
from bridge.sync.store import (
    DatabaseMissing,
    SchemaOutdated,
    Store,
    StoreError,
    file_identity,
    is_disk_full,
)
from bridge.sync.storeport import InDoubtRow, QuarantineRow, StateStore

if TYPE_CHECKING:
    from bridge.runtime.statecopy import Copied
    from bridge.sync.pgstore import PgStore

app = typer.Typer(
    name="lapor-bridge",
    help="Sync city complaint apps with LAPOR-SP4N.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # --install-completion / --show-completion (bash, zsh, fish, PowerShell): README, "Commands"
    add_completion=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
config_app = typer.Typer(help="Check the configuration.", no_args_is_help=True)
mapping_app = typer.Typer(help="Look up the mapping of local records to national complaints.")
quarantine_app = typer.Typer(help="Records that could not be processed.", no_args_is_help=True)
indoubt_app = typer.Typer(
    help="Creates and follow-ups whose answer was lost, and an operator's decision on them.",
    no_args_is_help=True,
)
report_app = typer.Typer(help="Reports for auditors.", no_args_is_help=True)
app.add_typer(report_app, name="report")
app.add_typer(config_app, name="config")
app.add_typer(mapping_app, name="mapping")
app.add_typer(quarantine_app, name="quarantine")
app.add_typer(indoubt_app, name="indoubt")
conflict_app = typer.Typer(
    help="Status conflicts (one side done, the other rejected) and an operator's resolution.",
    no_args_is_help=True,
)
app.add_typer(conflict_app, name="conflict")
store_app = typer.Typer(
    help="The state database itself: moving it, upgrading its schema.", no_args_is_help=True
)
app.add_typer(store_app, name="store")

_state: dict[str, Any] = {}


def fail_config(error: ConfigError) -> typer.Exit:
    typer.echo(f"configuration error: {error}", err=True)
    return typer.Exit(2)


def settings() -> Settings:
    """The validated configuration, or exit 2 with one message naming the key."""
    if "settings" not in _state:
        try:
            loaded = load_settings(_state.get("config"))
            registry.validate(loaded)
        except ConfigError as exc:
            raise fail_config(exc) from None
        logs.configure(loaded.bridge.log_level, loaded.bridge.log_format)
        _state["settings"] = loaded
    result: Settings = _state["settings"]
    return result


def _quiet_records(conf: Settings, verbose: bool) -> None:
    """A one-shot pass a person runs says what it did in one line per source; the log line
    per record (info) that ``run`` writes for the journal only with ``verbose``. Warnings
    and errors are logged either way."""
    level = conf.bridge.log_level.lower()
    if not verbose and level in ("debug", "info"):
        logs.configure("warning", conf.bridge.log_format)


@contextmanager
def writer_lock(conf: Settings, *, replica: bool = False) -> Iterator[None]:
    """One writer per database: a second ``run``/``sync``/``resync`` gets a clear message
    (a file lock beside SQLite's file, an advisory lock in PostgreSQL, taken shared by the
    replicas of ``run``)."""
    with database_lock(conf.bridge.database, replica=replica):
        yield


@contextmanager
def database_lock(database: StateDatabase, *, replica: bool = False) -> Iterator[None]:
    """The writer lock of ``database``, or one message and exit 1."""
    try:
        lock = stores.writer_lock(database, replica=replica)
        lock.acquire()
    except LockedError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except StoreError as exc:  # PostgreSQL cannot be reached
        raise _store_failed(exc) from None
    except OSError as exc:  # the lock file beside the database cannot be made
        typer.echo(database_place_error(Path(str(database)), exc), err=True)
        raise typer.Exit(1) from None
    try:
        yield
    finally:
        lock.release()


def database_place_error(database: Path, error: OSError) -> str:
    """Why the database's folder cannot hold it, and what to do: one message."""
    folder = database.parent
    if error.errno == errno.ENOENT:
        why = f"the folder {folder} does not exist"
        fix = f"create it (mkdir -p {folder}, owned by the user that runs lapor-bridge)"
    elif error.errno == errno.ENOTDIR:
        why = f"{folder} is not a folder"
        fix = "point [bridge] database into a folder"
    elif error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        why = f"this user cannot write in {folder}"
        fix = "run as the service's user, or give this user write access to the folder"
    else:
        why = f"{folder}: {error.strerror or error}"
        fix = "check the folder"
    return (
        f"error: cannot use the database {database}: {why}; {fix}, or set [bridge] database"
        " (LAPOR_BRIDGE_BRIDGE__DATABASE) to another path"
    )


def when(stored: str | None) -> str:
    """A stored time for people: RFC 3339 in WIB with its offset, never a bare slice."""
    if not stored:
        return ""
    try:
        return display(parse_rfc3339(stored))
    except ValueError:
        return stored  # not a time after all: shown as it is rather than hidden


def shown(value: object, *, redact: bool = False) -> str:
    """Text from an app, LAPOR or the database, safe on a terminal: one line, without
    control characters (escape sequences, bidi overrides); with ``redact``, secrets and
    personal data masked (error texts; never ids, which an operator copies)."""
    if value is None:
        return ""
    text = clean(str(value)).replace("\n", " ")
    return logs.redact_text(text) if redact else text


def shown_block(text: str) -> str:
    """A multi-line block (an indented JSON payload) safe on a terminal: its lines and
    indentation kept, every other control character (C0, C1, escape sequences) and
    bidi override removed; tabs and unusual spaces become spaces."""
    if text.isprintable():
        return text
    kept: list[str] = []
    for ch in text:
        if ch == "\n" or ch.isprintable():
            kept.append(ch)
        elif ch == "\t" or unicodedata.category(ch) == "Zs":
            kept.append(" ")
        elif ch in "\u2028\u2029":
            kept.append("\n")
    return "".join(kept)


def _store_failed(error: StoreError) -> typer.Exit:
    """One line (libpq's messages span several) and exit 1."""
    typer.echo(f"error: {shown(error)}", err=True)
    return typer.Exit(1)


@contextmanager
def open_store(conf: Settings) -> Iterator[StateStore]:
    """The store for a command that writes: created (a SQLite file 0600) and migrated when
    needed. A database that cannot be opened is one message and exit 1."""
    try:
        store = stores.open_store(conf.bridge.database)
    except StoreError as exc:
        raise _store_failed(exc) from None
    try:
        yield store
    finally:
        store.close()


@contextmanager
def open_existing(conf: Settings, *, write: bool = False) -> Iterator[StateStore]:
    """The store, never created (bridge.md: a command that only reads never creates a
    database): on a missing one, one message and exit 1; likewise on a file or folder this
    user cannot read, or a schema older than the code (a read does not migrate).

    Read-only (SQLite ``mode=ro``; a copy in a folder nobody may write is read as an
    immutable snapshot) unless ``write``: a command that records a decision in an
    existing database (``indoubt resolve``) opens it as a writer, still never creating
    it. SQLite's busy timeout waits out a writer (the daemon) instead of failing. In
    PostgreSQL a read-only session; a writer's migrates a database the bridge has not
    used yet (the database itself is the server's: nothing creates it)."""
    path = stores.sqlite_path(conf.bridge.database)
    try:
        if write and path is not None and file_identity(path) is None:
            raise DatabaseMissing(f"no database at {path}; has the bridge run?")
        store = stores.open_store(conf.bridge.database, readonly=not write)
    except StoreError as exc:
        raise _store_failed(exc) from None
    except OSError as exc:  # file_identity: a folder this user may not enter
        error = StoreError(f"cannot read the database at {path}: {exc.strerror}")
        raise _store_failed(error) from None
    try:
        yield store
    finally:
        store.close()


def version() -> str:
    """The installed distribution's version; ``0+unknown`` when run from sources not installed."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed_version

    try:
        return installed_version("lapor-bridge")
    except PackageNotFoundError:
        return "0+unknown"


def _print_version(asked: bool) -> None:
    if asked:
        typer.echo(f"lapor-bridge {version()}")
        raise typer.Exit(0)


@app.callback()
def main_options(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            metavar="PATH",
            help="TOML configuration (default $LAPOR_BRIDGE_CONFIG, else"
            " /etc/lapor-bridge/config.toml)",
        ),
    ] = None,
    _version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_print_version, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    _state.clear()
    _state["config"] = config


def _print_sync_report(report: PassReport) -> None:
    """One line per source and per account, what each pass did (``sync``)."""
    for item in report.sources.values():
        line = (
            f"source {item.name}: seen {item.seen}, created {item.created},"
            f" linked {item.linked}, updated {item.updated}, quarantined {item.quarantined},"
            f" recovered {item.recovered}"
        )
        failed = f" — failed: {shown(item.error, redact=True)}" if item.error else ""
        typer.echo(shown(line) + failed)
    for account in report.accounts.values():
        pair = account.pair
        line = (
            f"account {account.name}: imported {pair.imported}, responses {pair.to_local},"
            f" statuses {pair.statuses}, polled {pair.polled}"
        )
        failed = f" — failed: {shown(account.error, redact=True)}" if account.error else ""
        typer.echo(shown(line) + failed)


@app.command()
def sync(
    source: Annotated[
        list[str] | None,
        typer.Option("--source", metavar="NAME", help="Only these sources (repeatable)."),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Also log every record (as run does).")
    ] = False,
) -> None:
    """One full pass, then exit: 0 when nothing is left pending, quarantined or in doubt.

    Prints one line per source and per account; the per-record log lines only with -v."""
    conf = settings()
    _quiet_records(conf, verbose)
    try:
        sources = registry.connect_sources(conf, source)
    except ConfigError as exc:
        raise fail_config(exc) from None
    nationals = registry.connect_nationals(conf)
    try:
        with writer_lock(conf), open_store(conf) as store:
            engine = Engine(
                store,
                sources,
                nationals,
                **registry.engine_options(conf),
                poll_floor=timedelta(seconds=conf.bridge.poll_interval_seconds),
            )
            report = engine.sync()
            _print_sync_report(report)
            # bridge.md: pending, quarantined or in doubt; never what waits on a person, nor
            # a conflict alone (the health model, bridge/runtime/health.py)
            code = sync_exit_code(report.ok, (status_mod.backlog(store, name) for name in sources))
    finally:
        registry.close_all(sources, nationals)
    raise typer.Exit(code)


@app.command()
def run() -> None:
    """The daemon: passes every poll interval; exits 0 on SIGTERM/SIGINT."""
    from bridge.runtime.daemon import Daemon

    conf = settings()
    for warning in config_warnings(conf):
        logs.get_logger("bridge.config").warning("config_warning", warning=warning)
    with writer_lock(conf, replica=True):
        with open_store(conf):
            pass  # the database opens and migrates before READY=1
        sources = registry.connect_sources(conf)
        nationals = registry.connect_nationals(conf)
        daemon = Daemon(
            conf.bridge.database,
            sources,
            nationals,
            registry.homes(conf),
            interval=conf.bridge.poll_interval_seconds,
            scan_limit=conf.lapor.scan_limit,
            tracking=conf.tracking(),
            max_in_flight=registry.engine_options(conf)["max_in_flight"],
            http_listen=conf.bridge.http_listen,
            lease_seconds=conf.bridge.lease_seconds,
        )
        try:
            code = daemon.run()
        except ListenError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        finally:
            registry.close_all(sources, nationals)
    raise typer.Exit(code)


# --wait of the commands that record operator requests (bridge/sync/requests.py)
#: ``--wait``'s exit code when the request is not finished in time
WAIT_TIMED_OUT = 3
#: how long ``--wait`` waits unless ``--timeout`` says otherwise
WAIT_SECONDS = 300.0

WaitOption = Annotated[
    bool,
    typer.Option(
        "--wait",
        help="Wait for the result and print it: exit 0 done, 1 failed, 3 not finished"
        " within --timeout (a queued request stays queued).",
    ),
]
TimeoutOption = Annotated[
    float,
    typer.Option("--timeout", metavar="SECONDS", help="How long --wait waits.", min=0),
]


@app.command()
def resync(
    source: Annotated[str, typer.Option("--source", metavar="NAME", help="The source to re-read.")],
    ids: Annotated[
        list[str] | None,
        typer.Option("--id", metavar="ID", help="Only these local ids (repeatable)."),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(metavar="TIME", help="Records changed since TIME (RFC 3339; a date is WIB)."),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan only.")] = False,
    wait: WaitOption = False,
    timeout: TimeoutOption = WAIT_SECONDS,
) -> None:
    """Re-read local records and reconcile them with LAPOR; never a second national complaint.

    With --id, while the daemon runs, the records are queued for its next pass (--wait:
    the result; exit 0 done, 1 failed, 3 timed out); with no daemon, done at once.
    """
    conf = settings()
    if ids and not dry_run and since is None:
        if source not in conf.sources:
            message = f"no [sources.{source}] section in the configuration"
            raise fail_config(ConfigError("--source", message))
        request, code = _submit(
            conf,
            "resync",
            source,
            ids[0] if len(ids) == 1 else None,  # one record: its history shows the request
            {"ids": list(ids)},
            wait=wait,
            timeout=timeout,
        )
        if request is None or request.carried_out_by != "command":
            raise typer.Exit(code)  # queued for the daemon: its result, or 0
        with open_existing(conf) as store:
            counts = store.counts(source)
        dirty = counts["pending"] or counts["quarantined"] or counts["in_doubt"]
        raise typer.Exit(1 if request.state == "failed" or dirty else 0)
    try:
        sources = registry.connect_sources(conf, [source])
        start = parse_rfc3339(since) if since else None
    except ConfigError as exc:
        raise fail_config(exc) from None
    except ValueError:
        typer.echo(f"--since: {since!r} is not an RFC 3339 time or a date", err=True)
        raise typer.Exit(2) from None
    nationals = registry.connect_nationals(conf)
    local = sources[source]
    with writer_lock(conf), open_store(conf) as store:
        engine = Engine(store, sources, nationals, **registry.engine_options(conf))
        report = SourceReport(source)
        raws = _resync_records(local, ids, start)
        kinds: dict[str, int] = {}
        with _progress(enabled=not dry_run, total=len(ids) if ids else None) as advance:
            for raw in raws:
                if dry_run:
                    line = engine.describe(local, raw)
                    kinds[_plan_kind(line)] = kinds.get(_plan_kind(line), 0) + 1
                    typer.echo(shown(line))
                    continue
                try:
                    engine.reconcile(local, raw, report)
                except (Unavailable, Ambiguous, Rejected) as exc:
                    report.error = str(exc)
                    typer.echo(
                        f"{shown(source)}:{shown(raw.local_id)}: {shown(exc, redact=True)}",
                        err=True,
                    )
                    break
                advance()
        if not dry_run and report.error is None:
            engine.write_back_pending(local)
        counts = store.counts(source)
    registry.close_all(sources, nationals)
    if dry_run:
        _print_plan_summary(source, kinds)
    else:
        typer.echo(
            f"{shown(source)}: seen {report.seen}, created {report.created},"
            f" linked {report.linked},"
            f" updated {report.updated}, quarantined {report.quarantined},"
            f" follow-ups sent {report.pair.to_national}, responses {report.pair.to_local}"
        )
    dirty = counts["pending"] or counts["quarantined"] or counts["in_doubt"]
    raise typer.Exit(1 if report.error or dirty else 0)


def _resync_records(
    local: LocalSource, ids: list[str] | None, start: datetime | None
) -> Iterator[RawRecord]:
    if ids:
        for local_id in ids:
            raw = local.fetch(local_id)
            if raw is None:
                typer.echo(
                    f"{shown(local.name)}:{shown(local_id)}: the app does not know this record",
                    err=True,
                )
                continue
            yield raw
        return
    cursor = local.cursor_for(start) if start is not None else None
    for page in local.pull(cursor):
        yield from page.records


@contextmanager
def _progress(enabled: bool, total: int | None = None) -> Iterator[Callable[[], None]]:
    """Progress on a terminal (stderr): records done, with the total, a bar and the time
    left when the total is known (``--id``), the rate otherwise (a feed says no total up
    front); nothing in a pipe or a log, where the summary line says it all."""
    if not (enabled and sys.stderr.isatty()):
        yield lambda: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        [BarColumn(), MofNCompleteColumn(), TaskProgressColumn(), TimeRemainingColumn()]
        if total is not None
        else [TextColumn("{task.completed} records")]
    )
    with Progress(
        SpinnerColumn(),
        TextColumn("reconciling"),
        *columns,
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as progress:
        task = progress.add_task("resync", total=total)
        yield lambda: progress.advance(task)


#: ``resync --dry-run``'s summary rows: what a pass would do with each record
_PLAN_KINDS = ("create", "recover", "link", "update", "unchanged", "quarantine")


def _plan_kind(description: str) -> str:
    """The kind of one ``Engine.describe`` line: ``SOURCE:ID (#N): action, action``."""
    actions = description.rpartition(": ")[2]
    if ": quarantine (" in description:
        return "quarantine"
    names = {name.strip() for name in actions.split(",")}
    for kind in ("create", "recover", "link"):
        if kind in names:
            return kind
    return "unchanged" if "nothing to do" in names else "update"


def _print_plan_summary(source: str, kinds: dict[str, int]) -> None:
    """The table that ends a dry run: how many records a pass would create, update..."""
    total = sum(kinds.values())
    typer.echo(f"dry run of {shown(source)}: {total} record(s) read, nothing written")
    for kind in _PLAN_KINDS:
        typer.echo(f"  {kind:<12}{kinds.get(kind, 0):>8}")


# operator requests (bridge/sync/requests.py) ---------------------------------------------
def _request_line(request: operator_requests.OperatorRequest) -> str:
    return f"{request.state} (request #{request.id}): {shown(request.outcome, redact=True)}"


def _request_exit(request: operator_requests.OperatorRequest | None, timeout: float) -> int:
    """Print a request's result; its exit code (0 done, 1 failed, 3 not finished)."""
    if request is None or not request.finished:
        state = request.state if request is not None else "unknown"
        number = f"#{request.id}" if request is not None else ""
        typer.echo(
            f"not finished within {timeout:g} s: request {number} is {state}; the daemon"
            " carries it out at its next pass (mapping show SOURCE:ID shows the outcome)",
            err=True,
        )
        return WAIT_TIMED_OUT
    typer.echo(_request_line(request), err=request.state == "failed")
    return 0 if request.state == "done" else 1


def _submit(
    conf: Settings,
    action: str,
    source: str,
    local_id: str | None,
    params: dict[str, Any],
    *,
    wait: bool,
    timeout: float,
    check: Callable[[StateStore], None] = lambda store: None,
    at_once: bool = True,
) -> tuple[operator_requests.OperatorRequest | None, int]:
    """Record an operator request and see it carried out (bridge/sync/requests.py).

    No process holds the writer lock: the command takes it and carries the request out
    at once (``at_once``). The daemon holds it: the request is queued for its next pass of
    ``source``, and with ``wait`` polled until finished. ``check`` refuses a request that
    cannot be carried out (``typer.Exit``) before anything is recorded. Returns the request
    as last seen and the exit code ``--wait`` gives it (0 when not waiting on a queue).
    """
    if source not in conf.sources:
        message = f"no [sources.{source}] section in the configuration"
        raise fail_config(ConfigError("SOURCE", message))
    lock = stores.writer_lock(conf.bridge.database)
    try:
        lock.acquire()
    except StoreError as exc:
        raise _store_failed(exc) from None
    except LockedError:
        with open_existing(conf, write=True) as store:
            check(store)
            request = operator_requests.enqueue(
                store, action, source, local_id, params, _operator()
            )
        queued = "queued: the running daemon will carry it out at its next pass"
        typer.echo(f"{queued}, request #{request.id}")
        if not wait:
            return request, 0
        last = operator_requests.wait_for(
            lambda: stores.open_store(conf.bridge.database, readonly=True), request.id, timeout
        )
        return last, _request_exit(last, timeout)
    if not at_once:  # left to the next pass (indoubt resolve without --wait)
        lock.release()
        with open_existing(conf, write=True) as store:
            check(store)
            request = operator_requests.enqueue(
                store, action, source, local_id, params, _operator()
            )
        typer.echo(
            "queued: no daemon is running; the next pass (sync, or the service once"
            f" started) carries it out, request #{request.id}"
        )
        return request, 0
    try:
        sources = registry.connect_sources(conf, [source])
        nationals = registry.connect_nationals(conf)
        try:
            with open_store(conf) as store:
                check(store)
                request = operator_requests.enqueue(
                    store, action, source, local_id, params, _operator()
                )
                engine = Engine(store, sources, nationals, **registry.engine_options(conf))
                done = operator_requests.run(engine, request, "command")
        finally:
            registry.close_all(sources, nationals)
    finally:
        lock.release()
    return done, _request_exit(done, timeout)


@quarantine_app.command("list")
def quarantine_list() -> None:
    """Records that could not be processed, with their reason."""
    conf = settings()
    with open_existing(conf) as store:
        entries = store.quarantined()
    if not entries:
        typer.echo("quarantine is empty")
    for entry in entries:
        typer.echo(
            f"{entry.id:>5}  {shown(entry.source)}:{shown(entry.local_id)}"
            f"  attempts {entry.attempts}"
            f"  first {shown(when(entry.first_seen))}  last {shown(when(entry.last_seen))}"
            f"  {shown(entry.reason)}"
        )


def _entry(store: StateStore, entry_id: int) -> QuarantineRow:
    entry = store.quarantine_entry(entry_id)
    if entry is None:
        typer.echo(f"no quarantine entry {entry_id}", err=True)
        raise typer.Exit(1)
    return entry


@quarantine_app.command("show")
def quarantine_show(entry_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """One entry: reason, times, attempts and the raw payload (personal data masked)."""
    conf = settings()
    with open_existing(conf) as store:
        entry = _entry(store, entry_id)
    typer.echo(f"record:   {shown(entry.source)}:{shown(entry.local_id)}")
    typer.echo(f"state:    {shown(entry.state)}")
    typer.echo(f"reason:   {shown(entry.reason)}")
    first, last = shown(when(entry.first_seen)), shown(when(entry.last_seen))
    typer.echo(f"seen:     first {first}, last {last}")
    typer.echo(f"attempts: {entry.attempts}")
    typer.echo("raw payload (personal data masked):")
    payload = logs.redact_value(json.loads(entry.raw))
    typer.echo(shown_block(json.dumps(payload, indent=2, ensure_ascii=False)))


@quarantine_app.command("retry")
def quarantine_retry(
    entry_id: Annotated[int, typer.Argument(metavar="ID")],
    wait: WaitOption = False,
    timeout: TimeoutOption = WAIT_SECONDS,
) -> None:
    """Run one record through normalization and sync again (fresh from the app when it can).

    With no daemon running it is done at once; while the daemon runs it is queued for its
    next pass (--wait to see the result). Exits 0 whatever the outcome, which
    it prints: out of quarantine, or still in it with the reason; with --wait, 0 done,
    1 failed, 3 not finished in time.
    """
    conf = settings()
    with open_store(conf) as store:
        entry = _entry(store, entry_id)
    request, code = _submit(
        conf,
        "quarantine_retry",
        entry.source,
        entry.local_id,
        {"entry": entry_id},
        wait=wait,
        timeout=timeout,
    )
    if request is not None and request.state == "failed":
        typer.echo(f"retry failed: {shown(request.outcome, redact=True)}", err=True)
        with open_existing(conf) as store:
            still = store.quarantine_entry(entry_id)
        if still is not None and still.state == "open":
            typer.echo(f"still quarantined: {shown(still.reason)}")
    raise typer.Exit(code if wait else 0)


@quarantine_app.command("drop")
def quarantine_drop(entry_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """Give up on a record (audited); it comes back only if the app changes it.

    The raw record is forgotten; the reason, times and attempts stay for the audit.
    """
    conf = settings()
    with open_store(conf) as store:
        entry = _entry(store, entry_id)
        with store.atomic():
            store.release_quarantine(entry.source, entry.local_id, "dropped")
            store.event("quarantine_dropped", entry.source, entry.local_id, entry=entry_id)
    typer.echo(f"dropped {shown(entry.source)}:{shown(entry.local_id)}")


# in doubt -------------------------------------------------------------------
#: a follow-up in doubt is named by its row id with an "f" (``indoubt list`` shows it)
_FOLLOWUP_REF = re.compile(r"f([0-9]{1,18})")
_TRACKING = re.compile(r"#?([0-9]{1,18})")


def _operator() -> str:
    """Who decides: the OS user (bridge.md: every decision is audited with its user)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in the environment nor in the passwd file
        return f"uid {os.getuid()}"


def _decision_text(decision: str | None) -> str:
    if not decision:
        return "none"
    if decision.startswith("tracking:"):
        return f"found on LAPOR as #{decision.split(':', 1)[1]}"
    return {
        "not_created": "not on LAPOR: post it again",
        "posted": "already on LAPOR: do not post it",
        "not_posted": "not on LAPOR: post it again",
    }.get(decision, decision)


def _create_next(ref: str, decision: str | None) -> str:
    if decision and decision.startswith("tracking:"):
        number = decision.split(":", 1)[1]
        return f"#{number} is read on LAPOR and {ref} is mapped to it (never posted again)"
    if decision == "not_created":
        return f"{ref} is posted to LAPOR again"
    return (
        "it is looked for again (tag search or scan, lapor.md Recovery); it is posted again"
        " only on evidence that LAPOR does not have it"
    )


def _followup_next(national_id: int | None, kind: str | None, decision: str | None) -> str:
    tracking = f"#{national_id}"
    if decision == "posted":
        return "it is marked done without posting it"
    if decision == "not_posted" or kind == "reject":
        return f"it is posted to {tracking} again, without looking first"
    return f"{tracking}'s follow-ups are read; it is posted again only if it is not among them"


def _last_decisions(store: StateStore, items: list[InDoubtRow]) -> dict[tuple[str, str], Any]:
    """Who recorded each waiting decision and when: the last ``indoubt_decision`` event of
    the record (of the follow-up's row, for a follow-up)."""
    found: dict[tuple[str, str], Any] = {}
    for item in items:
        if not item.decision:
            continue
        for event in store.events_for(item.source, item.local_id, None):
            if event.kind != "indoubt_decision" or event.local_id != item.local_id:
                continue
            detail = json.loads(event.detail or "{}")
            row = detail.get("followup")
            if (item.type == "followup") != (row is not None):
                continue
            if row is not None and row != item.id:
                continue
            found[(item.type, str(item.id))] = {"by": detail.get("by"), "at": event.at}
    return found


def _indoubt_rows(store: StateStore, items: list[InDoubtRow]) -> list[dict[str, Any]]:
    """``indoubt list``'s rows: what an operator needs to look on LAPOR and decide."""
    decided = _last_decisions(store, items)
    rows: list[dict[str, Any]] = []
    for item in items:
        record = f"{item.source}:{item.local_id}"
        who = decided.get((item.type, str(item.id))) or {}
        common = {
            "source": item.source,
            "local_id": item.local_id,
            "record": record,
            "attempts": item.attempts,
            "last_error": item.last_error,
            "decision": item.decision,
            "decided_by": who.get("by"),
            "decided_at": when(who.get("at")) or None,
        }
        if item.type == "create":
            rows.append(
                {
                    "type": "create",
                    "id": record,
                    **common,
                    "account": item.account,
                    "tag": item.tag,
                    "since": when(item.sent_at or item.created_at) or None,
                    "may_apply_until": when(item.deadline) or None,
                    "tried": item.evidence,
                    "next_pass": _create_next(record, item.decision),
                }
            )
        else:
            rows.append(
                {
                    "type": "followup",
                    "id": f"f{item.id}",
                    **common,
                    "tracking_id": f"#{item.national_id}",
                    "kind": item.kind,
                    "since": when(item.updated_at) or None,
                    "tried": (
                        f"posted to #{item.national_id} ({item.attempts} attempt(s));"
                        " the answer was lost"
                    ),
                    "next_pass": _followup_next(item.national_id, item.kind, item.decision),
                }
            )
    return rows


#: the width text output keeps to (bridge.md's operators read it in an 80-column terminal)
WIDTH = 80


def _say(label: str, text: str) -> None:
    """``  label:   text``, wrapped to 80 columns under the text."""
    head = f"  {label + ':':<12}"
    for wrapped in textwrap.wrap(
        text, width=WIDTH, initial_indent=head, subsequent_indent=" " * len(head)
    ) or [head.rstrip()]:
        typer.echo(wrapped)


def _print_indoubt(rows: list[dict[str, Any]], imports: dict[str, int]) -> None:
    if not rows:
        typer.echo("nothing in doubt")
    for row in rows:
        since = f"{row['since'] or '?'}, {row['attempts']} attempt(s)"
        if row["type"] == "create":
            typer.echo(f"create {shown(row['id'])}")
            _say("since", since)
            account = f"{shown(row['account'])}, tag {shown(row['tag'])}"
            if row["may_apply_until"]:
                account += f"; LAPOR may apply it until {row['may_apply_until']}"
            _say("account", account)
        else:
            typer.echo(
                f"follow-up {row['id']}  {shown(row['record'])} → {row['tracking_id']}"
                f" ({shown(row['kind'])})"
            )
            _say("since", since)
        _say("tried", shown(row["tried"], redact=True) or "nothing yet")
        if row["last_error"]:
            _say("error", shown(row["last_error"], redact=True))
        decision = _decision_text(row["decision"])
        if row["decision"] and row["decided_by"]:
            decision += f" (by {shown(row['decided_by'])}, {row['decided_at']})"
        _say("decision", decision)
        _say("next pass", shown(row["next_pass"]))
        if row["type"] == "create":
            options = ("--tracking '#N'", "--not-created")
        else:
            options = ("--posted", "--not-posted")
        for n, option in enumerate(options):  # whole commands, never wrapped: to copy
            label = "  resolve:    " if n == 0 else " " * 14
            typer.echo(f"{label}lapor-bridge indoubt resolve {shown(row['id'])} {option}")
    for source, count in sorted(imports.items()):
        for wrapped in textwrap.wrap(
            f"{shown(source)}: {count} import(s) from LAPOR into the app in doubt, settled by"
            " the account's next pass (looked for in the app, never posted again on a guess)",
            width=WIDTH,
            subsequent_indent="  ",
        ):
            typer.echo(wrapped)


@indoubt_app.command("list")
def indoubt_list(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """Every create and follow-up in doubt: source, local id, since, attempts, what was
    tried, and any decision waiting for the next pass. Follow-ups are named fN (their row
    id with an "f"), the ID ``indoubt resolve`` takes. Only reads; exits 0."""
    conf = settings()
    with open_existing(conf) as store:
        items = store.in_doubt()
        rows = _indoubt_rows(store, items)
        imports: dict[str, int] = {}
        for name in conf.sources:
            # status counts an import into the app whose answer was lost as in doubt too;
            # it is settled by the account's pass, not by an operator
            listed = sum(1 for item in items if item.source == name)
            extra = store.counts(name)["in_doubt"] - listed
            if extra > 0:
                imports[name] = extra
    if as_json:
        typer.echo(json.dumps({"in_doubt": rows, "imports_in_doubt": imports}, indent=2))
        return
    _print_indoubt(rows, imports)


@indoubt_app.command("resolve")
def indoubt_resolve(
    ctx: typer.Context,
    ref: Annotated[
        str,
        typer.Argument(
            metavar="REF",
            help='SOURCE:ID of a create, or fN of a follow-up: its row id with an "f", as'
            " indoubt list shows it",
        ),
    ],
    tracking: Annotated[
        str | None,
        typer.Option(
            "--tracking",
            metavar="'#N'",
            help="Create: found on LAPOR as #N (or N): mapped to it, never posted again.",
        ),
    ] = None,
    not_created: Annotated[
        bool, typer.Option("--not-created", help="Create: checked LAPOR, not there: posted again.")
    ] = False,
    posted: Annotated[
        bool, typer.Option("--posted", help="Follow-up: it is on LAPOR: marked done, not posted.")
    ] = False,
    not_posted: Annotated[
        bool, typer.Option("--not-posted", help="Follow-up: not on LAPOR: posted again.")
    ] = False,
    wait: WaitOption = False,
    timeout: TimeoutOption = WAIT_SECONDS,
) -> None:
    """Record an operator's decision on a record in doubt; the next pass acts on it.

    A create: REF is SOURCE:ID, with exactly one of --tracking '#N' and --not-created.

    A follow-up: REF is fN as indoubt list shows it (e.g. f17): one of --posted, --not-posted.

    Works while the daemon runs (no lock); every decision is audited with the OS user.
    The decision is acted on by the daemon's next pass (or the next sync); with --wait the
    command waits for it, or, with no daemon running, acts on it at once.

    Exit 0 recorded, 1 not in doubt, 2 bad usage; with --wait 0 done, 1 failed, 3 not
    finished in time.
    """
    followup = _FOLLOWUP_REF.fullmatch(ref)
    source, sep, local_id = ref.partition(":")
    national_id: int | None = None
    if followup is not None:
        if tracking is not None or not_created:
            ctx.fail("--tracking/--not-created are for a create (SOURCE:ID), not a follow-up")
        if posted == not_posted:
            ctx.fail(f"give exactly one of --posted and --not-posted for follow-up {ref}")
        decision = "posted" if posted else "not_posted"
    elif sep and source and local_id:
        if posted or not_posted:
            ctx.fail("--posted/--not-posted are for a follow-up (fN), not a create")
        if (tracking is not None) == not_created:
            ctx.fail(f"give exactly one of --tracking '#N' and --not-created for {ref}")
        if tracking is not None:
            number = _TRACKING.fullmatch(tracking.strip())
            if number is None or int(number.group(1)) == 0:
                ctx.fail(f"--tracking: {tracking!r} is not a tracking id like '#9165024'")
            national_id = int(number.group(1))
            decision = f"tracking:{national_id}"
        else:
            decision = "not_created"
    else:
        ctx.fail(f"REF {ref!r}: SOURCE:ID for a create, or fN for a follow-up (indoubt list)")
    conf = settings()
    user = _operator()
    # no writer lock: one short transaction, which waits for the daemon's (busy timeout);
    # the daemon acts on the decision at its next pass
    with open_existing(conf, write=True) as store, store.atomic():
        if followup is not None:
            lines = _decide_followup(store, int(followup.group(1)), decision, user)
            row = store.followup_row(int(followup.group(1)))
            assert row is not None  # _decide_followup exits when there is none
            source, local_id = row.source, row.local_id
        else:
            lines = _decide_create(store, source, local_id, decision, national_id, user)
    for line in lines:
        typer.echo(line)
    # the decision is recorded (above); the request is what acts on it: at once with
    # --wait when no daemon runs, else at the next pass (the daemon's, or a sync)
    params: dict[str, Any] = {"decision": decision}
    if followup is not None:
        params["followup"] = int(followup.group(1))
    if national_id is not None:
        params["national_id"] = national_id
    _, code = _submit(
        conf,
        "indoubt_resolve",
        source,
        local_id,
        params,
        wait=wait,
        timeout=timeout,
        at_once=wait,
    )
    raise typer.Exit(code)


def _not_in_doubt(message: str) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(1)


def _decide_create(
    store: StateStore,
    source: str,
    local_id: str,
    decision: str,
    national_id: int | None,
    user: str,
) -> list[str]:
    ref = shown(f"{source}:{local_id}")
    item = next(
        (i for i in store.in_doubt(source) if i.type == "create" and i.local_id == local_id),
        None,
    )
    if item is None:
        mapping = store.mapping(source, local_id)
        why = ""
        if mapping is not None and mapping.national_id is not None:
            why = f": it is mapped to #{mapping.national_id}"
        elif store.pending_intent(source, local_id, "create") is not None:
            why = ": its create has not been sent yet (the next pass posts it)"
        raise _not_in_doubt(f"{ref} has no create in doubt{why}")
    if national_id is not None:
        owner = store.mapping_by_national(national_id)
        if owner is not None and (owner.source, owner.local_id) != (source, local_id):
            raise _not_in_doubt(
                f"#{national_id} is already the complaint of"
                f" {shown(owner.source)}:{shown(owner.local_id)}; nothing recorded"
                " (mapping show '#N' to look)"
            )
    earlier = item.decision
    store.decide(item.id, decision)
    store.event(
        "indoubt_decision",
        source,
        local_id,
        national_id,
        decision=decision,
        by=user,
        **({"replaces": earlier} if earlier and earlier != decision else {}),
    )
    lines = [f"{ref}: recorded, by {shown(user)}: {_decision_text(decision)}"]
    if earlier and earlier != decision:
        lines.append(f"  (replaces the earlier decision: {_decision_text(earlier)})")
    lines.append(f"At the next pass {_create_next(ref, decision)}.")
    if national_id is not None:
        lines.append(
            f"Should LAPOR not know #{national_id}, the decision is void and {ref} stays in doubt."
        )
    elif item.deadline and parse_rfc3339(item.deadline) > utcnow():
        lines.append(
            f"warning: LAPOR may still apply the earlier create until {when(item.deadline)};"
            " if it does, LAPOR will hold two complaints."
        )
    return lines


def _decide_followup(store: StateStore, row_id: int, decision: str, user: str) -> list[str]:
    row = store.followup_row(row_id)
    if row is None:
        raise _not_in_doubt(f"no follow-up f{row_id}")
    in_doubt = any(i.type == "followup" and i.id == row_id for i in store.in_doubt(row.source))
    if not in_doubt:
        state = "done" if row.state == "done" else f"{row.state}, not in doubt"
        raise _not_in_doubt(f"follow-up f{row_id} is not in doubt ({shown(state)})")
    earlier = row.decision
    store.decide_followup(row_id, decision)
    store.event(
        "indoubt_decision",
        row.source,
        row.local_id,
        row.national_id,
        decision=decision,
        by=user,
        followup=row_id,
        **({"replaces": earlier} if earlier and earlier != decision else {}),
    )
    record = shown(f"{row.source}:{row.local_id}")
    lines = [
        f"follow-up f{row_id} ({record} → #{row.national_id}): recorded, by"
        f" {shown(user)}: {_decision_text(decision)}"
    ]
    if earlier and earlier != decision:
        lines.append(f"  (replaces the earlier decision: {_decision_text(earlier)})")
    lines.append(f"At the next pass {_followup_next(row.national_id, row.kind, decision)}.")
    return lines


@contextmanager
def _output(out: Path | None) -> Iterator[Any]:
    """Standard output, or ``out`` created (or narrowed) to ``0600``: a report is the
    state's metadata, for the operator's eyes."""
    from bridge.reports.report import private_file

    if out is None:
        yield sys.stdout
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    with private_file(out) as stream:
        yield stream


def _times(since: str | None, until: str | None) -> tuple[datetime | None, datetime | None]:
    try:
        return (parse_rfc3339(since) if since else None, parse_rfc3339(until) if until else None)
    except ValueError:
        typer.echo("--since/--until: an RFC 3339 time or a date (YYYY-MM-DD, WIB)", err=True)
        raise typer.Exit(2) from None


_OUT_HELP = "Write to PATH (created 0600) instead of standard output."
_ONLY = "Only this source (repeatable)."
_SINCE_HELP = "Filed at or after TIME (RFC 3339; a date is midnight WIB)."


@app.command()
def export(
    fmt: Annotated[
        str, typer.Option("--format", metavar="csv|json|html", help="The format.")
    ] = "csv",
    out: Annotated[Path | None, typer.Option("--out", metavar="PATH", help=_OUT_HELP)] = None,
    source: Annotated[
        list[str] | None, typer.Option("--source", metavar="NAME", help=_ONLY)
    ] = None,
    since: Annotated[str | None, typer.Option(metavar="TIME", help=_SINCE_HELP)] = None,
    until: Annotated[str | None, typer.Option(metavar="TIME", help="Filed before TIME.")] = None,
) -> None:
    """The reconciliation report: one row per local record and per national-only complaint.

    The HTML page adds the SLA report of the same range (default: this year)."""
    from bridge.reports import exports, report, sla

    conf = settings()
    start, end = _times(since, until)
    if fmt not in report.FORMATS:
        typer.echo(f"--format: one of {', '.join(report.FORMATS)}", err=True)
        raise typer.Exit(2)
    unknown = [name for name in source or () if name not in conf.sources]
    if unknown:
        known = ", ".join(sorted(conf.sources)) or "none configured"
        typer.echo(f"--source: no source {shown(unknown[0])} (known: {known})", err=True)
        raise typer.Exit(2)
    with open_existing(conf) as store, _output(out) as stream:
        count = exports.export(
            store,
            fmt,
            stream,
            sources=source or (),
            since=start,
            until=end,
            status_names=registry.status_names(conf),
            national_names=registry.national_status_names(),
            rules=sla.Rules.from_settings(conf),
        )
    if out is not None:
        typer.echo(f"{count} rows written to {out}", err=True)


@report_app.command("sla")
def report_sla(
    fmt: Annotated[
        str, typer.Option("--format", metavar="text|json|csv", help="The format.")
    ] = "text",
    since: Annotated[
        str | None,
        typer.Option(metavar="TIME", help=_SINCE_HELP + " Default: this year's first day."),
    ] = None,
    until: Annotated[
        str | None, typer.Option(metavar="TIME", help="Filed before TIME. Default: next year.")
    ] = None,
    year: Annotated[
        int | None, typer.Option(metavar="YYYY", help="Only complaints filed in YYYY (WIB).")
    ] = None,
    account: Annotated[
        list[str] | None, typer.Option("--account", metavar="NAME", help="Only this account.")
    ] = None,
    source: Annotated[
        list[str] | None, typer.Option("--source", metavar="NAME", help=_ONLY)
    ] = None,
    agency: Annotated[
        list[str] | None,
        typer.Option("--agency", metavar="NAME", help="Only this agency (a code or a name)."),
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", metavar="PATH", help=_OUT_HELP)] = None,
) -> None:
    """Each promise on its own clock (delivery, verification, agency follow-up, city
    response, done), per city and agency, in working days, with every breach."""
    from bridge.reports import sla

    conf = settings()
    if fmt not in sla.SLA_FORMATS:
        typer.echo(f"--format: one of {', '.join(sla.SLA_FORMATS)}", err=True)
        raise typer.Exit(2)
    start, end = _times(since, until)
    now = utcnow()
    first, last = sla.this_year(now)
    if year is not None:
        first, last = sla.year_range(year)
    rules = sla.Rules.from_settings(conf)
    with open_existing(conf) as store:
        try:
            scope = sla.resolve_scope(
                store,
                rules,
                start or first,
                end or last,
                accounts=account or (),
                sources=source or (),
                agencies=agency or (),
            )
        except sla.UnknownName as exc:
            typer.echo(shown(str(exc)), err=True)
            raise typer.Exit(2) from None
        with _output(out) as stream:
            sla.write_report(store, fmt, stream, rules=rules, scope=scope, now=now)


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object, for machines.")] = False,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            "-v",
            help="Every detail: cursors, pass times, photos, polling, what the LAPOR profile"
            " assumes.",
        ),
    ] = False,
    only: Annotated[
        list[str] | None,
        typer.Option(
            "--source",
            metavar="NAME",
            help="Only this source, in detail (repeatable); the verdict and exit code stay"
            " the whole bridge's.",
        ),
    ] = None,
) -> None:
    """The state of every source and account: ok, waiting (on a person) or error; exit 0
    ok or waiting, 1 error."""
    conf = settings()
    unknown = [name for name in only or () if name not in conf.sources]
    if unknown:
        known = ", ".join(conf.sources) or "none"
        typer.echo(f"--source {shown(unknown[0])}: no such source (configured: {known})", err=True)
        raise typer.Exit(2)
    with open_existing(conf) as store:
        state = status_mod.collect(
            store,
            conf.sources,
            conf.lapor.accounts,
            conf.bridge.poll_interval_seconds,
            capabilities=conf.lapor.capabilities,
            tracking_policy=conf.tracking(),
            owners={name: section.account for name, section in conf.sources.items()},
            lease_seconds=conf.bridge.lease_seconds,
        )
    shown_state = state
    if only:
        shown_state = {
            **state,
            "sources": {k: v for k, v in state.get("sources", {}).items() if k in only},
        }
    if as_json:
        typer.echo(json.dumps(shown_state, indent=2))
    else:
        _print_status(shown_state, verbose=verbose, detail=bool(only), accounts=not only or verbose)
    raise typer.Exit(0 if state.get("healthy", True) else 1)


def _age(since: str | None, now: str) -> str:
    """How long ago, for people: ``45 s``, ``12 min``, ``3 h 5 min``, ``2 d 4 h``."""
    try:
        elapsed = parse_rfc3339(now) - parse_rfc3339(since) if since else None
    except ValueError:
        elapsed = None
    if elapsed is None:
        return "?"
    seconds = max(0, int(elapsed.total_seconds()))
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 60:
        return f"{seconds} s"
    if minutes < 60:
        return f"{minutes} min"
    if hours < 24:
        return f"{hours} h {minutes % 60} min"
    return f"{days} d {hours % 24} h"


#: the verdict, as ``status`` prints it (bridge/runtime/health.py's levels)
_VERDICT = {
    "ok": "health: ok",
    "waiting": "health: waiting (on a person at LAPOR or in the city; not a failure)",
    "error": "health: ERROR (DEGRADED)",
}


def _level(row: dict[str, Any]) -> str:
    level = row.get("health")
    return f": {level.upper() if level == 'error' else level}" if level else ""


def _count(row: dict[str, Any], key: str) -> int:
    value = row.get(key)
    return value if isinstance(value, int) else 0


def _say_feed(feed: Any) -> None:
    """What a source's feed assumed or could not read (``status.feed_assumptions``)."""
    if not isinstance(feed, dict):
        return
    cap = feed.get("cap")
    if isinstance(cap, dict):
        seen = cap.get("largest_answer")
        largest = f"; largest answer {seen}" if isinstance(seen, int) and seen else ""
        _say("cap", f"{cap['assumed']} per answer assumed ({shown(cap['by'])}{largest})")
    for key, label, tail in (
        ("unreadable", "unreadable", "read again each pass"),
        ("given_up", "given up", "could not be read; see the log"),
        ("unknown_statuses", "statuses", "unknown, read as no change"),
    ):
        items = feed.get(key)
        if isinstance(items, list) and items:
            listed = ", ".join(shown(str(i)) for i in items[:5])
            more = f" and {len(items) - 5} more" if len(items) > 5 else ""
            _say(label, f"{listed}{more} ({tail})")


def _print_source(name: str, row: dict[str, Any], now: str, verbose: bool) -> None:
    typer.echo(f"source {shown(name)}{_level(row)}")
    pulled = row.get("last_pull_at")
    _say("last pull", f"{pulled} ({_age(pulled, now)} ago)" if pulled else "never")
    if verbose:
        _say("last pass", row.get("last_pass_at") or "never")
        if row.get("cursor"):
            _say("cursor", shown(row["cursor"]))  # the raw feed position: for debugging
    _say_feed(row.get("feed"))
    records = (
        f"mapped {_count(row, 'mapped')}, pending {_count(row, 'pending')},"
        f" quarantined {_count(row, 'quarantined')}, in doubt {_count(row, 'in_doubt')}"
    )
    if verbose and "topik_lainnya" in row:
        records += f", TOPIK LAINNYA {_count(row, 'topik_lainnya')}"
    _say("records", records)
    trouble = [
        f"{label} {_count(row, key)}"
        for key, label in (("conflicts", "conflicts"), ("drift", "drift"), ("refused", "refused"))
        if _count(row, key)
    ]
    if trouble:
        _say("problems", ", ".join(trouble))
    waiting = row.get("waiting")
    if isinstance(waiting, dict) and waiting.get("total"):
        kinds = ", ".join(
            f"{key.replace('_', ' ')} {value}"
            for key, value in waiting.items()
            if key != "total" and value
        )
        _say("waiting", f"{waiting['total']} ({kinds})")
    elif isinstance(waiting, int) and waiting:
        _say("waiting", str(waiting))
    if row.get("oldest_unsynced_at"):
        oldest = row["oldest_unsynced_at"]
        _say("unsynced", f"oldest not on LAPOR since {oldest} ({_age(oldest, now)} ago)")
    photos = row.get("photos")
    if isinstance(photos, dict) and (verbose or any(photos.values())):
        _say("photos", "late: waiting {waiting}, given up {given_up}".format(**photos))
    view = row.get("view")
    if isinstance(view, dict):
        # the bridge's view of its open complaints on LAPOR, each read by id
        if not view.get("open"):
            _say("read by id", "no open complaint")
        else:
            seen = view.get("oldest_seen_at")
            age = f" ({_age(seen, now)} ago)" if seen else ""
            _say(
                "read by id",
                f"{view['open']} open, oldest view {seen or 'none'}{age},"
                f" {view.get('never_read', 0)} never read",
            )
    if verbose and "tracked_by_polling" in row:
        _say("polled", f"{row['tracked_by_polling']} complaint(s) (status --json lists them)")
    if row.get("last_error"):
        _say("error", shown(row["last_error"], redact=True))


def _say_tracking(tracking: Any, now: str) -> None:
    """An account's reads by id against its budget (``status.tracking``)."""
    if not isinstance(tracking, dict):
        return
    _say(
        "tracking",
        f"{tracking.get('spent_last_hour', 0)} of {tracking.get('budget_per_hour')} requests"
        f" in the last hour; {tracking.get('open', 0)} open, {tracking.get('due', 0)} due",
    )
    oldest = tracking.get("oldest_view_at")
    hours = tracking.get("max_view_age_hours")
    bound = f"{hours:g} h" if isinstance(hours, int | float) else "?"
    if oldest:
        _say("views", f"oldest {oldest} ({_age(oldest, now)} ago; bound {bound})")
    needs, budget = tracking.get("bound_needs_per_hour"), tracking.get("budget_per_hour")
    if isinstance(needs, int | float) and isinstance(budget, int) and needs > budget:
        _say(
            "over bound",
            f"reading every open complaint within {bound} needs {needs:g} requests an"
            f" hour, more than the budget: raise tracking_requests_per_hour",
        )
    stretch = tracking.get("stretch")
    if isinstance(stretch, int | float) and stretch > 1:
        _say(
            "short",
            f"the schedule wants {tracking.get('wanted_per_hour')} requests an hour: every"
            f" complaint is read about {stretch:g}× later than wanted",
        )


def _print_status(
    state: dict[str, Any], *, verbose: bool = False, detail: bool = False, accounts: bool = True
) -> None:
    """``status`` for people, in 80 columns: a block per source and account, the LAPOR
    profile, what is unknown, then the verdict with its reasons. Raw cursors, pass times
    and what the profile assumes only with ``verbose`` (``detail``: the sources' details
    only, for ``--source``). Renders whatever keys ``collect``
    gives (older and newer ones alike)."""

    def say(text: str, indent: str = "", hang: str = "    ") -> None:
        for wrapped in textwrap.wrap(
            text, width=WIDTH, initial_indent=indent, subsequent_indent=hang
        ):
            typer.echo(wrapped)

    now = state.get("checked_at") or ""
    typer.echo(f"lapor-bridge status, checked {now}")
    for name, row in (state.get("sources") or {}).items():
        _print_source(name, row, now, verbose or detail)
    for name, row in (state.get("accounts") or {}).items() if accounts else ():
        typer.echo(f"account {shown(name)}{_level(row)}")
        pulled = row.get("last_pull_at")
        since = f"{pulled} ({_age(pulled, now)} ago)" if pulled else "never"
        _say("last pull", f"{since}, pending {_count(row, 'pending')}")
        if verbose and row.get("cursor"):
            _say("cursor", shown(row["cursor"]))
        _say_tracking(row.get("tracking"), now)
        if row.get("last_error"):
            _say("error", shown(row["last_error"], redact=True))
    lapor = state.get("lapor")
    if lapor:
        listed = ", ".join(lapor.get("capabilities") or ()) or "no capabilities"
        typer.echo(f"LAPOR profile: {lapor.get('profile')} ({listed})")
        if verbose:
            for sentence in lapor.get("assumptions") or ():
                say(sentence, "  - ")
    _print_cluster(state.get("cluster"), now)
    unknown = state.get("unknown_status_names") or []
    if unknown:
        typer.echo("Unknown LAPOR status names seen (they move no status):")
        for item in unknown:
            name = "(no name)" if item["name"] is None else repr(shown(item["name"]))
            say(f"{name} on {item['complaints']} complaint(s), last {item['last_seen_at']}", "  - ")
    level = state.get("health") or ("ok" if state.get("healthy", True) else "error")
    typer.echo(_VERDICT.get(level, f"health: {shown(level)}"))
    for problem in state.get("problems") or ():
        say(shown(problem, redact=True), "  - ")
    for waiting in state.get("waiting_for") or ():
        say(f"waiting: {shown(waiting, redact=True)}", "  - ")
    for note in state.get("notes") or ():
        say(f"note: {shown(note, redact=True)}", "  ")
    if not verbose:
        typer.echo("(details: lapor-bridge status --verbose, or --source NAME)")


def _print_cluster(cluster: dict[str, Any] | None, now: str) -> None:
    """The replicas of a PostgreSQL state and who holds each unit's lease."""
    if not cluster:
        return
    typer.echo(f"replicas (lease {cluster.get('lease_seconds')} s)")
    for row in cluster.get("replicas") or ():
        if row.get("state") == "stopped":
            continue  # a clean stop: nothing to watch
        _say(
            shown(row.get("replica")),
            f"{shown(row.get('state'))}, heartbeat {row.get('heartbeat_age_seconds')} s ago,"
            f" {row.get('leases')} lease(s), since {shown(row.get('started_at'))}",
        )
    for row in cluster.get("leases") or ():
        owner = row.get("owner")
        held = (
            f"{shown(owner)} since {shown(row.get('since'))} ({_age(row.get('since'), now)})"
            if owner
            else "nobody (free: the next replica to look takes it)"
        )
        _say(shown(row.get("unit")), f"{held}, epoch {row.get('epoch')}")


@app.command()
def trace(
    ref: Annotated[str, typer.Argument(metavar="REF", help=trace_mod.REF_HELP)],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """Everything known about one complaint: mapping, quarantine, in doubt, follow-ups both
    ways, history; personal data masked. Exit 0 found, 1 unknown. Reads only."""
    conf = settings()
    try:
        wanted = trace_mod.parse_ref(ref)
    except ValueError as exc:
        typer.echo(shown(exc), err=True)
        raise typer.Exit(1) from None
    with open_existing(conf) as store:
        result = trace_mod.trace(store, wanted)
    if as_json:
        typer.echo(json.dumps(result.as_json(), indent=2, ensure_ascii=False))
    else:
        for line in trace_mod.render(result):
            typer.echo(line)
    if not result.found:
        hint = " (a bare number is a tracking number: write SOURCE:ID for an app's own id)"
        typer.echo(
            f"{shown(ref)}: nothing known about {shown(wanted.looked_for)}: no mapping,"
            f" quarantine entry, create, follow-up or history"
            + (hint if wanted.national_id is not None and not ref.startswith("#") else ""),
            err=True,
        )
        raise typer.Exit(1)


@mapping_app.command("show")
def mapping_show(
    ref: Annotated[str, typer.Argument(metavar="REF", help=trace_mod.REF_HELP)],
) -> None:
    """Both sides of a mapping and its history; exit 1 if unknown (`trace REF` shows a
    record without one too: quarantined, in doubt)."""
    conf = settings()
    try:
        wanted = trace_mod.parse_ref(ref)
    except ValueError as exc:
        typer.echo(shown(exc), err=True)
        raise typer.Exit(1) from None
    with open_existing(conf) as store:
        rows = trace_mod.mappings_for(store, wanted)
        if not rows:
            typer.echo(
                f"{shown(ref)}: no such mapping (looked for {shown(wanted.looked_for)});"
                f" `lapor-bridge trace '{shown(ref)}'` shows what else is known",
                err=True,
            )
            raise typer.Exit(1)
        for row in rows:
            typer.echo(f"{shown(row.source)}:{shown(row.local_id)} ↔ #{row.national_id}")
            for key in (
                "origin",
                "status",
                "local_status",
                "national_status",
                "duplicate_of",
                "link_state",
                "created_at",
                "first_synced_at",
                "last_synced_at",
            ):
                value = getattr(row, key)
                value = value if value is not None else ""
                typer.echo(f"  {key}: {shown(when(value) if key.endswith('_at') else value)}")
            decisions = store.dedupe_decisions(row.source, row.local_id)
            if decisions:
                typer.echo("  duplicate checks (rule, score, merged, against):")
                for d in decisions:
                    typer.echo(
                        f"    {shown(when(d.at))}  {shown(d.rule)}  {d.score:.3f}"
                        f"  {'merged' if d.merged else 'kept apart'}  {shown(d.candidate_of)}"
                    )
            typer.echo("  history:")
            for event in store.events_for(row.source, row.local_id, row.national_id):
                typer.echo(
                    f"    {shown(when(event.at))}  {shown(event.kind)}  {shown(event.detail)}"
                )


def _record_ref(ref: str) -> tuple[str, str]:
    source, sep, local_id = ref.partition(":")
    if not sep or not local_id:
        typer.echo("REF is SOURCE:LOCAL_ID", err=True)
        raise typer.Exit(1)
    return source, local_id


@mapping_app.command("split")
def mapping_split(
    ref: Annotated[
        str, typer.Argument(metavar="SOURCE:LOCAL_ID", help="SOURCE:LOCAL_ID of a merged record")
    ],
    wait: WaitOption = False,
    timeout: TimeoutOption = WAIT_SECONDS,
) -> None:
    """Undo a merge: the record gets its own national complaint (once); audited.

    Done at once with no daemon running, else queued for its next pass (--wait: the
    result). Exit 0 done or queued, 1 failed or not merged, 3 --wait timed out.
    """
    conf = settings()
    source, local_id = _record_ref(ref)

    def merged(store: StateStore) -> None:
        mapping = store.mapping(source, local_id)
        if mapping is None or not mapping.duplicate_of:
            typer.echo(f"{shown(ref)} is not merged into another record", err=True)
            raise typer.Exit(1)

    _, code = _submit(
        conf, "mapping_split", source, local_id, {}, wait=wait, timeout=timeout, check=merged
    )
    raise typer.Exit(code)


@mapping_app.command("link")
def mapping_link(
    ref: Annotated[str, typer.Argument(metavar="SOURCE:LOCAL_ID", help="SOURCE:LOCAL_ID")],
    tracking: Annotated[str, typer.Argument(metavar="'#TRACKING_ID'", help="#TRACKING_ID")],
    wait: WaitOption = False,
    timeout: TimeoutOption = WAIT_SECONDS,
) -> None:
    """Link an unmapped or merged record to a national complaint by hand; audited.

    Done at once with no daemon running, else queued for its next pass (--wait: the
    result). Exit 0 done or queued, 1 failed, 3 --wait timed out.
    """
    conf = settings()
    source, local_id = _record_ref(ref)
    if not tracking.lstrip("#").isdigit():
        typer.echo("TRACKING is #NNNNNNN", err=True)
        raise typer.Exit(1)
    national_id = int(tracking.lstrip("#"))
    _, code = _submit(
        conf,
        "mapping_link",
        source,
        local_id,
        {"national_id": national_id},
        wait=wait,
        timeout=timeout,
    )
    raise typer.Exit(code)


@conflict_app.command("resolve")
def conflict_resolve(
    ref: Annotated[str, typer.Argument(metavar="SOURCE:ID", help="The record in conflict.")],
    keep: Annotated[
        str,
        typer.Option(
            "--keep",
            metavar="local|national",
            help="national: the app is moved to LAPOR's status. local: the app's status"
            " stands; LAPOR's (its admin's, final) is left as it is and no longer reported"
            " as a conflict.",
        ),
    ],
    wait: WaitOption = False,
    timeout: TimeoutOption = WAIT_SECONDS,
) -> None:
    """Resolve a status conflict (one side done, the other rejected); audited with the OS user.

    --keep national sets the app's record to LAPOR's status. --keep local writes nothing
    to LAPOR (Selesai and Diarsipkan are its admin's; an agency cannot change them): the
    mapping keeps the app's status and the bridge stops flagging it.

    Done at once with no daemon running, else queued for its next pass (--wait: the
    result). Exit 0 done or queued, 1 not in conflict or failed, 2 bad usage, 3 --wait
    timed out.
    """
    if keep not in ("local", "national"):
        raise typer.BadParameter("local or national", param_hint="--keep")
    conf = settings()
    source, local_id = _record_ref(ref)

    def in_conflict(store: StateStore) -> None:
        mapping = store.mapping(source, local_id)
        if mapping is None:
            typer.echo(f"{shown(ref)}: no such mapping", err=True)
            raise typer.Exit(1)
        if not operator_requests.in_conflict(mapping):
            typer.echo(
                f"{shown(ref)} is not in conflict (local {shown(mapping.local_canonical)},"
                f" national {shown(mapping.national_canonical)})",
                err=True,
            )
            raise typer.Exit(1)

    _, code = _submit(
        conf,
        "conflict_resolve",
        source,
        local_id,
        {"keep": keep},
        wait=wait,
        timeout=timeout,
        check=in_conflict,
    )
    raise typer.Exit(code)


#: capabilities that are fields of a write: no read can check them (lapor.md, Profiles)
_WRITE_FIELDS = ("mark_completed", "reporter")


@config_app.command("check")
def config_check(
    probe: Annotated[
        bool,
        typer.Option(
            "--probe",
            help="Then try every modelled LAPOR read endpoint (tag_search, inbox, categories),"
            " configured or not, and print what answered. Reads only.",
        ),
    ] = False,
) -> None:
    """Validate the file and reach every system with its credentials: 0 ok, 2 not.

    What is allowed but unsafe (plain http://, /metrics off loopback, a secret file others
    may read) is printed as ``warning:`` lines and does not change the exit code.
    """
    conf = settings()
    for warning in config_warnings(conf):
        typer.echo(f"warning: {warning}", err=True)
    failures = 0
    configured = [c for c in CAPABILITIES if conf.lapor.has(c)]
    if configured:
        typer.echo(f"lapor: extended profile: capabilities {', '.join(configured)}")
    else:
        typer.echo("lapor: evidenced profile: no capabilities")
    try:
        # once each, no back-off: a person is waiting, and the message says what failed
        nationals = registry.connect_nationals(conf, policy=_CHECK_POLICY)
    except ConfigError as exc:
        raise fail_config(exc) from None
    probes: dict[str, dict[str, str] | None] = {}
    for name, national in nationals.items():
        _checking(f"lapor.accounts.{name}", conf.lapor.base_url)
        try:
            national.check()
            typer.echo(f"lapor.accounts.{name}: ok")
            # check() read every configured capability that has an endpoint (a 404 or any
            # other error would have named it)
            for capability in configured:
                if capability in _WRITE_FIELDS:
                    typer.echo(f"  {capability}: a field of a write, not checkable by reading")
                else:
                    typer.echo(f"  {capability}: answered")
        except CapabilityMissing as exc:
            failures += 1  # one line, naming the capability (its message starts with it)
            message = shown(exc, redact=True)
            if exc.capability not in message:
                message = f"capability {exc.capability!r}: {message}"
            typer.echo(f"lapor.accounts.{name}: {message}", err=True)
        except (Unavailable, Rejected, Ambiguous) as exc:
            failures += 1
            typer.echo(f"lapor.accounts.{name}: {shown(exc, redact=True)}", err=True)
        try:
            if probe:
                probes[name] = _probe(national)
        finally:
            national.close()
    failures += 0 if _check_database(conf) else 1
    for name, source in registry.connect_sources(conf, policy=_CHECK_POLICY).items():
        _checking(f"sources.{name}", getattr(conf.sources[name], "base_url", ""))
        try:
            next(iter(source.pull(None)), None)
            typer.echo(f"sources.{name}: ok")
        except (Unavailable, Rejected) as exc:
            failures += 1
            typer.echo(f"sources.{name}: {shown(exc, redact=True)}", err=True)
        finally:
            source.close()
    if probe:
        _print_probes(probes, configured)
    raise typer.Exit(2 if failures else 0)


def _check_database(conf: Settings) -> bool:
    """A PostgreSQL state database reached with its password, its schema's state said; a
    SQLite file is the service's to create (nothing to reach). Reads only: nothing is
    created or migrated."""
    database = conf.bridge.database
    if not isinstance(database, PostgresDatabase):
        return True
    _checking("bridge.database", database.url)
    try:
        store = stores.open_store(database, readonly=True)
    except SchemaOutdated as exc:  # reached: the first start creates or migrates the schema
        typer.echo(f"bridge.database: reached; {shown(exc)}; the service's start migrates it")
        return True
    except StoreError as exc:
        typer.echo(f"bridge.database: {shown(exc, redact=True)}", err=True)
        return False
    try:
        running = [r for r in store.replicas() if r.stopped_at is None]
        live = sum(1 for r in running if r.age < conf.bridge.lease_seconds)
    finally:
        store.close()
    typer.echo(f"bridge.database: ok (PostgreSQL; {live} replica(s) running on it now)")
    return True


#: ``config check`` tries each system once: retries with back-off kept a person waiting
#: for ~40 s in silence before saying a system could not be reached
_CHECK_POLICY = RetryPolicy(attempts=1)


def _checking(what: str, url: object) -> None:
    """On a terminal, what is being reached while the person waits (stderr)."""
    if sys.stderr.isatty():
        typer.echo(f"checking {what} at {shown(url, redact=True)} …", err=True)


def _probe(national: object) -> dict[str, str] | None:
    """What each modelled read endpoint answered the account; ``None`` when the client has
    no probe. Information, never a failure."""
    probe = getattr(national, "probe", None)
    if not callable(probe):
        return None
    try:
        answers = probe()
    except (Unavailable, Rejected, Ambiguous) as exc:
        return {"(probe)": str(exc)}
    return {str(k): str(v) for k, v in dict(answers).items()}


def _print_probes(probes: dict[str, dict[str, str] | None], configured: list[str]) -> None:
    typer.echo("probe of LAPOR's modelled read endpoints (GET only; nothing was written):")
    for name, answers in probes.items():
        typer.echo(f"lapor.accounts.{name}:")
        if answers is None:
            typer.echo("  (this client has no probe)")
            continue
        width = max((len(k) for k in answers), default=0)
        for endpoint, answer in answers.items():
            mark = "configured" if endpoint in configured else "not configured"
            typer.echo(f"  {shown(endpoint):<{width}}  {shown(answer, redact=True)}  ({mark})")


@app.command()
def demo(
    workdir: Annotated[
        Path,
        typer.Option(metavar="DIR", help="Where the demo writes its config, database and report."),
    ] = Path("demo-out"),
    complaints: Annotated[int, typer.Option(metavar="N", help="Sample complaints per app.")] = 40,
) -> None:
    """Start the sandboxes with sample data, run the bridge against them, print the status."""
    from adapters.demo import run_demo

    raise typer.Exit(run_demo(workdir, complaints))


@app.command("backup")
def backup_command(
    path: Annotated[Path, typer.Argument(metavar="PATH", help="The file to write (mode 0600).")],
    force: Annotated[bool, typer.Option("--force", help="Replace PATH if it exists.")] = False,
) -> None:
    """A consistent copy of the state database, safe while the daemon runs: 0 written,
    1 no database, 2 a bad PATH (an existing one without --force)."""
    from bridge.runtime.backup import BackupError, backup

    database = stores.sqlite_path(settings().bridge.database)
    if database is None:
        typer.echo(
            "error: backup copies a SQLite file; this state is in PostgreSQL: use pg_dump"
            " or the server's own backups (base backups, WAL archiving)",
            err=True,
        )
        raise typer.Exit(1)
    try:
        made = backup(database, path, force=force)
    except BackupError as exc:
        typer.echo(f"error: {shown(exc)}", err=True)
        raise typer.Exit(exc.code) from None
    typer.echo(f"{shown(database)} backed up to {shown(made.path)} ({made.size} bytes)")


def _target_database(
    url: str, password_file: Path | None, option: str = "--to"
) -> PostgresDatabase:
    """``--to`` (``option``) with the password of ``--password-file``; a wrong one exits 2."""
    password = None
    if password_file is not None:
        try:
            password = SecretStr(password_file.read_text(encoding="utf-8").strip())
        except (OSError, UnicodeDecodeError) as exc:
            why = getattr(exc, "strerror", None) or "unreadable"
            typer.echo(
                f"error: cannot read --password-file {shown(password_file)} ({why})", err=True
            )
            raise typer.Exit(2) from None
    try:
        return postgres_database(url, password)
    except ValueError as exc:
        typer.echo(f"error: {option}: {exc}", err=True)
        raise typer.Exit(2) from None


def _source_file(conf: Settings) -> Path:
    """The configured SQLite file, which must exist; else one message and exit 1."""
    path = stores.sqlite_path(conf.bridge.database)
    if path is None:
        typer.echo(
            "error: store migrate copies a SQLite state; this configuration's [bridge]"
            " database is already PostgreSQL",
            err=True,
        )
        raise typer.Exit(1)
    if file_identity(path) is None:
        raise _store_failed(DatabaseMissing(f"no database at {path}; has the bridge run?"))
    return path


@contextmanager
def _both_stores(path: Path, target: PostgresDatabase) -> Iterator[tuple[Store, PgStore]]:
    """The SQLite store (migrated to this version) and the PostgreSQL one (created and
    migrated), or one message and exit 1."""
    try:
        source = Store(path)
    except StoreError as exc:
        raise _store_failed(exc) from None
    from bridge.sync.pgstore import PgStore

    try:
        into = PgStore(stores.conninfo(target))
    except StoreError as exc:
        source.close()
        raise _store_failed(exc) from None
    try:
        yield source, into
    finally:
        into.close()
        source.close()


def _print_copied(copied: Copied) -> None:
    width = max(len(table) for table in copied.rows)
    typer.echo(f"{'table':<{width}}  {'rows':>9}")
    for table, rows in copied.rows.items():
        typer.echo(f"{table:<{width}}  {rows:>9}")
    typer.echo(f"mappings checksum (sha256): {copied.checksum}")


@store_app.command("migrate")
def store_migrate(
    to: Annotated[
        str,
        typer.Option(
            "--to", metavar="URL", help="The PostgreSQL database (postgresql://…, no password)."
        ),
    ],
    password_file: Annotated[
        Path | None,
        typer.Option("--password-file", metavar="PATH", help="A file holding its password."),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Copy and verify, then roll back: no row is left in the target."
        ),
    ] = False,
) -> None:
    """Copy the configured SQLite state into an empty PostgreSQL database, verified (rows per
    table, a checksum of the mappings) before it commits: 0 copied (or, --dry-run, it would
    be), 1 not (nothing is written then), 2 a bad URL or password file. Stop the service
    first."""
    from bridge.runtime.statecopy import CopyRefused, copy_state

    conf = settings()
    path = _source_file(conf)
    target = _target_database(to, password_file)
    with database_lock(path), database_lock(target), _both_stores(path, target) as stores_:
        try:
            copied = copy_state(*stores_, dry_run=dry_run)
        except CopyRefused as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        except psycopg.Error as exc:
            typer.echo(f"error: PostgreSQL refused the copy: {shown(exc, redact=True)};"
                       " nothing was written", err=True)  # fmt: skip
            raise typer.Exit(1) from None
    if dry_run:
        typer.echo(
            f"dry run: {shown(path)} copied into {shown(target)} and verified, then rolled"
            " back; no row was left there (its schema is created, as the bridge's first start"
            " would)"
        )
    else:
        typer.echo(f"copied {shown(path)} into {shown(target)}")
    _print_copied(copied)


@store_app.command("upgrade")
def store_upgrade(
    owner: Annotated[
        str,
        typer.Option(
            "--owner",
            metavar="URL",
            help="The same database as the schema's owner (postgresql://owner@…, no password).",
        ),
    ],
    password_file: Annotated[
        Path | None,
        typer.Option("--password-file", metavar="PATH", help="A file holding its password."),
    ] = None,
) -> None:
    """PostgreSQL with separate roles: apply the schema's migrations as its owner, then grant
    the bridge's role ([bridge] database's user) what it needs and no more (the audit log
    read and appended only, no DDL): 0 done, 1 refused, 2 a bad URL or configuration. Stop
    the service first."""
    from bridge.sync.pgstore import PgStore, grant_runtime

    conf = settings()
    database = conf.bridge.database
    if not isinstance(database, PostgresDatabase):
        message = "store upgrade is for a PostgreSQL state; this one is a SQLite file"
        raise fail_config(ConfigError("bridge.database", message))
    role = psycopg.conninfo.conninfo_to_dict(stores.conninfo(database)).get("user")
    if not role:
        message = "names no user: the role to grant (postgresql://ROLE@host/db)"
        raise fail_config(ConfigError("bridge.database", message))
    target = _target_database(owner, password_file, "--owner")
    with database_lock(target):
        try:
            store = PgStore(stores.conninfo(target))  # migrates, as the owner
        except StoreError as exc:
            raise _store_failed(exc) from None
        try:
            grant_runtime(store.conn, str(role))
            migrations = len(store.applied_migrations())
        except psycopg.Error as exc:
            typer.echo(f"error: PostgreSQL refused: {shown(exc, redact=True)}", err=True)
            raise typer.Exit(1) from None
        finally:
            store.close()
    typer.echo(
        f"schema of {shown(target)} current ({migrations} migrations); role {shown(role)}"
        " may read and write the state, only read and append the audit log, and change no"
        " table"
    )


def _disk_full_message(error: BaseException) -> str:
    """SQLite's full disk is the database's: nothing in it is lost. The system's (writing a
    report, say) leaves the state as it was, and what was being written incomplete."""
    conf: Settings | None = _state.get("settings")
    database = conf.bridge.database if conf else None
    if not isinstance(error, OSError):
        where = f"the disk holding {database}" if database else "the disk"
        return (
            f"error: {where} is full; nothing was lost: every change before it is committed"
            " whole and the one in hand was rolled back (a request already sent is settled"
            " on the next pass). Free some space, then run it again."
        )
    where = f"the disk holding {error.filename}" if error.filename else "the disk"
    return (
        f"error: {where} is full; the state database is as it was, but what was being"
        " written is incomplete. Free some space, then run it again."
    )


def _plain_help(group: typer.Typer) -> None:
    """Click's plain help, in every group: Typer's rich panels print a type instead of a
    metavar (``--json <bool>``, ``--source <list[str]>``) and draw boxes wider than 80
    columns; plain help shows the metavars given (``--source NAME``) and nothing for flags."""
    group.rich_markup_mode = None
    for info in group.registered_groups:
        if info.typer_instance is not None:
            _plain_help(info.typer_instance)


_plain_help(app)


def _no_argument_type(self: Any, ctx: Any) -> str | None:
    """An argument is named by its metavar (``REF``, ``ID``, ``PATH``); Typer would print
    a Python type after it (``REF <str>``), which tells a person nothing."""
    return None


# Typer has no option for this: its arguments' help records ask this method for a type
typer.core.TyperArgument.display_type_rich = _no_argument_type  # type: ignore[method-assign]


def main() -> None:
    """The entry point: every error an operator can act on is one message, never a
    traceback: 2 for a bad configuration, 1 for a database that cannot be opened, that
    went away under the daemon (or, PostgreSQL, its server went away), or a full disk."""
    memory.tune()  # before any thread: the daemon's memory stays flat over a drain
    try:
        app()
    except ConfigError as exc:  # a key checked late, at connect time
        typer.echo(f"configuration error: {exc}", err=True)
        sys.exit(2)
    except StoreError as exc:  # opened outside open_store, or lost under the daemon
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except psycopg.OperationalError as exc:  # the PostgreSQL server went away mid-command
        typer.echo(
            f"error: the PostgreSQL state database failed: {shown(exc, redact=True)}; what was"
            " committed is kept (the rest is done again on the next run)",
            err=True,
        )
        sys.exit(1)
    except (sqlite3.Error, OSError) as exc:
        if not is_disk_full(exc):
            raise
        typer.echo(_disk_full_message(exc), err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
