"""One suite, every city adapter plugged in: what the core relies on from any app.

Each test runs over real loopback HTTP against the app's sandbox and the
LAPOR-SP4N sandbox, through the real engine and store.
"""

from __future__ import annotations

import importlib
import random
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from adapters.lapor.client import AccountConfig, LaporConfig, Route, connect
from adapters.sandbox.lapor import LaporSandbox
from bridge.core.model import FollowUp, NationalComplaint, Status
from bridge.core.timefmt import utcnow
from bridge.sync.engine import Engine, PassReport
from bridge.sync.store import Store
from tests.kits import FAST, Kit

SECRET = "contract-secret"
TOKEN = "{aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee}"
KITS = {
    "tanjak": "tests.kits.tanjak:TanjakKit",
    "ujar": "tests.kits.ujar:UjarKit",
    "sambat": "tests.kits.sambat:SambatKit",
    "open311": "tests.kits.open311:Open311Kit",
    # the real servers of open311.md, one sandbox profile each
    "open311-fms": "tests.kits.open311:Open311FmsKit",
    "open311-adapter": "tests.kits.open311:Open311AdapterKit",
    "open311-capped": "tests.kits.open311:Open311CappedKit",
    "open311-xml": "tests.kits.open311:Open311XmlKit",
}


def _load(spec: str) -> type[Kit] | None:
    module_name, cls = spec.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError:
        return None
    kit: type[Kit] = getattr(module, cls)
    return kit


AVAILABLE = {name: kit for name, spec in KITS.items() if (kit := _load(spec)) is not None}


#: lapor.md's two profiles: what public code shows (the default), and every capability on
PROFILES = {
    "evidenced": (),
    "extended": ("tag_search", "inbox", "categories", "mark_completed", "reporter"),
}


class Rig:
    def __init__(self, kit: Kit, tmp: Path, capabilities: tuple[str, ...] = ()) -> None:
        self.kit = kit
        self.lapor = LaporSandbox(max_page_size=10, capabilities=capabilities)
        user_id = self.lapor.add_account(SECRET, TOKEN, "Pemerintah Kota Tanjungpinang")
        self.lapor.start()
        kit.sandbox.start()
        self.db = tmp / "bridge.db"
        self.source = kit.source("city", "acct")
        route = Route(
            location_id=34,
            classification_id=1,
            categories={"*": self.lapor.category_id("TOPIK LAINNYA")},
        )
        self.national = connect(
            LaporConfig(
                base_url=self.lapor.url, requests_per_second=1000, capabilities=list(capabilities)
            ),
            {
                "acct": AccountConfig.model_validate(
                    {
                        "api_secret": SECRET,
                        "token": TOKEN,
                        "user_id": user_id,
                        "institution": "Pemerintah Kota Tanjungpinang",
                    }
                )
            },
            routes={"city": route},
            policy=FAST,
        )["acct"]

    def sync(self) -> PassReport:
        store = Store(self.db)
        try:
            return Engine(store, {"city": self.source}, {"acct": self.national}).sync()
        finally:
            store.close()

    def national_for(self, local_id: str) -> list[dict[str, object]]:
        from bridge.core.tags import ext_tag

        return self.lapor.find_by_tag(ext_tag("city", local_id))

    def close(self) -> None:
        self.source.close()
        self.national.close()
        self.kit.sandbox.stop()
        self.lapor.stop()


@pytest.fixture(params=[(k, p) for k in sorted(AVAILABLE) for p in PROFILES], ids="-".join)
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Rig]:
    name, profile = request.param
    kit = AVAILABLE[name]()
    r = Rig(kit, tmp_path, PROFILES[profile])
    try:
        yield r
    finally:
        r.close()


def test_creates_and_writes_back(rig: Rig) -> None:
    rng = random.Random(1)
    ids = [rig.kit.add_record(rng) for _ in range(3)]
    report = rig.sync()
    assert report.ok, report
    for local_id in ids:
        found = rig.national_for(local_id)
        assert len(found) == 1, local_id
        assert rig.kit.link_value(local_id) == found[0]["id"]


def test_rerun_and_edit_create_nothing_new(rig: Rig) -> None:
    rng = random.Random(2)
    local_id = rig.kit.add_record(rng)
    rig.sync()
    rig.kit.edit_record(local_id, "Isi laporan diubah: genangan makin tinggi sejak kemarin malam.")
    report = rig.sync()
    assert report.ok, report
    assert report.sources["city"].created == 0
    assert len(rig.lapor.complaints()) == 1


def test_feed_failures_are_retried(rig: Rig) -> None:
    rng = random.Random(3)
    local_id = rig.kit.add_record(rng)
    rig.kit.sandbox.faults.inject("503", method="GET", count=2)
    report = rig.sync()
    assert report.ok, report
    assert len(rig.national_for(local_id)) == 1


def test_unreadable_record_is_quarantined_and_the_rest_sync(rig: Rig) -> None:
    rng = random.Random(4)
    bad = rig.kit.add_record(rng)
    good = rig.kit.add_record(rng)
    rig.kit.corrupt(bad)
    report = rig.sync()
    assert report.sources["city"].quarantined == 1
    assert len(rig.national_for(good)) == 1
    assert rig.national_for(bad) == []


def test_status_writes_are_read_back(rig: Rig) -> None:
    local_id = rig.kit.add_record(random.Random(5))
    for status in (Status.VERIFIED, Status.IN_PROGRESS, Status.DONE):
        rig.source.set_status(local_id, status)
        assert rig.kit.status_of(local_id) == status


def test_responses_carry_the_bridge_reference(rig: Rig) -> None:
    local_id = rig.kit.add_record(random.Random(6))
    answer = FollowUp(
        id="lapor-1",
        author="Admin LAPOR",
        content="Laporan Anda sudah diteruskan ke dinas terkait.",
        at=utcnow(),
    )
    rig.source.add_response(local_id, answer, "lb-fu-1")
    assert (answer.content, "lb-fu-1") in [(t, r) for t, r in rig.kit.responses(local_id)]
    raw = rig.source.fetch(local_id)
    assert raw is not None
    complaint = rig.source.normalize(raw)
    assert any(f.ref == "lb-fu-1" for f in complaint.follow_ups)


def test_city_response_is_read_without_reference(rig: Rig) -> None:
    local_id = rig.kit.add_record(random.Random(7))
    rig.kit.city_responds(local_id, "Tim kami sudah menuju lokasi hari ini.")
    raw = rig.source.fetch(local_id)
    assert raw is not None
    complaint = rig.source.normalize(raw)
    texts = [f.content for f in complaint.follow_ups if not f.ref]
    assert "Tim kami sudah menuju lokasi hari ini." in texts


def test_create_from_national_and_find_it_again(rig: Rig) -> None:
    since = utcnow() - timedelta(minutes=1)
    national = NationalComplaint(
        id=9170001,
        title="Jalan rusak parah di depan sekolah",
        content="Jalan berlubang besar di depan SD 005, membahayakan anak-anak sekolah setiap pagi.",
        category="PEKERJAAN UMUM DAN PENATAAN RUANG/INFRASTRUKTUR JALAN/JALAN BERLUBANG",
        status=Status.VERIFIED,
        status_code=30,
        created_at=utcnow(),
        updated_at=utcnow(),
    )
    created = rig.source.create(national)
    local_id = created.local_id
    if local_id is None:  # a queued app: the token resolves once the app has made it
        assert created.token
        for _ in range(10):
            local_id = rig.source.poll_created(created.token)
            if local_id:
                break
    assert local_id is not None and local_id in rig.kit.records()
    assert rig.kit.link_value(local_id) == national.id
    assert rig.source.find_created(national.id, since) == local_id
    assert rig.source.find_created(9179999, since) is None
