"""An Open311 city as an account's home app: a queued create's token survives a restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from adapters.sandbox.region import TPI, Region
from bridge.sync.engine import PassReport
from bridge.sync.store import Store
from tests.harness import sync_once


def _pass(config: Path) -> PassReport:
    return sync_once(config)


def _made_for(region: Region, national_id: int) -> list[dict[str, Any]]:
    """The city's requests that carry the complaint's marker."""
    return [
        r
        for r in region.open311.all_requests()
        if f"#{national_id}" in (r.get("description") or "")
    ]


@pytest.mark.parametrize("pending", ["token", "empty", "404"])
def test_queued_create_token_is_kept_and_polled_across_restarts(
    tmp_path: Path, pending: str
) -> None:
    """However the city says "not yet" (the token alone, ``[]``, a 404), no pass fails."""
    with Region(apps=("kota-contoh",), capabilities=("inbox",)) as region:
        region.open311.queued = True
        region.open311.token_polls = 3  # the request exists only after three polls
        region.open311.pending_token_answer = pending
        config = tmp_path / "config.toml"
        text = region.config(tmp_path / "bridge.db").replace(
            f'institution = "{TPI}"', f'institution = "{TPI}"\nhome_source = "kota-contoh"', 1
        )
        config.write_text(text, encoding="utf-8")
        filed = region.lapor.file_complaint(
            "Jalan berlubang di depan puskesmas",
            "Lubang besar di depan puskesmas membahayakan pengendara motor pada malam hari.",
            "PEKERJAAN UMUM DAN PENATAAN RUANG/INFRASTRUKTUR JALAN/JALAN BERLUBANG",
            TPI,
        )
        assert _pass(config).ok  # posts the create: the city answers with a token
        store = Store(tmp_path / "bridge.db")
        [intent] = store.pending_intents("kota-contoh", "import")
        store.close()
        assert intent.payload["token"]
        for _ in range(4):  # every pass is a fresh process: engine, clients, store
            report = _pass(config)
            assert report.ok, report
        created = _made_for(region, filed["id"])
        assert len(created) == 1
        store = Store(tmp_path / "bridge.db")
        mapping = store.mapping_by_national(filed["id"])
        assert store.pending_intents("kota-contoh", "import") == []
        store.close()
        assert mapping is not None and mapping.origin == "national"
        assert mapping.local_id == created[0]["service_request_id"]


def test_a_lost_token_on_a_queued_city_is_waited_for_not_posted_again(tmp_path: Path) -> None:
    """The city queues its creates; the answer to one (its token) is lost, and the
    city's worker makes the request later. Posting again meanwhile would double it."""
    with Region(apps=("kota-contoh",), capabilities=("inbox",)) as region:
        region.open311.queued = True
        region.open311.token_polls = 0  # a token resolves on its first poll
        config = tmp_path / "config.toml"
        text = region.config(tmp_path / "bridge.db").replace(
            f'institution = "{TPI}"', f'institution = "{TPI}"\nhome_source = "kota-contoh"', 1
        )
        config.write_text(text, encoding="utf-8")
        texts = [
            "Lubang besar di depan puskesmas membahayakan pengendara motor pada malam hari.",
            "Saluran air di depan pasar tersumbat sampah sehingga meluap saat hujan deras.",
        ]
        category = "PEKERJAAN UMUM DAN PENATAAN RUANG/INFRASTRUKTUR JALAN/JALAN BERLUBANG"
        region.lapor.file_complaint("Aduan warga", texts[0], category, TPI)
        assert _pass(config).ok  # the first: a token, polled, made: the city queues
        second = region.lapor.file_complaint("Aduan warga", texts[1], category, TPI)
        region.open311.faults.inject("drop_after_write", method="POST", path=r"/requests\.json$")
        _pass(config)  # the second's token is lost
        _pass(config)  # not found yet, and not posted again
        region.open311.work_queue()  # the city's worker makes it
        for _ in range(2):
            assert _pass(config).ok
        made = _made_for(region, second["id"])
        assert len(made) == 1
        store = Store(tmp_path / "bridge.db")
        mapping = store.mapping_by_national(second["id"])
        store.close()
        assert mapping is not None and mapping.local_id == made[0]["service_request_id"]
