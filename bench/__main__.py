"""``python -m bench``: the three measurements of issue 8, one after the other.

* ``bench.backfill`` — backfill throughput, bridge against the bare wire;
* ``bench.latency`` — a complaint's trip from Tanjak to LAPOR with the daemon;
* ``bench.memory`` — peak RSS of a sync over a small and a large backlog.

Arguments are passed to none of them: run a module alone for its flags
(``python -m bench.backfill --n 2000``). Exit status 1 when any goal is missed.
"""

from __future__ import annotations

import sys

from bench import backfill, latency, memory


def main() -> int:
    failed = []
    for name, run in (
        ("backfill", backfill.main),
        ("latency", latency.main),
        ("memory", memory.main),
    ):
        print(f"\n=== bench.{name} ===", flush=True)
        if run([]) != 0:
            failed.append(name)
    if failed:
        print(f"\ngoals missed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
