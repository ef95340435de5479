"""In-memory two-way sides for property tests: an app's record and a LAPOR complaint.

The HTTP state machine (tests/test_two_way_machine.py) drives the real sandboxes; these
let hypothesis run many more histories of the two-way rules (bridge/core/plan.py, performed by
bridge/sync/twoway.py on a real store) without a socket. Both keep every write, so a test can
count what the bridge carried across; each write can be given a fault: ``down`` (refused
before it is made), ``lost`` (made, its answer lost).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from bridge.core.errors import Ambiguous, Rejected, Unavailable
from bridge.core.model import Attachment, Complaint, FollowUp, NationalComplaint, Status
from bridge.core.ports import Photo, RawRecord

T0 = datetime(2026, 2, 1, tzinfo=UTC)
OPEN_ON_LAPOR = (Status.VERIFIED, Status.IN_PROGRESS)


class Clock:
    """One clock for both sides: every change a second later than the last."""

    def __init__(self) -> None:
        self.ticks = 0

    def tick(self) -> datetime:
        self.ticks += 1
        return T0 + timedelta(seconds=self.ticks)


def _fault(faults: list[str]) -> str:
    fault = faults.pop(0) if faults else "ok"
    if fault == "down":
        raise Unavailable("the other side is down")
    return fault


class MemoryApp:
    """A city app holding one record per local id: its status and its responses."""

    name = "app"
    account = "acct"

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.status: dict[str, Status] = {}
        self.responses: dict[str, list[FollowUp]] = {}
        #: consumed one per write (set_status, add_response)
        self.faults: list[str] = []

    def add(self, local_id: str) -> None:
        self.status[local_id] = Status.SUBMITTED
        self.responses[local_id] = []

    def respond(self, local_id: str, content: str) -> FollowUp:
        """The city's own response, typed in its app."""
        items = self.responses[local_id]
        said = FollowUp(id=f"r{len(items)}", author="Petugas", content=content,
                        at=self.clock.tick())  # fmt: skip
        items.append(said)
        return said

    def fetch(self, local_id: str) -> RawRecord | None:
        if local_id not in self.status:
            return None
        return RawRecord(local_id, {"id": local_id})

    def normalize(self, raw: RawRecord) -> Complaint:
        local_id = raw.local_id
        return Complaint(
            source=self.name,
            local_id=local_id,
            title=f"Keluhan nomor {local_id}",
            content="Isi keluhan warga yang cukup panjang.",
            category="TOPIK LAINNYA",
            status=self.status[local_id],
            local_status=self.status[local_id].value,
            region="21.72",
            follow_ups=tuple(self.responses[local_id]),
            created_at=T0,
            updated_at=T0,
        )

    def set_status(self, local_id: str, status: Status) -> None:
        fault = _fault(self.faults)
        self.status[local_id] = status
        if fault == "lost":  # made, its answer lost; a status is set again safely: the
            raise Unavailable("the app's answer was lost")  # client retries, then gives up

    def add_response(self, local_id: str, response: FollowUp, ref: str) -> None:
        fault = _fault(self.faults)
        items = self.responses[local_id]
        items.append(FollowUp(id=f"r{len(items)}", author=response.author,
                              content=response.content, at=self.clock.tick(), ref=ref))  # fmt: skip
        if fault == "lost":
            raise Ambiguous("the app's answer was lost")

    def fetch_attachment(self, attachment: Attachment) -> bytes:
        raise Unavailable("no photos here")

    def close(self) -> None:
        return None


class MemoryLapor:
    """LAPOR-SP4N's complaints as two-way sync sees them: status, follow-ups, hand-backs.

    Follow-ups and hand-backs need the complaint disposed to the agency (verified or in
    progress; ``403`` otherwise, closed included); a follow-up marked done completes it; a
    hand-back returns it to the admin, undisposed."""

    account = "acct"
    capabilities: frozenset[str] = frozenset()

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.status: dict[int, Status] = {}
        self.items: dict[int, list[FollowUp]] = {}
        self.updated: dict[int, datetime] = {}
        self.archive_reason: dict[int, str] = {}
        self.faults: list[str] = []
        self.next_id = 0

    def add(self, national_id: int) -> None:
        self.status[national_id] = Status.SUBMITTED
        self.items[national_id] = []
        self.updated[national_id] = self.clock.tick()

    def move(self, national_id: int, status: Status, reason: str | None = None) -> None:
        """LAPOR's own people move the complaint (verify, process, finish, archive)."""
        self.status[national_id] = status
        if status == Status.REJECTED and reason:
            self.archive_reason[national_id] = reason
        self.updated[national_id] = self.clock.tick()

    def write(self, national_id: int, author: str, content: str) -> FollowUp:
        """A follow-up typed on LAPOR's site: ``admin``, ``pelapor`` or ``instansi``."""
        self.next_id += 1
        item = FollowUp(id=str(self.next_id), author=author, content=content,
                        at=self.clock.tick())  # fmt: skip
        self.items[national_id].append(item)
        self.updated[national_id] = item.at
        return item

    def complaint(self, national_id: int) -> NationalComplaint:
        status = self.status[national_id]
        return NationalComplaint(
            id=national_id,
            title="Keluhan warga",
            content="Isi keluhan warga yang cukup panjang.",
            category="TOPIK LAINNYA",
            status=status,
            status_code=self.status_code(status),
            archive_reason=self.archive_reason.get(national_id),
            created_at=T0,
            updated_at=self.updated[national_id],
        )

    def follow_ups(self, national_id: int) -> list[FollowUp]:
        return list(self.items[national_id])

    def add_follow_up(
        self, national_id: int, content: str, done: bool, files: Sequence[Photo] = ()
    ) -> str | None:
        fault = _fault(self.faults)
        if self.status[national_id] not in OPEN_ON_LAPOR:
            raise Rejected(403, "not disposed to this agency")
        item = self.write(national_id, "instansi", content)
        if done:
            self.move(national_id, Status.DONE)
        if fault == "lost":
            raise Ambiguous("LAPOR's answer was lost")
        return item.id

    def reject(self, national_id: int, reason: str) -> None:
        fault = _fault(self.faults)
        if self.status[national_id] not in OPEN_ON_LAPOR:
            return  # back with the admin already (the client reads it so: nothing to hand back)
        self.move(national_id, Status.SUBMITTED)
        if fault == "lost":
            raise Ambiguous("LAPOR's answer was lost")

    def status_code(self, status: Status) -> int | None:
        codes = {Status.SUBMITTED: 10, Status.VERIFIED: 30, Status.IN_PROGRESS: 40,
                 Status.DONE: 60, Status.REJECTED: 90}  # fmt: skip
        return codes[status]

    def close(self) -> None:
        return None
