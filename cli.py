"""``lapor-bridge``: the command line (bridge.md, "Commands").

Exit codes: 0 fine; 1 something is left pending, quarantined, in doubt, or
unknown; 2 a bad configuration (one message naming the key).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from adapters import registry
from bridge import logs
from bridge import status as status_mod
from bridge.engine import Engine
from bridge.errors import Rejected, Unavailable
from bridge.settings import ConfigError, Settings, load_settings
from bridge.store import Store

app = typer.Typer(
    name="lapor-bridge",
    help="Sync city complaint apps with LAPOR-SP4N.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
config_app = typer.Typer(help="Check the configuration.", no_args_is_help=True)
mapping_app = typer.Typer(help="Look up the mapping of local records to national complaints.")
app.add_typer(config_app, name="config")
app.add_typer(mapping_app, name="mapping")

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
    with open_store(conf) as store:
        engine = Engine(store, sources, nationals, homes=registry.homes(conf))
        report = engine.sync()
        for item in report.sources.values():
            line = (
                f"{item.name}: seen {item.seen}, created {item.created}, linked {item.linked},"
                f" updated {item.updated}, quarantined {item.quarantined},"
                f" recovered {item.recovered}"
            )
            typer.echo(line + (f" — failed: {item.error}" if item.error else ""))
        clean = report.ok and all(
            not (c["pending"] or c["quarantined"] or c["in_doubt"])
            for c in (store.counts(name) for name in sources)
        )
    registry.close_all(sources, nationals)
    raise typer.Exit(0 if clean else 1)


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
    for column in ("source", "last pull", "mapped", "pending", "quarantined", "in doubt", "error"):
        table.add_column(column)
    for name, row in state["sources"].items():
        table.add_row(
            name,
            row["last_pull_at"] or "never",
            str(row["mapped"]),
            str(row["pending"]),
            str(row["quarantined"]),
            str(row["in_doubt"]),
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
                typer.echo(f"  {key}: {row[key] if row[key] is not None else ''}")
            typer.echo("  history:")
            for event in store.events_for(row["source"], row["local_id"], row["national_id"]):
                typer.echo(f"    {event['at']}  {event['kind']}  {event['detail']}")


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
    try:
        app()
    except ConfigError as exc:  # a key checked late, at connect time
        typer.echo(f"configuration error: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
