"""The health model (bridge/runtime/health.py) on its own: levels, reasons, exit codes, liveness."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import structlog

from bridge.runtime import logs
from bridge.runtime.health import (
    STOPPED,
    Backlog,
    Level,
    PassState,
    assess,
    oldest_unsynced_seconds,
    sync_exit_code,
)

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
INTERVAL = 60.0


def _ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


def _done(seconds_ago: float = 30, error: str | None = None) -> PassState:
    """A pass that started a minute before it ended, ``seconds_ago``."""
    return PassState(
        started_at=_ago(seconds_ago + 60),
        finished_at=_ago(seconds_ago),
        ok_at=None if error else _ago(seconds_ago),
        last_error=error,
    )


def test_recent_passes_and_nothing_left_is_ok() -> None:
    health = assess({"source tanjak": _done(), "account a": _done()}, {"tanjak": Backlog()},
                    INTERVAL, NOW)  # fmt: skip
    assert health.level == Level.OK and health.reasons == () and health.notes == ()
    assert health.healthy and health.live and health.status_exit_code == 0


def test_a_response_waiting_for_lapor_s_admin_is_waiting_not_pending() -> None:
    backlog = Backlog(waiting_verification=2)
    health = assess({"source tanjak": _done()}, {"tanjak": backlog}, INTERVAL, NOW)
    assert health.level == Level.WAITING
    assert health.healthy and health.live and health.status_exit_code == 0
    assert [r.code for r in health.reasons] == ["verification"]
    assert "waiting for LAPOR's admin" in health.reasons[0].text
    assert sync_exit_code(True, [backlog]) == 0  # bridge.md: waiting never makes exit 1
    assert backlog.waiting() == {"verification": 2, "city": 0, "lapor_close": 0, "photos": 0,
                                 "total": 2}  # fmt: skip


def test_each_kind_of_waiting_is_waiting() -> None:
    for backlog in (Backlog(waiting_city=1), Backlog(waiting_lapor_close=1),
                    Backlog(photos_waiting=1)):  # fmt: skip
        health = assess({"source tanjak": _done()}, {"tanjak": backlog}, INTERVAL, NOW)
        assert health.level == Level.WAITING, backlog
        assert health.status_exit_code == 0


def test_a_conflict_is_an_error_for_status_but_not_for_sync() -> None:
    backlog = Backlog(conflicts=1)
    health = assess({"source tanjak": _done()}, {"tanjak": backlog}, INTERVAL, NOW)
    assert health.level == Level.ERROR and not health.healthy
    assert health.status_exit_code == 1
    assert health.live  # the service works: /healthz stays 200, the details say error
    assert [r.code for r in health.reasons] == ["conflict"]
    assert sync_exit_code(True, [backlog]) == 0  # bridge.md: a conflict alone is reported


def test_refused_drift_and_photos_given_up_are_errors() -> None:
    for backlog, code in ((Backlog(refused=3), "refused"), (Backlog(drift=3), "drift"),
                          (Backlog(photos_given_up=3), "photos_given_up")):  # fmt: skip
        health = assess({"source tanjak": _done()}, {"tanjak": backlog}, INTERVAL, NOW)
        assert health.level == Level.ERROR, code
        assert [r.code for r in health.reasons] == [code]
        assert "3" in health.reasons[0].text


def test_a_follow_up_refused_because_lapor_closed_the_complaint_is_a_note() -> None:
    backlog = Backlog(refused_closed=2)
    health = assess({"source tanjak": _done()}, {"tanjak": backlog}, INTERVAL, NOW)
    assert health.level == Level.OK and health.reasons == ()
    assert health.notes == ("source tanjak: 2 follow-up(s) not posted: the complaint is closed"
                            " on LAPOR",)  # fmt: skip


def test_in_doubt_and_quarantined_are_errors_and_fail_sync() -> None:
    for backlog in (Backlog(in_doubt=1), Backlog(quarantined=2)):
        health = assess({"source tanjak": _done()}, {"tanjak": backlog}, INTERVAL, NOW)
        assert health.level == Level.ERROR and health.live
        assert sync_exit_code(True, [backlog]) == 1


def test_pending_fails_sync_but_is_only_a_note_for_status() -> None:
    backlog = Backlog(pending=4)
    health = assess({"source tanjak": _done()}, {"tanjak": backlog}, INTERVAL, NOW)
    assert health.level == Level.OK and health.status_exit_code == 0
    assert any("4 pending" in note for note in health.notes)
    assert sync_exit_code(True, [backlog]) == 1
    assert sync_exit_code(False, [Backlog()]) == 1  # a failed pass
    assert sync_exit_code(True, [Backlog(), Backlog(waiting_city=3)]) == 0


def test_errors_come_before_waiting_whatever_the_order_found() -> None:
    backlog = Backlog(waiting_verification=1, conflicts=1)
    health = assess({"source tanjak": _done()}, {"tanjak": backlog}, INTERVAL, NOW)
    assert [r.level for r in health.reasons] == [Level.ERROR, Level.WAITING]
    assert health.as_dict()["errors"] == ["source tanjak: 1 status conflict(s): done on one"
                                          " side, rejected on the other"]  # fmt: skip
    assert health.as_dict()["waiting_for"][0].startswith("source tanjak: 1 city response")


def test_a_failed_last_pass_is_an_error_and_not_live() -> None:
    health = assess({"source tanjak": _done(error="LAPOR answered 503")}, {}, INTERVAL, NOW)
    assert health.level == Level.ERROR and not health.live
    assert health.reasons[0].code == "failed" and "LAPOR answered 503" in health.reasons[0].text


def test_a_pass_ended_over_three_intervals_ago_is_stale() -> None:
    fresh = assess({"account a": _done(3 * INTERVAL - 1)}, {}, INTERVAL, NOW)
    assert fresh.level == Level.OK
    stale = assess({"account a": _done(3 * INTERVAL + 1)}, {}, INTERVAL, NOW)
    assert stale.level == Level.ERROR and not stale.live
    assert stale.reasons[0].code == "stale" and stale.reasons[0].subject == "account a"


def test_a_pass_cut_short_by_a_stop_is_not_a_failure() -> None:
    stopped = PassState(started_at=_ago(100), finished_at=_ago(10), ok_at=_ago(200),
                        last_error=STOPPED)  # fmt: skip
    health = assess({"source tanjak": stopped}, {}, INTERVAL, NOW)
    assert stopped.stopped and not stopped.failed
    assert health.level == Level.OK and health.live
    assert any("stopped by a signal" in note for note in health.notes)
    # a daemon left stopped for longer than three intervals is stale all the same
    old = PassState(started_at=_ago(400), finished_at=_ago(300), last_error=STOPPED)
    assert assess({"source tanjak": old}, {}, INTERVAL, NOW).reasons[0].code == "stale"


def test_a_long_pass_that_makes_progress_is_alive() -> None:
    # a first backfill: started an hour ago, no pass ended yet, a record read a second ago
    backfill = PassState(started_at=_ago(3600), progress_at=_ago(1))
    assert backfill.running
    health = assess({"source tanjak": backfill}, {}, INTERVAL, NOW)
    assert health.level == Level.OK and health.live
    assert any("making progress" in note for note in health.notes)
    # a later pass, long past three intervals since the last one ended, still moving
    long = PassState(started_at=_ago(1000), finished_at=_ago(1100), progress_at=_ago(5))
    assert assess({"source tanjak": long}, {}, INTERVAL, NOW).live


def test_a_pass_without_progress_for_three_intervals_is_stuck() -> None:
    stuck = PassState(started_at=_ago(1000), finished_at=_ago(1100), progress_at=_ago(200))
    health = assess({"source tanjak": stuck}, {}, INTERVAL, NOW)
    assert health.level == Level.ERROR and not health.live
    assert health.reasons[0].code == "stuck"
    # seen from another process (no heartbeat): a first pass that never ended nor moved
    silent = PassState(started_at=_ago(1000))
    assert assess({"source tanjak": silent}, {}, INTERVAL, NOW).reasons[0].code == "stuck"


def test_no_pass_yet_is_a_note() -> None:
    health = assess({"source tanjak": None, "account a": PassState()}, {}, INTERVAL, NOW)
    assert health.level == Level.OK
    assert sorted(health.notes) == ["account a: no pass has run yet",
                                    "source tanjak: no pass has run yet"]  # fmt: skip


def test_oldest_unsynced_seconds() -> None:
    assert oldest_unsynced_seconds(Backlog(), NOW) == 0.0
    assert oldest_unsynced_seconds(Backlog(oldest_unsynced_at=_ago(90)), NOW) == 90.0


def test_json_log_lines_carry_the_syslog_priority() -> None:
    stream = io.StringIO()
    logs.configure("debug", "json", stream)
    try:
        log = structlog.get_logger("t")
        log.debug("d")
        log.info("i")
        log.warning("w")
        log.error("e")
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("x")
        log.critical("c")
    finally:
        structlog.reset_defaults()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(r["event"], r["priority"]) for r in lines] == [
        ("d", 7), ("i", 6), ("w", 4), ("e", 3), ("x", 3), ("c", 2)
    ]  # fmt: skip
