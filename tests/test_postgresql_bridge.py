"""The bridge run on PostgreSQL: ``[bridge] database = "postgresql://…"`` with its password
from ``database_password_file``, through the command line, against the sandboxes.

The test server trusts every loopback connection (tests/pg.py), so it would let a wrong
password in as well: what these tests prove about the password is that the one read from the
file is the one the connection gave the server (``conn.info.password``), not that the server
checked it. Each test logs in as a role of its own, owning the database the test was given.
"""

from __future__ import annotations

import json
import random
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from bridge.runtime import stores
from bridge.runtime.service import LockedError
from bridge.runtime.settings import PostgresDatabase, load_settings
from bridge.sync.pgstore import PgStore
from cli import app
from tests.harness import World
from tests.pg import PgServer

pytestmark = pytest.mark.pg

runner = CliRunner()
PASSWORD = "pg s3cret 'quoted'"  # a space and quotes: make_conninfo must quote it


@dataclass
class PgWorld:
    world: World
    url: str
    password_file: Path

    def cli(self, *args: str) -> tuple[int, str]:
        result = runner.invoke(app, ["--config", str(self.world.config_path), *args])
        return result.exit_code, result.output


def _role_owning(server: PgServer, dsn: str) -> tuple[str, str]:
    """A role with a password owning the test's database: ``(role, dbname)``."""
    dbname = dsn.rsplit("dbname=", 1)[1]
    role = f"bridge_{dbname}"
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'unchecked-by-trust'")
        conn.execute(f"ALTER DATABASE {dbname} OWNER TO {role}")
    return role, dbname


@pytest.fixture
def pg_world(tmp_path: Path, pg_server: PgServer) -> Iterator[PgWorld]:
    role, dbname = _role_owning(pg_server, pg_server.new_database())
    url = f"postgresql://{role}@127.0.0.1:{pg_server.port}/{dbname}"
    password_file = tmp_path / "database-password"
    password_file.write_text(PASSWORD + "\n", encoding="utf-8")
    password_file.chmod(0o600)
    world = World(tmp_path)
    try:
        text = world.config_path.read_text(encoding="utf-8")
        sqlite_line = f'database = "{tmp_path / "bridge.db"}"'
        assert sqlite_line in text
        text = text.replace(
            sqlite_line, f'database = "{url}"\ndatabase_password_file = "{password_file}"'
        )
        world.config_path.write_text(text, encoding="utf-8")
        yield PgWorld(world, url, password_file)
    finally:
        world.stop()


def test_sync_on_postgresql_creates_each_complaint_once(pg_world: PgWorld) -> None:
    world = pg_world.world
    world.tanjak.seed_sample(random.Random(7), 6, photos=False)
    code, out = pg_world.cli("sync")
    assert code == 0, out
    assert "source tanjak: seen 6, created 6" in out
    assert len(world.lapor.complaints()) == 6
    # a second run: every record is mapped in PostgreSQL, nothing is posted again
    code, out = pg_world.cli("sync")
    assert code == 0, out
    assert "created 0" in out
    complaints = world.lapor.complaints()
    tags = [t for c in complaints for t in c["tags"] if t.startswith("ext-")]
    assert len(complaints) == 6 and len(set(tags)) == 6
    # nothing went to a SQLite file: the state is the server's
    assert not (world.tmp / "bridge.db").exists()
    assert not list(world.tmp.glob("*.lock"))
    code, out = pg_world.cli("status", "--json")
    state = json.loads(out)
    assert code == 0, out
    assert state["healthy"] is True
    assert state["sources"]["tanjak"]["mapped"] == 6
    assert state["sources"]["tanjak"]["pending"] == 0
    # the tracking ids written back are the ones PostgreSQL maps
    aduan = world.tanjak.aduan(1)
    code, out = pg_world.cli("trace", f"tanjak:{aduan['id']}")
    assert code == 0, out
    assert aduan["lapor_id"] in out


def test_the_password_comes_from_its_file(pg_world: PgWorld) -> None:
    database = load_settings(pg_world.world.config_path).bridge.database
    assert isinstance(database, PostgresDatabase)
    assert database.url == pg_world.url and PASSWORD not in str(database)
    store = stores.open_store(database)
    try:
        assert isinstance(store, PgStore)
        assert store.conn.info.password == PASSWORD
        assert store.conn.info.user == pg_world.url.split("//")[1].split("@")[0]
    finally:
        store.close()


def test_a_second_writer_is_refused_by_the_advisory_lock(pg_world: PgWorld) -> None:
    database = load_settings(pg_world.world.config_path).bridge.database
    with stores.writer_lock(database):
        code, out = pg_world.cli("sync")
        assert code == 1
        assert "is in use by lapor-bridge pid" in out
        assert pg_world.url in out and PASSWORD not in out
        with pytest.raises(LockedError):
            stores.writer_lock(database).acquire()
    # released with its session: the next writer gets it
    lock = stores.writer_lock(database)
    lock.acquire()
    lock.release()


def test_what_is_about_a_sqlite_file_is_refused_in_one_line(pg_world: PgWorld) -> None:
    assert pg_world.cli("sync")[0] == 0
    code, out = pg_world.cli("backup", str(pg_world.world.tmp / "copy.db"))
    assert (code, out.count("\n")) == (1, 1)
    assert "pg_dump" in out


def test_the_reports_read_postgresql(pg_world: PgWorld) -> None:
    """The reconciliation export and the SLA report on the PostgreSQL state: every complaint
    synced is a row, and the SLA counts them."""
    world = pg_world.world
    ids = [
        world.tanjak.add_aduan(isi=f"Drainase tersumbat di gang {n}, air meluap ke rumah warga.")[
            "id"
        ]
        for n in range(3)
    ]
    assert pg_world.cli("sync")[0] == 0
    exported, sla_json = world.tmp / "report.json", world.tmp / "sla.json"
    code, out = pg_world.cli("export", "--format", "json", "--out", str(exported))
    assert code == 0, out
    rows = json.loads(exported.read_text(encoding="utf-8"))
    mapped = {str(row["local_id"]) for row in rows if row.get("tracking_id")}
    assert {str(i) for i in ids} <= mapped, rows
    code, out = pg_world.cli("report", "sla", "--format", "json", "--out", str(sla_json))
    assert code == 0, out
    assert json.loads(sla_json.read_text(encoding="utf-8")), out


def test_an_unreachable_server_is_one_message(pg_world: PgWorld, pg_server: PgServer) -> None:
    config = pg_world.world.config_path
    text = config.read_text(encoding="utf-8").replace(f":{pg_server.port}/", ":1/")
    config.write_text(text, encoding="utf-8")
    for command in (["sync"], ["status"]):
        code, out = pg_world.cli(*command)
        assert code == 1, out
        assert out.startswith("error: cannot connect to the PostgreSQL state database")
        assert PASSWORD not in out


def test_the_daemon_runs_on_postgresql(pg_world: PgWorld) -> None:
    """``run``: READY, a pass that creates, ``/healthz`` 200 and ``/metrics`` read from
    PostgreSQL, a second writer refused while it runs, SIGTERM exits 0."""
    from tests.test_daemon import Run, _wait_http

    world = pg_world.world
    aduan = world.tanjak.add_aduan(isi="Lampu jalan mati di Jl. Pramuka sejak seminggu.")
    run = Run(world)
    try:
        run.wait_for("READY=1", seconds=30)
        run.wait_for("STATUS=", seconds=30)
        assert _wait_http(run, "/healthz", 200).json() == {"status": "ok"}
        assert 'lapor_bridge_health{level="ok"} 1.0' in run.get("/metrics").text
        assert len(world.national_for(aduan["id"])) == 1
        code, out = pg_world.cli("sync")
        assert code == 1 and "is in use by lapor-bridge pid" in out
        run.proc.send_signal(signal.SIGTERM)
        assert run.proc.wait(timeout=15) == 0
    finally:
        run.close()


def test_config_check_reaches_the_database(pg_world: PgWorld, pg_server: PgServer) -> None:
    """``config check`` reaches PostgreSQL with the password from its file and says the
    schema's state, creating nothing; a server that refuses is one line and exit 2."""
    code, out = pg_world.cli("config", "check")
    assert code == 0, out
    assert "bridge.database: reached;" in out and "holds no lapor-bridge state" in out
    with psycopg.connect(pg_world.url) as conn:  # nothing was created
        assert conn.execute("SELECT to_regclass('mappings')").fetchone() == (None,)
    assert pg_world.cli("sync")[0] == 0
    code, out = pg_world.cli("config", "check")
    assert code == 0 and "bridge.database: ok (PostgreSQL; 0 replica(s) running on it now)" in out
    dbname = pg_world.url.rsplit("/", 1)[1]
    with psycopg.connect(pg_server.dsn(), autocommit=True) as admin:
        admin.execute(f"ALTER DATABASE {dbname} ALLOW_CONNECTIONS false")
    try:
        code, out = pg_world.cli("config", "check")
    finally:
        with psycopg.connect(pg_server.dsn(), autocommit=True) as admin:
            admin.execute(f"ALTER DATABASE {dbname} ALLOW_CONNECTIONS true")
    assert code == 2
    (line,) = [line for line in out.splitlines() if line.startswith("bridge.database:")]
    assert "cannot connect" in line and PASSWORD not in out
