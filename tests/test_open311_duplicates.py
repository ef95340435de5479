"""Duplicates an Open311 city reports itself (issue: dedupe; open311.md's real servers).

A city closes a request as a duplicate of another (status ``duplicate``) and names the
parent — ``parent_service_request_id`` at the top, or Chicago's ``extended_attributes``.
The bridge maps the copy to the parent's national complaint instead of creating one,
keeps the copy's own closed status without raising a conflict, and creates the copy on
its own when the parent has no complaint. Over real loopback HTTP, engine and store.
"""

from __future__ import annotations

import contextlib
import json
import random
import sqlite3
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any, cast

import pytest

from adapters.local.open311.normalize import parent_of
from bridge.sync.store import Store
from tests.kits import Kit
from tests.kits.open311 import Open311CappedKit, Open311Kit
from tests.test_adapter_contract import Rig

KITS: dict[str, type[Open311Kit]] = {"spec": Open311Kit, "capped": Open311CappedKit}


@pytest.fixture(params=sorted(KITS))
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Rig]:
    r = Rig(cast(Kit, KITS[request.param]()), tmp_path)
    try:
        yield r
    finally:
        r.close()


def events(rig: Rig, local_id: str, kind: str) -> list[dict[str, Any]]:
    with contextlib.closing(sqlite3.connect(rig.db)) as db:
        rows = db.execute(
            "SELECT detail FROM events WHERE local_id = ? AND kind = ? ORDER BY id",
            (local_id, kind),
        ).fetchall()
    return [json.loads(row[0] or "{}") for row in rows]


def mapping(rig: Rig, local_id: str) -> dict[str, Any]:
    store = Store(rig.db)
    try:
        found = store.mapping("city", local_id)
    finally:
        store.close()
    assert found is not None, local_id
    return asdict(found)


def test_a_request_the_city_closed_as_a_duplicate_joins_its_parents_complaint(
    rig: Rig,
) -> None:
    kit = cast(Open311Kit, rig.kit)
    rng = random.Random(3)
    parent = kit.add_record(rng)
    assert rig.sync().ok
    [national] = rig.national_for(parent)

    child = kit.add_record(rng)
    kit.sandbox.mark_duplicate(child, parent)
    seen = kit.sandbox.request(child)
    assert parent_of(seen, child) == parent  # the sandbox speaks the profile's shape
    report = rig.sync()
    assert report.ok, report
    assert report.sources["city"].created == 0
    assert report.sources["city"].linked == 1

    row = mapping(rig, child)
    assert row["national_id"] == national["id"]
    assert row["duplicate_of"] == f"city:{parent}"
    assert row["conflict_kept"] == "local"
    assert [e["rule"] for e in events(rig, child, "merged")] == ["app_duplicate"]
    assert rig.national_for(child) == []
    assert len(rig.lapor.complaints()) == 1

    for _ in range(2):
        again = rig.sync()
        assert again.ok, again
        assert again.sources["city"].created == 0
    assert len(rig.lapor.complaints()) == 1
    assert not mapping(rig, child)["conflict"]


def test_a_duplicate_whose_parent_has_no_complaint_is_created_on_its_own(rig: Rig) -> None:
    kit = cast(Open311Kit, rig.kit)
    rng = random.Random(4)
    parent = kit.add_record(rng)
    kit.sandbox.garble(parent, status=["?"])  # the parent cannot be normalized: quarantined
    child = kit.add_record(rng)
    kit.sandbox.mark_duplicate(child, parent)
    report = rig.sync()
    assert report.ok, report
    assert report.sources["city"].created == 1
    assert report.sources["city"].quarantined == 1
    assert len(rig.national_for(child)) == 1
    assert mapping(rig, child)["duplicate_of"] is None
    assert events(rig, child, "app_duplicate_parent_unmapped") == [{"parent": f"city:{parent}"}]


@pytest.mark.parametrize(
    ("request_fields", "expected"),
    [
        ({"parent_service_request_id": "101"}, "101"),
        ({"parent_service_request_id": 101}, "101"),
        ({"extended_attributes": {"duplicate": True, "parent_service_request_id": "7"}}, "7"),
        ({"extended_attributes": {"duplicate": "7"}}, "7"),
        ({"extended_attributes": {"duplicate": True}}, None),
        ({"parent_service_request_id": ""}, None),
        ({"parent_service_request_id": " 55 "}, "55"),
        ({"parent_service_request_id": "55", "service_request_id": "55"}, None),
        ({"parent_service_request_id": None, "extended_attributes": "x"}, None),
        ({"parent_service_request_id": ["1"]}, None),
        ({}, None),
    ],
)
def test_the_parent_is_read_from_every_shape_seen(
    request_fields: dict[str, Any], expected: str | None
) -> None:
    own = str(request_fields.get("service_request_id", "55" if expected is None else "9"))
    assert parent_of(request_fields, own) == expected
