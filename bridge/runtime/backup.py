"""``lapor-bridge backup PATH``: a consistent copy of the state database, safe while the
daemon runs.

SQLite's online backup API (:meth:`sqlite3.Connection.backup`) copies the database inside
one read transaction: the copy is the database as of one commit, whatever the daemon
commits meanwhile (WAL mode lets it go on writing). The copy is written to a temporary
file beside PATH, created ``0600`` (it holds what the state holds, see README "Security
and data protection"), checked (``PRAGMA integrity_check``), made a single file (rollback
journal, no ``-wal``), synced, and only then renamed to PATH: a backup that failed leaves
no partial PATH behind. An existing PATH is replaced only when asked (``force``).

The database is opened read-only and never gains a file next to it: with a ``-wal``
present (the daemon has it open) through its existing ``-shm``; without one (nobody has it
open) as an immutable file, copied again through the ``-wal`` if the file changed while it
was read (the daemon started meanwhile).
"""

from __future__ import annotations

import os
import sqlite3
import stat
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from bridge.sync.store import is_disk_full

#: exit codes of ``lapor-bridge backup`` (bridge.md, "Commands")
NO_DATABASE = 1
BAD_PATH = 2


class BackupError(Exception):
    """The backup was not made; the message is for the operator, ``code`` the exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Backup:
    """A backup written: where, and how large."""

    path: Path
    size: int


def backup(database: Path, target: Path, *, force: bool = False) -> Backup:
    """Copy ``database`` to ``target`` consistently; raise :class:`BackupError`."""
    before = _source_state(database)
    _check_target(database, target, force=force)
    temporary = _create_private(target)
    try:
        for attempt in range(3):
            wal = Path(f"{database}-wal").exists()
            _copy(database, temporary, immutable=not wal)
            # an immutable read saw no lock: a daemon that started meanwhile may have
            # written; the file changed means read again, through its -wal this time
            if wal or _source_state(database) == before or attempt == 2:
                break
            before = _source_state(database)
        with temporary.open("rb") as file:
            os.fsync(file.fileno())
        if not force and target.exists():  # made meanwhile: still never overwritten
            raise BackupError(f"{target} exists; give --force to replace it", BAD_PATH)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _sync_folder(target.parent)
    return Backup(target, target.stat().st_size)


def _source_state(database: Path) -> tuple[int, int, int, int]:
    try:
        info = os.stat(database)
    except FileNotFoundError:
        raise BackupError(f"no database at {database}; has the bridge run?", NO_DATABASE) from None
    except OSError as exc:
        raise BackupError(
            f"cannot read the database at {database}: {exc.strerror}", NO_DATABASE
        ) from None
    if not stat.S_ISREG(info.st_mode):
        raise BackupError(f"the database at {database} is not a regular file", NO_DATABASE)
    return info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns


def _check_target(database: Path, target: Path, *, force: bool) -> None:
    folder = target.parent
    if not folder.is_dir():
        raise BackupError(f"cannot write {target}: no folder {folder}", BAD_PATH)
    if target.is_dir():
        raise BackupError(f"{target} is a folder; give the backup's file name", BAD_PATH)
    if target.exists() or target.is_symlink():
        same = target.exists() and os.path.samefile(target, database)
        if same or (target.name.startswith(f"{database.name}-") and folder == database.parent):
            raise BackupError(f"{target} is the database itself", BAD_PATH)
        if not force:
            raise BackupError(f"{target} exists; give --force to replace it", BAD_PATH)
        if not target.is_file():
            raise BackupError(f"{target} is not a regular file", BAD_PATH)


def _create_private(target: Path) -> Path:
    """An empty file beside ``target``, readable by its owner alone (whatever the umask)."""
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise BackupError(f"cannot write {target}: {exc.strerror}", BAD_PATH) from None
    os.fchmod(fd, 0o600)
    os.close(fd)
    return temporary


def _copy(database: Path, temporary: Path, *, immutable: bool) -> None:
    uri = "file:" + urllib.parse.quote(os.path.abspath(database), safe="/")
    query = "mode=ro&immutable=1" if immutable else "mode=ro"
    try:
        source = sqlite3.connect(f"{uri}?{query}", uri=True, timeout=30)
    except sqlite3.Error as exc:
        raise BackupError(f"cannot read the database at {database}: {exc}", NO_DATABASE) from None
    try:
        copy = sqlite3.connect(temporary)
        try:
            source.backup(copy)
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            (verdict,) = copy.execute("PRAGMA integrity_check").fetchone()
        finally:
            copy.close()
    except sqlite3.Error as exc:
        if is_disk_full(exc):
            raise BackupError(f"cannot write {temporary.parent}: the disk is full", 1) from None
        if isinstance(exc, sqlite3.DatabaseError) and "not a database" in str(exc):
            raise BackupError(f"{database} is not a SQLite database", NO_DATABASE) from None
        raise BackupError(f"backup of {database} failed: {exc}", NO_DATABASE) from None
    finally:
        source.close()
    if verdict != "ok":
        raise BackupError(f"the copy of {database} is not sound: {verdict}", NO_DATABASE)


def _sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
