"""Rule (3): one citizen's one problem through two apps is one national complaint — and
nothing else is. Each hard guard has a negative case; the labelled pairs measure the rest."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlite_utils import Database

from bench.dedupe_eval import KINDS, PAIRS_PATH, SEED, evaluate, generate, read_pairs, render
from bridge.core.model import Complaint, Reporter, Status
from bridge.sync import dedupe
from bridge.sync.dedupe import (
    THRESHOLD,
    DedupeIndex,
    canonical_category,
    decide,
    fingerprint,
    normalize_text,
    phone_key,
    places_of,
    similarity,
)
from bridge.sync.store import DEDUPE_BLOCK, Store, migrations

PHONE = "+6281234567890"
OTHER_PHONE = "+6285298765432"
ROAD = "PEKERJAAN UMUM DAN PENATAAN RUANG/INFRASTRUKTUR JALAN/JALAN BERLUBANG"
TRASH = "LINGKUNGAN HIDUP DAN KEHUTANAN/PENGELOLAAN SAMPAH"
AT = datetime(2025, 3, 10, 8, 0, tzinfo=UTC)

POTHOLE = "Jalan berlubang besar di Jl. Ganet depan SD 005, sudah banyak pengendara motor jatuh."
POTHOLE_SMS = "jln ganet dpn SD 005 bolong gede, udh ada yg jatuh"


def complaint(
    text: str,
    *,
    source: str = "tanjak",
    local_id: str = "1",
    phone: str | None = PHONE,
    category: str = ROAD,
    at: datetime = AT,
    anonymous: bool = False,
) -> Complaint:
    return Complaint(
        source=source,
        local_id=local_id,
        title="Pengaduan warga",
        content=text,
        category=category,
        status=Status.SUBMITTED,
        local_status="baru",
        anonymous=anonymous,
        reporter=Reporter(phone=SecretStr(phone)) if phone is not None else None,
        region="21.72",
        created_at=at,
        updated_at=at,
    )


def second(text: str, **fields: object) -> Complaint:
    """The same citizen's record in the other app, a day later, unless told otherwise."""
    values: dict[str, object] = {"source": "ujar", "local_id": "UJR-1", "at": AT + timedelta(1)}
    values.update(fields)
    return complaint(text, **values)  # type: ignore[arg-type]


# --- normalization ------------------------------------------------------------------


def test_normalization_absorbs_case_punctuation_abbreviations_and_word_order() -> None:
    formal = normalize_text("Sampah TIDAK diangkut, sudah lama, di Jalan Ganet depan rumah.")
    sms = normalize_text("di jln ganet dpn rmh sampah gk diangkut udh lama")
    assert formal == sms


def test_normalization_expands_slang_and_drops_durations() -> None:
    assert normalize_text("lampu gk nyala 5 hr") == normalize_text("Lampu tidak menyala 9 hari.")
    assert "tidak" in normalize_text("tdk ada yg dtg").split()


def test_normalization_keeps_places_as_facts() -> None:
    norm = normalize_text("Banjir di Jl. Raja Haji Fisabilillah RT 03/RW 05 depan SDN 005")
    facts = {token for token in norm.split() if ":" in token}
    assert facts == {"jl:raja_haji_fisabilillah", "rt:3", "rw:5", "sekolah:sd5"}


def test_smp_is_a_school_before_a_number_and_sampai_elsewhere() -> None:
    assert places_of("dkt smp 4").numbered == {("sekolah", "smp4")}
    assert "sampai" not in normalize_text("air naik smp lutut").split()  # a stopword: dropped
    assert not places_of("air naik smp lutut").numbered


def test_similarity_survives_typos_and_sms_style_and_tells_problems_apart() -> None:
    assert similarity(POTHOLE, POTHOLE.replace("berlubang", "berlubnag")) > 0.9
    assert similarity(POTHOLE, POTHOLE_SMS) >= THRESHOLD
    fallen = "Pohon besar tumbang menutup separuh badan jalan di Jl. Ganet."
    leaning = "Pohon angsana di Jl. Ganet miring dan akarnya terangkat, mohon dipangkas."
    assert similarity(fallen, leaning) < THRESHOLD


def test_phone_key_is_keyed_and_holds_no_number() -> None:
    key = phone_key(PHONE, b"secret")
    assert key == phone_key(PHONE, b"secret")
    assert key != phone_key(PHONE, b"other secret")
    assert key != phone_key(OTHER_PHONE, b"secret")
    assert "81234567890" not in key and len(key) == 64


def test_fingerprint_is_stable_and_holds_no_text() -> None:
    assert fingerprint(POTHOLE) == fingerprint(POTHOLE.upper())
    assert "ganet" not in fingerprint(POTHOLE).lower()


def test_canonical_category_is_one_spelling() -> None:
    assert (
        canonical_category(
            " pekerjaan  umum dan penataan ruang / infrastruktur jalan / jalan berlubang "
        )
        == ROAD
    )


# --- the decision: what merges ------------------------------------------------------


def test_the_same_problem_through_two_apps_merges() -> None:
    decision = decide(second(POTHOLE_SMS), complaint(POTHOLE))
    assert decision.merge
    assert decision.score >= THRESHOLD
    assert decision.candidate == "ujar:UJR-1" and decision.existing == "tanjak:1"


def test_phone_numbers_are_compared_once_normalized() -> None:
    decision = decide(second(POTHOLE, phone="0812-3456-7890"), complaint(POTHOLE))
    assert decision.merge


def test_exactly_72_hours_apart_still_merges() -> None:
    assert decide(second(POTHOLE, at=AT + timedelta(hours=72)), complaint(POTHOLE)).merge


def test_a_text_that_names_no_place_can_merge_with_one_that_does() -> None:
    decision = decide(second("jalan bolong gede, udh ada yg jatuh"), complaint(POTHOLE))
    assert decision.merge


# --- the decision: what never merges ----------------------------------------------


@pytest.mark.parametrize(
    ("anonymous_a", "anonymous_b"), [(True, False), (False, True), (True, True)]
)
def test_anonymous_is_never_merged(anonymous_a: bool, anonymous_b: bool) -> None:
    decision = decide(
        second(POTHOLE, anonymous=anonymous_b), complaint(POTHOLE, anonymous=anonymous_a)
    )
    assert not decision.merge
    assert decision.reasons == ("anonymous or no phone",)


def test_no_phone_or_a_foreign_phone_is_never_merged() -> None:
    assert not decide(second(POTHOLE, phone=None), complaint(POTHOLE, phone=None)).merge
    foreign = "+441632960961"
    assert not decide(second(POTHOLE, phone=foreign), complaint(POTHOLE, phone=foreign)).merge


def test_different_citizens_are_never_merged() -> None:
    decision = decide(second(POTHOLE, phone=OTHER_PHONE), complaint(POTHOLE))
    assert not decision.merge
    assert decision.reasons == ("different citizen",)


def test_incompatible_categories_are_never_merged() -> None:
    decision = decide(second(POTHOLE, category=TRASH), complaint(POTHOLE))
    assert not decision.merge
    assert decision.reasons == ("incompatible categories",)


def test_more_than_72_hours_apart_is_never_merged() -> None:
    late = AT + timedelta(hours=72, minutes=1)
    decision = decide(second(POTHOLE, at=late), complaint(POTHOLE))
    assert not decision.merge
    assert decision.reasons == ("more than 72 hours apart",)
    earlier = AT - timedelta(hours=73)
    assert not decide(second(POTHOLE, at=earlier), complaint(POTHOLE)).merge


def test_the_same_record_is_not_its_own_duplicate() -> None:
    decision = decide(complaint(POTHOLE), complaint(POTHOLE))
    assert not decision.merge
    assert decision.reasons == ("the same record",)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (POTHOLE.replace("Jl. Ganet", "Jl. Wiratno"), "different street"),
        (POTHOLE_SMS.replace("ganet", "wiratno"), "different street"),
        (POTHOLE.replace("SD 005", "SD 012"), "different sekolah"),
        (POTHOLE.replace("SD 005", "SMP 4"), "different sekolah"),
    ],
)
def test_near_identical_texts_about_another_place_are_never_merged(text: str, reason: str) -> None:
    decision = decide(second(text), complaint(POTHOLE))
    assert not decision.merge
    assert decision.reasons == (reason,)


@pytest.mark.parametrize(
    ("one", "other", "reason"),
    [
        (
            "Got mampet di Jl. Ganet RT 03/RW 05",
            "Got mampet di Jl. Ganet RT 04/RW 05",
            "different rt",
        ),
        ("Got mampet di Jl. Ganet No. 12", "Got mampet di Jl. Ganet No. 21", "different no"),
        ("Got mampet di gang 3 Jl. Ganet", "Got mampet di gg 7 Jl. Ganet", "different gang"),
        ("air naik smp lutut di ganet", "air naik smp lutut di wiratno", "different place"),
        ("Genangan air di Sei Jang", "Genangan air di Batu IX", "different place"),
        ("jukir liar dpn ruko ganet", "jukir liar dpn ruko wiratno", "different place"),
        ("Jl. Raja Haji Fisabilillah banjir", "Jl. Raja Ali Haji banjir", "different street"),
    ],
)
def test_a_place_that_contradicts_is_never_merged(one: str, other: str, reason: str) -> None:
    decision = decide(second(other), complaint(one))
    assert not decision.merge
    assert decision.reasons == (reason,)


def test_the_same_citizens_other_problem_in_the_category_is_not_merged() -> None:
    queue = "Antrean di Puskesmas Batu IX sangat panjang, pasien menunggu dari pagi."
    rude = "Petugas Puskesmas Batu IX kurang ramah kepada pasien BPJS."
    health = "KESEHATAN"
    decision = decide(second(rude, category=health), complaint(queue, category=health))
    assert not decision.merge


def test_a_decision_holds_fingerprints_and_no_personal_data() -> None:
    decision = decide(second(POTHOLE_SMS), complaint(POTHOLE), secret=b"k")
    stored = json.dumps([decision.inputs, decision.reasons])
    assert "81234567890" not in stored and "6281234567890" not in stored
    assert "ganet" not in stored.lower() and "jatuh" not in stored.lower()
    assert decision.inputs["candidate_phone"] == phone_key(PHONE, b"k")[:16]


# --- the index ------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "bridge.db")


def test_find_duplicate_returns_the_national_complaint(store: Store) -> None:
    index = DedupeIndex(store)
    assert index.add(complaint(POTHOLE), national_id=4123987)
    match = index.find_duplicate(second(POTHOLE_SMS))
    assert match is not None
    assert (match.national_id, match.ref) == (4123987, "tanjak:1")
    assert match.decision.merge


def test_find_duplicate_is_none_for_a_new_problem_and_never_finds_itself(store: Store) -> None:
    index = DedupeIndex(store)
    index.add(complaint(POTHOLE), national_id=1)
    assert index.find_duplicate(complaint(POTHOLE)) is None  # the same record: rule (1)
    assert index.find_duplicate(second(POTHOLE, phone=OTHER_PHONE)) is None
    assert index.find_duplicate(second(POTHOLE, at=AT + timedelta(days=4))) is None
    assert index.find_duplicate(second(POTHOLE, category=TRASH)) is None


def test_find_duplicate_picks_the_best_match(store: Store) -> None:
    index = DedupeIndex(store)
    index.add(complaint("jalan bolong di ganet", local_id="1"), national_id=1)
    index.add(complaint(POTHOLE, local_id="2"), national_id=2)
    check = index.check(second(POTHOLE))
    assert check.match is not None and check.match.national_id == 2
    assert len(check.decisions) == 2


def test_anonymous_records_are_not_indexed_and_leave_the_index(store: Store) -> None:
    index = DedupeIndex(store)
    assert not index.add(complaint(POTHOLE, anonymous=True), national_id=1)
    assert index.add(complaint(POTHOLE), national_id=1)
    assert not index.add(complaint(POTHOLE, anonymous=True), national_id=1)  # edited later
    assert index.find_duplicate(second(POTHOLE)) is None
    count = store.db.execute("SELECT COUNT(*) FROM dedupe_index").fetchone()[0]
    assert count == 0


def test_the_index_holds_no_phone_number(store: Store) -> None:
    DedupeIndex(store).add(complaint(POTHOLE), national_id=1)
    row = store.db.execute("SELECT * FROM dedupe_index").fetchone()
    assert not any("81234567890" in str(value) for value in row)


def test_each_store_has_its_own_phone_key_secret(tmp_path: Path) -> None:
    one, two = Store(tmp_path / "one.db"), Store(tmp_path / "two.db")
    assert DedupeIndex(one).secret != DedupeIndex(two).secret
    assert len(DedupeIndex(one).secret) == 32


def test_a_text_is_normalized_only_when_a_candidate_is_compared(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(dedupe, "normalize_text", lambda text: calls.append(text) or text)
    index = DedupeIndex(store)
    first = complaint(POTHOLE)
    assert index.check(first).decisions == ()
    index.add(first, national_id=1)
    assert calls == []  # a record no other record is compared with costs no normalizing
    kept = store.db.execute("SELECT content, text_norm FROM dedupe_index").fetchone()
    assert tuple(kept) == (POTHOLE, None)  # as written: compared with the normalizer of the day
    index.check(second(POTHOLE_SMS))
    assert sorted(calls) == sorted([POTHOLE, POTHOLE_SMS])


def test_index_rows_of_an_earlier_database_still_match(tmp_path: Path) -> None:
    """Rows written before migration m005 hold the normalized text, not the text."""
    db = Database(tmp_path / "bridge.db")
    migrations.apply(db, stop_before="m005_dedupe_text_as_written")
    db.execute(
        "INSERT INTO dedupe_index (national_id, source, local_id, phone_key, category,"
        " created_at, text_norm) VALUES (4123987, 'tanjak', '1', ?, ?, ?, ?)",
        (
            phone_key(
                PHONE,
                bytes.fromhex(
                    db.execute(
                        "SELECT value FROM dedupe_meta WHERE name = ?", ["phone_key_secret"]
                    ).fetchone()[0]
                ),
            ),
            canonical_category(ROAD),
            AT.isoformat(timespec="microseconds"),
            normalize_text(POTHOLE),
        ),
    )
    db.conn.commit()
    db.close()
    store = Store(tmp_path / "bridge.db")  # migrates
    index = DedupeIndex(store)
    match = index.find_duplicate(second(POTHOLE_SMS))
    assert match is not None and match.national_id == 4123987
    assert match.decision.merge


def test_a_check_reads_the_block_index_never_the_table(store: Store) -> None:
    plan = store.db.execute(
        "EXPLAIN QUERY PLAN " + DEDUPE_BLOCK, ("key", "2025-01-01", "2025-01-07", 64)
    ).fetchall()
    details = " ".join(str(row[-1]) for row in plan)
    assert "USING INDEX dedupe_index_block (phone_key=?" in details
    assert "SCAN" not in details


def test_recorded_decisions_keep_rule_score_and_fingerprints(store: Store) -> None:
    index = DedupeIndex(store)
    index.add(complaint(POTHOLE), national_id=7)
    check = index.check(second(POTHOLE_SMS))
    row_ids = [index.record(decision) for decision in check.decisions]
    rows = store.db.execute(
        "SELECT source, local_id, candidate_of, rule, score, merged, inputs FROM dedupe_decisions"
    ).fetchall()
    assert len(rows) == len(row_ids) == 1
    source, local_id, candidate_of, rule, score, merged, inputs = rows[0]
    assert (source, local_id, candidate_of, merged) == ("ujar", "UJR-1", "tanjak:1", 1)
    assert rule == "3-same-citizen" and score >= THRESHOLD
    assert "81234567890" not in inputs and "ganet" not in inputs.lower()
    assert set(json.loads(inputs)) >= {"candidate_text", "existing_text", "reasons"}


# --- the labelled pairs ---------------------------------------------------------------


def test_the_labelled_pairs_meet_the_precision_and_recall_goals() -> None:
    pairs = read_pairs()
    assert len(pairs) >= 2000
    assert {pair.kind for pair in pairs} == set(KINDS)
    assert PAIRS_PATH.stat().st_size < 2 * 1024 * 1024
    result = evaluate(pairs)
    assert result.total.precision >= 0.99, result.total
    assert result.total.recall >= 0.95, result.total
    for kind in ("anonymous", "other_citizen", "other_category", "over_72h", "other_spot"):
        assert result.by_kind[kind].fp == 0, kind


def test_the_labelled_pairs_are_what_the_seed_generates() -> None:
    assert render(generate(SEED)) == PAIRS_PATH.read_text("utf-8")
