"""The state store named by ``[bridge] database``: a SQLite file or a PostgreSQL database.

Every place that opens the store from the configuration goes through :func:`open_store`, and
every writer takes :func:`writer_lock` first, so that what differs between the two (a file
beside the database against an advisory lock in the server) is decided here once.

What is about the SQLite *file* has no PostgreSQL counterpart and is skipped there
(:func:`sqlite_path` is ``None``): the check that the file was not deleted or replaced under
the daemon, ``backup`` (the server's own backups, or ``pg_dump``, instead), the file modes.
A SQLite bridge loads psycopg too (its errors are among the state errors every worker
handles, bridge/sync/storeport.py: about 9 MB resident) but never connects with it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from bridge.runtime.service import DatabaseLock
from bridge.runtime.settings import PostgresDatabase, StateDatabase
from bridge.sync.store import Store

if TYPE_CHECKING:
    from bridge.runtime.service import PgWriterLock
    from bridge.sync.storeport import StateStore


def sqlite_path(database: StateDatabase) -> Path | None:
    """The SQLite file holding the state, or None when it is in PostgreSQL."""
    return None if isinstance(database, PostgresDatabase) else database


def conninfo(database: PostgresDatabase) -> str:
    """libpq's connection string: the URL with the password from its ``_file`` added."""
    from psycopg.conninfo import make_conninfo

    if database.password is None:
        return database.url
    return make_conninfo(database.url, password=database.password.get_secret_value())


def open_store(database: StateDatabase, *, readonly: bool = False) -> StateStore:
    """The state store: created and migrated when needed, or with ``readonly`` only read
    (never created, never migrated: :class:`bridge.sync.store.SchemaOutdated` when behind).
    A database that cannot be opened or reached raises :class:`bridge.sync.store.StoreError`
    with a message for the operator."""
    if isinstance(database, PostgresDatabase):
        from bridge.sync.pgstore import PgStore

        return PgStore(conninfo(database), readonly=readonly)
    return Store(database, readonly=readonly)


def writer_lock(database: StateDatabase, *, replica: bool = False) -> DatabaseLock | PgWriterLock:
    """The lock of the one process writing (``run``, ``sync``, ``resync``), not yet taken: a
    ``flock`` beside a SQLite file, a session-level advisory lock in PostgreSQL. Both raise
    :class:`bridge.runtime.service.LockedError` when another lapor-bridge holds it.

    ``replica`` (``run``): in PostgreSQL the advisory lock is taken shared, so that several
    replicas run at once (their leases share the work, bridge/sync/pgleases.py) while a
    one-off writer (``sync``, ``resync``, ``store migrate``) waits for none of them to run."""
    if isinstance(database, PostgresDatabase):
        from bridge.runtime.service import PgWriterLock

        return PgWriterLock(conninfo(database), shown=database.url, shared=replica)
    return DatabaseLock(database)
