"""Backfill throughput against the bare wire: N Tanjak complaints into LAPOR-SP4N.

``python -m bench.backfill [--n 20000]`` runs, in the same run and against
fresh sandboxes each time:

* **bare** — a loop with plain httpx and no state: read Tanjak's feed page by
  page (keyset on ``diperbarui_pada``, 100 a page), ``POST`` each aduan to
  LAPOR, ``GET`` the new complaint by id (lapor.md: the read, not the create's
  answer, gives its fields), ``PATCH`` its tracking id back. The physical limit of this wire for
  this work: nothing is written down, nothing can be recovered.
* **bridge** — one real source pass (``Engine.sync_source``) over the same
  records: normalizing, planning, the intent committed before each create,
  the mapping after it, the write-back, the cursor after each page.

Both send the same requests sequentially: a source pass is one worker by
design (sources run in parallel in the daemon, records of one source do not),
so the bare loop runs at the same concurrency of one. The rate limit is set
far above what the wire can do. The sandboxes run in a child process, with
their own interpreter and GIL, so the server side costs the same in both runs
and does not steal the client's time slices; the client side runs alone in
this process. Goal: bridge/bare throughput ≥ 0.8. Exit status 1 when missed
or when a run did not create exactly N complaints.

The machine is shared and its speed drifts over minutes, so by default each run is
made twice, in the order bare, bridge, bridge, bare: a drift that slows the later
runs weighs on both sides alike. The ratio is of the total throughputs.
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
from dataclasses import dataclass
from datetime import timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx

from adapters import registry
from adapters.lapor.sandbox import LaporSandbox
from adapters.lapor.topics import category_tree
from adapters.local.tanjak.sandbox import TanjakSandbox
from adapters.sandboxes import SECRETS, TANJAK_KEY, TPI
from bridge import logs
from bridge.engine import Engine
from bridge.settings import load_settings
from bridge.store import Store

DEFAULT_N = 20_000
GOAL = 0.8
PAGE = 100
RATE = 1_000_000  # requests a second: far above the wire, so the limiter never waits
USER_ID = 100001
#: TOPIK LAINNYA in the sandbox's topic tree (its ids are fixed): the "*" of the config
LAINNYA = category_tree().resolve("TOPIK LAINNYA")


@dataclass(frozen=True)
class Wire:
    lapor_url: str
    tanjak_url: str


def config_text(wire: Wire, database: Path) -> str:
    secret, token = SECRETS["tanjungpinang"]
    return f"""
[bridge]
database = "{database}"
log_format = "json"
log_level = "warning"
http_listen = ""

[lapor]
base_url = "{wire.lapor_url}"
requests_per_second = {RATE}

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

[sources.tanjak.categories]
"*" = {LAINNYA}
"""


# --- the sandboxes, in their own process --------------------------------------------------


def _serve(n: int, seed: int, conn: Connection) -> None:
    """Start LAPOR and Tanjak, file ``n`` aduan over the last 30 days, then answer commands."""
    lapor = LaporSandbox(seed=seed)
    lapor.add_account(*SECRETS["tanjungpinang"], TPI, user_id=USER_ID)
    tanjak = TanjakSandbox(api_key=TANJAK_KEY, seed=seed)
    rng = random.Random(seed)
    now = tanjak.now()
    # spread over a month, as a real backlog is, each at its own second
    moments = sorted(rng.sample(range(30 * 24 * 3600), n))
    for offset in moments:
        tanjak.add_aduan(dibuat_pada=now - timedelta(seconds=30 * 24 * 3600 - offset))
    lapor.start()
    tanjak.start()
    conn.send(Wire(lapor.url, tanjak.url))
    while True:
        command = conn.recv()
        if command == "counts":
            created = len(lapor.complaints())
            linked = sum(1 for a in tanjak.all_aduan() if a["lapor_id"])
            conn.send((created, linked, len(lapor.requests), len(tanjak.requests)))
        else:
            break
    lapor.stop()
    tanjak.stop()


class Sandboxes:
    """LAPOR and Tanjak with ``n`` aduan, in a child process."""

    def __init__(self, n: int, seed: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(n, seed, child), daemon=True)
        self._process.start()
        wire = self._conn.recv()
        assert isinstance(wire, Wire)
        self.wire = wire

    def counts(self) -> tuple[int, int, int, int]:
        """Complaints on LAPOR, aduan linked, and the requests each server answered."""
        self._conn.send("counts")
        created, linked, to_lapor, to_tanjak = self._conn.recv()
        return int(created), int(linked), int(to_lapor), int(to_tanjak)

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


def bare(wire: Wire) -> int:
    """Plain httpx, no state: the same page reads, creates and write-backs. Returns creates."""
    secret, token = SECRETS["tanjungpinang"]
    lapor = httpx.Client(
        base_url=wire.lapor_url,
        headers={"Authorization": f"Bearer {secret}", "token": token},
        timeout=30,
    )
    tanjak = httpx.Client(base_url=wire.tanjak_url, headers={"X-Api-Key": TANJAK_KEY}, timeout=30)
    created = 0
    since, page = "1970-01-01T00:00:00+00:00", 1
    try:
        while True:
            answer = tanjak.get(
                "/api/aduan",
                params={"diperbarui_sejak": since, "halaman": page, "per_halaman": PAGE},
            )
            answer.raise_for_status()
            body = answer.json()
            items: list[dict[str, Any]] = body["data"]
            for aduan in items:
                if aduan["lapor_id"]:
                    continue  # written back earlier in this run: it came round again
                made = lapor.post("/complaints/complaint", json=create_body(aduan))
                made.raise_for_status()
                national_id = made.json()["results"]["complaint"]["id"]
                # lapor.md: the read by id, not the create's answer, gives its fields
                lapor.get(f"/complaints/{national_id}/complaint").raise_for_status()
                linked = tanjak.patch(
                    f"/api/aduan/{aduan['id']}", json={"lapor_id": f"#{national_id}"}
                )
                linked.raise_for_status()
                created += 1
            if not items or page >= int(body["total_halaman"]):
                return created
            last = str(items[-1]["diperbarui_pada"])
            since, page = (last, 1) if last != since else (since, page + 1)
    finally:
        lapor.close()
        tanjak.close()


def bridge(wire: Wire) -> int:
    """One real source pass; returns the creates it reports."""
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config.toml"
        config.write_text(config_text(wire, Path(tmp) / "bridge.db"), encoding="utf-8")
        settings = load_settings(config)
        sources = registry.connect_sources(settings)
        nationals = registry.connect_nationals(settings)
        store = Store(settings.bridge.database)
        try:
            report = Engine(store, sources, nationals).sync_source("tanjak")
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


def timed(name: str, n: int, seed: int, work: Callable[[Wire], int]) -> Run:
    with Sandboxes(n, seed) as sandboxes:
        started = time.perf_counter()
        work(sandboxes.wire)
        seconds = time.perf_counter() - started
        created, linked, to_lapor, to_tanjak = sandboxes.counts()
    print(f"{name:>6}: {created:>6} created, {linked:>6} linked in {seconds:7.1f} s "
          f"= {created / seconds:6.1f} complaints/s ({to_lapor} requests to LAPOR, "
          f"{to_tanjak} to Tanjak)", flush=True)  # fmt: skip
    return Run(name, seconds, created, linked)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.backfill", description=__doc__)
    parser.add_argument("--n", type=int, default=DEFAULT_N, help="aduan to backfill")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--once", action="store_true", help="one run each (bare, bridge), not two (ABBA)"
    )
    args = parser.parse_args(argv)
    logs.configure("warning", "json", io.StringIO())
    print(f"backfill of {args.n:,} Tanjak aduan into LAPOR-SP4N, sandboxes in a child process")
    order = ["bare", "bridge"] if args.once else ["bare", "bridge", "bridge", "bare"]
    work = {"bare": bare, "bridge": bridge}
    runs = [timed(name, args.n, args.seed, work[name]) for name in order]

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
