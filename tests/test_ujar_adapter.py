"""Ujar's quirks, end to end over loopback HTTP and in the pure normalizer.

OAuth tokens that expire mid-run, a bad client secret, an at-least-once
changes feed, cursors that expire (410), epoch milliseconds, ``"lat,lng"``
strings and integer status codes.
"""

from __future__ import annotations

import math
import random
from collections import OrderedDict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
import structlog
from pydantic import SecretStr, ValidationError

from adapters import registry
from adapters.local.ujar import client as ujar_client
from adapters.local.ujar.client import UjarConfig, UjarSource, connect, create_body
from adapters.local.ujar.normalize import (
    CATEGORIES,
    category_of,
    coordinates_of,
    local_category,
    normalize,
    time_of,
    to_ms,
)
from adapters.sandbox.ujar import UjarSandbox
from bridge.core.errors import Ambiguous, NormalizeError, Rejected, Unavailable
from bridge.core.model import Attachment, FollowUp, Location, NationalComplaint, Reporter, Status
from bridge.core.ports import Page
from bridge.core.timefmt import utcnow
from bridge.runtime.settings import ConfigError, SourceSection
from tests.kits import FAST, Kit
from tests.kits.ujar import CLIENT_ID, SECRET, UjarKit
from tests.test_adapter_contract import Rig

# --- helpers -----------------------------------------------------------------


def _config(url: str, **overrides: Any) -> UjarConfig:
    data: dict[str, Any] = {
        "account": "acct",
        "base_url": url,
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        "location_id": 34,
        "requests_per_second": 1000,
        "page_size": 20,
    }
    data.update(overrides)
    return UjarConfig.model_validate(data)


class Clock:
    """A hand-moved monotonic clock for the token cache."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def sandbox() -> Iterator[UjarSandbox]:
    server = UjarSandbox(CLIENT_ID, SECRET)
    with server:
        yield server


@pytest.fixture
def source(sandbox: UjarSandbox) -> Iterator[UjarSource]:
    src = connect("city", _config(sandbox.url), policy=FAST)
    try:
        yield src
    finally:
        src.close()


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    # Kit declares ``sandbox: SandboxServer`` as a plain attribute, which mypy holds invariant
    r = Rig(cast(Kit, UjarKit()), tmp_path)
    try:
        yield r
    finally:
        r.close()


def _sandbox(rig: Rig) -> UjarSandbox:
    sandbox = rig.kit.sandbox
    assert isinstance(sandbox, UjarSandbox)
    return sandbox


def _ujar(rig: Rig) -> UjarSource:
    assert isinstance(rig.source, UjarSource)
    return rig.source


def _one_each(rig: Rig, ticket_nos: list[str]) -> None:
    for ticket_no in ticket_nos:
        assert len(rig.national_for(ticket_no)) == 1, ticket_no
    assert len(rig.lapor.complaints()) == len(ticket_nos)


def _token_requests(sandbox: UjarSandbox) -> int:
    return sandbox.count_requests("POST", r"^/oauth/token$")


# --- OAuth ---------------------------------------------------------------------


def test_token_is_cached_and_reused(sandbox: UjarSandbox, source: UjarSource) -> None:
    numbers = [sandbox.add_ticket()["ticketNo"] for _ in range(3)]
    for ticket_no in numbers:
        assert source.fetch(ticket_no) is not None
    assert _token_requests(sandbox) == 1


def test_token_is_renewed_shortly_before_it_expires(sandbox: UjarSandbox) -> None:
    ticket_no = sandbox.add_ticket()["ticketNo"]
    clock = Clock()
    src = connect("city", _config(sandbox.url), policy=FAST, clock=clock)
    try:
        src.fetch(ticket_no)
        clock.now += 500  # well inside the 600 s lifetime: the cached token is used
        src.fetch(ticket_no)
        assert _token_requests(sandbox) == 1
        clock.now += 90  # 590 s: within the renewal margin, renewed before any 401
        src.fetch(ticket_no)
        assert _token_requests(sandbox) == 2
        assert src.credentials.fetched == 2
        assert sandbox.count_requests("GET", rf"^/v2/tickets/{ticket_no}$") == 3  # no retry
    finally:
        src.close()


def test_expired_token_mid_feed_is_renewed_once(sandbox: UjarSandbox, source: UjarSource) -> None:
    numbers = [sandbox.add_ticket()["ticketNo"] for _ in range(45)]
    delivered: list[str] = []
    for n, page in enumerate(source.pull(None)):
        delivered += [r.local_id for r in page.records]
        if n == 0:
            sandbox.expire_tokens()
    assert delivered == numbers
    assert _token_requests(sandbox) == 2


def test_sync_survives_tokens_expiring_between_pages(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox = _sandbox(rig)
    numbers = [sandbox.add_ticket()["ticketNo"] for _ in range(45)]  # three pages of 20
    source = _ujar(rig)
    original = source.pull

    def pull(cursor: str | None) -> Iterator[Page]:
        for n, page in enumerate(original(cursor)):
            yield page
            if n == 0:
                sandbox.expire_tokens()

    monkeypatch.setattr(source, "pull", pull)
    with structlog.testing.capture_logs() as logged:
        report = rig.sync()
    assert report.ok, report
    _one_each(rig, numbers)
    assert source.credentials.fetched == 2
    token = source.credentials.current()
    assert token not in repr(logged)
    assert all(rig.kit.link_value(no) is not None for no in numbers)


def test_bad_client_secret_fails_clearly_without_the_secret(sandbox: UjarSandbox) -> None:
    wrong = "salah-sekali-rahasia"
    sandbox.add_ticket()
    src = connect("city", _config(sandbox.url, client_secret=wrong), policy=FAST)
    try:
        with pytest.raises(Unavailable) as caught:
            list(src.pull(None))
    finally:
        src.close()
    message = str(caught.value)
    assert "Ujar refused the client credentials" in message
    assert "sources.city.client_id/client_secret" in message
    assert "invalid_client" in message
    assert wrong not in message and SECRET not in message
    assert _token_requests(sandbox) == 1  # a refusal is not retried


def test_bad_client_secret_fails_the_pass_with_an_operator_message(rig: Rig) -> None:
    _sandbox(rig).add_ticket()
    rig.source.close()
    rig.source = connect("city", _config(_sandbox(rig).url, client_secret="keliru"), policy=FAST)
    report = rig.sync()
    error = report.sources["city"].error
    assert error is not None and "sources.city.client_id/client_secret" in error
    assert "keliru" not in error
    assert rig.lapor.complaints() == []


def test_token_refused_twice_stops_instead_of_looping(sandbox: UjarSandbox) -> None:
    sandbox.add_ticket()
    sandbox.token_ttl = 0  # every token is dead on arrival
    src = connect("city", _config(sandbox.url), policy=FAST)
    try:
        with pytest.raises(Unavailable) as caught:
            src.fetch("UJR-1")
    finally:
        src.close()
    assert "fresh access token got invalid_token" in str(caught.value)
    assert "Bearer" not in str(caught.value)
    assert _token_requests(sandbox) == 2
    assert sandbox.count_requests("GET", r"^/v2/tickets/UJR-1$") == 2


def test_token_endpoint_down_is_retried(sandbox: UjarSandbox, source: UjarSource) -> None:
    ticket_no = sandbox.add_ticket()["ticketNo"]
    sandbox.faults.inject("503", method="POST", path=r"^/oauth/token$", count=2)
    sandbox.faults.inject("html200", method="POST", path=r"^/oauth/token$", count=1)
    assert source.fetch(ticket_no) is not None
    assert _token_requests(sandbox) == 4


def test_token_endpoint_that_never_answers_a_token_is_unavailable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json={"token_type": "Bearer"})
        return httpx.Response(200, json={})

    src = connect(
        "city",
        _config("http://ujar.test"),
        policy=FAST,
        transport=httpx.MockTransport(handler),
    )
    with pytest.raises(Unavailable) as caught:
        src.fetch("UJR-1")
    assert "without an access token" in str(caught.value)
    assert SECRET not in str(caught.value)


def test_token_is_never_sent_to_another_host() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json={"access_token": "tkn-rahasia", "expires_in": 600})
        return httpx.Response(200, content=b"bytes")

    src = connect(
        "city", _config("http://ujar.test"), policy=FAST, transport=httpx.MockTransport(handler)
    )
    with pytest.raises(Rejected) as caught:
        src.fetch_attachment(Attachment(url="http://evil.test/files/UJR-1/0"))
    assert caught.value.status == 0 and "not on the app's host" in caught.value.message
    with pytest.raises(Rejected):
        src.fetch_attachment(Attachment(url="https://ujar.test/files/UJR-1/0"))  # other scheme
    assert seen == []
    # the transport-level guard too: a request to another host goes out without the token
    response = src.endpoint.client.get("http://evil.test/x")
    assert response.status_code == 200
    assert "authorization" not in seen[-1].headers
    assert src.fetch_attachment(Attachment(url="http://ujar.test/files/UJR-1/0")) == b"bytes"
    assert seen[-1].headers["authorization"] == "Bearer tkn-rahasia"


# --- the changes feed ---------------------------------------------------------------


def test_pages_carry_their_cursor_and_resume_from_it(
    sandbox: UjarSandbox, source: UjarSource
) -> None:
    first = [sandbox.add_ticket()["ticketNo"] for _ in range(25)]
    pages = list(source.pull(None))
    assert [len(p.records) for p in pages] == [20, 5]
    assert all(p.cursor for p in pages)
    assert [r.local_id for p in pages for r in p.records] == first
    later = [sandbox.add_ticket()["ticketNo"] for _ in range(3)]
    resumed = list(source.pull(pages[-1].cursor))
    assert [r.local_id for p in resumed for r in p.records] == later


def test_redelivered_and_twice_changed_items_come_once_per_pull(
    sandbox: UjarSandbox, source: UjarSource
) -> None:
    numbers = [sandbox.add_ticket()["ticketNo"] for _ in range(50)]
    for ticket_no in numbers[:10]:
        sandbox.edit_ticket(ticket_no, address="Jl. Ganet")
        sandbox.set_status(ticket_no, 1)  # changed twice: two log entries each
    sandbox.redeliver(1.0)
    pages = list(source.pull(None))
    delivered = [r.local_id for p in pages for r in p.records]
    assert sorted(delivered) == sorted(numbers)
    # the feed really did send items again: more pages than the log needs without redelivery
    assert len(pages) > math.ceil(len(sandbox.change_log()) / 20)


def test_a_pull_remembers_only_the_tickets_it_yielded_last(
    sandbox: UjarSandbox, source: UjarSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a pull yielded is kept for the last SEEN_TICKETS tickets only, so its memory
    does not grow with a backlog; a repeat beyond that comes again (the engine knows it)."""
    monkeypatch.setattr(ujar_client, "SEEN_TICKETS", 30)
    numbers = [sandbox.add_ticket()["ticketNo"] for _ in range(50)]
    sandbox.redeliver(1.0)
    delivered = [r.local_id for p in source.pull(None) for r in p.records]
    assert set(delivered) == set(numbers)
    assert len(delivered) < 2 * len(numbers)  # recent repeats still dropped
    seen: OrderedDict[str, tuple[bytes, int]] = OrderedDict()
    items = [{"ticketNo": n, "updatedAt": 1_700_000_000_000 + i} for i, n in enumerate(numbers)]
    ujar_client._fresh(items, seen)
    assert len(seen) == 30 and list(seen)[-1] == numbers[-1]
    assert ujar_client._fresh(items[-1:], seen) == []  # a repeat of a recent one: dropped
    assert len(ujar_client._fresh(items[:1], seen)) == 1  # of a forgotten one: yielded


def test_redelivery_and_double_changes_make_one_complaint_each_across_passes(rig: Rig) -> None:
    sandbox = _sandbox(rig)
    numbers = [sandbox.add_ticket()["ticketNo"] for _ in range(30)]
    sandbox.edit_ticket(
        numbers[0], message="Genangan air makin tinggi, sudah sepinggang sejak pagi."
    )
    sandbox.edit_ticket(numbers[0], address="Jl. Sei Timun depan SD 005")
    sandbox.redeliver(1.0)
    first = rig.sync()
    assert first.ok, first
    assert first.sources["city"].created == 30
    _one_each(rig, numbers)

    sandbox.set_status(numbers[1], 1)
    sandbox.respond(numbers[1], "PUPR", "Laporan sudah kami terima dan akan ditinjau.")
    numbers += [sandbox.add_ticket()["ticketNo"] for _ in range(3)]
    second = rig.sync()
    assert second.ok, second
    assert second.sources["city"].created == 3
    assert second.sources["city"].quarantined == 0
    _one_each(rig, numbers)


def test_expired_cursor_restarts_the_feed(sandbox: UjarSandbox, source: UjarSource) -> None:
    old = [sandbox.add_ticket()["ticketNo"] for _ in range(5)]
    cursor = list(source.pull(None))[-1].cursor
    sandbox.expire_cursors()
    new = [sandbox.add_ticket()["ticketNo"] for _ in range(2)]
    with structlog.testing.capture_logs() as logged:
        delivered = [r.local_id for p in source.pull(cursor) for r in p.records]
    assert delivered == old + new
    assert source.cursor_restarts == 1
    assert [e["event"] for e in logged] == ["ujar_cursor_expired"]


def test_expired_cursor_loses_and_duplicates_nothing(rig: Rig) -> None:
    sandbox = _sandbox(rig)
    numbers = [sandbox.add_ticket()["ticketNo"] for _ in range(25)]
    assert rig.sync().ok
    sandbox.expire_cursors()
    numbers += [sandbox.add_ticket()["ticketNo"] for _ in range(4)]
    report = rig.sync()
    assert report.ok, report
    assert report.sources["city"].created == 4
    assert _ujar(rig).cursor_restarts == 1
    _one_each(rig, numbers)
    again = rig.sync()  # the restarted feed's cursor was stored: no second restart
    assert again.ok and again.sources["city"].created == 0
    assert _ujar(rig).cursor_restarts == 1


def _feed_transport(answers: list[httpx.Response]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json={"access_token": "t", "expires_in": 600})
        return answers.pop(0)

    return httpx.MockTransport(handler)


def test_cursor_expired_without_a_cursor_is_unavailable() -> None:
    gone = httpx.Response(410, json={"error": "cursor_expired", "message": "start again"})
    src = connect(
        "city", _config("http://ujar.test"), policy=FAST, transport=_feed_transport([gone])
    )
    with pytest.raises(Unavailable, match="cursor_expired"):
        list(src.pull(None))


def test_feed_that_does_not_advance_ends_the_pull() -> None:
    stuck = {"items": [], "next_cursor": "c1", "has_more": True}
    answers = [httpx.Response(200, json=stuck) for _ in range(2)]
    src = connect(
        "city", _config("http://ujar.test"), policy=FAST, transport=_feed_transport(answers)
    )
    assert [p.cursor for p in src.pull("c1")] == ["c1"]


def test_feed_page_that_is_not_json_is_retried(sandbox: UjarSandbox, source: UjarSource) -> None:
    numbers = [sandbox.add_ticket()["ticketNo"] for _ in range(3)]
    sandbox.faults.inject("html200", method="GET", path=r"/v2/tickets/changes$", count=1)
    assert [r.local_id for p in source.pull(None) for r in p.records] == numbers


# --- writes -------------------------------------------------------------------------


def _national(**overrides: Any) -> NationalComplaint:
    data: dict[str, Any] = {
        "id": 9170002,
        "title": "Parkir liar di depan pasar",
        "content": "Kendaraan parkir di badan jalan depan Pasar Bintan Center setiap sore.",
        "category": "PERHUBUNGAN/PARKIR LIAR",
        "status": Status.VERIFIED,
        "status_code": 30,
        "reporter": Reporter(name=SecretStr("Siti Aminah"), phone=SecretStr("+6281277001122")),
        "location": Location(latitude=0.917, longitude=104.446, address="Jl. Merdeka"),
        "created_at": utcnow(),
        "updated_at": utcnow(),
    }
    data.update(overrides)
    return NationalComplaint(**data)


def test_create_sends_ujar_fields_and_links_back(sandbox: UjarSandbox, source: UjarSource) -> None:
    created = source.create(_national())
    assert created.local_id is not None and created.token is None
    ticket = sandbox.ticket(created.local_id)
    assert ticket["message"] == (
        "Parkir liar di depan pasar\n"
        "Kendaraan parkir di badan jalan depan Pasar Bintan Center setiap sore."
    )
    assert ticket["categoryCode"] == "PRK"
    assert ticket["location"] == "0.917,104.446"
    assert ticket["address"] == "Jl. Merdeka"
    assert (ticket["userName"], ticket["userPhone"], ticket["anonymous"]) == (
        "Siti Aminah",
        "+6281277001122",
        False,
    )
    assert ticket["external"] == [{"system": "lapor", "ref": "9170002"}]
    assert source.poll_created("anything") is None


def test_create_anonymous_or_without_place_sends_nulls() -> None:
    body = create_body(_national(anonymous=True, location=None, category="KESEHATAN"))
    assert body["userName"] is None and body["userPhone"] is None and body["anonymous"] is True
    assert body["location"] is None and body["address"] is None
    assert body["categoryCode"] == "LLN"
    no_reporter = create_body(_national(reporter=None))
    assert no_reporter["userName"] is None and no_reporter["userPhone"] is None
    address_only = create_body(_national(location=Location(address="Jl. Ganet")))
    assert address_only["location"] is None and address_only["address"] == "Jl. Ganet"


def test_create_message_does_not_repeat_a_title_the_text_starts_with() -> None:
    body = create_body(
        _national(title="Parkir liar", content="Parkir liar di depan pasar tiap sore.")
    )
    assert body["message"] == "Parkir liar di depan pasar tiap sore."


def test_tiny_coordinates_are_written_in_fixed_notation(
    sandbox: UjarSandbox, source: UjarSource
) -> None:
    where = Location(latitude=0.00001, longitude=104.4, address=None)
    created = source.create(_national(location=where))
    assert created.local_id is not None
    assert sandbox.ticket(created.local_id)["location"] == "0.00001,104.4"


def test_lost_create_answer_is_found_again_in_the_feed(
    sandbox: UjarSandbox, source: UjarSource
) -> None:
    since = utcnow() - timedelta(minutes=1)
    for _ in range(30):
        sandbox.add_ticket()
    sandbox.faults.inject("drop_after_write", method="POST", path=r"^/v2/tickets$")
    with pytest.raises(Ambiguous):
        source.create(_national(id=9170003))
    assert sandbox.count_requests("POST", r"^/v2/tickets$") == 1  # never posted blind twice
    made = [t["ticketNo"] for t in sandbox.all_tickets() if t["external"]]
    assert len(made) == 1
    assert source.find_created(9170003, since) == made[0]
    assert source.find_created(9170003, utcnow() + timedelta(hours=1)) is None
    assert source.find_created(9179999, since) is None


def test_find_created_accepts_a_hash_prefixed_ref(sandbox: UjarSandbox, source: UjarSource) -> None:
    ticket_no = sandbox.add_ticket(external=[{"system": "lapor", "ref": "#9170004"}])["ticketNo"]
    assert source.find_created(9170004, utcnow() - timedelta(minutes=1)) == ticket_no


def test_add_response_is_not_retried_blind(sandbox: UjarSandbox, source: UjarSource) -> None:
    ticket_no = sandbox.add_ticket()["ticketNo"]
    answer = FollowUp(id="f-1", author="Admin LAPOR", content="Sudah diteruskan.", at=utcnow())
    sandbox.faults.inject("503", method="POST", path=r"/responses$", count=1)
    with pytest.raises(Ambiguous):
        source.add_response(ticket_no, answer, "lb-fu-1")
    assert sandbox.count_requests("POST", r"/responses$") == 1
    source.add_response(ticket_no, answer, "lb-fu-1")
    [reply] = sandbox.ticket(ticket_no)["responses"]
    assert (reply["by"], reply["text"], reply["clientRef"]) == (
        "Admin LAPOR",
        "Sudah diteruskan.",
        "lb-fu-1",
    )
    assert reply["at"] == to_ms(answer.at)


def test_status_and_link_writes_are_retried(sandbox: UjarSandbox, source: UjarSource) -> None:
    ticket_no = sandbox.add_ticket()["ticketNo"]
    sandbox.faults.inject("503", method="PUT", count=2)
    source.set_status(ticket_no, Status.IN_PROGRESS)
    source.link_national(ticket_no, 4123987)
    ticket = sandbox.ticket(ticket_no)
    assert ticket["statusCode"] == 2
    assert ticket["external"] == [{"system": "lapor", "ref": "4123987"}]


def test_unknown_ticket(source: UjarSource) -> None:
    assert source.fetch("UJR-404") is None
    with pytest.raises(Rejected) as caught:
        source.set_status("UJR-404", Status.DONE)
    assert caught.value.status == 404


def test_photos_are_fetched_with_the_token(sandbox: UjarSandbox, source: UjarSource) -> None:
    ticket_no = sandbox.add_ticket()["ticketNo"]
    sandbox.add_photo(ticket_no, b"\xff\xd8\xffjpeg-bytes")
    raw = source.fetch(ticket_no)
    assert raw is not None
    [photo] = source.normalize(raw).attachments
    assert photo.content_type == "image/jpeg"
    assert source.fetch_attachment(photo) == b"\xff\xd8\xffjpeg-bytes"
    with pytest.raises(Rejected) as caught:
        source.fetch_attachment(Attachment(url=f"{sandbox.url}/files/{ticket_no}/2"))
    assert caught.value.status == 404


# --- configuration --------------------------------------------------------------------


def test_config_rejects_unknown_keys_and_large_pages() -> None:
    with pytest.raises(ValidationError):
        _config("http://ujar.test", api_key="x")
    with pytest.raises(ValidationError):
        _config("http://ujar.test", page_size=201)
    assert _config("http://ujar.test", page_size=200).page_size == 200
    assert SECRET not in repr(_config("http://ujar.test"))


def _section(**overrides: Any) -> SourceSection:
    data: dict[str, Any] = {
        "kind": "ujar",
        "account": "tanjungpinang",
        "base_url": "http://127.0.0.1:8102",
        "client_id": "lapor-bridge",
        "client_secret": "s3cret",
        "location_id": 34,
        "classification_id": 1,
    }
    data.update(overrides)
    return SourceSection.model_validate({k: v for k, v in data.items() if v is not None})


def test_registry_knows_ujar() -> None:
    kind, config = registry.source_config("ujar", _section(categories={"kbl": "TOPIK LAINNYA"}))
    assert isinstance(config, UjarConfig)
    assert config.client_secret.get_secret_value() == "s3cret"
    source = kind.connect("ujar", config, FAST)
    try:
        assert isinstance(source, UjarSource) and source.account == "tanjungpinang"
    finally:
        source.close()


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"page_size": 500}, "sources.ujar.page_size"),
        ({"client_secret": None}, "sources.ujar.client_secret"),
        ({"client_id": ""}, "sources.ujar.client_id"),
    ],
)
def test_bad_ujar_section_names_the_key(overrides: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        registry.source_config("ujar", _section(**overrides))
    assert caught.value.key == key
    assert "s3cret" not in str(caught.value)


# --- the normalizer (pure) ---------------------------------------------------------------


def _ticket(**overrides: Any) -> dict[str, Any]:
    ticket: dict[str, Any] = {
        "ticketNo": "UJR-8812",
        "userName": "Budi Santoso",
        "userPhone": "+6281234567890",
        "anonymous": False,
        "message": "Genangan air setinggi lutut setelah hujan di depan SD 005",
        "categoryCode": "DRN",
        "location": "0.9170,104.4460",
        "address": "Jl. Sei Timun",
        "photos": [{"url": "http://ujar.test/files/UJR-8812/0", "mime": "image/jpeg"}],
        "statusCode": 0,
        "external": [{"system": "lapor", "ref": "4123987"}],
        "responses": [
            {"id": "r-91", "by": "PUPR", "text": "Tim menuju lokasi.", "at": 1601290000123},
            {
                "id": "r-92",
                "by": "Admin LAPOR",
                "text": "Diteruskan.",
                "at": 1601290001000,
                "clientRef": "lb-fu-7",
            },
        ],
        "createdAt": 1601283300000,
        "updatedAt": 1601290000000,
    }
    ticket.update(overrides)
    return ticket


def _norm(payload: dict[str, Any], categories: dict[str, str] | None = None) -> Any:
    return normalize(payload, source="ujar", region="21.72", categories=categories)


def test_contract_example_normalizes() -> None:
    complaint = _norm(_ticket())
    assert complaint.local_id == "UJR-8812"
    assert complaint.title == ""
    assert complaint.content.startswith("Genangan air setinggi lutut")
    assert complaint.category == "PEKERJAAN UMUM DAN PENATAAN RUANG/DRAINASE (GORONG-GORONG/PARIT)"
    assert complaint.local_category == "DRN"
    assert (complaint.status, complaint.local_status) == (Status.SUBMITTED, "0")
    assert complaint.created_at == datetime(2020, 9, 28, 8, 55, tzinfo=UTC)
    assert complaint.updated_at == datetime(2020, 9, 28, 10, 46, 40, tzinfo=UTC)
    assert complaint.national_id == 4123987
    assert complaint.region == "21.72"
    assert complaint.location == Location(
        latitude=0.917, longitude=104.446, address="Jl. Sei Timun"
    )
    assert complaint.attachments == (
        Attachment(url="http://ujar.test/files/UJR-8812/0", content_type="image/jpeg"),
    )
    first, second = complaint.follow_ups
    assert (first.id, first.author, first.content, first.ref) == (
        "r-91",
        "PUPR",
        "Tim menuju lokasi.",
        None,
    )
    assert first.at == datetime(2020, 9, 28, 10, 46, 40, 123000, tzinfo=UTC)
    assert second.ref == "lb-fu-7"
    reporter = complaint.reporter
    assert reporter is not None and reporter.name is not None and reporter.phone is not None
    assert reporter.name.get_secret_value() == "Budi Santoso"
    assert reporter.phone.get_secret_value() == "+6281234567890"


def test_epoch_milliseconds_are_exact_utc() -> None:
    moment = time_of(1601283300001, "createdAt")
    assert moment.tzinfo is not None and moment.utcoffset() == timedelta(0)
    assert moment == datetime(2020, 9, 28, 8, 55, 0, 1000, tzinfo=UTC)
    assert to_ms(moment) == 1601283300001
    assert time_of(1601283300000.0, "createdAt") == datetime(2020, 9, 28, 8, 55, tzinfo=UTC)


@pytest.mark.parametrize(
    "value", ["2020-09-28T08:55:00Z", "1601283300000", None, True, 0, -5, 1.5, 10**20]
)
def test_bad_times_are_named(value: Any) -> None:
    with pytest.raises(NormalizeError, match="createdAt"):
        _norm(_ticket(createdAt=value))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0.9170,104.4460", (0.917, 104.446)),
        (" 0.917 , 104.446 ", (0.917, 104.446)),
        ("-6.2,106.8", (-6.2, 106.8)),
        ("0.917123,104.446789", (0.917123, 104.446789)),
        ("90,-180", (90.0, -180.0)),
        ("0.9170;104.4460", None),
        ("0,9170,104,4460", None),
        ("0.917", None),
        ("lat,lng", None),
        ("91,104", None),
        ("0.9,181", None),
        ("nan,nan", None),
        ("inf,104", None),
        ("0,0", None),
        ("", None),
        (None, None),
        ([0.917, 104.446], None),
    ],
)
def test_location_strings(value: Any, expected: tuple[float, float] | None) -> None:
    assert coordinates_of(value) == expected
    complaint = _norm(_ticket(location=value))
    assert complaint.location is not None and complaint.location.address == "Jl. Sei Timun"
    got = complaint.location.latitude, complaint.location.longitude
    assert got == (expected if expected is not None else (None, None))


def test_no_location_and_no_address_is_no_location() -> None:
    assert _norm(_ticket(location="garbage", address=None)).location is None
    assert _norm(_ticket(location=None, address="   ")).location is None


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (0, Status.SUBMITTED),
        (1, Status.VERIFIED),
        (2, Status.IN_PROGRESS),
        (3, Status.DONE),
        (9, Status.REJECTED),
    ],
)
def test_status_codes(code: int, status: Status) -> None:
    complaint = _norm(_ticket(statusCode=code))
    assert (complaint.status, complaint.local_status) == (status, str(code))


@pytest.mark.parametrize("code", [4, 7, -1, "2", None, True, 2.0])
def test_unknown_status_codes_are_rejected(code: Any) -> None:
    with pytest.raises(NormalizeError, match="statusCode"):
        _norm(_ticket(statusCode=code))


def test_anonymous_has_no_reporter() -> None:
    complaint = _norm(_ticket(anonymous=True, userName=None, userPhone=None))
    assert complaint.anonymous is True and complaint.reporter is None
    # even if the app leaked the citizen's name on an anonymous ticket
    leaked = _norm(_ticket(anonymous=True))
    assert leaked.reporter is None


@pytest.mark.parametrize(
    ("phone", "expected"),
    [
        ("+6281234567890", "+6281234567890"),
        ("081234567890", "+6281234567890"),
        ("6281234567890", "+6281234567890"),
        ("0812-3456-7890", "+6281234567890"),
        (" +62 812 3456 7890 ", "+6281234567890"),
        ("12", None),
        ("bukan nomor", None),
        (None, None),
    ],
)
def test_phone_variants(phone: str | None, expected: str | None) -> None:
    reporter = _norm(_ticket(userPhone=phone)).reporter
    assert reporter is not None and reporter.name is not None
    got = reporter.phone.get_secret_value() if reporter.phone else None
    assert got == expected


def test_no_name_and_no_phone_is_no_reporter() -> None:
    assert _norm(_ticket(userName=None, userPhone=None)).reporter is None


@pytest.mark.parametrize("message", [None, "", "   \n ", 42])
def test_missing_message_is_a_normalize_error(message: Any) -> None:
    payload = _ticket(message=message)
    with pytest.raises(NormalizeError, match="message"):
        _norm(payload)
    without = _ticket()
    del without["message"]
    with pytest.raises(NormalizeError, match="message"):
        _norm(without)


@pytest.mark.parametrize("ticket_no", [None, "", 8812])
def test_missing_ticket_no_is_a_normalize_error(ticket_no: Any) -> None:
    with pytest.raises(NormalizeError, match="ticketNo"):
        _norm(_ticket(ticketNo=ticket_no))


@pytest.mark.parametrize(
    ("external", "expected"),
    [
        ([{"system": "lapor", "ref": "4123987"}], 4123987),
        ([{"system": "lapor", "ref": "#4123987"}], 4123987),
        ([{"system": "LAPOR", "ref": 4123987}], 4123987),
        ([{"system": "simpel", "ref": "X-1"}, {"system": "lapor", "ref": "77"}], 77),
        ([{"system": "simpel", "ref": "X-1"}], None),
        ([], None),
        (None, None),
        ([{"system": "lapor", "ref": ""}], None),
    ],
)
def test_external_lapor_link(external: Any, expected: int | None) -> None:
    assert _norm(_ticket(external=external)).national_id == expected


@pytest.mark.parametrize(
    "external", [[{"system": "lapor", "ref": "LPR-12"}], "4123987", ["lapor:4123987"]]
)
def test_bad_external_link_is_a_normalize_error(external: Any) -> None:
    with pytest.raises(NormalizeError, match="external"):
        _norm(_ticket(external=external))


def test_malformed_responses_and_photos_are_named() -> None:
    with pytest.raises(NormalizeError, match="responses"):
        _norm(_ticket(responses=[{"by": "PUPR", "text": "x", "at": 1601290000000}]))
    with pytest.raises(NormalizeError, match=r"responses\.at"):
        _norm(_ticket(responses=[{"id": "r-1", "by": "PUPR", "text": "x", "at": "kemarin"}]))
    with pytest.raises(NormalizeError, match="photos"):
        _norm(_ticket(photos="http://ujar.test/files/1/0"))
    assert _norm(_ticket(photos=[{"mime": "image/jpeg"}, None])).attachments == ()


def test_bad_flags_and_text_fields_are_named() -> None:
    with pytest.raises(NormalizeError, match="anonymous"):
        _norm(_ticket(anonymous="ya"))
    with pytest.raises(NormalizeError, match="address"):
        _norm(_ticket(address=12))
    with pytest.raises(NormalizeError, match="categoryCode"):
        _norm(_ticket(categoryCode=3))
    with pytest.raises(NormalizeError, match="not an object"):
        normalize([], source="ujar", region="21.72")  # type: ignore[arg-type]


@pytest.mark.parametrize("code", sorted(CATEGORIES))
def test_categories_map_both_ways(code: str) -> None:
    path = _norm(_ticket(categoryCode=code)).category
    assert path == CATEGORIES[code]
    assert local_category(path) == code


def test_category_fallbacks_and_overrides() -> None:
    assert category_of("XYZ") == "TOPIK LAINNYA"
    assert category_of(None) == "TOPIK LAINNYA"
    assert category_of("drn") == CATEGORIES["DRN"]
    assert _norm(_ticket(categoryCode=None)).local_category is None
    overrides = {"kbl": "ENERGI DAN SUMBER DAYA ALAM/KABEL", "PRK": "KETERTIBAN UMUM/PARKIR"}
    assert category_of("KBL", overrides) == "ENERGI DAN SUMBER DAYA ALAM/KABEL"
    assert _norm(_ticket(categoryCode="PRK"), overrides).category == "KETERTIBAN UMUM/PARKIR"
    assert local_category("KETERTIBAN UMUM/PARKIR", overrides) == "PRK"
    assert local_category("ENERGI DAN SUMBER DAYA ALAM", overrides) == "KBL"
    assert local_category("KETERTIBAN UMUM/PARKIR") == "LLN"
    assert local_category("NOT A CODE", {"XYZ": "NOT A CODE"}) == "LLN"


def test_reverse_category_prefers_exact_then_bare_topic() -> None:
    assert (
        local_category("pekerjaan umum dan penataan ruang/infrastruktur jalan/jalan berlubang")
        == "JLN"
    )
    assert local_category("PEKERJAAN UMUM DAN PENATAAN RUANG/JEMBATAN") == "KBL"
    assert local_category("PERHUBUNGAN/TERMINAL") == "PJU"
    assert local_category("KESEHATAN") == "LLN"
    assert local_category("TOPIK LAINNYA") == "LLN"


def test_contract_suite_kit_round_trips(tmp_path: Path) -> None:
    """The kit and the adapter agree on a random sample (status, link, responses)."""
    kit = UjarKit()
    kit.sandbox.start()
    try:
        kit.sandbox.seed_sample(random.Random(11), 40)
        src = kit.source("city", "acct")
        try:
            complaints = [src.normalize(r) for p in src.pull(None) for r in p.records]
        finally:
            src.close()
    finally:
        kit.sandbox.stop()
    assert sorted(c.local_id for c in complaints) == sorted(kit.records())
    for complaint in complaints:
        assert complaint.status == kit.status_of(complaint.local_id)
        assert complaint.title == ""
        assert (
            complaint.reporter is None
            or complaint.reporter.phone is None
            or (complaint.reporter.phone.get_secret_value().startswith("+62"))
        )
