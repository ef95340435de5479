"""``lapor-bridge store migrate --to postgresql://…``: a city's SQLite state moved into
PostgreSQL, verified, and the bridge carrying on there as if nothing had moved.

A city syncs on SQLite (complaints, an answer carried across, a quarantined record), the state
is migrated, the configuration pointed at PostgreSQL: the next passes create nothing twice,
``status`` and ``trace`` read the same, new ids continue past the copied ones, and the phone
keys of the duplicate check still match (the secret came across).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from bridge.runtime import statecopy, stores
from cli import app
from tests.harness import World
from tests.pg import PgServer
from tests.test_postgresql_bridge import PASSWORD, _role_owning

pytestmark = pytest.mark.pg

runner = CliRunner()


@dataclass
class City:
    """A world synced on SQLite and an empty PostgreSQL database to move it into."""

    world: World
    url: str
    password_file: Path
    dsn: str

    def cli(self, *args: str) -> tuple[int, str]:
        result = runner.invoke(app, ["--config", str(self.world.config_path), *args])
        return result.exit_code, result.output

    def migrate(self, *extra: str) -> tuple[int, str]:
        return self.cli(
            "store", "migrate", "--to", self.url, "--password-file", str(self.password_file),
            *extra,
        )  # fmt: skip

    def onto_postgresql(self) -> None:
        """The operator's last step: ``database`` names the PostgreSQL database."""
        path = self.world.config_path
        sqlite_line = f'database = "{self.world.tmp / "bridge.db"}"'
        text = path.read_text(encoding="utf-8")
        assert sqlite_line in text
        path.write_text(
            text.replace(
                sqlite_line,
                f'database = "{self.url}"\ndatabase_password_file = "{self.password_file}"',
            ),
            encoding="utf-8",
        )

    def pg(self, query: str) -> list[tuple[object, ...]]:
        with psycopg.connect(self.dsn) as conn:
            return list(conn.execute(query).fetchall())

    def sqlite(self, query: str) -> list[tuple[object, ...]]:
        with sqlite3.connect(self.world.tmp / "bridge.db") as conn:
            return list(conn.execute(query).fetchall())


@pytest.fixture
def city(tmp_path: Path, pg_server: PgServer) -> Iterator[City]:
    dsn = pg_server.new_database()
    role, dbname = _role_owning(pg_server, dsn)
    password_file = tmp_path / "database-password"
    password_file.write_text(PASSWORD + "\n", encoding="utf-8")
    password_file.chmod(0o600)
    world = World(tmp_path)
    try:
        yield City(world, f"postgresql://{role}@127.0.0.1:{pg_server.port}/{dbname}",
                   password_file, dsn)  # fmt: skip
    finally:
        world.stop()


def _history(city: City) -> list[dict[str, object]]:
    """Complaints synced on SQLite: three created, one answered in the app (a follow-up to
    LAPOR), one quarantined."""
    tanjak = city.world.tanjak
    made = [
        tanjak.add_aduan(isi=f"Lampu jalan mati di gang {n}, gelap sejak seminggu.")
        for n in range(3)
    ]
    broken = tanjak.add_aduan(isi="Jalan rusak parah di depan SD 005, banyak lubang.")
    tanjak.corrupt(broken["id"], status="entah")
    assert city.cli("sync")[0] == 1  # the quarantined record
    tanjak.respond(made[0]["id"], "Dinas PUPR", "Sudah kami jadwalkan perbaikannya.")
    assert city.cli("sync")[0] == 1
    assert len(city.world.lapor.complaints()) == 3
    return made


def _status(city: City) -> dict[str, object]:
    out = city.cli("status", "--json")[1]
    state: dict[str, object] = json.loads(out)["sources"]["tanjak"]
    return {k: state[k] for k in ("mapped", "pending", "quarantined", "in_doubt")}


def test_a_city_moves_into_postgresql_and_carries_on(city: City) -> None:
    made = _history(city)
    status_before = _status(city)
    trace_before = city.cli("trace", f"tanjak:{made[0]['id']}")
    sqlite_max = city.sqlite("SELECT max(id) FROM mappings")[0][0]
    secret = city.sqlite("SELECT value FROM dedupe_meta WHERE name = 'phone_key_secret'")

    code, out = city.migrate()
    assert code == 0, out
    assert PASSWORD not in out
    assert "\nmappings  " in out and "mappings checksum (sha256): " in out
    counts = dict(line.split() for line in out.splitlines()[2:-1])
    for table in ("mappings", "events", "followups", "quarantine", "intents", "dedupe_index"):
        assert int(counts[table]) == city.sqlite(f"SELECT count(*) FROM {table}")[0][0], table
    assert int(counts["mappings"]) == 3 and int(counts["quarantine"]) == 1
    assert city.pg("SELECT value FROM dedupe_meta WHERE name = 'phone_key_secret'") == secret

    city.onto_postgresql()
    code, out = city.cli("sync")
    assert code == 1, out  # the quarantined record still is
    assert "created 0" in out
    assert len(city.world.lapor.complaints()) == 3  # nothing created twice
    assert _status(city) == status_before
    assert city.cli("trace", f"tanjak:{made[0]['id']}") == trace_before

    fresh = city.world.tanjak.add_aduan(isi="Sampah menumpuk di Jl. Ganet sejak Senin.")
    code, out = city.cli("sync")
    assert "created 1" in out, out
    new_id = city.pg(f"SELECT id FROM mappings WHERE local_id = '{fresh['id']}'")[0][0]
    assert isinstance(sqlite_max, int) and new_id == sqlite_max + 1
    assert len(city.world.lapor.complaints()) == 4


def test_a_dry_run_copies_and_verifies_then_leaves_no_row(city: City) -> None:
    _history(city)
    code, dry = city.migrate("--dry-run")
    assert code == 0, dry
    assert dry.startswith("dry run: ") and "rolled back" in dry
    for table in ("mappings", "events", "intents", "quarantine", "dedupe_index"):
        assert city.pg(f"SELECT count(*) FROM {table}") == [(0,)], table
    # the real copy after it: the same rows and checksum as the dry run printed
    code, out = city.migrate()
    assert code == 0, out
    assert dry.splitlines()[1:] == out.splitlines()[1:]
    assert city.pg("SELECT count(*) FROM mappings") == [(3,)]
    # a dry run against a target holding state says what the copy would say
    code, out = city.migrate("--dry-run")
    assert code == 1 and "already holds lapor-bridge state" in out


def test_a_target_holding_state_is_refused(city: City) -> None:
    _history(city)
    assert city.migrate()[0] == 0
    events = city.pg("SELECT count(*) FROM events")
    code, out = city.migrate()
    assert (code, out.count("\n")) == (1, 1), out
    assert "already holds lapor-bridge state" in out
    assert city.pg("SELECT count(*) FROM events") == events


def test_a_checksum_that_differs_rolls_back(city: City, monkeypatch: pytest.MonkeyPatch) -> None:
    _history(city)
    monkeypatch.setattr(statecopy, "_PG_CHECKSUM", statecopy._PG_CHECKSUM + " LIMIT 1")
    code, out = city.migrate()
    assert (code, out.count("\n")) == (1, 1), out
    assert "checksums differ" in out
    assert city.pg("SELECT count(*) FROM mappings") == [(0,)]


def test_mistakes_are_one_line(city: City, pg_server: PgServer) -> None:
    assert city.migrate()[0] == 1  # no SQLite file yet
    _history(city)
    leaked = city.url.replace("@", ":hunter2@")
    for to, expected in (
        (leaked, (2, "must not carry the password")),
        ("/var/lib/lapor-bridge/other.db", (2, "not a PostgreSQL URL")),
        (city.url.replace(f":{pg_server.port}/", ":1/"), (1, "cannot connect")),
    ):
        code, out = city.cli("store", "migrate", "--to", to)
        assert (code, out.count("\n")) == (expected[0], 1), out
        assert expected[1] in out and "hunter2" not in out
    missing = city.world.tmp / "nowhere"
    code, out = city.migrate("--password-file", str(missing))
    assert code == 2 and "cannot read --password-file" in out
    city.onto_postgresql()
    code, out = city.migrate()
    assert code == 1 and "already PostgreSQL" in out


def test_a_bridge_running_on_the_file_is_refused(city: City) -> None:
    _history(city)
    with stores.writer_lock(city.world.tmp / "bridge.db"):
        code, out = city.migrate()
    assert (code, out.count("\n")) == (1, 1), out
    assert "is in use by lapor-bridge" in out and "stop it first" in out
    assert city.pg("SELECT to_regclass('mappings') IS NULL") == [(True,)]  # not even opened
