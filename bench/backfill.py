"""Backfill throughput against the bare wire: N Tanjak complaints into LAPOR-SP4N.

``python -m bench.backfill [--n 20000] [--workers 8] [--latency 150 --jitter 50]``
runs, in the same run and against fresh sandboxes each time:

* **bare** — a loop with plain httpx and no state: read Tanjak's feed page by
  page (keyset on ``diperbarui_pada``, 100 a page), ``POST`` each aduan of the
  page to LAPOR and ``PATCH`` its tracking id back, ``--workers`` aduan at a
  time. The physical limit of this wire for this work: nothing is written
  down, nothing can be recovered.
* **bridge** — one real source pass (``Engine.sync_source``) over the same
  records, with ``max_in_flight`` = ``--workers``: normalizing, planning, the
  intent committed before each create, the mapping after it, the write-back,
  the cursor after each page.

Both send the same requests: the page reads, one create per aduan (the bridge
no longer reads a new complaint back: issue 19), one write-back per aduan.
The rate limits are set far above what the wire can do. ``--latency`` makes
both sandboxes sleep that many milliseconds (± ``--jitter``, uniform) before
every answer, as a WAN would. The sandboxes run in a child process, with their
own interpreter and GIL, so the server side costs the same in both runs and
does not steal the client's time slices; the client side runs alone in this
process. Goal: bridge/bare throughput ≥ 0.8. Exit status 1 when missed or when
a run did not create exactly N complaints.

The machine is shared and its speed drifts over minutes, so by default each run is
made twice, in the order bare, bridge, bridge, bare: a drift that slows the later
runs weighs on both sides alike. The ratio is of the total throughputs.

``--polite`` measures instead how much of LAPOR's politeness limit a backfill
uses: the bridge alone, LAPOR at its default ``requests_per_second`` (5), the
app's limit far above; the LAPOR requests the sandbox answered from its first
to its last, against the limit. Goal ≥ 0.95. (Also printed: LAPOR's requests over
the whole pass, whose tracking-id write-backs to the app come after the creates.)
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import random
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx

from adapters import registry
from adapters.lapor.topics import category_tree
from adapters.sandbox.lapor import LaporSandbox
from adapters.sandbox.region import SECRETS, TANJAK_KEY, TPI
from adapters.sandbox.tanjak import TanjakSandbox
from bridge.runtime import logs
from bridge.runtime.settings import LaporSection, load_settings
from bridge.sync.engine import Engine
from bridge.sync.store import Store

DEFAULT_N = 20_000
GOAL = 0.8
POLITE_GOAL = 0.95
PAGE = 100
RATE = 1_000_000  # requests a second: far above the wire, so the limiter never waits
USER_ID = 100001
#: TOPIK LAINNYA in the sandbox's topic tree (its ids are fixed): the "*" of the config
LAINNYA = category_tree().resolve("TOPIK LAINNYA")


@dataclass(frozen=True)
class Wire:
    lapor_url: str
    tanjak_url: str


def config_text(
    wire: Wire, database: Path, *, in_flight: int = 1, lapor_rate: float | None = RATE
) -> str:
    """``lapor_rate`` None: LAPOR's default politeness limit."""
    secret, token = SECRETS["tanjungpinang"]
    rate = f"requests_per_second = {lapor_rate}" if lapor_rate is not None else ""
    return f"""
[bridge]
database = "{database}"
log_format = "json"
log_level = "warning"
http_listen = ""

[lapor]
base_url = "{wire.lapor_url}"
{rate}
max_in_flight = {in_flight}

[lapor.accounts.tanjungpinang]
api_secret = "{secret}"
token = "{token}"
user_id = {USER_ID}
institution = "{TPI}"

[sources.tanjak]
kind = "tanjak"
account = "tanjungpinang"
base_url = "{wire.tanjak_url}"
api_key = "{TANJAK_KEY}"
location_id = 34
classification_id = 1
requests_per_second = {RATE}
page_size = {PAGE}
max_in_flight = {in_flight}

[sources.tanjak.categories]
"*" = {LAINNYA}
"""


# --- the sandboxes, in their own process --------------------------------------------------


def _serve(n: int, seed: int, latency: float, jitter: float, conn: Connection) -> None:
    """Start LAPOR and Tanjak, file ``n`` aduan over the last 30 days, then answer commands;
    ``latency`` ± ``jitter`` seconds before every answer of both."""
    lapor = LaporSandbox(seed=seed)
    lapor.add_account(*SECRETS["tanjungpinang"], TPI, user_id=USER_ID)
    tanjak = TanjakSandbox(api_key=TANJAK_KEY, seed=seed)
    rng = random.Random(seed)
    now = tanjak.now()
    # spread over a month, as a real backlog is, each at its own second
    moments = sorted(rng.sample(range(30 * 24 * 3600), n))
    for offset in moments:
        tanjak.add_aduan(dibuat_pada=now - timedelta(seconds=30 * 24 * 3600 - offset))
    if latency > 0:
        for sandbox in (lapor, tanjak):
            sandbox.faults.chaos(1.0, ("latency",), seconds=latency, jitter=jitter)
    answered: list[float] = []  # when LAPOR answered each request (monotonic)
    handle = lapor.handle

    def timed_handle(request: Any) -> Any:
        try:
            return handle(request)
        finally:
            answered.append(time.monotonic())

    lapor.handle = timed_handle  # type: ignore[method-assign]
    lapor.start()
    tanjak.start()
    conn.send(Wire(lapor.url, tanjak.url))
    while True:
        command = conn.recv()
        if command == "counts":
            created = len(lapor.complaints())
            linked = sum(1 for a in tanjak.all_aduan() if a["lapor_id"])
            conn.send((created, linked, len(lapor.requests), len(tanjak.requests)))
        elif command == "lapor_answers":
            conn.send(list(answered))
        else:
            break
    lapor.stop()
    tanjak.stop()


class Sandboxes:
    """LAPOR and Tanjak with ``n`` aduan, in a child process."""

    def __init__(self, n: int, seed: int, latency: float = 0.0, jitter: float = 0.0) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(n, seed, latency, jitter, child), daemon=True
        )
        self._process.start()
        wire = self._conn.recv()
        assert isinstance(wire, Wire)
        self.wire = wire

    def counts(self) -> tuple[int, int, int, int]:
        """Complaints on LAPOR, aduan linked, and the requests each server answered."""
        self._conn.send("counts")
        created, linked, to_lapor, to_tanjak = self._conn.recv()
        return int(created), int(linked), int(to_lapor), int(to_tanjak)

    def lapor_answers(self) -> list[float]:
        """When LAPOR answered each request so far (the child's monotonic clock)."""
        self._conn.send("lapor_answers")
        answers: list[float] = self._conn.recv()
        return answers

    def close(self) -> None:
        self._conn.send("stop")
        self._process.join(timeout=30)

    def __enter__(self) -> Sandboxes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- the two runs ---------------------------------------------------------------------------


def create_body(aduan: dict[str, Any]) -> dict[str, Any]:
    """What an integration posts for one aduan (lapor.md v2, the evidenced fields): the
    marker first in the content, the two tags, nothing identifying the reporter."""
    text = str(aduan["isi"])
    title = str(aduan["judul"] or text)[:150].ljust(10, ".")
    marker = f"[ext-tanjak-{aduan['id']}]"
    return {
        "title": title,
        "content": f"{marker}\n{text[: 5000 - len(marker) - 1]}".ljust(20, "."),
        "classification_id": 1,
        "category_id": LAINNYA,
        "disposition_id": 5101,
        "location_id": 34,
        "channel": 13,
        "user_id": USER_ID,
        "is_anonymous": bool(aduan["anonim"]),
        "is_secret": bool(aduan["rahasia"]),
        "tags_raw": f"#tanjak #ext-tanjak-{aduan['id']}",
        "attachments": False,
    }


def bare(wire: Wire, workers: int = 1) -> int:
    """Plain httpx, no state: the same page reads, creates and write-backs, ``workers``
    aduan of a page at a time. Returns creates."""
    secret, token = SECRETS["tanjungpinang"]
    limits = httpx.Limits(max_connections=max(16, workers * 2))
    lapor = httpx.Client(
        base_url=wire.lapor_url,
        headers={"Authorization": f"Bearer {secret}", "token": token},
        timeout=30,
        limits=limits,
    )
    tanjak = httpx.Client(
        base_url=wire.tanjak_url, headers={"X-Api-Key": TANJAK_KEY}, timeout=30, limits=limits
    )

    def one(aduan: dict[str, Any]) -> int:
        if aduan["lapor_id"]:
            return 0  # written back earlier in this run: it came round again
        made = lapor.post("/complaints/complaint", json=create_body(aduan))
        made.raise_for_status()
        national_id = made.json()["results"]["complaint"]["id"]
        linked = tanjak.patch(f"/api/aduan/{aduan['id']}", json={"lapor_id": f"#{national_id}"})
        linked.raise_for_status()
        return 1

    created = 0
    since, page = "1970-01-01T00:00:00+00:00", 1
    pool = ThreadPoolExecutor(workers) if workers > 1 else None
    try:
        while True:
            answer = tanjak.get(
                "/api/aduan",
                params={"diperbarui_sejak": since, "halaman": page, "per_halaman": PAGE},
            )
            answer.raise_for_status()
            body = answer.json()
            items: list[dict[str, Any]] = body["data"]
            created += sum(pool.map(one, items) if pool is not None else map(one, items))
            if not items or page >= int(body["total_halaman"]):
                return created
            last = str(items[-1]["diperbarui_pada"])
            since, page = (last, 1) if last != since else (since, page + 1)
    finally:
        if pool is not None:
            pool.shutdown()
        lapor.close()
        tanjak.close()


def bridge(wire: Wire, in_flight: int = 1, lapor_rate: float | None = RATE) -> int:
    """One real source pass; returns the creates it reports."""
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config.toml"
        text = config_text(
            wire, Path(tmp) / "bridge.db", in_flight=in_flight, lapor_rate=lapor_rate
        )
        config.write_text(text, encoding="utf-8")
        settings = load_settings(config)
        sources = registry.connect_sources(settings)
        nationals = registry.connect_nationals(settings)
        store = Store(settings.bridge.database)
        try:
            in_flight = registry.engine_options(settings)["max_in_flight"]
            engine = Engine(store, sources, nationals, max_in_flight=in_flight)
            report = engine.sync_source("tanjak")
        finally:
            store.close()
            registry.close_all(sources, nationals)
        if report.error:
            raise RuntimeError(f"the bridge's pass failed: {report.error}")
        return report.created


@dataclass(frozen=True)
class Run:
    name: str
    seconds: float
    created: int
    linked: int


def timed(
    name: str, n: int, seed: int, work: Callable[[Wire], int], latency: float, jitter: float
) -> Run:
    with Sandboxes(n, seed, latency, jitter) as sandboxes:
        started, cpu = time.perf_counter(), time.process_time()
        work(sandboxes.wire)
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu
        created, linked, to_lapor, to_tanjak = sandboxes.counts()
    print(f"{name:>6}: {created:>6} created, {linked:>6} linked in {seconds:7.1f} s "
          f"= {created / seconds:6.1f} complaints/s ({to_lapor} requests to LAPOR, "
          f"{to_tanjak} to Tanjak; client CPU {cpu:.1f} s)", flush=True)  # fmt: skip
    return Run(name, seconds, created, linked)


def polite(n: int, seed: int, latency: float, jitter: float, in_flight: int) -> int:
    """The share of LAPOR's default politeness limit a backfill uses."""
    rate = LaporSection.model_fields["requests_per_second"].default
    print(f"backfill of {n:,} Tanjak aduan, LAPOR at its default {rate:g} requests a second,"
          f" {latency * 1000:.0f} ± {jitter * 1000:.0f} ms on every answer,"
          f" max_in_flight {in_flight}")  # fmt: skip
    with Sandboxes(n, seed, latency, jitter) as sandboxes:
        started = time.perf_counter()
        bridge(sandboxes.wire, in_flight, lapor_rate=None)
        seconds = time.perf_counter() - started
        created, linked, to_lapor, _ = sandboxes.counts()
        answers = sandboxes.lapor_answers()
    window = answers[-1] - answers[0]
    used = (len(answers) - 1) / window / rate
    print(f"bridge: {created} created, {linked} linked in {seconds:.1f} s; LAPOR answered"
          f" {to_lapor} requests in {window:.1f} s from the first to the last ="
          f" {(len(answers) - 1) / window:.2f}/s")  # fmt: skip
    print(f"over the whole pass (its write-backs to the app after the creates included):"
          f" {to_lapor / seconds / rate:.3f} of the limit")  # fmt: skip
    print(f"share of the limit used while creating: {used:.3f} (goal ≥ {POLITE_GOAL})")
    complete = created == n and linked == n
    if not complete:
        print("the run did not create and link exactly every aduan", file=sys.stderr)
    return 0 if complete and used >= POLITE_GOAL else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.backfill", description=__doc__)
    parser.add_argument("--n", type=int, default=DEFAULT_N, help="aduan to backfill")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--once", action="store_true", help="one run each (bare, bridge), not two (ABBA)"
    )
    parser.add_argument(
        "--workers", type=int, default=1,
        help="aduan the bare loop handles at once, and the bridge's max_in_flight",
    )  # fmt: skip
    parser.add_argument(
        "--latency", type=float, default=0.0, help="ms the sandboxes wait before every answer"
    )
    parser.add_argument("--jitter", type=float, default=0.0, help="± ms around --latency")
    parser.add_argument(
        "--polite", action="store_true",
        help="the bridge alone at LAPOR's default limit: the share of it used",
    )  # fmt: skip
    args = parser.parse_args(argv)
    logs.configure("warning", "json", io.StringIO())
    latency, jitter = args.latency / 1000, args.jitter / 1000
    if args.polite:
        return polite(args.n, args.seed, latency, jitter, max(args.workers, 1))
    print(f"backfill of {args.n:,} Tanjak aduan into LAPOR-SP4N, sandboxes in a child process;"
          f" {args.workers} at a time (bare workers, bridge max_in_flight),"
          f" {args.latency:g} ± {args.jitter:g} ms on every answer")  # fmt: skip
    order = ["bare", "bridge"] if args.once else ["bare", "bridge", "bridge", "bare"]
    work: dict[str, Callable[[Wire], int]] = {
        "bare": partial(bare, workers=args.workers),
        "bridge": partial(bridge, in_flight=args.workers),
    }
    runs = [timed(name, args.n, args.seed, work[name], latency, jitter) for name in order]

    def throughput(name: str) -> float:
        mine = [r for r in runs if r.name == name]
        return sum(r.created for r in mine) / sum(r.seconds for r in mine)

    ratio = throughput("bridge") / throughput("bare")
    print(f"bridge/bare throughput: {ratio:.2f} (goal ≥ {GOAL})")
    complete = all(r.created == args.n and r.linked == args.n for r in runs)
    if not complete:
        print("a run did not create and link exactly every aduan", file=sys.stderr)
    return 0 if complete and ratio >= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
