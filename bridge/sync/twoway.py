"""Keeping a mapped pair converging: statuses and follow-ups, both ways, and the national inbox.

Every write across is recorded in the ``followups`` ledger before it is sent
and marked done after the answer. A row that was attempted before (a lost
answer, a crash) is first looked for on the other side — LAPOR follow-ups by
content, local responses by the reference the bridge wrote — and posted
again only when it is not there. Rows of one ticket go out in order: a row
that cannot go yet (LAPOR refuses while the complaint is not disposed to the
agency) holds back the ones after it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from bridge.core.errors import Ambiguous, NormalizeError, Rejected, Unavailable, Unreadable
from bridge.core.model import FollowUp, NationalComplaint, Status
from bridge.core.plan import (
    Entry,
    Pair,
    Said,
    StatusNote,
    fold,
    follow_ups_to_copy,
    followup_text,
    is_stale,
    needs_city_words,
    plan_local_change,
    plan_national_change,
    restate,
)
from bridge.core.ports import BRIDGE_REF_PREFIX, LocalSource, National
from bridge.core.tags import EXT_PREFIX
from bridge.core.timefmt import parse_rfc3339, utcnow
from bridge.core.tracking import COST, POLL_MAX, STALE_SHARE, Spending, Tracking, poll_interval
from bridge.runtime.http import counting_requests
from bridge.runtime.logs import get_logger
from bridge.sync.store import NOT_DISPOSED
from bridge.sync.storeport import IntentRow, LedgerRow, MappingRow, StateStore

log = get_logger("bridge.twoway")

#: the inbox read starts here on a first run
INBOX_EPOCH = datetime.fromisoformat("2000-01-01T00:00:00+00:00")
#: the inbox is read again from this long before its cursor: LAPOR's clock stepping back
#: stamps complaints behind a cursor it already passed. A complaint read again changes
#: nothing (its follow-ups are known, an import is made once)
INBOX_OVERLAP = timedelta(minutes=5)
#: how far back a lost local create is looked for: apps compare with their own clocks,
#: which may run slow; a wide margin only costs reading more of the feed, and only then
FIND_MARGIN = timedelta(days=1)
#: how long a create in doubt on an app that queues its creates (it has answered with
#: tokens) is left to appear before it is posted again: the lost answer may have
#: carried a token, and the request may be made later than the search looks
QUEUE_SETTLE = timedelta(minutes=15)


@dataclass
class PairReport:
    to_national: int = 0
    to_local: int = 0
    statuses: int = 0
    imported: int = 0
    conflicts: int = 0
    polled: int = 0
    #: requests the reads by id sent to LAPOR (charged to the account's tracking budget)
    tracking_requests: int = 0


class _Hold(Exception):
    """This row cannot go yet; the rows after it wait."""


def pair_of(mapping: MappingRow) -> Pair:
    """The two-way rules' view of a mapping row."""
    seen, local, national = (
        mapping.national_updated_at, mapping.local_canonical, mapping.national_canonical,
    )  # fmt: skip
    assert mapping.national_id is not None, "a pair has its national complaint"
    return Pair(
        source=mapping.source,
        local_id=mapping.local_id,
        national_id=mapping.national_id,
        from_national=mapping.origin == "national",
        local_canonical=Status(local) if local else None,
        national_canonical=Status(national) if national else None,
        agency=mapping.agency,
        conflict=bool(mapping.conflict),
        kept_local=mapping.conflict_kept == "local",
        national_seen_at=parse_rfc3339(seen) if seen else None,
        national_status_name=mapping.national_status_name,
    )


class TwoWay:
    """The convergence half of the engine; called by it for sources and accounts."""

    def __init__(
        self,
        store: StateStore,
        sources: Mapping[str, LocalSource],
        nationals: Mapping[str, National],
        crash: Callable[[str], None],
        poll_floor: timedelta = timedelta(minutes=1),
        tracking: Tracking | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        """``tracking``: each account's budget for following its complaints by id, and the
        bound on a view's age (bridge/core/tracking.py); ``clock`` is the time the schedule
        and the budget go by (the wall clock when ``None``)."""
        self.store = store
        self.sources = sources
        self.nationals = nationals
        self._crash = crash
        self.poll_floor = poll_floor
        self.tracking = tracking or Tracking()
        self._clock = clock or (lambda: utcnow())  # looked up at each call

    # local → national --------------------------------------------------------
    def local_changed(
        self,
        source: LocalSource,
        national: National,
        mapping: MappingRow,
        follow_ups: tuple[FollowUp, ...],
        local_status: Status,
        report: PairReport,
    ) -> None:
        """Record what the city did in its app as intents, then send them in order."""
        pair = pair_of(mapping)
        # a record without responses (most new ones) needs no look at the ledger
        known = (
            self.store.followup_origins(source.name, pair.local_id, "to_national")
            if follow_ups
            else set()
        )
        change = plan_local_change(pair, follow_ups, known, local_status, BRIDGE_REF_PREFIX)
        if change is None:
            return  # the common case of a new record: no response, no status to carry
        with self.store.atomic():
            self._record_entries(pair, "to_national", change.entries, change.said)
            self._note_status(pair, change.status, report, "local")
        self.flush_to_national(source, national, pair.local_id, report)

    def _record_entries(
        self, pair: Pair, direction: str, entries: tuple[Entry, ...], said: tuple[Said, ...]
    ) -> None:
        """The plan's ledger rows, and when each response was said (the SLA report's first
        response, in the clock of the side that said it)."""
        for entry in entries:
            self.store.add_followup(
                source=pair.source,
                local_id=pair.local_id,
                national_id=pair.national_id,
                direction=direction,
                origin_id=entry.origin_id,
                kind=entry.kind,
                author=entry.author,
                ref=entry.ref,
                content=entry.content,
            )
        for seen in said:
            self.store.event(
                "response_seen",
                pair.source,
                pair.local_id,
                pair.national_id,
                side=seen.side,
                origin=seen.origin,
                said_at=seen.at.isoformat(),
            )

    def flush_to_national(
        self, source: LocalSource, national: National, local_id: str | None, report: PairReport
    ) -> None:
        rows = self.store.pending_followups("to_national", source.name, local_id)
        held: set[str] = set()
        for row in rows:
            if row.local_id in held:
                continue
            try:
                self._send_to_national(national, row, report)
            except _Hold as exc:
                held.add(row.local_id)
                with self.store.atomic():
                    self.store.followup_attempt(row.id, str(exc))

    def _send_to_national(self, national: National, row: LedgerRow, report: PairReport) -> None:
        national_id = row.national_id
        decision = row.decision
        if decision == "posted":  # an operator found it on LAPOR (indoubt resolve --posted)
            self._done(row, None, report, "to_national")
            return
        # looked for first, every time: an earlier attempt's answer may have been lost, or
        # the database that knew of the post restored from before it (one read a post);
        # an operator's --not-posted stands for that read
        if row.kind != "reject" and decision != "not_posted":
            found = self.find_national_followup(national, national_id, row.content, row.id)
            if found is not None:
                self._done(row, found, report, "to_national")
                return
        with self.store.atomic(durable=True):
            self.store.followup_attempt(row.id, None)  # attempted: look before posting again
            self.store.decide_followup(row.id, None)
        self._crash("followup_intent")
        remote: str | None
        try:
            if row.kind == "reject":
                national.reject(national_id, row.content)
                remote = "reject"
            else:
                remote = national.add_follow_up(national_id, row.content, row.kind == "complete")
        except Ambiguous as exc:
            raise _Hold(f"answer lost: {exc}") from None
        except Rejected as exc:
            if exc.status == 403 and not self.national_closed(row.source, row.local_id):
                raise _Hold(NOT_DISPOSED) from None
            with self.store.atomic():
                self.store.finish_followup(row.id, "failed", error=exc.message)
                self.store.event(
                    "followup_refused",
                    row.source,
                    row.local_id,
                    national_id,
                    status=exc.status,
                    message=exc.message,
                    item=row.kind,
                )
            return
        self._crash("followup_posted")
        self._done(row, remote, report, "to_national")
        if row.kind == "complete" and "mark_completed" in national.capabilities:
            # without the capability LAPOR closes on its own, later: it is read then
            with self.store.atomic():
                self.store.update_mapping(
                    row.source,
                    row.local_id,
                    national_canonical=Status.DONE.value,
                    national_status=national.status_code(Status.DONE),
                )

    def national_closed(self, source: str, local_id: str) -> bool:
        """A closed (done or archived) complaint takes no more follow-ups: waiting is pointless."""
        mapping = self.store.mapping(source, local_id)
        closed = (Status.DONE.value, Status.REJECTED.value)
        return mapping is not None and mapping.national_canonical in closed

    def find_national_followup(
        self, national: National, national_id: int, content: str, row_id: int
    ) -> str | None:
        """This row's follow-up on LAPOR, if it is there: one from this institution with
        the same words that no other row of the same words accounts for (LAPOR's answer
        need not give an id, and a city may say the same thing twice)."""
        wanted = fold(content)
        claimed = self.store.followup_remote_ids(national_id)
        mine = [
            item
            for item in national.follow_ups(national_id)
            if item.author == "instansi" and fold(item.content) == wanted
        ]
        unclaimed = [item for item in mine if item.id not in claimed]
        sent_before = self.store.followups_sent_like(national_id, content, row_id)
        # rows of the same words already done without a known id account for the oldest
        spare = unclaimed[sent_before:]
        return spare[0].id if spare else None

    def _done(self, row: LedgerRow, remote: str | None, report: PairReport, direction: str) -> None:
        with self.store.atomic():
            self.store.finish_followup(row.id, remote_id=remote)
            self.store.event(
                "followup_sent" if direction == "to_national" else "response_written",
                row.source,
                row.local_id,
                row.national_id,
                item=row.kind,
                origin=row.origin_id,
            )
        if direction == "to_national":
            report.to_national += 1
        else:
            report.to_local += 1

    # national → local --------------------------------------------------------
    def _words_of_the_city(
        self, source: LocalSource, local_id: str, national_id: int
    ) -> set[str] | None:
        """What the city said on this complaint, folded: to tell its words from an agency's.

        The follow-ups the bridge sent or is sending to LAPOR for the complaint,
        and the responses in the local record (what a lost database forgot).
        ``None`` when the local record cannot be read now.
        """
        said = {fold(text) for text in self.store.followup_texts_to_national(national_id)}
        try:
            raw = source.fetch(local_id)
            if raw is None:
                return None
            responses = source.normalize(raw).follow_ups
        except (Unavailable, Ambiguous, Rejected, NormalizeError):
            return None
        for response in responses:
            said.add(fold(response.content))
            said.add(fold(followup_text(response.content, response.author)))
        return said

    def national_changed(
        self, mapping: MappingRow, complaint: NationalComplaint, report: PairReport
    ) -> None:
        """Carry a changed LAPOR complaint to its local record: follow-ups, archive, status."""
        source = self.sources.get(mapping.source)
        national = self.nationals.get(mapping.account or "")
        if source is None or national is None:
            return
        pair = pair_of(mapping)
        if complaint.status is None and pair.national_status_name != complaint.status_name:
            # an unknown status name moves nothing, and is reported (lapor.md)
            with self.store.atomic():
                self.store.event(
                    "unknown_status_name",
                    pair.source,
                    pair.local_id,
                    complaint.id,
                    name=complaint.status_name,
                )
        if is_stale(pair, complaint.updated_at):
            self.store.event("stale_update_ignored", pair.source, pair.local_id, complaint.id)
            return  # an older view never moves state
        national_status = complaint.status or pair.national
        # LAPOR times have one-second resolution: an equal time may still hide a change, so
        # the follow-ups of every complaint the inbox or the poll hands us are read
        local_id = pair.local_id
        known = self.store.followup_origins(source.name, local_id, "to_local")
        own = self.store.followup_remote_ids(complaint.id)
        on_lapor = national.follow_ups(complaint.id)
        said = None
        if needs_city_words(on_lapor, known, own):
            said = self._words_of_the_city(source, local_id, complaint.id)
        copied: set[str] = set()
        if national_status == Status.REJECTED and complaint.archive_reason:
            copied = self.store.followup_texts(source.name, local_id, "to_local")
        change = plan_national_change(
            pair,
            national_status,
            complaint.id,
            complaint.archive_reason,
            follow_ups_to_copy(on_lapor, known, own, said),
            copied,
            BRIDGE_REF_PREFIX,
        )
        with self.store.atomic():
            self._record_entries(pair, "to_local", change.entries, change.said)
        self.flush_to_local(source, local_id, report)
        if change.to_local is not None:
            source.set_status(local_id, change.to_local)
            report.statuses += 1
            with self.store.atomic():
                self.store.event(
                    "local_status_moved",
                    source.name,
                    local_id,
                    complaint.id,
                    old=pair.local.value,
                    new=change.to_local.value,
                )
        with self.store.atomic():
            if change.national_moved:
                self.store.event(
                    "national_status_moved",
                    source.name,
                    local_id,
                    complaint.id,
                    old=pair.national_canonical.value if pair.national_canonical else None,
                    new=national_status.value,
                    code=complaint.status_code,
                    name=complaint.status_name,
                )
            self._note_status(pair, change.status, report, "national")
            self.store.update_mapping(
                source.name,
                local_id,
                national_status=complaint.status_code,
                national_status_name=complaint.status_name,
                national_canonical=national_status.value,
                national_updated_at=complaint.updated_at.isoformat(),
                last_seen_at=self._clock().isoformat(timespec="microseconds"),
            )

    def flush_to_local(self, source: LocalSource, local_id: str | None, report: PairReport) -> None:
        """Write the pending rows into the app, in order per record.

        No ledger can prove that a row was never written: a database restored from a
        backup, or a new one, has forgotten what it wrote since. So before the first
        write into a record, the record is read once for the references the bridge
        leaves; a row whose reference is there is done without a second write.
        """
        held: set[str] = set()
        written: dict[str, frozenset[str]] = {}
        for row in self.store.pending_followups("to_local", source.name, local_id):
            record = row.local_id
            if record in held:
                continue
            try:
                if record not in written:
                    written[record] = self._local_refs(source, record)
                if row.ref in written[record]:
                    self._done(row, row.ref, report, "to_local")
                    continue
                self._send_to_local(source, row, report)
            except _Hold as exc:
                held.add(record)
                with self.store.atomic():
                    self.store.followup_attempt(row.id, str(exc))

    def _send_to_local(self, source: LocalSource, row: LedgerRow, report: PairReport) -> None:
        with self.store.atomic(durable=True):
            self.store.followup_attempt(row.id, None)
        self._crash("response_intent")
        response = FollowUp(
            id=row.origin_id,
            author=row.author or "LAPOR-SP4N",
            content=row.content,
            at=parse_rfc3339(row.created_at),
        )
        try:
            assert row.ref is not None, "a row for the app always carries the bridge's reference"
            source.add_response(row.local_id, response, row.ref)
        except Ambiguous as exc:
            raise _Hold(f"answer lost: {exc}") from None
        except Rejected as exc:
            with self.store.atomic():
                self.store.finish_followup(row.id, "failed", error=exc.message)
                self.store.event(
                    "response_refused",
                    row.source,
                    row.local_id,
                    row.national_id,
                    status=exc.status,
                    message=exc.message,
                )
            return
        self._crash("response_posted")
        self._done(row, row.ref, report, "to_local")

    def _local_refs(self, source: LocalSource, local_id: str) -> frozenset[str]:
        """The references of the bridge's responses in the app's record. A record that
        cannot be read or normalized holds the rows back: it cannot prove they are not
        there."""
        try:
            raw = source.fetch(local_id)
        except Unreadable as exc:  # that record alone, now: the others go on
            raise _Hold(str(exc)) from None
        if raw is None:
            return frozenset()
        try:
            complaint = source.normalize(raw)
        except Exception:  # an unreadable record cannot prove the response is not there
            raise _Hold("the record cannot be read to look for the bridge's responses") from None
        return frozenset(f.ref for f in complaint.follow_ups if f.ref)

    def _note_status(
        self, pair: Pair, note: StatusNote, report: PairReport, side: Literal["local", "national"]
    ) -> None:
        """Both sides' statuses and the conflict flag on the mapping; a new conflict reported.
        Inside a transaction: ``note`` was planned on ``pair``, and the other side's pass may
        have recorded its own since (:func:`bridge.core.plan.restate`)."""
        row = self.store.mapping_for_update(pair.source, pair.local_id)
        if row is not None and row.national_id is not None:
            note = restate(note, pair, now := pair_of(row), side=side)
            pair = now
        if note.new_conflict:
            report.conflicts += 1
            self.store.event(
                "status_conflict",
                pair.source,
                pair.local_id,
                pair.national_id,
                local=note.local.value,
                national=note.national.value,
            )
        self.store.update_mapping(
            pair.source,
            pair.local_id,
            conflict=int(note.conflict),
            local_canonical=note.local.value,
            status=note.target.value,
        )

    # the account's pass --------------------------------------------------------
    def sync_account(self, name: str, home: LocalSource | None, report: PairReport) -> None:
        national = self.nationals[name]
        if home is not None:
            self._resolve_imports(name, home, report)
        if "inbox" in national.capabilities:
            self._read_inbox(name, national, home, report)
        self._poll(name, national, report)

    def _read_inbox(
        self, name: str, national: National, home: LocalSource | None, report: PairReport
    ) -> None:
        cursor_name = f"account:{name}"
        stored = self.store.cursor(cursor_name)
        held = parse_rfc3339(stored) if stored else INBOX_EPOCH
        since = held - INBOX_OVERLAP if stored else INBOX_EPOCH
        for page in national.inbox(since):
            for complaint in page:
                self._inbox_item(name, home, complaint, report)
            last = max((c.updated_at for c in page), default=held)
            if last > held:  # a page inside the overlap would move the cursor back
                held = last
                with self.store.atomic():
                    self.store.set_cursor(cursor_name, last.isoformat())

    def _inbox_item(
        self,
        account: str,
        home: LocalSource | None,
        complaint: NationalComplaint,
        report: PairReport,
    ) -> None:
        mappings = self.store.mappings_for_national(complaint.id)
        if mappings:
            for mapping in mappings:  # the owner, then records merged into it
                with self.store.atomic():
                    self.store.update_mapping(
                        mapping.source,
                        mapping.local_id,
                        tracked_by="inbox",
                        next_poll_at=(utcnow() + POLL_MAX).isoformat(),
                    )
                self.national_changed(mapping, complaint, report)
            return
        own = sorted({t for t in (*complaint.tags, *complaint.markers) if t.startswith(EXT_PREFIX)})
        if own:
            # the bridge made it (its marker says so) but holds no mapping: never import it
            with self.store.atomic():
                self.store.event("own_complaint_unmapped", None, None, complaint.id, tags=own)
            return
        if home is None:
            return
        if self.store.pending_intent(home.name, f"#{complaint.id}", "import") is not None:
            return  # being resolved by _resolve_imports
        with self.store.atomic():
            intent_id = self.store.add_intent(
                "import",
                home.name,
                f"#{complaint.id}",
                {"complaint": complaint.model_dump(mode="json", exclude={"reporter"})},
                national_id=complaint.id,
                account=account,
            )
        self._import(account, home, intent_id, complaint, report)

    def _import(
        self,
        account: str,
        home: LocalSource,
        intent_id: int,
        complaint: NationalComplaint,
        report: PairReport,
    ) -> None:
        with self.store.atomic(durable=True):
            self.store.note_attempt(intent_id, None)
        self._crash("import_intent")
        try:
            created = home.create(complaint)
        except Ambiguous as exc:
            log.warning("import_answer_lost", source=home.name, national_id=complaint.id)
            with self.store.atomic():
                self.store.note_attempt(intent_id, str(exc))
            return
        except Rejected as exc:
            with self.store.atomic():
                self.store.finish_intent(intent_id, "failed", exc.message)
                self.store.quarantine(
                    home.name,
                    f"#{complaint.id}",
                    complaint.model_dump(mode="json", exclude={"reporter"}),
                    exc.message,
                )
            return
        if created.local_id is None:
            with self.store.atomic():
                self.store.import_queued(intent_id, str(created.token))
                self.store.event("import_queued", home.name, None, complaint.id)
            return
        self._commit_import(account, home, intent_id, complaint, created.local_id, report)

    def _commit_import(
        self,
        account: str,
        home: LocalSource,
        intent_id: int,
        complaint: NationalComplaint,
        local_id: str,
        report: PairReport,
    ) -> None:
        with self.store.atomic():
            if self.store.mapping(home.name, local_id) is not None:
                # the home app's own pass saw the new record (it names the complaint) first
                self.store.update_mapping(home.name, local_id, origin="national", account=account)
                self.store.finish_intent(intent_id)
                self.store.event("imported", home.name, local_id, complaint.id, seen_first="feed")
                return
            self.store.insert_mapping(
                source=home.name,
                local_id=local_id,
                national_id=complaint.id,
                origin="national",
                account=account,
                status=(complaint.status or Status.SUBMITTED).value,
                local_status=None,
                national_status=complaint.status_code,
                national_status_name=complaint.status_name,
                national_canonical=(complaint.status or Status.SUBMITTED).value,
                local_canonical=Status.SUBMITTED.value,
                national_updated_at=None,
                category=complaint.category,
                confidential=int(complaint.confidential),
                anonymous=int(complaint.anonymous),
                created_at=complaint.created_at.isoformat(),
                link_state="done",
                tracked_by="inbox",
            )
            self.store.finish_intent(intent_id)
            self.store.event("imported", home.name, local_id, complaint.id)
        report.imported += 1
        mapping = self.store.mapping(home.name, local_id)
        assert mapping is not None
        self.national_changed(mapping, complaint, report)

    def _resolve_imports(self, account: str, home: LocalSource, report: PairReport) -> None:
        national = self.nationals[account]
        for intent in self.store.pending_intents(home.name, "import"):
            national_id = intent.national_id
            assert national_id is not None, "an import names the complaint it imports"
            token = intent.payload.get("token")
            local_id: str | None
            if token:
                local_id = home.poll_created(str(token))
                if local_id is None:
                    continue  # queued: keep the token, poll again next pass; never re-post
            elif intent.attempts > 0:
                since = parse_rfc3339(intent.created_at) - FIND_MARGIN
                local_id = home.find_created(national_id, since)
                if local_id is None and self._may_still_appear(home, intent):
                    continue  # posting again now could make a second one later
            else:
                local_id = None
            complaint = national.complaint(national_id)
            if complaint is None:
                with self.store.atomic():
                    self.store.finish_intent(intent.id, "failed", "LAPOR no longer knows it")
                continue
            if local_id is not None:
                self._commit_import(account, home, intent.id, complaint, local_id, report)
            else:
                self._import(account, home, intent.id, complaint, report)

    def _may_still_appear(self, home: LocalSource, intent: IntentRow) -> bool:
        """A create in doubt on an app that queues, posted less than QUEUE_SETTLE ago."""
        if not self.store.answered_with_tokens(home.name):
            return False  # the app makes a request as it answers: not found is not made
        return utcnow() - parse_rfc3339(intent.updated_at) < QUEUE_SETTLE

    def _poll(self, account: str, national: National, report: PairReport) -> None:
        """Complaints outside the inbox (not yet verified, or disposed elsewhere), by
        schedule, most overdue first, within the account's budget (bridge/core/tracking.py)."""
        names = [s.name for s in self.sources.values() if s.account == account]
        now = self._clock()
        spending = Spending.load(self.store, account, self.tracking.budget(account), now)
        reads = spending.available(now) // COST
        stamp = now.isoformat(timespec="microseconds")
        # what a read costs is counted where the requests leave, in this thread only
        destination = getattr(getattr(national, "endpoint", None), "name", "LAPOR")
        stale = (now - self.tracking.max_view_age).isoformat(timespec="microseconds")
        due = self.store.due_for_polling(
            names, stamp, reads, stale_before=stale, stale_share=STALE_SHARE
        )
        for mapping in due:
            now = self._clock()
            if spending.available(now) < COST:
                break  # a read cost more than two requests: the rest wait for the budget
            with counting_requests(destination) as sent:
                try:
                    self._poll_one(account, national, mapping, now, report)
                finally:
                    # charged even when the read failed: LAPOR saw the requests
                    spending.charge(now, sent.sent)
                    report.tracking_requests += sent.sent
                    if sent.sent and spending.paced_until is not None:
                        with self.store.atomic():
                            self.store.charge_tracking(
                                account,
                                now.isoformat(timespec="microseconds"),
                                sent.sent,
                                spending.paced_until.isoformat(timespec="microseconds"),
                            )

    def _poll_one(
        self,
        account: str,
        national: National,
        mapping: MappingRow,
        now: datetime,
        report: PairReport,
    ) -> None:
        assert mapping.national_id is not None  # due_for_polling: mapped ones only
        complaint = national.complaint(mapping.national_id)
        report.polled += 1
        if complaint is None:
            return
        for each in self.store.mappings_for_national(complaint.id):
            # the owner, then every record merged into it: all of them are answered
            each = replace(each, account=each.account or account)
            self.national_changed(each, complaint, report)
        closed = complaint.status in (Status.DONE, Status.REJECTED)
        wanted = poll_interval(
            now - complaint.created_at, now - complaint.updated_at, self.poll_floor, closed=closed
        )
        with self.store.atomic():
            self.store.update_mapping(
                mapping.source,
                mapping.local_id,
                account=account,
                tracked_by="polling",
                # the view is this read's, whatever the complaint showed
                last_seen_at=now.isoformat(timespec="microseconds"),
                next_poll_at=(now + wanted).isoformat(timespec="microseconds"),
            )


__all__ = ["POLL_MAX", "PairReport", "TwoWay", "Unavailable", "poll_interval"]
