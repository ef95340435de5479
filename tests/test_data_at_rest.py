"""Personal data at rest (issue 16; README, "Security and data protection").

What a create needs only until LAPOR has the complaint is forgotten when it finishes;
a quarantined record's raw copy when it is dropped or resolved; a text of the duplicate
check once the window (and a grace for late records) is over; reports are written 0600.
The real engine runs against the sandboxes, and the database file itself is searched:
what SQL no longer returns must not linger in the file's free space either.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlite_utils import Database
from typer.testing import CliRunner

from bridge.core.model import Complaint, Reporter, Status
from bridge.sync.dedupe import PURGE_STEP, RETENTION, DedupeIndex
from bridge.sync.store import Store, migrations
from cli import app
from tests.harness import World

runner = CliRunner()

SITI = {"nama": "Siti Rahmawati Lubis", "hp": "0812-7788-9911", "nik": "2172014506900003"}
BUDI = {"nama": "Budi Santoso Harahap", "hp": "0813-6655-4422", "nik": "2172011203880005"}
#: how each of Siti's identifiers could be written down: as the app sent it, as LAPOR got it
SITI_MARKS = ("Siti Rahmawati", "0812-7788-9911", "81277889911", "2172014506900003")
SECRET_TEXT = (
    "Rahasia: pungutan liar oleh oknum petugas kelurahan Kemboja setiap pengurusan KK,"
    " saya diminta bayar tiga ratus ribu rupiah."
)
SECRET_WORDS = "oknum petugas kelurahan Kemboja"
SECRET_TITLE = "Pungli pengurusan KK Kemboja"


# --- helpers ----------------------------------------------------------------------------


def at_rest(database: Path) -> bytes:
    """Every byte the state keeps on disk: the database file and its WAL (if any)."""
    files = (database, Path(f"{database}-wal"), Path(f"{database}-journal"))
    return b"".join(f.read_bytes() for f in files if f.exists())


def found_in(database: Path, needle: str) -> set[str]:
    """``table.column`` of every value that holds ``needle`` (what SQL still returns)."""
    conn = sqlite3.connect(database)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        hits: set[str] = set()
        for table in tables:
            for column in [r[1] for r in conn.execute(f"PRAGMA table_info('{table}')")]:
                row = conn.execute(
                    f'SELECT 1 FROM "{table}" WHERE instr(CAST("{column}" AS TEXT), ?) LIMIT 1',
                    (needle,),
                ).fetchone()
                if row is not None:
                    hits.add(f"{table}.{column}")
        return hits
    finally:
        conn.close()


def assert_forgotten(database: Path, *needles: str) -> None:
    data = at_rest(database)
    for needle in needles:
        assert found_in(database, needle) == set(), needle
        assert needle.encode("utf-8") not in data, f"{needle!r} is still in the file"


def telling_reporter(world: World) -> None:
    """``send_reporter``: the create's frozen body carries the reporter's name and phone."""
    text = world.config_path.read_text(encoding="utf-8")
    world.config_path.write_text(
        text.replace("classification_id = 1\n", "classification_id = 1\nsend_reporter = true\n"),
        encoding="utf-8",
    )


def database(world: World) -> Path:
    return Path(world.settings.bridge.database)


def cli(world: World, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["--config", str(world.config_path), *args])
    return result.exit_code, result.output


def days_ago(days: float) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)


def confidential(world: World, *, filed: datetime | None = None) -> str:
    """Siti's confidential complaint in Tanjak; its local id."""
    fields: dict[str, object] = {
        "judul": SECRET_TITLE,
        "isi": SECRET_TEXT,
        "kategori": "kependudukan",
        "pelapor": SITI,
        "rahasia": True,
    }
    if filed is not None:
        fields["dibuat_pada"] = filed
    return str(world.tanjak.add_aduan(**fields)["id"])


# --- creates ------------------------------------------------------------------------------


def test_a_created_complaint_leaves_no_name_phone_nik_or_text_in_the_file(world: World) -> None:
    """Filed eight days ago (past the duplicate check's retention), then created: nothing of
    it is left but ids, statuses and times."""
    telling_reporter(world)
    old = confidential(world, filed=days_ago(8))
    # another citizen's complaint of today: the duplicate check's clock is now
    world.tanjak.add_aduan(isi="Lampu jalan mati di Jl. Pramuka sejak Senin.", pelapor=BUDI)
    assert world.sync().ok
    [national] = world.national_for(old)
    assert national["reporter"]["name"] == SITI["nama"]  # LAPOR got what it was sent
    assert SECRET_WORDS in national["content"]
    db = database(world)
    assert_forgotten(db, *SITI_MARKS, SECRET_WORDS, SECRET_TITLE)
    store = Store(db)
    try:
        payloads = [
            json.loads(r["payload"])
            for r in store._all("SELECT payload FROM intents WHERE local_id = ?", (old,))
        ]
        mapping = store.mapping("tanjak", old)
    finally:
        store.close()
    assert [sorted(p) for p in payloads] == [["summary", "tag"]]  # what the audit reads
    assert payloads[0]["tag"] == f"ext-tanjak-{old}"
    assert payloads[0]["summary"]["confidential"] is True
    assert mapping is not None and mapping.national_id == national["id"]


def test_a_create_in_doubt_keeps_its_body_until_it_is_settled(tmp_path: Path) -> None:
    world = World(tmp_path, capabilities=("tag_search",))
    try:
        telling_reporter(world)
        local_id = confidential(world, filed=days_ago(8))
        world.lapor.faults.inject("drop_after_write", method="POST", path=r"/complaints/complaint$")
        assert world.sync().sources["tanjak"].in_doubt == 1
        db = database(world)
        # in doubt, it may have to be posted again exactly as it was: the body stays, and
        # only there
        for needle in (SECRET_WORDS, SITI["nama"], "+6281277889911"):
            assert found_in(db, needle) == {"intents.payload"}, needle
        store = Store(db)
        try:
            intent = store.pending_intent("tanjak", local_id, "create")
        finally:
            store.close()
        assert intent is not None and SECRET_WORDS in intent.payload["body"]["content"]
        assert SITI["nik"] not in json.dumps(intent.payload)  # never sent, never kept
        report = world.sync()  # found by its tag: settled
        assert report.ok and report.sources["tanjak"].recovered == 1
        assert len(world.national_for(local_id)) == 1
        assert_forgotten(db, *SITI_MARKS, SECRET_WORDS, SECRET_TITLE)
    finally:
        world.stop()


def test_an_operator_resolved_create_forgets_its_body(world: World) -> None:
    local_id = confidential(world, filed=days_ago(8))
    world.lapor.faults.inject("drop_after_write", method="POST", path=r"/complaints/complaint$")
    assert world.sync().sources["tanjak"].in_doubt == 1
    db = database(world)
    assert found_in(db, SECRET_WORDS) == {"intents.payload"}
    [national] = world.lapor.complaint_by_marker(f"[ext-tanjak-{local_id}]")
    code, output = cli(world, "indoubt", "resolve", f"tanjak:{local_id}", "--tracking",
                       f"#{national['id']}")  # fmt: skip
    assert code == 0, output
    assert world.sync().ok
    assert_forgotten(db, SECRET_WORDS, SECRET_TITLE)


def test_a_create_lapor_refuses_is_forgotten_by_its_intent(world: World) -> None:
    """Refused (422): the intent fails and keeps nothing; the quarantine keeps the record
    as the app sent it, for a retry, and only while it is open."""
    local_id = confidential(world)
    world.lapor.faults.inject("422", method="POST", path=r"/complaints/complaint$")
    assert world.sync().sources["tanjak"].quarantined == 1
    db = database(world)
    store = Store(db)
    try:
        [entry] = store.quarantined("tanjak")
        [intent] = store._all("SELECT state, payload FROM intents WHERE local_id = ?", (local_id,))
    finally:
        store.close()
    assert intent["state"] == "failed"
    assert sorted(json.loads(intent["payload"])) == ["summary", "tag"]
    for needle in (SECRET_WORDS, SITI["nama"], SITI["nik"]):
        assert found_in(db, needle) == {"quarantine.raw"}, needle
    assert entry.local_id == local_id


# --- quarantine ---------------------------------------------------------------------------


def test_a_dropped_quarantine_entry_forgets_the_raw_record_and_keeps_the_reason(
    world: World,
) -> None:
    local_id = confidential(world)
    world.lapor.faults.inject("422", method="POST", path=r"/complaints/complaint$")
    world.sync()
    db = database(world)
    assert SITI["nik"].encode() in at_rest(db)  # open: kept for a retry
    store = Store(db)
    try:
        [entry] = store.quarantined("tanjak")
    finally:
        store.close()
    code, output = cli(world, "quarantine", "drop", str(entry.id))
    assert code == 0, output
    assert_forgotten(db, *SITI_MARKS, SECRET_WORDS, SECRET_TITLE)
    store = Store(db)
    try:
        dropped = store.quarantine_entry(entry.id)
        events = [e.kind for e in store.events_for("tanjak", local_id, None)]
    finally:
        store.close()
    assert dropped is not None
    assert (dropped.state, dropped.raw) == ("dropped", "null")
    assert dropped.reason and dropped.reason == entry.reason  # the audit keeps why
    assert (dropped.first_seen, dropped.attempts) == (entry.first_seen, 1)
    assert "quarantine_dropped" in events
    code, output = cli(world, "quarantine", "show", str(entry.id))
    assert code == 0 and SITI["nik"] not in output


def test_a_quarantined_record_that_later_goes_through_forgets_its_raw_copy(world: World) -> None:
    local_id = confidential(world)
    world.lapor.faults.inject("422", method="POST", path=r"/complaints/complaint$")
    world.sync()
    world.tanjak.edit_aduan(int(local_id), judul="Pungli pengurusan KK di kelurahan")
    assert world.sync().ok
    assert len(world.national_for(local_id)) == 1
    db = database(world)
    store = Store(db)
    try:
        [entry] = store._all("SELECT * FROM quarantine WHERE local_id = ?", (local_id,))
    finally:
        store.close()
    assert (entry["state"], entry["raw"]) == ("resolved", "null")
    # the name and NIK were only ever in the raw copy; the text stays in the duplicate
    # check's index for the window (filed today), and nowhere else
    assert_forgotten(db, SITI["nama"], SITI["nik"], "0812-7788-9911")
    assert found_in(db, SECRET_WORDS) == {"dedupe_index.content"}


# --- imports ------------------------------------------------------------------------------


def test_an_imported_complaint_leaves_no_text_once_the_home_app_has_it(
    inbox_world: World,
) -> None:
    world = inbox_world
    filed = world.lapor.file_complaint(
        "Izin bangunan Kabupaten Bintan",
        "Ada bangunan tanpa izin di wilayah Kabupaten Bintan dekat rumah Pak Darmawan Sitepu.",
        "TOPIK LAINNYA",
        "Pemerintah Kota Tanjungpinang",
        reporter={"name": "Darmawan Sitepu", "phone": "+6281399887766"},
    )
    assert world.sync().ok
    assert any(a["lapor_id"] == f"#{filed['id']}" for a in world.tanjak.all_aduan())
    db = database(world)
    assert_forgotten(db, "Darmawan Sitepu", "81399887766", "bangunan tanpa izin")
    store = Store(db)
    try:
        [payload] = [json.loads(r["payload"]) for r in store._all("SELECT payload FROM intents")]
    finally:
        store.close()
    assert payload["complaint"]["status_code"] == filed["status_code"]
    assert sorted(payload["complaint"]) == ["confidential", "created_at", "status_code"]


# --- the duplicate check ----------------------------------------------------------------


def test_the_duplicate_check_keeps_a_text_for_its_window_only(world: World) -> None:
    """Siti filed a week and a day ago and again today: today's text is kept (a record of
    hers through another app may still come), the older one is forgotten."""
    old = world.tanjak.add_aduan(
        isi="Saluran air tersumbat di Jl. Wiratno Kemboja, bau menyengat.",
        kategori="drainase",
        pelapor=SITI,
        dibuat_pada=days_ago(8),
    )
    new = world.tanjak.add_aduan(
        isi="Lampu penerangan jalan padam di Jl. Basuki Rahmat Kemboja.",
        kategori="drainase",
        pelapor=SITI,
    )
    assert world.sync().ok
    db = database(world)
    assert_forgotten(db, "Jl. Wiratno Kemboja")
    assert found_in(db, "Jl. Basuki Rahmat Kemboja") == {"dedupe_index.content"}
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT local_id FROM dedupe_index").fetchall()
    finally:
        conn.close()
    assert rows == [(str(new["id"]),)]
    # the old record changes later: it is not indexed again
    world.tanjak.edit_aduan(old["id"], isi="Saluran air tersumbat di Jl. Wiratno Kemboja, parah.")
    assert world.sync().ok
    assert_forgotten(db, "Jl. Wiratno Kemboja")


PHONE = "+6281234567890"
ROAD = "PEKERJAAN UMUM DAN PENATAAN RUANG/INFRASTRUKTUR JALAN/JALAN BERLUBANG"
POTHOLE = "Jalan berlubang besar di Jl. Ganet depan SD 005, sudah banyak pengendara motor jatuh."
POTHOLE_SMS = "jln ganet dpn SD 005 bolong gede, udh ada yg jatuh"


def record(text: str, at: datetime, *, source: str = "tanjak", local_id: str = "1") -> Complaint:
    return Complaint(
        source=source,
        local_id=local_id,
        title="Pengaduan warga",
        content=text,
        category=ROAD,
        status=Status.SUBMITTED,
        local_status="baru",
        reporter=Reporter(phone=SecretStr(PHONE)),
        region="21.72",
        created_at=at,
        updated_at=at,
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "bridge.db")
    try:
        yield s
    finally:
        s.close()


def indexed(store: Store) -> list[str]:
    rows = store.db.execute("SELECT local_id FROM dedupe_index ORDER BY local_id").fetchall()
    return [str(r[0]) for r in rows]


def test_a_backfill_of_old_records_is_still_compared_within_its_window(store: Store) -> None:
    """The index's clock follows the records it indexes, never past the wall clock: records
    filed a year ago, read today, are compared with those filed within the window of them,
    and the ones a week older go as the backfill moves on."""
    start = datetime.now(UTC) - timedelta(days=365)
    index = DedupeIndex(store)
    assert index.add(record(POTHOLE, start, local_id="1"), national_id=1)
    match = index.find_duplicate(record(POTHOLE_SMS, start + timedelta(days=1), source="ujar"))
    assert match is not None and match.national_id == 1
    assert index.add(record("Lampu jalan mati", start + timedelta(days=3), local_id="2"), 2)
    assert indexed(store) == ["1", "2"]
    assert index.add(
        record("Sampah menumpuk", start + RETENTION + timedelta(days=1), local_id="3"), 3
    )
    assert indexed(store) == ["2", "3"]


def test_a_record_older_than_the_clock_allows_is_not_indexed_even_by_a_new_process(
    store: Store,
) -> None:
    now = datetime.now(UTC)
    assert DedupeIndex(store).add(record(POTHOLE, now, local_id="today"), 1)
    later = DedupeIndex(store)  # the next process: the clock was kept in dedupe_meta
    assert not later.add(record(POTHOLE, now - RETENTION - timedelta(hours=2), local_id="old"), 2)
    assert indexed(store) == ["today"]


def test_the_index_clock_never_runs_ahead_of_the_wall_clock(store: Store) -> None:
    """A record dated in the future (an app's clock ahead) does not purge today's rows."""
    now = datetime.now(UTC)
    index = DedupeIndex(store)
    assert index.add(record(POTHOLE, now - timedelta(days=2), local_id="1"), 1)
    assert index.add(record(POTHOLE_SMS, now + timedelta(days=30), local_id="2"), 2)
    assert indexed(store) == ["1", "2"]


def test_purge_forgets_rows_older_than_the_retention(store: Store) -> None:
    now = datetime.now(UTC)
    index = DedupeIndex(store)
    index.add(record(POTHOLE, now - RETENTION + timedelta(hours=1), local_id="kept"), 1)
    store.db.execute(  # a row an earlier version left behind: no purge then
        "INSERT INTO dedupe_index (national_id, source, local_id, phone_key, category,"
        " created_at, content) VALUES (2, 'tanjak', 'old', 'k', 'c', ?, 'teks lama')",
        ((now - RETENTION - timedelta(hours=1)).isoformat(timespec="microseconds"),),
    )
    assert index.purge(now) == 1
    assert indexed(store) == ["kept"]
    assert index.purge(now + timedelta(hours=2)) == 1
    assert indexed(store) == []


def test_the_purge_runs_once_per_step_of_the_clock_not_per_record(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[datetime | None] = []
    real = DedupeIndex.purge

    def counted(self: DedupeIndex, now: datetime | None = None) -> int:
        calls.append(now)
        return real(self, now)

    monkeypatch.setattr(DedupeIndex, "purge", counted)
    start = datetime.now(UTC) - timedelta(days=30)
    index = DedupeIndex(store)
    for n in range(60):  # one record a minute for an hour: one purge at the first
        index.add(record(POTHOLE, start + timedelta(minutes=n), local_id=str(n)), n)
    assert len(calls) == 1
    index.add(record(POTHOLE, start + PURGE_STEP + timedelta(minutes=1), local_id="x"), 99)
    assert len(calls) == 2


# --- databases of earlier versions --------------------------------------------------------


def test_a_database_of_an_earlier_version_forgets_what_finished_at_its_first_start(
    tmp_path: Path,
) -> None:
    path = tmp_path / "bridge.db"
    db = Database(path)
    migrations.apply(db, stop_before="m008_forget_finished")
    body = {"title": SECRET_TITLE, "content": SECRET_TEXT, "nameUser": SITI["nama"]}
    summary = {"status": "submitted", "confidential": True}
    for local_id, state in (("1", "done"), ("2", "failed"), ("3", "pending")):
        db.execute(
            "INSERT INTO intents (kind, source, local_id, tag, payload, state, created_at,"
            " updated_at) VALUES ('create', 'tanjak', ?, ?, ?, ?, 'now', 'now')",
            (local_id, f"ext-tanjak-{local_id}",
             json.dumps({"tag": f"ext-tanjak-{local_id}", "body": body, "summary": summary}),
             state),
        )  # fmt: skip
    raw = json.dumps({"isi": SECRET_TEXT, "pelapor": SITI})
    for local_id, state in (("4", "dropped"), ("5", "resolved"), ("6", "open")):
        db.execute(
            "INSERT INTO quarantine (source, local_id, raw, reason, state, first_seen,"
            " last_seen) VALUES ('tanjak', ?, ?, 'bad', ?, 'now', 'now')",
            (local_id, raw, state),
        )
    db.conn.commit()
    db.close()
    Store(path).close()  # migrates
    conn = sqlite3.connect(path)
    try:
        intents = dict(conn.execute("SELECT local_id, payload FROM intents").fetchall())
        quarantine = dict(conn.execute("SELECT local_id, raw FROM quarantine").fetchall())
    finally:
        conn.close()
    for local_id in ("1", "2"):
        assert json.loads(intents[local_id]) == {"tag": f"ext-tanjak-{local_id}",
                                                 "summary": summary}  # fmt: skip
    assert json.loads(intents["3"])["body"] == body  # pending: may still be posted
    assert quarantine["4"] == quarantine["5"] == "null"
    assert json.loads(quarantine["6"])["pelapor"]["nik"] == SITI["nik"]  # open: for a retry
    # only the pending create and the open entry still hold the text
    assert at_rest(path).count(SITI["nik"].encode()) == 1


# --- exports ------------------------------------------------------------------------------


@contextmanager
def umask(mask: int) -> Iterator[None]:
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(
    "command",
    [
        ("export", "--format", "csv"),
        ("export", "--format", "json"),
        ("export", "--format", "html"),
        ("report", "sla", "--format", "csv"),
    ],
)
def test_every_export_file_is_created_0600_and_narrowed_when_it_replaces_one(
    world: World, tmp_path: Path, command: tuple[str, ...]
) -> None:
    world.tanjak.add_aduan(isi="Lampu jalan mati di Jl. Pramuka sejak Senin.")
    assert world.sync().ok
    fresh = tmp_path / "out" / "new.report"
    with umask(0o022):
        code, output = cli(world, *command, "--out", str(fresh))
    assert code == 0, output
    assert mode(fresh) == 0o600
    assert fresh.stat().st_size > 0
    old = tmp_path / "old.report"
    old.write_text("x" * 100_000, encoding="utf-8")
    old.chmod(0o644)
    with umask(0o022):
        code, output = cli(world, *command, "--out", str(old))
    assert code == 0, output
    assert mode(old) == 0o600
    assert "x" * 1000 not in old.read_text(encoding="utf-8")


def test_after_a_pass_the_daemon_s_wal_no_longer_holds_a_forgotten_text(store: Store) -> None:
    """The daemon keeps its connections open, so its WAL is not removed between passes: a
    body forgotten in the database would stay readable in the WAL until overwritten.
    ``fold_wal`` (after every pass that moved data) empties it, and never waits."""
    other = sqlite3.connect(store.path)  # another worker's connection keeps the WAL alive
    try:
        other.execute("SELECT COUNT(*) FROM intents").fetchone()
        with store.atomic():
            intent = store.add_intent(
                "create", "tanjak", "1", {"body": {"content": SECRET_TEXT}}, tag="ext-tanjak-1"
            )
        with store.atomic():
            store.finish_intent(intent)
        wal = Path(f"{store.path}-wal")
        assert SECRET_WORDS.encode() in wal.read_bytes()  # what fold_wal is for
        other.execute("BEGIN")
        other.execute("SELECT COUNT(*) FROM intents").fetchone()  # a reader in the way
        assert store.fold_wal() is False  # returns at once; the next pass tries again
        other.execute("COMMIT")
        assert store.fold_wal() is True
        assert wal.stat().st_size == 0
        assert_forgotten(store.path, SECRET_WORDS)
    finally:
        other.close()
