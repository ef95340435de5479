"""``report sla``: each promise on its own clock, per city (account) and agency (bridge.md).

**Clocks**, in working days (:mod:`bridge.reports.workdays`, each account's calendar):

* ``delivery`` — filed in the city app → created on LAPOR (the bridge's own promise,
  ``[bridge] delivery_promise_days``, default 1). Complaints from LAPOR's inbox have none.
* ``verification`` — on LAPOR → verified (disposed) by LAPOR's admin, 3 days. Its end is
  the first time the bridge saw LAPOR past *Belum Terverifikasi* (the audit log's
  ``national_status_moved``); a complaint LAPOR already showed verified when the bridge
  first saw it (an inbox import) is not measured: its verification time is unknown.
* ``agency_followup`` — verified → the agency's first follow-up, 5 days: an answer in the
  app (the time the app gives it) or an agency's follow-up on LAPOR, whichever is first;
  for an inbox import, from its arrival in the app.
* ``city_response`` — filed in the city app (an import: its arrival there) → the first
  response (the same answers), per account ``city_response_days`` (default 5).
* ``done`` — filed → done; reported, no promise.

A clock that ended counts in ``n``; one still running counts once it is over its promise
(measured up to the report's time, ``open``) — so ``n``, the median, p90 and ``breaches``
come from the same complaints, and a median above the promise means at least half of them
are breaches. A complaint closed without any answer stops ``agency_followup`` and
``city_response`` at its closing.

**Which complaints**: every local record the bridge holds (a record merged into another's
complaint is counted once, under the one that owns it), filed in ``[since, until)``,
including those not yet on LAPOR (a create pending or in doubt, a quarantined record — placed
by when the bridge first saw it): they count for ``received`` and ``delivery``. An agency is
(account, canonical name) (:mod:`bridge.reports.agencies`); none is ``"(not yet assigned)"``.

The report reads timestamps only: mappings, the follow-up ledger and the audit log; no
complaint text, no personal data.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import TYPE_CHECKING, Any, TextIO

from bridge.core.text import clean, spreadsheet_safe
from bridge.core.timefmt import WIB, display, parse_rfc3339, utcnow
from bridge.reports.agencies import NOT_ASSIGNED, AgencyNames
from bridge.reports.workdays import LocalDays, WorkCalendar, national_days_off, read_local_days
from bridge.sync.storeport import SlaMapping, SlaRecord, StateStore

if TYPE_CHECKING:
    from bridge.runtime.settings import Settings

__all__ = [
    "CLOCKS",
    "FOLLOWUP_PROMISE",
    "NOT_ASSIGNED",
    "VERIFY_PROMISE",
    "AccountRules",
    "AccountSummary",
    "AgencySummary",
    "ClockBreach",
    "ClockFigures",
    "Moments",
    "Rules",
    "Scope",
    "SlaSummary",
    "Span",
    "UnknownName",
    "WorkCalendar",
    "national_days_off",
    "percentile",
]

CLOCKS = ("delivery", "verification", "agency_followup", "city_response", "done")
SLA_FORMATS = ("text", "json", "csv")
DELIVERY_PROMISE = 1.0
#: LAPOR's promises (bridge.md): verification and the agency's follow-up, working days
VERIFY_PROMISE = 3
FOLLOWUP_PROMISE = 5
CITY_RESPONSE_PROMISE = 5.0
#: what each clock measures, for the JSON header and the text legend
CLOCK_SPANS = {
    "delivery": ("filed in the city app", "created on LAPOR"),
    "verification": ("on LAPOR", "verified (disposed) by LAPOR's admin"),
    "agency_followup": ("verified", "the agency's first follow-up (on LAPOR or in the app)"),
    "city_response": ("filed in the city app", "the first response in the app"),
    "done": ("filed in the city app", "done"),
}


# --- the rules: each account's agencies, calendar and promises -----------------------------


@dataclass(frozen=True)
class AccountRules:
    """What the report needs of one account's configuration."""

    names: AgencyNames = field(default_factory=AgencyNames)
    calendar: WorkCalendar = field(default_factory=WorkCalendar)
    city_response_days: float = CITY_RESPONSE_PROMISE


@dataclass(frozen=True)
class Rules:
    """The configuration as the report reads it; an account not configured gets defaults."""

    accounts: Mapping[str, AccountRules] = field(default_factory=dict)
    #: source → account
    sources: Mapping[str, str] = field(default_factory=dict)
    delivery_days: float = DELIVERY_PROMISE
    holidays_of: Callable[[int], Iterable[date]] = national_days_off
    _defaults: dict[str, AccountRules] = field(default_factory=dict, compare=False)

    @classmethod
    def from_settings(
        cls, conf: Settings, holidays_of: Callable[[int], Iterable[date]] = national_days_off
    ) -> Rules:
        accounts = {}
        for name, account in conf.lapor.accounts.items():
            local = (
                read_local_days(account.local_holidays_file)
                if account.local_holidays_file is not None
                else LocalDays()
            )
            accounts[name] = AccountRules(
                names=AgencyNames(account.agencies, account.institution),
                calendar=WorkCalendar(holidays_of, local),
                city_response_days=account.city_response_days,
            )
        return cls(
            accounts=accounts,
            sources={name: s.account for name, s in conf.sources.items()},
            delivery_days=conf.bridge.delivery_promise_days,
            holidays_of=holidays_of,
        )

    def account(self, name: str) -> AccountRules:
        found = self.accounts.get(name)
        if found is None:
            found = self._defaults.setdefault(
                name, AccountRules(calendar=WorkCalendar(self.holidays_of))
            )
        return found

    def promise(self, clock: str, account: str) -> float | None:
        if clock == "delivery":
            return self.delivery_days
        if clock == "verification":
            return float(VERIFY_PROMISE)
        if clock == "agency_followup":
            return float(FOLLOWUP_PROMISE)
        if clock == "city_response":
            return self.account(account).city_response_days
        return None


@dataclass(frozen=True)
class Scope:
    """Which complaints: filed in ``[since, until)``, of these accounts, sources and
    agencies (each empty for all; agencies by canonical name)."""

    since: datetime
    until: datetime
    accounts: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    agencies: tuple[str, ...] = ()


def this_year(now: datetime) -> tuple[datetime, datetime]:
    """The default range: this year in WIB."""
    return year_range(now.astimezone(WIB).year)


def year_range(year: int) -> tuple[datetime, datetime]:
    """``[1 January, next 1 January)`` of ``year``, midnight WIB."""
    return (
        datetime.combine(date(year, 1, 1), time(0), WIB),
        datetime.combine(date(year + 1, 1, 1), time(0), WIB),
    )


# --- one complaint -------------------------------------------------------------------------


@dataclass(frozen=True)
class Moments:
    """The instants one complaint's clocks run between; ``None`` when unknown or not yet."""

    account: str
    source: str
    local_id: str
    tracking_id: str
    agency: str
    #: filed in the city app (an inbox import: filed on LAPOR)
    filed: datetime
    #: when the city's app had it: ``filed``, or an import's arrival in the app
    in_app: datetime | None = None
    #: created on LAPOR; ``None`` while the bridge has not delivered it
    on_lapor: datetime | None = None
    #: the bridge delivers it (a local record), so ``delivery`` runs
    delivers: bool = True
    #: verified by LAPOR's admin, as the audit log saw it
    verified: datetime | None = None
    #: LAPOR still shows it unverified (``verification`` running)
    unverified: bool = False
    #: the agency's clock starts here when ``verified`` is unknown (an inbox import)
    agency_start: datetime | None = None
    #: the first answer by the city's agency, in the app or on LAPOR
    responded: datetime | None = None
    #: done, or closed without an answer (``rejected``)
    closed: datetime | None = None
    done: datetime | None = None


@dataclass(frozen=True)
class Span:
    """One clock of one complaint: ``ended_at`` is ``None`` while it runs."""

    clock: str
    started_at: datetime
    ended_at: datetime | None
    days: float


def spans(m: Moments, calendar: WorkCalendar, now: datetime) -> list[Span]:
    """Every clock of ``m`` that started, measured (running ones up to ``now``)."""

    def span(clock: str, start: datetime | None, end: datetime | None) -> Span | None:
        if start is None:
            return None
        return Span(clock, start, end, calendar.working_days(start, end or now))

    answered = _earliest(m.responded, m.closed)
    found = [
        span("delivery", m.filed, m.on_lapor) if m.delivers else None,
        span("verification", m.on_lapor, m.verified)
        if m.on_lapor is not None and (m.verified is not None or m.unverified)
        else None,
        span("agency_followup", m.verified or m.agency_start, answered),
        span("city_response", m.in_app, answered),
        span("done", m.filed, m.done) if m.done is not None else None,
    ]
    return [s for s in found if s is not None]


def _earliest(*moments: datetime | None) -> datetime | None:
    known = [m for m in moments if m is not None]
    return min(known) if known else None


def counted(s: Span, promise: float | None) -> bool:
    """Whether a span enters its clock's figures: ended, or running past its promise."""
    return s.ended_at is not None or (promise is not None and s.days > promise)


# --- the figures ---------------------------------------------------------------------------


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Linear interpolation between the closest ranks (spreadsheets' PERCENTILE.INC)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = fraction * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class ClockFigures:
    """One clock over a group of complaints; days are working days. ``breaches`` is
    ``None`` for a clock without a promise (``done``)."""

    n: int
    median_days: float | None
    p90_days: float | None
    max_days: float | None
    breaches: int | None


@dataclass(frozen=True)
class AgencySummary:
    """One agency of one account (or an account's total: ``name`` is the account's)."""

    name: str
    received: int
    clocks: Mapping[str, ClockFigures]


@dataclass(frozen=True)
class AccountSummary:
    """One city: its agencies (sorted, ``"(not yet assigned)"`` last) and total."""

    name: str
    promises: Mapping[str, float | None]
    agencies: Sequence[AgencySummary]
    total: AgencySummary


@dataclass(frozen=True)
class ClockBreach:
    """A promise not kept: ``ended_at`` is ``None`` while it is still not kept."""

    clock: str
    account: str
    agency: str
    source: str
    local_id: str
    tracking_id: str
    started_at: datetime
    ended_at: datetime | None
    days: float
    promise_days: float

    @property
    def open(self) -> bool:
        return self.ended_at is None


@dataclass(frozen=True)
class SlaSummary:
    """The whole SLA report: what ``--format json`` prints, typed."""

    since: datetime
    until: datetime
    generated_at: datetime
    #: clock → promise in working days (``city_response``: the one all accounts shown
    #: share, else ``None``; each account's is in :attr:`AccountSummary.promises`)
    promises: Mapping[str, float | None]
    accounts: Sequence[AccountSummary]
    breaches: Sequence[ClockBreach]


@dataclass
class _Tally:
    received: int = 0
    days: dict[str, list[float]] = field(default_factory=lambda: {c: [] for c in CLOCKS})
    breaches: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CLOCKS, 0))

    def figures(self, name: str, promises: Mapping[str, float | None]) -> AgencySummary:
        clocks = {}
        for clock in CLOCKS:
            values = self.days[clock]
            clocks[clock] = ClockFigures(
                n=len(values),
                median_days=percentile(values, 0.5),
                p90_days=percentile(values, 0.9),
                max_days=max(values) if values else None,
                breaches=self.breaches[clock] if promises.get(clock) is not None else None,
            )
        return AgencySummary(name, self.received, clocks)


class SlaTally:
    """Takes complaints' moments one by one and sums them up into an :class:`SlaSummary`.

    Keeps one float per measured span and one record per breach, not the complaints.
    """

    def __init__(self, rules: Rules, scope: Scope, now: datetime) -> None:
        self.rules = rules
        self.scope = scope
        self.now = now
        self._groups: dict[str, dict[str, _Tally]] = {}
        self._totals: dict[str, _Tally] = {}
        self._breaches: list[ClockBreach] = []

    def add(self, m: Moments) -> None:
        account = self.rules.account(m.account)
        groups = (
            self._groups.setdefault(m.account, {}).setdefault(m.agency, _Tally()),
            self._totals.setdefault(m.account, _Tally()),
        )
        for group in groups:
            group.received += 1
        for s in spans(m, account.calendar, self.now):
            promise = self.rules.promise(s.clock, m.account)
            if not counted(s, promise):
                continue
            breach = promise is not None and s.days > promise
            for group in groups:
                group.days[s.clock].append(s.days)
                group.breaches[s.clock] += breach
            if breach and promise is not None:
                self._breaches.append(
                    ClockBreach(
                        s.clock,
                        m.account,
                        m.agency,
                        m.source,
                        m.local_id,
                        m.tracking_id,
                        s.started_at,
                        s.ended_at,
                        s.days,
                        promise,
                    )
                )

    def result(self) -> SlaSummary:
        names = sorted(set(self._totals) | set(self.scope.accounts))
        accounts = []
        for name in names:
            promises = {c: self.rules.promise(c, name) for c in CLOCKS}
            agencies = self._groups.get(name, {})
            ordered = sorted(agencies, key=lambda a: (a == NOT_ASSIGNED, a.casefold(), a))
            accounts.append(
                AccountSummary(
                    name=name,
                    promises=promises,
                    agencies=[agencies[a].figures(a, promises) for a in ordered],
                    total=self._totals.get(name, _Tally()).figures(name, promises),
                )
            )
        shared = {a.promises["city_response"] for a in accounts}
        promises = {c: self.rules.promise(c, "") for c in CLOCKS}
        promises["city_response"] = shared.pop() if len(shared) == 1 else None
        order = {c: i for i, c in enumerate(CLOCKS)}
        return SlaSummary(
            since=self.scope.since,
            until=self.scope.until,
            generated_at=self.now,
            promises=promises,
            accounts=accounts,
            breaches=sorted(
                self._breaches,
                key=lambda b: (order[b.clock], b.account, -b.days, b.source, b.local_id),
            ),
        )


# --- reading the store ---------------------------------------------------------------------
# The SQL is the store's (StateStore's "reports' reads": bridge/sync/report_reads.py for
# SQLite, pg_report_reads.py for PostgreSQL); the report measures and sums up its rows.


def _t(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return parse_rfc3339(text)
    except ValueError:
        return None


def mapped_moments(r: SlaMapping, account: str, agency: str) -> Moments | None:
    """A mapping's moments (``r`` the store's row: :meth:`StateStore.sla_mappings`);
    ``None`` without a filing time."""
    filed = _t(r.created_at)
    if filed is None:
        return None
    national = r.origin == "national"
    on_lapor = filed if national else _t(r.first_synced_at) if r.national_id else None
    imported = _t(r.imported_at) or _t(r.first_synced_at) if national else None
    responded = _earliest(_t(r.said_at), _t(r.answered_at))
    status = r.status
    closed = _closed(r) if status in ("done", "rejected") else None
    verified = _t(r.verified_at)
    return Moments(
        account=account,
        source=r.source,
        local_id=r.local_id,
        tracking_id=f"#{r.national_id}" if r.national_id is not None else "",
        agency=agency,
        filed=filed,
        in_app=imported if national else filed,
        on_lapor=on_lapor,
        delivers=not national,
        verified=verified,
        unverified=verified is None and r.national_canonical in (None, "submitted"),
        agency_start=imported if national else None,
        responded=responded,
        closed=closed,
        done=closed if status == "done" else None,
    )


def _closed(r: SlaMapping) -> datetime | None:
    """When a final mapping became final: the audit log or the ledger, else the time of the
    side that shows it final, else its last sync (as the reconciliation report's
    ``closed_at``)."""
    status = r.status
    found = _earliest(_t(r.closed_event_at), _t(r.closed_in_app_at))
    if found is None and r.local_canonical == status:
        found = _t(r.local_updated_at)
    if found is None and r.national_canonical == status:
        found = _t(r.national_updated_at)
    return found or _t(r.last_synced_at)


def moments(store: StateStore, rules: Rules, scope: Scope) -> Iterator[Moments]:
    """Every complaint in ``scope``, streamed from one read snapshot of the store
    (:meth:`StateStore.report_snapshot`)."""
    where = (scope.sources, scope.since, scope.until)
    with store.report_snapshot():
        for r in store.sla_mappings(*where):
            account = r.account or rules.sources.get(r.source, "")
            found = _scoped(rules, scope, account, r.agency)
            if found is not None:
                m = mapped_moments(r, account, found)
                if m is not None:
                    yield m
        for record in store.sla_creates_pending(*where):
            m = _unmapped_moments(rules, scope, record)
            if m is not None:
                yield m
        for record in store.sla_quarantined(*where):
            m = _unmapped_moments(rules, scope, record)
            if m is not None:
                yield m


def _unmapped_moments(rules: Rules, scope: Scope, r: SlaRecord) -> Moments | None:
    """A record not on LAPOR yet: only its filing (``delivery`` runs); ``None`` when out of
    scope or without a readable filing time. Its account is its source's unless its create
    says; a quarantined record's agency is not known."""
    account = r.account or rules.sources.get(r.source, "")
    found = _scoped(rules, scope, account, r.agency)
    filed = _t(r.filed)
    if found is None or filed is None:
        return None
    return Moments(account, r.source, r.local_id, "", found, filed, filed)


def _scoped(rules: Rules, scope: Scope, account: str, agency: str | None) -> str | None:
    """The canonical agency when the complaint is in scope, else ``None``."""
    if scope.accounts and account not in scope.accounts:
        return None
    name = rules.account(account).names.canonical(agency)
    if scope.agencies and name not in scope.agencies:
        return None
    return name


class UnknownName(ValueError):
    """An ``--account``, ``--source`` or ``--agency`` the bridge does not know."""


def known_agencies(store: StateStore, rules: Rules, account: str) -> set[str]:
    """The canonical agencies of ``account``: its complaints' and its alias table's."""
    names = rules.account(account).names
    sources = [s for s, a in rules.sources.items() if a == account]
    found = {names.canonical(agency) for agency in store.agencies_seen(account, sources)}
    return found | names.configured() | {NOT_ASSIGNED}


def resolve_scope(
    store: StateStore,
    rules: Rules,
    since: datetime,
    until: datetime,
    *,
    accounts: Sequence[str] = (),
    sources: Sequence[str] = (),
    agencies: Sequence[str] = (),
) -> Scope:
    """A scope from the command's names; :class:`UnknownName` for a name nobody knows."""
    for name in accounts:
        if name not in rules.accounts:
            known = ", ".join(sorted(rules.accounts)) or "none configured"
            raise UnknownName(f"--account: no account {name!r} (known: {known})")
    for name in sources:
        if name not in rules.sources:
            known = ", ".join(sorted(rules.sources)) or "none configured"
            raise UnknownName(f"--source: no source {name!r} (known: {known})")
    chosen = list(accounts) or sorted({*rules.accounts, *rules.sources.values()})
    if sources:
        chosen = [a for a in chosen if a in {rules.sources[s] for s in sources}]
    canonical: set[str] = set()
    for name in agencies:
        matches = {
            rules.account(a).names.canonical(name)
            for a in chosen
            if rules.account(a).names.canonical(name) in known_agencies(store, rules, a)
        }
        if not matches:
            raise UnknownName(
                f"--agency: no agency {name!r} in {', '.join(chosen) or 'any account'}"
            )
        canonical |= matches
    return Scope(since, until, tuple(accounts), tuple(sources), tuple(sorted(canonical)))


def compute(
    store: StateStore, rules: Rules, scope: Scope, now: datetime | None = None
) -> SlaSummary:
    """The SLA report of ``scope`` from the store, measured at ``now``."""
    tally = SlaTally(rules, scope, now or utcnow())
    for m in moments(store, rules, scope):
        tally.add(m)
    return tally.result()


# --- rendering -----------------------------------------------------------------------------


def _days(value: float | None) -> float | None:
    return round(value, 2) if value is not None else None


def clock_record(figures: ClockFigures) -> dict[str, Any]:
    return {
        "n": figures.n,
        "median_days": _days(figures.median_days),
        "p90_days": _days(figures.p90_days),
        "max_days": _days(figures.max_days),
        "breaches": figures.breaches,
    }


def agency_record(agency: AgencySummary) -> dict[str, Any]:
    return {
        "name": agency.name,
        "received": agency.received,
        "clocks": {c: clock_record(f) for c, f in agency.clocks.items()},
    }


def breach_record(b: ClockBreach) -> dict[str, Any]:
    return {
        "clock": b.clock,
        "account": b.account,
        "agency": b.agency,
        "source": b.source,
        "local_id": b.local_id,
        "tracking_id": b.tracking_id,
        "days": _days(b.days),
        "promise_days": b.promise_days,
        "started_at": display(b.started_at),
        "ended_at": display(b.ended_at) or None,
        "open": b.open,
    }


def document(report: SlaSummary) -> dict[str, Any]:
    """bridge.md's JSON object."""
    return {
        "since": display(report.since),
        "until": display(report.until),
        "generated_at": display(report.generated_at),
        "working_days": "Mon-Fri WIB, minus national holidays, cuti bersama and local holidays",
        "clocks": {
            clock: {
                "promise_days": report.promises[clock],
                "from": CLOCK_SPANS[clock][0],
                "to": CLOCK_SPANS[clock][1],
            }
            for clock in CLOCKS
        },
        "accounts": [
            {
                "name": a.name,
                "promise_days": dict(a.promises),
                "agencies": [agency_record(g) for g in a.agencies],
                "total": {k: v for k, v in agency_record(a.total).items() if k != "name"},
            }
            for a in report.accounts
        ],
        "breaches": [breach_record(b) for b in report.breaches],
    }


def render_json(report: SlaSummary, out: TextIO) -> None:
    json.dump(document(report), out, ensure_ascii=False, indent=2)
    out.write("\n")


def _cell(value: Any) -> str:
    """A CSV cell; text a spreadsheet would run as a formula is quoted."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return spreadsheet_safe(str(value))


FIGURE_COLUMNS = (
    "account",
    "agency",
    "received",
    *(f"{c}_{k}" for c in CLOCKS for k in ("n", "median_days", "p90_days", "max_days", "breaches")),
)
BREACH_COLUMNS = (
    "clock",
    "account",
    "agency",
    "source",
    "local_id",
    "tracking_id",
    "days",
    "promise_days",
    "started_at",
    "ended_at",
    "open",
)


def _figure_row(account: str, agency: AgencySummary, total: bool) -> list[str]:
    cells: list[Any] = [account, "(total)" if total else agency.name, agency.received]
    for clock in CLOCKS:
        cells += clock_record(agency.clocks[clock]).values()
    return [_cell(c) for c in cells]


def render_csv(report: SlaSummary, out: TextIO) -> None:
    """Two tables with a blank line between: the figures per (account, agency) and each
    account's total (agency ``(total)``), then the breaches."""
    writer = csv.writer(out)
    writer.writerow(FIGURE_COLUMNS)
    for account in report.accounts:
        for agency in account.agencies:
            writer.writerow(_figure_row(account.name, agency, False))
        writer.writerow(_figure_row(account.name, account.total, True))
    writer.writerow(())
    writer.writerow(BREACH_COLUMNS)
    for breach in report.breaches:
        writer.writerow([_cell(v) for v in breach_record(breach).values()])


def _plain(text: str) -> str:
    """Text from the data fit for a terminal: one line, no control characters, escape
    sequences or bidi overrides."""
    return clean(text).replace("\n", " ")


def _table(header: Sequence[str], body: Sequence[Sequence[str]]) -> Iterator[str]:
    """Aligned columns: the first to the left, the figures to the right."""
    widths = [max(len(r[i]) for r in (header, *body)) for i in range(len(header))]
    for line in (header, ["-" * w for w in widths], *body):
        cells = (
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        )
        yield "  ".join(cells).rstrip()


def _fmt(value: float | None) -> str:
    return f"{value:.1f}" if value is not None else "–"


def _fmt_promise(value: float | None) -> str:
    return "–" if value is None else f"{value:g}"


CLOCK_LABELS = {
    "delivery": "kirim / delivery",
    "verification": "verifikasi / verification",
    "agency_followup": "tindak lanjut OPD / agency follow-up",
    "city_response": "tanggapan kota / city response",
    "done": "selesai / done",
}


def render_text(report: SlaSummary, out: TextIO) -> None:
    """Plain tables for a terminal or a printout, Indonesian with English glosses: per
    account, one table per clock with a line per agency."""
    lines = [
        f"Laporan SLA / service-level report: {display(report.since)} – {display(report.until)}",
        f"Dibuat / generated {display(report.generated_at)}. Hari kerja WIB (Senin–Jumat, tanpa"
        " libur nasional, cuti bersama dan libur daerah) / working days.",
        "n = diukur / measured; med, p90, max in days; >janji = breaches of the promise.",
        "",
        "Jam / clocks:",
        *(
            f"  {CLOCK_LABELS[c]}: {CLOCK_SPANS[c][0]} → {CLOCK_SPANS[c][1]}"
            f" (janji / promise {_fmt_promise(report.promises[c])})"
            for c in CLOCKS
        ),
        "",
    ]
    header = ("OPD / agency", "masuk", "n", "med", "p90", "max", ">janji")
    for account in report.accounts:
        lines.append(f"== {_plain(account.name)} ==")
        for clock in CLOCKS:
            promise = _fmt_promise(account.promises[clock])
            lines.append(f"{CLOCK_LABELS[clock]} (janji / promise {promise})")
            body = []
            for agency in (*account.agencies, account.total):
                f = agency.clocks[clock]
                name = "(total)" if agency is account.total else _plain(agency.name)
                body.append(
                    (
                        name,
                        str(agency.received),
                        str(f.n),
                        _fmt(f.median_days),
                        _fmt(f.p90_days),
                        _fmt(f.max_days),
                        "–" if f.breaches is None else str(f.breaches),
                    )
                )
            lines += [*_table(header, body), ""]
    lines.append(f"Pelanggaran janji / breaches: {len(report.breaches)}")
    if report.breaches:
        head = ("jam / clock", "akun", "OPD", "tiket", "sumber", "mulai", "sampai", "hari kerja")
        listed = [
            (
                b.clock,
                _plain(b.account),
                _plain(b.agency),
                _plain(b.tracking_id) or "–",
                _plain(f"{b.source}:{b.local_id}"),
                display(b.started_at),
                display(b.ended_at) or "belum / open",
                f"{b.days:.1f}",
            )
            for b in report.breaches
        ]
        lines += list(_table(head, listed))
    out.write("\n".join(lines) + "\n")


RENDERERS: dict[str, Callable[[SlaSummary, TextIO], None]] = {
    "text": render_text,
    "json": render_json,
    "csv": render_csv,
}


def write_report(
    store: StateStore,
    fmt: str,
    out: TextIO,
    *,
    rules: Rules | None = None,
    scope: Scope | None = None,
    now: datetime | None = None,
) -> SlaSummary:
    """``report sla --format text|json|csv``: compute from the store and write.

    ``scope`` defaults to this year; ``rules`` to the built-in ones (no configuration).
    """
    if fmt not in RENDERERS:
        raise ValueError(f"unknown SLA format {fmt!r}: one of {', '.join(SLA_FORMATS)}")
    now = now or utcnow()
    if scope is None:
        scope = Scope(*this_year(now))
    report = compute(store, rules or Rules(), scope, now)
    RENDERERS[fmt](report, out)
    return report
