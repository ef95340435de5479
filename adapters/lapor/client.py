"""LAPOR-SP4N v3 client (``lapor.md``, version 2): one object per agency integration account.

Liberal in what it reads: every answer shape lapor.md lists (create answers,
``images`` and ``docs``, templated and nested ``data_logs``, status names with
or without codes, follow-ups without ``author_type`` or ``id``). Strict in what
it sends: only the evidenced fields, plus those of the capabilities a
deployment configured (``[lapor] capabilities``). Times on the wire are
``dd-mm-YYYY HH:MM:SS`` WIB with no offset.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from adapters.lapor import vocabulary
from adapters.lapor.vocabulary import (
    ARCHIVED,
    DISPOSITION_TEMPLATE,
    FALLBACK_TOPIC,
    NEW_STATUS_NAME,
    STATUS_BY_CODE,
    STATUS_BY_NAME,
    WAITING_FOR_ADMIN,
)
from bridge.core.errors import Ambiguous, NotFound, Rejected, Transient, Unavailable
from bridge.core.model import (
    Complaint,
    FollowUp,
    Location,
    NationalComplaint,
    NationalTicket,
    Reporter,
    Status,
)
from bridge.core.phone import normalize_phone
from bridge.core.ports import CreateRequest, Photo
from bridge.core.tags import tags_raw
from bridge.core.text import compose_content, compose_title
from bridge.core.timefmt import WIB, utcnow
from bridge.runtime.http import Endpoint, RateLimiter, RetryPolicy, json_of, looks_html, make_client

_DISPOSED_TO = "terdisposisi ke "

_TIME = re.compile(r"(\d\d)-(\d\d)-(\d{4}) (\d\d):(\d\d):(\d\d)")
_MARKER = re.compile(r"\[(ext-[a-z0-9-]{1,60})\]")
_PLACEHOLDER = re.compile(
    r"\{\{\s*(institution_from|institution_to|institution|status_old|status_new)\s*\}\}"
)


def parse_time(text: str) -> datetime:
    """``28-09-2020 10:15:00`` (WIB) → aware UTC; ISO 8601 with an offset is read too."""
    match = _TIME.fullmatch(text)
    if match is not None:
        day, month, year, hour, minute, second = map(int, match.groups())
        return datetime(year, month, day, hour, minute, second, tzinfo=WIB).astimezone(UTC)
    try:
        moment = datetime.strptime(text.strip(), "%d-%m-%Y %H:%M:%S").replace(tzinfo=WIB)
    except ValueError:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=WIB)
    return moment.astimezone(UTC)


def _time_or_none(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return parse_time(value)
    except ValueError:
        return None


def format_time(value: datetime) -> str:
    return value.astimezone(WIB).strftime("%d-%m-%Y %H:%M:%S")


def fold_name(name: str) -> str:
    """A name as LAPOR's names are compared: NFKC, whitespace collapsed, upper case."""
    return " ".join(unicodedata.normalize("NFKC", name).split()).upper()


def _int(value: Any) -> int | None:
    """An integer, or a string of digits; anything else is ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def read_status(data: Mapping[str, Any]) -> tuple[int | None, Status | None, str | None]:
    """``(code, canonical, name)``: by ``status_name``; the code only when the name is missing.

    An unknown name is *unknown* (``None``): it moves nothing and is reported.
    """
    name = data.get("status_name")
    if isinstance(name, str) and name.strip():
        shown = " ".join(name.split())
        key = shown.casefold()
        if key.startswith(_DISPOSED_TO):
            key = "terdisposisi"
        code, status = STATUS_BY_NAME.get(key, (None, None))
        return code, status, shown
    code = _int(data.get("status_code"))
    if code is None:
        return None, None, None
    return code, STATUS_BY_CODE.get(code), None


def canonical_status(code: int) -> Status:
    try:
        return STATUS_BY_CODE[code]
    except KeyError:
        raise ValueError(f"unknown LAPOR status code {code}") from None


def _tags(item: Mapping[str, Any]) -> tuple[str, ...]:
    """A complaint's tags as the bridge writes them: without ``#``, lower case.

    Liberal in what it reads: a list, or one space-separated string, with or
    without the ``#`` that ``tags_raw`` is written with.
    """
    tags = item.get("tags")
    if isinstance(tags, str):
        tags = tags.split()
    if not isinstance(tags, (list, tuple)):
        return ()
    return tuple(t.strip().lstrip("#").lower() for t in tags if isinstance(t, str) and t.strip())


def markers_in(content: Any) -> tuple[str, ...]:
    """The ``[ext-…]`` markers a complaint's content carries, as tags (without brackets)."""
    if not isinstance(content, str):
        return ()
    return tuple(_MARKER.findall(content[:4096]))


def _times(data: Mapping[str, Any]) -> tuple[datetime, datetime]:
    """``created_at`` and ``updated_at``, which may be absent: then the status logs' times,
    else now (a read of a complaint that says nothing of its times is still read)."""
    logged = [
        t
        for entry in data.get("status_logs") or []
        if isinstance(entry, Mapping)
        for t in [_time_or_none(entry.get("timestamp") or entry.get("created_at"))]
        if t is not None
    ]
    created = _time_or_none(data.get("created_at")) or (min(logged) if logged else None)
    updated = _time_or_none(data.get("updated_at")) or (max(logged) if logged else None)
    now = utcnow()
    created = created or updated or now
    return created, max(updated or created, created)


def ticket_from(data: Mapping[str, Any]) -> NationalTicket:
    """A complaint read by id (or found by search) as the bridge keeps it."""
    national_id = _int(data.get("id"))
    if national_id is None:
        raise ValueError("a LAPOR complaint without an id")
    code, status, name = read_status(data)
    created, updated = _times(data)
    return NationalTicket(
        id=national_id,
        status_code=code,
        status=status,
        status_name=name,
        disposition_id=_int(data.get("disposition_id")),
        disposition_name=_str_or_none(data.get("disposition_name")),
        tags=_tags(data),
        markers=markers_in(data.get("content")),
        created_at=created,
        updated_at=updated,
    )


def created_id(body: Any) -> int | None:
    """The new complaint's id, from whichever create answer LAPOR gave (lapor.md)."""
    if not isinstance(body, Mapping):
        return None
    results = body.get("results")
    data = body.get("data")
    candidates: list[Any] = [body.get("complaint_id")]
    if isinstance(results, Mapping):
        complaint = results.get("complaint")
        if isinstance(complaint, Mapping):
            candidates.append(complaint.get("id"))
        candidates.append(results.get("complaint_id"))
    if isinstance(data, Mapping):
        candidates.append(data.get("complaint_id"))
    for candidate in candidates:
        value = _int(candidate)
        if value is not None and value > 0:
            return value
    return None


def describe_shape(value: Any, depth: int = 3) -> str:
    """An answer's shape — keys and types, never values — for the audit log."""
    if isinstance(value, Mapping):
        if depth <= 0:
            return "{…}"
        inner = ", ".join(
            f"{str(k)[:40]}: {describe_shape(v, depth - 1)}" for k, v in value.items()
        )
        return "{" + inner + "}" if len(inner) < 400 else "{" + inner[:400] + " …}"
    if isinstance(value, list):
        return f"[{describe_shape(value[0], depth - 1)} ×{len(value)}]" if value else "[]"
    return "null" if value is None else type(value).__name__


def _str_or_none(value: Any) -> str | None:
    return str(value) if isinstance(value, (str, int)) and str(value).strip() else None


def _named(item: Mapping[str, Any], key: str) -> str | None:
    """An agency's name in any of the forms lapor.md lists: flat ``<key>_name``, nested
    ``<key>: {"id", "name"}``, or an object in place of the id, ``<key>_id: {…}``."""
    flat = item.get(f"{key}_name")
    if isinstance(flat, str) and flat.strip():
        return flat.strip()
    for nested in (item.get(key), item.get(f"{key}_id")):
        if isinstance(nested, Mapping) and isinstance(nested.get("name"), str):
            return str(nested["name"]).strip() or None
    return None


def _status_names(item: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """A history entry's old and new status names: objects, a JSON string in ``data``, or
    (version 1) bare codes."""
    holder: Mapping[str, Any] = item
    raw = item.get("data")
    if isinstance(raw, str):
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = None
        if isinstance(parsed, Mapping):
            holder = parsed
    elif isinstance(raw, Mapping):
        holder = raw

    def one(key: str) -> str | None:
        value = holder.get(key, item.get(key))
        if isinstance(value, Mapping):
            value = value.get("name")
        if isinstance(value, str) and value.strip():
            return " ".join(value.split())
        code = _int(value)
        if code is not None:
            found = [name for name, (c, _) in STATUS_BY_NAME.items() if c == code]
            return found[0].title() if found else str(code)
        return None

    return one("status_old"), one("status_new")


def fill_template(item: Mapping[str, Any]) -> str:
    """A history entry's text with its ``{{placeholders}}`` filled from the entry; one that
    cannot be filled stays as written."""
    content = str(item.get("content") or "")
    old, new = _status_names(item)
    values = {
        "institution_from": _named(item, "institution_from"),
        "institution_to": _named(item, "institution_to"),
        "institution": _named(item, "institution"),
        "status_old": old,
        "status_new": new,
    }

    def fill(match: re.Match[str]) -> str:
        return values.get(match.group(1)) or match.group(0)

    return _PLACEHOLDER.sub(fill, content)


def archive_reason(logs: Any) -> str | None:
    """The admin's reason for archiving: the last entry that moved the complaint *into*
    ``Diarsipkan`` (not a later one on the archived complaint)."""
    if not isinstance(logs, list):
        return None
    for entry in reversed(logs):
        if not isinstance(entry, Mapping):
            continue
        old, new = _status_names(entry)
        archived = new is not None and new.casefold() in ("diarsipkan", "90")
        if archived and (old is None or old.casefold() not in ("diarsipkan", "90")):
            return fill_template(entry).strip() or None
    return None


class LaporConfig(BaseModel):
    model_config = ConfigDict(extra="ignore")

    base_url: str
    auth_header: str = "Authorization"
    capabilities: list[str] = Field(default_factory=list)
    requests_per_second: float = 5.0
    timeout_seconds: float = 30.0
    create_timeout_seconds: float = 120.0
    templates: dict[str, str] = Field(default_factory=lambda: {"reply": "reply", "done": "done"})


class AccountConfig(BaseModel):
    model_config = ConfigDict(extra="ignore")

    api_secret: SecretStr
    token: SecretStr
    user_id: int
    institution: str
    home_source: str | None = None


@dataclass(frozen=True)
class Route:
    """What LAPOR needs of one source's complaints (``[sources.NAME]``)."""

    location_id: int
    classification_id: int
    channel: int = 13
    #: app category → LAPOR category id, or (capability ``categories``) a name path
    categories: Mapping[str, int | str] = field(default_factory=dict)
    send_reporter: bool = False

    def mapped(self, local_category: str | None) -> int | str | None:
        """The configured value of an app category (compared ignoring case), if any."""
        if not local_category:
            return None
        wanted = local_category.strip().casefold()
        for key, value in self.categories.items():
            if key != "*" and key.strip().casefold() == wanted:
                return value
        return None


def _message(response: httpx.Response) -> str:
    try:
        body = json_of(response)
    except ValueError:
        return f"HTTP {response.status_code}"
    if not isinstance(body, dict):
        return f"HTTP {response.status_code}"
    message = str(body.get("message") or f"HTTP {response.status_code}")
    errors = body.get("errors")
    if isinstance(errors, dict) and errors:
        details = "; ".join(
            f"{name}: {' '.join(str(t) for t in texts) if isinstance(texts, list) else texts}"
            for name, texts in errors.items()
        )
        message = f"{message} ({details})"
    return message[:500]


def _check_envelope(response: httpx.Response) -> None:
    """A gateway can answer 200 with an HTML page; that is not a LAPOR answer.

    Told by the body, not only the type: a JSON body sent as ``text/plain`` (or
    with no type) is still LAPOR's answer, and a create's answer must not be
    thrown away for its header.
    """
    unreadable = looks_html(response) or not response.content[:64].strip()
    if response.is_success and unreadable:
        shown = response.headers.get("content-type") or "no type"
        raise Transient(f"LAPOR answered {response.status_code} with {shown}, not JSON")


@dataclass
class CategoryTree:
    """LAPOR's topic tree (capability ``categories``): three levels, names unique only
    under their parent, compared after NFKC and whitespace normalisation."""

    names: dict[int, str]  # id → folded name
    parents: dict[int, int | None]

    @classmethod
    def from_rows(cls, rows: Sequence[Mapping[str, Any]]) -> CategoryTree:
        names: dict[int, str] = {}
        parents: dict[int, int | None] = {}
        for row in rows:
            node = _int(row.get("id"))
            if node is None or not isinstance(row.get("name"), str):
                continue
            names[node] = fold_name(str(row["name"]))
            parents[node] = _int(row.get("parent_id"))
        return cls(names, parents)

    def children(self, parent: int | None) -> list[int]:
        return [node for node, up in self.parents.items() if up == parent]

    def resolve(self, path: str) -> int | None:
        """The id of a whole path ``TOPIC[/SUB[/SUBSUB]]``; a ``/`` may be part of a name."""
        return self._walk(fold_name(path), None)

    def _walk(self, rest: str, parent: int | None) -> int | None:
        for node in self.children(parent):
            name = self.names[node]
            if rest == name:
                return node
            if rest.startswith(name + "/"):
                found = self._walk(rest[len(name) + 1 :], node)
                if found is not None:
                    return found
        return None

    def topic_of(self, path: str) -> int | None:
        """The topic a path starts with, when the whole path does not resolve."""
        folded = fold_name(path)
        best: int | None = None
        for node in self.children(None):
            name = self.names[node]
            starts = folded == name or folded.startswith(name + "/")
            if starts and (best is None or len(name) > len(self.names[best])):
                best = node
        return best

    def path_of(self, node: int | None) -> str | None:
        parts: list[str] = []
        seen: set[int] = set()
        while node is not None and node in self.names and node not in seen:
            seen.add(node)
            parts.append(self.names[node])
            node = self.parents.get(node)
        return "/".join(reversed(parts)) if parts else None


@dataclass
class Directory:
    """Institutions, templates and (capability ``categories``) the topic tree, read once."""

    institutions: dict[str, int]
    templates: set[str] = field(default_factory=set)
    tree: CategoryTree | None = None

    def institution(self, name: str) -> int:
        try:
            return self.institutions[name]
        except KeyError:
            raise Unavailable(f"LAPOR has no institution named {name!r}") from None

    def path_of(self, category_id: int | None) -> str:
        """The topic path of a category id; TOPIK LAINNYA when unknown or no tree."""
        if self.tree is None:
            return FALLBACK_TOPIC
        return self.tree.path_of(category_id) or FALLBACK_TOPIC


class CapabilityMissing(Unavailable):
    """A configured capability that LAPOR does not offer (lapor.md: a 404 means it lacks it)."""

    def __init__(self, capability: str, detail: str) -> None:
        super().__init__(
            f"capability {capability!r} is configured but LAPOR does not offer it ({detail});"
            f" remove it from [lapor] capabilities or confirm it with the LAPOR team"
        )
        self.capability = capability


#: the modelled read endpoints ``config check --probe`` tries: capability → (path, query)
PROBES: dict[str, tuple[str, dict[str, Any]]] = {
    "tag_search": ("/complaints", {"tag": "ext-probe-lapor-bridge", "page": 1}),
    "inbox": ("/complaints/inbox", {"page": 1, "page_size": 1}),
    "categories": ("/masters/categories", {"page": 1}),
}


class LaporAccount:
    """LAPOR-SP4N through one agency's account; implements ``bridge.core.ports.National``."""

    def __init__(
        self,
        account: str,
        endpoint: Endpoint,
        institution: str,
        *,
        user_id: int = 0,
        capabilities: Sequence[str] = (),
        templates: Mapping[str, str] | None = None,
        routes: Mapping[str, Route] | None = None,
        create_timeout: float = 120.0,
        directory: Directory | None = None,
    ) -> None:
        self.account = account
        self.endpoint = endpoint
        self.institution = institution
        self.user_id = user_id
        self.capabilities = frozenset(capabilities)
        self.templates = dict(templates or {"reply": "reply", "done": "done"})
        self.routes = dict(routes or {})
        self.create_timeout = create_timeout
        self._directory = directory
        self._origin = _origin(str(endpoint.client.base_url))

    # plumbing --------------------------------------------------------------
    def _answer(self, method: str, path: str, *, idempotent: bool = True, **kw: Any) -> Any:
        """The decoded answer; raises for refusals, outages and unreadable bodies."""
        response = self.endpoint.send(
            method, path, idempotent=idempotent, check=_check_envelope, **kw
        )
        if response.status_code in (401, 403) and not _is_envelope(response):
            # the gateway's own refusal, not LAPOR's envelope: the credentials
            raise self._refused(response.status_code)
        if response.status_code == 401:
            raise self._refused(401)
        if response.status_code == 404:
            raise NotFound(404, _message(response))
        if response.status_code >= 400:
            raise Rejected(response.status_code, _message(response))
        try:
            body = json_of(response)
        except ValueError:
            if idempotent:
                raise Unavailable("LAPOR answered with a body that is not JSON") from None
            raise Ambiguous("LAPOR answered a write with a body that is not JSON") from None
        # an answer is refused only when it says so: a 2xx without "success" is taken
        if isinstance(body, dict) and body.get("success", True) in (False, "false"):
            raise Rejected(response.status_code, _message(response))
        return body

    def _refused(self, status: int) -> Unavailable:
        # the account's fault, not the record's: stop the pass, quarantine nothing
        return Unavailable(
            f"LAPOR refused the credentials of account {self.account!r} ({status}): "
            "check its api_secret, token and [lapor] auth_header"
        )

    def _send(self, method: str, path: str, *, idempotent: bool = True, **kw: Any) -> Any:
        body = self._answer(method, path, idempotent=idempotent, **kw)
        if not isinstance(body, dict):
            if idempotent:
                raise Unavailable("LAPOR answered with JSON that is not an object")
            return {}
        results = body.get("results")
        return results if isinstance(results, dict) else {}

    def _pages(self, path: str, params: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
        """Follow ``next_page_url`` to the end, never to another origin (the credentials
        go with every request)."""
        url: str | None = path
        query: dict[str, Any] | None = params
        while url:
            results = self._send("GET", url, params=query)
            data = results.get("data")
            yield (
                [item for item in data if isinstance(item, dict)] if isinstance(data, list) else []
            )
            following = results.get("next_page_url")
            url = following if isinstance(following, str) and following else None
            if url is not None and _origin(url) not in ("", self._origin):
                raise Unavailable("LAPOR's next_page_url points to another origin; not followed")
            query = None  # the next page's URL carries every parameter

    def has(self, capability: str) -> bool:
        return capability in self.capabilities

    @property
    def directory(self) -> Directory:
        if self._directory is None:
            self._directory = self.load_directory()
        return self._directory

    def load_directory(self) -> Directory:
        institutions: dict[str, int] = {}
        for page in self._pages("/masters/institutions/external", {"page_size": 1000}):
            for item in page:
                number = _int(item.get("id"))
                if number is not None and isinstance(item.get("name"), str):
                    institutions[str(item["name"])] = number
        templates = {
            str(item["code"])
            for page in self._pages("/masters/templates", {"page_size": 1000})
            for item in page
            if isinstance(item.get("code"), str)
        }
        tree = None
        if self.has("categories"):
            try:
                rows = [
                    row
                    for page in self._pages("/masters/categories", {"page_size": 1000})
                    for row in page
                ]
            except Rejected as exc:
                raise CapabilityMissing("categories", f"HTTP {exc.status}") from None
            tree = CategoryTree.from_rows(rows)
            if tree.resolve(FALLBACK_TOPIC) is None:
                raise Unavailable(f"LAPOR's category tree has no {FALLBACK_TOPIC}")
        directory = Directory(institutions, templates, tree)
        directory.institution(self.institution)
        return directory

    def check(self) -> None:
        """Reach LAPOR with the account's credentials; resolve its institution, its
        templates, and check every configured capability (a 404 names it)."""
        self._directory = self.load_directory()
        for kind, code in self.templates.items():
            if code not in self._directory.templates:
                raise Unavailable(
                    f"LAPOR has no follow-up template {code!r} ([lapor.templates] {kind})"
                )
        for capability in ("tag_search", "inbox"):
            if self.has(capability):
                outcome = self.probe_one(capability)
                if outcome != "answered":
                    raise CapabilityMissing(capability, outcome)

    def probe_one(self, capability: str) -> str:
        """Try one modelled read endpoint: ``"answered"``, or what LAPOR said instead.
        Reads only: nothing is ever written by a probe."""
        path, query = PROBES[capability]
        if capability == "inbox":
            query = {**query, "updated_from": format_time(utcnow())}
        try:
            self._send("GET", path, params=query)
        except Rejected as exc:
            return f"HTTP {exc.status}: {exc.message}"
        except (Unavailable, Transient) as exc:
            return str(exc)
        return "answered"

    def probe(self) -> dict[str, str]:
        """Every modelled read endpoint, configured or not, and what answered."""
        return {capability: self.probe_one(capability) for capability in PROBES}

    @property
    def institution_id(self) -> int:
        return self.directory.institution(self.institution)

    # National --------------------------------------------------------------
    def upload(self, files: Sequence[Photo]) -> list[int]:
        """The file ids of the uploaded files: ``images`` and ``docs`` together."""
        if not files:
            return []
        multipart = [("attachments[]", (f.name, f.data, f.content_type)) for f in files]
        # an upload with a lost answer leaves an orphan file at worst: safe to repeat
        results = self._send("POST", "/complaints/complaint/file", files=multipart)
        ids: list[int] = []
        for key in ("images", "docs"):
            items = results.get(key)
            for item in items if isinstance(items, list) else []:
                number = _int(item.get("id")) if isinstance(item, Mapping) else _int(item)
                if number is not None and number not in ids:
                    ids.append(number)
        return ids

    def category_for(self, complaint: Complaint) -> tuple[int, str | None]:
        """The LAPOR category id of a complaint, and what it fell back to when its own
        category has none (``None`` when it resolved)."""
        route = self.routes.get(complaint.source)
        categories = route.categories if route is not None else {}
        mapped = route.mapped(complaint.local_category) if route is not None else None
        if isinstance(mapped, int):
            return mapped, None
        star = categories.get("*")
        tree = self.directory.tree
        if tree is not None:
            path = mapped if isinstance(mapped, str) else complaint.category
            found = tree.resolve(path)
            if found is not None:
                return found, None
            topic = tree.topic_of(path)
            if topic is not None:
                return topic, tree.path_of(topic)
            if isinstance(star, int):
                return star, f'id {star} ("*")'
            lainnya = tree.resolve(FALLBACK_TOPIC)
            assert lainnya is not None  # checked when the tree was read
            return lainnya, FALLBACK_TOPIC
        if isinstance(star, int):
            return star, f'id {star} ("*")'
        raise Rejected(
            422, f'no LAPOR category id for {complaint.source!r}: set "*" in its categories'
        )

    def prepare_create(
        self, complaint: Complaint, tags: tuple[str, ...], attachment_ids: Sequence[int]
    ) -> CreateRequest:
        route = self.routes.get(complaint.source)
        if route is None:
            raise Rejected(422, f"source {complaint.source!r} has no LAPOR route configured")
        where = f"{complaint.source} {complaint.display_id or complaint.local_id}"
        category_id, fallback = self.category_for(complaint)
        context = [f"Kategori: {complaint.local_category}" if complaint.local_category else ""]
        text = complaint.content
        place = _place(complaint.location)
        if place:  # lapor.md: what has no field of its own is written into the content
            text = f"{text}\n\n{place}"
        body: dict[str, Any] = {
            "title": compose_title(complaint.title, complaint.content, _topic_label(complaint)),
            "content": compose_content(text, context, where, marker=f"[{tags[-1]}]"),
            "classification_id": route.classification_id,
            "category_id": category_id,
            "disposition_id": self.institution_id,
            "location_id": route.location_id,
            "channel": route.channel,
            "user_id": self.user_id,
            "is_anonymous": complaint.anonymous,
            "is_secret": complaint.confidential,
            "date_of_incident": complaint.created_at.astimezone(WIB).strftime(
                "%Y-%m-%dT00:00:00.000000Z"
            ),
            "tags_raw": tags_raw(tags),
            "attachments": json.dumps(list(attachment_ids)) if attachment_ids else False,
        }
        body.update(self._reporter_fields(complaint, route))
        return CreateRequest(tag=tags[-1], body=body, category_fallback=fallback)

    def _reporter_fields(self, complaint: Complaint, route: Route) -> dict[str, Any]:
        """Off by default: nothing identifying beyond what the citizen wrote. With the
        source's ``send_reporter``: name, phone and e-mail (never the NIK)."""
        reporter = complaint.reporter
        if not route.send_reporter or complaint.anonymous or reporter is None:
            return {}
        values = {
            key: secret.get_secret_value()
            for key, secret in (
                ("name", reporter.name),
                ("phone", reporter.phone),
                ("email", reporter.email),
            )
            if secret is not None
        }
        if not values:
            return {}
        if self.has("reporter"):
            return {"reporter": values}
        fields: dict[str, Any] = {"is_new_user_slider": True}
        for key, wire in (("name", "nameUser"), ("phone", "phoneUser"), ("email", "emailUser")):
            if key in values:
                fields[wire] = values[key]
        return fields

    def create(self, request: CreateRequest) -> NationalTicket:
        """Post the create; the new complaint as its answer proves it. An answer without a
        readable id is ``Ambiguous``.

        The complaint is not read back at once: the read by id lapor.md names is the
        first poll, one poll interval later (one request per create). The bridge
        keeps of it its id and its status, and a new complaint starts as ``Belum
        Terverifikasi`` whatever was asked (lapor.md, seen); every other field the read
        would give (times, disposition) is LAPOR's to change, and the first poll reads
        them. The times here are the bridge's clock, not LAPOR's: not a view of LAPOR
        to compare later reads with (the engine records none for an answered create).
        """
        body = self._answer(
            "POST",
            "/complaints/complaint",
            idempotent=False,
            json=dict(request.body),
            timeout=httpx.Timeout(self.create_timeout, connect=10.0),
        )
        new_id = created_id(body)
        if new_id is None:
            # made or not, the answer does not say which: evidence will (Recovery)
            raise Ambiguous(
                f"LAPOR answered a create without a complaint id: {describe_shape(body)}"
            )
        now = utcnow()
        return NationalTicket(
            id=new_id,
            status_code=WAITING_FOR_ADMIN,
            status=Status.SUBMITTED,
            status_name=NEW_STATUS_NAME,
            markers=(request.tag,),
            created_at=now,
            updated_at=now,
        )

    def find_by_tag(self, tag: str) -> list[NationalTicket]:
        return [ticket for page in self.tagged(tag) for ticket in page]

    def tagged(self, tag: str) -> Iterator[list[NationalTicket]]:
        """Capability ``tag_search``: every complaint this account created with the tag.
        A failed search raises: it is never evidence that a complaint does not exist."""
        if not self.has("tag_search"):
            raise Unavailable("tag search is not among [lapor] capabilities")
        wanted = tag.lstrip("#").lower()
        try:
            for page in self._pages("/complaints", {"tag": wanted, "page": 1}):
                yield [
                    ticket_from(item)
                    for item in page
                    if wanted in _tags(item) or wanted in markers_in(item.get("content"))
                ]
        except NotFound:
            raise CapabilityMissing("tag_search", "HTTP 404") from None

    def get(self, national_id: int) -> NationalTicket | None:
        try:
            results = self._send("GET", f"/complaints/{national_id}/complaint")
        except NotFound:
            return None
        data = results.get("data")
        if not isinstance(data, dict):
            raise Unavailable(f"LAPOR's read of #{national_id} holds no complaint")
        return ticket_from(data)

    def complaint_from(self, data: Mapping[str, Any], logs: Any = None) -> NationalComplaint:
        """A read complaint as the home app needs it; the reporter only when LAPOR shows one."""
        ticket = ticket_from(data)
        anonymous, secret = _flag(data.get("is_anonymous")), _flag(data.get("is_secret"))
        reporter = None
        shown = data.get("reporter")
        if isinstance(shown, dict) and not (anonymous or secret):
            reporter = Reporter(
                name=_secret(shown.get("name")),
                phone=_secret(normalize_phone(shown.get("phone"))),
                email=_secret(shown.get("email")),
            )
        location = None
        lat, lng = data.get("latitude"), data.get("longitude")
        if isinstance(lat, int | float) and isinstance(lng, int | float):
            location = Location(latitude=lat, longitude=lng, address=data.get("address"))
        category = self.directory.path_of(_int(data.get("category_id")))
        return NationalComplaint(
            id=ticket.id,
            title=str(data.get("title") or ""),
            content=str(data.get("content") or ""),
            category=category,
            status=ticket.status,
            status_code=ticket.status_code,
            status_name=ticket.status_name,
            anonymous=anonymous,
            confidential=secret,
            reporter=reporter,
            location=location,
            disposition_id=ticket.disposition_id,
            disposition_name=ticket.disposition_name,
            archive_reason=archive_reason(logs),
            tags=ticket.tags,
            markers=ticket.markers,
            created_at=ticket.created_at,
            updated_at=ticket.updated_at,
        )

    def complaint(self, national_id: int) -> NationalComplaint | None:
        try:
            results = self._send("GET", f"/complaints/{national_id}/complaint")
        except NotFound:
            return None
        data = results.get("data")
        if not isinstance(data, dict):
            raise Unavailable(f"LAPOR's read of #{national_id} holds no complaint")
        return self.complaint_from(data, results.get("data_logs"))

    def _with_history(self, item: dict[str, Any]) -> NationalComplaint:
        """An inbox item; an archived one read again by id, for the reason in its history.

        ``data_logs`` (where the admin's reason for archiving is) come only with a
        read by id; an archived complaint passes the inbox once, so one read each.
        """
        code, _, _ = read_status(item)
        if code == ARCHIVED and "data_logs" not in item:
            national_id = _int(item.get("id"))
            full = self.complaint(national_id) if national_id is not None else None
            if full is not None:
                return full
        return self.complaint_from(item, item.get("data_logs"))

    def inbox(self, updated_from: datetime) -> Iterator[list[NationalComplaint]]:
        """Capability ``inbox``: complaints disposed to this account's agency, changed since
        ``updated_from``.

        Read by keyset on ``updated_at``, not by following page numbers: a
        complaint updated between two page reads moves to the end, and offset
        pages would then skip the one that slid back across the page edge. Only
        a page that sits wholly in one second is stepped through by its
        ``next_page_url`` (``≥`` brings the edge again: the caller is idempotent).
        """
        if not self.has("inbox"):
            raise Unavailable("the inbox is not among [lapor] capabilities")
        since = format_time(updated_from)
        url: str | None = "/complaints/inbox"
        query: dict[str, Any] | None = {"updated_from": since, "page": 1, "page_size": 100}
        while url:
            try:
                results = self._send("GET", url, params=query)
            except NotFound:
                raise CapabilityMissing("inbox", "HTTP 404") from None
            data = results.get("data")
            items = [i for i in data if isinstance(i, dict)] if isinstance(data, list) else []
            page = [self._with_history(item) for item in items]
            yield page
            following = results.get("next_page_url")
            if not page or not isinstance(following, str) or not following:
                return
            last = format_time(max(c.updated_at for c in page))
            if last != since:
                since = last
                url = "/complaints/inbox"
                query = {"updated_from": since, "page": 1, "page_size": 100}
            else:
                if _origin(following) not in (self._origin, ""):
                    raise Unavailable(
                        "LAPOR's next_page_url points to another origin; not followed"
                    )
                url, query = following, None

    def add_follow_up(
        self, national_id: int, content: str, done: bool, files: Sequence[Photo] = ()
    ) -> str | None:
        """Post a follow-up with the ``reply`` template, or ``done`` when the city reports
        the problem solved, carrying ``files`` (``attachment[0]``, …); its id when the
        answer shows one (it need not)."""
        form = {
            "complaint_id": str(national_id),
            "user_id": str(self.user_id),
            "institution_from_id": str(self.institution_id),
            # an answer on a complaint disposed to this agency is addressed to it (modelled)
            "institution_to_id": str(self.institution_id),
            "template_code": self.templates["done" if done else "reply"],
            "content": content,
            "is_secret": "0",
        }
        if done and self.has("mark_completed"):
            form["mark_completed"] = "1"
        # multipart, as the contract says, even without files
        parts: list[tuple[str, tuple[str | None, str | bytes] | tuple[str, bytes, str]]]
        parts = [(key, (None, value)) for key, value in form.items()]
        parts += [
            (f"attachment[{n}]", (f.name, f.data, f.content_type)) for n, f in enumerate(files)
        ]
        results = self._send("POST", "/complaints/followup/add", idempotent=False, files=parts)
        followup = results.get("followup")
        number = _int(followup.get("id")) if isinstance(followup, Mapping) else None
        return str(number) if number is not None else None

    def status_code(self, status: Status) -> int | None:
        return vocabulary.status_code(status)

    def reject(self, national_id: int, reason: str) -> None:
        """Hand the complaint back; done too when it has already left the agency.

        LAPOR answers ``403`` to a hand-back of a complaint not disposed to this
        agency. A retry after a lost answer meets exactly that (the first one
        went through: the complaint is back with the admin), and so does a
        complaint the admin moved meanwhile: either way nothing is left to hand
        back. A ``403`` on a complaint still ours is raised.
        """
        body = {"is_request": 1, "reason": "", "reason_description": reason, "not_authority": 1}
        try:
            self._send("POST", f"/complaints/process/{national_id}/reject", json=body)
        except Rejected as exc:
            if exc.status != 403 or self._still_ours(national_id):
                raise

    def _still_ours(self, national_id: int) -> bool:
        ticket = self.get(national_id)
        if ticket is None or ticket.status_code == WAITING_FOR_ADMIN:
            return False
        return ticket.disposition_id == self.directory.institution(self.institution)

    def follow_ups(self, national_id: int) -> list[FollowUp]:
        """Every follow-up, oldest first, without disposition events. ``author`` is
        ``instansi`` for this account's institution (the bridge, or the agency's staff on
        LAPOR's site), ``admin`` for another institution, ``pelapor`` for none."""
        out: list[FollowUp] = []
        own = fold_name(self.institution)
        for page in self._pages(f"/complaints/{national_id}/followups", {"page": 1}):
            for item in page:
                if str(item.get("template_code") or "").strip() == DISPOSITION_TEMPLATE:
                    continue
                at = _time_or_none(item.get("created_at"))
                content = str(item.get("content") or "")
                if at is None:
                    continue  # nothing to order it by or to tell it apart with
                writer = _named(item, "institution_from")
                if writer is None:
                    author = str(item.get("author_type") or "pelapor")
                else:
                    author = "instansi" if fold_name(writer) == own else "admin"
                out.append(
                    FollowUp(id=_followup_id(item, writer), author=author, content=content, at=at)
                )
        return sorted(out, key=lambda f: f.at)

    def close(self) -> None:
        self.endpoint.client.close()


def _followup_id(item: Mapping[str, Any], writer: str | None) -> str:
    """The item's id, or (lapor.md) one made of what identifies an item without it."""
    number = _int(item.get("id"))
    if number is not None:
        return str(number)
    key = "\x1f".join(
        [
            str(item.get("created_at") or ""),
            writer or "",
            str(item.get("template_code") or ""),
            " ".join(str(item.get("content") or "").split()),
        ]
    )
    return "h" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def _is_envelope(response: httpx.Response) -> bool:
    try:
        body = json_of(response)
    except ValueError:
        return False
    return isinstance(body, dict) and "success" in body


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.netloc else ""


def _flag(value: Any) -> bool:
    return value in (True, 1, "1", "true")


def _place(location: Location | None) -> str:
    if location is None:
        return ""
    lines = []
    if location.address:
        lines.append(f"Lokasi: {location.address}")
    if location.latitude is not None and location.longitude is not None:
        lines.append(f"Koordinat: {location.latitude:.6f}, {location.longitude:.6f}")
    return "\n".join(lines)


def _secret(value: Any) -> SecretStr | None:
    return SecretStr(str(value)) if value else None


def _topic_label(complaint: Complaint) -> str:
    return (complaint.local_category or complaint.category.split("/")[-1]).capitalize()


def connect(
    config: LaporConfig,
    accounts: dict[str, AccountConfig],
    *,
    routes: Mapping[str, Route] | None = None,
    policy: RetryPolicy | None = None,
    transport: httpx.BaseTransport | None = None,
) -> dict[str, LaporAccount]:
    """One :class:`LaporAccount` per configured account, sharing one rate limit."""
    limiter = RateLimiter(config.requests_per_second, burst=max(1, int(config.requests_per_second)))
    out: dict[str, LaporAccount] = {}
    for name, account in accounts.items():
        client = make_client(
            config.base_url,
            timeout=config.timeout_seconds,
            headers={
                config.auth_header: f"Bearer {account.api_secret.get_secret_value()}",
                "token": account.token.get_secret_value(),
            },
            transport=transport,
        )
        endpoint = Endpoint("LAPOR", client, limiter, policy or RetryPolicy())
        out[name] = LaporAccount(
            name,
            endpoint,
            account.institution,
            user_id=account.user_id,
            capabilities=config.capabilities,
            templates=config.templates,
            routes=routes,
            create_timeout=config.create_timeout_seconds,
        )
    return out


__all__ = [
    "AccountConfig",
    "CapabilityMissing",
    "CategoryTree",
    "Directory",
    "LaporAccount",
    "LaporConfig",
    "Route",
    "archive_reason",
    "canonical_status",
    "connect",
    "created_id",
    "describe_shape",
    "fill_template",
    "format_time",
    "markers_in",
    "parse_time",
    "read_status",
    "ticket_from",
]
