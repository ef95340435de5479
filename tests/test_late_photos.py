"""Late photos over real HTTP: the city's photo server fails, the complaint goes at once
without the photo, and the photo follows as a LAPOR follow-up carrying the file; never
posted twice, never silently lost (issue 16)."""

from __future__ import annotations

import contextlib
import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from typer.testing import CliRunner

from adapters.local.sample import make_jpeg
from bridge.sync import photos
from bridge.sync.engine import CrashPoint
from cli import app
from tests.harness import World

INSTITUTION = "Pemerintah Kota Tanjungpinang"
PHOTO_PATH = r"/media/"
runner = CliRunner()


def _filed(world: World, *, photo_down: bool = True) -> tuple[int, bytes]:
    """An aduan with one photo, its photo server failing (503) for the whole first pass."""
    aduan = world.tanjak.add_aduan(isi="Jalan berlubang besar di depan pasar Bintan Centre.")
    photo = make_jpeg(random.Random(7), 320, 240)
    world.tanjak.add_photo(aduan["id"], photo, "image/jpeg")
    if photo_down:  # far more than the retries of one fetch
        world.tanjak.faults.inject("503", method="GET", path=PHOTO_PATH, count=1000)
    return aduan["id"], photo


def _due(world: World) -> None:
    """The clock moves on: every waiting photo is due now."""
    store = world.store()
    with store.atomic():
        store.db.execute("UPDATE late_photos SET next_try_at = '2000-01-01T00:00:00+00:00'")
    store.close()


def _late(world: World) -> list[dict[str, Any]]:
    store = world.store()
    try:
        return store._all("SELECT * FROM late_photos ORDER BY id")
    finally:
        store.close()


def _events(world: World, kind: str) -> list[dict[str, Any]]:
    store = world.store()
    try:
        return store._all("SELECT * FROM events WHERE kind = ? ORDER BY id", (kind,))
    finally:
        store.close()


def _photo_followups(world: World, national_id: int) -> list[list[bytes]]:
    """The bridge's late-photo follow-ups on LAPOR: each as the bytes of its files."""
    text = photos.LATE_PHOTO_TEXT.format(n=1)
    with world.lapor.lock:
        items = world.lapor._complaints[national_id].followups
        return [
            [world.lapor._uploads[i].data for i in f.attachments]
            for f in items
            if f.content == text
        ]


def _status(world: World) -> tuple[dict[str, int], str]:
    shown = runner.invoke(app, ["--config", str(world.config_path), "status", "--json"])
    text = runner.invoke(app, ["--config", str(world.config_path), "status"])
    return json.loads(shown.output)["sources"]["tanjak"]["photos"], text.output


def test_the_retry_schedule_spans_about_a_day_then_gives_up() -> None:
    waits = [photos.retry_wait(n) for n in range(1, photos.MAX_TRIES + 1)]
    assert waits[-1] is None and all(w is not None for w in waits[:-1])
    total = sum((w for w in waits if w is not None), timedelta())
    assert photos.MAX_TRIES == 8 and timedelta(hours=20) <= total <= timedelta(hours=26)
    assert [w for w in waits[:-1] if w is not None] == sorted(w for w in waits if w is not None)


def test_a_photo_whose_server_is_down_follows_the_complaint_as_a_follow_up(world: World) -> None:
    local_id, photo = _filed(world)
    assert world.sync().ok
    # the complaint is created at once, without the photo, and the photo waits
    [national] = world.national_for(local_id)
    assert national["attachments"] == []
    [late] = _late(world)
    assert (late["state"], late["attempts"], late["photo_index"]) == ("waiting", 1, 0)
    assert "503" in late["reason"] or "unavailable" in late["reason"].lower(), late["reason"]
    assert len(_events(world, "photo_late")) == 1 and not _events(world, "photo_skipped")
    counts, text = _status(world)
    assert counts == {"waiting": 1, "given_up": 0}
    assert "late: waiting 1, given up 0" in text

    world.tanjak.faults.clear()  # the photo server is back
    world.lapor.verify(national["id"], INSTITUTION)
    assert world.sync().ok
    assert _photo_followups(world, national["id"]) == []  # not due yet: backoff
    _due(world)
    assert world.sync().ok
    # the file's bytes reached LAPOR, on a follow-up of the complaint
    assert _photo_followups(world, national["id"]) == [[photo]]
    [late] = _late(world)
    assert late["state"] == "sent"
    assert len(_events(world, "photo_sent_late")) == 1
    assert _status(world)[0] == {"waiting": 0, "given_up": 0}

    # later passes post nothing more, and the bridge's own words are not copied to the app
    _due(world)
    for _ in range(2):
        assert world.sync().ok
    assert _photo_followups(world, national["id"]) == [[photo]]
    texts = [t["isi"] for t in world.tanjak.aduan(local_id)["tanggapan"]]
    assert photos.LATE_PHOTO_TEXT.format(n=1) not in texts


def test_a_photo_lapor_will_not_take_yet_waits_without_spending_a_try(world: World) -> None:
    local_id, photo = _filed(world)
    assert world.sync().ok
    [national] = world.national_for(local_id)
    world.tanjak.faults.clear()
    # due, but the complaint is not disposed to the city yet: LAPOR says 403
    for _ in range(photos.MAX_TRIES + 1):
        _due(world)
        assert world.sync().ok
    assert _photo_followups(world, national["id"]) == []
    [late] = _late(world)
    assert (late["state"], late["attempts"]) == ("waiting", 1)
    assert "disposed" in late["reason"]
    # held for a while, not tried on every pass
    assert late["next_try_at"] > (datetime.now(UTC) + timedelta(minutes=30)).isoformat()
    world.lapor.verify(national["id"], INSTITUTION)
    _due(world)
    assert world.sync().ok
    assert _photo_followups(world, national["id"]) == [[photo]]


@pytest.mark.parametrize("how", ["kill_after_post", "answer_lost"])
def test_a_late_photo_whose_post_was_cut_short_is_not_posted_twice(world: World, how: str) -> None:
    local_id, photo = _filed(world)
    assert world.sync().ok
    [national] = world.national_for(local_id)
    world.tanjak.faults.clear()
    world.lapor.verify(national["id"], INSTITUTION)
    _due(world)
    if how == "kill_after_post":

        def kill(point: str) -> None:
            if point == "photo_followup_posted":
                raise CrashPoint(point)

        with contextlib.suppress(CrashPoint):
            world.sync(crash_hook=kill)
    else:
        world.lapor.faults.inject(
            "drop_after_write", method="POST", path=r"/complaints/followup/add$"
        )
        world.sync()
    # LAPOR has it; the bridge does not know it yet
    assert _photo_followups(world, national["id"]) == [[photo]]
    assert _late(world)[0]["state"] == "waiting"
    for _ in range(2):
        _due(world)
        assert world.sync().ok
    assert _photo_followups(world, national["id"]) == [[photo]]
    assert _late(world)[0]["state"] == "sent"


def test_a_photo_whose_server_keeps_failing_is_given_up_and_shown(world: World) -> None:
    local_id, _ = _filed(world)
    assert world.sync().ok
    [national] = world.national_for(local_id)
    world.lapor.verify(national["id"], INSTITUTION)
    for _ in range(photos.MAX_TRIES - 2):
        _due(world)
        assert world.sync().ok
    [late] = _late(world)
    assert (late["state"], late["attempts"]) == ("waiting", photos.MAX_TRIES - 1)
    assert not _events(world, "photo_given_up")
    _due(world)
    assert world.sync().ok
    [late] = _late(world)
    assert late["state"] == "given_up"
    [event] = _events(world, "photo_given_up")
    assert event["local_id"] == str(local_id) and event["national_id"] == national["id"]
    assert f"{photos.MAX_TRIES} tries failed" in json.loads(event["detail"])["reason"]
    counts, text = _status(world)
    assert counts == {"waiting": 0, "given_up": 1}
    assert "waiting 0, given up 1" in text
    # given up is final: a later pass fetches nothing more
    world.tanjak.faults.clear()
    _due(world)
    assert world.sync().ok
    assert _photo_followups(world, national["id"]) == []


def test_a_photo_the_server_refuses_is_skipped_not_retried(world: World) -> None:
    local_id, _ = _filed(world, photo_down=False)
    world.tanjak.faults.inject("422", method="GET", path=PHOTO_PATH, count=1000)
    assert world.sync().ok
    assert world.national_for(local_id)[0]["attachments"] == []
    assert _late(world) == []
    assert len(_events(world, "photo_skipped")) == 1


def test_a_waiting_photo_that_goes_with_a_create_tried_again_is_not_sent_twice(
    world: World,
) -> None:
    local_id, photo = _filed(world)
    world.lapor.faults.inject("422", method="POST", path=r"/complaints/complaint$")
    world.sync()  # LAPOR refuses the create: the record is quarantined, its photo waits
    assert world.national_for(local_id) == []
    assert [p["state"] for p in _late(world)] == ["waiting"]
    world.tanjak.faults.clear()
    store = world.store()
    [entry] = store.quarantined("tanjak")
    store.close()
    retried = runner.invoke(
        app, ["--config", str(world.config_path), "quarantine", "retry", str(entry.id)]
    )
    assert retried.exit_code == 0, retried.output
    [national] = world.national_for(local_id)
    assert [world.lapor._uploads[i].data for i in national["attachments"]] == [photo]
    assert _late(world) == []  # it went with the create
    world.lapor.verify(national["id"], INSTITUTION)
    assert world.sync().ok
    assert _photo_followups(world, national["id"]) == []
