"""Tanjak aduan → canonical complaint, in small pure steps (``tanjak.md``)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import datetime
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
from bridge.core.timefmt import parse_rfc3339

SOURCE_KIND = "tanjak"

STATUSES = {
    "baru": Status.SUBMITTED,
    "diverifikasi": Status.VERIFIED,
    "diproses": Status.IN_PROGRESS,
    "selesai": Status.DONE,
    "ditolak": Status.REJECTED,
}
LOCAL_STATUS = {status: name for name, status in STATUSES.items()}
#: each status as an auditor reads it in the report (Indonesian, English gloss)
STATUS_NAMES = status_names({name: name for name in STATUSES})

#: Tanjak kategori → LAPOR topic path
CATEGORIES = {
    "persampahan": "LINGKUNGAN HIDUP DAN KEHUTANAN/PENGELOLAAN SAMPAH",
    "jalan": "PEKERJAAN UMUM DAN PENATAAN RUANG/INFRASTRUKTUR JALAN/JALAN BERLUBANG",
    "drainase": "PEKERJAAN UMUM DAN PENATAAN RUANG/DRAINASE (GORONG-GORONG/PARIT)",
    "penerangan": "PERHUBUNGAN/LAMPU PENERANGAN JALAN UMUM",
    "pendidikan": "PENDIDIKAN DAN KEBUDAYAAN",
    "kesehatan": "KESEHATAN",
    "kependudukan": "KEPENDUDUKAN",
    "perizinan": CATCH_ALL_TOPIC,
    "sosial": "SOSIAL DAN KESEJAHTERAAN",
    "lainnya": CATCH_ALL_TOPIC,
}
FALLBACK = CATCH_ALL_TOPIC
LOCAL_FALLBACK = "lainnya"

_NIK = re.compile(r"^\d{16}$")
_DIGITS = re.compile(r"\d+")


def _time(value: Any, field: str) -> datetime:
    if not isinstance(value, str):
        raise NormalizeError(f"{field} is missing or not a time")
    try:
        return parse_rfc3339(value)
    except ValueError:
        raise NormalizeError(f"{field} is not an RFC 3339 time with an offset") from None


def national_id_of(value: Any) -> int | None:
    """``lapor_id`` as written by anyone: ``#9165816``, ``"9165816"`` or ``9165816``."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise NormalizeError("lapor_id is not a tracking id")
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, str):
        match = _DIGITS.search(value)
        if match and value.strip().lstrip("#").isdigit():
            return int(match.group())
    raise NormalizeError("lapor_id is not a tracking id")


def location_of(value: Any) -> Location | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise NormalizeError("lokasi is not an object")
    lat, lng = value.get("lat"), value.get("lng")
    address = value.get("alamat")
    address = address.strip() if isinstance(address, str) and address.strip() else None
    if not _valid_coordinates(lat, lng):
        lat = lng = None  # an impossible pin is dropped; the address still helps
    if lat is None and address is None:
        return None
    return Location(latitude=lat, longitude=lng, address=address)


def _valid_coordinates(lat: Any, lng: Any) -> bool:
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (lat, lng))
    if not numbers:
        return False
    return (
        math.isfinite(lat) and math.isfinite(lng)
        and -90 <= lat <= 90 and -180 <= lng <= 180
        and not (lat == 0 and lng == 0)
    )  # fmt: skip


def reporter_of(value: Any, anonymous: bool) -> Reporter | None:
    if anonymous or value is None:
        return None
    if not isinstance(value, Mapping):
        raise NormalizeError("pelapor is not an object")
    name = value.get("nama")
    phone = normalize_phone(value.get("hp") if isinstance(value.get("hp"), str) else None)
    nik = value.get("nik")
    return Reporter(
        name=SecretStr(name.strip()) if isinstance(name, str) and name.strip() else None,
        phone=SecretStr(phone) if phone else None,
        nik=SecretStr(nik) if isinstance(nik, str) and _NIK.match(nik) else None,
    )


def follow_ups_of(value: Any) -> tuple[FollowUp, ...]:
    out = []
    for item in list_field(value, "tanggapan"):
        if not isinstance(item, Mapping) or "id" not in item:
            raise NormalizeError("a tanggapan entry is malformed")
        out.append(
            FollowUp(
                id=str(item["id"]),
                author=_text(item.get("oleh"), "tanggapan.oleh"),
                content=_text(item.get("isi"), "tanggapan.isi"),
                at=_time(item.get("waktu"), "tanggapan.waktu"),
                ref=item.get("ref") if isinstance(item.get("ref"), str) else None,
            )
        )
    return tuple(out)


def attachments_of(value: Any) -> tuple[Attachment, ...]:
    urls = list_field(value, "foto")
    return tuple(Attachment(url=url) for url in urls if isinstance(url, str) and url)


def display_id_of(payload: Any) -> str | None:
    """The aduan's ``nomor`` (``TJK-2026-000004``), the number shown to the citizen."""
    nomor = payload.get("nomor") if isinstance(payload, Mapping) else None
    return nomor if isinstance(nomor, str) else None


def normalize(
    payload: Mapping[str, Any],
    *,
    source: str,
    region: str,
    categories: Mapping[str, str] | None = None,
) -> Complaint:
    """One aduan as a canonical complaint; raises ``NormalizeError`` naming the bad field."""
    if not isinstance(payload, Mapping):
        raise NormalizeError("the record is not an object")
    local_id = payload.get("id")
    if not isinstance(local_id, int) or isinstance(local_id, bool) or local_id <= 0:
        raise NormalizeError("id is missing or not a positive integer")
    status_name = payload.get("status")
    if not isinstance(status_name, str) or status_name not in STATUSES:
        raise NormalizeError("status is not one of baru/diverifikasi/diproses/selesai/ditolak")
    judul = _text(payload.get("judul"), "judul")
    isi = _text(payload.get("isi"), "isi")
    if not (judul.strip() or isi.strip()):
        raise NormalizeError("the aduan has neither judul nor isi")
    kategori = _text(payload.get("kategori"), "kategori")
    mapping = {**CATEGORIES, **(categories or {})}
    anonymous = _bool(payload.get("anonim"), "anonim")
    opd = payload.get("opd")
    with model_refusals():
        return Complaint(
            source=source,
            local_id=str(local_id),
            display_id=display_id_of(payload),
            title=judul,
            content=isi or judul,
            category=mapping.get(kategori, FALLBACK),
            local_category=kategori or None,
            status=STATUSES[status_name],
            local_status=status_name,
            anonymous=anonymous,
            confidential=_bool(payload.get("rahasia"), "rahasia"),
            reporter=reporter_of(payload.get("pelapor"), anonymous),
            location=location_of(payload.get("lokasi")),
            attachments=attachments_of(payload.get("foto")),
            follow_ups=follow_ups_of(payload.get("tanggapan")),
            agency=opd if isinstance(opd, str) and opd else None,
            region=region,
            national_id=national_id_of(payload.get("lapor_id")),
            created_at=_time(payload.get("dibuat_pada"), "dibuat_pada"),
            updated_at=_time(payload.get("diperbarui_pada"), "diperbarui_pada"),
        )


def local_category(path: str, overrides: Mapping[str, str] | None = None) -> str:
    """LAPOR topic path → Tanjak kategori: the exact path, else its topic, else ``lainnya``."""
    return app_category(path, {**CATEGORIES, **(overrides or {})}, CATEGORIES, LOCAL_FALLBACK)
