"""The bridge against each real-server profile of the Open311 sandbox (open311.md,
"Real servers"), over real loopback HTTP, through the engine and the store.

Against every profile: each request is created once on LAPOR, its link note is
posted once (and never again in later passes), an update made in the city
reaches LAPOR, and nothing the bridge wrote comes back to LAPOR. Then what
only one family does: 300 requests in one window of a 50-capped server that
answers newest-updated first, a city that speaks only XML, requests listed
without an id while being processed, a request the server cannot read alone,
a bad key answered 400, and malformed answers (broken XML, an entity bomb, a
list of non-objects), which fail the pass by name and keep the cursor.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import cast

import pytest

from adapters.local.open311.normalize import link_update_id
from bridge.core.model import Status
from bridge.core.timefmt import utcnow
from bridge.sync.engine import Engine, PassReport
from bridge.sync.store import Store
from tests.kits import Kit
from tests.kits.open311 import (
    Open311AdapterKit,
    Open311CappedKit,
    Open311FmsKit,
    Open311Kit,
    Open311XmlKit,
    bridge_ref,
    split_ref,
)
from tests.test_adapter_contract import Rig

KITS: dict[str, type[Open311Kit]] = {
    "spec": Open311Kit,
    "fms": Open311FmsKit,
    "adapter": Open311AdapterKit,
    "capped": Open311CappedKit,
    "xml": Open311XmlKit,
}
INSTITUTION = "Pemerintah Kota Tanjungpinang"
CITY_TEXT = "Petugas kebersihan sudah dijadwalkan hari Kamis pagi."
ADMIN_TEXT = "Mohon instansi segera menindaklanjuti laporan ini."
LINK_WORDS = "Tercatat di LAPOR-SP4N"


def open_rig(kit: Open311Kit, tmp_path: Path) -> Rig:
    return Rig(cast(Kit, kit), tmp_path)


def sync(rig: Rig) -> PassReport:
    """One pass, as the rig's, but every linked complaint polled on LAPOR each pass (as
    ``tests.harness.sync_once``): LAPOR's answers are written back without waiting."""
    store = Store(rig.db)
    try:
        engine = Engine(
            store, {"city": rig.source}, {"acct": rig.national}, poll_floor=timedelta(0)
        )
        return engine.sync()
    finally:
        store.close()


@pytest.fixture(params=sorted(KITS))
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Rig]:
    r = open_rig(KITS[request.param](), tmp_path)
    try:
        yield r
    finally:
        r.close()


def kit_of(rig: Rig) -> Open311Kit:
    return cast(Open311Kit, rig.kit)


def link_notes(kit: Open311Kit, local_id: str) -> int:
    """How many link notes the city holds for the request (by update_id or marker)."""
    return sum(bridge_ref(u) == link_update_id(local_id) for u in kit.updates(local_id))


def bridge_posts(kit: Open311Kit) -> int:
    return kit.sandbox.count_requests("POST", r"/servicerequestupdates\.\w+$")


def national_id(rig: Rig, local_id: str) -> int:
    [found] = rig.national_for(local_id)
    return int(cast(int, found["id"]))


def lapor_texts(rig: Rig, national: int) -> list[str]:
    return [str(f.get("content") or "") for f in rig.lapor.followups(national)]


def cursor(rig: Rig) -> str | None:
    store = Store(rig.db)
    try:
        return store.cursor("city")
    finally:
        store.close()


def quarantined_ids(rig: Rig) -> set[str]:
    store = Store(rig.db)
    try:
        return {q.local_id for q in store.quarantined("city")}
    finally:
        store.close()


# every profile ---------------------------------------------------------------------


def test_each_request_is_created_once_and_its_link_posted_once(rig: Rig) -> None:
    kit = kit_of(rig)
    rng = random.Random(23)
    ids = [kit.add_record(rng) for _ in range(5)]
    kit.city_sets_status(ids[0], Status.IN_PROGRESS)
    first = sync(rig)
    assert first.ok, first
    assert first.sources["city"].created == 5
    for local_id in ids:
        assert len(rig.national_for(local_id)) == 1, local_id
        assert kit.link_value(local_id) == national_id(rig, local_id)
        assert link_notes(kit, local_id) == 1, kit.updates(local_id)
    posts = bridge_posts(kit)
    for _ in range(3):
        again = sync(rig)
        assert again.ok, again
        assert again.sources["city"].created == 0
    assert bridge_posts(kit) == posts, "the bridge posted again what it had written"
    assert [link_notes(kit, local_id) for local_id in ids] == [1] * 5
    assert len(rig.lapor.complaints()) == 5


def test_a_city_update_reaches_lapor_and_nothing_the_bridge_wrote_comes_back(rig: Rig) -> None:
    kit = kit_of(rig)
    local_id = kit.add_record(random.Random(24))
    assert sync(rig).ok
    national = national_id(rig, local_id)
    rig.lapor.verify(national, INSTITUTION)
    rig.lapor.admin_followup(national, ADMIN_TEXT)
    report = sync(rig)
    assert report.ok, report
    kit.city_responds(local_id, CITY_TEXT)
    for _ in range(3):
        report = sync(rig)
        assert report.ok, report
    texts = lapor_texts(rig, national)
    assert sum(CITY_TEXT in t for t in texts) == 1, texts
    assert sum(ADMIN_TEXT in t for t in texts) == 1, texts  # LAPOR's own, not an echo
    assert not [t for t in texts if LINK_WORDS in t or "[lb-" in t], texts
    in_city = [split_ref(u["description"] or "")[0] for u in kit.updates(local_id)]
    assert sum(ADMIN_TEXT in t for t in in_city) == 1, in_city  # written back once
    assert len(rig.lapor.complaints()) == 1


# one family each ---------------------------------------------------------------------


def test_300_requests_in_one_window_of_a_50_capped_newest_updated_first_city(
    tmp_path: Path,
) -> None:
    kit = Open311CappedKit()
    assert (kit.sandbox.max_requests, kit.sandbox.order) == (50, "updated")
    rig = open_rig(kit, tmp_path)
    try:
        now = utcnow()
        ids = kit.sandbox.seed_bulk(
            300, now - timedelta(hours=2), now - timedelta(hours=1, minutes=30)
        )
        # the city works on some of them: newest-updated first is not newest-requested first
        for local_id in ids[::7]:
            kit.sandbox.add_update(local_id, "investigating", "Petugas memeriksa lokasi.")
        report = sync(rig)
        assert report.ok, report
        assert report.sources["city"].created == 300
        assert all(len(rig.national_for(local_id)) == 1 for local_id in ids)
        assert kit.sandbox.count_requests("GET", r"/requests\.json$") > 6  # cut, and split
        for _ in range(3):
            again = sync(rig)
            assert again.ok, again
            assert again.sources["city"].created == 0
        assert len(rig.lapor.complaints()) == 300
        assert all(link_notes(kit, local_id) == 1 for local_id in ids)
    finally:
        rig.close()


def test_an_xml_only_city_is_read_and_written_in_xml_alone(tmp_path: Path) -> None:
    kit = Open311XmlKit()
    rig = open_rig(kit, tmp_path)
    try:
        rng = random.Random(25)
        ids = [kit.add_record(rng) for _ in range(3)]
        report = sync(rig)
        assert report.ok, report
        assert report.sources["city"].created == 3
        # a city's answer goes to LAPOR once LAPOR has sent the complaint to the city
        rig.lapor.verify(national_id(rig, ids[1]), INSTITUTION)
        assert sync(rig).ok
        kit.city_responds(ids[1], CITY_TEXT)
        assert sync(rig).ok
        assert sum(CITY_TEXT in t for t in lapor_texts(rig, national_id(rig, ids[1]))) == 1
        assert kit.sandbox.count_requests("GET", r"\.json$") == 0
        assert kit.sandbox.count_requests("POST", r"\.json$") == 0
        assert all(link_notes(kit, local_id) == 1 for local_id in ids)
    finally:
        rig.close()


def test_a_request_listed_without_an_id_is_read_once_it_has_one(tmp_path: Path) -> None:
    kit = Open311CappedKit()
    rig = open_rig(kit, tmp_path)
    try:
        held = str(
            kit.sandbox.add_request(address="Jl. Ganet", processing=True)["service_request_id"]
        )
        shown = kit.add_record(random.Random(26))
        report = sync(rig)
        assert report.ok, report
        assert report.sources["city"].quarantined == 0
        assert report.sources["city"].created == 1 and len(rig.national_for(shown)) == 1
        assert kit.sandbox.finish_processing() == [held]
        report = sync(rig)
        assert report.ok, report
        assert len(rig.national_for(held)) == 1  # its window was read again
    finally:
        rig.close()


def test_a_request_the_server_cannot_read_alone_blocks_no_other(tmp_path: Path) -> None:
    kit = Open311AdapterKit()
    rig = open_rig(kit, tmp_path)
    try:
        rng = random.Random(27)
        ids = [kit.add_record(rng) for _ in range(3)]
        assert sync(rig).ok
        for local_id in ids:  # LAPOR sends them to the city, so the city's answers go back
            rig.lapor.verify(national_id(rig, local_id), INSTITUTION)
        assert sync(rig).ok
        kit.sandbox.add_update(ids[0], "for_triage", "Diteruskan ke tim triase.")  # 500 alone
        kit.sandbox.add_update(ids[1], "planned", "Perbaikan direncanakan bulan depan.")
        kit.city_responds(ids[2], CITY_TEXT)
        sync(rig)  # may report the unreadable one; must not stop the others
        assert sum(CITY_TEXT in t for t in lapor_texts(rig, national_id(rig, ids[2]))) == 1
        planned = lapor_texts(rig, national_id(rig, ids[1]))
        assert sum("direncanakan bulan depan" in t for t in planned) == 1  # unknown status: text
        kit.sandbox.add_update(ids[0], "in_progress", "Tim sudah di lokasi.")
        for _ in range(2):
            sync(rig)
        triaged = lapor_texts(rig, national_id(rig, ids[0]))
        assert sum("Tim sudah di lokasi." in t for t in triaged) == 1, triaged
        assert len(rig.lapor.complaints()) == 3
    finally:
        rig.close()


@pytest.mark.parametrize("kit_class", [Open311FmsKit, Open311AdapterKit])
def test_a_bad_key_answered_400_fails_the_pass_as_authentication(
    tmp_path: Path, kit_class: type[Open311Kit]
) -> None:
    kit = kit_class(api_key="kunci-lain")  # the bridge is configured with the kit's KEY
    rig = open_rig(kit, tmp_path)
    try:
        kit.add_record(random.Random(28))
        report = sync(rig)
        source = report.sources["city"]
        assert not source.ok
        assert "api_key" in (source.error or ""), source.error
        assert source.quarantined == 0 and source.created == 0
    finally:
        rig.close()


#: the shape each malformed answer must be named by, in the pass's error (any of the words)
SHAPE_WORDS = {
    "truncated": ("xml", "json"),
    "entity_bomb": ("doctype", "dtd", "entit", "forbidden"),
    "non_objects": ("object",),
}


@pytest.mark.parametrize(
    ("kit_class", "kind"),
    [
        (Open311XmlKit, "truncated"),
        (Open311XmlKit, "entity_bomb"),
        (Open311XmlKit, "non_objects"),
        (Open311Kit, "non_objects"),
        (Open311AdapterKit, "non_objects"),
        (Open311FmsKit, "truncated"),
    ],
)
def test_a_malformed_answer_fails_the_pass_by_name_and_keeps_the_cursor(
    tmp_path: Path, kit_class: type[Open311Kit], kind: str
) -> None:
    kit = kit_class()
    rig = open_rig(kit, tmp_path)
    try:
        rng = random.Random(29)
        ids = [kit.add_record(rng)]
        assert sync(rig).ok
        before = cursor(rig)
        ids += [kit.add_record(rng) for _ in range(2)]
        kit.sandbox.malform(kind)
        report = sync(rig)
        source = report.sources["city"]
        assert not source.ok, "a malformed answer passed as a good one"
        error = (source.error or "").lower()
        assert "city" in error, source.error  # the source, by name
        assert any(word in error for word in SHAPE_WORDS[kind]), source.error
        assert cursor(rig) == before
        if kind == "non_objects":  # the garbled item keeps its id: it can be told
            assert ids[-1] in quarantined_ids(rig)
        kit.sandbox.clear_malformations()
        report = sync(rig)
        assert report.ok, report
        assert [len(rig.national_for(local_id)) for local_id in ids] == [1, 1, 1]
        assert len(rig.lapor.complaints()) == 3
    finally:
        rig.close()


def test_a_new_request_costs_one_write_back_and_no_read_of_it(rig: Rig) -> None:
    """The link note keeps the status the pass's own read showed (issue 19: the floor)."""
    kit = kit_of(rig)
    rng = random.Random(31)
    ids = [kit.add_record(rng) for _ in range(3)]
    kit.city_sets_status(ids[0], Status.IN_PROGRESS)
    posts = bridge_posts(kit)
    report = sync(rig)
    assert report.ok, report
    for local_id in ids:
        reads = kit.sandbox.count_requests("GET", rf"/requests/{local_id}\.\w+$")
        assert reads == 0, f"{local_id} read again {reads} times to write its link note"
    assert bridge_posts(kit) - posts == 3
    assert kit.status_of(ids[0]) == Status.IN_PROGRESS  # the note kept the city's status
