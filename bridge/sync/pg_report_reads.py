"""The reports' reads in PostgreSQL: :mod:`bridge.sync.report_reads`'s questions, for
:class:`bridge.sync.pgstore.PgStore`, answered with the same rows.

The SQLite store's SQL in PostgreSQL's dialect, and what it takes to answer the same:

* a JSON key is read from the ``text`` payload cast to ``jsonb`` (SQLite's ``json_extract``),
  as text (``->>``) where it is compared or is a time, as a JSON value (``->``, decoded by
  psycopg into the Python value SQLite gives) where the report keeps its type;
* flags are ``EXISTS (…)::int``, the 0/1 SQLite gives;
* the earliest of stored times is ``MIN(… COLLATE "C")``: the byte order SQLite compares
  text in, whatever the database's collation;
* a time filter compares instants, as SQLite's ``julianday`` does: an offset counts, a time
  without one is UTC, and a text that is not such a time matches no bound (``NULL``)
  instead of failing the report;
* one snapshot is a ``REPEATABLE READ, READ ONLY`` transaction, and rows stream through a
  server-side cursor, a batch at a time.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

import psycopg
from psycopg import pq

from bridge.sync.report_reads import ReportQuestions, ReportSql

_Row = TypeVar("_Row")

#: rows fetched from the server-side cursor at a time
BATCH = 2000
#: an ISO-8601 time SQLite's ``julianday`` reads (date, or date and time, with an offset or
#: ``Z`` or none); anything else is no time
_ISO_TIME = (
    r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
    r"([T ]([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d+)?)?\s*([zZ]|[+-]\d\d:[0-5]\d)?)?\s*$"
)
_HAS_OFFSET = r"([zZ]|[+-]\d\d:[0-5]\d)\s*$"


def instant(expr: str) -> str:
    """``expr`` (stored text) as a ``timestamptz`` as SQLite's ``julianday`` reads it; NULL
    when it is not such a time."""
    return (
        f"(CASE WHEN ({expr}) ~ '{_ISO_TIME}' THEN CASE WHEN ({expr}) ~ '{_HAS_OFFSET}'"
        f" THEN ({expr})::timestamptz ELSE ({expr})::timestamp AT TIME ZONE 'UTC' END END)"
    )


def _json(column: str, key: str) -> str:
    """A top-level key of a JSON text column, as text."""
    return f"({column}::jsonb ->> '{key}')"


# --- the reconciliation report -------------------------------------------------------------

_FOLLOWUPS = "SELECT {expr} FROM followups f WHERE f.source = m.source AND f.local_id = m.local_id"
_EVENTS = (
    'SELECT MIN(e.at COLLATE "C") FROM events e'
    " WHERE e.source = m.source AND e.local_id = m.local_id AND ({cond})"
)
_NEW = _json("e.detail", "new")
_ITEM = _json("e.detail", "item")
_VERIFIED = (
    "(e.kind IN ('local_status_moved', 'national_status_moved')"
    f" AND {_NEW} IN ('verified', 'in_progress', 'done'))"
    " OR e.kind = 'imported'"
)
_CLOSED = (
    "(e.kind IN ('local_status_moved', 'national_status_moved')"
    f" AND {_NEW} IN ('done', 'rejected'))"
    f" OR (e.kind = 'followup_sent' AND {_ITEM} IN ('complete', 'reject'))"
)

REPORT_MAPPINGS_SQL = f"""
SELECT m.source, m.local_id, m.national_id, m.origin, m.local_status, m.national_status,
    m.status, m.duplicate_of, m.created_at, m.first_synced_at, m.last_synced_at, m.agency,
    m.category, m.confidential, m.anonymous, m.local_canonical, m.national_canonical,
    m.conflict, m.link_state, m.local_updated_at, m.national_updated_at,
    (SELECT q.reason FROM quarantine q
        WHERE q.source = m.source AND q.local_id = m.local_id AND q.state = 'open') AS quarantine,
    EXISTS (SELECT 1 FROM intents i WHERE i.source = m.source AND i.local_id = m.local_id
        AND i.kind = 'create' AND i.state = 'pending')::int AS in_doubt,
    ({_FOLLOWUPS.format(expr="COUNT(*)")} AND f.state = 'pending') AS pending,
    ({_FOLLOWUPS.format(expr="COUNT(*)")} AND f.state = 'failed') AS failed,
    EXISTS ({_FOLLOWUPS.format(expr="1")} AND f.direction = 'to_national'
        AND f.kind = 'reject' AND f.state = 'done')::int AS handed_back,
    ({_FOLLOWUPS.format(expr='MIN(f.updated_at COLLATE "C")')} AND f.direction = 'to_national'
        AND f.state = 'done') AS first_response_at,
    ({_EVENTS.format(cond=_VERIFIED)}) AS verified_at,
    CASE WHEN m.status IN ('done', 'rejected') THEN ({_EVENTS.format(cond=_CLOSED)}) END
        AS closed_at,
    m.conflict_kept
FROM mappings m
WHERE {{where}}
ORDER BY m.id
"""

REPORT_QUARANTINED_SQL = """
SELECT q.source, q.local_id, q.reason, q.first_seen,
    EXISTS (SELECT 1 FROM intents i WHERE i.source = q.source AND i.local_id = q.local_id
        AND i.kind = 'create' AND i.state = 'pending')::int AS in_doubt
FROM quarantine q
WHERE q.state = 'open'
    AND NOT EXISTS (SELECT 1 FROM mappings m WHERE m.source = q.source AND m.local_id = q.local_id)
    AND {where}
ORDER BY q.id
"""

REPORT_IN_DOUBT_SQL = """
SELECT i.source, i.local_id, i.created_at
FROM intents i
WHERE i.kind = 'create' AND i.state = 'pending'
    AND NOT EXISTS (SELECT 1 FROM mappings m WHERE m.source = i.source AND m.local_id = i.local_id)
    AND NOT EXISTS (SELECT 1 FROM quarantine q WHERE q.source = i.source
        AND q.local_id = i.local_id AND q.state = 'open')
    AND {where}
ORDER BY i.id
"""

# only three scalar keys of the payload are read: never the complaint's text
REPORT_NATIONAL_ONLY_SQL = """
SELECT i.source, i.national_id, i.created_at AS seen_at,
    i.payload::jsonb -> 'complaint' -> 'status_code' AS status_code,
    i.payload::jsonb -> 'complaint' ->> 'created_at' AS filed_at,
    i.payload::jsonb -> 'complaint' -> 'confidential' AS confidential
FROM intents i
WHERE i.kind = 'import' AND i.state = 'pending'
    AND NOT EXISTS (SELECT 1 FROM mappings m WHERE m.national_id = i.national_id)
    AND {where}
ORDER BY i.id
"""
_NATIONAL_FILED = "COALESCE(i.payload::jsonb -> 'complaint' ->> 'created_at', i.created_at)"

# --- the SLA report ------------------------------------------------------------------------

_EV = "SELECT {expr} FROM events e WHERE e.source = m.source AND e.local_id = m.local_id AND "
_FU = "SELECT {expr} FROM followups f WHERE f.source = m.source AND f.local_id = m.local_id AND "
_MOVED = "e.kind IN ('national_status_moved', 'local_status_moved')"
_FIRST_EVENT = 'MIN(e.at COLLATE "C")'
_FIRST_LEDGER = 'MIN(f.created_at COLLATE "C")'

SLA_MAPPINGS_SQL = f"""
SELECT m.source, m.local_id, m.national_id, m.origin, m.account, m.agency, m.status,
    m.created_at, m.first_synced_at, m.national_canonical, m.local_canonical,
    m.local_updated_at, m.national_updated_at, m.last_synced_at,
    ({_EV.format(expr=_FIRST_EVENT)} e.kind = 'national_status_moved'
        AND {_NEW} <> 'submitted') AS verified_at,
    ({_EV.format(expr=_FIRST_EVENT)} e.kind = 'imported') AS imported_at,
    ({_EV.format(expr=f'MIN({_json("e.detail", "said_at")} COLLATE "C")')}
        e.kind = 'response_seen') AS said_at,
    ({_FU.format(expr=_FIRST_LEDGER)} (f.direction = 'to_national'
        OR (f.direction = 'to_local' AND f.author = %s))) AS answered_at,
    ({_EV.format(expr=_FIRST_EVENT)} (({_MOVED} AND {_NEW} IN ('done', 'rejected'))
        OR (e.kind = 'followup_sent' AND {_ITEM} IN ('complete', 'reject')))) AS closed_event_at,
    ({_FU.format(expr=_FIRST_LEDGER)} f.direction = 'to_national'
        AND f.kind IN ('complete', 'reject')) AS closed_in_app_at
FROM mappings m
WHERE m.duplicate_of IS NULL AND {{where}}
ORDER BY m.id
"""

_PENDING_FILED = "COALESCE(i.payload::jsonb -> 'summary' ->> 'created_at', i.created_at)"
SLA_CREATES_PENDING_SQL = f"""
SELECT i.source, i.local_id, {_PENDING_FILED} AS filed, i.account,
    i.payload::jsonb -> 'summary' ->> 'agency' AS agency
FROM intents i
WHERE i.kind = 'create' AND i.state = 'pending'
    AND NOT EXISTS (SELECT 1 FROM mappings m WHERE m.source = i.source AND m.local_id = i.local_id)
    AND {{where}}
ORDER BY i.id
"""

SLA_QUARANTINED_SQL = """
SELECT q.source, q.local_id, q.first_seen AS filed
FROM quarantine q
WHERE q.state = 'open' AND substr(q.local_id, 1, 1) <> '#'
    AND NOT EXISTS (SELECT 1 FROM mappings m WHERE m.source = q.source AND m.local_id = q.local_id)
    AND NOT EXISTS (SELECT 1 FROM intents i WHERE i.source = q.source
        AND i.local_id = q.local_id AND i.kind = 'create' AND i.state = 'pending')
    AND {where}
ORDER BY q.id
"""


def where(
    sources: Sequence[str],
    since: datetime | None,
    until: datetime | None,
    source_col: str,
    time_expr: str,
    params: list[Any],
) -> str:
    """The SQL condition for a read's filters; appends its parameters (``%s``)."""
    parts = ["TRUE"]
    if sources:
        parts.append(f"{source_col} = ANY(%s)")
        params.append(list(sources))
    if since is not None:
        parts.append(f"{instant(time_expr)} >= %s")
        params.append(since)
    if until is not None:
        parts.append(f"{instant(time_expr)} < %s")
        params.append(until)
    return " AND ".join(parts)


POSTGRESQL = ReportSql(
    mappings=REPORT_MAPPINGS_SQL,
    quarantined=REPORT_QUARANTINED_SQL,
    in_doubt=REPORT_IN_DOUBT_SQL,
    national_only=REPORT_NATIONAL_ONLY_SQL,
    national_filed=_NATIONAL_FILED,
    sla_mappings=SLA_MAPPINGS_SQL,
    sla_creates_pending=SLA_CREATES_PENDING_SQL,
    pending_filed=_PENDING_FILED,
    sla_quarantined=SLA_QUARANTINED_SQL,
)


class PgReportReads(ReportQuestions):
    """The reports' reads, for :class:`bridge.sync.pgstore.PgStore` (which inherits them)."""

    _SQL = POSTGRESQL
    conn: psycopg.Connection[Any]
    #: names for the server-side cursors, unique on the connection
    _cursor_names = itertools.count()

    @contextmanager
    def report_snapshot(self) -> Iterator[None]:
        """A ``REPEATABLE READ, READ ONLY`` transaction: every read inside sees the database
        as of its first; rolled back at the end. Nothing when a transaction is open."""
        conn = self.conn
        if conn.info.transaction_status != pq.TransactionStatus.IDLE:
            yield
            return
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        try:
            yield
        finally:
            if conn.info.transaction_status != pq.TransactionStatus.IDLE:
                conn.execute("ROLLBACK")

    def _stream(
        self,
        template: str,
        make: Callable[..., _Row],
        filters: tuple[Sequence[str], datetime | None, datetime | None],
        columns: tuple[str, str],
        params: tuple[Any, ...] = (),
    ) -> Iterator[_Row]:
        """``template``'s rows, filtered on ``columns`` (source, time), a batch at a time from
        a server-side cursor, each made by ``make`` from the row's values by position."""
        values = list(params)
        sql = template.format(where=where(*filters, *columns, values))
        name = f"report_read_{next(self._cursor_names)}"
        with self.report_snapshot(), self.conn.cursor(name) as cursor:
            cursor.itersize = BATCH
            cursor.execute(sql, values)
            for row in cursor:
                yield make(*row)

    def agencies_seen(self, account: str, sources: Sequence[str]) -> set[str | None]:
        """The agencies on ``account``'s mappings (those without an account: ``sources``')."""
        cursor = self.conn.execute(
            "SELECT DISTINCT agency FROM mappings WHERE account = %s"
            " OR (account IS NULL AND source = ANY(%s))",
            (account, list(sources)),
        )
        return {agency for (agency,) in cursor}
