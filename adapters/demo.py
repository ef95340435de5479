"""``lapor-bridge demo``: every sandbox on loopback with sample data, and the bridge against them.

Everything happens in this process over real HTTP on 127.0.0.1: the
sandboxes serve their contracts, the bridge runs passes through its normal
configuration, store and engine; the national admin's and the cities'
actions are played between passes, and one pass runs through faults.
"""

from __future__ import annotations

import json
import random
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from adapters import registry
from adapters.sandbox.region import MLG, TPI, Region
from bridge.reports import exports, sla
from bridge.reports import status as status_mod
from bridge.runtime import logs
from bridge.runtime.settings import load_settings
from bridge.runtime.stores import open_store
from bridge.sync.engine import Engine, PassReport
from bridge.sync.store import Store


def _pass(config: Path, title: str) -> tuple[PassReport, dict[str, Any]]:
    print(f"\n== {title}")
    settings = load_settings(config)
    sources = registry.connect_sources(settings)
    nationals = registry.connect_nationals(settings)
    store = open_store(settings.bridge.database)  # the demo's: a SQLite file
    try:
        engine = Engine(
            store, sources, nationals, **registry.engine_options(settings), poll_floor=timedelta(0)
        )
        report = engine.sync()
        for item in report.sources.values():
            print(
                f"  {item.name:<12} seen {item.seen:>3}  created {item.created:>3}"
                f"  linked {item.linked:>2}  updated {item.updated:>3}"
                f"  quarantined {item.quarantined}  follow-ups→LAPOR {item.pair.to_national}"
                + (f"  in doubt {item.in_doubt}" if item.in_doubt else "")
                + (f"  recovered {item.recovered}" if item.recovered else "")
                + (f"  FAILED: {item.error}" if item.error else "")
            )
        for account in report.accounts.values():
            pair = account.pair
            print(
                f"  {account.name:<12} inbox imported {pair.imported:>2}"
                f"  responses→app {pair.to_local:>2}  statuses moved {pair.statuses:>2}"
                f"  polled {pair.polled:>3}"
                + (f"  FAILED: {account.error}" if account.error else "")
            )
        state = status_mod.collect(
            store,
            settings.sources,
            settings.lapor.accounts,
            settings.bridge.poll_interval_seconds,
            capabilities=settings.lapor.capabilities,
        )
        return report, state
    finally:
        store.close()
        registry.close_all(sources, nationals)


#: the demo's LAPOR answers at once: a short create timeout lets the scans run in seconds
DEMO_TIMEOUT = 2.0


def _admin_works(region: Region, rng: random.Random) -> None:
    """The national admin verifies most complaints, answers some, archives a few."""
    for complaint in region.lapor.complaints():
        if complaint["status_code"] != 10:
            continue
        roll = rng.random()
        institution = TPI if "tanjak" in complaint["tags"] or "ujar" in complaint["tags"] else MLG
        if "kota-contoh" in complaint["tags"]:
            institution = TPI
        if roll < 0.75:
            region.lapor.verify(complaint["id"], institution)
            if roll < 0.25:
                region.lapor.admin_followup(
                    complaint["id"], "Mohon instansi terkait segera menindaklanjuti laporan ini."
                )
        elif roll < 0.8:
            region.lapor.archive(complaint["id"], "Laporan tidak dapat diproses: data kurang.")


def run_demo(workdir: Path, complaints: int = 40, seed: int = 2026) -> int:
    """Run the demo; returns the exit code (0 when the bridge ends healthy and with no doubles)."""
    rng = random.Random(seed)
    workdir.mkdir(parents=True, exist_ok=True)
    for stale in workdir.glob("bridge.db*"):
        stale.unlink()
    logs.configure("error", "console")
    with Region(seed=seed) as region:
        region.seed_sample(complaints, rng)
        config = workdir / "config.toml"
        config.write_text(
            region.config(workdir / "bridge.db", log_format="console", create_timeout=DEMO_TIMEOUT),
            "utf-8",
        )
        print("sandboxes on loopback:")
        for server in region.servers:
            print(f"  {type(server).__name__:<16} {server.url}")
        _pass(config, "pass 1: the backlog of four apps, and LAPOR's inbox")
        _admin_works(region, rng)
        for aduan in region.tanjak.all_aduan()[:5]:
            region.tanjak.respond(aduan["id"], "DLH", "Tim kami sudah meninjau lokasi hari ini.")
        print("\n(the national admin verifies and answers; Tanjak's agencies respond)")
        _pass(config, "pass 2: statuses and follow-ups both ways")
        region.tanjak.seed_sample(random.Random(seed + 1), max(1, complaints // 4))
        for aduan in region.tanjak.all_aduan()[-max(1, complaints // 4) :]:
            region.tanjak.edit_aduan(aduan["id"], isi=aduan["isi"] + " Mohon segera.")
        region.lapor.faults.chaos(0.2, ("503", "html502", "429"), seed=seed, retry_after=0)
        region.lapor.faults.inject(
            "drop_after_write", method="POST", path=r"/complaints/complaint$"
        )
        region.ujar.expire_tokens()
        print("\n(new complaints arrive; LAPOR's gateway has a bad minute; Ujar's token expires)")
        _pass(config, "pass 3: through faults")
        region.lapor.faults.clear()
        print(
            f"\n(creates whose answers were lost are in doubt: LAPOR may still apply one for"
            f" create_timeout_seconds, {DEMO_TIMEOUT:g} s here; then the ids between the"
            " creates answered before and after it are read for its marker)"
        )
        time.sleep(DEMO_TIMEOUT + 0.5)
        region.tanjak.seed_sample(random.Random(seed + 2), 2)
        region.ujar.seed_sample(random.Random(seed + 2), 2)
        region.sambat.seed_sample(random.Random(seed + 2), 2)
        _pass(config, "pass 4: catching up; new complaints' creates bound the scans")
        _pass(config, "pass 5: creates in doubt settled: found by the scan, or posted again")
        _, state = _pass(config, "pass 6: nothing new — nothing changes")
        national = region.lapor.complaints()
        tags = [t for c in national for t in c["tags"] if t.startswith("ext-")]
        doubles = len(tags) - len(set(tags))
        print(
            f"\nLAPOR-SP4N holds {len(national)} complaints, {len(set(tags))} of them from the"
            f" bridge; {doubles} created twice"
        )
    (workdir / "status.json").write_text(json.dumps(state, indent=2), encoding="utf-8")
    store = Store(workdir / "bridge.db")
    try:
        conf = load_settings(config)
        names = registry.status_names(conf)
        rules = sla.Rules.from_settings(conf)
        for fmt in ("html", "csv"):
            with (workdir / f"report.{fmt}").open("w", encoding="utf-8", newline="") as out:
                rows = exports.export(
                    store,
                    fmt,
                    out,
                    status_names=names,
                    national_names=registry.national_status_names(),
                    rules=rules,
                )
        with (workdir / "sla.txt").open("w", encoding="utf-8") as out:
            sla.write_report(store, "text", out, rules=rules)
    finally:
        store.close()
    print("\nstatus:")
    for name, row in state["sources"].items():
        print(
            f"  {name:<12} mapped {row['mapped']:>3}  pending {row['pending']}"
            f"  quarantined {row['quarantined']}  in doubt {row['in_doubt']}"
            f"  tracked by polling {row['tracked_by_polling']}"
        )
    print(f"  healthy: {state['healthy']}" + "".join(f"\n  - {p}" for p in state["problems"]))
    print(
        f"\nreconciliation report ({rows} rows): {workdir / 'report.html'} and report.csv;"
        f" agency response times: {workdir / 'sla.txt'}; status: {workdir / 'status.json'}"
    )
    return 0 if state["healthy"] and doubles == 0 else 1
