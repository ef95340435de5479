"""``lapor-bridge``: the command line (bridge.md, "Commands").

Exit codes: 0 fine; 1 something is left pending, quarantined, in doubt, or
unknown; 2 a bad configuration (one message naming the key). ``quarantine``
exits 0 whatever happens to the record (bridge.md), 1 only for an unknown ID.
Every time printed is RFC 3339 with its offset (in WIB, as ``status`` shows them).
"""

from __future__ import annotations

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
from typing import Annotated, Any

import typer

from adapters import registry
from adapters.lapor.client import CapabilityMissing
from bridge import logs, memory
from bridge import status as status_mod
from bridge.engine import Engine, SourceReport
from bridge.errors import Ambiguous, Rejected, Unavailable
from bridge.ports import LocalSource, RawRecord
from bridge.service import DatabaseLock, LockedError
from bridge.settings import CAPABILITIES, ConfigError, Settings, config_warnings, load_settings
from bridge.store import DatabaseMissing, Store, StoreError, file_identity, is_disk_full
from bridge.text import clean
from bridge.timefmt import display, parse_rfc3339, utcnow

app = typer.Typer(
    name="lapor-bridge",
    help="Sync city complaint apps with LAPOR-SP4N.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
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


@contextmanager
def writer_lock(conf: Settings) -> Iterator[None]:
    """One writer per database: a second ``run``/``sync``/``resync`` gets a clear message."""
    lock = DatabaseLock(conf.bridge.database)
    try:
        lock.acquire()
    except LockedError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    try:
        yield
    finally:
        lock.release()


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
    typer.echo(f"error: {error}", err=True)
    return typer.Exit(1)


@contextmanager
def open_store(conf: Settings) -> Iterator[Store]:
    """The store for a command that writes: created (0600) and migrated when needed. A
    file that cannot be opened is one message and exit 1."""
    try:
        store = Store(conf.bridge.database)
    except StoreError as exc:
        raise _store_failed(exc) from None
    try:
        yield store
    finally:
        store.close()


@contextmanager
def open_existing(conf: Settings, *, write: bool = False) -> Iterator[Store]:
    """The store, never created (bridge.md: a command that only reads never creates a
    database): on a missing one, one message and exit 1; likewise on a file or folder this
    user cannot read, or a schema older than the code (a read does not migrate).

    Read-only (SQLite ``mode=ro``; a copy in a folder nobody may write is read as an
    immutable snapshot) unless ``write``: a command that records a decision in an
    existing database (``indoubt resolve``) opens it as a writer, still never creating
    it. SQLite's busy timeout waits out a writer (the daemon) instead of failing."""
    path = Path(conf.bridge.database)
    try:
        if write:
            if file_identity(path) is None:
                raise DatabaseMissing(f"no database at {path}; has the bridge run?")
            store = Store(path)
        else:
            store = Store(path, readonly=True)
    except StoreError as exc:
        raise _store_failed(exc) from None
    except OSError as exc:  # file_identity: a folder this user may not enter
        error = StoreError(f"cannot read the database at {path}: {exc.strerror}")
        raise _store_failed(error) from None
    try:
        yield store
    finally:
        store.close()


@app.callback()
def main_options(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", help="TOML configuration (default $LAPOR_BRIDGE_CONFIG, ./config.toml)"
        ),
    ] = None,
) -> None:
    _state.clear()
    _state["config"] = config


@app.command()
def sync(
    source: Annotated[
        list[str] | None, typer.Option("--source", help="Only these sources (repeatable).")
    ] = None,
) -> None:
    """One full pass, then exit: 0 when nothing is left pending, quarantined or in doubt."""
    conf = settings()
    try:
        sources = registry.connect_sources(conf, source)
    except ConfigError as exc:
        raise fail_config(exc) from None
    nationals = registry.connect_nationals(conf)
    with writer_lock(conf), open_store(conf) as store:
        engine = Engine(
            store,
            sources,
            nationals,
            **registry.engine_options(conf),
            poll_floor=timedelta(seconds=conf.bridge.poll_interval_seconds),
        )
        report = engine.sync()
        for item in report.sources.values():
            line = (
                f"{item.name}: seen {item.seen}, created {item.created}, linked {item.linked},"
                f" updated {item.updated}, quarantined {item.quarantined},"
                f" recovered {item.recovered}"
            )
            failed = f" — failed: {shown(item.error, redact=True)}" if item.error else ""
            typer.echo(shown(line) + failed)
        for account in report.accounts.values():
            pair = account.pair
            line = (
                f"{account.name}: imported {pair.imported}, responses {pair.to_local},"
                f" statuses {pair.statuses}, polled {pair.polled}"
            )
            failed = f" — failed: {shown(account.error, redact=True)}" if account.error else ""
            typer.echo(shown(line) + failed)
        clean = report.ok and all(
            not (c["pending"] or c["quarantined"] or c["in_doubt"])
            for c in (store.counts(name) for name in sources)
        )
    registry.close_all(sources, nationals)
    raise typer.Exit(0 if clean else 1)


@app.command()
def run() -> None:
    """The daemon: passes every poll interval; exits 0 on SIGTERM/SIGINT."""
    from bridge.daemon import Daemon

    conf = settings()
    for warning in config_warnings(conf):
        logs.get_logger("bridge.config").warning("config_warning", warning=warning)
    with writer_lock(conf):
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
            poll_budget=conf.lapor.poll_budget,
            http_listen=conf.bridge.http_listen,
        )
        try:
            code = daemon.run()
        finally:
            registry.close_all(sources, nationals)
    raise typer.Exit(code)


@app.command()
def resync(
    source: Annotated[str, typer.Option("--source", help="The source to re-read.")],
    ids: Annotated[
        list[str] | None, typer.Option("--id", help="Only these local ids (repeatable).")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Records changed since TIME (RFC 3339; a date is WIB).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan only.")] = False,
) -> None:
    """Re-read local records and reconcile them with LAPOR; never a second national complaint."""
    conf = settings()
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
        with _progress(enabled=not dry_run) as advance:
            for raw in raws:
                if dry_run:
                    typer.echo(shown(engine.describe(local, raw)))
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
    if not dry_run:
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
def _progress(enabled: bool) -> Iterator[Callable[[], None]]:
    """A progress counter on a terminal; nothing in a pipe."""
    if not (enabled and sys.stderr.isatty()):
        yield lambda: None
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn

    with Progress(
        SpinnerColumn(), TextColumn("{task.completed} records reconciled"), transient=True
    ) as progress:
        task = progress.add_task("resync", total=None)
        yield lambda: progress.advance(task)


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
            f"{entry['id']:>5}  {shown(entry['source'])}:{shown(entry['local_id'])}"
            f"  attempts {entry['attempts']}"
            f"  first {shown(when(entry['first_seen']))}  last {shown(when(entry['last_seen']))}"
            f"  {shown(entry['reason'])}"
        )


def _entry(store: Store, entry_id: int) -> dict[str, Any]:
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
    typer.echo(f"record:   {shown(entry['source'])}:{shown(entry['local_id'])}")
    typer.echo(f"state:    {shown(entry['state'])}")
    typer.echo(f"reason:   {shown(entry['reason'])}")
    first, last = shown(when(entry["first_seen"])), shown(when(entry["last_seen"]))
    typer.echo(f"seen:     first {first}, last {last}")
    typer.echo(f"attempts: {entry['attempts']}")
    typer.echo("raw payload (personal data masked):")
    payload = logs.redact_value(json.loads(entry["raw"]))
    typer.echo(shown_block(json.dumps(payload, indent=2, ensure_ascii=False)))


@quarantine_app.command("retry")
def quarantine_retry(entry_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """Run one record through normalization and sync again (fresh from the app when it can).

    Exits 0 whatever the outcome (bridge.md), which it prints: out of quarantine, or still
    in it with the reason.
    """
    conf = settings()
    with open_store(conf) as store:
        entry = _entry(store, entry_id)
    sources = registry.connect_sources(conf, [entry["source"]])
    nationals = registry.connect_nationals(conf)
    local = sources[entry["source"]]
    with writer_lock(conf), open_store(conf) as store:
        engine = Engine(store, sources, nationals, **registry.engine_options(conf))
        report = SourceReport(local.name)
        try:
            raw = local.fetch(entry["local_id"])
            kept = json.loads(entry["raw"])
            if raw is None and kept is None:
                # a closed entry's raw record is forgotten (dropped or resolved): only the
                # app can give the record again
                typer.echo(
                    f"retry failed: the app no longer has {shown(entry['source'])}:"
                    f"{shown(entry['local_id'])}, and the entry ({shown(entry['state'])})"
                    " keeps no copy of it",
                    err=True,
                )
                return
            engine.reconcile(local, raw or RawRecord(entry["local_id"], kept), report)
            engine.write_back_pending(local)
        except (Unavailable, Ambiguous, Rejected) as exc:
            # the record stays where it was; the command itself has done its job
            typer.echo(f"retry failed: {shown(exc, redact=True)}", err=True)
        finally:
            registry.close_all(sources, nationals)
        still = store.quarantine_entry(entry_id)
    if still is not None and still["state"] == "open":
        typer.echo(f"still quarantined: {shown(still['reason'])}")
        return
    typer.echo(f"{shown(entry['source'])}:{shown(entry['local_id'])}: processed, out of quarantine")


@quarantine_app.command("drop")
def quarantine_drop(entry_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """Give up on a record (audited); it comes back only if the app changes it.

    The raw record is forgotten; the reason, times and attempts stay for the audit.
    """
    conf = settings()
    with open_store(conf) as store:
        entry = _entry(store, entry_id)
        with store.atomic():
            store.release_quarantine(entry["source"], entry["local_id"], "dropped")
            store.event("quarantine_dropped", entry["source"], entry["local_id"], entry=entry_id)
    typer.echo(f"dropped {shown(entry['source'])}:{shown(entry['local_id'])}")


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


def _followup_next(row: dict[str, Any]) -> str:
    tracking = f"#{row['national_id']}"
    decision = row.get("decision")
    if decision == "posted":
        return "it is marked done without posting it"
    if decision == "not_posted" or row.get("kind") == "reject":
        return f"it is posted to {tracking} again, without looking first"
    return f"{tracking}'s follow-ups are read; it is posted again only if it is not among them"


def _last_decisions(store: Store, items: list[dict[str, Any]]) -> dict[tuple[str, str], Any]:
    """Who recorded each waiting decision and when: the last ``indoubt_decision`` event of
    the record (of the follow-up's row, for a follow-up)."""
    found: dict[tuple[str, str], Any] = {}
    for item in items:
        if not item.get("decision"):
            continue
        for event in store.events_for(item["source"], item["local_id"], None):
            if event["kind"] != "indoubt_decision" or event["local_id"] != item["local_id"]:
                continue
            detail = json.loads(event["detail"] or "{}")
            row = detail.get("followup")
            if (item["type"] == "followup") != (row is not None):
                continue
            if row is not None and row != item["id"]:
                continue
            found[(item["type"], str(item["id"]))] = {"by": detail.get("by"), "at": event["at"]}
    return found


def _indoubt_rows(store: Store, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``indoubt list``'s rows: what an operator needs to look on LAPOR and decide."""
    decided = _last_decisions(store, items)
    rows: list[dict[str, Any]] = []
    for item in items:
        record = f"{item['source']}:{item['local_id']}"
        who = decided.get((item["type"], str(item["id"]))) or {}
        common = {
            "source": item["source"],
            "local_id": item["local_id"],
            "record": record,
            "attempts": item["attempts"],
            "last_error": item["last_error"],
            "decision": item["decision"],
            "decided_by": who.get("by"),
            "decided_at": when(who.get("at")) or None,
        }
        if item["type"] == "create":
            rows.append(
                {
                    "type": "create",
                    "id": record,
                    **common,
                    "account": item["account"],
                    "tag": item["tag"],
                    "since": when(item["sent_at"] or item["created_at"]) or None,
                    "may_apply_until": when(item["deadline"]) or None,
                    "tried": item["evidence"],
                    "next_pass": _create_next(record, item["decision"]),
                }
            )
        else:
            rows.append(
                {
                    "type": "followup",
                    "id": f"f{item['id']}",
                    **common,
                    "tracking_id": f"#{item['national_id']}",
                    "kind": item["kind"],
                    "since": when(item["updated_at"]) or None,
                    "tried": (
                        f"posted to #{item['national_id']} ({item['attempts']} attempt(s));"
                        " the answer was lost"
                    ),
                    "next_pass": _followup_next(item),
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
            listed = sum(1 for item in items if item["source"] == name)
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
) -> None:
    """Record an operator's decision on a record in doubt; the next pass acts on it.

    A create: REF is SOURCE:ID, with exactly one of --tracking '#N' and --not-created.

    A follow-up: REF is fN as indoubt list shows it (e.g. f17): one of --posted, --not-posted.

    Works while the daemon runs (no lock); every decision is audited with the OS user.

    Exit 0 recorded, 1 not in doubt, 2 bad usage.
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
        else:
            lines = _decide_create(store, source, local_id, decision, national_id, user)
    for line in lines:
        typer.echo(line)


def _not_in_doubt(message: str) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(1)


def _decide_create(
    store: Store, source: str, local_id: str, decision: str, national_id: int | None, user: str
) -> list[str]:
    ref = shown(f"{source}:{local_id}")
    item = next(
        (
            i
            for i in store.in_doubt(source)
            if i["type"] == "create" and str(i["local_id"]) == local_id
        ),
        None,
    )
    if item is None:
        mapping = store.mapping(source, local_id)
        why = ""
        if mapping is not None and mapping["national_id"] is not None:
            why = f": it is mapped to #{mapping['national_id']}"
        elif store.pending_intent(source, local_id, "create") is not None:
            why = ": its create has not been sent yet (the next pass posts it)"
        raise _not_in_doubt(f"{ref} has no create in doubt{why}")
    if national_id is not None:
        owner = store.mapping_by_national(national_id)
        if owner is not None and (owner["source"], owner["local_id"]) != (source, local_id):
            raise _not_in_doubt(
                f"#{national_id} is already the complaint of"
                f" {shown(owner['source'])}:{shown(owner['local_id'])}; nothing recorded"
                " (mapping show '#N' to look)"
            )
    earlier = item["decision"]
    store.decide(item["id"], decision)
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
    elif item["deadline"] and parse_rfc3339(item["deadline"]) > utcnow():
        lines.append(
            f"warning: LAPOR may still apply the earlier create until {when(item['deadline'])};"
            " if it does, LAPOR will hold two complaints."
        )
    return lines


def _decide_followup(store: Store, row_id: int, decision: str, user: str) -> list[str]:
    row = store.followup_row(row_id)
    if row is None:
        raise _not_in_doubt(f"no follow-up f{row_id}")
    in_doubt = any(
        i["type"] == "followup" and i["id"] == row_id for i in store.in_doubt(row["source"])
    )
    if not in_doubt:
        state = "done" if row["state"] == "done" else f"{row['state']}, not in doubt"
        raise _not_in_doubt(f"follow-up f{row_id} is not in doubt ({shown(state)})")
    earlier = row["decision"]
    store.decide_followup(row_id, decision)
    store.event(
        "indoubt_decision",
        row["source"],
        row["local_id"],
        row["national_id"],
        decision=decision,
        by=user,
        followup=row_id,
        **({"replaces": earlier} if earlier and earlier != decision else {}),
    )
    record = shown(f"{row['source']}:{row['local_id']}")
    lines = [
        f"follow-up f{row_id} ({record} → #{row['national_id']}): recorded, by"
        f" {shown(user)}: {_decision_text(decision)}"
    ]
    if earlier and earlier != decision:
        lines.append(f"  (replaces the earlier decision: {_decision_text(earlier)})")
    lines.append(f"At the next pass {_followup_next({**row, 'decision': decision})}.")
    return lines


@contextmanager
def _output(out: Path | None) -> Iterator[Any]:
    """Standard output, or ``out`` created (or narrowed) to ``0600``: a report is the
    state's metadata, for the operator's eyes."""
    from bridge.report import private_file

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


@app.command()
def export(
    fmt: Annotated[str, typer.Option("--format", help="csv, json or html")] = "csv",
    out: Annotated[Path | None, typer.Option("--out", help="File (default: stdout).")] = None,
    source: Annotated[list[str] | None, typer.Option("--source", help="Only these.")] = None,
    since: Annotated[str | None, typer.Option(help="Filed at or after TIME.")] = None,
    until: Annotated[str | None, typer.Option(help="Filed before TIME.")] = None,
) -> None:
    """The reconciliation report: one row per local record and per national-only complaint."""
    from bridge import report

    conf = settings()
    start, end = _times(since, until)
    if fmt not in report.FORMATS:
        typer.echo(f"--format: one of {', '.join(report.FORMATS)}", err=True)
        raise typer.Exit(2)
    with open_existing(conf) as store, _output(out) as stream:
        count = report.export(store, fmt, stream, sources=source or (), since=start, until=end)
    if out is not None:
        typer.echo(f"{count} rows written to {out}", err=True)


@report_app.command("sla")
def report_sla(
    fmt: Annotated[str, typer.Option("--format", help="text, json or csv")] = "text",
    year: Annotated[int | None, typer.Option(help="Only complaints filed in YYYY.")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="File (default: stdout).")] = None,
    source: Annotated[list[str] | None, typer.Option("--source", help="Only these.")] = None,
) -> None:
    """Response times per agency and per source, in working days, with the broken promises."""
    from bridge import sla

    conf = settings()
    if fmt not in sla.SLA_FORMATS:
        typer.echo(f"--format: one of {', '.join(sla.SLA_FORMATS)}", err=True)
        raise typer.Exit(2)
    with open_existing(conf) as store, _output(out) as stream:
        sla.write_report(store, fmt, stream, year=year, sources=tuple(source or ()))


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object (bridge.md).")] = False,
) -> None:
    """The state of every source and account; exit 1 when degraded."""
    conf = settings()
    with open_existing(conf) as store:
        state = status_mod.collect(
            store,
            conf.sources,
            conf.lapor.accounts,
            conf.bridge.poll_interval_seconds,
            capabilities=conf.lapor.capabilities,
        )
    if as_json:
        typer.echo(json.dumps(state, indent=2))
    else:
        _print_status(state)
    raise typer.Exit(0 if state["healthy"] else 1)


def _age(since: str | None, now: str) -> str:
    """How long ago, for people: ``45 s``, ``12 min``, ``3 h 5 min``, ``2 d 4 h``."""
    if not since:
        return ""
    seconds = max(0, int((parse_rfc3339(now) - parse_rfc3339(since)).total_seconds()))
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 60:
        return f"{seconds} s"
    if minutes < 60:
        return f"{minutes} min"
    if hours < 24:
        return f"{hours} h {minutes % 60} min"
    return f"{days} d {hours % 24} h"


def _print_status(state: dict[str, Any]) -> None:
    """``status`` for people, in 80 columns: a block per source and account, the LAPOR
    profile, what is unknown, then the verdict with its reasons."""

    def say(text: str, indent: str = "", hang: str = "    ") -> None:
        for wrapped in textwrap.wrap(
            text, width=WIDTH, initial_indent=indent, subsequent_indent=hang
        ):
            typer.echo(wrapped)

    typer.echo(f"lapor-bridge status, checked {state['checked_at']}")
    for name, row in state["sources"].items():
        typer.echo(f"source {shown(name)}")
        pulled = row["last_pull_at"] or "never"
        if row["cursor"]:
            pulled += f" (cursor {shown(row['cursor'])[:25]})"
        _say("last pull", pulled)
        _say(
            "records",
            f"mapped {row['mapped']}, pending {row['pending']},"
            f" quarantined {row['quarantined']}, in doubt {row['in_doubt']},"
            f" TOPIK LAINNYA {row['topik_lainnya']}",
        )
        if row.get("photos"):
            _say("late photos", "waiting {waiting}, given up {given_up}".format(**row["photos"]))
        view = row.get("view")
        if view is not None:
            # the bridge's view of its open complaints on LAPOR, each read by id
            if not view["open"]:
                _say("read by id", "no open complaint")
            else:
                oldest = view["oldest_seen_at"]
                age = f" ({_age(oldest, state['checked_at'])} ago)" if oldest else ""
                _say(
                    "read by id",
                    f"{view['open']} open, oldest view {oldest or 'none'}{age},"
                    f" {view['never_read']} never read",
                )
        if row["last_error"]:
            _say("error", shown(row["last_error"], redact=True))
    for name, row in state["accounts"].items():
        typer.echo(f"account {shown(name)}")
        _say("last pull", f"{row['last_pull_at'] or 'never'}, pending {row['pending']}")
        if row["last_error"]:
            _say("error", shown(row["last_error"], redact=True))
    lapor = state.get("lapor")
    if lapor:
        listed = ", ".join(lapor["capabilities"]) or "no capabilities"
        typer.echo(f"LAPOR profile: {lapor['profile']} ({listed})")
        for sentence in lapor["assumptions"]:
            say(sentence, "  - ")
    unknown = state.get("unknown_status_names") or []
    if unknown:
        typer.echo("Unknown LAPOR status names seen (they move no status):")
        for item in unknown:
            name = "(no name)" if item["name"] is None else repr(shown(item["name"]))
            say(f"{name} on {item['complaints']} complaint(s), last {item['last_seen_at']}", "  - ")
    typer.echo("healthy" if state["healthy"] else "DEGRADED")
    for problem in state["problems"]:
        say(shown(problem, redact=True), "  - ")
    for note in state["notes"]:
        say(f"note: {shown(note, redact=True)}", "  ")


@mapping_app.command("show")
def mapping_show(
    ref: Annotated[str, typer.Argument(help="SOURCE:LOCAL_ID or #TRACKING_ID")],
) -> None:
    """Both sides of a mapping and its history; exit 1 if unknown."""
    conf = settings()
    with open_existing(conf) as store:
        if ref.startswith("#") and ref[1:].isdigit():
            rows = store.mappings_for_national(int(ref[1:]))
        elif ":" in ref:
            source, local_id = ref.split(":", 1)
            row = store.mapping(source, local_id)
            rows = [row] if row else []
        else:
            typer.echo("REF is SOURCE:LOCAL_ID or #TRACKING_ID", err=True)
            raise typer.Exit(1)
        if not rows:
            typer.echo(f"{ref}: no such mapping", err=True)
            raise typer.Exit(1)
        for row in rows:
            typer.echo(f"{shown(row['source'])}:{shown(row['local_id'])} ↔ #{row['national_id']}")
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
                value = row[key] if row[key] is not None else ""
                typer.echo(f"  {key}: {shown(when(value) if key.endswith('_at') else value)}")
            decisions = store.dedupe_decisions(row["source"], row["local_id"])
            if decisions:
                typer.echo("  duplicate checks (rule, score, merged, against):")
                for d in decisions:
                    typer.echo(
                        f"    {shown(when(d['at']))}  {shown(d['rule'])}  {d['score']:.3f}"
                        f"  {'merged' if d['merged'] else 'kept apart'}  {shown(d['candidate_of'])}"
                    )
            typer.echo("  history:")
            for event in store.events_for(row["source"], row["local_id"], row["national_id"]):
                typer.echo(
                    f"    {shown(when(event['at']))}  {shown(event['kind'])}"
                    f"  {shown(event['detail'])}"
                )


def _record_ref(ref: str) -> tuple[str, str]:
    source, sep, local_id = ref.partition(":")
    if not sep or not local_id:
        typer.echo("REF is SOURCE:LOCAL_ID", err=True)
        raise typer.Exit(1)
    return source, local_id


@contextmanager
def _one_source_engine(conf: Settings, source: str) -> Iterator[tuple[Engine, LocalSource]]:
    try:
        sources = registry.connect_sources(conf, [source])
    except ConfigError as exc:
        raise fail_config(exc) from None
    nationals = registry.connect_nationals(conf)
    try:
        with writer_lock(conf), open_store(conf) as store:
            yield (
                Engine(store, sources, nationals, **registry.engine_options(conf)),
                sources[source],
            )
    finally:
        registry.close_all(sources, nationals)


@mapping_app.command("split")
def mapping_split(
    ref: Annotated[str, typer.Argument(help="SOURCE:LOCAL_ID of a merged record")],
) -> None:
    """Undo a merge: the record gets its own national complaint (once); audited."""
    conf = settings()
    source, local_id = _record_ref(ref)
    with _one_source_engine(conf, source) as (engine, local):
        try:
            national_id = engine.split(local, local_id, SourceReport(source))
        except ValueError as exc:
            typer.echo(shown(exc), err=True)
            raise typer.Exit(1) from None
        except (Unavailable, Ambiguous, Rejected) as exc:
            typer.echo(f"{shown(ref)}: {shown(exc, redact=True)}", err=True)
            raise typer.Exit(1) from None
    typer.echo(f"{ref} now has its own national complaint #{national_id}")


@mapping_app.command("link")
def mapping_link(
    ref: Annotated[str, typer.Argument(help="SOURCE:LOCAL_ID")],
    tracking: Annotated[str, typer.Argument(help="#TRACKING_ID")],
) -> None:
    """Link an unmapped or merged record to a national complaint by hand; audited."""
    conf = settings()
    source, local_id = _record_ref(ref)
    if not tracking.lstrip("#").isdigit():
        typer.echo("TRACKING is #NNNNNNN", err=True)
        raise typer.Exit(1)
    with _one_source_engine(conf, source) as (engine, local):
        try:
            engine.link_by_hand(local, local_id, int(tracking.lstrip("#")), SourceReport(source))
        except ValueError as exc:
            typer.echo(shown(exc), err=True)
            raise typer.Exit(1) from None
        except (Unavailable, Ambiguous, Rejected) as exc:
            typer.echo(f"{shown(ref)}: {shown(exc, redact=True)}", err=True)
            raise typer.Exit(1) from None
    typer.echo(f"{ref} linked to #{tracking.lstrip('#')}")


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
        nationals = registry.connect_nationals(conf)
    except ConfigError as exc:
        raise fail_config(exc) from None
    probes: dict[str, dict[str, str] | None] = {}
    for name, national in nationals.items():
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
    for name, source in registry.connect_sources(conf).items():
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
        Path, typer.Option(help="Where the demo writes its config, database and report.")
    ] = Path("demo-out"),
    complaints: Annotated[int, typer.Option(help="Sample complaints per app.")] = 40,
) -> None:
    """Start the sandboxes with sample data, run the bridge against them, print the status."""
    from adapters.demo import run_demo

    raise typer.Exit(run_demo(workdir, complaints))


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


def main() -> None:
    """The entry point: every error an operator can act on is one message, never a
    traceback: 2 for a bad configuration, 1 for a database that cannot be opened, that
    went away under the daemon, or a full disk."""
    memory.tune()  # before any thread: the daemon's memory stays flat over a drain
    try:
        app()
    except ConfigError as exc:  # a key checked late, at connect time
        typer.echo(f"configuration error: {exc}", err=True)
        sys.exit(2)
    except StoreError as exc:  # opened outside open_store, or lost under the daemon
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except (sqlite3.Error, OSError) as exc:
        if not is_disk_full(exc):
            raise
        typer.echo(_disk_full_message(exc), err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
