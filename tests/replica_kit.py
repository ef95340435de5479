"""A hub of replicas for the chaos test of issue 20 (tests/chaos/test_replicas.py).

* :class:`Hub`: one LAPOR-SP4N sandbox (the accounts of Kota Tanjungpinang and Kota Malang)
  and ``groups`` instances of each app's sandbox, each instance a source of its own:
  ``tanjak-1`` … ``tanjak-5``, ``ujar-1`` …, ``sambat-1`` …, ``open311-1`` …. A group is a
  :class:`adapters.sandbox.region.Region` whose LAPOR is the hub's, so the single-process
  chaos test's readers (``local_records``, ``Actors``) work on it unchanged; only the source
  names differ (``Region`` says ``tanjak``, the hub ``tanjak-3``).
* :func:`hub_config`: the configuration text for the hub on a PostgreSQL state database.
* :class:`Replica`: one ``lapor-bridge run`` process (``DaemonProcess``), killed, stopped,
  continued and started again, with its own log and ``/metrics`` address.
* :class:`PgState`: what PostgreSQL holds, read with psycopg directly (not through the
  bridge): leases, replicas, mappings, intents, follow-ups, quarantine, events.
* :func:`audit_hub`: the single-process chaos test's audit over the hub, every count taken
  from the sandboxes' own stores and from PostgreSQL.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg.rows import dict_row

from adapters import registry
from adapters.local.open311 import normalize as open311_normalize
from adapters.local.sambat import normalize as sambat_normalize
from adapters.local.tanjak import normalize as tanjak_normalize
from adapters.local.ujar import normalize as ujar_normalize
from adapters.sandbox.region import (
    LAINNYA,
    LOCATION_ID,
    MLG,
    OPEN311_KEY,
    SAMBAT_LOGIN,
    SECRETS,
    TANJAK_KEY,
    TPI,
    UJAR_CLIENT,
    USERS,
    Region,
)
from adapters.sandbox.server import SandboxServer
from bridge.runtime import stores
from bridge.runtime.settings import load_settings
from bridge.sync.engine import Engine, PassReport
from tests.chaos.test_chaos import (
    FAULT_RATE,
    FAULTS,
    SAMBAT_FAULTS,
    Audit,
    DaemonProcess,
    LocalRecord,
    StateRows,
    admin_verifies_everything,
    audit_state,
    local_records,
)
from tests.harness import FAST, resolve_doubts
from tests.pg import PgServer

#: a Region's name of each app → the prefix of the hub's sources of that app
PREFIX = {"tanjak": "tanjak", "ujar": "ujar", "sambat": "sambat", "kota-contoh": "open311"}
ACCOUNT = {"tanjak": "tanjungpinang", "ujar": "tanjungpinang", "sambat": "malang",
           "kota-contoh": "tanjungpinang"}  # fmt: skip
CATEGORIES = {
    "tanjak": tanjak_normalize.CATEGORIES,
    "ujar": ujar_normalize.CATEGORIES,
    "sambat": sambat_normalize.CATEGORIES,
    "kota-contoh": open311_normalize.CATEGORIES,
}


# --- the sandboxes -------------------------------------------------------------------------


class Hub:
    """One LAPOR sandbox and ``groups`` instances of each app's sandbox, started."""

    def __init__(self, groups: int, seed: int, capabilities: tuple[str, ...] = ()) -> None:
        self.capabilities = capabilities
        self.groups: list[Region] = []
        first = Region(seed=seed, capabilities=capabilities)
        self.lapor = first.lapor
        for g in range(groups):
            region = first if g == 0 else Region(seed=seed + 101 * g, capabilities=capabilities)
            if g:
                region.lapor.stop()  # bound, never started: only the hub's LAPOR serves
                region.lapor = self.lapor
            self.groups.append(region)

    @property
    def servers(self) -> list[SandboxServer]:
        apps = [s for region in self.groups for s in region.servers if s is not self.lapor]
        return [self.lapor, *apps]

    @property
    def sources(self) -> dict[str, tuple[Region, str]]:
        """Each source's name → (its group, the Region's name of its app)."""
        return {
            f"{PREFIX[app]}-{g + 1}": (region, app)
            for g, region in enumerate(self.groups)
            for app in region.apps
        }

    @property
    def units(self) -> list[str]:
        return [f"source:{name}" for name in self.sources] + [
            "account:tanjungpinang",
            "account:malang",
        ]

    def start(self) -> Hub:
        for server in self.servers:
            server.start()
        return self

    def stop(self) -> None:
        for region in self.groups:
            for server in (region.tanjak, region.ujar, region.sambat, region.open311):
                server.stop()
        self.lapor.stop()

    def seed_sample(self, per_app: int, seed: int) -> None:
        for g, region in enumerate(self.groups):
            region.seed_sample(per_app, random.Random(seed + g))

    def faults_on(self, seed: int) -> None:
        """About one request in five fails, on every sandbox (as test_chaos.faults_on)."""
        params = {"retry_after": 1, "seconds": 0.3}
        self.lapor.faults.chaos(FAULT_RATE, FAULTS, seed=seed, **params)
        for g, region in enumerate(self.groups):
            base = seed + 10 * (g + 1)
            region.tanjak.faults.chaos(FAULT_RATE, FAULTS, seed=base + 1, **params)
            region.ujar.faults.chaos(FAULT_RATE, FAULTS, seed=base + 2, **params)
            region.sambat.faults.chaos(FAULT_RATE, SAMBAT_FAULTS, seed=base + 3, **params)
            region.sambat.faults.inject("html200", count=1, **params)
            region.open311.faults.chaos(FAULT_RATE, FAULTS, seed=base + 4, **params)

    def faults_off(self) -> None:
        for server in self.servers:
            server.faults.clear()

    def fired(self) -> Counter[str]:
        return Counter(kind for s in self.servers for kind, _, _ in s.faults.fired)

    def records(self) -> list[LocalRecord]:
        """Every local record of every source, named by the hub's source names."""
        out: list[LocalRecord] = []
        for g, region in enumerate(self.groups):
            for r in local_records(region):
                r.source = f"{PREFIX[r.source]}-{g + 1}"
                out.append(r)
        return out

    def doubled_tags(self) -> list[str]:
        tags = Counter(
            t for c in self.lapor.complaints() for t in c["tags"] if t.startswith("ext-")
        )
        return [f"{n} national complaints tagged #{t}" for t, n in tags.items() if n > 1]


def _categories(lapor: Any, app: str, name: str) -> str:
    """The category map an operator would copy from LAPOR's admin screens (as Region's)."""
    lines = [f"\n[sources.{name}.categories]", f'"*" = {lapor.category_id(LAINNYA)}']
    for local, path in CATEGORIES[app].items():
        for candidate in (path, path.split("/", 1)[0]):
            try:
                lines.append(f"{json.dumps(local)} = {lapor.category_id(candidate)}")
                break
            except KeyError:
                continue
    return "\n".join(lines) + "\n"


def hub_config(
    hub: Hub,
    database: str,
    password_file: Path,
    *,
    lease_seconds: float | None,
    poll_interval: float,
    http_listen: str = "",
    rate: float = 10_000,
    create_timeout: float = 3,
    tracking_per_hour: int = 10_000_000,
    log_level: str = "info",
) -> str:
    """The configuration of a replica of the hub: every source, both accounts, PostgreSQL."""
    tpi, mlg = SECRETS["tanjungpinang"], SECRETS["malang"]
    listed = ", ".join(f'"{c}"' for c in hub.capabilities)
    lease = f"lease_seconds = {lease_seconds}" if lease_seconds is not None else ""
    text = f"""# lapor-bridge: a replica of the hub (tests/replica_kit.py)
[bridge]
database = "{database}"
database_password_file = "{password_file}"
{lease}
poll_interval_seconds = {poll_interval}
http_listen = "{http_listen}"
log_format = "json"
log_level = "{log_level}"

[lapor]
base_url = "{hub.lapor.url}"
requests_per_second = {rate}
create_timeout_seconds = {create_timeout}
tracking_requests_per_hour = {tracking_per_hour}
capabilities = [{listed}]

[lapor.accounts.tanjungpinang]
api_secret = "{tpi[0]}"
token = "{tpi[1]}"
user_id = {USERS["tanjungpinang"]}
institution = "{TPI}"
home_source = "tanjak-1"

[lapor.accounts.malang]
api_secret = "{mlg[0]}"
token = "{mlg[1]}"
user_id = {USERS["malang"]}
institution = "{MLG}"
home_source = "sambat-1"
"""
    common = f"location_id = {LOCATION_ID}\nclassification_id = 1\nrequests_per_second = {rate}\n"
    for name, (region, app) in hub.sources.items():
        head = f'\n[sources.{name}]\naccount = "{ACCOUNT[app]}"\n'
        if app == "tanjak":
            body = f'kind = "tanjak"\nbase_url = "{region.tanjak.url}"\napi_key = "{TANJAK_KEY}"\n'
        elif app == "ujar":
            body = (
                f'kind = "ujar"\nbase_url = "{region.ujar.url}"\n'
                f'client_id = "{UJAR_CLIENT[0]}"\nclient_secret = "{UJAR_CLIENT[1]}"\n'
            )
        elif app == "sambat":
            body = (
                f'kind = "sambat"\nbase_url = "{region.sambat.url}"\n'
                f'username = "{SAMBAT_LOGIN[0]}"\npassword = "{SAMBAT_LOGIN[1]}"\n'
            )
        else:
            body = (
                f'kind = "open311"\nbase_url = "{region.open311.base_url}"\n'
                f'api_key = "{OPEN311_KEY}"\njurisdiction_id = "kota.example"\n'
                'default_service_code = "LAIN"\n'
            )
        text += head + body + common + _categories(hub.lapor, app, name)
    return text


# --- PostgreSQL ------------------------------------------------------------------------------


#: connections the hub's server allows: every replica opens one per configured unit (its
#: workers, held or not) plus its lease keeper's and the health reads' — 3 x 22 units is
#: above the 50 of tests/pg.py's server
HUB_MAX_CONNECTIONS = 200


def start_hub_server() -> PgServer:
    """A PostgreSQL server of the test's own, as tests/pg.py starts one, allowing
    :data:`HUB_MAX_CONNECTIONS` (raises tests.pg.NoServer when none can be had)."""
    import tempfile

    from tests.pg import _free_port, _server_user, find_binaries

    root = Path(tempfile.mkdtemp(prefix="lapor-bridge-hub-pg-"))
    server = PgServer(find_binaries(), root, _free_port(), _server_user())
    try:
        server.start(max_connections=HUB_MAX_CONNECTIONS)
    except BaseException:
        server.stop()
        raise
    return server


@dataclass
class PgDatabase:
    """A fresh database owned by a role of its own, its password in a 0600 file."""

    server: PgServer
    dbname: str
    role: str
    password_file: Path

    @property
    def url(self) -> str:
        """What ``[bridge] database`` says."""
        return f"postgresql://{self.role}@127.0.0.1:{self.server.port}/{self.dbname}"

    @property
    def admin_dsn(self) -> str:
        """The superuser's connection: the audits read with it, not through the bridge."""
        return self.server.dsn(self.dbname)


def new_pg_database(server: PgServer, folder: Path) -> PgDatabase:
    dbname = server.new_database().rsplit("dbname=", 1)[1]
    role = f"bridge_{dbname}"
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'unchecked-by-trust'")
        conn.execute(f"ALTER DATABASE {dbname} OWNER TO {role}")
    password_file = folder / "database-password"
    password_file.write_text("replica s3cret\n", encoding="utf-8")
    password_file.chmod(0o600)
    return PgDatabase(server, dbname, role, password_file)


@dataclass(frozen=True)
class Lease:
    unit: str
    owner: str
    epoch: int
    live: bool
    expires_at: datetime

    @property
    def pid(self) -> int:
        """The owner is ``<hostname>:<pid>:<4 hex>``."""
        return int(self.owner.rsplit(":", 2)[1])


class PgState:
    """Reads of the state database with psycopg (one autocommit connection of its own)."""

    def __init__(self, dsn: str) -> None:
        self.conn = psycopg.connect(dsn, autocommit=True, row_factory=dict_row)

    def close(self) -> None:
        self.conn.close()

    def rows(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        return list(self.conn.execute(sql, args or None).fetchall())

    def has_table(self, name: str) -> bool:
        row = self.conn.execute("SELECT to_regclass(%s) AS t", (name,)).fetchone()
        return row is not None and row["t"] is not None

    def leases(self) -> dict[str, Lease]:
        if not self.has_table("leases"):
            return {}
        found = self.rows(
            "SELECT unit, owner, epoch, expires_at,"
            " (expires_at > now() AND NOT released) AS live FROM leases"
        )
        return {
            r["unit"]: Lease(r["unit"], r["owner"] or "", int(r["epoch"] or 0), bool(r["live"]),
                             r["expires_at"])
            for r in found
        }  # fmt: skip

    def held_by(self, pid: int) -> set[str]:
        return {u for u, lease in self.leases().items() if lease.live and lease.pid == pid}

    def takeovers(self) -> int:
        if not self.has_table("leases"):
            return 0
        row = self.conn.execute("SELECT COALESCE(SUM(takeovers), 0) AS n FROM leases").fetchone()
        return int(row["n"]) if row else 0

    def mapped(self) -> int:
        row = self.conn.execute(
            "SELECT COUNT(*) AS n FROM mappings WHERE national_id IS NOT NULL"
        ).fetchone()
        return int(row["n"]) if row else 0

    def counts(self) -> tuple[int, ...]:
        row = self.conn.execute(
            "SELECT (SELECT COUNT(*) FROM mappings) AS m, (SELECT COUNT(*) FROM followups) AS f,"
            " (SELECT COUNT(*) FROM followups WHERE state = 'pending') AS fp,"
            " (SELECT COUNT(*) FROM intents WHERE state = 'pending') AS ip,"
            " (SELECT COUNT(*) FROM quarantine WHERE state = 'open') AS q"
        ).fetchone()
        assert row is not None
        return (row["m"], row["f"], row["fp"], row["ip"], row["q"])

    def next_poll_wait(self) -> float:
        """Seconds until the last complaint followed by polling is due again (0: none)."""
        row = self.conn.execute(
            "SELECT MAX(next_poll_at) AS latest FROM mappings"
            " WHERE national_id IS NOT NULL AND duplicate_of IS NULL"
            " AND COALESCE(tracked_by, 'polling') = 'polling'"
        ).fetchone()
        if row is None or row["latest"] is None:
            return 0.0
        due = datetime.fromisoformat(row["latest"])
        return (due - datetime.now(UTC)).total_seconds() + 0.2


# --- the replicas ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Replica(DaemonProcess):
    """``lapor-bridge run`` as a replica: its own folder, log, notify socket and metrics port.

    Each start's log lines are told apart by the offset the log had when it started.
    """

    def __init__(self, name: str, config_text: str, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.port = free_port()
        config = folder / "config.toml"
        config.write_text(
            config_text.replace('http_listen = ""', f'http_listen = "127.0.0.1:{self.port}"'),
            encoding="utf-8",
        )
        super().__init__(config, folder)
        self.stopped = False
        #: (pid, offset of the log when it started) of every start
        self.incarnations: list[tuple[int, int]] = []

    def start(self) -> None:
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        super().start()
        self.stopped = False
        self.incarnations.append((self.pid, offset))

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def live(self) -> bool:
        """Running and not stopped: a replica that can do work."""
        return self.running() and not self.stopped

    def pause(self) -> None:
        """SIGSTOP: the process is frozen, its sockets and leases as they were."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)
        self.stopped = True

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)
        self.stopped = False

    def close(self) -> None:
        if self.stopped and self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
        super().close()

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def events_since(self, offset: int) -> list[dict[str, Any]]:
        """The JSON log lines written after the log had ``offset`` bytes."""
        if not self.log_path.exists():
            return []
        with self.log_path.open("rb") as f:
            f.seek(offset)
            return _json_lines(f.read())

    def events(self, pid: int | None = None) -> list[dict[str, Any]]:
        """The JSON log lines of one start (the current one by default), in order."""
        if not self.log_path.exists():
            return []
        pid = self.pid if pid is None else pid
        offsets = dict(self.incarnations)
        starts = sorted(offsets.values())
        begin = offsets[pid]
        later = [o for o in starts if o > begin]
        with self.log_path.open("rb") as f:
            f.seek(begin)
            return _json_lines(f.read((later[0] - begin) if later else -1))

    def metric(self, name: str) -> float | None:
        """One sample of ``/metrics`` (the first line naming ``name``), or None."""
        try:
            text = httpx.get(f"http://127.0.0.1:{self.port}/metrics", timeout=5).text
        except httpx.HTTPError:
            return None
        for line in text.splitlines():
            if line.startswith((f"{name} ", f"{name}{{")):
                return float(line.rsplit(" ", 1)[1])
        return None


def _json_lines(data: bytes) -> list[dict[str, Any]]:
    out = []
    for line in data.decode("utf-8", "replace").splitlines():
        with contextlib.suppress(ValueError):
            event = json.loads(line)
            if isinstance(event, dict):
                out.append(event)
    return out


def wait_until(done: Any, seconds: float, every: float = 0.1, what: str = "") -> float:
    started = time.monotonic()
    while not done():
        if time.monotonic() - started > seconds:
            raise AssertionError(f"not done after {seconds} s: {what}")
        time.sleep(every)
    return time.monotonic() - started


# --- passes in this process, once the replicas are stopped -------------------------------


def sync_pass(config: Path) -> PassReport:
    """One pass of every source and account in this process (as tests.harness.sync_once, but
    on the store the configuration names: PostgreSQL here)."""
    settings = load_settings(config)
    sources = registry.connect_sources(settings, policy=FAST)
    nationals = registry.connect_nationals(settings, policy=FAST)
    store = stores.open_store(settings.bridge.database)
    try:
        engine = Engine(
            store,
            sources,
            nationals,
            **registry.engine_options(settings),
            poll_floor=timedelta(0),
        )
        return engine.sync()
    finally:
        store.close()
        registry.close_all(sources, nationals)


def signature(hub: Hub, state: PgState) -> tuple[Any, ...]:
    national = hub.lapor.complaints()
    followups = sum(len(hub.lapor.followups(c["id"])) for c in national)
    local = [(r.source, r.local_id, r.status, r.link, len(r.city), len(r.copied))
             for r in hub.records()]  # fmt: skip
    statuses = tuple((c["id"], c["status_code"]) for c in national)
    return (len(national), followups, statuses, tuple(local), state.counts())


def converge(hub: Hub, config: Path, state: PgState, most: int = 20) -> int:
    """test_chaos.converge on the hub: clean passes until two in a row change nothing and
    every complaint followed by polling was read again after the last change."""
    admin_verifies_everything(hub.groups[0])
    previous: tuple[Any, ...] | None = None
    waited = False
    for n in range(1, most + 1):
        sync_pass(config)
        if admin_verifies_everything(hub.groups[0]):
            previous, waited = None, False
            continue
        current = signature(hub, state)
        if current != previous:
            if previous is not None:
                waited = False
            previous = current
            continue
        wait = state.next_poll_wait()
        if wait <= 0 or waited:
            return n
        time.sleep(min(wait, 60.0))
        waited = True
    raise AssertionError(f"still changing after {most} clean passes")


def operator_resolves(hub: Hub, config: Path) -> int:
    """tests.harness.operator_resolves on the PostgreSQL store."""
    store = stores.open_store(load_settings(config).bridge.database)
    try:
        return resolve_doubts(hub.lapor, store)
    finally:
        store.close()


# --- the audit ------------------------------------------------------------------------------


def audit_hub(hub: Hub, state: PgState) -> Audit:
    """tests/chaos/test_chaos.audit_state over the hub: the sandboxes' own stores against
    the state PostgreSQL holds (read with psycopg, not through the bridge)."""
    rows = StateRows(
        mappings={(m["source"], m["local_id"]): m for m in state.rows("SELECT * FROM mappings")},
        intents=state.rows("SELECT * FROM intents WHERE state = 'pending'"),
        pending=state.rows("SELECT * FROM followups WHERE state = 'pending'"),
        quarantined=[
            (q["source"], q["local_id"], q["reason"])
            for q in state.rows("SELECT * FROM quarantine WHERE state = 'open'")
        ],
        events={
            str(r["kind"]): int(r["n"])
            for r in state.rows(
                "SELECT kind, COUNT(*) AS n FROM events"
                " WHERE kind IN ('create_in_doubt', 'create_found') GROUP BY kind"
            )
        },
    )
    return audit_state(
        hub.lapor,
        hub.records(),
        rows,
        inbox="inbox" in hub.capabilities,
        keeps_link=lambda source: not source.startswith("open311-"),
        sources=set(hub.sources),
    )


@contextlib.contextmanager
def replicas(names: list[str], text: str, folder: Path) -> Iterator[list[Replica]]:
    made = [Replica(name, text, folder / name) for name in names]
    try:
        yield made
    finally:
        for replica in made:
            replica.close()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
