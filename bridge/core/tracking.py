"""Following complaints by id within a budget of requests an hour.

Without an inbox (the evidenced profile, lapor.md) the bridge learns what
happened to its complaints on LAPOR only by reading each one — the complaint
and its follow-ups, two requests — on a schedule. Two things decide which
complaint is read when:

* **The schedule** (:func:`poll_interval`): each complaint has a wanted
  interval, an eighth of its age or of the time since it last changed on
  LAPOR (whichever is shorter), between the poll floor and a day; a closed
  one (done, rejected) a week once it has been quiet for a day (until then
  as an open one: the archive reason, an admin's last note come late).
  Young and recently changed complaints are wanted often, old quiet ones
  once a day.
* **The bound** (:data:`MAX_VIEW_AGE`, ``tracking_max_view_age_hours``): an open
  complaint whose view is older is read before the schedule's others, the oldest
  first, with up to :data:`STALE_SHARE` of a pass's reads.
* **The budget** (:class:`Spending`): each account spends at most
  ``tracking_requests_per_hour``, paced by a token bucket (a burst of five
  minutes' worth, refilled at the hour's rate) under a hard cap on any sliding
  hour. Both are kept in the store with every read they pay for, in the
  read's own transaction: a restart resumes the pace, it does not start with a
  full bucket.

When the budget cannot read everything when it is wanted, the complaints due
are read most overdue first, overdue measured against their own wanted
interval (``(now - last view) / wanted``). Everyone's interval then stretches
by the same factor — the ratio of what the schedule wants to what the budget
allows (``wanted_per_hour`` in ``status``) — so young complaints stay ahead of
old ones in proportion, and an old quiet complaint is never starved: its ratio
grows while it waits, until it is the most overdue. The oldest view of an open
complaint is at most about ``max(1, wanted / budget)`` days old, and ``status``
and ``/metrics`` show both figures. docs/design.md has the reasoning.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

HOUR = timedelta(hours=1)
#: requests an hour an account spends following its complaints by id, unless configured:
#: a fifth of LAPOR's default politeness limit (5 a second), the rest left for creates and
#: follow-ups; 10,000 open complaints are then each read about every 5.6 hours
TRACKING_PER_HOUR = 3600
#: a read of a complaint and of its follow-ups: what following one complaint costs at least
COST = 2
#: how much of an hour's budget may go at once, after a quiet spell or at a start
BURST = timedelta(minutes=5)
#: polling backs off up to once a day for an open complaint
POLL_MAX = timedelta(days=1)
#: and to once a week for a closed one (done, rejected) quiet for a day: LAPOR takes no
#: more follow-ups from the agency, but an admin may still write, archive or reopen it
POLL_CLOSED = timedelta(days=7)


#: the bound on the age of a view of an open complaint, unless configured: one older is
#: read before the schedule's others (see :data:`STALE_SHARE`)
MAX_VIEW_AGE = timedelta(hours=24)
#: of a pass's reads, the share complaints past the bound may take: the rest go by the
#: schedule even when the budget cannot keep the bound (status says so), so young and
#: recently changed complaints are never crowded out altogether
STALE_SHARE = 0.9


@dataclass(frozen=True)
class Tracking:
    """How complaints are followed by id: each account's budget of requests an hour
    (``budgets``, else ``default_budget``) and the bound on the age of a view."""

    budgets: Mapping[str, int] = field(default_factory=dict)
    default_budget: int = TRACKING_PER_HOUR
    max_view_age: timedelta = MAX_VIEW_AGE

    def budget(self, account: str) -> int:
        return self.budgets.get(account, self.default_budget)


def poll_interval(
    age: timedelta, idle: timedelta, floor: timedelta, *, closed: bool = False
) -> timedelta:
    """The wanted interval: an eighth of the complaint's age or inactivity, between
    ``floor`` and a day; a week when ``closed`` and quiet (``idle``) for a day or more. A
    complaint closed a moment ago is followed as an open one until then: what comes
    with or after a close (the archive reason, an admin's last note) is read in hours,
    not a week later.

    A floor of zero polls on every pass (the tests and the demo).
    """
    if floor <= timedelta(0):
        return timedelta(0)
    if closed and idle >= POLL_MAX:
        return max(floor, POLL_CLOSED)
    wanted = max(floor, min(age, idle) / 8)
    return min(POLL_MAX, wanted)


class Ledger(Protocol):
    """What :class:`Spending` needs of the store."""

    def tracking_spent(self, account: str, since: str) -> list[tuple[str, int]]: ...

    def tracking_pace(self, account: str) -> str | None: ...


@dataclass
class Spending:
    """One account's budget and what it spent.

    A token bucket in its GCRA form: ``paced_until`` is when everything spent so far is
    paid off at ``per_hour / 3600`` a second; what may be spent now is the burst less
    what is still owed, and never more than is left of the budget in the last hour
    (``recent``: every charge of the last hour). The bucket spreads the hour evenly; the
    hour's cap makes "never more than the budget in an hour" hold even after a read
    costs more than it was expected to (a second page of follow-ups, a retry).
    """

    per_hour: int
    paced_until: datetime | None = None
    recent: list[tuple[datetime, int]] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Requests a second."""
        return self.per_hour / HOUR.total_seconds()

    @property
    def burst(self) -> float:
        return max(float(COST), self.per_hour * (BURST / HOUR))

    def spent(self, now: datetime) -> int:
        """Requests charged in the hour up to ``now`` (those dated after ``now``, by a
        clock that stepped back, count while they are within the hour)."""
        start, end = now - HOUR, now + HOUR
        return sum(n for at, n in self.recent if start < at <= end)

    def available(self, now: datetime) -> int:
        """Requests that may be sent now."""
        owed = 0.0
        if self.paced_until is not None and self.paced_until > now:
            # a clock stepped back owes no more than an empty bucket
            owed = min((self.paced_until - now).total_seconds() * self.rate, self.burst)
        bucket = self.burst - owed
        return max(0, math.floor(min(bucket, self.per_hour - self.spent(now)) + 1e-9))

    def charge(self, now: datetime, requests: int) -> None:
        """``requests`` were sent at ``now``."""
        if requests <= 0:
            return
        start = now if self.paced_until is None else max(self.paced_until, now)
        start = min(start, now + timedelta(seconds=self.burst / self.rate))
        self.paced_until = start + timedelta(seconds=requests / self.rate)
        self.recent.append((now, requests))

    @classmethod
    def load(cls, ledger: Ledger, account: str, per_hour: int, now: datetime) -> Spending:
        """The account's spending as the store holds it (the last hour and the pace)."""
        since = (now - HOUR).isoformat(timespec="microseconds")
        recent = [
            (datetime.fromisoformat(at), int(n)) for at, n in ledger.tracking_spent(account, since)
        ]
        pace = ledger.tracking_pace(account)
        return cls(per_hour, datetime.fromisoformat(pace) if pace else None, recent)


__all__ = [
    "BURST",
    "COST",
    "HOUR",
    "MAX_VIEW_AGE",
    "POLL_CLOSED",
    "POLL_MAX",
    "STALE_SHARE",
    "TRACKING_PER_HOUR",
    "Spending",
    "Tracking",
    "poll_interval",
]
