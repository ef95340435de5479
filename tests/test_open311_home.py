"""An Open311 city as an account's home app: a queued create's token survives a restart."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.sandboxes import TPI, Region
from bridge.engine import PassReport
from bridge.store import Store
from tests.harness import sync_once


def _pass(config: Path) -> PassReport:
    return sync_once(config)


@pytest.mark.parametrize("pending", ["token", "empty", "404"])
def test_queued_create_token_is_kept_and_polled_across_restarts(
    tmp_path: Path, pending: str
) -> None:
    """However the city says "not yet" (the token alone, ``[]``, a 404), no pass fails."""
    with Region(apps=("kota-contoh",)) as region:
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
            "PEKERJAAN UMUM DAN PENATAAN RUANG/JALAN BERLUBANG",
            TPI,
        )
        assert _pass(config).ok  # posts the create: the city answers with a token
        store = Store(tmp_path / "bridge.db")
        [intent] = store.pending_intents("kota-contoh", "import")
        store.close()
        assert intent["payload"]["token"]
        for _ in range(4):  # every pass is a fresh process: engine, clients, store
            report = _pass(config)
            assert report.ok, report
        created = [
            r for r in region.open311.all_requests()
            if f"#{filed['id']}" in (r.get("description") or "")
        ]  # fmt: skip
        assert len(created) == 1
        store = Store(tmp_path / "bridge.db")
        mapping = store.mapping_by_national(filed["id"])
        assert store.pending_intents("kota-contoh", "import") == []
        store.close()
        assert mapping is not None and mapping["origin"] == "national"
        assert mapping["local_id"] == created[0]["service_request_id"]
