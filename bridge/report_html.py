"""The reconciliation report as one self-contained HTML page for auditors.

Everything is inline: CSS, the script, the charts (SVG drawn here), and the
rows (a JSON block the script pages through, so a large report keeps a small
DOM). The page loads nothing: a Content-Security-Policy forbids any request.
Labels are Indonesian with English glosses.

The rows are written as they are read; the summary tiles and the charts need
every row, so they are written after the rows and shown above them by the
layout (CSS ``order``). Charts: status by source, the backlog of open
complaints over time, and each agency's time to first response.

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

from bridge.report import COLUMNS, Filters, ReportRow
from bridge.sla import FOLLOWUP_PROMISE, GroupStats, SlaCollector, SlaReport, WorkCalendar
from bridge.timefmt import WIB, parse_rfc3339

#: canonical statuses in the order of the workflow, "" for unknown, with their labels
#: how the status-by-source chart names the national-only rows (no source)
NATIONAL_ONLY = "(LAPOR only)"
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
    ("quarantined:", "Dikarantina:"),
    ("in doubt", "Diragukan (jawaban LAPOR hilang)"),
    ("no local record", "Belum ada di aplikasi kota"),
    ("duplicate of", "Duplikat dari"),
    ("status drift: local", "Status berbeda: lokal"),
    ("follow-ups pending:", "Tindak lanjut tertunda:"),
    ("follow-ups failed:", "Tindak lanjut gagal:"),
    ("not linked", "No. tiket belum tertulis di aplikasi kota"),
)
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
    kinds: Counter[str] = field(default_factory=Counter)
    by_source: dict[str, Counter[str]] = field(default_factory=dict)
    opened: Counter[date] = field(default_factory=Counter)
    closed: Counter[date] = field(default_factory=Counter)

    def add(self, row: ReportRow) -> None:
        self.total += 1
        self.in_sync += row.in_sync
        self.kinds.update(problem_kinds(row.problem))
        source = row.source or NATIONAL_ONLY
        self.by_source.setdefault(source, Counter())[row.status] += 1
        opened = _wib_date(row.created_at or row.first_synced_at)
        if opened is not None and not row.duplicate_of:
            self.opened[opened] += 1
            closed = _wib_date(row.closed_at)
            if closed is not None:
                self.closed[closed] += 1


# --- charts -------------------------------------------------------------------------------

_FONT = "font-family='system-ui,sans-serif'"


def _short(name: str, limit: int = 24) -> str:
    """A label that fits the chart's margin; the full name is in the tooltip."""
    return name if len(name) <= limit else name[: limit - 1].rstrip() + "…"


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


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


def _empty_svg(width: int, message: str) -> str:
    return (
        f"<svg viewBox='0 0 {width} 60' role='img' aria-label='{_e(message)}'>"
        f"<text x='{width // 2}' y='34' text-anchor='middle' fill='#64748b' {_FONT}"
        f" font-size='14'>{_e(message)}</text></svg>"
    )


NO_DATA = "Belum ada data / no data yet"


def status_by_source_svg(by_source: Mapping[str, Mapping[str, int]]) -> str:
    """Horizontal stacked bars: one per source, a segment per canonical status."""
    if not by_source:
        return _empty_svg(640, NO_DATA)
    width, label_w, count_w, bar_h, gap, legend_h = 640, 120, 56, 24, 10, 54
    plot_w = width - label_w - count_w
    height = legend_h + len(by_source) * (bar_h + gap)
    parts = [
        f"<svg viewBox='0 0 {width} {height}' role='img'"
        " aria-label='Status per sumber / status by source'>"
    ]
    for i, status in enumerate(STATUS_ORDER):
        lx, ly = (i % 3) * 210, 6 + (i // 3) * 22
        parts.append(
            f"<rect x='{lx}' y='{ly}' width='14' height='14' rx='3'"
            f" fill='{STATUS_COLORS[status]}'/><text x='{lx + 20}' y='{ly + 12}' font-size='13'"
            f" {_FONT} fill='#334155'>{_e(STATUS_LABELS[status])}</text>"
        )
    for row, (source, counts) in enumerate(sorted(by_source.items())):
        total = sum(counts.values())
        y = legend_h + row * (bar_h + gap)
        parts.append(
            f"<text x='{label_w - 8}' y='{y + 17}' text-anchor='end' font-size='13' {_FONT}"
            f" fill='#0f172a'>{_e(source)}</text>"
        )
        x = float(label_w)
        for status in STATUS_ORDER:
            n = counts.get(status, 0)
            if not n:
                continue
            w = plot_w * n / total
            parts.append(
                f"<rect x='{x:.1f}' y='{y}' width='{w:.1f}' height='{bar_h}'"
                f" fill='{STATUS_COLORS[status]}'><title>{_e(source)}:"
                f" {_e(STATUS_LABELS[status])} — {n}</title></rect>"
            )
            if w > 28:
                parts.append(
                    f"<text x='{x + w / 2:.1f}' y='{y + 17}' text-anchor='middle'"
                    f" font-size='12' {_FONT} fill='#fff'>{n}</text>"
                )
            x += w
        parts.append(
            f"<text x='{width - count_w + 8}' y='{y + 17}' font-size='13' {_FONT}"
            f" fill='#334155'>{total}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


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


def backlog_svg(points: Sequence[tuple[date, int]]) -> str:
    """The number of open complaints over time, as an area under a line."""
    if not points:
        return _empty_svg(640, NO_DATA)
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


def agency_svg(groups: Sequence[GroupStats]) -> str:
    """Each agency's median time to first response (bar) and 90th percentile (whisker)."""
    measured = [g for g in groups if g.first_response_median is not None]
    if not measured:
        return _empty_svg(640, NO_DATA)
    width, label_w, note_w, bar_h, gap, top = 700, 190, 190, 20, 12, 28
    plot_w = width - label_w - note_w
    longest = max(g.first_response_p90 or g.first_response_median or 0.0 for g in measured)
    ticks = nice_ticks(max(longest, float(FOLLOWUP_PROMISE)))
    scale = plot_w / ticks[-1]
    height = top + len(measured) * (bar_h + gap) + 24
    promise_x = label_w + FOLLOWUP_PROMISE * scale
    parts = [
        f"<svg viewBox='0 0 {width} {height}' role='img'"
        " aria-label='Waktu tanggapan OPD / agency response times'>",
        f"<line x1='{promise_x:.1f}' x2='{promise_x:.1f}' y1='{top - 8}' y2='{height - 20}'"
        " stroke='#dc2626' stroke-dasharray='4 3'/>"
        f"<text x='{promise_x:.1f}' y='{top - 12}' text-anchor='middle' font-size='11'"
        f" {_FONT} fill='#dc2626'>{FOLLOWUP_PROMISE} hari kerja / working days</text>",
    ]
    for tick in ticks:
        x = label_w + tick * scale
        parts.append(
            f"<text x='{x:.1f}' y='{height - 6}' text-anchor='middle' font-size='11' {_FONT}"
            f" fill='#64748b'>{tick:g}</text>"
        )
    for i, g in enumerate(measured):
        y = top + i * (bar_h + gap)
        median = g.first_response_median or 0.0
        p90 = g.first_response_p90 or median
        color = "#16a34a" if median <= FOLLOWUP_PROMISE else "#f59e0b"
        note = f"med {median:.1f} · p90 {p90:.1f} · n={g.responded}"
        parts.append(
            f"<text x='{label_w - 8}' y='{y + 15}' text-anchor='end' font-size='13' {_FONT}"
            f" fill='#0f172a'><title>{_e(g.name)}</title>{_e(_short(g.name))}</text>"
            f"<rect x='{label_w}' y='{y}' width='{max(median * scale, 1.5):.1f}'"
            f" height='{bar_h}' rx='3' fill='{color}'><title>{_e(g.name)}: {note}</title></rect>"
            f"<line x1='{label_w + median * scale:.1f}' x2='{label_w + p90 * scale:.1f}'"
            f" y1='{y + bar_h / 2}' y2='{y + bar_h / 2}' stroke='#334155' stroke-width='2'/>"
            f"<line x1='{label_w + p90 * scale:.1f}' x2='{label_w + p90 * scale:.1f}'"
            f" y1='{y + 4}' y2='{y + bar_h - 4}' stroke='#334155' stroke-width='2'/>"
            f"<text x='{width - note_w + 10}' y='{y + 15}' font-size='12' {_FONT}"
            f" fill='#334155'>{_e(note)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


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
  padding: 16px 18px; }
h2 { font-size: 18px; margin: 0 0 10px; }
h2 .en, .tile .en { color: var(--muted); font-weight: 400; }
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
  grid-template-columns: repeat(auto-fit, minmax(540px, 1fr)); }
.charts svg { display: block; width: 100%; max-width: 720px; height: auto; }
.charts p { margin: 4px 0 0; color: var(--muted); font-size: 13px; }
.notes { order: 4; font-size: 14px; }
.notes dt { font-weight: 600; } .notes dd { margin: 0 0 6px 0; color: #334155; }
.table-card { order: 3; }
.controls { display: flex; flex-wrap: wrap; gap: 10px; align-items: center; margin-bottom: 10px; }
.controls input[type=search] { flex: 1 1 280px; padding: 8px 10px; font-size: 15px;
  border: 1px solid #cbd5e1; border-radius: 8px; }
.controls select { padding: 7px; border: 1px solid #cbd5e1; border-radius: 8px; font-size: 14px; }
.count { color: var(--muted); font-size: 14px; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 13.5px; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line);
  vertical-align: top; }
th { position: sticky; top: 0; background: #f1f5f9; }
th button { all: unset; cursor: pointer; font-weight: 600; }
th small { display: block; color: var(--muted); font-weight: 400; }
td.time { white-space: nowrap; }
th button:focus-visible { outline: 2px solid var(--accent); }
th[aria-sort=ascending] button::after { content: " ▲"; }
th[aria-sort=descending] button::after { content: " ▼"; }
tbody tr:nth-child(even) { background: #f8fafc; }
tbody tr.bad { background: #fef2f2; }
table:not(.all) .extra { display: none; }
.pill { display: inline-block; padding: 1px 8px; border-radius: 999px; color: #fff;
  font-size: 12px; white-space: nowrap; }
.badge { display: inline-block; margin: 1px 4px 1px 0; padding: 1px 7px; border-radius: 6px;
  background: #fee2e2; color: var(--bad); font-size: 12px; }
.ok { color: var(--good); font-weight: 600; } .no { color: var(--bad); font-weight: 600; }
.lock { color: var(--muted); font-size: 12px; }
.pager { display: flex; gap: 8px; align-items: center; margin-top: 10px; }
.pager button { padding: 5px 12px; border: 1px solid #cbd5e1; background: #fff;
  border-radius: 6px; cursor: pointer; }
.pager button:disabled { opacity: .4; cursor: default; }
footer { text-align: center; color: var(--muted); font-size: 12px; padding-bottom: 24px; }
@media print { .controls, .pager { display: none; } th { position: static; } }
"""

JS = r"""
(() => {
  "use strict";
  const data = JSON.parse(document.getElementById("report-data").textContent);
  const cols = data.columns, rows = data.rows, labels = data.labels;
  const I = Object.fromEntries(cols.map((c, i) => [c, i]));
  const PAGE = 100;
  const STATUS = data.status_labels, COLORS = data.status_colors;
  const NATIONAL = {10: "Belum diverifikasi", 20: "Ditunda", 30: "Terverifikasi",
    40: "Ditindaklanjuti", 50: "Ditanggapi pelapor", 60: "Selesai", 90: "Diarsipkan"};
  const WORDS = data.problem_words;
  const $ = (id) => document.getElementById(id);
  const table = $("report-table"), body = $("rows-body"), filter = $("filter");
  const sourceSel = $("source-filter"), statusSel = $("status-filter"), syncSel = $("sync-filter");
  let view = [], page = 0, sortCol = -1, sortDir = 1, hay = new Array(rows.length);

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
  const haystack = (i) => {
    if (hay[i] === undefined) {
      const r = rows[i];
      const extra = r[I.problem] ? r[I.problem].split("; ").map(problemLabel).join(" ") : "";
      const times = TIMES.map((j) => wib(r[j])).join(" ");
      hay[i] = [r.join(" "), extra, times, STATUS[r[I.status]] || "",
        r[I.in_sync] ? "sinkron" : "bermasalah"].join(" ").toLowerCase();
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

  const headRow = $("head-row");
  cols.forEach((c, i) => {
    const th = document.createElement("th");
    const b = document.createElement("button");
    b.type = "button"; b.textContent = labels[c][0]; b.dataset.col = c;
    const en = document.createElement("small");
    en.textContent = labels[c][1]; b.appendChild(en);
    b.addEventListener("click", () => sortBy(i));
    th.appendChild(b);
    if (!data.main.includes(c)) th.className = "extra";
    headRow.appendChild(th);
  });

  // empty cells last in either direction, ties in the report's own order
  const cmp = (a, b) => {
    const ea = a === null || a === "", eb = b === null || b === "";
    if (ea || eb) return ea === eb ? 0 : ea ? 1 : -1;
    return sortDir * (a < b ? -1 : a > b ? 1 : 0);
  };
  const sortView = () => {
    if (sortCol < 0) return;
    view.sort((x, y) => cmp(rows[x][sortCol], rows[y][sortCol]) || x - y);
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
    if (!data.main.includes(c)) td.className = "extra";
    if (c === "status") {
      if (v) {
        const s = document.createElement("span");
        s.className = "pill"; s.style.background = COLORS[v] || "#64748b";
        s.textContent = STATUS[v] || v; td.appendChild(s);
      }
    } else if (c === "in_sync") {
      const s = document.createElement("span");
      s.className = v ? "ok" : "no"; s.textContent = v ? "✓ Ya" : "✗ Tidak"; td.appendChild(s);
    } else if (c === "problem") {
      for (const part of v ? v.split("; ") : []) {
        const s = document.createElement("span");
        s.className = "badge"; s.title = part; s.textContent = problemLabel(part);
        td.appendChild(s);
      }
    } else if (c === "national_status") {
      td.textContent = v === null ? "" : v + (NATIONAL[v] ? " · " + NATIONAL[v] : "");
    } else if (typeof v === "boolean") {
      td.textContent = v ? "Ya" : "Tidak";
    } else if (c.endsWith("_at")) {
      td.className += " time"; td.textContent = wib(v); if (v) td.title = v;
    } else {
      td.textContent = v === null ? "" : String(v);
    }
    if (c === "tracking_id" && r[I.confidential]) {
      const s = document.createElement("span");
      s.className = "lock"; s.textContent = " 🔒 rahasia"; s.title = "Confidential: metadata only";
      td.appendChild(s);
    }
    return td;
  };

  const render = () => {
    const pages = Math.max(1, Math.ceil(view.length / PAGE));
    page = Math.min(page, pages - 1);
    const frag = document.createDocumentFragment();
    for (const i of view.slice(page * PAGE, (page + 1) * PAGE)) {
      const r = rows[i], tr = document.createElement("tr");
      if (!r[I.in_sync]) tr.className = "bad";
      cols.forEach((c, j) => tr.appendChild(cell(c, r[j], r)));
      frag.appendChild(tr);
    }
    body.replaceChildren(frag);
    const from = view.length ? page * PAGE + 1 : 0, to = Math.min(view.length, (page + 1) * PAGE);
    const n = (x) => x.toLocaleString("id-ID");
    $("count").textContent = `Menampilkan ${n(from)}–${n(to)} dari ${n(view.length)} ` +
      `(total ${n(rows.length)}) / showing ${from}–${to} of ${view.length}`;
    $("page").textContent = `Halaman ${page + 1} / ${pages}`;
    $("prev").disabled = page === 0; $("next").disabled = page >= pages - 1;
  };

  const apply = () => {
    const terms = filter.value.toLowerCase().split(/\s+/).filter(Boolean);
    const src = sourceSel.value, st = statusSel.value, sync = syncSel.value;
    view = [];
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i];
      if (src && r[I.source] !== src) continue;
      if (st && r[I.status] !== st) continue;
      if (sync === "yes" && !r[I.in_sync]) continue;
      if (sync === "no" && r[I.in_sync]) continue;
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


def tiles_html(summary: Summary, sla: SlaReport) -> str:
    """The summary tiles: totals, problems by kind, promises broken."""
    share = f"{100 * summary.in_sync / summary.total:.0f}%" if summary.total else "–"
    verification = sum(b.promise == "verification" for b in sla.breaches)
    followup = len(sla.breaches) - verification
    tiles = [
        _tile(f"{summary.total:,}".replace(",", "."), "Total rekaman", "Records"),
        _tile(f"{summary.in_sync:,}".replace(",", "."), "Sinkron", "In sync", "good", share),
        _tile(
            summary.total - summary.in_sync,
            "Perlu perhatian",
            "Need attention",
            "warn" if summary.total - summary.in_sync else "",
        ),
    ]
    for kind, title, english in PROBLEM_KINDS:
        n = summary.kinds.get(kind, 0)
        tiles.append(_tile(n, title, english, "warn" if n else ""))
    tiles.append(
        _tile(
            len(sla.breaches),
            "Lewat janji layanan",
            "SLA breaches",
            "warn" if sla.breaches else "",
            f"verifikasi 3h: {verification} · tindak lanjut 5h: {followup}",
        )
    )
    median = sla.total.first_response_median
    tiles.append(
        _tile(
            f"{median:.1f}" if median is not None else "–",
            "Median tanggapan pertama (hari kerja)",
            "median first response, working days",
        )
    )
    return f"<section class='tiles' aria-label='Ringkasan / summary'>{''.join(tiles)}</section>\n"


def charts_html(summary: Summary, sla: SlaReport, today: date) -> str:
    charts = (
        (
            "Status per sumber",
            "Status by source",
            status_by_source_svg(summary.by_source),
            "Status akhir setiap rekaman per aplikasi. / Converged status of each record.",
        ),
        (
            "Tunggakan dari waktu ke waktu",
            "Backlog over time",
            backlog_svg(backlog_points(summary.opened, summary.closed, today)),
            "Pengaduan yang masih terbuka pada akhir setiap periode. / Complaints still open.",
        ),
        (
            "Kecepatan tanggapan OPD",
            "Agency response times",
            agency_svg(sla.by_agency),
            "Hari kerja dari pengaduan masuk sampai tanggapan pertama di LAPOR: median (batang)"
            " dan persentil 90 (garis). / Working days from filing to the first answer on LAPOR.",
        ),
    )
    cards = "".join(
        f"<figure class='card' style='margin:0'><h2>{_e(t)} <span class='en'>/ {_e(en)}</span>"
        f"</h2>{svg}<p>{_e(caption)}</p></figure>"
        for t, en, svg, caption in charts
    )
    return f"<section class='charts' aria-label='Grafik / charts'>{cards}</section>\n"


NOTES = """<section class="card notes" aria-labelledby="notes-title">
<h2 id="notes-title">Cara membaca <span class="en">/ How to read this report</span></h2>
<dl>
<dt>Sinkron / In sync</dt><dd>Aplikasi kota dan LAPOR menunjukkan status dan tindak lanjut yang
 sama. / Both sides show the same status and follow-ups.</dd>
<dt>Konflik status / Conflict</dt><dd>Satu sisi "Selesai", sisi lain "Ditolak"; tidak ada yang
 ditimpa, perlu keputusan petugas. / One side done, the other rejected: a person decides.</dd>
<dt>Status berbeda / Status drift</dt><dd>Status kedua sisi berbeda tanpa alasan yang sah.
 / The two sides disagree and no rule explains it.</dd>
<dt>Dikarantina / Quarantined</dt><dd>Rekaman tidak dapat diproses; alasannya tertulis.
 / The record could not be processed; the reason is shown.</dd>
<dt>Diragukan / In doubt</dt><dd>Pengaduan dikirim ke LAPOR tetapi jawabannya hilang; dicari
 kembali otomatis. / Sent to LAPOR, answer lost; looked up again automatically.</dd>
<dt>Hari kerja / Working days</dt><dd>Senin–Jumat WIB tanpa libur nasional; janji layanan:
 verifikasi LAPOR 3 hari kerja, tindak lanjut OPD 5 hari kerja. / Mon–Fri WIB without public
 holidays; LAPOR verifies within 3, the agency follows up within 5 working days.</dd>
</dl>
</section>
"""


def _data_prefix() -> str:
    meta = {
        "columns": list(COLUMNS),
        "labels": COLUMN_LABELS,
        "main": list(MAIN_COLUMNS),
        "status_labels": {k: v for k, v in STATUS_LABELS.items() if k},
        "status_colors": {k: v for k, v in STATUS_COLORS.items() if k},
        "problem_words": [list(pair) for pair in PROBLEM_WORDS],
    }
    head = _json_for_script(meta)
    return f'<script id="report-data" type="application/json">{head[:-1]},"rows":['


def write_html(
    report_rows: Iterable[ReportRow],
    out: TextIO,
    *,
    filters: Filters,
    now: datetime,
    calendar: WorkCalendar | None = None,
) -> int:
    """Write the page, streaming the rows into its data block; returns the number of rows."""
    summary = Summary()
    collector = SlaCollector(calendar or WorkCalendar(), now)
    out.write(_head(filters, now))
    out.write(_data_prefix())
    count = 0
    for row in report_rows:
        if count:
            out.write(",")
        out.write(_json_for_script(list(row)))
        summary.add(row)
        collector.add(row)
        count += 1
    out.write("]}</script>\n")
    sla = collector.result()
    out.write(tiles_html(summary, sla))
    out.write(charts_html(summary, sla, now.astimezone(WIB).date()))
    out.write(NOTES)
    out.write(
        "</main>\n<footer>lapor-bridge · laporan rekonsiliasi / reconciliation report</footer>\n"
        f"<script>{JS}</script>\n</body>\n</html>\n"
    )
    return count
