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

from adapters.local.open311.sandbox import UPDATE_STATUSES, Open311Sandbox

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
