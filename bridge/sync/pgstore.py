"""The bridge's state in PostgreSQL: the same interface and guarantees as the SQLite store.

:class:`PgStore` implements :class:`bridge.sync.storeport.StateStore` with psycopg 3, on one
connection of its own or one taken from a :mod:`psycopg_pool` pool. ``[bridge] database =
"postgresql://…"`` selects it (bridge.runtime.stores; one process: docs/postgresql.md says
what remains); the shared test suite (tests/test_store_contract.py) holds it to what the
SQLite store does.

What is kept as in SQLite, on purpose:

* the tables, columns and names, migration by migration (m001…m011, recorded in
  ``schema_migrations`` under the same names), so that a city's state can be moved across
  and the engine's SQL reads the same; times stay ISO-8601 text in UTC and flags 0/1;
* the transactions: a write outside :meth:`PgStore.atomic` commits at once (as the SQLite
  store's), :meth:`PgStore.holding` holds the commits of atomic blocks until
  :meth:`PgStore.commit_held`, a ``durable`` block commits at once, nested
  blocks are savepoints, and a failed statement takes back only itself;
* the unique constraints on both sides of a mapping, one pending create per record, one
  open quarantine entry per record: unique indexes in the database;
* the audit log ``events`` is append-only in the database: triggers refuse UPDATE, DELETE
  and TRUNCATE (the bridge's role should not own the table either: an owner can disable a
  trigger; docs/postgresql.md).

Migrations run under a transaction-level advisory lock, so two processes opening the same
database at once apply each one once.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import pq
from psycopg import sql as pgsql
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from bridge.core.model import CATCH_ALL_TOPIC
from bridge.runtime.health import STOPPED
from bridge.sync.pg_report_reads import PgReportReads
from bridge.sync.pgleases import (
    CLUSTER_MIGRATION_SET,
    CLUSTER_MIGRATIONS,
    Fence,
    check_fence,
    lease_rows,
    replica_rows,
)
from bridge.sync.store import (
    DEDUPE_BLOCK,
    FOLLOWUP_IN_DOUBT,
    FOLLOWUP_WAITING_VERIFICATION,
    OLDEST_UNSYNCED,
    OPEN_ON_LAPOR,
    OPEN_VIEW,
    PURGED_RAW,
    RECORDS_OF_NATIONAL,
    SchemaOutdated,
    StoreError,
    backlog_queries,
    now_iso,
)
from bridge.sync.storeport import (
    BacklogCounts,
    DedupeDecisionRow,
    EventRow,
    FollowupNote,
    IndexedRow,
    InDoubtRow,
    IntentNote,
    IntentRow,
    LatePhotoNote,
    LatePhotoRow,
    LeaseRow,
    LedgerRow,
    MappingRow,
    OpenView,
    OperatorRequestRow,
    PassRow,
    PolledRow,
    QuarantineNote,
    QuarantineRow,
    ReplicaRow,
    TrackingView,
    UnknownStatusName,
    note,
)

if TYPE_CHECKING:
    from bridge.sync.storeport import StateStore

#: the migration set's name, as the SQLite store's (sqlite-utils ``Migrations``)
MIGRATION_SET = "lapor-bridge"
#: the advisory lock taken by the transaction that applies a migration
_MIGRATION_LOCK = 0x1A9_0B1D6E
#: the advisory lock a transaction purging the duplicate check's index holds (one at a time)
_PURGE_LOCK = 0x1A9_0B1D70
#: the table of applied migrations
MIGRATIONS_TABLE = "schema_migrations"

#: PostgreSQL's spelling of the SQLite store's expressions over an intent's JSON payload
IMPORT_IN_DOUBT = "kind = 'import' AND attempts > 0 AND (payload::jsonb ->> 'token') IS NULL"
IMPORT_QUEUED = "kind = 'import' AND (payload::jsonb ->> 'token') IS NOT NULL"
#: what a finished intent's payload keeps (bridge.sync.store.KEPT_PAYLOAD)
KEPT_PAYLOAD = (
    "CASE kind"
    " WHEN 'create' THEN jsonb_build_object('tag', payload::jsonb -> 'tag',"
    " 'summary', COALESCE(NULLIF(payload::jsonb -> 'summary', 'null'::jsonb), '{}'::jsonb))::text"
    " WHEN 'import' THEN jsonb_build_object('complaint', jsonb_build_object("
    "'status_code', payload::jsonb #> '{complaint,status_code}',"
    " 'created_at', payload::jsonb #> '{complaint,created_at}',"
    " 'confidential', payload::jsonb #> '{complaint,confidential}'),"
    " 'token', payload::jsonb -> 'token')::text"
    " ELSE '{}' END"
)

#: a create's visible number, from its summary (SQLite: ``json_extract``)
_SUMMARY_NUMBER = "(payload::jsonb #>> '{summary,display_id}')"


def _instant(column: str) -> str:
    """An ISO-8601 text column as a point in time; one naming no offset is UTC, as SQLite's
    ``julianday`` reads it (the bridge writes UTC with its offset)."""
    return (
        f"(CASE WHEN {column} ~ '[+-][0-9][0-9]:[0-9][0-9]$' OR {column} LIKE '%Z'"
        f" THEN {column}::timestamptz ELSE {column}::timestamp AT TIME ZONE 'UTC' END)"
    )


def _utc_instant(text: str) -> datetime:
    """An ISO-8601 text as an instant; one naming no offset is UTC (as :func:`_instant`)."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# migrations: the SQLite store's, one for one, in PostgreSQL's dialect ---------------------
_Migration = Callable[[psycopg.Connection[Any]], None]
MIGRATIONS: list[tuple[str, _Migration]] = []


def _migration(fn: _Migration) -> _Migration:
    MIGRATIONS.append((fn.__name__, fn))
    return fn


@_migration
def m001_initial(conn: psycopg.Connection[Any]) -> None:
    conn.execute(
        """
        CREATE TABLE mappings (
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            source TEXT NOT NULL,
            local_id TEXT NOT NULL,
            national_id BIGINT,
            duplicate_of TEXT,
            origin TEXT NOT NULL DEFAULT 'local',
            status TEXT,
            local_status TEXT,
            national_status INTEGER,
            local_updated_at TEXT,
            national_updated_at TEXT,
            fingerprint TEXT,
            category TEXT,
            agency TEXT,
            confidential INTEGER NOT NULL DEFAULT 0,
            anonymous INTEGER NOT NULL DEFAULT 0,
            link_state TEXT NOT NULL DEFAULT 'pending',
            conflict INTEGER NOT NULL DEFAULT 0,
            created_at TEXT,
            first_synced_at TEXT NOT NULL,
            last_synced_at TEXT NOT NULL,
            UNIQUE (source, local_id)
        );
        -- one national complaint per local record, and one owning record per complaint
        CREATE UNIQUE INDEX mappings_national ON mappings (national_id)
            WHERE duplicate_of IS NULL AND national_id IS NOT NULL;
        CREATE INDEX mappings_link_state ON mappings (source, link_state);

        CREATE TABLE cursors (
            name TEXT PRIMARY KEY,
            value TEXT,
            updated_at TEXT NOT NULL
        );

        CREATE TABLE intents (
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            kind TEXT NOT NULL,
            source TEXT NOT NULL,
            local_id TEXT NOT NULL,
            national_id BIGINT,
            account TEXT,
            tag TEXT,
            payload TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'pending',
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE UNIQUE INDEX intents_one_pending_create ON intents (source, local_id)
            WHERE kind = 'create' AND state = 'pending';
        CREATE INDEX intents_pending ON intents (state, source, kind);

        CREATE TABLE quarantine (
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            source TEXT NOT NULL,
            local_id TEXT NOT NULL,
            raw TEXT NOT NULL,
            reason TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'open',
            attempts INTEGER NOT NULL DEFAULT 1,
            first_seen TEXT NOT NULL,
            last_seen TEXT NOT NULL
        );
        CREATE UNIQUE INDEX quarantine_open ON quarantine (source, local_id)
            WHERE state = 'open';

        CREATE TABLE events (
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            at TEXT NOT NULL,
            kind TEXT NOT NULL,
            source TEXT,
            local_id TEXT,
            national_id BIGINT,
            detail TEXT
        );
        CREATE INDEX events_record ON events (source, local_id);
        CREATE INDEX events_national ON events (national_id);
        -- the audit log is append-only, in the database: as SQLite's RAISE(ABORT), an
        -- integrity error
        CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'the audit log is append-only'
                USING ERRCODE = 'integrity_constraint_violation';
        END
        $$;
        CREATE TRIGGER events_no_update BEFORE UPDATE ON events
            FOR EACH ROW EXECUTE FUNCTION events_append_only();
        CREATE TRIGGER events_no_delete BEFORE DELETE ON events
            FOR EACH ROW EXECUTE FUNCTION events_append_only();
        CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
            FOR EACH STATEMENT EXECUTE FUNCTION events_append_only();

        CREATE TABLE passes (
            name TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            started_at TEXT,
            finished_at TEXT,
            ok_at TEXT,
            last_error TEXT
        );
        """
    )


@_migration
def m002_two_way(conn: psycopg.Connection[Any]) -> None:
    conn.execute(
        """
        ALTER TABLE mappings ADD COLUMN account TEXT;
        ALTER TABLE mappings ADD COLUMN local_canonical TEXT;
        ALTER TABLE mappings ADD COLUMN national_canonical TEXT;
        ALTER TABLE mappings ADD COLUMN tracked_by TEXT;
        ALTER TABLE mappings ADD COLUMN next_poll_at TEXT;
        ALTER TABLE mappings ADD COLUMN last_seen_at TEXT;
        CREATE INDEX mappings_poll ON mappings (account, next_poll_at);

        CREATE TABLE followups (
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            source TEXT NOT NULL,
            local_id TEXT NOT NULL,
            national_id BIGINT NOT NULL,
            direction TEXT NOT NULL,
            origin_id TEXT NOT NULL,
            kind TEXT NOT NULL DEFAULT 'followup',
            ref TEXT,
            author TEXT,
            content TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'pending',
            remote_id TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            UNIQUE (source, local_id, direction, origin_id)
        );
        CREATE INDEX followups_pending ON followups (state, direction, source);
        CREATE INDEX followups_national ON followups (national_id);
        """
    )


@_migration
def m003_dedupe(conn: psycopg.Connection[Any]) -> None:
    conn.execute(
        """
        CREATE TABLE dedupe_index (
            national_id BIGINT,
            source TEXT NOT NULL,
            local_id TEXT NOT NULL,
            phone_key TEXT NOT NULL,
            category TEXT NOT NULL,
            created_at TEXT NOT NULL,
            text_norm TEXT NOT NULL,
            PRIMARY KEY (source, local_id)
        );
        CREATE INDEX dedupe_index_block ON dedupe_index (phone_key, category, created_at);

        CREATE TABLE dedupe_decisions (
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            at TEXT NOT NULL,
            source TEXT NOT NULL,
            local_id TEXT NOT NULL,
            candidate_of TEXT,
            rule TEXT NOT NULL,
            score DOUBLE PRECISION NOT NULL,
            merged INTEGER NOT NULL,
            inputs TEXT NOT NULL
        );
        CREATE INDEX dedupe_decisions_record ON dedupe_decisions (source, local_id);

        CREATE TABLE dedupe_meta (
            name TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        """
    )
    # the per-database key of the phone hashes: from the operating system's generator, as
    # SQLite's randomblob (PostgreSQL's own needs pgcrypto)
    conn.execute(
        "INSERT INTO dedupe_meta (name, value) VALUES ('phone_key_secret', %s)",
        (secrets.token_hex(32),),
    )


@_migration
def m004_discovered(conn: psycopg.Connection[Any]) -> None:
    conn.execute("CREATE TABLE discovered (tag TEXT PRIMARY KEY, national_id BIGINT NOT NULL)")


@_migration
def m005_dedupe_text_as_written(conn: psycopg.Connection[Any]) -> None:
    # SQLite rebuilds the table to change a column; PostgreSQL alters it in place
    conn.execute(
        """
        ALTER TABLE dedupe_index ADD COLUMN content TEXT;
        ALTER TABLE dedupe_index ALTER COLUMN text_norm DROP NOT NULL;
        ALTER TABLE dedupe_index ADD CONSTRAINT dedupe_index_text
            CHECK (content IS NOT NULL OR text_norm IS NOT NULL);
        """
    )


@_migration
def m006_creates_in_doubt(conn: psycopg.Connection[Any]) -> None:
    conn.execute(
        """
        ALTER TABLE intents ADD COLUMN sent_at TEXT;
        ALTER TABLE intents ADD COLUMN deadline TEXT;
        ALTER TABLE intents ADD COLUMN answered_at TEXT;
        ALTER TABLE intents ADD COLUMN evidence TEXT;
        ALTER TABLE intents ADD COLUMN decision TEXT;
        CREATE INDEX intents_answered ON intents (account, kind, answered_at);
        UPDATE intents SET attempts = GREATEST(attempts, 1), sent_at = created_at,
            deadline = updated_at
            WHERE kind = 'create' AND state = 'pending';
        ALTER TABLE followups ADD COLUMN decision TEXT;
        ALTER TABLE mappings ADD COLUMN national_status_name TEXT;
        """
    )


@_migration
def m007_late_photos(conn: psycopg.Connection[Any]) -> None:
    conn.execute(
        """
        CREATE TABLE late_photos (
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            source TEXT NOT NULL,
            local_id TEXT NOT NULL,
            photo_index INTEGER NOT NULL,
            attachment TEXT NOT NULL,
            content_type TEXT,
            attempts INTEGER NOT NULL DEFAULT 1,
            next_try_at TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'waiting',
            reason TEXT,
            followup_id BIGINT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            UNIQUE (source, local_id, photo_index)
        );
        CREATE INDEX late_photos_due ON late_photos (source, state, next_try_at);
        """
    )


@_migration
def m008_forget_finished(conn: psycopg.Connection[Any]) -> None:
    conn.execute(f"UPDATE intents SET payload = {KEPT_PAYLOAD} WHERE state != 'pending'")
    conn.execute(f"UPDATE quarantine SET raw = '{PURGED_RAW}' WHERE state != 'open'")


@_migration
def m009_visible_numbers(conn: psycopg.Connection[Any]) -> None:
    conn.execute(
        """
        ALTER TABLE mappings ADD COLUMN display_id TEXT;
        ALTER TABLE quarantine ADD COLUMN display_id TEXT;
        CREATE INDEX mappings_display ON mappings (display_id) WHERE display_id IS NOT NULL;
        CREATE INDEX quarantine_display ON quarantine (display_id)
            WHERE display_id IS NOT NULL;
        """
    )


@_migration
def m010_operator_requests(conn: psycopg.Connection[Any]) -> None:
    conn.execute(
        """
        CREATE TABLE operator_requests (
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            action TEXT NOT NULL,
            source TEXT NOT NULL,
            local_id TEXT,
            params TEXT NOT NULL DEFAULT '{}',
            requested_by TEXT NOT NULL,
            requested_at TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'queued',
            started_at TEXT,
            finished_at TEXT,
            carried_out_by TEXT,
            outcome TEXT
        );
        CREATE INDEX operator_requests_queued ON operator_requests (state, source, id);
        ALTER TABLE mappings ADD COLUMN conflict_kept TEXT;
        """
    )


@_migration
def m011_catch_up(conn: psycopg.Connection[Any]) -> None:
    conn.execute(
        """
        ALTER TABLE mappings ADD COLUMN catch_up INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX mappings_catch_up ON mappings (source, local_id) WHERE catch_up = 1;
        """
    )


@_migration
def m012_tracking_budget(conn: psycopg.Connection[Any]) -> None:
    conn.execute(
        """
        CREATE TABLE tracking_spend (
            id BIGSERIAL PRIMARY KEY,
            account TEXT NOT NULL,
            at TEXT NOT NULL,
            requests INTEGER NOT NULL
        );
        CREATE INDEX tracking_spend_account ON tracking_spend (account, at);
        CREATE TABLE tracking_pace (
            account TEXT PRIMARY KEY,
            paced_until TEXT NOT NULL
        );
        """
    )


def _migrations_table_exists(conn: psycopg.Connection[Any]) -> bool:
    row = conn.execute("SELECT to_regclass(%s)", (MIGRATIONS_TABLE,)).fetchone()
    return row is not None and row[0] is not None


def applied(conn: psycopg.Connection[Any], migration_set: str = MIGRATION_SET) -> list[str]:
    """The names of the migrations of ``migration_set`` applied to the database, in the order
    applied."""
    if not _migrations_table_exists(conn):
        return []
    rows = conn.execute(
        f"SELECT name FROM {MIGRATIONS_TABLE} WHERE migration_set = %s ORDER BY id",
        (migration_set,),
    ).fetchall()
    return [str(r[0]) for r in rows]


def _pending(conn: psycopg.Connection[Any]) -> list[str]:
    """The migrations of both sets not applied yet, by name."""
    state, cluster = applied(conn), applied(conn, CLUSTER_MIGRATION_SET)
    return [n for n, _ in MIGRATIONS if n not in state] + [
        n for n, _ in CLUSTER_MIGRATIONS if n not in cluster
    ]


def apply_migrations(conn: psycopg.Connection[Any]) -> list[str]:
    """Apply the pending migrations, each in a transaction of its own with its record, under
    an advisory lock (another process applying them waits, then finds them applied). The
    names applied now.

    A schema already current runs no DDL at all, so the bridge may run as a role that owns
    nothing (``grant_runtime``); a role that may not apply what is pending gets a
    :class:`StoreError` saying who can (``lapor-bridge store upgrade --owner``)."""
    if _migrations_table_exists(conn) and not _pending(conn):
        return []
    try:
        return _apply(conn)
    except psycopg.errors.InsufficientPrivilege as exc:
        role = conn.info.user
        pending = ", ".join(_pending(conn)) if _migrations_table_exists(conn) else "all"
        raise StoreError(
            f"the PostgreSQL schema is behind this lapor-bridge (pending: {pending}) and role"
            f" {role} may not change it ({exc.diag.message_primary}): run `lapor-bridge store"
            " upgrade --owner URL` as the schema's owner, then start again"
        ) from None


def grant_runtime(conn: psycopg.Connection[Any], role: str) -> None:
    """What the bridge's own role needs on the schema, and no more: read and write the
    state's tables, never change the audit log (``events``: SELECT and INSERT only, so its
    rows can be neither updated, deleted nor truncated, and, owning nothing, the role can
    disable no trigger) nor the migrations' record; no DDL (the owner migrates)."""
    who = pgsql.Identifier(role)
    schema = pgsql.Identifier(str(_scalar_of(conn, "SELECT current_schema()")))
    with conn.transaction():
        for statement in (
            "GRANT USAGE ON SCHEMA {schema} TO {who}",
            "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {who}",
            "REVOKE UPDATE, DELETE, TRUNCATE ON events FROM {who}",
            "REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON " + MIGRATIONS_TABLE + " FROM {who}",
            "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {who}",
        ):
            conn.execute(pgsql.SQL(statement).format(schema=schema, who=who))


def _scalar_of(conn: psycopg.Connection[Any], query: str) -> Any:
    row = conn.execute(query).fetchone()
    return None if row is None else row[0]


def _apply(conn: psycopg.Connection[Any]) -> list[str]:
    done: list[str] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} ("
            " id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
            " migration_set TEXT NOT NULL, name TEXT NOT NULL, applied_at TEXT NOT NULL,"
            " UNIQUE (migration_set, name))"
        )
    sets: list[tuple[str, list[tuple[str, _Migration]]]] = [
        (MIGRATION_SET, MIGRATIONS),
        (CLUSTER_MIGRATION_SET, CLUSTER_MIGRATIONS),
    ]
    for migration_set, migrations in sets:
        for name, fn in migrations:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
                if name in applied(conn, migration_set):
                    continue
                fn(conn)
                conn.execute(
                    f"INSERT INTO {MIGRATIONS_TABLE} (migration_set, name, applied_at)"
                    " VALUES (%s, %s, %s)",
                    (migration_set, name, str(datetime.now(UTC))),
                )
                if migration_set == MIGRATION_SET:
                    done.append(name)
    return done


def open_pool(
    conninfo: str,
    *,
    min_size: int = 1,
    max_size: int = 4,
    timeout: float = 30.0,
    name: str | None = None,
) -> ConnectionPool:
    """A pool of connections for :class:`PgStore` (autocommit: the store opens its own
    transactions). Each connection is checked as it is handed out (a server restarted
    since leaves broken connections in a pool); ``timeout``: how long a store waits for
    one before :class:`StoreError` (psycopg-pool's ``PoolTimeout``)."""
    return ConnectionPool(
        conninfo,
        min_size=min_size,
        max_size=max_size,
        kwargs={"autocommit": True},
        check=ConnectionPool.check_connection,
        timeout=timeout,
        name=name,
        open=True,
    )


def _sql(sql: str, params: tuple[Any, ...]) -> tuple[str, tuple[Any, ...] | None]:
    """The SQLite store's ``?`` placeholders as psycopg's ``%s`` (a literal ``%`` doubled);
    a flag (``True``) as the 0/1 the columns hold."""
    if not params:
        return sql, None
    values = tuple(int(v) if isinstance(v, bool) else v for v in params)
    return sql.replace("%", "%%").replace("?", "%s"), values


class PgStore(PgReportReads):
    """One connection to the state database in PostgreSQL. Use one per thread."""

    def __init__(
        self,
        conninfo: str | None = None,
        *,
        pool: ConnectionPool | None = None,
        readonly: bool = False,
    ) -> None:
        """Connect (``conninfo``, a libpq connection string or URI) or take a connection from
        ``pool``; migrate unless ``readonly``. ``readonly`` sessions never write and never
        migrate (:class:`SchemaOutdated` when the schema is behind the code). A server that
        cannot be reached raises :class:`StoreError`."""
        if (conninfo is None) == (pool is None):
            raise ValueError("give a connection string or a pool, one of them")
        self.readonly = readonly
        self._pool = pool
        self._depth = 0
        self._holding = False
        self._durable = False
        #: the lease this store's commits are fenced by (a replica's worker; None: none)
        self.fence: Fence | None = None
        self._after: list[Callable[[], None]] = []  # log lines waiting for the commit
        try:
            if pool is not None:
                self.conn: psycopg.Connection[Any] = pool.getconn()
                self.conn.autocommit = True
            else:
                assert conninfo is not None
                self.conn = psycopg.connect(conninfo, autocommit=True)
        except psycopg.OperationalError as exc:
            raise StoreError(f"cannot connect to the PostgreSQL state database: {exc}") from None
        if readonly:
            self.conn.execute("SET default_transaction_read_only = on")
            self._check_schema()
            return
        try:
            apply_migrations(self.conn)
        except BaseException:
            self.close()
            raise

    def _check_schema(self) -> None:
        done = applied(self.conn)
        missing = [name for name, _ in MIGRATIONS if name not in done]
        if not missing:
            return
        self.close()
        if not done:
            raise SchemaOutdated(
                "the PostgreSQL database holds no lapor-bridge state (no schema); has the bridge"
                " run with this configuration?"
            )
        raise SchemaOutdated(
            f"the PostgreSQL database was written by an older lapor-bridge (it lacks"
            f" {', '.join(missing)}); a command that only reads does not upgrade it"
        )

    def fold_wal(self) -> bool:
        """Nothing to fold: the server's write-ahead log is the server's (VACUUM and its
        WAL retention settle what a forgotten text leaves behind; docs/postgresql.md)."""
        return True

    def close(self) -> None:
        if self._pool is None:
            self.conn.close()
            return
        try:
            if not (self.conn.closed or self.conn.broken):
                if self._in_transaction():
                    self.conn.execute("ROLLBACK")
                if self.readonly:
                    self.conn.execute("RESET default_transaction_read_only")
        except psycopg.Error:
            self.conn.close()  # failed as it was given back: closed, the pool discards it
        finally:
            self._pool.putconn(self.conn)

    # transactions ------------------------------------------------------------
    def _in_transaction(self) -> bool:
        return self.conn.info.transaction_status != pq.TransactionStatus.IDLE

    @contextmanager
    def atomic(self, *, durable: bool = False) -> Iterator[PgStore]:
        """One transaction; nested blocks (and blocks inside a held transaction) are
        savepoints. Inside :meth:`holding` the commit waits for :meth:`commit_held`, unless
        the block is ``durable``: then it commits at once, with what was held."""
        conn = self.conn
        self._depth += 1
        try:
            if self._in_transaction():
                savepoint = f"atomic_{self._depth}"
                conn.execute(f"SAVEPOINT {savepoint}")
                waiting = len(self._after)
                try:
                    yield self
                except BaseException:
                    del self._after[waiting:]  # what the block's work announced goes with it
                    if self._in_transaction():
                        conn.execute(f"ROLLBACK TO {savepoint}")
                        conn.execute(f"RELEASE {savepoint}")
                    else:
                        self._after.clear()
                    raise
                conn.execute(f"RELEASE {savepoint}")
                self._durable |= durable
                if self._durable and self._depth == 1:
                    self._commit()
                    self._durable = False
                return
            conn.execute("BEGIN")
            self._durable = durable
            try:
                yield self
            except BaseException:
                self._after.clear()
                if self._in_transaction():
                    conn.execute("ROLLBACK")
                raise
            if self._durable or not self._holding:
                self._commit()
            self._durable = False
        finally:
            self._depth -= 1

    @contextmanager
    def holding(self) -> Iterator[None]:
        """Hold commits until :meth:`commit_held` (bridge.sync.store.Store.holding)."""
        self._holding = True
        try:
            yield
        except Exception:
            self._holding = False
            self.commit_held()
            raise
        except BaseException:
            self._holding = False
            if self._depth == 0 and self._in_transaction():
                self.conn.execute("ROLLBACK")
                self._after.clear()
            raise
        finally:
            self._holding = False
        self.commit_held()

    def commit_held(self) -> None:
        """Commit what :meth:`holding` kept open; nothing inside an atomic block."""
        if self._depth == 0 and self._in_transaction():
            self._commit()

    def _commit(self) -> None:
        """``COMMIT``, fenced by :attr:`fence` when set: a lease that moved rolls the
        transaction back and raises ``LeaseLost`` (bridge/sync/pgleases.py)."""
        if self.fence is not None:
            try:
                check_fence(self.conn, self.fence)
            except BaseException:
                self._after.clear()
                if self._in_transaction():
                    self.conn.execute("ROLLBACK")
                raise
        self.conn.execute("COMMIT")
        announced, self._after = self._after, []
        for announce in announced:
            announce()

    def after_commit(self, announce: Callable[[], None]) -> None:
        """Run ``announce`` once what was written so far is committed, never when it is
        rolled back or refused by the fence (bridge.sync.store.Store.after_commit)."""
        if not self._in_transaction():
            announce()
            return
        self._after.append(announce)

    # helpers ---------------------------------------------------------------
    def _write(self, sql: str, params: tuple[Any, ...] = ()) -> psycopg.Cursor[Any]:
        """Run a statement that writes. Outside a transaction it commits at once (as the
        SQLite store's ``db.execute``); inside one, a failure takes back this statement only
        (a savepoint), as in SQLite, instead of failing the whole transaction."""
        query, values = _sql(sql, params)
        if not self._in_transaction():
            if self.fence is None:
                return self.conn.execute(query, values)
            self.conn.execute("BEGIN")  # fenced: the statement and its check, one transaction
            try:
                cursor = self.conn.execute(query, values)
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self._commit()
            return cursor
        self.conn.execute("SAVEPOINT statement")
        try:
            cursor = self.conn.execute(query, values)
        except BaseException:
            self.conn.execute("ROLLBACK TO statement")
            self.conn.execute("RELEASE statement")
            raise
        self.conn.execute("RELEASE statement")
        return cursor

    def _one(self, sql: str, params: tuple[Any, ...] = ()) -> dict[str, Any] | None:
        query, values = _sql(sql, params)
        with self.conn.cursor(row_factory=dict_row) as cursor:
            row: dict[str, Any] | None = cursor.execute(query, values).fetchone()
            return row

    def _all(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        query, values = _sql(sql, params)
        with self.conn.cursor(row_factory=dict_row) as cursor:
            return list(cursor.execute(query, values).fetchall())

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        query, values = _sql(sql, params)
        return list(self.conn.execute(query, values).fetchall())

    def _scalar(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        rows = self._rows(sql, params)
        return rows[0][0] if rows else None

    # audit -----------------------------------------------------------------
    def event(
        self,
        kind: str,
        source: str | None = None,
        local_id: str | None = None,
        national_id: int | None = None,
        **detail: Any,
    ) -> None:
        """Append to the audit log. ``detail`` must hold no personal data."""
        self._write(
            "INSERT INTO events (at, kind, source, local_id, national_id, detail)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (now_iso(), kind, source, local_id, national_id, json.dumps(detail, default=str)),
        )

    def events_for(
        self, source: str | None, local_id: str | None, national_id: int | None
    ) -> list[EventRow]:
        rows = self._all(
            "SELECT * FROM events WHERE (source = ? AND local_id = ?) OR national_id = ?"
            " ORDER BY id",
            (source, local_id, national_id),
        )
        return [EventRow.of(row) for row in rows]

    # mappings --------------------------------------------------------------
    def mapping(self, source: str, local_id: str) -> MappingRow | None:
        row = self._one(
            "SELECT * FROM mappings WHERE source = ? AND local_id = ?", (source, local_id)
        )
        return MappingRow.of(row) if row is not None else None

    def mapping_for_update(self, source: str, local_id: str) -> MappingRow | None:
        """:meth:`mapping`, its row locked (``FOR UPDATE``) until the transaction ends:
        another session's change waits, and one committed meanwhile is the one read."""
        assert self._in_transaction(), "mapping_for_update outside atomic()"
        row = self._one(
            "SELECT * FROM mappings WHERE source = ? AND local_id = ? FOR UPDATE",
            (source, local_id),
        )
        return MappingRow.of(row) if row is not None else None

    def mappings_for_national(self, national_id: int) -> list[MappingRow]:
        rows = self._all(
            "SELECT * FROM mappings WHERE national_id = ? ORDER BY duplicate_of IS NOT NULL, id",
            (national_id,),
        )
        return [MappingRow.of(row) for row in rows]

    def insert_mapping(self, **fields: Any) -> None:
        stamp = now_iso()
        fields.setdefault("first_synced_at", stamp)
        fields.setdefault("last_synced_at", stamp)
        columns = ", ".join(fields)
        marks = ", ".join("?" for _ in fields)
        self._write(f"INSERT INTO mappings ({columns}) VALUES ({marks})", tuple(fields.values()))

    def update_mapping(self, source: str, local_id: str, **fields: Any) -> None:
        fields.setdefault("last_synced_at", now_iso())
        assignments = ", ".join(f"{k} = ?" for k in fields)
        self._write(
            f"UPDATE mappings SET {assignments} WHERE source = ? AND local_id = ?",
            (*fields.values(), source, local_id),
        )

    def dedupe_decisions(self, source: str, local_id: str) -> list[DedupeDecisionRow]:
        rows = self._all(
            "SELECT * FROM dedupe_decisions WHERE source = ? AND local_id = ? ORDER BY id",
            (source, local_id),
        )
        return [DedupeDecisionRow.of(row) for row in rows]

    def delete_mapping(self, source: str, local_id: str) -> None:
        """Only for an operator's correction; the audit log keeps what it was."""
        self._write("DELETE FROM mappings WHERE source = ? AND local_id = ?", (source, local_id))

    def unlinked(self, source: str, batch: int = 500) -> Iterator[tuple[str, int]]:
        """``(local_id, national_id)`` of every mapping not yet linked back to its app,
        ``batch`` at a time; safe to update the mappings while iterating."""
        after = 0
        while True:
            rows = self._rows(
                "SELECT id, local_id, national_id FROM mappings WHERE source = ? AND "
                "link_state = 'pending' AND national_id IS NOT NULL AND id > ? ORDER BY id LIMIT ?",
                (source, after, batch),
            )
            for _, local_id, national_id in rows:
                yield str(local_id), int(national_id)
            if len(rows) < batch:
                return
            after = rows[-1][0]

    # intents ---------------------------------------------------------------
    def add_intent(
        self,
        kind: str,
        source: str,
        local_id: str,
        payload: dict[str, Any],
        *,
        tag: str | None = None,
        national_id: int | None = None,
        account: str | None = None,
    ) -> int:
        stamp = now_iso()
        cursor = self._write(
            "INSERT INTO intents (kind, source, local_id, national_id, account, tag, payload,"
            " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (kind, source, local_id, national_id, account, tag, json.dumps(payload), stamp, stamp),
        )
        return _returned_id(cursor)

    def add_create_intent(
        self,
        source: str,
        local_id: str,
        payload: dict[str, Any],
        *,
        tag: str,
        account: str,
        timeout: timedelta,
    ) -> IntentRow:
        """A create's intent, already marked sent: one statement (bridge.sync.store.Store)."""
        now = datetime.now(UTC)
        stamp = now.isoformat(timespec="microseconds")
        deadline = (now + timeout).isoformat(timespec="microseconds")
        text = json.dumps(payload)
        cursor = self._write(
            "INSERT INTO intents (kind, source, local_id, account, tag, payload, attempts,"
            " sent_at, deadline, created_at, updated_at)"
            " VALUES ('create', ?, ?, ?, ?, ?, 1, ?, ?, ?, ?) RETURNING id",
            (source, local_id, account, tag, text, stamp, deadline, stamp, stamp),
        )
        return IntentRow(
            id=_returned_id(cursor), kind="create", source=source, local_id=local_id,
            payload=json.loads(text), state="pending", attempts=1, created_at=stamp,
            updated_at=stamp, account=account, tag=tag, sent_at=stamp, deadline=deadline,
        )  # fmt: skip

    def catching_up(self, source: str) -> list[str]:
        """Records of ``source`` whose responses are still to be read whole (m011)."""
        rows = self._rows(
            "SELECT local_id FROM mappings WHERE source = ? AND catch_up = 1 ORDER BY local_id",
            (source,),
        )
        return [str(r[0]) for r in rows]

    def caught_up(self, source: str, local_id: str) -> None:
        self._write(
            "UPDATE mappings SET catch_up = 0 WHERE source = ? AND local_id = ? AND catch_up = 1",
            (source, local_id),
        )

    def pending_intents(self, source: str, kind: str) -> list[IntentRow]:
        rows = self._all(
            "SELECT * FROM intents WHERE state = 'pending' AND source = ? AND kind = ? ORDER BY id",
            (source, kind),
        )
        return [IntentRow.of(row) for row in rows]

    def pending_intent(self, source: str, local_id: str, kind: str) -> IntentRow | None:
        row = self._one(
            "SELECT * FROM intents WHERE state = 'pending' AND source = ? AND local_id = ?"
            " AND kind = ?",
            (source, local_id, kind),
        )
        return IntentRow.of(row) if row is not None else None

    def finish_intent(self, intent_id: int, state: str = "done", error: str | None = None) -> None:
        """An intent done or failed: its payload keeps only what :meth:`scrub_intent` keeps."""
        self._write(
            "UPDATE intents SET state = ?, last_error = ?, updated_at = ? WHERE id = ?",
            (state, error, now_iso(), intent_id),
        )
        if state != "pending":
            self.scrub_intent(intent_id)

    def create_sending(self, intent_id: int, account: str, timeout: timedelta) -> None:
        """A create about to be posted: from now it may be applied, until ``deadline``."""
        now = datetime.now(UTC)
        self._write(
            "UPDATE intents SET attempts = attempts + 1, account = ?, sent_at = ?, deadline = ?,"
            " decision = CASE WHEN decision = 'not_created' THEN NULL ELSE decision END,"
            " updated_at = ? WHERE id = ?",
            (account, now.isoformat(timespec="microseconds"),
             (now + timeout).isoformat(timespec="microseconds"), now_iso(), intent_id),
        )  # fmt: skip

    def create_lost(self, intent_id: int, error: str) -> None:
        """A create's answer was lost: in doubt until the later of its deadline and now."""
        stamp = now_iso()
        self._write(
            "UPDATE intents SET last_error = ?, deadline = GREATEST(COALESCE(deadline, ?), ?),"
            " updated_at = ? WHERE id = ?",
            (error, stamp, stamp, stamp, intent_id),
        )

    def create_answered(self, intent_id: int, national_id: int) -> None:
        """LAPOR answered this create with ``national_id``: a bound for later scans."""
        self._write(
            "UPDATE intents SET national_id = ?, answered_at = ? WHERE id = ?",
            (national_id, now_iso(), intent_id),
        )

    def import_queued(self, intent_id: int, token: str) -> None:
        """The home app queued an import and answered with ``token`` (kept in its payload)."""
        self._write(
            "UPDATE intents SET payload = jsonb_set(payload::jsonb, '{token}', to_jsonb(?::text))"
            "::text WHERE id = ?",
            (token, intent_id),
        )

    def create_done(self, intent_id: int, national_id: int) -> None:
        """:meth:`create_answered` and :meth:`finish_intent` (done, scrubbed) at once."""
        stamp = now_iso()
        self._write(
            "UPDATE intents SET national_id = ?, answered_at = ?, state = 'done',"
            f" last_error = NULL, updated_at = ?, payload = {KEPT_PAYLOAD} WHERE id = ?",
            (national_id, stamp, stamp, intent_id),
        )

    def create_bracket(
        self, account: str, sent_at: str, deadline: str
    ) -> tuple[int | None, int | None]:
        """lapor.md's bracket (bridge.sync.store.Store.create_bracket)."""
        lower = self._scalar(
            "SELECT MAX(national_id) FROM intents WHERE account = ? AND kind = 'create'"
            " AND answered_at IS NOT NULL AND answered_at < ? AND national_id IS NOT NULL",
            (account, sent_at),
        )
        upper = self._scalar(
            "SELECT MIN(national_id) FROM intents WHERE account = ? AND kind = 'create'"
            " AND answered_at IS NOT NULL AND sent_at > ? AND national_id IS NOT NULL",
            (account, deadline),
        )
        return (
            int(lower) if lower is not None else None,
            int(upper) if upper is not None else None,
        )

    def created_between(self, lower: int, upper: int) -> set[int]:
        """The ids strictly between ``lower`` and ``upper`` that answered creates of the
        bridge hold (bridge.sync.store.Store.created_between)."""
        rows = self._all(
            "SELECT national_id FROM intents WHERE kind = 'create' AND answered_at IS NOT NULL"
            " AND national_id > ? AND national_id < ?",
            (lower, upper),
        )
        return {int(row["national_id"]) for row in rows}

    def note_evidence(self, intent_id: int, evidence: str) -> None:
        self._write(
            "UPDATE intents SET evidence = ?, updated_at = ? WHERE id = ?",
            (evidence, now_iso(), intent_id),
        )

    def decide(self, intent_id: int, decision: str | None) -> None:
        self._write("UPDATE intents SET decision = ? WHERE id = ?", (decision, intent_id))

    def scrub_intent(self, intent_id: int) -> None:
        """Keep of an intent's payload only what audit and reports read (:data:`KEPT_PAYLOAD`)."""
        self._write(f"UPDATE intents SET payload = {KEPT_PAYLOAD} WHERE id = ?", (intent_id,))

    def in_doubt(self, source: str | None = None) -> list[InDoubtRow]:
        """Creates sent whose answer was lost, and follow-ups likewise (bridge.md, indoubt)."""
        where = " AND source = ?" if source is not None else ""
        params: tuple[Any, ...] = (source,) if source is not None else ()
        creates = self._all(
            "SELECT id, source, local_id, account, tag, attempts, sent_at, deadline, last_error,"
            " evidence, decision, created_at FROM intents WHERE kind = 'create'"
            f" AND state = 'pending' AND attempts > 0{where} ORDER BY id",
            params,
        )
        followups = self._all(
            "SELECT id, source, local_id, national_id, kind, attempts, last_error, decision,"
            f" created_at, updated_at FROM followups WHERE {FOLLOWUP_IN_DOUBT}{where} ORDER BY id",
            params,
        )
        return [InDoubtRow.of({"type": "create", **row}) for row in creates] + [
            InDoubtRow.of({"type": "followup", **row}) for row in followups
        ]

    def followup_row(self, row_id: int) -> LedgerRow | None:
        row = self._one("SELECT * FROM followups WHERE id = ?", (row_id,))
        return LedgerRow.of(row) if row is not None else None

    def decide_followup(self, row_id: int, decision: str | None) -> None:
        self._write("UPDATE followups SET decision = ? WHERE id = ?", (decision, row_id))

    def answered_with_tokens(self, source: str) -> bool:
        """Whether the app has ever answered an import with a token (it queues its creates)."""
        return bool(
            self._rows(
                "SELECT 1 FROM intents WHERE source = ? AND kind = 'import'"
                " AND (payload::jsonb ->> 'token') IS NOT NULL LIMIT 1",
                (source,),
            )
        )

    def note_attempt(self, intent_id: int, error: str | None) -> None:
        self._write(
            "UPDATE intents SET attempts = attempts + 1, last_error = ?, updated_at = ?"
            " WHERE id = ?",
            (error, now_iso(), intent_id),
        )

    # cursors ---------------------------------------------------------------
    def cursor(self, name: str) -> str | None:
        value = self._scalar("SELECT value FROM cursors WHERE name = ?", (name,))
        return str(value) if value is not None else None

    # tracking budget (m012; bridge/core/tracking.py) ------------------------------
    def tracking_spent(self, account: str, since: str) -> list[tuple[str, int]]:
        rows = self._all(
            "SELECT at, requests FROM tracking_spend WHERE account = ? AND at > ? ORDER BY at",
            (account, since),
        )
        return [(str(row["at"]), int(row["requests"])) for row in rows]

    def tracking_pace(self, account: str) -> str | None:
        value = self._scalar("SELECT paced_until FROM tracking_pace WHERE account = ?", (account,))
        return None if value is None else str(value)

    def charge_tracking(self, account: str, at: str, requests: int, paced_until: str) -> None:
        """Charge a read to the account's budget; forget charges two hours older."""
        self._write(
            "INSERT INTO tracking_spend (account, at, requests) VALUES (?, ?, ?)",
            (account, at, requests),
        )
        self._write(
            "INSERT INTO tracking_pace (account, paced_until) VALUES (?, ?)"
            " ON CONFLICT (account) DO UPDATE SET paced_until = excluded.paced_until",
            (account, paced_until),
        )
        forget = datetime.fromisoformat(at) - timedelta(hours=2)
        self._write(
            "DELETE FROM tracking_spend WHERE account = ? AND at < ?",
            (account, forget.isoformat(timespec="microseconds")),
        )

    def set_cursor(self, name: str, value: str | None) -> None:
        self._write(
            "INSERT INTO cursors (name, value, updated_at) VALUES (?, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET value = excluded.value,"
            " updated_at = excluded.updated_at",
            (name, value, now_iso()),
        )

    # discovery -------------------------------------------------------------
    def add_discovered(self, tickets: Iterable[tuple[str, int]]) -> None:
        for tag, national_id in tickets:
            self._write(
                "INSERT INTO discovered (tag, national_id) VALUES (?, ?)"
                " ON CONFLICT (tag) DO NOTHING",
                (tag, national_id),
            )

    def discovered(self, tag: str) -> int | None:
        value = self._scalar("SELECT national_id FROM discovered WHERE tag = ?", (tag,))
        return int(value) if value is not None else None

    def has_mappings(self, source: str) -> bool:
        return bool(self._scalar("SELECT 1 FROM mappings WHERE source = ? LIMIT 1", (source,)))

    # the duplicate check's index (bridge/sync/dedupe.py) ---------------------
    def dedupe_meta(self, name: str) -> str | None:
        value = self._scalar("SELECT value FROM dedupe_meta WHERE name = ?", (name,))
        return str(value) if value is not None else None

    def dedupe_put(self, row: IndexedRow) -> None:
        self._write(
            "INSERT INTO dedupe_index (national_id, source, local_id, phone_key, category,"
            " created_at, content, text_norm) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)"
            " ON CONFLICT (source, local_id) DO UPDATE SET national_id = excluded.national_id,"
            " phone_key = excluded.phone_key, category = excluded.category,"
            " created_at = excluded.created_at, content = excluded.content, text_norm = NULL",
            (row.national_id, row.source, row.local_id, row.phone_key, row.category,
             row.created_at, row.content),
        )  # fmt: skip

    def dedupe_forget(self, source: str, local_id: str) -> None:
        self._write(
            "DELETE FROM dedupe_index WHERE source = ? AND local_id = ?", (source, local_id)
        )

    def dedupe_purge(self, before: str, clock: str) -> int:
        """As the SQLite store's, but never waiting on another transaction: the workers of
        a replica (and the replicas) index records at once, each in a transaction of its
        own, and a purge that waited on their rows while holding others deadlocked them.
        One transaction purges at a time (the others skip: their purge is due again at the
        next step of the clock), and rows another transaction has locked are left for the
        next purge."""
        with self.atomic():
            if not self._scalar("SELECT pg_try_advisory_xact_lock(?)", (_PURGE_LOCK,)):
                return 0
            cursor = self._write(
                "DELETE FROM dedupe_index WHERE (source, local_id) IN (SELECT source, local_id"
                " FROM dedupe_index WHERE created_at < ? FOR UPDATE SKIP LOCKED)",
                (before,),
            )
            self._write(
                "INSERT INTO dedupe_meta (name, value) VALUES ('clock', ?) ON CONFLICT (name)"
                " DO UPDATE SET value = GREATEST(dedupe_meta.value, excluded.value)",
                (clock,),
            )
            return cursor.rowcount

    def dedupe_block(self, phone_key: str, start: str, end: str, limit: int) -> list[IndexedRow]:
        rows = self._all(DEDUPE_BLOCK, (phone_key, start, end, limit))
        return [IndexedRow.of(row) for row in rows]

    def add_dedupe_decision(
        self,
        at: str,
        source: str,
        local_id: str,
        candidate_of: str | None,
        rule: str,
        score: float,
        merged: bool,
        inputs: str,
    ) -> int:
        cursor = self._write(
            "INSERT INTO dedupe_decisions (at, source, local_id, candidate_of, rule, score,"
            " merged, inputs) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (at, source, local_id, candidate_of, rule, score, int(merged), inputs),
        )
        row = cursor.fetchone()
        return int(row[0]) if row is not None else 0

    # quarantine ------------------------------------------------------------
    def quarantine(
        self, source: str, local_id: str, raw: Any, reason: str, display_id: str | None = None
    ) -> int:
        """Keep a record that could not be processed; repeated sightings count attempts."""
        stamp = now_iso()
        existing = self._one(
            "SELECT id FROM quarantine WHERE source = ? AND local_id = ? AND state = 'open'",
            (source, local_id),
        )
        raw_text = json.dumps(raw, ensure_ascii=False, default=str)
        if existing is not None:
            self._write(
                "UPDATE quarantine SET raw = ?, reason = ?, attempts = attempts + 1,"
                " last_seen = ?, display_id = COALESCE(?, display_id) WHERE id = ?",
                (raw_text, reason, stamp, display_id, existing["id"]),
            )
            return int(existing["id"])
        cursor = self._write(
            "INSERT INTO quarantine (source, local_id, raw, reason, first_seen, last_seen,"
            " display_id) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (source, local_id, raw_text, reason, stamp, stamp, display_id),
        )
        return _returned_id(cursor)

    def release_quarantine(self, source: str, local_id: str, state: str = "resolved") -> bool:
        """Close a record's open entry; its raw record is forgotten (``null``)."""
        cursor = self._write(
            f"UPDATE quarantine SET state = ?, last_seen = ?, raw = '{PURGED_RAW}'"
            " WHERE source = ? AND local_id = ? AND state = 'open'",
            (state, now_iso(), source, local_id),
        )
        return cursor.rowcount > 0

    def quarantine_open(self, source: str, local_id: str) -> bool:
        return bool(
            self._rows(
                "SELECT 1 FROM quarantine WHERE source = ? AND local_id = ? AND state = 'open'",
                (source, local_id),
            )
        )

    def was_split(self, source: str, local_id: str) -> bool:
        """An operator undid a merge of this record: it is never merged by rule again."""
        return bool(
            self._rows(
                "SELECT 1 FROM events WHERE source = ? AND local_id = ? AND kind = 'mapping_split'",
                (source, local_id),
            )
        )

    def quarantined(self, source: str | None = None) -> list[QuarantineRow]:
        if source is None:
            rows = self._all("SELECT * FROM quarantine WHERE state = 'open' ORDER BY id")
        else:
            rows = self._all(
                "SELECT * FROM quarantine WHERE state = 'open' AND source = ? ORDER BY id",
                (source,),
            )
        return [QuarantineRow.of(row) for row in rows]

    def quarantine_entry(self, entry_id: int) -> QuarantineRow | None:
        row = self._one("SELECT * FROM quarantine WHERE id = ?", (entry_id,))
        return QuarantineRow.of(row) if row is not None else None

    # what ``status`` reads (bridge/reports/status.py) ------------------------------------
    def tracking_view(self, sources: list[str], now: str) -> TrackingView:
        """The sources' open complaints followed by id (bridge.sync.store.Store.tracking_view);
        intervals in seconds where SQLite counts days (``julianday``)."""
        if not sources:
            return TrackingView(open=0, due=0, oldest_view_at=None, wanted_per_hour=0.0)
        marks = ", ".join("?" for _ in sources)
        followed = (
            f"source IN ({marks}) AND national_id IS NOT NULL AND duplicate_of IS NULL"
            " AND COALESCE(tracked_by, '') != 'inbox'"
        )
        ((count, due, oldest),) = self._rows(
            "SELECT COUNT(*), COUNT(*) FILTER (WHERE next_poll_at IS NULL OR next_poll_at <= ?),"
            " MIN(COALESCE(last_seen_at, first_synced_at))"
            f" FROM mappings WHERE {followed} AND {OPEN_ON_LAPOR}",
            (now, *sources),
        )
        interval = f"EXTRACT(EPOCH FROM {_instant('next_poll_at')} - {_instant('last_seen_at')})"
        wanted = self._scalar(
            f"SELECT SUM(86400.0 / {interval}) FROM mappings WHERE {followed}"
            f" AND {_instant('next_poll_at')} > {_instant('last_seen_at')}",
            tuple(sources),
        )
        return TrackingView(
            open=int(count or 0),
            due=int(due or 0),
            oldest_view_at=oldest,
            # reads a day → requests an hour (tracking.COST: a complaint and its follow-ups)
            wanted_per_hour=float(wanted or 0.0) * 2 / 24,
        )

    def open_view(self, source: str) -> OpenView:
        ((count, oldest, never),) = self._rows(OPEN_VIEW, (source,))
        return OpenView(int(count or 0), oldest, int(never or 0))

    def unknown_status_names(self) -> list[UnknownStatusName]:
        rows = self._rows(
            "SELECT detail::jsonb ->> 'name' AS name, COUNT(DISTINCT national_id), MAX(at)"
            " FROM events WHERE kind = 'unknown_status_name' GROUP BY 1"
            " ORDER BY MAX(at) DESC, name"
        )
        return [
            UnknownStatusName(None if name is None else str(name), int(complaints), last)
            for name, complaints, last in rows
        ]

    def backlog_counts(self, source: str) -> BacklogCounts:
        counts = {
            key: int(self._scalar(sql, (source,)) or 0)
            for key, sql in backlog_queries(IMPORT_QUEUED).items()
        }
        return BacklogCounts(
            **counts, oldest_unsynced_at=self._scalar(OLDEST_UNSYNCED, (source, source))
        )

    def cursor_times(self) -> dict[str, str]:
        rows = self._rows("SELECT name, updated_at FROM cursors")
        return {str(name): str(at) for name, at in rows if at}

    # what ``trace`` reads (bridge/reports/trace.py) --------------------------------------
    def _pairs(self, sql: str, params: tuple[Any, ...]) -> list[tuple[str, str]]:
        return [(str(source), str(local_id)) for source, local_id in self._rows(sql, params)]

    def records_of_national(self, national_id: int) -> list[tuple[str, str]]:
        """As the SQLite store's (bridge.sync.store.RECORDS_OF_NATIONAL)."""
        params = (national_id, f"#{national_id}", national_id, national_id)
        return [pair for sql, n in zip(RECORDS_OF_NATIONAL, params, strict=True)
                for pair in self._pairs(sql, (n,))]  # fmt: skip

    def records_numbered(self, number: str, source: str | None) -> list[tuple[str, str]]:
        """As the SQLite store's; a create's number read from its summary as ``jsonb``."""
        where = " AND source = ?" if source is not None else ""
        tail: tuple[Any, ...] = (source,) if source is not None else ()
        spellings = (number, number.upper())
        found: list[tuple[str, str]] = []
        for sql, params in (
            (
                "SELECT source, local_id FROM mappings WHERE (display_id IN (?, ?)"
                f" OR local_id = ?){where} ORDER BY id",
                (*spellings, number, *tail),
            ),
            (
                "SELECT source, local_id FROM quarantine WHERE (display_id IN (?, ?)"
                f" OR local_id = ?){where} ORDER BY id",
                (*spellings, number, *tail),
            ),
            (
                "SELECT source, local_id FROM intents WHERE kind = 'create' AND (local_id = ?"
                f" OR {_SUMMARY_NUMBER} IN (?, ?)){where} ORDER BY id",
                (number, *spellings, *tail),
            ),
            (
                f"SELECT source, local_id FROM followups WHERE local_id = ?{where} ORDER BY id",
                (number, *tail),
            ),
            (
                "SELECT source, local_id FROM events WHERE local_id = ? AND source IS NOT NULL"
                f"{where} ORDER BY id",
                (number, *tail),
            ),
        ):
            found += self._pairs(sql, params)
        return found

    def quarantine_notes(self, source: str, local_id: str) -> list[QuarantineNote]:
        rows = self._all(
            "SELECT id, state, reason, attempts, first_seen, last_seen, display_id,"
            f" raw != '{PURGED_RAW}' AS raw_kept FROM quarantine WHERE source = ?"
            " AND local_id = ? ORDER BY id",
            (source, local_id),
        )
        return [note(QuarantineNote, row) for row in rows]

    def intent_notes(self, source: str, local_id: str, national_id: int | None) -> list[IntentNote]:
        """The record's creates and imports, and the imports of ``national_id``."""
        rows = self._all(
            "SELECT id, kind, state, attempts, tag, national_id, account, sent_at, deadline,"
            " answered_at, last_error, evidence, decision, created_at, updated_at,"
            f" {_SUMMARY_NUMBER} AS display_id,"
            f" state = 'pending' AND (kind = 'create' AND attempts > 0 OR {IMPORT_IN_DOUBT})"
            " AS in_doubt FROM intents WHERE source = ? AND (local_id = ?"
            " OR kind = 'import' AND national_id = ?) ORDER BY id",
            (source, local_id, national_id),
        )
        return [note(IntentNote, row) for row in rows]

    def followup_notes(self, source: str, local_id: str) -> list[FollowupNote]:
        rows = self._all(
            "SELECT id, direction, kind, state, author, content, origin_id, remote_id,"
            " attempts, last_error, decision, created_at, updated_at,"
            f" {FOLLOWUP_IN_DOUBT} AS in_doubt FROM followups WHERE source = ?"
            " AND local_id = ? ORDER BY id",
            (source, local_id),
        )
        return [note(FollowupNote, row) for row in rows]

    def late_photo_notes(self, source: str, local_id: str) -> list[LatePhotoNote]:
        rows = self._all(
            "SELECT photo_index, state, attempts, reason, next_try_at, followup_id, created_at,"
            " updated_at FROM late_photos WHERE source = ? AND local_id = ? ORDER BY photo_index",
            (source, local_id),
        )
        return [note(LatePhotoNote, row) for row in rows]

    # passes ----------------------------------------------------------------
    def pass_started(self, name: str, kind: str) -> None:
        """Committed at once (durable), as in the SQLite store."""
        with self.atomic(durable=True):
            self._write(
                "INSERT INTO passes (name, kind, started_at) VALUES (?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET started_at = excluded.started_at",
                (name, kind, now_iso()),
            )

    def pass_finished(self, name: str, error: str | None) -> None:
        stamp = now_iso()
        if error is None:
            self._write(
                "UPDATE passes SET finished_at = ?, ok_at = ?, last_error = NULL WHERE name = ?",
                (stamp, stamp, name),
            )
        else:
            self._write(
                "UPDATE passes SET finished_at = ?, last_error = ? WHERE name = ?",
                (stamp, error, name),
            )

    def pass_stopped(self, name: str) -> None:
        """A pass a stop cut short: neither ok nor failed
        (:data:`bridge.runtime.health.STOPPED`)."""
        self._write(
            "UPDATE passes SET finished_at = ?, last_error = CASE WHEN last_error IS NULL"
            " OR last_error = ? THEN ? ELSE last_error END WHERE name = ?",
            (now_iso(), STOPPED, STOPPED, name),
        )

    def passes(self) -> dict[str, PassRow]:
        return {row["name"]: PassRow.of(row) for row in self._all("SELECT * FROM passes")}

    def account_pending(self, account: str) -> int:
        """National complaints of this account waiting to reach their home app."""
        return int(
            self._scalar(
                "SELECT COUNT(*) FROM intents WHERE account = ? AND state = 'pending'", (account,)
            )
            or 0
        )

    # follow-ups ------------------------------------------------------------
    def add_followup(self, **fields: Any) -> bool:
        """Record a follow-up to carry across; False when it is already known."""
        stamp = now_iso()
        fields.setdefault("created_at", stamp)
        fields.setdefault("updated_at", stamp)
        columns = ", ".join(fields)
        marks = ", ".join("?" for _ in fields)
        cursor = self._write(
            f"INSERT INTO followups ({columns}) VALUES ({marks}) ON CONFLICT DO NOTHING",
            tuple(fields.values()),
        )
        return cursor.rowcount > 0

    def followup_origins(self, source: str, local_id: str, direction: str) -> set[str]:
        rows = self._rows(
            "SELECT origin_id FROM followups WHERE source = ? AND local_id = ? AND direction = ?",
            (source, local_id, direction),
        )
        return {str(r[0]) for r in rows}

    def followup_texts(self, source: str, local_id: str, direction: str) -> set[str]:
        rows = self._rows(
            "SELECT content FROM followups WHERE source = ? AND local_id = ? AND direction = ?",
            (source, local_id, direction),
        )
        return {str(r[0]).strip() for r in rows}

    def followup_texts_to_national(self, national_id: int) -> list[str]:
        """What every record merged into this complaint sent or is sending to LAPOR."""
        rows = self._rows(
            "SELECT content FROM followups WHERE national_id = ? AND direction = 'to_national'"
            " ORDER BY id",
            (national_id,),
        )
        return [str(r[0]) for r in rows]

    def followup_remote_ids(self, national_id: int) -> set[str]:
        rows = self._rows(
            "SELECT remote_id FROM followups WHERE national_id = ? AND direction = 'to_national'"
            " AND remote_id IS NOT NULL",
            (national_id,),
        )
        return {str(r[0]) for r in rows}

    def followups_sent_like(self, national_id: int, content: str, before_row: int) -> int:
        """Rows of the same words sent to this complaint before ``before_row``, done without
        a known remote id."""
        return int(
            self._scalar(
                "SELECT COUNT(*) FROM followups WHERE national_id = ? AND direction ="
                " 'to_national' AND state = 'done' AND remote_id IS NULL AND content = ?"
                " AND id < ?",
                (national_id, content, before_row),
            )
            or 0
        )

    def pending_followups(
        self, direction: str, source: str | None = None, local_id: str | None = None
    ) -> list[LedgerRow]:
        sql = "SELECT * FROM followups WHERE state = 'pending' AND direction = ?"
        params: list[Any] = [direction]
        if source is not None:
            sql += " AND source = ?"
            params.append(source)
        if local_id is not None:
            sql += " AND local_id = ?"
            params.append(local_id)
        return [LedgerRow.of(row) for row in self._all(sql + " ORDER BY id", tuple(params))]

    def finish_followup(
        self, row_id: int, state: str = "done", remote_id: str | None = None,
        error: str | None = None,
    ) -> None:  # fmt: skip
        self._write(
            "UPDATE followups SET state = ?, remote_id = COALESCE(?, remote_id), last_error = ?,"
            " updated_at = ? WHERE id = ?",
            (state, remote_id, error, now_iso(), row_id),
        )

    def followup_attempt(self, row_id: int, error: str | None = None) -> None:
        self._write(
            "UPDATE followups SET attempts = attempts + 1, last_error = ?, updated_at = ?"
            " WHERE id = ?",
            (error, now_iso(), row_id),
        )

    def followup_counts(self, source: str, local_id: str) -> dict[str, int]:
        rows = self._rows(
            "SELECT direction, COUNT(*) FROM followups WHERE source = ? AND local_id = ?"
            " AND state = 'done' GROUP BY direction",
            (source, local_id),
        )
        return {str(r[0]): int(r[1]) for r in rows}

    # late photos (m007) ----------------------------------------------------
    def add_late_photo(
        self, source: str, local_id: str, index: int, attachment: str,
        content_type: str | None, reason: str, next_try_at: str,
    ) -> None:  # fmt: skip
        """A photo that could not be fetched for its create: tried again from
        ``next_try_at``. A create tried again counts one more failed fetch."""
        stamp = now_iso()
        self._write(
            "INSERT INTO late_photos (source, local_id, photo_index, attachment, content_type,"
            " reason, next_try_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (source, local_id, photo_index) DO UPDATE SET"
            " attempts = late_photos.attempts + 1, attachment = excluded.attachment,"
            " content_type = excluded.content_type, reason = excluded.reason,"
            " next_try_at = excluded.next_try_at, updated_at = excluded.updated_at"
            " WHERE late_photos.state = 'waiting'",
            (source, local_id, index, attachment, content_type, reason, next_try_at, stamp, stamp),
        )

    def late_photo_went_with_create(self, source: str, local_id: str, index: int) -> bool:
        """A waiting photo fetched after all for a create tried again: it goes with it."""
        cursor = self._write(
            "DELETE FROM late_photos WHERE source = ? AND local_id = ? AND photo_index = ?"
            " AND state = 'waiting' AND followup_id IS NULL",
            (source, local_id, index),
        )
        return cursor.rowcount > 0

    def due_late_photos(self, source: str, now: str) -> list[LatePhotoRow]:
        """Waiting photos due at ``now`` whose record has its national complaint, with it."""
        rows = self._all(
            "SELECT p.*, m.national_id FROM late_photos p JOIN mappings m"
            " ON m.source = p.source AND m.local_id = p.local_id"
            " WHERE p.source = ? AND p.state = 'waiting' AND p.next_try_at <= ?"
            " AND m.national_id IS NOT NULL ORDER BY p.next_try_at, p.id",
            (source, now),
        )
        return [LatePhotoRow.of(row) for row in rows]

    def update_late_photo(self, photo_id: int, **fields: Any) -> None:
        fields.setdefault("updated_at", now_iso())
        assignments = ", ".join(f"{k} = ?" for k in fields)
        self._write(
            f"UPDATE late_photos SET {assignments} WHERE id = ?", (*fields.values(), photo_id)
        )

    def add_late_photo_followup(self, photo: LatePhotoRow, content: str) -> int:
        """The photo's row in the follow-up ledger, in state ``photo_pending``."""
        cursor = self._write(
            "INSERT INTO followups (source, local_id, national_id, direction, origin_id, kind,"
            " content, state, created_at, updated_at)"
            " VALUES (?, ?, ?, 'to_national', ?, 'photo', ?, 'photo_pending', ?, ?) RETURNING id",
            (
                photo.source, photo.local_id, photo.national_id,
                f"photo:{photo.photo_index}", content, now_iso(), now_iso(),
            ),
        )  # fmt: skip
        row_id = _returned_id(cursor)
        self.update_late_photo(photo.id, followup_id=row_id)
        return row_id

    def late_photo_counts(self, source: str) -> dict[str, int]:
        """Photos of the source waiting to be fetched again or sent, and given up."""
        rows = self._rows(
            "SELECT state, COUNT(*) FROM late_photos WHERE source = ?"
            " AND state IN ('waiting', 'given_up') GROUP BY state",
            (source,),
        )
        counts = {str(state): int(n) for state, n in rows}
        return {"waiting": counts.get("waiting", 0), "given_up": counts.get("given_up", 0)}

    # mappings by account ---------------------------------------------------
    def mapping_by_national(self, national_id: int) -> MappingRow | None:
        """The owning (not merged) mapping of a national complaint."""
        row = self._one(
            "SELECT * FROM mappings WHERE national_id = ? AND duplicate_of IS NULL",
            (national_id,),
        )
        return MappingRow.of(row) if row is not None else None

    def mappings_by_display_id(self, display_id: str) -> list[MappingRow]:
        """The mappings of records whose app shows this number (m009), oldest first."""
        rows = self._all("SELECT * FROM mappings WHERE display_id = ? ORDER BY id", (display_id,))
        return [MappingRow.of(row) for row in rows]

    def due_for_polling(
        self,
        sources: list[str],
        now: str,
        limit: int,
        *,
        stale_before: str | None = None,
        stale_share: float = 1.0,
    ) -> list[MappingRow]:
        """As :meth:`bridge.sync.store.Store.due_for_polling`: the stale first, then the
        never scheduled, the never read, the most overdue; intervals in seconds where
        SQLite counts days (the floor of one minute is SQLite's ``1.0 / 1440``)."""
        if not sources or limit <= 0:
            return []
        marks = ", ".join("?" for _ in sources)
        due = (
            f"source IN ({marks}) AND national_id IS NOT NULL AND duplicate_of IS NULL"
            " AND (next_poll_at IS NULL OR next_poll_at <= ?)"
        )
        view = "COALESCE(last_seen_at, first_synced_at)"
        stale: list[dict[str, Any]] = []
        if stale_before is not None:
            stale = self._all(
                f"SELECT * FROM mappings WHERE {due} AND {view} <= ? ORDER BY {view}, id LIMIT ?",
                (*sources, now, stale_before, limit),
            )
        fresh_only = f" AND {view} > ?" if stale_before is not None else ""
        seen = _instant("last_seen_at")
        overdue = (
            f"EXTRACT(EPOCH FROM (?::timestamptz - {seen}))"  # now: an instant, UTC if naive
            f" / GREATEST(EXTRACT(EPOCH FROM ({_instant('next_poll_at')} - {seen})), 60)"
        )
        ranked = self._all(
            f"SELECT * FROM mappings WHERE {due}{fresh_only}"
            " ORDER BY next_poll_at IS NOT NULL, last_seen_at IS NOT NULL,"
            f" {overdue} DESC NULLS LAST, next_poll_at, id LIMIT ?",
            (
                *sources,
                now,
                *((stale_before,) if stale_before is not None else ()),
                _utc_instant(now),
                limit,
            ),
        )
        first = stale[: max(1, int(limit * stale_share))] if stale else []
        chosen = first + ranked[: limit - len(first)]
        rows = chosen + stale[len(first) : len(first) + limit - len(chosen)]
        return [MappingRow.of(row) for row in rows]

    def tracked_by_polling(self, sources: list[str]) -> list[PolledRow]:
        if not sources:
            return []
        marks = ", ".join("?" for _ in sources)
        rows = self._all(
            f"SELECT source, local_id, national_id, last_seen_at, next_poll_at FROM mappings"
            f" WHERE source IN ({marks}) AND tracked_by = 'polling' ORDER BY id",
            tuple(sources),
        )
        return [PolledRow.of(row) for row in rows]

    # operator requests (m010) ----------------------------------------------
    def add_operator_request(
        self, action: str, source: str, local_id: str | None, params: str, by: str
    ) -> int:
        """Record a request, ``queued``; ``params`` is its JSON text. Its id."""
        cursor = self._write(
            "INSERT INTO operator_requests (action, source, local_id, params, requested_by,"
            " requested_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            (action, source, local_id, params, by, now_iso()),
        )
        return _returned_id(cursor)

    def operator_request(self, request_id: int) -> OperatorRequestRow | None:
        row = self._one("SELECT * FROM operator_requests WHERE id = ?", (request_id,))
        return OperatorRequestRow.of(row) if row is not None else None

    def operator_requests_waiting(self, source: str) -> list[OperatorRequestRow]:
        """A source's requests not finished (queued or running), oldest first."""
        rows = self._all(
            "SELECT * FROM operator_requests WHERE source = ? AND state IN ('queued', 'running')"
            " ORDER BY id",
            (source,),
        )
        return [OperatorRequestRow.of(row) for row in rows]

    def claim_operator_request(self, request_id: int, by: str) -> None:
        self._write(
            "UPDATE operator_requests SET state = 'running', started_at = ?, carried_out_by = ?"
            " WHERE id = ?",
            (now_iso(), by, request_id),
        )

    def finish_operator_request(self, request_id: int, state: str, outcome: str) -> None:
        self._write(
            "UPDATE operator_requests SET state = ?, finished_at = ?, outcome = ? WHERE id = ?",
            (state, now_iso(), outcome, request_id),
        )

    # schema ----------------------------------------------------------------
    def leases(self) -> list[LeaseRow]:
        """Every unit's lease (none before a replica ran: bridge/sync/pgleases.py)."""
        if not self._has_table("leases"):
            return []
        return lease_rows(self.conn)

    def replicas(self) -> list[ReplicaRow]:
        """The replicas seen, the latest heartbeat first."""
        if not self._has_table("replicas"):
            return []
        return replica_rows(self.conn)

    def _has_table(self, name: str) -> bool:
        return self._scalar("SELECT to_regclass(?) IS NOT NULL", (name,)) is True

    def applied_migrations(self) -> list[str]:
        """The names of the migrations applied to this database, in the order applied."""
        return applied(self.conn)

    # counts ----------------------------------------------------------------
    def category_fallbacks(self, source: str) -> dict[str, str]:
        """Categories LAPOR did not have when the source's complaints were sent: each and
        the category it was sent as (events ``category_fallback``)."""
        rows = self._rows(
            "SELECT DISTINCT detail::jsonb ->> 'category', detail::jsonb ->> 'sent_as'"
            " FROM events WHERE kind = 'category_fallback' AND source = ?",
            (source,),
        )
        return {str(asked): str(used) for asked, used in rows}

    def counts(self, source: str) -> dict[str, int]:
        def count(sql: str, *more: object) -> int:
            return int(self._scalar(sql, (source, *more)) or 0)

        return {
            "mapped": count(
                "SELECT COUNT(*) FROM mappings WHERE source = ? AND national_id IS NOT NULL"
            ),
            "pending": count(
                "SELECT COUNT(*) FROM mappings WHERE source = ? AND link_state = 'pending'"
            )
            + count(
                "SELECT COUNT(*) FROM intents WHERE source = ? AND state = 'pending'"
                f" AND (kind = 'create' AND attempts = 0"
                f" OR kind != 'create' AND NOT ({IMPORT_IN_DOUBT}) AND NOT ({IMPORT_QUEUED}))"
            )
            + count(
                "SELECT COUNT(*) FROM followups f WHERE source = ? AND state = 'pending'"
                f" AND NOT ({FOLLOWUP_IN_DOUBT}) AND NOT ({FOLLOWUP_WAITING_VERIFICATION})"
            ),
            "quarantined": count(
                "SELECT COUNT(*) FROM quarantine WHERE source = ? AND state = 'open'"
            ),
            "topik_lainnya": count(
                "SELECT COUNT(*) FROM mappings WHERE source = ? AND category = ?", CATCH_ALL_TOPIC
            ),
            "in_doubt": count(
                "SELECT COUNT(*) FROM intents WHERE source = ? AND state = 'pending'"
                f" AND ((kind = 'create' AND attempts > 0) OR {IMPORT_IN_DOUBT})"
            )
            + count(f"SELECT COUNT(*) FROM followups WHERE source = ? AND {FOLLOWUP_IN_DOUBT}"),
        }


def _returned_id(cursor: psycopg.Cursor[Any]) -> int:
    row = cursor.fetchone()
    assert row is not None, "INSERT … RETURNING id returned no row"
    return int(row[0])


if (
    TYPE_CHECKING
):  # mypy checks that the PostgreSQL store is a StateStore (bridge/sync/storeport.py)
    _IS_A_STATE_STORE: type[StateStore] = PgStore
