"""Two ``lapor-bridge run`` replicas on one PostgreSQL state, as real processes against the
sandboxes: the work shared by leases, a killed replica's work taken over within two lease
periods, a replica frozen past its lease (SIGSTOP) stopping by itself when it wakes, and
no complaint created twice through any of it (bridge/sync/pgleases.py).

The three-replica chaos test with faults and twenty sources is tests/chaos/test_replicas.py
once it lands; these are the smallest runs that show each rule.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from tests.pg import PgServer
from tests.test_postgresql_bridge import PgWorld, pg_world  # noqa: F401  (the fixture)

pytestmark = pytest.mark.pg

ROOT = Path(__file__).resolve().parent.parent
LEASE = 3.0
UNITS = {"source:tanjak", "account:tanjungpinang"}


@dataclass
class Replica:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    def lines(self) -> list[dict[str, object]]:
        found = []
        for line in self.log.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                found.append(json.loads(line))
            except ValueError:
                continue
        return found

    def events(self, event: str) -> list[dict[str, object]]:
        return [line for line in self.lines() if line.get("event") == event]

    def wait_events(self, event: str, seconds: float) -> list[dict[str, object]]:
        """``event``'s lines once there is one, or none after ``seconds``: for what a
        replica's own thread logs at its own time (the lease keeper ticks every third of a
        lease, so it may say so after another thread's work has been seen)."""
        end = time.monotonic() + seconds
        while not (found := self.events(event)) and time.monotonic() < end:
            time.sleep(0.1)
        return found

    def replica_id(self, seconds: float = 30.0) -> str:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            joined = self.events("replica_joined")
            if joined:
                return str(joined[0]["replica"])
            assert self.proc.poll() is None, self.log.read_text(encoding="utf-8")
            time.sleep(0.1)
        raise AssertionError(f"{self.name} never joined: {self.log.read_text(encoding='utf-8')}")


class Cluster:
    def __init__(self, world: PgWorld, tmp: Path) -> None:
        self.world = world.world
        self.url = world.url
        self.tmp = tmp
        self.replicas: list[Replica] = []
        text = self.world.config_path.read_text(encoding="utf-8")
        text = text.replace(
            "poll_interval_seconds = 60", f"poll_interval_seconds = 1\nlease_seconds = {LEASE}"
        )
        self.config = text.replace('log_level = "warning"', 'log_level = "info"')
        self.world.config_path.write_text(self.config, encoding="utf-8")
        self.dsn = world.url  # the test server trusts loopback (tests/pg.py)

    def start(self, name: str) -> Replica:
        log = self.tmp / f"{name}-{len(self.replicas)}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-c", "import cli; cli.main()", "--config",
                 str(self.world.config_path), "run"],
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
                stdout=out,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        replica = Replica(name, proc, log)
        self.replicas.append(replica)
        return replica

    def owners(self) -> dict[str, str]:
        """The live leases: unit → owner."""
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT unit, owner FROM leases WHERE NOT released AND expires_at > now()"
            ).fetchall()
        return {str(u): str(o) for u, o in rows}

    def wait_owners(self, predicate: object, seconds: float) -> dict[str, str]:
        assert callable(predicate)
        end = time.monotonic() + seconds
        owners: dict[str, str] = {}
        while time.monotonic() < end:
            owners = self.owners()
            if predicate(owners):
                return owners
            time.sleep(0.05)
        raise AssertionError(f"never held as wanted: {owners}")

    def stop(self) -> None:
        for replica in self.replicas:
            if replica.proc.poll() is None:
                replica.proc.send_signal(signal.SIGCONT)
                replica.proc.send_signal(signal.SIGKILL)
                replica.proc.wait(timeout=15)


@pytest.fixture
def cluster(pg_world: PgWorld, tmp_path: Path) -> Iterator[Cluster]:  # noqa: F811
    made = Cluster(pg_world, tmp_path)
    try:
        yield made
    finally:
        made.stop()


def _created_once(cluster: Cluster, local_id: object, seconds: float = 30.0) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end and not cluster.world.national_for(str(local_id)):
        time.sleep(0.1)
    assert len(cluster.world.national_for(str(local_id))) == 1


def test_two_replicas_share_the_work_and_a_killed_ones_is_taken_within_two_periods(
    cluster: Cluster,
) -> None:
    a, b = cluster.start("a"), cluster.start("b")
    ids = {a.replica_id(), b.replica_id()}
    # one unit each: the first to start may take both, then gives one up after a pass
    owners = cluster.wait_owners(lambda o: set(o) == UNITS and set(o.values()) == ids, seconds=30)
    aduan = cluster.world.tanjak.add_aduan(isi="Lampu jalan mati di Jl. Pramuka sejak seminggu.")
    _created_once(cluster, aduan["id"])

    # kill the replica holding the source: the other takes it over
    holder = owners["source:tanjak"]
    victim = a if a.replica_id() == holder else b
    survivor = b if victim is a else a
    victim.proc.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    victim.proc.wait(timeout=15)
    owners = cluster.wait_owners(
        lambda o: set(o) == UNITS and set(o.values()) == {survivor.replica_id()},
        seconds=4 * LEASE,
    )
    took = time.monotonic() - killed
    print(f"\ntakeover of a SIGKILLed replica: {took:.2f} s (lease {LEASE} s)")
    assert took <= 2 * LEASE
    taken = [e for e in survivor.events("lease_acquired") if e.get("takeover")]
    assert [e["unit"] for e in taken] == ["source:tanjak"]
    assert taken[0]["previous"] == holder

    later = cluster.world.tanjak.add_aduan(isi="Selokan tersumbat di Jl. Merdeka, air meluap.")
    _created_once(cluster, later["id"])
    assert len(cluster.world.national_for(str(aduan["id"]))) == 1

    # the replica started again gets its share back
    again = cluster.start("a-again")
    fresh = again.replica_id()
    cluster.wait_owners(
        lambda o: set(o) == UNITS and set(o.values()) == {fresh, survivor.replica_id()},
        seconds=30,
    )


def test_a_replica_frozen_past_its_lease_stops_by_itself_when_it_wakes(
    cluster: Cluster,
) -> None:
    a = cluster.start("a")
    a_id = a.replica_id()
    cluster.wait_owners(lambda o: set(o) == UNITS, seconds=30)
    b = cluster.start("b")
    b_id = b.replica_id()
    owners = cluster.wait_owners(lambda o: set(o.values()) == {a_id, b_id}, seconds=30)
    frozen = a if owners["source:tanjak"] == a_id else b
    other = b if frozen is a else a
    frozen.proc.send_signal(signal.SIGSTOP)
    stopped = time.monotonic()
    cluster.wait_owners(
        lambda o: set(o) == UNITS and set(o.values()) == {other.replica_id()},
        seconds=4 * LEASE,
    )
    took = time.monotonic() - stopped
    print(f"\ntakeover of a SIGSTOPped replica: {took:.2f} s (lease {LEASE} s)")
    assert took <= 2 * LEASE
    # while it sleeps, citizens file; the successor creates
    aduan = cluster.world.tanjak.add_aduan(isi="Jalan berlubang di depan pasar, berbahaya.")
    _created_once(cluster, aduan["id"])
    time.sleep(LEASE)  # frozen for well past its lease
    frozen.proc.send_signal(signal.SIGCONT)
    # awake, it finds its leases gone (the keeper's renewal, or its own check), and takes
    # nothing back while the successor holds it
    end = time.monotonic() + 4 * LEASE
    while time.monotonic() < end and not frozen.events("lease_lost"):
        time.sleep(0.1)
    assert frozen.events("lease_lost")
    later = cluster.world.tanjak.add_aduan(isi="Sampah menumpuk di Jl. Ketapang tiga hari.")
    _created_once(cluster, later["id"])
    time.sleep(LEASE)
    for local_id in (aduan["id"], later["id"]):
        assert len(cluster.world.national_for(str(local_id))) == 1
    owners = cluster.owners()
    assert set(owners) == UNITS  # one live owner per unit, both replicas alive
    assert frozen.proc.poll() is None and other.proc.poll() is None


def test_status_names_each_units_owner_and_a_clean_stop_frees_them(
    cluster: Cluster,
    pg_world: PgWorld,  # noqa: F811
) -> None:
    a = cluster.start("a")
    a_id = a.replica_id()
    cluster.wait_owners(lambda o: set(o) == UNITS, seconds=30)
    code, out = pg_world.cli("status", "--json")
    state = json.loads(out[out.index("{") :])
    replicas = {r["replica"]: r for r in state["cluster"]["replicas"]}
    assert replicas[a_id]["state"] == "running" and replicas[a_id]["leases"] == 2
    held = {row["unit"]: row["owner"] for row in state["cluster"]["leases"]}
    assert held == {unit: a_id for unit in UNITS}
    code, out = pg_world.cli("status")
    assert "replicas (lease 3.0 s)" in out and "source:tanjak" in out
    # one-off writers wait for the replicas: refused, naming the replica's session
    code, out = pg_world.cli("sync")
    assert code == 1 and "is in use by" in out
    a.proc.send_signal(signal.SIGTERM)
    assert a.proc.wait(timeout=20) == 0
    assert cluster.owners() == {}  # released: a successor takes them at once
    code, out = pg_world.cli("status", "--json")
    state = json.loads(out[out.index("{") :])
    assert {r["replica"]: r["state"] for r in state["cluster"]["replicas"]} == {a_id: "stopped"}


def test_when_postgresql_is_unreachable_the_replica_waits_and_recovers_by_itself(
    cluster: Cluster, pg_server: PgServer
) -> None:
    """The database refuses connections and every session of the replica is cut (what a
    restarted or unreachable server does to it): the replica stays up, loses nothing, and
    when the database is back takes its units again and creates what was filed meanwhile,
    once."""
    a = cluster.start("a")
    a_id = a.replica_id()
    cluster.wait_owners(lambda o: set(o) == UNITS, seconds=30)
    first = cluster.world.tanjak.add_aduan(isi="Lampu jalan mati di Jl. Pramuka sejak seminggu.")
    _created_once(cluster, first["id"])
    dbname = cluster.dsn.rsplit("/", 1)[1]
    with psycopg.connect(pg_server.dsn(), autocommit=True) as admin:
        admin.execute(f"ALTER DATABASE {dbname} ALLOW_CONNECTIONS false")
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
            (dbname,),
        )
        during = cluster.world.tanjak.add_aduan(isi="Selokan tersumbat di Jl. Merdeka, meluap.")
        time.sleep(2 * LEASE)  # its leases run out on its clock; nothing can be committed
        assert a.proc.poll() is None
        assert not cluster.world.national_for(str(during["id"]))
        admin.execute(f"ALTER DATABASE {dbname} ALLOW_CONNECTIONS true")
    cluster.wait_owners(lambda o: set(o) == UNITS and set(o.values()) == {a_id}, seconds=30)
    _created_once(cluster, during["id"], seconds=60)
    assert len(cluster.world.national_for(str(first["id"]))) == 1
    assert a.wait_events("database_reconnected", seconds=3 * LEASE)
