"""Leases on a real PostgreSQL server: one holder per unit, takeovers with a new epoch,
commits fenced by the epoch, renewals, fair shares (bridge/sync/pgleases.py).

Expiry is made to happen by moving ``expires_at`` into the past in the database (what a
replica that stopped renewing leaves) rather than by waiting, except where the replica's
own clock is what is tested: there a fake monotonic clock is moved.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from bridge.sync.pgleases import LOCAL_SHARE, LeaseBook, check_fence
from bridge.sync.pgstore import MIGRATION_SET, PgStore, applied
from bridge.sync.store import Store
from bridge.sync.storeport import LeaseLost, LeaseRow, ReplicaRow
from tests.pg import PgServer

pytestmark = pytest.mark.pg

UNITS = ["source:tanjak", "source:ujar", "account:tanjungpinang"]


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


_books: list[LeaseBook] = []


@pytest.fixture
def dsn(pg_server: PgServer) -> Iterator[str]:
    dsn = pg_server.new_database()
    PgStore(dsn).close()  # the schema, the lease tables with it
    yield dsn
    while _books:
        _books.pop().close()


def book(dsn: str, name: str, *, clock: Clock | None = None) -> LeaseBook:
    made = LeaseBook(
        dsn, UNITS, lease_seconds=30, version="test", name=name, clock=clock or Clock()
    )
    _books.append(made)
    made.join()
    return made


def leases(dsn: str) -> list[LeaseRow]:
    store = PgStore(dsn, readonly=True)
    try:
        return store.leases()
    finally:
        store.close()


def replicas(dsn: str) -> list[ReplicaRow]:
    store = PgStore(dsn, readonly=True)
    try:
        return store.replicas()
    finally:
        store.close()


def expire(dsn: str, unit: str) -> None:
    """What a holder that stopped renewing leaves: the lease past its expiry."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "UPDATE leases SET expires_at = now() - interval '1 second' WHERE unit = %s", (unit,)
        )


def test_a_unit_has_one_holder(dsn: str) -> None:
    a, b = book(dsn, "a"), book(dsn, "b")
    taken = a.acquire("source:tanjak")
    assert taken is not None and taken.lease.fence.epoch == 1
    assert (taken.previous, taken.takeover) == (None, False)
    assert b.acquire("source:tanjak") is None
    rows = leases(dsn)
    assert [(r.unit, r.owner, r.epoch, r.live) for r in rows] == [("source:tanjak", "a", 1, True)]


def test_an_expired_lease_is_taken_over_with_the_next_epoch(dsn: str) -> None:
    a, b = book(dsn, "a"), book(dsn, "b")
    assert a.acquire("source:tanjak") is not None
    expire(dsn, "source:tanjak")
    taken = b.acquire("source:tanjak")
    assert taken is not None
    assert (taken.lease.fence.epoch, taken.previous, taken.takeover) == (2, "a", True)
    assert b.takeovers == 1
    # the old holder learns it at its next renewal; its check refuses from then on
    assert a.heartbeat() == ["source:tanjak"]
    with pytest.raises(LeaseLost):
        a.check("source:tanjak")
    (row,) = leases(dsn)
    assert (row.owner, row.epoch, row.takeovers) == ("b", 2, 1)


def test_a_released_lease_is_taken_at_once_and_is_no_takeover(dsn: str) -> None:
    a, b = book(dsn, "a"), book(dsn, "b")
    assert a.acquire("source:ujar") is not None
    a.release("source:ujar")
    taken = b.acquire("source:ujar")
    assert taken is not None and (taken.takeover, taken.lease.fence.epoch) == (False, 2)


def test_a_commit_after_the_lease_moved_is_refused_and_rolled_back(dsn: str) -> None:
    a, b = book(dsn, "a"), book(dsn, "b")
    taken = a.acquire("source:tanjak")
    assert taken is not None
    store = PgStore(dsn)
    store.fence = taken.lease.fence
    store.set_cursor("source:tanjak", "page-1")  # a write outside a block: fenced too
    with store.atomic():
        store.set_cursor("source:tanjak", "page-2")
    assert store.cursor("source:tanjak") == "page-2"

    expire(dsn, "source:tanjak")
    assert b.acquire("source:tanjak") is not None  # the successor, epoch 2

    with pytest.raises(LeaseLost, match="moved to b"):
        store.set_cursor("source:tanjak", "stale-1")
    with pytest.raises(LeaseLost), store.atomic():
        store.set_cursor("source:tanjak", "stale-2")
    # held work, committed at the end of the holding block
    with pytest.raises(LeaseLost), store.holding(), store.atomic():
        store.set_cursor("source:tanjak", "stale-3")
    with pytest.raises(LeaseLost), store.holding(), store.atomic(durable=True):
        store.set_cursor("source:tanjak", "stale-4")  # an intent: committed at once, or not
    said: list[str] = []
    with pytest.raises(LeaseLost), store.holding(), store.atomic():
        store.set_cursor("source:tanjak", "stale-5")
        store.after_commit(lambda: said.append("created"))
    assert said == []  # the log never tells of what the fence refused
    assert not store._in_transaction()
    store.close()
    reader = PgStore(dsn, readonly=True)
    assert reader.cursor("source:tanjak") == "page-2"
    reader.close()


def test_a_takeover_waits_for_the_commit_that_checked_the_fence(dsn: str) -> None:
    """The check locks the lease row until the commit: a successor skips it meanwhile."""
    a, b = book(dsn, "a"), book(dsn, "b")
    taken = a.acquire("source:tanjak")
    assert taken is not None
    expire(dsn, "source:tanjak")
    with psycopg.connect(dsn) as conn:  # a transaction of a's, between its check and COMMIT
        check_fence(conn, taken.lease.fence)
        assert b.acquire("source:tanjak") is None  # locked: not taken under the commit
        conn.commit()
    assert b.acquire("source:tanjak") is not None


def test_nothing_is_sent_once_the_lease_ran_out_on_the_replicas_clock(dsn: str) -> None:
    """A replica paused past its lease stops before its next request, without asking the
    database; a renewal in time keeps it going."""
    clock = Clock()
    a = book(dsn, "a", clock=clock)
    assert a.acquire("source:tanjak") is not None
    clock.now += 30 * LOCAL_SHARE - 0.1
    a.check("source:tanjak")
    assert a.heartbeat() == []  # renewed: valid for another period from now
    clock.now += 30 * LOCAL_SHARE - 0.1
    a.check("source:tanjak")
    clock.now += 0.2  # paused past it (SIGSTOP, a frozen VM)
    with pytest.raises(LeaseLost, match="ran out"):
        a.check("source:tanjak")
    assert a.valid("source:tanjak") is None
    # still in the book: the next renewal decides, and says when it is lost
    assert a.holding("source:tanjak") is not None
    assert a.heartbeat() == []  # nobody took it meanwhile: renewed, valid again
    a.check("source:tanjak")
    clock.now += 30
    expire(dsn, "source:tanjak")
    b = book(dsn, "b")
    assert b.acquire("source:tanjak") is not None
    with pytest.raises(LeaseLost):
        a.check("source:tanjak")
    assert a.heartbeat() == ["source:tanjak"]
    assert a.holding("source:tanjak") is None


def test_a_renewed_lease_is_not_taken(dsn: str) -> None:
    a, b = book(dsn, "a"), book(dsn, "b")
    assert a.acquire("source:tanjak") is not None
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("UPDATE leases SET expires_at = now() + interval '1 second'")
    assert a.heartbeat() == []
    with psycopg.connect(dsn, autocommit=True) as conn:
        left = conn.execute("SELECT expires_at - now() FROM leases").fetchone()
    assert left is not None and left[0].total_seconds() > 25
    assert b.acquire("source:tanjak") is None


def test_a_replica_takes_no_more_than_its_fair_share(dsn: str) -> None:
    a = book(dsn, "a")
    b = book(dsn, "b")  # two live replicas, three units: at most two each
    assert a.fair_share() == 2
    assert a.acquire(UNITS[0]) is not None
    assert a.acquire(UNITS[1]) is not None
    assert a.acquire(UNITS[2]) is None  # over its share: left to b
    assert b.acquire(UNITS[2]) is not None
    b.leave()  # b stops cleanly: its lease is free, a is alone, its share all three
    assert a.fair_share() == 3
    taken = a.acquire(UNITS[2])
    assert taken is not None and not taken.takeover


def test_a_silent_replica_no_longer_counts_in_the_shares(dsn: str) -> None:
    a, b = book(dsn, "a"), book(dsn, "b")
    assert a.fair_share() == 2 and b.held() == 0
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("UPDATE replicas SET heartbeat_at = now() - interval '31 seconds'")
    a.heartbeat()  # a's heartbeat again; b's is a lease period old
    assert a.fair_share() == 3


def test_leaving_releases_every_lease_and_says_so(dsn: str) -> None:
    a = book(dsn, "a")
    assert a.acquire(UNITS[0]) is not None
    a.leave()
    (lease,) = leases(dsn)
    assert (lease.live, lease.released) == (False, True)
    (replica,) = replicas(dsn)
    assert replica.replica == "a" and replica.stopped_at is not None


def test_the_lease_tables_are_a_migration_set_of_their_own(dsn: str, tmp_path: Path) -> None:
    """The state's migrations stay name for name the SQLite store's; SQLite has no leases."""
    with psycopg.connect(dsn) as conn:
        assert applied(conn, "lapor-bridge-cluster") == ["c001_leases"]
        assert "c001_leases" not in applied(conn, MIGRATION_SET)
    sqlite = Store(tmp_path / "bridge.db")
    assert sqlite.leases() == [] and sqlite.replicas() == []
    store = PgStore(dsn)
    assert store.applied_migrations() == sqlite.applied_migrations()
    store.close()
    sqlite.close()
