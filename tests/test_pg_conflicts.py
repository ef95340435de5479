"""Transactions in each other's way on PostgreSQL: the workers of a replica (and the
replicas of a hub) index records at once, and PostgreSQL breaks a deadlock by failing one
of them. Against a real server: the purge of the duplicate check's index never waits on
another transaction, and a create's answer whose commit PostgreSQL broke is committed again,
not left in doubt."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from bridge.sync.pgstore import PgStore
from bridge.sync.storeport import IndexedRow
from cli import app
from tests.pg import PgServer
from tests.test_postgresql_bridge import PgWorld, pg_world, runner  # noqa: F401 (a fixture)

pytestmark = pytest.mark.pg

OLD = "2026-01-01T00:00:00.000000+00:00"


@pytest.fixture
def dsn(pg_server: PgServer) -> Iterator[str]:
    dsn = pg_server.new_database()
    PgStore(dsn).close()
    yield dsn


def _row(local_id: str) -> IndexedRow:
    return IndexedRow(
        national_id=None,
        source="tanjak",
        local_id=local_id,
        phone_key="k",
        category="LAIN",
        created_at=OLD,
        content="jalan rusak",
    )


def _index(dsn: str) -> list[str]:
    with psycopg.connect(dsn) as conn:
        return [r[0] for r in conn.execute("SELECT local_id FROM dedupe_index ORDER BY 1")]


def test_a_purge_skips_the_rows_another_transaction_holds_instead_of_waiting(dsn: str) -> None:
    store, other = PgStore(dsn), PgStore(dsn)
    try:
        store.dedupe_put(_row("1"))
        store.dedupe_put(_row("2"))
        with other.atomic():
            other.dedupe_put(_row("2"))  # its row locked until this block commits
            other.conn.execute("SET LOCAL lock_timeout = '2s'")
            # a purge that waited would fail here on the lock timeout, in a deadlock before
            store.conn.execute("SET lock_timeout = '2s'")
            assert store.dedupe_purge("2026-06-01T00:00:00+00:00", "2026-06-08T00:00:00+00:00") == 1
        assert _index(dsn) == ["2"]  # left for the next purge
        assert store.dedupe_purge("2026-06-01T00:00:00+00:00", "2026-06-08T00:00:00+00:00") == 1
        assert _index(dsn) == []
        assert store.dedupe_meta("clock") == "2026-06-08T00:00:00+00:00"
    finally:
        store.close()
        other.close()


def test_one_purge_at_a_time_the_others_skip_theirs(dsn: str) -> None:
    store, other = PgStore(dsn), PgStore(dsn)
    try:
        store.dedupe_put(_row("1"))
        with other.atomic():
            assert other.dedupe_purge("2025-01-01T00:00:00+00:00", "2025-01-08T00:00:00+00:00") == 0
            store.conn.execute("SET lock_timeout = '2s'")
            # the first still purging (its transaction open): the second does not wait on
            # its clock row, and purges nothing
            assert store.dedupe_purge("2026-06-01T00:00:00+00:00", "2026-06-08T00:00:00+00:00") == 0
        assert _index(dsn) == ["1"]
        assert store.dedupe_meta("clock") == "2025-01-08T00:00:00+00:00"
        assert store.dedupe_purge("2026-06-01T00:00:00+00:00", "2026-06-08T00:00:00+00:00") == 1
    finally:
        store.close()
        other.close()


DEADLOCK = (
    "DO $$ BEGIN RAISE EXCEPTION 'deadlock detected (a test''s)'"
    " USING ERRCODE = 'deadlock_detected'; END $$"
)


def test_an_answer_whose_commit_postgresql_broke_is_committed_again(
    pg_world: PgWorld,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The server fails the first commit of the third answer as it fails a deadlock's
    victim (SQLSTATE 40P01, raised by the server, through the store's savepoints): the
    answer is committed on the second run of its block; nothing is in doubt, nothing is
    posted twice."""
    world = pg_world.world
    world.tanjak.seed_sample(random.Random(11), 5, photos=False)
    calls = {"n": 0}
    insert_mapping = PgStore.insert_mapping

    def broken_once(self: PgStore, **fields: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            self._write(DEADLOCK)
        insert_mapping(self, **fields)

    monkeypatch.setattr(PgStore, "insert_mapping", broken_once)
    code, out = pg_world.cli("sync")
    assert code == 0, out
    assert calls["n"] == 6  # five answers, one of them committed twice
    assert "source tanjak: seen 5, created 5" in out
    tags = [t for c in world.lapor.complaints() for t in c["tags"] if t.startswith("ext-")]
    assert len(tags) == 5 == len(set(tags))
    with psycopg.connect(pg_world.url) as conn:
        assert conn.execute("SELECT count(*) FROM mappings").fetchone() == (5,)
        assert conn.execute("SELECT count(*) FROM intents WHERE state = 'pending'").fetchone() == (
            0,
        )


def test_an_answer_broken_every_time_fails_the_pass_and_is_in_doubt(
    pg_world: PgWorld,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Retries are bounded: a block broken on each of its runs fails the pass; the create
    it answered is left to the recovery's evidence (lapor.md), never posted again."""
    world = pg_world.world
    world.tanjak.seed_sample(random.Random(12), 2, photos=False)

    def always(self: PgStore, **fields: Any) -> None:
        self._write(DEADLOCK)

    monkeypatch.setattr(PgStore, "insert_mapping", always)
    result = runner.invoke(app, ["--config", str(world.config_path), "sync"])
    # what cli.main turns into one line and exit status 1 (an OperationalError's)
    assert isinstance(result.exception, psycopg.errors.DeadlockDetected)
    assert isinstance(result.exception, psycopg.OperationalError)
    # the creates already in flight were answered; each is pending, sent once, no more
    sent = [t for c in world.lapor.complaints() for t in c["tags"] if t.startswith("ext-")]
    assert sent and len(sent) == len(set(sent))
    with psycopg.connect(pg_world.url) as conn:
        assert conn.execute("SELECT count(*) FROM mappings").fetchone() == (0,)
        pending = conn.execute(
            "SELECT tag FROM intents WHERE state = 'pending' AND sent_at IS NOT NULL"
        ).fetchall()
    assert sorted(t for (t,) in pending) == sorted(sent)
