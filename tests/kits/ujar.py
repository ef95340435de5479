"""Ujar kit for the adapter contract suite."""

from __future__ import annotations

import random
from typing import Any

from adapters.local.ujar.client import UjarConfig, connect
from adapters.local.ujar.normalize import LOCAL_STATUS, STATUSES
from adapters.sandbox.ujar import UjarSandbox
from bridge.core.model import Status
from bridge.core.ports import LocalSource
from tests.kits import FAST

CLIENT_ID = "kit-ujar-client"
SECRET = "kit-ujar-secret"


class UjarKit:
    """Drives the Ujar sandbox as the contract suite's questions need."""

    kind = "ujar"

    def __init__(self) -> None:
        self.sandbox = UjarSandbox(CLIENT_ID, SECRET)

    def section(self, account: str) -> dict[str, Any]:
        return {
            "kind": "ujar",
            "account": account,
            "base_url": self.sandbox.url,
            "client_id": CLIENT_ID,
            "client_secret": SECRET,
            "location_id": 34,
            "requests_per_second": 1000,
            "page_size": 20,
        }

    def source(self, name: str, account: str) -> LocalSource:
        config = UjarConfig.model_validate(
            {k: v for k, v in self.section(account).items() if k != "kind"}
        )
        return connect(name, config, policy=FAST)

    def add_record(self, rng: random.Random, **overrides: Any) -> str:
        fields: dict[str, Any] = {}
        if "text" in overrides:
            fields["message"] = overrides["text"]
        if "phone" in overrides:
            fields.update(userName="Warga", userPhone=overrides["phone"], anonymous=False)
        return str(self.sandbox.add_ticket(**fields)["ticketNo"])

    def edit_record(self, local_id: str, text: str) -> None:
        self.sandbox.edit_ticket(local_id, message=text)

    def corrupt(self, local_id: str) -> None:
        self.sandbox.corrupt(local_id, statusCode=7)

    def link_value(self, local_id: str) -> int | None:
        for link in self.sandbox.ticket(local_id)["external"]:
            if link["system"] == "lapor":
                return int(str(link["ref"]).lstrip("#"))
        return None

    def status_of(self, local_id: str) -> Status:
        return STATUSES[self.sandbox.ticket(local_id)["statusCode"]]

    def city_sets_status(self, local_id: str, status: Status) -> None:
        self.sandbox.set_status(local_id, LOCAL_STATUS[status])

    def city_responds(self, local_id: str, text: str) -> None:
        self.sandbox.respond(local_id, "PUPR", text)

    def responses(self, local_id: str) -> list[tuple[str, str | None]]:
        return [(r["text"], r["clientRef"]) for r in self.sandbox.ticket(local_id)["responses"]]

    def records(self) -> list[str]:
        return [str(t["ticketNo"]) for t in self.sandbox.all_tickets()]
