"""Open311 GeoReport v2 service request → canonical complaint, in small pure steps.

A record (what :class:`adapters.local.open311.client.Open311Source` pulls) is
``{"request": <one element of GET /requests.json>, "updates": [<entries of
GET /servicerequestupdates.json for that request>]}``: a request alone only
says ``open``/``closed``; the extended status and the city's answers live on
its updates (``open311.md``).

Decisions where the contract leaves room, all in favour of accepting what
the standard's schemas allow:

* the canonical status is the furthest of the request's ``status`` and its
  updates' statuses (case-insensitive, bridge.md's table); of two terminal
  statuses the later one wins (the city's last word). ``reopen`` and any
  status the table does not name (servers extend the list) carry no
  information: statuses never go back, and an unknown word is not a reason
  to quarantine a citizen's complaint;
* an update the bridge wrote itself (``update_id`` ``lb-status-<id>-<status>``)
  counts as the canonical status it names: Open311 has no ``verified``, so the
  bridge writes it as ``OPEN`` and must still read it back as ``verified``;
* an update's ``update_id`` is its follow-up's id; it is also the follow-up's
  ``ref`` when the bridge wrote it (prefix ``lb-``), so the engine never
  echoes its own words; the city's ids are the server's, not a writer's ref.
  Servers built on open311-adapter drop the writer's ``update_id`` and store
  the update under their own, so every update the bridge writes also ends its
  description with its reference (``[lb-…]``, :func:`with_ref`): an update
  carrying that marker is the bridge's own whatever its id (:func:`own_ref`),
  and its text is read without it;
* a status the table does not know (``unchanged``, ``planned``,
  ``for_triage``, ``referred_to_*``, ``Received``…) moves nothing and is
  reported (:func:`unknown_statuses`); the update's text is still copied;
* updates without a description change the status only: they are no follow-up;
* an update the feed shows without an ``update_id`` changes the status only too
  (with no id its words could not be recognised from one read to the next);
  one without a readable ``updated_datetime`` is dated at its request's
  creation (undated updates come first). Neither quarantines the request;
* a request's text is its ``description``, else its ``service_name``, else its
  ``service_code``: ``request.json`` requires none of the first two;
* requests carry no title (LAPOR composes one from the text) and no reporter
  (Open311 never publishes who filed a request);
* the national tracking id is read from the marker ``[LAPOR-SP4N #<id>]`` of a
  request the bridge created, or from the bridge's ``lb-link-<id>`` update.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from adapters.local.common import list_field, model_refusals, number_field
from adapters.local.common import text_field as _text
from bridge.core.errors import NormalizeError
from bridge.core.model import CATCH_ALL_TOPIC, Attachment, Complaint, FollowUp, Location, Status
from bridge.core.ports import BRIDGE_REF_PREFIX

SOURCE_KIND = "open311"

#: Open311 status (request or update, any case) → canonical (bridge.md)
STATUSES = {
    "open": Status.SUBMITTED,
    "in_progress": Status.IN_PROGRESS,
    "action_scheduled": Status.IN_PROGRESS,
    "investigating": Status.IN_PROGRESS,
    "internal_referral": Status.IN_PROGRESS,
    "closed": Status.DONE,
    "fixed": Status.DONE,
    "duplicate": Status.REJECTED,
    "not_councils_responsibility": Status.REJECTED,
    "no_further_action": Status.REJECTED,
    "cancelled": Status.REJECTED,
}
#: statuses that move nothing: statuses never go back (bridge.md)
NO_MOVE = frozenset({"reopen"})
#: each status (as the report's ``local_status`` holds it, lower case) as an auditor reads
#: it in the report (open311.md; English, Indonesian gloss)
STATUS_NAMES = {
    "open": "Open (dibuka)",
    "in_progress": "In progress (diproses)",
    "action_scheduled": "Action scheduled (dijadwalkan)",
    "investigating": "Investigating (diperiksa)",
    "internal_referral": "Internal referral (dirujuk)",
    "closed": "Closed (ditutup)",
    "fixed": "Fixed (diperbaiki)",
    "duplicate": "Duplicate (duplikat)",
    "not_councils_responsibility": "Not the council's responsibility (bukan wewenang)",
    "no_further_action": "No further action (tidak dilanjutkan)",
    "cancelled": "Cancelled (dibatalkan)",
    "reopen": "Reopened (dibuka kembali)",
}

#: what the bridge writes (UPPER CASE) for a canonical status; Open311 has no
#: ``verified``: it is written as ``OPEN`` and told apart by its update_id
WRITE_STATUS = {
    Status.SUBMITTED: "OPEN",
    Status.VERIFIED: "OPEN",
    Status.IN_PROGRESS: "IN_PROGRESS",
    Status.DONE: "FIXED",
    Status.REJECTED: "NO_FURTHER_ACTION",
}
#: the description of the update that carries a status the bridge writes
STATUS_NOTES = {
    Status.SUBMITTED: "Laporan tercatat di LAPOR-SP4N.",
    Status.VERIFIED: "Laporan telah diverifikasi di LAPOR-SP4N.",
    Status.IN_PROGRESS: "Laporan sedang ditindaklanjuti (status dari LAPOR-SP4N).",
    Status.DONE: "Laporan dinyatakan selesai di LAPOR-SP4N.",
    Status.REJECTED: "Laporan tidak dilanjutkan di LAPOR-SP4N.",
}

#: service_code → LAPOR topic path; the codes most Open311 cities (and the sandbox) use
CATEGORIES = {
    "DRAINASE": "PEKERJAAN UMUM DAN PENATAAN RUANG/DRAINASE (GORONG-GORONG/PARIT)",
    "SAMPAH": "LINGKUNGAN HIDUP DAN KEHUTANAN/PENGELOLAAN SAMPAH",
    "PJU": "PERHUBUNGAN/LAMPU PENERANGAN JALAN UMUM",
    "JALAN": "PEKERJAAN UMUM DAN PENATAAN RUANG/INFRASTRUKTUR JALAN/JALAN BERLUBANG",
    "POHON": "LINGKUNGAN HIDUP DAN KEHUTANAN",
    "PARKIR": "PERHUBUNGAN/PARKIR LIAR",
    "LAIN": CATCH_ALL_TOPIC,
}
FALLBACK = CATCH_ALL_TOPIC
CITY_AUTHOR = "kota"
_DAWN = datetime(1, 1, 2, tzinfo=UTC)

MAX_DESCRIPTION = 4000
LINK_PREFIX = f"{BRIDGE_REF_PREFIX}link-"
STATUS_PREFIX = f"{BRIDGE_REF_PREFIX}status-"
_STATUS_UPDATE = re.compile(
    rf"^{re.escape(STATUS_PREFIX)}.+-({'|'.join(s.value for s in Status)})$"
)
_MARKER = re.compile(r"\[LAPOR-SP4N #(\d{1,18})\]")
#: the bridge's reference at the end of an update it wrote (``... [lb-fu-12]``)
_OWN_REF = re.compile(rf"\s*\[({re.escape(BRIDGE_REF_PREFIX)}[^\[\]\s]{{1,200}})\]\s*$")
_TRACKING = re.compile(r"#(\d{1,18})\b")


# identifiers the bridge writes ----------------------------------------------


def marker(national_id: int) -> str:
    """The tag a request created by the bridge carries in its description."""
    return f"[LAPOR-SP4N #{national_id}]"


def status_update_id(local_id: str, status: Status) -> str:
    """Deterministic, so a repeated status write is refused as "already exists"."""
    return f"{STATUS_PREFIX}{local_id}-{status.value}"


def link_update_id(local_id: str) -> str:
    """One link note per request, ever: a repeat is refused as "already exists"."""
    return f"{LINK_PREFIX}{local_id}"


def link_note(national_id: int) -> str:
    return f"Tercatat di LAPOR-SP4N dengan nomor #{national_id}"


def with_ref(description: str, ref: str) -> str:
    """An update's description as the bridge posts it: its reference at the end, so the
    update is known as the bridge's own on servers that replace its ``update_id``."""
    return f"{description.rstrip()} [{ref}]"


def split_ref(text: str) -> tuple[str, str | None]:
    """A description without the bridge's trailing reference, and that reference."""
    found = _OWN_REF.search(text)
    if found is None:
        return text, None
    return text[: found.start()], found.group(1)


def own_ref(update: Mapping[str, Any]) -> str | None:
    """The bridge's reference of an update it wrote: its ``update_id``, else the marker
    at the end of its description; ``None`` for the city's updates."""
    update_id = update.get("update_id")
    if isinstance(update_id, str) and update_id.startswith(BRIDGE_REF_PREFIX):
        return update_id
    description = update.get("description")
    return split_ref(description)[1] if isinstance(description, str) else None


# small readers ----------------------------------------------------------------


def parse_time(value: Any) -> datetime | None:
    """ISO 8601 with a mandatory offset (``Z`` or ``±HH:MM``); ``None`` otherwise."""
    if not isinstance(value, str) or len(value.strip()) <= 10:
        return None
    text = value.strip()
    if text[-1] in "Zz":
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _time(value: Any, field: str) -> datetime:
    moment = parse_time(value)
    if moment is None:
        raise NormalizeError(f"{field} is missing or not an ISO 8601 time with an offset")
    return moment


def _id_or_none(value: Any) -> str | None:
    """An id as text, or ``None``; some servers write numbers where the schema says string."""
    if isinstance(value, bool) or not isinstance(value, str | int) or str(value).strip() == "":
        return None
    return str(value).strip()


def _identifier(value: Any, field: str) -> str:
    found = _id_or_none(value)
    if found is None:
        raise NormalizeError(f"{field} is missing or not an identifier")
    return found


def location_of(request: Mapping[str, Any]) -> Location | None:
    """``lat``/``long`` and ``address``; an impossible pin is dropped, the address kept."""
    lat, lng = number_field(request.get("lat")), number_field(request.get("long"))
    address = request.get("address")
    address = address.strip() if isinstance(address, str) and address.strip() else None
    valid = (
        lat is not None and lng is not None
        and -90 <= lat <= 90 and -180 <= lng <= 180
        and not (lat == 0 and lng == 0)
    )  # fmt: skip
    if not valid:
        lat = lng = None
    if lat is None and address is None:
        return None
    return Location(latitude=lat, longitude=lng, address=address)


def attachments_of(request: Mapping[str, Any]) -> tuple[Attachment, ...]:
    """``media_url``: a URL, or an array of URLs or of objects with ``url`` (Boston);
    ``null``, empty and anything that is not an http(s) URL are no photo."""
    value = request.get("media_url")
    listed = value if isinstance(value, list) else [value]
    found: list[Attachment] = []
    for item in listed:
        url = item.get("url") if isinstance(item, Mapping) else item
        url = url.strip() if isinstance(url, str) else ""
        if url.startswith(("http://", "https://")) and all(a.url != url for a in found):
            found.append(Attachment(url=url))
    return tuple(found)


def agency_of(value: Any) -> str | None:
    """``agency_responsible``: text, or an object (FixMyStreet: ``{"recipient": [...]}``)
    or array whose texts are joined."""
    if isinstance(value, Mapping):
        value = [
            v for inner in value.values() for v in (inner if isinstance(inner, list) else [inner])
        ]
    if isinstance(value, list):
        value = ", ".join(v.strip() for v in value if isinstance(v, str) and v.strip())
    return value.strip() if isinstance(value, str) and value.strip() else None


# statuses -----------------------------------------------------------------------


def status_word(value: Any) -> str | None:
    """A status as the table spells it (lower case), or ``None`` when not text."""
    return value.strip().lower() if isinstance(value, str) and value.strip() else None


def update_status(update: Mapping[str, Any]) -> Status | None:
    """What one update says about the status; ``None`` when it says nothing we know."""
    ref = own_ref(update)
    if ref is not None:
        own = _STATUS_UPDATE.match(ref)
        if own is not None:
            return Status(own.group(1))
    word = status_word(update.get("status"))
    if word is None or word in NO_MOVE:
        return None
    return STATUSES.get(word)


def unknown_statuses(request_status: Any, updates: Sequence[Mapping[str, Any]]) -> set[str]:
    """The statuses (lower case) of a request and its updates that the table does not know:
    they move nothing, and the client reports them."""
    words = [status_word(request_status), *(status_word(u.get("status")) for u in updates)]
    return {w for w in words if w is not None and w not in STATUSES and w not in NO_MOVE}


def ordered(updates: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Updates oldest first; feed order breaks ties, undated ones come first."""

    def key(index: int) -> tuple[datetime, int]:
        moment = parse_time(updates[index].get("updated_datetime"))
        return (moment or _DAWN, index)

    return [updates[i] for i in sorted(range(len(updates)), key=key)]


def furthest(current: Status, said: Status) -> Status:
    """Statuses only move forward; of two terminal ones the later word wins."""
    return said if said.rank >= current.rank else current


def canonical_status(request_status: Any, updates: Sequence[Mapping[str, Any]]) -> Status:
    """The furthest of the request's status and its updates' (see the module docstring).

    The request's own ``closed`` is applied first: it is generic, and an update
    that says *how* the request was closed (``duplicate``…) is more precise.
    """
    word = status_word(request_status)
    status = STATUSES.get(word, Status.SUBMITTED) if word else Status.SUBMITTED
    for update in ordered(updates):
        said = update_status(update)
        if said is not None:
            status = furthest(status, said)
    return status


def current_status(request_status: Any, updates: Sequence[Mapping[str, Any]]) -> str:
    """The status the city shows now (the latest update's, else the request's), UPPER CASE.

    The bridge writes it on updates that must not move the request.
    """
    for update in reversed(ordered(updates)):
        word = status_word(update.get("status"))
        if word is not None and word != "unchanged":  # open311-adapter: "no change"
            return word.upper()
    word = status_word(request_status)
    return word.upper() if word else "OPEN"


def local_status(request_status: Any, updates: Sequence[Mapping[str, Any]]) -> str:
    """The raw status as the city last showed it, for reports."""
    return current_status(request_status, updates).lower()


# follow-ups and the link -----------------------------------------------------------


def follow_ups_of(
    updates: Sequence[Mapping[str, Any]], author: str, undated: datetime
) -> tuple[FollowUp, ...]:
    """Updates with a description, oldest first; the bridge's own carry their id as ``ref``.

    One without an ``update_id`` is skipped; one without a readable time is
    dated ``undated`` (the module docstring says why).
    """
    found: list[tuple[datetime, int, FollowUp]] = []
    for index, update in enumerate(updates):
        content = _text(update.get("description"), f"updates[{index}].description")
        update_id = _id_or_none(update.get("update_id"))
        ref = own_ref(update)
        if ref is not None:
            content = split_ref(content)[0]
        if update_id is None or not content.strip():
            continue
        at = parse_time(update.get("updated_datetime")) or undated
        follow_up = FollowUp(id=update_id, author=author, content=content, at=at, ref=ref)
        found.append((at, index, follow_up))
    return tuple(follow_up for _, _, follow_up in sorted(found, key=lambda f: (f[0], f[1])))


def national_id_of(description: str, updates: Sequence[Mapping[str, Any]]) -> int | None:
    """The tracking id the request names: its creation marker, else the bridge's link note."""
    found = _MARKER.search(description)
    if found is not None:
        return int(found.group(1))
    for update in updates:
        ref = own_ref(update)
        text = update.get("description")
        if ref is not None and ref.startswith(LINK_PREFIX) and isinstance(text, str):
            number = _TRACKING.search(text)
            if number is not None:
                return int(number.group(1))
    return None


# the record ------------------------------------------------------------------------


def category_of(service_code: str, overrides: Mapping[str, str] | None) -> str:
    """service_code → LAPOR path: the source's map, then the built-in one (case-insensitive)."""
    for mapping in (overrides or {}, CATEGORIES):
        if service_code in mapping:
            return mapping[service_code]
        folded = {code.casefold(): path for code, path in mapping.items()}
        if service_code.casefold() in folded:
            return folded[service_code.casefold()]
    return FALLBACK


def _updates(payload: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    updates = list_field(payload.get("updates"), "updates")
    for index, update in enumerate(updates):
        if not isinstance(update, Mapping):
            raise NormalizeError(f"updates[{index}] is not an object")
    return list(updates)


def parent_of(request: Mapping[str, Any], local_id: str) -> str | None:
    """The request this one duplicates, when the city says so: ``parent_service_request_id``
    at the top or in ``extended_attributes`` (Chicago), or an id in
    ``extended_attributes.duplicate``. A flag without an id (``true``), an empty value, or
    the request itself names no parent."""
    extended = request.get("extended_attributes")
    extended = extended if isinstance(extended, Mapping) else {}
    for value in (
        request.get("parent_service_request_id"),
        extended.get("parent_service_request_id"),
        extended.get("duplicate"),
    ):
        if isinstance(value, bool) or not isinstance(value, str | int):
            continue
        parent = str(value).strip()
        if parent and parent != local_id and len(parent) <= 200:
            return parent
    return None


def normalize(
    payload: Mapping[str, Any],
    *,
    source: str,
    region: str,
    categories: Mapping[str, str] | None = None,
) -> Complaint:
    """One request and its updates as a canonical complaint; ``NormalizeError`` names the field."""
    if not isinstance(payload, Mapping) or not isinstance(payload.get("request"), Mapping):
        raise NormalizeError("the record has no request object")
    malformed = payload.get("malformed")
    if malformed:
        raise NormalizeError(f"read from a malformed answer of the city: {malformed}")
    request: Mapping[str, Any] = payload["request"]
    updates = _updates(payload)
    local_id = _identifier(request.get("service_request_id"), "service_request_id")
    if status_word(request.get("status")) is None:
        raise NormalizeError("status is missing or not text")
    service_code = _identifier(request.get("service_code"), "service_code")
    description = _text(request.get("description"), "description")
    service_name = _text(request.get("service_name"), "service_name")
    content = next((t for t in (description, service_name) if t.strip()), service_code)
    created_at = _time(request.get("requested_datetime"), "requested_datetime")
    updated = request.get("updated_datetime")
    missing = updated is None or (isinstance(updated, str) and not updated.strip())
    # empty, blank, null or missing is missing (Toronto: <updated_datetime/>)
    updated_at = created_at if missing else _time(updated, "updated_datetime")
    agency = agency_of(request.get("agency_responsible"))
    with model_refusals():
        follow_ups = follow_ups_of(updates, agency or CITY_AUTHOR, created_at)
        latest = max([updated_at, *(f.at for f in follow_ups)])
        return Complaint(
            source=source,
            local_id=local_id,
            display_id=None,
            title="",
            content=content,
            category=category_of(service_code, categories),
            local_category=service_code,
            status=canonical_status(request.get("status"), updates),
            local_status=local_status(request.get("status"), updates),
            anonymous=False,
            confidential=False,
            reporter=None,
            location=location_of(request),
            attachments=attachments_of(request),
            follow_ups=follow_ups,
            agency=agency,
            region=region,
            national_id=national_id_of(description, updates),
            parent_local_id=parent_of(request, local_id),
            created_at=created_at,
            updated_at=latest,
        )


# writing ------------------------------------------------------------------------------


def service_code_for(path: str, overrides: Mapping[str, str] | None, default: str) -> str:
    """LAPOR path → service_code: the exact path, else its topic; the source's map first.

    ``TOPIK LAINNYA``, and any topic that maps nowhere, is ``default``: the
    city's own "other" code, which the built-in ``LAIN`` may not be.
    """
    wanted = path.strip().upper()
    if wanted.split("/", 1)[0] == FALLBACK:
        return default
    maps = (overrides or {}, CATEGORIES)
    for mapping in maps:
        for code, target in mapping.items():
            if target.strip().upper() == wanted:
                return code
    topic = wanted.split("/", 1)[0]
    for mapping in maps:
        for code, target in mapping.items():
            if target.strip().upper().split("/", 1)[0] == topic:
                return code
    return default


def compose_description(title: str, content: str, national_id: int) -> str:
    """The title and text of a LAPOR complaint, cut to fit 4000 characters with the marker kept."""
    tag = marker(national_id)
    title, content = title.strip(), content.strip()
    text = content if not title or content.startswith(title) else f"{title}\n\n{content}"
    room = MAX_DESCRIPTION - len(tag) - 2
    if len(text) > room:
        head = text[: room - 1]
        space = head.rfind(" ")
        text = (head[:space] if space >= room // 2 else head).rstrip() + "…"
    return f"{text}\n\n{tag}" if text else tag
