"""The HTML report at an auditor's screen widths and on paper, in a real headless Chromium.

issue 18: at 1400 and 1024 px wide nothing overflows and no label is clipped
(long agency names kept whole); printed, or saved as PDF with Chromium's own
``--print-to-pdf``, the report holds every row — not the first page of 100 —
and the apps' raw statuses read as names. Screenshots land in
``test-artifacts/``.
"""

from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters import registry
from bridge.core.timefmt import parse_rfc3339
from bridge.reports import report_html, sla
from bridge.reports.report import WAITING_ON_LAPOR, Filters, ReportRow
from tests.test_report_html_browser import ARTIFACTS, CHROMIUM, DevTools
from tests.test_report_html_browser import chromium as chromium  # the fixture

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium binary on PATH (Debian package 'chromium')"
)

NOW = datetime(2026, 3, 2, 3, tzinfo=UTC)
#: longer than any chart margin: the old SVG chart cut such names at its left edge
LONG_AGENCY = "Dinas Perumahan Rakyat, Kawasan Permukiman dan Pertanahan Kota Tanjungpinang"
AGENCIES = (
    LONG_AGENCY,
    "Dinas Pekerjaan Umum dan Penataan Ruang",
    "Dinas Lingkungan Hidup",
    "PUPR",
    "",
)
SOURCES = ("tanjak", "ujar", "sambat")
#: raw statuses by source, in the order submitted → rejected
RAW = {
    "tanjak": ("baru", "diverifikasi", "diproses", "selesai", "ditolak"),
    "ujar": ("0", "1", "2", "3", "9"),
    "sambat": ("Menunggu", "Diverifikasi", "Diproses", "Selesai", "Ditolak"),
}
CANONICAL = ("submitted", "verified", "in_progress", "done", "rejected")
NATIONAL = (10, 30, 40, 60, 90)
ROWS = 260


def _t(moment: datetime | None) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds") if moment else ""


def _rows(count: int = ROWS) -> list[ReportRow]:
    """``count`` rows over three apps and five agencies, every status, some waiting on LAPOR."""
    start = datetime(2026, 1, 5, 2, tzinfo=UTC)
    out = []
    for i in range(count):
        source = SOURCES[i % 3]
        stage = i % 5
        filed = start + timedelta(hours=7 * i)
        synced = filed + timedelta(minutes=5)
        verified = filed + timedelta(days=1 + i % 4) if stage else None
        answered = verified + timedelta(days=1 + i % 7) if verified and stage >= 2 else None
        closed = answered + timedelta(days=2) if answered and stage >= 3 else None
        out.append(
            ReportRow(
                source=source,
                local_id=f"RPT-{i:04d}",
                tracking_id=f"#{9170000 + i}",
                origin="local",
                local_status=RAW[source][stage],
                national_status=NATIONAL[stage],
                status=CANONICAL[stage],
                in_sync=stage != 0,
                duplicate_of="",
                created_at=_t(filed),
                first_synced_at=_t(synced),
                last_synced_at=_t(synced + timedelta(days=10)),
                problem=WAITING_ON_LAPOR if stage == 0 else "",
                agency=AGENCIES[(i // 5) % len(AGENCIES)],
                category="Infrastruktur",
                confidential=i % 11 == 0,
                anonymous=False,
                verified_at=_t(verified),
                first_response_at=_t(answered),
                closed_at=_t(closed),
            )
        )
    return out


#: two cities, one of them with two apps
ACCOUNTS = {"tanjak": "tanjungpinang", "ujar": "tanjungpinang", "sambat": "malang"}


def _at(text: str) -> datetime | None:
    return parse_rfc3339(text) if text else None


def _summary(rows: list[ReportRow]) -> sla.SlaSummary:
    """The SLA report of the same complaints, from each row's moments."""
    rules = sla.Rules(sources=ACCOUNTS)
    tally = sla.SlaTally(rules, sla.Scope(*sla.this_year(NOW)), NOW)
    for r in rows:
        filed = parse_rfc3339(r.created_at)
        tally.add(
            sla.Moments(
                account=ACCOUNTS[r.source],
                source=r.source,
                local_id=r.local_id,
                tracking_id=r.tracking_id,
                agency=r.agency or sla.NOT_ASSIGNED,
                filed=filed,
                in_app=filed,
                on_lapor=_at(r.first_synced_at),
                verified=_at(r.verified_at),
                unverified=r.national_status == 10,
                responded=_at(r.first_response_at),
                closed=_at(r.closed_at),
                done=_at(r.closed_at) if r.status == "done" else None,
            )
        )
    return tally.result()


def _write(path: Path, rows: list[ReportRow]) -> None:
    names = {source: registry.KINDS[source].status_names for source in SOURCES}
    out = io.StringIO()
    report_html.write_html(
        rows, out, filters=Filters(), now=NOW, sla=_summary(rows), status_names=names
    )
    path.write_text(out.getvalue(), encoding="utf-8")


def _open(devtools: DevTools, url: str, width: int) -> str:
    target = devtools.call("Target.createTarget", url="about:blank")["targetId"]
    session = devtools.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
    for domain in ("Runtime", "Page"):
        devtools.call(f"{domain}.enable", session)
    devtools.call(
        "Emulation.setDeviceMetricsOverride",
        session,
        width=width,
        height=900,
        deviceScaleFactor=1,
        mobile=False,
    )
    devtools.events.clear()
    devtools.call("Page.navigate", session, url=url)
    devtools.wait_event("Page.loadEventFired")
    devtools.wait_until(session, "document.body.dataset.ready === '1'")
    return session


#: every piece of text that labels something: chart labels, headers, tiles, captions, names
LABELS = (
    ".bar-label, .bar-note, th, .tile .t, figcaption, .legend li, .promise-note,"
    " table.agencies .name"
)
CLIPPED = f"""[...document.querySelectorAll({LABELS!r})].filter((el) => {{
  const r = el.getBoundingClientRect();
  return el.scrollWidth > el.clientWidth + 1 || r.left < -0.5
    || r.right > document.documentElement.clientWidth + 0.5;
}}).map((el) => el.className + ': ' + el.textContent.slice(0, 80))"""


@pytest.mark.parametrize("width", [1400, 1024])
def test_nothing_overflows_or_is_clipped(chromium: DevTools, tmp_path: Path, width: int) -> None:
    page = tmp_path / "laporan.html"
    _write(page, _rows())
    session = _open(chromium, page.as_uri(), width)

    overflow = chromium.evaluate(
        session,
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]",
    )
    assert overflow[0] <= overflow[1], f"the page scrolls sideways at {width} px: {overflow}"
    assert chromium.evaluate(session, f"{CLIPPED}.length === 0 || {CLIPPED}") is True
    # the long agency name is there whole, in the table and in every chart of its city
    labels = chromium.evaluate(
        session, "[...document.querySelectorAll('.bar-label')].map((el) => el.textContent)"
    )
    assert labels.count(LONG_AGENCY) >= 2, labels
    names = chromium.evaluate(
        session,
        "[...document.querySelectorAll('table.agencies .name')].map((el) => el.textContent)",
    )
    assert LONG_AGENCY in names
    # a section per city, each with its agencies, "(not yet assigned)" among them
    cities = chromium.evaluate(
        session,
        "[...document.querySelectorAll('section.city')].map((el) => [el.ariaLabel,"
        " [...el.querySelectorAll('table.agencies .name')].map((n) => n.textContent)])",
    )
    assert [name for name, _ in cities] == ["malang", "tanjungpinang"]
    for _, rows in cities:
        assert sla.NOT_ASSIGNED in rows and rows[-1] == "Total kota / city total"

    # Ujar's bare codes read as names, the code kept beside them
    chromium.evaluate(session, "document.getElementById('source-filter').value = 'ujar'")
    chromium.evaluate(
        session,
        "document.getElementById('source-filter').dispatchEvent(new Event('change'))",
    )
    column = list(report_html.COLUMNS).index("local_status")
    shown = chromium.evaluate(
        session,
        f"[...document.querySelectorAll('#rows-body tr')].map((tr) =>"
        f" tr.children[{column}].textContent)",
    )
    assert set(shown) == {
        "Baru (new) · 0",
        "Terverifikasi (verified) · 1",
        "Diproses (in progress) · 2",
        "Selesai (done) · 3",
        "Ditolak (rejected) · 9",
    }
    # a row LAPOR has not verified is waiting on LAPOR, not in sync
    sync = list(report_html.COLUMNS).index("in_sync")
    marks = chromium.evaluate(
        session,
        f"[...document.querySelectorAll('#rows-body tr')].map((tr) =>"
        f" tr.children[{sync}].textContent)",
    )
    assert set(marks) == {"… Menunggu LAPOR", "✓ Ya"}

    chromium.evaluate(session, "document.getElementById('source-filter').value = ''")
    chromium.evaluate(
        session,
        "document.getElementById('source-filter').dispatchEvent(new Event('change'))",
    )
    height = chromium.evaluate(session, "document.documentElement.scrollHeight")
    shot = chromium.call(
        "Page.captureScreenshot",
        session,
        format="png",
        captureBeyondViewport=True,
        clip={"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
    )
    ARTIFACTS.mkdir(exist_ok=True)
    target = ARTIFACTS / f"report-{width}.png"
    target.write_bytes(base64.b64decode(shot["data"]))
    assert target.stat().st_size > 50_000


def test_print_media_renders_every_row(chromium: DevTools, tmp_path: Path) -> None:
    page = tmp_path / "laporan.html"
    _write(page, _rows())
    session = _open(chromium, page.as_uri(), 1400)
    rendered = "Number(document.body.dataset.rendered)"
    assert chromium.evaluate(session, rendered) == 100
    chromium.call("Emulation.setEmulatedMedia", session, media="print")
    assert chromium.wait_until(session, f"{rendered} === {ROWS}")
    chromium.call("Emulation.setEmulatedMedia", session, media="")
    assert chromium.wait_until(session, f"{rendered} === 100")


def _pdf_pages(pdf: bytes) -> int:
    """Pages of a PDF as its page objects say (``/Type /Page``, not ``/Pages``)."""
    return len(re.findall(rb"/Type\s*/Page(?![A-Za-z])", pdf))


def _print_to_pdf(page: Path, tmp_path: Path) -> bytes:
    assert CHROMIUM is not None
    pdf = tmp_path / "laporan.pdf"
    subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'print-profile'}",
            "--no-pdf-header-footer",
            "--virtual-time-budget=5000",
            f"--print-to-pdf={pdf}",
            page.as_uri(),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=120,
    )
    return pdf.read_bytes()


def _pdf_text(pdf: bytes, tmp_path: Path) -> str:
    pdftotext = shutil.which("pdftotext")
    if pdftotext is None:
        pytest.skip("no pdftotext on PATH (Debian package 'poppler-utils')")
    path = tmp_path / "text.pdf"
    path.write_bytes(pdf)
    done = subprocess.run(
        [pdftotext, "-layout", str(path), "-"], check=True, capture_output=True, timeout=60
    )
    return done.stdout.decode("utf-8")


@pytest.mark.parametrize("count", [ROWS, 30])
def test_printed_pdf_holds_every_row(tmp_path: Path, count: int) -> None:
    page = tmp_path / "laporan.html"
    rows = _rows(count)
    _write(page, rows)
    pdf = _print_to_pdf(page, tmp_path)
    assert pdf.startswith(b"%PDF-")
    pages = _pdf_pages(pdf)
    info = shutil.which("pdfinfo")
    if info is not None:
        (tmp_path / "info.pdf").write_bytes(pdf)
        said = subprocess.run([info, str(tmp_path / "info.pdf")], capture_output=True, check=True)
        match = re.search(rb"^Pages:\s+(\d+)$", said.stdout, re.M)
        assert match is not None and int(match.group(1)) == pages

    text = _pdf_text(pdf, tmp_path)
    ids = re.findall(r"RPT-\d{4}", text)
    # every row is printed, the last among them, and only once (no screen page repeated)
    assert sorted(set(ids)) == [r.local_id for r in rows]
    assert rows[-1].local_id in text and rows[-1].tracking_id in text
    assert f"Semua {count} rekaman" in text
    assert LONG_AGENCY.split(",")[0] in text
    # the city sections are printed too: both cities' totals and the unassigned agency
    assert text.count("Total kota / city total") == 2 and sla.NOT_ASSIGNED in text
    # a landscape A4 page holds a few dozen rows: more rows, more pages, within bounds
    if count == ROWS:
        assert 8 <= pages <= 40, pages
        small = _pdf_pages(_print_to_pdf(_small(tmp_path), tmp_path / "small"))
        assert small < pages
    else:
        # the fixed part: tiles, charts, two cities each with its agencies on five clocks,
        # their charts and breaches; then the rows
        assert 2 <= pages <= 14, pages


def _small(tmp_path: Path) -> Path:
    (tmp_path / "small").mkdir()
    page = tmp_path / "small" / "laporan.html"
    _write(page, _rows(10))
    return page
