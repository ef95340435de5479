"""A hub on PostgreSQL: one replica against several, and the takeover of a dead one's units.

``python -m bench.hub [--groups 25] [--per-app 10] [--replicas 3] [--lease 5]
[--latency 0]`` runs, in the same run, on a PostgreSQL server of its own (as the tests start
one: tests/pg.py) and fresh sandboxes each time (tests/replica_kit.py's hub: one LAPOR and
``--groups`` instances of each of the four apps, 100 sources by default, two LAPOR
accounts, each app instance filed with ``--per-app`` records):

* **baseline** — one ``lapor-bridge run`` replica backfills the hub: the seconds from its
  start until every local record is mapped to a national complaint in PostgreSQL;
* **cluster** — ``--replicas`` replicas, started together, backfill the same hub afresh;
  then the one holding the most units is killed (SIGKILL) and the time until every unit it
  held is held live by another replica is measured (the takeover).

Printed: the lease settings, each run's throughput (records mapped a second) and the ratio
cluster/baseline, with the CPU seconds the sandboxes (this process) spent during the backfill
and the replicas over their whole run; and the takeover time against its goal, two lease
periods. The ratio has no goal: on the 2-core development machine the replicas, the
PostgreSQL server and the sandboxes (one Python process serving a hundred apps polled every
second) share two cores, so a second and third replica add no cores; the cluster there is
about availability, not speed.
Exit status 1 when the takeover misses it, or when a run did not map every record exactly
once (a doubled ``ext-`` tag on LAPOR, or a record left unmapped).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bridge.runtime import logs
from tests.replica_kit import (
    Hub,
    PgState,
    Replica,
    hub_config,
    new_pg_database,
    start_hub_server,
    wait_until,
)

SEED = 2026
POLL = 1.0


@dataclass
class Run:
    replicas: int
    records: int
    seconds: float
    doubled: int
    unmapped: int
    takeover: float | None = None
    taken_units: int = 0
    #: CPU seconds, during the backfill, of this process (the sandboxes: one LAPOR and every
    #: app) and of the replicas (read once they have exited)
    sandbox_cpu: float = 0.0
    replica_cpu: float = 0.0

    @property
    def throughput(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def backfill(
    replicas: int, groups: int, per_app: int, lease: float, latency: float, folder: Path
) -> Run:
    """One backfill of a fresh hub by ``replicas`` replicas (and, with more than one, the
    takeover of the busiest one's units after a SIGKILL)."""
    server = start_hub_server()
    hub = Hub(groups, SEED).start()
    started: list[Replica] = []
    state: PgState | None = None
    run: Run | None = None
    children_began = 0.0
    try:
        hub.seed_sample(per_app, SEED)
        if latency > 0:
            for sandbox in hub.servers:
                sandbox.faults.chaos(1.0, ("latency",), seconds=latency, jitter=latency / 3)
        expected = len(hub.records())
        db = new_pg_database(server, folder)
        text = hub_config(
            hub, db.url, db.password_file, lease_seconds=lease, poll_interval=POLL,
            log_level="warning", create_timeout=30,
        )  # fmt: skip
        state = PgState(db.admin_dsn)
        began = time.monotonic()
        cpu_began = _cpu(resource.RUSAGE_SELF)
        children_began = _cpu(resource.RUSAGE_CHILDREN)
        for n in range(replicas):
            replica = Replica(f"r{n + 1}", text, folder / f"{replicas}-r{n + 1}")
            replica.start()
            started.append(replica)

        def mapped() -> int:
            assert state is not None
            return state.mapped() if state.has_table("mappings") else 0  # before the schema

        wait_until(lambda: mapped() >= expected, 1800, 0.2, "every record mapped")
        seconds = time.monotonic() - began  # from the first start: a replica's start counts
        run = Run(replicas, expected, seconds, len(hub.doubled_tags()), 0)
        run.sandbox_cpu = _cpu(resource.RUSAGE_SELF) - cpu_began
        run.unmapped = expected - state.mapped()
        if replicas > 1:
            leases = state.leases()
            owners = Counter(lease.pid for lease in leases.values() if lease.live)
            pid, _ = owners.most_common(1)[0]
            victim = next(r for r in started if r.pid == pid)
            held = state.held_by(pid)
            assert victim.proc is not None
            victim.proc.send_signal(signal.SIGKILL)
            killed = time.monotonic()
            victim.proc.wait(timeout=30)
            others = {r.pid for r in started if r is not victim}

            def taken() -> bool:
                assert state is not None
                now = state.leases()
                return all(now[u].live and now[u].pid in others for u in held)

            wait_until(taken, 10 * lease, 0.05, "the victim's units held by the others")
            run.takeover = time.monotonic() - killed
            run.taken_units = len(held)
        return run
    finally:
        for replica in started:
            replica.close()
        if run is not None:  # the replicas' CPU, the victim's included, once all have exited
            run.replica_cpu = _cpu(resource.RUSAGE_CHILDREN) - children_began
        if state is not None:
            state.close()
        hub.stop()
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hub", description=__doc__)
    parser.add_argument("--groups", type=int, default=25, help="instances of each app (×4)")
    parser.add_argument("--per-app", type=int, default=10, help="records filed per instance")
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--lease", type=float, default=5.0, help="lease_seconds")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds on every answer")
    args = parser.parse_args(argv)
    logs.configure("error", "json")
    folder = Path(tempfile.mkdtemp(prefix="lapor-bridge-hub-"))
    try:
        base = backfill(1, args.groups, args.per_app, args.lease, args.latency, folder)
        cluster = backfill(
            args.replicas, args.groups, args.per_app, args.lease, args.latency, folder
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    sources = 4 * args.groups
    print(
        f"hub: {sources} sources, {base.records} records, lease_seconds {args.lease}"
        f" (renewed every {args.lease / 3:.2f} s, retried every {max(1.0, args.lease / 4):.2f} s),"
        f" poll {POLL} s, latency {args.latency * 1000:.0f} ms"
    )
    for run in (base, cluster):
        print(
            f"  {run.replicas} replica(s): {run.records} records mapped in {run.seconds:.1f} s"
            f" = {run.throughput:.1f}/s; doubled {run.doubled}, unmapped {run.unmapped};"
            f" CPU during it: sandboxes {run.sandbox_cpu:.0f} s;"
            f" replicas, whole run {run.replica_cpu:.0f} s"
        )
    ratio = cluster.throughput / base.throughput if base.throughput else 0.0
    print(f"  throughput {args.replicas} replicas / 1: {ratio:.2f} (no goal: see the docstring)")
    ok = all(r.doubled == 0 and r.unmapped == 0 for r in (base, cluster))
    if cluster.takeover is not None:
        goal = 2 * args.lease
        met = cluster.takeover <= goal
        ok = ok and met
        print(
            f"  takeover of a SIGKILLed replica's {cluster.taken_units} units:"
            f" {cluster.takeover:.2f} s, goal ≤ {goal:.1f} s (two lease periods):"
            f" {'met' if met else 'MISSED'}"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
