"""A create settled in a later pass still carries what the city had said (m011).

An Open311 request filed hours ago with the city's response on it; LAPOR loses the
create's answer, so the create is in doubt and the record's page is behind the cursor
when a later pass finds the complaint by its tag. The record is then read again whole for
its responses; when that read fails, the next pass reads it again (the flag is durable),
and the response reaches LAPOR once. Over real loopback HTTP, through engine and store.
"""

from __future__ import annotations

import contextlib
import random
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import cast

import pytest

from bridge.core.timefmt import utcnow
from bridge.sync.store import Store
from tests.kits import Kit
from tests.kits.open311 import Open311Kit
from tests.test_adapter_contract import Rig

OLD_RESPONSE = "Petugas sudah memangkas dahan pohon di lokasi pada pagi hari."


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    kit = Open311Kit()
    r = Rig(cast(Kit, kit), tmp_path, capabilities=("tag_search",))
    try:
        yield r
    finally:
        r.close()


def flagged(rig: Rig) -> list[str]:
    store = Store(rig.db)
    try:
        return store.catching_up("city")
    finally:
        store.close()


def recorded(rig: Rig, local_id: str) -> list[str]:
    """The city's responses the bridge recorded for LAPOR (sent or waiting)."""
    with contextlib.closing(sqlite3.connect(rig.db)) as db:
        rows = db.execute(
            "SELECT content FROM followups WHERE source = 'city' AND local_id = ?"
            " AND direction = 'to_national' AND kind = 'followup' ORDER BY id",
            (local_id,),
        ).fetchall()
    return [OLD_RESPONSE if OLD_RESPONSE in row[0] else row[0] for row in rows]


def lapor_texts(rig: Rig, national_id: int) -> list[str]:
    return [str(f.get("content") or "") for f in rig.lapor.followups(national_id)]


def test_a_create_found_later_sends_the_response_the_city_gave_before_it(rig: Rig) -> None:
    kit = cast(Open311Kit, rig.kit)
    sandbox = kit.sandbox
    filed = utcnow() - timedelta(hours=3)
    local_id = str(
        sandbox.add_request(
            service_code="LAIN",
            description="Pohon tumbang menutup jalan di depan sekolah, mohon segera ditangani.",
            address="Jl. Ganet, Batu IX",
            requested_datetime=filed,
        )["service_request_id"]
    )
    sandbox.add_update(
        local_id, "in_progress", OLD_RESPONSE, updated_datetime=filed + timedelta(hours=1)
    )

    # the create reaches LAPOR, its answer does not: in doubt, the page committed
    rig.lapor.faults.inject("drop_after_write", method="POST", path=r"/complaints/complaint$")
    first = rig.sync()
    assert first.sources["city"].in_doubt == 1, first
    assert len(rig.national_for(local_id)) == 1

    # found by its tag; reading the request again fails, so its responses wait
    sandbox.faults.inject("503", method="GET", path=rf"/requests/{local_id}\.json$", count=50)
    rig.sync()
    store = Store(rig.db)
    try:
        mapping = store.mapping("city", local_id)
    finally:
        store.close()
    assert mapping is not None and mapping.national_id
    national_id = int(mapping.national_id)
    assert flagged(rig) == [local_id]
    assert recorded(rig, local_id) == []
    rig.lapor.verify(national_id)  # LAPOR takes follow-ups once its admin verified it

    sandbox.faults.clear()
    third = rig.sync()
    assert third.ok, third
    assert flagged(rig) == []
    assert recorded(rig, local_id) == [OLD_RESPONSE]
    texts = lapor_texts(rig, national_id)
    assert sum(OLD_RESPONSE in t for t in texts) == 1, texts
    assert len(rig.national_for(local_id)) == 1

    rig.sync()
    assert sum(OLD_RESPONSE in t for t in lapor_texts(rig, national_id)) == 1


def test_a_create_made_from_the_record_in_hand_needs_no_second_read(rig: Rig) -> None:
    kit = cast(Open311Kit, rig.kit)
    rng = random.Random(5)
    local_id, silent_id = kit.add_record(rng), kit.add_record(rng)
    kit.city_responds(local_id, OLD_RESPONSE)
    report = rig.sync()
    assert report.ok, report
    assert report.sources["city"].created == 2
    assert flagged(rig) == []
    assert recorded(rig, local_id) == [OLD_RESPONSE]

    def reads(of: str) -> int:
        return kit.sandbox.count_requests("GET", rf"/requests/{of}\.json$")

    assert reads(local_id) == reads(silent_id), "a response cost the record a second read"
    [found] = rig.national_for(local_id)
    rig.lapor.verify(int(cast(int, found["id"])))
    assert rig.sync().ok
    assert sum(OLD_RESPONSE in t for t in lapor_texts(rig, int(cast(int, found["id"])))) == 1
