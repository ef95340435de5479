"""``lapor-bridge backup PATH``: a consistent copy of the state database while a writer
works in it, created 0600, never over an existing file unless ``--force``."""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bridge.runtime.backup import BackupError, backup
from bridge.sync.store import Store
from cli import app
from tests.test_settings import _example_with_secrets


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _writer(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, timeout=30, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE IF NOT EXISTS left_side (n INTEGER PRIMARY KEY, payload TEXT)")
    conn.execute("CREATE TABLE IF NOT EXISTS right_side (n INTEGER PRIMARY KEY, payload TEXT)")
    return conn


@pytest.fixture
def busy_database(tmp_path: Path) -> Iterator[Path]:
    """A WAL database a writer keeps committing to: each commit adds one row to each of two
    tables, so in any consistent state both hold the same rows."""
    path = tmp_path / "state" / "bridge.db"
    path.parent.mkdir()
    conn = _writer(path)
    stop = threading.Event()

    def write() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO left_side VALUES (?, ?)", (n, "x" * 2000))
            conn.execute("INSERT INTO right_side VALUES (?, ?)", (n, "y" * 2000))
            conn.execute("COMMIT")

    thread = threading.Thread(target=write)
    thread.start()
    try:
        yield path
    finally:
        stop.set()
        thread.join()
        conn.close()


def _rows(path: Path) -> tuple[int, int, str]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        (left,) = conn.execute("SELECT count(*) FROM left_side").fetchone()
        (right,) = conn.execute("SELECT count(*) FROM right_side").fetchone()
        (verdict,) = conn.execute("PRAGMA integrity_check").fetchone()
    finally:
        conn.close()
    return left, right, verdict


def test_copies_made_while_a_writer_commits_are_consistent(
    busy_database: Path, tmp_path: Path
) -> None:
    sizes = []
    for n in range(5):
        target = tmp_path / f"copy-{n}.db"
        made = backup(busy_database, target)
        left, right, verdict = _rows(target)
        assert verdict == "ok"
        assert left == right  # one commit's state, never half of one
        assert _mode(target) == 0o600
        assert made.size == target.stat().st_size
        sizes.append(left)
        # one self-contained file: no journal left, none needed to read it
        assert sorted(p.name for p in tmp_path.glob("copy-*")) == [
            f"copy-{i}.db" for i in range(n + 1)
        ]
    assert sizes[-1] > 0
    assert sorted(sizes) == sizes  # every copy is the database as it was then


def test_uncommitted_rows_are_not_copied(tmp_path: Path) -> None:
    path = tmp_path / "bridge.db"
    conn = _writer(path)
    try:
        conn.execute("INSERT INTO left_side VALUES (1, 'committed')")
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO left_side VALUES (2, 'in hand')")
        backup(path, tmp_path / "during.db")
        conn.execute("COMMIT")
        backup(path, tmp_path / "after.db")
    finally:
        conn.close()
    assert _rows(tmp_path / "during.db")[0] == 1
    assert _rows(tmp_path / "after.db")[0] == 2


def test_a_closed_database_gains_no_file_beside_it(tmp_path: Path) -> None:
    # the operator, as root, must not leave a -wal or -shm the service's user cannot open
    folder = tmp_path / "state"
    folder.mkdir()
    store = Store(folder / "bridge.db")
    store.close()
    before = sorted(p.name for p in folder.iterdir())
    backup(folder / "bridge.db", tmp_path / "copy.db")
    assert sorted(p.name for p in folder.iterdir()) == before
    conn = sqlite3.connect(tmp_path / "copy.db")
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        conn.close()
    assert {"mappings", "intents", "events"} <= names


def test_mode_0600_whatever_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "bridge.db"
    _writer(path).close()
    old = os.umask(0)
    try:
        backup(path, tmp_path / "copy.db")
    finally:
        os.umask(old)
    assert _mode(tmp_path / "copy.db") == 0o600


def test_refusals(tmp_path: Path) -> None:
    path = tmp_path / "bridge.db"
    _writer(path).close()
    existing = tmp_path / "existing.db"
    existing.write_text("keep me", encoding="utf-8")
    cases = {
        existing: "exists; give --force to replace it",
        tmp_path / "no-such-folder" / "copy.db": "no folder",
        tmp_path: "is a folder",
        path: "is the database itself",
    }
    for target, message in cases.items():
        with pytest.raises(BackupError) as caught:
            backup(path, target)
        assert caught.value.code == 2
        assert message in str(caught.value)
    assert existing.read_text(encoding="utf-8") == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bridge.db", "existing.db"]
    with pytest.raises(BackupError) as caught:
        backup(tmp_path / "missing.db", tmp_path / "copy.db")
    assert caught.value.code == 1
    assert str(caught.value) == f"no database at {tmp_path / 'missing.db'}; has the bridge run?"
    assert not (tmp_path / "copy.db").exists()


def test_the_command(tmp_path: Path) -> None:
    config = _example_with_secrets(tmp_path)  # its database: tmp_path / "bridge.db"
    database = tmp_path / "bridge.db"
    target = tmp_path / "backups" / "bridge-copy.db"
    runner = CliRunner()

    def backup_to(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, ["--config", str(config), "backup", *args])
        return result.exit_code, result.output

    code, out = backup_to(str(target))
    assert (code, out) == (1, f"error: no database at {database}; has the bridge run?\n")
    assert not database.exists()  # a backup never creates the database

    conn = _writer(database)
    try:
        conn.execute("INSERT INTO left_side VALUES (1, 'a')")
        code, out = backup_to(str(target))
        assert (code, out) == (2, f"error: cannot write {target}: no folder {target.parent}\n")
        target.parent.mkdir()
        code, out = backup_to(str(target))
        assert code == 0, out
        assert out.startswith(f"{database} backed up to {target} (")
        assert _mode(target) == 0o600 and _rows(target)[0] == 1
        conn.execute("INSERT INTO left_side VALUES (2, 'b')")
        code, out = backup_to(str(target))
        assert (code, out) == (2, f"error: {target} exists; give --force to replace it\n")
        assert _rows(target)[0] == 1
        code, out = backup_to(str(target), "--force")
        assert code == 0, out
        assert _rows(target)[0] == 2 and _mode(target) == 0o600
    finally:
        conn.close()
    assert "backup" in runner.invoke(app, ["backup", "-h"]).output
