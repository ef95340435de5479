"""Every built-in sandbox together, as one city region on loopback, and a config pointing at it.

Used by ``lapor-bridge demo``, by the chaos tests and by the benchmarks: one
LAPOR-SP4N with the accounts of Kota Tanjungpinang and Kota Malang, and the
four city apps — Tanjak and Ujar (Tanjungpinang), Sambat Kene Ker (Malang)
and an Open311 city.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from adapters.lapor.sandbox import LaporSandbox
from adapters.local.open311.sandbox import Open311Sandbox
from adapters.local.sambat.sandbox import SambatSandbox
from adapters.local.tanjak.sandbox import TanjakSandbox
from adapters.local.ujar.sandbox import UjarSandbox
from adapters.sandbox import SandboxServer

TPI = "Pemerintah Kota Tanjungpinang"
MLG = "Pemerintah Kota Malang"
SECRETS = {
    "tanjungpinang": ("sandbox-secret-tanjungpinang", "{0d9e5b7a-3c1f-4e2a-8b6d-5f4a3c2b1a00}"),
    "malang": ("sandbox-secret-malang", "{7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d}"),
}
TANJAK_KEY = "sandbox-tanjak-key"
UJAR_CLIENT = ("lapor-bridge", "sandbox-ujar-secret")
SAMBAT_LOGIN = ("lapor-bridge", "sandbox-sambat-password")
OPEN311_KEY = "sandbox-open311-key"


@dataclass
class Region:
    """The sandboxes, started; ``apps`` picks which city apps run (all by default)."""

    apps: tuple[str, ...] = ("tanjak", "ujar", "sambat", "kota-contoh")
    seed: int = 2026
    lapor: LaporSandbox = field(init=False)
    tanjak: TanjakSandbox = field(init=False)
    ujar: UjarSandbox = field(init=False)
    sambat: SambatSandbox = field(init=False)
    open311: Open311Sandbox = field(init=False)

    def __post_init__(self) -> None:
        self.lapor = LaporSandbox(seed=self.seed)
        self.lapor.add_account(*SECRETS["tanjungpinang"], TPI)
        self.lapor.add_account(*SECRETS["malang"], MLG)
        self.tanjak = TanjakSandbox(api_key=TANJAK_KEY, seed=self.seed)
        self.ujar = UjarSandbox(*UJAR_CLIENT, seed=self.seed)
        self.sambat = SambatSandbox(*SAMBAT_LOGIN, seed=self.seed)
        self.open311 = Open311Sandbox(
            OPEN311_KEY, "kota.example", seed=self.seed, prefix="/open311/v2"
        )

    @property
    def servers(self) -> list[SandboxServer]:
        chosen: list[SandboxServer] = [self.lapor]
        for name, server in (
            ("tanjak", self.tanjak),
            ("ujar", self.ujar),
            ("sambat", self.sambat),
            ("kota-contoh", self.open311),
        ):
            if name in self.apps:
                chosen.append(server)
        return chosen

    def start(self) -> Region:
        for server in self.servers:
            server.start()
        return self

    def stop(self) -> None:
        for server in (self.lapor, self.tanjak, self.ujar, self.sambat, self.open311):
            server.stop()  # the apps not chosen were bound but never started: close them too

    def __enter__(self) -> Region:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def seed_sample(self, per_app: int, rng: random.Random | None = None) -> None:
        """Realistic complaints in every app, and some filed directly on LAPOR."""
        rng = rng or random.Random(self.seed)
        if "tanjak" in self.apps:
            self.tanjak.seed_sample(rng, per_app)
        if "ujar" in self.apps:
            self.ujar.seed_sample(rng, per_app)
        if "sambat" in self.apps:
            self.sambat.seed_sample(rng, per_app)
        if "kota-contoh" in self.apps:
            self.open311.seed_sample(rng, per_app)
        self.lapor.seed_sample(rng, max(1, per_app // 5), TPI)
        self.lapor.seed_sample(rng, max(1, per_app // 5), MLG)

    def config(
        self,
        database: Path,
        *,
        poll_interval: float = 60,
        http_listen: str = "",
        log_format: str = "json",
        log_level: str = "warning",
        rate: float = 1000,
    ) -> str:
        """A complete configuration for these sandboxes."""
        tpi, mlg = SECRETS["tanjungpinang"], SECRETS["malang"]
        malang_home = 'home_source = "sambat"' if "sambat" in self.apps else ""
        text = f"""# lapor-bridge against the built-in sandboxes (their ports change every run)
[bridge]
database = "{database}"
poll_interval_seconds = {poll_interval}
http_listen = "{http_listen}"
log_format = "{log_format}"
log_level = "{log_level}"

[lapor]
base_url = "{self.lapor.url}"
requests_per_second = {rate}

[lapor.accounts.tanjungpinang]
api_secret = "{tpi[0]}"
token = "{tpi[1]}"
institution = "{TPI}"
home_source = "tanjak"

[lapor.accounts.malang]
api_secret = "{mlg[0]}"
token = "{mlg[1]}"
institution = "{MLG}"
{malang_home}
"""
        if "tanjak" not in self.apps:
            text = text.replace('home_source = "tanjak"', "")
        sections = {
            "tanjak": f"""
[sources.tanjak]
kind = "tanjak"
account = "tanjungpinang"
base_url = "{self.tanjak.url}"
api_key = "{TANJAK_KEY}"
location_id = "21.72"
requests_per_second = {rate}
""",
            "ujar": f"""
[sources.ujar]
kind = "ujar"
account = "tanjungpinang"
base_url = "{self.ujar.url}"
client_id = "{UJAR_CLIENT[0]}"
client_secret = "{UJAR_CLIENT[1]}"
location_id = "21.72"
requests_per_second = {rate}
""",
            "sambat": f"""
[sources.sambat]
kind = "sambat"
account = "malang"
base_url = "{self.sambat.url}"
username = "{SAMBAT_LOGIN[0]}"
password = "{SAMBAT_LOGIN[1]}"
location_id = "35.73"
requests_per_second = {rate}
""",
            "kota-contoh": f"""
[sources.kota-contoh]
kind = "open311"
account = "tanjungpinang"
base_url = "{self.open311.base_url}"
api_key = "{OPEN311_KEY}"
jurisdiction_id = "kota.example"
default_service_code = "LAIN"
location_id = "21.72"
requests_per_second = {rate}
""",
        }
        return text + "".join(sections[name] for name in self.apps)
