"""Structured logging with redaction.

Citizens' names, phone numbers, NIK, and every token or secret are removed
from log lines, exception texts included, by :func:`redact`, which runs
after exceptions are formatted and before rendering. Tracebacks never show
local variables.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog
from structlog.tracebacks import ExceptionDictTransformer

MASK = "[redacted]"

#: keys whose value is personal data or a credential, whatever it looks like
SENSITIVE_KEYS = frozenset(
    {
        "name", "nama", "username", "user_name", "username_", "usernname",
        "phone", "hp", "userphone", "user_phone", "telp", "nik", "email",
        "pelapor", "reporter", "first_name", "last_name",
        "token", "access_token", "api_key", "api_secret", "apikey", "client_secret",
        "password", "secret", "authorization", "x-api-key", "cookie",
    }
)  # fmt: skip

_PATTERNS = (
    # Bearer / token header values and GUID tokens
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), r"\1 " + MASK),
    (re.compile(r"\{?[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}\}?"), MASK),
    # NIK: 16 digits
    (re.compile(r"(?<!\d)\d{16}(?!\d)"), MASK),
    # Indonesian phone numbers as citizens type them: 08…, +628…, 628…, with spaces or dashes
    (re.compile(r"(?<![\w])(?:\+?62|0)[\s-]?8\d(?:[\s-]?\d){6,11}(?!\d)"), MASK),
    # key=value secrets in URLs or forms
    (
        re.compile(r"(?i)\b(api_key|client_secret|password|access_token|token)=[^&\s\"']+"),
        r"\1=" + MASK,
    ),
)  # fmt: skip


def redact_text(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {
            k: (MASK if str(k).lower() in SENSITIVE_KEYS else redact_value(v))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact_value(v) for v in value]
    return value


def redact(
    logger: Any, method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask sensitive keys and scrub every string value."""
    for key in list(event_dict):
        if key.lower() in SENSITIVE_KEYS:
            event_dict[key] = MASK
        else:
            event_dict[key] = redact_value(event_dict[key])
    return event_dict


#: syslog severities (RFC 5424), which journald reads from a JSON line's ``priority``
#: (``journalctl -p warning`` shows 0–4)
PRIORITY = {"critical": 2, "exception": 3, "error": 3, "warning": 4, "warn": 4,
            "info": 6, "debug": 7, "notset": 7}  # fmt: skip


def add_priority(
    logger: Any, method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: the line's syslog ``priority``, from its level."""
    level = str(event_dict.get("level", method)).lower()
    event_dict["priority"] = PRIORITY.get(level, 6)
    return event_dict


class _Stderr:
    """Whatever ``sys.stderr`` is at the time of writing (tests and CLIs swap it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


def configure(level: str = "info", fmt: str = "auto", stream: Any = None) -> None:
    """Set up structlog: JSON lines by default, console on a TTY when ``fmt`` is auto."""
    stream = stream if stream is not None else _Stderr()
    console = fmt == "console" or (fmt == "auto" and stream.isatty())
    renderer: Any
    if console:
        renderer = structlog.dev.ConsoleRenderer(
            exception_formatter=structlog.dev.plain_traceback, colors=False
        )
        exc_processor: Any = structlog.processors.format_exc_info
    else:
        renderer = structlog.processors.JSONRenderer(ensure_ascii=False)
        exc_processor = structlog.processors.ExceptionRenderer(
            ExceptionDictTransformer(show_locals=False)
        )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            # JSON lines say their syslog priority; a console reader sees the level
            *([] if console else [add_priority]),
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            exc_processor,
            redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
