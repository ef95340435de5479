"""Deciding what to do with one local record: a pure function of state and input.

``plan(complaint, known)`` returns the actions; :mod:`bridge.engine` performs
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

from bridge.model import Complaint, FollowUp, Status


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
