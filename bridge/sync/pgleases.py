"""Leases: which ``lapor-bridge run`` replica owns which unit of work, in PostgreSQL.

Several replicas may share one PostgreSQL state (issue 20). A **unit** is what one worker
of the daemon does: a source's passes (``source:NAME``) or an account's
(``account:NAME``). Each unit has one row in ``leases``; a replica works on a unit only
while it holds that row's lease:

* **Acquired** when the row is free (no row yet, expired, or released), with
  ``SELECT … FOR UPDATE SKIP LOCKED`` so that two replicas never both take it; each change of
  holder adds one to the row's ``epoch``, the lease's fencing token. Taking a lease that
  expired (its holder stopped renewing it: killed, frozen, cut off) counts a takeover.
* **Renewed** by the replica's heartbeat (:meth:`LeaseBook.heartbeat`, every third of
  ``lease_seconds``): ``expires_at`` moves to the database's ``now()`` plus the period,
  only while owner and epoch are still the replica's.
* **Fenced.** Every transaction a worker commits first reads its lease row ``FOR SHARE``
  (:func:`check_fence`, run by the PostgreSQL store before each ``COMMIT``): when the
  epoch moved the transaction is rolled back and :class:`LeaseLost` raised. The row lock
  makes the check and the commit one step: a successor's takeover waits for that commit,
  or the commit sees the takeover. So a replica paused past its lease (a GC pause,
  SIGSTOP, a frozen VM) cannot write over its successor when it wakes up.
* **Checked before each request**, on the replica's own monotonic clock
  (:meth:`LeaseBook.check`): a lease counts as valid until ``lease_seconds × 0.9`` after
  the renewal that was *sent* last, before the database's expiry, so a replica that woke
  from a pause stops before sending anything, without asking the database. The remote
  systems take no fencing token: a pause that falls exactly between this check and the
  request's first byte on the wire is the one window left (docs/postgresql.md).
* **Released** on a clean stop, and when a replica holds more than its fair share
  (``ceil(units / live replicas)``), so a replica that joins gets work.

What a replica leaves behind when it dies (an intent committed, its request perhaps sent)
is, for its successor, what a crash leaves: in doubt and settled by evidence, never posted
again on a guess (lapor.md, "Recovery").
"""

from __future__ import annotations

import math
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from bridge.sync.storeport import LeaseLost, LeaseRow, ReplicaRow

#: the lease tables' own migration set: the state's (``lapor-bridge``) is the same in SQLite
#: and PostgreSQL, name for name; these exist only in PostgreSQL
CLUSTER_MIGRATION_SET = "lapor-bridge-cluster"
#: a lease counts locally as valid for this share of its period after the renewal was sent
#: (the rest allows for the two clocks' rates and the renewal's own round trip)
LOCAL_SHARE = 0.9
#: bounds on the book's own connection: a database that does not answer is an error of
#: the heartbeat or the acquisition, not a keeper hung while the leases run out
CONNECT_TIMEOUT = 5
STATEMENT_TIMEOUT = 5.0


def c001_leases(conn: psycopg.Connection[Any]) -> None:
    conn.execute(
        """
        CREATE TABLE leases (
            unit TEXT PRIMARY KEY,
            owner TEXT NOT NULL,
            epoch BIGINT NOT NULL,
            acquired_at TIMESTAMPTZ NOT NULL,
            renewed_at TIMESTAMPTZ NOT NULL,
            expires_at TIMESTAMPTZ NOT NULL,
            released BOOLEAN NOT NULL DEFAULT FALSE,
            takeovers BIGINT NOT NULL DEFAULT 0
        );
        CREATE TABLE replicas (
            replica TEXT PRIMARY KEY,
            host TEXT NOT NULL,
            pid INTEGER NOT NULL,
            version TEXT NOT NULL,
            started_at TIMESTAMPTZ NOT NULL,
            heartbeat_at TIMESTAMPTZ NOT NULL,
            stopped_at TIMESTAMPTZ
        );
        """
    )


#: the lease tables' migrations, applied after the state's (bridge.sync.pgstore)
CLUSTER_MIGRATIONS: list[tuple[str, Callable[[psycopg.Connection[Any]], None]]] = [
    ("c001_leases", c001_leases)
]


@dataclass(frozen=True)
class Fence:
    """What a worker's store checks before each commit: its unit's lease, as it took it."""

    unit: str
    owner: str
    epoch: int


def check_fence(conn: psycopg.Connection[Any], fence: Fence) -> None:
    """Inside the transaction about to commit: the lease row, locked ``FOR SHARE`` until the
    commit, must still name ``fence``'s owner and epoch; :class:`LeaseLost` otherwise."""
    row = conn.execute(
        "SELECT owner, epoch FROM leases WHERE unit = %s FOR SHARE", (fence.unit,)
    ).fetchone()
    if row is None or (row[0], row[1]) != (fence.owner, fence.epoch):
        holder = "nobody" if row is None else f"{row[0]} (epoch {row[1]})"
        raise LeaseLost(
            f"the lease on {fence.unit} moved to {holder}; this replica held epoch"
            f" {fence.epoch}: what it was about to commit was rolled back"
        )


def _text(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def lease_rows(conn: psycopg.Connection[Any]) -> list[LeaseRow]:
    """Every lease, by unit; ``live`` by the database's clock."""
    rows = conn.execute(
        "SELECT unit, owner, epoch, acquired_at, renewed_at, expires_at, released, takeovers,"
        " (NOT released AND expires_at > now()) AS live FROM leases ORDER BY unit"
    ).fetchall()
    return [
        LeaseRow(
            unit=r[0],
            owner=r[1],
            epoch=int(r[2]),
            acquired_at=str(_text(r[3])),
            renewed_at=str(_text(r[4])),
            expires_at=str(_text(r[5])),
            released=bool(r[6]),
            takeovers=int(r[7]),
            live=bool(r[8]),
        )
        for r in rows
    ]


def replica_rows(conn: psycopg.Connection[Any]) -> list[ReplicaRow]:
    """The replicas seen, the latest heartbeat first."""
    rows = conn.execute(
        "SELECT replica, host, pid, version, started_at, heartbeat_at, stopped_at,"
        " EXTRACT(EPOCH FROM now() - heartbeat_at) FROM replicas ORDER BY heartbeat_at DESC"
    ).fetchall()
    return [
        ReplicaRow(
            replica=r[0],
            host=r[1],
            pid=int(r[2]),
            version=r[3],
            started_at=str(_text(r[4])),
            heartbeat_at=str(_text(r[5])),
            stopped_at=_text(r[6]),
            age=max(0.0, float(r[7])),
        )
        for r in rows
    ]


def replica_name() -> str:
    """This process as a replica: ``HOST:PID:XXXX`` (4 hex digits: a pid used again later on
    the same host is another replica)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(2)}"


@dataclass
class Lease:
    """A lease this replica holds: its fence, and until when (``time.monotonic()``) it may
    send on it."""

    fence: Fence
    valid_until: float


@dataclass(frozen=True)
class Acquired:
    """What :meth:`LeaseBook.acquire` took: the lease, and whom it took it from (``None``
    for a unit never held, ``previous`` with ``takeover`` when the lease had expired
    rather than been released)."""

    lease: Lease
    previous: str | None
    takeover: bool


class LeaseBook:
    """One replica's leases, on a connection of the book's own (its heartbeat must not wait
    for a worker's transaction). Thread-safe: workers acquire, check and release; the
    daemon's main loop calls :meth:`heartbeat`."""

    def __init__(
        self,
        conninfo: str,
        units: list[str],
        *,
        lease_seconds: float,
        version: str,
        name: str | None = None,
        clock: Any = time.monotonic,
    ) -> None:
        self.conninfo = conninfo
        self.units = list(units)
        self.lease_seconds = lease_seconds
        self.version = version
        self.name = name or replica_name()
        self._clock = clock
        self._lock = threading.Lock()
        self._held: dict[str, Lease] = {}
        self._conn: psycopg.Connection[Any] | None = None
        self.takeovers = 0

    # the connection --------------------------------------------------------------------
    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            name = f"lapor-bridge replica {self.name}"[:63]
            self._conn = psycopg.connect(
                self.conninfo,
                autocommit=True,
                application_name=name,
                connect_timeout=CONNECT_TIMEOUT,
                options=f"-c statement_timeout={int(STATEMENT_TIMEOUT * 1000)}",
            )
        return self._conn

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    # the replica ---------------------------------------------------------------------------
    def join(self) -> None:
        """Record this replica (its heartbeat starts now)."""
        host, pid = socket.gethostname(), os.getpid()
        with self._lock:
            self._connection().execute(
                "INSERT INTO replicas (replica, host, pid, version, started_at, heartbeat_at)"
                " VALUES (%s, %s, %s, %s, now(), now())"
                " ON CONFLICT (replica) DO UPDATE SET heartbeat_at = now(), stopped_at = NULL",
                (self.name, host, pid, self.version),
            )

    def heartbeat(self) -> list[str]:
        """Renew every lease held and this replica's heartbeat; the units whose lease was
        lost (moved, or expired and taken). A database that cannot be reached renews
        nothing: the leases run out on the local clock and the workers stop sending."""
        lost: list[str] = []
        with self._lock:
            try:
                conn = self._connection()
                sent = self._clock()
                with conn.transaction():
                    conn.execute(
                        "UPDATE replicas SET heartbeat_at = now() WHERE replica = %s",
                        (self.name,),
                    )
                    for unit, lease in list(self._held.items()):
                        row = conn.execute(
                            "UPDATE leases SET renewed_at = now(),"
                            " expires_at = now() + make_interval(secs => %s)"
                            " WHERE unit = %s AND owner = %s AND epoch = %s AND NOT released"
                            " RETURNING epoch",
                            (self.lease_seconds, unit, self.name, lease.fence.epoch),
                        ).fetchone()
                        if row is None:
                            lost.append(unit)
                            del self._held[unit]
                        else:
                            lease.valid_until = sent + self.lease_seconds * LOCAL_SHARE
            except psycopg.Error:
                self._drop()
                raise
        return lost

    def leave(self) -> None:
        """A clean stop: release every lease (the others take them at once) and say so."""
        with self._lock:
            try:
                conn = self._connection()
                with conn.transaction():
                    for unit, lease in self._held.items():
                        self._release(conn, unit, lease)
                    conn.execute(
                        "UPDATE replicas SET stopped_at = now() WHERE replica = %s", (self.name,)
                    )
            finally:
                self._held.clear()
                self._drop()

    def close(self) -> None:
        """Close the book's connection (its leases run out unless :meth:`leave` came first)."""
        with self._lock:
            self._drop()

    # one unit --------------------------------------------------------------------------
    def holding(self, unit: str) -> Lease | None:
        with self._lock:
            return self._held.get(unit)

    def held(self) -> int:
        with self._lock:
            return len(self._held)

    def valid(self, unit: str) -> Lease | None:
        """``unit``'s lease when it is held and still valid on this replica's clock."""
        with self._lock:
            lease = self._held.get(unit)
            return lease if lease is not None and self._clock() < lease.valid_until else None

    def check(self, unit: str) -> None:
        """Before a request on ``unit``'s behalf: :class:`LeaseLost` unless its lease is
        held and still valid on this replica's clock. A lease that ran out stays in the
        book: the keeper's next renewal either keeps it (the database had not given it to
        another replica) or drops it and says so (``lease_lost``)."""
        if self.valid(unit) is not None:
            return
        raise LeaseLost(
            f"the lease on {unit} ran out before it was renewed (this replica was paused,"
            " or could not reach the database): nothing more is sent for it"
        )

    def fair_share(self) -> int:
        """``ceil(units / live replicas)``: a replica is live while its heartbeat is younger
        than a lease period and it did not stop."""
        with self._lock:
            row = (
                self._connection()
                .execute(
                    "SELECT count(*) FROM replicas WHERE stopped_at IS NULL"
                    " AND heartbeat_at > now() - make_interval(secs => %s)",
                    (self.lease_seconds,),
                )
                .fetchone()
            )
        live = max(1, int(row[0]) if row else 1)
        return math.ceil(len(self.units) / live)

    def acquire(self, unit: str) -> Acquired | None:
        """Take ``unit``'s lease when it is free and this replica is under its fair share;
        ``None`` when another replica holds it (or is taking it right now)."""
        if self.holding(unit) is not None:
            raise ValueError(f"{unit} is held already")
        if self.held() >= self.fair_share():
            return None
        with self._lock:
            conn = self._connection()
            sent = self._clock()
            with conn.transaction():
                row = conn.execute(
                    "SELECT owner, epoch, released, expires_at <= now() FROM leases"
                    " WHERE unit = %s FOR UPDATE SKIP LOCKED",
                    (unit,),
                ).fetchone()
                if row is None:
                    taken = conn.execute(
                        "INSERT INTO leases (unit, owner, epoch, acquired_at, renewed_at,"
                        " expires_at) VALUES (%s, %s, 1, now(), now(),"
                        " now() + make_interval(secs => %s)) ON CONFLICT (unit) DO NOTHING"
                        " RETURNING epoch",
                        (unit, self.name, self.lease_seconds),
                    ).fetchone()
                    if taken is None:  # locked, or another replica inserted it first
                        return None
                    previous, takeover = None, False
                else:
                    owner, epoch, released, expired = row
                    if not (released or expired):
                        return None
                    takeover = not released
                    taken = conn.execute(
                        "UPDATE leases SET owner = %s, epoch = %s, acquired_at = now(),"
                        " renewed_at = now(), expires_at = now() + make_interval(secs => %s),"
                        " released = FALSE, takeovers = takeovers + %s WHERE unit = %s"
                        " RETURNING epoch",
                        (self.name, epoch + 1, self.lease_seconds, int(takeover), unit),
                    ).fetchone()
                    assert taken is not None  # the row is locked FOR UPDATE
                    previous = str(owner)
            lease = Lease(
                Fence(unit, self.name, int(taken[0])), sent + self.lease_seconds * LOCAL_SHARE
            )
            self._held[unit] = lease
            if takeover:
                self.takeovers += 1
        return Acquired(lease, previous, takeover)

    def release(self, unit: str) -> None:
        """Give ``unit`` up (over the fair share, or stopping): another replica may take it
        at once, and it is not counted as a takeover."""
        with self._lock:
            lease = self._held.pop(unit, None)
            if lease is None:
                return
            conn = self._connection()
            with conn.transaction():
                self._release(conn, unit, lease)

    def _release(self, conn: psycopg.Connection[Any], unit: str, lease: Lease) -> None:
        conn.execute(
            "UPDATE leases SET released = TRUE, expires_at = now()"
            " WHERE unit = %s AND owner = %s AND epoch = %s",
            (unit, self.name, lease.fence.epoch),
        )
