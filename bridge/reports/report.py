"""The reconciliation report (bridge.md, "The reconciliation report"): rows, CSV, JSON.

One row per local record the bridge knows — mapped, quarantined, or with a
create in doubt — plus one per national complaint that has no local record
yet (an import still pending, or one the home app refused). Rows are read
through the store's interface (:class:`bridge.sync.storeport.StateStore`: SQLite or
PostgreSQL), streamed and written as they come: a million rows never sit in
memory at once. All sections are read in one snapshot, so a record that
moves from quarantine to a mapping while the report runs appears once.

Privacy: the report reads no column that can hold personal data
(``quarantine.raw``, ``intents.payload`` apart from three scalar keys of an
import's complaint: its LAPOR status code, filing time and confidentiality;
``followups.content``). Quarantine reasons are scrubbed of phone numbers and
NIK like log lines. The store keeps no complaint text, so a confidential
(*rahasia*) complaint shows only metadata, as every row does.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Generator, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import NamedTuple, TextIO

from bridge.core.model import Status
from bridge.core.text import spreadsheet_safe
from bridge.core.timefmt import display, parse_rfc3339
from bridge.runtime.logs import redact_text
from bridge.sync.store import PRIVATE_MODE
from bridge.sync.storeport import (
    ReportInDoubt,
    ReportMapping,
    ReportNationalOnly,
    ReportQuarantined,
    StateStore,
)

#: the report's columns, in order: bridge.md's first, then what auditors asked for
COLUMNS: tuple[str, ...] = (
    "source",
    "local_id",
    "tracking_id",
    "origin",
    "local_status",
    "national_status",
    "status",
    "in_sync",
    "duplicate_of",
    "created_at",
    "first_synced_at",
    "last_synced_at",
    "problem",
    "agency",
    "category",
    "confidential",
    "anonymous",
    "verified_at",
    "first_response_at",
    "closed_at",
)

FORMATS = ("csv", "json", "html")


class ReportRow(NamedTuple):
    """One line of the report. Text columns are ``""`` when unknown (bridge.md: "empty").

    ``in_sync`` is true exactly when ``problem`` is empty (see :func:`problems`): both
    sides agree and nothing waits, neither on the bridge nor on LAPOR's verification.

    ``national_status`` is LAPOR's raw code (``None`` when unknown); times are
    RFC 3339 in WIB (``+07:00``). ``verified_at`` is the first time the bridge saw LAPOR at
    ``verified`` or beyond (or imported the complaint from the agency's inbox,
    which only holds verified complaints); ``first_response_at`` when the
    city's first answer reached LAPOR; ``closed_at`` when the row's status
    became final (``done`` or ``rejected``), empty while it is open.
    """

    source: str
    local_id: str
    tracking_id: str
    origin: str
    local_status: str
    national_status: int | None
    status: str
    in_sync: bool
    duplicate_of: str
    created_at: str
    first_synced_at: str
    last_synced_at: str
    problem: str
    agency: str
    category: str
    confidential: bool
    anonymous: bool
    verified_at: str
    first_response_at: str
    closed_at: str


class Filters(NamedTuple):
    """Which rows: these sources (all when empty), filed in ``[since, until)``.

    A row is placed in time by when the citizen filed it; a row whose filing
    time the bridge does not know (a quarantined record, a create in doubt)
    by when the bridge first saw it.
    """

    sources: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None


# --- the problem column ---------------------------------------------------------------


class Facts(NamedTuple):
    """What the store knows of one row, as far as being in sync goes."""

    conflict: bool = False
    quarantine_reason: str | None = None
    in_doubt: bool = False
    duplicate_of: str | None = None
    local_canonical: str | None = None
    national_canonical: str | None = None
    national_origin: bool = False
    pending_followups: int = 0
    failed_followups: int = 0
    handed_back: bool = False
    mapped: bool = True
    linked: bool = True
    #: an operator's ``conflict resolve --keep``: ``local``, ``national`` or None
    conflict_kept: str | None = None


_STATUSES = {status.value: status for status in Status}


def _status(value: str | None) -> Status | None:
    return _STATUSES.get(value) if value else None


def is_conflict(local: str | None, national: str | None) -> bool:
    """``done`` on one side and ``rejected`` on the other: bridge.md's conflict."""
    return {_status(local), _status(national)} == {Status.DONE, Status.REJECTED}


def is_drift(facts: Facts) -> bool:
    """The two sides' canonical statuses differ in a way the rules do not explain.

    Explained, so no drift:

    * a side whose status is unknown (nothing to compare);
    * ``done`` against ``rejected``: that is a *conflict*, reported as such;
    * the local app ahead at ``verified`` or ``in_progress``: LAPOR reaches
      those by its own admin's verification and once the agency's answer
      arrives, which the bridge forwards but cannot force;
    * a final local status whose completion or hand-back is still pending
      in the follow-up ledger (reported as *follow-ups pending*);
    * a complaint from LAPOR's inbox that the city rejected and the bridge
      handed back (LAPOR shows it waiting for another agency).

    Everything else is drift: LAPOR ahead of the local app (the bridge should
    have moved it), or a local ``done``/``rejected`` that LAPOR does not show.
    """
    local = _status(facts.local_canonical)
    national = _status(facts.national_canonical)
    if local is None or national is None or local == national:
        return False
    if is_conflict(local, national):
        return False
    if local.rank > national.rank and not local.terminal:
        return False
    if local.terminal and facts.pending_followups > 0:
        return False
    return not (local == Status.REJECTED and facts.national_origin and facts.handed_back)


def problems(facts: Facts) -> list[str]:
    """Why a row is not in sync, most serious first; empty when it is.

    * ``conflict`` — the mapping is flagged, or one side is ``done`` and the
      other ``rejected`` (bridge.md: nothing is overwritten);
    * ``kept local by operator (national X)`` — instead of ``conflict`` once an operator
      ran ``conflict resolve --keep local`` (LAPOR's status cannot be moved by the bridge);
    * ``quarantined: <reason>`` — an open quarantine entry for the record;
    * ``in doubt`` — a create was sent and its answer never came back;
    * ``no local record`` — a national complaint not (yet) in its home app;
    * ``duplicate of SOURCE:ID`` — merged into another record's complaint;
    * ``status drift: local X, national Y`` — see :func:`is_drift`;
    * ``follow-ups pending: N`` / ``follow-ups failed: N`` — answers,
      completions or hand-backs not yet carried across, or refused by the
      other side: the two sides do not show the same follow-ups;
    * ``not linked`` — the tracking id is not yet written back to the app;
    * ``waiting on LAPOR: not verified`` — LAPOR still shows the complaint
      *Belum Terverifikasi* or *Ditunda* (10, 20): nothing waits on the bridge, but the
      two sides do not yet agree (LAPOR's admin verifies within 3 working days), so the
      row is not in sync. Not repeated when a status drift already names LAPOR's status.
    """
    found: list[str] = []
    if facts.conflict_kept == "local" and not facts.conflict:
        # an operator kept the app's status: LAPOR's is its admin's and final
        found.append(f"kept local by operator (national {facts.national_canonical})")
    elif facts.conflict or is_conflict(facts.local_canonical, facts.national_canonical):
        found.append("conflict")
    if facts.quarantine_reason is not None:
        found.append(f"quarantined: {facts.quarantine_reason}")
    if facts.in_doubt:
        found.append("in doubt")
    if not facts.mapped and facts.national_origin and facts.quarantine_reason is None:
        found.append("no local record")
    if facts.duplicate_of:
        found.append(f"duplicate of {facts.duplicate_of}")
    if is_drift(facts):
        found.append(
            f"status drift: local {facts.local_canonical}, national {facts.national_canonical}"
        )
    if facts.pending_followups:
        found.append(f"follow-ups pending: {facts.pending_followups}")
    if facts.failed_followups:
        found.append(f"follow-ups failed: {facts.failed_followups}")
    if facts.mapped and not facts.linked:
        found.append("not linked")
    if is_waiting_on_lapor(facts) and not is_drift(facts):
        found.append(WAITING_ON_LAPOR)
    return found


#: the ``problem`` reason of a complaint LAPOR has not verified yet (see :func:`problems`)
WAITING_ON_LAPOR = "waiting on LAPOR: not verified"


def is_waiting_on_lapor(facts: Facts) -> bool:
    """The complaint is on LAPOR and LAPOR still shows it unverified (canonical
    ``submitted``: *Belum Terverifikasi* or *Ditunda*)."""
    return facts.mapped and _status(facts.national_canonical) == Status.SUBMITTED


def problem_text(facts: Facts) -> str:
    """The ``problem`` column: the reasons joined by ``"; "``, empty when in sync."""
    return "; ".join(problems(facts))


def clean_reason(reason: str) -> str:
    """A quarantine reason fit for a report: one line, no phone number or NIK."""
    return " ".join(redact_text(reason).split())


# --- times ----------------------------------------------------------------------------


def rfc(text: str | None) -> str:
    """A stored time as RFC 3339 in WIB (``+07:00``) to the second, as people read it
    (bridge.md: every time printed is WIB, with its offset); empty when absent or unreadable.

    The store writes ``datetime.isoformat()`` in UTC; those are shifted without a full
    parse (``fromisoformat`` of the naive part), which keeps a million-row export fast.
    """
    if not text:
        return ""
    if len(text) >= 25 and text.endswith("+00:00") and text[10] == "T":
        try:
            naive = datetime.fromisoformat(text[:19])
        except ValueError:
            return ""
        return (naive + _WIB_OFFSET).isoformat() + "+07:00"
    try:
        value = parse_rfc3339(text)
    except ValueError:
        return ""
    return display(value)


_WIB_OFFSET = timedelta(hours=7)


# --- reading the store ----------------------------------------------------------------
# The SQL is the store's (StateStore's "reports' reads": bridge/sync/report_reads.py for
# SQLite, pg_report_reads.py for PostgreSQL); the report turns its rows into lines.


def closed_at(
    status: str | None,
    event_at: str | None,
    local: str | None,
    local_updated_at: str | None,
    national: str | None,
    national_updated_at: str | None,
    last_synced_at: str | None,
) -> str:
    """When a final row became final: the event, else the side that shows it final."""
    if status not in (Status.DONE.value, Status.REJECTED.value):
        return ""
    if event_at:
        return rfc(event_at)
    local_status = _status(local)
    if local_status is not None and local_status.terminal and local_updated_at:
        return rfc(local_updated_at)
    national_status = _status(national)
    if national_status is not None and national_status.terminal and national_updated_at:
        return rfc(national_updated_at)
    return rfc(last_synced_at)


def mapped_row(r: ReportMapping) -> ReportRow:
    """A row for a mapping (a local record with, or on its way to, a national complaint).

    ``r`` is the store's row (:meth:`StateStore.report_mappings`).
    """
    quarantine = r.quarantine_reason
    facts = Facts(
        conflict=bool(r.conflict),
        quarantine_reason=clean_reason(quarantine) if quarantine is not None else None,
        in_doubt=bool(r.in_doubt),
        duplicate_of=r.duplicate_of,
        local_canonical=r.local_canonical,
        national_canonical=r.national_canonical,
        national_origin=r.origin == "national",
        pending_followups=r.pending_followups,
        failed_followups=r.failed_followups,
        handed_back=bool(r.handed_back),
        mapped=r.national_id is not None,
        linked=r.link_state == "done",
        conflict_kept=r.conflict_kept,
    )
    problem = problem_text(facts)
    return ReportRow(
        r.source,
        r.local_id,
        f"#{r.national_id}" if r.national_id is not None else "",
        r.origin or "local",
        r.local_status or "",
        r.national_status,
        r.status or "",
        not problem,
        r.duplicate_of or "",
        rfc(r.created_at),
        rfc(r.first_synced_at),
        rfc(r.last_synced_at),
        problem,
        r.agency or "",
        r.category or "",
        bool(r.confidential),
        bool(r.anonymous),
        rfc(r.verified_at),
        rfc(r.first_response_at),
        closed_at(
            r.status,
            r.closed_event_at,
            r.local_canonical,
            r.local_updated_at,
            r.national_canonical,
            r.national_updated_at,
            r.last_synced_at,
        ),
    )


def _bare_row(
    source: str,
    local_id: str,
    facts: Facts,
    *,
    tracking_id: str = "",
    national_status: int | None = None,
    created_at: str = "",
    confidential: bool = False,
) -> ReportRow:
    """A row for a record the bridge holds no mapping of: only what it knows."""
    problem = problem_text(facts)
    return ReportRow(
        source=source,
        local_id=local_id,
        tracking_id=tracking_id,
        origin="national" if facts.national_origin else "local",
        local_status="",
        national_status=national_status,
        status="",
        in_sync=not problem,
        duplicate_of="",
        created_at=created_at,
        first_synced_at="",
        last_synced_at="",
        problem=problem,
        agency="",
        category="",
        confidential=confidential,
        anonymous=False,
        verified_at="",
        first_response_at="",
        closed_at="",
    )


def quarantined_row(r: ReportQuarantined) -> ReportRow:
    """A quarantined record that was never mapped.

    One whose id is ``#N`` is a national complaint its home app refused:
    a national-only row.
    """
    national = r.local_id.startswith("#")
    facts = Facts(
        quarantine_reason=clean_reason(r.reason),
        in_doubt=bool(r.in_doubt),
        national_origin=national,
        mapped=False,
    )
    if national:  # bridge.md: source and local_id empty for national-only rows
        return _bare_row("", "", facts, tracking_id=r.local_id)
    return _bare_row(r.source, r.local_id, facts)


def in_doubt_row(r: ReportInDoubt) -> ReportRow:
    """A local record whose create was sent and never answered."""
    return _bare_row(r.source, r.local_id, Facts(in_doubt=True, mapped=False))


def national_only_row(r: ReportNationalOnly) -> ReportRow:
    """A national complaint from the agency's inbox not yet created in its home app.

    bridge.md: ``source`` and ``local_id`` are empty for national-only rows.
    """
    return _bare_row(
        "",
        "",
        Facts(national_origin=True, mapped=False),
        tracking_id=f"#{r.national_id}",
        national_status=r.status_code,
        created_at=rfc(r.filed_at),
        confidential=bool(r.confidential),
    )


def rows(store: StateStore, filters: Filters | None = None) -> Generator[ReportRow, None, None]:
    """Every row of the report, streamed: mapped records, then the unmapped, then national-only.

    The four reads share one snapshot (:meth:`StateStore.report_snapshot`), so a record
    that moves from quarantine to a mapping while the report runs appears once.
    """
    chosen = filters or Filters()
    with store.report_snapshot():
        for mapping in store.report_mappings(*chosen):
            yield mapped_row(mapping)
        for entry in store.report_quarantined(*chosen):
            yield quarantined_row(entry)
        for intent in store.report_in_doubt(*chosen):
            yield in_doubt_row(intent)
        for national in store.report_national_only(*chosen):
            yield national_only_row(national)


# --- writing --------------------------------------------------------------------------


def csv_values(row: ReportRow) -> list[str]:
    """A row as CSV cells: booleans ``true``/``false``, unknown values empty, text that a
    spreadsheet would run as a formula quoted (:func:`spreadsheet_safe`)."""
    return [
        ("true" if value else "false")
        if isinstance(value, bool)
        else ("" if value is None else spreadsheet_safe(str(value)))
        for value in row
    ]


@contextmanager
def private_file(path: Path) -> Iterator[TextIO]:
    """A file for a report, readable by its owner only (``0600``, whatever the umask).

    An existing file is emptied and narrowed to ``0600`` before anything is written to
    it: a report that replaces a wider one is never readable by others, even for a moment.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_MODE)
    try:
        os.fchmod(fd, PRIVATE_MODE)
    except BaseException:
        os.close(fd)
        raise
    with open(fd, "w", encoding="utf-8", newline="") as stream:
        yield stream


def write_csv(report_rows: Iterable[ReportRow], stream: TextIO) -> int:
    """The header line, then one line per row (RFC 4180); returns the number of rows."""
    writer = csv.writer(stream)
    writer.writerow(COLUMNS)
    count = 0
    for row in report_rows:
        writer.writerow(csv_values(row))
        count += 1
    return count


def write_json(report_rows: Iterable[ReportRow], stream: TextIO) -> int:
    """A JSON array of objects keyed by :data:`COLUMNS`, one per line, written as it goes."""
    stream.write("[")
    count = 0
    for row in report_rows:
        stream.write(",\n" if count else "\n")
        stream.write(json.dumps(row._asdict(), ensure_ascii=False))
        count += 1
    stream.write("\n]\n" if count else "]\n")
    return count
