"""In-memory implementations of the core's ports, with scripted faults, for property tests.

Integration tests use the real sandboxes over HTTP; these fakes let hypothesis
run hundreds of random histories a second against the real engine and store.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from bridge.core.errors import Ambiguous, NormalizeError, Rejected, Unavailable
from bridge.core.model import (
    Attachment,
    Complaint,
    FollowUp,
    NationalComplaint,
    NationalTicket,
    Status,
)
from bridge.core.ports import CreateRequest, Page, Photo, RawRecord

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Crash(BaseException):
    """A kill at a chosen moment."""


class FakeNational:
    account = "acct"
    create_timeout = 0.0

    def __init__(self, capabilities: frozenset[str] = frozenset()) -> None:
        self.capabilities = capabilities
        self.complaints: dict[int, dict[str, Any]] = {}
        self.next_id = 1000
        #: consumed one per create: "ok", "lost" (applied, answer lost), "down", "crash"
        self.create_faults: list[str] = []

    def check(self) -> None:
        return None

    def upload(self, files: Sequence[Photo]) -> list[int]:
        return []

    def prepare_create(
        self, complaint: Complaint, tags: tuple[str, ...], attachment_ids: Sequence[int]
    ) -> CreateRequest:
        return CreateRequest(tag=tags[-1], body={"tags": list(tags), "title": complaint.title})

    def _ticket(self, item: dict[str, Any]) -> NationalTicket:
        return NationalTicket(
            id=item["id"],
            status_code=10,
            status=Status.SUBMITTED,
            tags=tuple(item["tags"]),
            markers=tuple(item["tags"][-1:]),
            created_at=T0,
            updated_at=T0,
        )

    def create(self, request: CreateRequest) -> NationalTicket:
        fault = self.create_faults.pop(0) if self.create_faults else "ok"
        if fault == "down":
            raise Unavailable("LAPOR down")
        self.next_id += 1
        item = {"id": self.next_id, "tags": list(request.body["tags"])}
        self.complaints[item["id"]] = item
        if fault == "lost":
            raise Ambiguous("answer lost")
        if fault == "crash":
            raise Crash("killed after the POST")
        return self._ticket(item)

    def find_by_tag(self, tag: str) -> list[NationalTicket]:
        assert "tag_search" in self.capabilities, "tag search is a capability"
        return self.carrying(tag)

    def carrying(self, tag: str) -> list[NationalTicket]:
        """What an operator finds on LAPOR's site for a record (any profile)."""
        return [self._ticket(c) for c in self.complaints.values() if tag in c["tags"]]

    def tagged(self, tag: str) -> Iterator[list[NationalTicket]]:
        yield self.find_by_tag(tag)

    def get(self, national_id: int) -> NationalTicket | None:
        item = self.complaints.get(national_id)
        return self._ticket(item) if item else None

    def follow_ups(self, national_id: int) -> list[FollowUp]:
        return []

    def complaint(self, national_id: int) -> NationalComplaint | None:
        item = self.complaints.get(national_id)
        if item is None:
            return None
        return NationalComplaint(
            id=item["id"],
            title="t" * 10,
            content="c" * 20,
            category="TOPIK LAINNYA",
            status=Status.SUBMITTED,
            status_code=10,
            tags=tuple(item["tags"]),
            created_at=T0,
            updated_at=T0,
        )

    def inbox(self, updated_from: datetime) -> Iterator[list[NationalComplaint]]:
        return iter(())  # nothing is disposed to this fake account

    def add_follow_up(
        self, national_id: int, content: str, done: bool, files: Sequence[Photo] = ()
    ) -> str | None:
        raise Rejected(403, "not disposed to this agency")

    def reject(self, national_id: int, reason: str) -> None:
        raise Rejected(403, "not disposed to this agency")

    def status_code(self, status: Status) -> int | None:
        return None  # this fake never closes a complaint itself

    def close(self) -> None:
        return None


class FakeSource:
    name = "fake"
    account = "acct"

    def __init__(self) -> None:
        self.records: dict[str, dict[str, Any]] = {}
        self.clock = 0
        self.page_size = 3
        self.link_faults: list[str] = []

    def touch(self, local_id: str, **changes: Any) -> None:
        self.clock += 1
        record = self.records.setdefault(local_id, {"id": local_id, "text": "", "link": None})
        record.update(changes)
        record["updated"] = self.clock

    def pull(self, cursor: str | None) -> Iterator[Page]:
        since = int(cursor or 0)
        ordered = sorted(self.records.values(), key=lambda r: (r["updated"], r["id"]))
        items = [dict(r) for r in ordered if r["updated"] >= since]
        for start in range(0, len(items), self.page_size):
            chunk = items[start : start + self.page_size]
            yield Page([RawRecord(r["id"], r) for r in chunk], str(chunk[-1]["updated"]))

    def fetch(self, local_id: str) -> RawRecord | None:
        record = self.records.get(local_id)
        return RawRecord(local_id, dict(record)) if record else None

    def normalize(self, raw: RawRecord) -> Complaint:
        text = raw.payload["text"]
        if text == "BAD":
            raise NormalizeError("unreadable")
        return Complaint(
            source=self.name,
            local_id=raw.local_id,
            title=f"Keluhan nomor {raw.local_id}",
            content=f"{text} — isi keluhan warga yang cukup panjang",
            category="TOPIK LAINNYA",
            status=Status.SUBMITTED,
            local_status="baru",
            region="21.72",
            national_id=raw.payload["link"],
            created_at=T0,
            updated_at=T0 + timedelta(seconds=raw.payload["updated"]),
        )

    def fetch_attachment(self, attachment: Attachment) -> bytes:
        raise Unavailable("no photos here")

    def link_national(self, local_id: str, national_id: int) -> None:
        fault = self.link_faults.pop(0) if self.link_faults else "ok"
        if fault == "down":
            raise Unavailable("city app down")
        self.clock += 1
        self.records[local_id]["link"] = national_id
        self.records[local_id]["updated"] = self.clock

    def close(self) -> None:
        return None
