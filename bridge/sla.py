"""``report sla``: how fast complaints were verified, answered and done, in working days.

**Working days.** A working day is a calendar day in WIB (UTC+7), Monday to
Friday, that is not an Indonesian public holiday (the ``holidays`` package's
list for ``ID``; collective leave, *cuti bersama*, is not in it and counts as
working). The working time between two instants is the sum, over the WIB
days they span, of the part of each working day that lies between them: a
whole working day counts 1, a weekend or holiday 0, so Friday 16:00 to
Monday 10:00 WIB is 8/24 + 10/24 = 0.75. An end before its start counts 0.

**What is measured**, per complaint the bridge holds on LAPOR (a record merged
into another's complaint is counted once, under the record that owns it):

* *received* — filed (``created_at``) in the chosen year, in WIB;
* *time to first response* — from filing to the city's first answer reaching
  LAPOR (``first_response_at``);
* *time to done* — from filing to ``done`` (``closed_at`` of a ``done`` row).

**The promises** (breaches are listed with their tickets):

* LAPOR verifies a complaint within 3 working days of receiving it. Received:
  when it was filed for a complaint from LAPOR's inbox, when the bridge
  created it on LAPOR (``first_synced_at``) for one from a city app. Kept by
  the first evidence that LAPOR acted: ``verified_at``, the first answer it
  accepted (LAPOR takes an agency's follow-up only once the complaint is
  disposed to it), or the complaint closing. Not measured when LAPOR shows
  the complaint verified but the bridge never saw when (the city's app was
  ahead, or an inbox complaint not yet in its home app).
* The agency follows up within 5 working days of verification (disposition):
  from ``verified_at`` to the first response, or to the complaint closing
  without one. Not measured when the verification time is unknown.

A promise not yet kept is measured up to ``now`` and listed as open once it
is over the limit.
"""

from __future__ import annotations

import csv
import json
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, NamedTuple, TextIO

import holidays

from bridge.report import Filters, ReportRow, rows, spreadsheet_safe
from bridge.store import Store
from bridge.text import clean
from bridge.timefmt import WIB, display, parse_rfc3339, utcnow

VERIFY_PROMISE = 3
FOLLOWUP_PROMISE = 5
#: LAPOR codes of a complaint past verification: disposed, followed up, answered, done
VERIFIED_CODES = frozenset({30, 40, 50, 60})
NO_AGENCY = "(tanpa OPD / no agency)"
ALL = "(semua / all)"
SLA_FORMATS = ("text", "json", "csv")

#: a Monday: weekdays are counted from it
_EPOCH = date(1970, 1, 5)
_DAY = timedelta(days=1)


def indonesian_holidays(year: int) -> list[date]:
    """Indonesia's public holidays in ``year``."""
    return list(holidays.country_holidays("ID", years=year).keys())


class WorkCalendar:
    """Working days in WIB (see the module's definition), holidays loaded per year on demand."""

    def __init__(self, holidays_of: Callable[[int], Iterable[date]] = indonesian_holidays) -> None:
        self._holidays_of = holidays_of
        self._years: set[int] = set()
        self._holidays: set[date] = set()
        self._weekday_holidays: list[date] = []

    def _load(self, first: int, last: int) -> None:
        missing = [y for y in range(first, last + 1) if y not in self._years]
        if not missing:
            return
        for year in missing:
            self._holidays.update(self._holidays_of(year))
            self._years.add(year)
        self._weekday_holidays = sorted(d for d in self._holidays if d.weekday() < 5)

    def is_working_day(self, day: date) -> bool:
        self._load(day.year, day.year)
        return day.weekday() < 5 and day not in self._holidays

    def _position(self, moment: datetime) -> float:
        """Working days from an arbitrary origin to ``moment``: only differences mean anything."""
        local = moment.astimezone(WIB)
        day = local.date()
        weeks, rest = divmod((day - _EPOCH).days, 7)
        position = float(5 * weeks + min(rest, 5) - bisect_left(self._weekday_holidays, day))
        if self.is_working_day(day):
            position += (local - datetime.combine(day, time(0), WIB)) / _DAY
        return position

    def working_days(self, start: datetime, end: datetime) -> float:
        """Working time from ``start`` to ``end`` in days; 0 when ``end`` is not later."""
        if end <= start:
            return 0.0
        self._load(start.astimezone(WIB).year, end.astimezone(WIB).year)
        return self._position(end) - self._position(start)


def percentile(values: array[float] | list[float], fraction: float) -> float | None:
    """Linear interpolation between the closest ranks (spreadsheets' PERCENTILE.INC)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = fraction * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


# --- the data ---------------------------------------------------------------------------


class Timeline(NamedTuple):
    """The moments of one complaint on LAPOR that the promises are measured by."""

    tracking_id: str
    source: str
    local_id: str
    agency: str
    status: str
    national_code: int | None
    filed: datetime | None
    on_lapor: datetime | None
    verified: datetime | None
    first_response: datetime | None
    closed: datetime | None


def _time(text: str) -> datetime | None:
    return parse_rfc3339(text) if text else None


def timeline(row: ReportRow) -> Timeline | None:
    """The row's timeline; ``None`` for a row with no complaint of its own on LAPOR."""
    if not row.tracking_id or row.duplicate_of:
        return None
    filed = _time(row.created_at)
    on_lapor = filed if row.origin == "national" else _time(row.first_synced_at) or filed
    return Timeline(
        tracking_id=row.tracking_id,
        source=row.source,
        local_id=row.local_id,
        agency=row.agency,
        status=row.status,
        national_code=row.national_status,
        filed=filed,
        on_lapor=on_lapor,
        verified=_time(row.verified_at),
        first_response=_time(row.first_response_at),
        closed=_time(row.closed_at),
    )


@dataclass(frozen=True)
class Breach:
    """A promise not kept: ``ended_at`` is ``None`` while it is still not kept."""

    promise: str  # "verification" | "followup"
    limit_days: int
    tracking_id: str
    source: str
    local_id: str
    agency: str
    started_at: datetime
    ended_at: datetime | None
    working_days: float


def _earliest(*moments: datetime | None) -> datetime | None:
    known = [m for m in moments if m is not None]
    return min(known) if known else None


def _breach(
    promise: str, limit: int, t: Timeline, started: datetime, ended: datetime | None, spent: float
) -> Breach:
    return Breach(
        promise, limit, t.tracking_id, t.source, t.local_id, t.agency, started, ended, spent
    )


def verification_breach(t: Timeline, calendar: WorkCalendar, now: datetime) -> Breach | None:
    """LAPOR's 3-day promise, broken: received → first evidence it acted (or now)."""
    if t.on_lapor is None:
        return None
    ended = _earliest(t.verified, t.first_response, t.closed)
    if ended is None and t.national_code in VERIFIED_CODES:
        return None  # LAPOR shows it verified, but not since when: not measurable
    spent = calendar.working_days(t.on_lapor, ended or now)
    if spent <= VERIFY_PROMISE:
        return None
    return _breach("verification", VERIFY_PROMISE, t, t.on_lapor, ended, spent)


def followup_breach(t: Timeline, calendar: WorkCalendar, now: datetime) -> Breach | None:
    """The agency's 5-day promise, broken: verified → first response or closing (or now)."""
    if t.verified is None:
        return None
    ended = _earliest(t.first_response, t.closed)
    spent = calendar.working_days(t.verified, ended or now)
    if spent <= FOLLOWUP_PROMISE:
        return None
    return _breach("followup", FOLLOWUP_PROMISE, t, t.verified, ended, spent)


@dataclass(frozen=True)
class GroupStats:
    """One agency's, one source's, or everyone's figures; times in working days."""

    name: str
    received: int
    responded: int
    first_response_median: float | None
    first_response_p90: float | None
    done: int
    done_median: float | None
    done_p90: float | None
    verification_breaches: int
    followup_breaches: int


@dataclass
class _Group:
    received: int = 0
    first_response: array[float] = field(default_factory=lambda: array("d"))
    done: array[float] = field(default_factory=lambda: array("d"))
    verification_breaches: int = 0
    followup_breaches: int = 0

    def stats(self, name: str) -> GroupStats:
        return GroupStats(
            name=name,
            received=self.received,
            responded=len(self.first_response),
            first_response_median=percentile(self.first_response, 0.5),
            first_response_p90=percentile(self.first_response, 0.9),
            done=len(self.done),
            done_median=percentile(self.done, 0.5),
            done_p90=percentile(self.done, 0.9),
            verification_breaches=self.verification_breaches,
            followup_breaches=self.followup_breaches,
        )


@dataclass(frozen=True)
class SlaReport:
    year: int | None
    generated_at: datetime
    by_agency: list[GroupStats]
    by_source: list[GroupStats]
    total: GroupStats
    breaches: list[Breach]


class SlaCollector:
    """Takes report rows one by one (a stream) and sums them up into an :class:`SlaReport`.

    Keeps one float per measured time and one record per breach, not the rows.
    """

    def __init__(self, calendar: WorkCalendar, now: datetime, year: int | None = None) -> None:
        self.calendar = calendar
        self.now = now
        self.year = year
        self._agencies: dict[str, _Group] = {}
        self._sources: dict[str, _Group] = {}
        self._total = _Group()
        self._breaches: list[Breach] = []

    def add(self, row: ReportRow) -> None:
        t = timeline(row)
        if t is None:
            return
        groups = (
            self._agencies.setdefault(t.agency or NO_AGENCY, _Group()),
            self._sources.setdefault(t.source, _Group()),
            self._total,
        )
        to_response = self._span(t.filed, t.first_response)
        to_done = self._span(t.filed, t.closed) if t.status == "done" else None
        breaches = [
            b
            for b in (
                verification_breach(t, self.calendar, self.now),
                followup_breach(t, self.calendar, self.now),
            )
            if b is not None
        ]
        self._breaches.extend(breaches)
        for group in groups:
            group.received += 1
            if to_response is not None:
                group.first_response.append(to_response)
            if to_done is not None:
                group.done.append(to_done)
            for breach in breaches:
                if breach.promise == "verification":
                    group.verification_breaches += 1
                else:
                    group.followup_breaches += 1

    def _span(self, start: datetime | None, end: datetime | None) -> float | None:
        if start is None or end is None:
            return None
        return self.calendar.working_days(start, end)

    def result(self) -> SlaReport:
        return SlaReport(
            year=self.year,
            generated_at=self.now,
            by_agency=[g.stats(n) for n, g in sorted(self._agencies.items())],
            by_source=[g.stats(n) for n, g in sorted(self._sources.items())],
            total=self._total.stats(ALL),
            breaches=sorted(
                self._breaches, key=lambda b: (b.promise != "verification", -b.working_days)
            ),
        )


def compute(
    report_rows: Iterable[ReportRow],
    calendar: WorkCalendar,
    now: datetime,
    year: int | None = None,
) -> SlaReport:
    collector = SlaCollector(calendar, now, year)
    for row in report_rows:
        collector.add(row)
    return collector.result()


def year_filters(year: int | None, sources: tuple[str, ...] = ()) -> Filters:
    """Complaints filed in ``year`` (WIB), or in any year."""
    if year is None:
        return Filters(sources)
    since = datetime.combine(date(year, 1, 1), time(0), WIB)
    until = datetime.combine(date(year + 1, 1, 1), time(0), WIB)
    return Filters(sources, since, until)


# --- rendering --------------------------------------------------------------------------

STAT_COLUMNS = (
    "name",
    "received",
    "responded",
    "first_response_median_days",
    "first_response_p90_days",
    "done",
    "done_median_days",
    "done_p90_days",
    "verification_breaches",
    "followup_breaches",
)
BREACH_COLUMNS = (
    "promise",
    "limit_days",
    "tracking_id",
    "source",
    "local_id",
    "agency",
    "started_at",
    "ended_at",
    "open",
    "working_days",
)
PROMISE_LABELS = {
    "verification": "verifikasi LAPOR ≤3 hari kerja / LAPOR verification",
    "followup": "tindak lanjut OPD ≤5 hari kerja / agency follow-up",
}


def _days(value: float | None) -> float | None:
    return round(value, 2) if value is not None else None


def stat_record(stats: GroupStats) -> dict[str, Any]:
    return {
        "name": stats.name,
        "received": stats.received,
        "responded": stats.responded,
        "first_response_median_days": _days(stats.first_response_median),
        "first_response_p90_days": _days(stats.first_response_p90),
        "done": stats.done,
        "done_median_days": _days(stats.done_median),
        "done_p90_days": _days(stats.done_p90),
        "verification_breaches": stats.verification_breaches,
        "followup_breaches": stats.followup_breaches,
    }


def breach_record(breach: Breach) -> dict[str, Any]:
    return {
        "promise": breach.promise,
        "limit_days": breach.limit_days,
        "tracking_id": breach.tracking_id,
        "source": breach.source,
        "local_id": breach.local_id,
        "agency": breach.agency,
        "started_at": display(breach.started_at),
        "ended_at": display(breach.ended_at),
        "open": breach.ended_at is None,
        "working_days": _days(breach.working_days),
    }


def render_json(report: SlaReport, out: TextIO) -> None:
    document = {
        "year": report.year,
        "generated_at": display(report.generated_at),
        "working_days": "Mon–Fri in WIB, Indonesian public holidays excluded; fractional",
        "promises": {"verification": VERIFY_PROMISE, "followup": FOLLOWUP_PROMISE},
        "total": stat_record(report.total),
        "by_agency": [stat_record(s) for s in report.by_agency],
        "by_source": [stat_record(s) for s in report.by_source],
        "breaches": [breach_record(b) for b in report.breaches],
    }
    json.dump(document, out, ensure_ascii=False, indent=2)
    out.write("\n")


def _cell(value: Any) -> str:
    """A CSV cell; text a spreadsheet would run as a formula is quoted."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return spreadsheet_safe(str(value))


def render_csv(report: SlaReport, out: TextIO) -> None:
    """Two tables with a blank line between: the figures (``scope``), then the breaches."""
    writer = csv.writer(out)
    writer.writerow(("scope", *STAT_COLUMNS))
    for scope, groups in (
        ("agency", report.by_agency),
        ("source", report.by_source),
        ("total", [report.total]),
    ):
        for stats in groups:
            writer.writerow((scope, *(_cell(v) for v in stat_record(stats).values())))
    writer.writerow(())
    writer.writerow(BREACH_COLUMNS)
    for breach in report.breaches:
        writer.writerow(tuple(_cell(v) for v in breach_record(breach).values()))


def _table(header: Sequence[str], body: Sequence[Sequence[str]]) -> Iterator[str]:
    """Aligned columns: the first to the left, the figures to the right."""
    widths = [max(len(r[i]) for r in (header, *body)) for i in range(len(header))]
    for line in (header, ["-" * w for w in widths], *body):
        cells = (
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        )
        yield "  ".join(cells).rstrip()


def _fmt_days(value: float | None) -> str:
    return f"{value:.1f}" if value is not None else "–"


_STAT_HEADER = (
    "",
    "masuk",
    "ditanggapi",
    "tanggapan med",
    "tanggapan p90",
    "selesai",
    "selesai med",
    "selesai p90",
    ">3h verif",
    ">5h tindak",
)


def _plain(text: str) -> str:
    """Text from the data (an agency, a source, an id) fit for a terminal: one line,
    without control characters, escape sequences or bidi overrides."""
    return clean(text).replace("\n", " ")


def _stat_line(stats: GroupStats) -> tuple[str, ...]:
    return (
        _plain(stats.name),
        str(stats.received),
        str(stats.responded),
        _fmt_days(stats.first_response_median),
        _fmt_days(stats.first_response_p90),
        str(stats.done),
        _fmt_days(stats.done_median),
        _fmt_days(stats.done_p90),
        str(stats.verification_breaches),
        str(stats.followup_breaches),
    )


def render_text(report: SlaReport, out: TextIO) -> None:
    """Plain tables for a terminal or a printout, Indonesian with English glosses."""
    period = f"tahun / year {report.year}" if report.year else "semua tahun / all years"
    lines = [
        f"Laporan SLA / service-level report — {period}",
        f"Dibuat / generated {display(report.generated_at)}. Waktu dalam hari kerja WIB"
        " (Senin–Jumat, tanpa libur nasional) / times in working days.",
        "masuk = received; ditanggapi = answered on LAPOR; med/p90 = median/90th percentile"
        " since filing; >3h verif, >5h tindak = breaches of the 3-day verification and"
        " 5-day follow-up promises.",
        "",
    ]
    for title, groups in (
        ("Per OPD / by agency", report.by_agency),
        ("Per sumber / by source", report.by_source),
    ):
        lines += [title, *_table(_STAT_HEADER, [_stat_line(s) for s in groups]), ""]
    lines += [*_table(_STAT_HEADER, [_stat_line(report.total)]), ""]
    lines.append(f"Pelanggaran janji / breaches: {len(report.breaches)}")
    if report.breaches:
        header = ("janji / promise", "tiket", "sumber", "OPD", "mulai", "sampai", "hari kerja")
        body = [
            (
                PROMISE_LABELS[b.promise],
                _plain(b.tracking_id),
                _plain(f"{b.source}:{b.local_id}" if b.local_id else b.source),
                _plain(b.agency) or "–",
                display(b.started_at),
                display(b.ended_at) or "belum / open",
                f"{b.working_days:.1f}",
            )
            for b in report.breaches
        ]
        lines += list(_table(header, body))
    out.write("\n".join(lines) + "\n")


RENDERERS: dict[str, Callable[[SlaReport, TextIO], None]] = {
    "text": render_text,
    "json": render_json,
    "csv": render_csv,
}


def write_report(
    store: Store,
    fmt: str,
    out: TextIO,
    *,
    year: int | None = None,
    sources: tuple[str, ...] = (),
    now: datetime | None = None,
    calendar: WorkCalendar | None = None,
) -> SlaReport:
    """``report sla [--format text|json|csv] [--year YYYY]``: compute from the store and write."""
    if fmt not in RENDERERS:
        raise ValueError(f"unknown SLA format {fmt!r}: one of {', '.join(SLA_FORMATS)}")
    report = compute(
        rows(store, year_filters(year, sources)),
        calendar or WorkCalendar(),
        now or utcnow(),
        year,
    )
    RENDERERS[fmt](report, out)
    return report
