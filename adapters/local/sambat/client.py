"""Sambat Kene Ker API client (``sambat.md``): the feed, one sambat, the write-back, photos.

The back end is a legacy one and the client is shaped by its quirks:

* failures come inside ``200`` answers (``{"status": "error", "pesan": ...}``)
  or as an HTML error page with status ``200``. :func:`check_answer` tells
  Endpoint which of them are worth retrying: an HTML page is transient, and
  so is a ``pesan`` that tells of a back end in trouble (:data:`TRANSIENT`:
  the database, a connection, "coba lagi") or an empty one; any other
  ``pesan`` is a refusal (see :func:`is_permanent`). For a write that is not
  idempotent a transient failure becomes ``Ambiguous``, since the back end
  may have applied it before failing;
* writes are form-encoded, answers JSON;
* it never answers ``429`` but gets slow under load: the configured rate
  limit and timeout hold, and a timeout is retried like any transient failure;
* the feed's ``sejak`` has one-minute resolution (see :meth:`SambatSource.pull`).
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import IO, Any
from urllib.parse import quote

import httpx
from pydantic import Field, SecretStr

from adapters.local.common import AppConfig, AppSource, rate_limiter, require_same_origin
from adapters.local.sambat.normalize import (
    LOCAL_STATUS,
    absent,
    format_time,
    local_category,
    national_id_of,
    normalize,
    parse_time,
)
from bridge.core.errors import Ambiguous, NormalizeError, NotFound, Rejected, Transient, Unavailable
from bridge.core.model import Attachment, FollowUp, NationalComplaint, Status
from bridge.core.ports import Created, Page, RawRecord
from bridge.core.timefmt import not_after_now, parse_rfc3339, rfc3339
from bridge.runtime.http import (
    Endpoint,
    RetryPolicy,
    answered_at,
    json_of,
    looks_html,
    make_client,
)

#: where a feed starts when no cursor is stored: before any record can exist
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: a pull reads again from this long before its cursor: a back end whose clock steps back
#: (an NTP correction, a restored VM) stamps new records behind a cursor it already passed.
#: Records read again are recognised unchanged by the engine and cost only the reading.
OVERLAP = timedelta(minutes=5)

#: a feed block past this many bytes of JSON waits in a temporary file (see ``_Block``)
SPOOL_BYTES = 2**20

#: ``pesan`` texts (inside a ``200``) that a retry cannot change, matched
#: case-insensitively: the sandbox's and the back end's validation messages
#: ("tiket tidak ditemukan", "kategori 'X' tidak dikenal", "status 'X' tidak valid",
#: "data tidak valid", "isi sambat wajib diisi", "format tgl salah, ...").
PERMANENT = re.compile(
    r"tidak ditemukan|tidak dikenal|tidak valid|wajib diisi|format \w+ salah", re.I
)
#: ``pesan`` texts of a back end in trouble rather than a refusal: the database or
#: a connection failed, the server erred or is busy, "try again" ("koneksi database
#: gagal, silakan coba beberapa saat lagi", "Terjadi kesalahan pada server"). The
#: contract names 5xx and HTML pages as the transient failures; an error inside a
#: ``200`` is a refusal unless its text says otherwise (or it says nothing).
TRANSIENT = re.compile(
    r"koneksi|database|basis data|timeout|time out|waktu habis|coba (lagi|beberapa)"
    r"|sibuk|busy|server|maintenance|pemeliharaan|gangguan",
    re.I,
)
#: of the permanent ones, those that mean the ticket does not exist
NOT_FOUND = re.compile(r"tidak ditemukan", re.I)
#: a ``pesan`` is the back end's own text; it is cut to this length in messages
PESAN_MAX = 160
#: what stands for a ``pesan`` the back end left out or empty
NO_PESAN = "no pesan given"


class SambatConfig(AppConfig):
    """``[sources.NAME]`` keys of a Sambat source.

    ``base_url`` is the back end's root; the API is under ``{base_url}/api``
    (a ``base_url`` that already ends in ``/api`` is taken as the API root).
    """

    username: str = Field(min_length=1)
    password: SecretStr
    page_size: int = Field(default=100, ge=1, le=100)


def api_root(base_url: str) -> str:
    """``{base_url}/api``, without doubling an ``/api`` the operator already wrote."""
    root = base_url.rstrip("/")
    return root if root.endswith("/api") else f"{root}/api"


# --- answers ------------------------------------------------------------------------


def _pesan(body: Mapping[str, Any]) -> str:
    pesan = body.get("pesan")
    text = pesan.strip() if isinstance(pesan, str) and pesan.strip() else NO_PESAN
    return text if len(text) <= PESAN_MAX else text[: PESAN_MAX - 1] + "…"


def is_permanent(pesan: str) -> bool:
    """Whether an error inside a ``200`` will come again on a retry.

    A known refusal (:data:`PERMANENT`) is; a text of a back end in trouble
    (:data:`TRANSIENT`), or none, is not; any other text is a refusal, as the
    contract reads: only 5xx and HTML pages are named transient. Taking an
    unknown refusal for a hiccup would retry it on every pass, and a status
    write that keeps failing would stop the whole pass each time.
    """
    if PERMANENT.search(pesan):
        return True
    return pesan != NO_PESAN and TRANSIENT.search(pesan) is None


def check_answer(response: httpx.Response) -> None:
    """Endpoint's ``check``: raise ``Transient`` for a ``200`` that is a failure in disguise.

    Other statuses are left to the caller (and 5xx to Endpoint). A permanent
    error inside a ``200`` passes, and :meth:`SambatSource._send` turns it into
    ``NotFound`` or ``Rejected``.
    """
    if response.status_code != 200:
        return
    if looks_html(response):
        raise Transient("Sambat answered 200 with an HTML error page")
    try:
        body = json_of(response)
    except ValueError:
        raise Transient("Sambat answered 200 with a body that is not JSON") from None
    if not isinstance(body, Mapping) or body.get("status") not in ("ok", "error"):
        raise Transient("Sambat answered 200 without an ok/error status")
    if body["status"] == "error" and not is_permanent(_pesan(body)):
        raise Transient(f"Sambat reported an error inside 200: {_pesan(body)}")


def _total(body: Mapping[str, Any]) -> int:
    """The feed's ``total`` (a count sent as a string): it bounds the paging."""
    value = body.get("total")
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise Unavailable("Sambat's feed answer has no usable total")


def _raw(item: Any) -> RawRecord:
    local_id = item.get("no_tiket") if isinstance(item, Mapping) else None
    payload = item if isinstance(item, Mapping) else {"value": item}
    return RawRecord(str(local_id).strip() if isinstance(local_id, str) else "", payload)


def _updated(item: Any) -> datetime | None:
    """A record's ``tgl_update``, or ``None`` when unreadable (the normalizer will say why)."""
    value = item.get("tgl_update") if isinstance(item, Mapping) else None
    if not isinstance(value, str):
        return None
    try:
        return parse_time(value)
    except ValueError:
        return None


def last_update(items: Sequence[Any]) -> datetime | None:
    """The last readable ``tgl_update`` of a page ordered by it."""
    return first_update(list(reversed(items)))


def first_update(items: Sequence[Any]) -> datetime | None:
    """The first readable ``tgl_update`` of a page ordered by it."""
    for item in items:
        moment = _updated(item)
        if moment is not None:
            return moment
    return None


def _version(item: Any) -> tuple[str, str]:
    """A record's identity at one ``tgl_update``: the same pair is the same version."""
    if not isinstance(item, Mapping):
        return ("", repr(item))
    return (str(item.get("no_tiket")), str(item.get("tgl_update")))


def cursor_time(cursor: str | None) -> datetime:
    """A stored cursor (RFC 3339, or Sambat's own format) as the ``sejak`` to start from."""
    if cursor is None or not cursor.strip():
        return EPOCH
    for parse in (parse_rfc3339, parse_time):
        try:
            return parse(cursor)
        except ValueError:
            continue
    raise Unavailable("the stored Sambat cursor is not a time (RFC 3339 or dd/mm/yyyy HH:MM)")


def read_back(moment: datetime) -> datetime:
    """Where a pull from a cursor at ``moment`` starts: :data:`OVERLAP` before it."""
    try:
        return moment - OVERLAP
    except OverflowError:
        return moment


def form_number(value: float | None) -> str:
    """A coordinate as the back end wants it: a plain decimal string, ``""`` when none."""
    return "" if value is None else f"{value:.6f}"


def form_phone(phone: str | None) -> str:
    """E.164 ``+62…`` → Sambat's digits-only ``62…``."""
    return "" if phone is None else "".join(ch for ch in phone if ch.isdigit())


def compose_isi(title: str, content: str) -> str:
    """Sambat keeps one text: the LAPOR title, then the content (unless it already starts so)."""
    title, content = title.strip(), content.strip()
    if not title or content.startswith(title):
        return content or title
    separator = " " if title[-1] in ".!?" else ". "
    return f"{title}{separator}{content}"


class _Block:
    """Feed records read in one go, less those already handed out, kept as JSON lines.

    A block is one minute's records at least, and a minute can hold any number
    of them (a city's bulk update; the bridge's own write-backs at a high rate
    limit), so past :data:`SPOOL_BYTES` they wait in a temporary file rather
    than in memory. Kept in memory: how many records wait, the last readable
    ``tgl_update`` and the versions at it, and whether the feed goes on.
    """

    def __init__(self, spool: IO[bytes], skip: set[tuple[str, str]]) -> None:
        self._spool = spool
        self._skip = skip
        self.kept = 0
        #: the back end's clock (``Date``) at the block's first answer, when it gave one
        self.clock: datetime | None = None
        self.last: datetime | None = None
        self.at_last: set[tuple[str, str]] = set()
        self.more = False

    def add(self, items: Sequence[Any]) -> None:
        """One feed page, in the feed's order."""
        for item in items:
            version = _version(item)
            moment = _updated(item)
            if moment is not None:
                if moment != self.last:
                    self.last, self.at_last = moment, set()
                self.at_last.add(version)
            if version not in self._skip:
                self._spool.write(json.dumps(item).encode() + b"\n")
                self.kept += 1

    def chunks(self, size: int) -> Iterator[list[Any]]:
        """The kept records in order, ``size`` at a time; one empty chunk when none."""
        self._spool.seek(0)
        chunk: list[Any] = []
        for line in self._spool:
            chunk.append(json.loads(line))
            if len(chunk) == size:
                yield chunk
                chunk = []
        if chunk or self.kept == 0:
            yield chunk


class SambatSource(AppSource[SambatConfig]):
    """A Sambat Kene Ker back end as a ``bridge.core.ports.LocalSource``."""

    def __init__(self, name: str, config: SambatConfig, endpoint: Endpoint) -> None:
        super().__init__(name, config, endpoint, normalize)
        self._answered_at: datetime | None = None  # the back end's clock at its last answer

    # transport -------------------------------------------------------------------
    def _refused_login(self) -> Unavailable:
        return Unavailable(
            f"Sambat refused the login (401): check sources.{self.name}.username "
            f"and sources.{self.name}.password"
        )

    def _send(
        self, method: str, path: str, *, idempotent: bool = True, **kw: Any
    ) -> Mapping[str, Any]:
        """One API call; the answer's JSON object with ``status`` ``ok``.

        A permanent error inside a ``200`` becomes ``NotFound`` (HTTP-equivalent
        404) or ``Rejected`` (422) carrying the back end's ``pesan``.
        """
        response = self.endpoint.send(method, path, idempotent=idempotent, check=check_answer, **kw)
        self._answered_at = answered_at(response)
        if response.status_code == 401:
            raise self._refused_login()
        if response.status_code != 200:
            raise Rejected(
                response.status_code,
                f"Sambat answered HTTP {response.status_code} to {method} {path}",
            )
        body = json_of(response)
        if not isinstance(body, Mapping):  # check_answer lets no other 200 through
            raise Unavailable("Sambat answered with a body that is not a JSON object")
        if body.get("status") == "error":
            pesan = _pesan(body)
            if NOT_FOUND.search(pesan):
                raise NotFound(404, f"Sambat: {pesan}")
            raise Rejected(422, f"Sambat refused {method} {path}: {pesan}")
        return body

    def _ticket(self, local_id: str) -> str:
        return f"/sambat/{quote(local_id, safe='')}"

    # the feed --------------------------------------------------------------------
    def _feed(self, sejak: datetime, start: int) -> tuple[list[Any], int]:
        body = self._send(
            "GET",
            "/sambat",
            params={"sejak": format_time(sejak), "start": start, "limit": self.config.page_size},
        )
        items = body.get("data")
        if not isinstance(items, list):
            raise Unavailable("Sambat's feed answer has no data list")
        return items, _total(body)

    def _last_page(self, page: Sequence[Any], read: int, total: int) -> bool:
        """Whether the feed ends with ``page``: empty, short, or ``total`` read."""
        return not page or len(page) < self.config.page_size or read >= total

    def _read(self, block: _Block, sejak: datetime) -> None:
        """Records from ``sejak``, reading on with ``start`` while a page sits in one minute.

        A full page wholly inside one minute cannot move the keyset on (the
        next ``sejak`` would be that same minute), so the following pages are
        read at once with ``start``, before the engine writes anything back:
        each write moves a record's ``tgl_update`` to now and would shift the
        offsets under a later ``start``, skipping records. The city can still
        write in between two pages, so once such a run of pages ends, its
        minute is read again from its start for records the run missed
        (:meth:`_missed`). ``total`` and a short page end the feed.
        """
        start = 0
        minute: datetime | None = None  # the minute of a run of pages read with start
        run: set[tuple[str, str]] = set()
        while True:
            page, total = self._feed(sejak, start)
            block.clock = block.clock or self._answered_at
            start += len(page)
            ended = self._last_page(page, start, total)
            first, last = first_update(page), last_update(page)
            moved = first is not None and last is not None and last > first
            if minute is not None:
                run.update(_version(item) for item in page if _updated(item) == minute)
                if ended or moved:
                    block.add(self._missed(minute, run))
            block.add(page)
            if ended:
                return
            if moved:
                block.more = True
                return
            if minute is None and first is not None:
                minute = first
                run = {_version(item) for item in page if _updated(item) == minute}

    def _missed(self, minute: datetime, run: set[tuple[str, str]]) -> list[Any]:
        """Records at ``minute`` that are not in ``run``, read again from the minute's start."""
        missed: list[Any] = []
        start = 0
        while True:
            page, total = self._feed(minute, start)
            start += len(page)
            for item in page:
                if _updated(item) == minute and _version(item) not in run:
                    run.add(_version(item))
                    missed.append(item)
            last = last_update(page)
            ended = self._last_page(page, start, total)
            if ended or (last is not None and last > minute):
                return missed

    def pull(self, cursor: str | None) -> Iterator[Page]:
        """Keyset paging on ``tgl_update``, which the feed only knows to the minute.

        ``sejak`` is ``≥`` and minute-precise, so the cursor is the last
        record's ``tgl_update`` minute (RFC 3339): the records of that minute
        come again on the next pull, and the engine recognises the unchanged
        ones. That overlap is what keeps a record that arrives later in the
        same minute from being lost. After each block the feed is asked again
        from the last record's minute with ``start=0`` (the minute only grows,
        so the loop ends); within one pull a record already handed out in
        that minute, unchanged, is not handed out twice. The pull starts
        :data:`OVERLAP` before the stored cursor, once (a back end whose clock
        stepped back); the keyset moves on from there as before.
        """
        sejak = read_back(cursor_time(cursor))
        # no block's cursor goes behind the stored one (a block inside the overlap would
        # move it back), unless the stored one lies past the back end's clock
        held = cursor_time(cursor) if cursor and cursor.strip() else None
        seen: set[tuple[str, str]] = set()
        size = self.config.page_size
        while True:
            with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
                block = _Block(spool, seen)
                self._read(block, sejak)
                last = block.last
                advanced = last is not None and last > sejak
                final = max(1, -(-block.kept // size)) - 1
                if held is not None and block.clock is not None:
                    held = min(held, block.clock)
                block_cursor = None
                if advanced and last is not None and (held is None or last >= held):
                    block_cursor = self._cursor(last, block.clock)
                for index, chunk in enumerate(block.chunks(size)):
                    page_cursor = block_cursor if index == final else None
                    yield Page([_raw(item) for item in chunk], page_cursor)
            if not block.more or last is None or not advanced:
                return
            sejak = last
            seen = block.at_last

    def cursor_for(self, since: datetime) -> str | None:
        """``since`` floored to its minute (``sejak`` is minute-precise and ``≥``), RFC 3339."""
        return rfc3339(parse_time(format_time(since)))

    def _cursor(self, last: datetime, clock: datetime | None) -> str | None:
        """A block's cursor, never past the back end's clock: a record dated in the future
        would hide every record filed before its date. The back end's clock is its
        answer's ``Date`` (``clock``), not the bridge's, which may run ahead; only answers
        without one fall back to the bridge's."""
        bounded = not_after_now(last) if clock is None else min(last, clock)
        return rfc3339(last) if bounded == last else self.cursor_for(bounded)

    def _record(self, local_id: str) -> RawRecord:
        data = self._send("GET", self._ticket(local_id)).get("data")
        if not isinstance(data, Mapping):
            raise Unavailable("Sambat answered a sambat without its data")
        return _raw(data)

    def fetch_attachment(self, attachment: Attachment) -> bytes:
        """The photo, with the Basic login: only from ``base_url``'s scheme, host and port."""
        require_same_origin(self.config.base_url, attachment.url)
        response = self.endpoint.send("GET", attachment.url)
        if response.status_code == 401:
            raise self._refused_login()
        if response.status_code != 200:
            raise Rejected(response.status_code, f"photo answered HTTP {response.status_code}")
        if looks_html(response):
            raise Rejected(response.status_code, "photo URL answered an HTML page, not a photo")
        return response.content

    # writes ----------------------------------------------------------------------
    def link_national(self, local_id: str, national_id: int) -> None:
        self._send("POST", f"{self._ticket(local_id)}/lapor", data={"id_lapor": f"#{national_id}"})

    def set_status(self, local_id: str, status: Status) -> None:
        self._send(
            "POST", f"{self._ticket(local_id)}/status", data={"status": LOCAL_STATUS[status]}
        )

    def add_response(self, local_id: str, response: FollowUp, ref: str) -> None:
        form = {
            "dari": response.author,
            "isi": response.content,
            "tgl": format_time(response.at),
            "ref": ref,
        }
        self._send("POST", f"{self._ticket(local_id)}/tanggapan", idempotent=False, data=form)

    def create(self, complaint: NationalComplaint) -> Created:
        """A sambat for a LAPOR inbox complaint, linked to it (``sumber=lapor``)."""
        reporter = None if complaint.anonymous else complaint.reporter
        location = complaint.location
        pinned = (
            location is not None
            and location.latitude is not None
            and location.longitude is not None
        )
        form = {
            "isi_sambat": compose_isi(complaint.title, complaint.content),
            "kategori": local_category(complaint.category, self.config.categories),
            "nama": reporter.name.get_secret_value() if reporter and reporter.name else "",
            "hp": form_phone(reporter.phone.get_secret_value())
            if reporter and reporter.phone
            else "",
            "kelurahan": "",
            "kecamatan": "",
            "lat": form_number(location.latitude) if pinned and location else "",
            "lng": form_number(location.longitude) if pinned and location else "",
            "skpd_tujuan": "",
            "id_lapor": complaint.tracking_id,
            "sumber": "lapor",
        }
        created = self._send("POST", "/sambat", idempotent=False, data=form)
        no_tiket = created.get("no_tiket")
        if absent(no_tiket) or not isinstance(no_tiket, str):
            raise Ambiguous("Sambat answered a create without a no_tiket")
        return Created(no_tiket.strip())

    def find_created(self, national_id: int, since: datetime) -> str | None:
        """Scan the feed from ``since`` (floored to its minute) for ``id_lapor`` naming it."""
        for page in self.pull(self.cursor_for(since)):
            for raw in page.records:
                try:
                    linked = national_id_of(raw.payload.get("id_lapor"))
                except NormalizeError:
                    continue
                if linked == national_id:
                    return raw.local_id
        return None


def connect(
    name: str,
    config: SambatConfig,
    *,
    policy: RetryPolicy | None = None,
    transport: httpx.BaseTransport | None = None,
) -> SambatSource:
    client = make_client(
        api_root(config.base_url),
        timeout=config.timeout_seconds,
        auth=httpx.BasicAuth(config.username, config.password.get_secret_value()),
        transport=transport,
    )
    limiter = rate_limiter(config.requests_per_second)
    return SambatSource(
        name, config, Endpoint(f"Sambat ({name})", client, limiter, policy or RetryPolicy())
    )
