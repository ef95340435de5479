"""Concurrency inside a source pass (issue 19): what holds one request at a time holds
with several in flight. Over real loopback HTTP, answers reordered by jittered latency.

The intent committed before its request leaves is checked with and without
concurrency in test_sync_tanjak.py (``test_no_request_leaves_before_...``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.local.tanjak.client import TanjakSource
from bridge.runtime.http import Endpoint, RateLimiter, RetryPolicy
from bridge.sync.inflight import PROBE, WINDOW, Flights
from bridge.sync.store import Store
from tests.harness import World

PHONE = {"nama": "Siti Aminah", "hp": "0812-7000-1234", "nik": None}


@pytest.fixture
def flying(tmp_path: Path) -> Iterator[World]:
    """A world with 8 requests in flight and every answer 0–40 ms late: finishing
    out of the order they were sent."""
    w = World(tmp_path, max_in_flight=8)
    for sandbox in (w.lapor, w.tanjak):
        sandbox.faults.chaos(1.0, ("latency",), seconds=0.02, jitter=0.02)
    try:
        yield w
    finally:
        w.stop()


def _committed(store: Store, local_id: str) -> bool:
    """Mapped, in doubt (an answer lost) or quarantined: what a page's cursor waits for."""
    mapped = store.mapping("tanjak", local_id) is not None
    doubt = store.db.execute(
        "SELECT 1 FROM intents WHERE source = 'tanjak' AND local_id = ? AND state = 'pending'"
        " AND last_error IS NOT NULL",
        (local_id,),
    ).fetchone()
    return mapped or doubt is not None or store.quarantine_open("tanjak", local_id)


def test_a_pages_cursor_waits_for_every_record_of_the_page(
    flying: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = flying.tanjak.now()
    for n in range(45):  # each at its own second: every page carries a cursor
        flying.tanjak.add_aduan(
            isi=f"Lampu jalan nomor {n} mati di Jl. Pramuka sejak Senin.",
            dibuat_pada=now - timedelta(minutes=50 - n),
        )
    # one answer lost (in doubt), one refused (quarantined): committed all the same
    flying.lapor.faults.inject("drop_after_write", method="POST", path=r"/complaint$")
    flying.lapor.faults.inject("422", method="POST", path=r"/complaint$")
    seen: list[str] = []
    checked: list[int] = []
    problems: list[str] = []
    pull = TanjakSource.pull

    def recording_pull(self: TanjakSource, cursor: str | None) -> Iterator[Any]:
        for page in pull(self, cursor):
            seen.extend(r.local_id for r in page.records)
            yield page

    set_cursor = Store.set_cursor

    def checking_set_cursor(self: Store, name: str, value: str | None) -> None:
        if name == "source:tanjak":
            checked.append(len(seen))
            problems.extend(f"{i} not committed" for i in seen if not _committed(self, i))
        set_cursor(self, name, value)

    monkeypatch.setattr(TanjakSource, "pull", recording_pull)
    monkeypatch.setattr(Store, "set_cursor", checking_set_cursor)
    report = flying.sync()
    assert report.ok, report
    assert len(checked) >= 3 and problems == []
    tanjak = report.sources["tanjak"]
    assert (tanjak.created, tanjak.in_doubt, tanjak.quarantined) == (43, 1, 1)
    # nothing doubled: one complaint on LAPOR per marker
    markers = [c["content"].split("]")[0] for c in flying.lapor.complaints()]
    assert len(markers) == len(set(markers)) == 44


def test_a_records_own_actions_stay_in_order(flying: World) -> None:
    """Intent, answer, write-back, and what the city answered before the create: each
    record's in its order, whatever order the records' answers came back in."""
    answered: list[int] = []
    for n in range(30):
        aduan = flying.tanjak.add_aduan(isi=f"Jalan berlubang nomor {n} di Jl. Ganet, bahaya.")
        if n % 5 == 0:
            flying.tanjak.respond(aduan["id"], "Dinas PUPR", f"Lubang nomor {n} ditambal besok.")
            answered.append(aduan["id"])
    report = flying.sync()
    assert report.ok, report
    assert report.sources["tanjak"].created == 30
    store = flying.store()
    try:
        for aduan in flying.tanjak.all_aduan():
            local_id = str(aduan["id"])
            kinds = [e.kind for e in store.events_for("tanjak", local_id, None)]
            order = ["create_intent", "created", "response_seen", "tracking_id_written"]
            if aduan["id"] not in answered:
                order.remove("response_seen")
            # (its response is recorded for LAPOR once its complaint exists: LAPOR takes it
            # once the complaint is disposed to the agency)
            assert [k for k in kinds if k in order] == order, (local_id, kinds)
    finally:
        store.close()


def test_the_same_citizen_twice_in_one_page_is_one_complaint(flying: World) -> None:
    """The duplicate check cannot see a record whose create is still in flight: the
    second of the same citizen's records waits for a second round, then merges."""
    flying.tanjak.add_aduan(
        isi="Genangan air setinggi lutut di depan SD 005 Jl. Sei Timun setelah hujan.",
        pelapor=PHONE,
    )
    for n in range(6):
        flying.tanjak.add_aduan(isi=f"Pohon tumbang nomor {n} menutup Jl. Wiratno.")
    flying.tanjak.add_aduan(
        isi="air menggenang selutut dpn SD 005 jl sei timun stlh hujan, tolong dicek",
        pelapor=PHONE,
    )
    report = flying.sync()
    assert report.ok, report
    tanjak = report.sources["tanjak"]
    assert (tanjak.created, tanjak.linked) == (7, 1)
    assert len(flying.lapor.complaints()) == 7


def test_retry_after_holds_every_sender_of_that_destination(flying: World) -> None:
    """One create told ``429 Retry-After: 2``: no request reaches LAPOR until then, from
    any worker, beyond those already on the wire when the answer came."""
    flying.lapor.faults.clear()
    arrivals: list[tuple[float, str]] = []
    lock = threading.Lock()
    handle = flying.lapor.handle

    def timed(request: Any) -> Any:
        with lock:
            arrivals.append((time.monotonic(), request.method))
        return handle(request)

    flying.lapor.handle = timed  # type: ignore[method-assign]
    for n in range(40):
        flying.tanjak.add_aduan(isi=f"Sampah menumpuk nomor {n} di Jl. Basuki Rahmat.")
    flying.lapor.faults.inject("429", method="POST", path=r"/complaint$", retry_after=2)
    report = flying.sync()
    assert report.ok, report
    assert report.sources["tanjak"].created == 40
    assert [kind for kind, _, _ in flying.lapor.faults.fired].count("429") == 1
    posts = [at for at, method in arrivals if method == "POST"]
    # the 429 answered the first POST that met the fault: find the pause around it
    gaps = [b - a for a, b in pairwise(posts)]
    assert max(gaps) >= 1.8  # everyone waited, not only the one told
    paused_at = posts[gaps.index(max(gaps))]
    during = [at for at in posts if paused_at + 0.2 < at < paused_at + 1.8]
    assert during == []


def test_retry_after_is_shared_by_endpoints_of_one_limiter() -> None:
    """The rule under the loopback test above: a pause one sender is told is one every
    sender through the same limiter keeps."""
    now = [100.0]
    limiter = RateLimiter(1000, 100, clock=lambda: now[0])
    told = Endpoint(
        "LAPOR",
        httpx.Client(
            base_url="http://lapor.test",
            transport=httpx.MockTransport(
                lambda r: httpx.Response(429, headers={"Retry-After": "7"})
            ),
        ),
        limiter,
        RetryPolicy(1, 0.01, 0.02),
        sleep=lambda s: None,
    )
    slept: list[float] = []
    other = Endpoint(
        "LAPOR",
        httpx.Client(
            base_url="http://lapor.test",
            transport=httpx.MockTransport(lambda r: httpx.Response(200)),
        ),
        limiter,
        RetryPolicy(1, 0.01, 0.02),
        sleep=slept.append,
    )
    with pytest.raises(Exception, match="429"):
        told.send("POST", "/x", idempotent=False)
    now[0] += 2.0
    assert other.send("GET", "/y").status_code == 200
    assert slept == [pytest.approx(5.0)]  # what was left of the 7 seconds


def test_flights_commit_every_outcome_before_a_failure_is_raised() -> None:
    """A failing outcome stops the pass, but only after the others are handled."""
    handled: list[int] = []

    def then(n: int) -> Any:
        def outcome(result: Any, error: BaseException | None) -> None:
            if n == 2:
                raise RuntimeError("the pass fails")
            handled.append(n)

        return outcome

    flights = Flights("test:flights", 4, before_wait=lambda: None, heartbeat=lambda: None)
    try:
        for n in range(4):
            flights.submit(lambda n=n: time.sleep(0.01 * n), then(n))  # type: ignore[misc]
        with pytest.raises(RuntimeError, match="the pass fails"):
            flights.drain()
    finally:
        flights.close()
    assert sorted(handled) == [0, 1, 3]


def test_calls_go_in_line_on_a_wire_faster_than_the_pass_and_back_when_it_slows() -> None:
    """Where answers wait for the pass (loopback), a hand-over to a worker costs more than
    it hides: calls are made on the pass's thread; once they take longer, on workers."""
    delay = [0.0]
    threads: list[str] = []

    def call() -> None:
        threads.append(threading.current_thread().name)
        time.sleep(delay[0])

    def busy_pass(result: Any, error: BaseException | None) -> None:
        assert error is None
        time.sleep(0.002)  # the pass's own work per answer, longer than the wire's

    flights = Flights("test:mode", 8, before_wait=lambda: None, heartbeat=lambda: None)
    try:
        for _ in range(WINDOW + 8):
            flights.submit(call, busy_pass)
        assert flights.inline
        threads.clear()
        for _ in range(4):
            flights.submit(call, busy_pass)
        assert set(threads) == {threading.current_thread().name}
        delay[0] = 0.01  # a slow wire: requests in flight hide it again
        for _ in range(16):
            flights.submit(call, busy_pass)
        flights.drain()
        assert not flights.inline
    finally:
        flights.close()


@pytest.mark.parametrize(("delay", "inline"), [(0.0, True), (0.01, False)])
def test_calls_only_waited_for_start_in_line_and_go_to_workers_on_a_slow_wire(
    delay: float, inline: bool
) -> None:
    """Write-backs (the pass only waits for them) are made in-line from the first on a fast
    wire; after the probe's calls on a slow one, on workers, in flight again."""
    threads: list[str] = []
    wall = [0.0]  # the pass's clock, stepped by the calls: no scheduler in the way

    def call() -> None:
        threads.append(threading.current_thread().name)
        wall[0] += delay

    flights = Flights(
        "test:probe", 8, before_wait=lambda: None, heartbeat=lambda: None, probe=True,
        clock=lambda: wall[0], cpu_clock=lambda: 0.0,
    )  # fmt: skip
    try:
        for _ in range(PROBE + 6):
            flights.submit(call, lambda result, error: None)
        flights.drain()
        assert flights.inline is inline
        here = threading.current_thread().name
        assert threads[:PROBE] == [here] * PROBE
        assert (set(threads[PROBE:]) == {here}) is inline
    finally:
        flights.close()


@pytest.mark.parametrize(("cpu", "wall", "inline"), [(0.010, 0.0105, True), (0.001, 0.010, False)])
def test_only_the_wait_for_the_wire_sends_calls_to_workers(
    cpu: float, wall: float, inline: bool
) -> None:
    """A call slow because of the pass's own CPU (a loaded machine, a big answer to parse)
    stays in-line: workers would only add their hand-over to it. One that keeps the thread
    waiting as long goes to workers. (Clocks stepped by the call, not measured.)"""
    now = {"wall": 0.0, "cpu": 0.0}

    def call() -> None:
        now["wall"] += wall
        now["cpu"] += cpu

    flights = Flights(
        "test:wait", 8, before_wait=lambda: None, heartbeat=lambda: None, probe=True,
        clock=lambda: now["wall"], cpu_clock=lambda: now["cpu"],
    )  # fmt: skip
    try:
        for _ in range(PROBE + 8):
            flights.submit(call, lambda result, error: None)
            if not flights.inline:
                break
        flights.drain()
        assert flights.inline is inline
    finally:
        flights.close()
