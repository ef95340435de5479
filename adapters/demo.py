"""``lapor-bridge demo``: the sandboxes on loopback with sample data, and the bridge against them.

Everything happens in this process over real HTTP on 127.0.0.1: the
sandboxes serve their contracts, the bridge runs passes through its normal
configuration, store and engine; the admin's actions on LAPOR are played
between passes.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from adapters import registry
from adapters.lapor.sandbox import LaporSandbox
from adapters.local.tanjak.sandbox import TanjakSandbox
from bridge import logs
from bridge import status as status_mod
from bridge.engine import Engine
from bridge.settings import load_settings
from bridge.store import Store

SECRET = "demo-secret-tanjungpinang"
TOKEN = "{0d9e5b7a-3c1f-4e2a-8b6d-5f4a3c2b1a00}"
TANJAK_KEY = "demo-tanjak-key"


def _config(workdir: Path, lapor: LaporSandbox, tanjak: TanjakSandbox) -> str:
    return f"""# written by `lapor-bridge demo`: the sandboxes' addresses change every run
[bridge]
database = "{workdir / "bridge.db"}"
poll_interval_seconds = 60
http_listen = ""
log_format = "console"
log_level = "warning"

[lapor]
base_url = "{lapor.url}"
requests_per_second = 200

[lapor.accounts.tanjungpinang]
api_secret = "{SECRET}"
token = "{TOKEN}"
institution = "Pemerintah Kota Tanjungpinang"
home_source = "tanjak"

[sources.tanjak]
kind = "tanjak"
account = "tanjungpinang"
base_url = "{tanjak.url}"
api_key = "{TANJAK_KEY}"
location_id = "21.72"
requests_per_second = 200
"""


def _pass(config: Path) -> dict[str, Any]:
    settings = load_settings(config)
    sources = registry.connect_sources(settings)
    nationals = registry.connect_nationals(settings)
    store = Store(settings.bridge.database)
    try:
        report = Engine(store, sources, nationals, homes=registry.homes(settings)).sync()
        for item in report.sources.values():
            print(
                f"  {item.name}: seen {item.seen}, created {item.created}, linked {item.linked},"
                f" updated {item.updated}, quarantined {item.quarantined}"
                + (f", failed: {item.error}" if item.error else "")
            )
        return status_mod.collect(
            store, settings.sources, settings.lapor.accounts, settings.bridge.poll_interval_seconds
        )
    finally:
        store.close()
        registry.close_all(sources, nationals)


def run_demo(workdir: Path, complaints: int = 40, seed: int = 2026) -> int:
    """Run the demo; returns the exit code (0 when the bridge ends healthy)."""
    rng = random.Random(seed)
    workdir.mkdir(parents=True, exist_ok=True)
    for stale in workdir.glob("bridge.db*"):
        stale.unlink()
    logs.configure("warning", "console")
    with LaporSandbox() as lapor, TanjakSandbox(api_key=TANJAK_KEY, seed=seed) as tanjak:
        assert isinstance(lapor, LaporSandbox) and isinstance(tanjak, TanjakSandbox)
        lapor.add_account(SECRET, TOKEN, "Pemerintah Kota Tanjungpinang")
        tanjak.seed_sample(rng, complaints)
        config = workdir / "config.toml"
        config.write_text(_config(workdir, lapor, tanjak), encoding="utf-8")
        print(f"sandboxes: LAPOR {lapor.url}, Tanjak {tanjak.url}")
        print("pass 1: the backlog")
        _pass(config)
        print("a few new complaints arrive; LAPOR's gateway has a bad minute")
        fresh = tanjak.seed_sample(random.Random(seed + 1), max(1, complaints // 4))
        for aduan in fresh:  # filed just now: the feed shows them after the cursor
            tanjak.edit_aduan(aduan["id"], isi=aduan["isi"])
        lapor.faults.chaos(0.2, ("503", "html502", "429"), seed=seed, retry_after=0)
        lapor.faults.inject("drop_after_write", method="POST", path=r"/complaints/complaint$")
        print("pass 2: new complaints, through faults")
        _pass(config)
        lapor.faults.clear()
        print("pass 3: nothing new")
        state = _pass(config)
        national = lapor.complaints()
        tags = [t for c in national for t in c["tags"] if t.startswith("ext-")]
        print(
            f"LAPOR now holds {len(national)} complaints from the bridge,"
            f" {len(tags) - len(set(tags))} duplicated"
        )
    (workdir / "status.json").write_text(json.dumps(state, indent=2), encoding="utf-8")
    print(json.dumps(state, indent=2))
    print(f"status written to {workdir / 'status.json'}; config in {config}")
    return 0 if state["healthy"] and len(tags) == len(set(tags)) else 1
