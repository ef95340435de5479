"""End-to-end latency of the daemon: a complaint appears in Tanjak, how soon does LAPOR have it?

``python -m bench.latency [--seconds 100] [--poll 10]`` starts the LAPOR and
Tanjak sandboxes in this process and ``lapor-bridge run`` as a real
subprocess (its own interpreter: the sandboxes cannot slow it down) polling
every ``--poll`` seconds. Citizens file aduan at random moments (about one
every 1.5 s) for ``--seconds``; the LAPOR sandbox notes the moment each
complaint comes into existence (the create answered 201). Latency is that
moment minus the moment the aduan was filed.

With a poll every P seconds an aduan waits for the next pass, uniformly up to
P, then for its own create. Goal: p99 ≤ P + 2 s. Exit status 1 when missed,
or when an aduan never reached LAPOR.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from adapters.sandbox.region import Region
from adapters.sandbox.server import Request, Response

ROOT = Path(__file__).resolve().parent.parent
SLACK = 2.0
_TAG = re.compile(rb"#ext-tanjak-(\d+)")


class Arrivals:
    """Wraps the LAPOR sandbox's dispatch: when did each aduan's complaint come to exist?"""

    def __init__(self, region: Region) -> None:
        self.created: dict[int, float] = {}
        self._lock = threading.Lock()
        lapor = region.lapor
        original = lapor.dispatch

        def dispatch(request: Request) -> Response:
            response = original(request)
            if request.method == "POST" and response.status == 201:
                found = _TAG.search(request.body)
                if found is not None and request.path.endswith("/complaints/complaint"):
                    with self._lock:
                        self.created.setdefault(int(found.group(1)), time.monotonic())
            return response

        lapor.dispatch = dispatch  # type: ignore[method-assign]

    def arrived(self, aduan_id: int) -> float | None:
        with self._lock:
            return self.created.get(aduan_id)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.latency", description=__doc__)
    parser.add_argument("--seconds", type=float, default=100.0, help="how long citizens file")
    parser.add_argument("--poll", type=float, default=10.0, help="poll_interval_seconds")
    parser.add_argument("--every", type=float, default=1.5, help="mean seconds between aduan")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)

    with tempfile.TemporaryDirectory() as tmp, Region(apps=("tanjak",), seed=args.seed) as region:
        arrivals = Arrivals(region)
        config = Path(tmp) / "config.toml"
        config.write_text(
            region.config(Path(tmp) / "bridge.db", poll_interval=args.poll, rate=1000),
            encoding="utf-8",
        )
        log = (Path(tmp) / "daemon.log").open("wb")
        daemon = subprocess.Popen(
            [sys.executable, "-c", "import cli; cli.main()", "--config", str(config), "run"],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            # steady state first: the daemon is up and its first passes are behind it
            warm = int(region.tanjak.add_aduan()["id"])
            deadline = time.monotonic() + 60 + args.poll
            while arrivals.arrived(warm) is None:
                if daemon.poll() is not None or time.monotonic() > deadline:
                    print("the daemon never created the first complaint", file=sys.stderr)
                    return 1
                time.sleep(0.05)
            print(f"daemon up; filing for {args.seconds:.0f} s at a {args.poll:g} s poll")
            filed: dict[int, float] = {}
            end = time.monotonic() + args.seconds
            while time.monotonic() < end:
                aduan = region.tanjak.add_aduan()
                filed[int(aduan["id"])] = time.monotonic()
                time.sleep(rng.expovariate(1 / args.every))
            wait_until = time.monotonic() + args.poll + 30
            while time.monotonic() < wait_until:
                if all(arrivals.arrived(i) is not None for i in filed):
                    break
                time.sleep(0.1)
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=30)
            log.close()

    missing = [i for i in filed if arrivals.arrived(i) is None]
    latencies = [arrivals.created[i] - t for i, t in filed.items() if i in arrivals.created]
    p50, p99 = percentile(latencies, 0.50), percentile(latencies, 0.99)
    goal = args.poll + SLACK
    print(
        f"{len(latencies)} aduan: p50 {p50:.2f} s, p99 {p99:.2f} s, max {max(latencies):.2f} s, "
        f"mean {statistics.fmean(latencies):.2f} s (goal p99 ≤ poll + {SLACK:g} s = {goal:g} s)"
    )
    if missing:
        print(f"never reached LAPOR: {missing}", file=sys.stderr)
    return 0 if not missing and p99 <= goal else 1


if __name__ == "__main__":
    sys.exit(main())
