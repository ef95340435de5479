"""Tanjak kit for the adapter contract suite."""

from __future__ import annotations

import random
from typing import Any

from adapters.local.tanjak.client import TanjakConfig, connect
from adapters.local.tanjak.normalize import STATUSES
from adapters.sandbox.tanjak import TanjakSandbox
from bridge.core.model import Status
from bridge.core.ports import LocalSource
from tests.kits import FAST

KEY = "kit-tanjak-key"
_LOCAL = {status: name for name, status in STATUSES.items()}


class TanjakKit:
    kind = "tanjak"

    def __init__(self) -> None:
        self.sandbox = TanjakSandbox(api_key=KEY)

    def section(self, account: str) -> dict[str, Any]:
        return {
            "kind": "tanjak",
            "account": account,
            "base_url": self.sandbox.url,
            "api_key": KEY,
            "location_id": 34,
            "requests_per_second": 1000,
            "page_size": 20,
        }

    def source(self, name: str, account: str) -> LocalSource:
        config = TanjakConfig.model_validate(
            {k: v for k, v in self.section(account).items() if k != "kind"}
        )
        return connect(name, config, policy=FAST)

    def add_record(self, rng: random.Random, **overrides: Any) -> str:
        fields: dict[str, Any] = {}
        if "text" in overrides:
            fields["isi"] = overrides["text"]
        if "phone" in overrides:
            fields["pelapor"] = {"nama": "Warga", "hp": overrides["phone"], "nik": None}
            fields["anonim"] = False
        return str(self.sandbox.add_aduan(**fields)["id"])

    def edit_record(self, local_id: str, text: str) -> None:
        self.sandbox.edit_aduan(int(local_id), isi=text)

    def corrupt(self, local_id: str) -> None:
        self.sandbox.corrupt(int(local_id), status="entah")

    def link_value(self, local_id: str) -> int | None:
        value = self.sandbox.aduan(int(local_id))["lapor_id"]
        return int(str(value).lstrip("#")) if value else None

    def status_of(self, local_id: str) -> Status:
        return STATUSES[self.sandbox.aduan(int(local_id))["status"]]

    def city_sets_status(self, local_id: str, status: Status) -> None:
        self.sandbox.set_status(int(local_id), _LOCAL[status])

    def city_responds(self, local_id: str, text: str) -> None:
        self.sandbox.respond(int(local_id), "DLH", text)

    def responses(self, local_id: str) -> list[tuple[str, str | None]]:
        return [(t["isi"], t["ref"]) for t in self.sandbox.aduan(int(local_id))["tanggapan"]]

    def records(self) -> list[str]:
        return [str(a["id"]) for a in self.sandbox.all_aduan()]
