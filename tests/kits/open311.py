"""Open311 kit for the adapter contract suite, one per sandbox profile.

The default (``spec``) sandbox runs with the quirks a city may have within
the standard, so the whole suite exercises them: a path prefix, a
``jurisdiction_id``, times written at ``+07:00`` and a queued create (a
token, polled until it resolves). The other profiles are the real servers of
open311.md ("Real servers"), each configured as a city that runs one would
configure the bridge (``format``, ``max_requests``, ``start_date_offset``).

The kit reads the sandbox, not the adapter: the bridge's own updates are told
by their ``update_id`` or, on servers that keep their own ids, by the
reference that ends their description (``[lb-…]``).
"""

from __future__ import annotations

import random
import re
from typing import Any

from adapters.local import sample
from adapters.local.open311.client import Open311Config, connect
from adapters.local.open311.normalize import canonical_status, link_update_id
from adapters.sandbox.open311 import Open311Sandbox
from bridge.core.model import Status
from bridge.core.ports import BRIDGE_REF_PREFIX, LocalSource
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
#: each profile's sandbox, as a city of that family runs it
PROFILE_OPTIONS: dict[str, dict[str, Any]] = {
    "spec": {"queued": True, "utc_offset": "+07:00"},
    "fms": {"utc_offset": "+07:00"},  # FixMyStreet makes requests at once
    "adapter": {"utc_offset": "Z"},  # the framework writes UTC; no tokens
    "capped": {"queued": True, "utc_offset": "-05:00"},  # Chicago: tokens, its own zone
    "xml": {"utc_offset": "-04:00"},  # Toronto
}
#: the reference the bridge puts at the end of an update's description
_REF = re.compile(rf"\s*\[({re.escape(BRIDGE_REF_PREFIX)}[^\[\]\s]+)\]\s*$")
_TRACKING = re.compile(r"#(\d{1,18})\b")


def split_ref(description: str) -> tuple[str, str | None]:
    """An update's text without the bridge's trailing ``[lb-…]``, and that reference."""
    found = _REF.search(description)
    if found is None:
        return description, None
    return description[: found.start()], found.group(1)


def bridge_ref(update: dict[str, Any]) -> str | None:
    """The bridge's reference of an update it wrote: its ``update_id`` or its marker."""
    update_id = str(update.get("update_id", ""))
    _, ref = split_ref(update.get("description") or "")
    if ref is not None:
        return ref
    return update_id if update_id.startswith(BRIDGE_REF_PREFIX) else None


class Open311Kit:
    kind = "open311"
    profile = "spec"

    def __init__(self, **sandbox: Any) -> None:
        options: dict[str, Any] = {
            "api_key": KEY,
            "jurisdiction_id": JURISDICTION,
            "prefix": "/open311/v2",
            "profile": self.profile,
            **PROFILE_OPTIONS[self.profile],
            **sandbox,
        }
        self.sandbox = Open311Sandbox(**options)

    def section(self, account: str) -> dict[str, Any]:
        keys: dict[str, Any] = {
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
        # only where the city needs them: what a city's operator would write
        if self.sandbox.profile == "xml":
            keys["format"] = "xml"
        if self.sandbox.profile == "capped":
            keys["start_date_offset"] = False
        return keys

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
        # in XML every value is text: a description of 12345 would read as "12345"
        if self.sandbox.profile == "xml":
            self.sandbox.garble(local_id, requested_datetime="kemarin sore")
        else:
            self.sandbox.garble(local_id, description=12345)

    def link_value(self, local_id: str) -> int | None:
        """``attribute[external_id]`` on a request the bridge made, else its link note."""
        external = self.sandbox.request(local_id)["attributes"].get("external_id")
        if external:
            return int(external)
        for update in self.updates(local_id):
            if bridge_ref(update) == link_update_id(local_id):
                text, _ = split_ref(update["description"] or "")
                found = _TRACKING.search(text)
                return int(found.group(1)) if found else None
        return None

    def status_of(self, local_id: str) -> Status:
        request = self.sandbox.request(local_id)
        updates = [
            {**u, "update_id": bridge_ref(u) or str(u.get("update_id", ""))}
            for u in self.updates(local_id)
        ]
        return canonical_status(request["status"], updates)

    def city_sets_status(self, local_id: str, status: Status) -> None:
        if status not in _CITY_STATUS:
            raise ValueError(f"an Open311 city cannot set {status.value}: the standard lacks it")
        # FixMyStreet refuses an update without a description
        note = "Status diubah oleh petugas." if self.sandbox.profile == "fms" else ""
        self.sandbox.add_update(local_id, _CITY_STATUS[status], note)

    def city_responds(self, local_id: str, text: str) -> None:
        showing = self.sandbox.request(local_id)["extended_status"]
        self.sandbox.add_update(local_id, showing, text)

    def responses(self, local_id: str) -> list[tuple[str, str | None]]:
        out: list[tuple[str, str | None]] = []
        for update in self.updates(local_id):
            text, _ = split_ref(update["description"] or "")
            if text:
                out.append((text, bridge_ref(update)))
        return out

    def records(self) -> list[str]:
        return [str(r["service_request_id"]) for r in self.sandbox.all_requests()]

    def updates(self, local_id: str) -> list[dict[str, Any]]:
        """The request's updates as the feed shows them, oldest first."""
        return [u for u in self.sandbox.updates() if str(u["service_request_id"]) == local_id]


class Open311FmsKit(Open311Kit):
    """FixMyStreet: wrapped lists, ``{"errors": {…}}``, a repeated update_id refused."""

    profile = "fms"


class Open311AdapterKit(Open311Kit):
    """open311-adapter: bare arrays, integer ids from 0, its own update ids, 500s."""

    profile = "adapter"


class Open311CappedKit(Open311Kit):
    """A 50-capped city answering newest-updated first, its windows without an offset."""

    profile = "capped"


class Open311XmlKit(Open311Kit):
    """A city that speaks only XML."""

    profile = "xml"
