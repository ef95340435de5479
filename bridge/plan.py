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

from bridge.model import Complaint


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
    back bumps the record's update time, and that is not news.
    """
    text = complaint.model_dump_json(exclude={"national_id", "updated_at"})
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
