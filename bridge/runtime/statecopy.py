"""``lapor-bridge store migrate``: a city's SQLite state copied into PostgreSQL.

Both stores have the same tables and columns, migration by migration (docs/postgresql.md,
"Kept as in SQLite, on purpose"), so every row is copied as it is, its id kept. The copy is
one PostgreSQL transaction, committed only once it is verified: the rows of every table
counted on both sides, and a checksum of the mappings (what ties each local record to its
national complaint) computed on both sides. Rows are streamed in batches (``COPY``), never a
whole table in memory.

``dedupe_meta`` replaces the target's own: its phone-key secret keys every phone hash of
``dedupe_index``, which would no longer match under another secret. The migrations'
bookkeeping (sqlite-utils' ``_sqlite_migrations``, PostgreSQL's ``schema_migrations``) is
each database's own and is not copied. Each identity sequence is moved past the largest id
copied, so the ids PostgreSQL gives next continue the city's.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from bridge.sync.pgstore import MIGRATIONS_TABLE, PgStore
from bridge.sync.store import Store

#: rows read from SQLite and written to PostgreSQL at a time
BATCH = 1000
#: the migrations' bookkeeping: each database keeps its own
BOOKKEEPING = frozenset({"_sqlite_migrations", MIGRATIONS_TABLE})
#: the target's own rows, replaced by the city's (the phone-key secret and the clock)
REPLACED = "dedupe_meta"
#: the mappings' columns the checksum covers, in this order
CHECKSUM_COLUMNS = ("source", "local_id", "national_id", "duplicate_of", "link_state")
#: byte order on both sides (SQLite compares text as bytes; PostgreSQL's "C" collation too)
_SQLITE_CHECKSUM = (
    "SELECT source, local_id, national_id, duplicate_of, link_state FROM mappings"
    " ORDER BY source, local_id"
)
_PG_CHECKSUM = (
    "SELECT source, local_id, national_id, duplicate_of, link_state FROM mappings"
    ' ORDER BY source COLLATE "C", local_id COLLATE "C"'
)


class CopyRefused(Exception):
    """The copy was not made, or rolled back: the message says why, for the operator."""


@dataclass(frozen=True)
class Copied:
    """What was copied and verified: the rows of each table (equal on both sides) and the
    mappings' checksum (equal on both sides)."""

    rows: dict[str, int]
    checksum: str


def copy_state(source: Store, target: PgStore, *, dry_run: bool = False) -> Copied:
    """Copy every table of ``source`` into ``target`` (opened, so migrated) in one
    transaction, verified before it commits. :class:`CopyRefused` when the target already
    holds bridge state, when its tables differ, or when the verification fails (rolled
    back); ``psycopg.Error`` when the server refuses a row (rolled back too).

    ``dry_run``: the same copy and verification, then rolled back whatever the outcome:
    what the copy would do, proved on the target, with no row left there. (The identity
    sequences stay moved: PostgreSQL never takes ``setval`` back; a later copy sets them
    again, and a gap in ids is harmless.)"""
    tables = _tables(source.db.conn)
    _same_columns(source.db.conn, target.conn, tables)
    source.db.conn.execute("BEGIN")  # one snapshot of the file, whatever else reads it
    try:
        with target.conn.transaction(force_rollback=dry_run):
            _refuse_state(target.conn, tables)
            target.conn.execute(f"DELETE FROM {REPLACED}")
            for table in tables:
                _copy_table(source.db.conn, target.conn, table)
            _restart_identities(target.conn, tables)
            return _verified(source.db.conn, target.conn, tables)
    finally:
        source.db.conn.rollback()


def _tables(conn: sqlite3.Connection) -> list[str]:
    """The SQLite tables to copy: all but SQLite's own and the migrations' bookkeeping."""
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        " ORDER BY name"
    ).fetchall()
    return [name for (name,) in rows if name not in BOOKKEEPING]


def _sqlite_columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in conn.execute(f'PRAGMA table_info("{table}")')]


def _pg_columns(conn: psycopg.Connection[Any], table: str) -> set[str]:
    rows = conn.execute(
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name = %s",
        (table,),
    ).fetchall()
    return {str(name) for (name,) in rows}


def _same_columns(
    source: sqlite3.Connection, target: psycopg.Connection[Any], tables: list[str]
) -> None:
    """Both schemas alike, table by table: else the two were written by different versions."""
    for table in tables:
        theirs = _pg_columns(target, table)
        ours = set(_sqlite_columns(source, table))
        if ours != theirs:
            differ = ", ".join(sorted(ours ^ theirs)) or table
            raise CopyRefused(
                f"the table {table} differs between the SQLite and the PostgreSQL database"
                f" ({differ}); are both of this lapor-bridge version?"
            )


def _refuse_state(target: psycopg.Connection[Any], tables: list[str]) -> None:
    """A target holding any bridge rows (its own phone-key secret aside) is refused: the copy
    would mix two histories, or make one twice."""
    held = [
        table
        for table in tables
        if table != REPLACED
        and target.execute(
            sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(sql.Identifier(table))
        ).fetchone()
        == (True,)
    ]
    if held:
        raise CopyRefused(
            f"the PostgreSQL database already holds lapor-bridge state ({', '.join(held)});"
            " store migrate copies into a database no bridge has written to"
        )


def _batches(cursor: sqlite3.Cursor) -> Iterator[list[Any]]:
    while rows := cursor.fetchmany(BATCH):
        yield rows


def _copy_table(source: sqlite3.Connection, target: psycopg.Connection[Any], table: str) -> None:
    """Stream the table's rows, ids included, into PostgreSQL with ``COPY`` (an INSERT for
    the audit log's triggers: append-only allows it)."""
    columns = _sqlite_columns(source, table)
    listed = ", ".join(f'"{c}"' for c in columns)
    rows = source.execute(f'SELECT {listed} FROM "{table}"')
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    )
    with target.cursor() as cursor, cursor.copy(statement) as copy:
        for batch in _batches(rows):
            for row in batch:
                copy.write_row(row)


def _restart_identities(target: psycopg.Connection[Any], tables: list[str]) -> None:
    """Each identity goes on after the largest id copied (or from 1 on an empty table)."""
    rows = target.execute(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND is_identity = 'YES'"
    ).fetchall()
    for table, column in rows:
        if table not in tables:
            continue
        target.execute(
            sql.SQL(
                "SELECT setval(pg_get_serial_sequence({name}, {column}),"
                " COALESCE(MAX({ident}), 0) + 1, false) FROM {table}"
            ).format(
                name=sql.Literal(table),
                column=sql.Literal(column),
                ident=sql.Identifier(column),
                table=sql.Identifier(table),
            )
        )


def _checksum(rows: Iterable[Any]) -> str:
    """sha256 over the mappings' (source, local_id, national_id, duplicate_of, link_state),
    one JSON array a line, in byte order of (source, local_id)."""
    digest = hashlib.sha256()
    for row in rows:
        line = json.dumps(list(row), ensure_ascii=False, separators=(",", ":"))
        digest.update(line.encode("utf-8") + b"\n")
    return digest.hexdigest()


def _verified(
    source: sqlite3.Connection, target: psycopg.Connection[Any], tables: list[str]
) -> Copied:
    """The counts and the checksum, equal on both sides; else :class:`CopyRefused` (the
    caller's transaction rolls back)."""
    counts: dict[str, int] = {}
    for table in tables:
        ours = source.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
        theirs = target.execute(
            sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
        ).fetchone()
        if theirs is None or theirs[0] != ours:
            got = theirs[0] if theirs else None
            raise CopyRefused(f"{table}: {ours} rows in SQLite, {got} copied; rolled back")
        counts[table] = ours
    ours_sum = _checksum(source.execute(_SQLITE_CHECKSUM))
    with target.cursor(name="lapor_bridge_checksum") as cursor:  # server-side: streamed
        theirs_sum = _checksum(cursor.execute(_PG_CHECKSUM))
    if ours_sum != theirs_sum:
        raise CopyRefused("the mappings' checksums differ after the copy; rolled back")
    return Copied(counts, ours_sum)
