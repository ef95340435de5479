"""Photos: fetched from the app, checked by content, fitted under 2 MB, at most 5, never blocking."""

from __future__ import annotations

import io
import random

import pytest
from PIL import Image

from adapters.local.sample import make_jpeg, make_png
from bridge.photos import MAX_BYTES, PhotoError, prepare
from tests.harness import World


def _uploads(world: World, national_id: int) -> list[bytes]:
    complaint = world.lapor.complaint(national_id)
    return [world.lapor._uploads[i].data for i in complaint["attachments"]]


def test_big_photo_is_reencoded_under_2_mb(world: World) -> None:
    big = make_jpeg(random.Random(1), 1800, 1800)
    assert len(big) > MAX_BYTES
    aduan = world.tanjak.add_aduan(isi="Pohon tumbang menutup separuh jalan di depan kantor lurah.")
    world.tanjak.add_photo(aduan["id"], big, "image/jpeg")
    assert world.sync().ok
    national = world.national_for(aduan["id"])[0]
    [sent] = _uploads(world, national["id"])
    assert len(sent) <= MAX_BYTES
    with Image.open(io.BytesIO(sent)) as image:
        assert image.format == "JPEG"


def test_non_image_is_skipped_with_a_note_and_the_complaint_goes(world: World) -> None:
    aduan = world.tanjak.add_aduan(isi="Saluran air di Jl. Sei Timun meluap setiap hujan deras.")
    world.tanjak.add_photo(aduan["id"], b"%PDF-1.4 definitely not a photo", "image/jpeg")
    world.tanjak.add_photo(aduan["id"], make_png(random.Random(2)), "image/png")
    assert world.sync().ok
    national = world.national_for(aduan["id"])[0]
    [sent] = _uploads(world, national["id"])
    assert sent.startswith(b"\x89PNG")
    store = world.store()
    events = store.events_for("tanjak", str(aduan["id"]), national["id"])
    store.close()
    notes = [e for e in events if e["kind"] == "photo_skipped"]
    assert len(notes) == 1 and "not a readable image" in notes[0]["detail"]


def test_at_most_five_photos(world: World) -> None:
    aduan = world.tanjak.add_aduan(isi="Sampah berserakan di sepanjang Jl. Ganet sampai pasar.")
    for n in range(5):
        world.tanjak.add_photo(aduan["id"], make_jpeg(random.Random(n)), "image/jpeg")
    assert world.sync().ok
    national = world.national_for(aduan["id"])[0]
    assert len(_uploads(world, national["id"])) == 5


def test_truncated_jpeg_is_refused() -> None:
    data = make_jpeg(random.Random(3), 200, 200)
    with pytest.raises(PhotoError):
        prepare(data[: len(data) // 3], "x")


def test_png_within_limit_is_sent_as_is() -> None:
    data = make_png(random.Random(4))
    photo = prepare(data, "p")
    assert photo.data == data and photo.content_type == "image/png"


def test_a_photo_lapor_refuses_is_left_out_and_the_complaint_goes(world: World) -> None:
    aduan = world.tanjak.add_aduan(isi="Lampu penerangan jalan mati di depan sekolah dasar.")
    for n in range(3):
        world.tanjak.add_photo(aduan["id"], make_jpeg(random.Random(10 + n)), "image/jpeg")
    # the upload of all three is refused, then the first one alone: the other two go
    world.lapor.faults.inject("422", method="POST", path=r"/complaint/file$", count=2)
    report = world.sync()
    assert report.ok and report.sources["tanjak"].quarantined == 0, report
    national = world.national_for(aduan["id"])[0]
    assert len(_uploads(world, national["id"])) == 2
    store = world.store()
    events = store.events_for("tanjak", str(aduan["id"]), national["id"])
    store.close()
    notes = [e for e in events if e["kind"] == "photo_skipped"]
    assert len(notes) == 1 and "LAPOR refused the upload" in notes[0]["detail"]


def test_a_photo_between_2_000_000_bytes_and_2_mib_is_fitted_too() -> None:
    # "2 MB" read the strict way: a server counting 10^6 bytes a megabyte takes it too
    between = make_jpeg(random.Random(4), 1500, 1500)
    assert 2_000_000 < len(between) <= 2 * 1024 * 1024
    sent = prepare(between, "x")
    assert len(sent.data) <= 2_000_000 and sent.content_type == "image/jpeg"
