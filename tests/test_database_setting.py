"""``[bridge] database``: a SQLite path, or a ``postgresql://`` URL whose password comes from
``database_password_file`` (never from the URL). Validation only: no server is reached."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bridge.runtime import stores
from bridge.runtime.settings import (
    ConfigError,
    PostgresDatabase,
    config_warnings,
    load_settings,
)
from cli import app
from tests.harness import config_text

URL = "postgresql://bridge@db.example:5432/lapor?sslmode=verify-full"
SECRET = "correct horse battery staple"


def _config(tmp_path: Path, database: str, *extra: str) -> Path:
    text = config_text("http://127.0.0.1:1", "http://127.0.0.1:2", Path("x"), lainnya=1)
    text = text.replace('database = "x"', "\n".join([f'database = "{database}"', *extra]))
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _password_file(tmp_path: Path, mode: int = 0o600) -> Path:
    path = tmp_path / "database-password"
    path.write_text(SECRET + "\n", encoding="utf-8")
    path.chmod(mode)
    return path


def test_a_path_is_still_a_sqlite_file(tmp_path: Path) -> None:
    database = load_settings(_config(tmp_path, "/var/lib/lapor-bridge/bridge.db")).bridge.database
    assert database == Path("/var/lib/lapor-bridge/bridge.db")
    assert stores.sqlite_path(database) == database
    assert load_settings(_config(tmp_path, "state.db")).bridge.database == Path("state.db")


@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "PostgreSQL"])
def test_a_postgresql_url_with_its_password_file(tmp_path: Path, scheme: str) -> None:
    secret = _password_file(tmp_path)
    url = URL.replace("postgresql", scheme, 1)
    conf = load_settings(_config(tmp_path, url, f'database_password_file = "{secret}"'))
    database = conf.bridge.database
    assert isinstance(database, PostgresDatabase)
    assert database.url == url.replace(scheme, scheme.lower(), 1) == str(database)
    assert database.password is not None and database.password.get_secret_value() == SECRET
    assert SECRET not in repr(database) and SECRET not in repr(conf)
    assert stores.sqlite_path(database) is None
    assert f"password='{SECRET}'" in stores.conninfo(database)
    assert config_warnings(conf) == []


def test_a_postgresql_url_without_a_password_is_libpqs_to_complete(tmp_path: Path) -> None:
    # peer authentication, a client certificate or ~/.pgpass: nothing to add
    database = load_settings(_config(tmp_path, URL)).bridge.database
    assert isinstance(database, PostgresDatabase) and database.password is None
    assert stores.conninfo(database) == URL


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://bridge:hunter2@db.example/lapor",
        "postgres://bridge:hunter2@db.example:5432/lapor?sslmode=require",
        "postgresql://bridge@db.example/lapor?password=hunter2",
    ],
)
def test_a_url_carrying_a_password_is_refused(tmp_path: Path, url: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings(_config(tmp_path, url))
    assert error.value.key == "bridge.database"
    assert "database_password_file" in error.value.problem
    assert "hunter2" not in str(error.value)


def test_the_refusal_is_one_line_exit_2_never_the_password(tmp_path: Path) -> None:
    config = _config(tmp_path, "postgresql://bridge:hunter2@db.example/lapor")
    result = CliRunner().invoke(app, ["--config", str(config), "status"])
    assert result.exit_code == 2
    assert result.output.startswith("configuration error: bridge.database: a PostgreSQL URL")
    assert result.output.count("\n") == 1 and "hunter2" not in result.output


def test_a_password_file_others_may_read_is_a_warning(tmp_path: Path) -> None:
    secret = _password_file(tmp_path, 0o644)
    conf = load_settings(_config(tmp_path, URL, f'database_password_file = "{secret}"'))
    assert config_warnings(conf) == [
        "bridge.database_password_file: the file is readable by group or others;"
        " make it readable by the bridge's user alone (chmod 600)"
    ]


def test_a_missing_password_file_names_the_key(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(ConfigError) as error:
        load_settings(_config(tmp_path, URL, f'database_password_file = "{missing}"'))
    assert "database_password_file" in str(error.value)


def test_a_password_for_a_sqlite_file_is_refused(tmp_path: Path) -> None:
    secret = _password_file(tmp_path)
    config = _config(tmp_path, "bridge.db", f'database_password_file = "{secret}"')
    with pytest.raises(ConfigError) as error:
        load_settings(config)
    assert error.value.key == "bridge.database_password"
    assert "only for a PostgreSQL database" in error.value.problem


def test_the_environment_names_postgresql_and_its_password_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = _password_file(tmp_path)
    monkeypatch.setenv("LAPOR_BRIDGE_BRIDGE__DATABASE", URL)
    monkeypatch.setenv("LAPOR_BRIDGE_BRIDGE__DATABASE_PASSWORD_FILE", str(secret))
    database = load_settings(_config(tmp_path, "bridge.db")).bridge.database
    assert isinstance(database, PostgresDatabase)
    assert database.password is not None and database.password.get_secret_value() == SECRET


def test_a_malformed_url_is_refused_naming_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings(_config(tmp_path, "postgresql://db.example:99999/lapor"))
    assert error.value.key == "bridge.database"
    assert error.value.problem.startswith("not a PostgreSQL URL")
