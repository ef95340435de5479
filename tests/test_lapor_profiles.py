"""LAPOR as public code shows it (the evidenced profile), over real HTTP against the sandbox.

Nothing here turns a capability on unless the test says so: the bridge must work with
what is seen — no tag search, no inbox, no category list — and settle every lost create
by evidence (lapor.md, "Recovery"), never by posting again on a guess.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from PIL import Image

from adapters.sandbox import lapor as lapor_sandbox
from tests.harness import World

MODELLED = (r"^/complaints$", r"^/complaints/inbox$", r"^/masters/categories$")


def _modelled_requests(world: World) -> int:
    return sum(world.lapor.count_requests("GET", path) for path in MODELLED)


def _file(world: World, text: str) -> str:
    return str(world.tanjak.add_aduan(isi=text)["id"])


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 40, 40)).save(out, "JPEG")
    return out.getvalue()


@pytest.fixture
def quick(tmp_path: Path) -> World:
    """A world whose LAPOR may apply a create for 1 s only, so that a later create bounds a
    scan soon."""
    w = World(tmp_path, create_timeout=1.0)
    yield w  # type: ignore[misc]
    w.stop()


def test_a_create_carries_the_marker_and_only_evidenced_fields(world: World) -> None:
    local_id = _file(world, "Lampu penerangan jalan mati di Jl. Merdeka sejak tiga hari.")
    assert world.sync().ok
    [complaint] = world.national_for(local_id)
    assert complaint["content"].splitlines()[0] == f"[ext-tanjak-{local_id}]"
    assert (complaint["location_id"], complaint["channel"], complaint["user_id"]) == (
        34,
        13,
        100001,
    )
    assert complaint["category_id"] == world.lapor.category_id("TOPIK LAINNYA")  # "*"
    assert _modelled_requests(world) == 0


@pytest.mark.parametrize("shape", ["complaint", "top_level", "data", "results_id", "string_id"])
def test_every_create_answer_shape_is_mapped(world: World, shape: str) -> None:
    world.lapor.create_answer = shape
    local_id = _file(world, "Sampah menumpuk di pinggir jalan depan pasar sejak minggu lalu.")
    assert world.sync().ok
    [complaint] = world.national_for(local_id)
    store = world.store()
    try:
        mapping = store.mapping("tanjak", local_id)
    finally:
        store.close()
    assert mapping is not None and mapping.national_id == complaint["id"]
    assert world.tanjak.aduan(int(local_id))["lapor_id"] == f"#{complaint['id']}"


def test_photos_are_attached_by_their_images_ids(world: World) -> None:
    local_id = _file(world, "Jalan berlubang besar di depan sekolah, berbahaya bagi motor.")
    world.tanjak.add_photo(int(local_id), _jpeg())
    world.tanjak.add_photo(int(local_id), _jpeg())
    assert world.sync().ok
    [complaint] = world.national_for(local_id)
    assert len(complaint["attachments"]) == 2


def test_a_lost_create_is_found_by_the_bracket_scan_not_posted_again(quick: World) -> None:
    world = quick
    first = _file(world, "Drainase tersumbat di RT 02 RW 03, air meluap ke jalan.")
    assert world.sync().ok  # L: an answered create before the lost one
    lost = _file(world, "Pohon tumbang menutup jalan di Jl. Sudirman dekat masjid.")
    world.lapor.faults.inject("drop_after_write", method="POST", path=r"/complaints/complaint$")
    report = world.sync()
    assert report.sources["tanjak"].in_doubt == 1
    assert len(world.national_for(lost)) == 1  # LAPOR made it; the answer was lost
    time.sleep(1.2)  # past the lost create's deadline
    later = _file(world, "Parkir liar memenuhi trotoar di depan pertokoan setiap sore.")
    world.sync()  # U: a create sent after the deadline; the scan runs at the next pass
    report = world.sync()
    assert report.ok, report
    for local_id in (first, lost, later):
        assert len(world.national_for(local_id)) == 1, local_id
    store = world.store()
    try:
        assert store.in_doubt("tanjak") == []
        mapping = store.mapping("tanjak", lost)
        events = [e.kind for e in store.events_for("tanjak", lost, None)]
    finally:
        store.close()
    assert mapping is not None and mapping.national_id == world.national_for(lost)[0]["id"]
    assert events.count("create_in_doubt") == 1 and events.count("created") == 1
    assert _modelled_requests(world) == 0


def test_a_create_that_lapor_never_applied_is_posted_again_after_a_complete_scan(
    quick: World,
) -> None:
    world = quick
    _file(world, "Drainase tersumbat di RT 02 RW 03, air meluap ke jalan.")
    assert world.sync().ok
    lost = _file(world, "Lampu taman kota padam semua sejak hujan deras kemarin malam.")
    # a 503 before LAPOR processed it: the bridge cannot know, so it is in doubt
    world.lapor.faults.inject("503", method="POST", path=r"/complaints/complaint$")
    world.sync()
    assert world.national_for(lost) == []
    time.sleep(1.2)
    _file(world, "Parkir liar memenuhi trotoar di depan pertokoan setiap sore.")
    world.sync()
    assert world.sync().ok
    assert len(world.national_for(lost)) == 1
    store = world.store()
    try:
        evidence = [
            e for e in store.events_for("tanjak", lost, None) if e.kind == "indoubt_checked"
        ]
    finally:
        store.close()
    assert evidence and "none carries the marker" in str(evidence[-1].detail)


def test_a_bracket_full_of_the_bridges_own_creates_is_read_past_them(tmp_path: Path) -> None:
    """Creates in flight (or another account creating meanwhile) fill a lost create's
    bracket with complaints the bridge made for other records: they are not read, and
    only the ids nobody accounts for count against scan_limit."""
    world = World(tmp_path, create_timeout=1.0, max_in_flight=1, scan_limit=1)
    try:
        _file(world, "Drainase tersumbat di RT 02 RW 03, air meluap ke jalan.")
        assert world.sync().ok  # L: an answered create before the lost one
        lost = _file(world, "Pohon tumbang menutup jalan di Jl. Sudirman dekat masjid.")
        others = [_file(world, f"Lampu jalan nomor {n} mati sejak pekan lalu, gelap.") for n in
                  range(4)]  # fmt: skip
        world.lapor.faults.inject("drop_after_write", method="POST", path=r"/complaints/complaint$")
        report = world.sync()  # the lost create, then four answered within its deadline
        assert report.sources["tanjak"].in_doubt == 1 and report.sources["tanjak"].created == 4
        time.sleep(1.2)  # past the lost create's deadline
        _file(world, "Parkir liar memenuhi trotoar di depan pertokoan setiap sore.")
        world.sync()  # U: a create sent after the deadline; the bracket holds 5 ids, 4 ours
        assert world.sync().ok
        store = world.store()
        try:
            mapping = store.mapping("tanjak", lost)
            evidence = [
                str(e.detail) for e in store.events_for("tanjak", lost, None)
                if e.kind == "indoubt_checked"
            ]  # fmt: skip
        finally:
            store.close()
        assert mapping is not None and mapping.national_id == world.national_for(lost)[0]["id"]
        for local_id in (lost, *others):
            assert len(world.national_for(local_id)) == 1, local_id
        # scan_limit 1: had the four been counted, the create would wait for the operator
        assert not any("left to the operator" in e for e in evidence), evidence
    finally:
        world.stop()


def test_without_a_bracket_the_record_waits_for_the_operator(world: World) -> None:
    lost = _file(world, "Genangan air setinggi lutut di depan SD 005 setelah hujan.")
    world.lapor.faults.inject("drop_after_write", method="POST", path=r"/complaints/complaint$")
    world.sync()
    world.sync()  # no earlier create: nothing bounds a scan; never posted on a guess
    world.sync()
    world.sync()
    assert len(world.national_for(lost)) == 1
    store = world.store()
    try:
        [doubt] = store.in_doubt("tanjak")
        assert doubt.local_id == lost and "no scan" in (doubt.evidence or "")
        # looked at on each pass, the same finding: one line in the audit log, not one a pass
        checked = [e for e in store.events_for("tanjak", lost, None) if e.kind == "indoubt_checked"]
        assert len(checked) == 1, checked
        with store.atomic():
            store.decide(doubt.id, f"tracking:{world.national_for(lost)[0]['id']}")
    finally:
        store.close()
    assert world.sync().ok
    store = world.store()
    try:
        assert store.in_doubt("tanjak") == []
        mapping = store.mapping("tanjak", lost)
    finally:
        store.close()
    assert mapping is not None and mapping.national_id == world.national_for(lost)[0]["id"]
    assert len(world.national_for(lost)) == 1


def test_a_slow_create_is_waited_for_and_a_timed_out_one_is_in_doubt(quick: World) -> None:
    world = quick
    world.lapor.create_delay = 1.5  # LAPOR's 90 s creates, scaled: past the 1 s timeout
    lost = _file(world, "Jembatan kayu di kampung nelayan rusak dan berlubang.")
    report = world.sync()
    assert report.sources["tanjak"].in_doubt == 1
    world.lapor.create_delay = 0
    assert len(world.national_for(lost)) == 1


def test_agency_follow_ups_reach_the_app_and_disposition_events_do_not(world: World) -> None:
    local_id = _file(world, "Sampah menumpuk di pinggir jalan depan pasar sejak minggu lalu.")
    assert world.sync().ok
    [complaint] = world.national_for(local_id)
    world.lapor.verify(complaint["id"], "Pemerintah Kota Tanjungpinang")  # + a disposition
    world.lapor.agency_followup(
        complaint["id"], "Pemerintah Kota Tanjungpinang", "Petugas kebersihan sudah dikirim."
    )
    world.lapor.admin_followup(complaint["id"], "Mohon segera ditindaklanjuti oleh instansi.")
    assert world.sync().ok
    responses = [r["isi"] for r in world.tanjak.aduan(int(local_id))["tanggapan"]]
    assert "Petugas kebersihan sudah dikirim." in responses
    assert "Mohon segera ditindaklanjuti oleh instansi." in responses
    dispositions = [
        f["content"]
        for f in world.lapor.followups(complaint["id"])
        if f.get("template_code") == "disposition"
    ]
    assert dispositions and not set(dispositions) & set(responses)
    assert world.sync().ok  # and nothing is copied twice
    again = [r["isi"] for r in world.tanjak.aduan(int(local_id))["tanggapan"]]
    assert again == responses


def test_a_local_done_is_a_done_follow_up_and_lapor_closes_on_its_own(world: World) -> None:
    local_id = _file(world, "Lampu penerangan jalan mati di Jl. Merdeka sejak tiga hari.")
    assert world.sync().ok
    [complaint] = world.national_for(local_id)
    world.lapor.verify(complaint["id"], "Pemerintah Kota Tanjungpinang")
    world.tanjak.set_status(int(local_id), "selesai")
    assert world.sync().ok
    posted = [f for f in world.lapor.followups(complaint["id"]) if f.get("template_code") == "done"]
    assert len(posted) == 1
    assert world.lapor.complaint(complaint["id"])["status_code"] != 60  # no mark_completed
    world.lapor.complete(complaint["id"])  # later, LAPOR closes it
    assert world.sync().ok
    assert world.tanjak.aduan(int(local_id))["status"] == "selesai"


def test_an_unknown_status_name_moves_nothing_and_is_reported(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    local_id = _file(world, "Genangan air setinggi lutut di depan SD 005 setelah hujan.")
    assert world.sync().ok
    [complaint] = world.national_for(local_id)
    world.lapor.postpone(complaint["id"], "Mohon lengkapi alamat.")
    # a name LAPOR may add that the contract does not list
    monkeypatch.setitem(lapor_sandbox.STATUS_NAMES, 20, "Menunggu Tanggapan Pelapor")
    assert world.sync().ok
    store = world.store()
    try:
        events = [e for e in store.events_for("tanjak", local_id, None)]
        mapping = store.mapping("tanjak", local_id)
    finally:
        store.close()
    assert any(e.kind == "unknown_status_name" for e in events)
    assert mapping is not None and mapping.national_canonical == "submitted"
    assert world.tanjak.aduan(int(local_id))["status"] == "baru"


def test_every_built_in_category_is_a_whole_path_of_lapors_2025_tree() -> None:
    """The apps' built-in maps name LAPOR's real topics (2025), as whole paths."""
    from adapters.local.open311 import normalize as open311
    from adapters.local.sambat import normalize as sambat
    from adapters.local.tanjak import normalize as tanjak
    from adapters.local.ujar import normalize as ujar

    sandbox = lapor_sandbox.LaporSandbox()
    try:
        for app in (tanjak, ujar, sambat, open311):
            for code, path in app.CATEGORIES.items():
                assert sandbox.category_path(sandbox.category_id(path)) == path, (code, path)
    finally:
        sandbox.stop()


def test_the_reporter_goes_to_lapor_only_when_the_source_says_so_and_never_the_nik(
    world: World,
) -> None:
    pelapor = {"nama": "Siti Rahmawati Lubis", "hp": "0812-7788-9911", "nik": "2172014506900003"}
    quiet = str(
        world.tanjak.add_aduan(isi="Lampu jalan mati di Jl. Pramuka.", pelapor=pelapor)["id"]
    )
    assert world.sync().ok
    [complaint] = world.national_for(quiet)
    assert not complaint["reporter"]
    text = world.config_path.read_text(encoding="utf-8")
    world.config_path.write_text(
        text.replace("classification_id = 1\n", "classification_id = 1\nsend_reporter = true\n"),
        encoding="utf-8",
    )
    told = str(world.tanjak.add_aduan(isi="Sampah menumpuk di Jl. Ganet.", pelapor=pelapor)["id"])
    assert world.sync().ok
    [complaint] = world.national_for(told)
    assert complaint["reporter"]["name"] == "Siti Rahmawati Lubis"
    assert complaint["reporter"]["phone"] == "+6281277889911"
    assert "2172014506900003" not in str(world.lapor.complaints())
    store = world.store()
    try:  # the frozen body forgets the reporter once LAPOR has the complaint
        payloads = [row["payload"] for row in store.db.query("SELECT payload FROM intents")]
    finally:
        store.close()
    assert payloads and not any("Siti" in p or "7788" in p for p in payloads)
