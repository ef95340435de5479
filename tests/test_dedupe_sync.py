"""One citizen through two apps, over real HTTP: Tanjak + Ujar → LAPOR-SP4N."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from adapters import registry
from adapters.sandbox.region import TPI, Region
from bridge.runtime.settings import load_settings
from bridge.sync.engine import Engine, PassReport
from bridge.sync.store import Store
from cli import app
from tests.harness import FAST

SITI = {"nama": "Siti Aminah", "hp": "0812-3456-7890", "nik": "2172015501900001"}


class TwoApps:
    def __init__(self, tmp: Path) -> None:
        self.region = Region(apps=("tanjak", "ujar")).start()
        self.config = tmp / "config.toml"
        self.config.write_text(self.region.config(tmp / "bridge.db"), encoding="utf-8")

    def sync(self) -> PassReport:
        settings = load_settings(self.config)
        sources = registry.connect_sources(settings, policy=FAST)
        nationals = registry.connect_nationals(settings, policy=FAST)
        store = Store(settings.bridge.database)
        try:
            engine = Engine(
                store, sources, nationals, homes=registry.homes(settings), poll_floor=timedelta(0)
            )
            return engine.sync()
        finally:
            store.close()
            registry.close_all(sources, nationals)

    def tanjak(self, isi: str, pelapor: dict[str, str] | None = SITI) -> str:
        aduan = self.region.tanjak.add_aduan(
            isi=isi, kategori="drainase", pelapor=pelapor, anonim=pelapor is None
        )
        return str(aduan["id"])

    def ujar(self, message: str, phone: str | None = "+6281234567890") -> str:
        fields: dict[str, Any] = {"message": message, "categoryCode": "DRN"}
        if phone is None:
            fields.update(anonymous=True, userName=None, userPhone=None)
        else:
            fields.update(anonymous=False, userName="Siti A.", userPhone=phone)
        return str(self.region.ujar.add_ticket(**fields)["ticketNo"])

    def store(self) -> Store:
        return Store(load_settings(self.config).bridge.database)

    def national_of(self, source: str, local_id: str) -> int:
        store = self.store()
        try:
            mapping = store.mapping(source, local_id)
            assert mapping is not None
            return int(mapping.national_id)
        finally:
            store.close()


@pytest.fixture
def apps(tmp_path: Path) -> Iterator[TwoApps]:
    two = TwoApps(tmp_path)
    try:
        yield two
    finally:
        two.region.stop()


def test_same_citizen_same_problem_is_one_national_complaint(apps: TwoApps) -> None:
    first = apps.tanjak("Genangan air setinggi lutut di depan SD 005 Jl. Sei Timun setelah hujan.")
    apps.sync()
    second = apps.ujar("air menggenang selutut dpn SD 005 jl sei timun stlh hujan, tolong dicek")
    report = apps.sync()
    assert report.ok, report
    assert len(apps.region.lapor.complaints()) == 1
    national = apps.national_of("tanjak", first)
    assert apps.national_of("ujar", second) == national
    ticket = apps.region.ujar.ticket(second)
    assert [e["ref"] for e in ticket["external"] if e["system"] == "lapor"] == [str(national)]
    store = apps.store()
    mapping = store.mapping("ujar", second)
    events = [e for e in store.events_for("ujar", second, None) if e.kind == "merged"]
    store.close()
    assert mapping is not None and mapping.duplicate_of == f"tanjak:{first}"
    detail = json.loads(events[0].detail)
    assert detail["rule"] and detail["score"] >= 0.6
    assert "0812" not in events[0].detail and "Siti" not in events[0].detail


def test_merged_record_is_answered_too(apps: TwoApps) -> None:
    apps.tanjak("Saluran air tersumbat sampah di Jl. Wiratno, air meluap ke jalan.")
    apps.sync()
    second = apps.ujar("saluran air tersumbat sampah di jl wiratno, air meluap ke jalan")
    apps.sync()
    national = apps.national_of("ujar", second)
    apps.region.lapor.verify(national, TPI)
    apps.region.lapor.admin_followup(national, "Dinas PUPR akan membersihkan saluran besok.")
    apps.sync()
    ticket = apps.region.ujar.ticket(second)
    assert ticket["statusCode"] == 1
    assert any("membersihkan saluran" in r["text"] for r in ticket["responses"])


def test_same_citizen_different_problem_is_two(apps: TwoApps) -> None:
    apps.tanjak("Genangan air setinggi lutut di depan SD 005 Jl. Sei Timun setelah hujan.")
    apps.sync()
    apps.ujar("Gorong-gorong ambruk di Jl. Ganet, lubang besar di bahu jalan membahayakan.")
    apps.sync()
    assert len(apps.region.lapor.complaints()) == 2


def test_different_citizens_same_place_are_two(apps: TwoApps) -> None:
    apps.tanjak("Genangan air setinggi lutut di depan SD 005 Jl. Sei Timun setelah hujan.")
    apps.sync()
    apps.ujar(
        "Genangan air setinggi lutut di depan SD 005 Jl. Sei Timun setelah hujan.",
        phone="+6285299911122",
    )
    apps.sync()
    assert len(apps.region.lapor.complaints()) == 2


def test_anonymous_is_never_merged(apps: TwoApps) -> None:
    apps.tanjak(
        "Genangan air setinggi lutut di depan SD 005 Jl. Sei Timun setelah hujan.", pelapor=None
    )
    apps.sync()
    apps.ujar(
        "Genangan air setinggi lutut di depan SD 005 Jl. Sei Timun setelah hujan.", phone=None
    )
    apps.sync()
    assert len(apps.region.lapor.complaints()) == 2


def test_split_and_link_by_hand(apps: TwoApps) -> None:
    first = apps.tanjak("Genangan air setinggi lutut di depan SD 005 Jl. Sei Timun setelah hujan.")
    apps.sync()
    second = apps.ujar("genangan air selutut di depan SD 005 jl sei timun setelah hujan deras")
    apps.sync()
    assert len(apps.region.lapor.complaints()) == 1
    runner = CliRunner()
    base = ["--config", str(apps.config)]
    result = runner.invoke(app, [*base, "mapping", "split", f"ujar:{second}"])
    assert result.exit_code == 0, result.output
    own = apps.national_of("ujar", second)
    assert own != apps.national_of("tanjak", first)
    assert len(apps.region.lapor.complaints()) == 2
    apps.sync()
    apps.sync()  # the split record is never merged again, nor created twice
    assert len(apps.region.lapor.complaints()) == 2
    result = runner.invoke(app, [*base, "mapping", "split", f"ujar:{second}"])
    assert result.exit_code == 1 and "not merged" in result.output
    # link by hand: a third record names the first complaint
    third = apps.ujar("Banjir di jalan depan sekolah, mohon perhatian.", phone="+6285299911122")
    national = apps.national_of("tanjak", first)
    result = runner.invoke(app, [*base, "mapping", "link", f"ujar:{third}", f"#{national}"])
    assert result.exit_code == 0, result.output
    apps.sync()
    assert apps.national_of("ujar", third) == national
    assert len(apps.region.lapor.complaints()) == 2
    result = runner.invoke(app, [*base, "mapping", "show", f"ujar:{third}"])
    assert "linked_by_hand" in result.output
