"""Sambat record → canonical complaint, in small pure steps (``sambat.md``).

Sambat's legacy back end sends numbers as strings and absent values as
``""``, so every reader here treats ``""`` exactly like a missing key: an
empty ``lat`` means no location, an empty ``foto`` no attachment, an empty
``id_lapor`` no link. Times are ``dd/mm/yyyy HH:MM`` in WIB with no offset
written; they become aware UTC datetimes.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import SecretStr

from adapters.local.common import app_category, model_refusals, number_field, status_names
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
from bridge.core.timefmt import WIB, to_utc, to_wib

SOURCE_KIND = "sambat"
CITY = "Kota Malang"

STATUSES = {
    "Menunggu": Status.SUBMITTED,
    "Diverifikasi": Status.VERIFIED,
    "Diproses": Status.IN_PROGRESS,
    "Selesai": Status.DONE,
    "Ditolak": Status.REJECTED,
}
LOCAL_STATUS = {status: name for name, status in STATUSES.items()}
#: each status as an auditor reads it in the report (Indonesian, English gloss)
STATUS_NAMES = status_names({name: name for name in STATUSES})

#: Sambat kategori → LAPOR topic path. Within one LAPOR topic the most general
#: kategori comes first: the reverse map falls back on the first one of a topic.
CATEGORIES = {
    "Penerangan Jalan": "PERHUBUNGAN/LAMPU PENERANGAN JALAN UMUM",
    "Jalan Rusak": "PEKERJAAN UMUM DAN PENATAAN RUANG/INFRASTRUKTUR JALAN/JALAN BERLUBANG",
    "Banjir": "PEKERJAAN UMUM DAN PENATAAN RUANG/DRAINASE (GORONG-GORONG/PARIT)",
    "Sampah": "LINGKUNGAN HIDUP DAN KEHUTANAN/PENGELOLAAN SAMPAH",
    "Pohon Tumbang": "LINGKUNGAN HIDUP DAN KEHUTANAN",
    "Administrasi Kependudukan": "KEPENDUDUKAN",
    "Kesehatan": "KESEHATAN",
    "Pendidikan": "PENDIDIKAN DAN KEBUDAYAAN",
    "Lain-lain": CATCH_ALL_TOPIC,
}
FALLBACK = CATCH_ALL_TOPIC
LOCAL_FALLBACK = "Lain-lain"

TIME_FORMAT = "%d/%m/%Y %H:%M"
_TIME = re.compile(r"\d{2}/\d{2}/\d{4} \d{2}:\d{2}")
_TRACKING = re.compile(r"#?\s*(\d+)")


# --- scalar readers ---------------------------------------------------------------


def parse_time(text: str) -> datetime:
    """``dd/mm/yyyy HH:MM`` in WIB → aware UTC; raises ``ValueError`` for anything else."""
    text = text.strip()
    if _TIME.fullmatch(text) is None:
        raise ValueError(f"not dd/mm/yyyy HH:MM: {text!r}")
    return to_utc(datetime.strptime(text, TIME_FORMAT).replace(tzinfo=WIB))


def format_time(moment: datetime) -> str:
    """``moment`` as Sambat writes it: WIB, to the minute (seconds dropped, i.e. floored)."""
    return to_wib(moment).strftime(TIME_FORMAT)


def absent(value: Any) -> bool:
    """Sambat's way of saying "nothing": a missing key, ``null`` or an empty (blank) string."""
    return value is None or (isinstance(value, str) and not value.strip())


def text_of(value: Any, field: str) -> str:
    """A text field; ``""`` when absent. A non-text value is a broken record."""
    if absent(value):
        return ""
    if not isinstance(value, str):
        raise NormalizeError(f"{field} is not text")
    return value


def optional_text(value: Any, field: str) -> str | None:
    """A text field with Sambat's ``""`` turned into ``None``, trimmed."""
    text = text_of(value, field).strip()
    return text or None


def number_text(value: Any, field: str) -> str | None:
    """An identifier the back end sends as a string of digits (or, now and then, a number)."""
    if absent(value):
        return None
    if isinstance(value, bool):
        raise NormalizeError(f"{field} is not an identifier")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value.strip()
    raise NormalizeError(f"{field} is not an identifier")


def time_of(value: Any, field: str) -> datetime:
    """A required ``dd/mm/yyyy HH:MM`` WIB time as aware UTC."""
    if absent(value) or not isinstance(value, str):
        raise NormalizeError(f"{field} is missing or not a time")
    try:
        return parse_time(value)
    except ValueError:
        raise NormalizeError(f"{field} is not a dd/mm/yyyy HH:MM time") from None


def decimal_of(value: Any) -> float | None:
    """A coordinate sent as a decimal string (or a number); ``None`` when absent or unreadable."""
    return None if absent(value) else number_field(value)


def national_id_of(value: Any) -> int | None:
    """``id_lapor`` as written: ``#9165816``, ``"9165816"`` or ``9165816``; ``""`` is none."""
    if absent(value):
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value if value > 0 else None
    if isinstance(value, str):
        match = _TRACKING.fullmatch(value.strip())
        if match is not None and int(match.group(1)) > 0:
            return int(match.group(1))
    raise NormalizeError("id_lapor is not a tracking id")


# --- parts of a complaint ---------------------------------------------------------


def address_of(kelurahan: str | None, kecamatan: str | None, city: str = CITY) -> str | None:
    """``Kel. X, Kec. Y, Kota Malang`` from whichever parts are known; ``None`` when neither is."""
    parts = [f"Kel. {kelurahan}" if kelurahan else "", f"Kec. {kecamatan}" if kecamatan else ""]
    known = [part for part in parts if part]
    return ", ".join([*known, city]) if known else None


def location_of(payload: Mapping[str, Any], city: str = CITY) -> Location | None:
    """Pin and address; an SMS (``lat``/``lng`` ``""``) may still carry a kelurahan."""
    lat, lng = decimal_of(payload.get("lat")), decimal_of(payload.get("lng"))
    if not _valid_pin(lat, lng):
        lat = lng = None  # an impossible or half pin is dropped; the address still helps
    address = address_of(
        optional_text(payload.get("kelurahan"), "kelurahan"),
        optional_text(payload.get("kecamatan"), "kecamatan"),
        city,
    )
    if lat is None and address is None:
        return None
    return Location(latitude=lat, longitude=lng, address=address)


def _valid_pin(lat: float | None, lng: float | None) -> bool:
    if lat is None or lng is None:
        return False
    return -90 <= lat <= 90 and -180 <= lng <= 180 and not (lat == 0 and lng == 0)


def reporter_of(payload: Mapping[str, Any]) -> Reporter | None:
    """Name and phone; ``None`` when the record has neither (``""`` is unknown)."""
    name = optional_text(payload.get("nama"), "nama")
    hp = number_text(payload.get("hp"), "hp")
    phone = normalize_phone(hp)
    if name is None and phone is None:
        return None
    return Reporter(
        name=SecretStr(name) if name else None,
        phone=SecretStr(phone) if phone else None,
    )


def attachments_of(value: Any) -> tuple[Attachment, ...]:
    """``foto`` is one absolute URL, or ``""`` for none."""
    if absent(value):
        return ()
    if not isinstance(value, str):
        raise NormalizeError("foto is not a URL")
    return (Attachment(url=value.strip()),)


def follow_up_of(item: Any, index: int, undated: datetime) -> FollowUp:
    """One ``tanggapan``; its ``ref`` is the writer's own reference, ``""`` meaning none.

    Liberal where the back end leaves a value empty (it writes ``""`` for
    absent): a ``tgl`` that is empty or unreadable is dated ``undated`` (the
    record's last change), and an empty ``id_tanggapan`` is replaced by one
    made from the response's words and time, the same on every read.
    """
    where = f"tanggapan[{index}]"
    if not isinstance(item, Mapping):
        raise NormalizeError(f"{where} is not an object")
    author = text_of(item.get("dari"), f"{where}.dari")
    content = text_of(item.get("isi"), f"{where}.isi")
    tgl = item.get("tgl")
    try:
        at = time_of(tgl, f"{where}.tgl")
    except NormalizeError:
        at = undated
    follow_id = number_text(item.get("id_tanggapan"), f"{where}.id_tanggapan")
    if follow_id is None:
        words = f"{author}\x1f{content}\x1f{tgl if isinstance(tgl, str) else ''}"
        follow_id = "isi-" + hashlib.sha256(words.encode("utf-8")).hexdigest()[:16]
    return FollowUp(
        id=follow_id,
        author=author,
        content=content,
        at=at,
        ref=optional_text(item.get("ref"), f"{where}.ref"),
    )


def follow_ups_of(value: Any, undated: datetime) -> tuple[FollowUp, ...]:
    """``tanggapan``, oldest first; ``""`` or a missing list is none."""
    if absent(value):
        return ()
    if not isinstance(value, list):
        raise NormalizeError("tanggapan is not a list")
    return tuple(follow_up_of(item, index, undated) for index, item in enumerate(value))


def category_of(kategori: str, overrides: Mapping[str, str] | None = None) -> str:
    """Sambat kategori → LAPOR topic path; the configured map wins, unmapped is TOPIK LAINNYA."""
    mapping = {**CATEGORIES, **(overrides or {})}
    return mapping.get(kategori.strip(), FALLBACK)


def local_category(path: str, overrides: Mapping[str, str] | None = None) -> str:
    """LAPOR topic path → Sambat kategori: the exact path, else its topic, else ``Lain-lain``.

    Only the city's own list is ever returned: a write with any other kategori fails.
    """
    return app_category(path, {**CATEGORIES, **(overrides or {})}, CATEGORIES, LOCAL_FALLBACK)


def status_of(value: Any) -> Status:
    if not isinstance(value, str) or value.strip() not in STATUSES:
        raise NormalizeError("status is not one of Menunggu/Diverifikasi/Diproses/Selesai/Ditolak")
    return STATUSES[value.strip()]


def local_id_of(value: Any) -> str:
    if absent(value) or not isinstance(value, str):
        raise NormalizeError("no_tiket is missing or not text")
    return value.strip()


# --- the whole record -------------------------------------------------------------


def normalize(
    payload: Mapping[str, Any],
    *,
    source: str,
    region: str,
    categories: Mapping[str, str] | None = None,
) -> Complaint:
    """One sambat as a canonical complaint; raises ``NormalizeError`` naming the bad field.

    ``isi_sambat`` is the only text Sambat keeps (an SMS is often informal and
    abbreviated): it becomes the content verbatim and the title stays empty,
    for the LAPOR side composes one from it. An SMS has no name, photo or
    location and is still a valid complaint.
    """
    if not isinstance(payload, Mapping):
        raise NormalizeError("the record is not an object")
    local_id = local_id_of(payload.get("no_tiket"))
    status = status_of(payload.get("status"))
    isi = text_of(payload.get("isi_sambat"), "isi_sambat")
    if not isi.strip():
        raise NormalizeError("isi_sambat is empty: the record has no text")
    kategori = text_of(payload.get("kategori"), "kategori").strip()
    updated_at = time_of(payload.get("tgl_update"), "tgl_update")
    with model_refusals():
        return Complaint(
            source=source,
            local_id=local_id,
            title="",
            content=isi.strip(),
            category=category_of(kategori, categories),
            local_category=kategori or None,
            status=status,
            local_status=str(payload["status"]).strip(),
            reporter=reporter_of(payload),
            location=location_of(payload),
            attachments=attachments_of(payload.get("foto")),
            follow_ups=follow_ups_of(payload.get("tanggapan"), updated_at),
            agency=optional_text(payload.get("skpd_tujuan"), "skpd_tujuan"),
            region=region,
            national_id=national_id_of(payload.get("id_lapor")),
            created_at=time_of(payload.get("tgl_masuk"), "tgl_masuk"),
            updated_at=updated_at,
        )
