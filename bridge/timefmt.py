"""Time zones and formats: compare in UTC, display in WIB."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone

WIB = timezone(timedelta(hours=7), "WIB")


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_wib(value: datetime) -> datetime:
    return value.astimezone(WIB)


def parse_rfc3339(text: str) -> datetime:
    """An RFC 3339 time; a date alone is midnight WIB (bridge.md). Raises ``ValueError``."""
    text = text.strip()
    if len(text) == 10:
        return datetime.combine(date.fromisoformat(text), time(0), WIB).astimezone(UTC)
    value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError(f"time {text!r} has no offset")
    return value.astimezone(UTC)


def rfc3339(value: datetime | None) -> str:
    """For machines (wire, cursors): UTC, seconds, ``Z``; empty for ``None``."""
    if value is None:
        return ""
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def display(value: datetime | None) -> str:
    """For people (status, reports): RFC 3339 in WIB, ``+07:00``; empty for ``None``."""
    if value is None:
        return ""
    return value.astimezone(WIB).isoformat(timespec="seconds")
