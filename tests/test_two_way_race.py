"""The source's pass and the account's run on their own workers: the account's pass may
write LAPOR's status into the app, and the source's pass record the city's word meanwhile,
between the account's plan and its commit. Each pass keeps its own side's news and takes
the other's as recorded at its commit, so a conflict met by the two passes at once is still
a conflict (bridge.md: ``done`` against ``rejected``). The other order (the account's pass
committing between the source's read of the pair and its commit) is rare: a changed
record's pass writes the pair's row before it reads it, in a transaction it holds until its
plan is committed (SQLite's write lock, PostgreSQL's row lock), so the account's commit
waits; tests/test_twoway_plan.py states the rule for both sides."""

from __future__ import annotations

from pathlib import Path

from bridge.core.model import Status
from tests.harness import World, open_engine


def _source_pass(world: World) -> None:
    with open_engine(world.config_path) as engine:
        assert engine.sync_source("tanjak").ok


def _account_pass(world: World) -> None:
    with open_engine(world.config_path) as engine:
        assert engine.sync_account("tanjungpinang").ok


def _synced(world: World, isi: str) -> tuple[int, int]:
    aduan = world.tanjak.add_aduan(isi=isi)
    world.sync()
    return aduan["id"], world.national_for(aduan["id"])[0]["id"]


def _conflict(world: World, local_id: int, national_id: int) -> tuple[int, list[str]]:
    store = world.store()
    try:
        mapping = store.mapping("tanjak", str(local_id))
        events = [e.kind for e in store.events_for("tanjak", str(local_id), national_id)]
    finally:
        store.close()
    assert mapping is not None
    return mapping.conflict, events


def test_the_city_closing_while_lapors_rejection_is_written_back_is_a_conflict(
    world: World,
) -> None:
    local_id, national_id = _synced(world, "Sampah menumpuk di TPS Jl. Ganet sudah tiga hari.")
    world.lapor.archive(national_id, "Bukan pengaduan.")
    done: list[bool] = []
    with open_engine(world.config_path) as engine:
        city = engine.sources["tanjak"]
        real = city.set_status

        def set_status(local: str, status: Status) -> None:
            real(local, status)
            if not done:  # after the bridge's write: the app shows the city's word
                done.append(True)
                world.tanjak.set_status(local_id, "selesai")
                _source_pass(world)  # the source's worker sees it and commits

        city.set_status = set_status  # type: ignore[method-assign]
        assert engine.sync_account("tanjungpinang").ok
    assert done, "the account's pass wrote no status into the app"
    world.sync()
    world.sync()
    assert world.tanjak.aduan(local_id)["status"] == "selesai"
    assert world.lapor.complaint(national_id)["status_code"] == 90
    conflict, events = _conflict(world, local_id, national_id)
    assert conflict == 1
    assert events.count("status_conflict") == 1


def test_the_two_passes_one_after_the_other_record_the_same(tmp_path: Path) -> None:
    """The same two moves without any overlap: the conflict the tests above expect."""
    world = World(tmp_path)
    try:
        local_id, national_id = _synced(world, "Selokan tersumbat di Jl. Merdeka, meluap.")
        world.lapor.archive(national_id, "Bukan pengaduan.")
        world.tanjak.set_status(local_id, "selesai")
        world.sync()
        world.sync()
        conflict, events = _conflict(world, local_id, national_id)
        assert conflict == 1
        assert events.count("status_conflict") == 1
    finally:
        world.stop()
