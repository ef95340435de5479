"""Fitting citizens' words into LAPOR's title and content rules."""

from __future__ import annotations

import re
import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from bridge.core.text import (
    CONTENT_MAX,
    TITLE_MAX,
    TITLE_MIN,
    clean,
    compose_content,
    compose_title,
)


def _clean_char_by_char(text: str) -> str:
    """``clean`` as specified: every control character out, then each line's spaces."""
    kept = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C")
    lines = [re.sub(r"[ \t\r\f\v]+", " ", line).strip() for line in kept.splitlines()]
    return "\n".join(line for line in lines if line)


@given(st.text())
def test_clean_is_the_same_with_or_without_its_fast_path(text: str) -> None:
    assert clean(text) == _clean_char_by_char(text)


def test_clean_removes_control_characters_and_collapses_spaces() -> None:
    assert (
        clean("  Jalan\x00 rusak \u200b  parah \r\n\n\t di  Dompak ")
        == "Jalan rusak parah\ndi Dompak"
    )
    assert clean("Jalan  rusak   parah ") == "Jalan rusak parah"
    assert clean(None) == clean("") == ""


def test_title_and_content_keep_to_lapors_limits() -> None:
    title = compose_title(None, "Lampu mati. Sudah seminggu gelap di Jl. Ganet.", "PERHUBUNGAN")
    assert title == "Lampu mati."
    assert TITLE_MIN <= len(compose_title("x", "y", "TOPIK LAINNYA")) <= TITLE_MAX
    long = compose_content("kata " * 2000, [], "tanjak 7")
    assert len(long) <= CONTENT_MAX and long.endswith("[Teks dipotong; teks lengkap di tanjak 7]")
