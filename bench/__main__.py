"""``python -m bench`` (``make bench``): every measurement with a goal, one after the other.

* ``bench.backfill`` — backfill throughput against a bare loop with 8 workers: 3,000
  complaints on loopback, then 600 with 150 ± 50 ms on every answer (issue 19);
* ``bench.backfill --polite`` — the share of LAPOR's politeness limit a backfill uses;
* ``bench.requests`` — requests per new complaint, per app;
* ``bench.tracking`` — staleness of complaints followed within a budget of requests;
* ``bench.latency`` — a complaint's trip from Tanjak to LAPOR with the daemon;
* ``bench.memory`` — peak RSS of a sync (requests in flight) over a small and a large
  backlog.

The dedupe measurements (``bench.dedupe_eval``, ``bench.dedupe_check``), the export
benchmark and the hub on PostgreSQL (``bench.hub``: it needs PostgreSQL's server binaries,
as the tests do) run alone. Run a module alone for its flags (``python -m bench.backfill
--n 2000``). Exit status 1 when any goal is missed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from bench import backfill, latency, memory, requests, tracking

RUNS: tuple[tuple[str, Callable[[list[str]], int], list[str]], ...] = (
    ("backfill", backfill.main, ["--n", "3000", "--workers", "8"]),
    ("backfill", backfill.main,
     ["--n", "600", "--workers", "8", "--latency", "150", "--jitter", "50"]),
    ("backfill", backfill.main,
     ["--n", "600", "--workers", "8", "--latency", "150", "--jitter", "50", "--polite"]),
    ("requests", requests.main, []),
    ("tracking", tracking.main, []),
    ("latency", latency.main, []),
    ("memory", memory.main, []),
)  # fmt: skip


def main() -> int:
    failed = []
    for name, run, args in RUNS:
        shown = " ".join([f"python -m bench.{name}", *args])
        print(f"\n=== {shown} ===", flush=True)
        if run(args) != 0:
            failed.append(shown)
    if failed:
        print("\ngoals missed:\n  " + "\n  ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
