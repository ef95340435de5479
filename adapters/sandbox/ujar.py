"""A sandbox of Ujar (Ujung Jari), after ``contract/ujar.md``.

A real HTTP server on loopback with the app's quirks: OAuth 2 client
credentials with tokens that expire (``token_ttl``, or at once with
:meth:`UjarSandbox.expire_tokens`), a changes feed that delivers at least
once (a ticket changed twice comes twice; :meth:`UjarSandbox.redeliver`
makes pages re-send items from before their cursor), cursors that expire
after ``cursor_ttl`` (or at once with :meth:`UjarSandbox.expire_cursors`),
times as epoch milliseconds, no idempotency on writes.

Decisions where the contract is silent:

* the change log gets one entry per change that actually changes something
  (a create, an edit, a status, a response, a photo, an external link); the
  feed shows each ticket's *current* state for every entry;
* a cursor is base64 of (generation, log position, issue time); a cursor
  that cannot be decoded is ``400 invalid_cursor``;
* ``limit`` outside 1..200 is ``422 invalid_request``, as is a body field of
  the wrong type; a body that is not JSON is ``400 invalid_json``;
* a missing bearer token gets the same ``401 invalid_token`` as a bad one.
"""

from __future__ import annotations

import base64
import binascii
import json
import random
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from adapters.local import sample
from adapters.sandbox.server import Request, Response, SandboxServer

__all__ = [
    "CATEGORY_CODES",
    "MAX_PHOTOS",
    "MAX_PHOTO_BYTES",
    "STATUS_CODES",
    "UjarSandbox",
    "to_ms",
]

CATEGORY_CODES = ("DRN", "PHN", "KBL", "PJU", "PRK", "JLN", "SOS", "LLN")
STATUS_CODES = (0, 1, 2, 3, 9)  # new, verified, in progress, done, rejected
MAX_PHOTOS = 3
MAX_PHOTO_BYTES = 10 * 1024 * 1024
DEFAULT_LIMIT = 100
MAX_LIMIT = 200

_CATEGORY_BY_TOPIC = {
    "banjir": "DRN",
    "pohon": "PHN",
    "kabel": "KBL",
    "lampu": "PJU",
    "parkir": "PRK",
    "jalan": "JLN",
    "sosial": "SOS",
    "sampah": "LLN",
    "kesehatan": "LLN",
    "pendidikan": "LLN",
    "kependudukan": "LLN",
    "perizinan": "LLN",
}
#: Ujar's citizens mostly report these (contract, first paragraph)
_COMMON_TOPICS = ("banjir", "pohon", "kabel", "lampu", "parkir", "sosial", "jalan")

_LOCATION = re.compile(r"\s*-?\d{1,3}(\.\d+)?\s*,\s*-?\d{1,3}(\.\d+)?\s*")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

#: fields a citizen (or the bridge, on create) can set
_FIELDS = (
    "userName",
    "userPhone",
    "anonymous",
    "message",
    "categoryCode",
    "location",
    "address",
    "external",
)


def to_ms(moment: datetime) -> int:
    """``moment`` as Ujar writes times: milliseconds since the Unix epoch."""
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class _Rejected(ValueError):
    """A request (or a control call) that the app refuses."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message


@dataclass
class _Photo:
    data: bytes
    mime: str


@dataclass
class _Reply:
    id: str
    by: str
    text: str
    at: int
    client_ref: str | None

    def wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "by": self.by,
            "text": self.text,
            "at": self.at,
            "clientRef": self.client_ref,
        }


@dataclass
class _Ticket:
    ticket_no: str
    user_name: str | None
    user_phone: str | None
    anonymous: bool
    message: str
    category_code: str
    location: str | None
    address: str | None
    status_code: int
    external: list[dict[str, str]]
    created_at: int
    updated_at: int
    responses: list[_Reply] = field(default_factory=list)
    photos: list[_Photo] = field(default_factory=list)
    #: wire fields forced to a value outside the contract (see ``corrupt``)
    raw: dict[str, Any] = field(default_factory=dict)

    def wire(self, base_url: str) -> dict[str, Any]:
        wire: dict[str, Any] = {
            "ticketNo": self.ticket_no,
            "userName": None if self.anonymous else self.user_name,
            "userPhone": None if self.anonymous else self.user_phone,
            "anonymous": self.anonymous,
            "message": self.message,
            "categoryCode": self.category_code,
            "location": self.location,
            "address": self.address,
            "photos": [
                {"url": f"{base_url}/files/{self.ticket_no}/{n}", "mime": photo.mime}
                for n, photo in enumerate(self.photos)
            ],
            "statusCode": self.status_code,
            "external": [dict(link) for link in self.external],
            "responses": [reply.wire() for reply in self.responses],
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
        }
        wire.update(self.raw)
        return wire


# --- validation: each raises _Rejected(422) -------------------------------------


def _invalid(message: str) -> _Rejected:
    return _Rejected(422, "invalid_request", message)


def _text(name: str, value: Any, *, required: bool) -> str:
    if not isinstance(value, str):
        raise _invalid(f"{name} must be a string")
    if required and not value.strip():
        raise _invalid(f"{name} is required")
    return value


def _optional_text(name: str, value: Any) -> str | None:
    return None if value is None else _text(name, value, required=False)


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _invalid(f"{name} must be true or false")
    return value


def _category(value: Any) -> str:
    if value not in CATEGORY_CODES:
        raise _Rejected(422, "invalid_category", f"unknown categoryCode {value!r}")
    return str(value)


def _status(value: Any) -> int:
    if isinstance(value, bool) or value not in STATUS_CODES:
        raise _Rejected(422, "invalid_status", f"unknown statusCode {value!r}")
    return int(value)


def _location(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or _LOCATION.fullmatch(value) is None:
        raise _invalid('location must be "lat,lng" or null')
    return value


def _link(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _invalid("an external link is {system, ref}")
    return {
        "system": _text("system", value.get("system"), required=True),
        "ref": _text("ref", value.get("ref"), required=True),
    }


def _links(value: Any) -> list[dict[str, str]]:
    if not isinstance(value, list):
        raise _invalid("external must be a list")
    links: list[dict[str, str]] = []
    for link in map(_link, value):
        _set_link(links, link)
    return links


def _set_link(links: list[dict[str, str]], link: dict[str, str]) -> None:
    """Replace the link of the same system in place, or add it."""
    for n, existing in enumerate(links):
        if existing["system"] == link["system"]:
            links[n] = link
            return
    links.append(link)


def _ms(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid(f"{name} must be milliseconds since the epoch")
    return value


def _clean(fields: dict[str, Any]) -> dict[str, Any]:
    """The known fields of ``fields``, validated; other keys are left out."""
    checks: dict[str, Callable[[Any], Any]] = {
        "userName": lambda v: _optional_text("userName", v),
        "userPhone": lambda v: _optional_text("userPhone", v),
        "anonymous": lambda v: _flag("anonymous", v),
        "message": lambda v: _text("message", v, required=True),
        "categoryCode": _category,
        "location": _location,
        "address": lambda v: _optional_text("address", v),
        "external": _links,
        "statusCode": _status,
    }
    return {name: check(fields[name]) for name, check in checks.items() if name in fields}


#: wire name → attribute of _Ticket
_ATTRIBUTES = {
    "userName": "user_name",
    "userPhone": "user_phone",
    "anonymous": "anonymous",
    "message": "message",
    "categoryCode": "category_code",
    "location": "location",
    "address": "address",
    "external": "external",
    "statusCode": "status_code",
}


def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = request.json()
    except ValueError:
        raise _Rejected(400, "invalid_json", "the body is not JSON") from None
    if not isinstance(body, dict):
        raise _Rejected(400, "invalid_json", "the body must be a JSON object")
    return body


def _error(status: int, error: str, message: str) -> Response:
    return Response.json(status, {"error": error, "message": message})


def _encode_cursor(generation: int, position: int, issued_ms: int) -> str:
    raw = json.dumps({"g": generation, "p": position, "t": issued_ms}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode("ascii")).decode("ascii").rstrip("=")


def _decode_cursor(cursor: str) -> tuple[int, int, int]:
    """(generation, position, issue time in ms); 400 when it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw.decode("ascii"))
        values = (data["g"], data["p"], data["t"])
    except (binascii.Error, ValueError, TypeError, KeyError):
        raise _Rejected(400, "invalid_cursor", "the cursor is not valid") from None
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values):
        raise _Rejected(400, "invalid_cursor", "the cursor is not valid")
    return values


class UjarSandbox(SandboxServer):
    """Ujar's API on loopback over an in-memory store.

    ``now`` is a callable returning an aware datetime; tests replace it to
    control time (token and cursor expiry, ``createdAt``/``updatedAt``).
    """

    error_body: ClassVar[Any] = {"error": "server_error", "message": "Internal Server Error"}

    def __init__(
        self,
        client_id: str = "lapor-bridge",
        client_secret: str = "ujar-sandbox-secret",
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        token_ttl: int = 600,
        cursor_ttl: timedelta = timedelta(days=7),
        seed: int = 0,
    ) -> None:
        super().__init__(host, port, seed=seed)
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_ttl = token_ttl
        self.cursor_ttl = cursor_ttl
        self.now: Callable[[], datetime] = _utc_now
        self._rng = random.Random(seed)
        self._tickets: dict[str, _Ticket] = {}
        self._log: list[str] = []  # ticketNo of every change, oldest first
        self._tokens: dict[str, datetime] = {}  # token → expiry
        self._cursor_generation = 0
        self._redeliver_rate = 0.0
        self._next_ticket = 1
        self._next_reply = 1
        self.router.add("POST", r"/oauth/token", self._token)
        # before /v2/tickets/{ticketNo}, which would match "changes" too
        self.router.add("GET", r"/v2/tickets/changes", self._changes)
        self.router.add("POST", r"/v2/tickets", self._create)
        self.router.add("GET", r"/v2/tickets/(?P<no>[^/]+)", self._get)
        self.router.add("PUT", r"/v2/tickets/(?P<no>[^/]+)/external", self._put_external)
        self.router.add("PUT", r"/v2/tickets/(?P<no>[^/]+)/status", self._put_status)
        self.router.add("POST", r"/v2/tickets/(?P<no>[^/]+)/responses", self._add_response)
        self.router.add("GET", r"/files/(?P<no>[^/]+)/(?P<n>[^/]+)", self._file)

    # hooks -----------------------------------------------------------------
    def authorize(self, request: Request) -> Response | None:
        """Every path but the token endpoint needs a live bearer token."""
        if request.path == "/oauth/token":
            return None
        header = request.header("authorization") or ""
        scheme, _, token = header.partition(" ")
        with self.lock:
            expiry = self._tokens.get(token.strip()) if scheme.lower() == "bearer" else None
            alive = expiry is not None and self.now() < expiry
        if not alive:
            response = _error(
                401, "invalid_token", "the access token is missing, unknown or expired"
            )
            response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
            return response
        return None

    def dispatch(self, request: Request) -> Response:
        """Route the request; refusals become ``{"error", "message"}`` answers."""
        try:
            response = super().dispatch(request)
        except _Rejected as exc:
            return _error(exc.status, exc.error, exc.message)
        if response.status == 405:
            return _error(405, "method_not_allowed", f"{request.method} is not allowed here")
        return response

    def not_found(self, request: Request) -> Response:
        """An unknown path."""
        return _error(404, "not_found", f"no such endpoint: {request.path}")

    # HTTP handlers -----------------------------------------------------------
    def _token(self, request: Request) -> Response:
        form = request.form()
        if form.get("grant_type") != "client_credentials":
            return _error(400, "unsupported_grant_type", "only client_credentials is supported")
        given = (form.get("client_id"), form.get("client_secret"))
        if given != (self.client_id, self.client_secret):
            return _error(401, "invalid_client", "unknown client or wrong secret")
        token = secrets.token_urlsafe(24)
        with self.lock:
            self._tokens[token] = self.now() + timedelta(seconds=self.token_ttl)
        return Response.json(
            200, {"access_token": token, "token_type": "Bearer", "expires_in": self.token_ttl}
        )

    def _changes(self, request: Request) -> Response:
        limit = self._limit(request.arg("limit"))
        cursor = request.arg("cursor") or ""
        with self.lock:
            now_ms = to_ms(self.now())
            position = self._position(cursor, now_ms) if cursor else 0
            if position > len(self._log):
                raise _Rejected(400, "invalid_cursor", "the cursor is not valid")
            start, end = self._page_bounds(position, limit)
            items = [self._tickets[no].wire(self.url) for no in self._log[start:end]]
            body = {
                "items": items,
                "next_cursor": _encode_cursor(self._cursor_generation, end, now_ms),
                "has_more": end < len(self._log),
            }
        return Response.json(200, body)

    def _get(self, request: Request) -> Response:
        with self.lock:
            return Response.json(200, self._find(request.params["no"]).wire(self.url))

    def _create(self, request: Request) -> Response:
        fields = _clean({k: v for k, v in _json_object(request).items() if k in _FIELDS})
        if "message" not in fields:
            raise _invalid("message is required")
        if "categoryCode" not in fields:
            raise _invalid("categoryCode is required")
        with self.lock:
            ticket = self._insert(fields, self.now())
            return Response.json(201, ticket.wire(self.url))

    def _put_external(self, request: Request) -> Response:
        link = _link(_json_object(request))
        with self.lock:
            ticket = self._find(request.params["no"])
            links = [dict(existing) for existing in ticket.external]
            _set_link(links, link)
            self._apply(ticket, {"external": links})
            return Response.json(200, ticket.wire(self.url))

    def _put_status(self, request: Request) -> Response:
        status = _status(_json_object(request).get("statusCode"))
        with self.lock:
            ticket = self._find(request.params["no"])
            self._apply(ticket, {"statusCode": status})
            return Response.json(200, ticket.wire(self.url))

    def _add_response(self, request: Request) -> Response:
        body = _json_object(request)
        by = _text("by", body.get("by"), required=True)
        text = _text("text", body.get("text"), required=True)
        at = _ms("at", body["at"]) if body.get("at") is not None else None
        client_ref = _optional_text("clientRef", body.get("clientRef"))
        with self.lock:
            ticket = self._find(request.params["no"])
            return Response.json(201, self._append_reply(ticket, by, text, at, client_ref).wire())

    def _file(self, request: Request) -> Response:
        with self.lock:
            ticket = self._find(request.params["no"])
            raw = request.params["n"]
            n = int(raw) if raw.isascii() and raw.isdigit() else len(ticket.photos)
            if n >= len(ticket.photos):
                raise _Rejected(404, "not_found", "no such file")
            photo = ticket.photos[n]
        return Response(200, photo.data, photo.mime)

    # feed --------------------------------------------------------------------
    @staticmethod
    def _limit(raw: str | None) -> int:
        if raw is None or raw == "":
            return DEFAULT_LIMIT
        if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_LIMIT:
            raise _invalid(f"limit must be between 1 and {MAX_LIMIT}")
        return int(raw)

    def _position(self, cursor: str, now_ms: int) -> int:
        generation, position, issued_ms = _decode_cursor(cursor)
        too_old = now_ms - issued_ms > self.cursor_ttl // timedelta(milliseconds=1)
        if generation < self._cursor_generation or too_old:
            raise _Rejected(410, "cursor_expired", "the cursor has expired; start again")
        return position

    def _page_bounds(self, position: int, limit: int) -> tuple[int, int]:
        """The log slice to deliver after ``position``.

        A redelivering page starts up to ``limit - 1`` entries before the
        cursor, so it always has room for at least one new entry.
        """
        back = 0
        if position > 0 and limit > 1 and self._rng.random() < self._redeliver_rate:
            back = self._rng.randint(1, min(position, limit - 1))
        start = position - back
        end = min(len(self._log), start + limit)
        return start, end

    # store -------------------------------------------------------------------
    def _find(self, ticket_no: str) -> _Ticket:
        ticket = self._tickets.get(ticket_no)
        if ticket is None:
            raise _Rejected(404, "not_found", f"ticket {ticket_no} not found")
        return ticket

    def _insert(self, fields: dict[str, Any], created: datetime) -> _Ticket:
        created_ms = to_ms(created)
        anonymous = bool(fields.get("anonymous", False))
        ticket = _Ticket(
            ticket_no=f"UJR-{self._next_ticket}",
            user_name=None if anonymous else fields.get("userName"),
            user_phone=None if anonymous else fields.get("userPhone"),
            anonymous=anonymous,
            message=fields["message"],
            category_code=fields["categoryCode"],
            location=fields.get("location"),
            address=fields.get("address"),
            status_code=fields.get("statusCode", 0),
            external=list(fields.get("external", [])),
            created_at=created_ms,
            updated_at=created_ms,
        )
        self._next_ticket += 1
        self._tickets[ticket.ticket_no] = ticket
        self._log.append(ticket.ticket_no)
        return ticket

    def _changed(self, ticket: _Ticket) -> None:
        ticket.updated_at = to_ms(self.now())
        self._log.append(ticket.ticket_no)

    def _apply(self, ticket: _Ticket, changes: dict[str, Any]) -> None:
        """Set the validated ``changes``; log a change if anything changed."""
        changed = False
        for name, value in changes.items():
            attribute = _ATTRIBUTES[name]
            if name in ticket.raw or getattr(ticket, attribute) != value:
                ticket.raw.pop(name, None)  # a proper write repairs a corrupt field
                setattr(ticket, attribute, value)
                changed = True
        if ticket.anonymous and (ticket.user_name, ticket.user_phone) != (None, None):
            ticket.user_name = ticket.user_phone = None  # the app forgets who it was
            changed = True
        if changed:
            self._changed(ticket)

    def _append_reply(
        self, ticket: _Ticket, by: str, text: str, at: int | None, client_ref: str | None
    ) -> _Reply:
        reply = _Reply(
            id=f"r-{self._next_reply}",
            by=by,
            text=text,
            at=at if at is not None else to_ms(self.now()),
            client_ref=client_ref,
        )
        self._next_reply += 1
        ticket.responses.append(reply)
        self._changed(ticket)
        return reply

    # control API: the citizens' and the agencies' side -----------------------
    def add_ticket(self, **fields: Any) -> dict[str, Any]:
        """A citizen reports in the app; returns the ticket as the API shows it.

        ``fields`` use the wire names: ``userName``, ``userPhone``,
        ``anonymous``, ``message``, ``categoryCode``, ``location`` (``"lat,lng"``),
        ``address``, ``statusCode``, ``external``, and ``createdAt`` (an aware
        datetime, default now). Missing ones get realistic defaults in
        Tanjungpinang. Raises ValueError on a bad value.
        """
        created = fields.pop("createdAt", None)
        unknown = set(fields) - {*_FIELDS, "statusCode"}
        if unknown:
            raise TypeError(f"unknown ticket fields: {sorted(unknown)}")
        cleaned = _clean(fields)
        with self.lock:
            defaults = self._default_fields(cleaned.get("categoryCode"))
            ticket = self._insert({**defaults, **cleaned}, created or self.now())
            return ticket.wire(self.url)

    def edit_ticket(self, ticket_no: str, **changes: Any) -> dict[str, Any]:
        """The citizen (or an operator) edits a ticket; logs a change.

        ``changes`` may name any field that ``add_ticket`` takes except
        ``createdAt``. Raises KeyError for an unknown ticket, ValueError on a
        bad value.
        """
        unknown = set(changes) - {*_FIELDS, "statusCode"}
        if unknown:
            raise TypeError(f"unknown ticket fields: {sorted(unknown)}")
        cleaned = _clean(changes)
        with self.lock:
            ticket = self._tickets[ticket_no]
            self._apply(ticket, cleaned)
            return ticket.wire(self.url)

    def respond(
        self,
        ticket_no: str,
        by: str,
        text: str,
        *,
        client_ref: str | None = None,
        at: datetime | None = None,
    ) -> dict[str, Any]:
        """An agency answers in the app; returns the response."""
        by = _text("by", by, required=True)
        text = _text("text", text, required=True)
        with self.lock:
            ticket = self._tickets[ticket_no]
            at_ms = to_ms(at) if at is not None else None
            return self._append_reply(ticket, by, text, at_ms, client_ref).wire()

    def set_status(self, ticket_no: str, code: int) -> dict[str, Any]:
        """An agency moves the ticket to ``code`` (one of ``STATUS_CODES``)."""
        return self.edit_ticket(ticket_no, statusCode=code)

    def add_photo(self, ticket_no: str, data: bytes, mime: str = "image/jpeg") -> str:
        """Attach ``data`` as the next photo (any bytes); returns its URL.

        At most ``MAX_PHOTOS`` photos of ``MAX_PHOTO_BYTES`` each.
        """
        if len(data) > MAX_PHOTO_BYTES:
            raise ValueError(f"a photo is at most {MAX_PHOTO_BYTES} bytes")
        with self.lock:
            ticket = self._tickets[ticket_no]
            if len(ticket.photos) >= MAX_PHOTOS:
                raise ValueError(f"a ticket has at most {MAX_PHOTOS} photos")
            ticket.photos.append(_Photo(data, mime))
            self._changed(ticket)
            return f"{self.url}/files/{ticket_no}/{len(ticket.photos) - 1}"

    def corrupt(self, ticket_no: str, **raw: Any) -> dict[str, Any]:
        """Force wire fields to any value, outside the contract if need be.

        ``corrupt("UJR-3", statusCode=7)`` makes the ticket show
        ``"statusCode": 7`` from now on (until a proper write to that field);
        a field that the contract does not know is added as is. Logs a
        change. Returns the ticket as shown.
        """
        with self.lock:
            ticket = self._tickets[ticket_no]
            ticket.raw.update(raw)
            self._changed(ticket)
            return ticket.wire(self.url)

    def ticket(self, ticket_no: str) -> dict[str, Any]:
        """One ticket as the API shows it; KeyError when unknown."""
        with self.lock:
            return self._tickets[ticket_no].wire(self.url)

    def all_tickets(self) -> list[dict[str, Any]]:
        """Every ticket as the API shows it, in the order they were filed."""
        with self.lock:
            return [t.wire(self.url) for t in self._tickets.values()]

    def change_log(self) -> list[str]:
        """The ticketNo of every change so far, oldest first (what the feed walks)."""
        with self.lock:
            return list(self._log)

    def expire_tokens(self) -> None:
        """Invalidate every access token issued so far."""
        with self.lock:
            self._tokens.clear()

    def expire_cursors(self) -> None:
        """Make every cursor issued so far answer ``410 cursor_expired``."""
        with self.lock:
            self._cursor_generation += 1

    def redeliver(self, rate: float) -> None:
        """From now on, a fraction ``rate`` of feed pages re-send items from before
        their cursor (at-least-once delivery); 0 switches it off."""
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate is a fraction between 0 and 1")
        with self.lock:
            self._redeliver_rate = rate

    def seed_sample(self, rng: random.Random, n: int, photos: bool = True) -> list[dict[str, Any]]:
        """Fill the store with ``n`` realistic tickets from the last 30 days.

        About 20% anonymous, some without a location, phone numbers mostly as
        ``+62…`` (the app's account number) and some as typed, statuses at
        every stage with the agencies' responses. The change log gets every
        seeded event (creation, status moves, responses) in time order, so a
        ticket that changed several times comes several times in the feed.
        Returns the tickets as the API shows them.
        """
        now = self.now()
        created = sorted(now - timedelta(seconds=rng.randrange(30 * 24 * 3600)) for _ in range(n))
        events: list[tuple[int, str]] = []
        with self.lock:
            log_before = len(self._log)
            tickets: list[_Ticket] = []
            for moment in created:
                topic, fields = _sample_fields(rng)
                ticket = self._insert(fields, moment)
                events.append((ticket.created_at, ticket.ticket_no))
                events.extend(self._sample_history(rng, ticket, topic, to_ms(now)))
                if photos:
                    for _ in range(rng.choice((0, 1, 1, 2, 3))):
                        ticket.photos.append(_sample_photo(rng))
                tickets.append(ticket)
            # _insert logged each creation; the seeded history replaces that in time order
            del self._log[log_before:]
            self._log.extend(no for _, no in sorted(events))
            return [t.wire(self.url) for t in tickets]

    # sample data -------------------------------------------------------------
    def _default_fields(self, category: str | None) -> dict[str, Any]:
        topics = [t for t, c in _CATEGORY_BY_TOPIC.items() if category in (None, c)]
        topic = self._rng.choice(topics or list(_CATEGORY_BY_TOPIC))
        where = sample.place(self._rng, "tanjungpinang")
        citizen = sample.person(self._rng, "tanjungpinang")
        return {
            "userName": citizen.name,
            "userPhone": _account_phone(citizen.phone),
            "anonymous": False,
            "message": sample.complaint(self._rng, topic, where).text,
            "categoryCode": _CATEGORY_BY_TOPIC[topic],
            "location": f"{where.lat:.4f},{where.lng:.4f}",
            "address": where.street,
            "statusCode": 0,
            "external": [],
        }

    def _sample_history(
        self, rng: random.Random, ticket: _Ticket, topic: str, now_ms: int
    ) -> list[tuple[int, str]]:
        """Move a seeded ticket along with the agency's answers; the change events."""
        final = rng.choices(STATUS_CODES, weights=(4, 2, 2, 2, 1))[0]
        steps = (9,) if final == 9 else tuple(c for c in (1, 2, 3) if c <= final)
        moment = ticket.created_at
        events: list[tuple[int, str]] = []
        agency = sample.agency(topic)
        for code in steps:
            moment = min(now_ms, moment + rng.randrange(3600, 3 * 24 * 3600) * 1000)
            ticket.status_code = code
            if code in (2, 3):
                text = sample.response_text(rng, topic)
                ticket.responses.append(_Reply(f"r-{self._next_reply}", agency, text, moment, None))
                self._next_reply += 1
            if code == 9:
                text = "Laporan ditolak: bukan kewenangan Pemerintah Kota Tanjungpinang."
                ticket.responses.append(_Reply(f"r-{self._next_reply}", agency, text, moment, None))
                self._next_reply += 1
            ticket.updated_at = moment
            events.append((moment, ticket.ticket_no))
        return events


def _sample_fields(rng: random.Random) -> tuple[str, dict[str, Any]]:
    topic = rng.choice(_COMMON_TOPICS) if rng.random() < 0.8 else rng.choice(sample.TOPICS)
    where = sample.place(rng, "tanjungpinang")
    citizen = sample.person(rng, "tanjungpinang")
    anonymous = rng.random() < 0.2
    decimals = rng.choice((4, 4, 6))
    location = f"{where.lat:.{decimals}f},{where.lng:.{decimals}f}"
    phone = _account_phone(citizen.phone) if rng.random() < 0.7 else citizen.phone
    return topic, {
        "userName": citizen.name,
        "userPhone": phone,
        "anonymous": anonymous,
        "message": sample.complaint(rng, topic, where).text,
        "categoryCode": _CATEGORY_BY_TOPIC[topic],
        "location": None if rng.random() < 0.15 else location,
        "address": where.street if rng.random() < 0.5 else where.address,
        "statusCode": 0,
        "external": [],
    }


def _account_phone(typed: str) -> str:
    """The number as the app's account holds it: ``+62`` and digits."""
    digits = "".join(c for c in typed if c.isdigit())
    return "+62" + digits[1:] if digits.startswith("0") else "+" + digits


def _sample_photo(rng: random.Random) -> _Photo:
    if rng.random() < 0.1:
        return _Photo(sample.make_png(rng, 120, 90), "image/png")
    return _Photo(sample.make_jpeg(rng, 160, 120), "image/jpeg")
