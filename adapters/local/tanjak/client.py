"""Tanjak API client (``tanjak.md``): the feed, one aduan, the write-back, photos."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

import httpx
from pydantic import Field, SecretStr

from adapters.local.common import AppConfig, AppSource, rate_limiter
from adapters.local.tanjak.normalize import (
    LOCAL_STATUS,
    display_id_of,
    local_category,
    normalize,
)
from bridge.core.errors import NotFound, Rejected, Unavailable
from bridge.core.model import FollowUp, NationalComplaint, Status
from bridge.core.ports import Created, Page, RawRecord
from bridge.core.timefmt import not_after_now, parse_rfc3339, to_wib
from bridge.runtime.http import Endpoint, RetryPolicy, answered_at, json_of, make_client

#: where a feed starts when no cursor is stored, written in WIB as every time Tanjak reads
EPOCH = "1970-01-01T07:00:00+07:00"
#: a pull reads again from this long before its cursor: a city clock stepping back (an
#: NTP correction, a restored VM) stamps new records behind a cursor it already passed.
#: Records read again are recognised unchanged by the engine and cost only the reading.
OVERLAP = timedelta(minutes=5)


class TanjakConfig(AppConfig):
    """``[sources.NAME]`` keys of a Tanjak source."""

    api_key: SecretStr
    page_size: int = Field(default=100, ge=1, le=100)


def _message(response: httpx.Response) -> str:
    try:
        body = json_of(response)
    except ValueError:
        return f"HTTP {response.status_code}"
    if isinstance(body, dict) and isinstance(body.get("pesan"), str):
        return str(body["pesan"])
    return f"HTTP {response.status_code}"


class TanjakSource(AppSource[TanjakConfig]):
    """A Tanjak app as a ``bridge.core.ports.LocalSource``; its photos come with the API key
    (:class:`AppSource`)."""

    def __init__(self, name: str, config: TanjakConfig, endpoint: Endpoint) -> None:
        super().__init__(name, config, endpoint, normalize)
        self._answered_at: datetime | None = None  # the city's clock at its last answer

    def _send(self, method: str, path: str, **kw: Any) -> Any:
        response = self.endpoint.send(method, path, **kw)
        self._answered_at = answered_at(response)
        if response.status_code == 401:
            raise Unavailable("Tanjak refused the API key (401): check sources.*.api_key")
        if response.status_code == 404:
            raise NotFound(404, _message(response))
        if response.status_code >= 400:
            raise Rejected(response.status_code, _message(response))
        try:
            return json_of(response)
        except ValueError:
            raise Unavailable("Tanjak answered with a body that is not JSON") from None

    def _page(self, since: str, page_no: int) -> tuple[list[Any], int | None]:
        body = self._send(
            "GET",
            "/api/aduan",
            params={
                "diperbarui_sejak": since,
                "halaman": page_no,
                "per_halaman": self.config.page_size,
            },
        )
        items = body.get("data") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise Unavailable("Tanjak's feed answer has no data list")
        total = body.get("total_halaman")
        return items, total if isinstance(total, int) else None

    def pull(self, cursor: str | None) -> Iterator[Page]:
        """Keyset paging on ``diperbarui_pada``: pages shift while we read, keys do not.

        Each page's cursor is the last record's ``diperbarui_pada``; the feed is
        ``≥`` so the edge record comes again and is recognised as unchanged. A
        run of records sharing one second that spans pages can only be stepped
        through by page number, and a record leaving the run meanwhile pulls
        another back across the page edge: before the cursor leaves such a run,
        the run is read again from its start and what was missed comes first.
        The pull starts :data:`OVERLAP` before the stored cursor, once: the keyset
        moves on from there as before, so a full page of one second still passes.
        A page inside the overlap carries no cursor (it would move the stored one
        back), unless the stored one lies past the city's clock.
        """
        since = _read_back(cursor) if cursor else EPOCH
        held = _moment(cursor)  # no page cursor goes behind this
        page_no = 1
        run: set[str] = set()  # ids seen at exactly `since`
        while True:
            items, total = self._page(since, page_no)
            answered = self._answered_at
            if held is not None and answered is not None:
                held = min(held, answered)
            run.update(_ids_at(items, since))
            last = _last_time(items)
            advanced = last is not None and last != since
            if advanced and page_no > 1:
                missed = self._missed_in_run(since, run)
                if missed:
                    yield Page(missed, None)
            cursor_here = self._cursor(last, answered) if advanced else None
            moment = _moment(cursor_here)
            if held is not None and moment is not None and moment < held:
                cursor_here = None
            yield Page([_raw(item) for item in items], cursor_here)
            if not items or total is None or page_no >= total:
                if page_no > 1 and not advanced:
                    missed = self._missed_in_run(since, run)
                    if missed:
                        yield Page(missed, None)
                return
            if advanced and last is not None:
                since, page_no, run = last, 1, set(_ids_at(items, last))
            else:
                page_no += 1  # a whole page at the cursor's second: step through it

    def _missed_in_run(self, since: str, run: set[str]) -> list[RawRecord]:
        """Records at exactly ``since`` not seen yet, read again from the run's start."""
        missed: list[RawRecord] = []
        page_no = 1
        while True:
            items, total = self._page(since, page_no)
            for item in items:
                raw = _raw(item)
                if _time_of(item) == since and raw.local_id not in run:
                    run.add(raw.local_id)
                    missed.append(raw)
            ended = not items or total is None or page_no >= total
            if ended or any(_time_of(item) != since for item in items):
                return missed
            page_no += 1

    def cursor_for(self, since: datetime) -> str | None:
        return to_wib(since).isoformat(timespec="seconds")

    def _cursor(self, last: str | None, answered: datetime | None) -> str | None:
        """The page's cursor, never past the city's clock: a record dated in the future (a
        wrong clock, a typo) would otherwise become the cursor and hide every record filed
        before its date. The city's clock is its answer's ``Date`` (``answered``), not the
        bridge's, which may run ahead; only an answer without one falls back to the
        bridge's. Held back, the next pull reads that record again, unchanged."""
        if last is None:
            return None
        try:
            moment = parse_rfc3339(last)
        except ValueError:
            return last
        bounded = not_after_now(moment) if answered is None else min(moment, answered)
        return last if bounded == moment else self.cursor_for(bounded)

    def _record(self, local_id: str) -> RawRecord:
        return _raw(self._send("GET", f"/api/aduan/{local_id}"))

    def link_national(self, local_id: str, national_id: int) -> None:
        self._send("PATCH", f"/api/aduan/{local_id}", json={"lapor_id": f"#{national_id}"})

    def set_status(self, local_id: str, status: Status) -> None:
        self._send("PATCH", f"/api/aduan/{local_id}", json={"status": LOCAL_STATUS[status]})

    def add_response(self, local_id: str, response: FollowUp, ref: str) -> None:
        body = {
            "oleh": response.author,
            "isi": response.content,
            "waktu": to_wib(response.at).isoformat(timespec="seconds"),
            "ref": ref,
        }
        self._send("POST", f"/api/aduan/{local_id}/tanggapan", idempotent=False, json=body)

    def create(self, complaint: NationalComplaint) -> Created:
        reporter = complaint.reporter
        pelapor = None
        if reporter is not None and not complaint.anonymous:
            pelapor = {
                "nama": reporter.name.get_secret_value() if reporter.name else None,
                "hp": reporter.phone.get_secret_value() if reporter.phone else None,
                "nik": reporter.nik.get_secret_value() if reporter.nik else None,
            }
        lokasi = None
        if complaint.location is not None:
            lokasi = {
                "lat": complaint.location.latitude,
                "lng": complaint.location.longitude,
                "alamat": complaint.location.address,
            }
            if lokasi["lat"] is None or lokasi["lng"] is None:
                lokasi = None
        body = {
            "judul": complaint.title,
            "isi": complaint.content,
            "kategori": local_category(complaint.category, self.config.categories),
            "lokasi": lokasi,
            "pelapor": pelapor,
            "anonim": complaint.anonymous,
            "rahasia": complaint.confidential,
            "opd": None,
            "lapor_id": complaint.tracking_id,
        }
        created = self._send("POST", "/api/aduan", idempotent=False, json=body)
        if not isinstance(created, Mapping) or not isinstance(created.get("id"), int):
            raise Unavailable("Tanjak answered a create without an aduan id")
        return Created(str(created["id"]))

    def find_created(self, national_id: int, since: datetime) -> str | None:
        wanted = f"#{national_id}"
        start = to_wib(since).isoformat(timespec="seconds")
        for page in self.pull(start):
            for raw in page.records:
                value = raw.payload.get("lapor_id")
                if value is not None and str(value).lstrip("#") == wanted.lstrip("#"):
                    return raw.local_id
        return None


def _moment(cursor: str | None) -> datetime | None:
    try:
        return parse_rfc3339(cursor) if cursor else None
    except ValueError:
        return None


def _read_back(cursor: str) -> str:
    """Where a pull from ``cursor`` starts: :data:`OVERLAP` before it, in WIB."""
    try:
        return to_wib(parse_rfc3339(cursor) - OVERLAP).isoformat(timespec="seconds")
    except (ValueError, OverflowError):
        return cursor


def _raw(item: Any) -> RawRecord:
    local_id = item.get("id") if isinstance(item, Mapping) else None
    payload = item if isinstance(item, Mapping) else {"value": item}
    return RawRecord(str(local_id), payload, display_id=display_id_of(item))


def _time_of(item: Any) -> str | None:
    if isinstance(item, Mapping) and isinstance(item.get("diperbarui_pada"), str):
        return str(item["diperbarui_pada"])
    return None


def _ids_at(items: list[Any], moment: str) -> list[str]:
    return [_raw(item).local_id for item in items if _time_of(item) == moment]


def _last_time(items: list[Any]) -> str | None:
    for item in reversed(items):
        if isinstance(item, Mapping) and isinstance(item.get("diperbarui_pada"), str):
            return str(item["diperbarui_pada"])
    return None


def connect(
    name: str,
    config: TanjakConfig,
    *,
    policy: RetryPolicy | None = None,
    transport: httpx.BaseTransport | None = None,
) -> TanjakSource:
    client = make_client(
        config.base_url,
        timeout=config.timeout_seconds,
        headers={"X-Api-Key": config.api_key.get_secret_value()},
        transport=transport,
    )
    limiter = rate_limiter(config.requests_per_second)
    return TanjakSource(
        name, config, Endpoint(f"Tanjak ({name})", client, limiter, policy or RetryPolicy())
    )
