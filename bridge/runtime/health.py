"""One health model for ``status`` (its text, ``--json`` and exit code), ``/healthz``,
``/metrics`` and the exit code of ``sync``.

Pure: it is handed what the store and the daemon know (:class:`PassState` per source and
account, :class:`Backlog` per source) and returns a :class:`Health`, a level with its
reasons. Three levels, worst first:

* ``error`` — something is wrong and a person should act: a source or account whose last
  pass failed, or that has not ended a pass for over three poll intervals (or is stuck in
  one), anything in doubt, quarantined, a status conflict, a status drift, a follow-up or
  response the other side refused, a late photo given up;
* ``waiting`` — work is waiting on a person, not on the bridge: LAPOR's admin has not
  verified (disposed) a complaint, so the city's response cannot be posted yet; the city
  has not answered (an app that queued an import); LAPOR has not yet closed a complaint
  the city marked done; a photo the city's server could not give, tried again later;
* ``ok`` — nothing of the above. Work *pending* (the bridge will do it at its next
  pass) is only a note: when it cannot be done, the pass fails, and that is an error.

bridge.md separates *pending* (work the bridge could do now and has not done: a request
that failed and will be retried) from *waiting*: ``sync`` exits 1 for pending,
quarantined or in doubt (:func:`sync_exit_code`), never for waiting and never for a
conflict alone. ``status`` exits 1 exactly on ``error``. ``/healthz`` answers 503 only
for the *liveness* reasons (a failed, stale or stuck pass, a lost database): records in
doubt or a conflict are the operator's, not a reason to restart the service.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from bridge.core.timefmt import display

#: ``passes.last_error`` of a pass that a stop (SIGTERM, SIGINT) cut short: not a failure
STOPPED = "stopped: interrupted by a signal"

#: a worker's last sign of life older than this many poll intervals is stuck, and a last
#: pass that ended longer ago is stale (bridge.md: "three poll intervals")
STALE_INTERVALS = 3


class Level(StrEnum):
    """How the bridge is doing, best first."""

    OK = "ok"
    WAITING = "waiting"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Level.OK: 0, Level.WAITING: 1, Level.ERROR: 2}

#: reason codes that make ``/healthz`` answer 503: the service itself is not working
LIVENESS = frozenset({"failed", "stale", "stuck", "database"})


@dataclass(frozen=True)
class PassState:
    """What is known of the passes of one source or account (the ``passes`` table), and
    the last sign of life of a pass running now (a daemon worker's heartbeat, or the time
    a page's cursor was saved), if any."""

    started_at: datetime | None = None
    finished_at: datetime | None = None
    ok_at: datetime | None = None
    last_error: str | None = None
    progress_at: datetime | None = None

    @property
    def stopped(self) -> bool:
        """The last pass was cut short by a stop: neither a success nor a failure."""
        return self.last_error == STOPPED

    @property
    def failed(self) -> bool:
        return bool(self.last_error) and not self.stopped

    @property
    def running(self) -> bool:
        """A pass started after the last one ended (or the first one started)."""
        if self.started_at is None:
            return False
        return self.finished_at is None or self.started_at > self.finished_at


@dataclass(frozen=True)
class Backlog:
    """One source's records that are not in sync, by why.

    ``pending`` is the bridge's own work (a create not yet sent, a follow-up or
    write-back to retry: done at its next pass). The error counts: ``in_doubt``,
    ``quarantined``, ``conflicts``
    (done on one side, rejected on the other), ``drift`` (LAPOR ahead of the app, which
    the bridge should have moved), ``refused`` (follow-ups or responses the other side
    refused), ``photos_given_up``. ``refused_closed`` (follow-ups LAPOR refused because
    the complaint is closed there) is only a note: no one can do anything about it. The
    waiting counts: ``waiting_verification``,
    ``waiting_city``, ``waiting_lapor_close``, ``photos_waiting``.
    ``oldest_unsynced_at``: when the bridge first saw the oldest local complaint that is
    not on LAPOR yet (a create not sent, in doubt, or a quarantined record).
    """

    pending: int = 0
    in_doubt: int = 0
    quarantined: int = 0
    conflicts: int = 0
    drift: int = 0
    refused: int = 0
    refused_closed: int = 0
    photos_given_up: int = 0
    waiting_verification: int = 0
    waiting_city: int = 0
    waiting_lapor_close: int = 0
    photos_waiting: int = 0
    oldest_unsynced_at: datetime | None = None

    def waiting(self) -> dict[str, int]:
        """``status --json``'s ``waiting`` of a source: each kind of waiting, and its total."""
        kinds = {
            "verification": self.waiting_verification,
            "city": self.waiting_city,
            "lapor_close": self.waiting_lapor_close,
            "photos": self.photos_waiting,
        }
        return {**kinds, "total": sum(kinds.values())}

    @property
    def dirty(self) -> bool:
        """bridge.md, ``sync``: something left pending, quarantined or in doubt."""
        return bool(self.pending or self.quarantined or self.in_doubt)


@dataclass(frozen=True)
class Reason:
    """One reason for a level: who (``source tanjak``), what (a code), in words."""

    level: Level
    subject: str
    code: str
    text: str

    def as_dict(self) -> dict[str, str]:
        return {"level": self.level.value, "subject": self.subject, "code": self.code,
                "text": self.text}  # fmt: skip


@dataclass(frozen=True)
class Health:
    """The verdict: the worst level among the reasons, the reasons, and notes (worth
    knowing, no level: no pass yet, a pass stopped by a signal, a pass running)."""

    level: Level
    reasons: tuple[Reason, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def healthy(self) -> bool:
        """``status --json``'s ``healthy``: anything but ``error``."""
        return self.level != Level.ERROR

    @property
    def live(self) -> bool:
        """``/healthz``'s 200: no failed, stale or stuck pass, the database in place."""
        return not any(r.code in LIVENESS for r in self.reasons)

    @property
    def status_exit_code(self) -> int:
        """``status``: 0 ok or waiting, 1 error."""
        return 0 if self.healthy else 1

    def of(self, level: Level) -> list[Reason]:
        return [r for r in self.reasons if r.level == level]

    def as_dict(self) -> dict[str, Any]:
        return {
            "health": self.level.value,
            "errors": [r.text for r in self.of(Level.ERROR)],
            "waiting_for": [r.text for r in self.of(Level.WAITING)],
            "reasons": [r.as_dict() for r in self.reasons],
        }


def _when(value: datetime) -> str:
    return display(value)  # for people: RFC 3339 in WIB


def assess_pass(
    subject: str, state: PassState | None, interval: float, now: datetime
) -> tuple[list[Reason], list[str]]:
    """The reasons and notes about one source's or account's passes.

    A pass running now that shows signs of life (``progress_at``) within three intervals
    is fine however long it takes (a first backfill); one without for longer is stuck.
    Otherwise the last pass decides: failed is an error, one that ended over three
    intervals ago is stale (a stopped daemon, too), and one a stop cut short is only a
    note. No pass at all is a note: the service has just started.
    """
    state = state or PassState()
    limit = timedelta(seconds=STALE_INTERVALS * interval)
    reasons: list[Reason] = []
    notes: list[str] = []

    def error(code: str, text: str) -> None:
        reasons.append(Reason(Level.ERROR, subject, code, f"{subject}: {text}"))

    if (state.running or state.finished_at is None) and state.progress_at is not None:
        if now - state.progress_at > limit:
            error("stuck", f"pass stuck: no progress since {_when(state.progress_at)}")
        elif state.finished_at is None or now - state.finished_at > limit:
            since = state.started_at or state.progress_at
            notes.append(f"{subject}: pass running since {_when(since)}, making progress")
        if state.failed:
            error("failed", f"last pass failed: {state.last_error}")
        return reasons, notes
    if state.finished_at is None:
        if state.running and state.started_at is not None and now - state.started_at > limit:
            error("stuck", f"first pass started {_when(state.started_at)}, none ended")
        else:
            notes.append(f"{subject}: no pass has run yet")
        return reasons, notes
    if state.failed:
        error("failed", f"last pass failed: {state.last_error}")
    elif now - state.finished_at > limit:
        error(
            "stale",
            f"last pass ended {_when(state.finished_at)}, over {STALE_INTERVALS} intervals ago",
        )
    elif state.stopped:
        notes.append(f"{subject}: last pass stopped by a signal at {_when(state.finished_at)}")
    return reasons, notes


def assess_backlog(subject: str, backlog: Backlog) -> list[Reason]:
    """The reasons a source's records give, errors first."""
    errors = (
        ("in_doubt", backlog.in_doubt, "{n} in doubt (lapor-bridge indoubt list)"),
        ("quarantined", backlog.quarantined, "{n} record(s) quarantined"),
        ("conflict", backlog.conflicts, "{n} status conflict(s): done on one side, rejected"
                                        " on the other"),
        ("drift", backlog.drift, "{n} status drift(s): LAPOR ahead of the app"),
        ("refused", backlog.refused, "{n} follow-up(s) or response(s) refused by the other"
                                     " side"),
        ("photos_given_up", backlog.photos_given_up, "{n} late photo(s) given up"),
    )  # fmt: skip
    waiting = (
        ("verification", backlog.waiting_verification,
         "{n} city response(s) waiting for LAPOR's admin to verify the complaint"),
        ("city", backlog.waiting_city, "{n} import(s) queued by the app, waiting for the city"),
        ("lapor_close", backlog.waiting_lapor_close,
         "{n} complaint(s) done in the app, waiting for LAPOR to close them"),
        ("photos", backlog.photos_waiting, "{n} photo(s) waiting to be fetched again"),
    )  # fmt: skip
    found: list[Reason] = []
    for level, rows in ((Level.ERROR, errors), (Level.WAITING, waiting)):
        for code, n, text in rows:
            if n:
                found.append(Reason(level, subject, code, f"{subject}: {text.format(n=n)}"))
    return found


def assess(
    passes: Mapping[str, PassState | None],
    backlogs: Mapping[str, Backlog],
    interval: float,
    now: datetime,
    *,
    problems: Iterable[Reason] = (),
) -> Health:
    """The bridge's health. ``passes`` is keyed by subject (``source tanjak``, ``account
    malang``), ``backlogs`` by source name; ``problems`` are reasons found elsewhere (the
    daemon's database gone)."""
    reasons = list(problems)
    notes: list[str] = []
    for subject, state in passes.items():
        found, said = assess_pass(subject, state, interval, now)
        reasons += found
        notes += said
    for name, backlog in backlogs.items():
        reasons += assess_backlog(f"source {name}", backlog)
        if backlog.pending:  # the bridge's own work, done at its next pass: no level
            notes.append(f"source {name}: {backlog.pending} pending, retried at the next pass")
        if backlog.refused_closed:
            notes.append(
                f"source {name}: {backlog.refused_closed} follow-up(s) not posted: the"
                " complaint is closed on LAPOR"
            )
    reasons.sort(key=lambda r: -r.level.rank)  # stable: errors first, each in order
    level = max((r.level for r in reasons), key=lambda lv: lv.rank, default=Level.OK)
    return Health(level, tuple(reasons), tuple(notes))


def sync_exit_code(ok: bool, backlogs: Iterable[Backlog]) -> int:
    """``sync`` and ``resync`` (bridge.md): 1 when a pass failed or anything is left
    pending, quarantined or in doubt; waiting, conflicts and refusals alone are 0."""
    return 0 if ok and not any(b.dirty for b in backlogs) else 1


def oldest_unsynced_seconds(backlog: Backlog, now: datetime) -> float:
    """``lapor_bridge_oldest_unsynced_seconds``: how long the oldest local complaint not
    yet on LAPOR has been known to the bridge; 0 when there is none."""
    if backlog.oldest_unsynced_at is None:
        return 0.0
    return max(0.0, (now - backlog.oldest_unsynced_at).total_seconds())
