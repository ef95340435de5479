"""The Sambat Kene Ker adapter: its normalizer, and its client over loopback HTTP.

The client tests talk to :class:`SambatSandbox`; the whole-sync ones run the
real engine and store against the LAPOR sandbox through the contract suite's
:class:`Rig`. The sandbox's clock is pinned so that many records share one
minute, the resolution of Sambat's feed.
"""

from __future__ import annotations

import random
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from pydantic import SecretStr

from adapters import registry
from adapters.local import sample
from adapters.local.sambat import client
from adapters.local.sambat.client import (
    SambatConfig,
    SambatSource,
    api_root,
    check_answer,
    compose_isi,
    connect,
    cursor_time,
    is_permanent,
)
from adapters.local.sambat.normalize import (
    address_of,
    category_of,
    format_time,
    local_category,
    normalize,
    parse_time,
)
from adapters.sandbox.sambat import WIB, SambatSandbox
from bridge.core.errors import Ambiguous, NormalizeError, NotFound, Rejected, Transient, Unavailable
from bridge.core.model import Attachment, FollowUp, Location, NationalComplaint, Reporter, Status
from bridge.core.ports import RawRecord
from bridge.runtime.settings import ConfigError, SourceSection, adapter_config
from tests.kits import FAST, Kit
from tests.kits.sambat import PASSWORD, USERNAME, SambatKit
from tests.test_adapter_contract import Rig

NOW = datetime(2026, 3, 9, 10, 5, 42, tzinfo=WIB)
MINUTE = NOW.replace(second=0)

SMS: dict[str, Any] = {
    "no_tiket": "SMB-2019-000123",
    "sumber": "sms",
    "nama": "",
    "hp": "6285712345678",
    "isi_sambat": "lampu PJU mati di jl soekarno hatta dpn ruko 3 hari",
    "kategori": "Penerangan Jalan",
    "kelurahan": "Mojolangu",
    "kecamatan": "Lowokwaru",
    "lat": "",
    "lng": "",
    "foto": "",
    "status": "Menunggu",
    "skpd_tujuan": "Dinas Perumahan dan Kawasan Permukiman",
    "id_lapor": "",
    "tanggapan": [
        {
            "id_tanggapan": "5521",
            "dari": "DPKPP",
            "isi": "Sudah diperbaiki",
            "tgl": "09/12/2019 09:30",
            "ref": "",
        }
    ],
    "tgl_masuk": "07/12/2019 14:05",
    "tgl_update": "09/12/2019 09:30",
}


def _normalize(**changes: Any) -> Any:
    return normalize({**SMS, **changes}, source="sambat", region="35.73")


# --- the normalizer -------------------------------------------------------------------


def test_sms_record_with_empty_strings_is_valid_and_has_no_name_photo_or_location() -> None:
    complaint = _normalize()
    assert complaint.local_id == "SMB-2019-000123"
    assert complaint.reporter is not None
    assert complaint.reporter.name is None
    assert complaint.reporter.phone is not None
    assert complaint.reporter.phone.get_secret_value() == "+6285712345678"
    assert complaint.attachments == ()
    assert complaint.national_id is None
    assert complaint.location == Location(address="Kel. Mojolangu, Kec. Lowokwaru, Kota Malang")
    assert complaint.region == "35.73"
    assert complaint.agency == "Dinas Perumahan dan Kawasan Permukiman"


def test_empty_strings_everywhere_mean_absent() -> None:
    complaint = _normalize(
        hp="", kelurahan="", kecamatan="", skpd_tujuan="", tanggapan="", id_lapor=""
    )
    assert complaint.reporter is None
    assert complaint.location is None
    assert complaint.agency is None
    assert complaint.follow_ups == ()
    assert complaint.national_id is None


def test_informal_text_is_the_content_verbatim_and_the_title_is_left_to_lapor() -> None:
    complaint = _normalize()
    assert complaint.title == ""
    assert complaint.content == "lampu PJU mati di jl soekarno hatta dpn ruko 3 hari"
    assert complaint.category == "PERHUBUNGAN/LAMPU PENERANGAN JALAN UMUM"
    assert complaint.local_category == "Penerangan Jalan"


def test_times_are_wib_without_offset_and_become_utc() -> None:
    complaint = _normalize()
    assert complaint.created_at == datetime(2019, 12, 7, 7, 5, tzinfo=UTC)
    assert complaint.updated_at == datetime(2019, 12, 9, 2, 30, tzinfo=UTC)
    assert complaint.follow_ups[0].at == datetime(2019, 12, 9, 2, 30, tzinfo=UTC)
    assert parse_time("01/01/2020 00:30") == datetime(2019, 12, 31, 17, 30, tzinfo=UTC)
    # writing floors to the minute, in WIB
    assert format_time(datetime(2019, 12, 31, 17, 30, 59, tzinfo=UTC)) == "01/01/2020 00:30"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("tgl_update", "2019-12-09 09:30"),
        ("tgl_update", "31/02/2019 09:30"),
        ("tgl_update", "09/12/2019 9:30"),
        ("tgl_update", ""),
        ("tgl_masuk", "09/12/2019 25:00"),
        ("tgl_masuk", None),
    ],
)
def test_a_bad_time_is_a_normalize_error_naming_the_field(field: str, value: Any) -> None:
    with pytest.raises(NormalizeError, match=field):
        _normalize(**{field: value})


def test_a_response_with_an_empty_or_bad_time_or_no_id_does_not_stop_the_record() -> None:
    # "absent values as empty strings": a response left without its time or id is kept
    first = {**SMS["tanggapan"][0], "tgl": ""}
    second = {**SMS["tanggapan"][0], "id_tanggapan": "", "tgl": "kemarin", "isi": "Dicek besok"}
    complaint = _normalize(tanggapan=[first, second])
    updated = datetime(2019, 12, 9, 2, 30, tzinfo=UTC)  # 09/12/2019 09:30 WIB
    assert [f.at for f in complaint.follow_ups] == [updated, updated]
    assert complaint.follow_ups[0].id == "5521"
    made = complaint.follow_ups[1].id
    assert (
        made.startswith("isi-") and made == _normalize(tanggapan=[first, second]).follow_ups[1].id
    )


def test_numbers_come_as_strings() -> None:
    complaint = _normalize(
        sumber="android", lat="-7.9399", lng="112.6244", id_lapor="#9165816", hp="085712345678"
    )
    assert complaint.location is not None
    assert (complaint.location.latitude, complaint.location.longitude) == (-7.9399, 112.6244)
    assert complaint.national_id == 9165816
    assert _normalize(id_lapor="9165816").national_id == 9165816
    assert complaint.follow_ups[0].id == "5521"
    assert complaint.reporter is not None and complaint.reporter.phone is not None
    assert complaint.reporter.phone.get_secret_value() == "+6285712345678"


def test_an_unreadable_or_impossible_pin_is_dropped_and_the_address_kept() -> None:
    for lat, lng in [("abc", "112.6"), ("0", "0"), ("-97.1", "112.6"), ("-7.9", "")]:
        location = _normalize(lat=lat, lng=lng).location
        assert location is not None and location.latitude is None, (lat, lng)
        assert location.address is not None


def test_responses_keep_their_reference_and_an_empty_one_is_none() -> None:
    mine = {**SMS["tanggapan"][0], "id_tanggapan": "5522", "ref": "lb-fu-7"}
    complaint = _normalize(tanggapan=[SMS["tanggapan"][0], mine])
    assert [f.ref for f in complaint.follow_ups] == [None, "lb-fu-7"]
    assert complaint.follow_ups[0].author == "DPKPP"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"status": "Baru"}, "status"),
        ({"isi_sambat": "  "}, "isi_sambat"),
        ({"no_tiket": ""}, "no_tiket"),
        ({"id_lapor": "LAPOR-12"}, "id_lapor"),
        ({"foto": 7}, "foto"),
        ({"tanggapan": "ada"}, "tanggapan"),
    ],
)
def test_broken_records_are_normalize_errors(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(NormalizeError, match=field):
        _normalize(**changes)


def test_photo_url_becomes_an_attachment() -> None:
    complaint = _normalize(foto="http://sambat.example/uploads/sambat/a.jpg")
    assert complaint.attachments == (Attachment(url="http://sambat.example/uploads/sambat/a.jpg"),)


def test_statuses_map_to_canonical() -> None:
    expected = {
        "Menunggu": Status.SUBMITTED,
        "Diverifikasi": Status.VERIFIED,
        "Diproses": Status.IN_PROGRESS,
        "Selesai": Status.DONE,
        "Ditolak": Status.REJECTED,
    }
    for local, canonical in expected.items():
        complaint = _normalize(status=local)
        assert (complaint.status, complaint.local_status) == (canonical, local)


def test_categories_map_both_ways_with_overrides_and_fallbacks() -> None:
    assert (
        category_of("Banjir") == "PEKERJAAN UMUM DAN PENATAAN RUANG/DRAINASE (GORONG-GORONG/PARIT)"
    )
    assert category_of("Parkir Liar") == "TOPIK LAINNYA"
    assert category_of("Lain-lain", {"Lain-lain": "SOSIAL"}) == "SOSIAL"
    assert local_category("LINGKUNGAN HIDUP DAN KEHUTANAN") == "Pohon Tumbang"
    assert local_category("LINGKUNGAN HIDUP DAN KEHUTANAN/POLUSI UDARA") == "Sampah"
    assert local_category("KESEHATAN/PUSKESMAS") == "Kesehatan"
    assert local_category("SOSIAL DAN KESEJAHTERAAN") == "Lain-lain"
    # an override naming a kategori the app does not know is never written back
    assert local_category("SOSIAL", {"Sosial": "SOSIAL"}) == "Lain-lain"


def test_address_from_whatever_parts_are_known() -> None:
    assert address_of("Mojolangu", None) == "Kel. Mojolangu, Kota Malang"
    assert address_of(None, "Klojen") == "Kec. Klojen, Kota Malang"
    assert address_of(None, None) is None


def test_create_text_joins_title_and_content_once() -> None:
    assert compose_isi("Jalan rusak", "Lubang besar.") == "Jalan rusak. Lubang besar."
    assert compose_isi("Jalan rusak!", "Lubang besar.") == "Jalan rusak! Lubang besar."
    assert compose_isi("Jalan rusak", "Jalan rusak di depan SD.") == "Jalan rusak di depan SD."
    assert compose_isi("", "Lubang besar.") == "Lubang besar."


def test_cursor_reads_rfc3339_and_sambat_time_and_refuses_garbage() -> None:
    assert cursor_time(None) == datetime(1970, 1, 1, tzinfo=UTC)
    assert cursor_time("2019-12-09T02:30:00Z") == datetime(2019, 12, 9, 2, 30, tzinfo=UTC)
    assert cursor_time("09/12/2019 09:30") == datetime(2019, 12, 9, 2, 30, tzinfo=UTC)
    with pytest.raises(Unavailable):
        cursor_time("kemarin")


def test_api_root_is_not_doubled() -> None:
    assert api_root("http://h:1") == "http://h:1/api"
    assert api_root("http://h:1/api/") == "http://h:1/api"


# --- answers: what is retried -----------------------------------------------------------


def _answer(body: bytes, content_type: str = "application/json", status: int = 200) -> Any:
    return httpx.Response(status, content=body, headers={"content-type": content_type})


def test_check_answer_tells_transient_from_permanent() -> None:
    check_answer(_answer(b'{"status": "ok", "data": []}'))
    check_answer(_answer(b'{"status": "error", "pesan": "tiket tidak ditemukan"}'))
    check_answer(_answer(b"<html>401</html>", "text/html", 401))  # left to the caller
    for body, ctype in [
        (b'{"status": "error", "pesan": "koneksi database gagal"}', "application/json"),
        (b"<!DOCTYPE html><html><body>Error</body></html>", "text/html"),
        (b"<html><body>Error</body></html>", "application/json"),
        (b"not json", "application/json"),
        (b'{"data": []}', "application/json"),
    ]:
        with pytest.raises(Transient):
            check_answer(_answer(body, ctype))


def test_permanent_pesan_texts() -> None:
    for pesan in [
        "tiket tidak ditemukan",
        "kategori 'Parkir' tidak dikenal",
        "status 'Baru' tidak valid",
        "data tidak valid",
        "isi sambat wajib diisi",
        "format tgl salah, gunakan dd/mm/yyyy HH:MM",
        # worded by another back end: an error inside a 200 is a refusal by default
        "status tidak boleh mundur",
        "Anda tidak berhak mengubah tiket ini",
    ]:
        assert is_permanent(pesan), pesan
    for pesan in [
        "koneksi database gagal, silakan coba beberapa saat lagi",
        "Terjadi kesalahan pada server",
        "Server sedang sibuk",
        "Request timeout",
        "no pesan given",  # what an error without a pesan reads as
    ]:
        assert not is_permanent(pesan), pesan


# --- the client over loopback ------------------------------------------------------------


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
    with SambatSandbox(USERNAME, PASSWORD, now=clock) as server:
        assert isinstance(server, SambatSandbox)
        yield server


def _config(sandbox: SambatSandbox, **changes: Any) -> SambatConfig:
    return SambatConfig.model_validate(
        {
            "account": "malang",
            "base_url": sandbox.url,
            "username": USERNAME,
            "password": PASSWORD,
            "location_id": 34,
            "requests_per_second": 1000,
            "page_size": 3,
            **changes,
        }
    )


@pytest.fixture
def source(sandbox: SambatSandbox) -> Iterator[SambatSource]:
    adapter = connect("malang", _config(sandbox), policy=FAST)
    yield adapter
    adapter.close()


def _add(sandbox: SambatSandbox, rng: random.Random, **fields: Any) -> str:
    text = sample.complaint(rng, "jalan", sample.place(rng, "malang"), informal=False)
    defaults = {"sumber": "web", "isi_sambat": text.text, "kategori": "Jalan Rusak"}
    return str(sandbox.add_sambat(**{**defaults, **fields})["no_tiket"])


def _long(rng: random.Random, size: int) -> str:
    words = ["lampu", "jalan", "rusak", "sampah", "banjir", "dpn", "ruko", "gang", "mati"]
    return " ".join(rng.choice(words) for _ in range(size // 5))[:size]


def _pulled(source: SambatSource, cursor: str | None) -> tuple[list[str], str | None]:
    ids: list[str] = []
    last: str | None = cursor
    for page in source.pull(cursor):
        ids.extend(r.local_id for r in page.records)
        last = page.cursor or last
    return ids, last


def test_pull_pages_through_one_crowded_minute_and_overlaps_at_the_cursor(
    sandbox: SambatSandbox, source: SambatSource, clock: Clock
) -> None:
    rng = random.Random(1)
    crowded = [_add(sandbox, rng) for _ in range(7)]  # more than two pages in one minute
    clock.moment = NOW + timedelta(minutes=1)
    later = [_add(sandbox, rng) for _ in range(2)]
    ids, cursor = _pulled(source, None)
    assert sorted(ids) == sorted(crowded + later)
    assert len(ids) == len(set(ids))
    assert cursor == "2026-03-09T03:06:00Z"  # 10:06 WIB: the last record's minute
    # the overlap before the cursor comes again (the engine recognises those), nothing older
    clock.moment = NOW - client.OVERLAP - timedelta(minutes=1)
    older = _add(sandbox, rng)
    again, _ = _pulled(source, cursor)
    assert again == crowded + later and older not in again


def test_pull_does_not_store_a_cursor_inside_a_minute_it_has_not_finished(
    sandbox: SambatSandbox, source: SambatSource, clock: Clock
) -> None:
    rng = random.Random(2)
    for _ in range(4):
        _add(sandbox, rng)
    clock.moment = NOW + timedelta(minutes=3)
    _add(sandbox, rng)
    pages = list(source.pull(None))
    # the first minute's records all come before any cursor is handed out
    first_cursor = next(i for i, page in enumerate(pages) if page.cursor is not None)
    seen_before = sum(len(page.records) for page in pages[: first_cursor + 1])
    assert seen_before == 5
    assert pages[first_cursor].cursor == "2026-03-09T03:08:00Z"


def test_feed_total_bounds_the_paging(
    sandbox: SambatSandbox, source: SambatSource, clock: Clock
) -> None:
    rng = random.Random(3)
    for _ in range(6):  # exactly two full pages in one minute: total ends the loop
        _add(sandbox, rng)
    ids, _ = _pulled(source, None)
    assert len(ids) == 6
    # two pages, then the same two again for what a write in between may have moved
    assert sandbox.count_requests("GET", r"^/api/sambat$") == 4


def test_a_record_the_city_changes_between_two_pages_of_one_minute_skips_none(
    sandbox: SambatSandbox, clock: Clock
) -> None:
    rng = random.Random(19)
    crowded = [_add(sandbox, rng) for _ in range(8)]  # three pages of three in one minute
    clock.moment = NOW + timedelta(minutes=1)
    later = _add(sandbox, rng)
    clock.moment = NOW + timedelta(minutes=5)

    class CityWritesMeanwhile(httpx.HTTPTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            response = super().handle_request(request)
            if request.url.params.get("start") == "0" and not edited:
                # the first page is read; a record on it moves to the end of the feed
                edited.append(sandbox.edit_sambat(crowded[1], status="Diproses"))
            return response

    edited: list[Any] = []
    adapter = connect("malang", _config(sandbox), policy=FAST, transport=CityWritesMeanwhile())
    try:
        ids = [r.local_id for page in adapter.pull(None) for r in page.records]
    finally:
        adapter.close()
    assert edited
    # every record comes; the changed one twice (before and after the change)
    assert sorted(set(ids)) == sorted([*crowded, later])
    assert ids.count(crowded[3]) == 1  # the one that slid back over the page edge


def test_a_crowded_minute_waits_in_a_file_not_in_memory(
    sandbox: SambatSandbox, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a bulk update: 60 records of 50 kB in one minute, read at once (see _Block)
    monkeypatch.setattr(client, "SPOOL_BYTES", 2**17)
    rng = random.Random(17)
    crowded = [_add(sandbox, rng, isi_sambat=_long(rng, 50_000)) for _ in range(60)]
    clock.moment = NOW + timedelta(minutes=1)
    later = _add(sandbox, rng)
    adapter = connect("malang", _config(sandbox, page_size=5), policy=FAST)
    ids: list[str] = []
    tracemalloc.start()
    try:
        for page in adapter.pull(None):
            ids.extend(r.local_id for r in page.records)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        adapter.close()
    assert ids == [*crowded, later]
    # the minute is 3 MB of text, a page 250 kB: the page, its answer and the spool's
    # buffer are in memory at once (the sandbox's threads are traced too)
    assert peak < 1_500_000, peak


def test_cursor_for_a_time_reads_from_its_minute(
    sandbox: SambatSandbox, source: SambatSource, clock: Clock
) -> None:
    rng = random.Random(13)
    _add(sandbox, rng)  # 10:05:42 WIB: before the cursor's overlap
    clock.moment = NOW + client.OVERLAP + timedelta(minutes=2)
    wanted = [_add(sandbox, rng), _add(sandbox, rng)]
    cursor = source.cursor_for(NOW + client.OVERLAP + timedelta(minutes=2))  # 10:12:42 WIB
    assert cursor == "2026-03-09T03:12:00Z"
    ids, _ = _pulled(source, cursor)
    assert ids == wanted  # from the cursor's minute, less the overlap


def test_fetch_one_and_unknown_ticket(sandbox: SambatSandbox, source: SambatSource) -> None:
    number = _add(sandbox, random.Random(4))
    raw = source.fetch(number)
    assert raw is not None and raw.local_id == number
    assert source.fetch("SMB-2099-999999") is None


def test_wrong_login_is_unavailable_naming_the_keys_never_the_password(
    sandbox: SambatSandbox,
) -> None:
    adapter = connect("malang", _config(sandbox, password="salah-sekali"), policy=FAST)
    try:
        with pytest.raises(Unavailable) as caught:
            list(adapter.pull(None))
    finally:
        adapter.close()
    message = str(caught.value)
    assert "sources.malang.username" in message and "sources.malang.password" in message
    assert "salah-sekali" not in message and PASSWORD not in message


@pytest.mark.parametrize("how", ["error_in_200", "html200", "503"])
def test_feed_failures_inside_200_are_retried(
    sandbox: SambatSandbox, source: SambatSource, how: str
) -> None:
    number = _add(sandbox, random.Random(5))
    if how == "error_in_200":
        sandbox.error_in_200(count=2, path_regex=r"^/api/sambat$", method="GET")
    else:
        sandbox.faults.inject(how, method="GET", path=r"^/api/sambat$", count=2)
    ids, _ = _pulled(source, None)
    assert ids == [number]
    assert source.endpoint.stats.retries == 2


def test_a_feed_that_keeps_failing_gives_up_as_unavailable(
    sandbox: SambatSandbox, source: SambatSource
) -> None:
    sandbox.error_in_200(count=50, path_regex=r"^/api/sambat$", method="GET")
    with pytest.raises(Unavailable, match="koneksi database gagal"):
        list(source.pull(None))


def test_a_timeout_is_retried(sandbox: SambatSandbox) -> None:
    number = _add(sandbox, random.Random(6))
    adapter = connect("malang", _config(sandbox, timeout_seconds=0.3), policy=FAST)
    sandbox.faults.inject("latency", method="GET", path=r"^/api/sambat$", seconds=1.0)
    try:
        ids, _ = _pulled(adapter, None)
    finally:
        adapter.close()
    assert ids == [number]
    assert adapter.endpoint.stats.retries == 1


@pytest.mark.parametrize(
    "pesan",
    [
        "status 'Selesai' tidak valid",
        "status tidak boleh mundur",  # a refusal worded as no known back end words it
    ],
)
def test_permanent_error_inside_200_is_rejected_at_once(
    sandbox: SambatSandbox, source: SambatSource, pesan: str
) -> None:
    number = _add(sandbox, random.Random(7))
    sandbox.error_in_200(count=1, path_regex=r"/status$", pesan=pesan)
    with pytest.raises(Rejected, match=pesan) as caught:
        source.set_status(number, Status.DONE)
    assert not isinstance(caught.value, NotFound)
    assert sandbox.count_requests("POST", r"/status$") == 1
    with pytest.raises(NotFound):
        source.link_national("SMB-2099-999999", 9170001)


def test_transient_error_on_a_response_write_is_ambiguous(
    sandbox: SambatSandbox, source: SambatSource
) -> None:
    number = _add(sandbox, random.Random(8))
    sandbox.error_in_200(count=1, path_regex=r"/tanggapan$")
    answer = FollowUp(id="x", author="Admin LAPOR", content="Sedang ditangani.", at=NOW)
    with pytest.raises(Ambiguous):
        source.add_response(number, answer, "lb-fu-9")
    assert sandbox.count_requests("POST", r"/tanggapan$") == 1


def test_writes_are_form_encoded_and_read_back(
    sandbox: SambatSandbox, source: SambatSource
) -> None:
    number = _add(sandbox, random.Random(9))
    source.link_national(number, 9165816)
    source.link_national(number, 9165816)  # idempotent
    source.set_status(number, Status.IN_PROGRESS)
    at = datetime(2026, 3, 9, 3, 7, 30, tzinfo=UTC)
    source.add_response(
        number, FollowUp(id="f", author="LAPOR", content="Diteruskan.", at=at), "lb-1"
    )
    record = sandbox.sambat(number)
    assert record["id_lapor"] == "#9165816"
    assert record["status"] == "Diproses"
    assert record["tanggapan"][-1] == {
        "id_tanggapan": record["tanggapan"][-1]["id_tanggapan"],
        "dari": "LAPOR",
        "isi": "Diteruskan.",
        "tgl": "09/03/2026 10:07",
        "ref": "lb-1",
    }


def test_create_sends_the_national_complaint(sandbox: SambatSandbox, source: SambatSource) -> None:
    national = NationalComplaint(
        id=9170002,
        title="Pohon tumbang",
        content="Pohon besar tumbang menutup jalan di depan SMP 4 sejak subuh.",
        category="LINGKUNGAN HIDUP DAN KEHUTANAN",
        status=Status.VERIFIED,
        status_code=30,
        reporter=Reporter(name=None, phone=None),
        location=Location(latitude=-7.9399, longitude=112.6244, address="Jl. Soekarno Hatta"),
        created_at=NOW,
        updated_at=NOW,
    )
    created = source.create(national)
    assert created.local_id is not None
    record = sandbox.sambat(created.local_id)
    assert record["isi_sambat"].startswith("Pohon tumbang. Pohon besar tumbang")
    assert (record["kategori"], record["sumber"], record["id_lapor"]) == (
        "Pohon Tumbang",
        "lapor",
        "#9170002",
    )
    assert (record["lat"], record["lng"], record["nama"], record["hp"]) == (
        "-7.939900",
        "112.624400",
        "",
        "",
    )
    assert source.find_created(9170002, NOW - timedelta(seconds=30)) == created.local_id
    assert source.normalize(RawRecord(created.local_id, record)).national_id == 9170002


def test_create_writes_the_reporter_unless_anonymous(
    sandbox: SambatSandbox, source: SambatSource
) -> None:
    def national(anonymous: bool) -> NationalComplaint:
        return NationalComplaint(
            id=9170003 + int(anonymous),
            title="Sampah menumpuk",
            content="Sampah tidak diangkut sudah lima hari di depan pasar Blimbing.",
            category="SOSIAL DAN KESEJAHTERAAN",
            status=Status.SUBMITTED,
            status_code=10,
            anonymous=anonymous,
            reporter=Reporter(name=SecretStr("Siti Rahma"), phone=SecretStr("+6281234567890")),
            created_at=NOW,
            updated_at=NOW,
        )

    named = sandbox.sambat(str(source.create(national(False)).local_id))
    assert (named["nama"], named["hp"], named["kategori"]) == (
        "Siti Rahma",
        "6281234567890",
        "Lain-lain",
    )
    hidden = sandbox.sambat(str(source.create(national(True)).local_id))
    assert (hidden["nama"], hidden["hp"]) == ("", "")


def test_photos_only_from_the_apps_host_and_never_html(
    sandbox: SambatSandbox, source: SambatSource
) -> None:
    rng = random.Random(10)
    number = _add(sandbox, rng, sumber="android")
    jpeg = sample.make_jpeg(rng)
    url = sandbox.add_photo(number, jpeg)
    assert source.fetch_attachment(Attachment(url=url)) == jpeg
    with pytest.raises(Rejected, match="not on the app's host") as caught:
        source.fetch_attachment(Attachment(url="http://elsewhere.example/uploads/sambat/a.jpg"))
    assert caught.value.status == 0
    sandbox.faults.inject("html200", method="GET", path=r"^/uploads/")
    with pytest.raises(Rejected, match="HTML"):
        source.fetch_attachment(Attachment(url=url))
    with pytest.raises(Rejected):
        source.fetch_attachment(Attachment(url=f"{sandbox.url}/uploads/sambat/none.jpg"))


def _section(**extra: Any) -> SourceSection:
    keys = {"kind": "sambat", "account": "malang", "base_url": "http://127.0.0.1:8103"}
    return SourceSection.model_validate(
        {**keys, "location_id": 34, "classification_id": 1, **extra}
    )


def test_registry_knows_sambat_and_names_a_bad_key() -> None:
    kind, config = registry.source_config("sambat", _section(username="u", password="p"))
    assert isinstance(config, SambatConfig) and kind.config is SambatConfig
    assert config.password.get_secret_value() == "p"
    with pytest.raises(ConfigError) as caught:
        registry.source_config("sambat", _section(username="u", password="p", api_key="x"))
    assert caught.value.key == "sources.sambat.api_key"
    with pytest.raises(ConfigError) as caught:
        adapter_config(SambatConfig, "sambat", _section(username="u"))
    assert caught.value.key == "sources.sambat.password"


# --- whole passes: engine, store and LAPOR ---------------------------------------------


class SmallPages(SambatKit):
    """The kit with three records a page, so that one minute spans page edges."""

    def section(self, account: str) -> dict[str, Any]:
        return {**super().section(account), "page_size": 3}


@pytest.fixture
def rig(tmp_path: Path, clock: Clock) -> Iterator[Rig]:
    kit = SmallPages()
    kit.sandbox.now = clock
    r = Rig(cast(Kit, kit), tmp_path)
    try:
        yield r
    finally:
        r.close()


def _sandbox(rig: Rig) -> SambatSandbox:
    sandbox = rig.kit.sandbox
    assert isinstance(sandbox, SambatSandbox)
    return sandbox


def test_one_minute_across_page_edges_syncs_every_record_once(rig: Rig, clock: Clock) -> None:
    rng = random.Random(11)
    sandbox = _sandbox(rig)
    numbers = [_add(sandbox, rng) for _ in range(8)]
    clock.moment = NOW + timedelta(minutes=5)  # the bridge's link writes land in a later minute
    report = rig.sync()
    assert report.ok, report
    for number in numbers:
        assert len(rig.national_for(number)) == 1, number
        assert rig.kit.link_value(number) == rig.national_for(number)[0]["id"]
    # a record arriving in the cursor's minute after the pass is picked up next time
    late = _add(sandbox, rng)
    report = rig.sync()
    assert report.ok, report
    assert report.sources["city"].created == 1
    assert len(rig.national_for(late)) == 1
    assert len(rig.lapor.complaints()) == len(numbers) + 1
    # and a pass with nothing new creates nothing
    assert rig.sync().sources["city"].created == 0
    assert len(rig.lapor.complaints()) == len(numbers) + 1


def test_error_and_html_inside_200_on_the_feed_are_retried_in_a_pass(
    rig: Rig, clock: Clock
) -> None:
    sandbox = _sandbox(rig)
    number = _add(sandbox, random.Random(12))
    sandbox.error_in_200(count=2, path_regex=r"^/api/sambat$", method="GET")
    sandbox.faults.inject("html200", method="GET", path=r"^/api/sambat$", count=2)
    report = rig.sync()
    assert report.ok, report
    assert len(rig.national_for(number)) == 1
    assert sandbox.faults.pending() == 0


def test_sms_record_syncs_without_name_photo_or_location(rig: Rig) -> None:
    sandbox = _sandbox(rig)
    record = sandbox.add_sambat(
        sumber="sms",
        hp="6285712345678",
        isi_sambat="lampu PJU mati di jl soekarno hatta dpn ruko 3 hari",
        kategori="Penerangan Jalan",
    )
    report = rig.sync()
    assert report.ok, report
    [found] = rig.national_for(record["no_tiket"])
    national = cast(dict[str, Any], found)
    assert national["attachments"] == []
    # lapor.md v2: no coordinates field; the reporter's identity stays home by default
    assert "latitude" not in national and not national["reporter"]
    assert "6285712345678" not in str(national)
    assert "lampu PJU mati" in national["content"]
    assert len(national["title"]) >= 10
    assert rig.kit.link_value(record["no_tiket"]) == national["id"]
