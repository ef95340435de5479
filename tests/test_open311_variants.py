"""Open311 as real servers speak it (open311.md, "Real servers" and "What a client must
accept"): list and error shapes, XML, caps, offsets, the bridge's own updates on servers
that replace their ids, requests that cannot be read, unknown statuses, and malformed
answers. Shapes and XML are read from bytes; the rest runs against the sandbox's
profiles over loopback HTTP.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from adapters.local.open311 import wire
from adapters.local.open311.client import Marks, Open311Config, Open311Source, connect
from adapters.local.open311.normalize import (
    link_update_id,
    normalize,
    own_ref,
    split_ref,
    unknown_statuses,
    with_ref,
)
from adapters.sandbox.open311 import Open311Sandbox
from bridge.core.errors import NormalizeError, Rejected, Unavailable
from bridge.core.model import FollowUp, Status
from bridge.core.plan import responses_to_forward
from bridge.core.ports import BRIDGE_REF_PREFIX, RawRecord
from bridge.core.timefmt import utcnow
from bridge.reports.status import feed_assumptions
from cli import _say_feed
from tests.kits import FAST

KEY = "kunci-varian"
NAME = "kota-varian"
T0 = datetime(2026, 5, 1, 3, 0, tzinfo=UTC)


# shapes, from bytes ----------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        [{"service_request_id": "7"}],
        {"service_requests": [{"service_request_id": "7"}]},
        {"requests": [{"service_request_id": "7"}]},
        {"service_request_updates": [{"service_request_id": "7"}]},
        {"service_requests": {"request": [{"service_request_id": "7"}]}},
        {"service_request_id": "7"},  # a single object where a list is due
    ],
)
def test_every_list_shape_gives_the_list(body: Any) -> None:
    assert wire.items_of(body, "requests") == [{"service_request_id": "7"}]


def test_empty_lists_in_any_shape() -> None:
    for body in ([], {"service_requests": []}, {"service_request_updates": None}, None):
        assert wire.items_of(body, "requests") == []


def test_a_body_that_is_no_list_is_malformed_and_named() -> None:
    with pytest.raises(wire.MalformedAnswer, match="an object with keys hello"):
        wire.items_of({"hello": "world"}, "requests")
    with pytest.raises(wire.MalformedAnswer, match="a int"):
        wire.items_of(17, "requests")


def test_fixmystreet_posted_update_answer_is_one_record() -> None:
    body = {"service_request_updates": {"update_id": "9"}}
    assert wire.items_of(body, "update") == [{"update_id": "9"}]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ([{"code": 400, "description": "a"}], [(400, "a")]),
        ({"errors": {"code": 400, "description": "Bad request: already exists"}},
         [(400, "Bad request: already exists")]),
        ({"errors": [{"code": "403", "description": "b"}]}, [(403, "b")]),
        ([{"code": 400, "description": f"check {i}"} for i in range(9)],
         [(400, f"check {i}") for i in range(9)]),
    ],
)  # fmt: skip
def test_every_error_shape_is_read(body: Any, expected: list[tuple[int, str]]) -> None:
    assert wire.errors_of(body) == expected


def test_xml_errors_are_read() -> None:
    data = (
        b"<?xml version='1.0'?><errors><error><code>400</code>"
        b"<description>Bad request: api_key</description></error>"
        b"<error><code>400</code><description>service_code</description></error></errors>"
    )
    assert wire.errors_of(wire.parse_xml(data)) == [
        (400, "Bad request: api_key"),
        (400, "service_code"),
    ]


def test_xml_lists_updates_and_created_answers() -> None:
    feed = (
        b"<service_requests_updates><request_update><update_id>0</update_id>"
        b"<service_request_id>0</service_request_id><status>planned</status>"
        b"<description/></request_update></service_requests_updates>"
    )
    assert wire.items_of(wire.parse_xml(feed), "updates") == [
        {"update_id": "0", "service_request_id": "0", "status": "planned", "description": None}
    ]
    created = b"<service_requests><request><token>abc</token></request></service_requests>"
    assert wire.items_of(wire.parse_xml(created), "create") == [{"token": "abc"}]
    assert wire.items_of(wire.parse_xml(b"<service_requests/>"), "requests") == []


BOMB = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'.encode()
        for i in range(1, 10)
    )
    + b"]><service_requests><request><description>&lol9;</description></request>"
    b"</service_requests>"
)


@pytest.mark.parametrize(
    "data",
    [
        BOMB,
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b"<service_requests><request><description>&x;</description></request></service_requests>",
        b"<!DOCTYPE service_requests><service_requests/>",
    ],
    ids=["billion-laughs", "external-entity", "doctype"],
)
def test_xml_with_a_dtd_is_refused_unexpanded(data: bytes) -> None:
    started = time.monotonic()
    with pytest.raises(wire.MalformedAnswer, match="forbidden construct"):
        wire.parse_xml(data)
    assert time.monotonic() - started < 1.0  # refused before any expansion


def test_broken_xml_is_malformed() -> None:
    with pytest.raises(wire.MalformedAnswer, match="not well-formed"):
        wire.parse_xml(b"<service_requests><request><service_request_id>1</service_")


# the normalizer ---------------------------------------------------------------------


def request(local_id: Any = "0", **fields: Any) -> dict[str, Any]:
    return {
        "service_request_id": local_id,
        "status": "open",
        "service_code": "DRAINASE",
        "requested_datetime": "2026-03-01T09:00:00.000Z",
        **fields,
    }


def test_integer_ids_from_zero_are_ids() -> None:
    complaint = normalize(
        {"request": request(0), "updates": [{"update_id": 0, "service_request_id": 0,
                                              "status": "open", "description": "Diterima."}]},
        source="k", region="34",
    )  # fmt: skip
    assert complaint.local_id == "0"
    assert [f.id for f in complaint.follow_ups] == ["0"]


def test_fields_real_servers_bend() -> None:
    complaint = normalize(
        {
            "request": request(
                "5",
                description=None,
                service_name="Lampu mati",
                updated_datetime="",
                lat="0.9186",
                long="104.4663",
                media_url=[{"id": 1, "url": "https://kota.example/a.jpg", "tags": []},
                           {"url": "https://kota.example/b.jpg"}, {"id": 3}],
                agency_responsible={"recipient": ["Dinas PU", "Dinas Perhubungan"]},
            ),
            "updates": [],
        },
        source="k",
        region="34",
    )  # fmt: skip
    assert complaint.content == "Lampu mati"
    assert complaint.updated_at == complaint.created_at  # empty: missing, not an error
    assert complaint.location is not None and complaint.location.latitude == 0.9186
    assert [a.url for a in complaint.attachments] == [
        "https://kota.example/a.jpg",
        "https://kota.example/b.jpg",
    ]
    assert complaint.agency == "Dinas PU, Dinas Perhubungan"


def test_unknown_statuses_move_nothing_and_are_named() -> None:
    updates = [
        {"update_id": str(i), "status": word, "updated_datetime": f"2026-03-0{i + 2}T00:00:00Z",
         "description": f"Kata {i}"}
        for i, word in enumerate(["in_progress", "unchanged", "planned", "for_triage",
                                  "referred_to_roads"])
    ]  # fmt: skip
    payload = {"request": request("1", status="Received"), "updates": updates}
    complaint = normalize(payload, source="k", region="34")
    assert complaint.status == Status.IN_PROGRESS
    assert len(complaint.follow_ups) == 5  # the text is still copied
    assert unknown_statuses("Received", updates) == {
        "received", "unchanged", "planned", "for_triage", "referred_to_roads"
    }  # fmt: skip


def test_the_bridge_s_updates_are_known_by_their_marker_whatever_their_id() -> None:
    """open311-adapter stores the bridge's updates under its own update_id."""
    link = with_ref("Tercatat di LAPOR-SP4N dengan nomor #9170001", link_update_id("1"))
    updates = [
        {"update_id": 11, "status": "open", "description": link,
         "updated_datetime": "2026-03-02T00:00:00Z"},
        {"update_id": 12, "status": "OPEN", "description": with_ref("Dari LAPOR.", "lb-fu-7"),
         "updated_datetime": "2026-03-03T00:00:00Z"},
        {"update_id": 13, "status": "OPEN",
         "description": with_ref("Diverifikasi.", "lb-status-1-verified"),
         "updated_datetime": "2026-03-04T00:00:00Z"},
        {"update_id": 14, "status": "investigating", "description": "Petugas datang.",
         "updated_datetime": "2026-03-05T00:00:00Z"},
    ]  # fmt: skip
    complaint = normalize({"request": request("1"), "updates": updates}, source="k", region="34")
    assert complaint.national_id == 9170001
    refs = [(f.content, f.ref) for f in complaint.follow_ups]
    assert refs == [
        ("Tercatat di LAPOR-SP4N dengan nomor #9170001", "lb-link-1"),
        ("Dari LAPOR.", "lb-fu-7"),
        ("Diverifikasi.", "lb-status-1-verified"),
        ("Petugas datang.", None),
    ]
    assert complaint.status == Status.IN_PROGRESS
    forwarded = responses_to_forward(complaint.follow_ups, set(), BRIDGE_REF_PREFIX)
    assert [f.content for f in forwarded] == ["Petugas datang."]  # no echo
    assert split_ref("teks [bukan ref]") == ("teks [bukan ref]", None)
    assert own_ref({"update_id": "kota-1", "description": "lihat [lb-x] di tengah"}) is None


def test_a_record_from_a_malformed_answer_is_refused_with_the_shape() -> None:
    with pytest.raises(NormalizeError, match="malformed answer of the city: the requests"):
        normalize(
            {"request": request("1"), "updates": [], "malformed": "the requests answer is x"},
            source="k",
            region="34",
        )


# over HTTP --------------------------------------------------------------------------


_OPENED: list[Open311Source] = []


@pytest.fixture
def make_sandbox() -> Iterator[Callable[..., Open311Sandbox]]:
    started: list[Open311Sandbox] = []

    def make(**options: Any) -> Open311Sandbox:
        sandbox = Open311Sandbox(**{"api_key": KEY, "prefix": "/v2", **options})
        sandbox.start()
        started.append(sandbox)
        return sandbox

    yield make
    while _OPENED:
        _OPENED.pop().close()
    for sandbox in started:
        sandbox.stop()


def make_source(
    sandbox: Open311Sandbox, clock: Callable[[], datetime] = utcnow, **keys: Any
) -> Open311Source:
    config = Open311Config.model_validate(
        {
            "account": "acct",
            "base_url": sandbox.base_url,
            "api_key": KEY,
            "default_service_code": "LAIN",
            "location_id": 34,
            "requests_per_second": 1000,
            **keys,
        }
    )
    source = connect(NAME, config, policy=FAST, clock=clock)
    _OPENED.append(source)
    return source


def pulled(source: Open311Source, cursor: str | None = None) -> tuple[list[RawRecord], str | None]:
    records: list[RawRecord] = []
    for page in source.pull(cursor):
        records.extend(page.records)
        cursor = page.cursor if page.cursor is not None else cursor
    return records, cursor


def asked(source: Open311Source, path: str) -> list[dict[str, str]]:
    """The query of each GET to a path ending ``path``, as sent."""
    seen: list[dict[str, str]] = []

    def hook(request: httpx.Request) -> None:
        if request.method == "GET" and request.url.path.endswith(path):
            query = parse_qs(urlsplit(str(request.url)).query)
            seen.append({k: v[0] for k, v in query.items()})

    source.endpoint.client.event_hooks["request"].append(hook)
    return seen


def answer_sizes(source: Open311Source, path: str) -> list[int]:
    sizes: list[int] = []

    def hook(response: httpx.Response) -> None:
        if response.request.method == "GET" and response.url.path.endswith(path):
            response.read()
            sizes.append(len(wire.items_of(response.json(), "requests")))

    source.endpoint.client.event_hooks["response"].append(hook)
    return sizes


def test_300_requests_in_one_window_of_a_50_capped_descending_server(
    make_sandbox: Callable[..., Open311Sandbox],
) -> None:
    """Newest first, strays from outside the window in every answer, no offset allowed."""
    sandbox = make_sandbox(profile="capped", now=lambda: T0)
    ids = sandbox.seed_bulk(300, T0 - timedelta(minutes=50), T0 - timedelta(minutes=10))
    source = make_source(
        sandbox,
        clock=lambda: T0,
        backfill_start=T0 - timedelta(hours=1),
        start_date_offset=False,
        max_requests=50,
    )
    queries = asked(source, "/requests.json")
    records, cursor = pulled(source)
    got = [r.local_id for r in records]
    assert sorted(set(got)) == sorted(ids)
    assert len(got) == len(set(got))  # strays met again are not processed twice
    assert queries and all(q["start_date"].count(":") == 2 for q in queries)  # no offset
    assert queries[0]["start_date"] == "2026-05-01T01:50:00"  # UTC clock time, overlap
    assert cursor is not None
    assert json.loads(cursor)["cap"]["assumed"] == 50


def test_an_offset_sent_to_a_server_that_refuses_one_fails_loudly(
    make_sandbox: Callable[..., Open311Sandbox],
) -> None:
    sandbox = make_sandbox(profile="capped", now=lambda: T0)
    sandbox.seed_bulk(3, T0 - timedelta(minutes=50), T0 - timedelta(minutes=10))
    source = make_source(sandbox, clock=lambda: T0, backfill_start=T0 - timedelta(hours=1))
    with pytest.raises(Rejected):
        pulled(source)


def test_an_unknown_cap_is_found_from_the_answers_and_nothing_is_lost(
    make_sandbox: Callable[..., Open311Sandbox], capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox = make_sandbox(now=lambda: T0, max_requests=120)
    ids = sandbox.seed_bulk(900, T0 - timedelta(hours=3), T0 - timedelta(minutes=1))
    source = make_source(
        sandbox, clock=lambda: T0, backfill_start=T0 - timedelta(days=2), page_size=500
    )
    sizes = answer_sizes(source, "/requests.json")
    records, cursor = pulled(source)
    assert sorted(r.local_id for r in records) == sorted(ids)
    assert cursor is not None
    cap = json.loads(cursor)["cap"]
    assert max(sizes) == 120
    assert cap == {
        "assumed": 120,
        "by": "largest answer seen",
        "largest_answer": 120,
        "times": sizes.count(120),
    }
    assert cap["times"] >= 2  # the cap, seen repeatedly
    # the next pass starts from what it found: answers below 120 are not split again
    again = make_source(sandbox, clock=lambda: T0, page_size=500)
    again._load_state(Marks.load(cursor, T0).state)
    assert again.cap() == 120
    # and `status` says what it assumed, without the raw cursor
    assert feed_assumptions(cursor)["cap"] == {
        "assumed": 120, "by": "largest answer seen", "largest_answer": 120
    }  # fmt: skip
    _say_feed(feed_assumptions(cursor))
    said = capsys.readouterr().out
    assert "cap:" in said and "120 per answer assumed (largest answer seen" in said


def test_status_names_unknown_statuses_and_unreadable_requests(
    capsys: pytest.CaptureFixture[str],
) -> None:
    state = {
        "unreadable": {"17": {"since": "2026-03-01T00:00:00Z", "tries": 2}},
        "unknown_statuses": {"planned": "2026-03-01T00:00:00Z"},
    }
    cursor = Marks(T0, T0, state).dump()
    feed = feed_assumptions(cursor)
    assert feed == {"unreadable": ["17"], "unknown_statuses": ["planned"]}
    _say_feed(feed)
    said = capsys.readouterr().out
    assert "17 (read again each pass)" in said
    assert "planned (unknown, read as no change)" in said
    assert feed_assumptions('{"cursor": "2026-03-01T00:00:00Z"}') == {}  # another app's
    assert feed_assumptions("2026-03-01T00:00:00Z") == {}


def test_a_request_without_an_id_holds_the_mark_until_it_has_one(
    make_sandbox: Callable[..., Open311Sandbox],
) -> None:
    clock = [T0]
    sandbox = make_sandbox(now=lambda: clock[0])
    done = sandbox.add_request(requested_datetime=T0 - timedelta(hours=5))
    later = sandbox.add_request(requested_datetime=T0 - timedelta(hours=5), processing=True)
    source = make_source(
        sandbox, clock=lambda: clock[0], backfill_start=T0 - timedelta(hours=6), overlap_seconds=0
    )
    records, cursor = pulled(source)
    assert [r.local_id for r in records] == [str(done["service_request_id"])]
    held = Marks.load(cursor, T0).requested
    assert held < T0 - timedelta(hours=5)  # not past the window that held it
    clock[0] = T0 + timedelta(hours=1)
    sandbox.finish_processing()
    records, cursor = pulled(source, cursor)
    assert str(later["service_request_id"]) in [r.local_id for r in records]
    assert Marks.load(cursor, T0).requested == clock[0]


def test_an_xml_only_city_is_read_and_written_in_xml(
    make_sandbox: Callable[..., Open311Sandbox],
) -> None:
    sandbox = make_sandbox(profile="xml")
    local_id = str(sandbox.add_request(description="Got mampet di Jl. Ganet")["service_request_id"])
    sandbox.add_update(local_id, "investigating", "Petugas ke lokasi.")
    source = make_source(sandbox, format="xml")
    records, _ = pulled(source)
    (record,) = [r for r in records if r.local_id == local_id]
    complaint = source.normalize(record)
    assert complaint.status == Status.IN_PROGRESS
    assert complaint.content == "Got mampet di Jl. Ganet"
    source.link_national(local_id, 9170002)
    raw = source.fetch(local_id)
    assert raw is not None and source.normalize(raw).national_id == 9170002
    assert sandbox.count_requests("GET", r"\.json") == 0
    with pytest.raises(Rejected, match="HTTP 404"):
        pulled(make_source(sandbox))  # the JSON paths do not answer


def test_a_400_naming_the_key_is_an_authentication_failure(
    make_sandbox: Callable[..., Open311Sandbox],
) -> None:
    for profile in ("fms", "adapter"):
        sandbox = make_sandbox(profile=profile)
        config = {"api_key": "salah"}
        source = make_source(sandbox, **config)
        with pytest.raises(Unavailable, match=f"check sources.{NAME}.api_key") as caught:
            pulled(source)
        assert not isinstance(caught.value, Rejected)
        assert "salah" not in str(caught.value)


def test_already_exists_in_fixmystreet_s_error_object_is_success(
    make_sandbox: Callable[..., Open311Sandbox],
) -> None:
    sandbox = make_sandbox(profile="fms")
    local_id = str(sandbox.add_request()["service_request_id"])
    source = make_source(sandbox)
    answer = FollowUp(id="l-1", author="Admin", content="Diteruskan.", at=utcnow())
    source.add_response(local_id, answer, "lb-fu-1")
    source.add_response(local_id, answer, "lb-fu-1")  # 400 {"errors": {...already exists}}
    mine = [u for u in sandbox.updates() if u["service_request_id"] == local_id]
    assert [u["update_id"] for u in mine] == ["lb-fu-1"]


def test_no_echo_and_no_repeat_on_a_server_that_keeps_its_own_update_ids(
    make_sandbox: Callable[..., Open311Sandbox],
) -> None:
    sandbox = make_sandbox(profile="adapter", failing_statuses=())
    local_id = str(sandbox.add_request()["service_request_id"])
    assert local_id == "0"
    source = make_source(sandbox)
    source.link_national(local_id, 9170003)
    answer = FollowUp(id="l-2", author="Admin", content="Mohon dicek.", at=utcnow())
    sandbox.faults.inject("drop_after_write", method="POST", path=r"/servicerequestupdates")
    source.add_response(local_id, answer, "lb-fu-2")  # answer lost: the feed shows it
    sandbox.add_update(local_id, "planned", "Dijadwalkan pekan depan.")
    stored = [u for u in sandbox.updates() if str(u["service_request_id"]) == local_id]
    assert len(stored) == 3  # link, response once, the city's word
    assert not any(str(u["update_id"]).startswith("lb-") for u in stored)  # its own ids
    raw = source.fetch(local_id)
    assert raw is not None
    complaint = source.normalize(raw)
    assert complaint.national_id == 9170003  # the link is seen: not written again
    city = responses_to_forward(complaint.follow_ups, set(), BRIDGE_REF_PREFIX)
    assert [f.content for f in city] == ["Dijadwalkan pekan depan."]
    assert complaint.status == Status.SUBMITTED  # "planned" moves nothing
    _, cursor = pulled(source)
    assert "planned" in json.loads(cursor or "{}")["unknown_statuses"]  # reported in status


def test_one_unreadable_request_never_blocks_the_others(
    make_sandbox: Callable[..., Open311Sandbox],
) -> None:
    clock = [T0]
    sandbox = make_sandbox(
        profile="adapter", now=lambda: clock[0], failing_statuses=("for_triage",)
    )
    ids = [
        str(sandbox.add_request(requested_datetime=T0 - timedelta(days=2))["service_request_id"])
        for _ in range(3)
    ]
    source = make_source(sandbox, clock=lambda: clock[0], overlap_seconds=0)
    _, cursor = pulled(source)
    clock[0] = T0 + timedelta(hours=1)
    sandbox.add_update(ids[0], "in_progress", "Dikerjakan.")
    sandbox.add_update(ids[1], "for_triage", "Dipilah.")  # its single read now answers 500
    sandbox.add_update(ids[2], "fixed", "Selesai.")
    records, cursor = pulled(source, cursor)
    assert sorted(r.local_id for r in records) == [ids[0], ids[2]]
    assert cursor is not None
    state = json.loads(cursor)
    assert list(state["unreadable"]) == [ids[1]]
    # later passes go on, and read it again
    clock[0] = T0 + timedelta(hours=2)
    records, cursor = pulled(source, cursor)
    assert ids[1] not in [r.local_id for r in records]
    assert json.loads(cursor or "{}")["unreadable"][ids[1]]["tries"] == 2
    sandbox.add_update(ids[1], "in_progress", "Ditangani.")
    clock[0] = T0 + timedelta(hours=3)
    records, cursor = pulled(source, cursor)
    assert [r.local_id for r in records] == [ids[1]]
    assert "unreadable" not in json.loads(cursor or "{}")


@pytest.mark.parametrize("kind", ["non_objects", "truncated"])
def test_a_malformed_answer_quarantines_what_it_can_and_keeps_the_cursor(
    make_sandbox: Callable[..., Open311Sandbox], kind: str
) -> None:
    sandbox = make_sandbox(now=lambda: T0)
    sandbox.seed_bulk(5, T0 - timedelta(hours=2), T0 - timedelta(hours=1))
    source = make_source(
        sandbox, clock=lambda: T0, backfill_start=T0 - timedelta(hours=2), overlap_seconds=0
    )
    sandbox.malform(kind)
    pages = []
    with pytest.raises(Unavailable) as caught:
        for page in source.pull(None):
            pages.append(page)
    message = str(caught.value)
    assert f"sources.{NAME}" in message and "requests.json" in message
    assert all(page.cursor is None for page in pages)  # nothing committed past it
    quarantined = [r for page in pages for r in page.records]
    if kind == "non_objects":
        assert "an array of" in message and "cursor stays" in message
        assert quarantined and all("malformed" in r.payload for r in quarantined)
        with pytest.raises(NormalizeError, match="malformed answer"):
            source.normalize(quarantined[0])
    else:
        assert "not JSON" in message or "not well-formed" in message
        assert quarantined == []


def test_an_entity_bomb_from_an_xml_city_fails_the_pass_unexpanded(
    make_sandbox: Callable[..., Open311Sandbox],
) -> None:
    sandbox = make_sandbox(profile="xml", now=lambda: T0)
    sandbox.seed_bulk(2, T0 - timedelta(hours=2), T0 - timedelta(hours=1))
    source = make_source(
        sandbox, clock=lambda: T0, backfill_start=T0 - timedelta(hours=3), format="xml"
    )
    sandbox.malform("entity_bomb")
    with pytest.raises(Unavailable, match=r"sources\.kota-varian.*forbidden construct"):
        pulled(source)


def test_the_new_keys_are_validated() -> None:
    base = {
        "account": "a",
        "base_url": "https://kota.example/v2",
        "api_key": "k",
        "default_service_code": "LAIN",
        "location_id": 34,
    }
    config = Open311Config.model_validate(base)
    assert (config.format, config.max_requests, config.start_date_offset) == ("json", None, True)
    for bad in ({"format": "yaml"}, {"max_requests": 1}, {"start_date_offset": "kadang"}):
        with pytest.raises(ValueError):
            Open311Config.model_validate({**base, **bad})
