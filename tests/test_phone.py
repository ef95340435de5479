"""Phone numbers as E.164: the fast path for plainly written numbers agrees with phonenumbers."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.phone import normalize_phone


def _by_phonenumbers(raw: str) -> str | None:
    """What ``normalize_phone`` answers when everything goes through phonenumbers' parser."""
    text = raw.strip()
    if not text:
        return None
    digits = "".join(ch for ch in text if ch.isdigit())
    if not text.startswith("+") and digits.startswith("62") and len(digits) >= 10:
        text = "+" + digits
    try:
        number = phonenumbers.parse(text, "ID")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@st.composite
def typed_numbers(draw: st.DrawFn) -> str:
    prefix = draw(st.sampled_from(["+62", "62", "0", "+620", "", "+", "8", "+1", "00", "620"]))
    digits = draw(st.text("0123456789", max_size=16))
    out = []
    for ch in prefix + digits:
        out.append(ch)
        out.append(draw(st.sampled_from(["", "", "", " ", "-", ".", "(", ")"])))
    return "".join(out)


@given(typed_numbers())
def test_plainly_written_numbers_normalize_as_phonenumbers_does(raw: str) -> None:
    assert normalize_phone(raw) == _by_phonenumbers(raw)


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("0812-3456-7890", "+6281234567890"),
        ("62 811-3091-1417", "+6281130911417"),
        ("+62 (771) 21234", "+6277121234"),
        ("0812", None),
        ("bukan nomor", None),
        ("", None),
        (None, None),
    ],
)
def test_how_citizens_type_numbers(raw: str | None, e164: str | None) -> None:
    assert normalize_phone(raw) == e164
