"""The reports' reads in SQLite: what :class:`bridge.sync.store.Store` answers the
reconciliation report and the SLA report with (bridge.sync.storeport, "the reports' reads").

The reports compute and format; the SQL is here, beside the schema's owner, so that the
PostgreSQL store can answer the same questions in its own dialect
(:mod:`bridge.sync.pg_report_reads`) and the reports run on either. Each read streams from
a cursor (a million rows never sit in memory at once) and filters in SQL.

Privacy: no read takes a column that can hold personal data (``quarantine.raw``,
``followups.content``, an intent's payload apart from the scalar keys named below).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, TypeVar

from sqlite_utils import Database

from bridge.core.plan import NATIONAL_AUTHORS
from bridge.sync.storeport import (
    ReportInDoubt,
    ReportMapping,
    ReportNationalOnly,
    ReportQuarantined,
    SlaMapping,
    SlaRecord,
)

_Row = TypeVar("_Row")

# --- the reconciliation report (bridge.reports.report) ----------------------------------

# the unary ``+`` keeps SQLite on the (source, local_id) index: the ledger's index on
# (state, direction, source) would scan a whole source's answers for every row
_FOLLOWUPS = "SELECT {expr} FROM followups f WHERE f.source = m.source AND f.local_id = m.local_id"
_EVENTS = (
    "SELECT MIN(e.at) FROM events e"
    " WHERE e.source = m.source AND e.local_id = m.local_id AND ({cond})"
)
_VERIFIED = (
    "(e.kind IN ('local_status_moved', 'national_status_moved')"
    " AND json_extract(e.detail, '$.new') IN ('verified', 'in_progress', 'done'))"
    " OR e.kind = 'imported'"
)
_CLOSED = (
    "(e.kind IN ('local_status_moved', 'national_status_moved')"
    " AND json_extract(e.detail, '$.new') IN ('done', 'rejected'))"
    " OR (e.kind = 'followup_sent' AND json_extract(e.detail, '$.item') IN ('complete', 'reject'))"
)

#: the columns of :class:`ReportMapping`, in its order
REPORT_MAPPINGS_SQL = f"""
SELECT m.source, m.local_id, m.national_id, m.origin, m.local_status, m.national_status,
    m.status, m.duplicate_of, m.created_at, m.first_synced_at, m.last_synced_at, m.agency,
    m.category, m.confidential, m.anonymous, m.local_canonical, m.national_canonical,
    m.conflict, m.link_state, m.local_updated_at, m.national_updated_at,
    (SELECT q.reason FROM quarantine q
        WHERE q.source = m.source AND q.local_id = m.local_id AND q.state = 'open') AS quarantine,
    EXISTS (SELECT 1 FROM intents i WHERE i.source = m.source AND i.local_id = m.local_id
        AND i.kind = 'create' AND i.state = 'pending') AS in_doubt,
    ({_FOLLOWUPS.format(expr="COUNT(*)")} AND +f.state = 'pending') AS pending,
    ({_FOLLOWUPS.format(expr="COUNT(*)")} AND +f.state = 'failed') AS failed,
    EXISTS ({_FOLLOWUPS.format(expr="1")} AND +f.direction = 'to_national'
        AND +f.kind = 'reject' AND +f.state = 'done') AS handed_back,
    ({_FOLLOWUPS.format(expr="MIN(f.updated_at)")} AND +f.direction = 'to_national'
        AND +f.state = 'done') AS first_response_at,
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
        AND i.kind = 'create' AND i.state = 'pending') AS in_doubt
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
    json_extract(i.payload, '$.complaint.status_code') AS status_code,
    json_extract(i.payload, '$.complaint.created_at') AS filed_at,
    json_extract(i.payload, '$.complaint.confidential') AS confidential
FROM intents i
WHERE i.kind = 'import' AND i.state = 'pending'
    AND NOT EXISTS (SELECT 1 FROM mappings m WHERE m.national_id = i.national_id)
    AND {where}
ORDER BY i.id
"""
_NATIONAL_FILED = "COALESCE(json_extract(i.payload, '$.complaint.created_at'), i.created_at)"

# --- the SLA report (bridge.reports.sla) -------------------------------------------------

_EV = "SELECT {expr} FROM events e WHERE e.source = m.source AND e.local_id = m.local_id AND "
_FU = "SELECT {expr} FROM followups f WHERE f.source = m.source AND f.local_id = m.local_id AND "
_MOVED = "e.kind IN ('national_status_moved', 'local_status_moved')"
#: how the ledger names a follow-up an agency wrote on LAPOR
AGENCY_ON_LAPOR = NATIONAL_AUTHORS["instansi"]

#: the columns of :class:`SlaMapping`, in its order; ``?`` (first) is :data:`AGENCY_ON_LAPOR`
SLA_MAPPINGS_SQL = f"""
SELECT m.source, m.local_id, m.national_id, m.origin, m.account, m.agency, m.status,
    m.created_at, m.first_synced_at, m.national_canonical, m.local_canonical,
    m.local_updated_at, m.national_updated_at, m.last_synced_at,
    ({_EV.format(expr="MIN(e.at)")} e.kind = 'national_status_moved'
        AND json_extract(e.detail, '$.new') <> 'submitted') AS verified_at,
    ({_EV.format(expr="MIN(e.at)")} e.kind = 'imported') AS imported_at,
    ({_EV.format(expr="MIN(json_extract(e.detail, '$.said_at'))")}
        e.kind = 'response_seen') AS said_at,
    ({_FU.format(expr="MIN(f.created_at)")} (+f.direction = 'to_national'
        OR (+f.direction = 'to_local' AND f.author = ?))) AS answered_at,
    ({_EV.format(expr="MIN(e.at)")} (({_MOVED}
            AND json_extract(e.detail, '$.new') IN ('done', 'rejected'))
        OR (e.kind = 'followup_sent'
            AND json_extract(e.detail, '$.item') IN ('complete', 'reject')))) AS closed_event_at,
    ({_FU.format(expr="MIN(f.created_at)")} +f.direction = 'to_national'
        AND +f.kind IN ('complete', 'reject')) AS closed_in_app_at
FROM mappings m
WHERE m.duplicate_of IS NULL AND {{where}}
ORDER BY m.id
"""

# creates pending or in doubt: the summary keeps the filing time and agency (no personal data)
_PENDING_FILED = "COALESCE(json_extract(i.payload, '$.summary.created_at'), i.created_at)"
SLA_CREATES_PENDING_SQL = f"""
SELECT i.source, i.local_id, {_PENDING_FILED} AS filed, i.account,
    json_extract(i.payload, '$.summary.agency') AS agency
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
    """The SQL condition for a read's filters; appends its parameters. Times are compared as
    instants (``julianday``: an offset counts, a text it cannot read matches no bound)."""
    parts = ["1"]
    if sources:
        parts.append(f"{source_col} IN ({', '.join('?' for _ in sources)})")
        params.extend(sources)
    if since is not None:
        parts.append(f"julianday({time_expr}) >= julianday(?)")
        params.append(since.isoformat())
    if until is not None:
        parts.append(f"julianday({time_expr}) < julianday(?)")
        params.append(until.isoformat())
    return " AND ".join(parts)


def _national_only(
    source: str, national_id: int | None, seen_at: str, code: Any, filed: Any, confidential: Any
) -> ReportNationalOnly:
    """A national-only row from JSON's scalars as SQLite gives them."""
    return ReportNationalOnly(
        source,
        national_id,
        seen_at,
        int(code) if code is not None else None,
        filed,
        int(bool(confidential)),
    )


@dataclass(frozen=True)
class ReportSql:
    """One dialect's SQL for the reports' reads: each a template with ``{where}`` for the
    filters, and the expressions of the filing times some of them filter on."""

    mappings: str
    quarantined: str
    in_doubt: str
    national_only: str
    national_filed: str
    sla_mappings: str
    sla_creates_pending: str
    pending_filed: str
    sla_quarantined: str


SQLITE = ReportSql(
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


class ReportQuestions(ABC):
    """The reports' questions, asked the same way of either store: its dialect's SQL
    (``_SQL``), streamed by its ``_stream`` with the filters applied in SQL."""

    _SQL: ClassVar[ReportSql]

    @abstractmethod
    def _stream(
        self,
        template: str,
        make: Callable[..., _Row],
        filters: tuple[Sequence[str], datetime | None, datetime | None],
        columns: tuple[str, str],
        params: tuple[Any, ...] = (),
    ) -> Iterator[_Row]:
        """Rows of ``template`` (the filters applied in SQL) made by ``make``."""

    def report_mappings(
        self,
        sources: Sequence[str] = (),
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Iterator[ReportMapping]:
        """Every mapping with the facts of its record, by ``created_at``, in mapping order."""
        filters = (sources, since, until)
        columns = ("m.source", "m.created_at")
        return self._stream(self._SQL.mappings, ReportMapping, filters, columns)

    def report_quarantined(
        self,
        sources: Sequence[str] = (),
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Iterator[ReportQuarantined]:
        """Open quarantine entries of records never mapped, by ``first_seen``."""
        filters = (sources, since, until)
        columns = ("q.source", "q.first_seen")
        return self._stream(self._SQL.quarantined, ReportQuarantined, filters, columns)

    def report_in_doubt(
        self,
        sources: Sequence[str] = (),
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Iterator[ReportInDoubt]:
        """Creates in doubt of records neither mapped nor quarantined."""
        filters = (sources, since, until)
        columns = ("i.source", "i.created_at")
        return self._stream(self._SQL.in_doubt, ReportInDoubt, filters, columns)

    def report_national_only(
        self,
        sources: Sequence[str] = (),
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Iterator[ReportNationalOnly]:
        """Imports pending of complaints mapped nowhere, by the complaint's filing time."""
        filters = (sources, since, until)
        columns = ("i.source", self._SQL.national_filed)
        return self._stream(self._SQL.national_only, _national_only, filters, columns)

    def sla_mappings(
        self,
        sources: Sequence[str] = (),
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Iterator[SlaMapping]:
        """Owning mappings with their clocks' moments, by ``created_at``."""
        filters = (sources, since, until)
        columns = ("m.source", "m.created_at")
        return self._stream(
            self._SQL.sla_mappings, SlaMapping, filters, columns, (AGENCY_ON_LAPOR,)
        )

    def sla_creates_pending(
        self,
        sources: Sequence[str] = (),
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Iterator[SlaRecord]:
        """Records with a create pending or in doubt and no mapping, by their filing time."""
        filters = (sources, since, until)
        columns = ("i.source", self._SQL.pending_filed)
        return self._stream(self._SQL.sla_creates_pending, SlaRecord, filters, columns)

    def sla_quarantined(
        self,
        sources: Sequence[str] = (),
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Iterator[SlaRecord]:
        """Local records quarantined, never mapped nor with a create pending."""
        filters = (sources, since, until)
        columns = ("q.source", "q.first_seen")
        return self._stream(self._SQL.sla_quarantined, SlaRecord, filters, columns)


class ReportReads(ReportQuestions):
    """The reports' reads, for :class:`bridge.sync.store.Store` (which inherits them)."""

    _SQL = SQLITE
    db: Database

    @contextmanager
    def report_snapshot(self) -> Iterator[None]:
        """A read transaction (``BEGIN``, deferred: its snapshot is taken at the first read,
        and it takes no lock a writer waits for), rolled back at the end; nothing when the
        connection is in a transaction already."""
        conn = self.db.conn
        if conn.in_transaction:
            yield
            return
        conn.execute("BEGIN")
        try:
            yield
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")

    def _stream(
        self,
        template: str,
        make: Callable[..., _Row],
        filters: tuple[Sequence[str], datetime | None, datetime | None],
        columns: tuple[str, str],
        params: tuple[Any, ...] = (),
    ) -> Iterator[_Row]:
        """``template``'s rows, filtered on ``columns`` (source, time), one at a time, each
        made by ``make`` from the row's values by position."""
        values = list(params)
        sql = template.format(where=where(*filters, *columns, values))
        with self.report_snapshot():
            cursor = self.db.conn.execute(sql, values)
            try:
                for row in cursor:
                    yield make(*row)
            finally:
                cursor.close()

    def agencies_seen(self, account: str, sources: Sequence[str]) -> set[str | None]:
        """The agencies on ``account``'s mappings (those without an account: ``sources``')."""
        marks = ", ".join("?" for _ in sources) or "NULL"
        cursor = self.db.conn.execute(
            "SELECT DISTINCT agency FROM mappings WHERE account = ? OR (account IS NULL"
            f" AND source IN ({marks}))",
            (account, *sources),
        )
        return {agency for (agency,) in cursor}
