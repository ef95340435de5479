"""The state store's interface: what the engine, the reports and the commands may ask of it.

Two implementations: :class:`bridge.sync.store.Store` (SQLite, the embedded default) and
:class:`bridge.sync.pgstore.PgStore` (PostgreSQL, selected by ``[bridge] database = "postgresql://…"``;
docs/postgresql.md). Both keep the same guarantees — an intent committed (``durable``)
before the request it announces, the mapping after the answer, a cursor after its data,
one mapping per local record and one owning mapping per national complaint (unique
constraints in the database), an audit log the database keeps append-only, and a schema
versioned by named migrations (m001…) — and one test suite holds both to them
(tests/test_store_contract.py). Each implementation is checked against this protocol by
mypy (the assignment at the end of its module).

Rows are frozen dataclasses of the tables' columns (``LedgerRow``, ``MappingRow``, …, each
with ``.of(row)``), times ISO-8601 text in UTC, flags 0/1.

No module outside the two stores runs SQL: the engine, two-way, the duplicate check, the
operator requests and the reports all ask through this interface (docs/postgresql.md).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

import psycopg


class LeaseLost(Exception):
    """A replica's lease on a unit of work (a source's or an account's passes) moved to
    another replica, or ran out before it was renewed (PostgreSQL with several replicas,
    bridge/sync/pgleases.py): what the pass held is rolled back, no request leaves, and the
    pass stops. The successor finds the intents it left as a crash leaves them (in doubt,
    settled by evidence: lapor.md, "Recovery")."""


#: what a store raises when the state itself fails (SQLite's errors, PostgreSQL's, a lease
#: lost): a pass stops on them and is retried whole, never a record quarantined for the
#: database's sake
STATE_ERRORS: tuple[type[Exception], ...] = (sqlite3.Error, psycopg.Error, LeaseLost)

#: the state errors that only say another transaction was in the way (PostgreSQL chose this
#: one to break a deadlock, or to keep two serializable): the same block, run again on what
#: is committed now, commits. A block that holds an answer in hand (a create's) is retried on
#: them (:data:`TRANSIENT_RETRIES` runs in all) rather than leave that answer lost
TRANSIENT_STATE_ERRORS: tuple[type[Exception], ...] = (
    psycopg.errors.DeadlockDetected,
    psycopg.errors.SerializationFailure,
)
TRANSIENT_RETRIES = 3


@dataclass(frozen=True)
class LedgerRow:
    """A row of the follow-ups ledger: one item to carry across, written down before it is
    sent (``state`` pending → done or failed). Times are ISO-8601 text, as stored."""

    id: int
    source: str
    local_id: str
    national_id: int
    direction: str  # to_national | to_local
    origin_id: str  # the item's id on the side it came from
    kind: str  # followup | complete | reject (to LAPOR); response (to the app)
    content: str
    state: str  # pending | done | failed
    attempts: int
    created_at: str
    updated_at: str
    ref: str | None = None  # the reference the bridge writes into the app (to_local)
    author: str | None = None
    remote_id: str | None = None
    last_error: str | None = None
    #: an operator's word on a row in doubt: sent, posted, not_posted (``indoubt resolve``)
    decision: str | None = None

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> LedgerRow:
        """From a database row (its columns by name)."""
        return cls(**{f.name: row[f.name] for f in fields(cls) if f.name in row})


@dataclass(frozen=True)
class IndexedRow:
    """A row of the duplicate check's index (bridge/sync/dedupe.py): one record's phone key
    and text while it may still be compared. ``created_at`` is ISO-8601 UTC text."""

    national_id: int | None
    source: str
    local_id: str
    phone_key: str
    category: str
    created_at: str
    content: str | None  # the text as written (m005); older rows hold ``text_norm``
    text_norm: str | None = None

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> IndexedRow:
        """From a database row (its columns by name)."""
        return cls(**{f.name: row[f.name] for f in fields(cls) if f.name in row})


@dataclass(frozen=True)
class MappingRow:
    """A local record's link to its national complaint, and what the bridge last saw of
    both sides. Flags are 0/1 as stored; times ISO-8601 text; statuses as each side names
    them (``local_status``, ``national_status`` the code, ``national_status_name``) and
    canonically (``local_canonical``, ``national_canonical``, ``status`` the converged)."""

    id: int
    source: str
    local_id: str
    origin: str  # local (filed by the bridge) | national (imported from LAPOR's inbox)
    link_state: str  # done | pending: the tracking id written back into the app or not
    first_synced_at: str
    last_synced_at: str
    confidential: int = 0
    anonymous: int = 0
    conflict: int = 0
    #: the record's responses are still to be read whole (m011)
    catch_up: int = 0
    national_id: int | None = None
    #: ``source:local_id`` of the record this one was merged into (a duplicate)
    duplicate_of: str | None = None
    account: str | None = None
    status: str | None = None
    local_status: str | None = None
    local_canonical: str | None = None
    national_status: int | None = None
    national_status_name: str | None = None
    national_canonical: str | None = None
    local_updated_at: str | None = None
    #: LAPOR's update time of the last view recorded
    national_updated_at: str | None = None
    fingerprint: str | None = None
    category: str | None = None
    agency: str | None = None
    created_at: str | None = None
    tracked_by: str | None = None  # inbox | polling
    next_poll_at: str | None = None
    last_seen_at: str | None = None
    #: the number the citizen sees in the app (Tanjak's nomor, …)
    display_id: str | None = None
    #: an operator kept this side of a status conflict (``conflict resolve --keep``)
    conflict_kept: str | None = None

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> MappingRow:
        """From a database row (its columns by name)."""
        return cls(**{f.name: row[f.name] for f in fields(cls) if f.name in row})


@dataclass(frozen=True)
class LatePhotoRow:
    """A photo that could not be fetched when its complaint was created, due to be tried
    again (``state`` waiting → sent or given_up), with its record's national complaint."""

    id: int
    source: str
    local_id: str
    national_id: int
    photo_index: int  # its place among the record's photos, from 0
    attachment: str  # the app's reference to it (its URL)
    attempts: int  # fetches that failed
    next_try_at: str
    state: str
    created_at: str
    updated_at: str
    content_type: str | None = None
    reason: str | None = None
    #: its row in the follow-up ledger, once it was fetched and is being posted
    followup_id: int | None = None

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> LatePhotoRow:
        """From a database row (its columns by name)."""
        return cls(**{f.name: row[f.name] for f in fields(cls) if f.name in row})


@dataclass(frozen=True)
class IntentRow:
    """A remote side effect written down before it is made: a create on LAPOR, an import
    into the home app. ``payload`` is what will be (or was) sent, decoded; once the intent
    is finished it keeps only what :meth:`StateStore.scrub_intent` keeps. Times are
    ISO-8601 text, as stored."""

    id: int
    kind: str  # create | import
    source: str
    local_id: str
    payload: dict[str, Any]
    state: str  # pending | done | failed
    attempts: int
    created_at: str
    updated_at: str
    national_id: int | None = None
    account: str | None = None
    tag: str | None = None
    last_error: str | None = None
    #: a create in doubt: when it was sent and until when it may still be applied
    sent_at: str | None = None
    deadline: str | None = None
    answered_at: str | None = None
    #: what the last look for a create in doubt found (``indoubt list``)
    evidence: str | None = None
    #: an operator's word on a create in doubt (``indoubt resolve``)
    decision: str | None = None

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> IntentRow:
        """From a database row (its columns by name; the payload as JSON text)."""
        values = {f.name: row[f.name] for f in fields(cls) if f.name in row}
        if isinstance(values.get("payload"), str):
            values["payload"] = json.loads(values["payload"])
        return cls(**values)


_Note = TypeVar("_Note", "QuarantineNote", "IntentNote", "FollowupNote", "LatePhotoNote")


def _columns(cls: type[Any], row: Mapping[str, Any]) -> dict[str, Any]:
    """The row's values of the dataclass's fields (a column the query left out takes the
    field's default)."""
    return {f.name: row[f.name] for f in fields(cls) if f.name in row}


@dataclass(frozen=True)
class InDoubtRow:
    """A remote write that may have been applied but whose answer was lost: a create
    (``type`` create, ``id`` its intent's) or a follow-up to LAPOR (``type`` followup, ``id``
    its ledger row's). Fields of the other type are None. Times ISO-8601 text."""

    type: str  # create | followup
    id: int
    source: str
    local_id: str
    attempts: int
    created_at: str
    last_error: str | None = None
    #: an operator's word waiting for the next pass (``indoubt resolve``)
    decision: str | None = None
    # a create's
    account: str | None = None
    tag: str | None = None
    sent_at: str | None = None
    deadline: str | None = None
    evidence: str | None = None
    # a follow-up's
    national_id: int | None = None
    kind: str | None = None
    updated_at: str | None = None

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> InDoubtRow:
        """From a database row (its columns by name, with ``type``)."""
        return cls(**_columns(cls, row))


@dataclass(frozen=True)
class QuarantineRow:
    """A record the bridge could not process, kept with its raw payload (JSON text; ``null``
    once the entry is closed) and the reason; ``state`` open → resolved or dropped."""

    id: int
    source: str
    local_id: str
    raw: str
    reason: str
    state: str
    attempts: int  # sightings
    first_seen: str
    last_seen: str
    #: the number the citizen sees, when the app has one besides the id (m009)
    display_id: str | None = None

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> QuarantineRow:
        """From a database row (its columns by name)."""
        return cls(**_columns(cls, row))


@dataclass(frozen=True)
class PolledRow:
    """A complaint the bridge follows by reading it by id (``tracked_by`` polling)."""

    source: str
    local_id: str
    national_id: int
    last_seen_at: str | None = None
    next_poll_at: str | None = None

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> PolledRow:
        """From a database row (its columns by name)."""
        return cls(**_columns(cls, row))


@dataclass(frozen=True)
class TrackingView:
    """An account's open complaints followed by id (:meth:`StateStore.tracking_view`)."""

    open: int
    due: int
    #: the oldest view: the last read, or the mapping for one never read (ISO-8601 text)
    oldest_view_at: str | None
    #: the requests an hour the schedule wants
    wanted_per_hour: float


#: the states an operator request ends in
REQUEST_FINISHED = ("done", "failed")


@dataclass(frozen=True)
class OperatorRequestRow:
    """An action an operator asked for on one record (``operator_requests``, m010):
    ``state`` queued → running → done or failed. ``params`` decoded from its JSON text."""

    id: int
    action: str
    source: str
    local_id: str | None
    params: dict[str, Any]
    requested_by: str
    requested_at: str
    state: str
    started_at: str | None = None
    finished_at: str | None = None
    carried_out_by: str | None = None  # pass | command
    outcome: str | None = None

    @property
    def record(self) -> str:
        return f"{self.source}:{self.local_id}" if self.local_id is not None else self.source

    @property
    def finished(self) -> bool:
        return self.state in REQUEST_FINISHED

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> OperatorRequestRow:
        """From a database row (its columns by name; the params as JSON text)."""
        values = _columns(cls, row)
        if isinstance(values.get("params"), str):
            values["params"] = json.loads(values["params"] or "{}")
        return cls(**values)


@dataclass(frozen=True)
class DedupeDecisionRow:
    """One rule (3) decision on a record: the rule, its score, whether it merged, and the
    record it was weighed against (``candidate_of``); ``inputs`` holds fingerprints only."""

    id: int
    at: str
    source: str
    local_id: str
    rule: str
    score: float
    merged: int  # 0/1
    inputs: str
    candidate_of: str | None = None

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> DedupeDecisionRow:
        """From a database row (its columns by name)."""
        return cls(**_columns(cls, row))


@dataclass(frozen=True)
class EventRow:
    """An entry of the audit log (append-only). ``detail`` is JSON text, holding no personal
    data; an event of an earlier version may hold plain text."""

    id: int
    at: str
    kind: str
    source: str | None = None
    local_id: str | None = None
    national_id: int | None = None
    detail: str | None = None

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> EventRow:
        """From a database row (its columns by name)."""
        return cls(**_columns(cls, row))


@dataclass(frozen=True)
class PassRow:
    """The last pass of a source or an account (``name`` ``source:NAME``/``account:NAME``):
    when it started and finished, when one last went through, and its error."""

    name: str
    kind: str  # source | account
    started_at: str | None = None
    finished_at: str | None = None
    ok_at: str | None = None
    last_error: str | None = None

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> PassRow:
        """From a database row (its columns by name)."""
        return cls(**_columns(cls, row))


@dataclass(frozen=True)
class LeaseRow:
    """Who holds a unit of work (``source:NAME``/``account:NAME``) among the replicas of a
    PostgreSQL state (bridge/sync/pgleases.py): ``epoch`` grows at each change of holder;
    ``live`` while it has not expired nor been released (by the database's clock)."""

    unit: str
    owner: str
    epoch: int
    acquired_at: str
    renewed_at: str
    expires_at: str
    released: bool
    takeovers: int
    live: bool


@dataclass(frozen=True)
class ReplicaRow:
    """A ``lapor-bridge run`` process on a PostgreSQL state: its last heartbeat, and when it
    stopped cleanly (``None`` while it runs, or when it died). ``age`` is the seconds since
    its heartbeat, by the database's clock."""

    replica: str
    host: str
    pid: int
    version: str
    started_at: str
    heartbeat_at: str
    stopped_at: str | None
    age: float


@dataclass(frozen=True)
class OpenView:
    """The freshness of the bridge's view of a source's open complaints followed by id
    (LAPOR's side neither done nor rejected as last seen; not those the inbox brings)."""

    open: int
    #: the oldest time one was last read (ISO-8601 text); None when none was ever read
    oldest_seen_at: str | None
    #: those never read since they were created
    never_read: int


@dataclass(frozen=True)
class UnknownStatusName:
    """A LAPOR status name the bridge did not know when it read it (events
    ``unknown_status_name``): on how many complaints, and when last seen."""

    name: str | None
    complaints: int
    last_seen_at: str | None


@dataclass(frozen=True)
class BacklogCounts:
    """What a source's records wait for beyond :meth:`StateStore.counts`, by why
    (:class:`bridge.runtime.health.Backlog` adds those counts)."""

    #: status conflicts: one side done, the other rejected
    conflicts: int
    #: LAPOR ahead of the app (the bridge moves the app at once: this should not last)
    drift: int
    #: follow-ups LAPOR refused (photos aside), and those refused because it closed the
    #: complaint (a note, not an error)
    refused: int
    refused_closed: int
    #: follow-ups held while LAPOR's admin has not disposed the complaint to the agency
    waiting_verification: int
    #: imports the home app queued (answered with a token)
    waiting_city: int
    #: done (or rejected) in the app, its follow-up on LAPOR: LAPOR closes it later
    waiting_lapor_close: int
    #: the oldest local complaint not yet on LAPOR, by when the bridge first saw it: a
    #: create not yet sent or in doubt, or a quarantined record without a national complaint
    oldest_unsynced_at: str | None


@dataclass(frozen=True)
class QuarantineNote:
    """What ``trace`` shows of a quarantine entry: not its raw record, only whether it is
    still kept."""

    id: int
    state: str
    reason: str
    attempts: int
    first_seen: str
    last_seen: str
    display_id: str | None
    raw_kept: bool


@dataclass(frozen=True)
class IntentNote:
    """What ``trace`` shows of a create or an import: not its body; the number the citizen
    sees (from a create's summary) and whether it is in doubt."""

    id: int
    kind: str
    state: str
    attempts: int
    tag: str | None
    national_id: int | None
    account: str | None
    sent_at: str | None
    deadline: str | None
    answered_at: str | None
    last_error: str | None
    evidence: str | None
    decision: str | None
    created_at: str
    updated_at: str
    display_id: str | None
    in_doubt: bool


@dataclass(frozen=True)
class FollowupNote:
    """What ``trace`` shows of a row of the follow-ups ledger, and whether it is in doubt."""

    id: int
    direction: str
    kind: str
    state: str
    author: str | None
    content: str
    origin_id: str
    remote_id: str | None
    attempts: int
    last_error: str | None
    decision: str | None
    created_at: str
    updated_at: str
    in_doubt: bool


@dataclass(frozen=True)
class LatePhotoNote:
    """What ``trace`` shows of a late photo: not its reference."""

    photo_index: int
    state: str
    attempts: int
    reason: str | None
    next_try_at: str
    followup_id: int | None
    created_at: str
    updated_at: str


def note(cls: type[_Note], row: Mapping[str, Any]) -> _Note:
    """A ``trace`` note from a database row: flags (``raw_kept``, ``in_doubt``) as booleans,
    whether the database gave 0/1 (SQLite) or a boolean (PostgreSQL)."""
    values = _columns(cls, row)
    for flag in ("raw_kept", "in_doubt"):
        if flag in values:
            values[flag] = bool(values[flag])
    return cls(**values)


class StateStore(Protocol):
    """The bridge's state: one connection, used by one thread at a time."""

    readonly: bool

    def fold_wal(self) -> bool: ...

    def close(self) -> None: ...

    def atomic(self, *, durable: bool = False) -> AbstractContextManager[StateStore]: ...

    def holding(self) -> AbstractContextManager[None]: ...

    def commit_held(self) -> None:
        """Commit what :meth:`holding` kept open; nothing inside an atomic block."""
        ...

    def event(
        self,
        kind: str,
        source: str | None = None,
        local_id: str | None = None,
        national_id: int | None = None,
        **detail: Any,
    ) -> None:
        """Append to the audit log. ``detail`` must hold no personal data."""
        ...

    def events_for(
        self, source: str | None, local_id: str | None, national_id: int | None
    ) -> list[EventRow]: ...

    def mapping(self, source: str, local_id: str) -> MappingRow | None: ...

    def mapping_for_update(self, source: str, local_id: str) -> MappingRow | None:
        """The mapping as committed now, inside :meth:`atomic`: no other transaction
        changes it before this one ends (a pass that plans on a row read earlier records
        its side against the other's latest)."""
        ...

    def mappings_for_national(self, national_id: int) -> list[MappingRow]: ...

    def insert_mapping(self, **fields: Any) -> None: ...

    def update_mapping(self, source: str, local_id: str, **fields: Any) -> None: ...

    def dedupe_decisions(self, source: str, local_id: str) -> list[DedupeDecisionRow]: ...

    def delete_mapping(self, source: str, local_id: str) -> None:
        """Only for an operator's correction; the audit log keeps what it was."""
        ...

    def unlinked(self, source: str, batch: int = 500) -> Iterator[tuple[str, int]]: ...

    def add_intent(
        self,
        kind: str,
        source: str,
        local_id: str,
        payload: dict[str, Any],
        *,
        tag: str | None = None,
        national_id: int | None = None,
        account: str | None = None,
    ) -> int: ...

    def add_create_intent(
        self,
        source: str,
        local_id: str,
        payload: dict[str, Any],
        *,
        tag: str,
        account: str,
        timeout: timedelta,
    ) -> IntentRow:
        """A create's intent, already marked sent (:meth:`create_sending`): one statement;
        returned as written (no read back)."""
        ...

    def catching_up(self, source: str) -> list[str]:
        """Records of ``source`` whose responses are still to be read whole (m011)."""
        ...

    def caught_up(self, source: str, local_id: str) -> None: ...

    def pending_intents(self, source: str, kind: str) -> list[IntentRow]: ...

    def pending_intent(self, source: str, local_id: str, kind: str) -> IntentRow | None: ...

    def finish_intent(
        self, intent_id: int, state: str = "done", error: str | None = None
    ) -> None: ...

    def create_sending(self, intent_id: int, account: str, timeout: timedelta) -> None:
        """A create about to be posted: from now it may be applied, until ``deadline``."""
        ...

    def create_lost(self, intent_id: int, error: str) -> None: ...

    def create_answered(self, intent_id: int, national_id: int) -> None:
        """LAPOR answered this create with ``national_id``: a bound for later scans."""
        ...

    def import_queued(self, intent_id: int, token: str) -> None:
        """The home app queued an import and answered with ``token`` (kept in its payload)."""
        ...

    def create_done(self, intent_id: int, national_id: int) -> None:
        """:meth:`create_answered` and :meth:`finish_intent` (done, scrubbed) at once."""
        ...

    def create_bracket(
        self, account: str, sent_at: str, deadline: str
    ) -> tuple[int | None, int | None]: ...

    def created_between(self, lower: int, upper: int) -> set[int]:
        """The ids strictly between ``lower`` and ``upper`` that answered creates of the
        bridge hold (any account): each is another record's complaint."""
        ...

    def note_evidence(self, intent_id: int, evidence: str) -> None: ...

    def decide(self, intent_id: int, decision: str | None) -> None: ...

    def scrub_intent(self, intent_id: int) -> None: ...

    def in_doubt(self, source: str | None = None) -> list[InDoubtRow]:
        """Creates sent whose answer was lost, and follow-ups likewise (bridge.md, indoubt)."""
        ...

    def followup_row(self, row_id: int) -> LedgerRow | None: ...

    def decide_followup(self, row_id: int, decision: str | None) -> None: ...

    def answered_with_tokens(self, source: str) -> bool:
        """Whether the app has ever answered an import with a token (it queues its creates)."""
        ...

    def note_attempt(self, intent_id: int, error: str | None) -> None: ...

    def cursor(self, name: str) -> str | None: ...

    def set_cursor(self, name: str, value: str | None) -> None: ...

    def add_discovered(self, tickets: Iterable[tuple[str, int]]) -> None: ...

    def discovered(self, tag: str) -> int | None: ...

    def has_mappings(self, source: str) -> bool: ...

    # the duplicate check's index (bridge/sync/dedupe.py) ---------------------
    def dedupe_meta(self, name: str) -> str | None:
        """A value the index keeps (``phone_key_secret``, ``clock``), or ``None``."""
        ...

    def dedupe_put(self, row: IndexedRow) -> None:
        """Index a record, replacing what was indexed of it."""
        ...

    def dedupe_forget(self, source: str, local_id: str) -> None:
        """Take a record out of the index."""
        ...

    def dedupe_purge(self, before: str, clock: str) -> int:
        """Forget rows filed before ``before``; keep ``clock`` (never moved back); how many."""
        ...

    def dedupe_block(self, phone_key: str, start: str, end: str, limit: int) -> list[IndexedRow]:
        """One citizen's rows filed between ``start`` and ``end``, newest first."""
        ...

    def add_dedupe_decision(
        self,
        at: str,
        source: str,
        local_id: str,
        candidate_of: str | None,
        rule: str,
        score: float,
        merged: bool,
        inputs: str,
    ) -> int:
        """Append a decision (fingerprints only); its id."""
        ...

    def quarantine(
        self, source: str, local_id: str, raw: Any, reason: str, display_id: str | None = None
    ) -> int: ...

    def release_quarantine(self, source: str, local_id: str, state: str = "resolved") -> bool: ...

    def quarantine_open(self, source: str, local_id: str) -> bool: ...

    def was_split(self, source: str, local_id: str) -> bool:
        """An operator undid a merge of this record: it is never merged by rule again."""
        ...

    def quarantined(self, source: str | None = None) -> list[QuarantineRow]: ...

    def quarantine_entry(self, entry_id: int) -> QuarantineRow | None: ...

    # what ``status`` reads (bridge/reports/status.py)
    def tracking_view(self, sources: list[str], now: str) -> TrackingView:
        """The sources' open complaints followed by id: how many, how many due at ``now``,
        the oldest view, and the requests an hour their schedule wants."""
        ...

    def open_view(self, source: str) -> OpenView: ...

    def unknown_status_names(self) -> list[UnknownStatusName]:
        """Every status name LAPOR showed that the bridge did not know, last seen first."""
        ...

    def backlog_counts(self, source: str) -> BacklogCounts: ...

    def cursor_times(self) -> dict[str, str]:
        """When each cursor was last stored, by name: a running pass's last sign of life."""
        ...

    def tracking_spent(self, account: str, since: str) -> list[tuple[str, int]]:
        """``(at, requests)`` of the account's reads by id after ``since`` (m012)."""
        ...

    def tracking_pace(self, account: str) -> str | None: ...

    def charge_tracking(self, account: str, at: str, requests: int, paced_until: str) -> None: ...

    # what ``trace`` reads (bridge/reports/trace.py)
    def records_of_national(self, national_id: int) -> list[tuple[str, str]]:
        """``(source, local_id)`` named with a national complaint by an intent, a quarantine
        entry (``#N``: an import not yet a record), a follow-up or an audit event, in that
        order, each oldest first, repeats kept. (Its mappings: :meth:`mappings_for_national`.)"""
        ...

    def records_numbered(self, number: str, source: str | None) -> list[tuple[str, str]]:
        """``(source, local_id)`` of records (of ``source``, or any) whose visible number or
        own id is ``number`` (the number also upper-cased), by mapping, quarantine entry,
        create (its summary's number), follow-up and audit event, in that order."""
        ...

    def quarantine_notes(self, source: str, local_id: str) -> list[QuarantineNote]: ...

    def intent_notes(self, source: str, local_id: str, national_id: int | None) -> list[IntentNote]:
        """The record's creates and imports, and the imports of ``national_id``."""
        ...

    def followup_notes(self, source: str, local_id: str) -> list[FollowupNote]: ...

    def late_photo_notes(self, source: str, local_id: str) -> list[LatePhotoNote]: ...

    def pass_started(self, name: str, kind: str) -> None: ...

    def pass_finished(self, name: str, error: str | None) -> None: ...

    def pass_stopped(self, name: str) -> None: ...

    def passes(self) -> dict[str, PassRow]: ...

    def account_pending(self, account: str) -> int:
        """National complaints of this account waiting to reach their home app."""
        ...

    def add_followup(self, **fields: Any) -> bool:
        """Record a follow-up to carry across; False when it is already known."""
        ...

    def followup_origins(self, source: str, local_id: str, direction: str) -> set[str]: ...

    def followup_texts(self, source: str, local_id: str, direction: str) -> set[str]: ...

    def followup_texts_to_national(self, national_id: int) -> list[str]:
        """What every record merged into this complaint sent or is sending to LAPOR."""
        ...

    def followup_remote_ids(self, national_id: int) -> set[str]: ...

    def followups_sent_like(self, national_id: int, content: str, before_row: int) -> int: ...

    def pending_followups(
        self, direction: str, source: str | None = None, local_id: str | None = None
    ) -> list[LedgerRow]: ...

    def finish_followup(
        self, row_id: int, state: str = "done", remote_id: str | None = None,
        error: str | None = None,
    ) -> None: ...  # fmt: skip

    def followup_attempt(self, row_id: int, error: str | None = None) -> None: ...

    def followup_counts(self, source: str, local_id: str) -> dict[str, int]: ...

    def add_late_photo(
        self, source: str, local_id: str, index: int, attachment: str,
        content_type: str | None, reason: str, next_try_at: str,
    ) -> None:  # fmt: skip
        """A photo that could not be fetched for its create: tried again from
        ``next_try_at``. A create tried again counts one more failed fetch."""
        ...

    def late_photo_went_with_create(self, source: str, local_id: str, index: int) -> bool:
        """A waiting photo fetched after all for a create tried again: it goes with it."""
        ...

    def due_late_photos(self, source: str, now: str) -> list[LatePhotoRow]:
        """Waiting photos due at ``now`` whose record has its national complaint, with it."""
        ...

    def update_late_photo(self, photo_id: int, **fields: Any) -> None: ...

    def add_late_photo_followup(self, photo: LatePhotoRow, content: str) -> int: ...

    def late_photo_counts(self, source: str) -> dict[str, int]:
        """Photos of the source waiting to be fetched again or sent, and given up."""
        ...

    def mapping_by_national(self, national_id: int) -> MappingRow | None:
        """The owning (not merged) mapping of a national complaint."""
        ...

    def mappings_by_display_id(self, display_id: str) -> list[MappingRow]: ...

    def due_for_polling(
        self,
        sources: list[str],
        now: str,
        limit: int,
        *,
        stale_before: str | None = None,
        stale_share: float = 1.0,
    ) -> list[MappingRow]: ...

    def tracked_by_polling(self, sources: list[str]) -> list[PolledRow]: ...

    def category_fallbacks(self, source: str) -> dict[str, str]: ...

    def counts(self, source: str) -> dict[str, int]: ...

    def add_operator_request(
        self, action: str, source: str, local_id: str | None, params: str, by: str
    ) -> int: ...

    def operator_request(self, request_id: int) -> OperatorRequestRow | None: ...

    def operator_requests_waiting(self, source: str) -> list[OperatorRequestRow]: ...

    def claim_operator_request(self, request_id: int, by: str) -> None: ...

    def finish_operator_request(self, request_id: int, state: str, outcome: str) -> None: ...

    def applied_migrations(self) -> list[str]:
        """The names of the migrations applied, in the order applied (m001_initial, …)."""
        ...

    def after_commit(self, announce: Callable[[], None]) -> None:
        """Run ``announce`` (a log line) once what was written so far is committed: at once
        outside a transaction, after the ``COMMIT`` inside one, never when it is rolled back
        (or, on a replica, refused because its lease moved)."""
        ...

    def leases(self) -> list[LeaseRow]:
        """Every unit's lease, by unit (none with SQLite: one process, no leases)."""
        ...

    def replicas(self) -> list[ReplicaRow]:
        """The replicas seen, the latest heartbeat first (none with SQLite)."""
        ...

    # --- the reports' reads
    # Each read streams its rows (a generator: a report can hold a million) in the order the
    # report prints them, filtered in the database: ``sources`` (all when empty) and the
    # row's time in ``[since, until)``, a time the database cannot read being outside any
    # bound. Alone, a read is consistent; inside :meth:`report_snapshot` all are one.

    def report_snapshot(self) -> AbstractContextManager[None]:
        """One read-only snapshot for the reads inside: a report that moves no record
        between its sections while the bridge writes. Inside a transaction already, that
        transaction's view (nothing is opened or ended)."""
        ...

    def report_mappings(
        self, sources: Sequence[str] = (), since: datetime | None = None,
        until: datetime | None = None,
    ) -> Iterator[ReportMapping]:  # fmt: skip
        """Every mapping with what the reconciliation report needs of it, by its
        ``created_at``, in the order mapped."""
        ...

    def report_quarantined(
        self, sources: Sequence[str] = (), since: datetime | None = None,
        until: datetime | None = None,
    ) -> Iterator[ReportQuarantined]:  # fmt: skip
        """Open quarantine entries of records never mapped, by ``first_seen``."""
        ...

    def report_in_doubt(
        self, sources: Sequence[str] = (), since: datetime | None = None,
        until: datetime | None = None,
    ) -> Iterator[ReportInDoubt]:  # fmt: skip
        """Creates in doubt of records neither mapped nor quarantined, by the intent's
        ``created_at``."""
        ...

    def report_national_only(
        self, sources: Sequence[str] = (), since: datetime | None = None,
        until: datetime | None = None,
    ) -> Iterator[ReportNationalOnly]:  # fmt: skip
        """Imports pending whose complaint is mapped nowhere, by the complaint's filing
        time (else the intent's ``created_at``)."""
        ...

    def sla_mappings(
        self, sources: Sequence[str] = (), since: datetime | None = None,
        until: datetime | None = None,
    ) -> Iterator[SlaMapping]:  # fmt: skip
        """Owning (not merged) mappings with their clocks' moments, by ``created_at``."""
        ...

    def sla_creates_pending(
        self, sources: Sequence[str] = (), since: datetime | None = None,
        until: datetime | None = None,
    ) -> Iterator[SlaRecord]:  # fmt: skip
        """Records with a create pending or in doubt and no mapping, by their filing time
        (the create's summary, else the intent's ``created_at``)."""
        ...

    def sla_quarantined(
        self, sources: Sequence[str] = (), since: datetime | None = None,
        until: datetime | None = None,
    ) -> Iterator[SlaRecord]:  # fmt: skip
        """Local records quarantined, never mapped nor with a create pending, by
        ``first_seen``."""
        ...

    def agencies_seen(self, account: str, sources: Sequence[str]) -> set[str | None]:
        """The agencies on the mappings of ``account`` (or, with no account recorded, of
        ``sources``); ``None`` for mappings without one."""
        ...


# --- the reports' rows: what the reports' reads above stream. Frozen like the rows above,
# and slotted: built by position from the database's row, a million of them for a report;
# times as stored, flags 0/1 as stored, counts as numbers.


@dataclass(frozen=True, slots=True)
class ReportMapping:
    """A mapping as the reconciliation report reads it: its columns, then what the other
    tables say of its record (``bridge.reports.report.Facts``) and of its moments."""

    source: str
    local_id: str
    national_id: int | None
    origin: str | None
    local_status: str | None
    national_status: int | None
    status: str | None
    duplicate_of: str | None
    created_at: str | None
    first_synced_at: str | None
    last_synced_at: str | None
    agency: str | None
    category: str | None
    confidential: int
    anonymous: int
    local_canonical: str | None
    national_canonical: str | None
    conflict: int
    link_state: str | None
    local_updated_at: str | None
    national_updated_at: str | None
    #: the open quarantine entry's reason (unscrubbed), if any
    quarantine_reason: str | None
    #: a create intent still pending for the record
    in_doubt: int
    pending_followups: int
    failed_followups: int
    #: a hand-back (``reject``) reached LAPOR
    handed_back: int
    #: the first ledger row done toward LAPOR (its ``updated_at``)
    first_response_at: str | None
    #: the first status move to verified or beyond, or the import (the audit log)
    verified_at: str | None
    #: for a final ``status``: the first move to done or rejected, or completion sent
    closed_event_at: str | None
    conflict_kept: str | None


@dataclass(frozen=True, slots=True)
class ReportQuarantined:
    """An open quarantine entry of a record never mapped (``#N``: a national complaint its
    home app refused)."""

    source: str
    local_id: str
    reason: str
    first_seen: str
    in_doubt: int


@dataclass(frozen=True, slots=True)
class ReportInDoubt:
    """A create sent and never answered, its record neither mapped nor quarantined."""

    source: str
    local_id: str
    created_at: str


@dataclass(frozen=True, slots=True)
class ReportNationalOnly:
    """An import pending of a national complaint mapped nowhere: three scalar keys of its
    payload, never the complaint's text."""

    source: str
    national_id: int | None
    seen_at: str
    status_code: int | None
    filed_at: str | None
    confidential: int


@dataclass(frozen=True, slots=True)
class SlaMapping:
    """An owning mapping with the moments the SLA clocks run between (``bridge.reports.sla``)."""

    source: str
    local_id: str
    national_id: int | None
    origin: str | None
    account: str | None
    agency: str | None
    status: str | None
    created_at: str | None
    first_synced_at: str | None
    national_canonical: str | None
    local_canonical: str | None
    local_updated_at: str | None
    national_updated_at: str | None
    last_synced_at: str | None
    #: the first move on LAPOR past submitted (the audit log)
    verified_at: str | None
    imported_at: str | None
    #: the first response the app gave a time to (the audit log's ``response_seen``)
    said_at: str | None
    #: the first ledger row toward LAPOR, or from an agency on LAPOR
    answered_at: str | None
    closed_event_at: str | None
    #: the first completion or hand-back toward LAPOR in the ledger
    closed_in_app_at: str | None


@dataclass(frozen=True, slots=True)
class SlaRecord:
    """A local record not on LAPOR yet (a create pending or in doubt, or quarantined): when
    it was filed, and its account and agency when a create's summary says."""

    source: str
    local_id: str
    filed: str | None
    account: str | None = None
    agency: str | None = None
