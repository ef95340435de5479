"""The reconciliation report as one self-contained HTML page for auditors.

Everything is inline: CSS, the script, the charts, and the rows (a JSON block
the script pages through, so a large report keeps a small DOM on screen). The
page loads nothing: a Content-Security-Policy forbids any request. Labels are
Indonesian with English glosses; every time is WIB.

The rows are written as they are read; the summary tiles and the charts need
every row, so they are written after the rows and shown above them by the
layout (CSS ``order``). Charts: status by source, the backlog of open
complaints over time, and, per city, each agency on each promise's own clock
with that promise's line — a line is never drawn over another clock's figures.
The per-city sections are the SLA report (bridge.md, "The SLA report": a
:class:`bridge.reports.sla.SlaSummary` the caller computes), so the page and
``report sla`` never disagree.

Bar charts are HTML, not SVG: their labels wrap instead of being clipped at
the chart's edge, however long an agency's name.

Printing (or saving as PDF) prints every row of the table, not one page of
it: the script renders the whole filtered view before the browser prints.

Writing stays streaming at any size, but a browser holds the page's rows in
memory: the page suits up to a few hundred thousand rows; for more, narrow it
with ``--source``/``--since``/``--until`` or use the CSV.
"""

from __future__ import annotations

import html
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TextIO

from bridge.core.timefmt import WIB, parse_rfc3339
from bridge.reports.report import COLUMNS, WAITING_ON_LAPOR, Filters, ReportRow
from bridge.reports.sla import (
    CLOCK_SPANS,
    CLOCKS,
    AccountSummary,
    AgencySummary,
    ClockBreach,
    ClockFigures,
    SlaSummary,
)

#: how the status-by-source chart names the national-only rows (no source)
NATIONAL_ONLY = "(LAPOR only)"
#: canonical statuses in the order of the workflow, "" for unknown, with their labels
STATUS_ORDER = ("submitted", "verified", "in_progress", "done", "rejected", "")
STATUS_LABELS = {
    "submitted": "Diajukan (submitted)",
    "verified": "Terverifikasi (verified)",
    "in_progress": "Diproses (in progress)",
    "done": "Selesai (done)",
    "rejected": "Ditolak (rejected)",
    "": "Tidak diketahui (unknown)",
}
STATUS_COLORS = {
    "submitted": "#94a3b8",
    "verified": "#0ea5e9",
    "in_progress": "#f59e0b",
    "done": "#16a34a",
    "rejected": "#dc2626",
    "": "#d4d4d8",
}
COLUMN_LABELS = {
    "source": ("Sumber", "Source"),
    "local_id": ("ID lokal", "Local ID"),
    "tracking_id": ("No. tiket LAPOR", "Tracking ID"),
    "origin": ("Asal", "Origin"),
    "local_status": ("Status di aplikasi kota", "Local status"),
    "national_status": ("Status di LAPOR", "National status"),
    "status": ("Status akhir", "Status"),
    "in_sync": ("Sinkron", "In sync"),
    "duplicate_of": ("Duplikat dari", "Duplicate of"),
    "created_at": ("Dibuat (WIB)", "Filed"),
    "first_synced_at": ("Pertama disinkron (WIB)", "First synced"),
    "last_synced_at": ("Terakhir disinkron (WIB)", "Last synced"),
    "problem": ("Masalah", "Problem"),
    "agency": ("OPD", "Agency"),
    "category": ("Kategori", "Category"),
    "confidential": ("Rahasia", "Confidential"),
    "anonymous": ("Anonim", "Anonymous"),
    "verified_at": ("Diverifikasi (WIB)", "Verified"),
    "first_response_at": ("Tanggapan pertama (WIB)", "First response"),
    "closed_at": ("Ditutup (WIB)", "Closed"),
}
#: shown by default; the rest behind "all columns"
MAIN_COLUMNS = (
    "source",
    "local_id",
    "tracking_id",
    "origin",
    "local_status",
    "national_status",
    "status",
    "in_sync",
    "problem",
    "agency",
    "created_at",
)
#: how each reason of the ``problem`` column reads in Indonesian (its start is replaced)
PROBLEM_WORDS = (
    ("conflict", "Konflik status"),
    ("kept local by operator", "Status kota dipertahankan petugas"),
    ("quarantined:", "Dikarantina:"),
    ("in doubt", "Diragukan (jawaban LAPOR hilang)"),
    ("no local record", "Belum ada di aplikasi kota"),
    ("duplicate of", "Duplikat dari"),
    ("status drift: local", "Status berbeda: lokal"),
    ("follow-ups pending:", "Tindak lanjut tertunda:"),
    ("follow-ups failed:", "Tindak lanjut gagal:"),
    ("not linked", "No. tiket belum tertulis di aplikasi kota"),
    (WAITING_ON_LAPOR, "Menunggu verifikasi LAPOR"),
)
#: the kind of a row that waits on LAPOR's admin: not in sync, but nothing for an operator
WAITING = "waiting on LAPOR"
#: problem kinds by the start of their reason, with the tile that counts them
PROBLEM_KINDS = (
    ("conflict", "Konflik status", "Status conflicts"),
    ("quarantined", "Dikarantina", "Quarantined"),
    ("in doubt", "Diragukan", "In doubt"),
    ("no local record", "Hanya di LAPOR", "National only"),
    ("duplicate of", "Duplikat", "Duplicates"),
    ("status drift", "Status berbeda", "Status drift"),
    ("follow-ups", "Tindak lanjut tertunda/gagal", "Follow-ups pending/failed"),
    ("not linked", "Tiket belum tertulis", "Not linked"),
    (WAITING, "Menunggu verifikasi LAPOR", "Waiting on LAPOR"),
)


def problem_kinds(problem: str) -> set[str]:
    """The kinds (``PROBLEM_KINDS`` keys) named in a ``problem`` cell."""
    parts = [p.strip() for p in problem.split("; ")] if problem else []
    return {kind for kind, _, _ in PROBLEM_KINDS if any(p.startswith(kind) for p in parts)}


def _wib_date(text: str) -> date | None:
    return parse_rfc3339(text).astimezone(WIB).date() if text else None


@dataclass
class Summary:
    """Counts gathered while the rows stream by: tiles and the first two charts."""

    total: int = 0
    in_sync: int = 0
    #: not in sync for a reason an operator should look at (not only waiting on LAPOR)
    attention: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    by_source: dict[str, Counter[str]] = field(default_factory=dict)
    opened: Counter[date] = field(default_factory=Counter)
    closed: Counter[date] = field(default_factory=Counter)

    def add(self, row: ReportRow) -> None:
        self.total += 1
        self.in_sync += row.in_sync
        kinds = problem_kinds(row.problem)
        self.attention += bool(row.problem) and kinds != {WAITING}
        self.kinds.update(kinds)
        source = row.source or NATIONAL_ONLY
        self.by_source.setdefault(source, Counter())[row.status] += 1
        opened = _wib_date(row.created_at or row.first_synced_at)
        if opened is not None and not row.duplicate_of:
            self.opened[opened] += 1
            closed = _wib_date(row.closed_at)
            if closed is not None:
                self.closed[closed] += 1


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _num(value: int) -> str:
    """A count as Indonesians write it: ``1.234``."""
    return f"{value:,}".replace(",", ".")


def _days(value: float | None) -> str:
    return f"{value:.1f}".replace(".", ",") if value is not None else "–"


# --- the promises' clocks ----------------------------------------------------------------


@dataclass(frozen=True)
class ClockText:
    """How the page names one clock of bridge.md's SLA report
    (:data:`bridge.reports.sla.CLOCKS`)."""

    key: str
    title: str
    english: str
    explains: str


def _explains(key: str, indonesian: str) -> str:
    start, end = CLOCK_SPANS[key]
    return f"{indonesian} / {start[0].upper()}{start[1:]} to {end}."


_TEXTS = {
    c.key: c
    for c in (
        ClockText(
            "delivery",
            "Pengiriman ke LAPOR",
            "Delivery (the bridge's own)",
            _explains("delivery", "Dari pengaduan masuk di aplikasi kota sampai ada di LAPOR."),
        ),
        ClockText(
            "verification",
            "Verifikasi LAPOR",
            "LAPOR verification",
            _explains(
                "verification", "Dari ada di LAPOR sampai diverifikasi (didisposisikan) admin."
            ),
        ),
        ClockText(
            "agency_followup",
            "Tindak lanjut OPD",
            "Agency follow-up",
            _explains("agency_followup", "Dari verifikasi sampai tindak lanjut pertama OPD."),
        ),
        ClockText(
            "city_response",
            "Tanggapan kota",
            "City response",
            _explains(
                "city_response", "Dari pengaduan masuk sampai tanggapan pertama di aplikasi kota."
            ),
        ),
        ClockText(
            "done",
            "Selesai",
            "Done",
            _explains("done", "Dari pengaduan masuk sampai selesai; tanpa janji (no promise)."),
        ),
    )
}
#: each clock's title and what it measures, in the order of :data:`bridge.reports.sla.CLOCKS`
#: (a clock without its text here is a KeyError at import, not a column missing)
CLOCK_TEXTS = {key: _TEXTS[key] for key in CLOCKS}


def _promise_text(promise: float | None) -> str:
    return f" · ≤{promise:g} hk" if promise is not None else ""


# --- charts -------------------------------------------------------------------------------


def nice_ticks(maximum: float, count: int = 4) -> list[float]:
    """Round axis ticks from 0 to at least ``maximum``."""
    if maximum <= 0:
        return [0.0, 1.0]
    raw = maximum / count
    magnitude = 10 ** len(str(int(raw))) / 10 if raw >= 1 else 0.1
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    ticks = [0.0]
    while ticks[-1] < maximum:
        ticks.append(round(ticks[-1] + step, 6))
    return ticks


NO_DATA = "Belum ada data / no data yet"


def _empty(message: str = NO_DATA) -> str:
    return f"<p class='empty'>{_e(message)}</p>"


def _pct(value: float, top: float) -> str:
    return f"{100 * value / top:.2f}%"


def status_by_source_html(by_source: Mapping[str, Mapping[str, int]]) -> str:
    """Horizontal stacked bars: one per source, a segment per canonical status."""
    if not by_source:
        return _empty()
    legend = "".join(
        f"<li><span class='key' style='background:{STATUS_COLORS[s]}'></span>"
        f"{_e(STATUS_LABELS[s])}</li>"
        for s in STATUS_ORDER
    )
    lines = []
    for source, counts in sorted(by_source.items()):
        total = sum(counts.values())
        segments = "".join(
            f"<span class='seg' style='width:{_pct(counts[s], total)};background:"
            f"{STATUS_COLORS[s]}' title='{_e(source)}: {_e(STATUS_LABELS[s])} — {counts[s]}'>"
            f"{counts[s] if counts[s] / total >= 0.06 else ''}</span>"
            for s in STATUS_ORDER
            if counts.get(s, 0)
        )
        lines.append(
            f"<div class='bar-label'>{_e(source)}</div>"
            f"<div class='track stacked'>{segments}</div>"
            f"<div class='bar-note'>{_num(total)}</div>"
        )
    return (
        f"<ul class='legend'>{legend}</ul><div class='bars' role='img'"
        f" aria-label='Status per sumber / status by source'>{''.join(lines)}</div>"
    )


def clock_chart_html(
    clock: ClockText, promise: float | None, agencies: Sequence[AgencySummary]
) -> str:
    """Each agency's median (bar) and 90th percentile (whisker) on one clock; that clock's
    own promise as a dashed line. A bar past the line is drawn as a breach: the median
    and the breaches come from the same complaints, so the two never disagree."""
    measured = [
        (a, f)
        for a in agencies
        if (f := a.clocks.get(clock.key)) is not None and f.median_days is not None
    ]
    if not measured:
        return _empty()
    longest = max((f.p90_days or f.median_days or 0.0) for _, f in measured)
    ticks = nice_ticks(max(longest, promise or 0.0))
    top = ticks[-1]
    line = (
        f"<span class='promise' style='left:{_pct(promise, top)}'></span>"
        if promise is not None
        else ""
    )
    lines = []
    for agency, f in measured:
        median = f.median_days or 0.0
        p90 = max(f.p90_days or median, median)
        late = promise is not None and median > promise
        breaches = f" · {f.breaches} lewat / over" if f.breaches else ""
        note = f"med {_days(median)} · p90 {_days(p90)} · n={f.n}{breaches}"
        lines.append(
            f"<div class='bar-label' title='{_e(agency.name)}'>{_e(agency.name)}</div>"
            f"<div class='track'>{line}<span class='bar{' late' if late else ''}'"
            f" style='width:{_pct(median, top)}' title='{_e(agency.name)}: {_e(note)}'></span>"
            f"<span class='whisker' style='left:{_pct(median, top)};"
            f"width:{_pct(p90 - median, top)}'></span></div>"
            f"<div class='bar-note'>{_e(note)}</div>"
        )
    axis = "".join(f"<span class='tick' style='left:{_pct(t, top)}'>{t:g}</span>" for t in ticks)
    promise_note = (
        f"<div class='promise-note'>- - - janji / promise: {promise:g}"
        " hari kerja / working days</div>"
        if promise is not None
        else ""
    )
    return (
        f"{promise_note}<div class='bars' role='img' aria-label='{_e(clock.english)}'>"
        f"{''.join(lines)}<div></div><div class='axis'>{axis}</div><div></div></div>"
    )


def backlog_points(
    opened: Counter[date], closed: Counter[date], today: date
) -> list[tuple[date, int]]:
    """Open complaints at the end of each day (each week, month for long spans) to ``today``."""
    if not opened:
        return []
    first = min(opened)
    last = max(today, max(opened), max(closed, default=first))
    span = (last - first).days
    step = 1 if span <= 120 else 7 if span <= 3 * 366 else 30
    points: list[tuple[date, int]] = []
    open_now = 0
    day = first
    while True:
        open_now += opened.get(day, 0) - closed.get(day, 0)
        if (day - first).days % step == 0 or day == last:
            points.append((day, open_now))
        if day >= last:
            return points
        day += timedelta(days=1)


_FONT = "font-family='system-ui,sans-serif'"


def backlog_svg(points: Sequence[tuple[date, int]]) -> str:
    """The number of open complaints over time, as an area under a line."""
    if not points:
        return _empty()
    width, height, left, right, top, bottom = 640, 240, 48, 16, 16, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    ticks = nice_ticks(max(n for _, n in points))
    top_value = ticks[-1]

    def xy(i: int, n: int) -> tuple[float, float]:
        x = left + (plot_w * i / (len(points) - 1) if len(points) > 1 else plot_w / 2)
        return x, top + plot_h * (1 - n / top_value)

    parts = [
        f"<svg viewBox='0 0 {width} {height}' role='img'"
        " aria-label='Tunggakan dari waktu ke waktu / backlog over time'>"
    ]
    for tick in ticks:
        y = top + plot_h * (1 - tick / top_value)
        parts.append(
            f"<line x1='{left}' x2='{width - right}' y1='{y:.1f}' y2='{y:.1f}' stroke='#e2e8f0'/>"
            f"<text x='{left - 6}' y='{y + 4:.1f}' text-anchor='end' font-size='11' {_FONT}"
            f" fill='#64748b'>{tick:g}</text>"
        )
    coords = [xy(i, n) for i, (_, n) in enumerate(points)]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    base = top + plot_h
    parts.append(
        f"<polygon points='{coords[0][0]:.1f},{base} {line} {coords[-1][0]:.1f},{base}'"
        " fill='#bfdbfe' opacity='0.7'/>"
        f"<polyline points='{line}' fill='none' stroke='#1d4ed8' stroke-width='2'/>"
    )
    for (day, n), (x, y) in zip(points, coords, strict=True):
        parts.append(
            f"<circle cx='{x:.1f}' cy='{y:.1f}' r='3' fill='#1d4ed8'>"
            f"<title>{day:%d-%m-%Y}: {n} terbuka / open</title></circle>"
        )
    for i in sorted({0, len(points) // 2, len(points) - 1}):
        x, _ = coords[i]
        anchor = "start" if i == 0 else "end" if i == len(points) - 1 else "middle"
        parts.append(
            f"<text x='{x:.1f}' y='{height - 12}' text-anchor='{anchor}' font-size='11'"
            f" {_FONT} fill='#64748b'>{points[i][0]:%d-%m-%Y}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


# --- the cities ---------------------------------------------------------------------------


def _figures_cell(promise: float | None, f: ClockFigures | None) -> str:
    if f is None or (not f.n and not f.breaches):
        return "<td class='num'>–</td>"
    lines = [
        f"<span>med {_days(f.median_days)} · p90 {_days(f.p90_days)}</span>",
        f"<small>n={_num(f.n)}</small>",
    ]
    if f.breaches is not None:
        tone = " class='over'" if f.breaches else ""
        lines.append(f"<small{tone}>{_num(f.breaches)} lewat janji / over</small>")
    late = promise is not None and (f.median_days or 0.0) > promise
    return f"<td class='num{' late' if late else ''}'>{'<br>'.join(lines)}</td>"


def agency_table_html(account: AccountSummary) -> str:
    """Each agency of one city (``"(not yet assigned)"`` among them), a column per clock
    with that city's promise, the city's total last."""
    head = "".join(
        f"<th scope='col'>{_e(c.title)}<small>{_e(c.english)}"
        f"{_promise_text(account.promises.get(c.key))}</small></th>"
        for c in CLOCK_TEXTS.values()
    )
    body = []
    for line, tag in [*((a, "td") for a in account.agencies), (account.total, "th")]:
        cells = "".join(
            _figures_cell(account.promises.get(c), line.clocks.get(c)) for c in CLOCK_TEXTS
        )
        label = line.name if tag == "td" else "Total kota / city total"
        body.append(
            f"<tr{' class=total' if tag == 'th' else ''}><{tag} scope='row' class='name'>"
            f"{_e(label)}</{tag}><td class='num'>{_num(line.received)}</td>{cells}</tr>"
        )
    return (
        "<table class='agencies'><thead><tr><th scope='col'>OPD <small>Agency</small></th>"
        f"<th scope='col'>Masuk <small>Received</small></th>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _wib_text(moment: datetime | None) -> str:
    """A time as the page shows it: ``dd-mm-yyyy HH:MM`` WIB."""
    return f"{moment.astimezone(WIB):%d-%m-%Y %H:%M}" if moment is not None else ""


def breaches_html(breaches: Sequence[ClockBreach]) -> str:
    """Every broken promise of one city, with its complaint; one still running is open."""
    if not breaches:
        return "<p class='muted'>Tidak ada janji yang dilanggar. / No promise broken.</p>"
    body = "".join(
        f"<tr><td>{_e(CLOCK_TEXTS[b.clock].title)} ≤{b.promise_days:g}</td>"
        f"<td class='name'>{_e(b.agency)}</td><td>{_e(b.tracking_id)}</td>"
        f"<td>{_e(b.source)}:{_e(b.local_id)}</td>"
        f"<td class='time'>{_e(_wib_text(b.started_at))}</td>"
        f"<td class='time'>{_e(_wib_text(b.ended_at) or 'belum / open')}</td>"
        f"<td class='num'>{_days(b.days)}</td></tr>"
        for b in breaches
    )
    return (
        f"<h3>Janji yang dilanggar <span class='en'>/ Broken promises"
        f" ({_num(len(breaches))})</span></h3>"
        "<div class='scroll'><table class='breaches'><thead><tr><th>Janji / promise</th>"
        "<th>OPD</th><th>Tiket</th><th>Rekaman / record</th><th>Mulai (WIB)</th>"
        "<th>Sampai (WIB)</th><th>Hari kerja</th></tr></thead>"
        f"<tbody>{body}</tbody></table></div>"
    )


def _range(since: datetime, until: datetime) -> str:
    return f"{_wib_text(since)} – {_wib_text(until)} WIB"


def cities_html(summary: SlaSummary) -> str:
    """A section per city: its agencies on every clock, a chart per clock that measured
    something, with that city's promise line on its own clock only; its breaches."""
    scope = (
        "<p class='muted'>Jam janji: pengaduan masuk / promise clocks: complaints filed"
        f" {_e(_range(summary.since, summary.until))}.</p>"
    )
    if not summary.accounts:
        return f"<div class='cities'><section class='card city'>{scope}{_empty()}</section></div>\n"
    sections = []
    for account in summary.accounts:
        # a record of a source no account claims (no configuration given): still counted
        name = account.name or "(akun tidak dikenal / no account)"
        charts = "".join(
            f"<figure><figcaption><b>{_e(c.title)}</b> <span class='en'>/ {_e(c.english)}"
            f"</span><br><small>{_e(c.explains)}</small></figcaption>"
            f"{clock_chart_html(c, account.promises.get(c.key), account.agencies)}</figure>"
            for c in CLOCK_TEXTS.values()
            if account.total.clocks[c.key].n
        )
        breaches = [b for b in summary.breaches if b.account == account.name]
        sections.append(
            f"<section class='card city' aria-label='{_e(name)}'>"
            f"<h2>Kota <span class='en'>/ City</span>: {_e(name)}"
            f" <span class='en'>· {_num(account.total.received)} pengaduan / complaints</span>"
            f"</h2>{scope}"
            f"<div class='scroll'>{agency_table_html(account)}</div>"
            "<p class='muted'>Hari kerja (hk): Senin–Jumat WIB tanpa libur nasional, cuti"
            " bersama dan libur daerah. med/p90: median/persentil 90; n: yang diukur. /"
            " Working days; median and 90th percentile; n measured.</p>"
            f"<div class='clock-charts'>{charts}</div>{breaches_html(breaches)}"
            "</section>"
        )
    return f"<div class='cities'>{''.join(sections)}</div>\n"


# --- the page -----------------------------------------------------------------------------

CSS = """
:root { color-scheme: light; --ink:#0f172a; --muted:#64748b; --line:#e2e8f0; --bg:#f8fafc;
  --card:#fff; --accent:#1d4ed8; --warn:#b45309; --bad:#b91c1c; --good:#15803d; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
header { background: #1e3a8a; color: #fff; padding: 20px 28px; }
header h1 { margin: 0; font-size: 24px; }
header .en { opacity: .8; font-weight: 400; }
header p { margin: 4px 0 0; opacity: .9; }
main { display: flex; flex-direction: column; gap: 20px; padding: 20px 28px 40px;
  max-width: 1400px; margin: 0 auto; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px;
  padding: 16px 18px; min-width: 0; }
h2 { font-size: 18px; margin: 0 0 10px; }
h3 { font-size: 15px; margin: 14px 0 6px; }
h2 .en, h3 .en, .tile .en, figcaption .en { color: var(--muted); font-weight: 400; }
.muted, .empty { color: var(--muted); font-size: 13px; margin: 6px 0; }
.tiles { order: 1; display: grid; gap: 12px;
  grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); }
.tile { background: var(--card); border: 1px solid var(--line); border-radius: 10px;
  padding: 12px 14px; }
.tile .n { font-size: 28px; font-weight: 700; }
.tile .t { font-size: 13px; }
.tile.warn { border-color: #fcd34d; background: #fffbeb; }
.tile.warn .n { color: var(--warn); }
.tile.good .n { color: var(--good); }
.charts { order: 2; display: grid; gap: 16px;
  grid-template-columns: repeat(auto-fit, minmax(min(100%, 460px), 1fr)); }
.charts figure { margin: 0; }
.charts svg { display: block; width: 100%; max-width: 720px; height: auto; }
.charts p { margin: 4px 0 0; color: var(--muted); font-size: 13px; }
.cities { order: 3; display: flex; flex-direction: column; gap: 20px; }
.table-card { order: 4; }
.notes { order: 5; font-size: 14px; }
.notes dt { font-weight: 600; } .notes dd { margin: 0 0 6px 0; color: #334155; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 16px; list-style: none; padding: 0;
  margin: 0 0 10px; font-size: 13px; color: #334155; }
.key { display: inline-block; width: 12px; height: 12px; border-radius: 3px; margin-right: 6px;
  vertical-align: -1px; }
.bars { display: grid; grid-template-columns: minmax(90px, 30%) minmax(0, 1fr) auto;
  gap: 8px 10px; align-items: center; font-size: 13px; }
.bar-label { text-align: right; overflow-wrap: anywhere; line-height: 1.25; min-width: 0; }
.bar-note { color: #334155; font-size: 12px; white-space: nowrap; }
.track { position: relative; height: 20px; background: #f1f5f9; border-radius: 3px; }
.track.stacked { display: flex; height: 24px; overflow: hidden; }
.seg { display: block; height: 100%; color: #fff; font-size: 12px; text-align: center;
  line-height: 24px; overflow: hidden; }
.bar { position: absolute; left: 0; top: 0; bottom: 0; min-width: 2px; background: #16a34a;
  border-radius: 3px; }
.bar.late { background: #f59e0b; }
.whisker { position: absolute; top: 9px; height: 2px; background: #334155; }
.whisker::after { content: ""; position: absolute; right: 0; top: -5px; width: 2px;
  height: 12px; background: #334155; }
.promise { position: absolute; top: -5px; bottom: -5px; border-left: 2px dashed #dc2626;
  z-index: 1; }
.promise-note { color: #dc2626; font-size: 12px; margin: 2px 0 6px; }
.axis { position: relative; height: 16px; color: var(--muted); font-size: 11px; }
.tick { position: absolute; top: 0; transform: translateX(-50%); }
.clock-charts { display: grid; gap: 12px 24px;
  grid-template-columns: repeat(auto-fit, minmax(min(100%, 520px), 1fr)); }
.clock-charts figure { margin: 8px 0 0; min-width: 0; }
figcaption { margin-bottom: 6px; font-size: 14px; }
figcaption small { color: var(--muted); }
table.agencies, table.breaches { font-size: 13px; }
table.agencies th small { display: block; color: var(--muted); font-weight: 400; }
table.agencies .name { min-width: 160px; font-weight: 400; overflow-wrap: anywhere; }
table.agencies tr.total { background: #f1f5f9; }
table.breaches td:not(.name) { white-space: nowrap; }
table.agencies tr.total .name { font-weight: 600; }
td.num { text-align: right; white-space: nowrap; }
td.num small { color: var(--muted); }
td.num small.over { color: var(--bad); font-weight: 600; }
td.late span { color: var(--warn); font-weight: 600; }
.controls { display: flex; flex-wrap: wrap; gap: 10px; align-items: center; margin-bottom: 10px; }
.controls input[type=search] { flex: 1 1 280px; padding: 8px 10px; font-size: 15px;
  border: 1px solid #cbd5e1; border-radius: 8px; min-width: 0; }
.controls select { padding: 7px; border: 1px solid #cbd5e1; border-radius: 8px; font-size: 14px;
  max-width: 100%; }
.count { color: var(--muted); font-size: 14px; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 13.5px; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line);
  vertical-align: top; }
th { background: #f1f5f9; }
#report-table th { position: sticky; top: 0; }
th button { all: unset; cursor: pointer; font-weight: 600; }
th small { display: block; color: var(--muted); font-weight: 400; }
td.time, td.id { white-space: nowrap; }
th button:focus-visible { outline: 2px solid var(--accent); }
th[aria-sort=ascending] button::after { content: " ▲"; }
th[aria-sort=descending] button::after { content: " ▼"; }
tbody tr:nth-child(even) { background: #f8fafc; }
tbody tr.bad { background: #fef2f2; }
tbody tr.waiting { background: #fffbeb; }
table:not(.all) .extra { display: none; }
.pill { display: inline-block; padding: 1px 8px; border-radius: 999px; color: #fff;
  font-size: 12px; white-space: nowrap; }
.badge { display: inline-block; margin: 1px 4px 1px 0; padding: 1px 7px; border-radius: 6px;
  background: #fee2e2; color: var(--bad); font-size: 12px; }
.badge.wait { background: #fef3c7; color: var(--warn); }
.ok { color: var(--good); font-weight: 600; } .no { color: var(--bad); font-weight: 600; }
.wait-mark { color: var(--warn); font-weight: 600; white-space: nowrap; }
.code { color: var(--muted); font-size: 12px; }
.lock { color: var(--muted); font-size: 12px; }
th .printed { display: none; }
.pager { display: flex; gap: 8px; align-items: center; margin-top: 10px; }
.pager button { padding: 5px 12px; border: 1px solid #cbd5e1; background: #fff;
  border-radius: 6px; cursor: pointer; }
.pager button:disabled { opacity: .4; cursor: default; }
footer { text-align: center; color: var(--muted); font-size: 12px; padding-bottom: 24px; }
/* a narrower screen: the table's main columns still fit, their cells wrap instead */
@media screen and (max-width: 1280px) {
  main { padding: 16px 14px 32px; }
  #report-table th, #report-table td { padding: 5px 5px; }
  #report-table td.time, #report-table .pill, #report-table .wait-mark { white-space: normal; }
  #report-table .pill { border-radius: 8px; }
}
@page { size: A4 landscape; margin: 10mm; }
@media print {
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  body { background: #fff; font-size: 11px; }
  main { max-width: none; padding: 0; gap: 12px; }
  #report-table th { position: static; }
  th button { display: none; }
  th .printed { display: block; font-weight: 600; }
  h2, h3, figcaption { break-after: avoid; }
  .tiles { grid-template-columns: repeat(6, 1fr); gap: 6px; }
  .tile { padding: 6px 8px; } .tile .n { font-size: 18px; }
  td .badge { white-space: nowrap; }
  td[data-col=agency] { min-width: 22ch; }
  .pill, .badge, .code, .lock, th small { font-size: 8.5px; }
  td[data-col=local_status], td[data-col=national_status] { min-width: 14ch; }
  header { padding: 8px 0; background: #fff; color: var(--ink); }
  .controls, .pager { display: none; }
  .scroll { overflow: visible; }
  .charts, .clock-charts { grid-template-columns: 1fr 1fr; }
  .card { border: 0; padding: 0; }
  table { font-size: 9.5px; }
  thead { display: table-header-group; }
  tr, .bars > *, figure { break-inside: avoid; }
  th, td { padding: 3px 5px; }
}
"""

JS = r"""
(() => {
  "use strict";
  const data = JSON.parse(document.getElementById("report-data").textContent);
  const cols = data.columns, rows = data.rows, labels = data.labels;
  const I = Object.fromEntries(cols.map((c, i) => [c, i]));
  const PAGE = 100;
  const STATUS = data.status_labels, COLORS = data.status_colors;
  const NATIONAL = data.national_names, LOCAL = data.local_names;
  const WORDS = data.problem_words, WAITING = data.waiting;
  const $ = (id) => document.getElementById(id);
  const table = $("report-table"), body = $("rows-body"), filter = $("filter");
  const sourceSel = $("source-filter"), statusSel = $("status-filter"), syncSel = $("sync-filter");
  let view = [], page = 0, sortCol = -1, sortDir = 1, hay = new Array(rows.length);
  let printing = false;

  const pad = (n) => String(n).padStart(2, "0");
  const wib = (v) => {
    if (!v) return "";
    const d = new Date(Date.parse(v) + 7 * 3600 * 1000);
    return `${pad(d.getUTCDate())}-${pad(d.getUTCMonth() + 1)}-${d.getUTCFullYear()} ` +
      `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
  };
  const TIMES = cols.filter((c) => c.endsWith("_at")).map((c) => I[c]);
  const problemLabel = (part) => {
    const w = WORDS.find((k) => part.startsWith(k[0]));
    return w ? w[1] + part.slice(w[0].length).replace(", national ", ", LAPOR ") : part;
  };
  const localName = (r) => {
    const v = r[I.local_status], names = LOCAL[r[I.source]] || {};
    return v && names[v] ? names[v] : "";
  };
  // waiting on LAPOR's admin alone: not in sync, but nothing for an operator to do
  const waitingOnly = (r) => r[I.problem] === WAITING;
  const haystack = (i) => {
    if (hay[i] === undefined) {
      const r = rows[i];
      const extra = r[I.problem] ? r[I.problem].split("; ").map(problemLabel).join(" ") : "";
      const times = TIMES.map((j) => wib(r[j])).join(" ");
      hay[i] = [r.join(" "), extra, times, STATUS[r[I.status]] || "", localName(r),
        NATIONAL[r[I.national_status]] || "",
        r[I.in_sync] ? "sinkron" : waitingOnly(r) ? "menunggu" : "bermasalah"]
        .join(" ").toLowerCase();
    }
    return hay[i];
  };

  const addOptions = (select, values, label) => {
    for (const v of values) {
      const o = document.createElement("option");
      o.value = v; o.textContent = label ? label(v) : v;
      select.appendChild(o);
    }
  };
  addOptions(sourceSel, [...new Set(rows.map((r) => r[I.source]))].sort());
  addOptions(statusSel, [...new Set(rows.map((r) => r[I.status]))].sort(), (v) => STATUS[v] || v);

  const span = (cls, text) => {
    const s = document.createElement("span");
    s.className = cls; s.textContent = text; return s;
  };
  const headRow = $("head-row");
  cols.forEach((c, i) => {
    const th = document.createElement("th");
    const b = document.createElement("button");
    b.type = "button"; b.textContent = labels[c][0]; b.dataset.col = c;
    const en = document.createElement("small");
    en.textContent = labels[c][1]; b.appendChild(en);
    b.addEventListener("click", () => sortBy(i));
    th.appendChild(b);
    // a printed header repeats on every page, where Chromium paints no button: plain text
    const printed = span("printed", labels[c][0]);
    printed.appendChild(document.createElement("small")).textContent = labels[c][1];
    th.appendChild(printed);
    if (!data.main.includes(c)) th.className = "extra";
    headRow.appendChild(th);
  });

  // in sync sorts after waiting on LAPOR, which sorts after every other problem
  const key = (r, j) => j === I.in_sync ? (r[j] ? 2 : waitingOnly(r) ? 1 : 0) : r[j];
  // empty cells last in either direction, ties in the report's own order
  const cmp = (a, b) => {
    const ea = a === null || a === "", eb = b === null || b === "";
    if (ea || eb) return ea === eb ? 0 : ea ? 1 : -1;
    return sortDir * (a < b ? -1 : a > b ? 1 : 0);
  };
  const sortView = () => {
    if (sortCol < 0) return;
    view.sort((x, y) => cmp(key(rows[x], sortCol), key(rows[y], sortCol)) || x - y);
  };
  const sortBy = (i) => {
    sortDir = sortCol === i ? -sortDir : 1; sortCol = i;
    headRow.querySelectorAll("th").forEach((th, j) => {
      if (j === i) th.setAttribute("aria-sort", sortDir > 0 ? "ascending" : "descending");
      else th.removeAttribute("aria-sort");
    });
    sortView(); page = 0; render();
  };

  const cell = (c, v, r) => {
    const td = document.createElement("td");
    td.dataset.col = c;
    if (!data.main.includes(c)) td.className = "extra";
    if (c === "status") {
      if (v) {
        const s = span("pill", STATUS[v] || v);
        s.style.background = COLORS[v] || "#64748b"; td.appendChild(s);
      }
    } else if (c === "in_sync") {
      td.appendChild(v ? span("ok", "✓ Ya") : waitingOnly(r) ?
        span("wait-mark", "… Menunggu LAPOR") : span("no", "✗ Tidak"));
    } else if (c === "problem") {
      for (const part of v ? v.split("; ") : []) {
        const s = span(part === WAITING ? "badge wait" : "badge", problemLabel(part));
        s.title = part; td.appendChild(s);
      }
    } else if (c === "national_status") {
      if (v !== null) {
        td.textContent = NATIONAL[v] || String(v); td.appendChild(span("code", " · " + v));
      }
    } else if (c === "local_status") {
      const name = localName(r);
      td.textContent = name || v;
      // a code (Ujar's 0–9) is kept beside its name; a name that is the status itself is not
      if (name && !name.toLowerCase().startsWith(String(v).toLowerCase().replace(/_/g, " "))) {
        td.appendChild(span("code", " · " + v));
      }
    } else if (typeof v === "boolean") {
      td.textContent = v ? "Ya" : "Tidak";
    } else if (c.endsWith("_at")) {
      td.className += " time"; td.textContent = wib(v); if (v) td.title = v;
    } else {
      td.textContent = v === null ? "" : String(v);
      if (c === "local_id" || c === "tracking_id") td.className += " id";
    }
    if (c === "tracking_id" && r[I.confidential]) {
      const s = span("lock", " (rahasia)"); s.title = "Confidential: metadata only";
      td.appendChild(s);
    }
    return td;
  };

  // on screen one page of the view; printed (or saved as PDF), all of it
  const render = () => {
    const pages = Math.max(1, Math.ceil(view.length / PAGE));
    page = Math.min(page, pages - 1);
    const shown = printing ? view : view.slice(page * PAGE, (page + 1) * PAGE);
    const frag = document.createDocumentFragment();
    for (const i of shown) {
      const r = rows[i], tr = document.createElement("tr");
      if (!r[I.in_sync]) tr.className = waitingOnly(r) ? "waiting" : "bad";
      cols.forEach((c, j) => tr.appendChild(cell(c, r[j], r)));
      frag.appendChild(tr);
    }
    body.replaceChildren(frag);
    const n = (x) => x.toLocaleString("id-ID");
    if (printing) {
      $("count").textContent = `Semua ${n(view.length)} rekaman (total ${n(rows.length)})` +
        ` / all ${view.length} records`;
    } else {
      const from = view.length ? page * PAGE + 1 : 0, to = Math.min(view.length, (page + 1) * PAGE);
      $("count").textContent = `Menampilkan ${n(from)}–${n(to)} dari ${n(view.length)} ` +
        `(total ${n(rows.length)}) / showing ${from}–${to} of ${view.length}`;
    }
    $("page").textContent = `Halaman ${page + 1} / ${pages}`;
    $("prev").disabled = page === 0; $("next").disabled = page >= pages - 1;
    document.body.dataset.rendered = String(shown.length);
  };
  const printMode = (on) => {
    if (printing === on) return;
    printing = on; render();
  };
  window.addEventListener("beforeprint", () => printMode(true));
  window.addEventListener("afterprint", () => printMode(false));
  const printQuery = window.matchMedia("print");
  printQuery.addEventListener("change", (e) => printMode(e.matches));

  const apply = () => {
    const terms = filter.value.toLowerCase().split(/\s+/).filter(Boolean);
    const src = sourceSel.value, st = statusSel.value, sync = syncSel.value;
    view = [];
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i];
      if (src && r[I.source] !== src) continue;
      if (st && r[I.status] !== st) continue;
      if (sync === "yes" && !r[I.in_sync]) continue;
      if (sync === "no" && (r[I.in_sync] || waitingOnly(r))) continue;
      if (sync === "waiting" && !waitingOnly(r)) continue;
      if (terms.length && !terms.every((t) => haystack(i).includes(t))) continue;
      view.push(i);
    }
    sortView(); page = 0; render();
    document.body.dataset.filter = filter.value;  // what the table now shows
  };

  let timer = 0;
  filter.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(apply, 120); });
  for (const s of [sourceSel, statusSel, syncSel]) s.addEventListener("change", apply);
  $("all-columns").addEventListener("change", (e) => {
    table.classList.toggle("all", e.target.checked);
  });
  $("prev").addEventListener("click", () => { page--; render(); });
  $("next").addEventListener("click", () => { page++; render(); });
  printing = printQuery.matches;
  apply();
  sortBy(I.in_sync);  // what needs attention first
  document.body.dataset.ready = "1";
})();
"""


def _json_for_script(value: object) -> str:
    """JSON that cannot end the ``<script>`` element it sits in."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _period(filters: Filters) -> str:
    def day(value: datetime | None) -> str:
        return f"{value.astimezone(WIB):%d-%m-%Y %H:%M} WIB" if value else "…"

    if filters.since is None and filters.until is None:
        return "semua waktu / all time"
    return f"{day(filters.since)} – {day(filters.until)}"


#: the page may load nothing: no script, style, image, font or connection from anywhere
CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"


def _head(filters: Filters, now: datetime) -> str:
    sources = ", ".join(filters.sources) if filters.sources else "semua / all"
    return f"""<!DOCTYPE html>
<html lang="id">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<title>Laporan Rekonsiliasi LAPOR-SP4N — {now.astimezone(WIB):%d-%m-%Y}</title>
<style>{CSS}</style>
</head>
<body>
<header>
<h1>Laporan Rekonsiliasi LAPOR-SP4N <span class="en">/ Reconciliation report</span></h1>
<p>Dibuat / generated {now.astimezone(WIB):%d-%m-%Y %H:%M} WIB · Sumber / sources: {_e(sources)}
 · Periode pengaduan / filed: {_e(_period(filters))}</p>
<p>Tanpa data pribadi pelapor (nama, telepon, NIK); pengaduan rahasia hanya berupa metadata.
 / No reporter's personal data; confidential complaints show metadata only.</p>
</header>
<main>
<section class="card table-card" aria-labelledby="table-title">
<h2 id="table-title">Semua rekaman <span class="en">/ All records</span></h2>
<div class="controls">
<input id="filter" type="search" autocomplete="off"
 placeholder="Cari / search: tiket, ID, OPD, masalah…" aria-label="Cari / search">
<select id="source-filter" aria-label="Sumber / source">
<option value="">Semua sumber / all sources</option></select>
<select id="status-filter" aria-label="Status">
<option value="">Semua status / all statuses</option></select>
<select id="sync-filter" aria-label="Sinkron / in sync">
<option value="">Sinkron &amp; bermasalah / all</option>
<option value="no">Hanya bermasalah / problems only</option>
<option value="waiting">Menunggu verifikasi LAPOR / waiting on LAPOR</option>
<option value="yes">Hanya sinkron / in sync only</option></select>
<label><input id="all-columns" type="checkbox"> Semua kolom / all columns</label>
</div>
<div class="count" id="count" aria-live="polite"></div>
<div class="scroll"><table id="report-table"><thead><tr id="head-row"></tr></thead>
<tbody id="rows-body"></tbody></table></div>
<div class="pager"><button id="prev" type="button">‹ Sebelumnya</button><span id="page"></span>
<button id="next" type="button">Berikutnya ›</button></div>
</section>
"""


def _tile(number: int | str, title: str, english: str, tone: str = "", note: str = "") -> str:
    extra = f"<div class='t en'>{_e(note)}</div>" if note else ""
    return (
        f"<div class='tile {tone}'><div class='n'>{_e(number)}</div>"
        f"<div class='t'>{_e(title)} <span class='en'>/ {_e(english)}</span></div>{extra}</div>"
    )


def tiles_html(summary: Summary, sla: SlaSummary) -> str:
    """The summary tiles: totals, problems by kind, each promise's breaches."""
    share = f"{100 * summary.in_sync / summary.total:.0f}%" if summary.total else "–"
    tiles = [
        _tile(_num(summary.total), "Total rekaman", "Records"),
        _tile(_num(summary.in_sync), "Sinkron", "In sync", "good", share),
        _tile(
            _num(summary.attention),
            "Perlu perhatian",
            "Need attention",
            "warn" if summary.attention else "",
        ),
    ]
    for kind, title, english in PROBLEM_KINDS:
        n = summary.kinds.get(kind, 0)
        tiles.append(_tile(_num(n), title, english, "warn" if n else ""))
    for clock in CLOCK_TEXTS.values():
        if not any(a.promises.get(clock.key) is not None for a in sla.accounts):
            continue
        promise = sla.promises.get(clock.key)
        # the tile counts what the city sections list: the same complaints, the same clock
        over = sum(b.clock == clock.key for b in sla.breaches)
        tiles.append(
            _tile(
                _num(over),
                f"Lewat janji: {clock.title}"
                + (f" ≤{promise:g} hk" if promise is not None else " (janji per kota)"),
                f"over the promise: {clock.english}",
                "warn" if over else "",
            )
        )
    return f"<section class='tiles' aria-label='Ringkasan / summary'>{''.join(tiles)}</section>\n"


def charts_html(summary: Summary, today: date) -> str:
    charts = (
        (
            "Status per sumber",
            "Status by source",
            status_by_source_html(summary.by_source),
            "Status akhir setiap rekaman per aplikasi. / Converged status of each record.",
        ),
        (
            "Tunggakan dari waktu ke waktu",
            "Backlog over time",
            backlog_svg(backlog_points(summary.opened, summary.closed, today)),
            "Pengaduan yang masih terbuka pada akhir setiap periode. / Complaints still open.",
        ),
    )
    cards = "".join(
        f"<figure class='card'><h2>{_e(t)} <span class='en'>/ {_e(en)}</span>"
        f"</h2>{chart}<p>{_e(caption)}</p></figure>"
        for t, en, chart, caption in charts
    )
    return f"<section class='charts' aria-label='Grafik / charts'>{cards}</section>\n"


NOTES = """<section class="card notes" aria-labelledby="notes-title">
<h2 id="notes-title">Cara membaca <span class="en">/ How to read this report</span></h2>
<dl>
<dt>Sinkron / In sync</dt><dd>Aplikasi kota dan LAPOR menunjukkan status dan tindak lanjut yang
 sama, dan tidak ada yang menunggu. / Both sides show the same status and follow-ups, and
 nothing is waiting.</dd>
<dt>Menunggu verifikasi LAPOR / Waiting on LAPOR</dt><dd>Pengaduan sudah di LAPOR tetapi belum
 diverifikasi admin LAPOR (Belum Terverifikasi, Ditunda); bukan sinkron, tetapi tidak ada yang
 harus dikerjakan jembatan. / On LAPOR, not yet verified by its admin: not in sync, nothing for
 the bridge to do.</dd>
<dt>Konflik status / Conflict</dt><dd>Satu sisi "Selesai", sisi lain "Ditolak"; tidak ada yang
 ditimpa, perlu keputusan petugas. / One side done, the other rejected: a person decides.</dd>
<dt>Status berbeda / Status drift</dt><dd>Status kedua sisi berbeda tanpa alasan yang sah.
 / The two sides disagree and no rule explains it.</dd>
<dt>Dikarantina / Quarantined</dt><dd>Rekaman tidak dapat diproses; alasannya tertulis.
 / The record could not be processed; the reason is shown.</dd>
<dt>Diragukan / In doubt</dt><dd>Pengaduan dikirim ke LAPOR tetapi jawabannya hilang; dicari
 kembali otomatis. / Sent to LAPOR, answer lost; looked up again automatically.</dd>
<dt>Hari kerja (hk) / Working days</dt><dd>Senin–Jumat WIB tanpa libur nasional, cuti bersama
 dan libur daerah. Setiap janji diukur dengan jamnya sendiri, dan garis janji hanya digambar
 pada jam itu; median, p90 dan pelanggaran berasal dari pengaduan yang sama. / Mon–Fri WIB
 without public holidays, collective leave and local holidays. Each promise is measured on
 its own clock, its line drawn on that clock only; median, p90 and breaches come from the
 same complaints.</dd>
<dt>Jam yang masih berjalan / Running clocks</dt><dd>Dihitung (dan tercatat sebagai
 pelanggaran "belum") begitu melewati janjinya. / Counted, and listed as an open breach,
 once past its promise.</dd>
</dl>
</section>
"""


def _data_prefix(
    status_names: Mapping[str, Mapping[str, str]], national_names: Mapping[int, str]
) -> str:
    meta = {
        "columns": list(COLUMNS),
        "labels": COLUMN_LABELS,
        "main": list(MAIN_COLUMNS),
        "status_labels": {k: v for k, v in STATUS_LABELS.items() if k},
        "status_colors": {k: v for k, v in STATUS_COLORS.items() if k},
        "national_names": {str(k): v for k, v in national_names.items()},
        "local_names": {source: dict(names) for source, names in status_names.items()},
        "problem_words": [list(pair) for pair in PROBLEM_WORDS],
        "waiting": WAITING_ON_LAPOR,
    }
    head = _json_for_script(meta)
    return f'<script id="report-data" type="application/json">{head[:-1]},"rows":['


def write_html(
    report_rows: Iterable[ReportRow],
    out: TextIO,
    *,
    filters: Filters,
    now: datetime,
    sla: SlaSummary,
    status_names: Mapping[str, Mapping[str, str]] | None = None,
    national_names: Mapping[int, str] | None = None,
) -> int:
    """Write the page, streaming the rows into its data block; returns the number of rows.

    ``sla`` is the SLA report the city sections show (:func:`bridge.reports.sla.compute`).
    ``status_names`` reads each source's raw statuses: ``{source: {raw: readable}}``
    (each adapter's ``STATUS_NAMES``), ``national_names`` LAPOR's codes (its adapter's
    vocabulary); a status without a name is shown as it is.
    """
    summary = Summary()
    out.write(_head(filters, now))
    out.write(_data_prefix(status_names or {}, national_names or {}))
    count = 0
    for row in report_rows:
        if count:
            out.write(",")
        out.write(_json_for_script(list(row)))
        summary.add(row)
        count += 1
    out.write("]}</script>\n")
    out.write(tiles_html(summary, sla))
    out.write(charts_html(summary, now.astimezone(WIB).date()))
    out.write(cities_html(sla))
    out.write(NOTES)
    out.write(
        "</main>\n<footer>lapor-bridge · laporan rekonsiliasi / reconciliation report</footer>\n"
        f"<script>{JS}</script>\n</body>\n</html>\n"
    )
    return count
