"""``indoubt list|resolve``, in-doubt records in ``status`` and ``/metrics``, and the LAPOR
profile ``status`` and ``config check`` show (bridge.md, Commands; lapor.md, Recovery)."""

from __future__ import annotations

import getpass
import json
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bridge.runtime.service import DatabaseLock
from bridge.sync.store import Store
from cli import app
from tests.harness import World

runner = CliRunner()

#: bridge.md: every TIME the commands print is RFC 3339 (with its offset)
RFC3339 = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})"
ACCOUNT = "tanjungpinang"


def config_text(database: Path, capabilities: tuple[str, ...] = ()) -> str:
    listed = ", ".join(f'"{c}"' for c in capabilities)
    return f"""
[bridge]
database = "{database}"
poll_interval_seconds = 60
http_listen = ""
log_format = "json"
log_level = "warning"

[lapor]
base_url = "http://127.0.0.1:9"
capabilities = [{listed}]

[lapor.accounts.{ACCOUNT}]
api_secret = "secret"
token = "{{6f1c2a9e-1b7d-4c1e-9d51-2b1f0c7e8a11}}"
user_id = 100001
institution = "Pemerintah Kota Tanjungpinang"
home_source = "tanjak"

[sources.tanjak]
kind = "tanjak"
account = "{ACCOUNT}"
base_url = "http://127.0.0.1:9"
api_key = "key"
location_id = 34
classification_id = 1

[sources.tanjak.categories]
"*" = 1001
"""


class Bed:
    """A configuration and a database prepared through the store, no remote system."""

    def __init__(self, tmp: Path, capabilities: tuple[str, ...] = ()) -> None:
        self.database = tmp / "bridge.db"
        self.config = tmp / "config.toml"
        self.config.write_text(config_text(self.database, capabilities), encoding="utf-8")

    def cli(self, *args: str) -> tuple[int, str]:
        result = runner.invoke(app, ["--config", str(self.config), *args])
        return result.exit_code, result.output

    def store(self) -> Store:
        return Store(self.database)

    def create_in_doubt(
        self, local_id: str, evidence: str | None = None, timeout: float = 120
    ) -> int:
        """A create sent whose answer was lost (lapor.md, Recovery)."""
        tag = f"ext-tanjak-{local_id}"
        store = self.store()
        try:
            with store.atomic():
                intent = store.add_intent(
                    "create",
                    "tanjak",
                    local_id,
                    {"tag": tag, "summary": {}, "body": {"title": "Lampu jalan mati"}},
                    tag=tag,
                )
                store.create_sending(intent, ACCOUNT, timedelta(seconds=timeout))
                store.create_lost(intent, "LAPOR did not answer within 120 s")
                if evidence is not None:
                    store.note_evidence(intent, evidence)
        finally:
            store.close()
        return intent

    def followup_in_doubt(self, local_id: str, national_id: int = 9165000) -> int:
        """A follow-up posted to LAPOR whose answer was lost."""
        store = self.store()
        try:
            with store.atomic():
                store.add_followup(
                    source="tanjak",
                    local_id=local_id,
                    national_id=national_id,
                    direction="to_national",
                    origin_id=f"r-{local_id}",
                    content="Sudah kami perbaiki, terima kasih.",
                )
                row = store.pending_followups("to_national", "tanjak", local_id)[0].id
                store.followup_attempt(row, "answer lost: LAPOR did not answer")
        finally:
            store.close()
        return int(row)

    def intent(self, intent_id: int) -> dict[str, Any]:
        store = self.store()
        try:
            row = store._one("SELECT * FROM intents WHERE id = ?", (intent_id,))
        finally:
            store.close()
        assert row is not None
        return row

    def followup(self, row_id: int) -> dict[str, Any]:
        store = self.store()
        try:
            row = store.followup_row(row_id)
        finally:
            store.close()
        assert row is not None
        return asdict(row)

    def decisions(self) -> list[dict[str, Any]]:
        store = self.store()
        try:
            rows = store._all("SELECT * FROM events WHERE kind = 'indoubt_decision' ORDER BY id")
        finally:
            store.close()
        return [{**row, "detail": json.loads(row["detail"])} for row in rows]


@pytest.fixture
def bed(tmp_path: Path) -> Bed:
    return Bed(tmp_path)


# indoubt list ---------------------------------------------------------------


def test_list_shows_creates_and_followups_with_what_was_tried(bed: Bed) -> None:
    bed.create_in_doubt("12", evidence="no scan: no create of this account answered before")
    row = bed.followup_in_doubt("13")
    code, out = bed.cli("indoubt", "list")
    assert code == 0, out
    assert re.search(rf"create tanjak:12\n  since: +{RFC3339}, 1 attempt\(s\)\n", out), out
    assert "no scan: no create of this account answered before" in out
    assert "LAPOR did not answer within 120 s" in out
    assert "lapor-bridge indoubt resolve tanjak:12 --tracking '#N'" in out
    assert "lapor-bridge indoubt resolve tanjak:12 --not-created" in out
    assert re.search(
        rf"follow-up f{row}  tanjak:13 → #9165000 \(followup\)\n  since: +{RFC3339}", out
    )
    assert all(len(line) <= 80 for line in out.splitlines()), out
    assert f"lapor-bridge indoubt resolve f{row} --posted" in out
    assert "answer lost: LAPOR did not answer" in out
    assert re.search(r"decision: +none", out)


def test_list_json_shape(bed: Bed) -> None:
    bed.create_in_doubt("12", evidence="scan #100–#104: 3 ids read, none carries the marker")
    row = bed.followup_in_doubt("13")
    code, out = bed.cli("indoubt", "list", "--json")
    assert code == 0, out
    listing = json.loads(out)
    create, followup = listing["in_doubt"]
    assert listing["imports_in_doubt"] == {}
    assert create["type"] == "create" and create["id"] == create["record"] == "tanjak:12"
    assert (create["source"], create["local_id"], create["attempts"]) == ("tanjak", "12", 1)
    assert create["account"] == ACCOUNT and create["tag"] == "ext-tanjak-12"
    assert re.fullmatch(RFC3339, create["since"]) and re.fullmatch(
        RFC3339, create["may_apply_until"]
    )
    assert create["tried"] == "scan #100–#104: 3 ids read, none carries the marker"
    assert create["last_error"] == "LAPOR did not answer within 120 s"
    assert create["decision"] is None and create["next_pass"]
    assert followup["type"] == "followup" and followup["id"] == f"f{row}"
    assert followup["record"] == "tanjak:13" and followup["tracking_id"] == "#9165000"
    assert re.fullmatch(RFC3339, followup["since"]) and followup["attempts"] == 1


def test_list_empty_database(bed: Bed) -> None:
    bed.store().close()
    code, out = bed.cli("indoubt", "list")
    assert code == 0 and "nothing in doubt" in out
    code, out = bed.cli("indoubt", "list", "--json")
    assert code == 0 and json.loads(out) == {"in_doubt": [], "imports_in_doubt": {}}


def test_list_never_creates_a_database(bed: Bed) -> None:
    code, out = bed.cli("indoubt", "list")
    assert code == 1 and "no database" in out
    assert not bed.database.exists()
    code, out = bed.cli("indoubt", "resolve", "tanjak:12", "--not-created")
    assert code == 1 and not bed.database.exists()


def test_list_neutralises_text_for_the_terminal(bed: Bed) -> None:
    bed.create_in_doubt("1\x1b[2J2", evidence="tag search failed (\x1b]0;owned\x07HTTP 500)\nx")
    code, out = bed.cli("indoubt", "list")
    assert code == 0
    assert "\x1b" not in out and "\x07" not in out
    assert "tag search failed" in out
    code, out = bed.cli("indoubt", "list", "--json")
    assert "\x1b" not in out  # JSON escapes it
    assert json.loads(out)["in_doubt"][0]["local_id"] == "1\x1b[2J2"


def test_a_create_never_sent_is_not_in_doubt(bed: Bed) -> None:
    store = bed.store()
    with store.atomic():
        store.add_intent("create", "tanjak", "20", {"tag": "ext-tanjak-20"}, tag="ext-tanjak-20")
    store.close()
    code, out = bed.cli("indoubt", "list", "--json")
    assert json.loads(out)["in_doubt"] == []
    code, out = bed.cli("indoubt", "resolve", "tanjak:20", "--not-created")
    assert code == 1 and "has not been sent yet" in out


# indoubt resolve: creates ----------------------------------------------------


@pytest.mark.parametrize("given", ["#9165024", "9165024"])
def test_resolve_tracking_records_the_decision_and_audits_it(bed: Bed, given: str) -> None:
    intent = bed.create_in_doubt("12")
    code, out = bed.cli("indoubt", "resolve", "tanjak:12", "--tracking", given)
    assert code == 0, out
    assert "#9165024" in out and "next pass" in out
    assert bed.intent(intent)["decision"] == "tracking:9165024"
    (event,) = bed.decisions()
    assert (event["source"], event["local_id"], event["national_id"]) == ("tanjak", "12", 9165024)
    assert event["detail"]["decision"] == "tracking:9165024"
    assert event["detail"]["by"] == getpass.getuser()
    assert re.fullmatch(RFC3339, event["at"])
    code, out = bed.cli("indoubt", "list", "--json")
    (row,) = json.loads(out)["in_doubt"]
    assert row["decision"] == "tracking:9165024" and row["decided_by"] == getpass.getuser()
    code, out = bed.cli("indoubt", "list")
    assert "found on LAPOR as #9165024" in out and "mapped to it" in out


def test_resolve_not_created(bed: Bed) -> None:
    intent = bed.create_in_doubt("12", timeout=0)
    code, out = bed.cli("indoubt", "resolve", "tanjak:12", "--not-created")
    assert code == 0, out
    assert "posted to LAPOR again" in out
    assert bed.intent(intent)["decision"] == "not_created"
    (event,) = bed.decisions()
    assert event["national_id"] is None
    assert event["detail"] == {"decision": "not_created", "by": getpass.getuser()}


def test_resolve_not_created_warns_while_lapor_may_still_apply_it(bed: Bed) -> None:
    bed.create_in_doubt("12", timeout=3600)
    code, out = bed.cli("indoubt", "resolve", "tanjak:12", "--not-created")
    assert code == 0 and "may still apply the earlier create" in out


def test_a_later_decision_replaces_the_earlier_one_and_both_are_audited(bed: Bed) -> None:
    intent = bed.create_in_doubt("12")
    assert bed.cli("indoubt", "resolve", "tanjak:12", "--not-created")[0] == 0
    code, out = bed.cli("indoubt", "resolve", "tanjak:12", "--tracking", "#9165024")
    assert code == 0 and "replaces" in out
    assert bed.intent(intent)["decision"] == "tracking:9165024"
    first, second = bed.decisions()
    assert first["detail"]["decision"] == "not_created"
    assert second["detail"]["replaces"] == "not_created"


@pytest.mark.parametrize(
    "args",
    [
        ["tanjak:12"],
        ["tanjak:12", "--tracking", "#9165024", "--not-created"],
        ["tanjak:12", "--posted"],
        ["tanjak:12", "--tracking", "#91650x4"],
        ["tanjak:12", "--tracking", "#0"],
        ["f1", "--tracking", "#9165024"],
        ["f1", "--not-created"],
        ["f1"],
        ["f1", "--posted", "--not-posted"],
        ["tanjak", "--not-created"],
        ["17", "--posted"],
    ],
)
def test_resolve_usage_errors_exit_2(bed: Bed, args: list[str]) -> None:
    intent = bed.create_in_doubt("12")
    code, out = bed.cli("indoubt", "resolve", *args)
    assert code == 2, out
    assert "Usage" in out
    assert bed.intent(intent)["decision"] is None and bed.decisions() == []


def test_resolve_exit_1_when_not_in_doubt(bed: Bed) -> None:
    bed.create_in_doubt("12")
    code, out = bed.cli("indoubt", "resolve", "tanjak:99", "--not-created")
    assert code == 1 and "tanjak:99 has no create in doubt" in out
    code, out = bed.cli("indoubt", "resolve", "other:12", "--tracking", "#1")
    assert code == 1
    store = bed.store()
    with store.atomic():
        store.insert_mapping(source="tanjak", local_id="30", national_id=9165030)
    store.close()
    code, out = bed.cli("indoubt", "resolve", "tanjak:30", "--tracking", "#9165030")
    assert code == 1 and "mapped to #9165030" in out
    assert bed.decisions() == []


def test_resolve_refuses_a_tracking_id_of_another_record(bed: Bed) -> None:
    intent = bed.create_in_doubt("12")
    store = bed.store()
    with store.atomic():
        store.insert_mapping(source="tanjak", local_id="30", national_id=9165030)
    store.close()
    code, out = bed.cli("indoubt", "resolve", "tanjak:12", "--tracking", "#9165030")
    assert code == 1 and "tanjak:30" in out
    assert bed.intent(intent)["decision"] is None and bed.decisions() == []


# indoubt resolve: follow-ups -------------------------------------------------


def test_resolve_followup_posted_and_not_posted(bed: Bed) -> None:
    row = bed.followup_in_doubt("13")
    code, out = bed.cli("indoubt", "resolve", f"f{row}", "--posted")
    assert code == 0, out
    assert "without posting" in out
    assert bed.followup(row)["decision"] == "posted"
    code, out = bed.cli("indoubt", "resolve", f"f{row}", "--not-posted")
    assert code == 0 and "without looking first" in out
    assert bed.followup(row)["decision"] == "not_posted"
    first, second = bed.decisions()
    assert (first["source"], first["local_id"], first["national_id"]) == ("tanjak", "13", 9165000)
    assert first["detail"] == {"decision": "posted", "by": getpass.getuser(), "followup": row}
    assert second["detail"]["decision"] == "not_posted"
    code, out = bed.cli("indoubt", "list", "--json")
    (listed,) = json.loads(out)["in_doubt"]
    assert listed["decision"] == "not_posted" and listed["decided_by"] == getpass.getuser()


def test_resolve_followup_exit_1_when_not_in_doubt(bed: Bed) -> None:
    row = bed.followup_in_doubt("13")
    store = bed.store()
    with store.atomic():
        store.finish_followup(row, "done", remote_id="77")
    store.close()
    code, out = bed.cli("indoubt", "resolve", f"f{row}", "--posted")
    assert code == 1 and "not in doubt" in out
    code, out = bed.cli("indoubt", "resolve", "f999", "--not-posted")
    assert code == 1 and "no follow-up f999" in out
    assert bed.followup(row)["decision"] is None and bed.decisions() == []


def test_a_followup_refused_by_lapor_is_not_in_doubt(bed: Bed) -> None:
    row = bed.followup_in_doubt("13")
    store = bed.store()
    with store.atomic():
        store.followup_attempt(row, "LAPOR refuses: the complaint is not disposed to this agency")
    store.close()
    code, out = bed.cli("indoubt", "resolve", f"f{row}", "--posted")
    assert code == 1 and "not in doubt" in out


# while the daemon runs --------------------------------------------------------


def test_resolve_does_not_need_the_writer_lock(bed: Bed) -> None:
    intent = bed.create_in_doubt("12")
    with DatabaseLock(bed.database):  # as `run` holds it
        code, out = bed.cli("indoubt", "resolve", "tanjak:12", "--not-created")
        assert code == 0, out
        code, out = bed.cli("indoubt", "list")
        assert code == 0
    assert bed.intent(intent)["decision"] == "not_created"


@contextmanager
def writer_busy(database: Path, seconds: float) -> Iterator[None]:
    """Another connection (the daemon in a pass) holds a write transaction for a while."""
    conn = sqlite3.connect(str(database), timeout=30, isolation_level=None, check_same_thread=False)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("UPDATE cursors SET value = value")
    released = threading.Event()

    def release() -> None:
        time.sleep(seconds)
        conn.execute("COMMIT")
        released.set()

    thread = threading.Thread(target=release)
    thread.start()
    try:
        yield
    finally:
        thread.join()
        conn.close()
    assert released.is_set()


def test_resolve_waits_for_a_write_transaction_instead_of_failing(bed: Bed) -> None:
    intent = bed.create_in_doubt("12")
    row = bed.followup_in_doubt("13")
    started = time.monotonic()
    with writer_busy(bed.database, 1.0):
        code, out = bed.cli("indoubt", "resolve", "tanjak:12", "--tracking", "#9165024")
        assert code == 0, out
        assert time.monotonic() - started >= 0.9  # it waited for the writer
    with writer_busy(bed.database, 0.5):
        code, out = bed.cli("indoubt", "resolve", f"f{row}", "--posted")
        assert code == 0, out
    assert bed.intent(intent)["decision"] == "tracking:9165024"
    assert bed.followup(row)["decision"] == "posted"


# status and /metrics -----------------------------------------------------------


def test_status_is_degraded_by_anything_in_doubt(bed: Bed) -> None:
    bed.store().close()
    code, out = bed.cli("status", "--json")
    assert code == 0 and json.loads(out)["sources"]["tanjak"]["in_doubt"] == 0
    row = bed.followup_in_doubt("13")
    code, out = bed.cli("status", "--json")
    state = json.loads(out)
    assert code == 1 and state["healthy"] is False
    assert state["sources"]["tanjak"]["in_doubt"] == 1
    assert any("in doubt" in problem for problem in state["problems"])
    bed.create_in_doubt("12")
    code, out = bed.cli("status", "--json")
    assert code == 1 and json.loads(out)["sources"]["tanjak"]["in_doubt"] == 2
    code, out = bed.cli("status")
    assert code == 1 and "DEGRADED" in out and "indoubt list" in out
    store = bed.store()
    with store.atomic():
        store.finish_followup(row, "done")
    store.close()
    code, out = bed.cli("status", "--json")
    assert json.loads(out)["sources"]["tanjak"]["in_doubt"] == 1


def test_status_json_shows_the_lapor_profile(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    evidenced = Bed(tmp_path / "a")
    evidenced.store().close()
    code, out = evidenced.cli("status", "--json")
    state = json.loads(out)
    for key in ("healthy", "sources", "accounts"):
        assert key in state
    lapor = state["lapor"]
    assert lapor["profile"] == "evidenced" and lapor["capabilities"] == []
    assumptions = " ".join(lapor["assumptions"])
    assert "filed directly on LAPOR" in assumptions and "not pulled" in assumptions
    assert "read by id" in assumptions
    assert "scan of the ids between" in assumptions and "operator" in assumptions
    assert "configured id" in assumptions
    code, out = evidenced.cli("status")
    assert "LAPOR profile: evidenced (no capabilities)" in out
    assert all(len(line) <= 80 for line in out.splitlines()[-12:]), out

    (tmp_path / "b").mkdir()
    extended = Bed(tmp_path / "b", capabilities=("inbox", "tag_search"))
    extended.store().close()
    code, out = extended.cli("status", "--json")
    lapor = json.loads(out)["lapor"]
    assert lapor["profile"] == "extended"
    assert lapor["capabilities"] == ["tag_search", "inbox"]
    assumptions = " ".join(lapor["assumptions"])
    assert "not pulled" not in assumptions and "configured id" in assumptions
    code, out = extended.cli("status")
    assert code == 0
    assert "LAPOR profile: extended (tag_search, inbox)" in out


def test_status_shows_the_view_of_open_complaints_and_unknown_status_names(bed: Bed) -> None:
    store = bed.store()
    with store.atomic():
        for local_id, national_id, fields in [
            ("1", 1001, {"national_canonical": "submitted"}),  # never read since created
            ("2", 1002, {"national_canonical": "verified", "tracked_by": "polling",
                         "last_seen_at": "2026-03-01T01:00:00+00:00"}),
            ("3", 1003, {"national_canonical": "in_progress", "tracked_by": "polling",
                         "last_seen_at": "2026-03-02T01:00:00+00:00"}),
            ("4", 1004, {"national_canonical": "done", "last_seen_at": "2026-01-01T00:00:00+00:00"}),
            ("5", 1005, {"national_canonical": "rejected"}),
            ("6", 1006, {"national_canonical": "submitted", "tracked_by": "inbox"}),
            ("7", 1001, {"duplicate_of": "tanjak:1"}),  # merged: the owner's complaint
        ]:  # fmt: skip
            store.insert_mapping(
                source="tanjak", local_id=local_id, national_id=national_id, **fields
            )
        for national_id in (1002, 1003, 1002):
            store.event("unknown_status_name", "tanjak", "2", national_id, name="Ditinjau Ulang")
    store.close()
    code, out = bed.cli("status", "--json")
    state = json.loads(out)
    assert state["sources"]["tanjak"]["view"] == {
        "open": 3,
        "oldest_seen_at": "2026-03-01T08:00:00+07:00",
        "never_read": 1,
    }
    (unknown,) = state["unknown_status_names"]
    assert unknown["name"] == "Ditinjau Ulang" and unknown["complaints"] == 2
    assert re.fullmatch(RFC3339, unknown["last_seen_at"])
    assert code == 0  # neither makes the bridge degraded
    code, out = bed.cli("status")
    assert all(len(line) <= 80 for line in out.splitlines()), out
    words = " ".join(out.split())  # as read, whatever the wrapping
    assert "read by id: 3 open, oldest view 2026-03-01T08:00:00+07:00 (" in words
    assert "ago), 1 never read" in words
    assert "'Ditinjau Ulang' on 2 complaint(s)" in words


def test_status_text_is_not_read_as_markup(bed: Bed) -> None:
    store = bed.store()
    with store.atomic():
        store.pass_started("source:tanjak", "source")
        store.pass_finished("source:tanjak", "HTTP 500: [bold]boom[/] \x1b[31mred")
        store.event("unknown_status_name", "tanjak", "2", 3, name="[/]\x1b]0;x\x07")
    store.close()
    code, out = bed.cli("status")
    assert code == 1
    assert "[bold]boom[/]" in out and "\x1b" not in out and "\x07" not in out


def test_metrics_count_every_record_in_doubt_per_source(bed: Bed) -> None:
    from bridge.runtime.daemon import Daemon, Worker
    from bridge.sync.engine import SourceReport

    bed.create_in_doubt("12")
    bed.followup_in_doubt("13")
    daemon = Daemon(bed.database, {}, {}, {}, interval=60)
    store = bed.store()
    try:
        daemon._observe(Worker("source", "tanjak"), SourceReport("tanjak"), 0.1, store)
    finally:
        store.close()
    body = daemon.metrics.render().decode()
    assert 'lapor_bridge_in_doubt{source="tanjak"} 2.0' in body
    assert "# HELP lapor_bridge_in_doubt Records in doubt" in body


# config check against LAPOR (the sandbox, over HTTP) ----------------------------


def _world_cli(world: World, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["--config", str(world.config_path), *args])
    return result.exit_code, result.output


def test_config_check_names_the_evidenced_profile_and_probes_reading_only(world: World) -> None:
    code, out = _world_cli(world, "config", "check")
    assert code == 0, out
    assert "lapor: evidenced profile: no capabilities" in out
    assert "lapor.accounts.tanjungpinang: ok" in out and "probe" not in out
    code, out = _world_cli(world, "config", "check", "--probe")
    assert code == 0, out  # what the probe finds is information, not failure
    assert "nothing was written" in out
    for endpoint in ("tag_search", "inbox", "categories"):
        assert re.search(rf"  {endpoint} +HTTP 404: .*\(not configured\)", out), out
    assert world.lapor.complaints() == []


def test_config_check_probe_with_capabilities(tmp_path: Path) -> None:
    world = World(tmp_path, capabilities=("tag_search", "inbox", "mark_completed"))
    try:
        code, out = _world_cli(world, "config", "check", "--probe")
        assert code == 0, out
        assert "lapor: extended profile: capabilities tag_search, inbox, mark_completed" in out
        assert "  tag_search: answered" in out and "  inbox: answered" in out
        assert "mark_completed: a field of a write" in out
        assert re.search(r"  tag_search +answered +\(configured\)", out), out
        assert re.search(r"  inbox +answered +\(configured\)", out), out
        assert re.search(r"  categories +HTTP 404: .*\(not configured\)", out), out
        assert world.lapor.complaints() == []
    finally:
        world.stop()


def test_config_check_names_a_capability_lapor_lacks(world: World) -> None:
    text = world.config_path.read_text(encoding="utf-8")
    world.config_path.write_text(
        text.replace("capabilities = []", 'capabilities = ["inbox"]'), encoding="utf-8"
    )
    result = runner.invoke(app, ["--config", str(world.config_path), "config", "check"])
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)  # an exit, not an uncaught error
    (line,) = [x for x in result.output.splitlines() if x.startswith("lapor.accounts.")]
    assert "'inbox'" in line and "Traceback" not in result.output
    code, out = _world_cli(world, "config", "check", "--probe")
    assert code == 2
    assert re.search(r"  inbox +HTTP 404: .*\(configured\)", out), out


def test_list_counts_imports_in_doubt_that_status_counts(bed: Bed) -> None:
    store = bed.store()
    with store.atomic():
        intent = store.add_intent(
            "import", "tanjak", "lapor-9165001", {}, national_id=9165001, account=ACCOUNT
        )
        store.note_attempt(intent, None)  # posted to the app; its answer was lost
    store.close()
    code, out = bed.cli("indoubt", "list", "--json")
    assert code == 0 and json.loads(out) == {"in_doubt": [], "imports_in_doubt": {"tanjak": 1}}
    code, out = bed.cli("indoubt", "list")
    assert "tanjak: 1 import(s) from LAPOR into the app in doubt" in out
    code, out = bed.cli("status", "--json")
    assert code == 1 and json.loads(out)["sources"]["tanjak"]["in_doubt"] == 1
