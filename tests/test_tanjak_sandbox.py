"""The Tanjak sandbox answers as ``contract/tanjak.md`` says, over real sockets."""

from __future__ import annotations

import io
import random
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from PIL import Image

from adapters.local import sample
from adapters.sandbox.tanjak import KATEGORI, STATUS, TanjakSandbox

KEY = "kunci-uji"
START = datetime(2020, 9, 28, 3, 15, 0, tzinfo=UTC)  # 10:15 WIB
WIB_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+07:00")


class Clock:
    """A hand-moved clock for ``sandbox.now``."""

    def __init__(self, start: datetime) -> None:
        self.moment = start

    def __call__(self) -> datetime:
        return self.moment

    def advance(self, seconds: float) -> None:
        self.moment += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def sandbox(clock: Clock) -> Iterator[TanjakSandbox]:
    server = TanjakSandbox(api_key=KEY)
    server.now = clock
    with server:
        yield server


@pytest.fixture
def client(sandbox: TanjakSandbox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.url, headers={"X-Api-Key": KEY}, timeout=60) as http:
        yield http


def feed(client: httpx.Client, since: str, **params: Any) -> dict[str, Any]:
    response = client.get("/api/aduan", params={"diperbarui_sejak": since, **params})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def new_aduan_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "judul": "Jalan berlubang di Jl. Ganet",
        "isi": "Lubang besar di depan SD 005, sudah ada pengendara jatuh.",
        "kategori": "jalan",
        "lokasi": {"lat": 0.9186, "lng": 104.4554, "alamat": "Jl. Ganet, Batu IX"},
        "pelapor": {"nama": "Budi Santoso", "hp": "+6281234567890", "nik": None},
        "anonim": False,
        "rahasia": False,
        "opd": "PUPR",
        "lapor_id": "4123987",
    }
    body.update(overrides)
    return body


# --- auth and errors --------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, {"X-Api-Key": "salah"}])
def test_a_missing_or_wrong_key_is_401(sandbox: TanjakSandbox, headers: dict[str, str]) -> None:
    aduan = sandbox.add_aduan()
    url = sandbox.add_photo(aduan["id"], b"\xff\xd8\xff")
    with httpx.Client(base_url=sandbox.url, headers=headers, timeout=60) as anonymous:
        for path in (
            "/api/aduan?diperbarui_sejak=2020-01-01T00:00:00Z",
            f"/api/aduan/{aduan['id']}",
        ):
            response = anonymous.get(path)
            assert response.status_code == 401
            assert response.json() == {"pesan": "kunci API tidak valid"}
        assert anonymous.get(url).status_code == 401


def test_unknown_aduan_is_404_with_pesan(client: httpx.Client) -> None:
    for path in ("/api/aduan/999", "/api/aduan/abc"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.json() == {"pesan": "aduan tidak ditemukan"}
    assert client.get("/api/tidak-ada").json() == {"pesan": "halaman tidak ditemukan"}


def test_injected_faults_use_tanjak_error_shape(
    sandbox: TanjakSandbox, client: httpx.Client
) -> None:
    sandbox.faults.inject("429", path=r"/api/aduan$", retry_after=7)
    sandbox.faults.inject("503", path=r"/api/aduan$")
    response = client.get("/api/aduan", params={"diperbarui_sejak": "2020-01-01T00:00:00Z"})
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert "pesan" in response.json()
    response = client.get("/api/aduan", params={"diperbarui_sejak": "2020-01-01T00:00:00Z"})
    assert response.status_code == 503
    assert "pesan" in response.json()


# --- the feed ---------------------------------------------------------------


def test_times_are_wib_to_the_second(sandbox: TanjakSandbox, clock: Clock) -> None:
    clock.moment = START + timedelta(microseconds=987654)
    aduan = sandbox.add_aduan()
    assert aduan["dibuat_pada"] == "2020-09-28T10:15:00+07:00"
    assert aduan["diperbarui_pada"] == "2020-09-28T10:15:00+07:00"
    assert aduan["nomor"] == f"TJK-2020-{aduan['id']:06d}"


def test_feed_is_ordered_by_update_time_then_id(
    sandbox: TanjakSandbox, client: httpx.Client, clock: Clock
) -> None:
    first = sandbox.add_aduan()
    second = sandbox.add_aduan()  # same second as the first
    clock.advance(5)
    third = sandbox.add_aduan()
    clock.advance(5)
    sandbox.respond(first["id"], "DLH", "Sudah kami angkut hari ini.")  # first moves last

    body = feed(client, "2020-09-28T10:00:00+07:00")
    assert [a["id"] for a in body["data"]] == [second["id"], third["id"], first["id"]]
    assert body["halaman"] == 1
    assert body["total_halaman"] == 1

    # diperbarui_pada >= since, to the second
    body = feed(client, "2020-09-28T10:15:05+07:00")
    assert [a["id"] for a in body["data"]] == [third["id"], first["id"]]
    body = feed(client, "2020-09-28T10:15:05.5+07:00")
    assert [a["id"] for a in body["data"]] == [first["id"]]


def test_since_accepts_z_and_any_offset(sandbox: TanjakSandbox, client: httpx.Client) -> None:
    sandbox.add_aduan()
    same_instant = (
        "2020-09-28T03:15:00Z",
        "2020-09-28T10:15:00+07:00",
        "2020-09-28T03:15:00+00:00",
    )
    for since in same_instant:
        assert len(feed(client, since)["data"]) == 1
    assert feed(client, "2020-09-28T03:15:01z")["data"] == []
    assert feed(client, "2020-09-28T11:15:01+08:00")["data"] == []


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"diperbarui_sejak": ""},
        {"diperbarui_sejak": "kemarin"},
        {"diperbarui_sejak": "2020-09-28"},
        {"diperbarui_sejak": "2020-09-28T10:15:00"},  # no offset
        {"diperbarui_sejak": "2020-09-28T10:15:00 07:00"},  # a "+" sent unencoded
        {"diperbarui_sejak": "2020-13-28T10:15:00Z"},
        {"diperbarui_sejak": "2020-09-28T10:15:00Z", "per_halaman": "101"},
        {"diperbarui_sejak": "2020-09-28T10:15:00Z", "per_halaman": "0"},
        {"diperbarui_sejak": "2020-09-28T10:15:00Z", "halaman": "0"},
        {"diperbarui_sejak": "2020-09-28T10:15:00Z", "halaman": "satu"},
    ],
)
def test_bad_feed_parameters_are_422(client: httpx.Client, params: dict[str, str]) -> None:
    response = client.get("/api/aduan", params=params)
    assert response.status_code == 422
    assert isinstance(response.json()["pesan"], str)


def test_pages_default_to_50_and_allow_100(sandbox: TanjakSandbox, client: httpx.Client) -> None:
    for _ in range(120):
        sandbox.add_aduan()
    body = feed(client, "2020-01-01T00:00:00Z")
    assert len(body["data"]) == 50
    assert body["total_halaman"] == 3
    body = feed(client, "2020-01-01T00:00:00Z", per_halaman=100, halaman=2)
    assert len(body["data"]) == 20
    assert body["halaman"] == 2
    assert body["total_halaman"] == 2
    body = feed(client, "2020-01-01T00:00:00Z", per_halaman=100, halaman=3)
    assert body["data"] == []


def test_a_record_updated_while_paging_moves_to_the_end(
    sandbox: TanjakSandbox, client: httpx.Client, clock: Clock
) -> None:
    ids = [sandbox.add_aduan()["id"] for _ in range(6)]  # all in the same second
    since = "2020-09-28T10:00:00+07:00"
    page1 = feed(client, since, halaman=1, per_halaman=3)
    assert [a["id"] for a in page1["data"]] == ids[:3]

    clock.advance(60)
    sandbox.set_status(ids[1], "diverifikasi")  # already read on page 1

    page2 = feed(client, since, halaman=2, per_halaman=3)
    # ids[3] slid onto page 1 and is skipped; ids[1] appears a second time
    assert [a["id"] for a in page2["data"]] == [ids[4], ids[5], ids[1]]
    assert page2["data"][-1]["status"] == "diverifikasi"
    assert page2["data"][-1]["diperbarui_pada"] == "2020-09-28T10:16:00+07:00"


# --- writes -----------------------------------------------------------------


def test_create_answers_201_with_the_whole_aduan(
    client: httpx.Client, sandbox: TanjakSandbox
) -> None:
    response = client.post("/api/aduan", json=new_aduan_body())
    assert response.status_code == 201
    aduan = response.json()
    assert aduan == sandbox.aduan(aduan["id"])
    assert aduan["status"] == "baru"
    assert aduan["lapor_id"] == "4123987"
    assert aduan["pelapor"] == {"nama": "Budi Santoso", "hp": "+6281234567890", "nik": None}
    assert aduan["tanggapan"] == []
    assert aduan["foto"] == []
    assert aduan["dibuat_pada"] == aduan["diperbarui_pada"] == "2020-09-28T10:15:00+07:00"

    # no idempotency: the same body makes a second aduan
    again = client.post("/api/aduan", json=new_aduan_body()).json()
    assert again["id"] != aduan["id"]
    assert len(sandbox.all_aduan()) == 2


def test_create_anonymous_drops_pelapor(client: httpx.Client) -> None:
    aduan = client.post("/api/aduan", json=new_aduan_body(anonim=True, lokasi=None)).json()
    assert aduan["anonim"] is True
    assert aduan["pelapor"] is None
    assert aduan["lokasi"] is None


@pytest.mark.parametrize(
    "overrides",
    [
        {"kategori": "Persampahan"},
        {"kategori": None},
        {"status": "dikerjakan"},
        {"isi": ""},
        {"anonim": "ya"},
        {"lokasi": {"lat": "0.9", "lng": 104.4}},
        {"pelapor": "Budi"},
    ],
)
def test_create_with_bad_values_is_422(client: httpx.Client, overrides: dict[str, Any]) -> None:
    response = client.post("/api/aduan", json=new_aduan_body(**overrides))
    assert response.status_code == 422
    assert "pesan" in response.json()


def test_create_without_json_is_400(client: httpx.Client) -> None:
    response = client.post("/api/aduan", content=b"judul=x", headers={"Content-Type": "text/plain"})
    assert response.status_code == 400
    assert "pesan" in response.json()


def test_patch_sets_lapor_id_and_status(
    sandbox: TanjakSandbox, client: httpx.Client, clock: Clock
) -> None:
    aduan = sandbox.add_aduan()
    clock.advance(30)
    response = client.patch(f"/api/aduan/{aduan['id']}", json={"lapor_id": "LPR-1"})
    assert response.status_code == 200
    assert response.json()["lapor_id"] == "LPR-1"
    assert response.json()["diperbarui_pada"] == "2020-09-28T10:15:30+07:00"

    clock.advance(30)
    patched = client.patch(f"/api/aduan/{aduan['id']}", json={"status": "diproses"}).json()
    assert patched["status"] == "diproses"
    assert patched["lapor_id"] == "LPR-1"
    assert patched["diperbarui_pada"] == "2020-09-28T10:16:00+07:00"
    assert patched == sandbox.aduan(aduan["id"])


@pytest.mark.parametrize("body", [{"status": "closed"}, {"status": None}, {}, {"judul": "x"}])
def test_patch_with_bad_or_no_change_is_422(
    sandbox: TanjakSandbox, client: httpx.Client, body: dict[str, Any]
) -> None:
    aduan = sandbox.add_aduan()
    response = client.patch(f"/api/aduan/{aduan['id']}", json=body)
    assert response.status_code == 422
    assert "pesan" in response.json()
    assert sandbox.aduan(aduan["id"]) == aduan


def test_patch_unknown_aduan_is_404(client: httpx.Client) -> None:
    response = client.patch("/api/aduan/42", json={"status": "selesai"})
    assert response.status_code == 404


def test_tanggapan_answers_201_and_bumps_the_aduan(
    sandbox: TanjakSandbox, client: httpx.Client, clock: Clock
) -> None:
    aduan = sandbox.add_aduan()
    from_opd = sandbox.respond(aduan["id"], "DLH", "Tim menuju lokasi.")
    clock.advance(90)
    body = {
        "oleh": "LAPOR",
        "isi": "Tindak lanjut dari LAPOR!",
        "waktu": "2020-09-28T03:00:00Z",
        "ref": "bridge:abc",
    }
    response = client.post(f"/api/aduan/{aduan['id']}/tanggapan", json=body)
    assert response.status_code == 201
    posted = response.json()
    assert posted["oleh"] == "LAPOR"
    assert posted["ref"] == "bridge:abc"
    assert posted["waktu"] == "2020-09-28T10:00:00+07:00"
    assert isinstance(posted["id"], int)
    assert posted["id"] != from_opd["id"]

    again = client.post(f"/api/aduan/{aduan['id']}/tanggapan", json=body).json()
    assert again["id"] not in (posted["id"], from_opd["id"])

    stored = sandbox.aduan(aduan["id"])
    assert [t["id"] for t in stored["tanggapan"]] == [from_opd["id"], posted["id"], again["id"]]
    assert stored["diperbarui_pada"] == "2020-09-28T10:16:30+07:00"


@pytest.mark.parametrize(
    "body",
    [
        {"isi": "tanpa penulis"},
        {"oleh": "LAPOR", "isi": ""},
        {"oleh": "LAPOR", "isi": "x", "waktu": "28/09/2020 10:15"},
        {"oleh": "LAPOR", "isi": "x", "ref": 5},
    ],
)
def test_bad_tanggapan_is_422(
    sandbox: TanjakSandbox, client: httpx.Client, body: dict[str, Any]
) -> None:
    aduan = sandbox.add_aduan()
    response = client.post(f"/api/aduan/{aduan['id']}/tanggapan", json=body)
    assert response.status_code == 422
    assert sandbox.aduan(aduan["id"])["tanggapan"] == []


# --- photos -----------------------------------------------------------------


def test_photos_are_served_with_the_key(sandbox: TanjakSandbox, client: httpx.Client) -> None:
    rng = random.Random(5)
    big = sample.make_jpeg(rng, 2000, 2000)
    assert len(big) > 2 * 1024 * 1024
    png = sample.make_png(rng, 40, 30)
    aduan = sandbox.add_aduan()
    urls = [
        sandbox.add_photo(aduan["id"], big),
        sandbox.add_photo(aduan["id"], png, "image/png"),
        sandbox.add_photo(aduan["id"], b"<html>not an image</html>"),
    ]
    foto = sandbox.aduan(aduan["id"])["foto"]
    assert foto == urls
    assert foto[0] == f"{sandbox.url}/media/{aduan['id']}/1.jpg"

    response = client.get(foto[0])
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/jpeg"
    assert response.content == big
    assert Image.open(io.BytesIO(response.content)).size == (2000, 2000)

    response = client.get(foto[1])
    assert response.headers["Content-Type"] == "image/png"  # a PNG behind a .jpg name
    assert response.content == png
    assert client.get(foto[2]).content == b"<html>not an image</html>"

    assert client.get(f"/media/{aduan['id']}/4.jpg").status_code == 404
    assert httpx.get(foto[0]).status_code == 401


def test_photo_limits(sandbox: TanjakSandbox) -> None:
    aduan = sandbox.add_aduan()
    with pytest.raises(ValueError):
        sandbox.add_photo(aduan["id"], b"x" * (10 * 1024 * 1024 + 1))
    for _ in range(5):
        sandbox.add_photo(aduan["id"], b"x")
    with pytest.raises(ValueError):
        sandbox.add_photo(aduan["id"], b"x")


# --- control API and sample data ------------------------------------------


def test_control_api_changes_bump_the_update_time(sandbox: TanjakSandbox, clock: Clock) -> None:
    aduan = sandbox.add_aduan(kategori="drainase", anonim=True)
    assert aduan["kategori"] == "drainase"
    assert aduan["pelapor"] is None
    clock.advance(1)
    assert sandbox.edit_aduan(aduan["id"], judul="")["diperbarui_pada"].endswith("15:01+07:00")
    clock.advance(1)
    assert sandbox.set_status(aduan["id"], "selesai")["status"] == "selesai"
    assert sandbox.aduan(aduan["id"])["diperbarui_pada"].endswith("15:02+07:00")
    with pytest.raises(ValueError):
        sandbox.set_status(aduan["id"], "beres")
    with pytest.raises(TypeError):
        sandbox.edit_aduan(aduan["id"], title="x")
    with pytest.raises(KeyError):
        sandbox.aduan(999)


def test_seed_sample_is_realistic(sandbox: TanjakSandbox) -> None:
    seeded = sandbox.seed_sample(random.Random(11), 200)
    assert len(seeded) == 200
    assert seeded == sandbox.all_aduan()
    anonymous = [a for a in seeded if a["anonim"]]
    assert 20 <= len(anonymous) <= 65
    assert all(a["pelapor"] is None for a in anonymous)
    assert any(a["rahasia"] for a in seeded)
    assert any(a["judul"] == "" for a in seeded)
    assert any(a["lokasi"] is None for a in seeded)
    assert any(a["lokasi"] is not None and "alamat" not in a["lokasi"] for a in seeded)
    assert {a["kategori"] for a in seeded} <= set(KATEGORI)
    assert {a["status"] for a in seeded} == set(STATUS)
    assert any(a["foto"] for a in seeded)
    assert any(a["tanggapan"] for a in seeded)
    updates = [a["diperbarui_pada"] for a in seeded]
    assert len(set(updates)) < len(updates)  # some share a second
    assert all(WIB_TIME.fullmatch(a["dibuat_pada"]) for a in seeded)
    phones = [a["pelapor"]["hp"] for a in seeded if a["pelapor"] is not None]
    assert any(p.startswith("08") for p in phones)
    assert any(p.startswith("+62") for p in phones)
    assert any(p.startswith("62") for p in phones)
    assert any(" " in p or "-" in p for p in phones)
    assert all(len(a["pelapor"]["nik"]) == 16 for a in seeded if a["pelapor"] is not None)
    for a in seeded:
        assert a["diperbarui_pada"] >= a["dibuat_pada"]
        assert len(a["foto"]) <= 5


def test_seeded_photos_are_images(sandbox: TanjakSandbox, client: httpx.Client) -> None:
    seeded = sandbox.seed_sample(random.Random(3), 10)
    urls = [url for a in seeded for url in a["foto"]]
    assert urls
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200
        Image.open(io.BytesIO(response.content)).verify()


def test_corrupt_forces_a_field_until_a_proper_write(
    sandbox: TanjakSandbox, client: httpx.Client, clock: Clock
) -> None:
    aduan = sandbox.add_aduan()
    clock.advance(10)
    corrupted = sandbox.corrupt(aduan["id"], status="entah", lokasi="0.9,104.4")
    assert corrupted["status"] == "entah"
    assert corrupted["lokasi"] == "0.9,104.4"
    assert corrupted["diperbarui_pada"] == "2020-09-28T10:15:10+07:00"
    assert feed(client, "2020-09-28T10:15:10+07:00")["data"] == [corrupted]
    patched = client.patch(f"/api/aduan/{aduan['id']}", json={"status": "baru"}).json()
    assert patched["status"] == "baru"
    assert patched["lokasi"] == "0.9,104.4"
