"""The seam between the core and the adapters.

The core drives any local app through :class:`LocalSource` and the national
system through :class:`National`; it never imports an adapter. Adapters
raise the errors of :mod:`bridge.core.errors`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from bridge.core.model import (
    Attachment,
    Complaint,
    FollowUp,
    NationalComplaint,
    NationalTicket,
    Status,
)


@dataclass(frozen=True)
class RawRecord:
    """A local record as the app sent it; kept verbatim for quarantine."""

    local_id: str
    payload: Mapping[str, Any]
    #: the number the citizen sees, when the app has one besides the id (kept with a
    #: quarantined record: it cannot be normalized, and ``trace`` looks for it by this)
    display_id: str | None = None


@dataclass(frozen=True)
class Page:
    """Records from a feed, and the cursor to store once all of them are committed."""

    records: Sequence[RawRecord]
    cursor: str | None


class LocalSource(Protocol):
    """A city app, as the core sees it."""

    name: str
    account: str

    def pull(self, cursor: str | None) -> Iterator[Page]:
        """Records changed since ``cursor`` (``None``: from the start), page by page."""
        ...

    def cursor_for(self, since: datetime) -> str | None:
        """A cursor from which :meth:`pull` reads the records changed since ``since``."""
        ...

    def fetch(self, local_id: str) -> RawRecord | None:
        """One record, or ``None`` when the app does not know it."""
        ...

    def normalize(self, raw: RawRecord) -> Complaint:
        """The canonical complaint; raises ``NormalizeError`` for bad input."""
        ...

    def fetch_attachment(self, attachment: Attachment) -> bytes:
        """The bytes of one photo, with the app's credentials."""
        ...

    def link_national(self, local_id: str, national_id: int) -> None:
        """Write the national tracking id back to the local record (idempotent)."""
        ...

    def set_status(self, local_id: str, status: Status) -> None:
        """Move the local record to the app's value for ``status`` (idempotent)."""
        ...

    def add_response(self, local_id: str, response: FollowUp, ref: str) -> None:
        """Post a response in the app, carrying ``ref`` in the app's own reference field.

        Not idempotent in most apps: the engine reads the record's responses
        and looks for ``ref`` before posting again after a lost answer.
        """
        ...

    def create(self, complaint: NationalComplaint) -> Created:
        """Create a local record for a national inbox complaint, linked to it.

        Not idempotent: after a lost answer the engine calls :meth:`find_created`.
        An app that queues creates answers with a token instead of an id; the
        engine keeps the token and polls it with :meth:`poll_created`.
        """
        ...

    def poll_created(self, token: str) -> str | None:
        """The local id behind a create token, once the app has made the record."""
        ...

    def find_created(self, national_id: int, since: datetime) -> str | None:
        """The local id of a record linked to ``national_id`` changed since ``since``, if any."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Created:
    """The answer to a local create: the new record's id, or a token to poll for it."""

    local_id: str | None
    token: str | None = None


#: the prefix of every reference the bridge writes into an app's reference field
#: (``ref``, ``clientRef``, Open311 ``update_id``): what carries it is the bridge's own
BRIDGE_REF_PREFIX = "lb-"


@dataclass(frozen=True)
class Photo:
    """A photo ready for upload: checked to be an image, within the size limit."""

    name: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class CreateRequest:
    """A frozen create: the exact body that will be posted, and its identifying tag."""

    tag: str
    body: Mapping[str, Any]
    #: the LAPOR category the complaint is sent as when its own is not on LAPOR
    #: (its topic, or TOPIK LAINNYA); ``None`` when it resolved
    category_fallback: str | None = None


class National(Protocol):
    """LAPOR-SP4N through one agency's integration account.

    ``capabilities`` are lapor.md's modelled endpoints and fields the deployment
    configured (``tag_search``, ``inbox``, ``categories``, ``mark_completed``,
    ``reporter``); the core never calls one that is not there.
    """

    account: str
    capabilities: frozenset[str]
    #: seconds a create may take to answer; LAPOR may apply it until then (Recovery)
    create_timeout: float

    def check(self) -> None:
        """Reach LAPOR with the account's credentials and resolve its institution."""
        ...

    def upload(self, files: Sequence[Photo]) -> list[int]:
        """Upload photos; their ids go into a create."""
        ...

    def prepare_create(
        self, complaint: Complaint, tags: tuple[str, ...], attachment_ids: Sequence[int]
    ) -> CreateRequest:
        """Build the exact create body; nothing is sent."""
        ...

    def create(self, request: CreateRequest) -> NationalTicket:
        """Post the create; raises ``Ambiguous`` when the answer was lost."""
        ...

    def find_by_tag(self, tag: str) -> list[NationalTicket]:
        """Capability ``tag_search``: complaints this account created with ``tag``."""
        ...

    def tagged(self, tag: str) -> Iterator[list[NationalTicket]]:
        """Capability ``tag_search``: every complaint with ``tag``, a page at a time."""
        ...

    def get(self, national_id: int) -> NationalTicket | None:
        """One complaint by id; ``None`` when LAPOR does not know it (``Rejected`` 403 when
        the account may not see it)."""
        ...

    def complaint(self, national_id: int) -> NationalComplaint | None:
        """One complaint with what the home app needs, or ``None`` when LAPOR does not know it."""
        ...

    def inbox(self, updated_from: datetime) -> Iterator[list[NationalComplaint]]:
        """Capability ``inbox``: complaints disposed to the account's agency changed since
        ``updated_from``, by page."""
        ...

    def follow_ups(self, national_id: int) -> list[FollowUp]:
        """Every follow-up, oldest first, disposition events left out; ``author`` is
        ``instansi`` (this account's institution), ``admin`` (another) or ``pelapor``."""
        ...

    def add_follow_up(
        self, national_id: int, content: str, done: bool, files: Sequence[Photo] = ()
    ) -> str | None:
        """Post a follow-up as the account's agency (the ``done`` template when ``done``),
        carrying ``files``; its id when LAPOR's answer shows one. Not idempotent."""
        ...

    def reject(self, national_id: int, reason: str) -> None:
        """Hand the complaint back as not the agency's authority."""
        ...

    def status_code(self, status: Status) -> int | None:
        """LAPOR's own code for a complaint the bridge itself brought to ``status`` (marked
        completed: done); ``None`` where LAPOR has no one code for it."""
        ...

    def close(self) -> None: ...
