"""Open311 GeoReport v2 client (``open311.md``): any city that speaks the standard.

Reading. Open311 has no "changed since" feed, so :meth:`Open311Source.pull`
reads two: ``GET /requests.json`` by ``requested_datetime`` windows for new
requests, and ``GET /servicerequestupdates.json`` by ``updated_datetime``
windows for changed ones (each changed request is then read with
``GET /requests/{id}.json``). The cursor is a JSON object holding the two
high-water marks; each page's cursor advances a mark only past what has been
fully read. Windows are at most 90 days, and the requests' windows are sized
from the last answer to hold about a page (a backlog is read a page at a time,
not 1000 requests at a time); a window answered with the server's cap (1000)
may have been cut, so it is halved and read again until no half is cut. Both
feeds are re-read from a little before their marks (``overlap_seconds``), for
clock skew, a server clock stepping back, and requests a queued server makes
later with an earlier time; the engine recognises what it has already seen.
The marks are window ends the bridge computes from its own clock, so none is
stored past the server's clock, read from its answers' ``Date`` (the earliest
of the pull): a bridge clock running ahead would otherwise carry the marks past
every request the city files until its clock gets there.

Writing. Open311 has no link field and no way to change a request but
updates, so every write is a ``POST /servicerequestupdates.json`` whose
``update_id`` is the bridge's own deterministic reference (``lb-…``): a
repeat is refused as "already exists", which is success. That makes
every write idempotent, and lets the reader tell the bridge's words apart.
An update sets the request's status, so writes that must not move it carry
the status the city shows now, and a status write never moves it backward.
A queued server's token is polled until it resolves: its "not yet" may be
the token alone, an empty array or a 404, and none of them fails the pass.

Errors. "The code in the body may differ from the HTTP status": every
element of the error array is read. A bad key is a 401/403 status or a 403
in the body; "already exists" is success whatever the 4xx status and
whichever element says it (the words decide, not a body code 400, which any
refused write carries).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, SecretStr

from adapters.local.common import fetch_photo
from adapters.local.open311.normalize import (
    STATUS_NOTES,
    WRITE_STATUS,
    canonical_status,
    compose_description,
    current_status,
    link_note,
    link_update_id,
    marker,
    normalize,
    parse_time,
    service_code_for,
    status_update_id,
)
from bridge.errors import Ambiguous, NotFound, Rejected, Transient, Unavailable
from bridge.http import Endpoint, RateLimiter, RetryPolicy, answered_at, json_of, make_client
from bridge.model import Attachment, Complaint, FollowUp, NationalComplaint, Status
from bridge.ports import Created, Page, RawRecord
from bridge.timefmt import rfc3339, utcnow

SECOND = timedelta(seconds=1)
# the minutes around a change are read in slices of this: a busy feed is never held whole
AROUND_SLICE = timedelta(minutes=5)
# the first window a read of requests asks for; later ones are sized from the answers
FIRST_WINDOW = timedelta(hours=1)


class Open311Config(BaseModel):
    """``[sources.NAME]`` keys of an Open311 source."""

    model_config = ConfigDict(extra="forbid")

    account: str
    base_url: str
    api_key: SecretStr
    jurisdiction_id: str | None = None
    default_service_code: str = Field(min_length=1)
    location_id: int  # LAPOR's region id; the LAPOR side sends it
    categories: dict[str, str] = Field(default_factory=dict)
    requests_per_second: float = Field(default=10.0, gt=0)
    timeout_seconds: float = Field(default=30.0, gt=0)
    #: records per page: the engine commits the cursor between pages
    page_size: int = Field(default=100, ge=1)
    #: the longest window a request may ask for (the standard's limit is 90 days)
    window_days: int = Field(default=90, ge=1, le=90)
    #: where the server cuts a list of requests; an answer this long is read again, halved
    max_requests: int = Field(default=1000, ge=2)
    #: how far before each mark the feeds are read again
    overlap_seconds: int = Field(default=600, ge=0)
    #: where the first pass starts; ``None``: 90 days before it
    backfill_start: AwareDatetime | None = None


@dataclass(frozen=True)
class Marks:
    """The two high-water marks of :meth:`Open311Source.pull`."""

    requested: datetime  # new requests are read from here (requested_datetime)
    updated: datetime  # changes are read from here (updated_datetime of updates)

    def dump(self) -> str:
        return json.dumps({"requested": rfc3339(self.requested), "updated": rfc3339(self.updated)})

    @classmethod
    def load(cls, cursor: str | None, default: datetime) -> Marks:
        """The stored cursor; a bare RFC 3339 time (a ``--since``) is both marks.

        An unreadable cursor reads again from ``default``: the engine
        recognises what it has seen, while a blocked source would sync nothing.
        """
        if cursor is None or not cursor.strip():
            return cls(default, default)
        bare = parse_time(cursor)
        if bare is not None:
            return cls(bare, bare)
        try:
            data = json.loads(cursor)
            requested, updated = parse_time(data["requested"]), parse_time(data["updated"])
        except (ValueError, TypeError, KeyError):
            requested = updated = None
        return cls(requested or default, updated or default)


# windows: pure -------------------------------------------------------------------


def floor_second(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def ceil_second(moment: datetime) -> datetime:
    floor = floor_second(moment)
    return floor if floor == moment else floor + SECOND


def windows(start: datetime, end: datetime, size: timedelta) -> list[tuple[datetime, datetime]]:
    """[start, end] in consecutive windows of at most ``size``, whole seconds, oldest first."""
    start, end = floor_second(start), ceil_second(end)
    out = []
    while start < end:
        stop = min(start + size, end)
        out.append((start, stop))
        start = stop
    return out


def halves(start: datetime, end: datetime) -> tuple[tuple[datetime, datetime], ...] | None:
    """A window cut in two at a whole second, or ``None`` when it cannot be narrowed."""
    if end - start < 2 * SECOND:
        return None
    middle = floor_second(start + (end - start) / 2)
    return (start, middle), (middle, end)


def next_window(size: timedelta, count: int, target: int, longest: timedelta) -> timedelta:
    """The window after one of ``size`` that held ``count`` requests: sized to hold about
    ``target`` at the same density, growing at most fourfold, whole seconds, at most
    ``longest``."""
    factor = min(4.0, target / max(count, 1))
    seconds = max(1, int(size.total_seconds() * factor))
    return min(timedelta(seconds=seconds), longest)


def chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)] or [items]


# errors -----------------------------------------------------------------------------


def _errors_of(response: httpx.Response) -> list[tuple[int | None, str]]:
    """Every element of the body's ``[{"code", "description"}]`` (a bare object too).

    A code may differ from the HTTP status, and be written as text.
    """
    try:
        body = json_of(response)
    except ValueError:
        return []
    out: list[tuple[int | None, str]] = []
    for item in body if isinstance(body, list) else [body]:
        if not isinstance(item, Mapping):
            continue
        code = item.get("code")
        if isinstance(code, str) and code.strip().isdigit():
            code = int(code)
        description = item.get("description")
        out.append(
            (
                code if isinstance(code, int) and not isinstance(code, bool) else None,
                description.strip() if isinstance(description, str) else "",
            )
        )
    return out


def _message(errors: list[tuple[int | None, str]], status: int) -> str:
    """The descriptions, each with its code where that differs from the HTTP status."""
    said = [
        text if code is None or code == status else f"{text} (code {code})"
        for code, text in errors
        if text
    ]
    return "; ".join(said) or f"HTTP {status}"


def _check_json(response: httpx.Response) -> None:
    """An answer below 400 that is not JSON is a gateway's page: worth retrying."""
    if response.status_code < 400:
        try:
            json_of(response)
        except ValueError:
            raise Transient("the Open311 server answered with a body that is not JSON") from None


def _refused_code(error: Rejected) -> bool:
    """Whether a create was refused for its service_code (so nothing was created)."""
    return error.status in (400, 404) and "service_code" in error.message.lower()


def _first(body: Any) -> Mapping[str, Any]:
    """The one element of an Open311 array answer (a bare object is accepted too)."""
    item = body[0] if isinstance(body, list) and body else body
    return item if isinstance(item, Mapping) else {}


def _id_of(item: Mapping[str, Any], key: str = "service_request_id") -> str | None:
    value = item.get(key)
    if isinstance(value, bool) or not isinstance(value, str | int) or str(value).strip() == "":
        return None
    return str(value).strip()


def same_origin(base_url: str, url: str) -> bool:
    """Whether ``url`` (absolute, or relative to ``base_url``) has ``base_url``'s scheme,
    host and port: the only place the app's credentials may go. ``http`` on an ``https``
    app's host is another origin (the credentials would cross the network in clear)."""
    try:
        base = httpx.URL(base_url)
        target = base.join(url)
    except httpx.InvalidURL:
        return False
    return (target.scheme, target.host, target.port) == (base.scheme, base.host, base.port)


class Open311Source:
    """An Open311 GeoReport v2 city as a ``bridge.ports.LocalSource``."""

    def __init__(
        self,
        name: str,
        config: Open311Config,
        endpoint: Endpoint,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.name = name
        self.account = config.account
        self.config = config
        self.endpoint = endpoint
        self.clock = clock
        self._host = urlsplit(config.base_url).netloc
        self._window = timedelta(days=config.window_days)
        self._overlap = timedelta(seconds=config.overlap_seconds)
        #: the server's clock: the earliest ``Date`` it answered with since a pull began
        self._server_clock: datetime | None = None

    # transport ---------------------------------------------------------------------
    def _common(self) -> dict[str, str]:
        jurisdiction = self.config.jurisdiction_id
        return {"jurisdiction_id": jurisdiction} if jurisdiction else {}

    def _get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        return self._send("GET", path, params={**self._common(), **(params or {})})

    def _post(self, path: str, form: Mapping[str, str], *, idempotent: bool) -> Any:
        data = {**self._common(), "api_key": self.config.api_key.get_secret_value(), **form}
        return self._send("POST", path, data=data, idempotent=idempotent)

    def _send(self, method: str, path: str, *, idempotent: bool = True, **kw: Any) -> Any:
        response = self.endpoint.send(method, path, idempotent=idempotent, check=_check_json, **kw)
        answered = answered_at(response)
        if answered is not None and (self._server_clock is None or answered < self._server_clock):
            self._server_clock = answered
        status = response.status_code
        if status >= 400:
            errors = _errors_of(response)
            if status in (401, 403) or any(code == 403 for code, _ in errors):
                raise Unavailable(
                    f"the Open311 server refused the API key (HTTP {status}): "
                    f"check sources.{self.name}.api_key"
                )
            if status == 404:
                raise NotFound(404, _message(errors, status))
            raise Rejected(status, _message(errors, status))
        try:
            return json_of(response)
        except ValueError:
            raise Unavailable("the Open311 server answered with a body that is not JSON") from None

    def _post_update(self, local_id: str, update_id: str, status: str, description: str) -> None:
        """One update; a repeated ``update_id`` ("already exists") means it is there: success.

        Whatever the 4xx status, and in any element of the error array.
        """
        form = {
            "service_request_id": local_id,
            "update_id": update_id,
            "status": status,
            "updated_datetime": rfc3339(self.clock()),
            "description": description,
        }
        try:
            self._post("/servicerequestupdates.json", form, idempotent=True)
        except Rejected as exc:
            if "already exists" in exc.message.lower():
                return
            raise

    # the two feeds --------------------------------------------------------------------
    def _requests_between(
        self, start: datetime, end: datetime
    ) -> Iterator[tuple[datetime, list[Mapping[str, Any]]]]:
        """Every request with ``requested_datetime`` in [start, end], window by window.

        Yields each fully read window's end with its requests, oldest window
        first. The answer has no pagination, so its size is steered through
        the window's: each window is sized from the last answer to hold about
        a page of requests (``page_size``; an hour first, growing at most
        fourfold, at most ``window_days``), so that a dense backlog — the
        apps' intake while LAPOR was down — is read a page at a time, not a
        capped answer of 1000 at a time. A window answered with the cap is
        halved and read again: the server says nothing of what it cut.
        """
        low, end = floor_second(start), ceil_second(end)
        size = min(FIRST_WINDOW, self._window)
        target = max(1, min(self.config.page_size, self.config.max_requests // 2))
        while low < end:
            high = min(low + size, end)
            items = self._get(
                "/requests.json", {"start_date": rfc3339(low), "end_date": rfc3339(high)}
            )
            if not isinstance(items, list):
                raise Unavailable("the Open311 server's requests answer is not a list")
            if len(items) >= self.config.max_requests:
                split = halves(low, high)
                if split is None:
                    raise Unavailable(
                        f"over {self.config.max_requests} requests at {rfc3339(low)}: "
                        "the Open311 server cannot list them all"
                    )
                size = split[0][1] - low
                continue
            yield high, [item for item in items if isinstance(item, Mapping)]
            size = next_window(high - low, len(items), target, self._window)
            low = high

    def _updates_between(
        self,
        start: datetime,
        end: datetime,
        *,
        of: str | None = None,
        size: timedelta | None = None,
    ) -> list[Mapping[str, Any]]:
        """Every update with ``updated_datetime`` in [start, end] (the feed has no cap).

        With ``of``, only that request's, kept window by window (of ``size``, at
        most the server's 90 days): the rest of a busy feed is dropped as it is read.
        """
        out: list[Mapping[str, Any]] = []
        key = self.config.api_key.get_secret_value()
        for low, high in windows(start, end, min(size or self._window, self._window)):
            body = self._get(
                "/servicerequestupdates.json",
                {"start_date": rfc3339(low), "end_date": rfc3339(high), "api_key": key},
            )
            items = body.get("service_request_updates") if isinstance(body, Mapping) else None
            if not isinstance(items, list):
                raise Unavailable("the Open311 server's updates answer has no update list")
            out.extend(
                u
                for u in items
                if isinstance(u, Mapping)
                and (local_id := _id_of(u)) is not None
                and (of is None or local_id == of)
            )
        return out

    def _request(self, local_id: str) -> Mapping[str, Any] | None:
        """One request; ``None`` when the city does not know it (a 404, or an empty array)."""
        try:
            body = self._get(f"/requests/{quote(local_id, safe='')}.json")
        except NotFound:
            return None
        if body == []:
            return None
        item = _first(body)
        if _id_of(item) is None:
            raise Unavailable("the Open311 server answered a request without its id")
        return item

    def _history(self, request: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        """All of one request's updates: the feed from its creation to now, filtered."""
        local_id = _id_of(request)
        since = parse_time(request.get("requested_datetime")) or self._backfill(self.clock())
        return self._updates_between(since - self._overlap, self.clock(), of=local_id)

    def _latest(self, local_id: str) -> str:
        """The status the city shows now, read from around the request's last change.

        ``updated_datetime`` is "when the request was last modified" (the
        standard), and the update that modified it carries that time: the
        second around it is read first, cheap however old the request and
        however busy the feed (the bridge's own notes after a backfill are
        thousands a minute). A request modified in the second it was made and
        with no update there was never modified: its own status. Otherwise a
        writer's clock may differ from the server's, so the few minutes around
        (``overlap_seconds``) are read, a slice at a time; a request modified
        with no update even there (or with no time) has its whole history read.
        """
        request = self._request(local_id)
        if request is None:
            raise NotFound(404, f"service request {local_id} not found")
        created = parse_time(request.get("requested_datetime"))
        changed = parse_time(request.get("updated_datetime"))
        if changed is not None:
            updates = self._updates_between(changed - SECOND, changed + SECOND, of=local_id)
            if updates or (created is not None and changed - created < SECOND):
                return current_status(request.get("status"), updates)
            updates = self._updates_between(
                changed - self._overlap, changed + self._overlap, of=local_id, size=AROUND_SLICE
            )
            if updates or (created is not None and changed - created <= self._overlap):
                return current_status(request.get("status"), updates)
        return current_status(request.get("status"), self._history(request))

    def _backfill(self, now: datetime) -> datetime:
        return self.config.backfill_start or now - timedelta(days=90)

    # reading --------------------------------------------------------------------------
    def pull(self, cursor: str | None) -> Iterator[Page]:
        """New requests, then changed ones; see the module docstring.

        The updates feed is read first so that a request met in the new-request
        windows carries the updates seen in this read, and is not fetched again.
        """
        now = ceil_second(self.clock())
        marks = Marks.load(cursor, self._backfill(now))
        self._server_clock = None
        updates = self._updates_between(marks.updated - self._overlap, now)
        by_request: dict[str, list[Mapping[str, Any]]] = {}
        for update in updates:
            by_request.setdefault(str(_id_of(update)), []).append(update)
        # what this read has yielded, kept no longer than needed (a backlog's ids would
        # make the read's memory grow with it): windows meet at a second, so a request
        # can come again only in the next window; a changed one must not be read again
        previous: set[str] = set()
        met: set[str] = set()

        requested = marks.requested
        for high, items in self._requests_between(marks.requested - self._overlap, now):
            fresh = []
            current: set[str] = set()
            for item in items:
                local_id = _id_of(item)
                if local_id is not None and (local_id in previous or local_id in current):
                    continue
                fresh.append(_raw(item, by_request.get(local_id or "", [])))
                if local_id is not None:
                    current.add(local_id)
                    if local_id in by_request:
                        met.add(local_id)
            previous = current
            requested = max(requested, high)
            yield from self._pages(fresh, self._marks(requested, marks.updated))

        changed = [local_id for local_id in by_request if local_id not in met]
        if not changed:
            yield Page([], self._marks(requested, max(marks.updated, now)).dump())
            return
        for index, group in enumerate(chunks(changed, self.config.page_size)):
            records = []
            for local_id in group:
                request = self._request(local_id)
                if request is not None:  # gone, or not in this jurisdiction: nothing to sync
                    records.append(_raw(request, by_request[local_id]))
            left = changed[(index + 1) * self.config.page_size :]
            waiting = [u for rid in left for u in by_request[rid]]
            mark = _earliest(waiting, default=now, floor=marks.updated)
            yield Page(records, self._marks(requested, max(marks.updated, mark)).dump())

    def cursor_for(self, since: datetime) -> str | None:
        """Both marks at ``since``: requests made, and requests updated, since then."""
        return Marks(since, since).dump()

    def _marks(self, requested: datetime, updated: datetime) -> Marks:
        """Marks never past the server's clock (a server without ``Date``: as given).

        A window's end is the bridge's clock; what the server has not stamped yet
        lies past its own clock, whatever the bridge's says. A mark held back is
        read again from there, and the engine recognises what it has seen.
        """
        clock = self._server_clock
        if clock is None:
            return Marks(requested, updated)
        return Marks(min(requested, clock), min(updated, clock))

    def _pages(self, records: list[RawRecord], marks: Marks) -> Iterator[Page]:
        """A fully read window as pages; only the last carries the cursor."""
        groups = chunks(records, self.config.page_size)
        for index, group in enumerate(groups):
            last = index == len(groups) - 1
            yield Page(list(group), marks.dump() if last else None)

    def fetch(self, local_id: str) -> RawRecord | None:
        """One request with all its updates (the feed is scanned from its creation)."""
        request = self._request(local_id)
        if request is None:
            return None
        return _raw(request, self._history(request))

    def normalize(self, raw: RawRecord) -> Complaint:
        return normalize(
            raw.payload,
            source=self.name,
            region=str(self.config.location_id),
            categories=self.config.categories,
        )

    def fetch_attachment(self, attachment: Attachment) -> bytes:
        """The photo, only from ``base_url``'s scheme, host and port (no other is fetched)."""
        if not same_origin(self.config.base_url, attachment.url):
            raise Rejected(
                0,
                "photo URL is not on the app's host (scheme, host and port of base_url); "
                "not fetched",
            )
        return fetch_photo(self.endpoint, self._host, attachment.url)

    # writing --------------------------------------------------------------------------
    def link_national(self, local_id: str, national_id: int) -> None:
        """Open311 has no link field: a note, once (``lb-link-<id>``), that keeps the status.

        The mapping itself is kept on the bridge's side (bridge.md).
        """
        self._post_update(
            local_id, link_update_id(local_id), self._latest(local_id), link_note(national_id)
        )

    def set_status(self, local_id: str, status: Status) -> None:
        """Post the status as an update, unless the request is already as far or further.

        Posting an update sets the request's status, so a late or repeated
        write must not move it back, nor overwrite a terminal status. Open311
        has no ``verified``: it goes as ``OPEN`` under an update_id that names
        it (``lb-status-<id>-verified``), and is read back as verified.
        """
        raw = self.fetch(local_id)
        if raw is None:
            raise NotFound(404, f"service request {local_id} not found")
        request: Mapping[str, Any] = raw.payload["request"]
        current = canonical_status(request.get("status"), raw.payload["updates"])
        if current.rank >= status.rank:
            return
        self._post_update(
            local_id,
            status_update_id(local_id, status),
            WRITE_STATUS[status],
            STATUS_NOTES[status],
        )

    def add_response(self, local_id: str, response: FollowUp, ref: str) -> None:
        """An update carrying ``ref`` as its ``update_id``: idempotent by the server's rule."""
        self._post_update(local_id, ref, self._latest(local_id), response.content)

    def create(self, complaint: NationalComplaint) -> Created:
        """``POST /requests.json``: the new id, or a queued server's token to poll.

        The description ends with ``[LAPOR-SP4N #<id>]`` (how :meth:`find_created`
        and the reader know it) and ``attribute[external_id]`` carries the id.
        """
        code = service_code_for(
            complaint.category, self.config.categories, self.config.default_service_code
        )
        form = _create_form(complaint, code)
        try:
            body = self._post("/requests.json", form, idempotent=False)
        except Rejected as exc:
            # refused, so nothing was made: the city lacks the built-in code; use its own
            if code == self.config.default_service_code or not _refused_code(exc):
                raise
            form["service_code"] = self.config.default_service_code
            body = self._post("/requests.json", form, idempotent=False)
        item = _first(body)
        local_id, token = _id_of(item), _id_of(item, "token")
        if local_id is not None:
            return Created(local_id)
        if token is not None:
            return Created(None, token)
        # the request may exist: the engine looks for it with find_created
        raise Ambiguous("the Open311 server answered a create with neither an id nor a token")

    def poll_created(self, token: str) -> str | None:
        """The id once the queued request exists; a token must be polled, never re-posted.

        ``None`` until then, however the server says "not yet": the token alone,
        an empty array, or a 404 (some servers do not know a token before they
        have made its request). The engine keeps the token and polls it next pass.
        """
        try:
            body = self._get(f"/tokens/{quote(token, safe='')}.json")
        except NotFound:
            return None
        return _id_of(_first(body))

    def find_created(self, national_id: int, since: datetime) -> str | None:
        """The request whose description carries the marker, made since ``since``."""
        wanted = marker(national_id)
        now = self.clock()
        for _, items in self._requests_between(since - self._overlap, now):
            for item in items:
                description = item.get("description")
                if isinstance(description, str) and wanted in description:
                    return _id_of(item)
        return None

    def close(self) -> None:
        self.endpoint.client.close()


def _raw(request: Mapping[str, Any], updates: list[Mapping[str, Any]]) -> RawRecord:
    return RawRecord(_id_of(request) or "?", {"request": request, "updates": updates})


def _earliest(updates: Sequence[Mapping[str, Any]], default: datetime, floor: datetime) -> datetime:
    """The earliest time among updates not yet processed: the mark may not pass it.

    An update whose time cannot be read holds the mark at ``floor``.
    """
    times = [parse_time(u.get("updated_datetime")) or floor for u in updates]
    return min(times, default=default)


def _create_form(complaint: NationalComplaint, service_code: str) -> dict[str, str]:
    """The form of ``POST /requests.json``: the reporter only when LAPOR shows one."""
    form = {
        "service_code": service_code,
        "description": compose_description(complaint.title, complaint.content, complaint.id),
        "attribute[external_id]": str(complaint.id),
    }
    location = complaint.location
    if location is not None and location.latitude is not None and location.longitude is not None:
        form["lat"] = repr(location.latitude)
        form["long"] = repr(location.longitude)
    if location is not None and location.address:
        form["address_string"] = location.address
    if "lat" not in form and "address_string" not in form:
        form["address_string"] = "Kota"
    reporter = complaint.reporter
    if reporter is not None and not complaint.anonymous:
        if reporter.name is not None:
            first, _, last = reporter.name.get_secret_value().strip().partition(" ")
            form["first_name"], form["last_name"] = first, last.strip()
        if reporter.phone is not None:
            form["phone"] = reporter.phone.get_secret_value()
        if reporter.email is not None:
            form["email"] = reporter.email.get_secret_value()
    return form


def connect(
    name: str,
    config: Open311Config,
    *,
    policy: RetryPolicy | None = None,
    transport: httpx.BaseTransport | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> Open311Source:
    client = make_client(config.base_url, timeout=config.timeout_seconds, transport=transport)
    limiter = RateLimiter(config.requests_per_second, burst=max(1, int(config.requests_per_second)))
    endpoint = Endpoint(f"Open311 ({name})", client, limiter, policy or RetryPolicy())
    return Open311Source(name, config, endpoint, clock)
