"""Tanjak → LAPOR-SP4N over real loopback HTTP: creates, write-back, no doubles."""

from __future__ import annotations

import contextlib
import io
import random
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from pydantic import SecretStr

from adapters.local.tanjak.client import TanjakConfig, connect
from bridge.runtime import logs
from bridge.sync.engine import CrashPoint
from tests.harness import LAPOR_SECRET, LAPOR_TOKEN, LAPOR_USER, TANJAK_KEY, World
from tests.kits import FAST


def test_creates_and_writes_back_tracking_id(world: World) -> None:
    aduan = world.tanjak.add_aduan(
        judul="Sampah menumpuk di Jl. Ganet",
        isi="Sudah tiga hari sampah tidak diangkut di depan rumah warga.",
        kategori="persampahan",
    )
    report = world.sync()
    assert report.ok, report
    found = world.national_for(aduan["id"])
    assert len(found) == 1
    national = found[0]
    assert national["title"] == "Sampah menumpuk di Jl. Ganet"
    assert "tanjak" in national["tags"]
    assert world.tanjak.aduan(aduan["id"])["lapor_id"] == f"#{national['id']}"
    store = world.store()
    mapping = store.mapping("tanjak", str(aduan["id"]))
    store.close()
    assert mapping is not None and mapping.national_id == national["id"]
    assert mapping.link_state == "done"


def test_rerun_creates_nothing_new(world: World) -> None:
    world.tanjak.seed_sample(random.Random(3), 25, photos=False)
    world.sync()
    before = len(world.lapor.complaints())
    report = world.sync()
    assert report.sources["tanjak"].created == 0
    assert len(world.lapor.complaints()) == before == 25


def test_edited_record_is_not_recreated(world: World) -> None:
    aduan = world.tanjak.add_aduan(isi="Lampu jalan mati sejak minggu lalu di Jl. Pramuka.")
    world.sync()
    world.tanjak.edit_aduan(aduan["id"], isi="Lampu jalan mati sejak minggu lalu, sudah 8 hari.")
    report = world.sync()
    assert report.sources["tanjak"].created == 0
    assert report.sources["tanjak"].updated == 1
    assert len(world.national_for(aduan["id"])) == 1


@pytest.fixture
def tagged(tmp_path: Path) -> Iterator[World]:
    """A LAPOR whose integration account has the (modelled) tag search."""
    w = World(tmp_path, capabilities=("tag_search",))
    try:
        yield w
    finally:
        w.stop()


@pytest.mark.parametrize("kind", ["500", "503", "html502", "429"])
def test_transient_failures_are_retried(world: World, kind: str) -> None:
    """Reads are retried whatever failed; a create only when LAPOR said it did not take it
    (429): after a 5xx it may have, and it is in doubt (the next test)."""
    aduan = world.tanjak.add_aduan(isi="Genangan air setinggi lutut di depan SD 005 setelah hujan.")
    world.lapor.faults.inject(kind, method="GET", path=r"/complaints/\d+/complaint$", count=2)
    world.lapor.faults.inject("429", method="POST", path=r"/complaints/complaint$", count=2)
    world.tanjak.faults.inject(kind, method="GET", path=r"/api/aduan$", count=1, retry_after=0)
    report = world.sync()
    assert report.ok, report
    assert len(world.national_for(aduan["id"])) == 1
    assert world.lapor.faults.pending() == 0


@pytest.mark.parametrize("kind", ["500", "503", "html502"])
def test_a_5xx_on_a_create_leaves_it_in_doubt_until_evidence(tagged: World, kind: str) -> None:
    world = tagged
    aduan = world.tanjak.add_aduan(isi="Genangan air setinggi lutut di depan SD 005 setelah hujan.")
    world.lapor.faults.inject(kind, method="POST", path=r"/complaints/complaint$")
    first = world.sync()
    assert first.sources["tanjak"].in_doubt == 1
    assert world.national_for(aduan["id"]) == []  # refused before LAPOR processed it
    second = world.sync()  # a complete search that finds none: posted again
    assert second.ok, second
    assert len(world.national_for(aduan["id"])) == 1


def test_lost_answer_on_create_is_recovered_by_tag(tagged: World) -> None:
    world = tagged
    aduan = world.tanjak.add_aduan(isi="Pohon tumbang menutup jalan di Jl. Sei Timun sejak pagi.")
    world.lapor.faults.inject("drop_after_write", method="POST", path=r"/complaints/complaint$")
    assert world.sync().sources["tanjak"].in_doubt == 1
    report = world.sync()
    assert report.ok, report
    assert report.sources["tanjak"].recovered == 1
    assert len(world.national_for(aduan["id"])) == 1
    assert len(world.lapor.complaints()) == 1


@pytest.mark.parametrize("point", ["intent_committed", "create_answered"])
def test_crash_between_post_and_commit_leaves_one_complaint(tagged: World, point: str) -> None:
    world = tagged
    first = world.tanjak.add_aduan(isi="Jalan berlubang besar di depan pasar Bintan Centre.")
    second = world.tanjak.add_aduan(
        isi="Saluran air tersumbat sampah di Jl. Wiratno, bau menyengat."
    )

    def crash(at: str) -> None:
        if at == point:
            raise CrashPoint(at)

    with pytest.raises(CrashPoint):
        world.sync(crash_hook=crash)
    report = world.sync()  # the restart
    assert report.ok, report
    assert len(world.national_for(first["id"])) == 1
    assert len(world.national_for(second["id"])) == 1
    assert len(world.lapor.complaints()) == 2
    for aduan in (first, second):
        assert world.tanjak.aduan(aduan["id"])["lapor_id"]


def test_a_kill_after_lapor_answered_is_settled_by_the_scan(tmp_path: Path) -> None:
    """The evidenced profile: no search; the ids between the creates answered before and
    sent after the one a kill cut short are read for its marker."""
    world = World(tmp_path, create_timeout=1.0)
    try:
        before = world.tanjak.add_aduan(isi="Lampu jalan mati di Jl. Pramuka, gelap sejak Senin.")
        assert world.sync().ok
        cut = world.tanjak.add_aduan(isi="Jalan berlubang besar di depan pasar Bintan Centre.")

        def crash(at: str) -> None:
            if at == "create_answered":
                raise CrashPoint(at)

        with pytest.raises(CrashPoint):
            world.sync(crash_hook=crash)
        assert world.sync().sources["tanjak"].in_doubt == 1  # no create after it yet
        time.sleep(1.2)
        after = world.tanjak.add_aduan(isi="Saluran air tersumbat sampah di Jl. Wiratno.")
        world.sync()
        report = world.sync()
        assert report.ok, report
        for aduan in (before, cut, after):
            assert len(world.national_for(aduan["id"])) == 1
            assert world.tanjak.aduan(aduan["id"])["lapor_id"]
        assert len(world.lapor.complaints()) == 3
    finally:
        world.stop()


def test_422_quarantines_the_record_and_the_rest_sync(world: World) -> None:
    bad = world.tanjak.add_aduan(
        isi="Parkir liar di depan toko, mengganggu lalu lintas setiap sore."
    )
    good = world.tanjak.add_aduan(
        isi="Lampu penerangan jalan mati di Jl. Basuki Rahmat sejak lama."
    )
    world.lapor.validation_body = {
        "success": False,
        "message": "The given data was invalid.",
        "errors": {"location_id": ["lokasi tidak dikenal"]},
    }
    world.lapor.faults.inject("422", method="POST", path=r"/complaints/complaint$")
    report = world.sync()
    assert report.sources["tanjak"].quarantined == 1
    assert len(world.national_for(good["id"])) == 1
    assert world.national_for(bad["id"]) == []
    store = world.store()
    entries = store.quarantined("tanjak")
    store.close()
    assert [e.local_id for e in entries] == [str(bad["id"])]
    assert "lokasi tidak dikenal" in entries[0].reason


def test_refused_credentials_stop_the_pass_and_quarantine_nothing(world: World) -> None:
    world.sync()
    # the account's secret is rotated on LAPOR and not yet in the bridge's config
    world.lapor.add_account(
        "rotated-secret", LAPOR_TOKEN, "Pemerintah Kota Tanjungpinang", user_id=LAPOR_USER
    )
    aduan = world.tanjak.add_aduan(
        isi="Lampu penerangan jalan mati di Jl. Basuki Rahmat sejak lama."
    )
    report = world.sync()
    error = report.sources["tanjak"].error or ""
    assert "401" in error and "tanjungpinang" in error, report
    assert LAPOR_SECRET not in error and "rotated-secret" not in error
    assert report.sources["tanjak"].quarantined == 0
    store = world.store()
    assert store.quarantined("tanjak") == []
    store.close()
    # the config catches up: the record is created, once
    world.lapor.add_account(
        LAPOR_SECRET, LAPOR_TOKEN, "Pemerintah Kota Tanjungpinang", user_id=LAPOR_USER
    )
    assert world.sync().ok
    assert len(world.national_for(aduan["id"])) == 1


def test_bad_record_is_quarantined_with_raw_payload(world: World) -> None:
    world.tanjak.add_aduan(isi="Pelayanan KTP di kecamatan sangat lambat, antre berjam-jam.")
    good = world.tanjak.add_aduan(isi="Sampah di TPS Jl. Ganet tidak diangkut selama seminggu.")
    # a corrupt record in the app: its status outside the contract's list
    world.tanjak.corrupt(good["id"] - 1, status="entah")
    report = world.sync()
    assert report.sources["tanjak"].quarantined == 1
    assert len(world.national_for(good["id"])) == 1
    store = world.store()
    entry = store.quarantined("tanjak")[0]
    store.close()
    assert "status" in entry.reason
    assert '"entah"' in entry.raw


def test_a_record_that_crashes_the_bridge_is_quarantined_and_the_rest_sync(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug the bridge has not met yet must cost one record, not the whole feed."""
    from adapters.local.tanjak import client as tanjak_client

    saved, logged = structlog.get_config(), io.StringIO()
    logs.configure("debug", "json", logged)

    poison = world.tanjak.add_aduan(isi="Jalan berlubang di depan SD 005, sangat berbahaya.")
    good = world.tanjak.add_aduan(isi="Sampah di TPS Jl. Ganet tidak diangkut selama seminggu.")
    real = tanjak_client.normalize

    def normalize(payload: Any, **kw: Any) -> Any:
        if payload.get("id") == poison["id"]:
            raise KeyError(f"no such thing in {payload['isi']}")  # a message quoting the citizen
        return real(payload, **kw)

    monkeypatch.setattr(tanjak_client, "normalize", normalize)
    try:
        report = world.sync()
    finally:
        structlog.configure(**saved)
    assert report.ok, report
    assert report.sources["tanjak"].quarantined == 1
    assert len(world.national_for(good["id"])) == 1
    assert world.national_for(poison["id"]) == []
    store = world.store()
    try:
        entry = store.quarantined("tanjak")[0]
        cursor = store.cursor("source:tanjak")
    finally:
        store.close()
    assert entry.local_id == str(poison["id"])
    assert entry.reason.startswith("the bridge could not process this record: KeyError at ")
    assert "berlubang" not in entry.reason and "berlubang" in entry.raw
    assert cursor is not None, "the feed moved on past the poison record"
    assert '"record_failed"' in logged.getvalue()
    assert "berlubang" not in logged.getvalue()

    monkeypatch.setattr(tanjak_client, "normalize", real)  # the bug fixed: a retry carries it
    world.tanjak.set_status(poison["id"], "diverifikasi")
    assert world.sync().ok
    assert len(world.national_for(poison["id"])) == 1


def test_one_pass_maps_a_crowded_second_across_many_pages(world: World) -> None:
    """Hundreds of aduan in one second, 20 a page: nothing slips between shifting pages."""
    from datetime import UTC, datetime

    moment = datetime(2026, 11, 20, 3, 0, 0, tzinfo=UTC)
    world.tanjak.now = lambda: moment
    ids = [
        world.tanjak.add_aduan(isi=f"Sampah menumpuk di gang {n} Jl. Ganet, mohon diangkut.")["id"]
        for n in range(150)
    ]
    world.tanjak.now = lambda: datetime.now(UTC)
    report = world.sync()
    assert report.ok, report
    assert report.sources["tanjak"].created == 150
    assert all(len(world.national_for(i)) == 1 for i in ids)
    assert all(world.tanjak.aduan(i)["lapor_id"] for i in ids)


def test_after_the_database_is_lost_nothing_is_created_twice(tagged: World) -> None:
    """Created on LAPOR, tracking ids not yet written back, then the disk dies: the new
    database finds those complaints by the source's tag and maps them, posting nothing
    (capability tag_search; the evidenced profile has no way to list them: README)."""
    world = tagged
    filed = [
        world.tanjak.add_aduan(isi=f"Drainase tersumbat di gang {n}, air meluap ke rumah warga.")
        for n in range(4)
    ]
    world.tanjak.faults.inject("503", method="PATCH", path=r"/api/aduan/\d+", count=1000)
    first = world.sync()
    assert first.sources["tanjak"].created == 4
    assert not first.sources["tanjak"].ok  # the write-backs could not be done
    assert all(world.tanjak.aduan(a["id"])["lapor_id"] is None for a in filed)
    world.tanjak.faults.clear()

    world.settings.bridge.database.unlink()  # the whole state, gone
    for leftover in ("-wal", "-shm"):
        world.settings.bridge.database.with_name(f"bridge.db{leftover}").unlink(missing_ok=True)
    later = world.tanjak.add_aduan(isi="Pohon tumbang menutup jalan di depan kantor lurah.")

    second = world.sync()
    assert second.ok, second
    assert second.sources["tanjak"].recovered == 4
    for aduan in [*filed, later]:
        assert len(world.national_for(aduan["id"])) == 1, aduan["id"]
        assert world.tanjak.aduan(aduan["id"])["lapor_id"]
    store = world.store()
    try:
        assert store.mapping("tanjak", str(filed[0]["id"])) is not None
        assert [e.kind for e in store.events_for("tanjak", str(filed[0]["id"]), None)][:2] == [
            "adopted",
            "created",
        ]
    finally:
        store.close()

    third = world.sync()  # discovery ran once: no second listing
    assert third.ok and third.sources["tanjak"].created == 0


def test_a_database_restored_from_a_backup_creates_nothing_twice(tagged: World) -> None:
    """The backup predates complaints created since whose tracking ids were not written
    back: the first pass after the restore looks each create up before posting
    (capability tag_search)."""
    world = tagged
    first = world.tanjak.add_aduan(isi="Lampu jalan mati di Jl. Pramuka, gelap sejak Senin.")
    assert world.sync().ok
    database = world.settings.bridge.database
    backup = database.with_name("backup.db")
    with (
        contextlib.closing(sqlite3.connect(database)) as live,
        contextlib.closing(sqlite3.connect(backup)) as copy,
    ):
        live.backup(copy)

    since = [
        world.tanjak.add_aduan(isi=f"Sampah menumpuk di gang {n}, belum diangkut seminggu.")
        for n in range(3)
    ]
    world.tanjak.faults.inject("503", method="PATCH", path=r"/api/aduan/\d+", count=1000)
    assert world.sync().sources["tanjak"].created == 3  # the write-backs fail
    world.tanjak.faults.clear()

    for leftover in ("-wal", "-shm"):
        database.with_name(f"{database.name}{leftover}").unlink(missing_ok=True)
    backup.replace(database)  # the restore
    lookups = world.lapor.count_requests("GET", r"/complaints$")
    report = world.sync()
    assert report.ok, report
    assert report.sources["tanjak"].recovered == 3
    assert world.lapor.count_requests("GET", r"/complaints$") - lookups == 3
    assert len(world.lapor.complaints()) == 4
    for aduan in [first, *since]:
        assert len(world.national_for(aduan["id"])) == 1
        assert world.tanjak.aduan(aduan["id"])["lapor_id"]


@pytest.mark.parametrize("in_flight", [1, 8])
def test_no_request_leaves_before_what_led_to_it_is_committed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, in_flight: int
) -> None:
    """The bridge holds commits between requests (a mapping rides on the next intent's
    commit), never across a wait for one: every create finds its intent on disk, and
    every request finds the database's write lock free — at once when one request is
    in flight at a time; with several, the pass's thread may be committing another
    record's answer as a request arrives, so within a moment (it commits before it
    waits on the wire)."""
    world = World(tmp_path, max_in_flight=in_flight)
    try:
        _requests_after_commits(world, monkeypatch, 0 if in_flight == 1 else 10)
    finally:
        world.stop()


def _requests_after_commits(world: World, monkeypatch: pytest.MonkeyPatch, wait: float) -> None:
    world.tanjak.seed_sample(random.Random(5), 30, photos=True)
    aduan = world.tanjak.add_aduan(isi="Lampu jalan mati di Jl. Pramuka, gelap sejak Senin.")
    world.sync()  # the first 31
    world.tanjak.respond(aduan["id"], "Dinas Perhubungan", "Petugas PJU akan memeriksa besok pagi.")
    places = ["Jl. Ganet", "Jl. Sei Timun", "Jl. Wiratno", "Jl. Basuki Rahmat", "Jl. Ir. Sutami"]
    for place in places:
        world.tanjak.add_aduan(isi=f"Sampah menumpuk di {place}, belum diangkut seminggu.")
    database = world.settings.bridge.database
    problems: list[str] = []
    creates: list[str] = []

    def watched(sandbox: Any) -> None:
        handle = sandbox.handle

        def checked(request: Any) -> Any:
            other = sqlite3.connect(database, timeout=wait)
            try:
                other.execute("BEGIN IMMEDIATE")  # refused while the bridge holds writes
                other.rollback()
                if request.method == "POST" and request.path.endswith("/complaints/complaint"):
                    tag = request.json()["tags_raw"].split()[-1].lstrip("#")
                    (pending,) = other.execute(
                        "SELECT COUNT(*) FROM intents WHERE tag = ? AND state = 'pending'",
                        (tag,),
                    ).fetchone()
                    creates.append(tag)
                    if pending != 1:
                        problems.append(f"create {tag} without its intent on disk")
            except sqlite3.OperationalError as exc:
                problems.append(f"{request.method} {request.path}: {exc}")
            finally:
                other.close()
            return handle(request)

        monkeypatch.setattr(sandbox, "handle", checked)

    watched(world.lapor)
    watched(world.tanjak)
    report = world.sync()
    assert report.ok, report
    assert len(creates) == report.sources["tanjak"].created == 5
    assert problems == []
    assert len(world.lapor.complaints()) == 36


def test_every_time_sent_to_tanjak_is_written_in_wib(world: World) -> None:
    sent: list[str] = []

    class Recording(httpx.HTTPTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            sent.extend(v for k, v in request.url.params.multi_items() if k.endswith("sejak"))
            return super().handle_request(request)

    world.tanjak.add_aduan(isi="Lampu penerangan jalan mati di Jl. Basuki Rahmat sejak lama.")
    config = TanjakConfig(
        account="tanjungpinang",
        base_url=world.tanjak.url,
        api_key=SecretStr(TANJAK_KEY),
        location_id=34,
    )
    source = connect("tanjak", config, policy=FAST, transport=Recording())
    try:
        cursor = None
        for page in source.pull(None):  # the first pull: from the epoch
            cursor = page.cursor or cursor
        assert cursor is not None
        list(source.pull(cursor))
    finally:
        source.close()
    assert sent and all(value.endswith("+07:00") for value in sent), sent
