"""Fitting a citizen's words into LAPOR's title (10–150) and content (20–5000) rules.

Nothing the citizen wrote is dropped silently: a title cut from the text
keeps the whole text in the content; a text longer than the content limit is
cut at a word boundary with a note saying where the full text lives.

And the other way, outside text made safe for the spreadsheet it lands in
(:func:`spreadsheet_safe`).
"""

from __future__ import annotations

import re
import unicodedata

TITLE_MIN, TITLE_MAX = 10, 150
CONTENT_MIN, CONTENT_MAX = 20, 5000
_SPACES = re.compile(r"[ \t\r\f\v]+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s")
#: the control characters :func:`clean` keeps, as spaces: what else is left is printable
_KEPT_CONTROLS = str.maketrans("\n\t", "  ")


def clean(text: str | None) -> str:
    """Text as a person would read it: control characters removed, spaces collapsed."""
    if not text:
        return ""
    if text.isprintable():  # the common case: no control character (nor newline) at all
        return _SPACES.sub(" ", text).strip()
    if text.translate(_KEPT_CONTROLS).isprintable():
        kept = text  # lines and tabs only (a composed content): no control character to remove
    else:
        kept = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C")
    lines = [_SPACES.sub(" ", line).strip() for line in kept.splitlines()]
    return "\n".join(line for line in lines if line)


def _cut(text: str, limit: int, marker: str = "…") -> str:
    if len(text) <= limit:
        return text
    room = limit - len(marker)
    head = text[:room]
    space = head.rfind(" ")
    if space >= room // 2:
        head = head[:space]
    return head.rstrip(" ,.;:-") + marker


def compose_title(title: str | None, content: str, fallback: str) -> str:
    """A title of 10–150 characters: the citizen's own, else the text's first sentence."""
    title = clean(title).replace("\n", " ")
    if len(title) < TITLE_MIN:
        body = clean(content).replace("\n", " ")
        first = _SENTENCE_END.split(body, maxsplit=1)[0] if body else ""
        title = first if len(first) >= TITLE_MIN else (body or title)
    if len(title) < TITLE_MIN:
        title = f"{fallback}: {title}".strip(": ") if title else fallback
    if len(title) < TITLE_MIN:
        title = title.ljust(TITLE_MIN, ".")
    return _cut(title, TITLE_MAX)


def compose_content(content: str, context: list[str], where: str, marker: str = "") -> str:
    """The citizen's text: completed with context when too short, cut with a note when too long.

    ``marker`` (the bridge's ``[ext-…]``) is the first line, and counts within the limits.
    """
    if marker:
        rest = compose_content(content, context, where)
        room = CONTENT_MAX - len(marker) - 1
        if len(rest) > room:
            note = f"\n\n[Teks dipotong; teks lengkap di {where}]"
            rest = _cut(clean(content), room - len(note)) + note
        return f"{marker}\n{rest}"
    body = clean(content)
    if len(body) < CONTENT_MIN:
        extra = "\n".join(line for line in context if line)
        body = f"{body}\n\n{extra}".strip() if extra else body
    if len(body) < CONTENT_MIN:
        body = f"{body}\n\n(Laporan dari {where})".strip()
    if len(body) > CONTENT_MAX:
        note = f"\n\n[Teks dipotong; teks lengkap di {where}]"
        body = _cut(body, CONTENT_MAX - len(note)) + note
    return body


#: what a spreadsheet reads as the start of a formula (OWASP, "CSV Injection")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?"
    r"(?:[Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def spreadsheet_safe(value: str) -> str:
    """A CSV cell a spreadsheet shows as text, never runs as a formula (OWASP's rule).

    A cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return
    gets a leading ``'``; a plain number (``-3.5``) or an RFC 3339 time is left
    as it is. Every CSV the bridge writes goes through here; JSON and HTML do not.
    """
    if not value or not value.startswith(FORMULA_START):
        return value
    if _PLAIN_NUMBER.fullmatch(value) or _RFC3339.fullmatch(value):
        return value
    return "'" + value
