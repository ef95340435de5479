"""Deciding what to do with one local record: a pure function of state and input.

``plan(complaint, known)`` returns the actions; :mod:`bridge.sync.engine` performs
them. The rules that keep "one local record, one national complaint":

* a record already mapped is never created again, whatever changed in it;
* a record with a create in doubt (intent committed, no answer) is resolved
  by looking up its tag before anything is posted again;
* a record whose link field already names a national complaint is linked;
* only a record the bridge has never seen is created.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from bridge.core.model import Complaint, FollowUp, Status


@dataclass(frozen=True)
class Known:
    """What the state store knows of one local record."""

    national_id: int | None = None
    fingerprint: str | None = None
    linked: bool = False
    intent_pending: bool = False


@dataclass(frozen=True)
class Create:
    """Create the national complaint (intent first, then post)."""


@dataclass(frozen=True)
class Recover:
    """Resolve a create in doubt: find it by tag, else post the frozen body again."""


@dataclass(frozen=True)
class Link:
    """Map to the national complaint the local record already names."""

    national_id: int


@dataclass(frozen=True)
class Record:
    """Store the record's newer local state; no remote effect on its own."""


@dataclass(frozen=True)
class WriteBack:
    """Write the tracking id back to the local record."""

    national_id: int


Action = Create | Recover | Link | Record | WriteBack


def fingerprint(complaint: Complaint) -> str:
    """What changed in a record, as far as the bridge cares.

    Neither the link field nor the update time count: writing the tracking id
    back bumps the record's update time, and that is not news. A field added
    later counts only when set (earlier versions' fingerprints stay valid).
    """
    unset = {"parent_local_id"} if complaint.parent_local_id is None else set()
    text = complaint.model_dump_json(exclude={"national_id", "updated_at", *unset})
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def plan(complaint: Complaint, known: Known | None) -> list[Action]:
    """The actions that bring one local record in line with the national side."""
    if known is None or (known.national_id is None and not known.intent_pending):
        if complaint.national_id is not None:
            return [Link(complaint.national_id)]
        return [Create()]
    if known.national_id is None:
        return [Recover()]
    actions: list[Action] = []
    if known.fingerprint != fingerprint(complaint):
        actions.append(Record())
    if not known.linked or complaint.national_id is None:
        actions.append(WriteBack(known.national_id))
    return actions


# two-way convergence --------------------------------------------------------


@dataclass(frozen=True)
class StatusMoves:
    """Where each side should go; nothing ever moves backward."""

    target: Status
    to_local: Status | None = None
    complete_national: bool = False
    reject_national: bool = False
    conflict: bool = False


def converge(local: Status, national: Status, *, national_origin: bool) -> StatusMoves:
    """Move each side up to the furthest status of the two (bridge.md).

    ``done`` on one side and ``rejected`` on the other is a conflict: nothing
    is overwritten, it is reported. LAPOR moves only through what an agency
    may do: a follow-up marked completed (local ``done``), or handing back a
    complaint that came from LAPOR's inbox (local ``rejected``).
    """
    if {local, national} == {Status.DONE, Status.REJECTED}:
        return StatusMoves(target=local, conflict=True)
    target = local if local.rank >= national.rank else national
    to_local = target if target != local else None
    complete = local == Status.DONE and national != Status.DONE
    reject = local == Status.REJECTED and national != Status.REJECTED and national_origin
    return StatusMoves(target, to_local, complete, reject)


def responses_to_forward(
    follow_ups: tuple[FollowUp, ...] | list[FollowUp], known: set[str], bridge_prefix: str
) -> list[FollowUp]:
    """A local app's responses that LAPOR has not been sent: the city's own, oldest first."""
    fresh = [
        f
        for f in follow_ups
        if f.id not in known and not (f.ref or "").startswith(bridge_prefix) and f.content.strip()
    ]
    return sorted(fresh, key=lambda f: f.at)


#: how the local app names the author of a LAPOR follow-up it receives
NATIONAL_AUTHORS = {
    "admin": "Admin LAPOR-SP4N",
    "pelapor": "Pelapor (via LAPOR-SP4N)",
    "instansi": "Instansi (via LAPOR-SP4N)",
}


def fold(text: str) -> str:
    """A text compared as the same words: whitespace folded."""
    return " ".join(text.split())


def follow_ups_to_copy(
    follow_ups: list[FollowUp], known: set[str], own: set[str], said: set[str] | None = None
) -> list[FollowUp]:
    """LAPOR follow-ups not written by the bridge and not yet in the local app, oldest first.

    ``own`` are the ids of the follow-ups the bridge posted. An agency
    (``instansi``) follow-up whose words are in ``said`` (folded) is the city's
    own response come back before its id was known (an answer lost, a database
    restored) and is not copied; ``None`` means those words are not at hand,
    and agency follow-ups wait for a pass that has them.
    """
    fresh = [
        f
        for f in follow_ups
        if f.author in NATIONAL_AUTHORS
        and f.id not in known
        and f.id not in own
        and f.content.strip()
        and (f.author != "instansi" or (said is not None and fold(f.content) not in said))
    ]
    return sorted(fresh, key=lambda f: f.at)


def followup_text(content: str, author: str | None) -> str:
    """A follow-up body within LAPOR's 10–5000 characters, the author named when too short."""
    text = content.strip()
    if len(text) < 10:
        text = f"{text} ({author or 'instansi'})".strip()
    if len(text) < 10:
        text = text.ljust(10, ".")
    return text[:5000]


# the two-way planner ----------------------------------------------------------
#
# What TwoWay does when one side of a mapped pair changed, decided here from what the
# store knows and what was read, like ``plan()`` for one-way; bridge/sync/twoway.py reads,
# records and sends. Nothing here touches the store or the wire.

#: the reason LAPOR is given when the city rejects a complaint from LAPOR's inbox and said
#: nothing itself
DEFAULT_REJECT_REASON = "Bukan kewenangan instansi kami."


@dataclass(frozen=True)
class Pair:
    """What the store knows of one mapped pair, as the two-way rules read it."""

    source: str
    local_id: str
    national_id: int
    #: the complaint came from LAPOR's inbox (may be handed back)
    from_national: bool
    #: each side's canonical status as recorded (``None``: none recorded yet)
    local_canonical: Status | None
    national_canonical: Status | None
    agency: str | None = None
    #: a status conflict is on record
    conflict: bool = False
    #: an operator kept the app's side of a conflict (``conflict resolve --keep local``)
    kept_local: bool = False
    #: LAPOR's update time of the last view recorded (``None``: not read yet)
    national_seen_at: datetime | None = None
    national_status_name: str | None = None

    @property
    def local(self) -> Status:
        return self.local_canonical or Status.SUBMITTED

    @property
    def national(self) -> Status:
        return self.national_canonical or Status.SUBMITTED


@dataclass(frozen=True)
class Entry:
    """A row for the follow-ups ledger (``to_national`` or ``to_local`` by the plan)."""

    origin_id: str
    kind: str  # followup, complete, reject (to LAPOR); response (to the app)
    content: str
    author: str | None = None
    ref: str | None = None


@dataclass(frozen=True)
class Said:
    """A response seen on one side: when it was said (the SLA report's first response)."""

    origin: str
    side: str  # "app" or "lapor"
    at: datetime


@dataclass(frozen=True)
class StatusNote:
    """The status and conflict flags the mapping takes after a change."""

    local: Status
    national: Status
    target: Status
    conflict: bool
    #: a conflict not on record before: reported (event, report count)
    new_conflict: bool


@dataclass(frozen=True)
class LocalChange:
    """What the city did in its app, as ledger rows for LAPOR and the pair's new status."""

    entries: tuple[Entry, ...]
    said: tuple[Said, ...]
    status: StatusNote


@dataclass(frozen=True)
class NationalChange:
    """A LAPOR view carried to the app: ledger rows for the app, the local move, statuses."""

    entries: tuple[Entry, ...]
    said: tuple[Said, ...]
    #: where the app's record moves (``None``: it stays)
    to_local: Status | None
    status: StatusNote
    #: LAPOR's canonical status moved since the last view (an event)
    national_moved: bool


def note_status(pair: Pair, local: Status, national: Status, moves: StatusMoves) -> StatusNote:
    """The flags a pair takes once each side is where ``moves`` put it."""
    conflict = moves.conflict and not pair.kept_local
    return StatusNote(local, national, moves.target, conflict, conflict and not pair.conflict)


def restate(
    note: StatusNote, then: Pair, now: Pair, *, side: Literal["local", "national"]
) -> StatusNote:
    """``note``, planned on ``then``, as it is recorded on ``now`` (the pair at the commit).

    The source's pass and the account's run on workers of their own, and either may
    record its side between the other's plan and its commit. Each knows its own side's
    news (``side``: ``"local"`` or ``"national"``) and takes the other's as recorded now;
    a city's word recorded meanwhile is newer than what the account's pass planned to
    leave in the app. So ``done`` against ``rejected`` met by the two passes at once is
    still a conflict, not two notes each blind to the other."""
    if side == "local":
        local, national = note.local, now.national
    else:
        moved = now.local_canonical != then.local_canonical
        local, national = (now.local if moved else note.local), note.national
    moves = converge(local, national, national_origin=now.from_national)
    return note_status(now, local, national, moves)


def plan_local_change(
    pair: Pair,
    follow_ups: tuple[FollowUp, ...] | list[FollowUp],
    known: set[str],
    local: Status,
    bridge_prefix: str,
) -> LocalChange | None:
    """The city's record changed: its new responses for LAPOR, a status LAPOR is told of
    (done: a follow-up marked completed; rejected: handing back a complaint from LAPOR's
    inbox), the pair's flags. ``known``: the responses already in the ledger. ``None``
    when there is nothing to record (the common case of a new record)."""
    moves = converge(local, pair.national, national_origin=pair.from_national)
    fresh = responses_to_forward(follow_ups, known, bridge_prefix)
    if (
        not follow_ups
        and not (moves.complete_national or moves.reject_national or moves.conflict)
        and pair.local_canonical == local
    ):
        return None
    entries = [
        Entry(r.id, "followup", followup_text(r.content, r.author), author=r.author) for r in fresh
    ]
    said = [Said(r.id, "app", r.at) for r in fresh]
    if moves.complete_national:
        agency = pair.agency or "instansi"
        words = f"Pengaduan telah selesai ditindaklanjuti oleh {agency}."
        entries.append(Entry("status:done", "complete", followup_text(words, None)))
    if moves.reject_national:
        city = [f.content for f in follow_ups if not (f.ref or "").startswith(bridge_prefix)]
        reason = city[-1] if city else DEFAULT_REJECT_REASON
        entries.append(Entry("status:rejected", "reject", followup_text(reason, None)))
    return LocalChange(tuple(entries), tuple(said), note_status(pair, local, pair.national, moves))


def needs_city_words(on_lapor: list[FollowUp], known: set[str], own: set[str]) -> bool:
    """An agency follow-up on LAPOR neither copied nor the bridge's: it may be the city's
    own response come back, told apart only by the city's words (:func:`follow_ups_to_copy`)."""
    return any(f.author == "instansi" and f.id not in known | own for f in on_lapor)


def is_stale(pair: Pair, updated_at: datetime) -> bool:
    """A view older than the one recorded: it never moves state."""
    return pair.national_seen_at is not None and updated_at < pair.national_seen_at


def plan_national_change(
    pair: Pair,
    national: Status,
    complaint_id: int,
    archive_reason: str | None,
    fresh: list[FollowUp],
    copied: set[str],
    bridge_prefix: str,
) -> NationalChange:
    """A (not stale) LAPOR view of the pair: ``national`` its status (the one kept when
    LAPOR's name is unknown), ``fresh`` the follow-ups to copy (:func:`follow_ups_to_copy`),
    ``copied`` the texts already in the ledger for the app. An archive's reason reaches the
    app once, unless a follow-up of the same words carries it."""
    entries = [
        Entry(
            item.id,
            "response",
            item.content,
            author=NATIONAL_AUTHORS[item.author],
            ref=f"{bridge_prefix}f{item.id}",
        )
        for item in fresh
    ]
    said = [Said(item.id, "lapor", item.at) for item in fresh if item.author == "instansi"]
    if national == Status.REJECTED and archive_reason:
        texts = {item.content.strip() for item in fresh} | copied
        if archive_reason.strip() not in texts:
            entries.append(
                Entry(
                    f"archive:{complaint_id}",
                    "response",
                    archive_reason,
                    author=NATIONAL_AUTHORS["admin"],
                    ref=f"{bridge_prefix}a{complaint_id}",
                )
            )
    moves = converge(pair.local, national, national_origin=pair.from_national)
    to_local = moves.to_local if not moves.conflict else None
    local = to_local or pair.local
    return NationalChange(
        tuple(entries),
        tuple(said),
        to_local,
        note_status(pair, local, national, moves),
        national_moved=pair.national_canonical != national,
    )
