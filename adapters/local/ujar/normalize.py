"""Ujar ticket → canonical complaint, in small pure steps (``ujar.md``).

Ujar's quirks handled here: times are epoch milliseconds, the location is
one ``"lat,lng"`` string, there is no title (the message is the only text),
statuses are small integers and the national link lives in ``external``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import SecretStr

from adapters.local.common import app_category, list_field, model_refusals, status_names
from adapters.local.common import bool_field as _bool
from adapters.local.common import text_field as _text
from bridge.core.errors import NormalizeError
from bridge.core.model import (
    CATCH_ALL_TOPIC,
    Attachment,
    Complaint,
    FollowUp,
    Location,
    Reporter,
    Status,
)
from bridge.core.phone import normalize_phone
from bridge.core.ports import BRIDGE_REF_PREFIX

SOURCE_KIND = "ujar"

#: Ujar statusCode → canonical status (bridge.md)
STATUSES = {
    0: Status.SUBMITTED,
    1: Status.VERIFIED,
    2: Status.IN_PROGRESS,
    3: Status.DONE,
    9: Status.REJECTED,
}
LOCAL_STATUS = {status: code for code, status in STATUSES.items()}
#: each ``statusCode`` as an Indonesian status word (ujar.md names them in English only)
STATUS_WORDS = {0: "baru", 1: "terverifikasi", 2: "diproses", 3: "selesai", 9: "ditolak"}
#: each ``statusCode`` as an auditor reads it in the report (ujar.md; Indonesian, English
#: gloss): the report's ``local_status`` holds the bare code
STATUS_NAMES = status_names(STATUS_WORDS)

#: Ujar categoryCode → LAPOR topic path
CATEGORIES = {
    "DRN": "PEKERJAAN UMUM DAN PENATAAN RUANG/DRAINASE (GORONG-GORONG/PARIT)",
    "PHN": "LINGKUNGAN HIDUP DAN KEHUTANAN",
    "KBL": "PEKERJAAN UMUM DAN PENATAAN RUANG",
    "PJU": "PERHUBUNGAN/LAMPU PENERANGAN JALAN UMUM",
    "PRK": "PERHUBUNGAN/PARKIR LIAR",
    "JLN": "PEKERJAAN UMUM DAN PENATAAN RUANG/INFRASTRUKTUR JALAN/JALAN BERLUBANG",
    "SOS": "SOSIAL DAN KESEJAHTERAAN",
    "LLN": CATCH_ALL_TOPIC,
}
FALLBACK = CATCH_ALL_TOPIC
LOCAL_FALLBACK = "LLN"
#: the link system Ujar's ``external`` uses for LAPOR
LAPOR_SYSTEM = "lapor"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TRACKING_ID = re.compile(r"^#?\s*(\d{1,12})$")


def time_of(value: Any, field: str) -> datetime:
    """Epoch milliseconds → aware UTC datetime; exact (no float rounding)."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise NormalizeError(f"{field} is missing or not milliseconds since the epoch")
    if value <= 0:
        raise NormalizeError(f"{field} is not a plausible time")
    try:
        return _EPOCH + timedelta(milliseconds=value)
    except OverflowError:
        raise NormalizeError(f"{field} is not a plausible time") from None


def to_ms(moment: datetime) -> int:
    """An aware datetime as Ujar writes times: milliseconds since the epoch."""
    return (moment.astimezone(UTC) - _EPOCH) // timedelta(milliseconds=1)


def coordinates_of(value: Any) -> tuple[float, float] | None:
    """``"lat,lng"`` → ``(lat, lng)``; anything unparseable or impossible → ``None``.

    A bad pin is not worth quarantining a complaint for: the address still
    tells the agency where to go.
    """
    if not isinstance(value, str):
        return None
    parts = value.split(",")
    if len(parts) != 2:
        return None
    try:
        lat, lng = float(parts[0].strip()), float(parts[1].strip())
    except ValueError:
        return None
    valid = (
        math.isfinite(lat) and math.isfinite(lng)
        and -90 <= lat <= 90 and -180 <= lng <= 180
        and not (lat == 0 and lng == 0)
    )  # fmt: skip
    return (lat, lng) if valid else None


def location_of(location: Any, address: Any) -> Location | None:
    """The pin (when it parses) and the address (when given); ``None`` when neither."""
    where = _text(address, "address").strip() or None
    pin = coordinates_of(location)
    if pin is None and where is None:
        return None
    lat, lng = pin if pin is not None else (None, None)
    return Location(latitude=lat, longitude=lng, address=where)


def reporter_of(name: Any, phone: Any, anonymous: bool) -> Reporter | None:
    """The citizen, unless anonymous; the phone as ``+62…`` (dropped when not a number)."""
    if anonymous:
        return None
    clean_name = _text(name, "userName").strip()
    clean_phone = normalize_phone(_text(phone, "userPhone"))
    if not clean_name and clean_phone is None:
        return None
    return Reporter(
        name=SecretStr(clean_name) if clean_name else None,
        phone=SecretStr(clean_phone) if clean_phone else None,
    )


def tracking_id_of(value: Any) -> int | None:
    """A LAPOR ref as anyone wrote it: ``"4123987"``, ``"#4123987"`` or ``4123987``."""
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str):
        match = _TRACKING_ID.match(value.strip())
        if match and int(match.group(1)) > 0:
            return int(match.group(1))
    raise NormalizeError("external lapor ref is not a tracking id")


def national_id_of(value: Any) -> int | None:
    """The tracking id in ``external``'s ``lapor`` link, if there is one."""
    for link in list_field(value, "external"):
        if not isinstance(link, Mapping):
            raise NormalizeError("an external entry is malformed")
        system = link.get("system")
        if isinstance(system, str) and system.strip().lower() == LAPOR_SYSTEM:
            return tracking_id_of(link.get("ref"))
    return None


def follow_ups_of(value: Any) -> tuple[FollowUp, ...]:
    """``responses`` (oldest first), each keeping its ``clientRef`` as the writer's ref."""
    out = []
    for item in list_field(value, "responses"):
        if not isinstance(item, Mapping) or item.get("id") in (None, ""):
            raise NormalizeError("a responses entry is malformed")
        ref = item.get("clientRef")
        out.append(
            FollowUp(
                id=str(item["id"]),
                author=_text(item.get("by"), "responses.by"),
                content=_text(item.get("text"), "responses.text"),
                at=time_of(item.get("at"), "responses.at"),
                ref=ref if isinstance(ref, str) and ref else None,
            )
        )
    return tuple(out)


def agency_of(follow_ups: tuple[FollowUp, ...]) -> str | None:
    """Ujar has no agency field: the agency is who signed the first response that the
    bridge did not write (``by``, e.g. ``PUPR``); ``None`` before any."""
    for item in follow_ups:
        if not (item.ref or "").startswith(BRIDGE_REF_PREFIX) and item.author.strip():
            return item.author.strip()
    return None


def attachments_of(value: Any) -> tuple[Attachment, ...]:
    """``photos`` as attachments; an entry without a URL is skipped."""
    out = []
    for item in list_field(value, "photos"):
        if isinstance(item, str) and item:
            out.append(Attachment(url=item))
        elif isinstance(item, Mapping) and isinstance(item.get("url"), str) and item["url"]:
            mime = item.get("mime")
            out.append(Attachment(url=item["url"], content_type=mime if mime else None))
    return tuple(out)


def status_of(value: Any) -> Status:
    """``statusCode`` → canonical; anything outside 0/1/2/3/9 is a bad record."""
    if isinstance(value, bool) or not isinstance(value, int) or value not in STATUSES:
        raise NormalizeError("statusCode is not one of 0/1/2/3/9")
    return STATUSES[value]


def category_map(overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """The built-in map with the source's ``categories`` on top (codes upper-cased)."""
    return {**CATEGORIES, **{k.strip().upper(): v for k, v in (overrides or {}).items()}}


def category_of(code: Any, overrides: Mapping[str, str] | None = None) -> str:
    """``categoryCode`` → LAPOR topic path; an unknown or missing code → ``TOPIK LAINNYA``."""
    text = _text(code, "categoryCode").strip().upper()
    return category_map(overrides).get(text, FALLBACK)


def normalize(
    payload: Mapping[str, Any],
    *,
    source: str,
    region: str,
    categories: Mapping[str, str] | None = None,
) -> Complaint:
    """One ticket as a canonical complaint; raises ``NormalizeError`` naming the bad field.

    ``title`` stays empty: Ujar has none, and the LAPOR side composes one
    from the message.
    """
    if not isinstance(payload, Mapping):
        raise NormalizeError("the record is not an object")
    ticket_no = payload.get("ticketNo")
    if not isinstance(ticket_no, str) or not ticket_no.strip():
        raise NormalizeError("ticketNo is missing or not text")
    message = _text(payload.get("message"), "message")
    if not message.strip():
        raise NormalizeError("message is missing or empty")
    status = status_of(payload.get("statusCode"))
    code = _text(payload.get("categoryCode"), "categoryCode").strip()
    anonymous = _bool(payload.get("anonymous"), "anonymous")
    follow_ups = follow_ups_of(payload.get("responses"))
    with model_refusals():
        return Complaint(
            source=source,
            local_id=ticket_no,
            title="",
            content=message,
            category=category_of(code, categories),
            local_category=code or None,
            status=status,
            local_status=str(payload.get("statusCode")),
            anonymous=anonymous,
            reporter=reporter_of(payload.get("userName"), payload.get("userPhone"), anonymous),
            location=location_of(payload.get("location"), payload.get("address")),
            attachments=attachments_of(payload.get("photos")),
            follow_ups=follow_ups,
            agency=agency_of(follow_ups),
            region=region,
            national_id=national_id_of(payload.get("external")),
            created_at=time_of(payload.get("createdAt"), "createdAt"),
            updated_at=time_of(payload.get("updatedAt"), "updatedAt"),
        )


def local_category(path: str, overrides: Mapping[str, str] | None = None) -> str:
    """LAPOR topic path → Ujar categoryCode, for tickets the bridge creates.

    The exact path first, then the code that stands for the bare topic, then
    any code of the same topic, else ``LLN``. Only Ujar's own codes are
    answered: an override naming another code could not be created.
    """
    return app_category(
        path, category_map(overrides), CATEGORIES, LOCAL_FALLBACK, bare_topic_first=True
    )
