"""Sambat Kene Ker kit for the adapter contract suite."""

from __future__ import annotations

import random
from typing import Any

from adapters.local import sample
from adapters.local.sambat.client import SambatConfig, connect
from adapters.local.sambat.normalize import LOCAL_STATUS, STATUSES
from adapters.sandbox.sambat import SambatSandbox
from bridge.core.model import Status
from bridge.core.ports import LocalSource
from tests.kits import FAST

USERNAME, PASSWORD = "kit-sambat", "kit-sambat-rahasia"

#: the shared sample topics as Sambat's categories (what a citizen would pick)
TOPIC_KATEGORI = {
    "banjir": "Banjir",
    "sampah": "Sampah",
    "lampu": "Penerangan Jalan",
    "jalan": "Jalan Rusak",
    "pohon": "Pohon Tumbang",
    "kesehatan": "Kesehatan",
    "pendidikan": "Pendidikan",
    "kependudukan": "Administrasi Kependudukan",
    "parkir": "Lain-lain",
}


def digits(phone: str) -> str:
    """A typed phone as Sambat stores it: digits only, ``0…`` turned into ``62…``."""
    only = "".join(ch for ch in phone if ch.isdigit())
    return "62" + only[1:] if only.startswith("0") else only


class SambatKit:
    kind = "sambat"

    def __init__(self) -> None:
        self.sandbox = SambatSandbox(USERNAME, PASSWORD)

    def section(self, account: str) -> dict[str, Any]:
        return {
            "kind": "sambat",
            "account": account,
            "base_url": self.sandbox.url,
            "username": USERNAME,
            "password": PASSWORD,
            "location_id": 34,
            "requests_per_second": 1000,
            "page_size": 20,
        }

    def source(self, name: str, account: str) -> LocalSource:
        config = SambatConfig.model_validate(
            {k: v for k, v in self.section(account).items() if k != "kind"}
        )
        return connect(name, config, policy=FAST)

    def add_record(self, rng: random.Random, **overrides: Any) -> str:
        topic = rng.choice(sorted(TOPIC_KATEGORI))
        where = sample.place(rng, "malang")
        citizen = sample.person(rng, "malang")
        text = sample.complaint(rng, topic, where, informal=False)
        fields: dict[str, Any] = {
            "sumber": "android",
            "nama": citizen.name,
            "hp": digits(overrides.get("phone", citizen.phone)),
            "isi_sambat": overrides.get("text", text.text),
            "kategori": TOPIC_KATEGORI[topic],
            "kelurahan": where.kelurahan,
            "kecamatan": where.kecamatan,
            "lat": f"{where.lat:.6f}",
            "lng": f"{where.lng:.6f}",
        }
        return str(self.sandbox.add_sambat(**fields)["no_tiket"])

    def edit_record(self, local_id: str, text: str) -> None:
        self.sandbox.edit_sambat(local_id, isi_sambat=text)

    def corrupt(self, local_id: str) -> None:
        # a sambat without any text: the back end refuses to create one, so it is outside
        # the contract, and the normalizer has nothing to send
        self.sandbox.edit_sambat(local_id, isi_sambat="")

    def link_value(self, local_id: str) -> int | None:
        value = str(self.sandbox.sambat(local_id)["id_lapor"])
        return int(value.lstrip("#")) if value else None

    def status_of(self, local_id: str) -> Status:
        return STATUSES[self.sandbox.sambat(local_id)["status"]]

    def city_sets_status(self, local_id: str, status: Status) -> None:
        self.sandbox.set_status(local_id, LOCAL_STATUS[status])

    def city_responds(self, local_id: str, text: str) -> None:
        self.sandbox.respond(local_id, "DLH", text)

    def responses(self, local_id: str) -> list[tuple[str, str | None]]:
        return [(t["isi"], t["ref"] or None) for t in self.sandbox.sambat(local_id)["tanggapan"]]

    def records(self) -> list[str]:
        return [str(s["no_tiket"]) for s in self.sandbox.all_sambat()]
