"""The Open311 sandbox speaks shared/contract/open311.md and validates against the standard.

The schemas in shared/open311-schema/ carry no ``$id``: ``requests.json``
refers to its items as ``"$ref": "request.json"`` (``services.json`` to
``service.json``), relative to a root without a base URI. So every file is
registered under its bare file name, and the draft-04 validator (the files
are draft-04 style) resolves the reference to that name. There is no schema
for the ``servicerequestupdates`` extension: its shape is checked with a
small schema written from the contract.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import jsonschema  # type: ignore[import-untyped,unused-ignore]
import pytest
from referencing import Registry
from referencing.jsonschema import DRAFT4

from adapters.sandbox.open311 import UPDATE_STATUSES, Open311Sandbox

# the standard's schemas, vendored unchanged from shared/open311-schema/
SCHEMAS = Path(__file__).resolve().parent / "open311_schema"
KEY = "kunci-uji"
NOW = datetime(2026, 3, 9, 3, 0, tzinfo=UTC)
W3C_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")

UPDATES_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["service_request_updates"],
    "properties": {
        "service_request_updates": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["update_id", "service_request_id", "status", "updated_datetime"],
                "properties": {
                    "update_id": {"type": "string"},
                    "service_request_id": {"type": "string"},
                    "status": {"enum": [*UPDATE_STATUSES, *(s.upper() for s in UPDATE_STATUSES)]},
                    "updated_datetime": {"type": "string", "format": "date-time"},
                    "description": {"type": ["string", "null"]},
                    "media_url": {"type": ["string", "null"], "format": "uri"},
                    "external_status_code": {"type": ["string", "null"]},
                },
            },
        }
    },
}


def _is_w3c_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if W3C_TIME.fullmatch(value) is None:
        return False
    datetime.fromisoformat(value)  # raises on 31 February and the like
    return True


def _is_uri(value: object) -> bool:
    if not isinstance(value, str):
        return True
    parts = urlsplit(value)
    return bool(parts.scheme and parts.netloc)


# the format checks jsonschema would need extra packages for, written out
FORMATS = jsonschema.FormatChecker(formats=())
FORMATS.checks("date-time", raises=ValueError)(_is_w3c_time)
FORMATS.checks("uri")(_is_uri)


def _registry() -> Registry[Any]:
    resources = [
        (path.name, DRAFT4.create_resource(json.loads(path.read_text(encoding="utf-8"))))
        for path in SCHEMAS.glob("*.json")
        if path.name != "swagger.json"
    ]
    return Registry().with_resources(resources)


def validate(schema_file: str | dict[str, Any], document: Any) -> None:
    """Raise jsonschema.ValidationError unless ``document`` matches the schema."""
    if isinstance(schema_file, str):
        schema = json.loads((SCHEMAS / schema_file).read_text(encoding="utf-8"))
    else:
        schema = schema_file
    validator = jsonschema.Draft4Validator(schema, registry=_registry(), format_checker=FORMATS)
    validator.validate(document)


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
def make_sandbox(clock: Clock) -> Iterator[Callable[..., Open311Sandbox]]:
    started: list[Open311Sandbox] = []

    def make(**options: Any) -> Open311Sandbox:
        server = Open311Sandbox(KEY, now=clock, **options)
        server.start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def sandbox(make_sandbox: Callable[..., Open311Sandbox]) -> Open311Sandbox:
    return make_sandbox()


@pytest.fixture
def client(sandbox: Open311Sandbox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.base_url, timeout=60) as c:
        yield c


def _window(days: float, end: datetime = NOW) -> dict[str, str]:
    return {
        "start_date": (end - timedelta(days=days)).isoformat(),
        "end_date": end.isoformat(),
    }


def _new_request_form(**extra: str) -> dict[str, str]:
    return {
        "api_key": KEY,
        "service_code": "PJU",
        "lat": "0.918600",
        "long": "104.455400",
        "description": "Lampu jalan mati di Jl. Ganet depan SD 005 sudah 3 hari.",
        "first_name": "Siti",
        "last_name": "Aminah",
        "phone": "+6281234567890",
        "email": "siti@example.id",
        "attribute[external_id]": "#9165816",
        **extra,
    }


# --- schemas ------------------------------------------------------------------


def test_the_schema_check_is_not_vacuous() -> None:
    good = {
        "service_request_id": "1",
        "status": "open",
        "service_code": "PJU",
        "requested_datetime": "2026-03-09T03:00:00Z",
    }
    validate("requests.json", [good])
    for bad in (
        {**good, "status": "in_progress"},
        {**good, "requested_datetime": "2026-03-09T03:00:00"},
        {**good, "lat": "0.9"},
        {**good, "media_url": "foto.jpg"},
    ):
        with pytest.raises(jsonschema.ValidationError):
            validate("requests.json", [bad])


def test_services_validate_and_cover_the_usual_kinds(client: httpx.Client) -> None:
    services = client.get("/services.json").json()
    validate("services.json", services)
    codes = {s["service_code"] for s in services}
    assert {"DRAINASE", "SAMPAH", "PJU", "JALAN", "POHON", "PARKIR", "LAIN"} <= codes
    assert all(s["group"] for s in services)


@pytest.mark.parametrize("offset", ["Z", "+07:00"])
def test_requests_and_single_request_validate(
    make_sandbox: Callable[..., Open311Sandbox], offset: str
) -> None:
    sandbox = make_sandbox(utc_offset=offset)
    ids = sandbox.seed_sample(random.Random(3), 40)
    with httpx.Client(base_url=sandbox.base_url, timeout=60) as client:
        requests = client.get("/requests.json").json()
        validate("requests.json", requests)
        assert {r["service_request_id"] for r in requests} == set(ids)
        assert {r["status"] for r in requests} == {"open", "closed"}
        assert any(r["lat"] is None for r in requests)  # some carry an address only
        assert all(r["requested_datetime"].endswith(offset) for r in requests)

        one = client.get(f"/requests/{ids[0]}.json").json()
        validate("requests.json", one)
        assert len(one) == 1
        assert one[0]["service_request_id"] == ids[0]


def test_updates_feed_validates(sandbox: Open311Sandbox) -> None:
    sandbox.seed_sample(random.Random(5), 30)
    with httpx.Client(base_url=sandbox.base_url, timeout=60) as client:
        feed = client.get("/servicerequestupdates.json", params={"api_key": KEY}).json()
    validate(UPDATES_SCHEMA, feed)
    updates = feed["service_request_updates"]
    assert updates
    assert updates == sandbox.updates()
    times = [datetime.fromisoformat(u["updated_datetime"]) for u in updates]
    assert times == sorted(times)


# --- reading ------------------------------------------------------------------


def test_a_window_over_90_days_is_refused(sandbox: Open311Sandbox, client: httpx.Client) -> None:
    for path, extra in (("/requests.json", {}), ("/servicerequestupdates.json", {"api_key": KEY})):
        answer = client.get(path, params={**_window(91), **extra})
        assert answer.status_code == 400
        body = answer.json()
        assert isinstance(body, list)
        assert body[0]["code"] == 400
        assert "90 days" in body[0]["description"]
        assert client.get(path, params={**_window(90), **extra}).status_code == 200


def test_default_window_is_the_last_90_days(sandbox: Open311Sandbox, client: httpx.Client) -> None:
    old = sandbox.add_request(address="Jl. Merdeka", requested_datetime=NOW - timedelta(days=91))
    new = sandbox.add_request(address="Jl. Merdeka", requested_datetime=NOW - timedelta(days=89))
    ids = [r["service_request_id"] for r in client.get("/requests.json").json()]
    assert ids == [new["service_request_id"]]
    older = client.get("/requests.json", params=_window(30, NOW - timedelta(days=90))).json()
    assert [r["service_request_id"] for r in older] == [old["service_request_id"]]


def test_times_without_an_offset_are_refused(client: httpx.Client) -> None:
    answer = client.get("/requests.json", params={"start_date": "2026-03-01T00:00:00"})
    assert answer.status_code == 400


def test_the_answer_is_cut_at_1000_newest_first(
    sandbox: Open311Sandbox, client: httpx.Client
) -> None:
    start = NOW - timedelta(days=2)
    ids = sandbox.seed_bulk(1500, start, NOW - timedelta(days=1))
    first = client.get("/requests.json", params=_window(10)).json()
    assert len(first) == 1000
    assert [r["service_request_id"] for r in first] == ids[::-1][:1000]
    # narrowing the window to the oldest time seen gets the rest
    oldest = first[-1]["requested_datetime"]
    rest = client.get(
        "/requests.json", params={"start_date": start.isoformat(), "end_date": oldest}
    ).json()
    seen = {r["service_request_id"] for r in first} | {r["service_request_id"] for r in rest}
    assert seen == set(ids)


def test_status_filter(sandbox: Open311Sandbox, client: httpx.Client) -> None:
    done = sandbox.add_request(service_code="SAMPAH", address="Jl. Pramuka")
    sandbox.add_request(service_code="SAMPAH", address="Jl. Pramuka")
    sandbox.add_update(done["service_request_id"], "fixed", "Sudah diangkut.")
    closed = client.get("/requests.json", params={"status": "closed"}).json()
    assert [r["service_request_id"] for r in closed] == [done["service_request_id"]]
    assert len(client.get("/requests.json", params={"status": "open,closed"}).json()) == 2
    assert client.get("/requests.json", params={"status": "fixed"}).status_code == 400


def test_unknown_request_is_a_404_array(client: httpx.Client) -> None:
    answer = client.get("/requests/999.json")
    assert answer.status_code == 404
    assert answer.json()[0]["code"] == 404
    assert client.get("/services.xml").status_code == 400


# --- writing ------------------------------------------------------------------


def test_create_answers_the_new_id(sandbox: Open311Sandbox, client: httpx.Client) -> None:
    answer = client.post("/requests.json", data=_new_request_form())
    assert answer.status_code == 200
    [created] = answer.json()
    request = sandbox.request(created["service_request_id"])
    assert request["attributes"] == {"external_id": "#9165816"}
    assert (request["lat"], request["long"]) == (0.9186, 104.4554)
    assert request["requested_datetime"] == "2026-03-09T03:00:00Z"
    assert request["status"] == "open"
    assert (request["first_name"], request["phone"]) == ("Siti", "+6281234567890")
    public = client.get(f"/requests/{created['service_request_id']}.json").json()
    validate("requests.json", public)
    assert "phone" not in public[0]


def test_create_with_an_address_only(sandbox: Open311Sandbox, client: httpx.Client) -> None:
    form = _new_request_form(address_string="Jl. Ganet, Batu IX", lat="", long="")
    [created] = client.post("/requests.json", data=form).json()
    request = sandbox.request(created["service_request_id"])
    assert request["lat"] is None
    assert request["address"] == "Jl. Ganet, Batu IX"


@pytest.mark.parametrize(
    ("change", "body_code"),
    [
        ({"description": "x" * 4001}, 400),
        ({"lat": "", "long": ""}, 400),
        ({"lat": "0.9", "long": ""}, 400),
        ({"service_code": "TIDAK_ADA"}, 404),  # HTTP 400, body code 404
        ({"media_url": "foto.jpg"}, 400),
    ],
)
def test_bad_creates_are_400(
    sandbox: Open311Sandbox, client: httpx.Client, change: dict[str, str], body_code: int
) -> None:
    answer = client.post("/requests.json", data=_new_request_form(**change))
    assert answer.status_code == 400
    assert answer.json()[0]["code"] == body_code
    assert sandbox.all_requests() == []


def test_a_description_of_4000_characters_is_accepted(client: httpx.Client) -> None:
    answer = client.post("/requests.json", data=_new_request_form(description="x" * 4000))
    assert answer.status_code == 200


def test_queued_create_gives_a_token_that_resolves_after_polls(
    make_sandbox: Callable[..., Open311Sandbox], clock: Clock
) -> None:
    sandbox = make_sandbox(queued=True, token_polls=2)
    with httpx.Client(base_url=sandbox.base_url, timeout=60) as client:
        answer = client.post("/requests.json", data=_new_request_form())
        [queued] = answer.json()
        assert set(queued) == {"token"}
        assert sandbox.all_requests() == []
        clock.moment = NOW + timedelta(minutes=5)
        for _ in range(2):
            assert client.get(f"/tokens/{queued['token']}.json").json() == [
                {"token": queued["token"]}
            ]
        [resolved] = client.get(f"/tokens/{queued['token']}.json").json()
        assert resolved["token"] == queued["token"]
        request_id = resolved["service_request_id"]
        # polled again, the same id: the token resolves once
        again = client.get(f"/tokens/{queued['token']}.json").json()
        assert again[0]["service_request_id"] == request_id
        [request] = client.get(f"/requests/{request_id}.json").json()
        assert request["requested_datetime"] == "2026-03-09T03:00:00Z"
        assert client.get("/tokens/nope.json").status_code == 404


def test_resolve_tokens_control(make_sandbox: Callable[..., Open311Sandbox]) -> None:
    sandbox = make_sandbox(queued=True)
    with httpx.Client(base_url=sandbox.base_url, timeout=60) as client:
        tokens = [
            client.post("/requests.json", data=_new_request_form()).json()[0]["token"]
            for _ in range(3)
        ]
        assert sorted(sandbox.pending_tokens()) == sorted(tokens)
        resolved = sandbox.resolve_tokens()
        assert sorted(resolved) == sorted(tokens)
        assert sandbox.pending_tokens() == []
        [answer] = client.get(f"/tokens/{tokens[0]}.json").json()
        assert answer["service_request_id"] == resolved[tokens[0]]


def test_posting_updates_and_duplicate_update_id(
    sandbox: Open311Sandbox, client: httpx.Client
) -> None:
    request_id = sandbox.add_request(address="Jl. Ganet")["service_request_id"]
    form = {
        "api_key": KEY,
        "service_request_id": request_id,
        "update_id": "bridge-fu-1",
        "status": "FIXED",
        "updated_datetime": "2026-03-09T10:00:00+07:00",
        "description": "Lampu sudah diganti.",
    }
    answer = client.post("/servicerequestupdates.json", data=form)
    assert answer.status_code == 200
    assert answer.json() == [{"update_id": "bridge-fu-1"}]

    again = client.post("/servicerequestupdates.json", data={**form, "status": "IN_PROGRESS"})
    assert again.status_code == 400
    [error] = again.json()
    assert error["code"] == 400
    assert "already exists" in error["description"]

    request = sandbox.request(request_id)
    assert (request["status"], request["extended_status"]) == ("closed", "fixed")
    assert request["status_notes"] == "Lampu sudah diganti."
    assert request["updated_datetime"] == "2026-03-09T03:00:00Z"
    assert [u["status"] for u in sandbox.updates()] == ["FIXED"]

    lower = client.post(
        "/servicerequestupdates.json", data={**form, "update_id": "x2", "status": "fixed"}
    )
    assert lower.status_code == 400
    sandbox.add_update(request_id, "reopen", "Warga melapor lampu mati lagi.")
    assert sandbox.request(request_id)["status"] == "open"
    assert sandbox.updates()[-1]["status"] == "reopen"


def test_api_key_is_required_on_writes_and_the_updates_feed(
    sandbox: Open311Sandbox, client: httpx.Client
) -> None:
    for key in (None, "salah"):
        form = _new_request_form()
        if key is None:
            del form["api_key"]
        else:
            form["api_key"] = key
        answer = client.post("/requests.json", data=form)
        assert answer.status_code == 403
        assert answer.json()[0]["code"] == 403
        feed = client.get("/servicerequestupdates.json", params={"api_key": key or ""})
        assert feed.status_code == 403
        assert isinstance(feed.json()[0]["description"], str)
    assert client.get("/requests.json").status_code == 200
    assert sandbox.all_requests() == []


def test_jurisdiction_id_is_required_when_configured(
    make_sandbox: Callable[..., Open311Sandbox],
) -> None:
    sandbox = make_sandbox(jurisdiction_id="kota.example")
    with httpx.Client(base_url=sandbox.base_url, timeout=60) as client:
        assert client.get("/services.json").status_code == 400
        wrong = client.get("/services.json", params={"jurisdiction_id": "lain.example"})
        assert wrong.status_code == 404
        assert wrong.json()[0]["code"] == 404
        right = client.get("/services.json", params={"jurisdiction_id": "kota.example"})
        assert right.status_code == 200
        form = _new_request_form(jurisdiction_id="kota.example")
        assert client.post("/requests.json", data=form).status_code == 200


def test_injected_5xx_is_an_error_array(sandbox: Open311Sandbox, client: httpx.Client) -> None:
    sandbox.faults.inject("500", path=r"/requests\.json$")
    answer = client.get("/requests.json")
    assert answer.status_code == 500
    assert answer.json() == [{"code": 500, "description": "Internal Server Error"}]


def test_injected_422_is_a_400_array(sandbox: Open311Sandbox, client: httpx.Client) -> None:
    sandbox.faults.inject("422", method="POST")
    answer = client.post("/requests.json", data=_new_request_form())
    assert answer.status_code == 400
    assert answer.json()[0]["code"] == 400
    assert sandbox.all_requests() == []


# --- switchable behaviours of other servers -----------------------------------


@pytest.mark.parametrize(("answer", "status", "body"), [("empty", 200, []), ("404", 404, None)])
def test_a_pending_token_may_be_answered_empty_or_404(
    make_sandbox: Callable[..., Open311Sandbox], answer: str, status: int, body: Any
) -> None:
    sandbox = make_sandbox(queued=True, token_polls=2, pending_token_answer=answer)
    with httpx.Client(base_url=sandbox.base_url, timeout=60) as client:
        [queued] = client.post("/requests.json", data=_new_request_form()).json()
        for _ in range(2):
            pending = client.get(f"/tokens/{queued['token']}.json")
            assert pending.status_code == status
            if body is not None:
                assert pending.json() == body
            else:
                assert pending.json()[0]["code"] == 404
        [resolved] = client.get(f"/tokens/{queued['token']}.json").json()
        assert resolved["service_request_id"] == sandbox.all_requests()[0]["service_request_id"]


def test_bare_requests_carry_only_what_the_schema_requires(
    make_sandbox: Callable[..., Open311Sandbox],
) -> None:
    sandbox = make_sandbox(bare_requests=True)
    made = sandbox.add_request(address="Jl. Ganet", description="Lampu mati.")
    with httpx.Client(base_url=sandbox.base_url, timeout=60) as client:
        listed = client.get("/requests.json").json()
        one = client.get(f"/requests/{made['service_request_id']}.json").json()
    for answer in (listed, one):
        validate("requests.json", answer)
        assert answer == [
            {
                "service_request_id": made["service_request_id"],
                "status": "open",
                "service_code": "LAIN",
                "requested_datetime": "2026-03-09T03:00:00Z",
            }
        ]
    assert sandbox.request(made["service_request_id"])["description"] == "Lampu mati."


def test_errors_may_share_one_status_and_start_with_a_summary(
    make_sandbox: Callable[..., Open311Sandbox],
) -> None:
    sandbox = make_sandbox(error_status=400, error_summary=True)
    with httpx.Client(base_url=sandbox.base_url, timeout=60) as client:
        bad_key = client.post("/requests.json", data=_new_request_form(api_key="salah"))
        unknown = client.get("/requests/999.json")
    assert bad_key.status_code == unknown.status_code == 400
    assert [e["code"] for e in bad_key.json()] == [400, 403]
    assert [e["code"] for e in unknown.json()] == [400, 404]
    assert unknown.json()[0]["description"] == "request failed"
    assert sandbox.all_requests() == []


def test_an_update_may_leave_fields_out_of_the_feed(sandbox: Open311Sandbox) -> None:
    request_id = sandbox.add_request(address="Jl. Ganet")["service_request_id"]
    sandbox.add_update(request_id, "investigating", "Dicek.", omit=("update_id",))
    sandbox.add_update(request_id, "in_progress", "Dikerjakan.", omit=("updated_datetime",))
    with httpx.Client(base_url=sandbox.base_url, timeout=60) as client:
        feed = client.get("/servicerequestupdates.json", params={"api_key": KEY}).json()
    first, second = feed["service_request_updates"]
    assert "update_id" not in first and first["updated_datetime"] == "2026-03-09T03:00:00Z"
    assert second["update_id"] == "kota-2" and "updated_datetime" not in second
    assert sandbox.request(request_id)["extended_status"] == "in_progress"
    with pytest.raises(ValueError, match="request"):
        sandbox.add_update(request_id, "open", "", omit=("service_request_id",))


# --- profiles: the real servers of open311.md -----------------------------------------


def _http(sandbox: Open311Sandbox) -> httpx.Client:
    return httpx.Client(base_url=sandbox.base_url, timeout=60)


def _update_form(request_id: object, update_id: str, **extra: str) -> dict[str, str]:
    return {
        "api_key": KEY,
        "service_request_id": str(request_id),
        "update_id": update_id,
        "status": "IN_PROGRESS",
        "updated_datetime": "2026-03-09T10:00:00+07:00",
        "description": "Petugas menuju lokasi. [lb-fu-1]",
        **extra,
    }


def test_an_unknown_profile_or_order_is_refused() -> None:
    with pytest.raises(ValueError, match="profile"):
        Open311Sandbox(KEY, profile="seeclickfix")
    with pytest.raises(ValueError, match="order"):
        Open311Sandbox(KEY, order="random")
    with pytest.raises(ValueError, match="tokens"):
        Open311Sandbox(KEY, profile="adapter", queued=True)


def test_fms_wraps_every_list_and_writes_one_error_object(
    make_sandbox: Callable[..., Open311Sandbox],
) -> None:
    sandbox = make_sandbox(profile="fms")
    request_id = sandbox.add_request(address="Jl. Ganet", requested_datetime=NOW)[
        "service_request_id"
    ]
    with _http(sandbox) as http:
        services = http.get("/services.json").json()
        assert list(services) == ["services"] and len(services["services"]) == 7
        listed = http.get("/requests.json", params=_window(1)).json()
        assert [r["service_request_id"] for r in listed["service_requests"]] == [request_id]
        assert listed["service_requests"][0]["agency_responsible"] == {
            "recipient": ["Sekretariat Daerah"]
        }
        one = http.get(f"/requests/{request_id}.json").json()
        assert [r["service_request_id"] for r in one["service_requests"]] == [request_id]
        unknown = http.get("/requests/999999.json")
        assert (unknown.status_code, unknown.json()) == (200, {"service_requests": []})

        posted = http.post("/servicerequestupdates.json", data=_update_form(request_id, "lb-a"))
        assert posted.status_code == 200
        own = posted.json()["service_request_updates"]
        assert isinstance(own, dict) and own["update_id"] not in ("lb-a", None)
        feed = http.get("/servicerequestupdates.json", params={**_window(1), "api_key": KEY})
        assert [u["update_id"] for u in feed.json()["service_request_updates"]] == ["lb-a"]

        again = http.post("/servicerequestupdates.json", data=_update_form(request_id, "lb-a"))
        assert again.status_code == 400
        assert again.json() == {
            "errors": {"code": 400, "description": "Bad request: update_id lb-a already exists"}
        }
        empty = http.post(
            "/servicerequestupdates.json", data=_update_form(request_id, "lb-b", description="")
        )
        assert empty.status_code == 400 and "description" in empty.json()["errors"]["description"]
        bad_key = http.post(
            "/servicerequestupdates.json", data=_update_form(request_id, "lb-c", api_key="salah")
        )
        assert bad_key.status_code == 400
        assert bad_key.json()["errors"]["description"].startswith("Bad request: api_key")
        created = http.post("/requests.json", data=_new_request_form())
        assert list(created.json()["service_requests"][0]) == [
            "service_request_id",
            "service_notice",
        ]
    assert len(sandbox.updates()) == 1


def test_adapter_answers_bare_arrays_with_integer_ids_from_zero(
    make_sandbox: Callable[..., Open311Sandbox],
) -> None:
    sandbox = make_sandbox(profile="adapter")
    first = sandbox.add_request(address="Jl. Ganet", requested_datetime=NOW - timedelta(hours=1))
    second = sandbox.add_request(address="Jl. Pramuka", requested_datetime=NOW)
    assert (first["service_request_id"], second["service_request_id"]) == (0, 1)
    sandbox.add_update("0", "investigating", "Petugas memeriksa.", updated_datetime=NOW)
    with _http(sandbox) as http:
        services = http.get("/services.json").json()
        assert isinstance(services, list) and {s["metadata"] for s in services} == {"false"}
        listed = http.get("/requests.json", params=_window(1)).json()
        assert [r["service_request_id"] for r in listed] == [1, 0]
        assert listed[0]["requested_datetime"].endswith("Z")
        feed = http.get("/servicerequestupdates.json", params={**_window(1), "api_key": KEY})
        assert feed.status_code == 200
        [update] = feed.json()
        assert (update["update_id"], update["service_request_id"]) == (0, 0)
        missing = http.get("/servicerequestupdates.json", params=_window(1))
        assert missing.status_code == 400
        descriptions = [e["description"] for e in missing.json()]
        assert descriptions[0] == "Error in input for GET_Service_Request_Updates"
        assert any("api_key" in d for d in descriptions) and len(descriptions) <= 9
        assert http.get("/requests/77.json").status_code == 500
        assert http.get("/tokens/abc.json").status_code == 500


def test_adapter_keeps_its_own_update_ids_and_stores_a_repeat_again(
    make_sandbox: Callable[..., Open311Sandbox],
) -> None:
    sandbox = make_sandbox(profile="adapter")
    request_id = sandbox.add_request(address="Jl. Ganet")["service_request_id"]
    sandbox.add_update(str(request_id), "investigating", "Kota: diperiksa.")  # own id 0
    with _http(sandbox) as http:
        answers = [
            http.post("/servicerequestupdates.json", data=_update_form(request_id, "lb-fu-1"))
            for _ in range(2)
        ]
    assert [a.status_code for a in answers] == [200, 200]
    assert [a.json() for a in answers] == [[{"update_id": 1}], [{"update_id": 2}]]
    feed = sandbox.updates()
    assert [u["update_id"] for u in feed] == [0, 1, 2]  # the writer's lb-fu-1 is gone
    assert [u["description"] for u in feed[1:]] == ["Petugas menuju lokasi. [lb-fu-1]"] * 2


def test_adapter_fails_a_single_read_in_some_statuses_but_lists_the_request(
    make_sandbox: Callable[..., Open311Sandbox],
) -> None:
    sandbox = make_sandbox(profile="adapter")
    ids = [
        str(sandbox.add_request(address="Jl. Ganet", requested_datetime=NOW)["service_request_id"])
        for _ in range(4)
    ]
    for request_id, status in zip(
        ids, ("for_triage", "planned", "referred_to_dishub", "unchanged"), strict=True
    ):
        sandbox.add_update(request_id, status, f"status {status}")
    with _http(sandbox) as http:
        singles = [http.get(f"/requests/{request_id}.json") for request_id in ids]
        listed = http.get("/requests.json", params=_window(1)).json()
    assert [s.status_code for s in singles] == [500, 500, 500, 200]
    assert singles[0].json()[0]["description"] == "Error in output for GET_Service_Request"
    assert sorted(str(r["service_request_id"]) for r in listed) == ids
    # "unchanged" moves nothing: the request is still open as it was
    assert sandbox.request(ids[3])["extended_status"] == "open"
    with pytest.raises(ValueError, match="unknown status"):
        make_sandbox().add_update(ids[0], "for_triage", "the standard lacks it")


def test_capped_answers_50_newest_updated_first_with_strays_from_outside(
    make_sandbox: Callable[..., Open311Sandbox],
) -> None:
    sandbox = make_sandbox(profile="capped", utc_offset="-05:00")
    old = sandbox.seed_bulk(3, NOW - timedelta(days=5), NOW - timedelta(days=4))
    ids = sandbox.seed_bulk(120, NOW - timedelta(hours=2), NOW - timedelta(hours=1))
    sandbox.add_update(ids[0], "in_progress", "Dikerjakan.", updated_datetime=NOW)
    for minutes, request_id in ((10, old[2]), (20, old[1])):
        moment = NOW - timedelta(minutes=minutes)
        sandbox.add_update(request_id, "investigating", "Diperiksa.", updated_datetime=moment)
    window = {"start_date": "2026-03-09T00:30:00", "end_date": "2026-03-09T02:30:00"}
    with _http(sandbox) as http:
        answer = http.get("/requests.json", params=window).json()
        with_offset = http.get(
            "/requests.json",
            params={"start_date": "2026-03-09T00:30:00Z", "end_date": "2026-03-09T02:30:00Z"},
        )
    assert len(answer) == 50
    updated = [datetime.fromisoformat(r["updated_datetime"]) for r in answer]
    assert updated == sorted(updated, reverse=True)
    # updated last, whenever requested; then the two last updated outside the window
    assert [r["service_request_id"] for r in answer[:3]] == [ids[0], old[2], old[1]]
    assert sum(r["service_request_id"] in ids for r in answer) == 48  # the strays count
    assert with_offset.status_code == 400
    assert "without an offset" in with_offset.json()[0]["description"]


def test_the_cap_and_order_are_options_of_every_profile(
    make_sandbox: Callable[..., Open311Sandbox],
) -> None:
    sandbox = make_sandbox(max_requests=7, order="updated")
    ids = sandbox.seed_bulk(10, NOW - timedelta(hours=2), NOW - timedelta(hours=1))
    sandbox.add_update(ids[0], "in_progress", "Dikerjakan.", updated_datetime=NOW)
    with _http(sandbox) as http:
        answer = http.get("/requests.json", params=_window(1)).json()
    assert [r["service_request_id"] for r in answer] == [ids[0], *reversed(ids[-6:])]
    assert make_sandbox(profile="capped", max_requests=200).max_requests == 200


def test_a_request_being_processed_is_listed_without_its_id_until_it_has_one(
    make_sandbox: Callable[..., Open311Sandbox],
) -> None:
    sandbox = make_sandbox(profile="capped")
    held = str(sandbox.add_request(address="Jl. Ganet", processing=True)["service_request_id"])
    window = {"start_date": "2026-03-08T00:00:00", "end_date": "2026-03-09T03:00:00"}
    with _http(sandbox) as http:
        [listed] = http.get("/requests.json", params=window).json()
        assert "service_request_id" not in listed and listed["service_code"] == "LAIN"
        assert http.get(f"/requests/{held}.json").status_code == 404
        assert sandbox.finish_processing() == [held]
        [listed] = http.get("/requests.json", params=window).json()
        assert listed["service_request_id"] == held
    assert sandbox.finish_processing() == []


def test_xml_speaks_only_xml_with_empty_elements(
    make_sandbox: Callable[..., Open311Sandbox],
) -> None:
    from defusedxml.ElementTree import fromstring

    sandbox = make_sandbox(profile="xml", utc_offset="-04:00", queued=False)
    request_id = sandbox.add_request(address="Warden Ave", requested_datetime=NOW)[
        "service_request_id"
    ]
    sandbox.add_update(request_id, "investigating", "", updated_datetime=NOW)
    window = {"start_date": "2026-03-08T00:00:00Z", "end_date": "2026-03-09T03:00:00Z"}
    with _http(sandbox) as http:
        assert http.get("/requests.json", params=window).status_code == 404
        services = fromstring(http.get("/services.xml").content)
        listed = http.get("/requests.xml", params=window)
        feed = http.get("/servicerequestupdates.xml", params={**window, "api_key": KEY})
        denied = http.get("/servicerequestupdates.xml", params=window)
        created = http.post("/requests.xml", data=_new_request_form())
        posted = http.post("/servicerequestupdates.xml", data=_update_form(request_id, "lb-x"))
    assert listed.headers["content-type"].startswith("text/xml")
    assert services.tag == "services" and {c.tag for c in services} == {"service"}
    root = fromstring(listed.content)
    [request] = list(root)
    assert (root.tag, request.tag) == ("service_requests", "request")
    assert request.findtext("service_request_id") == request_id
    assert request.findtext("requested_datetime") == "2026-03-08T23:00:00-04:00"
    for empty in ("updated_datetime", "media_url", "zipcode"):
        element = request.find(empty)
        assert element is not None and element.text is None and len(element) == 0
    updates = fromstring(feed.content)
    assert updates.tag == "service_requests_updates"
    assert [u.findtext("status") for u in updates.iter("request_update")] == ["investigating"]
    assert denied.status_code == 403
    errors = fromstring(denied.content)
    assert errors.tag == "errors" and errors.findtext("error/code") == "403"
    made = fromstring(created.content)
    assert made.findtext("request/service_request_id") is not None
    assert fromstring(posted.content).findtext("request_update/update_id") == "lb-x"


def test_injected_faults_answer_in_the_profile_s_error_shape(
    make_sandbox: Callable[..., Open311Sandbox],
) -> None:
    fms, xml = make_sandbox(profile="fms"), make_sandbox(profile="xml")
    fms.faults.inject("503")
    xml.faults.inject("500")
    with _http(fms) as http:
        answer = http.get("/services.json")
        assert (answer.status_code, answer.json()["errors"]["code"]) == (503, 503)
    with _http(xml) as http:
        answer = http.get("/services.xml")
        assert answer.status_code == 500 and b"<errors><error><code>500</code>" in answer.content


@pytest.mark.parametrize("profile", ["spec", "xml"])
def test_malformed_answers_until_cleared(
    make_sandbox: Callable[..., Open311Sandbox], profile: str
) -> None:
    sandbox = make_sandbox(profile=profile)
    ids = [
        str(sandbox.add_request(address="Jl. Ganet", requested_datetime=NOW)["service_request_id"])
        for _ in range(2)
    ]
    path = f"/requests.{'xml' if profile == 'xml' else 'json'}"
    window = {"start_date": "2026-03-08T00:00:00Z", "end_date": "2026-03-09T03:00:00Z"}
    with _http(sandbox) as http:
        whole = http.get(path, params=window).content
        sandbox.malform("truncated")
        assert [http.get(path, params=window).content for _ in range(2)] == [
            whole[: len(whole) // 2]
        ] * 2
        sandbox.clear_malformations()
        sandbox.malform("entity_bomb", count=1)
        bomb = http.get(path, params=window).content
        assert b"<!DOCTYPE" in bomb and b"&lol9;" in bomb
        assert http.get(path, params=window).content == whole  # count=1: once
        sandbox.malform("non_objects")
        strange = http.get(path, params=window).content
        assert http.get(path.replace("requests", "services")).status_code == 200  # untouched
    if profile == "spec":
        items = json.loads(strange)
        assert items[0] == {
            "service_request_id": ids[1],
            "status": ["?"],
            "requested_datetime": 17,
        }
        assert items[2:] == [17, "bukan objek", None, ["daftar"]]
    else:
        assert b"<request>bukan objek</request>" in strange
        assert f"<service_request_id>{ids[1]}</service_request_id>".encode() in strange
    with pytest.raises(ValueError, match="kind"):
        sandbox.malform("gzip_bomb")


def test_a_garbled_request_shows_its_raw_values_until_restored(
    sandbox: Open311Sandbox, client: httpx.Client
) -> None:
    request_id = sandbox.add_request(address="Jl. Ganet")["service_request_id"]
    sandbox.garble(request_id, description=12345)
    assert client.get(f"/requests/{request_id}.json").json()[0]["description"] == 12345
    sandbox.garble(request_id)
    assert client.get(f"/requests/{request_id}.json").json()[0]["description"] == ""
