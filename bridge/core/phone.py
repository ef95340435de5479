"""Phone numbers as E.164, however the citizen typed them."""

from __future__ import annotations

import re

import phonenumbers

# what most citizens type: an Indonesian number as +62…, 62… or 0…, with spaces, dashes,
# dots or brackets between the digits
_PLAIN = re.compile(r"\+?[0-9][0-9 ().-]*")


def normalize_phone(raw: str | None, region: str = "ID") -> str | None:
    """``0812-3456 7890`` / ``62812…`` / ``+62812…`` → ``+62812…``; ``None`` if not a number."""
    prepared = _prepare(raw)
    if prepared is None:
        return None
    text, digits = prepared
    if region == "ID" and _PLAIN.fullmatch(text):
        plain = _indonesian(text, digits)
        if plain is not None:
            return plain
    return _parsed(text, region)


def parse_phone(raw: str | None, region: str = "ID") -> str | None:
    """What :func:`normalize_phone` answers, always through ``phonenumbers``' parser: the
    reference its fast path is held to."""
    prepared = _prepare(raw)
    return _parsed(prepared[0], region) if prepared is not None else None


def _prepare(raw: str | None) -> tuple[str, str] | None:
    """The text to parse and its digits; ``62…`` without its ``+`` gets one."""
    text = raw.strip() if raw is not None else ""
    if not text:
        return None
    digits = "".join(ch for ch in text if ch.isdigit())
    if not text.startswith("+") and digits.startswith("62") and len(digits) >= 10:
        text = "+" + digits
    return text, digits


def _parsed(text: str, region: str) -> str | None:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _indonesian(text: str, digits: str) -> str | None:
    """The E.164 form of a plainly written Indonesian number, as ``phonenumbers`` gives it,
    without its parser (the costly part of normalizing a record); ``None``: ask it."""
    if text.startswith("+"):
        national = digits[2:] if digits.startswith("62") else None
    else:
        national = digits[1:] if digits.startswith("0") else None
    if national is None or not 8 <= len(national) <= 12 or national[0] not in "23456789":
        return None
    return "+62" + national
