"""Real Open311 answers (``shared/real/open311-fixtures``, vendored in
``tests/data/open311-fixtures`` with their provenance) through the adapter's readers.

Chicago's requests (JSON), Toronto's (XML, empty ``updated_datetime``),
Giessen's service list (XML) and the standard's own example service list: read
from disk, no network, each through the same parser and normalizer a pass uses.
Every file of the folder must be covered here: a new one fails the last test.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from adapters.local.open311 import wire
from adapters.local.open311.normalize import normalize
from bridge.core.model import Complaint, Status

#: the copy in the repository: a clean clone has it wherever it lies
FIXTURES = Path(__file__).resolve().parent / "data" / "open311-fixtures"
#: where the copy comes from, when it lies beside the repository
SHARED = Path(__file__).resolve().parents[2] / "shared" / "real" / "open311-fixtures"

COVERED = {
    "service_requests.json",
    "requests_many.xml",
    "requests_single.xml",
    "services_giessen.xml",
    "service_list.json",
}


def body(name: str) -> Any:
    data = (FIXTURES / name).read_bytes()
    return wire.parse_xml(data) if name.endswith(".xml") else json.loads(data)


def complaints(name: str) -> list[Complaint]:
    return [
        normalize({"request": item, "updates": []}, source="kota", region="34")
        for item in wire.items_of(body(name), "requests")
    ]


def test_chicago_requests_json() -> None:
    first, second = complaints("service_requests.json")
    assert (first.local_id, second.local_id) == ("14-01100669", "14-01100627")
    assert first.status == second.status == Status.SUBMITTED
    assert first.local_status == "open"
    # no description: the service's name is the text
    assert first.content == "Alley Light Out"
    assert first.local_category == "4ffa9cad6018277d4000007b"
    assert first.category == "TOPIK LAINNYA"
    assert first.agency == "Division of Electrical Operations CDOT"
    # -05:00 read as such
    assert first.created_at == datetime(2014, 7, 12, 15, 58, 43, tzinfo=UTC)
    assert first.updated_at == datetime(2014, 7, 12, 16, 8, 21, tzinfo=UTC)
    assert first.location is not None
    assert first.location.latitude == pytest.approx(41.858724777757864)
    assert first.location.longitude == pytest.approx(-87.66475146237676)
    assert first.location.address == "1540 W 17TH ST, CHICAGO, IL, 60608"
    assert first.attachments == ()
    assert first.national_id is None


@pytest.mark.parametrize(
    ("name", "ids"),
    [
        ("requests_many.xml", ["101005420892", "101005420894"]),
        ("requests_single.xml", ["101005420892"]),
    ],
)
def test_toronto_requests_xml(name: str, ids: list[str]) -> None:
    found = complaints(name)
    assert [c.local_id for c in found] == ids  # long numbers kept as text
    first = found[0]
    # <updated_datetime/> is missing, not an error: the requested time stands in
    assert first.created_at == datetime(2018, 7, 30, 4, 1, tzinfo=UTC)
    assert first.updated_at == first.created_at
    # <description/> is missing: the service's name is the text; <media_url/> no photo
    assert first.content == "Road - Pot hole"
    assert first.attachments == ()
    assert first.status == Status.SUBMITTED
    assert first.agency == "311 Toronto"
    assert first.local_category == "CSROWR-12"
    # every XML value is text: coordinates read from it
    assert first.location is not None
    assert first.location.latitude == pytest.approx(43.691104288)
    assert first.location.longitude == pytest.approx(-79.272306875)
    assert first.location.address == "Warden Ave / Freeman St, Scarborough"


def test_toronto_empty_elements_are_missing_values() -> None:
    (item, *_) = wire.items_of(body("requests_many.xml"), "requests")
    assert item["updated_datetime"] is None
    assert item["description"] is None
    assert item["media_url"] is None
    assert item["zipcode"] is None
    assert item["address_id"] == "13459430"


def test_giessen_services_xml() -> None:
    services = wire.items_of(body("services_giessen.xml"), "services")
    assert len(services) == 8
    codes = [s["service_code"] for s in services]
    assert codes[:3] == ["015", "010", "013"]  # leading zeros kept: text
    names = {s["service_code"]: s["service_name"] for s in services}
    assert names["011"] == "Straßen- und Gehwegschäden"  # UTF-8
    assert names["017"] == "Wilde Müllkippe, Sperrmüll"
    assert {s["metadata"] for s in services} == {"false"}
    keywords = {s["service_code"]: s["keywords"] for s in services}
    assert keywords["012"] == "graffiti, paintings"
    assert keywords["015"] is None  # <keywords/>
    assert services[0]["description"] is None  # <description></description>


def test_the_standard_s_service_list_json() -> None:
    services = wire.items_of(body("service_list.json"), "services")
    assert [s["service_code"] for s in services] == ["001", "002", "003"]
    assert all(s["metadata"] is True for s in services)
    assert services[1]["group"] == "street"


def test_every_fixture_is_read_here() -> None:
    present = {p.name for p in FIXTURES.iterdir() if p.suffix in (".json", ".xml")}
    assert present == COVERED


def test_the_copy_is_the_shared_one() -> None:
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is not beside this checkout: nothing to compare with")
    names = sorted(p.name for p in SHARED.iterdir() if p.is_file())
    assert names == sorted(p.name for p in FIXTURES.iterdir() if p.is_file())
    for name in names:
        assert (FIXTURES / name).read_bytes() == (SHARED / name).read_bytes(), name
