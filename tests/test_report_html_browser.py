"""The HTML report in a real headless Chromium, driven over the DevTools protocol.

The page must render without a console error, request nothing but itself,
filter its table as the auditor types, and sort on a header click. The
screenshots land in ``test-artifacts/``.
"""

from __future__ import annotations

import base64
import json
import random
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websocket

from bridge.core.timefmt import utcnow
from bridge.reports import exports, report, sla
from tests.harness import World
from tests.test_report import INSTITUTION, _scenario

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium binary on PATH (Debian package 'chromium')"
)


class DevTools:
    """A minimal Chrome DevTools Protocol client over one websocket: calls and events."""

    def __init__(self, url: str) -> None:
        self.ws = websocket.create_connection(url, timeout=30, suppress_origin=True)
        self.events: list[dict[str, Any]] = []
        self._id = 0

    def close(self) -> None:
        self.ws.close()

    def _receive(self) -> dict[str, Any]:
        message: dict[str, Any] = json.loads(self.ws.recv())
        if "method" in message:
            self.events.append(message)
        return message

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        self._id += 1
        request: dict[str, Any] = {"id": self._id, "method": method, "params": params}
        if session is not None:
            request["sessionId"] = session
        self.ws.send(json.dumps(request))
        while True:
            message = self._receive()
            if message.get("id") == self._id:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result

    def wait_event(self, method: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            for event in self.events[seen:]:
                if event["method"] == method:
                    return event
            seen = len(self.events)
            self._receive()
        raise AssertionError(f"no {method} within {timeout} s")

    def evaluate(self, session: str, expression: str) -> Any:
        result = self.call("Runtime.evaluate", session, expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_until(self, session: str, expression: str, timeout: float = 15) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(session, expression)
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError(f"never true: {expression}")


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[DevTools]:
    assert CHROMIUM is not None
    profile = tmp_path / "profile"
    process = subprocess.Popen(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--no-default-browser-check",
            f"--user-data-dir={profile}",
            "--remote-debugging-port=0",
            "--window-size=1400,1800",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and len(port_file.read_text().splitlines()) >= 2):
            assert process.poll() is None, "chromium exited at start"
            assert time.monotonic() < deadline, "chromium did not open its DevTools port"
            time.sleep(0.05)
        port, path = port_file.read_text().splitlines()[:2]
        client = DevTools(f"ws://127.0.0.1:{port}{path}")
        try:
            yield client
        finally:
            client.close()
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _page(world: World, path: Path) -> tuple[list[dict[str, Any]], sla.SlaSummary]:
    """Write the HTML report of a realistic world to ``path``; return its rows as JSON and
    the SLA report its city sections show (this year's, as the page's default)."""
    world.tanjak.seed_sample(random.Random(5), 30, photos=False)
    world.lapor.seed_sample(random.Random(6), 6, INSTITUTION)
    _scenario(world)
    store = world.store()
    now = utcnow()
    rules = sla.Rules.from_settings(world.settings)
    try:
        with path.open("w", encoding="utf-8") as out:
            exports.export(store, "html", out, now=now, rules=rules)
        rows: list[dict[str, Any]] = [r._asdict() for r in report.rows(store)]
        summary = sla.compute(store, rules, sla.Scope(*sla.this_year(now)), now)
    finally:
        store.close()
    return rows, summary


def _screenshot(devtools: DevTools, session: str, name: str) -> Path:
    shot = devtools.call("Page.captureScreenshot", session, format="png")
    ARTIFACTS.mkdir(exist_ok=True)
    target = ARTIFACTS / name
    target.write_bytes(base64.b64decode(shot["data"]))
    return target


def _type(devtools: DevTools, session: str, text: str) -> None:
    devtools.evaluate(session, "document.getElementById('filter').focus()")
    devtools.evaluate(session, "document.getElementById('filter').select()")
    for kind in ("rawKeyDown", "keyUp"):
        devtools.call(
            "Input.dispatchKeyEvent",
            session,
            type=kind,
            key="Backspace",
            code="Backspace",
            windowsVirtualKeyCode=8,
        )
    for char in text:
        devtools.call("Input.insertText", session, text=char)
    devtools.wait_until(session, f"document.body.dataset.filter === {json.dumps(text)}")


VISIBLE = "[...document.querySelectorAll('#rows-body tr')]"


def _visible(devtools: DevTools, session: str, column: int) -> list[str]:
    cells: list[str] = devtools.evaluate(
        session, f"{VISIBLE}.map((tr) => tr.children[{column}].textContent)"
    )
    return cells


def _click(devtools: DevTools, session: str, selector: str) -> None:
    box = devtools.evaluate(
        session,
        f"(() => {{ const el = document.querySelector({json.dumps(selector)});"
        " el.scrollIntoView({block: 'center'}); const r = el.getBoundingClientRect();"
        " return [r.x + r.width / 2, r.y + r.height / 2]; })()",
    )
    for kind in ("mousePressed", "mouseReleased"):
        devtools.call(
            "Input.dispatchMouseEvent",
            session,
            type=kind,
            x=box[0],
            y=box[1],
            button="left",
            clickCount=1,
        )


def test_report_page_in_a_real_browser(world: World, chromium: DevTools, tmp_path: Path) -> None:
    page = tmp_path / "laporan.html"
    rows, summary = _page(world, page)
    url = page.as_uri()
    target = chromium.call("Target.createTarget", url="about:blank")["targetId"]
    session = chromium.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
    for domain in ("Runtime", "Log", "Network", "Page"):
        chromium.call(f"{domain}.enable", session)
    chromium.events.clear()
    chromium.call("Page.navigate", session, url=url)
    chromium.wait_event("Page.loadEventFired")
    chromium.wait_until(session, "document.body.dataset.ready === '1'")

    shown = chromium.evaluate(session, f"{VISIBLE}.length")
    assert shown == min(len(rows), 100)
    assert chromium.evaluate(session, "document.querySelectorAll('svg').length") == 1
    assert chromium.evaluate(session, "document.querySelectorAll('.bars').length") >= 2
    assert "dari" in chromium.evaluate(session, "document.getElementById('count').textContent")
    # the SLA report's cities: each section's agencies and total as report sla counts them
    cities = chromium.evaluate(
        session,
        "[...document.querySelectorAll('section.city')].map((el) => [el.ariaLabel,"
        " [...el.querySelectorAll('table.agencies tbody tr')].map((tr) =>"
        " [tr.children[0].textContent, tr.children[1].textContent])])",
    )
    assert [a.name for a in summary.accounts] == ["tanjungpinang"]
    assert summary.accounts[0].total.received > 30
    assert cities == [
        [
            a.name,
            [[g.name, str(g.received)] for g in a.agencies]
            + [["Total kota / city total", str(a.total.received)]],
        ]
        for a in summary.accounts
    ]
    first = _screenshot(chromium, session, "report-html.png")
    assert first.stat().st_size > 20_000

    # the auditor types a ticket number: only that complaint is left
    tracking_column = report.COLUMNS.index("tracking_id")
    clash = next(r for r in rows if r["problem"].startswith("conflict"))
    _type(chromium, session, clash["tracking_id"])
    assert chromium.evaluate(session, f"{VISIBLE}.length") == 1
    assert _visible(chromium, session, tracking_column) == [clash["tracking_id"]]

    # ...then a word in Indonesian: the rows whose problem is a conflict
    _type(chromium, session, "konflik")
    conflicts = sum("conflict" in r["problem"] for r in rows)
    assert chromium.evaluate(session, f"{VISIBLE}.length") == conflicts
    problems = _visible(chromium, session, report.COLUMNS.index("problem"))
    assert problems and all("Konflik status" in p for p in problems)
    _screenshot(chromium, session, "report-html-filtered.png")

    # cleared, then sorted by ticket number with a click on its header, twice
    _type(chromium, session, "")
    assert chromium.evaluate(session, f"{VISIBLE}.length") == min(len(rows), 100)
    _click(chromium, session, "th button[data-col=tracking_id]")
    ascending = [t for t in _visible(chromium, session, tracking_column) if t]
    assert ascending == sorted(ascending) and len(ascending) > 10
    _click(chromium, session, "th button[data-col=tracking_id]")
    descending = _visible(chromium, session, tracking_column)
    every = sorted({r["tracking_id"] for r in rows if r["tracking_id"]}, reverse=True)
    assert descending[0] == every[0]

    errors = [
        e
        for e in chromium.events
        if (
            e["method"] == "Runtime.consoleAPICalled" and e["params"]["type"] in ("error", "assert")
        )
        or e["method"] == "Runtime.exceptionThrown"
        or (e["method"] == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")
    ]
    assert errors == [], json.dumps(errors, indent=1)[:3000]
    requested = {
        e["params"]["request"]["url"]
        for e in chromium.events
        if e["method"] == "Network.requestWillBeSent"
    }
    assert requested == {url}, requested  # the page itself, nothing else
