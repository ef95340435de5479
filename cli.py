"""``lapor-bridge``: the command line (bridge.md, "Commands").

Exit codes: 0 fine; 1 something is left pending, quarantined, in doubt, or
unknown; 2 a bad configuration (one message naming the key). ``quarantine``
exits 0 whatever happens to the record (bridge.md), 1 only for an unknown ID.
Every time printed is RFC 3339 with its offset (in WIB, as ``status`` shows them).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from adapters import registry
from bridge import logs, memory
from bridge import status as status_mod
from bridge.engine import Engine, SourceReport
from bridge.errors import Ambiguous, Rejected, Unavailable
from bridge.ports import LocalSource, RawRecord
from bridge.service import DatabaseLock, LockedError
from bridge.settings import ConfigError, Settings, load_settings
from bridge.store import Store
from bridge.timefmt import display, parse_rfc3339

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
report_app = typer.Typer(help="Reports for auditors.", no_args_is_help=True)
app.add_typer(report_app, name="report")
app.add_typer(config_app, name="config")
app.add_typer(mapping_app, name="mapping")
app.add_typer(quarantine_app, name="quarantine")

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


@contextmanager
def open_store(conf: Settings) -> Iterator[Store]:
    store = Store(conf.bridge.database)
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
            homes=registry.homes(conf),
            poll_floor=timedelta(seconds=conf.bridge.poll_interval_seconds),
        )
        report = engine.sync()
        for item in report.sources.values():
            line = (
                f"{item.name}: seen {item.seen}, created {item.created}, linked {item.linked},"
                f" updated {item.updated}, quarantined {item.quarantined},"
                f" recovered {item.recovered}"
            )
            typer.echo(line + (f" — failed: {item.error}" if item.error else ""))
        for account in report.accounts.values():
            pair = account.pair
            line = (
                f"{account.name}: imported {pair.imported}, responses {pair.to_local},"
                f" statuses {pair.statuses}, polled {pair.polled}"
            )
            typer.echo(line + (f" — failed: {account.error}" if account.error else ""))
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
        engine = Engine(store, sources, nationals, homes=registry.homes(conf))
        report = SourceReport(source)
        raws = _resync_records(local, ids, start)
        with _progress(enabled=not dry_run) as advance:
            for raw in raws:
                if dry_run:
                    typer.echo(engine.describe(local, raw))
                    continue
                try:
                    engine.reconcile(local, raw, report)
                except (Unavailable, Ambiguous, Rejected) as exc:
                    report.error = str(exc)
                    typer.echo(f"{source}:{raw.local_id}: {exc}", err=True)
                    break
                advance()
        if not dry_run and report.error is None:
            engine.write_back_pending(local)
        counts = store.counts(source)
    registry.close_all(sources, nationals)
    if not dry_run:
        typer.echo(
            f"{source}: seen {report.seen}, created {report.created}, linked {report.linked},"
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
                typer.echo(f"{local.name}:{local_id}: the app does not know this record", err=True)
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
    with open_store(conf) as store:
        entries = store.quarantined()
    if not entries:
        typer.echo("quarantine is empty")
    for entry in entries:
        typer.echo(
            f"{entry['id']:>5}  {entry['source']}:{entry['local_id']}  attempts {entry['attempts']}"
            f"  first {when(entry['first_seen'])}  last {when(entry['last_seen'])}"
            f"  {entry['reason']}"
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
    with open_store(conf) as store:
        entry = _entry(store, entry_id)
    typer.echo(f"record:   {entry['source']}:{entry['local_id']}")
    typer.echo(f"state:    {entry['state']}")
    typer.echo(f"reason:   {entry['reason']}")
    typer.echo(f"seen:     first {when(entry['first_seen'])}, last {when(entry['last_seen'])}")
    typer.echo(f"attempts: {entry['attempts']}")
    typer.echo("raw payload (personal data masked):")
    typer.echo(
        json.dumps(logs.redact_value(json.loads(entry["raw"])), indent=2, ensure_ascii=False)
    )


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
        engine = Engine(store, sources, nationals, homes=registry.homes(conf))
        report = SourceReport(local.name)
        try:
            raw = local.fetch(entry["local_id"]) or RawRecord(
                entry["local_id"], json.loads(entry["raw"])
            )
            engine.reconcile(local, raw, report)
            engine.write_back_pending(local)
        except (Unavailable, Ambiguous, Rejected) as exc:
            # the record stays where it was; the command itself has done its job
            typer.echo(f"retry failed: {exc}", err=True)
        finally:
            registry.close_all(sources, nationals)
        still = store.quarantine_entry(entry_id)
    if still is not None and still["state"] == "open":
        typer.echo(f"still quarantined: {still['reason']}")
        return
    typer.echo(f"{entry['source']}:{entry['local_id']}: processed, out of quarantine")


@quarantine_app.command("drop")
def quarantine_drop(entry_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """Give up on a record (audited); it comes back only if the app changes it."""
    conf = settings()
    with open_store(conf) as store:
        entry = _entry(store, entry_id)
        with store.atomic():
            store.release_quarantine(entry["source"], entry["local_id"], "dropped")
            store.event("quarantine_dropped", entry["source"], entry["local_id"], entry=entry_id)
    typer.echo(f"dropped {entry['source']}:{entry['local_id']}")


@contextmanager
def _output(out: Path | None) -> Iterator[Any]:
    if out is None:
        yield sys.stdout
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8", newline="") as stream:
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
    with open_store(conf) as store, _output(out) as stream:
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
    with open_store(conf) as store, _output(out) as stream:
        sla.write_report(store, fmt, stream, year=year, sources=tuple(source or ()))


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object (bridge.md).")] = False,
) -> None:
    """The state of every source and account; exit 1 when degraded."""
    conf = settings()
    with open_store(conf) as store:
        state = status_mod.collect(
            store, conf.sources, conf.lapor.accounts, conf.bridge.poll_interval_seconds
        )
    if as_json:
        typer.echo(json.dumps(state, indent=2))
    else:
        _print_status(state)
    raise typer.Exit(0 if state["healthy"] else 1)


def _print_status(state: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title="lapor-bridge status")
    columns = (
        "source", "last pull", "cursor", "mapped", "pending", "quarantined", "in doubt",
        "TOPIK LAINNYA",
    )  # fmt: skip
    for column in (*columns, "polled", "error"):
        table.add_column(column)
    for name, row in state["sources"].items():
        seen = [p["last_seen_at"] for p in row["polled"] if p["last_seen_at"]]
        polled = str(row["tracked_by_polling"]) + (f" (oldest seen {min(seen)})" if seen else "")
        table.add_row(
            name,
            row["last_pull_at"] or "never",
            (row["cursor"] or "")[:25],
            str(row["mapped"]),
            str(row["pending"]),
            str(row["quarantined"]),
            str(row["in_doubt"]),
            str(row["topik_lainnya"]),
            polled,
            row["last_error"] or "",
        )
    console.print(table)
    accounts = Table(title="LAPOR accounts")
    for column in ("account", "last pull", "pending", "error"):
        accounts.add_column(column)
    for name, row in state["accounts"].items():
        accounts.add_row(
            name, row["last_pull_at"] or "never", str(row["pending"]), row["last_error"] or ""
        )
    console.print(accounts)
    verdict = "healthy" if state["healthy"] else "DEGRADED"
    console.print(f"[bold]{verdict}[/bold]")
    for problem in state["problems"]:
        console.print(f"  - {problem}")
    for note in state["notes"]:
        console.print(f"  note: {note}")


@mapping_app.command("show")
def mapping_show(
    ref: Annotated[str, typer.Argument(help="SOURCE:LOCAL_ID or #TRACKING_ID")],
) -> None:
    """Both sides of a mapping and its history; exit 1 if unknown."""
    conf = settings()
    with open_store(conf) as store:
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
            typer.echo(f"{row['source']}:{row['local_id']} ↔ #{row['national_id']}")
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
                typer.echo(f"  {key}: {when(value) if key.endswith('_at') else value}")
            decisions = store.dedupe_decisions(row["source"], row["local_id"])
            if decisions:
                typer.echo("  duplicate checks (rule, score, merged, against):")
                for d in decisions:
                    typer.echo(
                        f"    {when(d['at'])}  {d['rule']}  {d['score']:.3f}"
                        f"  {'merged' if d['merged'] else 'kept apart'}  {d['candidate_of'] or ''}"
                    )
            typer.echo("  history:")
            for event in store.events_for(row["source"], row["local_id"], row["national_id"]):
                typer.echo(f"    {when(event['at'])}  {event['kind']}  {event['detail']}")


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
            yield Engine(store, sources, nationals, homes=registry.homes(conf)), sources[source]
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
            typer.echo(str(exc), err=True)
            raise typer.Exit(1) from None
        except (Unavailable, Ambiguous, Rejected) as exc:
            typer.echo(f"{ref}: {exc}", err=True)
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
            typer.echo(str(exc), err=True)
            raise typer.Exit(1) from None
        except (Unavailable, Ambiguous, Rejected) as exc:
            typer.echo(f"{ref}: {exc}", err=True)
            raise typer.Exit(1) from None
    typer.echo(f"{ref} linked to #{tracking.lstrip('#')}")


@config_app.command("check")
def config_check() -> None:
    """Validate the file and reach every system with its credentials: 0 ok, 2 not."""
    conf = settings()
    failures = 0
    for name, national in registry.connect_nationals(conf).items():
        try:
            national.check()
            typer.echo(f"lapor.accounts.{name}: ok")
        except (Unavailable, Rejected) as exc:
            failures += 1
            typer.echo(f"lapor.accounts.{name}: {exc}", err=True)
        finally:
            national.close()
    for name, source in registry.connect_sources(conf).items():
        try:
            next(iter(source.pull(None)), None)
            typer.echo(f"sources.{name}: ok")
        except (Unavailable, Rejected) as exc:
            failures += 1
            typer.echo(f"sources.{name}: {exc}", err=True)
        finally:
            source.close()
    raise typer.Exit(2 if failures else 0)


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


def main() -> None:
    memory.tune()  # before any thread: the daemon's memory stays flat over a drain
    try:
        app()
    except ConfigError as exc:  # a key checked late, at connect time
        typer.echo(f"configuration error: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
