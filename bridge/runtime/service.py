"""What makes the bridge a well-behaved Linux service: lock, notify, health, metrics.

* :class:`DatabaseLock` — one writer per database (``run``, ``sync``, ``resync``), and
  :class:`PgWriterLock`, the same for a PostgreSQL database;
* :func:`notify` — systemd's notify protocol over ``$NOTIFY_SOCKET``;
* :class:`Metrics` and :class:`HealthServer` — ``GET /healthz`` and ``GET /metrics``.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import ipaddress
import json
import os
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from bridge import __version__
from bridge.sync.store import StoreError

if TYPE_CHECKING:
    import psycopg


class LockedError(Exception):
    """Another process is writing to the same database."""


class ListenError(Exception):
    """``http_listen`` cannot be served: the port is taken, or the address is not this
    machine's. The message names the setting and what to do."""


class DatabaseLock:
    """An exclusive ``flock`` on ``<database>.lock``, released when the process ends.

    The lock file sits beside the resolved database, so a symlink to it (or a path through
    a symlinked directory) meets the same lock as the real path.
    """

    def __init__(self, database: Path) -> None:
        self.path = Path(f"{Path(database).resolve()}.lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "another process"
            os.close(fd)
            raise LockedError(
                f"{self.path.name.removesuffix('.lock')} is in use by lapor-bridge (pid {holder});"
                " stop it first (systemctl stop lapor-bridge) or wait for it to finish"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode("ascii"))
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> DatabaseLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


#: the key of the session-level advisory lock the one writing process holds in PostgreSQL
#: (not the migrations' transaction-level key, bridge.sync.pgstore)
WRITER_LOCK_KEY = 0x1A9_0B1D6F
#: the holder of that lock, from another session (a bigint key is split in two for pg_locks)
_LOCK_HOLDER = (
    "SELECT a.application_name FROM pg_locks l"
    " JOIN pg_stat_activity a ON a.pid = l.pid"
    " WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s AND l.objid = %s"
    " AND l.objsubid = 1 AND l.database = (SELECT oid FROM pg_database"
    " WHERE datname = current_database())"
)


class PgWriterLock:
    """The one writer of a PostgreSQL state database: ``pg_try_advisory_lock`` on a
    connection of the lock's own, held until :meth:`release` (or the process ends: the
    server drops a session's locks with its connection).

    Its own connection, not a store's: ``run`` opens a store per worker and closes the one
    that migrated, and the lock must outlive them all. The session is named
    ``lapor-bridge pid N on HOST`` (``application_name``), which the refusal shows.
    """

    def __init__(self, conninfo: str, *, shown: str, shared: bool = False) -> None:
        self._conninfo = conninfo
        self.shown = shown
        self.shared = shared
        self._conn: psycopg.Connection[Any] | None = None

    def acquire(self) -> None:
        import psycopg

        name = f"lapor-bridge pid {os.getpid()} on {socket.gethostname()}"[:63]
        try:
            conn = psycopg.connect(self._conninfo, autocommit=True, application_name=name)
        except psycopg.OperationalError as exc:
            raise StoreError(f"cannot connect to the PostgreSQL state database: {exc}") from None
        take = "pg_try_advisory_lock_shared" if self.shared else "pg_try_advisory_lock"
        row = conn.execute(f"SELECT {take}(%s)", (WRITER_LOCK_KEY,)).fetchone()
        if row is None or not row[0]:
            holders = conn.execute(
                _LOCK_HOLDER, (WRITER_LOCK_KEY >> 32, WRITER_LOCK_KEY & 0xFFFFFFFF)
            ).fetchall()
            conn.close()
            names = sorted({str(h[0]) for h in holders if h[0]})
            who = ", ".join(names[:3]) if names else "another lapor-bridge"
            if len(names) > 3:
                who += f" and {len(names) - 3} more"
            raise LockedError(
                f"the PostgreSQL state database {self.shown} is in use by {who}; stop it"
                " first (systemctl stop lapor-bridge, on every replica) or wait for it to"
                " finish (its replicas run together; a one-off writer runs alone)"
            )
        self._conn = conn

    def release(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()  # the session's advisory lock ends with it
            self._conn = None

    def __enter__(self) -> PgWriterLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def notify(message: str) -> bool:
    """Send one sd_notify message; False when not running under systemd's notify."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        # bounded: a manager that stops reading its socket must not hang the daemon
        sock.settimeout(1.0)
        try:
            sock.connect(address)
            sock.sendall(message.encode("utf-8"))
        except OSError:
            return False
    return True


def watchdog_interval() -> float | None:
    """Half of ``$WATCHDOG_USEC`` in seconds, when systemd's watchdog is on for us."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return int(usec) / 1_000_000 / 2
    except ValueError:
        return None


class Metrics:
    """The daemon's Prometheus metrics, on their own registry.

    Labels are the same everywhere: ``source`` (a source's name), ``account`` (an
    account's name), and for what every worker has, ``kind`` (``source`` or ``account``)
    with ``name``. ``refresh``, when set, runs before each scrape: the gauges of the
    health model (bridge/runtime/health.py) are read then, not only after a pass.
    """

    def __init__(self, version: str = __version__) -> None:
        self.registry = CollectorRegistry()
        self.refresh: Callable[[], None] | None = None
        r = self.registry
        self.build_info = Gauge(
            "lapor_bridge_build_info",
            "The running lapor-bridge; always 1, its version in the label",
            ["version"],
            registry=r,
        )
        self.build_info.labels(version).set(1)
        self.health = Gauge(
            "lapor_bridge_health",
            "1 for the bridge's health level (ok, waiting on a person, error), 0 for the others",
            ["level"],
            registry=r,
        )
        self.last_success = Gauge(
            "lapor_bridge_last_success_timestamp_seconds",
            "When the last successful pass of a source or account ended",
            ["kind", "name"],
            registry=r,
        )
        self.pass_duration = Histogram(
            "lapor_bridge_pass_duration_seconds",
            "Duration of one pass",
            ["kind", "name"],
            buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900),
            registry=r,
        )
        self.passes_failed = Counter(
            "lapor_bridge_passes_failed_total",
            "Passes that ended in an error (a pass a stop cut short is not one)",
            ["kind", "name"],
            registry=r,
        )
        self.created = Counter(
            "lapor_bridge_complaints_created_total",
            "National complaints created",
            ["source"],
            registry=r,
        )
        self.imported = Counter(
            "lapor_bridge_complaints_imported_total",
            "National inbox complaints created in the home app",
            ["account"],
            registry=r,
        )
        self.followups = Counter(
            "lapor_bridge_followups_total",
            "Follow-ups and responses carried across",
            ["direction"],
            registry=r,
        )
        self.retries = Counter(
            "lapor_bridge_http_retries_total",
            "HTTP retries by destination",
            ["destination"],
            registry=r,
        )
        self.quarantined = Gauge(
            "lapor_bridge_quarantined", "Records in quarantine", ["source"], registry=r
        )
        # bridge.md: "the number of records in doubt per source"; set from Store.counts
        # after each pass of the source, the same count as status and indoubt list
        self.in_doubt = Gauge(
            "lapor_bridge_in_doubt",
            "Records in doubt: creates and follow-ups sent to LAPOR, and imports into the"
            " app, whose answer was lost",
            ["source"],
            registry=r,
        )
        self.backlog = Gauge(
            "lapor_bridge_pending",
            "Writes the bridge will carry across at its next pass (not what waits on a person)",
            ["source"],
            registry=r,
        )
        self.waiting = Gauge(
            "lapor_bridge_waiting",
            "Work waiting on a person: LAPOR's admin to verify (verification), the city's app"
            " (city), LAPOR to close (lapor_close), a photo to fetch again (photos)",
            ["source", "reason"],
            registry=r,
        )
        self.not_in_sync = Gauge(
            "lapor_bridge_errors",
            "Records an operator should look at, besides quarantined and in doubt: status"
            " conflicts (conflict), drift, follow-ups refused (refused), late photos given up",
            ["source", "reason"],
            registry=r,
        )
        # the age of the oldest local complaint not yet on LAPOR (a create not yet sent,
        # in doubt, or a quarantined record), since the bridge first saw it; 0 when none
        self.oldest_unsynced = Gauge(
            "lapor_bridge_oldest_unsynced_seconds",
            "Age of the oldest local complaint not yet on LAPOR (pending create, in doubt or"
            " quarantined), since the bridge first saw it; 0 when there is none",
            ["source"],
            registry=r,
        )
        # following complaints by id within a budget (bridge/core/tracking.py), per account; the
        # gauges are read from the store before each scrape, as ``status`` shows them
        self.tracking_budget = Gauge(
            "lapor_bridge_tracking_budget_requests_per_hour",
            "Requests an hour the account may spend reading its complaints by id",
            ["account"],
            registry=r,
        )
        self.tracking_spent = Gauge(
            "lapor_bridge_tracking_requests_last_hour",
            "Requests the account spent reading its complaints by id in the last hour",
            ["account"],
            registry=r,
        )
        self.tracking_requests = Counter(
            "lapor_bridge_tracking_requests_total",
            "Requests sent to LAPOR reading complaints by id",
            ["account"],
            registry=r,
        )
        self.tracking_oldest_view = Gauge(
            "lapor_bridge_tracking_oldest_view_age_seconds",
            "Age of the oldest view of an open complaint followed by id (since it was last"
            " read, or mapped when never read); 0 when there is none",
            ["account"],
            registry=r,
        )
        self.tracking_due = Gauge(
            "lapor_bridge_tracking_due",
            "Open complaints followed by id whose read is due now",
            ["account"],
            registry=r,
        )
        self.tracking_wanted = Gauge(
            "lapor_bridge_tracking_wanted_requests_per_hour",
            "Requests an hour the schedule wants, every complaint read at its wanted interval;"
            " above the budget, every interval stretches by wanted / budget",
            ["account"],
            registry=r,
        )
        self.leases_held = Gauge(
            "lapor_bridge_leases_held",
            "PostgreSQL replicas: the units (a source's or an account's passes) this replica"
            " holds the lease of",
            registry=r,
        )
        self.lease_takeovers = Counter(
            "lapor_bridge_lease_takeovers",
            "PostgreSQL replicas: leases this replica took over from one that stopped renewing"
            " them (killed, frozen, cut off)",
            registry=r,
        )
        self.leases_lost = Counter(
            "lapor_bridge_leases_lost",
            "PostgreSQL replicas: leases this replica lost before it released them",
            registry=r,
        )

    def set_tracking(self, account: str, tracking: dict[str, Any]) -> None:
        """The tracking gauges from ``status.tracking``'s figures for ``account``."""
        self.tracking_budget.labels(account).set(tracking["budget_per_hour"])
        self.tracking_spent.labels(account).set(tracking["spent_last_hour"])
        self.tracking_oldest_view.labels(account).set(tracking["oldest_view_seconds"] or 0)
        self.tracking_due.labels(account).set(tracking["due"])
        self.tracking_wanted.labels(account).set(tracking["wanted_per_hour"])

    def render(self) -> bytes:
        if self.refresh is not None:
            self.refresh()
        return generate_latest(self.registry)


#: how long a client may take to send its whole request before it is dropped
READ_TIMEOUT = 5.0
#: connections served at once; one more is closed on arrival
MAX_CONNECTIONS = 16


class _BoundedServer(ThreadingHTTPServer):
    """A thread per connection, at most ``limit`` at once: over it, closed at once."""

    daemon_threads = True
    # the listen backlog: beyond it the kernel makes clients retry their SYN a second later,
    # so a burst is refused here, at once, rather than left hanging there
    request_queue_size = 64

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        limit: int,
        family: socket.AddressFamily,
    ) -> None:
        self.address_family = family
        self._slots = threading.BoundedSemaphore(limit)
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)  # a scrape waits for no one; it retries
            return
        try:
            super().process_request(request, client_address)
        except BaseException:  # no thread started: its slot would never come back
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


class _DeadlineReader(io.RawIOBase):
    """The socket's bytes until a deadline for the whole request, not for each read.

    A per-read timeout alone lets a client that drips a byte at a time hold its thread
    forever; here every read waits only for what is left of the deadline.
    """

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        super().__init__()
        self._sock = sock
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("request not read in time")
        self._sock.settimeout(left)
        return self._sock.recv_into(buffer)


class HealthServer:
    """``/healthz`` and ``/metrics`` on a loopback address, in a background thread.

    ``/healthz`` answers exactly ``200 {"status": "ok"}`` (bridge.md) when ``health()`` says
    healthy, else ``503`` with the details ``health()`` gives; ``/healthz?details`` adds
    the details to either answer.

    A client has ``timeout`` seconds to send its whole request (an idle or dripping one is
    dropped), and at most ``max_connections`` are served at once, so no client can hold
    the daemon's threads or memory.
    """

    def __init__(
        self,
        listen: str,
        health: Callable[[], tuple[bool, dict[str, Any]]],
        metrics: Metrics,
        *,
        timeout: float = READ_TIMEOUT,
        max_connections: int = MAX_CONNECTIONS,
    ):
        host, _, port = listen.rpartition(":")
        host = host.strip("[]") or "127.0.0.1"
        family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
        handler = _handler(health, metrics, timeout)
        try:
            self._server = _BoundedServer((host, int(port)), handler, max_connections, family)
        except OSError as exc:
            raise ListenError(
                f"bridge.http_listen {listen}: cannot listen there: {exc.strerror or exc}"
                " (is another lapor-bridge or program using it?); free it, or set"
                ' http_listen to another port, or "" to turn /healthz and /metrics off'
            ) from None
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="health",
            daemon=True,
        )

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler(
    health: Callable[[], tuple[bool, dict[str, Any]]], metrics: Metrics, read_timeout: float
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # HTTP/1.0 (the default): one request per connection, so the deadline below
        # covers everything a client sends
        timeout = read_timeout

        def setup(self) -> None:
            super().setup()
            self.rfile.close()
            self.rfile = io.BufferedReader(
                _DeadlineReader(self.connection, time.monotonic() + read_timeout)
            )

        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            path, _, query = self.path.partition("?")
            if path == "/healthz":
                ok, detail = health()
                # bridge.md fixes the healthy answer exactly; a 503 says why, and so does
                # /healthz?details (records in doubt, stale workers) whatever the status
                wanted = "details" in query.split("&")
                answer = {"status": "ok"} if ok else {"status": "degraded"}
                if wanted or not ok:
                    answer.update(detail)
                self._answer(200 if ok else 503, json.dumps(answer).encode(), "application/json")
            elif path == "/metrics":
                self._answer(200, metrics.render(), CONTENT_TYPE_LATEST)
            else:
                self._answer(404, b'{"status": "not found"}', "application/json")

        def _answer(self, status: int, body: bytes, ctype: str) -> None:
            self.connection.settimeout(read_timeout)  # the reader may have left it shorter
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler
