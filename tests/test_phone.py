"""Phone numbers as E.164: the fast path for plainly written numbers agrees with phonenumbers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.core.phone import normalize_phone, parse_phone


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
    assert normalize_phone(raw) == parse_phone(raw)


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


def test_every_prefix_length_and_leading_digit_normalizes_as_phonenumbers_does() -> None:
    """Where the fast path's bounds are: every length and leading digit after each prefix."""
    for prefix in ["+62", "62", "0", "+620", "", "8", "+1", "00", "+62 (0)"]:
        for lead in "0123456789":
            for length in range(17):
                raw = f"{prefix}{lead}{'7' * length}" if length else prefix
                assert normalize_phone(raw) == parse_phone(raw), raw
                spaced = f"{prefix} {lead}{'-'.join('7' * length)}"
                assert normalize_phone(spaced) == parse_phone(spaced), spaced
