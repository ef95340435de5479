"""A real PostgreSQL server for the tests: started once per session, stopped at its end.

``initdb`` makes a cluster in a temporary directory; the server listens on a free loopback
port and on a unix socket in that same directory, nowhere else. PostgreSQL refuses to run as
root: when the tests run as root (CI does), the cluster belongs to the ``postgres`` user of
Debian's package (or ``nobody``) and the server is started through ``runuser``.

The binaries are looked for on ``PATH`` and then under ``/usr/lib/postgresql/*/bin`` (where
Debian's ``postgresql`` package puts them, off the ``PATH``). Without them the tests that need
the server are skipped, saying why, except under ``LAPOR_BRIDGE_CI=1``, where they fail: CI
must have the server (``.ci/run`` installs it).

Each test gets a database of its own (:meth:`PgServer.new_database`), never a shared one.
The server runs with ``fsync=off``: a crash of the test machine is not what these tests are
about, and two shared cores are.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

#: the programs the server needs
PROGRAMS = ("initdb", "pg_ctl", "postgres")
#: where Debian's package puts them (one folder per major version)
DEBIAN_BINARIES = "/usr/lib/postgresql/*/bin"
#: who runs the server when the tests run as root, in this order
SERVER_USERS = ("postgres", "nobody")


class NoServer(Exception):
    """No PostgreSQL server can be had here; the message says why and what to install."""


def find_binaries() -> Path:
    """The folder holding ``initdb``, ``pg_ctl`` and ``postgres`` (the newest Debian one
    when ``PATH`` has none)."""
    on_path = [shutil.which(p) for p in PROGRAMS]
    if all(on_path):
        folders = {Path(os.path.realpath(p)).parent for p in on_path if p}
        if len(folders) == 1:
            return folders.pop()
    candidates = sorted(
        (Path(d) for d in glob.glob(DEBIAN_BINARIES)),
        key=lambda d: int(d.parent.name) if d.parent.name.isdigit() else 0,
        reverse=True,
    )
    for folder in candidates:
        if all((folder / p).is_file() for p in PROGRAMS):
            return folder
    raise NoServer(
        "no PostgreSQL server binaries (initdb, pg_ctl, postgres) on PATH or under"
        f" {DEBIAN_BINARIES}: install Debian's postgresql package (.ci/run does)"
    )


def _server_user() -> pwd.struct_passwd | None:
    """Who runs the server: None for the current user, unless that is root."""
    if os.geteuid() != 0:
        return None
    for name in SERVER_USERS:
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise NoServer(
        f"the tests run as root, which PostgreSQL refuses, and none of {SERVER_USERS} exists"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgServer:
    """One running server of the test session."""

    binaries: Path
    root: Path
    port: int
    user: pwd.struct_passwd | None
    startup_seconds: float = 0.0
    _names: itertools.count[int] = field(default_factory=itertools.count)
    _options: str = ""

    @property
    def data(self) -> Path:
        return self.root / "data"

    def dsn(self, dbname: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={dbname}"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [str(self.binaries / args[0]), *args[1:]]
        if self.user is not None:
            command = ["runuser", "-u", self.user.pw_name, "--", *command]
        return subprocess.run(
            command, capture_output=True, text=True, timeout=120, check=False, cwd=self.root
        )

    def start(self, max_connections: int = 50) -> None:
        started = time.monotonic()
        if self.user is not None:
            os.chown(self.root, self.user.pw_uid, self.user.pw_gid)
        done = self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
            "--locale=C", "--no-sync",
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed: {done.stderr or done.stdout}")
        self._options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
            f" -c full_page_writes=off -c max_connections={max_connections}"
        )
        self._pg_ctl_start()
        self.startup_seconds = time.monotonic() - started

    def _pg_ctl_start(self) -> None:
        done = self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-w",
            "-t", "60", "-o", self._options, "start",
        )  # fmt: skip
        if done.returncode != 0:
            log = self.root / "server.log"
            raise RuntimeError(
                f"pg_ctl start failed: {done.stderr or done.stdout}"
                + (log.read_text(errors="replace") if log.exists() else "")
            )

    def halt(self) -> None:
        """Stop the server as its operator would (``pg_ctl stop -m fast``: every session cut),
        keeping its data for :meth:`restart`."""
        done = self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        if done.returncode != 0:
            raise RuntimeError(f"pg_ctl stop failed: {done.stderr or done.stdout}")

    def restart(self) -> None:
        """Start again a server :meth:`halt` stopped, on the same port and data."""
        self._pg_ctl_start()

    def stop(self) -> None:
        if self.data.exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def new_database(self) -> str:
        """A fresh, empty database for one test: its connection string."""
        import psycopg

        name = f"test_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            # a plain file copy is the quicker for a tiny database (WAL_LOG, PostgreSQL 15's
            # default, writes every page to the WAL); older servers copy files anyway
            strategy = " STRATEGY file_copy" if conn.info.server_version >= 150000 else ""
            conn.execute(f"CREATE DATABASE {name} TEMPLATE template0{strategy}")
        return self.dsn(name)


def start_server() -> PgServer:
    """Start a server, or raise :class:`NoServer` saying why there can be none."""
    binaries = find_binaries()
    user = _server_user()
    # not under pytest's own temporary folder: that one is private to root (0700), and the
    # server's user must reach its data and socket
    root = Path(tempfile.mkdtemp(prefix="lapor-bridge-pg-"))
    server = PgServer(binaries=binaries, root=root, port=_free_port(), user=user)
    try:
        server.start()
    except BaseException:
        server.stop()
        raise
    return server


def start_server_or_skip() -> PgServer:
    """:func:`start_server` for a fixture: skipped with the reason where no server can be
    had, except in CI (``LAPOR_BRIDGE_CI=1``), which must have one."""
    import pytest

    try:
        return start_server()
    except NoServer as exc:
        if os.environ.get("LAPOR_BRIDGE_CI") == "1":
            pytest.fail(f"CI must have a PostgreSQL server: {exc}", pytrace=False)
        pytest.skip(str(exc))
