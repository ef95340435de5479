"""The Open311 adapter against the Open311 sandbox over real loopback HTTP.

What the shared contract suite cannot see: the 1000-request cap, queued
creates across a restart, "already exists" as success, the extended statuses,
both offsets, ``jurisdiction_id``, the two-mark cursor, and writes that must
never move a city's status back.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs

import httpx
import pytest
from pydantic import SecretStr

from adapters.local.open311.client import (
    SECOND,
    Marks,
    Open311Config,
    Open311Source,
    connect,
    halves,
    next_window,
    windows,
)
from adapters.local.open311.normalize import (
    canonical_status,
    compose_description,
    marker,
    normalize,
    service_code_for,
)
from adapters.sandbox.open311 import CLOSED_STATUSES, Open311Sandbox
from bridge.core.errors import NormalizeError, NotFound, Rejected, Unavailable
from bridge.core.model import Attachment, FollowUp, Location, NationalComplaint, Reporter, Status
from bridge.core.ports import RawRecord
from bridge.core.timefmt import utcnow
from tests.kits import FAST, Kit
from tests.kits.open311 import Open311Kit
from tests.test_adapter_contract import Rig

KEY = "kunci-uji-open311"
JURISDICTION = "kota.example"
NAME = "kota-contoh"
T0 = datetime(2026, 3, 9, 3, 0, tzinfo=UTC)


# fixtures and helpers ---------------------------------------------------------------


@pytest.fixture
def make_sandbox() -> Iterator[Callable[..., Open311Sandbox]]:
    started: list[Open311Sandbox] = []

    def make(**options: Any) -> Open311Sandbox:
        sandbox = Open311Sandbox(
            **{"api_key": KEY, "jurisdiction_id": JURISDICTION, "prefix": "/v2", **options}
        )
        sandbox.start()
        started.append(sandbox)
        return sandbox

    yield make
    for sandbox in started:
        sandbox.stop()


_OPENED: list[Open311Source] = []


@pytest.fixture(autouse=True)
def _close_sources() -> Iterator[None]:
    """Every source a test made is closed after it (its HTTP connections with it)."""
    yield
    while _OPENED:
        _OPENED.pop().close()


@pytest.fixture
def sandbox(make_sandbox: Callable[..., Open311Sandbox]) -> Open311Sandbox:
    return make_sandbox()


def make_source(
    sandbox: Open311Sandbox, clock: Callable[[], datetime] = utcnow, **keys: Any
) -> Open311Source:
    config = Open311Config.model_validate(
        {
            "account": "acct",
            "base_url": sandbox.base_url,
            "api_key": KEY,
            "jurisdiction_id": JURISDICTION,
            "default_service_code": "LAIN",
            "location_id": 34,
            "requests_per_second": 1000,
            **keys,
        }
    )
    source = connect(NAME, config, policy=FAST, clock=clock)
    _OPENED.append(source)
    return source


def rig_for(kit: Open311Kit, tmp_path: Path) -> Rig:
    """The contract suite's rig (LAPOR sandbox, engine, store) around this kit."""
    return Rig(cast(Kit, kit), tmp_path)


def pulled(source: Open311Source, cursor: str | None = None) -> tuple[list[RawRecord], str | None]:
    """Every record of a whole pull, and the last cursor it handed out."""
    records: list[RawRecord] = []
    for page in source.pull(cursor):
        records.extend(page.records)
        cursor = page.cursor if page.cursor is not None else cursor
    return records, cursor


def add(sandbox: Open311Sandbox, **fields: Any) -> str:
    fields.setdefault(
        "description", "Saluran air tersumbat di depan rumah warga sejak minggu lalu."
    )
    fields.setdefault("address", "Jl. Ganet, Batu IX")
    return str(sandbox.add_request(**fields)["service_request_id"])


def national(id: int = 9170001, **fields: Any) -> NationalComplaint:
    values: dict[str, Any] = {
        "id": id,
        "title": "Jalan rusak parah di depan sekolah",
        "content": "Jalan berlubang besar di depan SD 005, membahayakan anak-anak setiap pagi.",
        "category": "PEKERJAAN UMUM DAN PENATAAN RUANG/INFRASTRUKTUR JALAN/JALAN BERLUBANG",
        "status": Status.VERIFIED,
        "status_code": 30,
        "created_at": utcnow(),
        "updated_at": utcnow(),
        **fields,
    }
    return NationalComplaint(**values)


def updates_of(sandbox: Open311Sandbox, local_id: str) -> list[dict[str, Any]]:
    return [u for u in sandbox.updates() if u["service_request_id"] == local_id]


def request(local_id: str = "40001", **fields: Any) -> dict[str, Any]:
    return {
        "service_request_id": local_id,
        "status": "open",
        "service_code": "DRAINASE",
        "requested_datetime": "2026-03-01T09:00:00+07:00",
        **fields,
    }


def update(update_id: str, status: str, at: str, description: str = "") -> dict[str, Any]:
    return {
        "update_id": update_id,
        "service_request_id": "40001",
        "status": status,
        "updated_datetime": at,
        "description": description,
    }


def complaint_of(req: dict[str, Any], updates: list[dict[str, Any]] | None = None) -> Any:
    payload = {"request": req, "updates": updates or []}
    return normalize(payload, source=NAME, region="21.72")


# pure parts -----------------------------------------------------------------------------


def test_windows_are_whole_seconds_and_never_longer_than_asked() -> None:
    start = T0 - timedelta(days=200, microseconds=5)
    cut = windows(start, T0 + timedelta(microseconds=1), timedelta(days=90))
    assert cut[0][0] == (T0 - timedelta(days=200, seconds=1))
    assert cut[-1][1] == T0 + timedelta(seconds=1)
    assert all(high - low <= timedelta(days=90) for low, high in cut)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(cut))
    assert windows(T0, T0 - timedelta(days=1), timedelta(days=90)) == []


def test_halves_meet_in_the_middle_and_stop_at_one_second() -> None:
    split = halves(T0, T0 + timedelta(hours=1))
    assert split == (
        (T0, T0 + timedelta(minutes=30)),
        (T0 + timedelta(minutes=30), T0 + timedelta(hours=1)),
    )
    assert halves(T0, T0 + timedelta(seconds=1)) is None


def test_the_cursor_holds_two_marks_and_accepts_a_bare_time() -> None:
    marks = Marks(T0, T0 + timedelta(hours=1))
    assert Marks.load(marks.dump(), T0 - timedelta(days=1)) == marks
    assert json.loads(marks.dump()) == {
        "requested": "2026-03-09T03:00:00Z",
        "updated": "2026-03-09T04:00:00Z",
    }
    assert Marks.load("2026-03-09T10:00:00+07:00", T0 - timedelta(days=1)) == Marks(T0, T0)
    fallback = T0 - timedelta(days=90)
    assert Marks.load(None, fallback) == Marks(fallback, fallback)
    assert Marks.load("not a cursor", fallback) == Marks(fallback, fallback)


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([], Status.SUBMITTED),
        (["open"], Status.SUBMITTED),
        (["in_progress"], Status.IN_PROGRESS),
        (["action_scheduled"], Status.IN_PROGRESS),
        (["investigating"], Status.IN_PROGRESS),
        (["internal_referral"], Status.IN_PROGRESS),
        (["closed"], Status.DONE),
        (["fixed"], Status.DONE),
        (["duplicate"], Status.REJECTED),
        (["not_councils_responsibility"], Status.REJECTED),
        (["no_further_action"], Status.REJECTED),
        (["cancelled"], Status.REJECTED),
        (["INVESTIGATING"], Status.IN_PROGRESS),
        (["FIXED"], Status.DONE),
        (["in_progress", "reopen"], Status.IN_PROGRESS),
        (["fixed", "reopen"], Status.DONE),
        (["fixed", "reopen", "open"], Status.DONE),
        (["in_progress", "open"], Status.IN_PROGRESS),
        (["fixed", "duplicate"], Status.REJECTED),
        (["investigating", "wont_fix"], Status.IN_PROGRESS),
    ],
)
def test_status_is_the_furthest_of_the_request_and_its_updates(
    statuses: list[str], expected: Status
) -> None:
    updates = [
        update(f"kota-{i}", status, f"2026-03-0{i + 2}T09:00:00+07:00")
        for i, status in enumerate(statuses)
    ]
    shown = statuses[-1].lower() if statuses else "open"
    request_status = "closed" if shown in CLOSED_STATUSES else "open"  # as a server derives it
    assert canonical_status(request_status, updates) == expected


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        (["action_scheduled", "INVESTIGATING"], Status.IN_PROGRESS),
        (["not_councils_responsibility"], Status.REJECTED),
        (["in_progress", "fixed", "reopen"], Status.DONE),
        (["internal_referral", "reopen", "open"], Status.IN_PROGRESS),
    ],
)
def test_extended_statuses_over_the_wire(
    sandbox: Open311Sandbox, statuses: list[str], expected: Status
) -> None:
    source = make_source(sandbox)
    start = utcnow() - timedelta(hours=len(statuses))
    local_id = add(sandbox, requested_datetime=start - timedelta(minutes=5))
    for i, status in enumerate(statuses):
        at = start + timedelta(minutes=10 * i)
        sandbox.add_update(local_id, status, f"Catatan {i}", updated_datetime=at)
    raw = source.fetch(local_id)
    assert raw is not None and source.normalize(raw).status == expected
    (pulled_raw,) = pulled(source)[0]
    assert source.normalize(pulled_raw).status == expected


def test_a_closed_request_is_done_unless_an_update_says_how_it_was_closed() -> None:
    assert canonical_status("closed", []) == Status.DONE
    said = [update("kota-1", "duplicate", "2026-03-02T09:00:00Z")]
    assert canonical_status("closed", said) == Status.REJECTED
    assert canonical_status("in_progress", []) == Status.IN_PROGRESS  # a server that extends it
    assert canonical_status("entah", []) == Status.SUBMITTED


def test_the_bridge_reads_its_own_verified_back_from_the_update_id() -> None:
    own = update("lb-status-40001-verified", "OPEN", "2026-03-02T09:00:00Z", "Diverifikasi.")
    assert canonical_status("open", [own]) == Status.VERIFIED
    later = update("kota-2", "open", "2026-03-03T09:00:00Z")
    assert canonical_status("open", [own, later]) == Status.VERIFIED


def test_a_minimal_request_as_the_schema_allows_normalizes() -> None:
    req = request(description=None, service_name="Saluran air / drainase tersumbat")
    complaint = complaint_of(req)
    assert complaint.local_id == "40001"
    assert complaint.title == ""
    assert complaint.content == "Saluran air / drainase tersumbat"
    assert complaint.category == "PEKERJAAN UMUM DAN PENATAAN RUANG/DRAINASE (GORONG-GORONG/PARIT)"
    assert complaint.local_category == "DRAINASE"
    assert complaint.location is None and complaint.attachments == ()
    assert complaint.reporter is None and not complaint.anonymous
    assert complaint.created_at == complaint.updated_at == datetime(2026, 3, 1, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    [{}, {"description": None, "service_name": None}, {"description": " ", "service_name": ""}],
)
def test_a_request_with_neither_description_nor_service_name_is_told_by_its_code(
    text: dict[str, Any],
) -> None:
    """request.json requires neither: what validates must sync, not be quarantined."""
    complaint = complaint_of(request(**text))
    assert complaint.content == "DRAINASE"
    assert complaint.category == "PEKERJAAN UMUM DAN PENATAAN RUANG/DRAINASE (GORONG-GORONG/PARIT)"
    assert complaint.national_id is None


@pytest.mark.parametrize(("lat", "lng"), [(0.9186, 104.4554), ("0.9186", "104.4554")])
def test_coordinates_as_numbers_or_text(lat: Any, lng: Any) -> None:
    complaint = complaint_of(request(description="Banjir.", lat=lat, long=lng, address=None))
    assert complaint.location == Location(latitude=0.9186, longitude=104.4554)


def test_an_impossible_pin_is_dropped_and_the_address_kept() -> None:
    complaint = complaint_of(request(description="Banjir.", lat=95.0, long=10, address="Jl. Ganet"))
    assert complaint.location == Location(address="Jl. Ganet")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("requested_datetime", "2026-03-01T09:00:00"),
        ("requested_datetime", None),
        ("updated_datetime", "kemarin"),
        ("service_request_id", None),
        ("status", None),
        ("service_code", None),
        ("description", 12345),
    ],
)
def test_bad_fields_are_named(field: str, value: Any) -> None:
    with pytest.raises(NormalizeError, match=field):
        complaint_of(request(**{"description": "Banjir di jalan.", field: value}))


def test_an_update_without_an_id_or_a_readable_time_does_not_quarantine_its_request() -> None:
    no_id = update("kota-1", "in_progress", "2026-03-02T09:00:00Z", "Petugas menuju lokasi.")
    del no_id["update_id"]
    no_offset = update("kota-2", "in_progress", "2026-03-02T10:00:00", "Sudah dicek.")
    no_time = update("kota-3", "in_progress", "", "Dijadwalkan.")
    del no_time["updated_datetime"]
    own = update("lb-fu-7", "IN_PROGRESS", "2026-03-03T09:00:00Z", "Jawaban dari LAPOR.")
    complaint = complaint_of(request(description="Banjir."), [no_id, no_offset, no_time, own])
    created = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)  # the undated are dated at the request
    assert [(f.id, f.ref, f.at) for f in complaint.follow_ups] == [
        ("kota-2", None, created),
        ("kota-3", None, created),
        ("lb-fu-7", "lb-fu-7", datetime(2026, 3, 3, 9, 0, tzinfo=UTC)),
    ]
    assert complaint.status == Status.IN_PROGRESS  # an update with no id still says its status
    assert canonical_status("open", [no_id]) == Status.IN_PROGRESS
    assert complaint.updated_at == datetime(2026, 3, 3, 9, 0, tzinfo=UTC)


def test_follow_ups_carry_a_ref_only_when_the_bridge_wrote_them() -> None:
    updates = [
        update("lb-fu-7", "OPEN", "2026-03-03T09:00:00Z", "Jawaban dari LAPOR."),
        update("kota-1", "in_progress", "2026-03-02T09:00:00+07:00", "Petugas menuju lokasi."),
        update("kota-2", "in_progress", "2026-03-02T10:00:00+07:00", ""),
    ]
    complaint = complaint_of(
        request(description="Banjir.", agency_responsible="Dinas PUPR"), updates
    )
    assert [(f.id, f.ref, f.author) for f in complaint.follow_ups] == [
        ("kota-1", None, "Dinas PUPR"),
        ("lb-fu-7", "lb-fu-7", "Dinas PUPR"),
    ]
    assert complaint.updated_at == datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
    assert complaint.status == Status.IN_PROGRESS
    assert complaint.local_status == "open"  # what the city shows last: the bridge's OPEN


def test_the_tracking_id_is_read_from_the_marker_or_the_link_note() -> None:
    made = request(description=f"Jalan rusak.\n\n{marker(9170001)}")
    assert complaint_of(made).national_id == 9170001
    note = update(
        "lb-link-40001",
        "OPEN",
        "2026-03-02T09:00:00Z",
        "Tercatat di LAPOR-SP4N dengan nomor #9165816",
    )
    assert complaint_of(request(description="Banjir."), [note]).national_id == 9165816
    city_note = update("kota-1", "open", "2026-03-02T09:00:00Z", "Lihat juga #123456")
    assert complaint_of(request(description="Banjir."), [city_note]).national_id is None


def test_service_codes_map_both_ways() -> None:
    overrides = {
        "potholes": "PEKERJAAN UMUM DAN PENATAAN RUANG/INFRASTRUKTUR JALAN/JALAN BERLUBANG"
    }
    assert (
        complaint_of(request(description="x" * 20, service_code="potholes")).category
        == "TOPIK LAINNYA"
    )
    payload = {"request": request(description="x" * 20, service_code="pju"), "updates": []}
    assert (
        normalize(payload, source=NAME, region="21.72").category
        == "PERHUBUNGAN/LAMPU PENERANGAN JALAN UMUM"
    )
    path = "PEKERJAAN UMUM DAN PENATAAN RUANG/INFRASTRUKTUR JALAN/JALAN BERLUBANG"
    assert service_code_for(path, overrides, "LAIN") == "potholes"
    assert service_code_for(path, None, "LAIN") == "JALAN"
    assert (
        service_code_for(
            "LINGKUNGAN HIDUP DAN KEHUTANAN",
            None,
            "LAIN",
        )
        == "POHON"
    )
    assert service_code_for("LINGKUNGAN HIDUP DAN KEHUTANAN/AIR", None, "LAIN") == "SAMPAH"
    assert service_code_for("KESEHATAN", None, "OTHER") == "OTHER"
    assert service_code_for("TOPIK LAINNYA", None, "OTHER") == "OTHER"


def test_a_long_description_is_cut_with_the_marker_kept() -> None:
    text = compose_description("Judul laporan", "kata " * 2000, 9170001)
    assert len(text) <= 4000
    assert text.endswith("…\n\n[LAPOR-SP4N #9170001]")
    assert text.startswith("Judul laporan\n\n")


# reading over HTTP ---------------------------------------------------------------------


def test_a_window_cut_at_the_cap_is_halved_until_every_request_is_read(
    sandbox: Open311Sandbox,
) -> None:
    now = utcnow()
    ids = sandbox.seed_bulk(1500, now - timedelta(days=2), now - timedelta(days=1))
    records, _ = pulled(make_source(sandbox))
    got = [r.local_id for r in records]
    assert len(got) == len(set(got)) == 1500
    assert set(got) == set(ids)
    assert sandbox.count_requests("GET", r"/requests\.json$") > 2  # it was cut, and split


def test_a_request_on_the_second_where_two_windows_meet_comes_once(
    make_sandbox: Callable[..., Open311Sandbox],
) -> None:
    """Both windows hold it (their dates are inclusive); a read remembers the last
    window's requests, not every request it has read."""
    sandbox = make_sandbox(now=lambda: T0, max_requests=4)
    minutes = [110, 100, 60, 30]  # the first window is an hour: the next starts at T0 - 60 min
    ids = [add(sandbox, requested_datetime=T0 - timedelta(minutes=m)) for m in minutes]
    source = make_source(
        sandbox,
        clock=lambda: T0,
        backfill_start=T0 - timedelta(hours=2),
        max_requests=4,
        overlap_seconds=0,
    )
    records, _ = pulled(source)
    assert sorted(r.local_id for r in records) == sorted(ids)
    assert sandbox.count_requests("GET", r"/requests\.json$") == 3


def test_a_window_is_sized_to_hold_about_a_page() -> None:
    hour, longest = timedelta(hours=1), timedelta(days=90)
    assert next_window(hour, 0, 100, longest) == 4 * hour  # empty: grow, at most fourfold
    assert next_window(hour, 50, 100, longest) == 2 * hour
    assert next_window(hour, 400, 100, longest) == hour / 4  # dense: shrink to a page
    assert next_window(timedelta(seconds=1), 999, 100, longest) == timedelta(seconds=1)
    assert next_window(timedelta(days=60), 0, 100, longest) == longest
    assert next_window(timedelta(seconds=7), 3, 100, longest) == timedelta(seconds=28)


def answer_sizes(source: Open311Source, path: str) -> list[int]:
    """How many items each answer to ``GET <path>`` held, in order (a list, or the
    updates feed's ``service_request_updates``)."""
    sizes: list[int] = []

    def hook(response: httpx.Response) -> None:
        if response.request.method == "GET" and response.url.path.endswith(path):
            response.read()
            body = response.json()
            items = body["service_request_updates"] if isinstance(body, dict) else body
            sizes.append(len(items))

    source.endpoint.client.event_hooks["response"].append(hook)
    return sizes


def test_a_dense_backlog_is_read_about_a_page_an_answer_not_a_capped_thousand(
    sandbox: Open311Sandbox,
) -> None:
    """The apps' intake while LAPOR was down: 2,400 requests over 12 hours."""
    now = utcnow()
    ids = sandbox.seed_bulk(2400, now - timedelta(hours=12), now - timedelta(minutes=1))
    source = make_source(sandbox, page_size=50, backfill_start=now - timedelta(hours=12, minutes=1))
    sizes = answer_sizes(source, "/requests.json")
    records, _ = pulled(source)
    assert sorted(r.local_id for r in records) == sorted(ids)
    assert sizes[0] <= 200, sizes  # the first window is an hour of it
    assert max(sizes[1:]) <= 100, sizes  # then about a page each (50)


def test_from_quiet_to_dense_a_few_capped_answers_then_about_a_page(
    sandbox: Open311Sandbox,
) -> None:
    now = utcnow()
    ids = sandbox.seed_bulk(2400, now - timedelta(hours=12), now - timedelta(minutes=1))
    source = make_source(sandbox, page_size=50, backfill_start=now - timedelta(days=2))
    sizes = answer_sizes(source, "/requests.json")
    records, _ = pulled(source)
    assert sorted(r.local_id for r in records) == sorted(ids)
    capped = [i for i, size in enumerate(sizes) if size >= 1000]
    assert 1 <= len(capped) <= 3, sizes  # quiet windows grew into it: halved
    settled = sizes[capped[-1] + 1 :]
    assert len([size for size in settled if size > 100]) <= 1, sizes


def test_every_request_of_a_cut_window_is_synced_exactly_once(tmp_path: Path) -> None:
    # a city that cuts at 100: the same split as at 1000, at a tenth of the records to sync
    kit = Open311Kit(queued=False, max_requests=100)
    rig = rig_for(kit, tmp_path)
    try:
        now = utcnow()
        ids = kit.sandbox.seed_bulk(250, now - timedelta(hours=3), now - timedelta(hours=2))
        report = rig.sync()
        assert report.ok, report
        assert report.sources["city"].created == 250
        assert kit.sandbox.count_requests("GET", r"/requests\.json$") > 3  # cut, and split
        assert len(rig.lapor.complaints()) == 250
        assert all(len(rig.national_for(local_id)) == 1 for local_id in ids)
        again = rig.sync()
        assert again.ok and again.sources["city"].created == 0
        assert len(rig.lapor.complaints()) == 250
    finally:
        rig.close()


def test_pull_reads_new_and_changed_requests_since_its_cursor(
    make_sandbox: Callable[..., Open311Sandbox],
) -> None:
    clock = [T0]
    sandbox = make_sandbox(now=lambda: clock[0])
    source = make_source(sandbox, clock=lambda: clock[0])
    old = [add(sandbox, requested_datetime=T0 - timedelta(days=10 + i)) for i in range(3)]
    records, cursor = pulled(source)
    assert sorted(r.local_id for r in records) == sorted(old)

    clock[0] = T0 + timedelta(days=1)
    sandbox.add_update(old[1], "investigating", "Petugas sudah dijadwalkan.")
    new = add(sandbox)
    clock[0] = T0 + timedelta(days=1, hours=1)
    records, cursor = pulled(source, cursor)
    assert sorted(r.local_id for r in records) == sorted([old[1], new])
    changed = next(r for r in records if r.local_id == old[1])
    assert [u["update_id"] for u in changed.payload["updates"]] == ["kota-1"]
    assert source.normalize(changed).status == Status.IN_PROGRESS

    since = source.cursor_for(T0 + timedelta(hours=23))  # resync --since: made or changed since
    assert sorted(r.local_id for r in pulled(source, since)[0]) == sorted([old[1], new])

    clock[0] = T0 + timedelta(days=2)
    records, cursor = pulled(source, cursor)
    assert records == []
    assert cursor is not None and Marks.load(cursor, T0) == Marks(clock[0], clock[0])


def test_the_first_pass_starts_at_the_backfill_start_in_90_day_windows(
    make_sandbox: Callable[..., Open311Sandbox],
) -> None:
    sandbox = make_sandbox(now=lambda: T0)
    old = add(sandbox, requested_datetime=T0 - timedelta(days=150))
    recent = add(sandbox, requested_datetime=T0 - timedelta(days=30))
    default = make_source(sandbox, clock=lambda: T0)
    assert [r.local_id for r in pulled(default)[0]] == [recent]
    deep = make_source(sandbox, clock=lambda: T0, backfill_start=T0 - timedelta(days=200))
    assert sorted(r.local_id for r in pulled(deep)[0]) == sorted([old, recent])


def test_the_updates_mark_does_not_pass_what_was_not_read(
    make_sandbox: Callable[..., Open311Sandbox],
) -> None:
    clock = [T0]
    sandbox = make_sandbox(now=lambda: clock[0])
    source = make_source(sandbox, clock=lambda: clock[0], page_size=1, overlap_seconds=0)
    first = add(sandbox, requested_datetime=T0 - timedelta(days=5))
    second = add(sandbox, requested_datetime=T0 - timedelta(days=4))
    _, cursor = pulled(source)
    assert cursor is not None
    before = Marks.load(cursor, T0)
    later = T0 + timedelta(hours=6)
    sandbox.add_update(first, "in_progress", "Sedang dikerjakan.", updated_datetime=later)
    sandbox.add_update(
        second, "fixed", "Sudah selesai.", updated_datetime=later + timedelta(hours=1)
    )
    clock[0] = T0 + timedelta(days=1)
    sandbox.faults.inject("500", method="GET", path=rf"/requests/{second}\.json$", count=50)
    cursors: list[str] = []
    records: list[RawRecord] = []
    # one request that cannot be read does not stop the others (open311.md): it is kept
    # in the cursor and read again on the next pass
    for page in source.pull(cursor):
        records.extend(page.records)
        cursors.extend([page.cursor] if page.cursor else [])
    assert [r.local_id for r in records] == [first]
    marks = [Marks.load(c, T0) for c in cursors]
    new_requests = [m for m in marks if m.updated == before.updated]
    assert new_requests[-1] == Marks(clock[0], before.updated)  # read up to now; no change yet
    assert marks[-1] == Marks(clock[0], clock[0])
    assert list(marks[-1].state["unreadable"]) == [second]
    sandbox.faults.clear()
    records, cursor = pulled(source, cursors[-1])
    assert [r.local_id for r in records] == [second]
    assert records[0].payload["updates"][-1]["status"] == "fixed"  # its history is read
    assert cursor is not None and "unreadable" not in json.loads(cursor)


@pytest.mark.parametrize("offset", ["Z", "+07:00", "-03:30"])
def test_times_with_either_offset_read_the_same(
    make_sandbox: Callable[..., Open311Sandbox], offset: str
) -> None:
    sandbox = make_sandbox(utc_offset=offset)
    sent: list[httpx.Request] = []
    source = make_source(sandbox)
    source.endpoint.client.event_hooks = {"request": [sent.append]}
    moment = utcnow().replace(microsecond=0) - timedelta(days=3)
    local_id = add(sandbox, requested_datetime=moment)
    sandbox.add_update(
        local_id, "in_progress", "Dikerjakan.", updated_datetime=moment + timedelta(hours=1)
    )
    records, _ = pulled(source)
    (raw,) = records
    assert raw.payload["request"]["requested_datetime"].endswith(offset)
    complaint = source.normalize(raw)
    assert complaint.created_at == moment
    assert complaint.follow_ups[0].at == moment + timedelta(hours=1)
    dates = [
        v for r in sent for k, v in parse_qs(r.url.query.decode()).items() if k.endswith("_date")
    ]
    assert dates and all(d[0].endswith("Z") for d in dates)  # queries go out in UTC


# the wire: jurisdiction, key, errors ------------------------------------------------------


def _fields(sent: httpx.Request) -> dict[str, list[str]]:
    fields = parse_qs(sent.url.query.decode())
    if sent.method == "POST":
        fields.update(parse_qs(sent.read().decode()))
    return fields


def test_jurisdiction_id_is_sent_on_every_request(
    make_sandbox: Callable[..., Open311Sandbox],
) -> None:
    sandbox = make_sandbox(queued=True, token_polls=0)
    source = make_source(sandbox)
    sent: list[httpx.Request] = []
    source.endpoint.client.event_hooks = {"request": [sent.append]}
    local_id = add(sandbox)
    pulled(source)
    source.fetch(local_id)
    source.set_status(local_id, Status.IN_PROGRESS)
    source.link_national(local_id, 9165816)
    source.add_response(
        local_id, FollowUp(id="1", author="Admin", content="Diteruskan.", at=utcnow()), "lb-fu-1"
    )
    created = source.create(national())
    assert created.token is not None and source.poll_created(created.token) is not None
    source.find_created(9170001, utcnow() - timedelta(minutes=5))
    assert len(sent) > 8
    assert all(_fields(r).get("jurisdiction_id") == [JURISDICTION] for r in sent)
    assert all(
        "api_key" not in _fields(r)
        for r in sent
        if r.url.path.endswith(f"/requests/{local_id}.json")
    )


def test_without_its_jurisdiction_id_the_city_refuses(sandbox: Open311Sandbox) -> None:
    source = make_source(sandbox, jurisdiction_id=None)
    with pytest.raises(Rejected, match="jurisdiction_id is required"):
        pulled(source)


def test_a_wrong_api_key_names_the_key_and_never_its_value(sandbox: Open311Sandbox) -> None:
    source = make_source(sandbox, api_key="kunci-salah-rahasia")
    with pytest.raises(Unavailable) as error:
        pulled(source)
    assert f"sources.{NAME}.api_key" in str(error.value)
    assert "kunci-salah-rahasia" not in str(error.value)


def test_errors_carry_the_city_s_description(sandbox: Open311Sandbox) -> None:
    source = make_source(sandbox)
    assert source.fetch("999999") is None
    with pytest.raises(NotFound, match="service request 999999 not found"):
        source.set_status("999999", Status.DONE)
    assert source.poll_created("nope") is None  # a 404 for a token is "not yet" (open311.md)


def test_every_element_of_an_error_is_read(make_sandbox: Callable[..., Open311Sandbox]) -> None:
    sandbox = make_sandbox(error_summary=True)  # a generic element comes first
    source = make_source(sandbox, jurisdiction_id=None)
    with pytest.raises(Rejected, match="request failed; jurisdiction_id is required"):
        pulled(source)


@pytest.mark.parametrize(("status", "summary"), [(400, False), (400, True), (422, True)])
def test_a_bad_key_is_told_by_the_body_s_code_whatever_the_status(
    make_sandbox: Callable[..., Open311Sandbox], status: int, summary: bool
) -> None:
    sandbox = make_sandbox(error_status=status, error_summary=summary)
    source = make_source(sandbox, api_key="kunci-salah-rahasia")
    with pytest.raises(Unavailable) as error:
        pulled(source)
    assert f"sources.{NAME}.api_key" in str(error.value)
    assert "kunci-salah-rahasia" not in str(error.value)


def test_server_errors_are_retried(sandbox: Open311Sandbox) -> None:
    local_id = add(sandbox)
    sandbox.faults.inject("503", method="GET", count=2)
    sandbox.faults.inject("html200", method="GET", path=r"/requests\.json$", count=1)
    records, _ = pulled(make_source(sandbox))
    assert [r.local_id for r in records] == [local_id]
    assert sandbox.faults.pending() == 0


def test_photos_are_fetched_only_from_the_city_s_host(sandbox: Open311Sandbox) -> None:
    source = make_source(sandbox)
    with pytest.raises(Rejected, match="not on the app's host"):
        source.fetch_attachment(Attachment(url="https://elsewhere.example/foto.jpg"))
    local_id = add(sandbox, media_url="https://elsewhere.example/foto.jpg")
    raw = source.fetch(local_id)
    assert raw is not None
    assert source.normalize(raw).attachments == (
        Attachment(url="https://elsewhere.example/foto.jpg"),
    )


def test_updates_without_an_id_or_a_time_are_read_liberally(sandbox: Open311Sandbox) -> None:
    source = make_source(sandbox)
    local_id = add(sandbox, requested_datetime=utcnow() - timedelta(days=1))
    sandbox.add_update(local_id, "investigating", "Dicek petugas.", omit=("update_id",))
    sandbox.add_update(local_id, "in_progress", "Sedang dikerjakan.", omit=("updated_datetime",))
    answer = FollowUp(id="lapor-5", author="Admin LAPOR", content="Terima kasih.", at=utcnow())
    source.add_response(local_id, answer, "lb-fu-5")
    raw = source.fetch(local_id)
    assert raw is not None
    complaint = source.normalize(raw)
    assert [(f.id, f.ref) for f in complaint.follow_ups] == [
        ("kota-2", None),
        ("lb-fu-5", "lb-fu-5"),
    ]
    assert complaint.status == Status.IN_PROGRESS


def test_a_bare_request_syncs_instead_of_going_to_quarantine(tmp_path: Path) -> None:
    """Only the fields request.json requires: no description, no service_name."""
    kit = Open311Kit(queued=False, bare_requests=True)
    rig = rig_for(kit, tmp_path)
    try:
        local_id = add(kit.sandbox, service_code="PJU")
        report = rig.sync()
        assert report.ok, report
        assert (report.sources["city"].created, report.sources["city"].quarantined) == (1, 0)
        [filed] = rig.national_for(local_id)
        marker, text = str(filed["content"]).split("\n", 1)
        assert marker == f"[ext-city-{local_id}]"
        assert text.startswith("PJU")  # the code tells what it is about
    finally:
        rig.close()


# writing ------------------------------------------------------------------------------------


def test_status_writes_are_upper_case_and_read_back(sandbox: Open311Sandbox) -> None:
    source = make_source(sandbox)
    local_id = add(sandbox)
    for status, written in [
        (Status.VERIFIED, "OPEN"),
        (Status.IN_PROGRESS, "IN_PROGRESS"),
        (Status.DONE, "FIXED"),
    ]:
        source.set_status(local_id, status)
        last = updates_of(sandbox, local_id)[-1]
        assert (last["update_id"], last["status"]) == (
            f"lb-status-{local_id}-{status.value}",
            written,
        )
        raw = source.fetch(local_id)
        assert raw is not None and source.normalize(raw).status == status
    other = add(sandbox)
    source.set_status(other, Status.REJECTED)
    assert updates_of(sandbox, other)[-1]["status"] == "NO_FURTHER_ACTION"
    assert sandbox.request(other)["status"] == "closed"


def test_status_writes_never_move_the_city_back(sandbox: Open311Sandbox) -> None:
    source = make_source(sandbox)
    local_id = add(sandbox)
    sandbox.add_update(local_id, "fixed", "Saluran sudah dibersihkan.")
    source.set_status(local_id, Status.IN_PROGRESS)
    source.set_status(local_id, Status.REJECTED)  # done vs rejected: a conflict, not overwritten
    assert [u["update_id"] for u in updates_of(sandbox, local_id)] == ["kota-1"]
    assert sandbox.request(local_id)["extended_status"] == "fixed"


def test_a_repeated_update_id_is_taken_as_success(sandbox: Open311Sandbox) -> None:
    source = make_source(sandbox)
    local_id = add(sandbox)
    answer = FollowUp(
        id="lapor-1", author="Admin LAPOR", content="Sudah diteruskan ke dinas.", at=utcnow()
    )
    source.add_response(local_id, answer, "lb-fu-1")
    source.add_response(local_id, answer, "lb-fu-1")
    source.link_national(local_id, 9165816)
    source.link_national(local_id, 9165816)
    assert sandbox.count_requests("POST", r"/servicerequestupdates\.json$") == 4
    assert [u["update_id"] for u in updates_of(sandbox, local_id)] == [
        "lb-fu-1",
        f"lb-link-{local_id}",
    ]


@pytest.mark.parametrize(("status", "summary"), [(422, False), (409, False), (None, True)])
def test_already_exists_is_success_whatever_the_status_and_wherever_it_is_said(
    make_sandbox: Callable[..., Open311Sandbox], status: int | None, summary: bool
) -> None:
    sandbox = make_sandbox(error_status=status, error_summary=summary)
    source = make_source(sandbox)
    local_id = add(sandbox)
    answer = FollowUp(id="lapor-9", author="Admin LAPOR", content="Sudah diteruskan.", at=utcnow())
    for _ in range(2):
        source.add_response(local_id, answer, "lb-fu-9")
        source.link_national(local_id, 9165816)
    assert sandbox.count_requests("POST", r"/servicerequestupdates\.json$") == 4
    assert [u["update_id"] for u in updates_of(sandbox, local_id)] == [
        "lb-fu-9",
        f"lb-link-{local_id}",
    ]


def test_a_lost_answer_on_an_update_is_repeated_safely(sandbox: Open311Sandbox) -> None:
    source = make_source(sandbox)
    local_id = add(sandbox)
    sandbox.faults.inject("drop_after_write", method="POST", path=r"/servicerequestupdates\.json$")
    answer = FollowUp(
        id="lapor-2", author="Admin LAPOR", content="Mohon ditindaklanjuti.", at=utcnow()
    )
    source.add_response(local_id, answer, "lb-fu-2")
    assert [u["update_id"] for u in updates_of(sandbox, local_id)] == ["lb-fu-2"]
    # the feed showed it: not posted again (a server that does not refuse a repeated
    # update_id would store it twice, open311.md)
    assert sandbox.count_requests("POST", r"/servicerequestupdates\.json$") == 1


def test_responses_and_the_link_keep_the_status_the_city_shows(sandbox: Open311Sandbox) -> None:
    source = make_source(sandbox)
    local_id = add(sandbox)
    sandbox.add_update(local_id, "investigating", "Petugas dijadwalkan besok.")
    answer = FollowUp(
        id="lapor-3", author="Admin LAPOR", content="Terima kasih atas laporannya.", at=utcnow()
    )
    source.add_response(local_id, answer, "lb-fu-3")
    source.link_national(local_id, 9165816)
    written = {u["update_id"]: u for u in updates_of(sandbox, local_id)}
    assert written["lb-fu-3"]["status"] == "INVESTIGATING"
    assert written[f"lb-link-{local_id}"]["status"] == "INVESTIGATING"
    assert (
        written[f"lb-link-{local_id}"]["description"]
        == f"Tercatat di LAPOR-SP4N dengan nomor #9165816 [lb-link-{local_id}]"
    )  # the reference ends the text too: servers may replace the update_id
    assert sandbox.request(local_id)["extended_status"] == "investigating"
    raw = source.fetch(local_id)
    assert raw is not None
    complaint = source.normalize(raw)
    assert complaint.national_id == 9165816
    assert complaint.status == Status.IN_PROGRESS


def busy_feed(sandbox: Open311Sandbox, around: datetime, count: int, keep_clear: timedelta) -> None:
    """``count`` updates of other requests within ten minutes of ``around``, none within
    ``keep_clear`` of it (what a write-back after a backfill leaves in the feed)."""
    others = [add(sandbox) for _ in range(20)]
    for i in range(count):
        offset = keep_clear + timedelta(seconds=i % 500)
        sandbox.add_update(
            others[i % len(others)],
            "investigating",
            "",
            updated_datetime=around + (offset if i % 2 else -offset),
            update_id=f"lain-{around:%Y%m%d%H%M%S}-{i}",
        )


def test_a_write_reads_the_second_of_the_last_change_not_a_busy_feed(
    sandbox: Open311Sandbox,
) -> None:
    source = make_source(sandbox)
    made = utcnow() - timedelta(days=3)
    untouched = add(sandbox, requested_datetime=made)
    changed = add(sandbox, requested_datetime=made)
    sandbox.add_update(changed, "in_progress", "", updated_datetime=made + timedelta(hours=5))
    busy_feed(sandbox, made, 1500, keep_clear=2 * SECOND)
    busy_feed(sandbox, made + timedelta(hours=5), 1500, keep_clear=2 * SECOND)
    sizes = answer_sizes(source, "/servicerequestupdates.json")

    source.link_national(untouched, 9165801)
    source.link_national(changed, 9165802)

    assert updates_of(sandbox, untouched)[-1]["status"] == "OPEN"
    assert updates_of(sandbox, changed)[-1]["status"] == "IN_PROGRESS"
    assert sizes and max(sizes) <= 1, sizes  # one second each, never the 3,000 around


def test_a_writer_s_clock_off_by_minutes_is_read_a_slice_at_a_time(
    sandbox: Open311Sandbox,
) -> None:
    source = make_source(sandbox)
    made = utcnow() - timedelta(days=3)
    local_id = add(sandbox, requested_datetime=made)
    said = made + timedelta(hours=5)
    sandbox.add_update(local_id, "action_scheduled", "", updated_datetime=said)
    with sandbox.lock:  # the server stamped the change with its own clock, 4 minutes on
        sandbox._requests[local_id].updated = said + timedelta(minutes=4)
    busy_feed(sandbox, said, 2000, keep_clear=2 * SECOND)
    sizes = answer_sizes(source, "/servicerequestupdates.json")

    source.link_national(local_id, 9165803)

    assert updates_of(sandbox, local_id)[-1]["status"] == "ACTION_SCHEDULED"
    assert len(sizes) > 2  # the second, then the minutes around in slices
    assert max(sizes) < 2000, sizes  # no slice holds the whole busy stretch


def test_a_change_with_no_update_near_it_reads_the_whole_history(
    sandbox: Open311Sandbox,
) -> None:
    source = make_source(sandbox)
    made = utcnow() - timedelta(days=3)
    local_id = add(sandbox, requested_datetime=made)
    sandbox.add_update(local_id, "investigating", "", updated_datetime=made + timedelta(hours=1))
    with sandbox.lock:  # modified a day later without an update in the feed
        sandbox._requests[local_id].updated = made + timedelta(days=1)

    source.link_national(local_id, 9165804)

    assert updates_of(sandbox, local_id)[-1]["status"] == "INVESTIGATING"


def test_create_sends_the_marker_the_location_and_a_shown_reporter(sandbox: Open311Sandbox) -> None:
    source = make_source(sandbox)
    reporter = Reporter(name=SecretStr("Siti Nur Aminah"), phone=SecretStr("+6281234567890"))
    located = national(
        9170002,
        reporter=reporter,
        location=Location(latitude=0.9186, longitude=104.4554, address="Jl. Ganet"),
    )
    local_id = source.create(located).local_id
    assert local_id is not None
    made = sandbox.request(local_id)
    assert made["attributes"] == {"external_id": "9170002"}
    assert made["description"].endswith("[LAPOR-SP4N #9170002]")
    assert made["service_code"] == "JALAN"
    assert (made["lat"], made["long"], made["address"]) == (0.9186, 104.4554, "Jl. Ganet")
    assert (made["first_name"], made["last_name"], made["phone"]) == (
        "Siti",
        "Nur Aminah",
        "+6281234567890",
    )

    hidden = national(9170003, anonymous=True, content="kata " * 1500, category="KESEHATAN")
    other = source.create(hidden).local_id
    assert other is not None
    made = sandbox.request(other)
    assert (made["first_name"], made["phone"], made["address"], made["lat"]) == (
        "",
        "",
        "Kota",
        None,
    )
    assert made["service_code"] == "LAIN"
    assert len(made["description"]) <= 4000 and made["description"].endswith(
        "[LAPOR-SP4N #9170003]"
    )
    assert source.find_created(9170003, utcnow() - timedelta(minutes=5)) == other
    assert source.find_created(917000, utcnow() - timedelta(minutes=5)) is None


def test_a_code_the_city_does_not_offer_falls_back_to_the_default(sandbox: Open311Sandbox) -> None:
    source = make_source(sandbox, categories={"KABEL": "PERHUBUNGAN/KABEL DAN TIANG"})
    local_id = source.create(national(9170004, category="PERHUBUNGAN/KABEL DAN TIANG")).local_id
    assert local_id is not None
    assert sandbox.request(local_id)["service_code"] == "LAIN"
    assert sandbox.count_requests("POST", r"/requests\.json$") == 2


def test_a_queued_create_is_polled_across_a_restart(
    make_sandbox: Callable[..., Open311Sandbox],
) -> None:
    sandbox = make_sandbox(queued=True, token_polls=3)
    since = utcnow() - timedelta(minutes=1)
    first = make_source(sandbox)
    created = first.create(national(9170005))
    assert created.local_id is None and created.token is not None
    token = created.token  # the caller keeps it in its state store
    assert first.poll_created(token) is None
    assert first.find_created(9170005, since) is None  # not made yet: never post again
    first.close()

    second = make_source(sandbox)  # the daemon restarted
    answers = [second.poll_created(token) for _ in range(3)]
    assert answers[:2] == [None, None] and answers[2] is not None
    local_id = answers[2]
    second.close()
    third = make_source(sandbox)
    assert third.poll_created(token) == local_id
    assert [r["service_request_id"] for r in sandbox.all_requests()] == [local_id]
    assert sandbox.pending_tokens() == []
    assert third.find_created(9170005, since) == local_id


@pytest.mark.parametrize("answer", ["token", "empty", "404"])
def test_a_token_not_resolved_yet_is_polled_again_however_the_city_says_so(
    make_sandbox: Callable[..., Open311Sandbox], answer: str
) -> None:
    sandbox = make_sandbox(queued=True, token_polls=2, pending_token_answer=answer)
    source = make_source(sandbox)
    created = source.create(national(9170007))
    assert created.token is not None
    answers = [source.poll_created(created.token) for _ in range(3)]
    assert answers[:2] == [None, None]
    assert answers[2] == sandbox.all_requests()[0]["service_request_id"]


def test_a_token_resolved_by_the_city_is_found_by_polling(
    make_sandbox: Callable[..., Open311Sandbox],
) -> None:
    sandbox = make_sandbox(queued=True, token_polls=100)
    source = make_source(sandbox)
    created = source.create(national(9170006))
    assert created.token is not None
    resolved = sandbox.resolve_tokens()
    assert source.poll_created(created.token) == resolved[created.token]


# with the engine ----------------------------------------------------------------------------


def test_a_request_made_from_the_lapor_inbox_is_linked_not_created_again(tmp_path: Path) -> None:
    kit = Open311Kit()
    rig = rig_for(kit, tmp_path)
    try:
        filed = rig.lapor.file_complaint(
            "Lampu jalan mati di Jl. Pramuka",
            "Sudah seminggu lampu penerangan jalan di Jl. Pramuka mati total, rawan kejahatan.",
            "PERHUBUNGAN/LAMPU PENERANGAN JALAN UMUM",
            "Pemerintah Kota Tanjungpinang",
        )
        created = rig.source.create(
            national(filed["id"], category="PERHUBUNGAN/LAMPU PENERANGAN JALAN UMUM")
        )
        assert created.token is not None
        kit.sandbox.resolve_tokens()
        local_id = rig.source.poll_created(created.token)
        assert local_id is not None and kit.sandbox.request(local_id)["service_code"] == "PJU"
        report = rig.sync()
        assert report.ok, report
        assert report.sources["city"].linked == 1
        assert report.sources["city"].created == 0
        assert len(rig.lapor.complaints()) == 1
    finally:
        rig.close()


def test_city_updates_are_picked_up_by_the_next_pass(tmp_path: Path) -> None:
    kit = Open311Kit()
    rig = rig_for(kit, tmp_path)
    try:
        local_id = kit.add_record(random.Random(11))
        assert rig.sync().ok
        kit.city_sets_status(local_id, Status.IN_PROGRESS)
        kit.city_responds(local_id, "Petugas kebersihan sudah dijadwalkan hari Kamis.")
        report = rig.sync()
        assert report.ok, report
        assert report.sources["city"].created == 0
        assert report.sources["city"].updated == 1
        assert len(rig.national_for(local_id)) == 1
        assert kit.link_value(local_id) == rig.national_for(local_id)[0]["id"]
    finally:
        rig.close()
