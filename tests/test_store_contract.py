"""The state store's contract, once, against both stores (bridge/sync/storeport.py).

Every test runs on the SQLite store and on the PostgreSQL store (a real server started by the
tests: tests/pg.py; those runs are marked ``pg``). What one store does and the other does not
fails here, so the two cannot drift.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bridge.sync.dedupe import DedupeIndex
from bridge.sync.engine import CrashPoint
from bridge.sync.pgstore import MIGRATIONS, PgStore, open_pool
from bridge.sync.store import NOT_DISPOSED, Store, migrations
from bridge.sync.storeport import IndexedRow, MappingRow, StateStore
from tests.pg import PgServer
from tests.test_dedupe import POTHOLE, POTHOLE_SMS
from tests.test_dedupe import complaint as dedupe_complaint
from tests.test_dedupe import second as dedupe_second

#: the schema's versions, in order: the same names in both stores
MIGRATION_NAMES = [
    "m001_initial",
    "m002_two_way",
    "m003_dedupe",
    "m004_discovered",
    "m005_dedupe_text_as_written",
    "m006_creates_in_doubt",
    "m007_late_photos",
    "m008_forget_finished",
    "m009_visible_numbers",
    "m010_operator_requests",
    "m011_catch_up",
    "m012_tracking_budget",
]
#: what either database raises for a broken constraint or a refused change of the audit log
INTEGRITY = (sqlite3.IntegrityError, psycopg.IntegrityError)


@dataclass
class Backend:
    """One database and how to open stores on it (each a connection of its own)."""

    name: str
    opener: Callable[[bool], StateStore]
    execute: Callable[[StateStore, str], Any]
    opened: list[StateStore] = field(default_factory=list)

    def open(self, *, readonly: bool = False) -> StateStore:
        store = self.opener(readonly)
        self.opened.append(store)
        return store

    def run(self, store: StateStore, sql: str) -> Any:
        """Plain SQL on the store's own connection, past its methods."""
        return self.execute(store, sql)


def _sqlite_execute(store: StateStore, sql: str) -> Any:
    assert isinstance(store, Store)
    return store.db.execute(sql)


def _pg_execute(store: StateStore, sql: str) -> Any:
    assert isinstance(store, PgStore)
    return store.conn.execute(sql)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        path = tmp_path / "bridge.db"
        found = Backend("sqlite", lambda ro: Store(path, readonly=ro), _sqlite_execute)
    else:
        server: PgServer = request.getfixturevalue("pg_server")
        dsn = server.new_database()
        found = Backend("postgresql", lambda ro: PgStore(dsn, readonly=ro), _pg_execute)
    try:
        yield found
    finally:
        for store in found.opened:
            store.close()


@pytest.fixture
def store(backend: Backend) -> StateStore:
    return backend.open()


def _mapping(store: StateStore, local_id: str, national_id: int | None, **fields: Any) -> None:
    store.insert_mapping(source="tanjak", local_id=local_id, national_id=national_id, **fields)


# migrations -----------------------------------------------------------------------------
def test_both_stores_name_the_same_migrations_in_the_same_order() -> None:
    assert [m.name for m in migrations.pending(sqlite_utils_memory())] == MIGRATION_NAMES
    assert [name for name, _ in MIGRATIONS] == MIGRATION_NAMES


def sqlite_utils_memory() -> Any:
    from sqlite_utils import Database

    return Database(memory=True)


def test_migrations_are_applied_once_and_opening_again_applies_none(backend: Backend) -> None:
    first = backend.open()
    assert first.applied_migrations() == MIGRATION_NAMES
    first.close()
    backend.opened.remove(first)
    again = backend.open()
    assert again.applied_migrations() == MIGRATION_NAMES  # nothing twice
    # the phone key made by m003 is made once: opening again keeps it
    secret = backend.run(again, "SELECT value FROM dedupe_meta").fetchall()
    assert len(secret) == 1 and len(str(secret[0][0])) == 64


def test_a_reader_sees_the_writers_commits_and_cannot_write(backend: Backend) -> None:
    writer = backend.open()
    with writer.atomic():
        writer.set_cursor("source:tanjak", "2025-01-01")
    reader = backend.open(readonly=True)
    assert reader.readonly
    assert reader.cursor("source:tanjak") == "2025-01-01"
    with pytest.raises((sqlite3.Error, psycopg.Error)), reader.atomic():
        reader.set_cursor("source:tanjak", "later")
    assert writer.cursor("source:tanjak") == "2025-01-01"


# transactions (tests/test_store.py, on both stores) ------------------------------------
def _write(store: StateStore, name: str, *, durable: bool = False) -> None:
    with store.atomic(durable=durable):
        store.set_cursor(name, "x")


def test_held_blocks_are_committed_together_at_the_commit_point(backend: Backend) -> None:
    bridge, other = backend.open(), backend.open()
    with bridge.holding():
        _write(bridge, "a")
        _write(bridge, "b")
        assert bridge.cursor("a") == "x"
        assert other.cursor("a") is None
        bridge.commit_held()
        assert (other.cursor("a"), other.cursor("b")) == ("x", "x")
        _write(bridge, "c")
    assert other.cursor("c") == "x"


def test_a_durable_block_commits_at_once_with_what_was_held(backend: Backend) -> None:
    bridge, other = backend.open(), backend.open()
    with bridge.holding():
        _write(bridge, "mapping")
        _write(bridge, "intent", durable=True)
        assert (other.cursor("mapping"), other.cursor("intent")) == ("x", "x")
        with bridge.atomic():
            _write(bridge, "nested intent", durable=True)
            assert other.cursor("nested intent") is None
        assert other.cursor("nested intent") == "x"


def test_a_failed_block_takes_back_only_itself(backend: Backend) -> None:
    bridge, other = backend.open(), backend.open()
    with bridge.holding():
        _write(bridge, "kept")
        with pytest.raises(ValueError), bridge.atomic():
            bridge.set_cursor("lost", "x")
            raise ValueError("a bug")
        bridge.commit_held()
    assert (other.cursor("kept"), other.cursor("lost")) == ("x", None)


def test_an_error_commits_what_was_held_and_an_interrupt_loses_it(backend: Backend) -> None:
    bridge, other = backend.open(), backend.open()
    with pytest.raises(RuntimeError), bridge.holding():
        _write(bridge, "before an error")
        raise RuntimeError("the pass failed")
    assert other.cursor("before an error") == "x"
    with pytest.raises(CrashPoint), bridge.holding():
        _write(bridge, "before a kill")
        raise CrashPoint("killed")
    assert other.cursor("before a kill") is None
    assert bridge.cursor("before a kill") is None


def test_a_log_line_waits_for_the_commit_of_what_it_tells(backend: Backend) -> None:
    """``after_commit``: at once outside a transaction, after the held commit inside one,
    never for a block rolled back (nor for what an interrupt loses)."""
    bridge = backend.open()
    said: list[str] = []
    bridge.after_commit(lambda: said.append("alone"))
    assert said == ["alone"]
    with bridge.holding():
        with bridge.atomic():
            _write(bridge, "kept")
            bridge.after_commit(lambda: said.append("kept"))
        with pytest.raises(ValueError), bridge.atomic():
            bridge.set_cursor("lost", "x")
            bridge.after_commit(lambda: said.append("lost"))
            raise ValueError("a bug")
        assert said == ["alone"]  # held: not committed yet
        bridge.commit_held()
        assert said == ["alone", "kept"]
        with bridge.atomic():
            _write(bridge, "with an intent")
            bridge.after_commit(lambda: said.append("with an intent"))
        _write(bridge, "intent", durable=True)  # commits the held work: its line with it
        assert said[-1] == "with an intent"
    with pytest.raises(CrashPoint), bridge.holding():
        with bridge.atomic():
            _write(bridge, "killed")
            bridge.after_commit(lambda: said.append("killed"))
        raise CrashPoint("killed")
    assert said == ["alone", "kept", "with an intent"]


def test_outside_holding_every_block_commits(backend: Backend) -> None:
    bridge, other = backend.open(), backend.open()
    _write(bridge, "a")
    assert other.cursor("a") == "x"


def test_a_write_outside_a_block_commits_at_once_even_while_holding(backend: Backend) -> None:
    bridge, other = backend.open(), backend.open()
    with bridge.holding():
        bridge.event("loose")
        assert [e["kind"] for e in _all_events(backend, other)] == ["loose"]
        _write(bridge, "held")
        bridge.event("inside the held transaction")
        assert [e["kind"] for e in _all_events(backend, other)] == ["loose"]
    assert len(_all_events(backend, other)) == 2


def test_a_refused_statement_takes_back_only_itself(backend: Backend) -> None:
    bridge, other = backend.open(), backend.open()
    with bridge.atomic():
        _mapping(bridge, "1", 100)
        with pytest.raises(INTEGRITY):
            _mapping(bridge, "1", 101)  # the same record again
        bridge.set_cursor("after", "x")
    assert other.mapping("tanjak", "1") is not None
    assert other.cursor("after") == "x"


def _all_events(backend: Backend, store: StateStore) -> list[dict[str, Any]]:
    rows = backend.run(store, "SELECT kind FROM events ORDER BY id").fetchall()
    return [{"kind": r[0]} for r in rows]


# intents --------------------------------------------------------------------------------
def test_an_intent_is_pending_until_finished_and_then_forgets_the_citizens_words(
    store: StateStore,
) -> None:
    body = {"tag": "[ext-tanjak-1]", "title": "Jalan rusak", "reporter": {"phone": "0812"}}
    body["summary"] = {"category": "JALAN", "status": "submitted"}
    with store.atomic(durable=True):
        intent = store.add_intent("create", "tanjak", "1", body, tag="[ext-tanjak-1]")
    found = store.pending_intent("tanjak", "1", "create")
    assert found is not None and found.id == intent and found.payload == body
    assert [i.id for i in store.pending_intents("tanjak", "create")] == [intent]
    assert found.attempts == 0 and found.state == "pending"
    store.finish_intent(intent)
    assert store.pending_intent("tanjak", "1", "create") is None
    row = store.in_doubt("tanjak")
    assert row == []
    kept = _intent_payload(store, intent)
    assert kept == {
        "tag": "[ext-tanjak-1]",
        "summary": {"category": "JALAN", "status": "submitted"},
    }


def _intent_payload(store: StateStore, intent_id: int) -> Any:
    # the finished intent is read through the in-doubt view's neighbour: its raw row
    if isinstance(store, Store):
        text = store.db.execute("SELECT payload FROM intents WHERE id = ?", (intent_id,))
        return json.loads(text.fetchone()[0])
    assert isinstance(store, PgStore)
    row = store.conn.execute("SELECT payload FROM intents WHERE id = %s", (intent_id,))
    fetched = row.fetchone()
    assert fetched is not None
    return json.loads(fetched[0])


def test_one_pending_create_per_record(store: StateStore) -> None:
    first = store.add_intent("create", "tanjak", "1", {"n": 1})
    with pytest.raises(INTEGRITY):
        store.add_intent("create", "tanjak", "1", {"n": 2})
    store.finish_intent(first, "failed", "LAPOR refused")
    assert store.add_intent("create", "tanjak", "1", {"n": 3}) != first  # a new try may follow


def test_a_create_sent_then_lost_is_in_doubt_until_answered(store: StateStore) -> None:
    intent = store.add_intent("create", "tanjak", "1", {}, tag="[ext-tanjak-1]")
    assert store.counts("tanjak")["pending"] == 1
    store.create_sending(intent, "kota", timedelta(minutes=2))
    sent = store.pending_intent("tanjak", "1", "create")
    assert sent is not None
    assert (sent.attempts, sent.account) == (1, "kota")
    assert sent.sent_at < sent.deadline
    store.create_lost(intent, "answer lost: timeout")
    lost = store.pending_intent("tanjak", "1", "create")
    assert lost is not None and lost.last_error == "answer lost: timeout"
    assert lost.deadline >= sent.deadline
    doubt = store.in_doubt()
    assert [(d.type, d.id) for d in doubt] == [("create", intent)]
    assert store.counts("tanjak")["in_doubt"] == 1 and store.counts("tanjak")["pending"] == 0
    store.note_evidence(intent, "no complaint with the tag")
    store.decide(intent, "not_created")
    store.create_sending(intent, "kota", timedelta(minutes=2))  # posted again: no decision
    again = store.pending_intent("tanjak", "1", "create")
    assert again is not None
    assert (again.attempts, again.decision, again.evidence) == (
        2,
        None,
        "no complaint with the tag",
    )
    store.create_answered(intent, 4711)
    store.finish_intent(intent)
    assert store.in_doubt() == []


def test_a_create_written_sent_and_done_in_one_statement_each(store: StateStore) -> None:
    """The common path (an answered create): the same row as add, sending, answered, finished."""
    body = {"tag": "[ext-tanjak-1]", "body": {"content": "Jalan rusak", "user_id": 7}}
    body["summary"] = {"category": "JALAN", "status": "submitted"}
    written = store.add_create_intent(
        "tanjak", "1", body, tag="[ext-tanjak-1]", account="kota", timeout=timedelta(minutes=2)
    )
    intent = written.id
    sent = store.pending_intent("tanjak", "1", "create")
    assert sent == written  # returned as written, without reading it back
    assert sent is not None and sent.id == intent and sent.payload == body
    assert (sent.kind, sent.attempts, sent.account, sent.tag) == (
        "create", 1, "kota", "[ext-tanjak-1]",
    )  # fmt: skip
    assert sent.sent_at < sent.deadline and sent.decision is None
    store.create_done(intent, 4711)
    assert store.pending_intent("tanjak", "1", "create") is None
    assert store.create_bracket("kota", "9999", "0000") == (4711, 4711)  # answered, with its id
    assert _intent_payload(store, intent) == {
        "tag": "[ext-tanjak-1]",
        "summary": {"category": "JALAN", "status": "submitted"},
    }  # the citizen's words forgotten in the same statement


def test_the_bracket_of_a_create_in_doubt(store: StateStore) -> None:
    early = store.add_intent("create", "tanjak", "1", {})
    store.create_sending(early, "kota", timedelta(seconds=1))
    store.create_answered(early, 100)
    doubtful = store.add_intent("create", "tanjak", "2", {})
    store.create_sending(doubtful, "kota", timedelta(seconds=0))
    row = store.pending_intent("tanjak", "2", "create")
    assert row is not None and row.sent_at is not None and row.deadline is not None
    late = store.add_intent("create", "tanjak", "3", {})
    store.create_sending(late, "kota", timedelta(seconds=1))
    store.create_answered(late, 300)
    assert store.create_bracket("kota", row.sent_at, row.deadline) == (100, 300)
    assert store.create_bracket("other", row.sent_at, row.deadline) == (None, None)
    # inside it, the ids the bridge's own answered creates hold, whatever their account
    within = store.add_intent("create", "ujar", "9", {})
    store.create_sending(within, "other", timedelta(seconds=1))
    store.create_answered(within, 150)
    unanswered = store.add_intent("create", "ujar", "10", {})
    store.create_sending(unanswered, "other", timedelta(seconds=1))
    assert store.created_between(100, 300) == {150}  # not the bounds, not the unanswered
    assert store.created_between(150, 151) == set()
    assert store.created_between(99, 301) == {100, 150, 300}


def test_imports_answered_with_a_token_are_queued_not_pending(store: StateStore) -> None:
    assert not store.answered_with_tokens("tanjak")
    queued = store.add_intent("import", "tanjak", "n-1", {"token": "abc"}, account="kota")
    plain = store.add_intent("import", "tanjak", "n-2", {}, account="kota")
    assert store.answered_with_tokens("tanjak")
    assert store.account_pending("kota") == 2
    assert store.counts("tanjak")["pending"] == 1  # the queued one waits on the app
    store.note_attempt(plain, "answer lost")
    assert store.counts("tanjak")["in_doubt"] == 1  # posted, no token: in doubt
    store.finish_intent(queued)
    assert _intent_payload(store, queued) == {
        "complaint": {"status_code": None, "created_at": None, "confidential": None},
        "token": "abc",
    }


def test_an_import_the_app_queued_keeps_its_token(store: StateStore) -> None:
    body = {"complaint": {"status_code": 10, "title": "Jalan rusak"}}
    intent = store.add_intent("import", "tanjak", "n-1", body, account="kota")
    store.note_attempt(intent, "sent")
    assert store.counts("tanjak")["in_doubt"] == 1  # posted, no token yet
    store.import_queued(intent, "tok-42")
    found = store.pending_intent("tanjak", "n-1", "import")
    assert found is not None and found.payload == {**body, "token": "tok-42"}
    assert store.counts("tanjak")["in_doubt"] == 0 and store.answered_with_tokens("tanjak")


# mappings -------------------------------------------------------------------------------
def test_a_mapping_is_written_read_and_updated(store: StateStore) -> None:
    _mapping(store, "1", 100, status="submitted", confidential=True, display_id="TJ-0001")
    row = store.mapping("tanjak", "1")
    assert row is not None
    assert (row.national_id, row.status, row.confidential) == (100, "submitted", 1)
    assert row.link_state == "pending" and row.catch_up == 0
    assert row.first_synced_at == row.last_synced_at
    store.update_mapping("tanjak", "1", status="in_progress", conflict=True)
    row = store.mapping("tanjak", "1")
    assert row is not None and (row.status, row.conflict) == ("in_progress", 1)
    assert store.mapping("tanjak", "2") is None
    assert store.has_mappings("tanjak") and not store.has_mappings("ujar")


def test_a_mapping_read_for_update_holds_off_another_writer_until_the_commit(
    backend: Backend,
) -> None:
    """Two workers' passes on one pair (bridge/sync/twoway.py): the second's change of the
    row waits for the first's commit, and then lands on what the first wrote."""
    store, other = backend.open(), backend.open()
    _mapping(store, "1", 100, local_canonical="in_progress", national_canonical="in_progress")
    with pytest.raises(AssertionError):
        store.mapping_for_update("tanjak", "1")  # only inside a transaction
    started, wrote = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def other_pass() -> None:
        try:
            started.wait(10)
            with other.atomic():
                row = other.mapping_for_update("tanjak", "1")
                assert row is not None and row.local_canonical == "done"  # the first's commit
                other.update_mapping("tanjak", "1", national_canonical="rejected")
            wrote.set()
        except BaseException as exc:  # reported by the test's thread
            errors.append(exc)

    worker = threading.Thread(target=other_pass)
    worker.start()
    with store.atomic():
        row = store.mapping_for_update("tanjak", "1")
        assert row is not None and row.local_canonical == "in_progress"
        started.set()
        assert not wrote.wait(0.5)  # held off while this transaction is open
        store.update_mapping("tanjak", "1", local_canonical="done")
    worker.join(15)
    assert not errors, errors
    assert wrote.is_set()
    row = store.mapping("tanjak", "1")
    assert row is not None and (row.local_canonical, row.national_canonical) == ("done", "rejected")
    with store.atomic():
        assert store.mapping_for_update("tanjak", "2") is None


def test_a_record_maps_once_and_a_complaint_has_one_owner(store: StateStore) -> None:
    _mapping(store, "1", 100)
    with pytest.raises(INTEGRITY):
        _mapping(store, "1", 200)  # the local side: one mapping per record
    with pytest.raises(INTEGRITY):
        _mapping(store, "2", 100)  # the national side: one owning record per complaint
    _mapping(store, "3", None)
    with pytest.raises(INTEGRITY):
        store.update_mapping("tanjak", "3", national_id=100)  # nor by an update
    # a record merged into the complaint (rule 3) is no owner: it may share the id
    _mapping(store, "4", 100, duplicate_of="tanjak:1")
    assert [m.local_id for m in store.mappings_for_national(100)] == ["1", "4"]
    owner = store.mapping_by_national(100)
    assert owner is not None and owner.local_id == "1"
    # records not yet created on LAPOR have no national id: any number of them
    _mapping(store, "5", None)
    _mapping(store, "6", None)


def test_mappings_are_found_by_the_number_the_citizen_sees(store: StateStore) -> None:
    _mapping(store, "1", 100, display_id="TJ-0001")
    _mapping(store, "2", 200)
    assert [m.local_id for m in store.mappings_by_display_id("TJ-0001")] == ["1"]
    assert store.mappings_by_display_id("TJ-9999") == []


def test_a_mapping_deleted_by_an_operator_frees_both_sides(store: StateStore) -> None:
    _mapping(store, "1", 100)
    store.delete_mapping("tanjak", "1")
    assert store.mapping("tanjak", "1") is None
    _mapping(store, "2", 100)


def test_unlinked_mappings_are_read_in_batches_while_they_change(store: StateStore) -> None:
    for n in range(1, 8):
        _mapping(store, str(n), 100 + n)
    store.update_mapping("tanjak", "3", link_state="linked")
    seen = []
    for local_id, national_id in store.unlinked("tanjak", batch=2):
        seen.append((local_id, national_id))
        store.update_mapping("tanjak", local_id, link_state="linked")
    assert seen == [(str(n), 100 + n) for n in (1, 2, 4, 5, 6, 7)]
    assert list(store.unlinked("tanjak")) == []


def test_mappings_due_for_polling_oldest_first(store: StateStore) -> None:
    _mapping(store, "1", 101, next_poll_at="2025-01-02T00:00:00", tracked_by="polling")
    _mapping(store, "2", 102, tracked_by="polling")
    _mapping(store, "3", 103, next_poll_at="2025-01-01T00:00:00")
    _mapping(store, "4", 104, next_poll_at="2025-09-01T00:00:00")
    _mapping(store, "5", 101, duplicate_of="tanjak:1")
    due = store.due_for_polling(["tanjak"], "2025-06-01T00:00:00", 10)
    assert [m.local_id for m in due] == ["2", "3", "1"]
    assert [m.local_id for m in store.due_for_polling(["tanjak"], "2025-06-01", 1)] == ["2"]
    assert store.due_for_polling([], "2025-06-01", 10) == []
    tracked = store.tracked_by_polling(["tanjak", "ujar"])
    assert [(t.local_id, t.national_id) for t in tracked] == [("1", 101), ("2", 102)]


def test_polling_reads_the_stale_first_then_the_most_overdue_against_its_interval(
    store: StateStore,
) -> None:
    """bridge/core/tracking.py's order: views older than the bound first (oldest first, up
    to the stale share), then never scheduled, never read, and the most overdue relative to
    its own interval (not the earliest due). A time naming no offset reads as UTC."""
    seen = "2025-06-01T00:00:00+00:00"
    # due an hour ago after a 1-hour interval: overdue x2
    _mapping(store, "a", 1, last_seen_at=seen, next_poll_at="2025-06-01T01:00:00+00:00")
    # due 2 hours ago after a 1-day interval: overdue x(26/24), though due earlier than a
    _mapping(
        store,
        "b",
        2,
        last_seen_at="2025-05-31T00:00:00+00:00",
        next_poll_at="2025-06-01T00:00:00+00:00",
    )
    # due 6 minutes ago after a 3-minute interval (naive: UTC): overdue x3
    _mapping(store, "c", 3, last_seen_at="2025-06-01T01:51:00", next_poll_at="2025-06-01T01:54:00")
    _mapping(store, "d", 4, next_poll_at="2025-06-01T00:30:00+00:00")  # never read
    _mapping(
        store,
        "e",
        5,
        last_seen_at="2025-05-20T00:00:00+00:00",
        next_poll_at="2025-06-01T00:00:00+00:00",
    )  # a view 12 days old
    now = "2025-06-01T02:00:00+00:00"
    due = store.due_for_polling(["tanjak"], now, 10)
    assert [m.local_id for m in due] == ["d", "c", "a", "b", "e"]
    stale = store.due_for_polling(
        ["tanjak"], now, 3, stale_before="2025-05-25T00:00:00+00:00", stale_share=0.3
    )
    assert [m.local_id for m in stale] == ["e", "d", "c"]


def test_catch_up_flags_are_set_with_the_mapping_and_cleared_once(store: StateStore) -> None:
    _mapping(store, "2", 102, catch_up=1)
    _mapping(store, "1", 101)
    store.update_mapping("tanjak", "1", catch_up=1)
    assert store.catching_up("tanjak") == ["1", "2"]
    store.caught_up("tanjak", "1")
    store.caught_up("tanjak", "1")
    assert store.catching_up("tanjak") == ["2"]
    assert store.catching_up("ujar") == []


def test_discovered_complaints_are_kept_once(store: StateStore) -> None:
    store.add_discovered([("[ext-tanjak-1]", 100), ("[ext-tanjak-2]", 200)])
    store.add_discovered([("[ext-tanjak-1]", 999)])
    assert store.discovered("[ext-tanjak-1]") == 100
    assert store.discovered("[ext-tanjak-3]") is None


# cursors --------------------------------------------------------------------------------
def test_a_cursor_is_kept_overwritten_and_emptied(backend: Backend) -> None:
    store, other = backend.open(), backend.open()
    assert store.cursor("source:tanjak") is None
    with store.atomic():
        store.set_cursor("source:tanjak", "2025-01-01T00:00:00Z")
    assert other.cursor("source:tanjak") == "2025-01-01T00:00:00Z"
    with store.atomic():
        store.set_cursor("source:tanjak", "2025-02-01T00:00:00Z")
        store.set_cursor("account:kota", None)
    assert other.cursor("source:tanjak") == "2025-02-01T00:00:00Z"
    assert other.cursor("account:kota") is None


def test_a_cursor_commits_with_its_page_or_not_at_all(backend: Backend) -> None:
    store, other = backend.open(), backend.open()
    with pytest.raises(RuntimeError), store.atomic():
        _mapping(store, "1", 100)
        store.set_cursor("source:tanjak", "page 2")
        raise RuntimeError("the page failed")
    assert other.cursor("source:tanjak") is None and other.mapping("tanjak", "1") is None


# follow-ups -----------------------------------------------------------------------------
def _followup(store: StateStore, origin: str, **fields: Any) -> bool:
    values: dict[str, Any] = {
        "source": "tanjak",
        "local_id": "1",
        "national_id": 100,
        "direction": "to_national",
        "origin_id": origin,
        "content": f"words {origin}",
    }
    values.update(fields)
    return store.add_followup(**values)


def test_a_followup_is_recorded_once_per_origin_and_direction(store: StateStore) -> None:
    assert _followup(store, "a")
    assert not _followup(store, "a")  # seen again: already known
    assert _followup(store, "a", direction="to_local")
    assert store.followup_origins("tanjak", "1", "to_national") == {"a"}
    assert store.followup_texts("tanjak", "1", "to_local") == {"words a"}
    assert store.followup_texts_to_national(100) == ["words a"]
    pending = store.pending_followups("to_national", "tanjak", "1")
    assert [p.origin_id for p in pending] == ["a"]
    row = store.followup_row(pending[0].id)
    assert row is not None and row.state == "pending"


def test_a_followup_sent_is_done_with_its_remote_id(store: StateStore) -> None:
    _followup(store, "a")
    _followup(store, "b")
    first, second = store.pending_followups("to_national")
    store.followup_attempt(first.id, "LAPOR 503")
    store.finish_followup(first.id, remote_id="r-1")
    store.finish_followup(second.id)
    assert store.followup_counts("tanjak", "1") == {"to_national": 2}
    assert store.followup_remote_ids(100) == {"r-1"}
    assert store.followups_sent_like(100, "words b", second.id + 1) == 1
    assert store.followups_sent_like(100, "words b", second.id) == 0
    assert store.pending_followups("to_national") == []
    done = store.followup_row(first.id)
    assert done is not None and (done.attempts, done.last_error) == (1, None)


def test_a_followup_whose_answer_was_lost_is_in_doubt(store: StateStore) -> None:
    _followup(store, "a")
    (row,) = store.pending_followups("to_national")
    assert store.counts("tanjak")["pending"] == 1
    store.followup_attempt(row.id, "answer lost: timeout")
    assert [(d.type, d.id) for d in store.in_doubt("tanjak")] == [("followup", row.id)]
    counts = store.counts("tanjak")
    assert (counts["pending"], counts["in_doubt"]) == (0, 1)
    store.decide_followup(row.id, "sent")
    decided = store.followup_row(row.id)
    assert decided is not None and decided.decision == "sent"


def test_followups_waiting_for_lapors_disposition_are_not_pending(store: StateStore) -> None:
    _followup(store, "a")
    _followup(store, "b")
    held, _ = store.pending_followups("to_national")
    store.followup_attempt(held.id, NOT_DISPOSED)
    assert store.counts("tanjak")["pending"] == 0  # both wait on a person


# quarantine -----------------------------------------------------------------------------
def test_a_quarantined_record_counts_its_sightings_and_is_forgotten_when_released(
    store: StateStore,
) -> None:
    first = store.quarantine("tanjak", "1", {"judul": "x"}, "no category", display_id="TJ-1")
    again = store.quarantine("tanjak", "1", {"judul": "y"}, "still no category")
    assert first == again
    entry = store.quarantine_entry(first)
    assert entry is not None
    assert (entry.attempts, entry.reason, entry.display_id) == (
        2,
        "still no category",
        "TJ-1",
    )
    assert json.loads(entry.raw) == {"judul": "y"}
    assert store.quarantine_open("tanjak", "1")
    assert [q.local_id for q in store.quarantined()] == ["1"]
    assert store.quarantined("ujar") == []
    assert store.counts("tanjak")["quarantined"] == 1
    assert store.release_quarantine("tanjak", "1")
    assert not store.release_quarantine("tanjak", "1")
    closed = store.quarantine_entry(first)
    assert closed is not None and (closed.state, closed.raw) == ("resolved", "null")
    assert not store.quarantine_open("tanjak", "1")
    assert store.quarantine("tanjak", "1", {}, "broken again") != first  # a new entry


# what status and trace read --------------------------------------------------------------
def test_the_views_of_complaints_followed_by_id(store: StateStore) -> None:
    utc = "+00:00"
    _mapping(
        store,
        "1",
        101,
        national_canonical="in_progress",
        last_seen_at=f"2025-01-01T00:00:00{utc}",
        next_poll_at=f"2025-01-01T06:00:00{utc}",
    )
    _mapping(store, "2", 102)  # never read nor scheduled
    _mapping(
        store,
        "3",
        103,
        national_canonical="done",  # closed: read, not open
        last_seen_at=f"2025-01-01T00:00:00{utc}",
        next_poll_at=f"2025-01-02T00:00:00{utc}",
    )
    _mapping(store, "4", 104, tracked_by="inbox", last_seen_at="2024-01-01T00:00:00+00:00")
    _mapping(store, "5", 101, duplicate_of="tanjak:1", last_seen_at="2024-01-01T00:00:00+00:00")
    # 2 hours apart: an offset of its own, and a time written without one (UTC)
    _mapping(
        store,
        "6",
        106,
        last_seen_at="2025-01-01T07:00:00+07:00",
        next_poll_at=f"2025-01-01T02:00:00{utc}",
    )
    _mapping(store, "7", 107, last_seen_at="2025-06-30T00:00:00",
             next_poll_at=f"2025-07-01T00:00:00{utc}")  # fmt: skip
    view = store.tracking_view(["tanjak", "ujar"], f"2025-06-01T00:00:00{utc}")
    assert (view.open, view.due, view.oldest_view_at) == (4, 3, f"2025-01-01T00:00:00{utc}")
    # reads a day: 4 (1) + 1 (3) + 12 (6) + 1 (7) = 18, two requests each, an hour
    assert view.wanted_per_hour == pytest.approx(18 * 2 / 24)
    assert store.tracking_view([], "2025-06-01").open == 0
    seen = store.open_view("tanjak")
    assert (seen.open, seen.oldest_seen_at, seen.never_read) == (4, f"2025-01-01T00:00:00{utc}", 1)
    assert store.open_view("ujar").open == 0


def test_the_backlog_counts_each_why(store: StateStore) -> None:
    store.quarantine("tanjak", "1", {}, "mapped since")  # has its complaint: not unsynced
    store.quarantine("tanjak", "#100", {}, "an import")  # not a local complaint
    unsynced = store.quarantine("tanjak", "9", {}, "no category")
    store.add_intent("create", "tanjak", "8", {})
    _mapping(store, "1", 101, conflict=1, local_canonical="done", national_canonical="rejected")
    _mapping(store, "2", 102, local_canonical="submitted", national_canonical="in_progress")
    _mapping(store, "3", 103, local_canonical="done", national_canonical="verified")
    _mapping(store, "4", 104, local_canonical="done", national_canonical="done")
    _mapping(store, "5", 105, local_canonical="rejected", national_canonical="verified",
             origin="national")  # fmt: skip
    for local_id, kind in (("2", "followup"), ("4", "followup"), ("2", "photo")):
        _followup(store, f"{local_id}{kind}", local_id=local_id, kind=kind)
        row = store.pending_followups("to_national", "tanjak", local_id)[-1]
        store.finish_followup(row.id, "failed", error="refused")
    _followup(store, "held", local_id="5", kind="reject")
    _followup(store, "behind", local_id="5")
    held = store.pending_followups("to_national", "tanjak", "5")[0]
    store.followup_attempt(held.id, NOT_DISPOSED)
    store.add_intent("import", "tanjak", "#200", {"token": "t"}, account="k")
    store.add_intent("import", "tanjak", "#201", {}, account="k")
    counts = store.backlog_counts("tanjak")
    assert asdict(counts) | {"oldest_unsynced_at": None} == {
        "conflicts": 1,
        "drift": 1,  # 2: LAPOR ahead
        "refused": 1,  # 2's follow-up (its photo is counted as a photo given up)
        "refused_closed": 1,  # 4's: LAPOR closed it
        "waiting_verification": 2,  # 5's held row and the one behind it
        "waiting_city": 1,
        "waiting_lapor_close": 1,  # 3 (5 is still pending its hand-back)
        "oldest_unsynced_at": None,
    }
    entry = store.quarantine_entry(unsynced)
    assert entry is not None and counts.oldest_unsynced_at == entry.first_seen
    assert store.backlog_counts("ujar").oldest_unsynced_at is None


def test_unknown_status_names_last_seen_first_and_cursor_times(store: StateStore) -> None:
    store.event("unknown_status_name", "tanjak", "1", 100, name="Dibatalkan")
    store.event("unknown_status_name", "tanjak", "2", 101, name="Dibatalkan")
    store.event("unknown_status_name", "tanjak", "1", 100, name="Dibatalkan")
    store.event("unknown_status_name", "tanjak", "3", 102, name="Ditunda")
    store.event("status", "tanjak", "1", 100, name="Selesai")
    names = store.unknown_status_names()
    assert [(n.name, n.complaints) for n in names] == [("Ditunda", 1), ("Dibatalkan", 2)]
    assert names[0].last_seen_at is not None and names[0].last_seen_at > (
        names[1].last_seen_at or ""
    )
    assert store.cursor_times() == {}
    store.set_cursor("source:tanjak", "v1")
    store.set_cursor("account:kota", None)
    times = store.cursor_times()
    assert sorted(times) == ["account:kota", "source:tanjak"] and all(times.values())


def test_what_trace_reads_of_a_record(store: StateStore) -> None:
    _mapping(store, "1", 100, display_id="TJ-0001")
    intent = store.add_intent("create", "tanjak", "2", {"summary": {"display_id": "TJ-0002"}},
                              tag="[ext-tanjak-2]")  # fmt: skip
    store.create_sending(intent, "kota", timedelta(minutes=2))
    store.create_lost(intent, "answer lost: timeout")
    store.quarantine("tanjak", "3", {"judul": "x"}, "no category", display_id="TJ-0003")
    imported = store.add_intent("import", "tanjak", "#100", {}, national_id=100, account="k")
    store.note_attempt(imported, "answer lost")
    store.quarantine("ujar", "#100", {}, "an import refused")
    _followup(store, "a")
    store.event("created", "tanjak", "1", 100)
    store.event("status", None, None, 100)
    store.add_late_photo("tanjak", "1", 0, "https://x/1.jpg", None, "503", "2025-01-01")
    assert store.records_of_national(100) == [
        ("tanjak", "#100"), ("ujar", "#100"), ("tanjak", "1"), ("tanjak", "1"),
    ]  # fmt: skip
    assert store.records_numbered("tj-0001", None) == [("tanjak", "1")]
    assert store.records_numbered("tj-0002", "tanjak") == [("tanjak", "2")]
    assert store.records_numbered("tj-0003", "ujar") == []
    assert store.records_numbered("tj-0003", None) == [("tanjak", "3")]
    assert store.records_numbered("1", "tanjak") == [("tanjak", "1")] * 3
    (create,) = store.intent_notes("tanjak", "2", None)
    assert (create.kind, create.display_id, create.in_doubt) == ("create", "TJ-0002", True)
    (imp,) = store.intent_notes("tanjak", "#100", 100)
    assert (imp.kind, imp.attempts, imp.in_doubt) == ("import", 1, True)
    (entry,) = store.quarantine_notes("tanjak", "3")
    assert (entry.display_id, entry.reason, entry.raw_kept) == ("TJ-0003", "no category", True)
    store.release_quarantine("tanjak", "3")
    assert store.quarantine_notes("tanjak", "3")[0].raw_kept is False
    (followup,) = store.followup_notes("tanjak", "1")
    assert (followup.content, followup.in_doubt) == ("words a", False)
    store.followup_attempt(followup.id, "answer lost: timeout")
    assert store.followup_notes("tanjak", "1")[0].in_doubt is True
    (photo,) = store.late_photo_notes("tanjak", "1")
    assert (photo.photo_index, photo.state, photo.attempts, photo.reason) == (
        0,
        "waiting",
        1,
        "503",
    )


def test_a_records_duplicate_checks_are_read_typed_in_order(backend: Backend) -> None:
    store = backend.open()
    with store.atomic():  # written by the dedupe index (bridge/sync/dedupe.py), not the store
        for n, (rule, score, merged) in enumerate((("text", 0.4, 0), ("phone", 0.9, 1))):
            backend.run(
                store,
                "INSERT INTO dedupe_decisions (at, source, local_id, candidate_of, rule, score,"
                f" merged, inputs) VALUES ('2025-01-0{n + 1}', 'ujar', '2', 'tanjak:1',"
                f" '{rule}', {score}, {merged}, '{{}}')",
            )
    checks = store.dedupe_decisions("ujar", "2")
    assert [(c.at, c.rule, c.score, c.merged, c.candidate_of) for c in checks] == [
        ("2025-01-01", "text", 0.4, 0, "tanjak:1"),
        ("2025-01-02", "phone", 0.9, 1, "tanjak:1"),
    ]
    assert store.dedupe_decisions("ujar", "1") == []


# the audit log --------------------------------------------------------------------------
def test_events_are_appended_and_read_by_record_or_complaint(store: StateStore) -> None:
    store.event("created", "tanjak", "1", 100, category="JALAN")
    store.event("status", None, None, 100)
    store.event("other", "ujar", "9")
    store.event("mapping_split", "tanjak", "2")
    store.event("category_fallback", "tanjak", "1", category="BANJIR", sent_as="TOPIK LAINNYA")
    store.commit_held()
    kinds = [e.kind for e in store.events_for("tanjak", "1", 100)]
    assert kinds == ["created", "status", "category_fallback"]
    assert json.loads(store.events_for("tanjak", "1", None)[0].detail or "") == {
        "category": "JALAN"
    }
    assert store.was_split("tanjak", "2") and not store.was_split("tanjak", "1")
    assert store.category_fallbacks("tanjak") == {"BANJIR": "TOPIK LAINNYA"}


@pytest.mark.parametrize(
    "statement", ["UPDATE events SET kind = 'forged'", "DELETE FROM events WHERE id > 0"]
)
def test_the_database_refuses_to_change_the_audit_log(backend: Backend, statement: str) -> None:
    store = backend.open()
    with store.atomic():
        store.event("created", "tanjak", "1", 100)
    with pytest.raises(INTEGRITY, match="append-only"), store.atomic():
        backend.run(store, statement)
    assert [e.kind for e in store.events_for("tanjak", "1", None)] == ["created"]


# operator requests ----------------------------------------------------------------------
def test_an_operator_request_goes_queued_running_done(store: StateStore) -> None:
    params = json.dumps({"national_id": 100})
    with store.atomic():
        first = store.add_operator_request("mapping_link", "tanjak", "1", params, "ops")
        second = store.add_operator_request("resync", "tanjak", None, "{}", "ops")
    queued = store.operator_request(first)
    assert queued is not None
    assert (queued.state, queued.params, queued.requested_by) == (
        "queued",
        {"national_id": 100},
        "ops",
    )
    assert (queued.action, queued.local_id, queued.record) == ("mapping_link", "1", "tanjak:1")
    assert [r.id for r in store.operator_requests_waiting("tanjak")] == [first, second]
    store.claim_operator_request(first, "command")
    running = store.operator_request(first)
    assert running is not None and (running.state, running.carried_out_by) == (
        "running",
        "command",
    )
    assert [r.id for r in store.operator_requests_waiting("tanjak")] == [first, second]
    store.finish_operator_request(first, "done", "linked to #100")
    done = store.operator_request(first)
    assert done is not None and (done.state, done.outcome) == ("done", "linked to #100")
    assert done.finished_at is not None and done.finished
    assert [r.id for r in store.operator_requests_waiting("tanjak")] == [second]
    assert store.operator_request(first + second + 1) is None


# passes and late photos -----------------------------------------------------------------
def test_a_pass_is_seen_started_at_once_then_finished_or_stopped(backend: Backend) -> None:
    store, other = backend.open(), backend.open()
    with store.holding():
        store.pass_started("source:tanjak", "source")
        assert other.passes()["source:tanjak"].started_at is not None  # durable
    store.pass_finished("source:tanjak", "LAPOR 503")
    store.pass_stopped("source:tanjak")
    store.commit_held()
    row = other.passes()["source:tanjak"]
    assert row.last_error == "LAPOR 503" and row.ok_at is None and row.kind == "source"
    store.pass_finished("source:tanjak", None)
    store.pass_stopped("source:tanjak")
    store.commit_held()
    assert other.passes()["source:tanjak"].ok_at is not None


def test_a_late_photo_waits_then_rides_a_followup(store: StateStore) -> None:
    _mapping(store, "1", 100)
    store.add_late_photo("tanjak", "1", 0, "https://x/1.jpg", "image/jpeg", "503", "2025-01-01")
    store.add_late_photo("tanjak", "1", 0, "https://x/1.jpg", None, "timeout", "2025-01-02")
    store.add_late_photo("tanjak", "2", 0, "https://x/2.jpg", None, "503", "2025-01-01")
    assert store.late_photo_counts("tanjak") == {"waiting": 2, "given_up": 0}
    (due,) = store.due_late_photos("tanjak", "2025-06-01")  # record 2 has no complaint yet
    assert (due.attempts, due.reason, due.national_id) == (2, "timeout", 100)
    assert store.due_late_photos("tanjak", "2025-01-01") == []
    row = store.add_late_photo_followup(due, "[foto]")
    assert store.followup_row(row) is not None
    assert not store.late_photo_went_with_create("tanjak", "1", 0)  # it has its follow-up
    assert store.late_photo_went_with_create("tanjak", "2", 0)
    store.update_late_photo(due.id, state="given_up")
    assert store.late_photo_counts("tanjak") == {"waiting": 0, "given_up": 1}


# PostgreSQL only: what SQLite has no counterpart for -----------------------------------
@pytest.mark.pg
def test_postgresql_refuses_to_truncate_the_audit_log(pg_server: PgServer) -> None:
    store = PgStore(pg_server.new_database())
    try:
        store.event("created")
        store.commit_held()
        with pytest.raises(INTEGRITY, match="append-only"), store.atomic():
            store.conn.execute("TRUNCATE events")
    finally:
        store.close()


@pytest.mark.pg
def test_stores_opened_at_once_apply_each_migration_once(pg_server: PgServer) -> None:
    dsn = pg_server.new_database()
    opened: list[PgStore] = []
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            opened.append(PgStore(dsn))
        except BaseException as exc:  # pragma: no cover - shown by the assertion
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        assert all(s.applied_migrations() == MIGRATION_NAMES for s in opened)
    finally:
        for s in opened:
            s.close()


@pytest.mark.pg
def test_a_store_on_a_pooled_connection_gives_it_back_clean(pg_server: PgServer) -> None:
    dsn = pg_server.new_database()
    with open_pool(dsn, max_size=1) as pool:
        store = PgStore(pool=pool)
        store.conn.execute("BEGIN")  # work held, never committed: a pass cut short
        store.set_cursor("left open", "x")
        store.close()
        again = PgStore(pool=pool, readonly=True)
        assert again.cursor("left open") is None
        again.close()
        writer = PgStore(pool=pool)  # the pool's connection is writable again
        with writer.atomic():
            writer.set_cursor("a", "x")
        writer.close()


@pytest.mark.pg
def test_a_readonly_open_of_an_empty_database_says_there_is_no_state(
    pg_server: PgServer,
) -> None:
    from bridge.sync.store import SchemaOutdated

    with pytest.raises(SchemaOutdated, match="no lapor-bridge state"):
        PgStore(pg_server.new_database(), readonly=True)


def test_without_server_binaries_the_reason_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from tests import pg

    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(pg, "DEBIAN_BINARIES", str(tmp_path / "*" / "bin"))
    with pytest.raises(pg.NoServer, match="install Debian's postgresql package"):
        pg.find_binaries()


# the same history on both stores: the same answers ------------------------------------
#: columns whose values are the clock's (now_iso) or a database's own numbering: what two
#: stores given the same history may differ in
_OWN = {
    "id", "at", "created_at", "updated_at", "first_synced_at", "last_synced_at", "sent_at",
    "deadline", "answered_at", "first_seen", "last_seen", "started_at", "finished_at", "ok_at",
    "requested_at", "followup_id",
}  # fmt: skip


def _masked(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: ("…" if k in _OWN else _masked(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(v) for v in value]
    if isinstance(value, set):
        return sorted(value)
    return value


def _plain(row: MappingRow | None) -> dict[str, Any] | None:
    return asdict(row) if row is not None else None


def _snapshot(store: StateStore) -> Any:
    """Everything the store answers, read through its interface."""
    records = [str(n) for n in range(6)]
    return _masked(
        {
            "counts": store.counts("tanjak"),
            "in_doubt": [asdict(d) for d in store.in_doubt()],
            "mappings": [_plain(store.mapping("tanjak", r)) for r in records],
            "by_national": [
                [asdict(m) for m in store.mappings_for_national(n)] for n in range(100, 104)
            ],
            "owners": [_plain(store.mapping_by_national(n)) for n in range(100, 104)],
            "intents": [asdict(i) for i in store.pending_intents("tanjak", "create")],
            "imports": [asdict(i) for i in store.pending_intents("tanjak", "import")],
            "to_national": [asdict(r) for r in store.pending_followups("to_national")],
            "to_local": [asdict(r) for r in store.pending_followups("to_local", "tanjak")],
            "followup_counts": [store.followup_counts("tanjak", r) for r in records],
            "quarantined": [asdict(q) for q in store.quarantined()],
            "catching_up": store.catching_up("tanjak"),
            "unlinked": list(store.unlinked("tanjak", batch=2)),
            # the order among mappings due at the same moment is the query plan's in SQLite
            # (by link_state today): the same set, and the same moments in order
            "polling": sorted(
                (m.local_id, m.next_poll_at)
                for m in store.due_for_polling(["tanjak"], "2025-06-01", 100)
            ),
            "polling_first": [
                m.next_poll_at for m in store.due_for_polling(["tanjak"], "2025-06-01", 4)
            ],
            "cursors": [store.cursor(f"c{n}") for n in range(3)],
            "late_photos": store.late_photo_counts("tanjak"),
            "events": [asdict(e) for e in store.events_for("tanjak", "1", 101)],
            "passes": {name: asdict(row) for name, row in store.passes().items()},
            "tokens": store.answered_with_tokens("tanjak"),
        }
    )


class _Rollback(Exception):
    """Leaves an atomic block on purpose: what it wrote is taken back."""


@pytest.mark.pg
@pytest.mark.parametrize("seed", range(3))
def test_both_stores_give_the_same_answers_to_the_same_history(
    pg_server: PgServer, tmp_path: Path, seed: int
) -> None:
    import random

    stores: list[StateStore] = [Store(tmp_path / "bridge.db"), PgStore(pg_server.new_database())]
    handles: list[list[int]] = [[], []]  # intent ids, each store's own, in the same order
    rows: list[list[int]] = [[], []]  # follow-up row ids likewise
    rng = random.Random(seed)

    def step(store: StateStore, n: int, op: str, a: int, b: int) -> Any:
        record, national = str(a % 6), 100 + b % 4
        if op == "create":
            handles[n].append(store.add_intent("create", "tanjak", record, {"tag": record}))
        elif op == "import":
            payload = {"token": "t"} if b % 2 else {}
            handles[n].append(store.add_intent("import", "tanjak", record, payload, account="k"))
        elif op == "sending" and handles[n]:
            store.create_sending(handles[n][a % len(handles[n])], "kota", timedelta(seconds=b))
        elif op == "lost" and handles[n]:
            store.create_lost(handles[n][a % len(handles[n])], f"answer lost {b}")
        elif op == "answered" and handles[n]:
            store.create_answered(handles[n][a % len(handles[n])], national)
        elif op == "finish" and handles[n]:
            store.finish_intent(handles[n][a % len(handles[n])], ("done", "failed")[b % 2])
        elif op == "map":
            duplicate = "tanjak:0" if b % 5 == 4 else None
            store.insert_mapping(
                source="tanjak", local_id=record, national_id=None if b % 7 == 6 else national,
                duplicate_of=duplicate, next_poll_at=f"2025-0{1 + b % 9}-01",
            )  # fmt: skip
        elif op == "update":
            store.update_mapping(
                "tanjak",
                record,
                status=f"s{b}",
                catch_up=b % 2,
                link_state=("pending", "linked")[b % 2],
            )
        elif op == "renumber":
            store.update_mapping("tanjak", record, national_id=national)
        elif op == "caught_up":
            store.caught_up("tanjak", record)
        elif op == "cursor":
            store.set_cursor(f"c{a % 3}", None if b % 4 == 0 else f"v{b}")
        elif op == "followup":
            direction = ("to_national", "to_local")[b % 2]
            if store.add_followup(
                source="tanjak", local_id=record, national_id=national, direction=direction,
                origin_id=f"o{b % 3}", content=f"words {b % 3}",
            ):  # fmt: skip
                rows[n].append(store.pending_followups(direction, "tanjak", record)[-1].id)
        elif op == "followup_sent" and rows[n]:
            store.followup_attempt(rows[n][a % len(rows[n])], ("answer lost", None)[b % 2])
            if b % 3 == 0:
                store.finish_followup(rows[n][a % len(rows[n])], remote_id=f"r{b}")
        elif op == "quarantine":
            store.quarantine("tanjak", record, {"b": b}, f"reason {b}")
        elif op == "release":
            return store.release_quarantine("tanjak", record)
        elif op == "event":
            store.event("created", "tanjak", record, national, n=b)
        elif op == "photo":
            store.add_late_photo("tanjak", record, b % 2, "u", None, "503", "2025-01-01")
        elif op == "pass":
            store.pass_started("source:tanjak", "source")
            store.pass_finished("source:tanjak", None if b % 2 else "boom")
        return None

    ops = [
        "create", "import", "sending", "lost", "answered", "finish", "map", "map", "update",
        "renumber", "caught_up", "cursor", "followup", "followup", "followup_sent",
        "quarantine", "release", "event", "photo", "pass",
    ]  # fmt: skip
    try:
        for _ in range(60):
            block = [(rng.choice(ops), rng.randrange(60), rng.randrange(60)) for _ in range(3)]
            rollback = rng.random() < 0.2
            outcomes: list[Any] = []
            for n, store in enumerate(stores):
                told: list[Any] = []
                lengths = (len(handles[n]), len(rows[n]))
                try:
                    with store.atomic():
                        for op, a, b in block:
                            try:
                                told.append(step(store, n, op, a, b))
                            except INTEGRITY:
                                told.append("refused")
                        if rollback:
                            raise _Rollback
                except _Rollback:
                    # the ids it handed out are gone with it
                    del handles[n][lengths[0] :], rows[n][lengths[1] :]
                    told.append("rolled back")
                outcomes.append(told)
            assert outcomes[0] == outcomes[1], block
            assert _snapshot(stores[0]) == _snapshot(stores[1]), block
    finally:
        for store in stores:
            store.close()


# the duplicate check's index (bridge/sync/dedupe.py) -----------------------------------
def _indexed(local_id: str, at: str, key: str = "k1", **fields: Any) -> IndexedRow:
    values: dict[str, Any] = {
        "national_id": 100 + int(local_id),
        "source": "tanjak",
        "local_id": local_id,
        "phone_key": key,
        "category": "infrastruktur",
        "created_at": at,
        "content": f"jalan berlubang {local_id}",
    }
    return IndexedRow(**{**values, **fields})


def test_the_index_answers_one_citizens_window_newest_first(store: StateStore) -> None:
    with store.atomic():
        for n, day in enumerate(["01", "03", "05", "07", "09"], start=1):
            store.dedupe_put(_indexed(str(n), f"2025-01-{day}T00:00:00.000000+00:00"))
        store.dedupe_put(_indexed("9", "2025-01-04T00:00:00.000000+00:00", key="k2"))
        # indexed again (a changed record): replaced, not added
        store.dedupe_put(_indexed("2", "2025-01-03T00:00:00.000000+00:00", content="diganti"))
    rows = store.dedupe_block(
        "k1", "2025-01-02T00:00:00.000000+00:00", "2025-01-08T00:00:00.000000+00:00", 64
    )
    assert [row.local_id for row in rows] == ["4", "3", "2"]
    assert rows[2].content == "diganti" and rows[2].national_id == 102
    assert rows[2].text_norm is None
    limited = store.dedupe_block(
        "k1", "2025-01-01T00:00:00.000000+00:00", "2025-01-09T00:00:00.000000+00:00", 2
    )
    assert [row.local_id for row in limited] == ["5", "4"]
    with store.atomic():
        store.dedupe_forget("tanjak", "3")
    rows = store.dedupe_block(
        "k1", "2025-01-02T00:00:00.000000+00:00", "2025-01-08T00:00:00.000000+00:00", 64
    )
    assert [row.local_id for row in rows] == ["4", "2"]


def test_the_index_purge_forgets_old_rows_and_its_clock_never_goes_back(
    store: StateStore,
) -> None:
    assert store.dedupe_meta("clock") is None
    assert len(store.dedupe_meta("phone_key_secret") or "") == 64
    with store.atomic():
        for n, day in enumerate(["01", "03", "05"], start=1):
            store.dedupe_put(_indexed(str(n), f"2025-01-{day}T00:00:00.000000+00:00"))
        assert store.dedupe_purge("2025-01-04T00:00:00.000000+00:00", "2025-01-11") == 2
        assert store.dedupe_purge("2025-01-01T00:00:00.000000+00:00", "2025-01-08") == 0
    assert store.dedupe_meta("clock") == "2025-01-11"  # the later clock is kept
    rows = store.dedupe_block("k1", "2025-01-01", "2025-02-01", 64)
    assert [row.local_id for row in rows] == ["3"]


def test_a_duplicate_check_over_either_store_finds_the_same_citizens_complaint(
    store: StateStore,
) -> None:
    index = DedupeIndex(store)
    with store.atomic():
        assert index.add(dedupe_complaint(POTHOLE), national_id=4123987)
    check = index.check(dedupe_second(POTHOLE_SMS))
    assert check.match is not None and check.match.national_id == 4123987
    with store.atomic():
        ids = [index.record(decision) for decision in check.decisions]
    assert ids and all(ids) and ids == sorted(ids)
    decisions = store.dedupe_decisions("ujar", "UJR-1")
    assert len(decisions) == len(ids)
