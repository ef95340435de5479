"""The health model over real HTTP (sandboxes): status, sync's exit code, /healthz,
/metrics and the daemon's log lines tell the same story (issue 17, "Honest status")."""

from __future__ import annotations

import json
import signal
import time
from typing import Any

import httpx
from typer.testing import CliRunner

from bridge.runtime.health import STOPPED
from cli import app
from tests.harness import World
from tests.test_daemon import Run

INSTITUTION = "Pemerintah Kota Tanjungpinang"
runner = CliRunner()


def _cli(world: World, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["--config", str(world.config_path), *args])
    return result.exit_code, result.output


def _status(world: World) -> tuple[int, dict[str, Any]]:
    code, out = _cli(world, "status", "--json")
    return code, json.loads(out)


def _synced(world: World) -> tuple[int, int]:
    aduan = world.tanjak.add_aduan(isi="Sampah menumpuk di TPS Jl. Ganet sudah tiga hari.")
    assert world.sync().ok
    return aduan["id"], world.national_for(aduan["id"])[0]["id"]


def _codes(state: dict[str, Any]) -> list[str]:
    return [r["code"] for r in state["reasons"]]


def test_a_response_waiting_for_verification_is_waiting_sync_and_status_exit_0(
    world: World,
) -> None:
    local_id, national_id = _synced(world)
    world.tanjak.respond(local_id, "DLH", "Laporan diterima, tim akan ke lokasi.")
    code, out = _cli(world, "sync")
    assert code == 0, out  # the response waits on LAPOR's admin: waiting, not pending
    code, state = _status(world)
    assert code == 0 and state["healthy"] is True and state["health"] == "waiting", state
    tanjak = state["sources"]["tanjak"]
    assert tanjak["pending"] == 0 and tanjak["waiting"]["verification"] == 1
    assert tanjak["health"] == "waiting"
    assert _codes(state) == ["verification"]
    assert "waiting for LAPOR's admin" in state["waiting_for"][0]
    world.lapor.verify(national_id, INSTITUTION)
    code, _ = _cli(world, "sync")
    assert code == 0
    code, state = _status(world)
    assert code == 0 and state["health"] == "ok", state
    assert len(world.lapor.followups(national_id, disposition_events=False)) == 1


def test_a_conflict_is_an_error_for_status_and_reported_by_sync(world: World) -> None:
    local_id, national_id = _synced(world)
    world.lapor.archive(national_id, "Bukan pengaduan.")
    world.tanjak.set_status(local_id, "selesai")
    world.sync()
    code, out = _cli(world, "sync")
    assert code == 0, out  # bridge.md: a status conflict alone does not count
    code, state = _status(world)
    assert code == 1 and state["healthy"] is False and state["health"] == "error"
    assert "conflict" in _codes(state)
    assert state["sources"]["tanjak"]["conflicts"] == 1
    assert any("status conflict" in p for p in state["problems"])


def test_a_follow_up_lapor_refused_is_an_error(world: World) -> None:
    local_id, national_id = _synced(world)
    world.lapor.verify(national_id, INSTITUTION)
    assert world.sync().ok
    world.lapor.faults.inject("422", method="POST", path=r"/complaints/followup/add$")
    world.tanjak.respond(local_id, "DLH", "Sampah sudah kami angkut pagi ini.")
    code, out = _cli(world, "sync")
    assert code == 0, out  # refused: nothing the bridge could retry, nothing pending
    code, state = _status(world)
    assert code == 1 and state["health"] == "error", state
    assert _codes(state) == ["refused"]
    assert state["sources"]["tanjak"]["refused"] == 1


def test_a_clean_sigterm_leaves_status_not_degraded(world: World) -> None:
    for n in range(30):
        world.tanjak.add_aduan(isi=f"Sampah menumpuk di gang {n} Jl. Ganet, belum diangkut.")
    # each create takes 1 s: with max_in_flight creates at a time, the pass lasts several
    world.lapor.faults.chaos(1.0, ("latency",), seconds=1.0)
    run = Run(world, interval=30.0)
    try:
        run.wait_for("READY=1")
        end = time.monotonic() + 15
        while not world.lapor.complaints() and time.monotonic() < end:
            run.drain(0.1)  # mid-pass: the first creates have landed, the rest under way
        run.proc.send_signal(signal.SIGTERM)
        assert run.proc.wait(timeout=12) == 0
    finally:
        run.close()
    world.lapor.faults.clear()
    store = world.store()
    try:
        row = store.passes()["source:tanjak"]
    finally:
        store.close()
    assert row.last_error == STOPPED  # the stop did cut the pass short
    assert 0 < len(world.lapor.complaints()) < 30
    code, state = _status(world)
    assert code == 0 and state["healthy"] is True, state
    assert state["health"] == "ok" and not state["problems"]
    assert any("stopped by a signal" in n for n in state["notes"])
    assert world.sync().ok  # and the next pass goes on where the stop left it
    assert len(world.lapor.complaints()) == 30


def _healthz(run: Run, want: int, seconds: float, stale: str | None = None) -> httpx.Response:
    """Wait for /healthz to answer ``want`` (naming ``stale`` among the stale), reading
    the notify socket meanwhile (as systemd would: a full one blocks the daemon)."""
    end = time.monotonic() + seconds
    last: httpx.Response | None = None
    while time.monotonic() < end:
        try:
            last = run.get("/healthz")
        except httpx.TransportError:
            last = None
        named = last is not None and (stale is None or stale in last.json().get("stale", []))
        if last is not None and last.status_code == want and named:
            return last
        run.drain(0.2)
    raise AssertionError(f"/healthz never answered {want} (last {last and last.text})")


def test_healthz_stays_200_through_a_long_pass_and_503_when_stuck(world: World) -> None:
    for n in range(120):
        world.tanjak.add_aduan(isi=f"Lampu jalan mati di gang {n} Jl. Pramuka sejak seminggu.")
    # each create takes 0.8 s, at most max_in_flight (8) at a time: the first pass lasts
    # about 12 s, far longer than three intervals (3 s)
    world.lapor.faults.inject("latency", method="POST", path=r"/complaints/complaint$",
                              count=1000, seconds=0.8)  # fmt: skip
    run = Run(world, interval=1.0)
    try:
        first = _healthz(run, 200, 15)
        assert first.content == b'{"status": "ok"}'  # bridge.md, exactly
        started = time.monotonic()
        answers: list[int] = []
        while time.monotonic() - started < 6.0:
            answers.append(run.get("/healthz").status_code)
            run.drain(0.25)
        store = world.store()
        try:
            row = store.passes()["source:tanjak"]
        finally:
            store.close()
        assert row.finished_at is None, "the first pass should still be running"
        assert set(answers) == {200}, answers
        details = run.get("/healthz?details").json()
        assert details["status"] == "ok" and details["stale"] == []
        # then the app stops answering the feed: no request, no record, no heartbeat
        world.lapor.faults.clear()
        world.tanjak.faults.inject("hang", method="GET", path=r"/api/aduan$", count=100,
                                   seconds=20)  # fmt: skip
        body = _healthz(run, 503, 30, stale="source:tanjak").json()
        assert body["status"] == "degraded" and body["health"] == "error"
        stuck = [r for r in body["reasons"] if r["subject"] == "source tanjak"]
        assert [r["code"] for r in stuck] == ["stuck"], body
        assert "no progress since" in stuck[0]["text"]
        world.tanjak.faults.clear()
    finally:
        run.close()


def test_metrics_and_logs_of_a_create_in_doubt(world: World) -> None:
    world.lapor.faults.inject("drop_after_write", method="POST", path=r"/complaints/complaint$")
    world.tanjak.add_aduan(isi="Pohon tumbang di Jl. Sei Timun menghalangi kendaraan.")
    run = Run(world, interval=1.0)
    try:
        end = time.monotonic() + 20
        body = ""
        while time.monotonic() < end:
            try:
                body = run.get("/metrics").text
            except httpx.TransportError:
                body = ""
            if 'lapor_bridge_in_doubt{source="tanjak"} 1.0' in body:
                break
            run.drain(0.3)
        assert 'lapor_bridge_in_doubt{source="tanjak"} 1.0' in body
        run.drain(1.1)
        body = run.get("/metrics").text
    finally:
        run.proc.send_signal(signal.SIGTERM)
        run.proc.wait(timeout=12)
        run.close()
    lines = {line.split(" ")[0]: line.split(" ")[1] for line in body.splitlines()
             if line and not line.startswith("#")}  # fmt: skip
    assert lines['lapor_bridge_build_info{version="0.1.0"}'] == "1.0"
    assert float(lines['lapor_bridge_oldest_unsynced_seconds{source="tanjak"}']) >= 1.0
    assert lines['lapor_bridge_health{level="error"}'] == "1.0"
    assert lines['lapor_bridge_health{level="ok"}'] == "0.0"
    assert lines['lapor_bridge_waiting{reason="verification",source="tanjak"}'] == "0.0"
    assert lines['lapor_bridge_errors{reason="conflict",source="tanjak"}'] == "0.0"
    assert any(k.startswith('lapor_bridge_pass_duration_seconds_count{kind="source",name="tanjak"}')
               for k in lines)  # fmt: skip
    # the daemon's JSON log lines say their syslog priority (journalctl -p warning)
    logged = [
        json.loads(line)
        for line in (world.tmp / "daemon.log").read_text(encoding="utf-8").splitlines()
        if line.startswith("{")
    ]
    assert logged, "the daemon logged nothing"
    priorities = {"warning": 4, "error": 3, "info": 6, "debug": 7, "critical": 2}
    assert all(r["priority"] == priorities[r["level"]] for r in logged), logged
    assert any(r["event"] == "create_answer_lost" and r["priority"] == 4 for r in logged)
