"""The LAPOR-SP4N sandbox (contract version 2), driven with plain httpx over real sockets."""

from __future__ import annotations

import io
import json
import random
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from adapters.lapor.topics import TOPICS_FILE, category_tree, load_topics, normalise, split_levels
from adapters.sandbox.lapor import (
    CAPABILITIES,
    CATEGORY_TREE,
    CREATE_ANSWERS,
    INSTITUTIONS,
    STATUS_NAMES,
    LaporSandbox,
)

TANJUNGPINANG = "Pemerintah Kota Tanjungpinang"
KEPRI = "Pemerintah Provinsi Kepulauan Riau"
MALANG = "Pemerintah Kota Malang"
KAB_MALANG = "Pemerintah Kabupaten Malang"
TPI_SECRET, TPI_TOKEN = "secret-tpi", "{11111111-2222-3333-4444-555555555555}"
MLG_SECRET, MLG_TOKEN = "secret-mlg", "{aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee}"
TPI_USER, MLG_USER = 100001, 100002
PUPR = "PEKERJAAN UMUM DAN PENATAAN RUANG"
DRAINASE = f"{PUPR}/DRAINASE (GORONG-GORONG/PARIT)"
JALAN_BERLUBANG = f"{PUPR}/INFRASTRUKTUR JALAN/JALAN BERLUBANG"
PENERANGAN_JALAN = f"{PUPR}/INFRASTRUKTUR JALAN/PENERANGAN JALAN"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
REAL_TOPICS = Path("/work/shared/real/lapor-topics-2025.json")
FOLLOWUP_KEYS = {
    "content",
    "created_at",
    "institution_from_name",
    "institution_to_name",
    "template_code",
    "template_content",
    "attachments",
}


class Clock:
    """A controllable clock for ``sandbox.now``."""

    def __init__(self) -> None:
        self.at = datetime(2024, 3, 1, 2, 0, 0, tzinfo=UTC)  # 09:00 WIB

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


def auth(secret: str, token: str, header: str = "Authorization") -> dict[str, str]:
    return {header: f"Bearer {secret}", "token": token}


def accounts(sb: LaporSandbox) -> LaporSandbox:
    assert sb.add_account(TPI_SECRET, TPI_TOKEN, TANJUNGPINANG) == TPI_USER
    assert sb.add_account(MLG_SECRET, MLG_TOKEN, MALANG) == MLG_USER
    return sb


def client(sb: LaporSandbox, secret: str = TPI_SECRET, token: str = TPI_TOKEN) -> httpx.Client:
    return httpx.Client(base_url=sb.base_url, headers=auth(secret, token), timeout=60)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sandbox(clock: Clock) -> Iterator[LaporSandbox]:
    """The evidenced profile: no capabilities."""
    with LaporSandbox(max_page_size=5, now=clock) as sb:
        yield accounts(sb)


@pytest.fixture
def ext(clock: Clock) -> Iterator[LaporSandbox]:
    """The extended profile: every capability."""
    with LaporSandbox(max_page_size=5, now=clock, capabilities=CAPABILITIES) as sb:
        yield accounts(sb)


@pytest.fixture(scope="module")
def shared() -> Iterator[LaporSandbox]:
    """One sandbox for the many checks that change nothing (a stop costs ~0.5 s)."""
    with LaporSandbox(max_page_size=5, now=Clock()) as sb:
        yield accounts(sb)


@pytest.fixture
def shared_tpi(shared: LaporSandbox) -> Iterator[httpx.Client]:
    with client(shared) as c:
        yield c


@pytest.fixture
def tpi(sandbox: LaporSandbox) -> Iterator[httpx.Client]:
    with client(sandbox) as c:
        yield c


@pytest.fixture
def mlg(sandbox: LaporSandbox) -> Iterator[httpx.Client]:
    with client(sandbox, MLG_SECRET, MLG_TOKEN) as c:
        yield c


@pytest.fixture
def ext_tpi(ext: LaporSandbox) -> Iterator[httpx.Client]:
    with client(ext) as c:
        yield c


@pytest.fixture
def ext_mlg(ext: LaporSandbox) -> Iterator[httpx.Client]:
    with client(ext, MLG_SECRET, MLG_TOKEN) as c:
        yield c


def image(kind: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(out, format=kind)
    return out.getvalue()


def body(sandbox: LaporSandbox, **changes: Any) -> dict[str, Any]:
    """A valid create body for Tanjungpinang, as the bridge sends it; ``changes`` override."""
    payload: dict[str, Any] = {
        "title": "Saluran air tersumbat di Jl. Ganet",
        "content": "[ext-tanjak-1234]\nSaluran air tersumbat sampah sehingga jalan banjir.\n"
        "Lokasi: Jl. Ganet, Tanjungpinang (0.9186, 104.4636)",
        "classification_id": 6,
        "category_id": sandbox.category_id(DRAINASE),
        "disposition_id": sandbox.institution_id(TANJUNGPINANG),
        "location_id": 34,
        "channel": 13,
        "user_id": TPI_USER,
        "is_anonymous": False,
        "is_secret": False,
        "date_of_incident": "2024-02-28T00:00:00.000000Z",
        "tags_raw": "#tanjak #ext-tanjak-1234",
        "attachments": False,
    }
    payload.update(changes)
    return {k: v for k, v in payload.items() if v is not ...}


def create(client: httpx.Client, sandbox: LaporSandbox, **changes: Any) -> int:
    """Create through the API (``create_answer="complaint"``); returns the id."""
    response = client.post("/complaints/complaint", json=body(sandbox, **changes))
    assert response.status_code == 201, response.text
    complaint_id: int = response.json()["results"]["complaint"]["id"]
    return complaint_id


def read(client: httpx.Client, complaint_id: int) -> dict[str, Any]:
    response = client.get(f"/complaints/{complaint_id}/complaint")
    assert response.status_code == 200, response.text
    results: dict[str, Any] = response.json()["results"]
    return results


def follow_all(client: httpx.Client, url: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of a paged list, following next_page_url to the end."""
    items: list[dict[str, Any]] = []
    response = client.get(url, params=params)
    while True:
        assert response.status_code == 200, response.text
        results = response.json()["results"]
        items.extend(results["data"])
        if results["next_page_url"] is None:
            return items
        assert results["next_page_url"].startswith("http://")
        response = client.get(results["next_page_url"])


def errors_of(response: httpx.Response) -> dict[str, list[str]]:
    assert response.status_code == 422, response.text
    payload = response.json()
    assert payload["success"] is False
    errors: dict[str, list[str]] = payload["errors"]
    return errors


def not_found(response: httpx.Response) -> bool:
    return response.status_code == 404 and response.json() == {
        "success": False,
        "message": "Not Found",
    }


# auth ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "headers",
    [
        {},
        auth(TPI_SECRET, ""),
        auth("wrong", TPI_TOKEN),
        auth(TPI_SECRET, TPI_TOKEN.strip("{}")),  # the GUID without its braces
        auth(TPI_SECRET, MLG_TOKEN),  # one account's secret, another's token
        {"Authorization": TPI_SECRET, "token": TPI_TOKEN},  # no "Bearer"
        auth(TPI_SECRET, TPI_TOKEN, "auth"),  # production's old header name
    ],
)
def test_requests_without_the_right_pair_get_401(
    shared: LaporSandbox, headers: dict[str, str]
) -> None:
    with httpx.Client(base_url=shared.base_url, headers=headers, timeout=60) as c:
        response = c.get("/masters/templates")
    assert response.status_code == 401
    assert response.json() == {"success": False, "message": "Unauthorized"}


def test_the_secrets_header_name_is_configurable(clock: Clock) -> None:
    with LaporSandbox(now=clock, auth_header="auth") as sb:
        sb.add_account(TPI_SECRET, TPI_TOKEN, TANJUNGPINANG)
        with httpx.Client(base_url=sb.base_url, timeout=60) as c:
            right = c.get("/masters/templates", headers=auth(TPI_SECRET, TPI_TOKEN, "auth"))
            assert right.status_code == 200
            wrong = c.get("/masters/templates", headers=auth(TPI_SECRET, TPI_TOKEN))
            assert wrong.status_code == 401
            assert wrong.json() == {"success": False, "message": "Unauthorized"}


def test_add_account_gives_user_ids_and_wants_a_braced_guid(sandbox: LaporSandbox) -> None:
    with pytest.raises(ValueError):
        sandbox.add_account("s", "11111111-2222-3333-4444-555555555555", TANJUNGPINANG)
    with pytest.raises(KeyError):
        sandbox.add_account("s", "{11111111-2222-3333-4444-555555555556}", "Kota Malang")
    third = sandbox.add_account("s", "{11111111-2222-3333-4444-555555555557}", KAB_MALANG)
    assert third == 100003
    chosen = sandbox.add_account("t", "{11111111-2222-3333-4444-555555555558}", KEPRI, 777)
    assert chosen == 777
    with pytest.raises(ValueError):
        sandbox.add_account("u", "{11111111-2222-3333-4444-555555555559}", KEPRI, TPI_USER)


@pytest.mark.parametrize(
    "settings",
    [
        {"capabilities": ["search"]},
        {"create_answer": "nested"},
        {"followup_ids": "some"},
        {"status_code_form": "float"},
        {"max_page_size": 0},
    ],
)
def test_unknown_settings_are_refused(settings: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        LaporSandbox(**settings)


# reference data ----------------------------------------------------------------
def test_institutions_are_paged_and_matched_by_whole_name(
    sandbox: LaporSandbox, tpi: httpx.Client
) -> None:
    first = tpi.get("/masters/institutions/external", params={"page_size": 1000}).json()
    assert len(first["results"]["data"]) == 5  # page_size is a wish
    assert "page_size=1000" in first["results"]["next_page_url"]
    rows = follow_all(tpi, "/masters/institutions/external", page_size=1000)
    assert [row["name"] for row in rows] == list(INSTITUTIONS)
    by_name = {row["name"]: row["id"] for row in rows}
    assert by_name[TANJUNGPINANG] == 5101
    assert by_name[MALANG] != by_name[KAB_MALANG]
    assert by_name[MALANG] == sandbox.institution_id(MALANG)
    assert "Kementerian Kesehatan" in by_name
    assert KEPRI in by_name


def test_templates_are_listed_in_every_profile(shared_tpi: httpx.Client) -> None:
    rows = follow_all(shared_tpi, "/masters/templates", page_size=1000)
    assert all(set(row) == {"code", "name", "content"} for row in rows)
    codes = [row["code"] for row in rows]
    assert {"reply", "disposition", "done", "tindak_lanjut"} <= set(codes)
    assert len(codes) == len(set(codes))


def test_capability_endpoints_are_404_in_the_evidenced_profile(
    shared_tpi: httpx.Client,
) -> None:
    assert not_found(shared_tpi.get("/masters/categories"))
    assert not_found(shared_tpi.get("/complaints", params={"tag": "tanjak"}))
    assert not_found(shared_tpi.get("/complaints/inbox"))
    assert not_found(shared_tpi.get("/complaints/nothing"))


def test_categories_serve_the_real_tree(ext: LaporSandbox, ext_tpi: httpx.Client) -> None:
    rows = follow_all(ext_tpi, "/masters/categories", page_size=1000)
    assert rows == [row._asdict() for row in CATEGORY_TREE]
    assert all(set(row) == {"id", "parent_id", "name"} for row in rows)
    by_id = {row["id"]: row for row in rows}
    drainase = by_id[ext.category_id(DRAINASE)]
    assert drainase["name"] == "DRAINASE (GORONG-GORONG/PARIT)"
    topic = by_id[drainase["parent_id"]]
    assert topic["parent_id"] is None and topic["name"] == PUPR
    lubang = by_id[ext.category_id(JALAN_BERLUBANG)]
    jalan = by_id[lubang["parent_id"]]
    assert jalan["name"] == "INFRASTRUKTUR JALAN"
    assert by_id[jalan["parent_id"]]["name"] == PUPR


# the topic tree -------------------------------------------------------------------
def test_the_topic_file_is_the_real_one_unchanged() -> None:
    if not REAL_TOPICS.exists():
        pytest.skip("no shared/real beside the project")
    assert TOPICS_FILE.read_bytes() == REAL_TOPICS.read_bytes()


def test_the_tree_keeps_every_name_of_the_file_once() -> None:
    topics = load_topics()
    assert len(topics) == 38
    assert sum(len(names) for names in topics.values()) == 929
    rows = CATEGORY_TREE
    assert len(rows) == 38 + 929
    assert len({row.id for row in rows}) == len(rows)
    by_id = {row.id: row for row in rows}
    for topic, names in topics.items():
        topic_id = category_tree().resolve(topic)
        under = [r.name for r in rows if r.parent_id == topic_id]
        subtopics = {r.id for r in rows if r.parent_id == topic_id}
        under += [r.name for r in rows if r.parent_id in subtopics]
        assert sorted(under) == sorted(normalise(n) for n in names), topic
    # at most three levels
    for row in rows:
        if row.parent_id is not None:
            parent = by_id[row.parent_id]
            assert parent.parent_id is None or by_id[parent.parent_id].parent_id is None


def test_the_tree_has_the_contracts_paths(sandbox: LaporSandbox) -> None:
    lubang = sandbox.category_id(JALAN_BERLUBANG)
    lampu = sandbox.category_id(PENERANGAN_JALAN)
    assert sandbox.category_path(lubang) == JALAN_BERLUBANG
    assert sandbox.category_path(lampu) == PENERANGAN_JALAN
    assert sandbox.category_path(sandbox.category_id(DRAINASE)) == DRAINASE
    assert sandbox.category_id("PERHUBUNGAN/LAMPU PENERANGAN JALAN UMUM")
    assert sandbox.category_id("LINGKUNGAN HIDUP DAN KEHUTANAN/PENGELOLAAN SAMPAH")
    assert sandbox.category_id(
        "KETENTERAMAN, KETERTIBAN UMUM, DAN PELINDUNGAN MASYARAKAT/SAMPAH LIAR"
    )
    topik_lainnya = sandbox.category_id("TOPIK LAINNYA")
    assert sandbox.category_path(topik_lainnya) == "TOPIK LAINNYA"
    assert [r for r in CATEGORY_TREE if r.parent_id == topik_lainnya] == []
    for wrong in (
        "POHON TUMBANG",
        "LINGKUNGAN HIDUP DAN KEHUTANAN/POHON TUMBANG",
        f"{PUPR}/DRAINASE",  # whole names only
        f"{PUPR}/JALAN BERLUBANG",  # a level skipped
        "PERHUBUNGAN/DRAINASE (GORONG-GORONG/PARIT)",  # another topic's
        f"{PUPR}/INFRASTRUKTUR JALAN/",
        "",
    ):
        with pytest.raises(KeyError):
            sandbox.category_id(wrong)
    with pytest.raises(KeyError):
        sandbox.category_path(77)


def test_paths_match_after_nfkc_and_whitespace_normalisation(sandbox: LaporSandbox) -> None:
    raw = json.loads(TOPICS_FILE.read_text(encoding="utf-8"))["raw_topic_names_with_nbsp"]
    assert len(raw) == 10
    for name in raw:
        assert "\u00a0" in name
        assert sandbox.category_path(sandbox.category_id(name)) == name.replace("\u00a0", " ")
    loose = "  pekerjaan\u00a0umum dan  penataan ruang/infrastruktur\tjalan/jalan berlubang "
    assert sandbox.category_id(loose) == sandbox.category_id(JALAN_BERLUBANG)
    assert sandbox.category_id("ｐｅｒｈｕｂｕｎｇａｎ") == sandbox.category_id(
        "PERHUBUNGAN"
    )  # NFKC


def test_repeated_names_are_distinct_nodes_resolved_by_parent(sandbox: LaporSandbox) -> None:
    lainnya = [r for r in CATEGORY_TREE if r.name == "LAINNYA"]
    assert len(lainnya) == 4
    assert len({r.id for r in lainnya}) == 4
    assert len({r.parent_id for r in lainnya}) >= 2
    rail = sandbox.category_id("PERHUBUNGAN/JADWAL KEBERANGKATAN")
    assert next(r.id for r in CATEGORY_TREE if r.name == "JADWAL KEBERANGKATAN") == rail
    road = [r for r in CATEGORY_TREE if r.name == "LAINNYA TERKAIT INFRASTRUKTUR JALAN"]
    assert len(road) == 2 and road[0].parent_id == road[1].parent_id
    path = f"{PUPR}/INFRASTRUKTUR JALAN/LAINNYA TERKAIT INFRASTRUKTUR JALAN"
    assert sandbox.category_id(path) == road[0].id  # the first, in page order
    kekerasan = "KEKERASAN DI SATUAN PENDIDIKAN (SEKOLAH, KAMPUS, LEMBAGA KURSUS)/LAINNYA"
    assert sandbox.category_path(sandbox.category_id(kekerasan)) == kekerasan


def test_every_path_resolves_back_to_a_node_of_that_path() -> None:
    tree = category_tree()
    for row in CATEGORY_TREE:
        path = tree.path(row.id)
        assert tree.path(tree.resolve(path)) == path
    names_with_slash = [r for r in CATEGORY_TREE if "/" in r.name]
    assert len(names_with_slash) >= 60


def test_level_split_heuristic() -> None:
    # leaves first, then subtopics each followed by its sorted children
    names = ["B", "LAINNYA TERKAIT T", "Z", "M", "A", "LAINNYA TERKAIT M", "X", "P", "LAINNYA TERKAIT P"]  # fmt: skip
    assert split_levels("T", names) == [None, None, None, None, 3, 3, 3, None, 7]
    # a subtopic nested in another (a fourth level): the whole topic stays flat
    nested = ["J", "I", "D", "LAINNYA TERKAIT I", "LAINNYA TERKAIT J"]
    assert split_levels("T", nested) == [None] * 5
    # no anchor, no split
    assert split_levels("T", ["INFRASTRUKTUR JALAN", "JALAN BERLUBANG"]) == [None, None]
    # deterministic
    assert category_tree().rows == CATEGORY_TREE


def test_seeded_sample_categories_exist(sandbox: LaporSandbox) -> None:
    ids = sandbox.seed_sample(random.Random(0), 40, TANJUNGPINANG)
    categories = {sandbox.complaint(i)["category_id"] for i in ids}
    assert len(categories) >= 8
    assert all(sandbox.category_path(c) for c in categories)


def test_routes_can_sit_under_a_prefix(clock: Clock) -> None:
    with LaporSandbox(prefix="/lapor/3.0.0", max_page_size=5, now=clock) as sb:
        sb.add_account(TPI_SECRET, TPI_TOKEN, TANJUNGPINANG)
        with client(sb) as c:
            rows = follow_all(c, "/masters/institutions/external")
            assert len(rows) == len(INSTITUTIONS)
            assert not_found(c.get(sb.url + "/masters/templates"))


# create and read ---------------------------------------------------------------
def test_create_answers_with_the_complaint_and_reads_back(
    sandbox: LaporSandbox, tpi: httpx.Client
) -> None:
    sent = body(sandbox)
    response = tpi.post("/complaints/complaint", json=sent)
    assert response.status_code == 201, response.text
    answer = response.json()
    assert answer["success"] is True and answer["message"]
    complaint = answer["results"]["complaint"]
    assert complaint["id"] >= 9165000

    data = read(tpi, complaint["id"])["data"]
    assert data == complaint
    assert set(data) == {
        "id", "title", "content", "status_name", "status_code", "disposition_id",
        "disposition_name", "status_logs", "category_id", "classification_id",
        "is_anonymous", "is_secret", "created_at", "updated_at",
    }  # fmt: skip
    assert data["content"] == sent["content"]  # the marker and the place, unchanged
    assert data["status_code"] == "10"
    assert data["status_name"] == "Belum Terverifikasi"
    assert data["disposition_id"] is None and data["disposition_name"] is None
    assert data["is_anonymous"] is False and data["is_secret"] is False
    assert data["created_at"] == "01-03-2024 09:00:00"  # WIB, no offset
    assert data["status_logs"] == [
        {"note": "Laporan dibuat dengan status Belum Terverifikasi", "timestamp": "01-03-2024 09:00:00"}
    ]  # fmt: skip
    assert data["category_id"] == sandbox.category_id(DRAINASE)
    assert data["classification_id"] == 6

    record = sandbox.complaint(complaint["id"])
    assert record["requested_disposition_id"] == sandbox.institution_id(TANJUNGPINANG)
    assert record["created_by"] == TPI_TOKEN
    assert record["user_id"] == TPI_USER
    assert record["location_id"] == 34
    assert record["channel"] == 13
    assert record["tags"] == ["tanjak", "ext-tanjak-1234"]
    assert record["date_of_incident"] == "2024-02-28T00:00:00.000000Z"
    assert record["reporter"] is None


def test_reads_show_tracking_id_tags_and_reporter_only_with_capabilities(
    ext: LaporSandbox, ext_tpi: httpx.Client
) -> None:
    reporter = {"name": "Budi Santoso", "phone": "+6281234567890", "email": "budi@example.id"}
    shown = create(ext_tpi, ext, reporter=reporter)
    data = read(ext_tpi, shown)["data"]
    assert data["tracking_id"] == f"#{shown}"
    assert data["tags"] == ["tanjak", "ext-tanjak-1234"]
    assert data["reporter"] == reporter
    anonymous = create(ext_tpi, ext, is_anonymous=True)
    secret = create(ext_tpi, ext, is_secret=1, reporter=reporter)
    for complaint_id in (anonymous, secret):
        assert "reporter" not in read(ext_tpi, complaint_id)["data"]
    assert ext.complaint(secret)["reporter"] == reporter


def test_reporter_without_the_capability_is_accepted_and_ignored(
    sandbox: LaporSandbox, tpi: httpx.Client
) -> None:
    complaint_id = create(tpi, sandbox, reporter={"name": "Budi"})
    assert sandbox.complaint(complaint_id)["reporter"] is None
    assert "reporter" not in read(tpi, complaint_id)["data"]


def test_new_user_slider_stores_the_reporter(sandbox: LaporSandbox, tpi: httpx.Client) -> None:
    complaint_id = create(
        tpi,
        sandbox,
        is_new_user_slider=True,
        nameUser="Siti Aminah",
        phoneUser="081200000000",
        emailUser="siti@example.id",
    )
    assert sandbox.complaint(complaint_id)["reporter"] == {
        "name": "Siti Aminah",
        "phone": "081200000000",
        "email": "siti@example.id",
    }
    assert "reporter" not in read(tpi, complaint_id)["data"]


@pytest.mark.parametrize("shape", CREATE_ANSWERS)
def test_create_answers_in_the_configured_shape(shape: str, clock: Clock) -> None:
    with LaporSandbox(now=clock, create_answer=shape) as sb:
        accounts(sb)
        with client(sb) as c:
            response = c.post("/complaints/complaint", json=body(sb))
    [record] = sb.complaints()
    n = record["id"]
    payload = response.json()
    expected: dict[str, Any] = {
        "top_level": {"complaint_id": n, "success": True, "message": "Laporan berhasil dibuat"},
        "data": {"data": {"complaint_id": n}},
        "results_id": {"success": True, "results": {"complaint_id": n}},
        "string_id": {"complaint_id": str(n), "success": True, "message": "Laporan berhasil dibuat"},
    }  # fmt: skip
    if shape == "complaint":
        assert response.status_code == 201
        assert payload["results"]["complaint"]["id"] == n
        assert payload["success"] is True
    else:
        assert response.status_code == 200
        assert payload == expected[shape]


def test_create_answer_rotates_and_can_change_at_runtime(
    sandbox: LaporSandbox, tpi: httpx.Client
) -> None:
    sandbox.create_answer = "rotate"
    answers = [tpi.post("/complaints/complaint", json=body(sandbox)) for _ in range(6)]
    ids = [c["id"] for c in sandbox.complaints()]
    assert answers[0].json()["results"]["complaint"]["id"] == ids[0]
    assert answers[1].json()["complaint_id"] == ids[1]
    assert answers[2].json() == {"data": {"complaint_id": ids[2]}}
    assert answers[3].json()["results"] == {"complaint_id": ids[3]}
    assert answers[4].json()["complaint_id"] == str(ids[4])
    assert answers[5].json()["results"]["complaint"]["id"] == ids[5]
    sandbox.create_answer = "data"
    assert tpi.post("/complaints/complaint", json=body(sandbox)).json() == {
        "data": {"complaint_id": ids[5] + 1}
    }


def test_no_idempotency_two_posts_make_two_complaints(
    sandbox: LaporSandbox, tpi: httpx.Client
) -> None:
    first, second = create(tpi, sandbox), create(tpi, sandbox)
    assert second > first
    assert [c["id"] for c in sandbox.complaint_by_marker("[ext-tanjak-1234]")] == [first, second]
    assert [c["id"] for c in sandbox.find_by_tag("#ext-tanjak-1234")] == [first, second]
    assert sandbox.complaint_by_marker("[ext-tanjak-999]") == []


def test_ids_increase_across_agencies_and_direct_filings(
    sandbox: LaporSandbox, tpi: httpx.Client, mlg: httpx.Client
) -> None:
    first = create(tpi, sandbox)
    [filed] = sandbox.seed_sample(random.Random(1), 1, KAB_MALANG)
    other = create(mlg, sandbox, user_id=MLG_USER, disposition_id=sandbox.institution_id(MALANG))
    last = create(tpi, sandbox)
    assert first < filed < other < last
    assert first == 9165000


def test_create_delay_answers_late_but_the_complaint_exists(
    sandbox: LaporSandbox,
) -> None:
    sandbox.create_delay = 1.0
    with httpx.Client(
        base_url=sandbox.base_url, headers=auth(TPI_SECRET, TPI_TOKEN), timeout=0.3
    ) as c:
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            c.post("/complaints/complaint", json=body(sandbox))
        assert time.monotonic() - started < 0.9
    [record] = sandbox.complaint_by_marker("[ext-tanjak-1234]")  # stored before the wait
    assert record["status_code"] == 10
    sandbox.create_delay = 0.0


def test_unknown_complaint_is_404(tpi: httpx.Client) -> None:
    response = tpi.get("/complaints/1/complaint")
    assert response.status_code == 404
    assert response.json()["success"] is False
    assert tpi.get("/complaints/1/followups").status_code == 404


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"title": "Pendek"}, "title"),
        ({"title": "x" * 151}, "title"),
        ({"content": "terlalu pendek"}, "content"),
        ({"content": "x" * 5001}, "content"),
        ({"classification_id": "6"}, "classification_id"),  # a number as a string
        ({"classification_id": 0}, "classification_id"),
        ({"category_id": 77}, "category_id"),
        ({"category_id": "8002"}, "category_id"),
        ({"disposition_id": 1}, "disposition_id"),
        ({"location_id": "21.72"}, "location_id"),  # v1's region code
        ({"location_id": 21.72}, "location_id"),
        ({"location_id": "34"}, "location_id"),
        ({"location_id": 0}, "location_id"),
        ({"location_id": ...}, "location_id"),
        ({"channel": 1}, "channel"),
        ({"channel": "13"}, "channel"),
        ({"user_id": MLG_USER}, "user_id"),  # not the caller's user
        ({"user_id": str(TPI_USER)}, "user_id"),
        ({"user_id": ...}, "user_id"),
        ({"is_anonymous": 2}, "is_anonymous"),
        ({"is_anonymous": "false"}, "is_anonymous"),
        ({"is_secret": None}, "is_secret"),
        ({"date_of_incident": "2024-02-28"}, "date_of_incident"),
        ({"date_of_incident": "31-02-2024"}, "date_of_incident"),
        ({"date_of_incident": "2024-02-30T00:00:00.000000Z"}, "date_of_incident"),
        ({"date_of_incident": "2024-02-28T00:00:00.000000+07:00"}, "date_of_incident"),
        ({"tags_raw": "#Tanjak"}, "tags_raw"),
        ({"tags_raw": "tanjak"}, "tags_raw"),
        ({"tags_raw": "#tanjak #ext_tanjak_1"}, "tags_raw"),
        ({"tags_raw": "#" + "a" * 65}, "tags_raw"),
        ({"tags_raw": ["#tanjak"]}, "tags_raw"),
        ({"attachments": []}, "attachments"),  # a list, not a string holding one
        ({"attachments": True}, "attachments"),
        ({"attachments": "[1, 2"}, "attachments"),
        ({"attachments": '["4199656"]'}, "attachments"),
        ({"attachments": "[4199656]"}, "attachments"),  # no such upload
        ({"nik": "3172010101010001"}, "nik"),
        ({"latitude": 0.9186}, "latitude"),
        ({"longitude": 104.4636}, "longitude"),
        ({"address": "Jl. Ganet"}, "address"),
        ({"tracking_id": "#1"}, "tracking_id"),  # not in the contract's table
        ({"is_new_user_slider": 2}, "is_new_user_slider"),
        ({"is_new_user_slider": True, "nameUser": 7}, "nameUser"),
        ({"reporter": {"name": "Budi", "nik": "3172010101010001"}}, "reporter.nik"),
    ],
)
def test_create_validates_every_rule(
    shared: LaporSandbox, shared_tpi: httpx.Client, changes: dict[str, Any], field: str
) -> None:
    response = shared_tpi.post("/complaints/complaint", json=body(shared, **changes))
    assert field in errors_of(response)
    assert shared.complaints() == []


@pytest.mark.parametrize(
    "changes",
    [
        {"is_anonymous": 0, "is_secret": 1},
        {"is_anonymous": True, "is_secret": False},
        {"attachments": "[]"},
        {"attachments": ...},
        {"date_of_incident": "28-02-2024"},
        {"date_of_incident": "2024-02-28T17:00:00Z"},
        {"date_of_incident": ..., "tags_raw": ...},
        {"channel": 26},
        {"classification_id": 1, "location_id": 1234567},
        {"category_id": 1},  # a topic
        {
            "is_inbox": 0,
            "is_disposisi_slider": False,
            "is_approval": 0,
            "is_priority": 0,
            "priority_program_id": None,
            "community_id": None,
            "copy_externals": [],
            "info_disposition": "",
            "info_attachments": [],
        },
    ],
)
def test_create_accepts_every_allowed_form(
    sandbox: LaporSandbox, tpi: httpx.Client, changes: dict[str, Any]
) -> None:
    complaint_id = create(tpi, sandbox, **changes)
    record = sandbox.complaint(complaint_id)
    assert record["status_code"] == 10
    assert isinstance(record["is_anonymous"], bool)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"is_anonymous": True, "reporter": {"name": "Budi"}}, "reporter"),
        ({"reporter": "Budi"}, "reporter"),
        ({"reporter": {"name": "Budi", "ktp": "x"}}, "reporter.ktp"),
        ({"reporter": {"phone": 81234}}, "reporter.phone"),
    ],
)
def test_reporter_is_checked_with_the_capability(
    ext: LaporSandbox, ext_tpi: httpx.Client, changes: dict[str, Any], field: str
) -> None:
    response = ext_tpi.post("/complaints/complaint", json=body(ext, **changes))
    assert field in errors_of(response)


def test_create_reports_every_field_at_once(tpi: httpx.Client) -> None:
    response = tpi.post("/complaints/complaint", json={"title": "Pendek", "latitude": 1})
    errors = errors_of(response)
    assert {
        "title", "content", "classification_id", "category_id", "disposition_id",
        "location_id", "channel", "user_id", "is_anonymous", "is_secret", "latitude",
    } <= set(errors)  # fmt: skip
    assert errors_of(tpi.post("/complaints/complaint", content=b"not json")) == {
        "body": ["The body must be a JSON object."]
    }


def upload(client: httpx.Client, *files: tuple[str, bytes, str]) -> httpx.Response:
    return client.post("/complaints/complaint/file", files=[("attachments[]", f) for f in files])


def test_at_most_five_attachments(sandbox: LaporSandbox, tpi: httpx.Client) -> None:
    png = image("PNG")
    response = upload(tpi, *[(f"foto{i}.png", png, "image/png") for i in range(6)])
    ids = [item["id"] for item in response.json()["results"]["images"]]
    assert len(ids) == 6
    too_many = tpi.post("/complaints/complaint", json=body(sandbox, attachments=json.dumps(ids)))
    assert "attachments" in errors_of(too_many)
    five = create(tpi, sandbox, attachments=json.dumps(ids[:5]))
    assert sandbox.complaint(five)["attachments"] == ids[:5]


# uploads -------------------------------------------------------------------------
def test_upload_puts_images_and_docs_apart(sandbox: LaporSandbox, tpi: httpx.Client) -> None:
    response = upload(
        tpi,
        ("foto.jpg", image("JPEG"), "image/jpeg"),
        ("surat.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf"),
        ("peta.png", image("PNG"), "image/png"),
    )
    assert response.status_code == 200, response.text
    payload = response.json()
    assert payload["success"] is True
    results = payload["results"]
    assert [i["name"] for i in results["images"]] == ["foto.jpg", "peta.png"]
    assert [d["name"] for d in results["docs"]] == ["surat.pdf"]
    ids = sorted(i["id"] for i in results["images"] + results["docs"])
    assert ids == [4199656, 4199657, 4199658]
    assert sandbox.uploads == 3
    only_pdf = upload(tpi, ("surat.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf"))
    assert only_pdf.json()["results"]["images"] == []
    only_image = upload(tpi, ("foto.jpg", image("JPEG"), "image/jpeg"))
    assert only_image.json()["results"]["docs"] == []


@pytest.mark.parametrize(
    "file",
    [
        ("foto.jpg", b"GIF89a not really a jpeg", "image/jpeg"),  # wrong magic bytes
        ("foto.jpg", image("PNG"), "image/jpeg"),  # a png declared as jpeg
        ("foto.gif", b"GIF89a...", "image/gif"),
        ("catatan.txt", b"%PDF-1.4", "text/plain"),  # right bytes, wrong declared type
        ("surat.docx", b"PK\x03\x04", DOCX),
        ("besar.jpg", b"\xff\xd8\xff" + b"\0" * (2 * 1024 * 1024), "image/jpeg"),
    ],
)
def test_upload_refuses_wrong_type_bytes_or_size(
    shared: LaporSandbox, shared_tpi: httpx.Client, file: tuple[str, bytes, str]
) -> None:
    response = upload(shared_tpi, ("ok.png", image("PNG"), "image/png"), file)
    assert set(errors_of(response)) == {"attachments.1"}
    assert shared.uploads == 0  # nothing of a refused upload is kept


def test_upload_of_exactly_two_megabytes_is_accepted(tpi: httpx.Client) -> None:
    data = b"\xff\xd8\xff" + b"\0" * (2 * 1024 * 1024 - 3)
    assert upload(tpi, ("pas.jpg", data, "image/jpeg")).status_code == 200
    assert "attachments" in errors_of(tpi.post("/complaints/complaint/file", data={"x": "1"}))


# search (tag_search) ---------------------------------------------------------------
def test_search_by_tag_finds_a_complaint_whose_answer_was_lost(
    ext: LaporSandbox, ext_tpi: httpx.Client
) -> None:
    ext.faults.inject("drop_after_write", method="POST", path=r"/complaints/complaint$")
    with pytest.raises(httpx.TransportError):
        ext_tpi.post("/complaints/complaint", json=body(ext, tags_raw="#tanjak #ext-tanjak-77"))
    found = follow_all(ext_tpi, "/complaints", tag="ext-tanjak-77")
    assert len(found) == 1
    assert found[0]["tags"] == ["tanjak", "ext-tanjak-77"]
    assert found[0]["tracking_id"] == f"#{found[0]['id']}"


def test_search_returns_only_the_callers_complaints_paged(
    ext: LaporSandbox, ext_tpi: httpx.Client, ext_mlg: httpx.Client
) -> None:
    mine = [create(ext_tpi, ext) for _ in range(7)]
    create(ext_mlg, ext, user_id=MLG_USER, disposition_id=ext.institution_id(MALANG))
    first = ext_tpi.get("/complaints", params={"tag": "tanjak"}).json()["results"]
    assert len(first["data"]) == 5 and first["next_page_url"] is not None
    assert [c["id"] for c in follow_all(ext_tpi, "/complaints", tag="tanjak")] == mine
    assert len(follow_all(ext_mlg, "/complaints", tag="ext-tanjak-1234")) == 1
    assert follow_all(ext_tpi, "/complaints", tag="nothing-here") == []
    assert "tag" in errors_of(ext_tpi.get("/complaints", params={"tag": "#tanjak"}))
    assert "tag" in errors_of(ext_tpi.get("/complaints"))


def test_find_by_tag_is_a_control_in_every_profile(
    sandbox: LaporSandbox, tpi: httpx.Client
) -> None:
    complaint_id = create(tpi, sandbox, tags_raw="#tanjak #ext-tanjak-5")
    assert [c["id"] for c in sandbox.find_by_tag("ext-tanjak-5")] == [complaint_id]
    assert not_found(tpi.get("/complaints", params={"tag": "ext-tanjak-5"}))


# inbox (inbox) -----------------------------------------------------------------------
def test_inbox_shows_only_disposed_complaints_of_the_callers_agency(
    ext: LaporSandbox, ext_tpi: httpx.Client, clock: Clock
) -> None:
    ids = ext.seed_sample(random.Random(7), 12, TANJUNGPINANG)
    ext.seed_sample(random.Random(8), 3, MALANG)
    waiting = create(ext_tpi, ext)  # status 10: nobody's yet
    ext.file_complaint(
        "Lampu jalan mati di Jl. Pramuka",
        "Lampu penerangan jalan mati sudah seminggu di Jl. Pramuka.",
        "PERHUBUNGAN/LAMPU PENERANGAN JALAN UMUM",
        TANJUNGPINANG,
        verified=False,
    )
    clock.advance(minutes=5)
    verified = create(ext_tpi, ext)
    ext.verify(verified)
    moved = create(ext_tpi, ext)
    ext.verify(moved, institution=KEPRI)

    items = follow_all(ext_tpi, "/complaints/inbox", updated_from="01-03-2024 09:00:00")
    assert [c["id"] for c in items] == [*ids, verified]
    assert all(c["disposition_name"] == TANJUNGPINANG for c in items)
    assert all(c["status_name"] == f"Terdisposisi ke {TANJUNGPINANG}" for c in items)
    assert waiting not in [c["id"] for c in items]

    later = follow_all(ext_tpi, "/complaints/inbox", updated_from="01-03-2024 09:05:00")
    assert [c["id"] for c in later] == [verified]
    assert follow_all(ext_tpi, "/complaints/inbox", updated_from="01-03-2024 09:05:01") == []


def test_inbox_orders_by_updated_at_then_id_and_caps_page_size(
    ext: LaporSandbox, ext_tpi: httpx.Client, clock: Clock
) -> None:
    first, second = ext.seed_sample(random.Random(1), 2, TANJUNGPINANG)
    clock.advance(seconds=1)
    ext.admin_followup(first, "Laporan sedang kami teruskan ke OPD terkait.")
    items = follow_all(ext_tpi, "/complaints/inbox", page_size=100)
    assert [c["id"] for c in items] == [second, first]
    assert items[1]["updated_at"] == "01-03-2024 09:00:01"
    assert "page_size" in errors_of(ext_tpi.get("/complaints/inbox", params={"page_size": 101}))
    bad_time = ext_tpi.get("/complaints/inbox", params={"updated_from": "2024-03-01T09:00:00"})
    assert "updated_from" in errors_of(bad_time)


# history: data_logs and status_logs ----------------------------------------------------
def fill(item: dict[str, Any]) -> str:
    """A data_logs item's text, filled the way the contract tells the client to."""
    names: dict[str, str] = {}
    for key in ("institution_from", "institution_to", "institution"):
        if f"{key}_name" in item:
            names[key] = item[f"{key}_name"]
        elif isinstance(item.get(key), dict):
            names[key] = item[key]["name"]
        elif isinstance(item.get(f"{key}_id"), dict):
            names[key] = item[f"{key}_id"]["name"]
    statuses = json.loads(item["data"]) if "data" in item else item
    for key in ("status_old", "status_new"):
        if key in statuses:
            names[key] = statuses[key]["name"]

    def replace(match: re.Match[str]) -> str:
        return names.get(match.group(1), match.group(0))

    return re.sub(r"\{\{\s*(\w+)\s*\}\}", replace, item["content"])


def test_data_logs_come_in_every_form_of_the_contract(
    sandbox: LaporSandbox, tpi: httpx.Client, clock: Clock
) -> None:
    complaint_id = create(tpi, sandbox)  # 0: created
    clock.advance(minutes=1)
    sandbox.verify(complaint_id)  # 1: disposed
    clock.advance(minutes=1)
    assert post_followup(tpi, sandbox, complaint_id).status_code == 200  # 2: 30 -> 40
    sandbox.reporter_followup(complaint_id, "Belum beres, air masih menggenang.")  # 3: 40 -> 50
    sandbox.admin_followup(complaint_id, "Mohon instansi menindaklanjuti kembali.")  # 4
    sandbox.agency_followup(complaint_id, TANJUNGPINANG, "Petugas kembali ke lokasi.")  # 5
    sandbox.archive(complaint_id, "Laporan duplikat dari #9165001.")  # 6
    results = read(tpi, complaint_id)
    logs = results["data_logs"]
    assert len(logs) == 7

    # time: created_at or date
    assert {"created_at", "date"} == {k for log in logs for k in ("created_at", "date") if k in log}
    assert all(("created_at" in log) != ("date" in log) for log in logs)
    assert logs[0].get("created_at", logs[0].get("date")) == "01-03-2024 09:00:00"
    # statuses: objects or a JSON string
    assert "status_old" not in logs[0] and logs[0]["status_new"] == {"name": "Belum Terverifikasi"}
    assert json.loads(logs[1]["data"]) == {
        "status_old": {"name": "Belum Terverifikasi"},
        "status_new": {"name": "Terdisposisi"},
    }
    assert any("status_new" in log for log in logs) and any("data" in log for log in logs)
    # agency names: flat, nested, an object in place of the id
    assert logs[1]["institution_from"] == {"id": 1, "name": "Admin Nasional"}
    assert logs[1]["institution_to"] == {"id": 5101, "name": TANJUNGPINANG}
    assert logs[2]["institution_from_id"] == {"id": 5101, "name": TANJUNGPINANG}
    assert logs[2]["institution_id"] == {"id": 5101, "name": TANJUNGPINANG}
    assert logs[4]["institution_from"] == {"id": 1, "name": "Admin Nasional"}
    assert logs[5]["institution_id"] == {"id": 5101, "name": TANJUNGPINANG}
    assert logs[6]["institution_from_name"] == "Admin Nasional"  # flat, with the plain id
    assert logs[6]["institution_from_id"] == 1
    # contents are templates, with and without spaces in the braces
    assert logs[1]["content"] == (
        "Laporan didisposisikan dari {{institution_from}} ke {{ institution_to }}"
    )
    assert fill(logs[1]) == f"Laporan didisposisikan dari Admin Nasional ke {TANJUNGPINANG}"
    assert fill(logs[2]) == (
        f"{TANJUNGPINANG} menindaklanjuti laporan: Terdisposisi menjadi "
        "Ditindaklanjuti oleh Instansi"
    )
    assert fill(logs[3]) == (
        "Pelapor menanggapi tindak lanjut: Ditindaklanjuti oleh Instansi menjadi "
        "Ditanggapi oleh Pelapor"
    )
    # the archive reason, as written
    assert logs[6]["content"] == "Laporan duplikat dari #9165001."
    assert logs[6]["status_new"] == {"name": "Diarsipkan"}
    # status_logs: one filled note per item
    notes = [s["note"] for s in results["data"]["status_logs"]]
    assert notes == [fill(log) for log in logs]
    assert all("{{" not in note for note in notes)
    assert sandbox.complaint(complaint_id)["data_logs"][6]["text"] == logs[6]["content"]


@pytest.mark.parametrize(("form", "expected"), [("string", "30"), ("int", 30), ("absent", None)])
def test_status_code_form(
    sandbox: LaporSandbox, tpi: httpx.Client, form: str, expected: Any
) -> None:
    [complaint_id] = sandbox.seed_sample(random.Random(2), 1, TANJUNGPINANG)
    sandbox.status_code_form = form
    data = read(tpi, complaint_id)["data"]
    assert data.get("status_code") == expected
    assert ("status_code" in data) == (form != "absent")
    assert data["status_name"] == f"Terdisposisi ke {TANJUNGPINANG}"
    assert data["disposition_id"] == 5101 and data["disposition_name"] == TANJUNGPINANG


# follow-ups -----------------------------------------------------------------------------
def post_followup(
    client: httpx.Client,
    sandbox: LaporSandbox,
    complaint_id: int,
    /,
    content: str = "Petugas sudah membersihkan saluran air.",
    *,
    institution: str = TANJUNGPINANG,
    user_id: int = TPI_USER,
    template_code: str = "reply",
    files: list[tuple[str, tuple[str, bytes, str]]] | None = None,
    **extra: str,
) -> httpx.Response:
    """A follow-up as the bridge posts it: multipart, to the agency itself.

    ``extra`` adds or overrides fields; a value ``"..."`` leaves the field out.
    """
    own = str(sandbox.institution_id(institution))
    data = {
        "complaint_id": str(complaint_id),
        "user_id": str(user_id),
        "institution_from_id": own,
        "institution_to_id": own,
        "template_code": template_code,
        "content": content,
        "is_secret": "0",
        **extra,
    }
    data = {k: v for k, v in data.items() if v != "..."}
    if files is None:  # multipart even without files, as the bridge sends it
        fields = {k: (None, v) for k, v in data.items()}
        return client.post("/complaints/followup/add", files=fields)
    return client.post("/complaints/followup/add", data=data, files=files)


def status_of(client: httpx.Client, complaint_id: int) -> str:
    status: str = read(client, complaint_id)["data"]["status_name"]
    return status


def test_followup_moves_30_to_40_and_answers_without_results(
    sandbox: LaporSandbox, tpi: httpx.Client, clock: Clock
) -> None:
    [complaint_id] = sandbox.seed_sample(random.Random(3), 1, TANJUNGPINANG)
    assert status_of(tpi, complaint_id) == f"Terdisposisi ke {TANJUNGPINANG}"
    clock.advance(hours=2)
    response = post_followup(
        tpi,
        sandbox,
        complaint_id,
        files=[("attachment[0]", ("bukti.jpg", image("JPEG"), "image/jpeg"))],
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"success": True, "message": "Tindak lanjut berhasil ditambahkan"}
    assert status_of(tpi, complaint_id) == "Ditindaklanjuti oleh Instansi"

    listed = follow_all(tpi, f"/complaints/{complaint_id}/followups")
    disposition, followup = listed
    assert set(disposition) == FOLLOWUP_KEYS  # no id: the admin's
    assert disposition["template_code"] == "disposition"
    assert disposition["institution_from_name"] == "Admin Nasional"
    assert disposition["institution_to_name"] == TANJUNGPINANG
    assert set(followup) == FOLLOWUP_KEYS | {"id"}  # written through the API
    assert followup["institution_from_name"] == TANJUNGPINANG
    assert followup["institution_to_name"] == TANJUNGPINANG
    assert followup["template_code"] == "reply"
    assert "{{institution_from}}" in followup["template_content"]
    assert followup["created_at"] == "01-03-2024 11:00:00"
    [attachment] = followup["attachments"]
    assert attachment["file_name"] == "bukti.jpg" and attachment["extension"] == "jpg"
    assert attachment["path"].startswith("http://")
    assert followup["id"] == sandbox.followups(complaint_id)[1]["id"]
    assert sandbox.followups(complaint_id)[1]["via_api"] is True
    assert sandbox.uploads == 1


def test_followup_may_come_urlencoded_without_files(
    sandbox: LaporSandbox, tpi: httpx.Client
) -> None:
    [complaint_id] = sandbox.seed_sample(random.Random(13), 1, TANJUNGPINANG)
    own = str(sandbox.institution_id(TANJUNGPINANG))
    response = tpi.post(
        "/complaints/followup/add",
        data={
            "complaint_id": str(complaint_id),
            "user_id": str(TPI_USER),
            "institution_from_id": own,
            "institution_to_id": own,
            "template_code": "tindak_lanjut",
            "content": "Sudah kami teruskan ke dinas terkait.",
            "is_secret": "1",
        },
    )
    assert response.status_code == 200, response.text
    last = sandbox.followups(complaint_id)[-1]
    assert last["template_code"] == "tindak_lanjut" and last["is_secret"] is True


@pytest.mark.parametrize(
    ("mode", "with_id"),
    [
        ("all", {"disposition", "admin", "reporter", "site", "api"}),
        ("none", set()),
        ("mixed", {"api"}),
    ],
)
def test_followup_ids_per_setting(
    sandbox: LaporSandbox, tpi: httpx.Client, mode: str, with_id: set[str]
) -> None:
    sandbox.followup_ids = mode
    [complaint_id] = sandbox.seed_sample(random.Random(14), 1, TANJUNGPINANG)
    assert post_followup(tpi, sandbox, complaint_id).status_code == 200
    sandbox.reporter_followup(complaint_id, "Masih ada genangan di depan rumah.")
    sandbox.admin_followup(complaint_id, "Mohon ditindaklanjuti kembali.")
    sandbox.agency_followup(complaint_id, TANJUNGPINANG, "Petugas kembali ke lokasi besok.")
    listed = follow_all(tpi, f"/complaints/{complaint_id}/followups")
    kinds = ["disposition", "api", "reporter", "admin", "site"]
    assert [kind for kind, item in zip(kinds, listed, strict=True) if "id" in item] == [
        kind for kind in kinds if kind in with_id
    ]
    assert all("author_type" not in item for item in listed)
    by_kind = dict(zip(kinds, listed, strict=True))
    assert by_kind["reporter"]["institution_from_name"] is None
    assert by_kind["reporter"]["template_code"] is None
    assert by_kind["reporter"]["template_content"] is None
    assert by_kind["admin"]["institution_from_name"] == "Admin Nasional"
    assert by_kind["admin"]["template_code"] == "reply"
    assert by_kind["site"]["institution_from_name"] == TANJUNGPINANG
    assert by_kind["site"]["template_code"] == "reply"
    assert [f["via_api"] for f in sandbox.followups(complaint_id)] == [
        False, True, False, False, False,
    ]  # fmt: skip


def test_followups_are_paged_oldest_first(sandbox: LaporSandbox, tpi: httpx.Client) -> None:
    [complaint_id] = sandbox.seed_sample(random.Random(4), 1, TANJUNGPINANG)
    for i in range(7):
        sandbox.admin_followup(complaint_id, f"Tanggapan admin nomor {i}")
    first = tpi.get(f"/complaints/{complaint_id}/followups").json()["results"]
    assert len(first["data"]) == 5
    listed = follow_all(tpi, f"/complaints/{complaint_id}/followups")
    assert [f["content"] for f in listed[1:]] == [f"Tanggapan admin nomor {i}" for i in range(7)]
    assert listed[0]["template_code"] == "disposition"


def test_followup_refuses_another_agencys_complaint_with_403(
    sandbox: LaporSandbox, tpi: httpx.Client, mlg: httpx.Client
) -> None:
    [complaint_id] = sandbox.seed_sample(random.Random(5), 1, TANJUNGPINANG)
    other = post_followup(mlg, sandbox, complaint_id, institution=MALANG, user_id=MLG_USER)
    assert other.status_code == 403
    assert other.json()["success"] is False
    pretending = post_followup(
        mlg, sandbox, complaint_id, institution=TANJUNGPINANG, user_id=MLG_USER
    )
    assert pretending.status_code == 403
    reject = mlg.post(
        f"/complaints/process/{complaint_id}/reject",
        json={"is_request": 1, "reason": "", "reason_description": "Bukan wilayah kami.", "not_authority": 1},
    )  # fmt: skip
    assert reject.status_code == 403
    # moved elsewhere by the admin: still readable by id, no longer ours to answer
    sandbox.dispose(complaint_id, MALANG)
    assert post_followup(tpi, sandbox, complaint_id).status_code == 403
    assert read(tpi, complaint_id)["data"]["disposition_name"] == MALANG
    moved = post_followup(mlg, sandbox, complaint_id, institution=MALANG, user_id=MLG_USER)
    assert moved.status_code == 200
    assert sandbox.followups(complaint_id)[-1]["institution_from_name"] == MALANG
    assert sandbox.followups(complaint_id)[-2]["template_code"] == "disposition"
    contents = [f["content"] for f in sandbox.followups(complaint_id, disposition_events=False)]
    assert contents == ["Petugas sudah membersihkan saluran air."]


def test_followup_validation(sandbox: LaporSandbox, tpi: httpx.Client) -> None:
    [complaint_id] = sandbox.seed_sample(random.Random(6), 1, TANJUNGPINANG)

    def field_errors(**changes: Any) -> set[str]:
        return set(errors_of(post_followup(tpi, sandbox, complaint_id, **changes)))

    assert field_errors(content="Pendek") == {"content"}
    assert field_errors(user_id=MLG_USER) == {"user_id"}
    assert field_errors(template_code="balasan") == {"template_code"}
    assert field_errors(template_code="...") == {"template_code"}
    assert field_errors(institution_to_id="1") == {"institution_to_id"}
    assert field_errors(institution_to_id="...") == {"institution_to_id"}
    assert field_errors(is_secret="2") == {"is_secret"}
    assert field_errors(complaint_id="...") == {"complaint_id"}
    fake = ("attachment[0]", ("bukti.jpg", b"not an image", "image/jpeg"))
    assert "attachment.0" in errors_of(post_followup(tpi, sandbox, complaint_id, files=[fake]))
    assert post_followup(tpi, sandbox, 1).status_code == 404
    assert len(sandbox.followups(complaint_id)) == 1  # the disposition event only
    assert sandbox.uploads == 0


def test_mark_completed_is_ignored_without_the_capability(
    sandbox: LaporSandbox, tpi: httpx.Client
) -> None:
    [complaint_id] = sandbox.seed_sample(random.Random(15), 1, TANJUNGPINANG)
    done = post_followup(
        tpi, sandbox, complaint_id, "Perbaikan selesai dikerjakan.", template_code="done",
        mark_completed="1",
    )  # fmt: skip
    assert done.status_code == 200
    assert status_of(tpi, complaint_id) == "Ditindaklanjuti oleh Instansi"  # not Selesai
    odd = post_followup(tpi, sandbox, complaint_id, mark_completed="2")
    assert odd.status_code == 200


def test_mark_completed_with_the_done_template_closes_with_the_capability(
    ext: LaporSandbox, ext_tpi: httpx.Client
) -> None:
    [complaint_id, archived] = ext.seed_sample(random.Random(16), 2, TANJUNGPINANG)
    assert post_followup(ext_tpi, ext, complaint_id).status_code == 200
    assert "mark_completed" in errors_of(
        post_followup(ext_tpi, ext, complaint_id, mark_completed="1")  # the reply template
    )
    assert "mark_completed" in errors_of(
        post_followup(ext_tpi, ext, complaint_id, template_code="done", mark_completed="2")
    )
    done = post_followup(
        ext_tpi, ext, complaint_id, "Perbaikan selesai dikerjakan.", template_code="done",
        mark_completed="1",
    )  # fmt: skip
    assert done.status_code == 200
    assert status_of(ext_tpi, complaint_id) == "Selesai"
    logs = ext.complaint(complaint_id)["data_logs"]
    assert [(log["status_old"], log["status_new"]) for log in logs] == [
        (None, 10), (10, 30), (30, 40), (40, 60),
    ]  # fmt: skip
    ext.archive(archived, "Bukan pengaduan.")
    refused = post_followup(ext_tpi, ext, archived, template_code="done", mark_completed="1")
    assert "mark_completed" in errors_of(refused)


def test_reporter_answer_moves_40_to_50_and_agency_back_to_40(
    sandbox: LaporSandbox, tpi: httpx.Client
) -> None:
    [complaint_id] = sandbox.seed_sample(random.Random(9), 1, TANJUNGPINANG)
    assert post_followup(tpi, sandbox, complaint_id).status_code == 200
    sandbox.reporter_followup(complaint_id, "Belum beres, air masih menggenang.")
    assert status_of(tpi, complaint_id) == "Ditanggapi oleh Pelapor"
    assert post_followup(tpi, sandbox, complaint_id).status_code == 200
    assert status_of(tpi, complaint_id) == "Ditindaklanjuti oleh Instansi"


# hand back and forward --------------------------------------------------------------------
def reject(
    client: httpx.Client, complaint_id: int, reason: Any = "", **changes: Any
) -> httpx.Response:
    payload = {
        "is_request": 1,
        "reason": reason,
        "reason_description": "Kewenangan pemerintah provinsi.",
        "not_authority": 1,
        **changes,
    }
    return client.post(f"/complaints/process/{complaint_id}/reject", json=payload)


def test_hand_back_clears_the_disposition(
    ext: LaporSandbox, ext_tpi: httpx.Client, clock: Clock
) -> None:
    kept, handed_back = ext.seed_sample(random.Random(10), 2, TANJUNGPINANG)
    assert "not_authority" in errors_of(reject(ext_tpi, handed_back, not_authority=0))
    assert "reason_description" in errors_of(reject(ext_tpi, handed_back, reason_description=""))
    clock.advance(minutes=1)
    response = reject(ext_tpi, handed_back)
    assert response.status_code == 200, response.text
    assert response.json()["success"] is True
    data = read(ext_tpi, handed_back)["data"]
    assert data["status_name"] == "Belum Terverifikasi"
    assert data["disposition_id"] is None
    assert [c["id"] for c in follow_all(ext_tpi, "/complaints/inbox")] == [kept]
    last = ext.complaint(handed_back)["data_logs"][-1]
    assert last["institution_from_name"] == TANJUNGPINANG
    assert "Kewenangan pemerintah provinsi." in last["text"]
    assert reject(ext_tpi, handed_back).status_code == 403
    with pytest.raises(ValueError):
        ext.verify(handed_back)  # asks for no agency any more
    ext.verify(handed_back, KEPRI)
    assert ext.complaint(handed_back)["disposition_name"] == KEPRI


def test_forward_request_names_the_target_for_the_admin(
    sandbox: LaporSandbox, tpi: httpx.Client
) -> None:
    [complaint_id] = sandbox.seed_sample(random.Random(17), 1, TANJUNGPINANG)
    kepri = sandbox.institution_id(KEPRI)
    assert "reason" in errors_of(reject(tpi, complaint_id, str(kepri)))  # a string
    assert "reason" in errors_of(reject(tpi, complaint_id, 1))  # no such agency
    assert "reason" in errors_of(reject(tpi, complaint_id, 5101))  # its own
    assert reject(tpi, complaint_id, kepri).status_code == 200
    record = sandbox.complaint(complaint_id)
    assert record["status_name"] == "Belum Terverifikasi"
    assert record["disposition_id"] is None
    assert record["requested_disposition_id"] == kepri
    assert record["data_logs"][-1]["institution_to_name"] == KEPRI
    sandbox.verify(complaint_id)
    assert sandbox.complaint(complaint_id)["status_name"] == f"Terdisposisi ke {KEPRI}"


def test_closed_complaints_cannot_be_handed_back(sandbox: LaporSandbox, tpi: httpx.Client) -> None:
    done, archived = sandbox.seed_sample(random.Random(18), 2, TANJUNGPINANG)
    sandbox.complete(done)
    sandbox.archive(archived, "Laporan tidak valid.")
    for complaint_id in (done, archived):
        assert "id" in errors_of(reject(tpi, complaint_id))
    assert reject(tpi, 1).status_code == 404


# admin and clock ------------------------------------------------------------------------
def test_archive_and_auto_close(sandbox: LaporSandbox, tpi: httpx.Client, clock: Clock) -> None:
    archived, answered, quiet = sandbox.seed_sample(random.Random(11), 3, TANJUNGPINANG)
    sandbox.archive(archived, "Laporan duplikat.")
    record = sandbox.complaint(archived)
    assert record["status_code"] == 90 and record["status_name"] == "Diarsipkan"
    assert record["data_logs"][-1]["content"] == "Laporan duplikat."
    assert sandbox.followups(archived)[-1]["institution_from_name"] == "Admin Nasional"
    with pytest.raises(ValueError):
        sandbox.archive(archived, "lagi")

    for complaint_id in (answered, quiet):
        assert post_followup(tpi, sandbox, complaint_id).status_code == 200
    clock.advance(days=13)
    sandbox.reporter_followup(answered, "Terima kasih, tetapi masih ada genangan.")
    assert sandbox.auto_close() == []
    clock.advance(days=1)
    assert sandbox.auto_close() == [quiet]
    assert status_of(tpi, quiet) == "Selesai"
    assert status_of(tpi, answered) == "Ditanggapi oleh Pelapor"


def test_complete_dispose_and_postpone_by_the_admin(
    sandbox: LaporSandbox, tpi: httpx.Client
) -> None:
    first, second = sandbox.seed_sample(random.Random(12), 2, TANJUNGPINANG)
    sandbox.complete(first)
    assert status_of(tpi, first) == "Selesai"
    post_followup(tpi, sandbox, second)
    moved = sandbox.dispose(second, KAB_MALANG)
    assert moved["status_code"] == 30 and moved["disposition_name"] == KAB_MALANG
    assert moved["status_name"] == f"Terdisposisi ke {KAB_MALANG}"
    assert sandbox.complaint(second)["data_logs"][-1]["institution_to_name"] == KAB_MALANG
    event = sandbox.followups(second)[-1]
    assert event["template_code"] == "disposition" and event["institution_to_name"] == KAB_MALANG
    with pytest.raises(ValueError):
        sandbox.complete(first)
    waiting = create(tpi, sandbox)
    sandbox.postpone(waiting, "Mohon lengkapi lokasi kejadian.")
    assert status_of(tpi, waiting) == "Ditunda"
    assert read(tpi, waiting)["data_logs"][-1]["content"] == "Mohon lengkapi lokasi kejadian."


def test_file_complaint_unverified_and_anonymous(ext: LaporSandbox, ext_tpi: httpx.Client) -> None:
    record = ext.file_complaint(
        "Pohon tumbang di Jl. Wiratno",
        "Pohon besar tumbang menutup setengah badan jalan Jl. Wiratno.",
        "LINGKUNGAN HIDUP DAN KEHUTANAN/LAINNYA TERKAIT LINGKUNGAN HIDUP DAN KEHUTANAN",
        TANJUNGPINANG,
        reporter={"name": "Siti Aminah", "phone": "081200000000"},
        is_anonymous=True,
        verified=False,
    )
    assert record["status_code"] == 10 and record["created_by"] is None
    assert follow_all(ext_tpi, "/complaints/inbox") == []
    ext.verify(record["id"])
    [shown] = follow_all(ext_tpi, "/complaints/inbox")
    assert shown["is_anonymous"] is True and "reporter" not in shown
    assert ext.complaint(record["id"])["reporter"]["name"] == "Siti Aminah"


def test_status_names_table() -> None:
    assert STATUS_NAMES == {
        10: "Belum Terverifikasi",
        20: "Ditunda",
        30: "Terdisposisi",
        40: "Ditindaklanjuti oleh Instansi",
        50: "Ditanggapi oleh Pelapor",
        60: "Selesai",
        90: "Diarsipkan",
    }


# faults ---------------------------------------------------------------------------------
def test_429_carries_retry_after(sandbox: LaporSandbox, tpi: httpx.Client) -> None:
    sandbox.faults.inject("429", path=r"/masters/templates$", retry_after=7)
    response = tpi.get("/masters/templates")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response.json()["success"] is False
    assert tpi.get("/masters/templates").status_code == 200


def test_gateway_html_502_and_json_503(sandbox: LaporSandbox, tpi: httpx.Client) -> None:
    sandbox.faults.inject("html502", method="GET")
    response = tpi.get("/masters/templates")
    assert response.status_code == 502
    assert response.headers["content-type"].startswith("text/html")
    assert b"502 Bad Gateway" in response.content
    sandbox.faults.inject("503")
    assert tpi.get("/masters/templates").json() == {
        "success": False,
        "message": "Internal Server Error",
    }
    assert tpi.get("/masters/templates").status_code == 200


def test_injected_422_uses_the_lapor_envelope(sandbox: LaporSandbox, tpi: httpx.Client) -> None:
    sandbox.faults.inject("422", method="POST", path=r"/complaints/complaint$")
    response = tpi.post("/complaints/complaint", json=body(sandbox))
    assert errors_of(response)
    assert sandbox.complaints() == []  # refused before processing
    assert create(tpi, sandbox) == 9165000
