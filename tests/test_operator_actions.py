"""Operator actions while ``lapor-bridge run`` runs (issue 17): each is recorded as a request,
carried out by the daemon's next pass, and ``--wait`` prints the result; with no daemon the
command carries it out at once. The daemon is a real subprocess over HTTP sandboxes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bridge.sync.store import Store
from bridge.sync.storeport import EventRow
from cli import app
from tests.harness import World

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()
INSTITUTION = "Pemerintah Kota Tanjungpinang"
CREATE = r"/complaints/complaint$"


class Daemon:
    """``lapor-bridge run`` in a subprocess, polling every half second."""

    def __init__(self, world: World) -> None:
        text = world.config_path.read_text(encoding="utf-8")
        text = text.replace("poll_interval_seconds = 60", "poll_interval_seconds = 0.5")
        world.config_path.write_text(text, encoding="utf-8")
        self.lock = Path(f"{world.settings.bridge.database.resolve()}.lock")
        self.log = (world.tmp / "daemon.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "import cli; cli.main()", "--config", str(world.config_path),
             "run"],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        end = time.monotonic() + 20
        while time.monotonic() < end:  # the lock file names its holder once it holds it
            if self.lock.exists() and self.lock.read_text().strip() == str(self.proc.pid):
                return
            assert self.proc.poll() is None, (world.tmp / "daemon.log").read_text()
            time.sleep(0.05)
        raise AssertionError("the daemon never took the writer lock")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=15)
        self.log.close()


def cli(world: World, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["--config", str(world.config_path), *args])
    return result.exit_code, result.output


def requests_of(world: World) -> list[dict[str, Any]]:
    store = Store(world.settings.bridge.database, readonly=True)
    try:
        return store._all("SELECT * FROM operator_requests ORDER BY id")
    finally:
        store.close()


def mapping(world: World, local_id: int | str) -> dict[str, Any]:
    store = Store(world.settings.bridge.database, readonly=True)
    try:
        row = store.mapping("tanjak", str(local_id))
    finally:
        store.close()
    assert row is not None
    return asdict(row)


def events(world: World, local_id: int | str) -> list[EventRow]:
    store = Store(world.settings.bridge.database, readonly=True)
    try:
        return store.events_for("tanjak", str(local_id), None)
    finally:
        store.close()


# scenarios: set up with in-process passes (no daemon yet), then one command ---------------
@dataclass
class Scenario:
    args: list[str]
    check: Callable[[], None]
    local_id: int


def _synced(world: World, isi: str) -> tuple[int, int]:
    aduan = world.tanjak.add_aduan(isi=isi)
    assert world.sync().ok
    return int(aduan["id"]), int(world.national_for(aduan["id"])[0]["id"])


def _refused_by_lapor(world: World, isi: str, times: int = 1) -> int:
    """A record whose create LAPOR refused (422, ``times`` times): quarantined, not on
    LAPOR. (A pass that sees it in the feed again tries again.)"""
    world.lapor.faults.inject("422", method="POST", path=CREATE, count=times)
    aduan = world.tanjak.add_aduan(isi=isi)
    world.sync()
    store = world.store()
    try:
        assert store.quarantine_open("tanjak", str(aduan["id"]))
    finally:
        store.close()
    return int(aduan["id"])


def quarantine_retry(world: World) -> Scenario:
    local_id = _refused_by_lapor(world, "Lampu jalan mati di Jl. Pramuka sejak seminggu.")
    store = world.store()
    entry = store.quarantined("tanjak")[0].id
    store.close()

    def check() -> None:
        assert len(world.national_for(local_id)) == 1
        assert mapping(world, local_id)["national_id"] == world.national_for(local_id)[0]["id"]

    return Scenario(["quarantine", "retry", str(entry)], check, local_id)


def mapping_link(world: World) -> Scenario:
    _, national_id = _synced(world, "Sampah menumpuk di TPS Jl. Ganet sudah tiga hari.")
    # LAPOR keeps refusing it: the daemon's own passes cannot create it meanwhile
    local_id = _refused_by_lapor(
        world, "Sampah menumpuk di TPS Jl. Ganet, tiga hari tidak diangkut.", times=1000
    )

    def check() -> None:
        row = mapping(world, local_id)
        assert row["national_id"] == national_id and row["duplicate_of"]
        assert world.national_for(local_id) == []  # linked, never created

    return Scenario(["mapping", "link", f"tanjak:{local_id}", f"#{national_id}"], check, local_id)


def mapping_split(world: World) -> Scenario:
    _, national_id = _synced(world, "Sampah menumpuk di TPS Jl. Ganet sudah tiga hari.")
    local_id = _refused_by_lapor(
        world, "Sampah menumpuk di TPS Jl. Ganet, tiga hari tidak diangkut."
    )
    code, out = cli(world, "mapping", "link", f"tanjak:{local_id}", f"#{national_id}")
    assert code == 0, out
    assert mapping(world, local_id)["duplicate_of"]  # merged into the first one

    def check() -> None:
        row = mapping(world, local_id)
        assert row["duplicate_of"] is None and row["national_id"] != national_id
        assert [c["id"] for c in world.national_for(local_id)] == [row["national_id"]]

    return Scenario(["mapping", "split", f"tanjak:{local_id}"], check, local_id)


def resync(world: World) -> Scenario:
    local_id, national_id = _synced(world, "Jalan berlubang di depan pasar Bintan Center.")
    world.lapor.verify(national_id, INSTITUTION)

    def check() -> None:
        assert world.tanjak.aduan(local_id)["status"] == "diverifikasi"
        assert len(world.lapor.complaints()) == 1

    return Scenario(["resync", "--source", "tanjak", "--id", str(local_id)], check, local_id)


def indoubt_resolve(world: World) -> Scenario:
    world.lapor.faults.inject("drop_after_write", method="POST", path=CREATE)
    aduan = world.tanjak.add_aduan(isi="Pohon tumbang menutup Jl. Basuki Rahmat sejak pagi.")
    world.sync()  # no earlier create bounds a scan: in doubt, left to the operator
    local_id = int(aduan["id"])
    (national,) = world.national_for(local_id)

    def check() -> None:
        assert mapping(world, local_id)["national_id"] == national["id"]
        assert len(world.lapor.complaints()) == 1
        decided = [e for e in events(world, local_id) if e.kind == "indoubt_decision"]
        assert len(decided) == 1

    args = ["indoubt", "resolve", f"tanjak:{local_id}", "--tracking", f"#{national['id']}"]
    return Scenario(args, check, local_id)


def _in_conflict(world: World) -> tuple[int, int]:
    local_id, national_id = _synced(world, "Saluran air tersumbat di Jl. Gatot Subroto.")
    world.tanjak.set_status(local_id, "selesai")
    world.lapor.archive(national_id, "Bukan pengaduan.")
    world.sync()
    world.sync()
    assert mapping(world, local_id)["conflict"] == 1
    return local_id, national_id


def conflict_keep_national(world: World) -> Scenario:
    local_id, national_id = _in_conflict(world)

    def check() -> None:
        assert world.tanjak.aduan(local_id)["status"] == "ditolak"
        row = mapping(world, local_id)
        assert (row["conflict"], row["local_canonical"], row["status"]) == (
            0,
            "rejected",
            "rejected",
        )
        assert world.lapor.complaint(national_id)["status_code"] == 90

    args = ["conflict", "resolve", f"tanjak:{local_id}", "--keep", "national"]
    return Scenario(args, check, local_id)


def conflict_keep_local(world: World) -> Scenario:
    local_id, national_id = _in_conflict(world)

    def check() -> None:
        assert world.tanjak.aduan(local_id)["status"] == "selesai"
        assert world.lapor.complaint(national_id)["status_code"] == 90  # LAPOR's, untouched
        row = mapping(world, local_id)
        assert (row["conflict"], row["conflict_kept"], row["status"]) == (0, "local", "done")

    args = ["conflict", "resolve", f"tanjak:{local_id}", "--keep", "local"]
    return Scenario(args, check, local_id)


SCENARIOS = {
    "quarantine_retry": quarantine_retry,
    "mapping_link": mapping_link,
    "mapping_split": mapping_split,
    "resync": resync,
    "indoubt_resolve": indoubt_resolve,
    "conflict_resolve_national": conflict_keep_national,
    "conflict_resolve_local": conflict_keep_local,
}


@pytest.fixture
def daemon_for(world: World) -> Iterator[Callable[[], Daemon]]:
    started: list[Daemon] = []

    def start() -> Daemon:
        started.append(Daemon(world))
        return started[-1]

    yield start
    for run in started:
        run.close()


def _action(name: str) -> str:
    return "conflict_resolve" if name.startswith("conflict") else name


def _audited(world: World, scenario: Scenario, request: dict[str, Any]) -> None:
    kinds = [
        (e.kind, json.loads(e.detail or "{}").get("request"))
        for e in events(world, scenario.local_id)
    ]
    assert ("operator_request", request["id"]) in kinds
    assert ("operator_request_done", request["id"]) in kinds


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_while_the_daemon_runs_it_is_queued_and_carried_out_by_its_next_pass(
    world: World, daemon_for: Callable[[], Daemon], name: str
) -> None:
    scenario = SCENARIOS[name](world)
    daemon_for()
    code, out = cli(world, *scenario.args, "--wait", "--timeout", "30")
    assert code == 0, out
    assert "queued: the running daemon will carry it out at its next pass, request #" in out
    assert "done (request #" in out
    request = requests_of(world)[-1]
    assert request["action"] == _action(name)
    assert (request["state"], request["carried_out_by"]) == ("done", "pass")
    assert request["requested_by"] and request["requested_at"] and request["finished_at"]
    scenario.check()
    _audited(world, scenario, request)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_with_no_daemon_the_command_does_it_at_once(world: World, name: str) -> None:
    scenario = SCENARIOS[name](world)
    # indoubt resolve records a decision for the next pass (bridge.md); --wait has the
    # command act on it at once when no daemon runs
    extra = ["--wait"] if name == "indoubt_resolve" else []
    code, out = cli(world, *scenario.args, *extra)
    assert code == 0, out
    assert "queued" not in out and "done (request #" in out
    request = requests_of(world)[-1]
    assert (request["state"], request["carried_out_by"]) == ("done", "command")
    scenario.check()
    _audited(world, scenario, request)


def test_queued_without_wait_returns_at_once_and_the_daemon_still_does_it(
    world: World, daemon_for: Callable[[], Daemon]
) -> None:
    scenario = conflict_keep_national(world)
    daemon_for()
    code, out = cli(world, *scenario.args)
    assert code == 0 and "queued: the running daemon" in out and "done" not in out
    end = time.monotonic() + 30
    while requests_of(world)[-1]["state"] != "done":
        assert time.monotonic() < end, requests_of(world)
        time.sleep(0.2)
    scenario.check()


def test_a_kept_local_conflict_is_not_flagged_again_by_later_passes(
    world: World, daemon_for: Callable[[], Daemon]
) -> None:
    scenario = conflict_keep_local(world)
    daemon_for()
    assert cli(world, *scenario.args, "--wait", "--timeout", "30")[0] == 0
    time.sleep(2.0)  # several passes of the source and the account
    scenario.check()
    flagged = [e for e in events(world, scenario.local_id) if e.kind == "status_conflict"]
    assert len(flagged) == 1  # the first sighting only
    _, out = cli(world, "export", "--format", "json")
    (row,) = [r for r in json.loads(out) if r["local_id"] == str(scenario.local_id)]
    assert "conflict" not in row["problem"] and "kept local by operator" in row["problem"]


def test_wait_times_out_with_exit_3_and_a_failure_exits_1(
    world: World, daemon_for: Callable[[], Daemon]
) -> None:
    scenario = conflict_keep_national(world)
    run = daemon_for()
    run.proc.send_signal(signal.SIGSTOP)  # the daemon holds the lock, makes no pass
    try:
        code, out = cli(world, *scenario.args, "--wait", "--timeout", "1")
        assert code == 3, out
        assert "not finished within 1 s" in out and "queued" in out
    finally:
        run.proc.send_signal(signal.SIGCONT)
    # a link to a complaint LAPOR does not know: carried out by the daemon, failed
    code, out = cli(world, "mapping", "link", f"tanjak:{scenario.local_id}", "#999999999",
                    "--wait", "--timeout", "30")  # fmt: skip
    assert code == 1, out
    assert "failed (request #" in out


def test_a_conflict_resolve_on_a_record_not_in_conflict_records_nothing(world: World) -> None:
    local_id, _ = _synced(world, "Jalan berlubang di depan pasar Bintan Center.")
    code, out = cli(world, "conflict", "resolve", f"tanjak:{local_id}", "--keep", "local")
    assert code == 1 and "not in conflict" in out
    assert requests_of(world) == []
    code, out = cli(world, "conflict", "resolve", f"tanjak:{local_id}", "--keep", "both")
    assert code == 2
