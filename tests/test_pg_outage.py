"""The PostgreSQL server itself stopped under two running replicas (``pg_ctl stop -m
fast``: every session cut, no new one accepted) and started again: the replicas stay up,
send and commit nothing while it is down, and when it is back take their units again by
themselves and create what was filed meanwhile, once (README, "Several replicas": when
PostgreSQL itself is down).

The test has a server of its own (the ``pg_server`` fixture is overridden here), since it
stops it; the rest of the session's tests share theirs.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator

import pytest

from tests.pg import PgServer, start_server_or_skip
from tests.test_postgresql_bridge import PgWorld, pg_world  # noqa: F401  (the fixture)
from tests.test_replicas_pg import LEASE, UNITS, Cluster, _created_once, cluster  # noqa: F401

pytestmark = pytest.mark.pg


@pytest.fixture
def pg_server() -> Iterator[PgServer]:
    """A server for this test alone (it is stopped and started again)."""
    server = start_server_or_skip()
    try:
        yield server
    finally:
        server.stop()


def test_the_replicas_outlive_a_stopped_server_and_recover_by_themselves(
    cluster: Cluster,  # noqa: F811
    pg_server: PgServer,
) -> None:
    a, b = cluster.start("a"), cluster.start("b")
    ids = {a.replica_id(), b.replica_id()}
    cluster.wait_owners(lambda o: set(o) == UNITS and set(o.values()) == ids, seconds=30)
    first = cluster.world.tanjak.add_aduan(isi="Lampu jalan mati di Jl. Pramuka sejak seminggu.")
    _created_once(cluster, first["id"])

    pg_server.halt()
    down = time.monotonic()
    during = cluster.world.tanjak.add_aduan(isi="Selokan tersumbat di Jl. Merdeka, meluap.")
    time.sleep(3 * LEASE)  # the leases run out on the replicas' clocks; no commit can happen
    assert a.proc.poll() is None and b.proc.poll() is None
    assert not cluster.world.national_for(str(during["id"]))
    pg_server.restart()
    back = time.monotonic()
    print(f"\nPostgreSQL down for {back - down:.1f} s (lease {LEASE} s)")

    owners = cluster.wait_owners(lambda o: set(o) == UNITS, seconds=60)
    assert set(owners.values()) <= ids
    print(f"every unit held again {time.monotonic() - back:.2f} s after the server was back")
    _created_once(cluster, during["id"], seconds=60)
    assert len(cluster.world.national_for(str(first["id"]))) == 1
    tags = [t for c in cluster.world.lapor.complaints() for t in c["tags"] if t.startswith("ext-")]
    assert len(tags) == len(set(tags)) == 2
    for replica in (a, b):
        text = replica.log.read_text(encoding="utf-8", errors="replace")
        assert "Traceback" not in text, text[-3000:]
        assert replica.events("lease_renewal_failed")  # it saw the server go
        # a worker trying to take a lease says once that the database failed, not at each
        # retry (every second here: nine a unit); once more if a try between went through
        failed = Counter(str(e["unit"]) for e in replica.events("lease_failed"))
        assert all(n <= 2 for n in failed.values()), failed
        # and come back: the keeper says so at its first renewal after the server is back,
        # up to a third of a lease after another replica's worker took a unit and created
        assert replica.wait_events("database_reconnected", seconds=3 * LEASE)
        assert replica.proc.poll() is None
