"""The canonical complaint model every adapter normalizes into.

Times are aware datetimes in UTC; phone numbers are E.164 (``+62…``);
categories are LAPOR topic names (``"TOPIC"`` or ``"TOPIC/SUBTOPIC"``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr

from bridge.core.timefmt import to_utc

#: times outside these are sentinels or typos, not a complaint's moments ("0001-01-01" is
#: many a server's "no date"); they are refused so that date arithmetic (the duplicate
#: check's ± 72 h window, working-day counts) never meets the ends of datetime's range
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
#: the canonical category of a complaint no other topic fits: every app's "other", and
#: where a category LAPOR lacks is sent (canonical categories are LAPOR's topic paths)
CATCH_ALL_TOPIC = "TOPIK LAINNYA"


def _utc(value: datetime) -> datetime:
    moment = to_utc(value)
    if not EARLIEST <= moment < LATEST:
        raise ValueError(f"the year {moment.year} is not a plausible time for a complaint")
    return moment


UtcDatetime = Annotated[datetime, AfterValidator(_utc)]


class Status(StrEnum):
    """Canonical status; see bridge.md for each side's values."""

    SUBMITTED = "submitted"
    VERIFIED = "verified"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    REJECTED = "rejected"

    @property
    def rank(self) -> int:
        return _RANK[self]

    @property
    def terminal(self) -> bool:
        return self in (Status.DONE, Status.REJECTED)


_RANK = {
    Status.SUBMITTED: 0,
    Status.VERIFIED: 1,
    Status.IN_PROGRESS: 2,
    Status.DONE: 3,
    Status.REJECTED: 3,
}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Reporter(_Frozen):
    """The citizen. Every field is personal data: never logged, never exported."""

    name: SecretStr | None = None
    phone: SecretStr | None = None  # E.164
    email: SecretStr | None = None
    nik: SecretStr | None = None


class Location(_Frozen):
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    address: str | None = None


class Attachment(_Frozen):
    """A photo the local app holds; fetched only when it is sent."""

    url: str
    content_type: str | None = None


class FollowUp(_Frozen):
    """A response on either side: a city agency's answer, an admin's or a reporter's note."""

    id: str
    author: str
    content: str
    at: UtcDatetime
    ref: str | None = None  # the writer's own reference, when the side keeps one


class Complaint(_Frozen):
    """One local record, normalized."""

    source: str
    local_id: str = Field(min_length=1, max_length=200)  # it goes into URLs and tags
    display_id: str | None = None
    title: str
    content: str
    category: str  # LAPOR topic name, "TOPIC" or "TOPIC/SUBTOPIC"
    local_category: str | None = None
    status: Status
    local_status: str
    anonymous: bool = False
    confidential: bool = False
    reporter: Reporter | None = None
    location: Location | None = None
    attachments: tuple[Attachment, ...] = ()
    follow_ups: tuple[FollowUp, ...] = ()
    agency: str | None = None
    region: str  # LAPOR location_id of the city, e.g. "21.72"
    national_id: int | None = None  # the link field, when the local side already names one
    #: the app's own word that this record repeats another of its records (Open311's
    #: ``parent_service_request_id``): linked to that record's national complaint
    parent_local_id: str | None = None
    created_at: UtcDatetime
    updated_at: UtcDatetime


class NationalTicket(_Frozen):
    """What the bridge keeps of a LAPOR complaint.

    ``status`` is ``None`` when LAPOR shows a status name the bridge does not know: it
    moves nothing and is reported (lapor.md); ``status_name`` is LAPOR's words.
    """

    id: int
    status_code: int | None
    status: Status | None
    status_name: str | None = None
    disposition_id: int | None = None
    disposition_name: str | None = None
    tags: tuple[str, ...] = ()
    #: the ``[ext-…]`` markers its content carries (lapor.md, Recovery)
    markers: tuple[str, ...] = ()
    created_at: UtcDatetime
    updated_at: UtcDatetime

    @property
    def tracking_id(self) -> str:
        return f"#{self.id}"

    @property
    def floor_status(self) -> Status:
        """The status to record when nothing better is known: an unknown name is no move."""
        return self.status or Status.SUBMITTED


class NationalComplaint(_Frozen):
    """A LAPOR complaint as the home app needs it to create a local record.

    ``reporter`` is ``None`` whenever LAPOR hides it (anonymous or confidential).
    """

    id: int
    title: str
    content: str
    category: str  # LAPOR path, "TOPIC" or "TOPIC/SUBTOPIC"
    status: Status | None  # None: a status name the bridge does not know (moves nothing)
    status_code: int | None
    status_name: str | None = None
    anonymous: bool = False
    confidential: bool = False
    reporter: Reporter | None = None
    location: Location | None = None
    disposition_id: int | None = None
    disposition_name: str | None = None
    archive_reason: str | None = None
    tags: tuple[str, ...] = ()
    markers: tuple[str, ...] = ()  # the ``[ext-…]`` markers its content carries
    created_at: UtcDatetime
    updated_at: UtcDatetime

    @property
    def tracking_id(self) -> str:
        return f"#{self.id}"
