"""The Sambat Kene Ker sandbox speaks shared/contract/sambat.md, quirks included."""

from __future__ import annotations

import random
import re
import time
from collections.abc import Iterator
from datetime import datetime, timedelta

import httpx
import pytest

from adapters.sandbox.sambat import KATEGORI, STATUSES, WIB, SambatSandbox

USER, PASSWORD = "malang", "sambat-rahasia"
NOW = datetime(2026, 3, 9, 10, 5, 42, tzinfo=WIB)
TIME = re.compile(r"\d{2}/\d{2}/\d{4} \d{2}:\d{2}")
FIELDS = [
    "no_tiket", "sumber", "nama", "hp", "isi_sambat", "kategori", "kelurahan", "kecamatan",
    "lat", "lng", "foto", "status", "skpd_tujuan", "id_lapor", "tanggapan", "tgl_masuk",
    "tgl_update",
]  # fmt: skip


class Clock:
    """A settable clock for the sandbox's ``now``."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def sandbox(clock: Clock) -> Iterator[SambatSandbox]:
    with SambatSandbox(USER, PASSWORD, now=clock) as server:
        assert isinstance(server, SambatSandbox)
        yield server


@pytest.fixture
def client(sandbox: SambatSandbox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.base_url, auth=(USER, PASSWORD), timeout=60) as c:
        yield c


def test_wrong_or_missing_login_is_401_with_an_html_body(sandbox: SambatSandbox) -> None:
    for auth in [(USER, "salah"), ("orang", PASSWORD), None]:
        answer = httpx.get(f"{sandbox.base_url}/sambat", auth=auth)
        assert answer.status_code == 401
        assert answer.headers["content-type"].startswith("text/html")
        assert answer.text.lstrip().startswith("<!DOCTYPE html>")
        assert answer.headers["www-authenticate"].startswith("Basic")


def test_paging_with_start_and_limit_covers_every_record_once_in_order(
    sandbox: SambatSandbox, client: httpx.Client, clock: Clock
) -> None:
    for minute in range(5):
        clock.moment = NOW + timedelta(minutes=minute)
        for _ in range(5):  # five records share each minute
            sandbox.add_sambat(isi_sambat="jalan rusak", kategori="Jalan Rusak")
    seen: list[dict[str, object]] = []
    for start in range(0, 30, 10):
        body = client.get("/sambat", params={"start": start, "limit": 10}).json()
        assert body["status"] == "ok"
        assert body["total"] == "25"
        seen.extend(body["data"])
    assert len(seen) == 25
    keys = [(_when(str(r["tgl_update"])), str(r["no_tiket"])) for r in seen]
    assert keys == sorted(keys)
    assert len({r["no_tiket"] for r in seen}) == 25


def test_limit_above_100_is_cut_to_100(sandbox: SambatSandbox, client: httpx.Client) -> None:
    for _ in range(130):
        sandbox.add_sambat(isi_sambat="sampah", kategori="Sampah")
    body = client.get("/sambat", params={"limit": 500}).json()
    assert body["total"] == "130"
    assert len(body["data"]) == 100
    rest = client.get("/sambat", params={"limit": 500, "start": 100}).json()
    assert len(rest["data"]) == 30


def test_sejak_has_minute_resolution(
    sandbox: SambatSandbox, client: httpx.Client, clock: Clock
) -> None:
    clock.moment = datetime(2026, 3, 9, 10, 4, 59, tzinfo=WIB)
    sandbox.add_sambat(isi_sambat="sebelum", kategori="Sampah")
    clock.moment = datetime(2026, 3, 9, 10, 5, 1, tzinfo=WIB)
    early = sandbox.add_sambat(isi_sambat="awal menit", kategori="Sampah")
    clock.moment = datetime(2026, 3, 9, 10, 5, 58, tzinfo=WIB)
    late = sandbox.add_sambat(isi_sambat="akhir menit", kategori="Sampah")
    assert early["tgl_update"] == late["tgl_update"] == "09/03/2026 10:05"

    body = client.get("/sambat", params={"sejak": "09/03/2026 10:05"}).json()
    assert body["total"] == "2"
    assert [r["isi_sambat"] for r in body["data"]] == ["awal menit", "akhir menit"]
    # a client that asks again from the last tgl_update it saw gets that minute again
    again = client.get("/sambat", params={"sejak": late["tgl_update"]}).json()
    assert {r["no_tiket"] for r in again["data"]} == {early["no_tiket"], late["no_tiket"]}
    assert client.get("/sambat", params={"sejak": "09/03/2026 10:06"}).json()["total"] == "0"


@pytest.mark.parametrize("sejak", ["2026-03-09T10:05", "9/3/2026 10:05", "31/02/2026 10:05"])
def test_bad_sejak_is_an_error_inside_200(client: httpx.Client, sejak: str) -> None:
    answer = client.get("/sambat", params={"sejak": sejak})
    assert answer.status_code == 200
    assert answer.json()["status"] == "error"
    assert answer.json()["pesan"]


def test_a_missing_ticket_is_an_error_inside_200(client: httpx.Client) -> None:
    answer = client.get("/sambat/SMB-2026-999999")
    assert answer.status_code == 200
    assert answer.json() == {"status": "error", "pesan": "tiket tidak ditemukan"}


def test_creating_with_a_kategori_outside_the_list_fails_inside_200(
    sandbox: SambatSandbox, client: httpx.Client
) -> None:
    answer = client.post("/sambat", data={"isi_sambat": "jalan rusak", "kategori": "Jalan"})
    assert answer.status_code == 200
    assert answer.json()["status"] == "error"
    assert sandbox.all_sambat() == []


def test_create_with_a_form_returns_a_ticket_number(
    sandbox: SambatSandbox, client: httpx.Client
) -> None:
    form = {
        "isi_sambat": "Lampu jalan mati di Jl. Ijen",
        "kategori": "Penerangan Jalan",
        "nama": "Siti Aminah",
        "hp": "6281234567890",
        "kelurahan": "Oro-oro Dowo",
        "kecamatan": "Klojen",
        "lat": "-7.972500",
        "lng": "112.621300",
        "skpd_tujuan": "Dinas Perumahan dan Kawasan Permukiman",
        "id_lapor": "#9165816",
        "sumber": "lapor",
    }
    body = client.post("/sambat", data=form).json()
    assert body["status"] == "ok"
    assert re.fullmatch(r"SMB-2026-\d{6}", body["no_tiket"])
    record = client.get(f"/sambat/{body['no_tiket']}").json()["data"]
    assert {k: record[k] for k in form} == form
    assert record["status"] == "Menunggu"
    assert record["tgl_masuk"] == record["tgl_update"] == "09/03/2026 10:05"
    # no idempotency: the same form again is a second record
    assert client.post("/sambat", data=form).json()["no_tiket"] != body["no_tiket"]


def test_a_json_body_is_not_read_as_a_form(sandbox: SambatSandbox, client: httpx.Client) -> None:
    answer = client.post("/sambat", json={"isi_sambat": "banjir", "kategori": "Banjir"})
    assert answer.json()["status"] == "error"
    assert sandbox.all_sambat() == []


def test_form_writes_to_a_ticket(
    sandbox: SambatSandbox, client: httpx.Client, clock: Clock
) -> None:
    no = sandbox.add_sambat(isi_sambat="sampah blm diangkut", kategori="Sampah")["no_tiket"]
    clock.moment = NOW + timedelta(hours=2)

    assert client.post(f"/sambat/{no}/lapor", data={"id_lapor": "#9165816"}).json() == {
        "status": "ok"
    }
    assert client.post(f"/sambat/{no}/status", data={"status": "Diproses"}).json() == {
        "status": "ok"
    }
    bad = client.post(f"/sambat/{no}/status", data={"status": "Proses"})
    assert bad.status_code == 200
    assert bad.json()["status"] == "error"
    answer = client.post(
        f"/sambat/{no}/tanggapan",
        data={"dari": "LAPOR", "isi": "Sedang ditangani", "tgl": "09/03/2026 11:30", "ref": "fu-1"},
    ).json()
    assert answer["status"] == "ok"
    assert isinstance(answer["id_tanggapan"], str)
    assert answer["id_tanggapan"].isdigit()
    assert (
        client.post(f"/sambat/{no}/tanggapan", data={"isi": "x", "tgl": "kemarin"}).json()["status"]
        == "error"
    )

    record = sandbox.sambat(no)
    assert record["id_lapor"] == "#9165816"
    assert record["status"] == "Diproses"
    assert record["tanggapan"] == [
        {
            "id_tanggapan": answer["id_tanggapan"],
            "dari": "LAPOR",
            "isi": "Sedang ditangani",
            "tgl": "09/03/2026 11:30",
            "ref": "fu-1",
        }
    ]
    assert record["tgl_update"] == "09/03/2026 12:05"
    missing = client.post("/sambat/SMB-2026-999999/status", data={"status": "Selesai"})
    assert missing.json() == {"status": "error", "pesan": "tiket tidak ditemukan"}


def test_responses_are_listed_oldest_first(sandbox: SambatSandbox) -> None:
    no = sandbox.add_sambat(isi_sambat="pohon tumbang", kategori="Pohon Tumbang")["no_tiket"]
    sandbox.respond(no, "DLH", "kedua", tgl=NOW + timedelta(hours=3))
    sandbox.respond(no, "DLH", "pertama", tgl=NOW + timedelta(hours=1))
    assert [t["isi"] for t in sandbox.sambat(no)["tanggapan"]] == ["pertama", "kedua"]


def test_sms_records_have_no_name_photo_or_location(
    sandbox: SambatSandbox, client: httpx.Client
) -> None:
    sandbox.add_sambat(
        sumber="sms",
        hp="6285712345678",
        nama="diabaikan",
        lat="-7.9",
        lng="112.6",
        photo=b"\xff\xd8\xff",
        isi_sambat="lampu PJU mati di jl soekarno hatta dpn ruko 3 hari",
        kategori="Penerangan Jalan",
        kelurahan="Mojolangu",
        kecamatan="Lowokwaru",
    )
    record = client.get("/sambat").json()["data"][0]
    assert list(record) == FIELDS
    assert record["sumber"] == "sms"
    assert record["nama"] == record["lat"] == record["lng"] == record["foto"] == ""
    assert record["id_lapor"] == ""
    assert record["hp"] == "6285712345678"
    assert record["tanggapan"] == []
    assert TIME.fullmatch(record["tgl_masuk"])
    assert all(isinstance(v, str) for k, v in record.items() if k != "tanggapan")


def test_seeded_sample_is_realistic(sandbox: SambatSandbox, client: httpx.Client) -> None:
    numbers = sandbox.seed_sample(random.Random(7), 60)
    assert len(numbers) == len(set(numbers)) == 60
    records = sandbox.all_sambat()
    by_source = {s: [r for r in records if r["sumber"] == s] for s in ("sms", "web", "android")}
    assert all(len(group) >= 5 for group in by_source.values())
    for record in by_source["sms"]:
        assert record["nama"] == record["foto"] == record["lat"] == ""
        assert record["hp"].startswith("62")
    for record in records:
        assert list(record) == FIELDS
        assert record["kategori"] in KATEGORI
        assert record["status"] in STATUSES
        assert TIME.fullmatch(record["tgl_update"])
        assert _when(record["tgl_masuk"]) <= _when(record["tgl_update"]) <= NOW
        assert record["hp"] == "" or record["hp"].isdigit()
    masuk = [r["tgl_masuk"] for r in by_source["sms"]]
    assert len(set(masuk)) < len(masuk), "the SMS gateway imports in batches"

    photos = [r["foto"] for r in records if r["foto"]]
    assert photos
    picture = client.get(photos[0])
    assert picture.status_code == 200
    assert picture.content.startswith(b"\xff\xd8")
    assert httpx.get(photos[0]).status_code == 401


def test_html200_fault_is_an_html_page_with_status_200(
    sandbox: SambatSandbox, client: httpx.Client
) -> None:
    sandbox.faults.inject("html200", method="GET", path=r"/api/sambat$")
    answer = client.get("/sambat")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert "<html" in answer.text
    assert client.get("/sambat").json()["status"] == "ok"


def test_error_in_200_control(sandbox: SambatSandbox, client: httpx.Client) -> None:
    no = sandbox.add_sambat(isi_sambat="banjir", kategori="Banjir")["no_tiket"]
    sandbox.error_in_200(2, r"/status$", method="POST")
    for _ in range(2):
        answer = client.post(f"/sambat/{no}/status", data={"status": "Selesai"})
        assert answer.status_code == 200
        assert answer.json()["status"] == "error"
    assert sandbox.sambat(no)["status"] == "Menunggu"
    assert client.post(f"/sambat/{no}/status", data={"status": "Selesai"}).json()["status"] == "ok"


def test_5xx_fault_answers_in_the_back_ends_shape(
    sandbox: SambatSandbox, client: httpx.Client
) -> None:
    sandbox.faults.inject("503")
    answer = client.get("/sambat")
    assert answer.status_code == 503
    assert answer.json()["status"] == "error"


def test_it_never_says_429_but_gets_slow(sandbox: SambatSandbox, client: httpx.Client) -> None:
    sandbox.faults.inject("429", retry_after=0.3)
    started = time.monotonic()
    answer = client.get("/sambat")
    assert answer.status_code == 200
    assert answer.json()["status"] == "ok"
    assert time.monotonic() - started >= 0.3

    sandbox.set_latency(0.2)
    started = time.monotonic()
    assert client.get("/sambat").status_code == 200
    assert time.monotonic() - started >= 0.2
    sandbox.set_latency(0)


def test_unknown_paths_get_the_frameworks_html_404(client: httpx.Client) -> None:
    answer = client.get("/tidak-ada")
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("text/html")


def test_control_edit_moves_tgl_update(sandbox: SambatSandbox, clock: Clock) -> None:
    no = sandbox.add_sambat(isi_sambat="jalan rusak", kategori="Jalan Rusak")["no_tiket"]
    clock.moment = NOW + timedelta(days=1)
    edited = sandbox.edit_sambat(no, kategori="Banjir", status="Diverifikasi")
    assert edited["kategori"] == "Banjir"
    assert edited["tgl_update"] == "10/03/2026 10:05"
    with pytest.raises(ValueError):
        sandbox.edit_sambat(no, kategori="Banjir Bandang")
    url = sandbox.add_photo(no, b"\x89PNG\r\n", "image/png")
    assert sandbox.sambat(no)["foto"] == url


def _when(text: str) -> datetime:
    return datetime.strptime(text, "%d/%m/%Y %H:%M").replace(tzinfo=WIB)


def test_injected_422_is_an_error_inside_200(sandbox: SambatSandbox, client: httpx.Client) -> None:
    sandbox.faults.inject("422", method="POST")
    answer = client.post("/sambat", data={"isi_sambat": "banjir", "kategori": "Banjir"})
    assert answer.status_code == 200
    assert answer.json()["status"] == "error"
    assert sandbox.all_sambat() == []
