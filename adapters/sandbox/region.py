"""Every built-in sandbox together, as one city region on loopback, and a config pointing at it.

Used by ``lapor-bridge demo``, by the chaos tests and by the benchmarks: one
LAPOR-SP4N with the accounts of Kota Tanjungpinang and Kota Malang, and the
four city apps — Tanjak and Ujar (Tanjungpinang), Sambat Kene Ker (Malang)
and an Open311 city.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path

from adapters.local.open311 import normalize as open311_normalize
from adapters.local.sambat import normalize as sambat_normalize
from adapters.local.tanjak import normalize as tanjak_normalize
from adapters.local.ujar import normalize as ujar_normalize
from adapters.sandbox.lapor import LaporSandbox
from adapters.sandbox.open311 import Open311Sandbox
from adapters.sandbox.sambat import SambatSandbox
from adapters.sandbox.server import SandboxServer
from adapters.sandbox.tanjak import TanjakSandbox
from adapters.sandbox.ujar import UjarSandbox
from bridge.core.tracking import TRACKING_PER_HOUR

TPI = "Pemerintah Kota Tanjungpinang"
LAINNYA = "TOPIK LAINNYA"
MLG = "Pemerintah Kota Malang"
SECRETS = {
    "tanjungpinang": ("sandbox-secret-tanjungpinang", "{0d9e5b7a-3c1f-4e2a-8b6d-5f4a3c2b1a00}"),
    "malang": ("sandbox-secret-malang", "{7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d}"),
}
USERS = {"tanjungpinang": 100001, "malang": 100002}
#: LAPOR's region ids are its own integers (lapor.md); 34 "Nasional" is the one seen
LOCATION_ID = 34
TANJAK_KEY = "sandbox-tanjak-key"
UJAR_CLIENT = ("lapor-bridge", "sandbox-ujar-secret")
SAMBAT_LOGIN = ("lapor-bridge", "sandbox-sambat-password")
OPEN311_KEY = "sandbox-open311-key"


@dataclass
class Region:
    """The sandboxes, started; ``apps`` picks which city apps run (all by default)."""

    apps: tuple[str, ...] = ("tanjak", "ujar", "sambat", "kota-contoh")
    seed: int = 2026
    #: lapor.md's capabilities the LAPOR sandbox offers and the configuration turns on;
    #: none is the evidenced profile (the default, as in production)
    capabilities: tuple[str, ...] = ()
    lapor: LaporSandbox = field(init=False)
    tanjak: TanjakSandbox = field(init=False)
    ujar: UjarSandbox = field(init=False)
    sambat: SambatSandbox = field(init=False)
    open311: Open311Sandbox = field(init=False)

    def __post_init__(self) -> None:
        self.lapor = LaporSandbox(seed=self.seed, capabilities=self.capabilities)
        self.lapor.add_account(*SECRETS["tanjungpinang"], TPI, user_id=USERS["tanjungpinang"])
        self.lapor.add_account(*SECRETS["malang"], MLG, user_id=USERS["malang"])
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
        create_timeout: float = 120,
        poll_budget: int | None = None,
        tracking_per_hour: int | None = None,
        scan_limit: int | None = None,
    ) -> str:
        """A complete configuration for these sandboxes.

        ``tracking_per_hour`` is each account's budget for following its complaints by id;
        ``poll_budget`` (requests a pass, as the deprecated key was) gives it as that many
        requests every ``poll_interval`` instead. Neither: the bridge's default.
        ``scan_limit``: the widest bracket of ids read for a create in doubt (else the
        bridge's default).

        Each app's categories are mapped to LAPOR category ids the way an operator would
        copy them from LAPOR's admin screens: here, the sandbox's ids of the built-in map's
        topic paths (the whole path, else its topic), and ``"*"`` for TOPIK LAINNYA.
        """
        tpi, mlg = SECRETS["tanjungpinang"], SECRETS["malang"]
        if tracking_per_hour is None and poll_budget is not None:
            tracking_per_hour = max(2, int(poll_budget * 3600 / poll_interval))
        tracking = tracking_per_hour or TRACKING_PER_HOUR
        listed = ", ".join(f'"{c}"' for c in self.capabilities)
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
create_timeout_seconds = {create_timeout}
tracking_requests_per_hour = {tracking}
capabilities = [{listed}]
{f"scan_limit = {scan_limit}" if scan_limit is not None else ""}

[lapor.accounts.tanjungpinang]
api_secret = "{tpi[0]}"
token = "{tpi[1]}"
user_id = {USERS["tanjungpinang"]}
institution = "{TPI}"
home_source = "tanjak"

[lapor.accounts.malang]
api_secret = "{mlg[0]}"
token = "{mlg[1]}"
user_id = {USERS["malang"]}
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
location_id = {LOCATION_ID}
classification_id = 1
requests_per_second = {rate}
""",
            "ujar": f"""
[sources.ujar]
kind = "ujar"
account = "tanjungpinang"
base_url = "{self.ujar.url}"
client_id = "{UJAR_CLIENT[0]}"
client_secret = "{UJAR_CLIENT[1]}"
location_id = {LOCATION_ID}
classification_id = 1
requests_per_second = {rate}
""",
            "sambat": f"""
[sources.sambat]
kind = "sambat"
account = "malang"
base_url = "{self.sambat.url}"
username = "{SAMBAT_LOGIN[0]}"
password = "{SAMBAT_LOGIN[1]}"
location_id = {LOCATION_ID}
classification_id = 1
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
location_id = {LOCATION_ID}
classification_id = 1
requests_per_second = {rate}
""",
        }
        return text + "".join(sections[name] + self._categories(name) for name in self.apps)

    def _categories(self, app: str) -> str:
        builtin = {
            "tanjak": tanjak_normalize.CATEGORIES,
            "ujar": ujar_normalize.CATEGORIES,
            "sambat": sambat_normalize.CATEGORIES,
            "kota-contoh": open311_normalize.CATEGORIES,
        }[app]
        lines = [f"\n[sources.{app}.categories]", f'"*" = {self.lapor.category_id(LAINNYA)}']
        for local, path in builtin.items():
            found = self._category(path)
            if found is not None:
                lines.append(f"{json.dumps(local)} = {found}")
        return "\n".join(lines) + "\n"

    def _category(self, path: str) -> int | None:
        """The sandbox's id of a topic path: the whole path, else its topic."""
        for candidate in (path, path.split("/", 1)[0]):
            try:
                return self.lapor.category_id(candidate)
            except KeyError:
                continue
        return None
