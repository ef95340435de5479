"""Random histories of local changes, faults and crashes: every record ends mapped exactly once."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.core.plan import Create, Known, Link, Record, Recover, WriteBack, plan
from bridge.sync.engine import Engine
from bridge.sync.store import Store
from tests.fakes import Crash, FakeNational, FakeSource

ids = st.sampled_from([f"r{i}" for i in range(8)])
step = st.one_of(
    st.tuples(st.just("add"), ids, st.sampled_from(["banjir", "sampah", "BAD", "lampu"])),
    st.tuples(st.just("edit"), ids, st.sampled_from(["banjir lagi", "sampah lagi", "BAD"])),
    st.tuples(
        st.just("sync"),
        st.lists(st.sampled_from(["ok", "lost", "down", "crash"]), max_size=4),
        st.lists(st.sampled_from(["ok", "down"]), max_size=3),
    ),
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.lists(step, min_size=1, max_size=25), st.booleans())
def test_every_record_ends_mapped_exactly_once(
    steps: list[tuple[object, ...]], tag_search: bool
) -> None:
    """In both profiles. Without tag search a lost answer may stay in doubt (no create to
    bound a scan): the operator, looking on LAPOR, settles those; then all are mapped."""
    national = FakeNational(frozenset({"tag_search"}) if tag_search else frozenset())
    source = FakeSource()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bridge.db"
        for item in steps:
            match item:
                case ("add", local_id, text):
                    if local_id not in source.records:
                        source.touch(str(local_id), text=text)
                case ("edit", local_id, text):
                    if local_id in source.records:
                        source.touch(str(local_id), text=text)
                case ("sync", create_faults, link_faults):
                    national.create_faults = list(create_faults)  # type: ignore[call-overload]
                    source.link_faults = list(link_faults)  # type: ignore[call-overload]
                    store = Store(db)
                    try:
                        Engine(store, {"fake": source}, {"acct": national}).sync()
                    except Crash:
                        pass  # the process died; the next pass is the restart
                    finally:
                        store.close()
        # faults off, records fixed, one clean pass, then one more to check stability
        national.create_faults, source.link_faults = [], []
        for local_id, record in source.records.items():
            if record["text"] == "BAD":
                source.touch(local_id, text="diperbaiki")
        for _ in range(2):
            store = Store(db)
            report = Engine(store, {"fake": source}, {"acct": national}).sync()
            store.close()
            assert report.ok, report
        store = Store(db)
        try:
            doubts = store.in_doubt("fake")
            if tag_search:
                assert doubts == []
            for doubt in doubts:  # the operator's indoubt resolve
                found = national.carrying(doubt.tag)
                decision = f"tracking:{found[0].id}" if found else "not_created"
                with store.atomic():
                    store.decide(doubt.id, decision)
        finally:
            store.close()
        store = Store(db)
        report = Engine(store, {"fake": source}, {"acct": national}).sync()
        store.close()
        assert report.ok, report
        store = Store(db)
        try:
            for local_id, record in source.records.items():
                found = national.carrying(f"ext-fake-{local_id}")
                assert len(found) == 1, (local_id, found)
                mapping = store.mapping("fake", local_id)
                assert mapping is not None and mapping.national_id == found[0].id
                assert record["link"] == found[0].id
                assert store.pending_intent("fake", local_id, "create") is None
            assert len(national.complaints) == len(source.records)
            assert store.quarantined("fake") == []
        finally:
            store.close()


def test_plan_rules() -> None:
    from tests.fakes import FakeSource

    source = FakeSource()
    source.touch("a", text="banjir")
    complaint = source.normalize(source.fetch("a"))  # type: ignore[arg-type]
    assert plan(complaint, None) == [Create()]
    assert plan(complaint, Known(intent_pending=True)) == [Recover()]
    linked = complaint.model_copy(update={"national_id": 77})
    assert plan(linked, None) == [Link(77)]
    from bridge.core.plan import fingerprint

    same = Known(national_id=5, fingerprint=fingerprint(complaint), linked=True)
    assert plan(linked.model_copy(update={"national_id": 5}), same) == []
    assert plan(complaint, same) == [WriteBack(5)]  # the app lost the link: write it again
    changed = Known(national_id=5, fingerprint="old", linked=False)
    assert plan(complaint, changed) == [Record(), WriteBack(5)]
