"""Open311 kit for the adapter contract suite.

The sandbox runs with the quirks a real city may have, so the whole suite
exercises them: a path prefix, a ``jurisdiction_id``, times written at
``+07:00`` and a queued create (a token, polled until it resolves).
"""

from __future__ import annotations

import random
from typing import Any

from adapters.local import sample
from adapters.local.open311.client import Open311Config, connect
from adapters.local.open311.normalize import canonical_status, link_update_id
from adapters.local.open311.sandbox import Open311Sandbox
from bridge.model import Status
from bridge.ports import BRIDGE_REF_PREFIX, LocalSource
from tests.kits import FAST

KEY = "kit-open311-key"
JURISDICTION = "kota.example"
#: how the city's back office writes each canonical status (Open311 has no ``verified``)
_CITY_STATUS = {
    Status.SUBMITTED: "open",
    Status.IN_PROGRESS: "in_progress",
    Status.DONE: "fixed",
    Status.REJECTED: "no_further_action",
}
_TOPIC_SERVICE = {
    "banjir": "DRAINASE",
    "sampah": "SAMPAH",
    "lampu": "PJU",
    "jalan": "JALAN",
    "pohon": "POHON",
    "parkir": "PARKIR",
}


class Open311Kit:
    kind = "open311"

    def __init__(self, **sandbox: Any) -> None:
        options: dict[str, Any] = {
            "api_key": KEY,
            "jurisdiction_id": JURISDICTION,
            "queued": True,
            "utc_offset": "+07:00",
            "prefix": "/open311/v2",
            **sandbox,
        }
        self.sandbox = Open311Sandbox(**options)

    def section(self, account: str) -> dict[str, Any]:
        return {
            "kind": "open311",
            "account": account,
            "base_url": self.sandbox.base_url,
            "api_key": KEY,
            "jurisdiction_id": self.sandbox.jurisdiction_id,
            "default_service_code": "LAIN",
            "location_id": 34,
            "requests_per_second": 1000,
            "page_size": 20,
            "max_requests": self.sandbox.max_requests,
        }

    def source(self, name: str, account: str) -> LocalSource:
        config = Open311Config.model_validate(
            {k: v for k, v in self.section(account).items() if k != "kind"}
        )
        return connect(name, config, policy=FAST)

    def add_record(self, rng: random.Random, **overrides: Any) -> str:
        topic = rng.choice(sorted(_TOPIC_SERVICE))
        where = sample.place(rng, "tanjungpinang")
        fields: dict[str, Any] = {
            "service_code": _TOPIC_SERVICE[topic],
            "description": overrides.get("text", sample.complaint(rng, topic, where).text),
            "lat": where.lat,
            "long": where.lng,
            "address": where.address,
        }
        if "phone" in overrides:
            fields.update(first_name="Warga", last_name="Kota", phone=overrides["phone"])
        return str(self.sandbox.add_request(**fields)["service_request_id"])

    def edit_record(self, local_id: str, text: str) -> None:
        # the standard has no edit; the city's back office changes its own copy
        with self.sandbox.lock:
            stored = self.sandbox._requests[local_id]
            stored.description = text
            stored.updated = self.sandbox.now()

    def corrupt(self, local_id: str) -> None:
        with self.sandbox.lock:
            self.sandbox._requests[local_id].description = 12345  # type: ignore[assignment]

    def link_value(self, local_id: str) -> int | None:
        """``attribute[external_id]`` on a request the bridge made, else its link note."""
        external = self.sandbox.request(local_id)["attributes"].get("external_id")
        if external:
            return int(external)
        for update in self._updates(local_id):
            if update["update_id"] == link_update_id(local_id):
                return int(update["description"].rsplit("#", 1)[1])
        return None

    def status_of(self, local_id: str) -> Status:
        request = self.sandbox.request(local_id)
        return canonical_status(request["status"], self._updates(local_id))

    def city_sets_status(self, local_id: str, status: Status) -> None:
        if status not in _CITY_STATUS:
            raise ValueError(f"an Open311 city cannot set {status.value}: the standard lacks it")
        self.sandbox.add_update(local_id, _CITY_STATUS[status], "")

    def city_responds(self, local_id: str, text: str) -> None:
        showing = self.sandbox.request(local_id)["extended_status"]
        self.sandbox.add_update(local_id, showing, text)

    def responses(self, local_id: str) -> list[tuple[str, str | None]]:
        return [
            (
                u["description"],
                u["update_id"] if u["update_id"].startswith(BRIDGE_REF_PREFIX) else None,
            )
            for u in self._updates(local_id)
            if u["description"]
        ]

    def records(self) -> list[str]:
        return [str(r["service_request_id"]) for r in self.sandbox.all_requests()]

    def _updates(self, local_id: str) -> list[dict[str, Any]]:
        return [u for u in self.sandbox.updates() if u["service_request_id"] == local_id]
