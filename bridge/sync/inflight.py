"""Requests in flight: remote calls on worker threads, their outcomes on the caller's.

A source pass sends a page's creates (and its write-backs) concurrently, but the
state store has one writer: the thread that runs the pass. :class:`Flights` runs
a *call* (HTTP only: uploads, a create, a write-back; never the store) on a
worker and hands its result, or its exception, to a *then* that runs on the
pass's own thread, where the outcome is committed. At most ``limit`` calls run
at once; :meth:`Flights.submit` waits for one to finish (and commits it) before
starting one more. See docs/design.md, "Concurrency inside a source pass".

Each destination (a LAPOR account, an app) also has one process-wide bound,
:func:`slots`: the daemon runs several passes at once, and every pass that sends
to the same account shares its ``max_in_flight``. The rate limit is shared the
same way (:class:`bridge.runtime.http.RateLimiter`).
"""

from __future__ import annotations

import collections
import queue
import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from bridge.runtime.http import with_this_threads_hook

#: what a pass sends to one destination at once unless configured (``max_in_flight``):
#: enough to hide 100–300 ms of WAN latency at LAPOR's 5 requests a second
DEFAULT_MAX_IN_FLIGHT = 8

#: a wire that answers within this (seconds the pass's thread waited for an in-line call,
#: its own CPU for the call not counted; median of the last calls) is faster than a
#: hand-over to a worker and back is worth: calls are made in-line (see :class:`Flights`).
#: Loopback waits 0.2–0.4 ms, also on a loaded machine; 1 ms of latency waits 1.5 ms,
#: where 8 in flight already go 1.7× as fast (docs/benchmarks.md)
FAST_WIRE = 0.001
#: the share of its time the pass's thread may spend waiting for answers before in-flight
#: requests count as hiding latency; below it, answers wait for the pass, not the reverse
IDLE_SHARE = 0.1
#: calls handled before the mode is judged again
WINDOW = 64
#: in-line calls a :class:`Flights` that starts in-line (``probe``) makes before it judges
#: the wire (a WAN pays for each, one at a time: 2 cost a backfill at 150 ms about 1 %)
PROBE = 1

_slots: dict[str, threading.BoundedSemaphore] = {}
_slots_lock = threading.Lock()


def slots(destination: str, limit: int) -> threading.BoundedSemaphore:
    """The process-wide bound on calls in flight to ``destination`` (the first limit
    asked for a destination is kept)."""
    with _slots_lock:
        found = _slots.get(destination)
        if found is None:
            found = _slots[destination] = threading.BoundedSemaphore(max(1, limit))
        return found


Then = Callable[[Any, BaseException | None], None]


class Flights:
    """At most ``limit`` calls to one destination in flight; outcomes on this thread.

    ``then(result, error)`` runs on the thread that submitted, in the order calls
    finish; one that raises stops nothing else: every other outcome is still
    handled (committed) by :meth:`drain`, which raises the first error after.
    An interrupt (a ``BaseException`` that is not an ``Exception``: a test's crash
    point, ``KeyboardInterrupt``) handles nothing more, as a kill would not.
    The workers live as long as the object (a pass): :meth:`close` ends them.

    Requests in flight hide the wire's latency; handing a call to a worker and its
    answer back costs CPU under the GIL (two thread switches, the interpreter lock
    changing hands), which a pass's own work competes for. Where the pass's thread
    hardly ever waits for an answer (answers wait for it: a wire faster than its
    own work, loopback or a LAN), the calls are made in-line, one at a time, as a
    sequential pass does, until the wire keeps it waiting longer than
    :data:`FAST_WIRE` (the median of the last calls). What a call costs the thread
    itself (building the request, parsing the answer: CPU, slower on a loaded
    machine) is not waiting and does not count: workers would not hide it, only
    add the hand-over to it. The outcomes are handled by the same ``then`` either way.

    A pass that has nothing to do but wait for the calls (the write-backs at its
    end) never stops waiting, so the watch above would keep them on workers on
    any wire: such a ``probe`` Flights starts in-line instead, and hands the calls
    to workers once none of its first :data:`PROBE` calls was faster than
    :data:`FAST_WIRE` (a WAN pays for those calls one at a time), or later as
    above. A first call that was slow for another reason (a new connection, a
    pause) costs only that: the write-backs go on workers, as they always did.
    """

    def __init__(
        self,
        destination: str,
        limit: int,
        *,
        before_wait: Callable[[], None],
        heartbeat: Callable[[], object],
        probe: bool = False,
        clock: Callable[[], float] = time.monotonic,
        cpu_clock: Callable[[], float] = time.thread_time,
    ) -> None:
        """``before_wait`` runs before this thread blocks on the wire (the store commits
        what it holds: its write lock is never held across a wait); ``heartbeat`` while
        it waits; ``probe``: start in-line, for calls this thread only waits for;
        ``clock`` and ``cpu_clock``: this thread's wall and CPU time (tests)."""
        self.limit = max(1, limit)
        self._slots = slots(destination, self.limit)
        self._before_wait = before_wait
        self._heartbeat = heartbeat
        self._pool: ThreadPoolExecutor | None = None
        self._running: dict[Future[Any], Then] = {}
        self._finished: queue.SimpleQueue[Future[Any]] = queue.SimpleQueue()
        self._failed: Exception | None = None
        self.inline = probe  # calls made on this thread (a fast wire)
        self._probing = probe  # in-line until the first calls have shown the wire
        self._clock, self._cpu_clock = clock, cpu_clock
        # what the last in-line calls kept this thread waiting (seconds)
        self._took: collections.deque[float] = collections.deque(maxlen=32)
        self._calls = 0  # handled since the window started
        self._window_from = clock()
        self._waited = 0.0  # seconds this thread waited for answers in the window

    def __len__(self) -> int:
        return len(self._running)

    def submit(self, call: Callable[[], Any], then: Then) -> None:
        """Start ``call`` on a worker once fewer than ``limit`` are in flight (or make it
        here, on a fast wire)."""
        if self.inline:
            while self._running:  # those sent before the wire was found fast go first
                self._settle()
            if self._failed is not None:
                self.drain()
            self._in_line(call, then)
            return
        while len(self._running) >= self.limit:
            self._settle()
            if self._failed is not None:
                self.drain()  # the pass fails: what is in flight is committed first
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.limit, thread_name_prefix="in-flight")
        future = self._pool.submit(self._bounded, with_this_threads_hook(call))
        self._running[future] = then
        future.add_done_callback(self._finished.put)

    def _bounded(self, call: Callable[[], Any]) -> Any:
        with self._slots:
            return call()

    def _in_line(self, call: Callable[[], Any], then: Then) -> None:
        started, cpu = self._clock(), self._cpu_clock()
        result: Any = None
        error: Exception | None = None
        try:
            result = self._bounded(call)
        except Exception as exc:  # handed to ``then``, as a worker's would be
            error = exc
        # the wait alone: the wire's time, and the machine's other processes'
        waited = (self._clock() - started) - (self._cpu_clock() - cpu)
        self._took.append(max(0.0, waited))
        self._run(then, result, error)
        # the median: one slow answer (a pause, a page read) does not make a wire slow
        slow = len(self._took) >= 8 and statistics.median(self._took) > FAST_WIRE
        if self._probing and len(self._took) >= PROBE:
            self._probing = False
            slow = slow or min(self._took) > FAST_WIRE
        if slow:
            self.inline = self._probing = False  # requests in flight hide the wire again
            self._restart_window()
        if self._failed is not None:
            self.drain()

    def _judge(self) -> None:
        """After a window of calls on workers: in-line when this thread hardly waited."""
        self._calls += 1
        if self._calls < WINDOW:
            return
        elapsed = self._clock() - self._window_from
        if elapsed > 0 and self._waited / elapsed < IDLE_SHARE:
            self.inline = True
            self._took.clear()
        self._restart_window()

    def _restart_window(self) -> None:
        self._calls, self._waited, self._window_from = 0, 0.0, self._clock()

    def drain(self) -> None:
        """Handle every call in flight; then raise the first error a ``then`` raised."""
        while self._running:
            self._settle()
        failed, self._failed = self._failed, None
        if failed is not None:
            raise failed

    def _settle(self) -> None:
        """Wait for at least one call to finish and handle every one finished."""
        try:
            future = self._finished.get_nowait()
        except queue.Empty:
            self._before_wait()
            waiting_from = self._clock()
            while True:
                try:
                    future = self._finished.get(timeout=1.0)
                    break
                except queue.Empty:
                    self._heartbeat()  # the daemon's watchdog: waiting on the wire is alive
            self._waited += self._clock() - waiting_from
        while True:
            self._handle(future)
            try:
                future = self._finished.get_nowait()
            except queue.Empty:
                return

    def _handle(self, future: Future[Any]) -> None:
        then = self._running.pop(future)
        error = future.exception()
        self._judge()
        self._run(then, None if error is not None else future.result(), error)

    def _run(self, then: Then, result: Any, error: BaseException | None) -> None:
        try:
            then(result, error)
        except Exception as exc:  # committed later or failing the pass: others go on
            if self._failed is None:
                self._failed = exc

    def abandon(self) -> None:
        """Wait for the calls in flight and handle none of them (an interrupt)."""
        for future in list(self._running):
            future.exception()
        self._running.clear()
        while not self._finished.empty():
            self._finished.get_nowait()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
