"""LAPOR-SP4N v3 client (``lapor.md``): one object per agency integration account.

Institutions and categories are referred to by name in configuration and
resolved to ids once, at start-up (:class:`Directory`). Times on the wire are
``dd-mm-YYYY HH:MM:SS`` WIB with no offset.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr

from bridge.errors import Ambiguous, NotFound, Rejected, Transient, Unavailable
from bridge.http import Endpoint, RateLimiter, RetryPolicy, json_of, looks_html, make_client
from bridge.model import (
    Complaint,
    FollowUp,
    Location,
    NationalComplaint,
    NationalTicket,
    Reporter,
    Status,
)
from bridge.phone import normalize_phone
from bridge.ports import CreateRequest, Photo
from bridge.tags import tags_raw
from bridge.text import compose_content, compose_title
from bridge.timefmt import WIB

FALLBACK_TOPIC = "TOPIK LAINNYA"
CHANNEL_INTEGRATION = 13
CLASSIFICATION_COMPLAINT = 1
#: a new complaint, or one handed back: waiting for the national admin
WAITING_FOR_ADMIN = 10
#: archived by the admin; the reason is in the complaint's history
ARCHIVED = 90

STATUS_BY_CODE = {
    10: Status.SUBMITTED,
    20: Status.SUBMITTED,
    30: Status.VERIFIED,
    40: Status.IN_PROGRESS,
    50: Status.IN_PROGRESS,
    60: Status.DONE,
    90: Status.REJECTED,
}


_TIME = re.compile(r"(\d\d)-(\d\d)-(\d{4}) (\d\d):(\d\d):(\d\d)")


def parse_time(text: str) -> datetime:
    """``28-09-2020 10:15:00`` (WIB) → aware UTC."""
    match = _TIME.fullmatch(text)
    if match is None:  # written otherwise (one digit, more spaces): what strptime takes
        return datetime.strptime(text, "%d-%m-%Y %H:%M:%S").replace(tzinfo=WIB).astimezone(UTC)
    day, month, year, hour, minute, second = map(int, match.groups())
    return datetime(year, month, day, hour, minute, second, tzinfo=WIB).astimezone(UTC)


def format_time(value: datetime) -> str:
    return value.astimezone(WIB).strftime("%d-%m-%Y %H:%M:%S")


def canonical_status(code: int) -> Status:
    try:
        return STATUS_BY_CODE[code]
    except KeyError:
        raise ValueError(f"unknown LAPOR status code {code}") from None


def _tags(item: dict[str, Any]) -> tuple[str, ...]:
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


def ticket_from(data: dict[str, Any]) -> NationalTicket:
    code = int(data["status_code"])
    return NationalTicket(
        id=int(data["id"]),
        status_code=code,
        status=canonical_status(code),
        disposition_id=data.get("disposition_id"),
        disposition_name=data.get("disposition_name"),
        tags=_tags(data),
        created_at=parse_time(data["created_at"]),
        updated_at=parse_time(data["updated_at"]),
    )


class LaporConfig(BaseModel):
    model_config = ConfigDict(extra="ignore")

    base_url: str
    requests_per_second: float = 5.0
    timeout_seconds: float = 30.0


class AccountConfig(BaseModel):
    model_config = ConfigDict(extra="ignore")

    api_secret: SecretStr
    token: SecretStr
    institution: str
    home_source: str | None = None


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
    return message


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
class Directory:
    """Institutions and categories by name, resolved once."""

    institutions: dict[str, int]
    categories: dict[str, int]  # "TOPIC" and "TOPIC/SUBTOPIC"

    def path_of(self, category_id: int | None) -> str:
        """The topic path of a category id; TOPIK LAINNYA when unknown."""
        for path, known in self.categories.items():
            if known == category_id:
                return path
        return FALLBACK_TOPIC

    def institution(self, name: str) -> int:
        try:
            return self.institutions[name]
        except KeyError:
            raise Unavailable(f"LAPOR has no institution named {name!r}") from None

    def resolve(self, name: str) -> tuple[int, str | None]:
        """The id of a topic path, and the path it fell back to when LAPOR lacks it."""
        path = name.strip().upper()
        if path in self.categories:
            return self.categories[path], None
        topic = path.split("/", 1)[0]
        used = topic if topic in self.categories else FALLBACK_TOPIC
        return self.categories[used], used


class LaporAccount:
    """LAPOR-SP4N through one agency's account; implements ``bridge.ports.National``."""

    def __init__(
        self,
        account: str,
        endpoint: Endpoint,
        institution: str,
        directory: Directory | None = None,
    ) -> None:
        self.account = account
        self.endpoint = endpoint
        self.institution = institution
        self._directory = directory

    # plumbing --------------------------------------------------------------
    def _send(self, method: str, path: str, *, idempotent: bool = True, **kw: Any) -> Any:
        response = self.endpoint.send(
            method, path, idempotent=idempotent, check=_check_envelope, **kw
        )
        if response.status_code == 401:
            # the account's fault, not the record's: stop the pass, quarantine nothing
            raise Unavailable(
                f"LAPOR refused the credentials of account {self.account!r} (401): "
                "check its api_secret and token"
            )
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
        if not isinstance(body, dict) or body.get("success", True) in (False, "false"):
            raise Rejected(response.status_code, _message(response))
        return body.get("results") or {}

    def _pages(self, path: str, params: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
        """Follow ``next_page_url`` to the end."""
        url: str | None = path
        query: dict[str, Any] | None = params
        while url:
            results = self._send("GET", url, params=query)
            yield list(results.get("data") or [])
            url = results.get("next_page_url")
            query = None  # the next page's URL carries every parameter

    @property
    def directory(self) -> Directory:
        if self._directory is None:
            self._directory = self.load_directory()
        return self._directory

    def load_directory(self) -> Directory:
        institutions: dict[str, int] = {}
        for page in self._pages("/masters/institutions/external", {"page_size": 1000}):
            for item in page:
                institutions[str(item["name"])] = int(item["id"])
        rows = [row for page in self._pages("/masters/categories", {}) for row in page]
        by_id = {int(r["id"]): r for r in rows}
        categories: dict[str, int] = {}
        for row in rows:
            name = str(row["name"]).upper()
            parent = by_id.get(row["parent_id"]) if row.get("parent_id") is not None else None
            path = f"{str(parent['name']).upper()}/{name}" if parent else name
            categories[path] = int(row["id"])
        if FALLBACK_TOPIC not in categories:
            raise Unavailable(f"LAPOR's category tree has no {FALLBACK_TOPIC}")
        directory = Directory(institutions, categories)
        directory.institution(self.institution)
        return directory

    def check(self) -> None:
        self._directory = self.load_directory()

    @property
    def institution_id(self) -> int:
        return self.directory.institution(self.institution)

    # National --------------------------------------------------------------
    def upload(self, files: Sequence[Photo]) -> list[int]:
        if not files:
            return []
        multipart = [("attachments[]", (f.name, f.data, f.content_type)) for f in files]
        # an upload with a lost answer leaves an orphan file at worst: safe to repeat
        results = self._send("POST", "/complaints/complaint/file", files=multipart)
        return [int(doc["id"]) for doc in results.get("docs") or []]

    def prepare_create(
        self, complaint: Complaint, tags: tuple[str, ...], attachment_ids: Sequence[int]
    ) -> CreateRequest:
        where = f"{complaint.source} {complaint.display_id or complaint.local_id}"
        category_id, fallback = self.directory.resolve(complaint.category)
        context = [
            f"Kategori: {complaint.local_category}" if complaint.local_category else "",
            f"Lokasi: {complaint.location.address}"
            if complaint.location and complaint.location.address
            else "",
        ]
        body: dict[str, Any] = {
            "title": compose_title(complaint.title, complaint.content, _topic_label(complaint)),
            "content": compose_content(complaint.content, context, where),
            "classification_id": CLASSIFICATION_COMPLAINT,
            "category_id": category_id,
            "disposition_id": self.institution_id,
            "location_id": complaint.region,
            "date_of_incident": complaint.created_at.astimezone(WIB).strftime("%d-%m-%Y"),
            "channel": CHANNEL_INTEGRATION,
            "is_anonymous": int(complaint.anonymous),
            "is_secret": int(complaint.confidential),
            "tags_raw": tags_raw(tags),
            "attachments": json.dumps(list(attachment_ids)),
        }
        if not complaint.anonymous and complaint.reporter is not None:
            reporter = {
                key: secret.get_secret_value()
                for key, secret in (
                    ("name", complaint.reporter.name),
                    ("phone", complaint.reporter.phone),
                    ("email", complaint.reporter.email),
                    ("nik", complaint.reporter.nik),
                )
                if secret is not None
            }
            if reporter:
                body["reporter"] = reporter
        if complaint.location is not None:
            if complaint.location.latitude is not None and complaint.location.longitude is not None:
                body["latitude"] = complaint.location.latitude
                body["longitude"] = complaint.location.longitude
            if complaint.location.address:
                body["address"] = complaint.location.address
        return CreateRequest(tag=tags[-1], body=body, category_fallback=fallback)

    def create(self, request: CreateRequest) -> NationalTicket:
        results = self._send(
            "POST", "/complaints/complaint", idempotent=False, json=dict(request.body)
        )
        try:
            return ticket_from(results["complaint"])
        except (KeyError, TypeError, ValueError):
            # made or not, the answer does not say which: the tag search will
            raise Ambiguous("LAPOR answered a create without a readable complaint") from None

    def find_by_tag(self, tag: str) -> list[NationalTicket]:
        return [ticket for page in self.tagged(tag) for ticket in page]

    def tagged(self, tag: str) -> Iterator[list[NationalTicket]]:
        wanted = tag.lstrip("#").lower()
        for page in self._pages("/complaints", {"tag": tag, "page": 1}):
            yield [ticket_from(item) for item in page if wanted in _tags(item)]

    def get(self, national_id: int) -> NationalTicket | None:
        try:
            results = self._send("GET", f"/complaints/{national_id}/complaint")
        except NotFound:
            return None
        return ticket_from(results["data"])

    def complaint_from(
        self, data: dict[str, Any], logs: list[Any] | None = None
    ) -> NationalComplaint:
        """A read complaint as the home app needs it; the reporter only when LAPOR shows one."""
        code = int(data["status_code"])
        anonymous, secret = bool(data.get("is_anonymous")), bool(data.get("is_secret"))
        reporter = None
        shown = data.get("reporter")
        if isinstance(shown, dict) and not (anonymous or secret):
            reporter = Reporter(
                name=_secret(shown.get("name")),
                phone=_secret(normalize_phone(shown.get("phone"))),
                email=_secret(shown.get("email")),
                nik=_secret(shown.get("nik")),
            )
        location = None
        lat, lng = data.get("latitude"), data.get("longitude")
        if isinstance(lat, int | float) and isinstance(lng, int | float):
            location = Location(latitude=lat, longitude=lng, address=data.get("address"))
        archive_reason = None
        for entry in reversed(logs or []):
            # the archiving itself (…→90), not a later follow-up on the archived complaint (90→90)
            archived = isinstance(entry, dict) and entry.get("status_new") == 90
            if archived and entry.get("status_old") != 90:
                archive_reason = str(entry.get("content") or "") or None
                break
        return NationalComplaint(
            id=int(data["id"]),
            title=str(data.get("title") or ""),
            content=str(data.get("content") or ""),
            category=self.directory.path_of(data.get("category_id")),
            status=canonical_status(code),
            status_code=code,
            anonymous=anonymous,
            confidential=secret,
            reporter=reporter,
            location=location,
            disposition_id=data.get("disposition_id"),
            disposition_name=data.get("disposition_name"),
            archive_reason=archive_reason,
            tags=_tags(data),
            created_at=parse_time(data["created_at"]),
            updated_at=parse_time(data["updated_at"]),
        )

    def complaint(self, national_id: int) -> NationalComplaint | None:
        try:
            results = self._send("GET", f"/complaints/{national_id}/complaint")
        except NotFound:
            return None
        return self.complaint_from(results["data"], results.get("data_logs"))

    def _with_history(self, item: dict[str, Any]) -> NationalComplaint:
        """An inbox item; an archived one read again by id, for the reason in its history.

        ``data_logs`` (where the admin's reason for archiving is) come only with a
        read by id; an archived complaint passes the inbox once, so one read each.
        """
        if item.get("status_code") in (ARCHIVED, str(ARCHIVED)) and "data_logs" not in item:
            full = self.complaint(int(item["id"]))
            if full is not None:
                return full
        return self.complaint_from(item, item.get("data_logs"))

    def inbox(self, updated_from: datetime) -> Iterator[list[NationalComplaint]]:
        """Complaints disposed to this account's agency, changed since ``updated_from``.

        Read by keyset on ``updated_at``, not by following page numbers: a
        complaint updated between two page reads moves to the end, and offset
        pages would then skip the one that slid back across the page edge. Only
        a page that sits wholly in one second is stepped through by its
        ``next_page_url`` (``≥`` brings the edge again: the caller is idempotent).
        """
        since = format_time(updated_from)
        url: str | None = "/complaints/inbox"
        query: dict[str, Any] | None = {"updated_from": since, "page": 1, "page_size": 100}
        while url:
            results = self._send("GET", url, params=query)
            items = list(results.get("data") or [])
            page = [self._with_history(item) for item in items]
            yield page
            following = results.get("next_page_url")
            if not page or not following:
                return
            last = format_time(max(c.updated_at for c in page))
            if last != since:
                since = last
                url = "/complaints/inbox"
                query = {"updated_from": since, "page": 1, "page_size": 100}
            else:
                url, query = following, None

    def add_follow_up(self, national_id: int, content: str, mark_completed: bool) -> str:
        form = {
            "complaint_id": str(national_id),
            "institution_from_id": str(self.institution_id),
            "content": content,
            "mark_completed": "1" if mark_completed else "0",
        }
        # multipart, as the contract says, even without files
        files = {key: (None, value) for key, value in form.items()}
        results = self._send("POST", "/complaints/followup/add", idempotent=False, files=files)
        return str(results["followup"]["id"])

    def reject(self, national_id: int, reason: str) -> None:
        """Hand the complaint back; done too when it has already left the agency.

        LAPOR answers ``403`` to a hand-back of a complaint not disposed to this
        agency. A retry after a lost answer meets exactly that (the first one
        went through: the complaint is back with the admin, status 10), and so
        does a complaint the admin moved meanwhile: either way nothing is left
        to hand back. A ``403`` on a complaint still ours is raised.
        """
        body = {"not_authority": 1, "reason_description": reason}
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
        out: list[FollowUp] = []
        for page in self._pages(f"/complaints/{national_id}/followups", {"page": 1}):
            for item in page:
                out.append(
                    FollowUp(
                        id=str(item["id"]),
                        author=str(item.get("author_type") or ""),
                        content=str(item.get("content") or ""),
                        at=parse_time(item["created_at"]),
                    )
                )
        return out

    def close(self) -> None:
        self.endpoint.client.close()


def _secret(value: Any) -> SecretStr | None:
    return SecretStr(str(value)) if value else None


def _topic_label(complaint: Complaint) -> str:
    return (complaint.local_category or complaint.category.split("/")[-1]).capitalize()


def connect(
    config: LaporConfig,
    accounts: dict[str, AccountConfig],
    *,
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
                "Authorization": f"Bearer {account.api_secret.get_secret_value()}",
                "token": account.token.get_secret_value(),
            },
            transport=transport,
        )
        endpoint = Endpoint("LAPOR", client, limiter, policy or RetryPolicy())
        out[name] = LaporAccount(name, endpoint, account.institution)
    return out


__all__ = [
    "AccountConfig",
    "Directory",
    "LaporAccount",
    "LaporConfig",
    "canonical_status",
    "connect",
    "format_time",
    "parse_time",
    "ticket_from",
]
