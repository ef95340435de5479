"""Two-way convergence over real HTTP: Tanjak ↔ LAPOR-SP4N, several passes each."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any

from bridge.sync.engine import CrashPoint
from tests.harness import World

INSTITUTION = "Pemerintah Kota Tanjungpinang"


def _synced(
    world: World, isi: str = "Sampah menumpuk di TPS Jl. Ganet sudah tiga hari."
) -> tuple[int, int]:
    aduan = world.tanjak.add_aduan(isi=isi, kategori="persampahan")
    report = world.sync()
    assert report.ok, report
    national = world.national_for(aduan["id"])[0]
    return aduan["id"], national["id"]


def _verified(world: World) -> tuple[int, int]:
    """A synced complaint the admin verified (disposed to the city), seen by one more pass."""
    local_id, national_id = _synced(world)
    world.lapor.verify(national_id, INSTITUTION)
    world.sync()
    return local_id, national_id


def _counts(world: World, local_id: int, national_id: int) -> tuple[int, int]:
    return len(world.tanjak.aduan(local_id)["tanggapan"]), len(
        world.lapor.followups(national_id, disposition_events=False)
    )


def test_admin_verify_moves_local_status(world: World) -> None:
    local_id, national_id = _synced(world)
    world.lapor.verify(national_id, INSTITUTION)
    assert world.sync().ok
    assert world.tanjak.aduan(local_id)["status"] == "diverifikasi"


def test_admin_followup_becomes_local_response_once(world: World) -> None:
    local_id, national_id = _synced(world)
    world.lapor.verify(national_id, INSTITUTION)
    world.lapor.admin_followup(national_id, "Mohon dinas terkait segera menindaklanjuti.")
    world.sync()
    world.sync()
    responses = world.tanjak.aduan(local_id)["tanggapan"]
    copied = [t for t in responses if t["isi"] == "Mohon dinas terkait segera menindaklanjuti."]
    assert len(copied) == 1
    assert copied[0]["ref"].startswith("lb-")


def test_agency_followups_not_written_by_the_bridge_become_local_responses_once(
    world: World,
) -> None:
    local_id, national_id = _verified(world)
    # the agency's staff answer on lapor.go.id itself, twice, between the city's words
    world.lapor.agency_followup(national_id, INSTITUTION, "Tim kebersihan dijadwalkan besok.")
    world.sync()
    world.tanjak.respond(local_id, "DLH", "Sampah sudah kami angkut pagi ini.")
    world.sync()
    world.lapor.agency_followup(national_id, INSTITUTION, "Lokasi sudah dicek ulang: bersih.")
    for _ in range(3):
        assert world.sync().ok
    texts = [t["isi"] for t in world.tanjak.aduan(local_id)["tanggapan"]]
    assert texts == [
        "Tim kebersihan dijadwalkan besok.",
        "Sampah sudah kami angkut pagi ini.",
        "Lokasi sudah dicek ulang: bersih.",
    ]
    assert (
        len(world.lapor.followups(national_id, disposition_events=False)) == 3
    )  # nothing echoed either way


def test_the_city_s_response_whose_answer_was_lost_is_not_copied_back(world: World) -> None:
    local_id, national_id = _verified(world)
    world.tanjak.respond(local_id, "DLH", "Sampah sudah kami angkut pagi ini.")
    world.lapor.faults.inject("drop_after_write", method="POST", path=r"/followup/add$")
    for _ in range(3):
        world.sync()
    assert [f["content"] for f in world.lapor.followups(national_id, disposition_events=False)] == [
        "Sampah sudah kami angkut pagi ini."
    ]
    assert [t["isi"] for t in world.tanjak.aduan(local_id)["tanggapan"]] == [
        "Sampah sudah kami angkut pagi ini."
    ]


def test_after_the_database_is_lost_no_follow_up_is_posted_or_copied_twice(
    world: World,
) -> None:
    local_id, national_id = _verified(world)
    world.tanjak.respond(local_id, "DLH", "Sampah sudah kami angkut pagi ini.")
    world.lapor.agency_followup(national_id, INSTITUTION, "Tim kebersihan dijadwalkan besok.")
    world.sync()
    world.sync()
    world.settings.bridge.database.unlink()  # the whole state, gone
    for leftover in ("-wal", "-shm"):
        world.settings.bridge.database.with_name(f"bridge.db{leftover}").unlink(missing_ok=True)
    for _ in range(3):
        assert world.sync().ok
    assert sorted(
        f["content"] for f in world.lapor.followups(national_id, disposition_events=False)
    ) == [
        "Sampah sudah kami angkut pagi ini.",
        "Tim kebersihan dijadwalkan besok.",
    ]
    assert sorted(t["isi"] for t in world.tanjak.aduan(local_id)["tanggapan"]) == [
        "Sampah sudah kami angkut pagi ini.",
        "Tim kebersihan dijadwalkan besok.",
    ]


def test_after_a_restore_a_lapor_follow_up_is_not_written_into_the_app_twice(
    world: World,
) -> None:
    """The backup predates a LAPOR follow-up the bridge copied into the app: the restored
    ledger cannot prove it was never sent, so the app's responses are read for its
    reference before it is written."""
    local_id, national_id = _verified(world)
    database = world.settings.bridge.database
    backup = database.with_name("backup.db")
    with (
        contextlib.closing(sqlite3.connect(database)) as live,
        contextlib.closing(sqlite3.connect(backup)) as copy,
    ):
        live.backup(copy)
    world.lapor.admin_followup(national_id, "Mohon dinas terkait segera menindaklanjuti.")
    world.lapor.agency_followup(national_id, INSTITUTION, "Tim kebersihan dijadwalkan besok.")
    assert world.sync().ok
    assert _counts(world, local_id, national_id)[0] == 2
    for leftover in ("-wal", "-shm"):
        database.with_name(f"{database.name}{leftover}").unlink(missing_ok=True)
    backup.replace(database)  # the restore
    for _ in range(2):
        assert world.sync().ok
    texts = sorted(t["isi"] for t in world.tanjak.aduan(local_id)["tanggapan"])
    assert texts == [
        "Mohon dinas terkait segera menindaklanjuti.",
        "Tim kebersihan dijadwalkan besok.",
    ]
    assert _counts(world, local_id, national_id)[1] == 2  # nothing echoed to LAPOR either


def test_city_response_becomes_lapor_followup_and_no_echo(world: World) -> None:
    local_id, national_id = _verified(world)
    world.tanjak.respond(local_id, "DLH", "Sampah sudah kami angkut pagi ini.")
    world.sync()
    followups = world.lapor.followups(national_id, disposition_events=False)
    assert [f["content"] for f in followups] == ["Sampah sudah kami angkut pagi ini."]
    assert followups[0]["institution_from_name"] == INSTITUTION
    assert world.lapor.complaint(national_id)["status_code"] == 40
    before = _counts(world, local_id, national_id)
    for _ in range(3):
        assert world.sync().ok
    assert _counts(world, local_id, national_id) == before  # nothing echoed back or repeated


def test_response_before_verification_waits_then_goes(world: World) -> None:
    local_id, national_id = _synced(world)
    world.tanjak.respond(local_id, "DLH", "Laporan diterima, tim akan ke lokasi.")
    world.sync()
    assert (
        world.lapor.followups(national_id, disposition_events=False) == []
    )  # LAPOR refuses until it is disposed to us
    world.lapor.verify(national_id, INSTITUTION)
    world.sync()
    assert [f["content"] for f in world.lapor.followups(national_id, disposition_events=False)] == [
        "Laporan diterima, tim akan ke lokasi."
    ]


def test_local_done_completes_lapor(tmp_path: Path) -> None:
    """With the (modelled) mark_completed capability the done follow-up closes LAPOR's
    complaint at once (without it, LAPOR closes later: test_lapor_profiles)."""
    world = World(tmp_path, capabilities=("mark_completed",))
    try:
        _local_done_completes_lapor(world)
    finally:
        world.stop()


def _local_done_completes_lapor(world: World) -> None:
    local_id, national_id = _verified(world)
    world.tanjak.respond(local_id, "DLH", "Sudah diangkut dan lokasi dibersihkan.")
    world.tanjak.set_status(local_id, "selesai")
    world.sync()
    assert world.lapor.complaint(national_id)["status_code"] == 60
    world.sync()
    assert world.tanjak.aduan(local_id)["status"] == "selesai"
    assert len(world.lapor.followups(national_id, disposition_events=False)) == 2


def test_lapor_archive_rejects_locally_with_reason(world: World) -> None:
    local_id, national_id = _synced(world)
    world.lapor.archive(national_id, "Laporan ganda dengan #9160001.")
    world.sync()
    aduan = world.tanjak.aduan(local_id)
    assert aduan["status"] == "ditolak"
    reasons = [t for t in aduan["tanggapan"] if "Laporan ganda" in t["isi"]]
    assert len(reasons) == 1


def test_archive_reason_only_in_the_history_reaches_the_app_through_the_inbox(
    inbox_world: World,
) -> None:
    world = inbox_world
    local_id, national_id = _synced(world)
    world.lapor.verify(national_id, INSTITUTION)  # disposed: tracked through the inbox
    assert world.sync().ok
    world.lapor.archive(national_id, "Laporan ganda dengan #9160001.", followup=False)
    world.sync()
    aduan = world.tanjak.aduan(local_id)
    assert aduan["status"] == "ditolak"
    assert [t["isi"] for t in aduan["tanggapan"]] == ["Laporan ganda dengan #9160001."]


def test_done_vs_rejected_is_a_conflict_not_overwritten(world: World) -> None:
    local_id, national_id = _synced(world)
    world.lapor.archive(national_id, "Bukan pengaduan.")
    world.tanjak.set_status(local_id, "selesai")
    world.sync()
    world.sync()
    assert world.tanjak.aduan(local_id)["status"] == "selesai"
    assert world.lapor.complaint(national_id)["status_code"] == 90
    store = world.store()
    mapping = store.mapping("tanjak", str(local_id))
    events = [e.kind for e in store.events_for("tanjak", str(local_id), national_id)]
    store.close()
    assert mapping is not None and mapping.conflict == 1
    assert events.count("status_conflict") == 1


def test_inbox_complaint_created_once_in_home_app(tmp_path: Path) -> None:
    """With the inbox and the category tree (both modelled), a complaint filed on LAPOR
    is created in the home app under the app's category for its LAPOR topic."""
    world = World(tmp_path, capabilities=("inbox", "categories"))
    try:
        _inbox_complaint_created_once_in_home_app(world)
    finally:
        world.stop()


def _inbox_complaint_created_once_in_home_app(world: World) -> None:
    filed = world.lapor.file_complaint(
        "Lampu jalan mati di Jl. Pramuka",
        "Sudah seminggu lampu jalan mati di depan masjid, gelap dan rawan.",
        "PERHUBUNGAN/LAMPU PENERANGAN JALAN UMUM",
        INSTITUTION,
        reporter={"name": "Rahmat Hidayat", "phone": "081277712345", "email": None, "nik": None},
    )
    national_id = filed["id"]
    for _ in range(3):
        assert world.sync().ok
    created = [a for a in world.tanjak.all_aduan() if a["lapor_id"] == f"#{national_id}"]
    assert len(created) == 1
    assert created[0]["kategori"] == "penerangan"
    assert created[0]["status"] == "diverifikasi"
    # the pair is followed from then on: the city answers, LAPOR sees it
    world.tanjak.respond(created[0]["id"], "Dishub", "Lampu sudah diganti hari ini.")
    world.sync()
    assert [f["content"] for f in world.lapor.followups(national_id, disposition_events=False)] == [
        "Lampu sudah diganti hari ini."
    ]
    assert len(world.lapor.complaints()) == 1  # never pushed back as a new complaint


def test_own_complaint_back_through_inbox_is_not_imported(inbox_world: World) -> None:
    world = inbox_world
    _, national_id = _synced(world)
    world.lapor.verify(national_id, INSTITUTION)
    for _ in range(2):
        world.sync()
    assert len(world.tanjak.all_aduan()) == 1


def _imported_from_the_inbox(world: World) -> tuple[dict[str, Any], dict[str, Any]]:
    """A complaint filed on LAPOR about a place outside the city, and its Tanjak copy."""
    filed = world.lapor.file_complaint(
        "Izin bangunan di kabupaten",
        "Ada bangunan tanpa izin di wilayah Kabupaten Bintan, mohon ditertibkan.",
        "TOPIK LAINNYA",
        INSTITUTION,
    )
    world.sync()
    aduan = next(a for a in world.tanjak.all_aduan() if a["lapor_id"] == f"#{filed['id']}")
    return filed, aduan


def test_local_rejected_on_inbox_complaint_hands_it_back(inbox_world: World) -> None:
    world = inbox_world
    filed, aduan = _imported_from_the_inbox(world)
    world.tanjak.respond(
        aduan["id"], "DPMPTSP", "Lokasi berada di Kabupaten Bintan, bukan kewenangan kota."
    )
    world.tanjak.set_status(aduan["id"], "ditolak")
    world.sync()
    national = world.lapor.complaint(filed["id"])
    assert national["status_code"] == 10 and national["disposition_id"] is None


def test_lost_answer_on_a_hand_back_is_done_not_held(inbox_world: World) -> None:
    world = inbox_world
    filed, aduan = _imported_from_the_inbox(world)
    world.tanjak.set_status(aduan["id"], "ditolak")
    # handed back, the answer lost: the retry meets 403, the complaint is no longer ours
    world.lapor.faults.inject("drop_after_write", method="POST", path=r"/reject$")
    world.sync()
    report = world.sync()
    assert report.ok, report
    assert world.lapor.complaint(filed["id"])["status_code"] == 10
    assert world.store().pending_followups("to_national", "tanjak", None) == []


def test_lost_answer_on_followup_is_recovered_with_one_followup(world: World) -> None:
    local_id, national_id = _verified(world)
    world.tanjak.respond(local_id, "DLH", "Petugas kebersihan sudah dijadwalkan besok.")
    world.lapor.faults.inject("drop_after_write", method="POST", path=r"/followup/add$")
    world.sync()
    world.sync()
    contents = [f["content"] for f in world.lapor.followups(national_id, disposition_events=False)]
    assert contents == ["Petugas kebersihan sudah dijadwalkan besok."]


def test_crash_after_followup_post_leaves_one(world: World) -> None:
    local_id, national_id = _verified(world)
    world.tanjak.respond(local_id, "DLH", "Truk sampah sudah dikirim ke lokasi.")

    def crash(at: str) -> None:
        if at == "followup_posted":
            raise CrashPoint(at)

    with contextlib.suppress(CrashPoint):
        world.sync(crash_hook=crash)
    world.sync()
    assert [f["content"] for f in world.lapor.followups(national_id, disposition_events=False)] == [
        "Truk sampah sudah dikirim ke lokasi."
    ]


def test_reporter_reply_reaches_local_app(world: World) -> None:
    local_id, national_id = _verified(world)
    world.tanjak.respond(local_id, "DLH", "Sudah kami angkut, mohon konfirmasi.")
    world.sync()
    world.lapor.reporter_followup(national_id, "Benar, sudah bersih. Terima kasih.")
    world.sync()
    texts: list[Any] = [t["isi"] for t in world.tanjak.aduan(local_id)["tanggapan"]]
    assert texts.count("Benar, sudah bersih. Terima kasih.") == 1
    assert world.tanjak.aduan(local_id)["status"] == "diproses"


def test_polling_backs_off_with_age_and_inactivity() -> None:
    from datetime import timedelta

    from bridge.sync.twoway import POLL_MAX, poll_interval

    minute = timedelta(minutes=1)
    fresh = poll_interval(timedelta(minutes=2), timedelta(minutes=2), minute)
    week_old = poll_interval(timedelta(days=7), timedelta(days=2), minute)
    ancient = poll_interval(timedelta(days=300), timedelta(days=100), minute)
    assert fresh == minute
    assert minute < week_old < POLL_MAX
    assert ancient == POLL_MAX
    assert poll_interval(timedelta(days=7), timedelta(days=7), timedelta(0)) == timedelta(0)
