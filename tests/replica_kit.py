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
from dataclasses import dataclass, field
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
    COMPLETION_NOTE,
    FAULT_RATE,
    FAULTS,
    INSTITUTIONS,
    LAPOR_STATUS,
    RANK,
    SAMBAT_FAULTS,
    DaemonProcess,
    LocalRecord,
    admin_verifies_everything,
    ext_tag,
    followup_text,
    local_records,
)
from tests.harness import FAST
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
    """tests.harness.operator_resolves on the PostgreSQL store: each create in doubt looked
    up on LAPOR by its marker and decided."""
    store = stores.open_store(load_settings(config).bridge.database)
    try:
        doubts = [d for d in store.in_doubt() if d.type == "create"]
        with store.atomic():
            for doubt in doubts:
                found = hub.lapor.complaint_by_marker(f"[{doubt.tag}]")
                decision = f"tracking:{min(c['id'] for c in found)}" if found else "not_created"
                store.decide(doubt.id, decision)
                store.event("indoubt_decision", doubt.source, doubt.local_id,
                            decision=decision, by="test")  # fmt: skip
        return len(doubts)
    finally:
        store.close()


# --- the audit ------------------------------------------------------------------------------


@dataclass
class Audit:
    counts: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    def problem(self, text: str) -> None:
        self.problems.append(text)


def audit_hub(hub: Hub, state: PgState) -> Audit:
    """tests/chaos/test_chaos.audit over the hub: the sandboxes' own stores against the
    state PostgreSQL holds (read with psycopg, not through the bridge)."""
    inbox = "inbox" in hub.capabilities
    result = Audit()
    count, problem = result.counts, result.problem
    national = {c["id"]: c for c in hub.lapor.complaints()}
    agency = {name: hub.lapor.institution_id(i) for name, i in INSTITUTIONS.items()}
    records = hub.records()
    mappings = {(m["source"], m["local_id"]): m for m in state.rows("SELECT * FROM mappings")}
    intents = state.rows("SELECT * FROM intents WHERE state = 'pending'")
    pending = state.rows("SELECT * FROM followups WHERE state = 'pending'")
    quarantined = state.rows("SELECT * FROM quarantine WHERE state = 'open'")
    for row in state.rows(
        "SELECT kind, COUNT(*) AS n FROM events WHERE kind IN ('create_in_doubt', 'create_found')"
        " GROUP BY kind"
    ):
        count[f"events_{row['kind']}"] = row["n"]
    sources = set(hub.sources)

    # every local record mapped exactly once; no mapping without its record
    present = {(r.source, r.local_id) for r in records}
    for key in sorted(set(mappings) - present):
        if key[0] in sources:
            problem(f"mapping without a local record: {key}")
    owners: Counter[int] = Counter()
    for r in records:
        count["records"] += 1
        m = mappings.get((r.source, r.local_id))
        if m is None or m["national_id"] is None:
            problem(f"{r.source}:{r.local_id} is not mapped")
            continue
        count["mapped"] += 1
        if m["duplicate_of"] is None:
            owners[int(m["national_id"])] += 1
        else:
            count["merged_as_duplicates"] += 1
        if m["national_id"] not in national:
            problem(f"{r.source}:{r.local_id} maps to #{m['national_id']}, unknown to LAPOR")
        if not r.source.startswith("open311-") and r.link != m["national_id"]:
            problem(f"{r.source}:{r.local_id} names #{r.link}, mapped to #{m['national_id']}")
    for national_id, n in owners.items():
        if n > 1:
            problem(f"#{national_id} is owned by {n} local records")

    # one national complaint per tag; the bridge's complaints all carry theirs
    tags = Counter(t for c in national.values() for t in c["tags"] if t.startswith("ext-"))
    count["ext_tags"] = len(tags)
    for tag, n in tags.items():
        if n > 1:
            problem(f"{n} national complaints tagged #{tag}")
    for (source, local_id), m in mappings.items():
        complaint = national.get(m["national_id"])
        own = m["origin"] == "local" and m["duplicate_of"] is None and complaint is not None
        if own and ext_tag(source, local_id) not in complaint["tags"]:
            problem(f"#{m['national_id']} lacks the tag of {source}:{local_id}")
    linked = Counter(r.link for r in records if r.link is not None)
    for c in national.values():
        if c["user_id"] is not None:
            count["national_by_bridge"] += 1
            continue
        count["national_by_citizens"] += 1
        if not inbox:
            continue
        if c["disposition_id"] in agency.values() or c["id"] in owners:
            count["imported"] += 1
            if linked[c["id"]] != 1 or owners[c["id"]] != 1:
                problem(f"#{c['id']} filed on LAPOR: {linked[c['id']]} local records name it")

    # follow-ups both ways, as multisets, per ticket
    for r in records:
        m = mappings.get((r.source, r.local_id))
        if m is None or m["duplicate_of"] is not None or m["national_id"] not in national:
            continue
        complaint = national[m["national_id"]]
        if complaint["disposition_id"] != agency.get(m["account"] or ""):
            count["handed_back"] += 1
            continue
        items = hub.lapor.followups(complaint["id"], disposition_events=False)
        institution = INSTITUTIONS[m["account"]]
        theirs = [f["content"] for f in items if f["institution_from_name"] != institution]
        refs = [ref for ref, _ in r.copied]
        count["responses_copied_to_apps"] += len(refs)
        if len(refs) != len(set(refs)):
            problem(f"{r.source}:{r.local_id}: a LAPOR follow-up copied twice: {refs}")
        if Counter(t.strip() for _, t in r.copied) != Counter(t.strip() for t in theirs):
            problem(
                f"{r.source}:{r.local_id} (#{complaint['id']}, tracked by {m['tracked_by']}, "
                f"next poll {m['next_poll_at']}): copied {sorted(t for _, t in r.copied)} "
                f"but LAPOR has {sorted(theirs)}"
            )
        mine = [f["content"] for f in items if f["institution_from_name"] == institution]
        notes = [t for t in mine if t.startswith(COMPLETION_NOTE)]
        sent = Counter(t for t in mine if not t.startswith(COMPLETION_NOTE))
        count["followups_on_lapor"] += sum(sent.values())
        if sent != Counter(followup_text(t, None) for t in r.city):
            problem(
                f"{r.source}:{r.local_id} (#{complaint['id']}): city wrote {sorted(r.city)},"
                f" LAPOR has {sorted(sent.elements())}"
            )
        if len(notes) > 1:
            problem(f"#{complaint['id']}: {len(notes)} completion notes")
        local, remote = r.status, LAPOR_STATUS[complaint["status_code"]]
        pair = {local, remote}
        if m["conflict"]:
            count["conflicts"] += 1
            if pair != {"done", "rejected"}:
                problem(f"{r.source}:{r.local_id}: conflict recorded for {local}/{remote}")
        elif pair == {"done", "rejected"}:
            problem(f"{r.source}:{r.local_id}: {local} here, {remote} on LAPOR, no conflict")
        elif RANK[local] < RANK[remote]:
            problem(f"{r.source}:{r.local_id}: {local} behind LAPOR's {remote}")
        elif local == "done" and remote != "done" and not (remote == "in_progress" and notes):
            problem(f"{r.source}:{r.local_id}: done here, {remote} on LAPOR")

    count["quarantined"] = len(quarantined)
    for q in quarantined:
        problem(f"quarantined: {q['source']}:{q['local_id']}: {q['reason']}")
    count["in_doubt"] = len(intents)
    for i in intents:
        problem(f"left pending: {i['kind']} {i['source']}:{i['local_id']}")
    for row in pending:
        complaint = national.get(row["national_id"])
        account = (mappings.get((row["source"], row["local_id"])) or {}).get("account")
        if complaint is not None and complaint["disposition_id"] == agency.get(account or ""):
            problem(f"follow-up left pending: {row['direction']} {row['source']}:{row['local_id']}")
        else:
            count["held_for_handed_back"] += 1
    return result


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
