"""Phone numbers as E.164, however the citizen typed them."""

from __future__ import annotations

import phonenumbers


def normalize_phone(raw: str | None, region: str = "ID") -> str | None:
    """``0812-3456 7890`` / ``62812…`` / ``+62812…`` → ``+62812…``; ``None`` if not a number."""
    if raw is None:
        return None
    text = raw.strip()
    if not text:
        return None
    digits = "".join(ch for ch in text if ch.isdigit())
    if not text.startswith("+") and digits.startswith("62") and len(digits) >= 10:
        text = "+" + digits
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
