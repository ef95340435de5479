"""How the reconciliation export scales: 10,000 rows against 1,000,000.

``python -m bench.export`` fills two temporary state databases with synthetic
records (mappings with every kind of problem, follow-ups, audit events,
quarantine entries and creates in doubt), exports each as CSV and as JSON to
``/dev/null`` in a fresh child process, and prints the time and the peak
resident memory of every run with the large/small ratios.

Goal: linear time (the time per row at 1M within 1.5× of that at 10k) and
flat memory (peak RSS at most 200 MB, about what 10k rows take). Each export
runs in its own process so that one run's peak cannot hide in another's.
The exit status is 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bridge.reports import exports
from bridge.sync.store import Store

SMALL = 10_000
LARGE = 1_000_000
MEMORY_GOAL_MB = 200.0
LINEAR_GOAL = 1.5
FORMATS = ("csv", "json")

SOURCES = ("tanjak", "ujar", "sambat", "kota-contoh")
AGENCIES = ("DLH", "PUPR", "DISHUB", "DINKES", "DISDUKCAPIL", "PERKIM", None)
#: (local raw, local canonical, LAPOR code, LAPOR canonical, converged)
STATES = (
    ("baru", "submitted", 10, "submitted", "submitted"),
    ("diverifikasi", "verified", 30, "verified", "verified"),
    ("diproses", "in_progress", 40, "in_progress", "in_progress"),
    ("selesai", "done", 60, "done", "done"),
    ("ditolak", "rejected", 90, "rejected", "rejected"),
    ("selesai", "done", 90, "rejected", "done"),  # a conflict
    ("baru", "submitted", 30, "verified", "verified"),  # a drift
)
STATE_WEIGHTS = (30, 20, 15, 20, 5, 1, 2)
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)

MAPPING_COLUMNS = (
    "source", "local_id", "national_id", "duplicate_of", "origin", "status", "local_status",
    "national_status", "local_updated_at", "national_updated_at", "fingerprint", "category",
    "agency", "confidential", "anonymous", "link_state", "conflict", "created_at",
    "first_synced_at", "last_synced_at", "account", "local_canonical", "national_canonical",
    "tracked_by", "last_seen_at",
)  # fmt: skip


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds")


def _mappings(n: int, rng: random.Random) -> Iterator[tuple[Any, ...]]:
    """``n`` mapping rows; one in a hundred is merged into the record before it."""
    for i in range(n):
        local, local_canonical, code, national_canonical, converged = rng.choices(
            STATES, STATE_WEIGHTS
        )[0]
        duplicate = i > 0 and i % 100 == 0
        source = SOURCES[i % len(SOURCES)]
        created = EPOCH + timedelta(seconds=i * 30 + rng.randrange(30))
        synced = _iso(created + timedelta(minutes=2))
        yield (
            source,
            str(i),
            9_000_000 + (i - 1 if duplicate else i),
            f"{SOURCES[(i - 1) % len(SOURCES)]}:{i - 1}" if duplicate else None,
            "national" if i % 9 == 0 else "local",
            converged,
            local,
            code,
            synced,
            synced,
            f"{i:032x}",
            "LINGKUNGAN HIDUP DAN KEHUTANAN/PENGELOLAAN SAMPAH",
            rng.choice(AGENCIES),
            int(rng.random() < 0.05),
            int(rng.random() < 0.2),
            "pending" if i % 97 == 0 else "done",
            int(local_canonical == "done" and national_canonical == "rejected"),
            _iso(created),
            synced,
            synced,
            "tanjungpinang",
            local_canonical,
            national_canonical,
            "polling",
            synced,
        )


def _followups(n: int) -> Iterator[tuple[Any, ...]]:
    """An answer on every fifth record; every fifty-third still pending."""
    for i in range(0, n, 5):
        at = _iso(EPOCH + timedelta(seconds=i * 30 + 86_400))
        state = "pending" if i % 53 == 0 else "done"
        source = SOURCES[i % len(SOURCES)]
        yield (
            source,
            str(i),
            9_000_000 + i,
            "to_national",
            f"r{i}",
            "followup",
            "Sudah kami tangani.",
            state,
            at,
            at,
        )


def _events(n: int) -> Iterator[tuple[Any, ...]]:
    """LAPOR's verification seen on every third record."""
    for i in range(0, n, 3):
        at = _iso(EPOCH + timedelta(seconds=i * 30 + 3_600))
        detail = '{"old": "submitted", "new": "verified"}'
        yield (at, "local_status_moved", SOURCES[i % len(SOURCES)], str(i), 9_000_000 + i, detail)


def fill(path: Path, n: int, seed: int = 7) -> None:
    """A state database with ``n`` mapped records plus a few unmapped ones, written fast."""
    store = Store(path)
    conn = store.db.conn
    rng = random.Random(seed)
    marks = ", ".join("?" for _ in MAPPING_COLUMNS)
    stamp = _iso(EPOCH)
    with conn:
        conn.execute("PRAGMA synchronous = OFF")
        conn.executemany(
            f"INSERT INTO mappings ({', '.join(MAPPING_COLUMNS)}) VALUES ({marks})",
            _mappings(n, rng),
        )
        conn.executemany(
            "INSERT INTO followups (source, local_id, national_id, direction, origin_id, kind,"
            " content, state, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            _followups(n),
        )
        conn.executemany(
            "INSERT INTO events (at, kind, source, local_id, national_id, detail)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            _events(n),
        )
        conn.executemany(
            "INSERT INTO quarantine (source, local_id, raw, reason, first_seen, last_seen)"
            " VALUES (?, ?, '{}', 'status is not one of baru/diverifikasi/diproses', ?, ?)",
            ((SOURCES[i % 4], f"q{i}", stamp, stamp) for i in range(max(1, n // 1000))),
        )
        conn.executemany(
            "INSERT INTO intents (kind, source, local_id, payload, created_at, updated_at)"
            " VALUES ('create', ?, ?, '{}', ?, ?)",
            ((SOURCES[i % 4], f"d{i}", stamp, stamp) for i in range(max(1, n // 2000))),
        )
    store.close()


def _peak_mb() -> float:
    """This process's peak resident memory so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(fmt: str, database: Path) -> dict[str, Any]:
    """One export to /dev/null in this process: rows, seconds, peak RSS before and after."""
    store = Store(database)
    base = _peak_mb()
    started = time.perf_counter()
    with open(os.devnull, "w", encoding="utf-8") as sink:
        count = exports.export(store, fmt, sink)
    seconds = time.perf_counter() - started
    store.close()
    return {"rows": count, "seconds": seconds, "base_mb": base, "peak_mb": _peak_mb()}


def run_child(fmt: str, database: Path) -> dict[str, Any]:
    answer = subprocess.run(
        [sys.executable, "-m", "bench.export", "--child", fmt, str(database)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(answer.stdout)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.export", description=__doc__)
    parser.add_argument("--small", type=int, default=SMALL)
    parser.add_argument("--large", type=int, default=LARGE)
    parser.add_argument("--child", nargs=2, metavar=("FORMAT", "DATABASE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child[0], Path(args.child[1]))))
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        databases = {}
        for n in (args.small, args.large):
            started = time.perf_counter()
            databases[n] = Path(tmp) / f"state-{n}.db"
            fill(databases[n], n)
            print(f"filled {n:>9,} records in {time.perf_counter() - started:6.1f} s", flush=True)
        ok = True
        for fmt in FORMATS:
            small, large = (run_child(fmt, databases[n]) for n in (args.small, args.large))
            for result in (small, large):
                print(
                    f"{fmt:4} {result['rows']:>9,} rows  {result['seconds']:7.2f} s"
                    f"  {result['rows'] / result['seconds']:>9,.0f} rows/s"
                    f"  peak RSS {result['peak_mb']:6.1f} MB (at start {result['base_mb']:.1f})",
                    flush=True,
                )
            time_ratio = large["seconds"] / small["seconds"]
            per_row = (large["seconds"] / large["rows"]) / (small["seconds"] / small["rows"])
            memory_ratio = large["peak_mb"] / small["peak_mb"]
            linear = per_row <= LINEAR_GOAL
            flat = large["peak_mb"] <= MEMORY_GOAL_MB
            ok = ok and linear and flat
            scale = large["rows"] / small["rows"]
            print(
                f"{fmt:4} large/small: time ×{time_ratio:.0f} for ×{scale:.0f} rows"
                f" (per row ×{per_row:.2f}: {'linear' if linear else 'NOT linear'}),"
                f" peak memory ×{memory_ratio:.2f}"
                f" ({'flat' if flat else 'over'} ≤ {MEMORY_GOAL_MB:.0f} MB)",
                flush=True,
            )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
