"""The state database under an operator's hands (issue 16): read-only copies, a missing or
unreadable file, a database deleted under the daemon, a full disk.

Permissions mean nothing to root, so when the tests run as root the CLI runs as
``nobody`` (a real second user, as an operator's shell is to the service's files).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from bridge.runtime.daemon import Daemon
from bridge.runtime.service import HealthServer, Metrics
from bridge.sync.store import Store
from cli import app
from tests.harness import World
from tests.test_daemon import Run

ROOT = Path(__file__).resolve().parent.parent
NOBODY = 65534
runner = CliRunner()

#: the CLI in a subprocess whose every SQLite connection may not grow its file: SQLite
#: answers SQLITE_FULL ("database or disk is full") exactly as on a full disk. A test-only
#: prelude: the bridge has no knob for it.
DISK_FULL = """
import sqlite3
_connect = sqlite3.connect
def connect(*args, **kwargs):
    conn = _connect(*args, **kwargs)
    conn.execute("PRAGMA max_page_count = 1")  # raised to the file's size, never lower
    return conn
sqlite3.connect = connect
import cli
cli.main()
"""


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONNOUSERSITE": "1",
    }


def _cli_process(
    config: Path, *args: str, other_user: bool = False, code: str = "import cli; cli.main()"
) -> subprocess.CompletedProcess[str]:
    """``lapor-bridge --config CONFIG ARGS`` as a real process; ``other_user`` runs it as
    ``nobody`` (util-linux ``setpriv``) when the tests run as root: permissions bind
    every other user already."""
    prefix: list[str] = []
    if other_user and os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: no other user to run the CLI as")
        prefix = [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    return subprocess.run(
        [*prefix, sys.executable, "-c", code, "--config", str(config), *args],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _cli(config: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["--config", str(config), *args])
    return result.exit_code, result.output


def _listing(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


@pytest.fixture
def shelf() -> Iterator[Path]:
    """A folder outside pytest's (0700) temporary tree, so that ``nobody`` can reach it."""
    folder = Path(tempfile.mkdtemp(prefix="lapor-bridge-ro-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        for path in [folder, *folder.rglob("*")]:
            if not path.is_symlink():
                path.chmod(0o700 if path.is_dir() else 0o600)
        shutil.rmtree(folder)


def _seeded(world: World, complaints: int = 1) -> list[dict[str, Any]]:
    aduan = [
        world.tanjak.add_aduan(isi=f"Lampu jalan mati di gang {n} Jl. Pramuka sejak seminggu.")
        for n in range(complaints)
    ]
    assert world.sync().ok
    return aduan


def _config_for(world: World, database: Path, folder: Path) -> Path:
    text = world.config_path.read_text(encoding="utf-8")
    text = text.replace(str(world.tmp / "bridge.db"), str(database))
    config = folder / "config.toml"
    config.write_text(text, encoding="utf-8")
    config.chmod(0o444)
    return config


# read commands ----------------------------------------------------------------------


def test_a_read_only_copy_is_inspected_by_status_export_and_mapping_show(
    world: World, shelf: Path
) -> None:
    (aduan,) = _seeded(world)
    copy = shelf / "bridge.db"
    shutil.copyfile(world.tmp / "bridge.db", copy)
    assert not Path(f"{world.tmp / 'bridge.db'}-wal").exists()  # closed: the copy is whole
    config = _config_for(world, copy, shelf)
    copy.chmod(0o444)
    shelf.chmod(0o555)
    before = _listing(shelf)

    status = _cli_process(config, "status", "--json", other_user=True)
    assert status.returncode == 0, status.stderr
    assert '"mapped": 1' in status.stdout
    export = _cli_process(config, "export", "--format", "json", other_user=True)
    assert export.returncode == 0, export.stderr
    assert f'"local_id": "{aduan["id"]}"' in export.stdout
    shown = _cli_process(config, "mapping", "show", f"tanjak:{aduan['id']}", other_user=True)
    assert shown.returncode == 0, shown.stderr
    assert f"tanjak:{aduan['id']} ↔ #" in shown.stdout

    # read as it was: not one byte written, no -wal or -shm left next to it
    assert _listing(shelf) == before


def test_a_missing_database_is_one_message_and_is_never_created(world: World) -> None:
    database = world.tmp / "bridge.db"
    for args in (
        ["status"],
        ["status", "--json"],
        ["export", "--format", "csv"],
        ["mapping", "show", "tanjak:1"],
        ["quarantine", "list"],
        ["quarantine", "show", "1"],
        ["indoubt", "list"],
        ["report", "sla"],
        ["indoubt", "resolve", "tanjak:1", "--not-created"],
    ):
        code, out = _cli(world.config_path, *args)
        assert code == 1, (args, out)
        assert f"no database at {database}; has the bridge run?" in out, (args, out)
        assert sorted(p.name for p in world.tmp.iterdir()) == ["config.toml"], args


def test_a_missing_database_through_the_entry_point(world: World) -> None:
    result = _cli_process(world.config_path, "status")
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: no database at {world.tmp / 'bridge.db'};" + (
        " has the bridge run?"
    )
    assert not (world.tmp / "bridge.db").exists()


def test_an_unreadable_folder_or_file_is_one_message(world: World, shelf: Path) -> None:
    _seeded(world)
    closed = shelf / "closed"
    closed.mkdir()
    shutil.copyfile(world.tmp / "bridge.db", closed / "bridge.db")
    closed.chmod(0o700)  # the service's StateDirectory: not the operator's to enter
    if os.geteuid() != 0:
        closed.chmod(0o000)
    config = _config_for(world, closed / "bridge.db", shelf)
    result = _cli_process(config, "status", other_user=True)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"error: cannot read the database at {closed / 'bridge.db'}: Permission denied"
        " (run as the service's user, or give this user read access)"
    )

    closed.chmod(0o755)
    (closed / "bridge.db").chmod(0o000 if os.geteuid() != 0 else 0o600)
    result = _cli_process(config, "export", other_user=True)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().startswith(
        f"error: cannot read the database at {closed / 'bridge.db'}: permission denied"
    )


def test_a_read_does_not_migrate_an_older_schema_and_says_so(world: World) -> None:
    _seeded(world)
    database = world.tmp / "bridge.db"
    conn = sqlite3.connect(database)
    with conn:  # as an earlier version left it: its newest migration not applied yet
        (newest,) = conn.execute(
            "SELECT name FROM _sqlite_migrations ORDER BY rowid DESC LIMIT 1"
        ).fetchone()
        conn.execute("DELETE FROM _sqlite_migrations WHERE name = ?", (newest,))
    conn.close()
    before = hashlib.sha256(database.read_bytes()).hexdigest()
    code, out = _cli(world.config_path, "status")
    assert code == 1
    assert "was written by an older lapor-bridge" in out and newest in out
    assert "run `lapor-bridge sync` once" in out
    assert hashlib.sha256(database.read_bytes()).hexdigest() == before
    conn = sqlite3.connect(database)
    still = conn.execute("SELECT 1 FROM _sqlite_migrations WHERE name = ?", (newest,)).fetchone()
    conn.close()
    assert still is None  # not migrated by a read


# the database deleted or replaced under the daemon --------------------------------


def test_health_sees_the_database_deleted_or_replaced_and_never_recreates_it(
    tmp_path: Path,
) -> None:
    database = tmp_path / "bridge.db"
    Store(database).close()
    daemon = Daemon(database, {}, {}, {}, interval=60)
    opened = database.stat()
    daemon._opened = (opened.st_dev, opened.st_ino)  # as run() records the file it opened
    healthy, details = daemon.health()
    assert healthy and details["health"] == "ok" and "database" not in details

    server = HealthServer("127.0.0.1:0", daemon.health, Metrics())
    server.start()
    try:
        url = "http://{}:{}/healthz".format(*server.address)
        shutil.copyfile(database, tmp_path / "restored.db")
        os.replace(tmp_path / "restored.db", database)  # a backup put over it
        answer = httpx.get(url, timeout=5)
        assert answer.status_code == 503
        assert answer.json()["database"] == (
            f"the database file {database} was replaced while the daemon ran"
        )

        database.unlink()
        answer = httpx.get(url, timeout=5)
        assert answer.status_code == 503
        assert answer.json()["database"] == (
            f"the database file {database} was deleted while the daemon ran"
        )
        assert not database.exists()  # the health check made no new file
    finally:
        server.stop()


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_the_daemon_stops_with_1_when_its_database_is_deleted_or_replaced(
    world: World, how: str
) -> None:
    database = world.tmp / "bridge.db"
    run = Run(world)
    try:
        run.wait_for("READY=1")
        run.wait_for("STATUS=")  # passes have run and committed
        if how == "deleted":
            database.unlink()
        else:
            shutil.copyfile(database, world.tmp / "restored.db")
            os.replace(world.tmp / "restored.db", database)
        assert run.proc.wait(timeout=15) == 1
    finally:
        run.close()
    log = (world.tmp / "daemon.log").read_text(encoding="utf-8")
    assert "database_lost" in log
    assert f"error: the database file {database} was {how} while the daemon ran" in log
    assert "Traceback" not in log
    if how == "deleted":
        assert not database.exists()  # not quietly made anew


# a full disk ------------------------------------------------------------------------


def _one_complaint_each(world: World, aduan: list[dict[str, Any]]) -> None:
    store = world.store()
    try:
        for item in aduan:
            found = world.national_for(item["id"])
            assert len(found) == 1, (item["id"], found)
            mapping = store.mapping("tanjak", str(item["id"]))
            assert mapping is not None and mapping.national_id == found[0]["id"]
        assert store.db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        store.close()


@pytest.fixture
def tag_world(tmp_path: Path) -> Iterator[World]:
    """With tag search, a create sent just before the disk filled up is found by itself on
    the next pass, not left to an operator."""
    w = World(tmp_path, capabilities=("tag_search",))
    try:
        yield w
    finally:
        w.stop()


def test_sync_on_a_full_disk_is_one_message_exit_1_and_loses_nothing(tag_world: World) -> None:
    world = tag_world
    aduan = _seeded(world)
    aduan += [
        world.tanjak.add_aduan(isi=f"Sampah menumpuk di gang {n} Jl. Ganet, belum diangkut.")
        for n in range(40)
    ]
    result = _cli_process(world.config_path, "sync", code=DISK_FULL)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: the disk holding {world.tmp / 'bridge.db'} is full; nothing was lost: every"
        " change before it is committed whole and the one in hand was rolled back (a request"
        " already sent is settled on the next pass). Free some space, then run it again."
    )
    store = world.store()
    mapped = store.counts("tanjak")["mapped"]
    store.close()
    assert mapped < len(aduan)  # it did stop midway

    assert world.sync().ok  # space again: every complaint once on LAPOR, every one mapped
    _one_complaint_each(world, aduan)


def test_run_on_a_full_disk_stops_with_1_and_loses_nothing(tag_world: World) -> None:
    world = tag_world
    aduan = _seeded(world)
    aduan += [
        world.tanjak.add_aduan(isi=f"Sampah menumpuk di gang {n} Jl. Ganet, belum diangkut.")
        for n in range(40)
    ]
    text = world.config_path.read_text(encoding="utf-8")
    world.config_path.write_text(
        text.replace("poll_interval_seconds = 60", "poll_interval_seconds = 1"), encoding="utf-8"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", DISK_FULL, "--config", str(world.config_path), "run"],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1, (out, err)
    assert "Traceback" not in err
    assert "disk_full" in err  # the daemon's log says what stopped it
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"error: the disk holding {world.tmp / 'bridge.db'} is full; nothing")
    assert world.sync().ok  # space again: every complaint once on LAPOR, every one mapped
    _one_complaint_each(world, aduan)
