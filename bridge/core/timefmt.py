"""Time zones and formats: compare in UTC, display in WIB."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone

WIB = timezone(timedelta(hours=7), "WIB")


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_wib(value: datetime) -> datetime:
    return value.astimezone(WIB)


def to_utc(value: datetime) -> datetime:
    """An aware time in UTC; ``ValueError`` when it has no offset or cannot be one in UTC
    (``0001-01-01T00:00:00+07:00`` lies before the first representable instant)."""
    if value.tzinfo is None:
        raise ValueError("the time has no offset")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("the time is outside the range of representable times") from None


def not_after_now(moment: datetime) -> datetime:
    """``moment``, or now when it lies ahead: what a cursor may hold. A record dated in the
    future must not become a feed cursor, or every record filed before that date would be
    behind it and never read."""
    now = utcnow()
    return moment if moment <= now else now


def parse_rfc3339(text: str) -> datetime:
    """An RFC 3339 time; a date alone is midnight WIB (bridge.md). Raises ``ValueError``."""
    text = text.strip()
    if len(text) == 10:
        return to_utc(datetime.combine(date.fromisoformat(text), time(0), WIB))
    value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError(f"time {text!r} has no offset")
    return to_utc(value)


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
