"""Following complaints by id within a budget of requests an hour (bridge/core/tracking.py).

Over real HTTP: Tanjak and the evidenced LAPOR sandbox (no inbox: every complaint is
read by id, the complaint and its follow-ups), the bridge and LAPOR on one simulated
clock, each pass a new process as far as the budget goes (a new store connection and
engine). What LAPOR saw is counted by the sandbox, not by the bridge.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters import registry
from bridge.core.tracking import HOUR, POLL_CLOSED, POLL_MAX, Spending, Tracking, poll_interval
from bridge.runtime.daemon import Daemon
from bridge.runtime.http import counting_requests
from bridge.runtime.settings import ConfigError, config_warnings, load_settings
from bridge.sync.engine import Engine, PassReport
from bridge.sync.store import Store
from cli import app
from tests.harness import FAST, World

ACCOUNT = "tanjungpinang"
INSTITUTION = "Pemerintah Kota Tanjungpinang"
#: every read the passes send LAPOR once the complaints are created: a complaint and its
#: follow-ups, each (the directory was read once, by the creates)
READS = r"^/(complaints|masters)/"
PLENTY = 1_000_000


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _clocked(world: World) -> Clock:
    clock = Clock(datetime.now(UTC).replace(microsecond=0))
    world.lapor.now = clock
    return clock


class Connections:
    """The clients of one test's passes, kept as a daemon keeps them (LAPOR's directory is
    read once a connection)."""

    def __init__(self, world: World) -> None:
        settings = world.settings
        self.sources = registry.connect_sources(settings, policy=FAST)
        self.nationals = registry.connect_nationals(settings, policy=FAST)

    def close(self) -> None:
        registry.close_all(self.sources, self.nationals)


_connections: dict[int, Connections] = {}


@pytest.fixture(autouse=True)
def _close_connections() -> Iterator[None]:
    yield
    for each in _connections.values():
        each.close()
    _connections.clear()


def _pass(
    world: World,
    clock: Clock,
    budget: int,
    *,
    bound: timedelta = timedelta(days=365),
    floor: timedelta = timedelta(minutes=1),
) -> PassReport:
    """One pass, with a new store connection and engine as a process started for it: the
    budget holds only what the store holds."""
    settings = world.settings
    held = _connections.setdefault(id(world), Connections(world))
    sources, nationals = held.sources, held.nationals
    store = Store(settings.bridge.database)
    try:
        engine = Engine(
            store,
            sources,
            nationals,
            homes=registry.homes(settings),
            poll_floor=floor,
            tracking=Tracking(default_budget=budget, max_view_age=bound),
            clock=clock,
        )
        report = engine.sync()
        assert report.ok, report
        return report
    finally:
        store.close()


def _reads(world: World) -> int:
    return world.lapor.count_requests("GET", READS)  # the source passes read none


def _read_ids(world: World, since: int) -> list[int]:
    """The complaints read by id in LAPOR's log from entry ``since`` on."""
    with world.lapor.lock:
        log = world.lapor.requests[since:]
    pattern = re.compile(r"/complaints/(\d+)/complaint$")
    return [int(m.group(1)) for method, path in log if (m := pattern.search(path))]


def _filed(
    world: World, clock: Clock, n: int, floor: timedelta = timedelta(minutes=1)
) -> list[int]:
    """``n`` complaints filed in Tanjak and created on LAPOR by one pass; their ids."""
    aduan = [
        world.tanjak.add_aduan(isi=f"Lampu jalan mati di gang {i} sejak seminggu.")
        for i in range(n)
    ]
    _pass(world, clock, PLENTY, floor=floor)
    return [world.national_for(a["id"])[0]["id"] for a in aduan]


def test_reads_by_id_stay_within_the_budget_in_every_hour(world: World) -> None:
    clock = _clocked(world)
    _filed(world, clock, 12)
    budget = 30
    spent: list[tuple[datetime, int]] = []
    for _ in range(90):  # three hours, a pass every two minutes
        clock.now += timedelta(minutes=2)
        before = _reads(world)
        _pass(world, clock, budget)
        spent.append((clock.now, _reads(world) - before))
    for now, _ in spent:
        in_hour = sum(n for at, n in spent if now - HOUR < at <= now)
        assert in_hour <= budget, (now, in_hour)
    last_hour = sum(n for at, n in spent if at > clock.now - HOUR)
    assert last_hour >= budget - 4  # the budget is spent, not left idle: twelve young ones
    # what the bridge says it spent is what LAPOR saw
    store = world.store()
    try:
        assert Spending.load(store, ACCOUNT, budget, clock.now).spent(clock.now) == last_hour
    finally:
        store.close()


def test_a_restart_resumes_the_pace_instead_of_a_full_burst(world: World) -> None:
    clock = _clocked(world)
    _filed(world, clock, 40)
    budget = 600  # a burst of five minutes' worth: 50 requests, 25 complaints
    clock.now += timedelta(minutes=2)
    before = _reads(world)
    _pass(world, clock, budget)
    assert _reads(world) - before == 50
    # ten seconds later, in a new process: what was spent is still owed
    clock.now += timedelta(seconds=10)
    before = _reads(world)
    _pass(world, clock, budget)
    assert _reads(world) - before == 0
    # a minute after the burst: a minute's worth has come back (600 an hour: 10)
    clock.now += timedelta(seconds=50)
    before = _reads(world)
    _pass(world, clock, budget)
    assert _reads(world) - before == 10


def test_young_and_recently_changed_complaints_are_read_before_old_quiet_ones(
    world: World,
) -> None:
    clock = _clocked(world)
    old = _filed(world, clock, 8)
    clock.now += timedelta(days=28)
    _pass(world, clock, PLENTY)  # every one read: four weeks old and quiet, once a day
    changed = old[3]
    clock.now += timedelta(hours=1)
    world.lapor.admin_followup(changed, "Mohon dinas terkait segera menindaklanjuti.")
    clock.now += timedelta(hours=24)
    _pass(world, clock, PLENTY)  # all due again: the change is seen, read again in 3 hours
    young = _filed(world, clock, 1)[0]
    clock.now += timedelta(days=2)
    # every complaint is due; the budget reads two of them (a burst of 4 requests)
    since = len(world.lapor.requests)
    _pass(world, clock, 48)
    assert _read_ids(world, since) == [young, changed]
    # and the old quiet ones are not starved: within a few hours every one is read
    for _ in range(12):
        clock.now += timedelta(minutes=30)
        _pass(world, clock, 48)
    assert set(old) <= set(_read_ids(world, since))


def test_views_past_the_bound_are_read_first_oldest_first(tmp_path: Path) -> None:
    store = Store(tmp_path / "bridge.db")
    now = datetime(2026, 6, 1, tzinfo=UTC)

    def mapped(local_id: str, seen: timedelta | None, wanted: timedelta) -> None:
        last = None if seen is None else now - seen
        store.insert_mapping(
            source="city", local_id=local_id, national_id=int(local_id), account="acct",
            first_synced_at=(now - timedelta(days=40)).isoformat(timespec="microseconds"),
            last_seen_at=None if last is None else last.isoformat(timespec="microseconds"),
            next_poll_at=((last or now) + wanted - timedelta(days=40 if last is None else 0))
            .isoformat(timespec="microseconds"),
        )  # fmt: skip

    try:
        with store.atomic():
            mapped("1", timedelta(hours=30), timedelta(days=1))  # past a 24 h bound
            mapped("2", timedelta(hours=50), timedelta(days=1))  # further past it
            mapped("3", timedelta(hours=2), timedelta(minutes=10))  # young: 12× overdue
            mapped("4", timedelta(hours=20), timedelta(hours=4))  # 5× overdue
            mapped("5", timedelta(minutes=5), timedelta(hours=1))  # not due
        stamp = now.isoformat(timespec="microseconds")
        bound = (now - timedelta(hours=24)).isoformat(timespec="microseconds")

        def order(limit: int, share: float = 1.0) -> list[str]:
            rows = store.due_for_polling(
                ["city"], stamp, limit, stale_before=bound, stale_share=share
            )
            return [row.local_id for row in rows]

        assert order(5) == ["2", "1", "3", "4"]
        # past the bound takes at most its share; the schedule has the rest
        assert order(2, share=0.5) == ["2", "3"]
        assert order(3, share=0.34) == ["2", "3", "4"]
        # and what the schedule leaves goes to the views past the bound
        assert order(4, share=0.25) == ["2", "3", "4", "1"]
        # without a bound: the most overdue against its own interval first
        rows = store.due_for_polling(["city"], stamp, 5)
        assert [row.local_id for row in rows] == ["3", "4", "2", "1"]
    finally:
        store.close()


def test_the_hour_never_holds_more_than_the_budget_when_reads_cost_more() -> None:
    spending = Spending(per_hour=100)
    start = datetime(2026, 6, 1, tzinfo=UTC)
    charges: list[tuple[datetime, int]] = []
    for minute in range(0, 180):
        now = start + timedelta(minutes=minute)
        while spending.available(now) >= 2:
            cost = 5 if minute % 7 == 0 else 2  # a second page of follow-ups, a retry
            if spending.available(now) < cost:
                break
            spending.charge(now, cost)
            charges.append((now, cost))
    for now, _ in charges:
        assert sum(n for at, n in charges if now - HOUR < at <= now) <= 100
    assert sum(n for at, n in charges if at > start + 2 * HOUR) >= 90  # evenly spent
    # five minutes' worth at most at once, after a quiet spell
    quiet = Spending(per_hour=1200)
    assert quiet.available(start) == 100


def test_status_and_metrics_show_the_budget_and_the_oldest_view(world: World) -> None:
    clock = Clock(datetime.now(UTC).replace(microsecond=0))
    world.lapor.now = clock
    text = world.config_path.read_text(encoding="utf-8")
    world.config_path.write_text(
        text.replace("[lapor]\n", "[lapor]\ntracking_requests_per_hour = 240\n"),
        encoding="utf-8",
    )
    _filed(world, clock, 3, floor=timedelta(0))  # due at once
    clock.now = datetime.now(UTC)
    before = _reads(world)
    _pass(world, clock, world.settings.tracking_budget(ACCOUNT))
    spent = _reads(world) - before
    assert spent == 6

    result = CliRunner().invoke(app, ["--config", str(world.config_path), "status", "--json"])
    tracking = json.loads(result.output)["accounts"][ACCOUNT]["tracking"]
    assert tracking["budget_per_hour"] == 240
    assert tracking["spent_last_hour"] == spent
    assert tracking["open"] == 3 and tracking["due"] == 0
    assert tracking["oldest_view_at"] is not None
    assert tracking["max_view_age_hours"] == 24
    result = CliRunner().invoke(app, ["--config", str(world.config_path), "status"])
    assert f"{spent} of 240 requests in the last hour; 3 open, 0 due" in result.output
    assert re.search(r"views: +oldest \S+ \(\d+ s ago; bound 24 h\)", result.output)

    settings = world.settings
    sources = registry.connect_sources(settings)
    nationals = registry.connect_nationals(settings)
    try:
        daemon = Daemon(
            settings.bridge.database,
            sources,
            nationals,
            registry.homes(settings),
            interval=60,
            tracking=settings.tracking(),
        )
        body = daemon.metrics.render().decode()
    finally:
        registry.close_all(sources, nationals)
    assert f'lapor_bridge_tracking_requests_last_hour{{account="{ACCOUNT}"}} {spent}.0' in body
    assert f'lapor_bridge_tracking_budget_requests_per_hour{{account="{ACCOUNT}"}} 240.0' in body
    age = re.search(r'lapor_bridge_tracking_oldest_view_age_seconds\{account="\w+"\} (\S+)', body)
    assert age is not None and 0 <= float(age.group(1)) < 600


def _config(tmp_path: Path, lapor: str, account: str = "") -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[bridge]
database = "{tmp_path / "bridge.db"}"
poll_interval_seconds = 30

[lapor]
base_url = "http://127.0.0.1:8100"
{lapor}

[lapor.accounts.tanjungpinang]
api_secret = "s"
token = "t"
user_id = 1
institution = "Pemerintah Kota Tanjungpinang"
{account}

[lapor.accounts.malang]
api_secret = "s"
token = "t"
user_id = 2
institution = "Pemerintah Kota Malang"
""",
        encoding="utf-8",
    )
    return path


def test_the_budget_is_configured_per_hour_and_per_account(tmp_path: Path) -> None:
    conf = load_settings(
        _config(tmp_path, "tracking_requests_per_hour = 1000", "tracking_requests_per_hour = 90")
    )
    assert conf.tracking_budget("tanjungpinang") == 90
    assert conf.tracking_budget("malang") == 1000
    assert not config_warnings(conf)
    conf = load_settings(_config(tmp_path, ""))
    assert conf.tracking_budget("malang") == 3600
    with pytest.raises(ConfigError) as refused:
        load_settings(_config(tmp_path, "tracking_requests_per_hour = 1"))
    assert "tracking_requests_per_hour" in str(refused.value)


def test_the_old_per_pass_key_still_works_with_a_warning(tmp_path: Path) -> None:
    conf = load_settings(_config(tmp_path, "poll_budget = 50"))
    assert conf.tracking_budget("malang") == 50 * 3600 // 30  # a pass every 30 s
    [warning] = config_warnings(conf)
    assert "lapor.poll_budget: deprecated" in warning and "6000 requests an hour" in warning
    conf = load_settings(_config(tmp_path, "poll_budget = 50\ntracking_requests_per_hour = 700"))
    assert conf.tracking_budget("malang") == 700
    assert "ignored" in config_warnings(conf)[0]


def test_a_read_is_charged_with_its_own_thread_s_requests_only(world: World) -> None:
    # the daemon's source worker creates on the same LAPOR account while its account
    # worker reads by id: only the reads are the budget's
    national = registry.connect_nationals(world.settings, policy=FAST)[ACCOUNT]
    other = registry.connect_nationals(world.settings, policy=FAST)[ACCOUNT]
    busy, started = threading.Event(), threading.Event()

    def elsewhere() -> None:
        with counting_requests("LAPOR"):
            while not busy.is_set():
                other.complaint(1)  # 404s: requests all the same
                started.set()

    worker = threading.Thread(target=elsewhere)
    try:
        before = world.lapor.count_requests("GET", r"^/complaints/")
        worker.start()
        assert started.wait(10)
        with counting_requests("LAPOR") as mine, counting_requests("Tanjak") as none:
            for _ in range(5):
                national.complaint(1)
        busy.set()
        worker.join()
        assert mine.sent == 5 and none.sent == 0
        assert world.lapor.count_requests("GET", r"^/complaints/") - before > 5
    finally:
        busy.set()
        registry.close_all({}, {"a": national, "b": other})


def test_a_complaint_closed_a_moment_ago_is_followed_as_an_open_one_for_a_day() -> None:
    """An admin may write after archiving: a week's wait starts only once it is quiet."""
    floor = timedelta(seconds=60)
    month, hour, day = timedelta(days=30), timedelta(hours=1), timedelta(days=1)
    assert poll_interval(month, hour, floor, closed=True) == poll_interval(month, hour, floor)
    assert poll_interval(month, hour, floor, closed=True) == timedelta(minutes=7.5)
    assert poll_interval(month, day, floor, closed=True) == POLL_CLOSED
    assert poll_interval(month, day, floor) == timedelta(hours=3)  # open: an eighth
    assert poll_interval(month, 9 * day, floor) == POLL_MAX
    assert poll_interval(month, hour, timedelta(0), closed=True) == timedelta(0)
