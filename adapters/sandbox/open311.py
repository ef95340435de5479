"""Sandbox of an Open311 GeoReport v2 city (contract: ``shared/contract/open311.md``).

It answers JSON only (the ``.json`` suffix; ``.xml`` is refused with 400)
and its answers validate against the standard's schemas in
``shared/open311-schema/``. Quirks and decisions, where servers differ or
the contract is silent:

* ``jurisdiction_id``: when the sandbox has one, every request must carry it
  (query or form): missing is ``400``, another value ``404``.
* ``api_key`` on every ``POST`` and on ``GET /servicerequestupdates.json``;
  missing or wrong is ``403``.
* Errors are ``[{"code": ..., "description": ...}]``. The body's code may
  differ from the HTTP status: an unknown ``service_code`` on a write is
  HTTP ``400`` with code ``404`` in the body.
* Times are written with the offset in :attr:`Open311Sandbox.utc_offset`
  (``Z`` by default, e.g. ``+07:00``); times read must carry an offset.
* ``GET /requests.json``: without dates, the last 90 days; ``end_date``
  alone means the 90 days before it, ``start_date`` alone runs to now. A
  window over 90 days is ``400``. The answer is the **newest** 1000 requests
  (``requested_datetime`` descending, then id descending) with no
  pagination: a client that gets 1000 narrows ``end_date`` to the oldest
  ``requested_datetime`` it saw (inclusive) and drops the ids it already has.
* ``GET /servicerequestupdates.json``: same window rules, oldest first,
  no cap.
* A request's ``status`` is ``open``/``closed``; the extended status lives
  on each update, written as it was given (the city's own updates in lower
  case, the bridge's in UPPER CASE). Closed: ``closed``, ``fixed``,
  ``duplicate``, ``not_councils_responsibility``, ``no_further_action``,
  ``cancelled``; anything else (``reopen`` included) is open.
* ``POST /servicerequestupdates.json`` wants the status in UPPER CASE
  (lower case is ``400``) and answers ``[{"update_id": <the writer's id>}]``;
  a repeated ``update_id`` is ``400`` "already exists" and changes nothing.
* Queued mode: ``POST /requests.json`` answers ``[{"token"}]``; the first
  :attr:`Open311Sandbox.token_polls` polls of ``GET /tokens/{token}.json``
  answer ``[{"token"}]`` alone, the next one creates the request (its
  ``requested_datetime`` is the time of the POST) and answers with its id.
  :meth:`Open311Sandbox.work_queue` makes every queued request at once, as
  the back end's worker would (a token whose answer was lost is made too).

Profiles (``profile=``; open311.md, "Real servers"): ``spec`` is all of the
above; the others bend it as the real servers they are drawn from do.

* ``fms`` (FixMyStreet: ``Controller/Open311.pm``, ``Open311/Updates.pm``):
  every list wrapped (``{"services": [...]}``, ``{"service_requests": [...]}``,
  ``{"service_request_updates": [...]}``); an error is one object
  ``{"errors": {"code", "description"}}``, a 400 saying ``Bad request: ...``;
  a bad or missing key is ``400`` ``Bad request: api_key ...``; an unknown id
  is ``200 {"service_requests": []}``; an update needs a non-empty
  ``description``; a repeated ``update_id`` is ``400`` "already exists"; a
  posted update answers ``{"service_request_updates": {"update_id": <FixMyStreet's
  own comment id>}}`` (the feed keeps the writer's id, as FixMyStreet keeps it
  as the comment's external id); ``agency_responsible`` is an object
  ``{"recipient": [...]}``; creates are immediate (no tokens).
* ``adapter`` (mySociety's open311-adapter, ``Open311::Endpoint``): JSON
  answers lose their wrapper (``Spark::process_for_json``), the updates feed
  included: a **bare array**; errors an array whose first element names the
  failed call (``Error in input for POST_Service_Request_Update``) and the
  next what failed; request and update ids **integers from 0**; ``metadata``
  ``"true"``/``"false"``; a missing or wrong key ``400``; an unknown id and
  ``/tokens/...`` ``500``; a posted update is stored under the server's own
  ``update_id`` (the writer's is dropped) and a repeated one is stored again;
  update statuses also ``unchanged`` (moves nothing), ``planned``,
  ``for_triage``, ``referred_to_<team>``; ``GET /requests/{id}.json`` of a
  request whose status matches :attr:`Open311Sandbox.failing_statuses`
  answers ``500`` "Error in output for GET_Service_Request" (the framework
  fails to render it), while the list still shows it.
* ``capped`` (Chicago, San Francisco, Boston, Baltimore): at most
  :attr:`Open311Sandbox.max_requests` (50) requests an answer, ordered by
  ``updated_datetime`` newest first (:attr:`Open311Sandbox.order`), whatever
  was asked; each answer also holds the :attr:`Open311Sandbox.strays` (2)
  most recently updated requests from *outside* the asked window, counted in
  the cap; ``start_date``/``end_date`` only **without** an offset (read as
  UTC; with one: ``400``).
* ``xml`` (Toronto, Washington DC): only ``.xml`` paths answer (``.json`` is
  ``404``); ``<services>`` of ``<service>``, ``<service_requests>`` of
  ``<request>``, ``<service_requests_updates>`` of ``<request_update>``,
  ``<errors>`` of ``<error>``; every value is text, ``None`` an empty element,
  and a request's ``<updated_datetime/>`` is always empty (as Toronto's).

Any profile: a request added with ``processing=True`` is listed without its
``service_request_id`` (the capped cities' "being processed") until
:meth:`Open311Sandbox.finish_processing`; :meth:`Open311Sandbox.malform` makes
list answers malformed (cut short, an XML entity bomb, non-objects among the
items) until :meth:`Open311Sandbox.clear_malformations`.

Switchable behaviours of other servers, off by default (all within what the
contract and the schemas allow a server to do):

* :attr:`Open311Sandbox.pending_token_answer`: how a token not resolved yet
  is answered: ``"token"`` (``[{"token"}]``, the default), ``"empty"``
  (``[]``) or ``"404"`` (the error array, as for an unknown token).
* :attr:`Open311Sandbox.bare_requests`: requests are answered with only the
  fields ``request.json`` requires (``service_request_id``, ``status``,
  ``service_code``, ``requested_datetime``).
* :attr:`Open311Sandbox.error_status`: every error is answered with this
  HTTP status, the body keeping its own code (a bad key: HTTP 400, code 403).
* :attr:`Open311Sandbox.error_summary`: every error array starts with a
  generic element (``{"code": <HTTP status>, "description": "request
  failed"}``) before the one that says what failed.
* ``add_update(omit=...)``: the feed leaves fields out of that update (e.g.
  ``update_id`` or ``updated_datetime``), as loose servers do.
"""

from __future__ import annotations

import json
import random
import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from fnmatch import fnmatchcase
from typing import Any, ClassVar
from urllib.parse import urlsplit

from adapters.local import sample
from adapters.sandbox.server import Request, Response, SandboxServer

__all__ = [
    "ADAPTER_STATUSES",
    "CLOSED_STATUSES",
    "MALFORMATIONS",
    "MAX_WINDOW",
    "ORDERS",
    "PROFILES",
    "SERVICES",
    "UPDATE_STATUSES",
    "Open311Sandbox",
    "Service",
]


MAX_WINDOW = timedelta(days=90)
MAX_REQUESTS = 1000
MAX_DESCRIPTION = 4000

UPDATE_STATUSES = (
    "open",
    "closed",
    "fixed",
    "in_progress",
    "action_scheduled",
    "investigating",
    "duplicate",
    "not_councils_responsibility",
    "no_further_action",
    "internal_referral",
    "cancelled",
    "reopen",
)
CLOSED_STATUSES = frozenset(
    {
        "closed",
        "fixed",
        "duplicate",
        "not_councils_responsibility",
        "no_further_action",
        "cancelled",
    }
)

_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
#: the fields request.json requires: all a bare request carries
_REQUIRED = ("service_request_id", "status", "service_code", "requested_datetime")
#: what a pending token may be answered with (see ``pending_token_answer``)
_PENDING_ANSWERS = ("token", "empty", "404")
_OFFSET_PATTERN = re.compile(r"Z|[+-]\d{2}:\d{2}")
#: the update statuses open311-adapter's servers add (``referred_to_<team>`` too)
ADAPTER_STATUSES = ("unchanged", "planned", "for_triage")
_REFERRED = re.compile(r"referred_to_[a-z0-9_]+")
#: the families of real servers the sandbox can play (open311.md, "Real servers")
PROFILES = ("spec", "fms", "adapter", "capped", "xml")
#: how a list of requests is ordered, newest first: by requested or updated time
ORDERS = ("requested", "updated")
#: what :meth:`Open311Sandbox.malform` can make of an answer
MALFORMATIONS = ("truncated", "entity_bomb", "non_objects")
#: an XML element per item of each list (open311.md, "XML")
_XML_NAMES = {
    "services": ("services", "service"),
    "service_requests": ("service_requests", "request"),
    "service_request_updates": ("service_requests_updates", "request_update"),
}
#: the keys that identify an item of each list (kept when an item is garbled)
_ID_KEYS = {
    "services": ("service_code",),
    "service_requests": ("service_request_id",),
    "service_request_updates": ("update_id", "service_request_id"),
}
#: characters XML 1.0 cannot carry, even escaped
_XML_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_XML_TYPE = "text/xml; charset=utf-8"
#: open311-adapter names the failed call in its first error (``Endpoint::call_api``)
_API_NAMES = (
    ("GET", re.compile(r"/services\.\w+$"), "GET_Service_List"),
    ("GET", re.compile(r"/requests\.\w+$"), "GET_Service_Requests"),
    ("POST", re.compile(r"/requests\.\w+$"), "POST_Service_Request"),
    ("GET", re.compile(r"/requests/[^/]+\.\w+$"), "GET_Service_Request"),
    ("GET", re.compile(r"/servicerequestupdates\.\w+$"), "GET_Service_Request_Updates"),
    ("POST", re.compile(r"/servicerequestupdates\.\w+$"), "POST_Service_Request_Update"),
)
_BILLION_LAUGHS = """<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE {root} [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<{root}><{item}><{key}>&lol9;</{key}></{item}></{root}>
"""


@dataclass(frozen=True)
class _Profile:
    """How one family of real servers bends the standard (the module docstring)."""

    ext: str = "json"
    wrap_lists: bool = False  # {"service_requests": [...]} and the like
    bare_updates: bool = False  # the updates feed a bare array
    errors: str = "array"  # array | fms | adapter | xml
    auth_status: int = 403
    unknown_id: str = "404"  # 404 | empty | 500
    refuse_repeat: bool = True
    own_update_ids: bool = False
    integer_ids: bool = False
    string_booleans: bool = False
    tokens: bool = True
    window_offset: bool = True  # start_date/end_date with an offset (else without one)
    extended_statuses: bool = False
    agency_object: bool = False
    empty_updated: bool = False
    update_needs_description: bool = False
    max_requests: int = MAX_REQUESTS
    order: str = "requested"
    strays: int = 0
    failing_statuses: frozenset[str] = frozenset()


_PROFILES = {
    "spec": _Profile(),
    "fms": _Profile(
        wrap_lists=True,
        errors="fms",
        auth_status=400,
        unknown_id="empty",
        tokens=False,
        agency_object=True,
        update_needs_description=True,
    ),
    "adapter": _Profile(
        bare_updates=True,
        errors="adapter",
        auth_status=400,
        unknown_id="500",
        refuse_repeat=False,
        own_update_ids=True,
        integer_ids=True,
        string_booleans=True,
        tokens=False,
        extended_statuses=True,
        failing_statuses=frozenset({"for_triage", "planned", "referred_to_*"}),
    ),
    "capped": _Profile(window_offset=False, max_requests=50, order="updated", strays=2),
    "xml": _Profile(ext="xml", errors="xml", empty_updated=True),
}


@dataclass(frozen=True)
class Service:
    """One service (request type) the city offers."""

    code: str
    name: str
    group: str
    agency: str
    description: str
    keywords: str

    def render(self) -> dict[str, Any]:
        return {
            "service_code": self.code,
            "service_name": self.name,
            "description": self.description,
            "metadata": False,
            "type": "realtime",
            "keywords": self.keywords,
            "group": self.group,
        }


SERVICES = (
    Service(
        "DRAINASE",
        "Saluran air / drainase tersumbat",
        "Pekerjaan Umum",
        "Dinas Pekerjaan Umum dan Penataan Ruang",
        "Parit, gorong-gorong atau saluran yang tersumbat dan menyebabkan genangan.",
        "banjir,genangan,parit,got,selokan,drainase",
    ),
    Service(
        "SAMPAH",
        "Sampah tidak diangkut",
        "Kebersihan",
        "Dinas Lingkungan Hidup",
        "Sampah rumah tangga yang belum diangkut atau TPS yang penuh.",
        "sampah,tps,kebersihan",
    ),
    Service(
        "PJU",
        "Lampu penerangan jalan mati",
        "Pekerjaan Umum",
        "Dinas Perumahan dan Kawasan Permukiman",
        "Lampu penerangan jalan umum (PJU) yang padam atau berkedip.",
        "lampu,pju,penerangan",
    ),
    Service(
        "JALAN",
        "Jalan berlubang",
        "Pekerjaan Umum",
        "Dinas Pekerjaan Umum dan Penataan Ruang",
        "Lubang, aspal amblas atau kerusakan badan jalan.",
        "jalan,lubang,aspal",
    ),
    Service(
        "POHON",
        "Pohon tumbang / rawan tumbang",
        "Lingkungan",
        "Dinas Lingkungan Hidup",
        "Pohon atau dahan yang tumbang, patah, atau perlu dipangkas.",
        "pohon,dahan,pangkas",
    ),
    Service(
        "PARKIR",
        "Parkir liar",
        "Perhubungan",
        "Dinas Perhubungan",
        "Kendaraan parkir di bahu jalan atau trotoar dan juru parkir liar.",
        "parkir,jukir,macet",
    ),
    Service(
        "LAIN",
        "Lainnya",
        "Lainnya",
        "Sekretariat Daerah",
        "Pengaduan yang tidak termasuk jenis layanan lain.",
        "lain,umum",
    ),
)

#: the shared sample topics as this city's service codes
_TOPIC_SERVICE = {
    "banjir": "DRAINASE",
    "sampah": "SAMPAH",
    "lampu": "PJU",
    "jalan": "JALAN",
    "pohon": "POHON",
    "parkir": "PARKIR",
}
#: how the city's back office moves a request along, as update statuses
_PROGRESS = ("investigating", "action_scheduled", "in_progress")


def _errors(status: int, description: str, code: int | None = None) -> Response:
    """An Open311 error answer; ``code`` is the body's code when it differs."""
    return Response.json(status, [{"code": code or status, "description": description}])


def parse_time(text: str) -> datetime | None:
    """A W3C/ISO 8601 date-time that carries an offset, or None."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _clock_time(text: str) -> datetime | None:
    """A date-time *without* an offset, read as UTC (the capped cities' windows), or None."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else None


@dataclass
class _ServiceRequest:
    id: str
    service: Service
    description: str
    requested: datetime
    updated: datetime
    lat: float | None = None
    long: float | None = None
    address: str | None = None
    media_url: str | None = None
    first_name: str = ""
    last_name: str = ""
    phone: str = ""
    email: str = ""
    attributes: dict[str, str] = field(default_factory=dict)
    status: str = "open"
    extended_status: str = "open"
    status_notes: str | None = None
    expected: datetime | None = None
    processing: bool = False  # listed without its id
    parent: str | None = None  # the request this one duplicates (mark_duplicate)
    garbled: dict[str, Any] = field(default_factory=dict)  # raw values the answers show


@dataclass
class _Update:
    update_id: str
    service_request_id: str
    status: str  # as written, upper or lower case
    updated: datetime
    description: str
    media_url: str | None
    external_status_code: str | None
    seq: int
    omit: frozenset[str] = frozenset()  # fields the feed leaves out


@dataclass
class _Token:
    token: str
    submission: dict[str, Any]
    submitted: datetime
    polls: int = 0
    service_request_id: str | None = None


@dataclass
class _Malformation:
    kind: str
    path: re.Pattern[str]
    remaining: int | None  # None: until cleared


class _Invalid(Exception):
    """A write refused with 400; ``code`` is the body's code."""

    def __init__(self, description: str, code: int = 400) -> None:
        super().__init__(description)
        self.description = description
        self.code = code


def _api_name(request: Request) -> str | None:
    for method, pattern, name in _API_NAMES:
        if request.method == method and pattern.search(request.path):
            return name
    return None


def _xml_text(value: Any) -> str | None:
    """A value as XML text ("every value is text"); None is an empty element."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return _XML_INVALID.sub("\ufffd", str(value))


def _xml_fill(element: ET.Element, value: Any) -> None:
    if isinstance(value, Mapping):
        for name, inner in value.items():
            _xml_fill(ET.SubElement(element, name), inner)
    elif isinstance(value, list):
        for inner in value:
            _xml_fill(ET.SubElement(element, "item"), inner)
    else:
        element.text = _xml_text(value)


def _xml_document(root: ET.Element) -> bytes:
    text = ET.tostring(root, encoding="unicode", short_empty_elements=True)
    return f'<?xml version="1.0" encoding="utf-8"?>\n{text}'.encode()


def _xml_list(kind: str, items: Iterable[Any]) -> bytes:
    """A list as the XML servers write it; an item that is not an object is its text."""
    root_name, item_name = _XML_NAMES[kind]
    root = ET.Element(root_name)
    for item in items:
        _xml_fill(ET.SubElement(root, item_name), item)
    return _xml_document(root)


class Open311Sandbox(SandboxServer):
    """An Open311 GeoReport v2 server on loopback, with a control API for tests.

    ``base_url`` (``url + prefix``) is what an adapter is configured with.
    ``now`` is a callable giving the current aware datetime; replace it to
    control time. ``profile`` picks the family of real servers it plays
    (:data:`PROFILES`); ``max_requests``, ``order``, ``strays`` and
    ``failing_statuses`` default to the profile's. ``queued``, ``token_polls``
    and the switchable behaviours of the module docstring may be changed at
    any time.
    """

    #: injected faults answer in the standard's error shape
    error_body: ClassVar[Any] = [{"code": 500, "description": "Internal Server Error"}]
    validation_body: ClassVar[Any] = [{"code": 400, "description": "invalid request"}]

    def __init__(
        self,
        api_key: str = "kunci-open311",
        jurisdiction_id: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        profile: str = "spec",
        queued: bool = False,
        token_polls: int = 2,
        utc_offset: str = "Z",
        prefix: str = "",
        max_requests: int | None = None,
        order: str | None = None,
        strays: int | None = None,
        failing_statuses: Iterable[str] | None = None,
        seed: int = 0,
        now: Callable[[], datetime] | None = None,
        pending_token_answer: str = "token",
        bare_requests: bool = False,
        error_status: int | None = None,
        error_summary: bool = False,
    ) -> None:
        # checked before the server binds its socket: a refused sandbox leaves nothing open
        if pending_token_answer not in _PENDING_ANSWERS:
            raise ValueError(f"pending_token_answer must be one of {_PENDING_ANSWERS}")
        if profile not in _PROFILES:
            raise ValueError(f"profile must be one of {PROFILES}")
        if queued and not _PROFILES[profile].tokens:
            raise ValueError(f"the {profile} profile makes requests at once: it has no tokens")
        if order is not None and order not in ORDERS:
            raise ValueError(f"order must be one of {ORDERS}")
        super().__init__(host, port, seed=seed)
        self.profile = profile
        self._profile = _PROFILES[profile]
        self.api_key = api_key
        self.jurisdiction_id = jurisdiction_id
        self.queued = queued
        self.token_polls = token_polls
        self.pending_token_answer = pending_token_answer
        self.bare_requests = bare_requests
        self.error_status = error_status
        self.error_summary = error_summary
        self.max_requests = self._profile.max_requests if max_requests is None else max_requests
        self.order = self._profile.order if order is None else order
        #: how many requests from outside the asked window each list answer also holds
        self.strays = self._profile.strays if strays is None else strays
        #: statuses (shell patterns) whose single-request read answers 500
        self.failing_statuses = frozenset(
            self._profile.failing_statuses if failing_statuses is None else failing_statuses
        )
        self.prefix = prefix.rstrip("/")
        self.now: Callable[[], datetime] = now or (lambda: datetime.now(UTC))
        self._offset = "Z"
        self._zone: tzinfo = UTC
        self.utc_offset = utc_offset
        self._services = {s.code: s for s in SERVICES}
        self._requests: dict[str, _ServiceRequest] = {}
        self._updates: dict[str, _Update] = {}
        self._tokens: dict[str, _Token] = {}
        self._malformations: list[_Malformation] = []
        self._next_id = 0 if self._profile.integer_ids else 40001
        self._next_update = 1
        self._next_own_update = 0

        p, ext = re.escape(self.prefix), self._profile.ext
        self.router.add("GET", rf"{p}/services\.{ext}", self._services_list)
        self.router.add("GET", rf"{p}/requests\.{ext}", self._requests_list)
        self.router.add("POST", rf"{p}/requests\.{ext}", self._create_request)
        self.router.add("GET", rf"{p}/requests/(?P<id>[^/]+)\.{ext}", self._request_one)
        self.router.add("GET", rf"{p}/tokens/(?P<token>[^/]+)\.{ext}", self._token)
        self.router.add("GET", rf"{p}/servicerequestupdates\.{ext}", self._updates_list)
        self.router.add("POST", rf"{p}/servicerequestupdates\.{ext}", self._create_update)

    @property
    def base_url(self) -> str:
        """The endpoint an adapter is configured with."""
        return f"{self.url}{self.prefix}"

    @property
    def utc_offset(self) -> str:
        """The offset the server writes its times with: ``Z`` or ``±HH:MM``."""
        return self._offset

    @utc_offset.setter
    def utc_offset(self, offset: str) -> None:
        if _OFFSET_PATTERN.fullmatch(offset) is None:
            raise ValueError(f"offset must be Z or ±HH:MM, not {offset!r}")
        if offset == "Z":
            self._zone = UTC
        else:
            sign = -1 if offset[0] == "-" else 1
            hours, minutes = int(offset[1:3]), int(offset[4:6])
            self._zone = timezone(sign * timedelta(hours=hours, minutes=minutes))
        self._offset = offset

    # hooks -------------------------------------------------------------------
    def authorize(self, request: Request) -> Response | None:
        params = _params(request)
        if self.jurisdiction_id is not None:
            given = params.get("jurisdiction_id", "")
            if not given:
                return _errors(400, "jurisdiction_id is required")
            if given != self.jurisdiction_id:
                return _errors(404, f"jurisdiction_id {given} not found")
        needs_key = request.method == "POST" or request.path.endswith(
            f"/servicerequestupdates.{self._profile.ext}"
        )
        if needs_key and params.get("api_key") != self.api_key:
            if self._profile.auth_status == 403:
                return _errors(403, "Invalid api_key received -- can't proceed")
            return _errors(self._profile.auth_status, "api_key is missing or not valid")
        return None

    def dispatch(self, request: Request) -> Response:
        response = super().dispatch(request)
        if response.status == 405:
            response = _errors(405, f"method {request.method} not allowed")
        if response.status >= 400 and response.content_type == "application/json":
            body = json.loads(response.body)
            if isinstance(body, list):  # the standard's error array, from _errors
                status = self.error_status or response.status
                if self.error_summary:
                    body = [{"code": status, "description": "request failed"}, *body]
                response = self._error_answer(status, body, _api_name(request))
        return response

    def not_found(self, request: Request) -> Response:
        if self._profile.ext == "xml" and request.path.endswith(".json"):
            return _errors(404, "only the xml format is supported")
        if self._profile.ext == "json" and request.path.endswith(".xml"):
            return _errors(400, "only the json format is supported")
        return _errors(404, "not found")

    def fault_response(self, kind: str, params: dict[str, float]) -> Response:
        if kind in ("500", "503"):
            body = [{**self.error_body[0], "code": int(kind)}]
            return self._error_answer(int(kind), body, None)
        if kind == "422":  # the standard has no 422: validation failures are 400
            return self._error_answer(400, self.validation_body, None)
        if kind == "429":
            retry_after = str(int(params.get("retry_after", 1)))
            answer = self._error_answer(429, [{"code": 429, "description": "Too Many Requests"}])
            answer.headers["Retry-After"] = retry_after
            return answer
        return super().fault_response(kind, params)

    # answers in the profile's shapes ---------------------------------------------
    def _error_answer(
        self, status: int, errors: list[dict[str, Any]], api: str | None = None
    ) -> Response:
        """The standard's error array as this profile writes errors."""
        style = self._profile.errors
        if style == "fms":
            shown = [
                {
                    **error,
                    "description": f"Bad request: {error['description']}"
                    if status == 400
                    else error["description"],
                }
                for error in errors
            ]
            return Response.json(status, {"errors": shown[0] if len(shown) == 1 else shown})
        if style == "adapter":
            if api is not None and status == 400:
                errors = [{"code": 400, "description": f"Error in input for {api}"}, *errors]
            return Response.json(status, errors[:9])
        if style == "xml":
            root = ET.Element("errors")
            for error in errors:
                _xml_fill(ET.SubElement(root, "error"), error)
            return Response(status, _xml_document(root), _XML_TYPE)
        return Response.json(status, errors)

    def _answer_list(self, request: Request, kind: str, items: list[Any]) -> Response:
        """A list answer (``kind``: services, service_requests, service_request_updates)."""
        malformation = self._take_malformation(request)
        if malformation == "entity_bomb":
            root, item = _XML_NAMES[kind]
            bomb = _BILLION_LAUGHS.format(root=root, item=item, key=_ID_KEYS[kind][0])
            return Response(200, bomb.encode(), _XML_TYPE)
        if malformation == "non_objects":
            items = self._non_objects(kind, items)
        answer = self._list_body(kind, items)
        if malformation == "truncated":
            answer.body = answer.body[: max(1, len(answer.body) // 2)]
        return answer

    def _list_body(self, kind: str, items: list[Any]) -> Response:
        if self._profile.ext == "xml":
            return Response(200, _xml_list(kind, items), _XML_TYPE)
        wrapped = self._profile.wrap_lists or (
            kind == "service_request_updates" and not self._profile.bare_updates
        )
        return Response.json(200, {kind: items} if wrapped else items)

    def _non_objects(self, kind: str, items: list[Any]) -> list[Any]:
        """The items with the first garbled (its ids kept) and things that are not objects."""
        if self._profile.ext == "xml":
            strangers: list[Any] = ["bukan objek", 17]
            garble: dict[str, Any] = {"status": {"status": "open"}, "requested_datetime": "kemarin"}
        else:
            strangers = [17, "bukan objek", None, ["daftar"]]
            garble = {"status": ["?"], "requested_datetime": 17}
        if not items:
            return strangers
        first = items[0]
        kept = {key: first[key] for key in _ID_KEYS[kind] if key in first}
        return [{**kept, **garble}, *items[1:], *strangers]

    def _take_malformation(self, request: Request) -> str | None:
        if request.method != "GET":
            return None
        with self.lock:
            for malformation in self._malformations:
                if malformation.path.search(request.path) is None:
                    continue
                if malformation.remaining is not None:
                    malformation.remaining -= 1
                    if malformation.remaining <= 0:
                        self._malformations.remove(malformation)
                return malformation.kind
        return None

    def _id(self, value: str) -> str | int:
        """An id as this profile writes it: integers where it numbers its records."""
        if self._profile.integer_ids and value.isdigit():
            return int(value)
        return value

    # HTTP handlers -----------------------------------------------------------
    def _services_list(self, request: Request) -> Response:
        items = [s.render() for s in self._services.values()]
        if self._profile.string_booleans:
            items = [
                {**item, "metadata": "true" if item["metadata"] else "false"} for item in items
            ]
        return self._answer_list(request, "services", items)

    def _requests_list(self, request: Request) -> Response:
        try:
            start, end = self._window(request)
            statuses = _status_filter(request.arg("status", "") or "")
        except _Invalid as invalid:
            return _errors(400, invalid.description, invalid.code)
        with self.lock:
            wanted = [
                r for r in self._requests.values() if statuses is None or r.status in statuses
            ]
            rows = [r for r in wanted if start <= r.requested <= end]
            if self.strays > 0:
                inside = {r.id for r in rows}
                outside = [r for r in wanted if r.id not in inside]
                outside.sort(key=lambda r: (r.updated, int(r.id)), reverse=True)
                rows.extend(outside[: self.strays])
            if self.order == "updated":
                rows.sort(key=lambda r: (r.updated, int(r.id)), reverse=True)
            else:
                rows.sort(key=lambda r: (r.requested, int(r.id)), reverse=True)
            items = [self._public(r) for r in rows[: self.max_requests]]
        return self._answer_list(request, "service_requests", items)

    def _request_one(self, request: Request) -> Response:
        wanted = request.params["id"]
        with self.lock:
            found = self._requests.get(wanted)
            if found is None or found.processing:
                if self._profile.unknown_id == "empty":
                    return self._answer_list(request, "service_requests", [])
                status = 500 if self._profile.unknown_id == "500" else 404
                return _errors(status, f"service request {wanted} not found")
            if any(fnmatchcase(found.extended_status, p) for p in self.failing_statuses):
                return _errors(500, "Error in output for GET_Service_Request")
            return self._answer_list(request, "service_requests", [self._public(found)])

    def _token(self, request: Request) -> Response:
        if self.profile == "adapter":  # Endpoint.pm has no tokens
            return _errors(500, "tokens are not implemented")
        with self.lock:
            token = self._tokens.get(request.params["token"])
            if token is None:
                return _errors(404, f"token {request.params['token']} not found")
            if token.service_request_id is None:
                token.polls += 1
                if token.polls > self.token_polls:
                    self._materialise(token)
            if token.service_request_id is None and self.pending_token_answer == "empty":
                return self._answer_list(request, "service_requests", [])
            if token.service_request_id is None and self.pending_token_answer == "404":
                return _errors(404, f"token {token.token} not found")
            answer: dict[str, Any] = {"token": token.token}
            if token.service_request_id is not None:
                answer = {"service_request_id": self._id(token.service_request_id), **answer}
            return self._answer_list(request, "service_requests", [answer])

    def _updates_list(self, request: Request) -> Response:
        try:
            start, end = self._window(request)
        except _Invalid as invalid:
            return _errors(400, invalid.description, invalid.code)
        with self.lock:
            rows = [u for u in self._updates.values() if start <= u.updated <= end]
            rows.sort(key=lambda u: (u.updated, u.seq))
            items = [self._render_update(u) for u in rows]
        return self._answer_list(request, "service_request_updates", items)

    def _create_request(self, request: Request) -> Response:
        try:
            submission = self._read_submission(_form(request))
        except _Invalid as invalid:
            return _errors(400, invalid.description, invalid.code)
        with self.lock:
            if self.queued:
                token = _Token(str(uuid.uuid4()), submission, self.now())
                self._tokens[token.token] = token
                return self._answer_list(request, "service_requests", [{"token": token.token}])
            created = self._new_request(**submission, requested=self.now())
            notice = "Laporan diterima dan akan ditindaklanjuti dalam 3 hari kerja."
            answer = {"service_request_id": self._id(created.id), "service_notice": notice}
            return self._answer_list(request, "service_requests", [answer])

    def _create_update(self, request: Request) -> Response:
        form = _form(request)
        request_id = form.get("service_request_id", "")
        update_id = form.get("update_id", "")
        status = form.get("status", "")
        required = [
            ("service_request_id", request_id),
            ("update_id", update_id),
            ("status", status),
            ("updated_datetime", form.get("updated_datetime", "")),
        ]
        if self._profile.update_needs_description:
            required.append(("description", form.get("description", "")))
        for name, value in required:
            if not value:
                return _errors(400, f"{name} is required")
        with self.lock:
            if request_id not in self._requests:
                unknown = {"fms": 400, "adapter": 500}.get(self.profile, 404)
                return _errors(unknown, f"service request {request_id} not found")
            if self._profile.refuse_repeat and update_id in self._updates:
                return _errors(400, f"update_id {update_id} already exists")
            if not self._known_status(status.lower()):
                return _errors(400, f"unknown status {status}")
            if status != status.upper():
                return _errors(400, f"status must be upper case, got {status}")
            updated = parse_time(form["updated_datetime"])
            if updated is None:
                return _errors(400, "updated_datetime must be a W3C date-time with an offset")
            media_url = form.get("media_url") or None
            if media_url is not None and not _is_url(media_url):
                return _errors(400, "media_url must be an http(s) URL")
            if self._profile.own_update_ids:  # the writer's update_id is dropped
                update_id = self._own_update_id()
            stored = self._new_update(
                request_id, update_id, status, form.get("description", ""), updated, media_url
            )
        if self._profile.ext == "xml":
            body = _xml_list("service_request_updates", [{"update_id": stored.update_id}])
            return Response(200, body, _XML_TYPE)
        if self.profile == "fms":  # its own comment id, one object
            return Response.json(200, {"service_request_updates": {"update_id": stored.seq}})
        return Response.json(200, [{"update_id": self._id(stored.update_id)}])

    # internals ---------------------------------------------------------------
    def _format(self, moment: datetime) -> str:
        text = moment.astimezone(self._zone).isoformat(timespec="seconds")
        return text.replace("+00:00", "Z") if self._offset == "Z" else text

    def _window(self, request: Request) -> tuple[datetime, datetime]:
        start_text = request.arg("start_date", "") or ""
        end_text = request.arg("end_date", "") or ""
        read = parse_time if self._profile.window_offset else _clock_time
        written = "with an offset" if self._profile.window_offset else "without an offset"
        start = read(start_text) if start_text else None
        end = read(end_text) if end_text else None
        if start_text and start is None:
            raise _Invalid(f"start_date must be a W3C date-time {written}")
        if end_text and end is None:
            raise _Invalid(f"end_date must be a W3C date-time {written}")
        if end is None:
            end = self.now()
        if start is None:
            start = end - MAX_WINDOW
        if start > end:
            raise _Invalid("start_date is after end_date")
        if end - start > MAX_WINDOW:
            raise _Invalid("start_date and end_date may be at most 90 days apart")
        return start, end

    def _known_status(self, status: str) -> bool:
        if status in UPDATE_STATUSES:
            return True
        extended = status in ADAPTER_STATUSES or _REFERRED.fullmatch(status) is not None
        return self._profile.extended_statuses and extended

    def _own_update_id(self) -> str:
        own = str(self._next_own_update)
        self._next_own_update += 1
        return own

    def _read_submission(self, form: dict[str, str]) -> dict[str, Any]:
        code = form.get("service_code", "")
        if not code:
            raise _Invalid("service_code is required")
        if code not in self._services:
            raise _Invalid(f"service_code {code} not found", code=404)
        lat_text, long_text = form.get("lat", ""), form.get("long", "")
        address = form.get("address_string", "").strip() or None
        lat = long = None
        if lat_text or long_text:
            try:
                lat, long = float(lat_text), float(long_text)
            except ValueError:
                raise _Invalid("lat and long must both be decimal numbers") from None
            if not (-90 <= lat <= 90 and -180 <= long <= 180):
                raise _Invalid("lat/long out of range")
        elif address is None:
            raise _Invalid("a location is required: lat and long, or address_string")
        description = form.get("description", "")
        if len(description) > MAX_DESCRIPTION:
            raise _Invalid(f"description may be at most {MAX_DESCRIPTION} characters")
        media_url = form.get("media_url") or None
        if media_url is not None and not _is_url(media_url):
            raise _Invalid("media_url must be an http(s) URL")
        attributes = {
            match.group(1): value
            for name, value in form.items()
            if (match := re.fullmatch(r"attribute\[(.+)\]", name))
        }
        return {
            "service_code": code,
            "description": description,
            "lat": lat,
            "long": long,
            "address": address,
            "media_url": media_url,
            "first_name": form.get("first_name", ""),
            "last_name": form.get("last_name", ""),
            "phone": form.get("phone", ""),
            "email": form.get("email", ""),
            "attributes": attributes,
        }

    def _new_request(
        self, service_code: str, requested: datetime, **fields: Any
    ) -> _ServiceRequest:
        service = self._services.get(service_code)
        if service is None:
            raise ValueError(f"unknown service_code {service_code!r}")
        if len(fields.get("description") or "") > MAX_DESCRIPTION:
            raise ValueError(f"description longer than {MAX_DESCRIPTION} characters")
        request_id = str(self._next_id)
        self._next_id += 1
        created = _ServiceRequest(
            id=request_id,
            service=service,
            description=fields.pop("description", "") or "",
            requested=requested,
            updated=fields.pop("updated", None) or requested,
            **fields,
        )
        self._requests[request_id] = created
        return created

    def _materialise(self, token: _Token) -> None:
        created = self._new_request(**token.submission, requested=token.submitted)
        token.service_request_id = created.id

    def _new_update(
        self,
        request_id: str,
        update_id: str,
        status: str,
        description: str,
        updated: datetime,
        media_url: str | None = None,
        external_status_code: str | None = None,
    ) -> _Update:
        if update_id in self._updates:
            raise ValueError(f"update_id {update_id} already exists")
        update = _Update(
            update_id,
            request_id,
            status,
            updated,
            description,
            media_url,
            external_status_code,
            self._next_update,
        )
        self._next_update += 1
        self._updates[update_id] = update
        target = self._requests[request_id]
        if status.lower() != "unchanged":  # open311-adapter's "no change of status"
            target.extended_status = status.lower()
        target.status = "closed" if target.extended_status in CLOSED_STATUSES else "open"
        target.status_notes = description or target.status_notes
        target.updated = max(target.updated, updated)
        return update

    def _render(self, found: _ServiceRequest) -> dict[str, Any]:
        agency: Any = found.service.agency
        if self._profile.agency_object:
            agency = {"recipient": [agency]}
        updated = None if self._profile.empty_updated else self._format(found.updated)
        return {
            "service_request_id": self._id(found.id),
            "status": found.status,
            "status_notes": found.status_notes,
            "service_name": found.service.name,
            "service_code": found.service.code,
            "description": found.description,
            "agency_responsible": agency,
            "service_notice": None,
            "requested_datetime": self._format(found.requested),
            "updated_datetime": updated,
            "expected_datetime": self._format(found.expected) if found.expected else None,
            "address": found.address,
            "address_id": None,
            "zipcode": None,
            "lat": found.lat,
            "long": found.long,
            "media_url": found.media_url,
            **self._parent(found),
        }

    def _parent(self, found: _ServiceRequest) -> dict[str, Any]:
        """A duplicate names its parent: in ``extended_attributes`` on Chicago-like servers
        (profile ``capped``), at the top elsewhere (``parent_service_request_id``)."""
        if found.parent is None:
            return {}
        if self.profile == "capped":
            return {
                "extended_attributes": {
                    "duplicate": True,
                    "parent_service_request_id": self._id(found.parent),
                }
            }
        return {"parent_service_request_id": self._id(found.parent)}

    def _public(self, found: _ServiceRequest) -> dict[str, Any]:
        """A request as the HTTP answers show it: bare when ``bare_requests`` is on,
        without its id while it is being processed, with its garbled values."""
        rendered = self._render(found)
        if self.bare_requests:
            rendered = {name: rendered[name] for name in _REQUIRED}
        rendered.update(found.garbled)
        if found.processing:
            del rendered["service_request_id"]
        return rendered

    def _render_update(self, update: _Update) -> dict[str, Any]:
        rendered = {
            "update_id": self._id(update.update_id),
            "service_request_id": self._id(update.service_request_id),
            "status": update.status,
            "updated_datetime": self._format(update.updated),
            "description": update.description,
            "media_url": update.media_url,
            "external_status_code": update.external_status_code,
        }
        return {name: value for name, value in rendered.items() if name not in update.omit}

    def _require(self, service_request_id: str) -> _ServiceRequest:
        found = self._requests.get(service_request_id)
        if found is None:
            raise KeyError(f"no service request {service_request_id}")
        return found

    # control API -------------------------------------------------------------
    def add_request(self, **fields: Any) -> dict[str, Any]:
        """Create a request as a citizen would; returns it as :meth:`request` does.

        Fields: ``service_code`` (default ``LAIN``), ``description``, ``lat``,
        ``long``, ``address``, ``media_url``, ``first_name``, ``last_name``,
        ``phone``, ``email``, ``attributes`` (dict), ``requested_datetime``
        and ``expected_datetime`` (aware datetimes; requested defaults to now),
        ``processing`` (listed without its id until :meth:`finish_processing`).
        """
        requested = fields.pop("requested_datetime", None) or self.now()
        expected = fields.pop("expected_datetime", None)
        processing = bool(fields.pop("processing", False))
        fields.setdefault("service_code", "LAIN")
        allowed = {
            "service_code", "description", "lat", "long", "address", "media_url",
            "first_name", "last_name", "phone", "email", "attributes",
        }  # fmt: skip
        unknown = set(fields) - allowed
        if unknown:
            raise TypeError(f"unknown request fields: {sorted(unknown)}")
        with self.lock:
            created = self._new_request(**fields, requested=requested)
            created.expected = expected
            created.processing = processing
            return self.request(created.id)

    def add_update(
        self,
        service_request_id: str,
        status: str,
        description: str,
        *,
        updated_datetime: datetime | None = None,
        update_id: str | None = None,
        media_url: str | None = None,
        external_status_code: str | None = None,
        omit: Iterable[str] = (),
    ) -> dict[str, Any]:
        """The city posts an update on a request; returns it as the feed shows it.

        ``status`` is any of :data:`UPDATE_STATUSES` in either case (stored
        as given; the ``adapter`` profile also :data:`ADAPTER_STATUSES` and
        ``referred_to_<team>``); the request's ``status``/``status_notes``
        follow. ``omit`` names fields the feed leaves out of it (``update_id``,
        ``updated_datetime``…): the sandbox still keeps and windows by them.
        """
        if not self._known_status(status.lower()):
            raise ValueError(f"unknown status {status!r}")
        left_out = frozenset(omit)
        if "service_request_id" in left_out:
            raise ValueError("the feed always names the update's request")
        with self.lock:
            self._require(service_request_id)
            if update_id is None and self._profile.own_update_ids:
                update_id = self._own_update_id()
            elif update_id is None:
                update_id = f"kota-{self._next_update}"
            update = self._new_update(
                service_request_id,
                update_id,
                status,
                description,
                updated_datetime or self.now(),
                media_url,
                external_status_code,
            )
            update.omit = left_out
            return self._render_update(update)

    def request(self, service_request_id: str) -> dict[str, Any]:
        """A request as ``GET /requests/{id}.json`` shows it, plus what only the city sees.

        The extra keys: ``first_name``, ``last_name``, ``phone``, ``email``,
        ``attributes`` (e.g. ``{"external_id": ...}``) and ``extended_status``.
        """
        with self.lock:
            found = self._require(service_request_id)
            return {
                **self._render(found),
                "first_name": found.first_name,
                "last_name": found.last_name,
                "phone": found.phone,
                "email": found.email,
                "attributes": dict(found.attributes),
                "extended_status": found.extended_status,
            }

    def work_queue(self) -> list[str]:
        """Make every queued request now, as a back end's worker would; their new ids.

        Without it a token resolves only when polled; with it a create whose
        answer (its token) was lost is still made, later.
        """
        with self.lock:
            made: list[str] = []
            for token in self._tokens.values():
                if token.service_request_id is None:
                    self._materialise(token)
                    assert token.service_request_id is not None
                    made.append(token.service_request_id)
            return made

    def all_requests(self) -> list[dict[str, Any]]:
        """Every request as :meth:`request` shows it, oldest first."""
        with self.lock:
            ordered = sorted(self._requests.values(), key=lambda r: (r.requested, int(r.id)))
            return [self.request(r.id) for r in ordered]

    def updates(self) -> list[dict[str, Any]]:
        """Every update (the city's and the writers'), as the feed shows them, oldest first."""
        with self.lock:
            ordered = sorted(self._updates.values(), key=lambda u: (u.updated, u.seq))
            return [self._render_update(u) for u in ordered]

    def pending_tokens(self) -> list[str]:
        """Tokens whose request does not exist yet."""
        with self.lock:
            return [t.token for t in self._tokens.values() if t.service_request_id is None]

    def finish_processing(self, *service_request_ids: str) -> list[str]:
        """Requests being processed (``processing=True``) now show their ids; all when
        none is named. Returns the ids that changed."""
        with self.lock:
            chosen = service_request_ids or tuple(self._requests)
            done = [rid for rid in chosen if self._require(rid).processing]
            for rid in done:
                self._requests[rid].processing = False
            return done

    def mark_duplicate(self, service_request_id: str, parent_id: str) -> None:
        """The city closes a request as a duplicate of ``parent_id`` (status ``duplicate``),
        and its answers name the parent from then on."""
        with self.lock:
            self._require(parent_id)
            self._require(service_request_id).parent = parent_id
        self.add_update(service_request_id, "duplicate", "Duplikat dari laporan lain.")

    def garble(self, service_request_id: str, **fields: Any) -> None:
        """The request's answers show these raw values in place of its own (outside the
        contract: a record the normalizer must refuse); ``garble(id)`` alone restores it."""
        with self.lock:
            self._require(service_request_id).garbled = dict(fields)

    def malform(
        self, kind: str, *, path: str = r"/requests\.\w+$", count: int | None = None
    ) -> None:
        """Malform list answers (``GET``) whose path matches ``path``: the next ``count``,
        or all until :meth:`clear_malformations`.

        ``truncated``: the answer cut in the middle; ``entity_bomb``: an XML
        document whose only value is a billion-laughs entity; ``non_objects``:
        the first item garbled (its ids kept, so it can be told) and items that
        are not objects (``17``, ``"bukan objek"``, ``null``, a list; in XML,
        elements holding only text).
        """
        if kind not in MALFORMATIONS:
            raise ValueError(f"kind must be one of {MALFORMATIONS}")
        with self.lock:
            self._malformations.append(_Malformation(kind, re.compile(path), count))

    def clear_malformations(self) -> None:
        with self.lock:
            self._malformations.clear()

    def resolve_tokens(self) -> dict[str, str]:
        """Create the requests of every pending token now; returns token → request id."""
        resolved: dict[str, str] = {}
        with self.lock:
            for token in self._tokens.values():
                if token.service_request_id is None:
                    self._materialise(token)
                    assert token.service_request_id is not None
                    resolved[token.token] = token.service_request_id
        return resolved

    def seed_sample(self, rng: random.Random, n: int) -> list[str]:
        """Add ``n`` realistic requests from the last 60 days, with the city's updates.

        Most carry coordinates (some also an address), some only an address;
        about two thirds have been moved along by the city, a third of those
        closed. Returns their ids, oldest first.
        """
        now = self.now()
        moments = sorted(now - timedelta(minutes=rng.randint(30, 60 * 24 * 60)) for _ in range(n))
        ids: list[str] = []
        with self.lock:
            for requested in moments:
                ids.append(self._seed_one(rng, requested, now))
        return ids

    def seed_bulk(
        self, n: int, start: datetime, end: datetime, *, service_code: str = "LAIN"
    ) -> list[str]:
        """Add ``n`` plain requests spread evenly over [start, end]; returns their ids.

        For testing the 1000-request cap: e.g. 1500 requests within a day.
        """
        step = (end - start) / max(1, n - 1)
        ids: list[str] = []
        with self.lock:
            for index in range(n):
                created = self._new_request(
                    service_code,
                    requested=start + step * index,
                    description=f"Laporan uji nomor {index + 1}",
                    address="Jl. Merdeka, Tanjungpinang Kota",
                )
                ids.append(created.id)
        return ids

    def _seed_one(self, rng: random.Random, requested: datetime, now: datetime) -> str:
        topic = rng.choice(sample.TOPICS)
        where = sample.place(rng, "tanjungpinang")
        citizen = sample.person(rng, "tanjungpinang")
        text = sample.complaint(rng, topic, where)
        given, _, family = citizen.name.partition(" ")
        located = rng.random() < 0.8
        created = self._new_request(
            _TOPIC_SERVICE.get(topic, "LAIN"),
            requested=requested,
            description=text.text,
            lat=where.lat if located else None,
            long=where.lng if located else None,
            address=where.address if not located or rng.random() < 0.5 else None,
            first_name=given,
            last_name=family,
            phone=citizen.phone,
        )
        moment = requested
        for step in range(rng.choices((0, 1, 2, 3), weights=(35, 25, 20, 20))[0]):
            moment = min(now, moment + timedelta(minutes=rng.randint(60, 4 * 24 * 60)))
            if step == 2:
                status = rng.choice(("fixed", "closed", "no_further_action"))
            else:
                status = _PROGRESS[step]
            note = sample.response_text(rng, topic)
            self._new_update(created.id, f"kota-{self._next_update}", status, note, moment)
        return created.id


def _params(request: Request) -> dict[str, str]:
    """Query fields, and on a POST the form's fields too (the form wins)."""
    params = {name: values[0] for name, values in request.query.items() if values}
    if request.method == "POST":
        params.update(_form(request))
    return params


def _form(request: Request) -> dict[str, str]:
    content_type = request.header("content-type") or ""
    if not content_type.startswith(_FORM_TYPES):
        return {}  # the standard writes forms; any other body reads as no fields
    return request.form()


def _status_filter(text: str) -> frozenset[str] | None:
    if not text:
        return None
    wanted = frozenset(part.strip().lower() for part in text.split(","))
    if not wanted <= {"open", "closed"}:
        raise _Invalid("status must be open, closed or both")
    return wanted


def _is_url(text: str) -> bool:
    parts = urlsplit(text)
    return parts.scheme in ("http", "https") and bool(parts.netloc)
