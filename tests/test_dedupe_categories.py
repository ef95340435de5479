"""Rule (3) across the apps' taxonomies: categories compatible, not equal (bridge.md,
"Identity and duplicates"), and the held-out measurement of the matcher."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from bench import dedupe_eval_heldout as held
from bench.dedupe_eval import evaluate
from bridge.core.model import Complaint, Reporter, Status
from bridge.sync.dedupe import ABBREVIATIONS, DedupeIndex, compatible_categories, decide, word_forms
from bridge.sync.store import Store

PHONE = "+6281234567890"
AT = datetime(2025, 3, 10, 8, 0, tzinfo=UTC)
TRASH = "LINGKUNGAN HIDUP DAN KEHUTANAN/PENGELOLAAN SAMPAH"
TREES = "LINGKUNGAN HIDUP DAN KEHUTANAN"
OTHER = "TOPIK LAINNYA"
ROAD = "PEKERJAAN UMUM DAN PENATAAN RUANG/INFRASTRUKTUR JALAN/JALAN BERLUBANG"
HEALTH = "KESEHATAN"

TRASH_TEXT = "Sudah 5 hari sampah tidak diangkut di Jl. Ganet depan SD 005. Baunya menyengat."
TRASH_SMS = "smph di jl ganet dpn sd 005 udh 6 hr gk diangkut, bau bgt"


def complaint(text: str, category: str, *, source: str = "tanjak", local_id: str = "1",
              at: datetime = AT) -> Complaint:  # fmt: skip
    return Complaint(
        source=source,
        local_id=local_id,
        title="Pengaduan warga",
        content=text,
        category=category,
        status=Status.SUBMITTED,
        local_status="baru",
        anonymous=False,
        reporter=Reporter(phone=SecretStr(PHONE)),
        region="21.72",
        created_at=at,
        updated_at=at,
    )


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "bridge.db")


def test_categories_are_compatible_when_equal_catch_all_or_one_topic() -> None:
    assert compatible_categories(ROAD, ROAD)
    assert compatible_categories(TRASH, OTHER) and compatible_categories(OTHER, HEALTH)
    assert compatible_categories(TRASH, TREES)  # one LAPOR topic
    assert not compatible_categories(TRASH, ROAD)
    assert not compatible_categories(HEALTH, ROAD)


def test_trash_filed_under_ujars_catch_all_merges_with_tanjaks_trash() -> None:
    ujar = complaint(TRASH_SMS, held.app_category("ujar", "sampah"), source="ujar")
    tanjak = complaint(TRASH_TEXT, held.app_category("tanjak", "sampah"))
    assert ujar.category == OTHER and tanjak.category == TRASH
    assert decide(ujar, tanjak).merge


def test_the_index_finds_a_duplicate_in_another_apps_category(store: Store) -> None:
    index = DedupeIndex(store)
    index.add(complaint(TRASH_TEXT, TRASH), 4123987)
    later = AT + timedelta(hours=3)
    match = index.find_duplicate(complaint(TRASH_SMS, OTHER, source="ujar", at=later))
    assert match is not None and match.national_id == 4123987
    # an incompatible category is no candidate at all
    check = index.check(complaint(TRASH_SMS, ROAD, source="ujar", at=later))
    assert check.match is None and check.decisions == ()


def test_two_problems_sharing_a_catch_all_are_not_merged(store: Store) -> None:
    index = DedupeIndex(store)
    index.add(complaint("Pohon tumbang menutup jalan di Jl. Ganet depan SD 005.", OTHER), 1)
    cable = "Kabel optik menjuntai rendah di Jl. Ganet depan SD 005, bahaya."
    check = index.check(complaint(cable, OTHER, source="ujar", local_id="U-2"))
    assert check.match is None and len(check.decisions) == 1


def test_a_building_over_the_drain_is_not_the_flooded_drain_across_categories() -> None:
    building = complaint("bangunan di jl ganet nutup got", OTHER)
    flood = complaint("air naik smp lutut tiap hujan di jl ganet", held.app_category("ujar", "banjir"),
                      source="ujar", local_id="U-1")  # fmt: skip
    decision = decide(flood, building)
    assert not decision.merge
    assert decision.reasons == ("compatible categories, different problems",)


def test_thumb_typing_is_read_as_the_word_meant() -> None:
    assert word_forms("mnjnti") == word_forms("menjuntai")
    assert word_forms("w4rga") == ["warga"]
    assert word_forms("robohhhh") == word_forms("roboh")
    assert word_forms("5rb") == ["5rb"]  # a price is not a word


def test_the_held_out_lexicon_is_vendored_with_its_licence_and_never_the_matchers() -> None:
    licence = held.LEXICON_PATH.with_suffix(".LICENSE").read_text("utf-8")
    assert "MIT License" in licence and "indo-normalizer 1.2.0" in licence
    entries = held.lexicon()
    assert len(entries) > 1300
    used = [e for e in entries if held.usable(e)]
    assert used and all(e.slang not in ABBREVIATIONS and held.held_out(e) for e in used)
    assert 0.3 < sum(held.held_out(e) for e in entries) / len(entries) < 0.7


def test_the_held_out_pairs_meet_the_goals() -> None:
    pairs = held.generate()
    assert {pair.kind for pair in pairs} == set(held.KINDS)
    assert pairs == held.generate()  # the same for the same seed
    result = evaluate(pairs)
    assert result.total.precision >= 0.99, result.total
    assert result.total.recall >= 0.90, result.total
    for kind in ("two_citizens_one_pothole", "other_rt_rw", "catch_all_other_problem"):
        assert result.by_kind[kind].fp == 0, kind
    catch_all = [p for p in pairs if p.kind == "catch_all_other_problem"]
    assert all(OTHER in (p.a.category, p.b.category) for p in catch_all)
