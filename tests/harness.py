"""A world of sandboxes on loopback and a bridge configured against them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from adapters import registry
from adapters.sandbox.lapor import LaporSandbox
from adapters.sandbox.tanjak import TanjakSandbox
from bridge.runtime.http import RetryPolicy
from bridge.runtime.settings import Settings, load_settings
from bridge.sync.engine import Engine, PassReport
from bridge.sync.store import Store
from bridge.sync.storeport import StateStore

LAPOR_SECRET = "sandbox-secret-tpi"
LAPOR_TOKEN = "{6f1c2a9e-1b7d-4c1e-9d51-2b1f0c7e8a11}"
LAPOR_USER = 100001
TANJAK_KEY = "tanjak-test-key"
FAST = RetryPolicy(attempts=6, initial=0.01, maximum=0.05)


@contextmanager
def open_engine(config: Path, crash_hook: Callable[[str], None] | None = None) -> Iterator[Engine]:
    """An engine in this process as ``lapor-bridge sync`` builds it (fast retries, every
    complaint polled each pass), on a connection and clients of its own, as one worker of
    the daemon has; closed on leaving."""
    settings = load_settings(config)
    sources = registry.connect_sources(settings, policy=FAST)
    nationals = registry.connect_nationals(settings, policy=FAST)
    store = Store(settings.bridge.database)
    try:
        yield Engine(
            store,
            sources,
            nationals,
            **registry.engine_options(settings),
            crash_hook=crash_hook,
            poll_floor=timedelta(0),
        )
    finally:
        store.close()
        registry.close_all(sources, nationals)


def sync_once(
    config: Path,
    names: list[str] | None = None,
    crash_hook: Callable[[str], None] | None = None,
) -> PassReport:
    """One pass of the bridge in this process, as ``lapor-bridge sync``; ``names`` limits
    it to those sources and accounts."""
    with open_engine(config, crash_hook) as engine:
        return engine.sync(names)


def operator_resolves(lapor: LaporSandbox, database: Path) -> int:
    """What an operator does with ``indoubt list`` and lapor.go.id: each create in doubt is
    looked for on LAPOR by its marker, then resolved ``--tracking`` or ``--not-created``
    (recorded for the next pass). Returns how many were resolved."""
    store = Store(database)
    try:
        return resolve_doubts(lapor, store)
    finally:
        store.close()


def resolve_doubts(lapor: LaporSandbox, store: StateStore) -> int:
    """:func:`operator_resolves` on an open store (either kind)."""
    doubts = [d for d in store.in_doubt() if d.type == "create"]
    with store.atomic():
        for doubt in doubts:
            found = lapor.complaint_by_marker(f"[{doubt.tag}]")
            decision = f"tracking:{min(c['id'] for c in found)}" if found else "not_created"
            store.decide(doubt.id, decision)
            store.event("indoubt_decision", doubt.source, doubt.local_id,
                        decision=decision, by="test")  # fmt: skip
    return len(doubts)


def config_text(
    lapor_url: str,
    tanjak_url: str,
    database: Path,
    *,
    lainnya: int,
    capabilities: tuple[str, ...] = (),
    create_timeout: float = 5.0,
    max_in_flight: int | None = None,
    scan_limit: int | None = None,
) -> str:
    """The world's configuration; ``lainnya`` is the sandbox's id of TOPIK LAINNYA;
    ``max_in_flight`` for LAPOR and the app (else the default)."""
    listed = ", ".join(f'"{c}"' for c in capabilities)
    flights = f"max_in_flight = {max_in_flight}" if max_in_flight is not None else ""
    return f"""
[bridge]
database = "{database}"
poll_interval_seconds = 60
http_listen = ""
log_format = "json"
log_level = "warning"

[lapor]
base_url = "{lapor_url}"
requests_per_second = 1000
create_timeout_seconds = {create_timeout}
capabilities = [{listed}]
{flights}
{f"scan_limit = {scan_limit}" if scan_limit is not None else ""}

[lapor.accounts.tanjungpinang]
api_secret = "{LAPOR_SECRET}"
token = "{LAPOR_TOKEN}"
user_id = {LAPOR_USER}
institution = "Pemerintah Kota Tanjungpinang"
home_source = "tanjak"

[sources.tanjak]
kind = "tanjak"
account = "tanjungpinang"
base_url = "{tanjak_url}"
api_key = "{TANJAK_KEY}"
location_id = 34
classification_id = 1
requests_per_second = 1000
page_size = 20
{flights}

[sources.tanjak.categories]
"*" = {lainnya}
"""


@dataclass
class World:
    tmp: Path
    capabilities: tuple[str, ...] = ()
    #: how long LAPOR may take to answer a create (and may still apply one that timed out)
    create_timeout: float = 5.0
    #: requests in flight to LAPOR and to the app (None: the default, concurrency on)
    max_in_flight: int | None = None
    #: the widest bracket read for a create in doubt (None: the default)
    scan_limit: int | None = None
    lapor: LaporSandbox = field(init=False)
    tanjak: TanjakSandbox = field(init=False)
    config_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.lapor = LaporSandbox(max_page_size=7, capabilities=self.capabilities)
        self.lapor.add_account(
            LAPOR_SECRET, LAPOR_TOKEN, "Pemerintah Kota Tanjungpinang", user_id=LAPOR_USER
        )
        self.tanjak = TanjakSandbox(api_key=TANJAK_KEY)
        self.lapor.start()
        self.tanjak.start()
        self.config_path = self.tmp / "config.toml"
        self.config_path.write_text(
            config_text(
                self.lapor.url,
                self.tanjak.url,
                self.tmp / "bridge.db",
                lainnya=self.lapor.category_id("TOPIK LAINNYA"),
                capabilities=self.capabilities,
                create_timeout=self.create_timeout,
                max_in_flight=self.max_in_flight,
                scan_limit=self.scan_limit,
            ),
            encoding="utf-8",
        )

    @property
    def settings(self) -> Settings:
        return load_settings(self.config_path)

    def sync(self, crash_hook: Callable[[str], None] | None = None) -> PassReport:
        return sync_once(self.config_path, crash_hook=crash_hook)

    def store(self) -> Store:
        return Store(self.settings.bridge.database)

    def national_for(self, local_id: int | str) -> list[dict[str, Any]]:
        return self.lapor.find_by_tag(f"ext-tanjak-{local_id}")

    def stop(self) -> None:
        self.lapor.stop()
        self.tanjak.stop()
