"""Issue 19: a new complaint costs one create on LAPOR (plus its uploads) and one write-back
in its app, counted over real HTTP by the sandboxes; a pass with nothing new reads only
the feed. The counts are deterministic: no timings here."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from adapters import registry
from adapters.local import sample
from adapters.sandbox.region import Region
from bridge.core.timefmt import utcnow
from bridge.runtime.settings import load_settings
from bridge.sync import twoway
from bridge.sync.engine import Engine, PassReport
from bridge.sync.store import Store

N = 12
COMPLAINT = r"^/complaints/\d+/"  # a read of one complaint or of its follow-ups


@pytest.fixture
def region() -> Iterator[Region]:
    with Region(apps=("tanjak",)) as started:
        yield started


def sync_as_configured(config: Path) -> PassReport:
    """One pass as ``lapor-bridge sync`` runs it: the configured poll interval as floor."""
    settings = load_settings(config)
    sources = registry.connect_sources(settings)
    nationals = registry.connect_nationals(settings)
    store = Store(settings.bridge.database)
    try:
        engine = Engine(
            store, sources, nationals, **registry.engine_options(settings),
            poll_floor=timedelta(seconds=settings.bridge.poll_interval_seconds),
        )  # fmt: skip
        return engine.sync(["tanjak"])
    finally:
        store.close()
        registry.close_all(sources, nationals)


def file_aduan(region: Region, n: int, *, photos: bool) -> list[int]:
    rng = random.Random(19)
    ids = []
    for _ in range(n):
        aduan = region.tanjak.add_aduan()
        if photos:
            region.tanjak.add_photo(aduan["id"], sample.make_jpeg(rng, 160, 120))
        ids.append(int(aduan["id"]))
    return ids


def counted(region: Region) -> dict[str, int]:
    lapor, tanjak = region.lapor, region.tanjak
    return {
        "create": lapor.count_requests("POST", r"^/complaints/complaint$"),
        "upload": lapor.count_requests("POST", r"^/complaints/complaint/file$"),
        "lapor_reads": lapor.count_requests("GET", COMPLAINT),
        "lapor_all": len(lapor.requests),
        "write_back": tanjak.count_requests("PATCH", r"^/api/aduan/\d+$"),
        "record_reads": tanjak.count_requests("GET", r"^/api/aduan/\d+$"),
        "photos": tanjak.count_requests("GET", r"^/media/"),
        "feed": tanjak.count_requests("GET", r"^/api/aduan$"),
        "tanjak_all": len(tanjak.requests),
    }


@pytest.mark.parametrize("photos", [False, True], ids=["text", "photo"])
def test_a_new_complaint_costs_one_create_and_one_write_back(
    region: Region, tmp_path: Path, photos: bool
) -> None:
    ids = file_aduan(region, N, photos=photos)
    config = tmp_path / "config.toml"
    config.write_text(region.config(tmp_path / "bridge.db", poll_interval=60), encoding="utf-8")

    report = sync_as_configured(config)

    assert report.ok and report.sources["tanjak"].created == N
    assert all(region.tanjak.aduan(i)["lapor_id"] for i in ids)
    count = counted(region)
    uploads = N if photos else 0
    assert (count["create"], count["upload"], count["lapor_reads"]) == (N, uploads, 0)
    assert (count["write_back"], count["record_reads"], count["photos"]) == (N, 0, uploads)
    # besides them: the feed (one page), and LAPOR's directory, read once for the database
    assert count["tanjak_all"] == N + uploads + count["feed"] and count["feed"] == 1
    directory = count["lapor_all"] - N - uploads
    assert region.lapor.count_requests("GET", r"^/masters/") == directory


def test_a_pass_with_nothing_new_reads_only_the_feed(region: Region, tmp_path: Path) -> None:
    file_aduan(region, N, photos=True)
    config = tmp_path / "config.toml"
    config.write_text(region.config(tmp_path / "bridge.db", poll_interval=60), encoding="utf-8")
    assert sync_as_configured(config).ok
    lapor_before, tanjak_before = len(region.lapor.requests), len(region.tanjak.requests)

    report = sync_as_configured(config)

    assert report.ok and report.sources["tanjak"].created == 0
    assert region.lapor.requests[lapor_before:] == []  # nothing due for a poll yet
    assert region.tanjak.requests[tanjak_before:] == [("GET", "/api/aduan")]


def test_a_new_complaint_is_polled_one_interval_later_and_its_answer_still_comes_back(
    region: Region, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not read back after its create, nor polled in the pass that made it: once due, the
    poll reads it whole, and what LAPOR's staff wrote reaches the app."""
    (aduan_id,) = file_aduan(region, 1, photos=False)
    config = tmp_path / "config.toml"
    config.write_text(region.config(tmp_path / "bridge.db", poll_interval=60), encoding="utf-8")
    assert sync_as_configured(config).ok
    national_id = int(str(region.tanjak.aduan(aduan_id)["lapor_id"]).lstrip("#"))
    assert region.lapor.count_requests("GET", COMPLAINT) == 0
    region.lapor.admin_followup(national_id, "Laporan sedang kami teruskan ke instansi terkait.")

    assert sync_as_configured(config).ok  # still not due: nothing read
    assert region.lapor.count_requests("GET", COMPLAINT) == 0

    later = utcnow() + timedelta(seconds=61)
    monkeypatch.setattr(twoway, "utcnow", lambda: later)
    assert sync_as_configured(config).ok

    assert region.lapor.count_requests("GET", rf"^/complaints/{national_id}/complaint$") == 1
    said = [t["isi"] for t in region.tanjak.aduan(aduan_id)["tanggapan"]]
    assert any("kami teruskan" in text for text in said)
