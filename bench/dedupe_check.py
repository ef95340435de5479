"""How long one rule (3) duplicate check takes with 1,000 and with 1,000,000 mapped records.

``python -m bench.dedupe_check`` fills two temporary stores with index rows
spread as a city's would be (many citizens, a few who report often, twelve
categories, three years), then times single :meth:`DedupeIndex.find_duplicate`
calls on each, in the same run, and prints the median and p99 per call and the
ratio of the large store to the small one.

Why: the check runs before every create, so it must not grow with the store.
The index on (phone key, category, created_at) makes it read one citizen's few
records in one category and window; the goal is a flat ratio (≈ 1) and at most
2 ms a check.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from pydantic import SecretStr

from adapters.local import sample
from bench.dedupe_eval import CATEGORIES
from bridge.core.model import Complaint, Reporter, Status
from bridge.core.phone import normalize_phone
from bridge.sync.dedupe import DedupeIndex, Match, phone_key
from bridge.sync.store import Store

SEED: Final = 72
SIZES: Final = (1_000, 1_000_000)
#: the goal: a check at most this long, and the large store no slower than this ratio
GOAL_MS: Final = 2.0
GOAL_RATIO: Final = 1.5
_START: Final = datetime(2023, 1, 1, tzinfo=UTC)
_SPAN_MINUTES: Final = 3 * 365 * 24 * 60
_TOPICS: Final = tuple(sorted(CATEGORIES))


@dataclass(frozen=True)
class Citizen:
    phone: str  # E.164
    key: str  # its phone key in the store under test


@dataclass(frozen=True)
class Timing:
    rows: int
    calls: int
    median_ms: float
    p99_ms: float
    matched: int


def _phones(rng: random.Random, count: int) -> list[str]:
    seen: dict[str, None] = {}
    while len(seen) < count:
        number = normalize_phone(sample.phone_number(rng))
        if number is not None:
            seen[number] = None
    return list(seen)


def _texts(rng: random.Random, count: int) -> list[tuple[str, str]]:
    """(topic, text) of sample complaints: what the index holds, as citizens wrote it."""
    out: list[tuple[str, str]] = []
    for _ in range(count):
        city = rng.choice(sample.CITIES)
        topic = rng.choice(_TOPICS)
        text = sample.complaint(rng, topic, sample.place(rng, city)).text
        out.append((topic, text))
    return out


def _citizens(rng: random.Random, rows: int, secret: bytes) -> list[Citizen]:
    """About one citizen for three records: most report once or twice, some often."""
    phones = _phones(rng, max(10, rows // 3))
    return [Citizen(phone, phone_key(phone, secret)) for phone in phones]


def _who(rng: random.Random, citizens: Sequence[Citizen]) -> Citizen:
    """One citizen in ten records belongs to the busiest 1% (RT heads, activists)."""
    if rng.random() < 0.1:
        return citizens[rng.randrange(max(1, len(citizens) // 100))]
    return citizens[rng.randrange(len(citizens))]


@dataclass(frozen=True)
class Anchor:
    """A record in the store that a timed check reports again: same citizen, topic, days."""

    citizen: Citizen
    topic: str
    at: datetime


def _rows(
    rng: random.Random,
    rows: int,
    citizens: Sequence[Citizen],
    texts: Sequence[tuple[str, str]],
    anchors: list[Anchor],
) -> Iterator[tuple[int, str, str, str, str, str, str]]:
    """The index rows, noting one in ``rows // 2000`` as an anchor for the checks."""
    sources = ("tanjak", "ujar", "sambat", "kota-malang")
    every = max(1, rows // 2000)
    for n in range(rows):
        topic, text = texts[rng.randrange(len(texts))]
        at = _START + timedelta(minutes=rng.randrange(_SPAN_MINUTES))
        citizen = _who(rng, citizens)
        if n % every == 0:
            anchors.append(Anchor(citizen, topic, at))
        yield (
            1_000_000 + n,
            sources[n % len(sources)],
            str(n),
            citizen.key,
            CATEGORIES[topic],
            at.isoformat(timespec="microseconds"),
            text,
        )


def fill(store: Store, rng: random.Random, rows: int) -> tuple[list[Citizen], list[Anchor]]:
    """``rows`` index rows in one transaction (executemany); their citizens and some anchors."""
    index = DedupeIndex(store)
    citizens = _citizens(rng, rows, index.secret)
    texts = _texts(rng, 400)
    anchors: list[Anchor] = []
    conn = index.conn
    # a throwaway store: no journal while loading, and the block index built once at the end
    # from the store's own definition (what a bulk load does); then back to WAL, as in use
    (block,) = conn.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = 'dedupe_index_block'"
    ).fetchone()
    conn.execute("PRAGMA journal_mode = OFF")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("DROP INDEX dedupe_index_block")
    with conn:
        conn.executemany(
            "INSERT INTO dedupe_index (national_id, source, local_id, phone_key, category,"
            " created_at, content) VALUES (?, ?, ?, ?, ?, ?, ?)",
            _rows(rng, rows, citizens, texts, anchors),
        )
    conn.execute(block)
    conn.execute("ANALYZE")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    return citizens, anchors


def queries(
    rng: random.Random, citizens: Sequence[Citizen], anchors: Sequence[Anchor], count: int
) -> list[Complaint]:
    """New records to check: half report again what a stored record of theirs did (within
    72 hours, same category: texts are compared), half are a known citizen's new problem."""
    out: list[Complaint] = []
    for n in range(count):
        if n % 2 == 0:
            anchor = anchors[rng.randrange(len(anchors))]
            citizen, topic = anchor.citizen, anchor.topic
            at = anchor.at + timedelta(minutes=rng.randint(-72 * 60, 72 * 60))
        else:
            citizen, topic = _who(rng, citizens), rng.choice(_TOPICS)
            at = _START + timedelta(minutes=rng.randrange(_SPAN_MINUTES))
        city = rng.choice(sample.CITIES)
        text = sample.complaint(rng, topic, sample.place(rng, city)).text
        out.append(
            Complaint(
                source="ujar",
                local_id=f"Q-{n}",
                title="Pengaduan warga",
                content=text,
                category=CATEGORIES[topic],
                status=Status.SUBMITTED,
                local_status="0",
                reporter=Reporter(phone=SecretStr(citizen.phone)),
                region="21.72",
                created_at=at,
                updated_at=at,
            )
        )
    return out


def time_checks(
    indexes: Sequence[DedupeIndex], checks: Sequence[Sequence[Complaint]], warmup: int
) -> list[tuple[list[float], int]]:
    """Per-call wall time (ms) of :meth:`DedupeIndex.find_duplicate` on each index.

    The calls alternate between the indexes, so that whatever else the machine
    does, and every cache warming up, weighs on each alike. The garbage
    collector is off while timing, as :mod:`timeit` does: its pauses belong to
    the process, not to the check.
    """
    for index, mine in zip(indexes, checks, strict=True):
        for complaint in mine[:warmup]:
            index.find_duplicate(complaint)
    results: list[tuple[list[float], int]] = [([], 0) for _ in indexes]
    gc.collect()
    gc.disable()
    try:
        for n in range(warmup, min(len(mine) for mine in checks)):
            for i, index in enumerate(indexes):
                complaint = checks[i][n]
                start = time.perf_counter()
                match: Match | None = index.find_duplicate(complaint)
                elapsed = (time.perf_counter() - start) * 1000
                times, matched = results[i]
                times.append(elapsed)
                results[i] = (times, matched + (match is not None))
    finally:
        gc.enable()
    return results


def _timing(rows: int, times: list[float], matched: int) -> Timing:
    ordered = sorted(times)
    return Timing(
        rows=rows,
        calls=len(ordered),
        median_ms=statistics.median(ordered),
        p99_ms=ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        matched=matched,
    )


def measure(sizes: Sequence[int], calls: int, workdir: Path, seed: int) -> list[Timing]:
    """Fill one store per size, then time ``calls`` checks on each, interleaved."""
    stores: list[Store] = []
    checks: list[list[Complaint]] = []
    try:
        for rows in sizes:
            rng = random.Random(seed + rows)
            store = Store(workdir / f"dedupe-{rows}.db")
            stores.append(store)
            started = time.perf_counter()
            citizens, anchors = fill(store, rng, rows)
            print(f"  {rows:>9,} rows filled in {time.perf_counter() - started:.1f} s", flush=True)
            checks.append(queries(rng, citizens, anchors, calls + calls // 10))
        indexes = [DedupeIndex(store) for store in stores]
        timed = time_checks(indexes, checks, warmup=calls // 10)
        return [
            _timing(rows, times, matched)
            for rows, (times, matched) in zip(sizes, timed, strict=True)
        ]
    finally:
        for store in stores:
            store.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.dedupe_check", description=__doc__)
    parser.add_argument("--calls", type=int, default=3000, help="timed checks per store")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument(
        "--sizes", type=int, nargs=2, default=list(SIZES), metavar=("SMALL", "LARGE")
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="dedupe-bench-") as tmp:
        results = measure(args.sizes, args.calls, Path(tmp), args.seed)
    for t in results:
        print(
            f"{t.rows:>9,} rows: median {t.median_ms:.3f} ms, p99 {t.p99_ms:.3f} ms"
            f" per check ({t.calls} checks, {t.matched} found a duplicate)"
        )
    small, large = results
    ratio = large.median_ms / small.median_ms
    p99_ratio = large.p99_ms / small.p99_ms
    ok = ratio <= GOAL_RATIO and large.median_ms <= GOAL_MS
    print(
        f"ratio {large.rows:,}/{small.rows:,}: median ×{ratio:.2f}, p99 ×{p99_ratio:.2f}"
        f" — goal: flat (≤ ×{GOAL_RATIO}) and ≤ {GOAL_MS} ms: {'met' if ok else 'NOT met'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
