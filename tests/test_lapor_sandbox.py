"""The LAPOR-SP4N sandbox, driven with plain httpx over real sockets."""

from __future__ import annotations

import io
import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from adapters.lapor.client import parse_time
from adapters.lapor.sandbox import CATEGORY_TREE, INSTITUTIONS, LaporSandbox
from bridge.timefmt import WIB

TANJUNGPINANG = "Pemerintah Kota Tanjungpinang"
MALANG = "Pemerintah Kota Malang"
KAB_MALANG = "Pemerintah Kabupaten Malang"
TPI_SECRET, TPI_TOKEN = "secret-tpi", "{11111111-2222-3333-4444-555555555555}"
MLG_SECRET, MLG_TOKEN = "secret-mlg", "{aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee}"


class Clock:
    """A controllable clock for ``sandbox.now``."""

    def __init__(self) -> None:
        self.at = datetime(2024, 3, 1, 2, 0, 0, tzinfo=UTC)  # 09:00 WIB

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


def auth(secret: str, token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}", "token": token}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sandbox(clock: Clock) -> Iterator[LaporSandbox]:
    with LaporSandbox(max_page_size=5, now=clock) as sb:
        sb.add_account(TPI_SECRET, TPI_TOKEN, TANJUNGPINANG)
        sb.add_account(MLG_SECRET, MLG_TOKEN, MALANG)
        yield sb


@pytest.fixture(scope="module")
def shared() -> Iterator[LaporSandbox]:
    """One sandbox for the many checks that change nothing (a stop costs ~0.5 s)."""
    with LaporSandbox(max_page_size=5, now=Clock()) as sb:
        sb.add_account(TPI_SECRET, TPI_TOKEN, TANJUNGPINANG)
        sb.add_account(MLG_SECRET, MLG_TOKEN, MALANG)
        yield sb


@pytest.fixture
def shared_tpi(shared: LaporSandbox) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=shared.base_url, headers=auth(TPI_SECRET, TPI_TOKEN), timeout=60
    ) as client:
        yield client


@pytest.fixture
def tpi(sandbox: LaporSandbox) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=sandbox.base_url, headers=auth(TPI_SECRET, TPI_TOKEN), timeout=60
    ) as client:
        yield client


@pytest.fixture
def mlg(sandbox: LaporSandbox) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=sandbox.base_url, headers=auth(MLG_SECRET, MLG_TOKEN), timeout=60
    ) as client:
        yield client


def image(kind: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(out, format=kind)
    return out.getvalue()


def body(sandbox: LaporSandbox, **changes: Any) -> dict[str, Any]:
    """A valid create body for Tanjungpinang; ``changes`` override fields."""
    payload: dict[str, Any] = {
        "title": "Saluran air tersumbat di Jl. Ganet",
        "content": "Saluran air tersumbat sampah sehingga jalan banjir setiap hujan.",
        "classification_id": 1,
        "category_id": sandbox.category_id("PEKERJAAN UMUM DAN PENATAAN RUANG/DRAINASE"),
        "disposition_id": sandbox.institution_id(TANJUNGPINANG),
        "location_id": "21.72",
        "date_of_incident": "28-02-2024",
        "channel": 13,
        "is_anonymous": 0,
        "is_secret": 0,
        "reporter": {"name": "Budi Santoso", "phone": "+6281234567890"},
        "tags_raw": "#tanjak #ext-tanjak-1234",
        "attachments": "[]",
    }
    payload.update(changes)
    return payload


def create(client: httpx.Client, sandbox: LaporSandbox, **changes: Any) -> dict[str, Any]:
    response = client.post("/complaints/complaint", json=body(sandbox, **changes))
    assert response.status_code == 201, response.text
    complaint: dict[str, Any] = response.json()["results"]["complaint"]
    return complaint


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
    ],
)
def test_requests_without_the_right_pair_get_401(
    shared: LaporSandbox, headers: dict[str, str]
) -> None:
    with httpx.Client(base_url=shared.base_url, headers=headers, timeout=60) as client:
        response = client.get("/masters/categories")
    assert response.status_code == 401
    assert response.json() == {"success": False, "message": "Unauthorized"}


def test_add_account_wants_a_braced_guid_and_a_known_agency(sandbox: LaporSandbox) -> None:
    with pytest.raises(ValueError):
        sandbox.add_account("s", "11111111-2222-3333-4444-555555555555", TANJUNGPINANG)
    with pytest.raises(KeyError):
        sandbox.add_account("s", "{11111111-2222-3333-4444-555555555556}", "Kota Malang")


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
    assert "Pemerintah Provinsi Kepulauan Riau" in by_name


def test_categories_are_exactly_the_contract_tree(sandbox: LaporSandbox, tpi: httpx.Client) -> None:
    rows = follow_all(tpi, "/masters/categories")
    topics = {r["id"]: r["name"] for r in rows if r["parent_id"] is None}
    tree = {
        name: sorted(r["name"] for r in rows if r["parent_id"] == topic_id)
        for topic_id, name in topics.items()
    }
    assert tree == {
        "PEKERJAAN UMUM DAN PENATAAN RUANG": ["DRAINASE", "JALAN BERLUBANG"],
        "LINGKUNGAN HIDUP DAN KEHUTANAN": ["POHON TUMBANG", "SAMPAH"],
        "PERHUBUNGAN": ["PARKIR LIAR", "PENERANGAN JALAN UMUM"],
        "ENERGI DAN SUMBER DAYA ALAM": ["LISTRIK"],
        "KESEHATAN": [],
        "PENDIDIKAN DAN KEBUDAYAAN": [],
        "KEPENDUDUKAN": [],
        "SOSIAL DAN KESEJAHTERAAN": [],
        "KETENTERAMAN, KETERTIBAN UMUM, DAN PELINDUNGAN MASYARAKAT": [],
        "TOPIK LAINNYA": [],
    }
    assert len(rows) == sum(1 + len(subs) for _, _, subs in CATEGORY_TREE)
    assert {"id": 121, "parent_id": 12, "name": "DRAINASE"} in rows
    assert sandbox.category_id("PEKERJAAN UMUM DAN PENATAAN RUANG/DRAINASE") == 121
    assert sandbox.category_id("TOPIK LAINNYA") == topics_id(rows, "TOPIK LAINNYA")
    with pytest.raises(KeyError):
        sandbox.category_id("PERHUBUNGAN/DRAINASE")


def topics_id(rows: list[dict[str, Any]], name: str) -> int:
    return int(next(r["id"] for r in rows if r["name"] == name))


def test_routes_can_sit_under_a_prefix(clock: Clock) -> None:
    with LaporSandbox(prefix="/lapor/3.0.0", max_page_size=5, now=clock) as sb:
        sb.add_account(TPI_SECRET, TPI_TOKEN, TANJUNGPINANG)
        headers = auth(TPI_SECRET, TPI_TOKEN)
        with httpx.Client(base_url=sb.base_url, headers=headers, timeout=60) as client:
            rows = follow_all(client, "/masters/institutions/external")
            assert len(rows) == len(INSTITUTIONS)
            assert client.get(sb.url + "/masters/categories").status_code == 404


# create and read ---------------------------------------------------------------
def test_create_answers_201_with_the_whole_complaint_and_reads_back(
    sandbox: LaporSandbox, tpi: httpx.Client
) -> None:
    complaint = create(tpi, sandbox)
    assert complaint["id"] >= 9165000
    assert complaint["tracking_id"] == f"#{complaint['id']}"
    assert complaint["status_code"] == 10
    assert complaint["status_name"] == "Belum Terverifikasi"
    assert complaint["disposition_id"] is None  # waiting for the admin
    assert complaint["tags"] == ["tanjak", "ext-tanjak-1234"]
    assert complaint["created_at"] == "01-03-2024 09:00:00"  # WIB, no offset
    assert complaint["reporter"]["name"] == "Budi Santoso"
    assert set(complaint) == {
        "id", "tracking_id", "title", "content", "classification_id", "category_id",
        "disposition_id", "disposition_name", "status_code", "status_name",
        "is_anonymous", "is_secret", "tags", "created_at", "updated_at", "reporter",
    }  # fmt: skip

    read = tpi.get(f"/complaints/{complaint['id']}/complaint")
    assert read.status_code == 200
    results = read.json()["results"]
    assert results["data"] == complaint
    assert results["data_logs"][0]["status_new"] == 10

    record = sandbox.complaint(complaint["id"])
    assert record["requested_disposition_id"] == sandbox.institution_id(TANJUNGPINANG)
    assert record["created_by"] == TPI_TOKEN
    assert record["location_id"] == "21.72"


def test_no_idempotency_two_posts_make_two_complaints(
    sandbox: LaporSandbox, tpi: httpx.Client
) -> None:
    first, second = create(tpi, sandbox), create(tpi, sandbox)
    assert second["id"] > first["id"]
    assert len(sandbox.find_by_tag("ext-tanjak-1234")) == 2


def test_reads_never_show_the_reporter_of_anonymous_or_secret_complaints(
    sandbox: LaporSandbox, tpi: httpx.Client
) -> None:
    anonymous = create(tpi, sandbox, is_anonymous=1, reporter=None)
    secret = create(tpi, sandbox, is_secret=1)
    for complaint in (anonymous, secret):
        read = tpi.get(f"/complaints/{complaint['id']}/complaint").json()["results"]["data"]
        assert "reporter" not in read
        assert "reporter" not in complaint
    assert sandbox.complaint(secret["id"])["reporter"]["name"] == "Budi Santoso"


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
        ({"classification_id": 4}, "classification_id"),
        ({"classification_id": "1"}, "classification_id"),
        ({"category_id": 77}, "category_id"),
        ({"disposition_id": 1}, "disposition_id"),
        ({"location_id": 21.72}, "location_id"),
        ({"location_id": "Tanjungpinang"}, "location_id"),
        ({"date_of_incident": "2024-02-28"}, "date_of_incident"),
        ({"date_of_incident": "31-02-2024"}, "date_of_incident"),
        ({"channel": 1}, "channel"),
        ({"is_anonymous": 2}, "is_anonymous"),
        ({"is_secret": None}, "is_secret"),
        ({"is_anonymous": 1}, "reporter"),  # a reporter sent with an anonymous complaint
        ({"reporter": "Budi"}, "reporter"),
        ({"latitude": 91}, "latitude"),
        ({"tags_raw": "#Tanjak"}, "tags_raw"),
        ({"tags_raw": "tanjak"}, "tags_raw"),
        ({"tags_raw": "#tanjak #ext_tanjak_1"}, "tags_raw"),
        ({"tags_raw": "#" + "a" * 65}, "tags_raw"),
        ({"tags_raw": ["#tanjak"]}, "tags_raw"),
        ({"attachments": []}, "attachments"),  # a list, not a string holding one
        ({"attachments": "[1, 2"}, "attachments"),
        ({"attachments": "[4199656]"}, "attachments"),  # no such upload
    ],
)
def test_create_validates_every_rule(
    shared: LaporSandbox, shared_tpi: httpx.Client, changes: dict[str, Any], field: str
) -> None:
    response = shared_tpi.post("/complaints/complaint", json=body(shared, **changes))
    assert field in errors_of(response)
    assert shared.complaints() == []


def test_create_reports_every_field_at_once(tpi: httpx.Client) -> None:
    response = tpi.post("/complaints/complaint", json={"title": "Pendek"})
    errors = errors_of(response)
    assert {"title", "content", "classification_id", "category_id", "disposition_id"} <= set(errors)
    assert errors_of(tpi.post("/complaints/complaint", content=b"not json")) == {
        "body": ["The body must be a JSON object."]
    }


def upload(client: httpx.Client, *files: tuple[str, bytes, str]) -> httpx.Response:
    return client.post("/complaints/complaint/file", files=[("attachments[]", f) for f in files])


def test_at_most_five_attachments(sandbox: LaporSandbox, tpi: httpx.Client) -> None:
    png = image("PNG")
    response = upload(tpi, *[(f"foto{i}.png", png, "image/png") for i in range(6)])
    ids = [doc["id"] for doc in response.json()["results"]["docs"]]
    assert len(ids) == 6
    too_many = tpi.post("/complaints/complaint", json=body(sandbox, attachments=json.dumps(ids)))
    assert "attachments" in errors_of(too_many)
    five = create(tpi, sandbox, attachments=json.dumps(ids[:5]))
    assert sandbox.complaint(five["id"])["attachments"] == ids[:5]


# uploads -------------------------------------------------------------------------
def test_upload_accepts_jpeg_png_and_pdf(sandbox: LaporSandbox, tpi: httpx.Client) -> None:
    response = upload(
        tpi,
        ("foto.jpg", image("JPEG"), "image/jpeg"),
        ("peta.png", image("PNG"), "image/png"),
        ("surat.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf"),
    )
    assert response.status_code == 200, response.text
    docs = response.json()["results"]["docs"]
    assert [d["name"] for d in docs] == ["foto.jpg", "peta.png", "surat.pdf"]
    assert docs[0]["id"] == 4199656
    assert sandbox.uploads == 3


@pytest.mark.parametrize(
    "file",
    [
        ("foto.jpg", b"GIF89a not really a jpeg", "image/jpeg"),  # wrong magic bytes
        ("foto.jpg", image("PNG"), "image/jpeg"),  # a png declared as jpeg
        ("foto.gif", b"GIF89a...", "image/gif"),
        ("catatan.txt", b"%PDF-1.4", "text/plain"),  # right bytes, wrong declared type
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


# search ------------------------------------------------------------------------------
def test_search_by_tag_finds_a_complaint_whose_answer_was_lost(
    sandbox: LaporSandbox, tpi: httpx.Client
) -> None:
    sandbox.faults.inject("drop_after_write", method="POST", path=r"/complaints/complaint$")
    with pytest.raises(httpx.TransportError):
        tpi.post("/complaints/complaint", json=body(sandbox, tags_raw="#tanjak #ext-tanjak-77"))
    found = follow_all(tpi, "/complaints", tag="ext-tanjak-77")
    assert len(found) == 1
    assert found[0]["tags"] == ["tanjak", "ext-tanjak-77"]


def test_search_returns_only_the_callers_complaints_paged(
    sandbox: LaporSandbox, tpi: httpx.Client, mlg: httpx.Client
) -> None:
    mine = [create(tpi, sandbox)["id"] for _ in range(7)]
    create(mlg, sandbox, disposition_id=sandbox.institution_id(MALANG), location_id="35.73")
    first = tpi.get("/complaints", params={"tag": "tanjak"}).json()["results"]
    assert len(first["data"]) == 5 and first["next_page_url"] is not None
    assert [c["id"] for c in follow_all(tpi, "/complaints", tag="tanjak")] == mine
    assert follow_all(mlg, "/complaints", tag="ext-tanjak-1234") != []
    assert follow_all(tpi, "/complaints", tag="nothing-here") == []
    assert "tag" in errors_of(tpi.get("/complaints", params={"tag": "#tanjak"}))


# inbox ---------------------------------------------------------------------------------
def test_inbox_shows_only_disposed_complaints_of_the_callers_agency(
    sandbox: LaporSandbox, tpi: httpx.Client, clock: Clock
) -> None:
    ids = sandbox.seed_sample(random.Random(7), 12, TANJUNGPINANG)
    sandbox.seed_sample(random.Random(8), 3, MALANG)
    waiting = create(tpi, sandbox)  # status 10: nobody's yet
    sandbox.file_complaint(
        "Lampu jalan mati di Jl. Pramuka",
        "Lampu penerangan jalan mati sudah seminggu di Jl. Pramuka.",
        "PERHUBUNGAN/PENERANGAN JALAN UMUM",
        TANJUNGPINANG,
        verified=False,
    )
    clock.advance(minutes=5)
    verified = create(tpi, sandbox)
    sandbox.verify(verified["id"])
    moved = create(tpi, sandbox)
    sandbox.verify(moved["id"], institution="Pemerintah Provinsi Kepulauan Riau")

    items = follow_all(tpi, "/complaints/inbox", updated_from="01-03-2024 09:00:00")
    assert [c["id"] for c in items] == [*ids, verified["id"]]
    assert all(c["disposition_name"] == TANJUNGPINANG for c in items)
    assert waiting["id"] not in [c["id"] for c in items]

    later = follow_all(tpi, "/complaints/inbox", updated_from="01-03-2024 09:05:00")
    assert [c["id"] for c in later] == [verified["id"]]
    assert follow_all(tpi, "/complaints/inbox", updated_from="01-03-2024 09:05:01") == []


def test_inbox_orders_by_updated_at_then_id_and_caps_page_size(
    sandbox: LaporSandbox, tpi: httpx.Client, clock: Clock
) -> None:
    first, second = sandbox.seed_sample(random.Random(1), 2, TANJUNGPINANG)
    clock.advance(seconds=1)
    sandbox.admin_followup(first, "Laporan sedang kami teruskan ke OPD terkait.")
    items = follow_all(tpi, "/complaints/inbox", page_size=100)
    assert [c["id"] for c in items] == [second, first]
    assert items[1]["updated_at"] == "01-03-2024 09:00:01"
    assert "page_size" in errors_of(tpi.get("/complaints/inbox", params={"page_size": 101}))
    bad_time = tpi.get("/complaints/inbox", params={"updated_from": "2024-03-01T09:00:00"})
    assert "updated_from" in errors_of(bad_time)


# follow-ups -----------------------------------------------------------------------------
def post_followup(
    client: httpx.Client,
    sandbox: LaporSandbox,
    complaint_id: int,
    content: str = "Petugas sudah membersihkan saluran air.",
    *,
    institution: str = TANJUNGPINANG,
    mark_completed: int = 0,
    files: list[tuple[str, tuple[str, bytes, str]]] | None = None,
) -> httpx.Response:
    data = {
        "complaint_id": str(complaint_id),
        "institution_from_id": str(sandbox.institution_id(institution)),
        "content": content,
        "mark_completed": str(mark_completed),
    }
    return client.post("/complaints/followup/add", data=data, files=files)


def status_of(client: httpx.Client, complaint_id: int) -> int:
    read = client.get(f"/complaints/{complaint_id}/complaint")
    return int(read.json()["results"]["data"]["status_code"])


def test_followup_moves_30_to_40_and_mark_completed_to_60(
    sandbox: LaporSandbox, tpi: httpx.Client, clock: Clock
) -> None:
    [complaint_id] = sandbox.seed_sample(random.Random(3), 1, TANJUNGPINANG)
    assert status_of(tpi, complaint_id) == 30
    clock.advance(hours=2)
    response = post_followup(
        tpi,
        sandbox,
        complaint_id,
        files=[("attachment[0]", ("bukti.jpg", image("JPEG"), "image/jpeg"))],
    )
    assert response.status_code == 201, response.text
    followup = response.json()["results"]["followup"]
    assert followup["author_type"] == "instansi"
    assert followup["institution_from_name"] == TANJUNGPINANG
    assert followup["attachments"][0]["name"] == "bukti.jpg"
    assert followup["created_at"] == "01-03-2024 11:00:00"
    assert status_of(tpi, complaint_id) == 40

    done = post_followup(
        tpi, sandbox, complaint_id, "Perbaikan selesai dikerjakan.", mark_completed=1
    )
    assert done.status_code == 201
    assert status_of(tpi, complaint_id) == 60

    logs = tpi.get(f"/complaints/{complaint_id}/complaint").json()["results"]["data_logs"]
    assert [(log["status_old"], log["status_new"]) for log in logs] == [
        (None, 10),
        (10, 30),
        (30, 40),
        (40, 60),
    ]
    listed = follow_all(tpi, f"/complaints/{complaint_id}/followups")
    assert [f["id"] for f in listed] == [f["id"] for f in sandbox.followups(complaint_id)]
    assert len(listed) == 2


def test_followups_are_paged_oldest_first(sandbox: LaporSandbox, tpi: httpx.Client) -> None:
    [complaint_id] = sandbox.seed_sample(random.Random(4), 1, TANJUNGPINANG)
    for i in range(7):
        sandbox.admin_followup(complaint_id, f"Tanggapan admin nomor {i}")
    first = tpi.get(f"/complaints/{complaint_id}/followups").json()["results"]
    assert len(first["data"]) == 5
    listed = follow_all(tpi, f"/complaints/{complaint_id}/followups")
    assert [f["content"] for f in listed] == [f"Tanggapan admin nomor {i}" for i in range(7)]
    assert {f["author_type"] for f in listed} == {"admin"}


def test_followup_refuses_another_agencys_complaint_with_403(
    sandbox: LaporSandbox, tpi: httpx.Client, mlg: httpx.Client
) -> None:
    [complaint_id] = sandbox.seed_sample(random.Random(5), 1, TANJUNGPINANG)
    other = post_followup(mlg, sandbox, complaint_id, institution=MALANG)
    assert other.status_code == 403
    assert other.json()["success"] is False
    pretending = post_followup(mlg, sandbox, complaint_id, institution=TANJUNGPINANG)
    assert pretending.status_code == 403
    assert (
        mlg.post(
            f"/complaints/process/{complaint_id}/reject",
            json={"not_authority": 1, "reason_description": "Bukan wilayah kami."},
        ).status_code
        == 403
    )
    # moved elsewhere by the admin: still readable by id, no longer ours to answer
    sandbox.dispose(complaint_id, MALANG)
    assert post_followup(tpi, sandbox, complaint_id).status_code == 403
    assert tpi.get(f"/complaints/{complaint_id}/complaint").status_code == 200
    assert post_followup(mlg, sandbox, complaint_id, institution=MALANG).status_code == 201
    assert sandbox.followups(complaint_id)[-1]["institution_from_name"] == MALANG


def test_followup_validation(sandbox: LaporSandbox, tpi: httpx.Client) -> None:
    [complaint_id] = sandbox.seed_sample(random.Random(6), 1, TANJUNGPINANG)
    assert "content" in errors_of(post_followup(tpi, sandbox, complaint_id, "Pendek"))
    assert "mark_completed" in errors_of(
        post_followup(tpi, sandbox, complaint_id, mark_completed=2)
    )
    fake = ("attachment[0]", ("bukti.jpg", b"not an image", "image/jpeg"))
    assert "attachment.0" in errors_of(post_followup(tpi, sandbox, complaint_id, files=[fake]))
    assert post_followup(tpi, sandbox, 1).status_code == 404
    assert sandbox.followups(complaint_id) == []


def test_reporter_answer_moves_40_to_50_and_agency_back_to_40(
    sandbox: LaporSandbox, tpi: httpx.Client
) -> None:
    [complaint_id] = sandbox.seed_sample(random.Random(9), 1, TANJUNGPINANG)
    assert post_followup(tpi, sandbox, complaint_id).status_code == 201
    sandbox.reporter_followup(complaint_id, "Belum beres, air masih menggenang.")
    assert status_of(tpi, complaint_id) == 50
    authors = [f["author_type"] for f in follow_all(tpi, f"/complaints/{complaint_id}/followups")]
    assert authors == ["instansi", "pelapor"]
    assert post_followup(tpi, sandbox, complaint_id).status_code == 201
    assert status_of(tpi, complaint_id) == 40


def test_reject_hands_the_complaint_back_and_it_leaves_the_inbox(
    sandbox: LaporSandbox, tpi: httpx.Client
) -> None:
    kept, handed_back = sandbox.seed_sample(random.Random(10), 2, TANJUNGPINANG)
    url = f"/complaints/process/{handed_back}/reject"
    assert "not_authority" in errors_of(
        tpi.post(url, json={"not_authority": 0, "reason_description": "x"})
    )
    response = tpi.post(
        url, json={"not_authority": 1, "reason_description": "Kewenangan pemerintah provinsi."}
    )
    assert response.status_code == 200, response.text
    complaint = response.json()["results"]["complaint"]
    assert complaint["status_code"] == 10
    assert complaint["disposition_id"] is None
    assert [c["id"] for c in follow_all(tpi, "/complaints/inbox")] == [kept]
    last_log = sandbox.complaint(handed_back)["data_logs"][-1]
    assert last_log["institution_from_name"] == TANJUNGPINANG
    assert "Kewenangan pemerintah provinsi." in last_log["content"]
    assert tpi.post(url, json={"not_authority": 1, "reason_description": "lagi"}).status_code == 403
    # the admin sends it on to the province
    sandbox.verify(handed_back, "Pemerintah Provinsi Kepulauan Riau")
    assert sandbox.complaint(handed_back)["status_code"] == 30


# admin and clock ------------------------------------------------------------------------
def test_archive_and_auto_close(sandbox: LaporSandbox, tpi: httpx.Client, clock: Clock) -> None:
    archived, answered, quiet = sandbox.seed_sample(random.Random(11), 3, TANJUNGPINANG)
    sandbox.archive(archived, "Laporan duplikat.")
    record = sandbox.complaint(archived)
    assert record["status_code"] == 90 and record["status_name"] == "Diarsipkan"
    assert record["data_logs"][-1]["content"] == "Laporan duplikat."
    assert sandbox.followups(archived)[-1]["author_type"] == "admin"
    assert archived in [c["id"] for c in follow_all(tpi, "/complaints/inbox")]
    assert "mark_completed" in errors_of(post_followup(tpi, sandbox, archived, mark_completed=1))

    for complaint_id in (answered, quiet):
        assert post_followup(tpi, sandbox, complaint_id).status_code == 201
    clock.advance(days=13)
    sandbox.reporter_followup(answered, "Terima kasih, tetapi masih ada genangan.")
    assert sandbox.auto_close() == []
    clock.advance(days=1)
    assert sandbox.auto_close() == [quiet]
    assert status_of(tpi, quiet) == 60
    assert status_of(tpi, answered) == 50


def test_complete_and_dispose_by_the_admin(sandbox: LaporSandbox, tpi: httpx.Client) -> None:
    first, second = sandbox.seed_sample(random.Random(12), 2, TANJUNGPINANG)
    sandbox.complete(first)
    assert status_of(tpi, first) == 60
    post_followup(tpi, sandbox, second)
    moved = sandbox.dispose(second, KAB_MALANG)
    assert moved["status_code"] == 30 and moved["disposition_name"] == KAB_MALANG
    assert sandbox.complaint(second)["data_logs"][-1]["institution_to_name"] == KAB_MALANG
    with pytest.raises(ValueError):
        sandbox.complete(first)


def test_file_complaint_unverified_and_anonymous(sandbox: LaporSandbox, tpi: httpx.Client) -> None:
    record = sandbox.file_complaint(
        "Pohon tumbang di Jl. Wiratno",
        "Pohon besar tumbang menutup setengah badan jalan Jl. Wiratno.",
        "LINGKUNGAN HIDUP DAN KEHUTANAN/POHON TUMBANG",
        TANJUNGPINANG,
        reporter={"name": "Siti Aminah", "phone": "081200000000"},
        is_anonymous=True,
        verified=False,
    )
    assert record["status_code"] == 10
    assert follow_all(tpi, "/complaints/inbox") == []
    sandbox.verify(record["id"])
    [shown] = follow_all(tpi, "/complaints/inbox")
    assert shown["is_anonymous"] == 1 and "reporter" not in shown
    assert sandbox.complaint(record["id"])["reporter"]["name"] == "Siti Aminah"


# faults ---------------------------------------------------------------------------------
def test_429_carries_retry_after(sandbox: LaporSandbox, tpi: httpx.Client) -> None:
    sandbox.faults.inject("429", path=r"/complaints/inbox$", retry_after=7)
    response = tpi.get("/complaints/inbox")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response.json()["success"] is False
    assert tpi.get("/complaints/inbox").status_code == 200


def test_gateway_html_502_and_json_503(sandbox: LaporSandbox, tpi: httpx.Client) -> None:
    sandbox.faults.inject("html502", method="GET")
    response = tpi.get("/masters/categories")
    assert response.status_code == 502
    assert response.headers["content-type"].startswith("text/html")
    assert b"502 Bad Gateway" in response.content
    sandbox.faults.inject("503")
    assert tpi.get("/masters/categories").json() == {
        "success": False,
        "message": "Internal Server Error",
    }
    assert tpi.get("/masters/categories").status_code == 200


def test_injected_422_uses_the_lapor_envelope(sandbox: LaporSandbox, tpi: httpx.Client) -> None:
    sandbox.faults.inject("422", method="POST", path=r"/complaints/complaint$")
    response = tpi.post("/complaints/complaint", json=body(sandbox))
    assert errors_of(response)
    assert sandbox.complaints() == []  # refused before processing
    assert create(tpi, sandbox)["status_code"] == 10


@given(st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9999, 12, 30)))
def test_lapor_times_read_as_strptime_reads_them(moment: datetime) -> None:
    text = moment.strftime("%d-%m-%Y %H:%M:%S")
    expected = datetime.strptime(text, "%d-%m-%Y %H:%M:%S").replace(tzinfo=WIB).astimezone(UTC)
    assert parse_time(text) == expected


def test_lapor_times_written_loosely_or_wrongly() -> None:
    assert parse_time("1-2-2020 7:05:00") == datetime(2020, 2, 1, 0, 5, tzinfo=UTC)
    for wrong in ("31-02-2020 10:00:00", "28-13-2020 10:00:00", "2020-09-28 10:15:00", ""):
        with pytest.raises(ValueError):
            parse_time(wrong)
