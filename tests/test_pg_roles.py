"""PostgreSQL with separate roles: the schema owned by a migration role, the bridge running as
a role that owns nothing (``lapor-bridge store upgrade --owner``, bridge/sync/pgstore.py's
``grant_runtime``). The bridge's role can read and write the state, can only read and append
the audit log, and can change no table: not even disable the log's triggers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from cli import app
from tests.harness import World
from tests.pg import PgServer

pytestmark = pytest.mark.pg

runner = CliRunner()


@dataclass
class Roles:
    world: World
    owner_url: str
    bridge_url: str
    admin_dsn: str

    def cli(self, *args: str) -> tuple[int, str]:
        result = runner.invoke(app, ["--config", str(self.world.config_path), *args])
        return result.exit_code, result.output


@pytest.fixture
def roles(tmp_path: Path, pg_server: PgServer) -> Iterator[Roles]:
    dbname = pg_server.new_database().rsplit("dbname=", 1)[1]
    owner, bridge = f"own_{dbname}", f"run_{dbname}"
    with psycopg.connect(pg_server.dsn(), autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {owner} LOGIN")
        conn.execute(f"CREATE ROLE {bridge} LOGIN")
        conn.execute(f"ALTER DATABASE {dbname} OWNER TO {owner}")
    with psycopg.connect(pg_server.dsn(dbname), autocommit=True) as conn:
        conn.execute(f"ALTER SCHEMA public OWNER TO {owner}")
        conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    base = f"127.0.0.1:{pg_server.port}/{dbname}"
    world = World(tmp_path)
    text = world.config_path.read_text(encoding="utf-8")
    text = text.replace(
        f'database = "{tmp_path / "bridge.db"}"', f'database = "postgresql://{bridge}@{base}"'
    )
    world.config_path.write_text(text, encoding="utf-8")
    try:
        yield Roles(world, f"postgresql://{owner}@{base}", f"postgresql://{bridge}@{base}",
                    pg_server.dsn(dbname))  # fmt: skip
    finally:
        world.stop()


def test_the_owner_migrates_and_the_bridge_runs_as_a_role_that_owns_nothing(roles: Roles) -> None:
    # before the owner made the schema, the bridge's role cannot: one message naming the way
    code, out = roles.cli("sync")
    assert code == 1
    assert "store upgrade --owner" in out and "may not change it" in out

    code, out = roles.cli("store", "upgrade", "--owner", roles.owner_url)
    assert code == 0, out
    assert "current (12 migrations)" in out

    aduan = roles.world.tanjak.add_aduan(isi="Lampu jalan mati di Jl. Pramuka sejak seminggu.")
    code, out = roles.cli("sync")
    assert code == 0, out
    assert len(roles.world.national_for(aduan["id"])) == 1
    code, out = roles.cli("sync")  # again: nothing twice, no DDL needed
    assert code == 0 and len(roles.world.national_for(aduan["id"])) == 1

    with psycopg.connect(roles.bridge_url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM events").fetchone()[0] > 0  # type: ignore[index]
        for statement in (
            "UPDATE events SET kind = 'forged'",
            "DELETE FROM events",
            "TRUNCATE events",
            "ALTER TABLE events DISABLE TRIGGER ALL",
            "DROP TABLE events",
            "DELETE FROM schema_migrations",
            "CREATE TABLE mine (x int)",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)

    code, out = roles.cli("store", "upgrade", "--owner", roles.owner_url)  # idempotent
    assert code == 0, out


def test_a_schema_behind_the_code_is_the_owners_to_upgrade(roles: Roles) -> None:
    assert roles.cli("store", "upgrade", "--owner", roles.owner_url)[0] == 0
    with psycopg.connect(roles.admin_dsn, autocommit=True) as conn:  # as if m012 were new
        conn.execute("DROP TABLE tracking_spend, tracking_pace")
        conn.execute("DELETE FROM schema_migrations WHERE name = 'm012_tracking_budget'")
    code, out = roles.cli("sync")
    assert code == 1
    assert "pending: m012_tracking_budget" in out and "store upgrade --owner" in out
    assert roles.cli("store", "upgrade", "--owner", roles.owner_url)[0] == 0
    assert roles.cli("sync")[0] == 0


def test_store_upgrade_is_for_postgresql_and_needs_a_role(tmp_path: Path) -> None:
    world = World(tmp_path)
    try:
        result = runner.invoke(
            app,
            ["--config", str(world.config_path), "store", "upgrade", "--owner",
             "postgresql://owner@127.0.0.1:1/db"],
        )  # fmt: skip
        assert result.exit_code == 2
        assert "SQLite" in result.output
    finally:
        world.stop()
