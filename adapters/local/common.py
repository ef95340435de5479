"""Small pieces every city adapter needs the same way, and :class:`AppSource`, the part of
a city app's client that every app has alike."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar, Generic, Protocol, TypeVar
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bridge.core.errors import NormalizeError, NotFound, Rejected
from bridge.core.model import Attachment, Complaint
from bridge.core.ports import RawRecord
from bridge.runtime.http import Endpoint, RateLimiter

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


def list_field(value: Any, field: str) -> list[Any]:
    """A list field: ``None`` reads as empty; anything else but a list is an error naming it."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise NormalizeError(f"{field} is not a list")
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
    return get_photo(endpoint, url)


def get_photo(endpoint: Endpoint, url: str) -> bytes:
    """A photo's bytes from a URL already found on the app's origin; an error answer is
    ``Rejected``."""
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


def rate_limiter(requests_per_second: float) -> RateLimiter:
    """An app's rate limit: bursts of one second's worth of requests (at least one)."""
    return RateLimiter(requests_per_second, burst=max(1, int(requests_per_second)))


class AppConfig(BaseModel):
    """The ``[sources.NAME]`` keys every city app has; each app's model adds its own (the
    settings have checked the shared ones already: ``bridge.runtime.settings.SourceSection``)."""

    model_config = ConfigDict(extra="forbid")

    account: str
    base_url: str
    location_id: int  # LAPOR's region id; the LAPOR side sends it
    categories: dict[str, str] = Field(default_factory=dict)
    requests_per_second: float = Field(default=10.0, gt=0)
    timeout_seconds: float = Field(default=30.0, gt=0)


class Normalizer(Protocol):
    """An app's ``normalize``: one record's payload as a canonical complaint; a bad record
    raises ``NormalizeError`` naming the field."""

    def __call__(
        self,
        payload: Mapping[str, Any],
        *,
        source: str,
        region: str,
        categories: Mapping[str, str] | None = None,
    ) -> Complaint: ...


ConfigT = TypeVar("ConfigT", bound=AppConfig)


class AppSource(ABC, Generic[ConfigT]):
    """The part of a city app's ``bridge.core.ports.LocalSource`` every app has alike.

    An app's client subclasses it, passes its normalizer, and writes what differs: its
    feed, its writes, its creates, and these hooks:

    * :meth:`_record`: one record, raising ``NotFound`` when the app has none
      (:meth:`fetch` answers ``None`` then);
    * :attr:`sends_credentials`: whether the app's requests carry a secret;
    * :meth:`fetch_attachment`, :meth:`poll_created` and :meth:`close`, where the app
      does more than the default.
    """

    #: the app's requests carry a secret (a key, a login, a token): a photo off the app's
    #: origin is refused saying it goes nowhere else
    sends_credentials: ClassVar[bool] = True

    def __init__(
        self, name: str, config: ConfigT, endpoint: Endpoint, normalizer: Normalizer
    ) -> None:
        self.name = name
        self.account = config.account
        self.config = config
        self.endpoint = endpoint
        self._normalizer = normalizer

    @abstractmethod
    def _record(self, local_id: str) -> RawRecord:
        """One record as the app shows it now; ``NotFound`` when it has none (each app's)."""

    def fetch(self, local_id: str) -> RawRecord | None:
        """One record as the app shows it now; ``None`` when the app has no such record."""
        try:
            return self._record(local_id)
        except NotFound:
            return None

    def normalize(self, raw: RawRecord) -> Complaint:
        """A record as a canonical complaint: the app's normalizer with this source's name,
        LAPOR region and category map."""
        return self._normalizer(
            raw.payload,
            source=self.name,
            region=str(self.config.location_id),
            categories=self.config.categories,
        )

    def fetch_attachment(self, attachment: Attachment) -> bytes:
        """The photo, with the app's credentials if it sends any: only from ``base_url``'s
        scheme, host and port (:func:`require_same_origin`, then :func:`fetch_photo`)."""
        base_url = self.config.base_url
        require_same_origin(base_url, attachment.url, credentials=self.sends_credentials)
        return fetch_photo(self.endpoint, urlsplit(base_url).netloc, attachment.url)

    def poll_created(self, token: str) -> str | None:
        """``None``: an app that creates synchronously never hands out tokens."""
        return None

    def close(self) -> None:
        self.endpoint.client.close()
