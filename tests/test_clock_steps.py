"""Clocks that disagree: the bridge's running ahead, a city's or LAPOR's stepping back.

Every cursor that is a time is read back with an overlap, and none is set past the
remote's own clock (the newest record it showed, bounded by its answer's ``Date``).
Each test runs over real loopback HTTP against the sandboxes, through the real engine
and store; the bridge's clock is moved by replacing ``bridge.core.timefmt.utcnow`` everywhere
it was imported, the sandboxes' through their ``now``.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from adapters.lapor.client import AccountConfig, LaporConfig, Route, connect
from adapters.local.open311.client import Open311Source
from adapters.sandbox.lapor import LaporSandbox
from bridge.core import timefmt
from bridge.core.tags import ext_tag
from bridge.runtime.http import answered_at
from bridge.sync.engine import Engine, PassReport
from bridge.sync.store import Store
from tests.harness import World
from tests.kits import FAST, Kit
from tests.kits.open311 import Open311Kit
from tests.kits.sambat import SambatKit
from tests.kits.tanjak import TanjakKit

SECRET = "clock-secret"
TOKEN = "{aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee}"
INSTITUTION = "Pemerintah Kota Tanjungpinang"
KITS: dict[str, Callable[[], Kit]] = {
    "tanjak": TanjakKit,
    "sambat": SambatKit,
    "open311": Open311Kit,
}
#: how far a remote clock steps back (an NTP correction, a VM restored from a snapshot)
STEP = timedelta(minutes=2)


def host_now() -> datetime:
    return datetime.now(UTC)


class Clock:
    """The host's clock, ``offset`` away."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return host_now() + self.offset


@pytest.fixture
def bridge_clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The bridge's clock: ``timefmt.utcnow`` in every module of the bridge that took it."""
    clock = Clock()
    original = timefmt.utcnow
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] in ("bridge", "adapters", "cli") and (
            getattr(module, "utcnow", None) is original
        ):
            monkeypatch.setattr(module, "utcnow", clock)
    return clock


class Rig:
    """One city app's sandbox, LAPOR's, and the bridge between them."""

    def __init__(self, kit: Kit, tmp: Path, clock: Clock) -> None:
        self.kit = kit
        self.lapor = LaporSandbox(max_page_size=10)
        user_id = self.lapor.add_account(SECRET, TOKEN, INSTITUTION)
        self.lapor.start()
        kit.sandbox.start()
        self.db = tmp / "bridge.db"
        self.source = kit.source("city", "acct")
        if isinstance(self.source, Open311Source):
            self.source.clock = clock  # given when connected, not read from timefmt
        route = Route(
            location_id=34,
            classification_id=1,
            categories={"*": self.lapor.category_id("TOPIK LAINNYA")},
        )
        account = AccountConfig.model_validate(
            {"api_secret": SECRET, "token": TOKEN, "user_id": user_id, "institution": INSTITUTION}
        )
        self.national = connect(
            LaporConfig(base_url=self.lapor.url, requests_per_second=1000),
            {"acct": account},
            routes={"city": route},
            policy=FAST,
        )["acct"]

    def sync(self) -> PassReport:
        store = Store(self.db)
        try:
            return Engine(store, {"city": self.source}, {"acct": self.national}).sync()
        finally:
            store.close()

    def on_lapor(self, local_ids: list[str]) -> dict[str, int]:
        """How many national complaints each record has."""
        return {i: len(self.lapor.find_by_tag(ext_tag("city", i))) for i in local_ids}

    def close(self) -> None:
        self.source.close()
        self.national.close()
        self.kit.sandbox.stop()
        self.lapor.stop()


@pytest.fixture
def make_rig(tmp_path: Path, bridge_clock: Clock) -> Iterator[Callable[[str], Rig]]:
    rigs: list[Rig] = []

    def make(app: str) -> Rig:
        rigs.append(Rig(KITS[app](), tmp_path, bridge_clock))
        return rigs[-1]

    yield make
    for rig in rigs:
        rig.close()


def frozen(moment: datetime) -> Callable[[], datetime]:
    return lambda: moment


def set_city_clock(rig: Rig, now: Callable[[], datetime]) -> None:
    rig.kit.sandbox.now = now  # type: ignore[attr-defined]  # every sandbox has one


def test_one_open311_pass_with_the_bridge_a_day_ahead_skips_no_later_request(
    make_rig: Callable[[str], Rig], bridge_clock: Clock
) -> None:
    """Open311's marks are window ends the bridge computes from its own clock: a pass a
    day ahead would move them a day past the city's clock, and every request filed in
    that day would lie behind them for good."""
    rig = make_rig("open311")
    rng = random.Random(16)
    first = [rig.kit.add_record(rng) for _ in range(2)]
    bridge_clock.offset = timedelta(days=1)
    assert rig.sync().ok
    bridge_clock.offset = timedelta(0)
    later = [rig.kit.add_record(rng) for _ in range(3)]
    for _ in range(2):
        assert rig.sync().ok
    assert rig.on_lapor(first + later) == dict.fromkeys(first + later, 1)


@pytest.mark.parametrize("app", ["tanjak", "sambat"])
def test_a_record_dated_ahead_does_not_carry_the_cursor_past_the_city_s_clock(
    app: str, make_rig: Callable[[str], Rig], bridge_clock: Clock
) -> None:
    """A record dated an hour ahead (a typo, an operator's wrong clock) would become the
    cursor; the bridge's own clock cannot hold it back when it runs a day ahead too. The
    city's clock (its answers' ``Date``) does."""
    rig = make_rig(app)
    rng = random.Random(16)
    first = [rig.kit.add_record(rng)]
    set_city_clock(rig, lambda: host_now() + timedelta(hours=1))
    first.append(rig.kit.add_record(rng))
    set_city_clock(rig, host_now)
    bridge_clock.offset = timedelta(days=1)
    assert rig.sync().ok
    bridge_clock.offset = timedelta(0)
    later = [rig.kit.add_record(rng) for _ in range(3)]
    for _ in range(2):
        assert rig.sync().ok
    assert rig.on_lapor(first + later) == dict.fromkeys(first + later, 1)


@pytest.mark.parametrize("app", ["tanjak", "sambat", "open311"])
def test_records_filed_after_the_city_s_clock_steps_back_are_imported(
    app: str, make_rig: Callable[[str], Rig]
) -> None:
    rig = make_rig(app)
    rng = random.Random(16)
    first = [rig.kit.add_record(rng) for _ in range(3)]
    for _ in range(2):  # the second pass reads the write-backs: the cursor is at the city's now
        assert rig.sync().ok
    set_city_clock(rig, lambda: host_now() - STEP)
    later = [rig.kit.add_record(rng) for _ in range(3)]
    for _ in range(2):
        assert rig.sync().ok
    assert rig.on_lapor(first + later) == dict.fromkeys(first + later, 1)


def test_lapor_inbox_complaints_filed_after_lapor_s_clock_steps_back_are_imported(
    inbox_world: World,
) -> None:
    world = inbox_world

    def file(title: str) -> int:
        content = f"{title}: sudah seminggu tidak ditangani, mohon segera diperiksa."
        return int(world.lapor.file_complaint(title, content, "TOPIK LAINNYA", INSTITUTION)["id"])

    first = [file("Lampu jalan mati di Jl. Pramuka")]
    assert world.sync().ok
    world.lapor.now = lambda: host_now() - STEP
    later = [file("Saluran tersumbat di Jl. Merdeka"), file("Pohon tumbang di Jl. Basuki")]
    for _ in range(2):
        assert world.sync().ok
    imported = [a["lapor_id"] for a in world.tanjak.all_aduan()]
    assert sorted(imported) == sorted(f"#{n}" for n in first + later)


@pytest.mark.parametrize("app", ["tanjak", "sambat"])
def test_crowded_pages_inside_the_overlap_are_passed_and_the_cursor_never_goes_back(
    app: str, make_rig: Callable[[str], Rig]
) -> None:
    """A pull reads the overlap again, page by page: it must still step through pages of
    one second (one minute for Sambat) and end, and a page inside the overlap must not
    carry a cursor behind the stored one (a pass failing later would leave it there)."""
    rig = make_rig(app)
    rng = random.Random(16)
    base = host_now() - timedelta(minutes=4)
    crowded = []
    for minutes in (0, 1):
        set_city_clock(rig, frozen(base + timedelta(minutes=minutes)))
        crowded += [rig.kit.add_record(rng) for _ in range(25)]  # more than a page (20)
    set_city_clock(rig, host_now)
    newest = rig.kit.add_record(rng)
    cursor = [p.cursor for p in rig.source.pull(None) if p.cursor][-1]
    assert cursor is not None
    again = list(rig.source.pull(cursor))
    assert {r.local_id for p in again for r in p.records} == {*crowded, newest}
    stored = timefmt.parse_rfc3339(cursor)
    assert all(timefmt.parse_rfc3339(p.cursor) >= stored for p in again if p.cursor)


def test_the_remote_clock_is_read_from_the_date_header() -> None:
    def date(value: str | None) -> datetime | None:
        return answered_at(httpx.Response(200, headers={"Date": value} if value else {}))

    assert date("Sat, 05 Dec 2026 03:28:57 GMT") == datetime(2026, 12, 5, 3, 28, 57, tzinfo=UTC)
    assert date(None) is None and date("kemarin") is None
