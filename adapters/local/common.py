"""Small pieces every city adapter needs the same way."""

from __future__ import annotations

import math
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import httpx
from pydantic import ValidationError

from bridge.core.errors import NormalizeError, Rejected
from bridge.runtime.http import Endpoint

#: the words the city apps show for a status (any case), each with the English gloss an
#: auditor reads beside it in the report (:func:`status_names`)
STATUS_GLOSSES = {
    "baru": "new",
    "menunggu": "waiting",
    "diverifikasi": "verified",
    "terverifikasi": "verified",
    "diproses": "in progress",
    "selesai": "done",
    "ditolak": "rejected",
}


def text_field(value: Any, field: str) -> str:
    """A text field: ``None`` reads as empty; anything else but text is an error naming it."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise NormalizeError(f"{field} is not text")
    return value


def bool_field(value: Any, field: str) -> bool:
    """A true/false field: ``None`` reads as false; anything else but a bool is an error."""
    if value is None:
        return False
    if not isinstance(value, bool):
        raise NormalizeError(f"{field} is not true/false")
    return value


def fetch_photo(endpoint: Endpoint, host: str, url: str) -> bytes:
    """A photo's bytes with the app's credentials, only from the app's own host.

    A photo URL pointing elsewhere is never fetched: the credentials would go with it.
    """
    relative = url.startswith("/") and not url.startswith("//")
    if not relative and urlsplit(url).netloc != host:
        raise Rejected(0, "photo URL is not on the app's host; not fetched")
    response = endpoint.send("GET", url)
    if response.status_code >= 400:
        raise Rejected(response.status_code, f"photo answered HTTP {response.status_code}")
    return response.content


def same_origin(base_url: str, url: str) -> bool:
    """Whether ``url`` (absolute, or relative to ``base_url``) has ``base_url``'s scheme,
    host and port: the only place the app's credentials may go. ``http`` on an ``https``
    app's host is another origin (the credentials would cross the network in clear)."""
    try:
        base = httpx.URL(base_url)
        target = base.join(url)
    except httpx.InvalidURL:
        return False
    return (target.scheme, target.host, target.port) == (base.scheme, base.host, base.port)


def require_same_origin(base_url: str, url: str, *, credentials: bool = True) -> None:
    """Refuse a photo URL off the app's origin (:func:`same_origin`) before anything is
    sent to it; ``credentials``: the app's requests carry a secret, and the message says
    it goes nowhere else."""
    if not same_origin(base_url, url):
        why = "not fetched: the credentials go nowhere else" if credentials else "not fetched"
        raise Rejected(
            0, f"photo URL is not on the app's host (scheme, host and port of base_url); {why}"
        )


def number_field(value: Any) -> float | None:
    """A finite number, or one written as text (apps send coordinates both ways); ``None``
    when absent (``null``, blank) or unreadable."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def status_names(words: Mapping[Any, str]) -> dict[str, str]:
    """An app's raw statuses as an auditor reads them in the report: each key (as text, the
    way the report's ``local_status`` holds it) → its Indonesian word (the value),
    capitalised, with the English gloss of :data:`STATUS_GLOSSES`: ``Diproses (in progress)``.
    """
    return {
        str(raw): f"{word.capitalize()} ({STATUS_GLOSSES[word.lower()]})"
        for raw, word in words.items()
    }


def invalid(exc: ValidationError) -> NormalizeError:
    """A record the canonical model refuses, as the quarantine's reason: the first field
    and why (no input value: it may be personal data)."""
    first = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(p) for p in first["loc"])
    return NormalizeError(f"{where}: {first['msg']}")


@contextmanager
def model_refusals() -> Iterator[None]:
    """Where a normalizer builds its ``Complaint``: a value the canonical model refuses
    leaves as :func:`invalid`'s ``NormalizeError`` (the quarantine's reason), not as
    pydantic's error."""
    try:
        yield
    except ValidationError as exc:
        raise invalid(exc) from None


def app_category(
    path: str,
    mapping: Mapping[str, str],
    own: Collection[str],
    fallback: str,
    *,
    bare_topic_first: bool = False,
) -> str:
    """A LAPOR topic path → the app's own category, for records the bridge creates there:
    the category mapped to the exact path, else (``bare_topic_first``: an app whose codes
    for a bare topic mean "anything of it") the one mapped to its bare topic, else the
    first of the same topic, else ``fallback``. Only the app's ``own`` categories are
    answered (a configured override naming another could not be created)."""
    targets = {k: v.strip().upper() for k, v in mapping.items() if k in own}
    wanted = path.strip().upper()
    topic = wanted.split("/", 1)[0]
    steps = [
        [k for k, v in targets.items() if v == wanted],
        [k for k, v in targets.items() if bare_topic_first and v == topic],
        [k for k, v in targets.items() if v.split("/", 1)[0] == topic],
    ]
    return next((found[0] for found in steps if found), fallback)
