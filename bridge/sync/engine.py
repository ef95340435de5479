"""The executor: one pass over each source, performing what :func:`bridge.core.plan.plan` decides.

Crash safety, in order: the create intent (frozen body + tag) is committed
before the POST, and marked sent (with the time until which LAPOR may still
apply it) just before it; the mapping after the answer; the cursor after
every record of its page is committed. A create whose answer was lost (a
timeout, a dropped connection, a crash) is **in doubt**: it is never posted
again without positive evidence that LAPOR does not have it (lapor.md,
Recovery) — a tag search with the ``tag_search`` capability, else a scan of
the ids between the account's neighbouring answered creates for its marker,
else an operator's decision (``lapor-bridge indoubt resolve``).
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, NotRequired, TypedDict

import httpx

from bridge.core.errors import Ambiguous, NormalizeError, Rejected, Stopped, Unavailable, Unreadable
from bridge.core.model import Attachment, Complaint, NationalTicket, Status
from bridge.core.plan import (
    Action,
    Create,
    Known,
    Link,
    Record,
    Recover,
    WriteBack,
    converge,
    fingerprint,
    plan,
)
from bridge.core.ports import CreateRequest, LocalSource, National, Photo, RawRecord
from bridge.core.tags import tags_for
from bridge.core.timefmt import utcnow
from bridge.core.tracking import Tracking
from bridge.runtime.logs import get_logger
from bridge.sync import photos as photo_rules
from bridge.sync import requests as operator_requests
from bridge.sync.dedupe import DedupeIndex
from bridge.sync.gate import Gate, GatedNational, GatedSource
from bridge.sync.inflight import DEFAULT_MAX_IN_FLIGHT, Flights
from bridge.sync.storeport import (
    STATE_ERRORS,
    TRANSIENT_RETRIES,
    TRANSIENT_STATE_ERRORS,
    IntentRow,
    LatePhotoRow,
    StateStore,
)
from bridge.sync.twoway import PairReport, TwoWay, poll_interval

log = get_logger("bridge.engine")

#: creates in a row whose answers are lost before a pass stops (LAPOR is in trouble: more
#: posts would only leave more records in doubt)
LOST_IN_A_ROW = 3
#: how many scanned ids' markers are remembered between passes (contents do not change)
SCAN_MEMORY = 20_000
WRITE_BACK_BATCH = 100  # tracking ids written back per commit
#: errors that fail a pass (retried as a whole later), never a record's quarantine
PASS_FAILURES: tuple[type[BaseException], ...] = (
    Unavailable,
    Ambiguous,
    Rejected,
    *STATE_ERRORS,
    httpx.HTTPError,
    OSError,
    MemoryError,
)


#: what stops every pass, not one source's: the state itself failing, or memory
UNRECOVERABLE: tuple[type[BaseException], ...] = (*STATE_ERRORS, MemoryError)


#: a store write a worker thread leaves to the pass's thread (``_photos``, ``_upload``)
Note = Callable[[Callable[[], None]], None]


def _now(write: Callable[[], None]) -> None:
    write()


class CrashPoint(BaseException):
    """Raised by test crash hooks to stop the engine as a kill would (not an Exception)."""


@dataclass
class SourceReport:
    name: str
    seen: int = 0
    created: int = 0
    linked: int = 0
    updated: int = 0
    quarantined: int = 0
    recovered: int = 0
    in_doubt: int = 0
    pair: PairReport = field(default_factory=PairReport)
    error: str | None = None
    #: a stop (SIGTERM, SIGINT) cut the pass short: not a failure, not a full pass either
    stopped: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class AccountReport:
    name: str
    pair: PairReport = field(default_factory=PairReport)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class PassReport:
    sources: dict[str, SourceReport] = field(default_factory=dict)
    accounts: dict[str, AccountReport] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        sources_ok = all(r.ok for r in self.sources.values())
        return sources_ok and all(r.ok for r in self.accounts.values())


class Engine:
    """Runs passes of the sources it is given against their accounts on LAPOR."""

    def __init__(
        self,
        store: StateStore,
        sources: Mapping[str, LocalSource],
        nationals: Mapping[str, National],
        *,
        homes: Mapping[str, str | None] | None = None,
        crash_hook: Callable[[str], None] | None = None,
        should_stop: Callable[[], bool] = lambda: False,
        poll_floor: timedelta = timedelta(minutes=1),
        scan_limit: int = 500,
        tracking: Tracking | None = None,
        clock: Callable[[], datetime] | None = None,
        max_in_flight: int | Mapping[str, int] = DEFAULT_MAX_IN_FLIGHT,
    ) -> None:
        """``homes`` maps each account to the source its inbox complaints go to;
        ``scan_limit`` is the most ids read to settle a create in doubt (the ids of the
        bridge's own creates in the bracket aside),
        ``tracking`` each account's budget for following its complaints by id and the
        bound on a view's age (bridge/core/tracking.py), on ``clock``'s time.
        ``max_in_flight`` bounds the requests a source pass has in flight to each
        destination (``lapor:ACCOUNT``, ``source:NAME``; one number for all): 1 sends
        one at a time."""
        self.store = store
        # every port behind the gate: the held work is committed before a request leaves
        self.gate = Gate()
        self.sources: dict[str, LocalSource] = {
            name: GatedSource(source, self.gate) for name, source in sources.items()
        }
        self.nationals: dict[str, National] = {
            account: GatedNational(national, self.gate) for account, national in nationals.items()
        }
        self.homes = dict(homes or {})
        self._crash = crash_hook or (lambda point: None)
        self._should_stop = should_stop
        self.twoway = TwoWay(
            store,
            self.sources,
            self.nationals,
            self._crash,
            poll_floor,
            tracking=tracking,
            clock=clock,
        )
        self.scan_limit = scan_limit
        self.max_in_flight = max_in_flight
        self._scanned: dict[int, tuple[str, ...]] = {}  # id → markers, of scans so far
        self._settled: set[int] = set()  # create intents looked into in this source pass
        self._lost_in_a_row = 0
        self.dedupe = DedupeIndex(store)
        # sources whose state this process trusts for creates: it listed LAPOR for them in
        # a new database, or completed a pass (see _discover); others look before posting
        self._trusted: set[str] = set()

    # passes ----------------------------------------------------------------
    def sync(self, names: Iterable[str] | None = None) -> PassReport:
        """Every source (local → national), then every account (national → local)."""
        report = PassReport()
        for name in names if names is not None else self.sources:
            if self._should_stop():
                break
            report.sources[name] = self.sync_source(name)
        for account in self.nationals:
            if self._should_stop():
                break
            home = self.homes.get(account)
            if home is not None and home not in self.sources:
                continue  # its home app is not part of this run: its inbox waits
            if not any(s.account == account for s in self.sources.values()):
                continue
            report.accounts[account] = self.sync_account(account)
        return report

    def sync_account(self, name: str) -> AccountReport:
        report = AccountReport(name)
        home_name = self.homes.get(name)
        home = self.sources.get(home_name) if home_name else None
        self.store.pass_started(f"account:{name}", "account")
        try:
            for source in self.sources.values():
                if source.account == name:
                    self.twoway.flush_to_local(source, None, report.pair)
            self.twoway.sync_account(name, home, report.pair)
        except (Unavailable, Ambiguous, Rejected) as exc:
            report.error = str(exc)
            log.warning("pass_failed", account=name, error=report.error)
        self.store.pass_finished(f"account:{name}", report.error)
        log.info(
            "account_pass_done",
            account=name,
            imported=report.pair.imported,
            responses=report.pair.to_local,
            statuses=report.pair.statuses,
            polled=report.pair.polled,
            ok=report.ok,
        )
        return report

    def sync_source(self, name: str) -> SourceReport:
        source = self.sources[name]
        national = self.nationals[source.account]
        # what operators asked for on this source's records goes first (bridge/sync/requests.py)
        operator_requests.carry_out(self, name)
        report = SourceReport(name)
        self.store.pass_started(f"source:{name}", "source")
        try:
            # one commit before each request (the gate) and after each page, not one per change
            with self.store.holding(), self.gate.committing(self.store.commit_held):
                self._source_pass(source, national, report)
        except Stopped:
            report.stopped = True  # what was done is committed; the next pass goes on
        except (Unavailable, Ambiguous, Rejected) as exc:
            report.error = str(exc)
            log.warning("pass_failed", source=name, error=report.error)
        except UNRECOVERABLE:
            raise  # the state itself: nothing else can go on either
        except Exception as exc:
            # a bug met outside any one record (a feed page the bridge cannot read, say):
            # this source's pass fails with where it broke, the other sources still run
            report.error = _unexpected(exc).replace("this record", "this pass")
            log.error("pass_failed", source=name, error=report.error)
        if report.ok and not report.stopped:
            self._trusted.add(name)
        if report.stopped:
            self.store.pass_stopped(f"source:{name}")
        else:
            self.store.pass_finished(f"source:{name}", report.error)
        log.info(
            "pass_stopped" if report.stopped else "pass_done",
            source=name,
            seen=report.seen,
            created=report.created,
            linked=report.linked,
            quarantined=report.quarantined,
            recovered=report.recovered,
            ok=report.ok,
        )
        return report

    def _source_pass(self, source: LocalSource, national: National, report: SourceReport) -> None:
        self._settled.clear()
        self._lost_in_a_row = 0
        if "tag_search" in national.capabilities:
            self._discover(source, national)
        self._recover_in_doubt(source, national, report)
        self.write_back_pending(source)
        self.twoway.flush_to_national(source, national, None, report.pair)
        self._late_photos(source, national)
        cursor_name = f"source:{source.name}"
        flights = self._flights(f"lapor:{source.account}")
        try:
            for page in source.pull(self.store.cursor(cursor_name)):
                if flights is not None:
                    self._page_in_flight(source, national, page.records, report, flights)
                for raw in page.records if flights is None else ():
                    if self._should_stop():
                        raise Stopped("stopping: interrupted by a signal")
                    self.process(source, national, raw, report)
                if page.cursor is not None:
                    with self.store.atomic():
                        self.store.set_cursor(cursor_name, page.cursor)
                self.store.commit_held()  # the page's work, with its cursor
        finally:
            if flights is not None:
                flights.close()
        if report.created and report.in_doubt:
            # creates answered in this pass may bound the scan of one in doubt: look again
            # now rather than a poll interval later (scanned ids are remembered)
            report.in_doubt = 0
            self._settled.clear()
            self._recover_in_doubt(source, national, report)
        # tracking ids go back after the read: a write moves the record in most apps'
        # feeds, and moving records under a reader makes pages shift
        self.write_back_pending(source)

    def in_flight(self, destination: str) -> int:
        """Requests a pass may have in flight to ``destination`` at once."""
        if isinstance(self.max_in_flight, int):
            return max(1, self.max_in_flight)
        return max(1, self.max_in_flight.get(destination, DEFAULT_MAX_IN_FLIGHT))

    def _flights(self, destination: str, *, probe: bool = False) -> Flights | None:
        """Workers for ``destination``, for one pass; ``None`` at one request at a time.
        ``probe``: calls the pass's thread only waits for, made in-line on a fast wire
        from the first (:class:`Flights`)."""
        limit = self.in_flight(destination)
        if limit <= 1:
            return None
        return Flights(
            destination,
            limit,
            before_wait=self.store.commit_held,
            heartbeat=self._should_stop,
            probe=probe,
        )

    # one page, concurrently -------------------------------------------------
    def _page_in_flight(
        self,
        source: LocalSource,
        national: National,
        records: Iterable[RawRecord],
        report: SourceReport,
        flights: Flights,
    ) -> None:
        """One page with up to ``flights.limit`` creates in flight (docs/design.md, "Concurrency
        inside a source pass"). This thread alone touches the store: it plans each record
        and commits its intent before handing the request to a worker, and commits each
        answer as it comes. A record that is not a plain new one (an update, a link, one
        to look up first) is processed here as in a sequential pass; one that may be the
        same citizen's as a record in flight (the duplicate check could not see it yet),
        or the same record twice, waits for a second round after the others are
        committed. Returns once every record of the page is committed."""
        busy: set[str] = set()  # records with a call in flight
        citizens: set[str] = set()  # their phone keys (the duplicate check's blocks)
        later: list[RawRecord] = []
        try:
            for raw in records:
                if self._should_stop():
                    flights.drain()
                    raise Stopped("stopping: interrupted by a signal")
                if raw.local_id in busy:
                    later.append(raw)
                    continue
                self._start(source, national, raw, report, flights, busy, citizens, later)
            flights.drain()
            for raw in later:
                if self._should_stop():
                    raise Stopped("stopping: interrupted by a signal")
                self.process(source, national, raw, report)
        except Exception:
            try:  # what is in flight is answered and committed before the pass fails
                flights.drain()
            except Exception as exc:
                log.warning("in_flight_failed", source=source.name, error=str(exc))
            raise
        except BaseException:
            flights.abandon()  # an interrupt commits nothing more, as a kill would not
            raise

    def _start(
        self,
        source: LocalSource,
        national: National,
        raw: RawRecord,
        report: SourceReport,
        flights: Flights,
        busy: set[str],
        citizens: set[str],
        later: list[RawRecord],
    ) -> None:
        """Plan one record of a page in flight; a new one's create goes to a worker."""
        complaint: Complaint | None = None
        try:
            complaint = source.normalize(raw)
            if self._known(source.name, complaint.local_id) is not None:
                complaint = None  # mapped or in doubt: as in a sequential pass
        except PASS_FAILURES:
            raise
        except Exception:
            complaint = None  # process() quarantines it, with the reason
        if complaint is not None:
            key = self.dedupe.entry(complaint).phone_key
            if key is not None and key in citizens:
                later.append(raw)  # maybe a duplicate of one in flight: after those
                return
        tags = tags_for(source.name, raw.local_id)
        plain = (
            complaint is not None
            and complaint.national_id is None
            and self.store.discovered(tags[1]) is None
            and ("tag_search" not in national.capabilities or source.name in self._trusted)
        )
        if complaint is None or not plain:
            self.process(source, national, raw, report)
            return
        report.seen += 1
        local_id = complaint.local_id

        def done() -> None:
            busy.discard(local_id)
            citizens.discard(key or "")

        def guarded(step: Callable[[], None]) -> None:
            try:
                step()
            except PASS_FAILURES:
                done()
                raise
            except Exception as exc:
                done()
                reason = _unexpected(exc)
                log.error("record_failed", source=source.name, local_id=local_id, error=reason)
                self._quarantine(source.name, local_id, raw.payload, reason, report, raw.display_id)

        def merged_or_not() -> None:
            if self._merge_if_duplicate(source, complaint, report):
                done()
                self._after(source, national, complaint, None, [Create()], report)
                return
            busy.add(local_id)
            if key is not None:
                citizens.add(key)
            if not complaint.attachments:
                send([], [])
                return
            notes: list[Callable[[], None]] = []
            flights.submit(
                lambda: self._upload(
                    national, complaint, self._photos(source, complaint, notes.append),
                    notes.append,
                ),
                lambda ids, error: guarded(lambda: uploaded(ids, notes, error)),
            )  # fmt: skip

        def uploaded(
            ids: list[int], notes: list[Callable[[], None]], error: BaseException | None
        ) -> None:
            for note in notes:
                note()
            if error is not None:
                raise error
            send(ids, notes)

        def send(ids: list[int], _: object) -> None:
            try:
                request = national.prepare_create(complaint, tags, ids)
            except Rejected as exc:
                done()
                self._quarantine(
                    source.name, local_id, raw.payload, exc.message, report, complaint.display_id
                )
                return
            intent = self._create_intent(source, national, complaint, request)
            body = CreateRequest(tag=intent.payload["tag"], body=intent.payload["body"])
            flights.submit(
                partial(national.create, body),
                lambda ticket, error: guarded(lambda: answered(intent, ticket, error)),
            )

        def answered(
            intent: IntentRow, ticket: NationalTicket | None, error: BaseException | None
        ) -> None:
            done()
            self._answered(
                source, intent, report, ticket, error, raw=raw.payload, complaint=complaint
            )
            if complaint.follow_ups or complaint.status in (Status.DONE, Status.REJECTED):
                # else nothing to send after it (a new record's common case: no read)
                self._after(source, national, complaint, None, [Create()], report)

        guarded(merged_or_not)

    # resync ----------------------------------------------------------------
    def describe(self, source: LocalSource, raw: RawRecord) -> str:
        """What a pass would do with this record, in words (``resync --dry-run``)."""
        try:
            complaint = source.normalize(raw)
            known = self._known(source.name, complaint.local_id)
            actions = plan(complaint, known)
        except NormalizeError as exc:
            return f"{source.name}:{raw.local_id}: quarantine ({exc})"
        except PASS_FAILURES:
            raise
        except Exception as exc:
            return f"{source.name}:{raw.local_id}: quarantine ({_unexpected(exc)})"
        names = ", ".join(type(a).__name__.lower() for a in actions) or "nothing to do"
        mapped = f" (#{known.national_id})" if known and known.national_id else ""
        return f"{source.name}:{raw.local_id}{mapped}: {names}"

    def reconcile(self, source: LocalSource, raw: RawRecord, report: SourceReport) -> None:
        """Re-process one record, then refresh its national side (``resync``, retries)."""
        national = self.nationals[source.account]
        self.process(source, national, raw, report)
        mapping = self.store.mapping(source.name, raw.local_id)
        if mapping is None or mapping.national_id is None:
            return
        complaint = national.complaint(mapping.national_id)
        if complaint is not None:
            mapping = replace(mapping, account=mapping.account or source.account)
            self.twoway.national_changed(mapping, complaint, report.pair)

    # operators' corrections -------------------------------------------------
    def split(self, source: LocalSource, local_id: str, report: SourceReport) -> int:
        """Undo a merge: the record gets its own national complaint, once; returns its id."""
        mapping = self.store.mapping(source.name, local_id)
        if mapping is None or not mapping.duplicate_of:
            raise ValueError(f"{source.name}:{local_id} is not merged into another record")
        raw = source.fetch(local_id)
        if raw is None:
            raise ValueError(f"{source.name}:{local_id}: the app no longer knows this record")
        with self.store.atomic():
            self.store.delete_mapping(source.name, local_id)
            self.store.event(
                "mapping_split",
                source.name,
                local_id,
                mapping.national_id,
                was_duplicate_of=mapping.duplicate_of,
            )
        self.reconcile(source, raw, report)
        self.write_back_pending(source)
        created = self.store.mapping(source.name, local_id)
        if created is None or created.national_id is None:
            raise Unavailable(
                f"{source.name}:{local_id}: split, but its complaint is not created yet"
            )
        return created.national_id

    def link_by_hand(
        self, source: LocalSource, local_id: str, national_id: int, report: SourceReport
    ) -> None:
        """Map an unmapped or merged record to a national complaint an operator names."""
        national = self.nationals[source.account]
        target = national.complaint(national_id)
        if target is None:
            raise ValueError(f"LAPOR does not know #{national_id}")
        mapping = self.store.mapping(source.name, local_id)
        if mapping is not None and mapping.national_id == national_id:
            return
        if mapping is not None and not mapping.duplicate_of and mapping.national_id:
            own = mapping.national_id
            raise ValueError(
                f"{source.name}:{local_id} has its own national complaint #{own};"
                " only unmapped or merged records can be linked by hand"
            )
        raw = source.fetch(local_id)
        if raw is None:
            raise ValueError(f"{source.name}:{local_id}: the app does not know this record")
        complaint = source.normalize(raw)
        owner = self.store.mapping_by_national(national_id)
        duplicate_of = f"{owner.source}:{owner.local_id}" if owner else None
        summary = _summary(complaint)
        with self.store.atomic():
            if mapping is not None:
                self.store.delete_mapping(source.name, local_id)
            self.store.insert_mapping(
                source=source.name,
                local_id=local_id,
                national_id=national_id,
                duplicate_of=duplicate_of,
                origin="local",
                account=source.account,
                **local_side(summary),
                status=converge(
                    complaint.status, target.status or Status.SUBMITTED, national_origin=False
                ).target.value,
                national_canonical=(target.status or Status.SUBMITTED).value,
                national_status=target.status_code,
                national_status_name=target.status_name,
            )
            self.dedupe.add(complaint, national_id)
            self.store.release_quarantine(source.name, local_id)
            self.store.event(
                "linked_by_hand",
                source.name,
                local_id,
                national_id,
                previous=mapping.national_id if mapping else None,
                duplicate_of=duplicate_of,
            )
        report.linked += 1
        self._write_back(source, local_id, national_id)

    def _discover(self, source: LocalSource, national: National) -> None:
        """A source's first pass in this database: what LAPOR already holds of it.

        A database that is new while the app is not (restored from nothing after a disk
        loss, or a second install) does not know what was created before it. Every
        complaint this account created carries the source's tag: listing them once, page
        by page, shows which records a create must look up rather than post. On a fresh
        install the list is empty and costs one request.

        A database that is not new may still be behind LAPOR: restored from a backup, it
        lacks what was created after the backup and not yet written back to the app. So
        until this process completes a pass of the source, every create first looks its
        tag up (one request each, on the first pass after a start: usually a few).
        """
        marker = f"discovered:{source.name}"
        if self.store.cursor(marker) is not None:
            return
        fresh = self.store.cursor(f"source:{source.name}") is None and not self.store.has_mappings(
            source.name
        )
        found = 0
        if fresh:
            for page in national.tagged(source.name):
                tickets = [(tag, t.id) for t in page for tag in t.tags if tag != source.name]
                with self.store.atomic():
                    self.store.add_discovered(tickets)
                found += len(page)
            self._trusted.add(source.name)  # what LAPOR holds of it is listed now
        with self.store.atomic():
            self.store.set_cursor(marker, utcnow().isoformat())
            if found:
                self.store.event("discovered", source.name, found=found)
        if found:
            log.warning("discovered_on_lapor", source=source.name, complaints=found)

    # one record ------------------------------------------------------------
    def process(
        self, source: LocalSource, national: National, raw: RawRecord, report: SourceReport
    ) -> None:
        """One record, end to end. A record the bridge cannot handle is quarantined and the
        pass goes on: one poison record must not stall its whole feed. Outages, the store's
        own errors and anything of the wire fail the pass instead, to be retried as a whole.
        """
        try:
            self._process(source, national, raw, report)
        except PASS_FAILURES:
            raise
        except Exception as exc:
            reason = _unexpected(exc)
            log.error("record_failed", source=source.name, local_id=raw.local_id, error=reason)
            self._quarantine(source.name, raw.local_id, raw.payload, reason, report, raw.display_id)

    def _process(
        self, source: LocalSource, national: National, raw: RawRecord, report: SourceReport
    ) -> None:
        report.seen += 1
        try:
            complaint = source.normalize(raw)
        except NormalizeError as exc:
            self._quarantine(
                source.name, raw.local_id, raw.payload, str(exc), report, raw.display_id
            )
            return
        known = self._known(source.name, complaint.local_id)
        named = known is None and complaint.national_id is not None
        if named and self.store.was_split(source.name, complaint.local_id):
            # the link field still names the complaint it was merged into: not its own
            complaint = complaint.model_copy(update={"national_id": None})
        actions = plan(complaint, known)
        for action in actions:
            match action:
                case Create():
                    self._create(source, national, complaint, raw, report)
                case Recover():
                    self._recover(source, national, complaint.local_id, report)
                case Link(national_id=national_id):
                    self._link(source, national, complaint, national_id, report)
                case Record():
                    self._record(complaint, report)
                case WriteBack():
                    self._mark_unlinked(complaint.source, complaint.local_id)
        self._after(source, national, complaint, known, actions, report)

    def _after(
        self,
        source: LocalSource,
        national: National,
        complaint: Complaint,
        known: Known | None,
        actions: list[Action],
        report: SourceReport,
    ) -> None:
        """What follows a record's actions: its quarantine lifted, what the city said sent."""
        mapped = known is not None and known.national_id is not None
        if mapped and self.store.quarantine_open(source.name, complaint.local_id):
            with self.store.atomic():
                self.store.release_quarantine(source.name, complaint.local_id)
                self.store.event("quarantine_resolved", source.name, complaint.local_id)
        if known is not None and not any(isinstance(a, Record | Recover) for a in actions):
            return  # nothing new in the record
        mapping = self.store.mapping(source.name, complaint.local_id)
        if mapping is not None and mapping.national_id is not None:
            self.twoway.local_changed(
                source, national, mapping, complaint.follow_ups, complaint.status, report.pair
            )
            if mapping.catch_up and any(isinstance(a, Create) for a in actions):
                # created from this very record: its responses are recorded for LAPOR
                with self.store.atomic():
                    self.store.caught_up(source.name, complaint.local_id)

    def _known(self, source: str, local_id: str) -> Known | None:
        mapping = self.store.mapping(source, local_id)
        intent = self.store.pending_intent(source, local_id, "create")
        if mapping is None and intent is None:
            return None
        if mapping is None:
            return Known(intent_pending=True)
        return Known(
            national_id=mapping.national_id,
            fingerprint=mapping.fingerprint,
            linked=mapping.link_state == "done",
            intent_pending=intent is not None,
        )

    def _quarantine(
        self, source: str, local_id: str, raw: Any, reason: str, report: SourceReport,
        display_id: str | None = None,
    ) -> None:  # fmt: skip
        with self.store.atomic():
            entry = self.store.quarantine(source, local_id, raw, reason, display_id)
            self.store.event("quarantined", source, local_id, reason=reason, entry=entry)
        report.quarantined += 1
        log.warning("quarantined", source=source, local_id=local_id, reason=reason)

    # create ----------------------------------------------------------------
    def _create(
        self,
        source: LocalSource,
        national: National,
        complaint: Complaint,
        raw: RawRecord,
        report: SourceReport,
    ) -> None:
        tags = tags_for(source.name, complaint.local_id)
        # first: a record that already has its own complaint on LAPOR keeps it
        if self.store.discovered(tags[1]) is not None and self._adopt(
            source, national, complaint, tags[1], report
        ):
            return
        if self._merge_if_duplicate(source, complaint, report):
            return
        if self._known_on_lapor(source, national, complaint, tags[1], report):
            return
        try:
            ids = self._upload(national, complaint, self._photos(source, complaint))
            request = national.prepare_create(complaint, tags, ids)
        except Rejected as exc:
            self._quarantine(
                source.name, complaint.local_id, raw.payload, exc.message, report,
                complaint.display_id,
            )  # fmt: skip
            return
        intent = self._create_intent(source, national, complaint, request)
        self._post(
            source, national, intent, report, raw=raw.payload, complaint=complaint, marked=True
        )

    def _create_intent(
        self,
        source: LocalSource,
        national: National,
        complaint: Complaint,
        request: CreateRequest,
    ) -> IntentRow:
        """Commit the create's intent, marked sent (durably): its request may leave now.
        Returned as the store wrote it."""
        payload = {"tag": request.tag, "body": dict(request.body), "summary": _summary(complaint)}
        with self.store.atomic(durable=True):
            # marked sent as it is written: one durable commit per create, not two (a
            # kill before the request leaves costs a look for it, as a lost answer does)
            intent = self.store.add_create_intent(
                source.name,
                complaint.local_id,
                payload,
                tag=request.tag,
                account=source.account,
                timeout=timedelta(seconds=national.create_timeout),
            )
            self.store.event("create_intent", source.name, complaint.local_id, tag=request.tag)
            if request.category_fallback is not None:
                # lapor.md: the complaint flows under the fallback, and status says so
                self.store.event(
                    "category_fallback",
                    source.name,
                    complaint.local_id,
                    category=complaint.local_category or complaint.category,
                    sent_as=request.category_fallback,
                )
        self._crash("intent_committed")
        self._settled.add(intent.id)
        return intent

    def _known_on_lapor(
        self,
        source: LocalSource,
        national: National,
        complaint: Complaint,
        tag: str,
        report: SourceReport,
    ) -> bool:
        """With tag search, a source this process does not trust yet (a database restored
        from a backup may lack what was created since) looks each create up first."""
        if "tag_search" not in national.capabilities or source.name in self._trusted:
            return False
        return self._adopt(source, national, complaint, tag, report)

    def _adopt(
        self,
        source: LocalSource,
        national: National,
        complaint: Complaint,
        tag: str,
        report: SourceReport,
    ) -> bool:
        """A record whose complaint an earlier database created: looked up by its tag and
        mapped, not posted again. ``False`` when LAPOR no longer has it (then it is created)."""
        found = national.find_by_tag(tag)
        if not found:
            return False
        ticket = min(found, key=lambda t: t.id)
        summary = _summary(complaint)
        payload = {"tag": tag, "body": {}, "summary": summary}
        with self.store.atomic():
            intent_id = self.store.add_intent(
                "create", source.name, complaint.local_id, payload, tag=tag
            )
            self.store.event("adopted", source.name, complaint.local_id, ticket.id, tag=tag)
        report.recovered += 1
        self._commit_created(
            source, intent_id, complaint.local_id, summary, ticket, report, complaint,
            answered=False,
        )  # fmt: skip
        return True

    def _insert_merged(
        self,
        source: LocalSource,
        complaint: Complaint,
        national_id: int,
        duplicate_of: str,
        national_canonical: str | None,
        **extra: Any,
    ) -> None:
        """The mapping of a record merged into another record's national complaint."""
        summary = _summary(complaint)
        self.store.insert_mapping(
            source=source.name,
            local_id=complaint.local_id,
            national_id=national_id,
            duplicate_of=duplicate_of,
            origin="local",
            account=source.account,
            **local_side(summary),
            status=summary["status"],
            national_canonical=national_canonical,
            **extra,
        )

    def _merge_into_parent(
        self, source: LocalSource, complaint: Complaint, report: SourceReport
    ) -> bool:
        """The app says the record repeats another of its records (an Open311 city's
        duplicate): mapped to that record's national complaint, not created. When the
        parent has no complaint yet (not seen, in doubt, quarantined) the record is
        created on its own, and the event says why. A record the city closed as a
        duplicate keeps its own status (``conflict_kept = 'local'``): closing the copy
        is not a conflict with the complaint going on."""
        parent_id = str(complaint.parent_local_id)
        parent = self.store.mapping(source.name, parent_id)
        if parent is None or parent.national_id is None:
            with self.store.atomic():
                self.store.event(
                    "app_duplicate_parent_unmapped",
                    source.name,
                    complaint.local_id,
                    parent=f"{source.name}:{parent_id}",
                )
            return False
        national_id = int(parent.national_id)
        duplicate_of = parent.duplicate_of or f"{source.name}:{parent_id}"
        closed = complaint.status in (Status.REJECTED, Status.DONE)
        with self.store.atomic():
            self._insert_merged(
                source, complaint, national_id, duplicate_of, parent.national_canonical,
                conflict_kept="local" if closed else None,
            )  # fmt: skip
            self.store.release_quarantine(source.name, complaint.local_id)
            self.store.event(
                "merged",
                source.name,
                complaint.local_id,
                national_id,
                rule="app_duplicate",
                duplicate_of=duplicate_of,
            )
        report.linked += 1
        log.info("merged", source=source.name, local_id=complaint.local_id, into=duplicate_of)
        return True

    def _merge_if_duplicate(
        self, source: LocalSource, complaint: Complaint, report: SourceReport
    ) -> bool:
        """Rule (3): the same citizen's same problem through another record → one complaint.

        First the app's own word (:meth:`_merge_into_parent`)."""
        if self.store.was_split(source.name, complaint.local_id):
            return False  # an operator split it: it keeps its own national complaint
        if complaint.parent_local_id and self._merge_into_parent(source, complaint, report):
            return True
        check = self.dedupe.check(complaint)
        match = check.match
        if match is None and not check.decisions:
            return False  # no candidate at all: nothing to record
        with self.store.atomic():
            for decision in check.decisions:
                self.dedupe.record(decision)
            if match is None:
                return False
            owner = self.store.mapping_by_national(match.national_id)
            duplicate_of = f"{owner.source}:{owner.local_id}" if owner else match.ref
            self._insert_merged(
                source, complaint, match.national_id, duplicate_of,
                owner.national_canonical if owner else None,
            )  # fmt: skip
            self.dedupe.add(complaint, match.national_id)
            self.store.release_quarantine(source.name, complaint.local_id)
            self.store.event(
                "merged",
                source.name,
                complaint.local_id,
                match.national_id,
                rule=match.decision.rule,
                score=round(match.decision.score, 3),
                duplicate_of=duplicate_of,
                inputs=match.decision.inputs,
            )
        report.linked += 1
        log.info("merged", source=source.name, local_id=complaint.local_id, into=duplicate_of)
        return True  # its tracking id goes back with the pass's other write-backs

    def _recover_in_doubt(
        self, source: LocalSource, national: National, report: SourceReport
    ) -> None:
        for intent in self.store.pending_intents(source.name, "create"):
            if self._should_stop():
                raise Stopped("stopping: interrupted by a signal")
            self._settle(source, national, intent, report)
        for local_id in self.store.catching_up(source.name):
            if self._should_stop():
                raise Stopped("stopping: interrupted by a signal")
            self._catch_up(source, national, local_id, report)

    def _catch_up(
        self, source: LocalSource, national: National, local_id: str, report: SourceReport
    ) -> None:
        """After a create settled without the record in hand (m011's flag): what the city
        wrote before and meanwhile still has to reach LAPOR.

        The record's page may be behind the cursor already, and a feed's page may hold
        only its latest responses, so it is read again whole. The flag is cleared once its
        responses are recorded for LAPOR; a failed read keeps it for the next pass.
        """
        mapping = self.store.mapping(source.name, local_id)
        if mapping is None or mapping.national_id is None:
            with self.store.atomic():
                self.store.caught_up(source.name, local_id)
            return
        raw = source.fetch(local_id)
        if raw is not None:
            try:
                complaint = source.normalize(raw)
            except NormalizeError:
                complaint = None  # the next sighting of the record quarantines it
            if complaint is not None:
                self.twoway.local_changed(
                    source, national, mapping, complaint.follow_ups, complaint.status,
                    report.pair,
                )  # fmt: skip
        with self.store.atomic():
            self.store.caught_up(source.name, local_id)

    def _recover(
        self, source: LocalSource, national: National, local_id: str, report: SourceReport
    ) -> None:
        intent = self.store.pending_intent(source.name, local_id, "create")
        if intent is not None:
            self._settle(source, national, intent, report)

    def settle(self, source: LocalSource, local_id: str, report: SourceReport) -> None:
        """Settle one record's create in doubt now, acting on an operator's decision
        (``indoubt resolve``, carried out by :mod:`bridge.sync.requests`); then what the city
        wrote meanwhile goes to LAPOR."""
        national = self.nationals[source.account]
        intent = self.store.pending_intent(source.name, local_id, "create")
        if intent is None:
            return
        self._settled.discard(int(intent.id))
        self._settle(source, national, intent, report)
        self._catch_up(source, national, local_id, report)

    def _settle(
        self,
        source: LocalSource,
        national: National,
        intent: IntentRow,
        report: SourceReport,
        *,
        raw: Mapping[str, Any] | None = None,
        complaint: Complaint | None = None,
    ) -> None:
        """A pending create: posted when it was never sent, or when evidence (or an
        operator) says LAPOR does not have it; mapped when evidence finds it; else left
        in doubt. Looked into once a pass."""
        if intent.id in self._settled:
            return
        self._settled.add(intent.id)
        if intent.attempts == 0:  # committed, never sent: nothing to look for
            self._post(source, national, intent, report, raw=raw, complaint=complaint)
            return
        decision = intent.decision or ""
        if decision.startswith("tracking:"):
            self._operator_found(source, national, intent, int(decision.split(":", 1)[1]), report)
            return
        if decision == "not_created":
            self._post(source, national, intent, report, raw=raw, complaint=complaint)
            return
        found = self._evidence(source, national, intent)
        if isinstance(found, NationalTicket):
            report.recovered += 1
            with self.store.atomic():
                self.store.event(
                    "create_found", source.name, intent.local_id, found.id,
                    marker=intent.payload["tag"],
                )  # fmt: skip
            self._crash("create_found")
            self._commit_created(
                source, intent.id, intent.local_id, intent.payload["summary"], found,
                report, complaint, answered=False,
            )  # fmt: skip
        elif found is None:
            self._post(source, national, intent, report, raw=raw, complaint=complaint)
        else:
            report.in_doubt += 1

    def _evidence(
        self, source: LocalSource, national: National, intent: IntentRow
    ) -> NationalTicket | str | None:
        """lapor.md, Recovery: the complaint when found; ``None`` when the evidence is that
        LAPOR does not have it; else why nothing is known (the record stays in doubt)."""
        tag = str(intent.payload["tag"])
        tried: list[str] = []
        if "tag_search" in national.capabilities:
            try:
                found = national.find_by_tag(tag)
            except (Unavailable, Rejected) as exc:
                tried.append(f"tag search failed ({exc})")
            else:
                if found:
                    ticket = min(found, key=lambda t: t.id)
                    if len(found) > 1:
                        with self.store.atomic():
                            self.store.event(
                                "duplicates_on_lapor",
                                source.name,
                                intent.local_id,
                                ids=[t.id for t in found],
                            )
                    return ticket
                self._noted(intent, "tag search: complete, none carries the tag")
                return None
        outcome = self._scan(national, intent, tag)
        if isinstance(outcome, NationalTicket):
            return outcome
        self._noted(intent, "; ".join([*tried, outcome]))
        return None if outcome.startswith("scan ") else outcome

    def _scan(self, national: National, intent: IntentRow, tag: str) -> NationalTicket | str:
        """The bracket scan: read every id between the account's neighbouring answered
        creates for the marker. A ticket when found; ``"scan …"`` when every id was read
        without it (evidence of absence); any other text says why it is not conclusive."""
        account = str(intent.account or "")
        if intent.sent_at is None or intent.deadline is None:  # an intent of before m006
            return "no scan: when it was sent is not recorded"
        lower, upper = self.store.create_bracket(account, intent.sent_at, intent.deadline)
        if lower is None:
            return "no scan: no create of this account answered before it was sent"
        if upper is None:
            return f"no scan: no create of this account sent after {intent.deadline} yet"
        width = max(upper - lower - 1, 0)
        # ids the bridge's own answered creates hold are other records' complaints: with
        # creates in flight, or another account creating meanwhile, a bracket may hold
        # hundreds of them, and only the rest need reading
        own = self.store.created_between(lower, upper)
        unknown = width - len(own)
        if unknown > self.scan_limit:
            return (
                f"no scan: the bracket #{lower}–#{upper} holds {unknown} ids not created by"
                f" the bridge, over [lapor] scan_limit ({self.scan_limit}): left to the operator"
            )
        for national_id in range(lower + 1, upper):
            if national_id in own:
                continue
            markers = self._scanned.get(national_id)
            if markers is None:
                try:
                    ticket = national.get(national_id)
                except Rejected as exc:
                    if exc.status != 403:
                        return (
                            f"no conclusion: the scan #{lower}–#{upper} stopped at"
                            f" #{national_id} (HTTP {exc.status})"
                        )
                    ticket = None  # not this account's to see: not its complaint either
                except Unavailable as exc:
                    return (
                        f"no conclusion: the scan #{lower}–#{upper} stopped at #{national_id}"
                        f" ({exc})"
                    )
                if ticket is not None and tag in (*ticket.markers, *ticket.tags):
                    return ticket
                markers = ticket.markers if ticket is not None else ()
                if len(self._scanned) >= SCAN_MEMORY:
                    self._scanned.pop(next(iter(self._scanned)))
                self._scanned[national_id] = markers
            if tag in markers:
                found = national.get(national_id)
                if found is not None:
                    return found
        skipped = f" ({len(own)} held by the bridge's own creates, not read)" if own else ""
        return (
            f"scan #{lower + 1}–#{upper - 1}: {unknown} ids read{skipped}, none carries the marker"
        )

    def _noted(self, intent: IntentRow, evidence: str) -> None:
        """Keep what the last look found, and when; the audit log gets a line when it says
        something new (a create in doubt is looked at every pass: the same "no scan yet" a
        minute apart, for days, is one line, not one a pass)."""
        with self.store.atomic():
            self.store.note_evidence(intent.id, evidence)  # and when it was looked at
            if evidence != intent.evidence:
                self.store.event(
                    "indoubt_checked", intent.source, intent.local_id, evidence=evidence
                )

    def _operator_found(
        self,
        source: LocalSource,
        national: National,
        intent: IntentRow,
        national_id: int,
        report: SourceReport,
    ) -> None:
        """An operator found the complaint on LAPOR (``indoubt resolve --tracking``)."""
        ticket = national.get(national_id)
        if ticket is None:
            with self.store.atomic():
                self.store.decide(intent.id, None)
                self.store.event(
                    "indoubt_decision_void",
                    source.name,
                    intent.local_id,
                    national_id,
                    reason="LAPOR does not know that complaint",
                )
            report.in_doubt += 1
            return
        report.recovered += 1
        with self.store.atomic():
            self.store.event("create_found", source.name, intent.local_id, ticket.id, by="operator")
        self._commit_created(
            source, intent.id, intent.local_id, intent.payload["summary"], ticket,
            report, None, answered=False,
        )  # fmt: skip

    def _post(
        self,
        source: LocalSource,
        national: National,
        intent: IntentRow,
        report: SourceReport,
        *,
        raw: Mapping[str, Any] | None = None,
        complaint: Complaint | None = None,
        marked: bool = False,
    ) -> None:
        """Post a create, marked sent first (durably; ``marked`` when its intent's commit
        did it): from then on it may exist on LAPOR."""
        payload = intent.payload
        request = CreateRequest(tag=payload["tag"], body=payload["body"])
        if not marked:
            with self.store.atomic(durable=True):
                self.store.create_sending(
                    intent.id, source.account, timedelta(seconds=national.create_timeout)
                )
            self._crash("create_sending")
        try:
            ticket = national.create(request)
        except (Ambiguous, Rejected) as exc:
            self._answered(source, intent, report, None, exc, raw=raw, complaint=complaint)
            return
        self._answered(source, intent, report, ticket, None, raw=raw, complaint=complaint)

    def _answered(
        self,
        source: LocalSource,
        intent: IntentRow,
        report: SourceReport,
        ticket: NationalTicket | None,
        error: BaseException | None,
        *,
        raw: Mapping[str, Any] | None = None,
        complaint: Complaint | None = None,
    ) -> None:
        """What a create's answer (``ticket``) or its failure (``error``) leaves: a mapping,
        a create in doubt, or a quarantine. Any other failure is raised."""
        payload = intent.payload
        local_id = intent.local_id
        if isinstance(error, Ambiguous):
            with self.store.atomic():
                self.store.create_lost(intent.id, str(error))
                self.store.event("create_in_doubt", source.name, local_id, reason=str(error))
            log.warning("create_answer_lost", source=source.name, local_id=local_id)
            report.in_doubt += 1
            self._lost_in_a_row += 1
            if self._lost_in_a_row >= LOST_IN_A_ROW:
                raise Unavailable(
                    f"LAPOR lost the answers of {LOST_IN_A_ROW} creates in a row; they are in"
                    " doubt, and the pass stops"
                ) from None
            return
        if isinstance(error, Rejected):
            with self.store.atomic():
                self.store.finish_intent(intent.id, "failed", error.message)
                self.store.event(
                    "create_rejected",
                    source.name,
                    local_id,
                    status=error.status,
                    message=error.message,
                )
            kept = raw if raw is not None else payload["summary"]
            self._quarantine(
                source.name, local_id, kept, error.message, report,
                payload["summary"].get("display_id"),
            )  # fmt: skip
            return
        if error is not None:
            raise error
        assert ticket is not None
        self._lost_in_a_row = 0
        self._crash("create_answered")
        self._commit_created(
            source, intent.id, local_id, payload["summary"], ticket, report, complaint
        )

    def _commit_created(
        self,
        source: LocalSource,
        intent_id: int,
        local_id: str,
        summary: Summary,
        ticket: NationalTicket,
        report: SourceReport,
        complaint: Complaint | None,
        *,
        answered: bool = True,
    ) -> None:
        """Map the record to its complaint; ``answered`` when LAPOR's answer to this very
        create gave the id (a bound for later scans).

        An answered create was not read back (its read is the first poll): no view of
        LAPOR is recorded (``national_updated_at``), and its first poll is one poll
        interval away, not in this pass: nobody on LAPOR can have answered a complaint
        made a moment ago. A zero floor (tests, the demo) still polls it on the next
        pass, this one included.
        """
        now = utcnow()
        first_poll = now + poll_interval(timedelta(0), timedelta(0), self.twoway.poll_floor)

        def commit() -> None:
            if answered:  # the intent done in the same statement
                self.store.create_done(intent_id, ticket.id)
            self.store.insert_mapping(
                source=source.name,
                local_id=local_id,
                national_id=ticket.id,
                origin="local",
                account=source.account,
                # without the record in hand, or with responses still to record: read
                # again whole until they are (m011)
                catch_up=int(complaint is None or bool(complaint.follow_ups)),
                **local_side(summary),
                **national_side(ticket),
                status=_converged(summary["status"], ticket.floor_status).value,
                national_updated_at=None if answered else ticket.updated_at.isoformat(),
                next_poll_at=first_poll.isoformat() if answered else None,
            )
            if not answered:
                self.store.finish_intent(intent_id)
            self.store.release_quarantine(source.name, local_id)
            self.store.event("created", source.name, local_id, ticket.id, tag=ticket.tags)
            if complaint is not None:
                self.dedupe.add(complaint, ticket.id)

        self._retrying(commit, source.name, local_id)
        if answered:
            report.created += 1  # one found by evidence counts as recovered (by the caller)
        self.store.after_commit(  # said once the mapping is kept, not before
            partial(
                log.info,
                "created",
                source=source.name,
                local_id=local_id,
                tracking_id=ticket.tracking_id,
            )
        )

    def _retrying(self, block: Callable[[], None], source: str, local_id: str) -> None:
        """``block`` in one atomic block, run again when PostgreSQL broke it to resolve a
        deadlock or a serialization conflict (:data:`TRANSIENT_STATE_ERRORS`): the block's
        savepoint took back all it wrote, and what it holds (an answer) is not lost."""
        for attempt in range(1, TRANSIENT_RETRIES + 1):
            try:
                with self.store.atomic():
                    block()
                return
            except TRANSIENT_STATE_ERRORS as exc:
                if attempt == TRANSIENT_RETRIES:
                    raise
                log.info(
                    "commit_retried",
                    source=source,
                    local_id=local_id,
                    attempt=attempt,
                    error=type(exc).__name__,
                )

    # link, record, write back ---------------------------------------------
    def _link(
        self,
        source: LocalSource,
        national: National,
        complaint: Complaint,
        national_id: int,
        report: SourceReport,
    ) -> None:
        ticket = national.get(national_id)
        if ticket is None:
            self._quarantine(
                source.name,
                complaint.local_id,
                _summary(complaint),
                f"the record names national complaint #{national_id}, which LAPOR does not know",
                report,
                complaint.display_id,
            )
            return
        owners = [m for m in self.store.mappings_for_national(national_id) if not m.duplicate_of]
        duplicate_of = f"{owners[0].source}:{owners[0].local_id}" if owners else None
        summary = _summary(complaint)
        with self.store.atomic():
            self.store.insert_mapping(
                source=source.name,
                local_id=complaint.local_id,
                national_id=national_id,
                duplicate_of=duplicate_of,
                origin="local",
                account=source.account,
                **local_side(summary),
                **national_side(ticket),
                status=_converged(summary["status"], ticket.floor_status).value,
                national_updated_at=ticket.updated_at.isoformat(),
                link_state="done",
            )
            self.store.release_quarantine(source.name, complaint.local_id)
            self.store.event(
                "linked",
                source.name,
                complaint.local_id,
                national_id,
                rule="link_field",
                duplicate_of=duplicate_of,
            )
            self.dedupe.add(complaint, national_id)
        report.linked += 1

    def _record(self, complaint: Complaint, report: SourceReport) -> None:
        with self.store.atomic():
            self.store.update_mapping(
                complaint.source,
                complaint.local_id,
                fingerprint=fingerprint(complaint),
                local_status=complaint.local_status,
                local_updated_at=complaint.updated_at.isoformat(),
                category=complaint.category,
                agency=complaint.agency,
                display_id=complaint.display_id,
            )
            self.store.release_quarantine(complaint.source, complaint.local_id)
            self.store.event("local_changed", complaint.source, complaint.local_id)
            mapping = self.store.mapping(complaint.source, complaint.local_id)
            if mapping is not None and mapping.national_id is not None:
                self.dedupe.add(complaint, mapping.national_id)
        report.updated += 1

    def _mark_unlinked(self, source: str, local_id: str) -> None:
        with self.store.atomic():
            self.store.update_mapping(source, local_id, link_state="pending")

    def write_back_pending(self, source: LocalSource) -> None:
        """Write every tracking id not yet written back to the app.

        The writes are idempotent, so what was written is recorded a batch at a time (one
        commit per ``WRITE_BACK_BATCH``, and whatever is done when the pass stops): a crash
        in between only writes a few ids again.
        """
        # this thread only waits for the write-backs: in-line on a fast wire (Flights)
        flights = self._flights(f"source:{source.name}", probe=True)
        if flights is not None:
            try:
                self._write_back_in_flight(source, flights)
            finally:
                flights.close()
            return
        done: list[tuple[str, int]] = []
        try:
            for local_id, national_id in self.store.unlinked(source.name):
                if self._write_back(source, local_id, national_id, record=False):
                    done.append((local_id, national_id))
                if len(done) >= WRITE_BACK_BATCH:
                    self._written_back(source.name, done)
                    done = []
        finally:
            self._written_back(source.name, done)

    def _write_back_in_flight(self, source: LocalSource, flights: Flights) -> None:
        """:meth:`write_back_pending` with up to ``flights.limit`` writes in flight; what the
        app answered is committed on this thread, a batch at a time."""
        done: list[tuple[str, int]] = []

        def answered(local_id: str, national_id: int, error: BaseException | None) -> None:
            if self._write_back_answered(source, local_id, national_id, error):
                done.append((local_id, national_id))
            if len(done) >= WRITE_BACK_BATCH:
                self._written_back(source.name, done)
                done.clear()

        try:
            for local_id, national_id in self.store.unlinked(source.name):
                flights.submit(
                    partial(source.link_national, local_id, national_id),
                    partial(lambda lid, nid, _, error: answered(lid, nid, error), local_id,
                            national_id),
                )  # fmt: skip
            flights.drain()
        except Exception:
            try:
                flights.drain()
            except Exception as exc:
                log.warning("in_flight_failed", source=source.name, error=str(exc))
            raise
        except BaseException:
            flights.abandon()
            raise
        finally:
            self._written_back(source.name, done)

    def _write_back(
        self, source: LocalSource, local_id: str, national_id: int, *, record: bool = True
    ) -> bool:
        """Write one tracking id; ``True`` when the app took it (recorded now if ``record``)."""
        try:
            source.link_national(local_id, national_id)
        except (Rejected, Unreadable) as exc:
            return self._write_back_answered(source, local_id, national_id, exc)
        if record:
            self._written_back(source.name, [(local_id, national_id)])
        return True

    def _write_back_answered(
        self,
        source: LocalSource,
        local_id: str,
        national_id: int,
        error: BaseException | None,
    ) -> bool:
        """``True`` when the app took the tracking id; a refusal, or a record that cannot be
        read now, is noted (written on a later pass); any other failure is raised."""
        if isinstance(error, Rejected):
            with self.store.atomic():
                self.store.event(
                    "link_rejected", source.name, local_id, national_id, message=error.message
                )
            log.warning("link_rejected", source=source.name, local_id=local_id)
            return False
        if isinstance(error, Unreadable):
            # that record alone cannot be read now: written on a later pass, the others go on
            with self.store.atomic():
                self.store.event(
                    "link_waiting", source.name, local_id, national_id, message=str(error)
                )
            log.warning("link_waiting", source=source.name, local_id=local_id)
            return False
        if error is not None:
            raise error
        return True

    def _written_back(self, source: str, done: list[tuple[str, int]]) -> None:
        if not done:
            return
        with self.store.atomic():
            for local_id, national_id in done:
                self.store.update_mapping(source, local_id, link_state="done")
                self.store.event("tracking_id_written", source, local_id, national_id)

    # photos ----------------------------------------------------------------
    def _photos(self, source: LocalSource, complaint: Complaint, note: Note = _now) -> list[Photo]:
        """Fetch, check and fit the photos; a bad one is noted and skipped, one the city's
        server cannot give now is sent later (:meth:`_late_photos`): never blocking.
        On a worker thread, ``note`` keeps the store's writes for the pass's thread."""
        ready: list[Photo] = []
        for index, attachment in enumerate(complaint.attachments[: photo_rules.MAX_PHOTOS]):
            try:
                data = source.fetch_attachment(attachment)
                ready.append(photo_rules.prepare(data, f"{complaint.local_id}-{index + 1}"))
            except Unavailable as exc:
                # the city's photo server is down: the complaint goes now, the photo later
                note(partial(self._photo_later, complaint, index, attachment, str(exc)))
            except (photo_rules.PhotoError, Rejected) as exc:
                note(partial(self._skip_photo, complaint, index, str(exc)))
            else:
                # one waiting from an earlier try goes with it now
                note(partial(self._late_photo_went, source.name, complaint.local_id, index))
        return ready

    def _late_photo_went(self, source: str, local_id: str, index: int) -> None:
        with self.store.atomic():
            self.store.late_photo_went_with_create(source, local_id, index)

    def _photo_later(
        self, complaint: Complaint, index: int, attachment: Attachment, reason: str
    ) -> None:
        wait = photo_rules.RETRY_WAITS[0]
        with self.store.atomic():
            self.store.add_late_photo(
                complaint.source, complaint.local_id, index, attachment.url,
                attachment.content_type, reason, (utcnow() + wait).isoformat(),
            )  # fmt: skip
            self.store.event(
                "photo_late", complaint.source, complaint.local_id, index=index, reason=reason
            )

    def _late_photos(self, source: LocalSource, national: National) -> None:
        """Photos the city's server could not give when their complaints were created,
        once those are on LAPOR: fetched again with backoff, each sent as a follow-up
        carrying the file, through the follow-up ledger (looked for on LAPOR before it is
        posted again); given up, audited, after ``photo_rules.MAX_TRIES`` failed fetches."""
        for photo in self.store.due_late_photos(source.name, utcnow().isoformat()):
            if self._should_stop():
                raise Stopped("stopping: interrupted by a signal")
            self._late_photo(source, national, photo)

    def _late_photo(self, source: LocalSource, national: National, photo: LatePhotoRow) -> None:
        national_id, index = photo.national_id, photo.photo_index
        row = self.store.followup_row(photo.followup_id) if photo.followup_id else None
        if row is not None and row.attempts > 0:
            # posted before and its answer lost, or a kill: on LAPOR already?
            found = self.twoway.find_national_followup(national, national_id, row.content, row.id)
            if found is not None:
                self._late_photo_done(photo, row.id, found, national_id)
                return
        try:
            attachment = Attachment(url=photo.attachment, content_type=photo.content_type)
            data = source.fetch_attachment(attachment)
            ready = photo_rules.prepare(data, f"{photo.local_id}-{index + 1}")
        except Unavailable as exc:
            wait = photo_rules.retry_wait(photo.attempts + 1)
            if wait is None:
                self._late_photo_given_up(photo, f"{photo_rules.MAX_TRIES} tries failed: {exc}")
                return
            with self.store.atomic():
                self.store.update_late_photo(
                    photo.id, attempts=photo.attempts + 1, reason=str(exc),
                    next_try_at=(utcnow() + wait).isoformat(),
                )  # fmt: skip
            return
        except (photo_rules.PhotoError, Rejected) as exc:
            self._late_photo_given_up(photo, str(exc))
            return
        content = photo_rules.LATE_PHOTO_TEXT.format(n=index + 1)
        with self.store.atomic(durable=True):
            row_id = row.id if row else self.store.add_late_photo_followup(photo, content)
            self.store.followup_attempt(row_id, None)  # attempted: look before posting again
        self._crash("photo_followup_intent")
        try:
            remote = national.add_follow_up(national_id, content, False, files=[ready])
        except Ambiguous as exc:
            with self.store.atomic():
                self.store.followup_attempt(row_id, f"answer lost: {exc}")
                self.store.update_late_photo(photo.id, reason=f"answer lost: {exc}")
            return
        except Rejected as exc:
            if exc.status == 403 and not self.twoway.national_closed(photo.source, photo.local_id):
                # not disposed to this agency (yet): tried again later, no try spent
                hold = (utcnow() + photo_rules.HOLD_WAIT).isoformat()
                why = f"LAPOR refuses: the complaint is not disposed to this agency (yet): {exc}"
                with self.store.atomic():
                    self.store.update_late_photo(photo.id, reason=why, next_try_at=hold)
                return
            with self.store.atomic():
                self.store.finish_followup(row_id, "failed", error=exc.message)
            self._late_photo_given_up(photo, f"LAPOR refused the follow-up: {exc.message}")
            return
        self._crash("photo_followup_posted")
        self._late_photo_done(photo, row_id, remote, national_id)

    def _late_photo_done(
        self, photo: LatePhotoRow, row_id: int, remote: str | None, national_id: int
    ) -> None:
        with self.store.atomic():
            self.store.finish_followup(row_id, remote_id=remote)
            self.store.update_late_photo(photo.id, state="sent", reason=None)
            self.store.event(
                "photo_sent_late", photo.source, photo.local_id, national_id,
                index=photo.photo_index, tries=photo.attempts + 1,
            )  # fmt: skip

    def _late_photo_given_up(self, photo: LatePhotoRow, reason: str) -> None:
        with self.store.atomic():
            self.store.update_late_photo(photo.id, state="given_up", reason=reason)
            self.store.event(
                "photo_given_up", photo.source, photo.local_id, photo.national_id,
                index=photo.photo_index, reason=reason,
            )  # fmt: skip
        log.warning("photo_given_up", source=photo.source, local_id=photo.local_id)

    def _upload(
        self, national: National, complaint: Complaint, photos: list[Photo], note: Note = _now
    ) -> list[int]:
        """The photos' file ids. One that LAPOR refuses is noted and left out, never blocking:
        after a refused upload of all of them, each is sent on its own."""
        try:
            return national.upload(photos)
        except Rejected as refused:
            if len(photos) < 2:
                why = f"LAPOR refused the upload: {refused.message}"
                note(partial(self._skip_photo, complaint, 0, why))
                return []
        ids: list[int] = []
        for index, photo in enumerate(photos):
            try:
                ids.extend(national.upload([photo]))
            except Rejected as exc:
                why = f"LAPOR refused the upload: {exc.message}"
                note(partial(self._skip_photo, complaint, index, why))
        return ids

    def _skip_photo(self, complaint: Complaint, index: int, reason: str) -> None:
        """A photo left out of the complaint, noted in the audit log."""
        with self.store.atomic():
            self.store.event(
                "photo_skipped", complaint.source, complaint.local_id, index=index, reason=reason
            )


def _converged(local: str, national: Status) -> Status:
    return converge(Status(local), national, national_origin=False).target


def _unexpected(exc: BaseException) -> str:
    """The quarantine reason of a record that crashed the bridge: the error's type and place
    (``TypeError at normalize.py:159 (normalize)``), enough to find the bug; never its
    message, which can quote the record (a citizen's words)."""
    where = type(exc).__name__
    frames = traceback.extract_tb(exc.__traceback__)
    if frames:
        last = frames[-1]
        where += f" at {Path(last.filename).name}:{last.lineno} ({last.name})"
    return f"the bridge could not process this record: {where}"


def local_side(summary: Summary) -> dict[str, Any]:
    """A mapping's columns about the local record, from what the bridge keeps of it
    (:func:`_summary`): every mapping of a local record is written with these."""
    return {
        "local_canonical": summary["status"],
        "local_status": summary["local_status"],
        "local_updated_at": summary["updated_at"],
        "fingerprint": summary["fingerprint"],
        "category": summary["category"],
        "agency": summary["agency"],
        "confidential": int(summary["confidential"]),
        "anonymous": int(summary["anonymous"]),
        "created_at": summary["created_at"],
        "display_id": summary.get("display_id"),
    }


def national_side(ticket: NationalTicket) -> dict[str, Any]:
    """A mapping's columns about LAPOR's complaint as a create or a read left it (its
    floor: a status LAPOR does not name counts as submitted)."""
    return {
        "national_canonical": ticket.floor_status.value,
        "national_status": ticket.status_code,
        "national_status_name": ticket.status_name,
    }


class Summary(TypedDict):
    """What the bridge keeps of a local record with its create's intent (and in a
    quarantine entry made from one): no personal data. Written as JSON: an intent of an
    older version may lack ``display_id``."""

    fingerprint: str
    status: str
    local_status: str
    category: str
    agency: str | None
    confidential: bool
    anonymous: bool
    created_at: str
    updated_at: str
    display_id: NotRequired[str | None]


def _summary(complaint: Complaint) -> Summary:
    """What the bridge keeps of a complaint: no personal data."""
    return {
        "fingerprint": fingerprint(complaint),
        "status": complaint.status.value,
        "local_status": complaint.local_status,
        "category": complaint.category,
        "agency": complaint.agency,
        "confidential": complaint.confidential,
        "anonymous": complaint.anonymous,
        "created_at": complaint.created_at.isoformat(),
        "updated_at": complaint.updated_at.isoformat(),
        "display_id": complaint.display_id,  # the number the citizen sees: no personal data
    }
