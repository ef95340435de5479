"""The Ujar sandbox answers as ``contract/ujar.md`` says, over real sockets."""

from __future__ import annotations

import io
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from PIL import Image

from adapters.local import sample
from adapters.sandbox.ujar import CATEGORY_CODES, STATUS_CODES, UjarSandbox, to_ms

CLIENT_ID = "bridge-uji"
SECRET = "rahasia-uji"
START = datetime(2020, 9, 28, 3, 15, 0, tzinfo=UTC)
TICKET_KEYS = {
    "ticketNo",
    "userName",
    "userPhone",
    "anonymous",
    "message",
    "categoryCode",
    "location",
    "address",
    "photos",
    "statusCode",
    "external",
    "responses",
    "createdAt",
    "updatedAt",
}


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
def sandbox(clock: Clock) -> Iterator[UjarSandbox]:
    server = UjarSandbox(CLIENT_ID, SECRET)
    server.now = clock
    with server:
        yield server


@pytest.fixture
def http(sandbox: UjarSandbox) -> Iterator[httpx.Client]:
    """A client without credentials."""
    with httpx.Client(base_url=sandbox.url, timeout=60) as client:
        yield client


def get_token(http: httpx.Client) -> str:
    form = {"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": SECRET}
    response = http.post("/oauth/token", data=form)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


@pytest.fixture
def client(sandbox: UjarSandbox, http: httpx.Client) -> Iterator[httpx.Client]:
    """A client with a fresh bearer token."""
    headers = {"Authorization": f"Bearer {get_token(http)}"}
    with httpx.Client(base_url=sandbox.url, headers=headers, timeout=60) as authed:
        yield authed


def changes(client: httpx.Client, cursor: str | None = None, limit: int = 100) -> dict[str, Any]:
    params: dict[str, Any] = {"limit": limit}
    if cursor is not None:
        params["cursor"] = cursor
    response = client.get("/v2/tickets/changes", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def walk(client: httpx.Client, cursor: str | None = None, limit: int = 100) -> list[str]:
    """Every ticketNo the feed delivers from ``cursor`` to the end."""
    delivered: list[str] = []
    for _ in range(1000):
        page = changes(client, cursor, limit)
        delivered += [item["ticketNo"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            return delivered
    raise AssertionError("the feed never ended")


def new_ticket_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "message": "Genangan air setinggi lutut setelah hujan di depan SD 005",
        "categoryCode": "DRN",
        "location": "0.9170,104.4460",
        "address": "Jl. Sei Timun",
        "userName": "Budi Santoso",
        "userPhone": "+6281234567890",
        "anonymous": False,
        "external": [{"system": "lapor", "ref": "4123987"}],
    }
    body.update(overrides)
    return body


# --- OAuth ------------------------------------------------------------------


def test_token_flow(sandbox: UjarSandbox, http: httpx.Client) -> None:
    ticket = sandbox.add_ticket()
    form = {"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": SECRET}
    body = http.post("/oauth/token", data=form).json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 600
    assert body["access_token"]
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    response = http.get(f"/v2/tickets/{ticket['ticketNo']}", headers=headers)
    assert response.status_code == 200
    assert response.json() == ticket


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        ({"client_id": CLIENT_ID, "client_secret": "salah"}, 401, "invalid_client"),
        ({"client_id": "orang-lain", "client_secret": SECRET}, 401, "invalid_client"),
        ({"client_id": CLIENT_ID}, 401, "invalid_client"),
        ({"grant_type": "password", "client_id": CLIENT_ID}, 400, "unsupported_grant_type"),
    ],
)
def test_bad_token_requests(
    http: httpx.Client, form: dict[str, str], status: int, error: str
) -> None:
    response = http.post("/oauth/token", data={"grant_type": "client_credentials", **form})
    assert response.status_code == status
    assert response.json()["error"] == error


@pytest.mark.parametrize("authorization", [None, "Bearer nope", "Basic abc", "Bearer"])
def test_missing_or_unknown_token_is_401(http: httpx.Client, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = http.get("/v2/tickets/changes", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


def test_token_expires_after_its_ttl(http: httpx.Client, clock: Clock) -> None:
    headers = {"Authorization": f"Bearer {get_token(http)}"}
    clock.advance(599)
    assert http.get("/v2/tickets/changes", headers=headers).status_code == 200
    clock.advance(1)
    response = http.get("/v2/tickets/changes", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    fresh = {"Authorization": f"Bearer {get_token(http)}"}
    assert http.get("/v2/tickets/changes", headers=fresh).status_code == 200


def test_expire_tokens_invalidates_every_token(
    sandbox: UjarSandbox, client: httpx.Client, http: httpx.Client
) -> None:
    ticket = sandbox.add_ticket()
    url = sandbox.add_photo(ticket["ticketNo"], b"\xff\xd8\xff")
    assert client.get(url).status_code == 200
    sandbox.expire_tokens()
    for path in ("/v2/tickets/changes", f"/v2/tickets/{ticket['ticketNo']}", url):
        response = client.get(path)
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_token"
    headers = {"Authorization": f"Bearer {get_token(http)}"}
    assert http.get(url, headers=headers).status_code == 200


# --- the changes feed ------------------------------------------------------


def test_feed_pages_through_changes_oldest_first(
    sandbox: UjarSandbox, client: httpx.Client, clock: Clock
) -> None:
    numbers = [sandbox.add_ticket()["ticketNo"] for _ in range(5)]
    clock.advance(1)
    sandbox.set_status(numbers[0], 1)
    clock.advance(1)
    sandbox.respond(numbers[0], "PUPR", "Tim menuju lokasi.")

    first = changes(client, limit=3)
    assert [i["ticketNo"] for i in first["items"]] == numbers[:3]
    assert first["has_more"] is True
    # the feed shows the current state, even for an old change
    assert first["items"][0]["statusCode"] == 1
    assert len(first["items"][0]["responses"]) == 1

    second = changes(client, first["next_cursor"], limit=3)
    assert [i["ticketNo"] for i in second["items"]] == [numbers[3], numbers[4], numbers[0]]
    assert second["has_more"] is True
    third = changes(client, second["next_cursor"], limit=3)
    assert [i["ticketNo"] for i in third["items"]] == [numbers[0]]  # changed twice, comes twice
    assert third["has_more"] is False

    # caught up: nothing new, then a new change comes after the cursor
    idle = changes(client, third["next_cursor"])
    assert idle == {"items": [], "next_cursor": idle["next_cursor"], "has_more": False}
    clock.advance(1)
    sandbox.edit_ticket(numbers[2], message="Air sudah surut tapi parit masih tersumbat.")
    later = changes(client, idle["next_cursor"])
    assert [i["ticketNo"] for i in later["items"]] == [numbers[2]]
    assert later["items"][0]["updatedAt"] == to_ms(clock.moment)
    assert walk(client) == sandbox.change_log()


def test_restarting_from_an_older_cursor_delivers_again(
    sandbox: UjarSandbox, client: httpx.Client
) -> None:
    numbers = [sandbox.add_ticket()["ticketNo"] for _ in range(4)]
    first = changes(client, limit=2)
    changes(client, first["next_cursor"], limit=2)
    again = changes(client, first["next_cursor"], limit=2)
    assert [i["ticketNo"] for i in again["items"]] == numbers[2:]


@pytest.mark.parametrize("limit", ["0", "201", "-1", "banyak"])
def test_limit_outside_1_to_200_is_422(client: httpx.Client, limit: str) -> None:
    response = client.get("/v2/tickets/changes", params={"limit": limit})
    assert response.status_code == 422
    assert set(response.json()) == {"error", "message"}


def test_limit_defaults_to_100_and_allows_200(sandbox: UjarSandbox, client: httpx.Client) -> None:
    for _ in range(250):
        sandbox.add_ticket(message="Lampu jalan mati.", categoryCode="PJU")
    assert len(client.get("/v2/tickets/changes").json()["items"]) == 100
    assert len(changes(client, limit=200)["items"]) == 200


def test_redelivery_resends_items_from_before_the_cursor(
    sandbox: UjarSandbox, client: httpx.Client
) -> None:
    numbers = [sandbox.add_ticket()["ticketNo"] for _ in range(30)]
    sandbox.redeliver(1.0)
    first = changes(client, limit=10)  # no cursor: nothing before it
    assert [i["ticketNo"] for i in first["items"]] == numbers[:10]
    second = changes(client, first["next_cursor"], limit=10)
    delivered = [i["ticketNo"] for i in second["items"]]
    assert len(delivered) == 10
    assert delivered[0] in numbers[:10]  # came again
    assert delivered[-1] in numbers[10:]  # and the page still moved on

    everything = walk(client, limit=10)
    assert set(everything) == set(numbers)
    assert len(everything) > len(numbers)
    assert everything[-1] == numbers[-1]

    sandbox.redeliver(0.0)
    assert walk(client, limit=10) == numbers


def test_redelivery_at_a_random_rate_still_reaches_the_end(
    sandbox: UjarSandbox, client: httpx.Client
) -> None:
    sandbox.seed_sample(random.Random(4), 60, photos=False)
    sandbox.redeliver(0.5)
    delivered = walk(client, limit=7)
    assert set(delivered) == {t["ticketNo"] for t in sandbox.all_tickets()}
    assert len(delivered) > len(sandbox.change_log())


def test_expire_cursors_makes_old_cursors_410(sandbox: UjarSandbox, client: httpx.Client) -> None:
    numbers = [sandbox.add_ticket()["ticketNo"] for _ in range(3)]
    page = changes(client, limit=2)
    sandbox.expire_cursors()
    response = client.get("/v2/tickets/changes", params={"cursor": page["next_cursor"]})
    assert response.status_code == 410
    assert response.json()["error"] == "cursor_expired"
    # starting again with no cursor works, and its cursors are good
    restart = changes(client, limit=2)
    assert [i["ticketNo"] for i in restart["items"]] == numbers[:2]
    assert [i["ticketNo"] for i in changes(client, restart["next_cursor"])["items"]] == [numbers[2]]


def test_cursors_expire_after_seven_days(
    sandbox: UjarSandbox, client: httpx.Client, http: httpx.Client, clock: Clock
) -> None:
    sandbox.add_ticket()
    cursor = changes(client)["next_cursor"]
    clock.advance(7 * 24 * 3600)
    headers = {"Authorization": f"Bearer {get_token(http)}"}
    assert http.get("/v2/tickets/changes", params={"cursor": cursor}, headers=headers).is_success
    clock.advance(1)
    headers = {"Authorization": f"Bearer {get_token(http)}"}
    response = http.get("/v2/tickets/changes", params={"cursor": cursor}, headers=headers)
    assert response.status_code == 410
    assert response.json()["error"] == "cursor_expired"


@pytest.mark.parametrize("cursor", ["abc", "!!!", "eyJnIjowfQ"])
def test_a_cursor_that_is_not_ours_is_400(client: httpx.Client, cursor: str) -> None:
    response = client.get("/v2/tickets/changes", params={"cursor": cursor})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_cursor"


# --- tickets ----------------------------------------------------------------


def test_ticket_object_has_the_contract_shape(sandbox: UjarSandbox, clock: Clock) -> None:
    ticket = sandbox.add_ticket(location="0.9170,104.4460", userPhone="+6281234567890")
    assert set(ticket) == TICKET_KEYS
    assert ticket["ticketNo"].startswith("UJR-")
    assert ticket["statusCode"] == 0
    assert ticket["location"] == "0.9170,104.4460"
    assert ticket["createdAt"] == ticket["updatedAt"] == 1601262900000 == to_ms(clock.moment)
    assert ticket["categoryCode"] in CATEGORY_CODES
    anonymous = sandbox.add_ticket(anonymous=True, location=None)
    assert anonymous["userName"] is None
    assert anonymous["userPhone"] is None
    assert anonymous["location"] is None


def test_unknown_ticket_is_404(client: httpx.Client) -> None:
    response = client.get("/v2/tickets/UJR-999")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    assert client.get("/v2/tidak-ada").json()["error"] == "not_found"


def test_create_answers_201_without_idempotency(sandbox: UjarSandbox, client: httpx.Client) -> None:
    response = client.post("/v2/tickets", json=new_ticket_body())
    assert response.status_code == 201
    ticket = response.json()
    assert ticket == sandbox.ticket(ticket["ticketNo"])
    assert ticket["external"] == [{"system": "lapor", "ref": "4123987"}]
    assert ticket["statusCode"] == 0
    assert ticket["responses"] == []
    again = client.post("/v2/tickets", json=new_ticket_body()).json()
    assert again["ticketNo"] != ticket["ticketNo"]
    assert [t["ticketNo"] for t in sandbox.all_tickets()] == [ticket["ticketNo"], again["ticketNo"]]
    assert [i["ticketNo"] for i in changes(client)["items"]] == [
        ticket["ticketNo"],
        again["ticketNo"],
    ]


def test_create_anonymous_drops_the_user(client: httpx.Client) -> None:
    ticket = client.post("/v2/tickets", json=new_ticket_body(anonymous=True)).json()
    assert ticket["anonymous"] is True
    assert ticket["userName"] is None
    assert ticket["userPhone"] is None


@pytest.mark.parametrize(
    "overrides",
    [
        {"categoryCode": "BANJIR"},
        {"message": ""},
        {"location": "0.9170;104.4460"},
        {"location": {"lat": 0.9, "lng": 104.4}},
        {"anonymous": "no"},
        {"external": {"system": "lapor", "ref": "1"}},
    ],
)
def test_create_with_bad_values_is_422(client: httpx.Client, overrides: dict[str, Any]) -> None:
    response = client.post("/v2/tickets", json=new_ticket_body(**overrides))
    assert response.status_code == 422
    assert set(response.json()) == {"error", "message"}


def test_external_link_replaces_the_same_system(
    sandbox: UjarSandbox, client: httpx.Client, clock: Clock
) -> None:
    number = sandbox.add_ticket(external=[{"system": "tanjak", "ref": "1234"}])["ticketNo"]
    clock.advance(5)
    url = f"/v2/tickets/{number}/external"
    first = client.put(url, json={"system": "lapor", "ref": "111"})
    assert first.status_code == 200
    assert first.json()["external"] == [
        {"system": "tanjak", "ref": "1234"},
        {"system": "lapor", "ref": "111"},
    ]
    assert first.json()["updatedAt"] == to_ms(clock.moment)
    second = client.put(url, json={"system": "lapor", "ref": "222"}).json()
    assert second["external"] == [
        {"system": "tanjak", "ref": "1234"},
        {"system": "lapor", "ref": "222"},
    ]
    assert sandbox.ticket(number) == second
    assert client.put(url, json={"system": "lapor"}).status_code == 422
    assert (
        client.put("/v2/tickets/UJR-99/external", json={"system": "a", "ref": "b"}).status_code
        == 404
    )


def test_status_put_accepts_known_codes_only(sandbox: UjarSandbox, client: httpx.Client) -> None:
    number = sandbox.add_ticket()["ticketNo"]
    url = f"/v2/tickets/{number}/status"
    for code in STATUS_CODES:
        response = client.put(url, json={"statusCode": code})
        assert response.status_code == 200
        assert response.json()["statusCode"] == code
    for bad in (4, 7, "2", True, None):
        response = client.put(url, json={"statusCode": bad})
        assert response.status_code == 422
        assert response.json()["error"] == "invalid_status"
    assert sandbox.ticket(number)["statusCode"] == 9


def test_responses_post_answers_201(
    sandbox: UjarSandbox, client: httpx.Client, clock: Clock
) -> None:
    number = sandbox.add_ticket()["ticketNo"]
    from_agency = sandbox.respond(number, "PUPR", "Tim menuju lokasi.")
    clock.advance(60)
    body = {"by": "LAPOR", "text": "Tindak lanjut.", "at": 1601290000000, "clientRef": "b:1"}
    response = client.post(f"/v2/tickets/{number}/responses", json=body)
    assert response.status_code == 201
    posted = response.json()
    assert posted == {"id": posted["id"], **body}
    assert posted["id"].startswith("r-")
    assert posted["id"] != from_agency["id"]
    again = client.post(f"/v2/tickets/{number}/responses", json=body).json()
    assert again["id"] not in (posted["id"], from_agency["id"])
    ticket = sandbox.ticket(number)
    assert [r["id"] for r in ticket["responses"]] == [from_agency["id"], posted["id"], again["id"]]
    assert ticket["updatedAt"] == to_ms(clock.moment)
    for bad in ({"text": "x"}, {"by": "x", "text": ""}, {"by": "x", "text": "y", "at": "kemarin"}):
        assert client.post(f"/v2/tickets/{number}/responses", json=bad).status_code == 422


def test_a_body_that_is_not_json_is_400(sandbox: UjarSandbox, client: httpx.Client) -> None:
    response = client.post("/v2/tickets", content=b"message=x")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_json"


def test_files_are_served_with_the_token(sandbox: UjarSandbox, client: httpx.Client) -> None:
    rng = random.Random(8)
    big = sample.make_jpeg(rng, 2000, 2000)
    assert len(big) > 2 * 1024 * 1024
    number = sandbox.add_ticket()["ticketNo"]
    urls = [
        sandbox.add_photo(number, big),
        sandbox.add_photo(number, b"GIF89a not really", "image/gif"),
    ]
    photos = sandbox.ticket(number)["photos"]
    assert photos == [
        {"url": f"{sandbox.url}/files/{number}/0", "mime": "image/jpeg"},
        {"url": f"{sandbox.url}/files/{number}/1", "mime": "image/gif"},
    ]
    assert [p["url"] for p in photos] == urls
    response = client.get(urls[0])
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/jpeg"
    assert response.content == big
    assert client.get(urls[1]).content == b"GIF89a not really"
    assert client.get(f"/files/{number}/2").status_code == 404
    assert httpx.get(urls[0]).status_code == 401

    sandbox.add_photo(number, b"x")
    with pytest.raises(ValueError):
        sandbox.add_photo(number, b"x")  # three at most


def test_injected_faults_use_ujar_error_shape(sandbox: UjarSandbox, client: httpx.Client) -> None:
    sandbox.faults.inject("429", path=r"/changes$", retry_after=3)
    sandbox.faults.inject("500", path=r"/changes$")
    response = client.get("/v2/tickets/changes")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "3"
    assert set(response.json()) == {"error", "message"}
    response = client.get("/v2/tickets/changes")
    assert response.status_code == 500
    assert set(response.json()) == {"error", "message"}


# --- control API and sample data ------------------------------------------


def test_control_api(sandbox: UjarSandbox, clock: Clock) -> None:
    ticket = sandbox.add_ticket(categoryCode="PHN")
    assert ticket["categoryCode"] == "PHN"
    number = ticket["ticketNo"]
    clock.advance(2)
    assert sandbox.set_status(number, 2)["updatedAt"] == to_ms(clock.moment)
    with pytest.raises(ValueError):
        sandbox.set_status(number, 5)
    with pytest.raises(TypeError):
        sandbox.edit_ticket(number, title="x")
    with pytest.raises(KeyError):
        sandbox.ticket("UJR-404")
    corrupted = sandbox.corrupt(number, statusCode=7)
    assert corrupted["statusCode"] == 7
    assert sandbox.change_log() == [number, number, number]
    assert sandbox.set_status(number, 3)["statusCode"] == 3


def test_seed_sample_is_realistic(sandbox: UjarSandbox, client: httpx.Client) -> None:
    seeded = sandbox.seed_sample(random.Random(12), 200)
    assert seeded == sandbox.all_tickets()
    anonymous = [t for t in seeded if t["anonymous"]]
    assert 20 <= len(anonymous) <= 65
    assert all(t["userName"] is None and t["userPhone"] is None for t in anonymous)
    assert any(t["location"] is None for t in seeded)
    assert {t["categoryCode"] for t in seeded} == set(CATEGORY_CODES)
    assert {t["statusCode"] for t in seeded} == set(STATUS_CODES)
    assert any(t["photos"] for t in seeded)
    assert all(len(t["photos"]) <= 3 for t in seeded)
    phones = [t["userPhone"] for t in seeded if t["userPhone"] is not None]
    assert any(p.startswith("+62") for p in phones)
    assert any(not p.startswith("+62") for p in phones)
    for ticket in seeded:
        assert set(ticket) == TICKET_KEYS
        assert ticket["createdAt"] <= ticket["updatedAt"] <= to_ms(START)
    # every seeded event is in the log, oldest first
    log = sandbox.change_log()
    assert len(log) > len(seeded)
    delivered = [t["ticketNo"] for t in changes(client, limit=200)["items"]]
    assert delivered == log[:200]
    for url in [p["url"] for t in seeded[:20] for p in t["photos"]]:
        Image.open(io.BytesIO(client.get(url).content)).verify()
