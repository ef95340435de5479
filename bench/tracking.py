"""Tracking within a request budget: following open complaints by id on the evidenced LAPOR.

``python -m bench.tracking [--n 10000] [--budget 1000] [--hours 24] [--warmup 12]
[--max-view-age 24] [--seed 19] [--baseline]`` puts ``n`` open complaints on the LAPOR sandbox
(evidenced profile: no inbox, so each is read by id: the complaint and its
follow-ups) with the bridge's mappings of them, then runs the account's passes
every 60 s of a simulated clock (the sandbox's and the bridge's) while LAPOR's
side changes: the admin and the agency answer, young complaints far more often
than old ones, and one answer often draws another within hours.

Complaints are aged 0–90 days. Each gets answers at a rate that falls with its age
(0.4 a day at birth, a tenth of that at 10 days, 0.005 a day when old) and half of
all answers draw one more within an exponential six hours. Before the run each
complaint holds the answers its history gave it, and the bridge's view of it is as
a bridge that kept its bound would have left it (read within the last
``max-view-age`` hours).

Measured from outside the bridge, by the sandbox's own log of requests (each read
by id, with the simulated time of its pass):

* **requests an hour**: the most the account spent in any hour (sliding, at every
  pass) against the budget — the goal: **never above it**;
* **staleness**: the age of the bridge's view (the time since it last read the
  complaint), sampled every 15 minutes of the measured hours, over the complaints
  changed on LAPOR in the last day and over all of them: p50, p90, max;
* **change seen after**: for every answer given during the measured hours, the time
  until the bridge read its complaint again: p50, p90.

``--baseline`` reads the same world with no schedule: the oldest view first, a
round robin, what a budget alone gives. The figures depend on the seed, not on the
machine: the clock is simulated.

The city's side is an in-process app that takes the bridge's writes (responses
copied from LAPOR): only LAPOR's requests are the subject. The warm-up hours are
not measured. Exit status 1 when an hour was above the budget.
"""

from __future__ import annotations

import argparse
import bisect
import math
import random
import re
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import SecretStr

from adapters.lapor import client as lapor
from adapters.sandbox.lapor import LaporSandbox
from bridge.core.errors import NormalizeError
from bridge.core.model import Complaint, FollowUp, Status
from bridge.core.ports import Page, RawRecord
from bridge.core.tracking import Tracking, poll_interval
from bridge.runtime import logs
from bridge.sync.engine import Engine
from bridge.sync.store import Store

INSTITUTION = "Pemerintah Kota Tanjungpinang"
ACCOUNT = "tanjungpinang"
SECRET, TOKEN = "bench-secret", "{5e1d7a55-0000-4000-8000-000000000019}"
PASS = timedelta(seconds=60)  # the default poll_interval_seconds
SAMPLE = timedelta(minutes=15)
DAY = timedelta(days=1)
START = datetime(2026, 6, 1, tzinfo=UTC)
READ = re.compile(r"/complaints/(\d+)/(complaint|followups)$")


class Clock:
    """The simulated time of the sandbox and the bridge."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class City:
    """An app that takes what the bridge writes into it (responses, statuses) and has no
    feed: this benchmark follows complaints on LAPOR only."""

    name: str = "kota"
    account: str = ACCOUNT
    written: int = 0

    def pull(self, cursor: str | None) -> Iterator[Page]:
        return iter(())

    def cursor_for(self, since: datetime) -> str | None:
        return None

    def fetch(self, local_id: str) -> RawRecord | None:
        return None  # nothing of the bridge's in it to find: every response is written

    def normalize(self, raw: RawRecord) -> Complaint:
        raise NormalizeError("the benchmark's city has no feed: it yields no record")

    def set_status(self, local_id: str, status: Status) -> None:
        self.written += 1

    def add_response(self, local_id: str, response: FollowUp, ref: str) -> None:
        self.written += 1

    def close(self) -> None:
        """Nothing to close: it holds no connection."""


@dataclass
class World:
    """The complaints' lives: when each was filed and when LAPOR's side answered it."""

    created: list[datetime]
    answers: list[list[datetime]] = field(default_factory=list)

    @classmethod
    def make(cls, rng: random.Random, n: int, start: datetime, end: datetime) -> World:
        created = sorted(start - timedelta(days=rng.uniform(0, 90)) for _ in range(n))
        world = cls(created)
        for born in created:
            times: list[datetime] = []
            at = born
            while True:
                # thinning: the rate falls with age; 0.4/day at birth, 0.005/day when old
                at += timedelta(days=rng.expovariate(0.4))
                if at >= end:
                    break
                age = (at - born) / DAY
                rate = 0.4 * math.exp(-age / 4.3) + 0.005
                if rng.random() < rate / 0.4:
                    times.append(at)
                    reply = at
                    while rng.random() < 0.5:  # an answer draws another
                        reply += timedelta(hours=rng.expovariate(1 / 6))
                        if reply < end:
                            times.append(reply)
            world.answers.append(sorted(times))
        return world


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def hours(seconds: float) -> str:
    return f"{seconds / 3600:6.2f} h"


def run(args: argparse.Namespace) -> int:
    rng = random.Random(args.seed)
    start = START
    measure_from = start + timedelta(hours=args.warmup)
    end = measure_from + timedelta(hours=args.hours)
    clock = Clock(start)
    world = World.make(rng, args.n, start, end)
    max_age = timedelta(hours=args.max_view_age)
    # the world before the run is the same whatever the order: views within a day
    known = timedelta(hours=24)
    started = time.monotonic()

    sandbox = LaporSandbox(now=clock, seed=args.seed)
    sandbox.add_account(SECRET, TOKEN, INSTITUTION, user_id=100001)
    ids: list[int] = []
    last_change: list[datetime] = []
    pending: list[tuple[datetime, int]] = []  # answers during the run: (time, index)
    for index, born in enumerate(world.created):
        clock.now = born
        ids.append(
            int(
                sandbox.file_complaint(
                    "Jalan berlubang", f"Aduan {index}", "TOPIK LAINNYA", INSTITUTION
                )["id"]
            )
        )
        before = [at for at in world.answers[index] if at < start]
        if before:  # the history: only its last answer matters to the run
            clock.now = before[-1]
            sandbox.admin_followup(ids[-1], "Mohon ditindaklanjuti.")
        last_change.append(before[-1] if before else born)
        pending += [(at, index) for at in world.answers[index] if at >= start]
    pending.sort()
    by_id = {national_id: index for index, national_id in enumerate(ids)}

    with tempfile.TemporaryDirectory(prefix="bench-tracking-") as tmp:
        store = Store(Path(tmp) / "bridge.db")
        # the view a bridge that kept the bound would have: each read within max_age
        viewed: list[datetime] = []
        with store.atomic():
            for index, national_id in enumerate(ids):
                born = world.created[index]
                seen = max(last_change[index], start - known * rng.random())
                wanted = poll_interval(seen - born, seen - last_change[index], PASS)
                viewed.append(seen)
                store.insert_mapping(
                    source="kota",
                    local_id=str(index),
                    national_id=national_id,
                    origin="local",
                    account=ACCOUNT,
                    status=Status.VERIFIED.value,
                    national_status=30,
                    national_canonical=Status.VERIFIED.value,
                    local_canonical=Status.VERIFIED.value,
                    created_at=born.isoformat(),
                    link_state="done",
                    tracked_by="polling",
                    last_seen_at=seen.isoformat(timespec="microseconds"),
                    next_poll_at=(seen + wanted).isoformat(timespec="microseconds"),
                )
        sandbox.start()
        config = lapor.LaporConfig(base_url=sandbox.url, requests_per_second=100_000)
        account = lapor.AccountConfig(
            api_secret=SecretStr(SECRET), token=SecretStr(TOKEN), user_id=100001,
            institution=INSTITUTION,
        )  # fmt: skip
        nationals = lapor.connect(config, {ACCOUNT: account})
        city = City()
        engine = Engine(
            store,
            {"kota": city},  # type: ignore[dict-item]
            dict(nationals),
            poll_floor=PASS,
            # the baseline: every due complaint past a bound of zero, so the oldest view first
            tracking=Tracking(
                default_budget=args.budget,
                max_view_age=timedelta(0) if args.baseline else max_age,
            ),
            clock=clock,
        )
        spent: list[tuple[datetime, int]] = []  # (pass time, requests) from the sandbox's log
        reads: list[list[datetime]] = [[] for _ in ids]
        samples_changed: list[float] = []
        samples_all: list[float] = []
        worst_hour = 0
        logged = 0
        next_sample = measure_from
        done = 0
        try:
            clock.now = start
            while clock.now < end:
                while done < len(pending) and pending[done][0] <= clock.now:
                    at, index = pending[done]
                    clock.now, moment = at, clock.now
                    sandbox.admin_followup(ids[index], "Tindak lanjut berikutnya.")
                    last_change[index] = at
                    clock.now = moment
                    done += 1
                report = engine.sync_account(ACCOUNT)
                if not report.ok:
                    print(f"pass failed at {clock.now}: {report.error}", file=sys.stderr)
                with sandbox.lock:
                    new = sandbox.requests[logged:]
                    logged = len(sandbox.requests)
                sent = 0
                for method, path in new:
                    found = READ.search(path)
                    if method == "GET" and found:
                        sent += 1
                        if found.group(2) == "complaint":
                            reads[by_id[int(found.group(1))]].append(clock.now)
                spent.append((clock.now, sent))
                hour_ago = clock.now - timedelta(hours=1)
                worst_hour = max(worst_hour, sum(n for at, n in spent if at > hour_ago))
                if len(spent) > 120:
                    spent = spent[-70:]
                if clock.now >= next_sample:
                    now = clock.now
                    day_ago = now - DAY
                    for index in range(len(ids)):
                        seen = reads[index][-1] if reads[index] else viewed[index]
                        age = (now - seen).total_seconds()
                        samples_all.append(age)
                        if last_change[index] > day_ago:
                            samples_changed.append(age)
                    next_sample += SAMPLE
                clock.now += PASS
        finally:
            store.close()
            for national in nationals.values():
                national.close()
            sandbox.stop()

    delays = []
    for at, index in pending:
        if measure_from <= at < end:
            later = reads[index][bisect.bisect_left(reads[index], at) :]
            delays.append(((later[0] if later else end) - at).total_seconds())
    answered = sum(1 for at, _ in pending if measure_from <= at < end)
    order = "BASELINE: oldest view first" if args.baseline else f"bound {args.max_view_age:g} h"
    print(
        f"tracking: {args.n} open complaints, evidenced LAPOR (read by id: complaint +"
        f" follow-ups), budget {args.budget} requests an hour, {order};"
        f" {args.hours:g} h measured after {args.warmup:g} h of warm-up,"
        f" {answered} answers on LAPOR in them ({time.monotonic() - started:.0f} s)"
    )
    print(f"{'':32} {'p50':>9} {'p90':>9} {'max':>9}")
    for label, values in (
        ("staleness, changed in last day", samples_changed),
        ("staleness, all complaints", samples_all),
        ("change seen after", delays),
    ):
        print(
            f"{label:32} {hours(percentile(values, 0.5))} {hours(percentile(values, 0.9))}"
            f" {hours(max(values, default=float('nan')))}"
        )
    met = worst_hour <= args.budget
    print(
        f"requests in any hour: at most {worst_hour} of {args.budget}"
        f" (goal: never above the budget) — {'met' if met else 'MISSED'}"
    )
    return 0 if met else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tracking", description=__doc__)
    parser.add_argument("--n", type=int, default=10_000, help="open complaints")
    parser.add_argument("--budget", type=int, default=1000, help="requests an hour")
    parser.add_argument("--hours", type=float, default=24, help="hours measured")
    parser.add_argument("--warmup", type=float, default=12, help="hours before measuring")
    parser.add_argument("--max-view-age", type=float, default=24, help="the bound, hours")
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument(
        "--baseline",
        action="store_true",
        help="no schedule: read the oldest view first (a round robin), to compare",
    )
    args = parser.parse_args(argv)
    logs.configure("warning", "json")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
