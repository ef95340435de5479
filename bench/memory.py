"""Peak memory of one ``lapor-bridge sync`` over a backlog of 1,000 and of 100,000 complaints.

``python -m bench.memory [--small 1000] [--large 100000]`` fills fresh
sandboxes — all four city apps and LAPOR-SP4N, in a child process — with a
backlog spread evenly over the apps and over the last 60 days of app time (as
a real backlog is: Tanjak's feed keys on the second, Sambat's on the minute,
Open311 lists at most 1,000 requests a window), then runs ``lapor-bridge
sync`` as a real subprocess against it and reads that process's peak
resident memory from the kernel (``wait4``'s ``ru_maxrss``). Each size gets
its own sandboxes, database and process.

Goal: every peak ≤ 150 MB, and flat — the large backlog's peak at most 1.25×
the small one's. Exit status 1 when missed, or when a sync did not map every
record (to its own national complaint, or merged into the same citizen's).
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path

from adapters.sandbox.region import Region

ROOT = Path(__file__).resolve().parent.parent
GOAL_MB = 150.0
FLAT = 1.25
SPREAD = timedelta(days=60)


def _file(region: Region, n: int, seed: int) -> None:
    """``n`` complaints, a quarter in each app, each at its own moment over the last 60 days."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    step = SPREAD / max(1, n)
    for i in range(n):
        at = now - SPREAD + step * i
        app = i % 4
        if app == 0:
            region.tanjak.add_aduan(dibuat_pada=at)
        elif app == 1:
            region.ujar.add_ticket(createdAt=at)
        elif app == 2:
            region.sambat.add_sambat(
                isi_sambat=f"Lampu jalan mati sejak {rng.randint(2, 14)} hari di gang {i}.",
                kategori="Penerangan Jalan",
                tgl_masuk=at,
                tgl_update=at,
            )
        else:
            region.open311.add_request(
                service_code="PJU",
                description=f"Lampu penerangan jalan padam di dekat nomor {i}.",
                requested_datetime=at,
            )


def _serve(n: int, seed: int, database: str, conn: Connection) -> None:
    region = Region(seed=seed).start()
    _file(region, n, seed)
    conn.send(region.config(Path(database), rate=1_000_000))
    while conn.recv() == "counts":
        conn.send(len(region.lapor.complaints()))
    region.stop()


@dataclass(frozen=True)
class Sync:
    n: int
    peak_mb: float
    seconds: float
    mapped: int
    exit_code: int


def measure(n: int, seed: int) -> Sync:
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as tmp:
        ours, theirs = context.Pipe()
        child = context.Process(
            target=_serve, args=(n, seed, str(Path(tmp) / "bridge.db"), theirs), daemon=True
        )
        child.start()
        try:
            config = Path(tmp) / "config.toml"
            config.write_text(ours.recv(), encoding="utf-8")
            started = time.perf_counter()
            process = subprocess.Popen(
                [sys.executable, "-c", "import cli; cli.main()", "--config", str(config), "sync"],
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            _, status, usage = os.wait4(process.pid, 0)
            process.returncode = os.waitstatus_to_exitcode(status)
            seconds = time.perf_counter() - started
            ours.send("counts")
            created = int(ours.recv())
            with contextlib.closing(sqlite3.connect(Path(tmp) / "bridge.db")) as db:
                row = db.execute("SELECT COUNT(*) FROM mappings WHERE national_id > 0").fetchone()
                mapped = int(row[0])
        finally:
            ours.send("stop")
            child.join(timeout=60)
    result = Sync(n, usage.ru_maxrss / 1024, seconds, mapped, process.returncode)
    print(
        f"{n:>7,} complaints: peak RSS {result.peak_mb:6.1f} MB, {seconds:7.1f} s, "
        f"{mapped:,} mapped ({created:,} national complaints: the rest merged as the same "
        f"citizen's duplicates), sync exit {result.exit_code}",
        flush=True,
    )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__)
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    print("peak RSS of `lapor-bridge sync` (the bridge alone; sandboxes in a child process)")
    runs = [measure(args.small, args.seed), measure(args.large, args.seed)]
    small, large = runs
    ratio = large.peak_mb / small.peak_mb
    print(
        f"large/small peak: {ratio:.2f} (goal ≤ {FLAT}), "
        f"largest peak {max(r.peak_mb for r in runs):.1f} MB (goal ≤ {GOAL_MB:g} MB)"
    )
    complete = all(r.mapped == r.n for r in runs)
    if not complete:
        print("a sync did not map every record", file=sys.stderr)
    met = ratio <= FLAT and all(r.peak_mb <= GOAL_MB for r in runs)
    return 0 if complete and met else 1


if __name__ == "__main__":
    sys.exit(main())
