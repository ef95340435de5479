"""Ujar API client (``ujar.md``): OAuth, the changes feed, one ticket, writes, photos.

Credentials: OAuth 2 client credentials. The access token is cached,
renewed shortly before ``expires_in`` runs out, and renewed once more when
the app answers ``401`` anyway (tokens expire during long runs). The token
and the client secret never appear in a log line or an error message, and
the token is only ever sent to the app's own host.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Generator, Iterator, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import Field, SecretStr, field_validator

from adapters.local.common import AppConfig, AppSource, get_photo, rate_limiter, require_same_origin
from adapters.local.ujar.normalize import (
    LAPOR_SYSTEM,
    LOCAL_STATUS,
    local_category,
    national_id_of,
    normalize,
    time_of,
    to_ms,
)
from bridge.core.errors import NormalizeError, NotFound, Rejected, Transient, Unavailable
from bridge.core.model import Attachment, FollowUp, NationalComplaint, Status
from bridge.core.ports import Created, Page, RawRecord
from bridge.runtime.http import Endpoint, RetryPolicy, json_of, make_client
from bridge.runtime.logs import get_logger, redact_text

log = get_logger("adapters.ujar")

TOKEN_PATH = "/oauth/token"
FEED_PATH = "/v2/tickets/changes"
#: renew this long before the token runs out (at most a tenth of its lifetime)
REFRESH_MARGIN_SECONDS = 30.0
#: a token answer without ``expires_in`` is trusted this long
DEFAULT_TOKEN_SECONDS = 300.0
#: ``410 cursor_expired`` restarts within one pull before giving up
MAX_FEED_RESTARTS = 3
SEEN_TICKETS = 2000  # a pull's memory of what it yielded: twenty pages of 100

_ERROR_CODE = re.compile(r"^[a-z0-9_.-]{1,40}$")


class UjarConfig(AppConfig):
    """``[sources.NAME]`` keys of an Ujar source."""

    base_url: str = Field(pattern=r"^https?://")
    client_id: str = Field(min_length=1)
    client_secret: SecretStr
    page_size: int = Field(default=100, ge=1, le=200)

    @field_validator("client_secret")
    @classmethod
    def _secret_not_empty(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("the client secret is empty")
        return value


def _error_code(response: httpx.Response) -> str | None:
    """The ``error`` code of an Ujar error body, when it is a plain code."""
    try:
        body = json_of(response)
    except ValueError:
        return None
    code = body.get("error") if isinstance(body, dict) else None
    return code if isinstance(code, str) and _ERROR_CODE.match(code) else None


def _message(response: httpx.Response) -> str:
    """An error answer worded for the operator; scrubbed of phone numbers and tokens."""
    try:
        body = json_of(response)
    except ValueError:
        return f"HTTP {response.status_code}"
    if not isinstance(body, dict):
        return f"HTTP {response.status_code}"
    code = _error_code(response)
    text = body.get("message")
    text = redact_text(text[:200]) if isinstance(text, str) and text else None
    return ": ".join(part for part in (code, text) if part) or f"HTTP {response.status_code}"


def _json_body(response: httpx.Response) -> None:
    """``check`` for Endpoint.send: a 2xx that is not JSON is a gateway's page, not an answer."""
    if response.status_code >= 300:
        return
    try:
        json_of(response)
    except ValueError:
        raise Transient(
            f"Ujar answered {response.status_code} with a body that is not JSON"
        ) from None


class ClientCredentials:
    """The cached access token of one Ujar client, renewed before it runs out.

    The token request goes through its own :class:`Endpoint` (retried when
    the app is down), never through the authenticated client.
    """

    def __init__(
        self,
        name: str,
        config: UjarConfig,
        endpoint: Endpoint,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._name = name
        self._config = config
        self._endpoint = endpoint
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._renew_at = 0.0
        self.fetched = 0  # how many tokens were issued to us: refreshes are visible in tests

    def refused(self, why: str) -> Unavailable:
        """The clear failure an operator can act on; names the keys, never the values."""
        keys = f"sources.{self._name}.client_id/client_secret"
        return Unavailable(f"Ujar refused the client credentials ({why}): check {keys}")

    def current(self) -> str:
        """A token believed valid: the cached one, or a fresh one when it is (nearly) out."""
        with self._lock:
            if self._token is None or self._clock() >= self._renew_at:
                self._token, self._renew_at = self._fetch()
            return self._token

    def invalidate(self, token: str) -> None:
        """Forget ``token`` (the app refused it); a newer one fetched meanwhile is kept."""
        with self._lock:
            if self._token == token:
                self._token = None

    def _fetch(self) -> tuple[str, float]:
        form = {
            "grant_type": "client_credentials",
            "client_id": self._config.client_id,
            "client_secret": self._config.client_secret.get_secret_value(),
        }
        started = self._clock()
        response = self._endpoint.send(
            "POST", TOKEN_PATH, data=form, idempotent=True, check=_token_check
        )
        if response.status_code == 404:
            raise Unavailable(
                f"Ujar has no token endpoint at {TOKEN_PATH}: check sources.{self._name}.base_url"
            )
        if response.status_code >= 400:
            code = _error_code(response) or f"HTTP {response.status_code}"
            raise self.refused(code)
        body = json_of(response)
        lifetime = body.get("expires_in")
        if isinstance(lifetime, bool) or not isinstance(lifetime, int | float) or lifetime <= 0:
            lifetime = DEFAULT_TOKEN_SECONDS
        margin = min(REFRESH_MARGIN_SECONDS, float(lifetime) / 10)
        self.fetched += 1
        log.debug("ujar_token_issued", source=self._name, expires_in=lifetime)
        return str(body["access_token"]), started + float(lifetime) - margin


def _token_check(response: httpx.Response) -> None:
    """A 200 from the token endpoint must carry a token, or it is a broken answer."""
    if response.status_code >= 300:
        return
    try:
        body = json_of(response)
    except ValueError:
        body = None
    token = body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise Transient("Ujar's token endpoint answered without an access token")


class BearerAuth(httpx.Auth):
    """Adds the bearer token to requests for the app's own host, and renews it once on 401.

    A second ``401`` right after a fresh token means the app does not accept
    this client at all: that is raised as :class:`Unavailable`, not retried.
    """

    requires_response_body = True

    def __init__(self, credentials: ClientCredentials, base_url: str) -> None:
        self._credentials = credentials
        self._origin = _origin(httpx.URL(base_url))

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if _origin(request.url) != self._origin:
            yield request  # never hand the token to another host
            return
        token = self._credentials.current()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code != 401:
            return
        self._credentials.invalidate(token)
        request.headers["Authorization"] = f"Bearer {self._credentials.current()}"
        response = yield request
        if response.status_code == 401:
            code = _error_code(response) or "HTTP 401"
            raise self._credentials.refused(f"a fresh access token got {code}")


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme.lower(), url.host.lower(), url.port


def _digest(item: Mapping[str, Any]) -> bytes:
    text = json.dumps(item, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).digest()[:16]


class UjarSource(AppSource[UjarConfig]):
    """An Ujar app as a ``bridge.core.ports.LocalSource``."""

    def __init__(
        self,
        name: str,
        config: UjarConfig,
        endpoint: Endpoint,
        credentials: ClientCredentials,
        token_endpoint: Endpoint,
    ) -> None:
        super().__init__(name, config, endpoint, normalize)
        self.credentials = credentials
        self._token_endpoint = token_endpoint
        #: how often an expired cursor made the feed start again (logged each time)
        self.cursor_restarts = 0

    # HTTP ------------------------------------------------------------------
    def _response(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return self.endpoint.send(method, path, check=_json_body, **kw)

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        response = self._response(method, path, **kw)
        return self._body(response)

    def _body(self, response: httpx.Response) -> Any:
        if response.status_code == 404:
            raise NotFound(404, _message(response))
        if response.status_code >= 400:
            raise Rejected(response.status_code, _message(response))
        return json_of(response)

    @staticmethod
    def _ticket_path(local_id: str, suffix: str = "") -> str:
        return f"/v2/tickets/{quote(local_id, safe='')}{suffix}"

    # LocalSource -------------------------------------------------------------
    def cursor_for(self, since: datetime) -> str | None:
        """Ujar's feed cursor is opaque and holds no time: read it from the start.

        Every ticket comes once more; the engine recognises the unchanged ones.
        """
        return None

    def pull(self, cursor: str | None) -> Iterator[Page]:
        """Follow the changes feed from ``cursor``; each page carries its ``next_cursor``.

        Delivery is at least once: an item identical to the last one this pull
        yielded for the same ticket, or older than it, is left out (the engine
        recognises the rest by fingerprint). An expired cursor (``410``)
        restarts the feed from the beginning: nothing is lost, and tickets
        already mapped are recognised.
        """
        current = cursor
        restarts = 0
        seen: OrderedDict[str, tuple[bytes, Any]] = OrderedDict()
        while True:
            params: dict[str, Any] = {"limit": self.config.page_size}
            if current is not None:
                params["cursor"] = current
            response = self._response("GET", FEED_PATH, params=params)
            if response.status_code == 410 and _error_code(response) == "cursor_expired":
                if current is None or restarts >= MAX_FEED_RESTARTS:
                    raise Unavailable("Ujar keeps answering cursor_expired; the feed cannot start")
                restarts += 1
                self.cursor_restarts += 1
                log.warning("ujar_cursor_expired", source=self.name, restarts=self.cursor_restarts)
                current = None
                continue
            body = self._body(response)
            items = body.get("items") if isinstance(body, dict) else None
            if not isinstance(items, list):
                raise Unavailable("Ujar's feed answer has no items list")
            next_cursor = body.get("next_cursor")
            next_cursor = next_cursor if isinstance(next_cursor, str) and next_cursor else None
            yield Page(_fresh(items, seen), next_cursor)
            if body.get("has_more") is not True or next_cursor is None or next_cursor == current:
                return
            current = next_cursor

    def _record(self, local_id: str) -> RawRecord:
        return _raw(self._call("GET", self._ticket_path(local_id)))

    def fetch_attachment(self, attachment: Attachment) -> bytes:
        """The photo's bytes, with the bearer token: only from ``base_url``'s scheme,
        host and port (a relative URL is on it)."""
        require_same_origin(self.config.base_url, attachment.url)
        return get_photo(self.endpoint, attachment.url)

    def link_national(self, local_id: str, national_id: int) -> None:
        body = {"system": LAPOR_SYSTEM, "ref": str(national_id)}
        self._call("PUT", self._ticket_path(local_id, "/external"), json=body)

    def set_status(self, local_id: str, status: Status) -> None:
        body = {"statusCode": LOCAL_STATUS[status]}
        self._call("PUT", self._ticket_path(local_id, "/status"), json=body)

    def add_response(self, local_id: str, response: FollowUp, ref: str) -> None:
        body = {
            "by": response.author,
            "text": response.content,
            "at": to_ms(response.at),
            "clientRef": ref,
        }
        path = self._ticket_path(local_id, "/responses")
        self._call("POST", path, idempotent=False, json=body)

    def create(self, complaint: NationalComplaint) -> Created:
        body = create_body(complaint, self.config.categories)
        created = self._call("POST", "/v2/tickets", idempotent=False, json=body)
        ticket_no = created.get("ticketNo") if isinstance(created, Mapping) else None
        if not isinstance(ticket_no, str) or not ticket_no:
            raise Unavailable("Ujar answered a create without a ticketNo")
        return Created(ticket_no)

    def find_created(self, national_id: int, since: datetime) -> str | None:
        """Scan the feed from its start for a ticket linked to ``national_id``.

        The feed is Ujar's only listing; the scan stops at the first match.
        """
        for page in self.pull(None):
            for raw in page.records:
                if _links_to(raw.payload, national_id, since):
                    return raw.local_id
        return None

    def close(self) -> None:
        super().close()
        self._token_endpoint.client.close()


def create_body(
    complaint: NationalComplaint, categories: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The ``POST /v2/tickets`` body for a national inbox complaint.

    Ujar has no title: the title heads the message, unless the text already
    starts with it. The reporter is left out when LAPOR hides them.
    """
    title, content = complaint.title.strip(), complaint.content.strip()
    message = content if not title or content.startswith(title) else f"{title}\n{content}"
    reporter = None if complaint.anonymous else complaint.reporter
    name = reporter.name.get_secret_value() if reporter and reporter.name else None
    phone = reporter.phone.get_secret_value() if reporter and reporter.phone else None
    where = complaint.location
    location = None
    if where is not None and where.latitude is not None and where.longitude is not None:
        location = f"{_coordinate(where.latitude)},{_coordinate(where.longitude)}"
    return {
        "message": message,
        "categoryCode": local_category(complaint.category, categories),
        "location": location,
        "address": where.address if where is not None else None,
        "userName": name,
        "userPhone": phone,
        "anonymous": complaint.anonymous,
        "external": [{"system": LAPOR_SYSTEM, "ref": str(complaint.id)}],
    }


def _coordinate(value: float) -> str:
    """Fixed notation (Ujar does not read ``1e-05``), trailing zeros dropped."""
    return f"{value:.6f}".rstrip("0").rstrip(".")


def _raw(item: Any) -> RawRecord:
    ticket_no = item.get("ticketNo") if isinstance(item, Mapping) else None
    return RawRecord(str(ticket_no), item if isinstance(item, Mapping) else {"value": item})


def _fresh(items: list[Any], seen: OrderedDict[str, tuple[bytes, Any]]) -> list[RawRecord]:
    """The page's records, without repeats of what this pull yielded lately.

    ``seen`` maps ticketNo → (content digest, updatedAt) of the last item yielded,
    for the :data:`SEEN_TICKETS` tickets yielded last: repeats come close together,
    and one that comes later is recognised by the engine. Kept whole, it would make
    a pull's memory grow with the backlog.
    """
    records = []
    for item in items:
        raw = _raw(item)
        ticket_no = item.get("ticketNo") if isinstance(item, Mapping) else None
        if isinstance(ticket_no, str):
            digest, updated = _digest(raw.payload), raw.payload.get("updatedAt")
            last = seen.get(ticket_no)
            if last is not None and (digest == last[0] or _older(updated, last[1])):
                continue
            seen[ticket_no] = (digest, updated)
            seen.move_to_end(ticket_no)
            if len(seen) > SEEN_TICKETS:
                seen.popitem(last=False)
        records.append(raw)
    return records


def _older(updated: Any, than: Any) -> bool:
    """True only when both are epoch-ms integers and ``updated`` is the earlier one."""
    numbers = all(isinstance(v, int) and not isinstance(v, bool) for v in (updated, than))
    return numbers and updated < than


def _links_to(payload: Mapping[str, Any], national_id: int, since: datetime) -> bool:
    try:
        linked = national_id_of(payload.get("external"))
        updated = time_of(payload.get("updatedAt"), "updatedAt")
    except NormalizeError:
        return False
    return linked == national_id and updated >= since


def connect(
    name: str,
    config: UjarConfig,
    *,
    policy: RetryPolicy | None = None,
    transport: httpx.BaseTransport | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> UjarSource:
    """An Ujar source: one rate limit shared by the API and its token endpoint."""
    limiter = rate_limiter(config.requests_per_second)
    policy = policy or RetryPolicy()
    token_client = make_client(config.base_url, timeout=config.timeout_seconds, transport=transport)
    token_endpoint = Endpoint(f"Ujar ({name}) token endpoint", token_client, limiter, policy)
    credentials = ClientCredentials(name, config, token_endpoint, clock)
    client = make_client(
        config.base_url,
        timeout=config.timeout_seconds,
        auth=BearerAuth(credentials, config.base_url),
        transport=transport,
    )
    endpoint = Endpoint(f"Ujar ({name})", client, limiter, policy)
    return UjarSource(name, config, endpoint, credentials, token_endpoint)
