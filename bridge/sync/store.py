"""The bridge's state in SQLite (WAL): mappings, cursors, intents, quarantine, audit log.

Every remote side effect is preceded by a committed *intent*; the mapping is
committed after the answer. The audit log is append-only (triggers refuse
updates and deletes). The schema is versioned with sqlite-utils migrations.
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import stat
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from bridge.core.model import CATCH_ALL_TOPIC
from bridge.runtime.health import STOPPED
from bridge.sync.report_reads import ReportReads
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

migrations = Migrations("lapor-bridge")


@migrations()
def m001_initial(db: Database) -> None:
    db.executescript(
        """
        CREATE TABLE mappings (
            id INTEGER PRIMARY KEY,
            source TEXT NOT NULL,
            local_id TEXT NOT NULL,
            national_id INTEGER,
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
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            source TEXT NOT NULL,
            local_id TEXT NOT NULL,
            national_id INTEGER,
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
            id INTEGER PRIMARY KEY,
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
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            kind TEXT NOT NULL,
            source TEXT,
            local_id TEXT,
            national_id INTEGER,
            detail TEXT
        );
        CREATE INDEX events_record ON events (source, local_id);
        CREATE INDEX events_national ON events (national_id);
        CREATE TRIGGER events_no_update BEFORE UPDATE ON events
            BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
        CREATE TRIGGER events_no_delete BEFORE DELETE ON events
            BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

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


@migrations()
def m002_two_way(db: Database) -> None:
    db.executescript(
        """
        ALTER TABLE mappings ADD COLUMN account TEXT;
        ALTER TABLE mappings ADD COLUMN local_canonical TEXT;
        ALTER TABLE mappings ADD COLUMN national_canonical TEXT;
        ALTER TABLE mappings ADD COLUMN tracked_by TEXT;
        ALTER TABLE mappings ADD COLUMN next_poll_at TEXT;
        ALTER TABLE mappings ADD COLUMN last_seen_at TEXT;
        CREATE INDEX mappings_poll ON mappings (account, next_poll_at);

        -- every follow-up, response, completion and hand-back the bridge carries across,
        -- recorded before it is sent (the intent) and marked done after the answer
        CREATE TABLE followups (
            id INTEGER PRIMARY KEY,
            source TEXT NOT NULL,
            local_id TEXT NOT NULL,
            national_id INTEGER NOT NULL,
            direction TEXT NOT NULL,          -- to_national | to_local
            origin_id TEXT NOT NULL,          -- the item's id on the side it came from
            kind TEXT NOT NULL DEFAULT 'followup',  -- followup | complete | reject | response
            ref TEXT,                         -- the reference the bridge writes (to_local)
            author TEXT,
            content TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'pending',  -- pending | done | failed
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


@migrations()
def m003_dedupe(db: Database) -> None:
    db.executescript(
        """
        -- rule (3): one row per mapped local record that can be merged (bridge/sync/dedupe.py);
        -- phone_key is a keyed hash, never the number; created_at is UTC ISO
        CREATE TABLE dedupe_index (
            national_id INTEGER,
            source TEXT NOT NULL,
            local_id TEXT NOT NULL,
            phone_key TEXT NOT NULL,
            category TEXT NOT NULL,
            created_at TEXT NOT NULL,
            text_norm TEXT NOT NULL,
            PRIMARY KEY (source, local_id)
        );
        CREATE INDEX dedupe_index_block ON dedupe_index (phone_key, category, created_at);

        -- every rule (3) decision: its score and the fingerprints of its inputs only
        CREATE TABLE dedupe_decisions (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            source TEXT NOT NULL,
            local_id TEXT NOT NULL,
            candidate_of TEXT,
            rule TEXT NOT NULL,
            score REAL NOT NULL,
            merged INTEGER NOT NULL,
            inputs TEXT NOT NULL
        );
        CREATE INDEX dedupe_decisions_record ON dedupe_decisions (source, local_id);

        -- the per-database key of the phone hashes
        CREATE TABLE dedupe_meta (
            name TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        INSERT INTO dedupe_meta (name, value)
            VALUES ('phone_key_secret', lower(hex(randomblob(32))));
        """
    )


@migrations()
def m004_discovered(db: Database) -> None:
    db.executescript(
        """
        -- national complaints found by their source tag when a source's first pass in this
        -- database started: what an earlier database (lost since) had created
        CREATE TABLE discovered (
            tag TEXT PRIMARY KEY,
            national_id INTEGER NOT NULL
        );
        """
    )


@migrations()
def m005_dedupe_text_as_written(db: Database) -> None:
    db.executescript(
        """
        -- the duplicate check normalizes a text only when it is compared: rows keep the
        -- citizen's text as written (content); rows of earlier databases keep their
        -- normalized text_norm
        CREATE TABLE dedupe_index_new (
            national_id INTEGER,
            source TEXT NOT NULL,
            local_id TEXT NOT NULL,
            phone_key TEXT NOT NULL,
            category TEXT NOT NULL,
            created_at TEXT NOT NULL,
            content TEXT,
            text_norm TEXT,
            PRIMARY KEY (source, local_id),
            CHECK (content IS NOT NULL OR text_norm IS NOT NULL)
        );
        INSERT INTO dedupe_index_new (national_id, source, local_id, phone_key, category,
                                      created_at, text_norm)
            SELECT national_id, source, local_id, phone_key, category, created_at, text_norm
            FROM dedupe_index;
        DROP TABLE dedupe_index;
        ALTER TABLE dedupe_index_new RENAME TO dedupe_index;
        CREATE INDEX dedupe_index_block ON dedupe_index (phone_key, category, created_at);
        """
    )


@migrations()
def m006_creates_in_doubt(db: Database) -> None:
    db.executescript(
        """
        -- lapor.md, Recovery: when each create was sent, until when LAPOR may still apply
        -- it, when it was answered (and with which id: national_id), what evidence was
        -- sought for one in doubt, and what an operator decided
        ALTER TABLE intents ADD COLUMN sent_at TEXT;
        ALTER TABLE intents ADD COLUMN deadline TEXT;
        ALTER TABLE intents ADD COLUMN answered_at TEXT;
        ALTER TABLE intents ADD COLUMN evidence TEXT;
        ALTER TABLE intents ADD COLUMN decision TEXT;
        CREATE INDEX intents_answered ON intents (account, kind, answered_at);
        -- a pending create of an earlier version may have been sent: in doubt, not unsent
        UPDATE intents SET attempts = MAX(attempts, 1), sent_at = created_at,
            deadline = updated_at
            WHERE kind = 'create' AND state = 'pending';
        ALTER TABLE followups ADD COLUMN decision TEXT;
        ALTER TABLE mappings ADD COLUMN national_status_name TEXT;
        """
    )


@migrations()
def m007_late_photos(db: Database) -> None:
    db.executescript(
        """
        -- a photo the city's server could not give (a 5xx, a timeout) when its complaint
        -- was created: the complaint went without it; the photo is fetched again with
        -- backoff and, once it comes, posted to LAPOR as a follow-up carrying the file
        -- (its followups row: followup_id, state 'photo_pending' until done)
        CREATE TABLE late_photos (
            id INTEGER PRIMARY KEY,
            source TEXT NOT NULL,
            local_id TEXT NOT NULL,
            photo_index INTEGER NOT NULL,     -- its place among the record's photos, from 0
            attachment TEXT NOT NULL,         -- the app's reference to it (its URL)
            content_type TEXT,
            attempts INTEGER NOT NULL DEFAULT 1,  -- fetches that failed
            next_try_at TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'waiting',  -- waiting | sent | given_up
            reason TEXT,
            followup_id INTEGER,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            UNIQUE (source, local_id, photo_index)
        );
        CREATE INDEX late_photos_due ON late_photos (source, state, next_try_at);
        """
    )


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


#: an import intent that was posted (attempted) and holds neither an answer nor a
#: queued server's token: whether the app made the record is not known
IMPORT_IN_DOUBT = "kind = 'import' AND attempts > 0 AND json_extract(payload, '$.token') IS NULL"
#: a follow-up posted to LAPOR whose answer was lost (or whose post a crash cut short),
#: until the complaint's follow-ups are read with or without it
FOLLOWUP_IN_DOUBT = (
    "state = 'pending' AND direction = 'to_national' AND attempts > 0"
    " AND (last_error IS NULL OR last_error LIKE 'answer lost%')"
)
#: why a follow-up to LAPOR is held while LAPOR's admin has not disposed its complaint to
#: the city's agency (LAPOR answers 403): waiting on a person, not pending (bridge.md)
NOT_DISPOSED = "LAPOR refuses: the complaint is not disposed to this agency (yet)"
#: a pending follow-up to LAPOR of a record whose follow-ups wait for that disposition
#: (the held one, and those queued behind it); ``f`` is the followups row
FOLLOWUP_WAITING_VERIFICATION = (
    "f.state = 'pending' AND f.direction = 'to_national' AND EXISTS (SELECT 1 FROM followups h"
    " WHERE h.source = f.source AND h.local_id = f.local_id AND h.state = 'pending'"
    f" AND h.direction = 'to_national' AND h.last_error = '{NOT_DISPOSED}')"
)
#: an import the home app queued (it answered with a token): waiting for the city's app
IMPORT_QUEUED = "kind = 'import' AND json_extract(payload, '$.token') IS NOT NULL"


#: the state holds citizens' data: only the service user may read the database files
PRIVATE_MODE = 0o600


def _create_private(path: Path) -> None:
    """Create a database file that does not exist yet with mode 0600 (whatever the umask).

    A file that exists keeps its mode. When the file cannot be created here, SQLite's own
    open says why, as before.
    """
    if str(path) in ("", ":memory:") or path.exists():
        return
    with suppress(OSError):
        os.close(os.open(path, os.O_CREAT | os.O_RDWR, PRIVATE_MODE))


def _narrow_sidecars(path: Path) -> None:
    """Take the ``-wal``/``-shm`` files down to 0600 if they are wider.

    SQLite (unix VFS) creates them, now and whenever it makes them again, with the
    database file's own mode and sets it with fchmod, so the umask plays no part: a
    database created 0600 gives 0600 sidecars. This catches sidecars left wider by an
    earlier run. Setting ``os.umask`` around the connect was not chosen: the umask is
    process-wide, and other threads creating files meanwhile would get it too.
    """
    for suffix in ("-wal", "-shm"):
        sidecar = Path(f"{path}{suffix}")
        with suppress(OSError):  # not there (yet), or not ours to change
            mode = stat.S_IMODE(sidecar.stat().st_mode)
            if mode & ~PRIVATE_MODE:
                sidecar.chmod(mode & PRIVATE_MODE)


class StoreError(Exception):
    """The state database cannot be opened as asked. The message is for an operator: it
    names the file and what to do about it."""


class DatabaseMissing(StoreError):
    """A read-only open found no database; reads never create one (bridge.md)."""


class SchemaOutdated(StoreError):
    """A read-only open of a database written by an older version: only a writer migrates."""


#: SQLite's primary result codes meaning "this file cannot be opened as asked" (extended
#: codes carry them in their low byte); any other error is not about opening
_CANNOT_OPEN = {
    sqlite3.SQLITE_CANTOPEN,
    sqlite3.SQLITE_READONLY,
    sqlite3.SQLITE_PERM,
    sqlite3.SQLITE_NOTADB,
    sqlite3.SQLITE_CORRUPT,
}


def _primary_code(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else int(code) & 0xFF


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` (or an error it was raised from or while handling) is a full disk:
    SQLite's ``SQLITE_FULL`` ("database or disk is full") or the system's ``ENOSPC``.

    SQLite rolls the transaction in hand back on ``SQLITE_FULL``; every earlier commit is
    whole, so a pass stopped by it loses nothing (creates already sent keep their intents,
    settled on the next pass as after a crash).
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, sqlite3.Error) and _primary_code(current) == sqlite3.SQLITE_FULL:
            return True
        if isinstance(current, OSError) and current.errno == errno.ENOSPC:
            return True
        current = current.__cause__ or current.__context__
    return False


def file_identity(path: Path | str) -> tuple[int, int] | None:
    """``(st_dev, st_ino)`` of the file at ``path`` now, or None when there is none.

    A connection keeps the file it opened, whatever happens to the name: the daemon
    compares this with what it opened to see its database deleted or replaced under it.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    return info.st_dev, info.st_ino


def _open_readonly(path: Path) -> sqlite3.Connection:
    """A read-only connection to the existing database at ``path``; never creates a file.

    ``mode=ro`` first. A WAL database needs its ``-shm``, which SQLite makes next to the
    file: in a folder this user cannot write (a copy set aside 0444 in a 0555 folder, a
    backup) that fails, and the file is opened ``immutable=1`` instead: no sidecar, no
    lock. Immutable only when there is no ``-wal``: a ``-wal`` means a connection has the
    database open (the daemon) and may hold changes not yet in the file, which an
    immutable read would silently miss. A file without a ``-wal`` that nobody may write
    (no write bit) is such a snapshot too and is opened immutable at once, so that not
    even root leaves sidecars in a folder meant to stay untouched.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise DatabaseMissing(f"no database at {path}; has the bridge run?") from None
    except OSError as exc:  # a folder on the way this user may not enter
        raise StoreError(
            f"cannot read the database at {path}: {exc.strerror}"
            " (run as the service's user, or give this user read access)"
        ) from None
    if not stat.S_ISREG(info.st_mode):
        raise StoreError(f"the database at {path} is not a regular file")
    if not os.access(path, os.R_OK):
        raise StoreError(
            f"cannot read the database at {path}: permission denied"
            " (run as the service's user, or give this user read access)"
        )
    wal = Path(f"{path}-wal")
    snapshot = not wal.exists() and (
        not os.access(path.parent, os.W_OK) or not info.st_mode & 0o222
    )
    uri = "file:" + urllib.parse.quote(os.path.abspath(path), safe="/")
    queries = ["mode=ro&immutable=1"] if snapshot else ["mode=ro", "mode=ro&immutable=1"]
    for n, query in enumerate(queries, 1):
        conn = sqlite3.connect(f"{uri}?{query}", uri=True, timeout=30, check_same_thread=False)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as exc:
            conn.close()
            code = _primary_code(exc)
            if code == sqlite3.SQLITE_NOTADB:
                raise StoreError(f"{path} is not a SQLite database") from None
            if n == len(queries) or wal.exists() or code not in _CANNOT_OPEN:
                raise StoreError(f"cannot read the database at {path}: {exc}") from None
            continue  # no -shm could be made: read the file as the snapshot it is
        return conn
    raise AssertionError("unreachable: every attempt returns or raises")


def _open_writable(path: Path) -> Database:
    """The database at ``path`` opened for writing, in WAL mode (created if need be)."""
    conn: sqlite3.Connection | None = None
    try:
        conn = sqlite3.connect(str(path), timeout=30, check_same_thread=False)
        db = Database(conn)
        db.enable_wal()
    except sqlite3.Error as exc:
        if conn is not None:
            conn.close()
        if _primary_code(exc) not in _CANNOT_OPEN:
            raise  # a full disk, a lock held too long: as SQLite says it
        raise StoreError(f"cannot open the database at {path}: {exc}") from None
    return db


#: one citizen's rows of the duplicate check's index within a window: a range of the block
#: index on the phone key (its ``category`` column skipped: categories are compatible)
DEDUPE_BLOCK = (
    "SELECT national_id, source, local_id, phone_key, category, created_at, content, text_norm"
    " FROM dedupe_index WHERE phone_key = ? AND created_at BETWEEN ? AND ?"
    " ORDER BY created_at DESC, source, local_id LIMIT ?"
)


class Store(ReportReads):
    """One connection to the state database. Use one per thread."""

    def __init__(self, path: Path | str, *, readonly: bool = False) -> None:
        """Open the database at ``path``: created (0600) and migrated when needed.

        ``readonly`` is for the commands that only read (bridge.md): the file must exist
        (else :class:`DatabaseMissing`), nothing is ever written to it, and it is not
        migrated (:class:`SchemaOutdated` when its schema is older than the code). A file
        that cannot be opened raises :class:`StoreError`, whose message is for the
        operator; a full disk is left as SQLite raises it (:func:`is_disk_full`).
        """
        self.path = Path(path)
        self.readonly = readonly
        self._depth = 0  # atomic blocks open
        self._holding = False  # inside holding(): commits wait for commit_held()
        self._durable = False  # a durable block is open: the outermost block commits
        self._after: list[Callable[[], None]] = []  # log lines waiting for the commit
        if readonly:
            self.db = Database(_open_readonly(self.path))
            self.db.execute("PRAGMA query_only = ON")
            self.db.execute("PRAGMA busy_timeout = 30000")
            self._check_schema()
            return
        _create_private(self.path)
        self.db = _open_writable(self.path)
        _narrow_sidecars(self.path)
        self.db.execute("PRAGMA busy_timeout = 30000")
        self.db.execute("PRAGMA synchronous = NORMAL")
        # checkpoint every 8,000 pages (32 MB of WAL), not 1,000: a backfill rewrites the
        # same index pages over and over, and each checkpoint copies them (and syncs) anew
        self.db.execute("PRAGMA wal_autocheckpoint = 8000")
        self.db.execute("PRAGMA foreign_keys = ON")
        # what is deleted or overwritten (a scrubbed payload, a purged text) is zeroed in the
        # file, not left in free space where a copy of the file would still show it
        self.db.execute("PRAGMA secure_delete = ON")
        migrations.apply(self.db)

    def fold_wal(self) -> bool:
        """Copy the WAL into the database and empty the WAL file, so that a text the pass
        forgot is not left in it (``secure_delete`` zeroes it in the database only). Never
        waits: with another connection in the way it returns ``False`` and the next pass
        tries again."""
        self.db.execute("PRAGMA busy_timeout = 0")
        try:
            busy, _, _ = self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        except sqlite3.OperationalError:
            return False
        finally:
            self.db.execute("PRAGMA busy_timeout = 30000")
        return int(busy) == 0

    def _check_schema(self) -> None:
        """A read-only open does not migrate: say so when the schema is behind the code."""
        applied = migrations.applied(self.db)
        missing = [m.name for m in migrations.pending(self.db)]
        if not missing:
            return
        self.db.close()
        if not applied:
            raise SchemaOutdated(
                f"{self.path} holds no lapor-bridge state (no schema); has the bridge run"
                " with this configuration?"
            )
        raise SchemaOutdated(
            f"the database at {self.path} was written by an older lapor-bridge (it lacks"
            f" {', '.join(missing)}); a command that only reads does not upgrade it: start"
            " the service, or run `lapor-bridge sync` once, then try again"
        )

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def atomic(self, *, durable: bool = False) -> Iterator[Store]:
        """One transaction, taking the write lock at once (``BEGIN IMMEDIATE``).

        A deferred transaction that reads and then writes fails at once with
        "database is locked" when another worker committed in between; an
        immediate one waits for the lock (busy_timeout) instead. Nested blocks
        are savepoints. Inside :meth:`holding`, the block is atomic but its
        commit waits for the next :meth:`commit_held`, unless it is ``durable``:
        an intent, which must be on disk before the request it announces leaves,
        whatever the transport.
        """
        conn = self.db.conn
        self._depth += 1
        try:
            if conn.in_transaction:  # nested, or in a held transaction: a savepoint
                savepoint = f"atomic_{self._depth}"  # few names: the statements stay cached
                conn.execute(f"SAVEPOINT {savepoint}")
                waiting = len(self._after)
                try:
                    yield self
                except BaseException:
                    del self._after[waiting:]  # what the block's work announced goes with it
                    if conn.in_transaction:  # (an error can have ended it already)
                        conn.execute(f"ROLLBACK TO {savepoint}")
                        conn.execute(f"RELEASE {savepoint}")
                    else:
                        self._after.clear()
                    raise
                conn.execute(f"RELEASE {savepoint}")
                self._durable |= durable
                if self._durable and self._depth == 1:
                    conn.execute("COMMIT")  # the held work goes with it
                    self._durable = False
                    self._committed()
                return
            conn.execute("BEGIN IMMEDIATE")
            self._durable = durable
            try:
                yield self
            except BaseException:
                conn.rollback()
                self._after.clear()
                raise
            if self._durable or not self._holding:
                conn.execute("COMMIT")
                self._committed()
            self._durable = False
        finally:
            self._depth -= 1

    @contextmanager
    def holding(self) -> Iterator[None]:
        """Hold commits until :meth:`commit_held`: one commit for many atomic blocks.

        For a pass that commits before each request it sends (the engine's gate,
        ``bridge.sync.gate``) and after each page: an intent is still
        committed before its request leaves, and the mapping written after the answer
        rides on the next commit instead of paying one of its own. A kill in between
        loses only what a lost answer would, and is recovered the same way (the
        intent stays pending: the record is looked up by its tag). Leaving the block
        commits, unless it is left by an interrupt (not an ``Exception``), as a kill
        would leave it.
        """
        self._holding = True
        try:
            yield
        except Exception:
            self._holding = False
            self.commit_held()
            raise
        except BaseException:
            self._holding = False
            if self._depth == 0 and self.db.conn.in_transaction:
                self.db.conn.rollback()
                self._after.clear()
            raise
        finally:
            self._holding = False
        self.commit_held()

    def commit_held(self) -> None:
        """Commit what :meth:`holding` kept open; nothing inside an atomic block."""
        if self._depth == 0 and self.db.conn.in_transaction:
            self.db.conn.execute("COMMIT")
            self._committed()

    def after_commit(self, announce: Callable[[], None]) -> None:
        """Run ``announce`` (a log line saying what was done) once what was written so far
        is committed: at once outside a transaction, else after its ``COMMIT``; never when
        it is rolled back. A held transaction's log lines wait for it, so the log never
        tells of work the state does not keep."""
        if not self.db.conn.in_transaction:
            announce()
            return
        self._after.append(announce)

    def _committed(self) -> None:
        announced, self._after = self._after, []
        for announce in announced:
            announce()

    # helpers ---------------------------------------------------------------
    # (plain cursors: sqlite-utils' query() wraps every read in a savepoint of its own)
    def _one(
        self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()
    ) -> dict[str, Any] | None:
        cursor = self.db.conn.execute(sql, params)
        row = cursor.fetchone()
        if row is None:
            return None
        return dict(zip([c[0] for c in cursor.description], row, strict=True))

    def _all(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        cursor = self.db.conn.execute(sql, params)
        names = [c[0] for c in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def _scalar(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        row = self.db.execute(sql, params).fetchone()
        return row[0] if row else None

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
        self.db.execute(
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
        """:meth:`mapping` inside :meth:`atomic`, whose ``BEGIN IMMEDIATE`` holds the
        write lock: no other connection commits before this transaction ends."""
        assert self.db.conn.in_transaction, "mapping_for_update outside atomic()"
        return self.mapping(source, local_id)

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
        self.db.execute(
            f"INSERT INTO mappings ({columns}) VALUES ({marks})", tuple(fields.values())
        )

    def update_mapping(self, source: str, local_id: str, **fields: Any) -> None:
        fields.setdefault("last_synced_at", now_iso())
        assignments = ", ".join(f"{k} = ?" for k in fields)
        self.db.execute(
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
        self.db.execute(
            "DELETE FROM mappings WHERE source = ? AND local_id = ?", (source, local_id)
        )

    def unlinked(self, source: str, batch: int = 500) -> Iterator[tuple[str, int]]:
        """``(local_id, national_id)`` of every mapping whose tracking id has not yet been
        written back to the local app, read ``batch`` at a time: after a backfill that is
        every record the pass created. Safe to update the mappings while iterating."""
        after = 0
        while True:
            rows = self.db.execute(
                "SELECT id, local_id, national_id FROM mappings WHERE source = ? AND "
                "link_state = 'pending' AND national_id IS NOT NULL AND id > ? ORDER BY id LIMIT ?",
                (source, after, batch),
            ).fetchall()
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
        cursor = self.db.execute(
            "INSERT INTO intents (kind, source, local_id, national_id, account, tag, payload,"
            " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                kind,
                source,
                local_id,
                national_id,
                account,
                tag,
                json.dumps(payload),
                stamp,
                stamp,
            ),
        )
        return int(cursor.lastrowid or 0)

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
        """A create's intent, already marked sent (:meth:`create_sending`): one statement
        where a create would otherwise cost two."""
        now = datetime.now(UTC)
        stamp = now.isoformat(timespec="microseconds")
        deadline = (now + timeout).isoformat(timespec="microseconds")
        text = json.dumps(payload)
        cursor = self.db.execute(
            "INSERT INTO intents (kind, source, local_id, account, tag, payload, attempts,"
            " sent_at, deadline, created_at, updated_at)"
            " VALUES ('create', ?, ?, ?, ?, ?, 1, ?, ?, ?, ?)",
            (source, local_id, account, tag, text, stamp, deadline, stamp, stamp),
        )
        return IntentRow(
            id=int(cursor.lastrowid or 0), kind="create", source=source, local_id=local_id,
            payload=json.loads(text), state="pending", attempts=1, created_at=stamp,
            updated_at=stamp, account=account, tag=tag, sent_at=stamp, deadline=deadline,
        )  # fmt: skip

    def catching_up(self, source: str) -> list[str]:
        """Records of ``source`` whose responses are still to be read whole (m011)."""
        rows = self._all(
            "SELECT local_id FROM mappings WHERE source = ? AND catch_up = 1 ORDER BY local_id",
            (source,),
        )
        return [str(row["local_id"]) for row in rows]

    def caught_up(self, source: str, local_id: str) -> None:
        self.db.execute(
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
        if kind == "create":  # written out: only then can SQLite use the partial index of
            # pending creates without planning the statement again on every call
            sql = (
                "SELECT * FROM intents WHERE state = 'pending' AND source = ? AND local_id = ?"
                " AND kind = 'create'"
            )
            row = self._one(sql, (source, local_id))
        else:
            row = self._one(
                "SELECT * FROM intents WHERE state = 'pending' AND source = ? AND local_id = ?"
                " AND kind = ?",
                (source, local_id, kind),
            )
        return IntentRow.of(row) if row is not None else None

    def finish_intent(self, intent_id: int, state: str = "done", error: str | None = None) -> None:
        """An intent done or failed: from now on its payload keeps only what
        :meth:`scrub_intent` keeps, whichever path finished it."""
        self.db.execute(
            "UPDATE intents SET state = ?, last_error = ?, updated_at = ? WHERE id = ?",
            (state, error, now_iso(), intent_id),
        )
        if state != "pending":
            self.scrub_intent(intent_id)

    def create_sending(self, intent_id: int, account: str, timeout: timedelta) -> None:
        """A create about to be posted: from now it may be applied, until ``deadline``."""
        now = datetime.now(UTC)
        self.db.execute(
            "UPDATE intents SET attempts = attempts + 1, account = ?, sent_at = ?, deadline = ?,"
            " decision = CASE WHEN decision = 'not_created' THEN NULL ELSE decision END,"
            " updated_at = ? WHERE id = ?",
            (account, now.isoformat(timespec="microseconds"),
             (now + timeout).isoformat(timespec="microseconds"), now_iso(), intent_id),
        )  # fmt: skip

    def create_lost(self, intent_id: int, error: str) -> None:
        """A create's answer was lost: in doubt; LAPOR may apply it until the later of its
        deadline and now (a gateway's 504 may come while LAPOR still works on it)."""
        stamp = now_iso()
        self.db.execute(
            "UPDATE intents SET last_error = ?, deadline = MAX(COALESCE(deadline, ?), ?),"
            " updated_at = ? WHERE id = ?",
            (error, stamp, stamp, stamp, intent_id),
        )

    def create_answered(self, intent_id: int, national_id: int) -> None:
        """LAPOR answered this create with ``national_id``: a bound for later scans."""
        self.db.execute(
            "UPDATE intents SET national_id = ?, answered_at = ? WHERE id = ?",
            (national_id, now_iso(), intent_id),
        )

    def import_queued(self, intent_id: int, token: str) -> None:
        """The home app queued an import and answered with ``token`` (kept in its payload)."""
        self.db.execute(
            "UPDATE intents SET payload = json_set(payload, '$.token', ?) WHERE id = ?",
            (token, intent_id),
        )

    def create_done(self, intent_id: int, national_id: int) -> None:
        """:meth:`create_answered` and :meth:`finish_intent` (done, scrubbed) at once."""
        stamp = now_iso()
        self.db.execute(
            "UPDATE intents SET national_id = ?, answered_at = ?, state = 'done',"
            f" last_error = NULL, updated_at = ?, payload = {KEPT_PAYLOAD} WHERE id = ?",
            (national_id, stamp, stamp, intent_id),
        )

    def create_bracket(
        self, account: str, sent_at: str, deadline: str
    ) -> tuple[int | None, int | None]:
        """lapor.md's bracket: the largest id this account got from a create answered before
        ``sent_at``, and the smallest from a create sent after ``deadline``."""
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
        bridge hold (any account): each is another record's complaint, never the one a
        create in doubt may have made (a bracket scan need not read them)."""
        rows = self.db.execute(
            "SELECT national_id FROM intents WHERE kind = 'create' AND answered_at IS NOT NULL"
            " AND national_id > ? AND national_id < ?",
            (lower, upper),
        ).fetchall()
        return {int(row[0]) for row in rows}

    def note_evidence(self, intent_id: int, evidence: str) -> None:
        self.db.execute(
            "UPDATE intents SET evidence = ?, updated_at = ? WHERE id = ?",
            (evidence, now_iso(), intent_id),
        )

    def decide(self, intent_id: int, decision: str | None) -> None:
        self.db.execute("UPDATE intents SET decision = ? WHERE id = ?", (decision, intent_id))

    def scrub_intent(self, intent_id: int) -> None:
        """Keep of an intent's payload only what audit and reports read (:data:`KEPT_PAYLOAD`).

        A create's frozen body (the citizen's title and text, and with ``send_reporter``
        the reporter's name, phone and e-mail) is needed only until LAPOR has the complaint
        or the create is given up; an import's copy of a LAPOR complaint only until the home
        app has it. Kept by name, not removed by name: a field added to a body later is
        forgotten too.
        """
        self.db.execute(f"UPDATE intents SET payload = {KEPT_PAYLOAD} WHERE id = ?", (intent_id,))

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
        self.db.execute("UPDATE followups SET decision = ? WHERE id = ?", (decision, row_id))

    def answered_with_tokens(self, source: str) -> bool:
        """Whether the app has ever answered an import with a token (it queues its creates)."""
        row = self.db.execute(
            "SELECT 1 FROM intents WHERE source = ? AND kind = 'import'"
            " AND json_extract(payload, '$.token') IS NOT NULL LIMIT 1",
            (source,),
        ).fetchone()
        return row is not None

    def note_attempt(self, intent_id: int, error: str | None) -> None:
        self.db.execute(
            "UPDATE intents SET attempts = attempts + 1, last_error = ?, updated_at = ?"
            " WHERE id = ?",
            (error, now_iso(), intent_id),
        )

    # cursors ---------------------------------------------------------------
    def cursor(self, name: str) -> str | None:
        value = self._scalar("SELECT value FROM cursors WHERE name = ?", (name,))
        return str(value) if value is not None else None

    def set_cursor(self, name: str, value: str | None) -> None:
        self.db.execute(
            "INSERT INTO cursors (name, value, updated_at) VALUES (?, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET value = excluded.value,"
            " updated_at = excluded.updated_at",
            (name, value, now_iso()),
        )

    # discovery -------------------------------------------------------------
    def add_discovered(self, tickets: Iterable[tuple[str, int]]) -> None:
        self.db.conn.executemany(
            "INSERT OR IGNORE INTO discovered (tag, national_id) VALUES (?, ?)", tickets
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
        self.db.conn.execute(
            "INSERT OR REPLACE INTO dedupe_index (national_id, source, local_id, phone_key,"
            " category, created_at, content) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (row.national_id, row.source, row.local_id, row.phone_key, row.category,
             row.created_at, row.content),
        )  # fmt: skip

    def dedupe_forget(self, source: str, local_id: str) -> None:
        self.db.conn.execute(
            "DELETE FROM dedupe_index WHERE source = ? AND local_id = ?", (source, local_id)
        )

    def dedupe_purge(self, before: str, clock: str) -> int:
        cursor = self.db.conn.execute("DELETE FROM dedupe_index WHERE created_at < ?", (before,))
        self.db.conn.execute(
            "INSERT INTO dedupe_meta (name, value) VALUES ('clock', ?) ON CONFLICT (name)"
            " DO UPDATE SET value = MAX(value, excluded.value)",
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
        cursor = self.db.conn.execute(
            "INSERT INTO dedupe_decisions (at, source, local_id, candidate_of, rule, score,"
            " merged, inputs) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (at, source, local_id, candidate_of, rule, score, int(merged), inputs),
        )
        return int(cursor.lastrowid or 0)

    # quarantine ------------------------------------------------------------
    def quarantine(
        self, source: str, local_id: str, raw: Any, reason: str, display_id: str | None = None
    ) -> int:
        """Keep a record that could not be processed; repeated sightings count attempts.
        ``display_id``: the number the citizen sees, when the app has one besides the id."""
        stamp = now_iso()
        existing = self._one(
            "SELECT id FROM quarantine WHERE source = ? AND local_id = ? AND state = 'open'",
            (source, local_id),
        )
        raw_text = json.dumps(raw, ensure_ascii=False, default=str)
        if existing is not None:
            self.db.execute(
                "UPDATE quarantine SET raw = ?, reason = ?, attempts = attempts + 1,"
                " last_seen = ?, display_id = COALESCE(?, display_id) WHERE id = ?",
                (raw_text, reason, stamp, display_id, existing["id"]),
            )
            return int(existing["id"])
        cursor = self.db.execute(
            "INSERT INTO quarantine (source, local_id, raw, reason, first_seen, last_seen,"
            " display_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (source, local_id, raw_text, reason, stamp, stamp, display_id),
        )
        return int(cursor.lastrowid or 0)

    def release_quarantine(self, source: str, local_id: str, state: str = "resolved") -> bool:
        """Close a record's open entry (``resolved`` when it went through, ``dropped`` by an
        operator). Its raw record, kept only for a retry, is forgotten (``null``); the reason,
        times and attempts stay for the audit."""
        cursor = self.db.execute(
            f"UPDATE quarantine SET state = ?, last_seen = ?, raw = '{PURGED_RAW}'"
            " WHERE source = ? AND local_id = ? AND state = 'open'",
            (state, now_iso(), source, local_id),
        )
        return cursor.rowcount > 0

    def quarantine_open(self, source: str, local_id: str) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM quarantine WHERE source = ? AND local_id = ? AND state = 'open'",
            (source, local_id),
        ).fetchone()
        return row is not None

    def was_split(self, source: str, local_id: str) -> bool:
        """An operator undid a merge of this record: it is never merged by rule again."""
        row = self.db.execute(
            "SELECT 1 FROM events WHERE source = ? AND local_id = ? AND kind = 'mapping_split'",
            (source, local_id),
        ).fetchone()
        return row is not None

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
    def open_view(self, source: str) -> OpenView:
        count, oldest, never = self.db.execute(OPEN_VIEW, (source,)).fetchone()
        return OpenView(int(count or 0), oldest, int(never or 0))

    def unknown_status_names(self) -> list[UnknownStatusName]:
        rows = self.db.execute(
            "SELECT json_extract(detail, '$.name') AS name, COUNT(DISTINCT national_id),"
            " MAX(at) FROM events WHERE kind = 'unknown_status_name' GROUP BY name"
            " ORDER BY MAX(at) DESC, name"
        ).fetchall()
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
        rows = self.db.execute("SELECT name, updated_at FROM cursors").fetchall()
        return {str(name): str(at) for name, at in rows if at}

    # what ``trace`` reads (bridge/reports/trace.py) --------------------------------------
    def _pairs(self, sql: str, params: tuple[Any, ...]) -> list[tuple[str, str]]:
        rows = self.db.execute(sql, params).fetchall()
        return [(str(source), str(local_id)) for source, local_id in rows]

    def records_of_national(self, national_id: int) -> list[tuple[str, str]]:
        """``(source, local_id)`` named with a national complaint by an intent, a quarantine
        entry (``#N``), a follow-up or an audit event, in that order (repeats kept)."""
        params = (national_id, f"#{national_id}", national_id, national_id)
        return [pair for sql, n in zip(RECORDS_OF_NATIONAL, params, strict=True)
                for pair in self._pairs(sql, (n,))]  # fmt: skip

    def records_numbered(self, number: str, source: str | None) -> list[tuple[str, str]]:
        """``(source, local_id)`` of records whose visible number or own id is ``number``."""
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
                f" OR json_extract(payload, '$.summary.display_id') IN (?, ?)){where} ORDER BY id",
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
            " json_extract(payload, '$.summary.display_id') AS display_id,"
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
        """Committed at once (durable): ``status`` and ``/healthz`` see a pass running, and
        no implicit transaction holds the write lock through the pass's first requests."""
        with self.atomic(durable=True):
            self.db.execute(
                "INSERT INTO passes (name, kind, started_at) VALUES (?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET started_at = excluded.started_at",
                (name, kind, now_iso()),
            )

    def pass_finished(self, name: str, error: str | None) -> None:
        stamp = now_iso()
        if error is None:
            self.db.execute(
                "UPDATE passes SET finished_at = ?, ok_at = ?, last_error = NULL WHERE name = ?",
                (stamp, stamp, name),
            )
        else:
            self.db.execute(
                "UPDATE passes SET finished_at = ?, last_error = ? WHERE name = ?",
                (stamp, error, name),
            )

    def pass_stopped(self, name: str) -> None:
        """A pass a stop (SIGTERM, SIGINT) cut short: it ended, neither ok nor failed
        (``last_error`` :data:`bridge.runtime.health.STOPPED`). The failure of an earlier pass
        stays: the stop proved nothing about it."""
        self.db.execute(
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
        cursor = self.db.execute(
            f"INSERT OR IGNORE INTO followups ({columns}) VALUES ({marks})",
            tuple(fields.values()),
        )
        return cursor.rowcount > 0

    def followup_origins(self, source: str, local_id: str, direction: str) -> set[str]:
        rows = self.db.execute(
            "SELECT origin_id FROM followups WHERE source = ? AND local_id = ? AND direction = ?",
            (source, local_id, direction),
        ).fetchall()
        return {str(r[0]) for r in rows}

    def followup_texts(self, source: str, local_id: str, direction: str) -> set[str]:
        rows = self.db.execute(
            "SELECT content FROM followups WHERE source = ? AND local_id = ? AND direction = ?",
            (source, local_id, direction),
        ).fetchall()
        return {str(r[0]).strip() for r in rows}

    def followup_texts_to_national(self, national_id: int) -> list[str]:
        """What every record merged into this complaint sent or is sending to LAPOR."""
        rows = self.db.execute(
            "SELECT content FROM followups WHERE national_id = ? AND direction = 'to_national'",
            (national_id,),
        ).fetchall()
        return [str(r[0]) for r in rows]

    def followup_remote_ids(self, national_id: int) -> set[str]:
        rows = self.db.execute(
            "SELECT remote_id FROM followups WHERE national_id = ? AND direction = 'to_national'"
            " AND remote_id IS NOT NULL",
            (national_id,),
        ).fetchall()
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
        self.db.execute(
            "UPDATE followups SET state = ?, remote_id = COALESCE(?, remote_id), last_error = ?,"
            " updated_at = ? WHERE id = ?",
            (state, remote_id, error, now_iso(), row_id),
        )

    def followup_attempt(self, row_id: int, error: str | None = None) -> None:
        self.db.execute(
            "UPDATE followups SET attempts = attempts + 1, last_error = ?, updated_at = ?"
            " WHERE id = ?",
            (error, now_iso(), row_id),
        )

    def followup_counts(self, source: str, local_id: str) -> dict[str, int]:
        rows = self.db.execute(
            "SELECT direction, COUNT(*) FROM followups WHERE source = ? AND local_id = ?"
            " AND state = 'done' GROUP BY direction",
            (source, local_id),
        ).fetchall()
        return {str(r[0]): int(r[1]) for r in rows}

    # late photos (m007) ----------------------------------------------------
    def add_late_photo(
        self, source: str, local_id: str, index: int, attachment: str,
        content_type: str | None, reason: str, next_try_at: str,
    ) -> None:  # fmt: skip
        """A photo that could not be fetched for its create: tried again from
        ``next_try_at``. A create tried again counts one more failed fetch."""
        stamp = now_iso()
        self.db.execute(
            "INSERT INTO late_photos (source, local_id, photo_index, attachment, content_type,"
            " reason, next_try_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (source, local_id, photo_index) DO UPDATE SET"
            " attempts = attempts + 1, attachment = excluded.attachment,"
            " content_type = excluded.content_type, reason = excluded.reason,"
            " next_try_at = excluded.next_try_at, updated_at = excluded.updated_at"
            " WHERE state = 'waiting'",
            (source, local_id, index, attachment, content_type, reason, next_try_at, stamp, stamp),
        )

    def late_photo_went_with_create(self, source: str, local_id: str, index: int) -> bool:
        """A waiting photo fetched after all for a create tried again: it goes with it."""
        cursor = self.db.execute(
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
        self.db.execute(
            f"UPDATE late_photos SET {assignments} WHERE id = ?", (*fields.values(), photo_id)
        )

    def add_late_photo_followup(self, photo: LatePhotoRow, content: str) -> int:
        """The photo's row in the follow-up ledger, in state ``photo_pending``: known as the
        bridge's own words (never copied back to the app) and looked for on LAPOR like any
        other, but posted only by the engine's late-photo step, which has the file."""
        cursor = self.db.execute(
            "INSERT INTO followups (source, local_id, national_id, direction, origin_id, kind,"
            " content, state, created_at, updated_at)"
            " VALUES (?, ?, ?, 'to_national', ?, 'photo', ?, 'photo_pending', ?, ?)",
            (
                photo.source, photo.local_id, photo.national_id,
                f"photo:{photo.photo_index}", content, now_iso(), now_iso(),
            ),
        )  # fmt: skip
        row_id = int(cursor.lastrowid or 0)
        self.update_late_photo(photo.id, followup_id=row_id)
        return row_id

    def late_photo_counts(self, source: str) -> dict[str, int]:
        """Photos of the source waiting to be fetched again or sent, and given up."""
        rows = self.db.execute(
            "SELECT state, COUNT(*) FROM late_photos WHERE source = ?"
            " AND state IN ('waiting', 'given_up') GROUP BY state",
            (source,),
        ).fetchall()
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
        """The complaints due to be read by id, the first to read first (bridge/core/tracking.py).

        Those whose view is older than ``stale_before`` (last read, or mapped when never
        read) come first, the oldest view first, up to ``stale_share`` of ``limit`` (more
        when nothing else is due); then the others: those never scheduled, then those
        never read, then the most overdue against their own wanted interval
        (``(now - last view) / (next read - last view)``).
        """
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
                f"SELECT * FROM mappings WHERE {due} AND {view} <= ? ORDER BY {view} LIMIT ?",
                (*sources, now, stale_before, limit),
            )
        fresh_only = f" AND {view} > ?" if stale_before is not None else ""
        ranked = self._all(
            f"SELECT * FROM mappings WHERE {due}{fresh_only}"
            " ORDER BY next_poll_at IS NOT NULL, last_seen_at IS NOT NULL,"
            f" {OVERDUE} DESC, next_poll_at LIMIT ?",
            (*sources, now, *((stale_before,) if stale_before is not None else ()), now, limit),
        )
        first = stale[: max(1, int(limit * stale_share))] if stale else []
        chosen = first + ranked[: limit - len(first)]
        rows = chosen + stale[len(first) : len(first) + limit - len(chosen)]
        return [MappingRow.of(row) for row in rows]

    def tracking_view(self, sources: list[str], now: str) -> TrackingView:
        """The account's open complaints followed by id (LAPOR's side neither done nor
        rejected as last seen; not those the inbox brings): how many, how many are due,
        the oldest view (the last read, or the mapping for one never read), and the
        requests an hour the schedule wants (each complaint's reads at its wanted interval;
        closed ones included, they are read too)."""
        if not sources:
            return TrackingView(open=0, due=0, oldest_view_at=None, wanted_per_hour=0.0)
        marks = ", ".join("?" for _ in sources)
        followed = (
            f"source IN ({marks}) AND national_id IS NOT NULL AND duplicate_of IS NULL"
            " AND COALESCE(tracked_by, '') != 'inbox'"
        )
        row = self.db.execute(
            "SELECT COUNT(*), COALESCE(SUM(next_poll_at IS NULL OR next_poll_at <= ?), 0),"
            " MIN(COALESCE(last_seen_at, first_synced_at))"
            f" FROM mappings WHERE {followed} AND {OPEN_ON_LAPOR}",
            (now, *sources),
        ).fetchone()
        wanted = self._scalar(
            "SELECT SUM(1.0 / (julianday(next_poll_at) - julianday(last_seen_at)))"
            f" FROM mappings WHERE {followed}"
            " AND julianday(next_poll_at) > julianday(last_seen_at)",
            tuple(sources),
        )
        count, due, oldest = row if row else (0, 0, None)
        return TrackingView(
            open=int(count or 0),
            due=int(due or 0),
            oldest_view_at=oldest,
            # reads a day → requests an hour (tracking.COST: a complaint and its follow-ups)
            wanted_per_hour=float(wanted or 0.0) * 2 / 24,
        )

    def tracking_spent(self, account: str, since: str) -> list[tuple[str, int]]:
        """``(at, requests)`` of every read of the account's complaints by id after
        ``since`` (bridge/core/tracking.py)."""
        rows = self.db.execute(
            "SELECT at, requests FROM tracking_spend WHERE account = ? AND at > ? ORDER BY at",
            (account, since),
        ).fetchall()
        return [(str(at), int(n)) for at, n in rows]

    def tracking_pace(self, account: str) -> str | None:
        value = self._scalar("SELECT paced_until FROM tracking_pace WHERE account = ?", (account,))
        return None if value is None else str(value)

    def charge_tracking(self, account: str, at: str, requests: int, paced_until: str) -> None:
        """Charge a read of ``requests`` to the account's budget; forget charges two hours
        older than it."""
        self.db.execute(
            "INSERT INTO tracking_spend (account, at, requests) VALUES (?, ?, ?)",
            (account, at, requests),
        )
        self.db.execute(
            "INSERT INTO tracking_pace (account, paced_until) VALUES (?, ?)"
            " ON CONFLICT (account) DO UPDATE SET paced_until = excluded.paced_until",
            (account, paced_until),
        )
        forget = datetime.fromisoformat(at) - timedelta(hours=2)
        self.db.execute(
            "DELETE FROM tracking_spend WHERE account = ? AND at < ?",
            (account, forget.isoformat(timespec="microseconds")),
        )

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

    # operator requests (m010) -----------------------------------------------
    # (bridge/sync/requests.py still runs its own SQL on ``db``; these carry the same statements
    # for the shared interface: bridge/sync/storeport.py)
    def add_operator_request(
        self, action: str, source: str, local_id: str | None, params: str, by: str
    ) -> int:
        """Record a request, ``queued``; ``params`` is its JSON text. Its id."""
        cursor = self.db.execute(
            "INSERT INTO operator_requests (action, source, local_id, params, requested_by,"
            " requested_at) VALUES (?, ?, ?, ?, ?, ?)",
            (action, source, local_id, params, by, now_iso()),
        )
        return int(cursor.lastrowid or 0)

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
        self.db.execute(
            "UPDATE operator_requests SET state = 'running', started_at = ?, carried_out_by = ?"
            " WHERE id = ?",
            (now_iso(), by, request_id),
        )

    def finish_operator_request(self, request_id: int, state: str, outcome: str) -> None:
        self.db.execute(
            "UPDATE operator_requests SET state = ?, finished_at = ?, outcome = ? WHERE id = ?",
            (state, now_iso(), outcome, request_id),
        )

    # schema ----------------------------------------------------------------
    def applied_migrations(self) -> list[str]:
        """The names of the migrations applied to this database, in the order applied."""
        return [m.name for m in migrations.applied(self.db)]

    def leases(self) -> list[LeaseRow]:
        """None: a SQLite state has one writer, its file lock (docs/postgresql.md)."""
        return []

    def replicas(self) -> list[ReplicaRow]:
        """None: a SQLite state has one writer, its file lock."""
        return []

    # counts ----------------------------------------------------------------
    def category_fallbacks(self, source: str) -> dict[str, str]:
        """Categories LAPOR did not have when the source's complaints were sent: each and
        the category it was sent as (events ``category_fallback``)."""
        rows = self.db.execute(
            "SELECT DISTINCT json_extract(detail, '$.category'), json_extract(detail, '$.sent_as')"
            " FROM events WHERE kind = 'category_fallback' AND source = ?",
            (source,),
        ).fetchall()
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
            # what waits on a person (bridge.md: waiting, not pending) is left out
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


# personal data at rest (README, "Security and data protection") ---------------------

#: what a finished intent's payload keeps, as an SQL expression over ``kind`` and
#: ``payload``: a create its tag and summary (statuses, times, category, agency, flags and
#: a fingerprint: no personal data); an import the three scalar keys the report reads, and
#: the queued app's token (whether an app queues its creates); any other kind nothing
KEPT_PAYLOAD = (
    "CASE kind"
    " WHEN 'create' THEN json_object('tag', json_extract(payload, '$.tag'),"
    " 'summary', json(COALESCE(json_extract(payload, '$.summary'), '{}')))"
    " WHEN 'import' THEN json_object('complaint', json_object("
    "'status_code', json_extract(payload, '$.complaint.status_code'),"
    " 'created_at', json_extract(payload, '$.complaint.created_at'),"
    " 'confidential', json_extract(payload, '$.complaint.confidential')),"
    " 'token', json_extract(payload, '$.token'))"
    " ELSE '{}' END"
)
#: how overdue a complaint due to be read by id is, against its own wanted interval (the
#: time from its last view to its next read; at least a minute, for a mapping whose last
#: view came after its read was due, from a source pass)
OVERDUE = (
    "(julianday(?) - julianday(last_seen_at))"
    " / MAX(julianday(next_poll_at) - julianday(last_seen_at), 1.0 / 1440)"
)
#: a mapping whose complaint LAPOR showed neither done nor rejected when last read
OPEN_ON_LAPOR = "COALESCE(national_canonical, status, '') NOT IN ('done', 'rejected')"
#: a closed quarantine entry's ``raw``: nothing (JSON ``null``; the column is NOT NULL)
PURGED_RAW = "null"

# what ``status`` counts (bridge/reports/status.py), in SQL both databases read -----------
#: a source's open complaints followed by id (:class:`OpenView`), its one parameter the source
OPEN_VIEW = (
    "SELECT COUNT(*), MIN(last_seen_at),"
    " COALESCE(SUM(CASE WHEN last_seen_at IS NULL THEN 1 ELSE 0 END), 0)"
    " FROM mappings WHERE source = ? AND national_id IS NOT NULL AND duplicate_of IS NULL"
    f" AND COALESCE(tracked_by, '') != 'inbox' AND {OPEN_ON_LAPOR}"
)


def _rank(column: str) -> str:
    """A canonical status column's rank in SQL (bridge/core/model.py), NULL when unknown."""
    return (
        f"CASE {column} WHEN 'submitted' THEN 0 WHEN 'verified' THEN 1"
        " WHEN 'in_progress' THEN 2 WHEN 'done' THEN 3 WHEN 'rejected' THEN 3 END"
    )


_LOCAL_RANK, _NATIONAL_RANK = _rank("m.local_canonical"), _rank("m.national_canonical")
#: an inbox complaint the city rejected and the bridge handed back to LAPOR
_HANDED_BACK = (
    "m.local_canonical = 'rejected' AND m.origin = 'national' AND EXISTS (SELECT 1 FROM"
    " followups f WHERE f.source = m.source AND f.local_id = m.local_id"
    " AND f.direction = 'to_national' AND f.kind = 'reject' AND f.state = 'done')"
)
_NO_PENDING = (
    "NOT EXISTS (SELECT 1 FROM followups f WHERE f.source = m.source"
    " AND f.local_id = m.local_id AND f.state = 'pending')"
)
#: a follow-up LAPOR refused because its complaint is closed there (done or archived):
#: nothing anyone can do about it, so a note, not an error (a photo's refusal is a photo
#: given up, counted there)
_CLOSED_ON_LAPOR = (
    "f.direction = 'to_national' AND EXISTS (SELECT 1 FROM mappings m WHERE m.source ="
    " f.source AND m.local_id = f.local_id AND m.national_canonical IN ('done', 'rejected'))"
)


def backlog_queries(import_queued: str) -> dict[str, str]:
    """The counts of :class:`BacklogCounts` but the oldest, each a query whose one parameter
    is the source; ``import_queued`` is the database's spelling of :data:`IMPORT_QUEUED`."""
    refused = "SELECT COUNT(*) FROM followups f WHERE f.source = ? AND f.state = 'failed'"
    return {
        "conflicts": "SELECT COUNT(*) FROM mappings WHERE source = ? AND conflict = 1",
        "drift": "SELECT COUNT(*) FROM mappings m WHERE m.source = ? AND m.conflict = 0"
        f" AND {_NATIONAL_RANK} > {_LOCAL_RANK}",
        "refused": f"{refused} AND f.kind != 'photo' AND NOT ({_CLOSED_ON_LAPOR})",
        "refused_closed": f"{refused} AND f.kind != 'photo' AND {_CLOSED_ON_LAPOR}",
        "waiting_verification": "SELECT COUNT(*) FROM followups f WHERE f.source = ?"
        f" AND NOT ({FOLLOWUP_IN_DOUBT}) AND {FOLLOWUP_WAITING_VERIFICATION}",
        "waiting_city": "SELECT COUNT(*) FROM intents WHERE source = ? AND state = 'pending'"
        f" AND {import_queued}",
        "waiting_lapor_close": "SELECT COUNT(*) FROM mappings m WHERE m.source = ?"
        " AND m.conflict = 0 AND m.local_canonical IN ('done', 'rejected')"
        f" AND {_NATIONAL_RANK} < 3 AND {_NO_PENDING} AND NOT ({_HANDED_BACK})",
    }


#: the oldest local complaint not yet on LAPOR, by when the bridge first saw it: a create
#: not yet sent or in doubt, or a local record in quarantine that has no national complaint
#: (parameters: the source, twice)
OLDEST_UNSYNCED = (
    "SELECT MIN(t) FROM (SELECT created_at AS t FROM intents WHERE source = ?"
    " AND kind = 'create' AND state = 'pending'"
    " UNION ALL SELECT q.first_seen FROM quarantine q WHERE q.source = ? AND q.state = 'open'"
    " AND q.local_id NOT LIKE '#%' AND NOT EXISTS (SELECT 1 FROM mappings m"
    " WHERE m.source = q.source AND m.local_id = q.local_id AND m.national_id IS NOT NULL))"
    " AS unsynced"
)
#: records naming a national complaint, table by table (:meth:`Store.records_of_national`;
#: parameters: the national id, the ``#N`` of an import not yet a record, the id, the id)
RECORDS_OF_NATIONAL = (
    "SELECT source, local_id FROM intents WHERE national_id = ? ORDER BY id",
    "SELECT source, local_id FROM quarantine WHERE local_id = ? ORDER BY id",
    "SELECT source, local_id FROM followups WHERE national_id = ? ORDER BY id",
    "SELECT source, local_id FROM events WHERE national_id = ? AND source IS NOT NULL"
    " AND local_id IS NOT NULL ORDER BY id",
)


# data only, registered after m007 (above); it can move up next to it
@migrations()
def m008_forget_finished(db: Database) -> None:
    """A database of an earlier version kept every finished create's body (citizens' texts)
    and every closed quarantine entry's raw record: forget them, as finishing does now."""
    db.execute(f"UPDATE intents SET payload = {KEPT_PAYLOAD} WHERE state != 'pending'")
    db.execute(f"UPDATE quarantine SET raw = '{PURGED_RAW}' WHERE state != 'open'")


@migrations()
def m009_visible_numbers(db: Database) -> None:
    """The number the citizen sees in the app (Tanjak's ``nomor``), when it is not the local
    id itself: kept on the mapping and on a quarantine entry, so that ``trace`` finds a
    record by it. Rows of earlier versions get it when their record is next recorded."""
    db.executescript(
        """
        ALTER TABLE mappings ADD COLUMN display_id TEXT;
        ALTER TABLE quarantine ADD COLUMN display_id TEXT;
        CREATE INDEX mappings_display ON mappings (display_id) WHERE display_id IS NOT NULL;
        CREATE INDEX quarantine_display ON quarantine (display_id) WHERE display_id IS NOT NULL;
        """
    )


# operator requests (m010; registered after m008 and m009: keep m010 last) -------------
@migrations()
def m010_operator_requests(db: Database) -> None:
    db.executescript(
        """
        -- what an operator asked for on one record (quarantine retry, mapping link/split,
        -- resync --id, indoubt resolve, conflict resolve): carried out by the next pass of
        -- its source (the daemon's), or at once by the command when no daemon holds the
        -- writer lock; bridge/sync/requests.py
        CREATE TABLE operator_requests (
            id INTEGER PRIMARY KEY,
            action TEXT NOT NULL,
            source TEXT NOT NULL,
            local_id TEXT,
            params TEXT NOT NULL DEFAULT '{}',
            requested_by TEXT NOT NULL,
            requested_at TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'queued',   -- queued | running | done | failed
            started_at TEXT,
            finished_at TEXT,
            carried_out_by TEXT,                    -- daemon | command
            outcome TEXT
        );
        CREATE INDEX operator_requests_queued ON operator_requests (state, source, id);
        -- an operator's conflict resolve: 'local' (the app's status kept; LAPOR's not
        -- changeable by the agency: the bridge stops flagging it) or 'national'
        ALTER TABLE mappings ADD COLUMN conflict_kept TEXT;
        """
    )


# m011; registered after m010: keep m011 last ------------------------------------------
@migrations()
def m011_catch_up(db: Database) -> None:
    """A record whose complaint was created while what its app had said (its responses)
    was not in hand — a create settled from its intent in a later pass, found by evidence
    or by an operator — or not yet recorded for LAPOR: flagged in the mapping's own
    transaction, read again whole and its responses sent, the flag cleared only then, so a
    failed read or a crash in between is taken up by the next pass."""
    db.executescript(
        """
        ALTER TABLE mappings ADD COLUMN catch_up INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX mappings_catch_up ON mappings (source, local_id) WHERE catch_up = 1;
        """
    )


# m012; registered after m011: keep m012 last ------------------------------------------
@migrations()
def m012_tracking_budget(db: Database) -> None:
    """Following complaints by id within a budget of requests an hour (bridge/core/tracking.py):
    every read's requests charged in the transaction that records the read, kept two hours
    (the sliding hour, and the hour before it for inspection); and each account's pace,
    the token bucket's time when what it spent is paid off: a restart resumes it instead of
    starting with a full burst."""
    db.executescript(
        """
        CREATE TABLE tracking_spend (
            id INTEGER PRIMARY KEY,
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


if TYPE_CHECKING:  # mypy checks that the SQLite store is a StateStore (bridge/sync/storeport.py)
    _IS_A_STATE_STORE: type[StateStore] = Store
