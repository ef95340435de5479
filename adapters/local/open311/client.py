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
may have been cut, so it is halved and read again until no half is cut (see
"Caps" below). Both
feeds are re-read from a little before their marks (``overlap_seconds``), for
clock skew, a server clock stepping back, and requests a queued server makes
later with an earlier time; the engine recognises what it has already seen.
The marks are window ends the bridge computes from its own clock, so none is
stored past the server's clock, read from its answers' ``Date`` (the earliest
of the pull): a bridge clock running ahead would otherwise carry the marks past
every request the city files until its clock gets there.

Caps. A server cuts a list at its cap (``max_requests``: 50, 100, 200, 1000 or
unpublished) and says nothing of what it cut, so an answer holding the cap or
more is split in two and each half read again, down to one second. An answer
of ``n`` records proves the cap is at least ``n``: the cap assumed is the
configured one (unset: 50, the smallest real cap) or the largest answer seen,
whichever is larger, so a larger cap costs only extra reads at first and never
a request. What was assumed, and the largest answer seen and how often, are kept
in the cursor (``status`` shows it). Fullness is judged on the raw answer,
records outside the asked window and without an id included; records come in
any order, and one outside its window is processed like any other. A request
without ``service_request_id`` (a city still processing it) is skipped, and
its window's start holds the mark until it shows an id.

Shapes. ``wire`` reads every list and error shape of ``open311.md``, JSON or
XML (``format``). An answer that is none of them fails the pass with a message
naming the source and the shape, the cursor staying where it was; the requests
of it that can be told by their id are quarantined first. One request whose
single read fails (a 5xx on it while the rest of the server answers) is
retried on later passes, listed in the cursor, and never blocks the others.

Writing. Open311 has no link field and no way to change a request but
updates, so every write is a ``POST /servicerequestupdates.json`` whose
``update_id`` is the bridge's own deterministic reference (``lb-…``): a
repeat is refused as "already exists", which is success, by servers that check
(FixMyStreet). Servers built on open311-adapter keep no writer's ``update_id``
and store a repeat twice, so the reference also ends the description
(``[lb-…]``): the reader knows the bridge's words by either, and an update
whose answer was lost is posted again only when the feed does not show it.
An update sets the request's status, so writes that must not move it carry
the status the city shows now, and a status write never moves it backward.
A queued server's token is polled until it resolves: its "not yet" may be
the token alone, an empty array or a 404, and none of them fails the pass.

Errors. "The code in the body may differ from the HTTP status": every
element of the error array is read. A bad key is a 401/403 status or a 403
in the body, or a 400 whose description names ``api_key``; "already exists"
is success whatever the 4xx status and whichever element says it (the words
decide, not a body code 400, which any refused write carries).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import quote

import httpx
from pydantic import AwareDatetime, Field, SecretStr

from adapters.local.common import AppConfig, AppSource, rate_limiter
from adapters.local.open311 import wire
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
    own_ref,
    parse_time,
    service_code_for,
    status_update_id,
    unknown_statuses,
    with_ref,
)
from bridge.core.errors import Ambiguous, NotFound, Rejected, Transient, Unavailable, Unreadable
from bridge.core.model import FollowUp, NationalComplaint, Status
from bridge.core.ports import Created, Page, RawRecord
from bridge.core.timefmt import rfc3339, utcnow
from bridge.runtime.http import (
    Endpoint,
    RetryPolicy,
    answered_at,
    json_of,
    make_client,
    shown_url,
)
from bridge.runtime.logs import get_logger

SECOND = timedelta(seconds=1)
# the minutes around a change are read in slices of this: a busy feed is never held whole
AROUND_SLICE = timedelta(minutes=5)
# the first window a read of requests asks for; later ones are sized from the answers
FIRST_WINDOW = timedelta(hours=1)
#: the cap assumed of a server whose cap is not configured: the smallest real one (open311.md)
DEFAULT_CAP = 50
#: single reads failing in a row before the server, not the requests, is taken to be down
UNREADABLE_IN_A_ROW = 3
#: passes an unreadable request is read again before it is given up (and still reported)
UNREADABLE_TRIES = 10
#: how many unreadable requests, given-up ones and unknown statuses the cursor lists
LISTED = 200
#: ids of out-of-window requests a pull remembers, so that one seen again is not processed twice
OUTSIDE_MEMORY = 10_000
#: statuses remembered from a read for the link note that follows it, and for how long
SHOWN_MEMORY = 10_000
SHOWN_FOR = 60.0

log = get_logger("adapters.open311")


class Open311Config(AppConfig):
    """``[sources.NAME]`` keys of an Open311 source."""

    api_key: SecretStr
    jurisdiction_id: str | None = None
    default_service_code: str = Field(min_length=1)
    #: records per page: the engine commits the cursor between pages
    page_size: int = Field(default=100, ge=1)
    #: the longest window a request may ask for (the standard's limit is 90 days)
    window_days: int = Field(default=90, ge=1, le=90)
    #: where the server cuts a list of requests; an answer this long is read again, halved.
    #: Unset: unknown, 50 assumed and raised to the largest answer seen (open311.md)
    max_requests: int | None = Field(default=None, ge=2)
    #: which paths and answers the server speaks: ``.json`` or ``.xml``
    format: Literal["json", "xml"] = "json"
    #: ``False`` for servers that refuse an offset in ``start_date``/``end_date``: UTC
    #: clock time is sent without one
    start_date_offset: bool = True
    #: how far before each mark the feeds are read again
    overlap_seconds: int = Field(default=600, ge=0)
    #: where the first pass starts; ``None``: 90 days before it
    backfill_start: AwareDatetime | None = None


@dataclass(frozen=True)
class Marks:
    """The two high-water marks of :meth:`Open311Source.pull`, and what the source keeps
    between passes (``state``: the cap assumed, requests that could not be read, statuses
    read as no change), shown by ``status`` with the cursor."""

    requested: datetime  # new requests are read from here (requested_datetime)
    updated: datetime  # changes are read from here (updated_datetime of updates)
    state: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def dump(self) -> str:
        marks = {"requested": rfc3339(self.requested), "updated": rfc3339(self.updated)}
        return json.dumps({**marks, **{k: v for k, v in self.state.items() if v}})

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
        state: dict[str, Any] = {}
        try:
            data = json.loads(cursor)
            requested, updated = parse_time(data["requested"]), parse_time(data["updated"])
            state = {k: v for k, v in data.items() if k in STATE_KEYS and isinstance(v, dict)}
        except (ValueError, TypeError, KeyError, AttributeError):
            requested = updated = None
        return cls(requested or default, updated or default, state)


#: what the cursor keeps besides the marks
STATE_KEYS = ("cap", "unreadable", "given_up", "unknown_statuses")


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


def _errors_of(response: httpx.Response, xml: bool = False) -> list[tuple[int | None, str]]:
    """Every error of the body, in any of the shapes of ``wire.errors_of``."""
    try:
        body = wire.parse_xml(response.content) if xml else json_of(response)
    except ValueError:
        return []
    return wire.errors_of(body)


def _names_the_key(errors: list[tuple[int | None, str]]) -> bool:
    """Whether an error says the key is bad or missing (real servers answer 400 for it)."""
    return any("api_key" in text.lower() or "api key" in text.lower() for _, text in errors)


def _message(errors: list[tuple[int | None, str]], status: int) -> str:
    """The descriptions, each with its code where that differs from the HTTP status."""
    said = [
        text if code is None or code == status else f"{text} (code {code})"
        for code, text in errors
        if text
    ]
    return "; ".join(said) or f"HTTP {status}"


def _checker(name: str, xml: bool) -> Callable[[httpx.Response], None]:
    """The check of an answer below 400 (``Endpoint.send``): a body in the wrong format
    is a gateway's page or a cut answer, worth retrying; the message that says so after
    the last try names the source, the request and what came."""

    def check(response: httpx.Response) -> None:
        if response.status_code >= 400:
            return
        said = f"sources.{name}: the Open311 server answered {response.request.method} "
        said += shown_url(response.request.url)
        if xml:
            content_type = response.headers.get("content-type", "").lower()
            head = response.content[:256].lstrip().lower()
            if "html" in content_type or head.startswith((b"<!doctype html", b"<html")):
                raise Transient(f"{said} with an HTML page, not XML")
            return  # XML that is not well-formed fails the pass, its shape named
        try:
            json_of(response)
        except ValueError:
            raise Transient(f"{said} with a body that is not JSON") from None

    return check


def _refused_code(error: Rejected) -> bool:
    """Whether a create was refused for its service_code (so nothing was created)."""
    return error.status in (400, 404) and "service_code" in error.message.lower()


def _first(body: Any) -> Mapping[str, Any]:
    """The one element of an Open311 array answer, in any list shape (a bare object too)."""
    try:
        items = wire.items_of(body, "one-record")
    except wire.MalformedAnswer:
        return {}
    item = items[0] if items else {}
    return item if isinstance(item, Mapping) else {}


def _id_of(item: Mapping[str, Any], key: str = "service_request_id") -> str | None:
    value = item.get(key)
    if isinstance(value, bool) or not isinstance(value, str | int) or str(value).strip() == "":
        return None
    return str(value).strip()


class _Malformed(Unavailable):
    """A list answer in no accepted shape, with the requests of it that can be told
    (a pass failure wherever it is not handled)."""

    def __init__(self, message: str, known: list[Mapping[str, Any]]) -> None:
        super().__init__(message)
        self.known = known


def _quarantined(request: Mapping[str, Any], reason: str) -> RawRecord:
    """A request read from a malformed answer: the engine quarantines it with ``reason``."""
    return RawRecord(
        _id_of(request) or "?", {"request": request, "updates": [], "malformed": reason}
    )


class Open311Source(AppSource[Open311Config]):
    """An Open311 GeoReport v2 city as a ``bridge.core.ports.LocalSource``."""

    #: a photo goes out without the API key (only posts carry it)
    sends_credentials = False

    def __init__(
        self,
        name: str,
        config: Open311Config,
        endpoint: Endpoint,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        super().__init__(name, config, endpoint, normalize)
        self.clock = clock
        self._window = timedelta(days=config.window_days)
        self._overlap = timedelta(seconds=config.overlap_seconds)
        #: the server's clock: the earliest ``Date`` it answered with since a pull began
        self._server_clock: datetime | None = None
        self._xml = config.format == "xml"
        self._check = _checker(name, self._xml)
        #: the largest list of requests the server has answered, and how many times
        self._largest = 0
        self._largest_times = 0
        #: requests whose single read failed: id → {"since", "tries", "error"}
        self._unreadable: dict[str, dict[str, Any]] = {}
        # the status each request showed in this read, where the updates in hand prove it
        # (its last change among them): the link note of a request just created keeps
        # that status without reading the request again (:meth:`_latest`)
        self._shown: dict[str, tuple[float, str]] = {}
        self._given_up: dict[str, str] = {}
        #: statuses read as no change: word → when last seen
        self._unknown: dict[str, str] = {}

    # transport ---------------------------------------------------------------------
    def _common(self) -> dict[str, str]:
        jurisdiction = self.config.jurisdiction_id
        return {"jurisdiction_id": jurisdiction} if jurisdiction else {}

    def _path(self, path: str) -> str:
        """``path`` with the one suffix the source's ``format`` names (never both)."""
        return f"{path}.{self.config.format}"

    def _stamp(self, moment: datetime) -> str:
        """A time for ``start_date``/``end_date``: with ``Z``, or UTC clock time without an
        offset for servers that refuse one (``start_date_offset = false``)."""
        if self.config.start_date_offset:
            return rfc3339(moment)
        return moment.astimezone(UTC).replace(tzinfo=None, microsecond=0).isoformat()

    def _get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        return self._send("GET", path, params={**self._common(), **(params or {})})

    def _post(self, path: str, form: Mapping[str, str], *, idempotent: bool) -> Any:
        data = {**self._common(), "api_key": self.config.api_key.get_secret_value(), **form}
        return self._send("POST", path, data=data, idempotent=idempotent)

    def _send(self, method: str, path: str, *, idempotent: bool = True, **kw: Any) -> Any:
        response = self.endpoint.send(method, path, idempotent=idempotent, check=self._check, **kw)
        answered = answered_at(response)
        if answered is not None and (self._server_clock is None or answered < self._server_clock):
            self._server_clock = answered
        status = response.status_code
        if status >= 400:
            errors = _errors_of(response, self._xml)
            codes = {code for code, _ in errors} | {status}
            if status in (401, 403) or 403 in codes or (400 in codes and _names_the_key(errors)):
                raise Unavailable(
                    f"the Open311 server refused the API key (HTTP {status}): "
                    f"check sources.{self.name}.api_key"
                )
            if status == 404:
                raise NotFound(404, _message(errors, status))
            raise Rejected(status, _message(errors, status))
        try:
            return wire.parse_xml(response.content) if self._xml else json_of(response)
        except wire.MalformedAnswer as exc:
            raise Unavailable(self._malformed(method, path, str(exc))) from None
        except ValueError:
            raise Unavailable(self._malformed(method, path, "a body that is not JSON")) from None

    def _malformed(self, method: str, path: str, shape: str) -> str:
        return (
            f"sources.{self.name}: the Open311 server answered {method} {path} with {shape}; "
            "the pass stops and the cursor stays where it was"
        )

    def _list(self, path: str, params: Mapping[str, str], what: str) -> list[Mapping[str, Any]]:
        """The objects of a list answer in any accepted shape.

        An answer that is no list, or a list holding anything but objects, raises
        :class:`_Malformed` with the requests of it that can be told by their id.
        """
        body = self._get(path, params)
        try:
            items = wire.items_of(body, what)
        except wire.MalformedAnswer as exc:
            raise _Malformed(self._malformed("GET", path, str(exc)), []) from None
        if all(isinstance(item, Mapping) for item in items):
            return items
        known = [i for i in items if isinstance(i, Mapping) and _id_of(i) is not None]
        shape = f"the {what} answer is {wire.shape_of(items)}"
        raise _Malformed(self._malformed("GET", path, shape), known if what == "requests" else [])

    def _post_update(self, local_id: str, update_id: str, status: str, description: str) -> None:
        """One update, its reference at the end of its description too.

        A repeated ``update_id`` ("already exists", whatever the 4xx status and in
        any error) means it is there: success. A server that does not check repeats
        stores one twice, so a post whose answer was lost is not repeated blindly:
        the feed around it is read first, and the update is posted again only when
        the feed does not show it (a second lost answer is the engine's to retry).
        """
        self._shown.pop(local_id, None)  # what it shows is this post's from now on
        sent = self.clock()
        form = {
            "service_request_id": local_id,
            "update_id": update_id,
            "status": status,
            "updated_datetime": rfc3339(sent),
            "description": with_ref(description, update_id),
        }
        try:
            self._post_once(form)
        except Ambiguous:
            if self._shows(local_id, update_id, sent):
                return
            self._post_once(form)  # not applied; a second lost answer is retried later

    def _post_once(self, form: Mapping[str, str]) -> None:
        try:
            self._post(self._path("/servicerequestupdates"), form, idempotent=False)
        except Rejected as exc:
            if "already exists" not in exc.message.lower():
                raise

    def _shows(self, local_id: str, ref: str, sent: datetime) -> bool:
        """Whether the feed shows the bridge's update ``ref`` on the request, around ``sent``."""
        margin = max(self._overlap, timedelta(minutes=1))
        updates = self._updates_between(
            sent - margin, max(sent, self.clock()) + margin, of=local_id, size=AROUND_SLICE
        )
        return any(own_ref(update) == ref for update in updates)

    # the two feeds --------------------------------------------------------------------
    def cap(self) -> int:
        """The answer size from which a list of requests may have been cut: the configured
        cap (unset: the smallest real one), or the largest answer seen when larger (an
        answer of ``n`` proves the cap is at least ``n``)."""
        return max(self.config.max_requests or DEFAULT_CAP, self._largest)

    def _answered(self, count: int) -> None:
        if count > self._largest:
            self._largest, self._largest_times = count, 1
        elif count and count == self._largest:
            self._largest_times += 1

    def _requests_between(
        self, start: datetime, end: datetime
    ) -> Iterator[tuple[datetime, datetime, list[Mapping[str, Any]], bool]]:
        """Every request with ``requested_datetime`` in [start, end], window by window.

        Yields each fully read window (its start and end, its requests with an id,
        and whether it held one without an id), oldest window first. The answer has
        no pagination, so its size is steered through the window's: each window is
        sized from the last answer to hold about a page of requests (``page_size``,
        at most half the cap; an hour first, growing at most fourfold, at most
        ``window_days``), so that a dense backlog — the apps' intake while LAPOR was
        down — is read a page at a time. A window answered with the cap or more
        (:meth:`cap`, on the raw answer) is halved and read again: the server says
        nothing of what it cut.
        """
        low, end = floor_second(start), ceil_second(end)
        size = min(FIRST_WINDOW, self._window)
        while low < end:
            high = min(low + size, end)
            params = {"start_date": self._stamp(low), "end_date": self._stamp(high)}
            items = self._list(self._path("/requests"), params, "requests")
            full = len(items) >= self.cap()
            self._answered(len(items))
            if full:
                split = halves(low, high)
                if split is None:
                    raise Unavailable(
                        f"sources.{self.name}: {len(items)} requests at {rfc3339(low)}, "
                        f"the cap assumed ({self.cap()}): the Open311 server cannot list "
                        "them all in one second"
                    )
                size = split[0][1] - low
                continue
            with_id = [item for item in items if _id_of(item) is not None]
            yield low, high, with_id, len(with_id) < len(items)
            target = max(1, min(self.config.page_size, self.cap() // 2))
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
            params = {"start_date": self._stamp(low), "end_date": self._stamp(high), "api_key": key}
            items = self._list(self._path("/servicerequestupdates"), params, "updates")
            out.extend(
                u
                for u in items
                if (local_id := _id_of(u)) is not None and (of is None or local_id == of)
            )
        return out

    def _request(self, local_id: str) -> Mapping[str, Any] | None:
        """One request; ``None`` when the city does not know it (a 404, or an empty list).

        A server error on it alone (the server's other answers coming) is
        :class:`Unreadable`: that request is retried later, the others go on.
        """
        path = self._path(f"/requests/{quote(local_id, safe='')}")
        try:
            body = self._get(path)
        except NotFound:
            return None
        except Unavailable as exc:
            try:
                self._get(self._path("/services"))
            except (Unavailable, Rejected):
                raise exc from None  # the server, not the request: the pass fails
            raise Unreadable(
                f"sources.{self.name}: service request {local_id} cannot be read now ({exc})"
            ) from None
        try:
            items = wire.items_of(body, "request")
        except wire.MalformedAnswer as exc:
            raise Unavailable(self._malformed("GET", path, str(exc))) from None
        if not items:
            return None
        item = items[0]
        if not isinstance(item, Mapping) or _id_of(item) is None:
            raise Unavailable(self._malformed("GET", path, "a request without its id"))
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
        shown = self._shown.pop(local_id, None)
        if shown is not None and time.monotonic() - shown[0] <= SHOWN_FOR:
            return shown[1]  # read in this pass a moment ago, its last change in hand
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
        """New requests, then changed ones, then those that could not be read before;
        see the module docstring.

        The updates feed is read first so that a request met in the new-request
        windows carries the updates seen in this read, and is not fetched again.
        An answer none of whose shapes is accepted fails the pass (the requests of
        it that can be told are handed to the engine first, to be quarantined).
        """
        now = ceil_second(self.clock())
        marks = Marks.load(cursor, self._backfill(now))
        self._server_clock = None
        self._load_state(marks.state)
        try:
            yield from self._pull(marks, now)
        except _Malformed as exc:
            if exc.known:
                reason = str(exc).split("; ", 1)[0]
                yield Page([_quarantined(item, reason) for item in exc.known], None)
            raise Unavailable(str(exc)) from None

    def _pull(self, marks: Marks, now: datetime) -> Iterator[Page]:
        feed_from = marks.updated - self._overlap
        updates = self._updates_between(feed_from, now)
        by_request: dict[str, list[Mapping[str, Any]]] = {}
        for update in updates:
            by_request.setdefault(str(_id_of(update)), []).append(update)
        # what this read has yielded, kept no longer than needed (a backlog's ids would
        # make the read's memory grow with it): windows meet at a second, so a request
        # can come again only in the next window, or when the server answers it outside
        # the window asked (remembered apart); a changed one must not be read again
        previous: set[str] = set()
        outside: set[str] = set()
        met: set[str] = set()
        # a request without an id holds the mark at its window's start until it has one
        held: datetime | None = None

        requested = marks.requested
        for low, high, items, idless in self._requests_between(
            marks.requested - self._overlap, now
        ):
            fresh = []
            current: set[str] = set()
            for item in items:
                local_id = str(_id_of(item))
                if local_id in previous or local_id in current or local_id in outside:
                    continue
                made = parse_time(item.get("requested_datetime"))
                # made after the feed's start: every update it ever had is in hand
                whole = made is not None and made >= feed_from
                fresh.append(self._raw(item, by_request.get(local_id, []), whole=whole))
                current.add(local_id)
                if made is not None and not low <= made <= high and len(outside) < OUTSIDE_MEMORY:
                    outside.add(local_id)
                if local_id in by_request:
                    met.add(local_id)
            previous = current
            if idless and held is None:
                held = low
            requested = max(requested, high if held is None else min(held, high))
            yield from self._pages(fresh, self._marks(requested, marks.updated))

        changed = [local_id for local_id in by_request if local_id not in met]
        for index, group in enumerate(chunks(changed, self.config.page_size)):
            records = []
            failures = 0
            for local_id in group:
                try:
                    request = self._request(local_id)
                except Unreadable as exc:
                    failures += 1
                    if failures >= UNREADABLE_IN_A_ROW:
                        raise Unavailable(
                            f"{exc}; {failures} in a row: the server is down"
                        ) from None
                    self._unreadable_now(local_id, str(exc))
                    continue
                failures = 0
                self._unreadable.pop(local_id, None)
                if request is not None:  # gone, or not in this jurisdiction: nothing to sync
                    records.append(self._raw(request, by_request[local_id]))
            left = changed[(index + 1) * self.config.page_size :]
            waiting = [u for rid in left for u in by_request[rid]]
            mark = _earliest(waiting, default=now, floor=marks.updated)
            yield Page(records, self._marks(requested, max(marks.updated, mark)).dump())

        # requests that could not be read on earlier passes: their updates were read then
        for local_id in [i for i in list(self._unreadable) if i not in by_request]:
            try:
                raw = self.fetch(local_id)
            except Unreadable as exc:
                self._unreadable_now(local_id, str(exc))
                continue
            self._unreadable.pop(local_id, None)
            yield Page([raw] if raw is not None else [], None)
        yield Page([], self._marks(requested, max(marks.updated, now)).dump())

    def _unreadable_now(self, local_id: str, error: str) -> None:
        """Note a request whose read failed: read again next pass, given up (still listed)
        after ``UNREADABLE_TRIES`` passes."""
        entry = self._unreadable.get(local_id) or {"since": rfc3339(self.clock()), "tries": 0}
        entry = {**entry, "tries": int(entry.get("tries", 0)) + 1, "error": error[:200]}
        log.warning("open311_request_unreadable", source=self.name, local_id=local_id)
        if entry["tries"] >= UNREADABLE_TRIES:
            self._unreadable.pop(local_id, None)
            self._given_up[local_id] = rfc3339(self.clock())
            log.error("open311_request_given_up", source=self.name, local_id=local_id)
            return
        if local_id in self._unreadable or len(self._unreadable) < LISTED:
            self._unreadable[local_id] = entry

    def _raw(
        self, request: Mapping[str, Any], updates: list[Mapping[str, Any]], *, whole: bool = False
    ) -> RawRecord:
        """A record, its statuses the table does not know noted (they move nothing)."""
        for word in unknown_statuses(request.get("status"), updates):
            if word not in self._unknown:
                log.info("open311_unknown_status", source=self.name, status=word)
            if word in self._unknown or len(self._unknown) < LISTED:
                self._unknown[word] = rfc3339(self.clock())
        self._remember_status(request, updates, whole=whole)
        return _raw(request, updates)

    def _remember_status(
        self, request: Mapping[str, Any], updates: Sequence[Mapping[str, Any]], *, whole: bool
    ) -> None:
        """Note the status ``request`` shows when ``updates`` hold its last change: an
        update within a second of ``updated_datetime``; or, on servers that leave that
        time empty (Toronto), any update (the feed was read up to now, so the latest in
        hand is the latest), or none when ``whole`` (made after the feed's start, so
        all its updates are in hand); or it was never modified."""
        local_id = _id_of(request)
        if local_id is None:
            return
        created = parse_time(request.get("requested_datetime"))
        changed = parse_time(request.get("updated_datetime"))
        if changed is None:
            proven = bool(updates) or whole
        else:
            times = [parse_time(u.get("updated_datetime")) for u in updates]
            near = any(t is not None and abs(t - changed) <= SECOND for t in times)
            untouched = created is not None and changed - created < SECOND and not updates
            proven = near or untouched
        if not proven:
            return
        if len(self._shown) >= SHOWN_MEMORY:
            self._shown.pop(next(iter(self._shown)))
        self._shown[local_id] = (time.monotonic(), current_status(request.get("status"), updates))

    def _load_state(self, state: Mapping[str, Any]) -> None:
        cap = state.get("cap") or {}
        largest, times = cap.get("largest_answer"), cap.get("times")
        self._largest = largest if isinstance(largest, int) and largest > 0 else 0
        self._largest_times = times if isinstance(times, int) and times > 0 else 0
        self._unreadable = {
            str(k): dict(v) for k, v in (state.get("unreadable") or {}).items()
            if isinstance(v, dict)
        }  # fmt: skip
        self._given_up = {str(k): str(v) for k, v in (state.get("given_up") or {}).items()}
        self._unknown = {str(k): str(v) for k, v in (state.get("unknown_statuses") or {}).items()}

    def state(self) -> dict[str, Any]:
        """What the cursor keeps besides the marks (``status`` shows it with the cursor)."""
        configured = self.config.max_requests
        if configured is not None and self._largest <= configured:
            by = "configured"
        elif self._largest > (configured or DEFAULT_CAP):
            by = "largest answer seen"
        else:
            by = "default: the smallest real cap"
        cap = {
            "assumed": self.cap(),
            "by": by,
            "largest_answer": self._largest,
            "times": self._largest_times,
        }
        given_up = dict(sorted(self._given_up.items(), key=lambda kv: kv[1])[-LISTED:])
        return {
            "cap": cap,
            "unreadable": self._unreadable,
            "given_up": given_up,
            "unknown_statuses": self._unknown,
        }

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
        if clock is not None:
            requested, updated = min(requested, clock), min(updated, clock)
        return Marks(requested, updated, self.state())

    def _pages(self, records: list[RawRecord], marks: Marks) -> Iterator[Page]:
        """A fully read window as pages; only the last carries the cursor."""
        groups = chunks(records, self.config.page_size)
        for index, group in enumerate(groups):
            last = index == len(groups) - 1
            yield Page(list(group), marks.dump() if last else None)

    def _record(self, local_id: str) -> RawRecord:
        """One request with all its updates (the feed is scanned from its creation)."""
        request = self._request(local_id)
        if request is None:
            raise NotFound(404, f"service request {local_id} not found")
        return _raw(request, self._history(request))

    # writing --------------------------------------------------------------------------
    def link_national(self, local_id: str, national_id: int) -> None:
        """Open311 has no link field: a note, once (``lb-link-<id>``), that keeps the status.

        The mapping itself is kept on the bridge's side (bridge.md). The note's
        reference also ends its text, so the reader finds the link on servers that
        replace the ``update_id`` (and the engine writes it no more); a request that
        cannot be read now is :class:`Unreadable`, and its note waits for a later pass.
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
        """An update carrying ``ref`` as its ``update_id`` and at the end of its text:
        a lost answer is posted again only when the feed does not show it."""
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
            body = self._post(self._path("/requests"), form, idempotent=False)
        except Rejected as exc:
            # refused, so nothing was made: the city lacks the built-in code; use its own
            if code == self.config.default_service_code or not _refused_code(exc):
                raise
            form["service_code"] = self.config.default_service_code
            body = self._post(self._path("/requests"), form, idempotent=False)
        item = _first(body)
        local_id, token = _id_of(item), _id_of(item, "token")
        if local_id is not None:
            return Created(local_id)
        if token is not None:
            return Created(None, token)
        # the request may exist: the engine looks for it with find_created
        raise Ambiguous("the Open311 server answered a create with neither an id nor a token")

    def services(self) -> list[Mapping[str, Any]]:
        """``GET /services``: the city's service list, in any list shape."""
        return self._list(self._path("/services"), {}, "services")

    def poll_created(self, token: str) -> str | None:
        """The id once the queued request exists; a token must be polled, never re-posted.

        ``None`` until then, however the server says "not yet": the token alone,
        an empty array, or a 404 (some servers do not know a token before they
        have made its request). The engine keeps the token and polls it next pass.
        """
        try:
            body = self._get(self._path(f"/tokens/{quote(token, safe='')}"))
        except NotFound:
            return None
        return _id_of(_first(body))

    def find_created(self, national_id: int, since: datetime) -> str | None:
        """The request whose description carries the marker, made since ``since``."""
        wanted = marker(national_id)
        now = self.clock()
        for _, _, items, _ in self._requests_between(since - self._overlap, now):
            for item in items:
                description = item.get("description")
                if isinstance(description, str) and wanted in description:
                    return _id_of(item)
        return None


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
    limiter = rate_limiter(config.requests_per_second)
    endpoint = Endpoint(f"Open311 ({name})", client, limiter, policy or RetryPolicy())
    return Open311Source(name, config, endpoint, clock)
