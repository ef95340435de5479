"""``lapor-bridge run``: passes on a schedule, each source and account on its own thread.

One slow or broken system does not stall the others: every source and every
account has its worker, its own database connection and its own back-off
(doubling after each failed pass, capped; never a busy loop). A signal stops
new work; the request in hand finishes, its result is committed, and the
process exits within 10 s (a second signal exits at once — every commit is
atomic, so the database is consistent either way).

On a PostgreSQL state the process is one **replica** of any number sharing the
database: a worker runs its source's or account's passes only while it holds that
unit's lease (bridge/sync/pgleases.py); its store's commits are fenced by the lease and
every request it sends checks it first. A keeper thread renews the leases and the
replica's heartbeat; a clean stop releases them.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from types import FrameType
from typing import Any

from psycopg_pool import ConnectionPool

from bridge import __version__
from bridge.core.ports import LocalSource, National
from bridge.core.timefmt import utcnow
from bridge.core.tracking import Tracking
from bridge.reports import status as status_mod
from bridge.runtime import memory
from bridge.runtime.health import LIVENESS, Backlog, Health, Level, Reason, oldest_unsynced_seconds
from bridge.runtime.http import on_each_request
from bridge.runtime.logs import get_logger
from bridge.runtime.service import HealthServer, Metrics, notify, watchdog_interval
from bridge.runtime.settings import PostgresDatabase, StateDatabase
from bridge.runtime.stores import conninfo, open_store, sqlite_path
from bridge.sync.engine import AccountReport, Engine, SourceReport
from bridge.sync.inflight import DEFAULT_MAX_IN_FLIGHT
from bridge.sync.pgleases import Lease, LeaseBook
from bridge.sync.pgstore import PgStore, open_pool
from bridge.sync.store import StoreError, file_identity, is_disk_full
from bridge.sync.storeport import STATE_ERRORS, LeaseLost, StateStore

log = get_logger("bridge.daemon")

MAX_BACKOFF = 15 * 60.0
STOP_GRACE = 9.0
#: how long a replica's worker waits for a connection of its pool before its pass fails
#: (and is retried): a database that is down fails passes, never hangs a worker
POOL_WAIT = 5.0


def _moved_data(report: SourceReport | AccountReport) -> bool:
    """Whether a pass read or wrote records (an idle pass frees nothing worth returning)."""
    pair = report.pair
    moved = pair.to_national + pair.to_local + pair.statuses + pair.imported + pair.polled
    return moved > 0 or (isinstance(report, SourceReport) and report.seen > 0)


@dataclass
class Worker:
    kind: str  # source | account
    name: str
    beat: float = field(default_factory=time.monotonic)
    failures: int = 0
    summary: str = "starting"
    thread: threading.Thread | None = None
    #: its last try to take its lease failed on the database (said once, not every retry)
    lease_failing: bool = False

    @property
    def unit(self) -> str:
        """Its lease's unit (PostgreSQL replicas): ``source:NAME`` or ``account:NAME``."""
        return f"{self.kind}:{self.name}"


class Daemon:
    def __init__(
        self,
        database: StateDatabase,
        sources: Mapping[str, LocalSource],
        nationals: Mapping[str, National],
        homes: Mapping[str, str | None],
        *,
        interval: float,
        http_listen: str = "",
        metrics: Metrics | None = None,
        scan_limit: int = 500,
        tracking: Tracking | None = None,
        max_in_flight: int | Mapping[str, int] = DEFAULT_MAX_IN_FLIGHT,
        lease_seconds: float = 30.0,
    ) -> None:
        self.database = database
        self.lease_seconds = lease_seconds
        #: PostgreSQL: this replica's leases (set by ``run``); None with SQLite
        self.book: LeaseBook | None = None
        #: PostgreSQL: the workers' connections (set by ``run``); None with SQLite
        self.pool: ConnectionPool | None = None
        self.max_in_flight = max_in_flight
        self.sources = dict(sources)
        self.nationals = dict(nationals)
        self.homes = dict(homes)
        self.interval = interval
        self.scan_limit = scan_limit
        self.tracking = tracking or Tracking()
        self.http_listen = http_listen
        self.metrics = metrics or Metrics(__version__)
        self.metrics.refresh = self._refresh_metrics
        self.stop = threading.Event()
        self.workers = [Worker("source", name) for name in self.sources]
        self.workers += [
            Worker("account", name)
            for name in self.nationals
            if any(s.account == name for s in self.sources.values())
        ]
        self._retries_seen: dict[str, int] = {}
        self._lock = threading.Lock()
        self.health_server: HealthServer | None = None
        #: ``(st_dev, st_ino)`` of the database file the daemon opened (set by ``run``)
        self._opened: tuple[int, int] | None = None
        #: why the daemon stopped on its own (its database lost, a full disk): ``run``
        #: raises it once every worker has stopped
        self.fatal: Exception | None = None

    # health --------------------------------------------------------------
    def health(self) -> tuple[bool, dict[str, Any]]:
        """Live (``/healthz`` 200) when no source's or account's last pass failed, each
        ended one within 3 intervals or is in a pass that makes progress (its heartbeat:
        a record read, a request sent, within 3 intervals; a first backfill may take
        hours), and the database file is still the one the daemon opened. The details
        carry the health model's level (``health``: ok, waiting, error) and ``reasons``
        (:mod:`bridge.runtime.health`), which ``status`` shows too.

        The database is opened read-only here: a health check never creates a file (a
        probe that did would re-create a deleted database behind the operator's back)
        nor migrates one. A database deleted or replaced under the daemon (its path no
        longer names the file the daemon has open: another ``st_dev``/``st_ino``, or
        nothing) answers unhealthy with the reason under ``database``.

        What the daemon then does (:meth:`_watch_database`, checked every second): it
        logs the error and stops, and ``run`` exits 1 with one message. Writing on to an
        unlinked file would look healthy while every mapping it records is lost when the
        process ends (and a lost mapping invites a duplicate on LAPOR); quietly opening
        a new file would forget what is in flight. So it stops, as a production operator
        expects of a service whose state went away: the unit restarts it
        (``Restart=on-failure``), and the new process opens what is at the path then: a
        database restored from a backup, as restored; none, a new one — logged, and what
        the old one had created found again by evidence (bridge.md: tags, markers, the
        tracking ids written back). The work of the last second before the stop may have
        gone to the old file; it is recovered the same way, as after a crash.
        """
        problem = self.fatal_reason() or self.database_problem()
        if problem is not None:
            reason = Reason(Level.ERROR, "database", "database", problem)
            return False, {"stale": [], "database": problem, "health": "error",
                           "reasons": [reason.as_dict()]}  # fmt: skip
        try:
            store = open_store(self.database, readonly=True)
        except StoreError as exc:
            reason = Reason(Level.ERROR, "database", "database", str(exc))
            return False, {"stale": [], "database": str(exc), "health": "error",
                           "reasons": [reason.as_dict()]}  # fmt: skip
        try:
            verdict, backlogs = self._assess(store)
        finally:
            store.close()
        # stale: a worker whose last pass failed, ended too long ago, or that is stuck
        stale = sorted(
            {r.subject.replace(" ", ":", 1) for r in verdict.reasons if r.code in LIVENESS}
        )
        # records in doubt, conflicts and the like do not make the service unhealthy (its
        # passes run); they are for the operator: status, /metrics and these details
        in_doubt = {name: b.in_doubt for name, b in backlogs.items() if b.in_doubt}
        model = verdict.as_dict()
        return verdict.live, {
            "stale": stale,
            "in_doubt": in_doubt,
            "health": model["health"],
            "reasons": model["reasons"],
        }

    def _assess(self, store: StateStore) -> tuple[Health, dict[str, Backlog]]:
        """The health model over ``store``, each worker's heartbeat as its sign of life."""
        now = utcnow()
        mono = time.monotonic()
        progress = {
            f"{w.kind}:{w.name}": now - timedelta(seconds=max(0.0, mono - w.beat))
            for w in self.workers
        }
        sources = [w.name for w in self.workers if w.kind == "source"]
        accounts = [w.name for w in self.workers if w.kind == "account"]
        backlogs = {name: status_mod.backlog(store, name) for name in sources}
        verdict = status_mod.assess(
            store, sources, accounts, self.interval, now, progress=progress, backlogs=backlogs
        )
        return verdict, backlogs

    def fatal_reason(self) -> str | None:
        """Why the daemon is stopping on its own, or None."""
        if self.fatal is None:
            return None
        if is_disk_full(self.fatal):
            return f"the disk holding {self.database} is full: {self.fatal}"
        return str(self.fatal)

    def database_problem(self) -> str | None:
        """Why the path no longer names the database the daemon opened, or None (always
        None in PostgreSQL: the server keeps its files, a lost connection is an error of
        the pass that had it)."""
        path = sqlite_path(self.database)
        if path is None:
            return None
        try:
            now = file_identity(path)
        except OSError as exc:  # the folder itself made unreadable
            return f"cannot check the database at {path}: {exc.strerror}"
        if now is None:
            return f"the database file {path} was deleted while the daemon ran"
        if self._opened is not None and now != self._opened:
            return f"the database file {path} was replaced while the daemon ran"
        return None

    def _watch_database(self) -> None:
        """Stop the daemon when its database file is deleted or replaced (see :meth:`health`)."""
        path = sqlite_path(self.database)
        if self._opened is None or path is None:
            return  # nothing opened to compare with, or no file (PostgreSQL)
        try:
            if file_identity(path) == self._opened:
                return
        except OSError:
            return  # the folder unreadable for a moment: /healthz says so; the files are open
        problem = self.database_problem()
        if problem is not None:
            self._stop_for(
                StoreError(
                    f"{problem}; the daemon stopped rather than write on to a file no one can"
                    " read again. Restore the database (or leave none: a new one is then"
                    " created and its complaints found again by evidence), then start the"
                    " service again"
                ),
                "database_lost",
                reason=problem,
            )

    def _stop_for(self, error: Exception, event: str, **fields: Any) -> None:
        """Log ``event`` once as an error and stop every worker; ``run`` raises ``error``."""
        with self._lock:
            if self.fatal is not None:
                return
            self.fatal = error
        log.error(event, database=str(self.database), **fields)
        self.stop.set()

    # the loop ---------------------------------------------------------------
    def run(self) -> int:
        self._install_signals()
        path = sqlite_path(self.database)
        self._opened = None if path is None else file_identity(path)  # what `run` opened
        if isinstance(self.database, PostgresDatabase):
            self.book = LeaseBook(
                conninfo(self.database),
                [w.unit for w in self.workers],
                lease_seconds=self.lease_seconds,
                version=__version__,
            )
            self.book.join()
            log.info("replica_joined", replica=self.book.name, lease_seconds=self.lease_seconds)
            # a worker takes a connection while it holds its unit's lease and gives it back
            # when the lease goes: at most one per unit, reused as leases move
            self.pool = open_pool(
                conninfo(self.database),
                min_size=1,
                max_size=len(self.workers),
                timeout=POOL_WAIT,
                name="lapor-bridge",
            )
            keeper = threading.Thread(target=self._keep_leases, name="leases", daemon=True)
            keeper.start()
        if self.http_listen:
            self.health_server = HealthServer(self.http_listen, self.health, self.metrics)
            self.health_server.start()
            host, port = self.health_server.address
            log.info("listening", address=f"{host}:{port}")
        for worker in self.workers:
            worker.thread = threading.Thread(
                target=self._work, args=(worker,), name=f"{worker.kind}:{worker.name}", daemon=True
            )
            worker.thread.start()
        notify("READY=1")
        log.info("started", workers=[f"{w.kind}:{w.name}" for w in self.workers])
        ping_every = watchdog_interval()
        hang_after = (ping_every or 30.0) * 2
        while not self.stop.wait(min(ping_every or 1.0, 1.0)):
            self._watch_database()
            now = time.monotonic()
            if ping_every is not None and all(now - w.beat < hang_after for w in self.workers):
                notify("WATCHDOG=1")
        notify("STOPPING=1")
        log.info("stopping")
        deadline = time.monotonic() + STOP_GRACE
        for worker in self.workers:
            if worker.thread is not None:
                worker.thread.join(max(0.0, deadline - time.monotonic()))
        if self.book is not None:
            self._leave()
        if self.pool is not None:
            self.pool.close()
        if self.health_server is not None:
            self.health_server.stop()
        log.info("stopped", clean=all(not (w.thread and w.thread.is_alive()) for w in self.workers))
        if self.fatal is not None:
            raise self.fatal  # `lapor-bridge` turns it into one message and exit 1
        return 0

    def _install_signals(self) -> None:
        def handler(signum: int, frame: FrameType | None) -> None:
            if self.stop.is_set():
                os._exit(0)  # a second signal: at once; every commit is atomic
            self.stop.set()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)

    def _open(self) -> StateStore:
        """A worker's store: on a connection of the replica's pool (PostgreSQL), or its own."""
        if self.pool is not None:
            return PgStore(pool=self.pool)
        return open_store(self.database)

    def _reopen(self, worker: Worker, store: StateStore) -> StateStore:
        """``store`` again, or a new one when its PostgreSQL connection was lost (the server
        restarted, the network cut): the next pass then runs on a fresh connection, instead
        of failing on a dead one for ever. Not reachable yet: the same, the next pass fails
        and is retried."""
        if not isinstance(store, PgStore) or not (store.conn.closed or store.conn.broken):
            return store
        try:
            fresh = self._open()
        except StoreError as exc:
            log.warning("database_unreachable", worker=worker.name, error=str(exc))
            return store
        store.close()
        log.info("database_reconnected", worker=worker.name)
        return fresh

    def _work(self, worker: Worker) -> None:
        """The worker's loop. With SQLite its store is opened once; a replica opens it only
        while it holds the unit's lease (a replica of a hub holds a connection per unit it
        works on, not per unit configured) and fences its commits by the lease."""

        def should_stop() -> bool:
            worker.beat = time.monotonic()
            return self.stop.is_set()

        def make_engine(store: StateStore) -> Engine:
            return Engine(
                store,
                self.sources,
                self.nationals,
                homes=self.homes,
                should_stop=should_stop,
                poll_floor=timedelta(seconds=self.interval),
                scan_limit=self.scan_limit,
                tracking=self.tracking,
                max_in_flight=self.max_in_flight,
            )

        book = self.book

        def beat() -> None:  # before each request: a long pass that makes progress is alive;
            worker.beat = time.monotonic()  # a replica: nothing leaves once its lease is not
            if book is not None:  # valid on its own clock
                book.check(worker.unit)

        engine: Engine | None = None if book is not None else make_engine(open_store(self.database))

        def close() -> None:
            nonlocal engine
            if engine is not None:
                engine.store.close()
                engine = None

        try:
            while not self.stop.is_set():
                worker.beat = time.monotonic()
                lease: Lease | None = None
                if book is not None:
                    lease = self._hold(book, worker)
                    if lease is None:
                        close()
                        self._sleep(worker, self._retry_seconds())
                        continue
                    if engine is None:
                        try:
                            engine = make_engine(self._open())
                        except StoreError as exc:
                            log.warning("database_unreachable", worker=worker.name, error=str(exc))
                            self._sleep(worker, self._retry_seconds())
                            continue
                assert engine is not None
                if engine.store is not (store := self._reopen(worker, engine.store)):
                    engine = make_engine(store)  # as a restarted process: nothing cached
                if lease is not None and isinstance(store, PgStore):
                    store.fence = lease.fence
                started = time.monotonic()
                report: SourceReport | AccountReport
                try:
                    with on_each_request(beat):
                        if worker.kind == "source":
                            report = engine.sync_source(worker.name)
                        else:
                            report = engine.sync_account(worker.name)
                except LeaseLost as exc:  # another replica has it now: no failure of ours
                    self._lost(worker, str(exc))
                    close()
                    # the keeper's next renewal settles the book (kept, or dropped): not a
                    # pass a moment after another on a lease the fence refused
                    self._sleep(worker, self._retry_seconds())
                    continue
                except Exception as exc:  # a bug must not kill the worker: log, back off
                    if is_disk_full(exc):  # no pass can commit: stop, the transaction rolled back
                        self._stop_for(exc, "disk_full", worker=worker.name, detail=str(exc))
                        break
                    kind = SourceReport if worker.kind == "source" else AccountReport
                    if isinstance(exc, STATE_ERRORS):  # the database: retried, no bug of ours
                        log.warning("pass_failed", worker=worker.name, error=str(exc))
                        report = kind(worker.name, error=f"state database: {exc}")
                    else:
                        log.exception("pass_crashed", worker=worker.name)
                        report = kind(worker.name, error=f"internal error: {type(exc).__name__}")
                self._observe(worker, report, time.monotonic() - started, store)
                if _moved_data(report):
                    memory.trim()  # what the pass freed goes back, not kept as a high-water mark
                    store.fold_wal()  # what the pass forgot leaves the WAL too
                worker.failures = 0 if report.ok else worker.failures + 1
                if book is not None and self._share(book, worker):
                    close()  # given up to another replica: its connection too
                wait = self.interval * (2 ** min(worker.failures, 10) if worker.failures else 1)
                self._sleep(worker, min(wait, max(self.interval, MAX_BACKOFF)))
        finally:
            close()

    # leases (PostgreSQL replicas) -----------------------------------------------------------
    def _retry_seconds(self) -> float:
        """How often a worker without its lease tries again: a quarter of a lease period
        (a dead replica's work is taken within a lease period and a quarter of its last
        renewal), never more often than every second nor less often than the interval."""
        return max(1.0, min(self.interval, self.lease_seconds / 4))

    def _hold(self, book: LeaseBook, worker: Worker) -> Lease | None:
        """``worker``'s unit's lease, taken when free and this replica is under its fair
        share; ``None`` when another replica holds it (or the database cannot be reached)."""
        if book.holding(worker.unit) is not None:
            lease = book.valid(worker.unit)
            if lease is None:  # ran out on this clock (paused): the keeper renews or drops it
                worker.summary = "waiting for the lease's renewal"
            return lease
        try:
            acquired = book.acquire(worker.unit)
        except STATE_ERRORS as exc:
            worker.summary = "waiting for the database"
            if not worker.lease_failing:  # a database down: one line per unit, not a second
                log.warning("lease_failed", unit=worker.unit, error=str(exc))
            worker.lease_failing = True
            return None
        worker.lease_failing = False
        if acquired is None:
            worker.summary = "held by another replica"
            return None
        if acquired.takeover:
            self.metrics.lease_takeovers.inc()
        log.info(
            "lease_acquired",
            unit=worker.unit,
            epoch=acquired.lease.fence.epoch,
            takeover=acquired.takeover,
            previous=acquired.previous,
        )
        self.metrics.leases_held.set(book.held())
        return acquired.lease

    def _lost(self, worker: Worker, why: str) -> None:
        """``worker``'s lease went to another replica (or ran out)."""
        worker.summary = "lease lost"
        self.metrics.leases_lost.inc()
        if self.book is not None:
            self.metrics.leases_held.set(self.book.held())
        log.warning("lease_lost", unit=worker.unit, reason=why)

    def _share(self, book: LeaseBook, worker: Worker) -> bool:
        """After a pass: give the unit up when this replica holds more than its fair share
        (a replica joined), so the others get work; whether it was given up."""
        try:
            if book.held() <= book.fair_share():
                return False
            book.release(worker.unit)
        except STATE_ERRORS as exc:
            log.warning("lease_failed", unit=worker.unit, error=str(exc))
            return False
        worker.summary = "released to another replica"
        self.metrics.leases_held.set(book.held())
        log.info("lease_released", unit=worker.unit, reason="over the fair share")
        return True

    def _keep_leases(self) -> None:
        """The keeper: renew the leases and the heartbeat every third of a lease period."""
        book = self.book
        assert book is not None
        every = self.lease_seconds / 3
        failing = False
        while not self.stop.wait(every):
            try:
                lost = book.heartbeat()
            except STATE_ERRORS as exc:
                log.warning("lease_renewal_failed", error=str(exc))
                failing = True
                continue
            if failing:  # the workers wait for this renewal; they go on from here
                log.info("database_reconnected", worker="lease keeper")
                failing = False
            for unit in lost:  # the worker finds out at its next request or commit
                log.warning("lease_lost", unit=unit, reason="taken before it was renewed")
            self.metrics.leases_held.set(book.held())

    def _leave(self) -> None:
        """A clean stop: the leases released, for the other replicas to take at once."""
        assert self.book is not None
        try:
            self.book.leave()
        except STATE_ERRORS as exc:
            log.warning("lease_release_failed", error=str(exc))
            return
        self.metrics.leases_held.set(0)
        log.info("replica_left", replica=self.book.name)

    def _sleep(self, worker: Worker, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not self.stop.is_set():
            worker.beat = time.monotonic()
            left = end - time.monotonic()
            if left <= 0:
                return
            self.stop.wait(min(left, 1.0))

    def _observe(
        self,
        worker: Worker,
        report: SourceReport | AccountReport,
        seconds: float,
        store: StateStore,
    ) -> None:
        m = self.metrics
        stopped = isinstance(report, SourceReport) and report.stopped
        m.pass_duration.labels(worker.kind, worker.name).observe(seconds)
        if not report.ok:
            m.passes_failed.labels(worker.kind, worker.name).inc()
        elif not stopped:  # a pass a stop cut short is neither a success nor a failure
            m.last_success.labels(worker.kind, worker.name).set(time.time())
        pair = report.pair
        m.followups.labels("to_national").inc(pair.to_national)
        m.followups.labels("to_local").inc(pair.to_local)
        if isinstance(report, SourceReport):
            m.created.labels(worker.name).inc(report.created)
            try:
                counts = store.counts(worker.name)
            except STATE_ERRORS:  # the database went away: the gauges wait for the next pass
                counts = None
            if counts is not None:
                m.quarantined.labels(worker.name).set(counts["quarantined"])
                m.in_doubt.labels(worker.name).set(counts["in_doubt"])
                m.backlog.labels(worker.name).set(counts["pending"])
        else:
            m.imported.labels(worker.name).inc(pair.imported)
            m.tracking_requests.labels(worker.name).inc(pair.tracking_requests)
        self._count_retries()
        worker.summary = "stopped" if stopped else "ok" if report.ok else f"failed: {report.error}"
        notify(f"STATUS={self._status_line()}")

    def _refresh_metrics(self) -> None:
        """Before each scrape: the health model's gauges, as ``status`` would say now."""
        m = self.metrics
        level = Level.ERROR
        try:
            store: StateStore | None = open_store(self.database, readonly=True)
        except StoreError:
            store = None
        if store is not None and self.fatal is None:
            now = utcnow()
            trackings: dict[str, dict[str, Any]] = {}
            try:
                verdict, backlogs = self._assess(store)
                for worker in self.workers:
                    if worker.kind == "account":
                        trackings[worker.name] = status_mod.tracking(
                            store,
                            worker.name,
                            [n for n, s in self.sources.items() if s.account == worker.name],
                            self.tracking,
                            now,
                        )
            except STATE_ERRORS:
                backlogs = {}
            else:
                level = verdict.level
            finally:
                store.close()
            for name, figures in trackings.items():
                m.set_tracking(name, figures)
            for name, found in backlogs.items():
                m.quarantined.labels(name).set(found.quarantined)
                m.in_doubt.labels(name).set(found.in_doubt)
                m.backlog.labels(name).set(found.pending)
                m.oldest_unsynced.labels(name).set(oldest_unsynced_seconds(found, now))
                for reason, n in found.waiting().items():
                    if reason != "total":
                        m.waiting.labels(name, reason).set(n)
                errors = {
                    "conflict": found.conflicts,
                    "drift": found.drift,
                    "refused": found.refused,
                    "photos_given_up": found.photos_given_up,
                }
                for reason, n in errors.items():
                    m.not_in_sync.labels(name, reason).set(n)
        for each in Level:
            m.health.labels(each.value).set(1 if each == level else 0)

    def _count_retries(self) -> None:
        with self._lock:
            for client in [*self.sources.values(), *self.nationals.values()]:
                endpoint = getattr(client, "endpoint", None)
                stats = getattr(endpoint, "stats", None)
                name = getattr(endpoint, "name", None)
                if stats is None or name is None:
                    continue
                seen = self._retries_seen.get(name, 0)
                if stats.retries > seen:
                    self.metrics.retries.labels(name).inc(stats.retries - seen)
                    self._retries_seen[name] = stats.retries

    def _status_line(self) -> str:
        parts = [f"{w.name} {w.summary}" for w in self.workers]
        return "; ".join(parts)[:200]
