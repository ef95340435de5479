"""Configuration: TOML, environment overrides, secret files, one clear error naming the key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters import registry
from bridge.runtime.settings import ConfigError, load_settings
from cli import app

EXAMPLE = Path(__file__).parent.parent / "config.example.toml"


def _example_with_secrets(tmp_path: Path) -> Path:
    text = EXAMPLE.read_text(encoding="utf-8")
    for name in set(re.findall(r"/run/credentials/lapor-bridge\.service/secret_([\w.-]+)", text)):
        secret = tmp_path / name
        value = "{11111111-2222-3333-4444-555555555555}" if "token" in name else f"s3cret-{name}"
        secret.write_text(value + "\n", encoding="utf-8")
        text = text.replace(f"/run/credentials/lapor-bridge.service/secret_{name}", str(secret))
    # the example's database is the service's; a test's is its own
    text = text.replace("/var/lib/lapor-bridge/bridge.db", str(tmp_path / "bridge.db"))
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_example_config_is_valid(tmp_path: Path) -> None:
    settings = load_settings(_example_with_secrets(tmp_path))
    registry.validate(settings)
    account = settings.lapor.accounts["tanjungpinang"]
    assert account.token.get_secret_value() == "{11111111-2222-3333-4444-555555555555}"
    assert settings.sources["tanjak"].categories == {"jalan": 1201, "drainase": 1202, "*": 1001}
    assert settings.lapor.capabilities == []  # the evidenced profile is the default
    assert (settings.lapor.auth_header, settings.lapor.create_timeout_seconds) == (
        "Authorization",
        120,
    )
    assert settings.lapor.accounts["malang"].user_id == 100002


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _example_with_secrets(tmp_path)
    monkeypatch.setenv("LAPOR_BRIDGE_BRIDGE__DATABASE", "/var/lib/lapor-bridge/state.db")
    monkeypatch.setenv(
        "LAPOR_BRIDGE_LAPOR__ACCOUNTS__TANJUNGPINANG__INSTITUTION", "Pemerintah Kota Malang"
    )
    settings = load_settings(path)
    assert str(settings.bridge.database) == "/var/lib/lapor-bridge/state.db"
    assert settings.lapor.accounts["tanjungpinang"].institution == "Pemerintah Kota Malang"


def test_environment_overrides_a_secret_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # config.example.toml gives api_secret_file and shows this very override
    path = _example_with_secrets(tmp_path)
    monkeypatch.setenv("LAPOR_BRIDGE_LAPOR__ACCOUNTS__TANJUNGPINANG__API_SECRET", "from-env")
    monkeypatch.setenv("LAPOR_BRIDGE_SOURCES__TANJAK__API_KEY", "key-from-env")
    settings = load_settings(path)
    assert settings.lapor.accounts["tanjungpinang"].api_secret.get_secret_value() == "from-env"
    assert settings.lapor.accounts["malang"].api_secret.get_secret_value() == (
        "s3cret-lapor-malang-secret"
    )
    tanjak = settings.sources["tanjak"].model_extra or {}
    assert tanjak["api_key"] == "key-from-env"


def test_environment_secret_file_overrides_an_inline_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _example_with_secrets(tmp_path)
    text = path.read_text(encoding="utf-8")
    start = text.index("api_secret_file", text.index("[lapor.accounts.tanjungpinang]"))
    end = text.index("\n", start)
    path.write_text(text[:start] + 'api_secret = "inline"' + text[end:], encoding="utf-8")
    assert load_settings(path).lapor.accounts["tanjungpinang"].api_secret.get_secret_value() == (
        "inline"
    )
    secret = tmp_path / "env-secret"
    secret.write_text("from-env-file\n", encoding="utf-8")
    monkeypatch.setenv("LAPOR_BRIDGE_LAPOR__ACCOUNTS__TANJUNGPINANG__API_SECRET_FILE", str(secret))
    settings = load_settings(path)
    assert settings.lapor.accounts["tanjungpinang"].api_secret.get_secret_value() == (
        "from-env-file"
    )


def test_a_secret_and_its_file_in_one_place_is_an_error(tmp_path: Path) -> None:
    path = _example_with_secrets(tmp_path)
    text = path.read_text(encoding="utf-8")
    marker = "[lapor.accounts.tanjungpinang]\n"
    path.write_text(text.replace(marker, marker + 'api_secret = "inline"\n'), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert caught.value.key == "lapor.accounts.tanjungpinang"
    assert "api_secret" in caught.value.problem and "inline" not in str(caught.value)


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        (
            "poll_interval_seconds = 60",
            "poll_interval_seconds = -1",
            "bridge.poll_interval_seconds",
        ),
        ('account = "tanjungpinang"', 'account = "nowhere"', "sources.tanjak.account"),
        ('kind = "tanjak"', 'kind = "whatsapp"', "sources.tanjak.kind"),
        # lapor.md v2: LAPOR's own integer region id, not a region code like "21.72"
        ("location_id = 34", 'location_id = "21.72"', "sources.tanjak.location_id"),
        ("location_id = 34", 'location_id = "Tanjungpinang"', "sources.tanjak.location_id"),
        ("location_id = 34", "location_id = 0", "sources.tanjak.location_id"),
        ("classification_id = 1", "classification_id = 1.5", "sources.tanjak.classification_id"),
        ("classification_id = 1  ", "# (none)  ", "sources.tanjak.classification_id"),
        ("user_id = 100001", 'user_id = "budi"', "lapor.accounts.tanjungpinang.user_id"),
        ("capabilities = []", 'capabilities = ["search"]', "lapor.capabilities.0"),
        ('auth_header = "Authorization"', 'auth_header = "Bad Header"', "lapor.auth_header"),
        # without the categories capability: ids only, and "*" required
        ("jalan = 1201", 'jalan = "PEKERJAAN UMUM"', "sources.tanjak.categories.jalan"),
        ('"*" = 1001', "lainnya = 1001", "sources.tanjak.categories"),
        ("page_size = 100", "page_size = 500", "sources.tanjak.page_size"),
        (
            'home_source = "tanjak"',
            'home_source = "whatsapp"',
            "lapor.accounts.tanjungpinang.home_source",
        ),
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, old: str, new: str, key: str) -> None:
    path = _example_with_secrets(tmp_path)
    path.write_text(path.read_text(encoding="utf-8").replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        registry.validate(load_settings(path))
    assert caught.value.key == key


def test_missing_secret_file_is_named_and_secret_never_printed(tmp_path: Path) -> None:
    path = _example_with_secrets(tmp_path)
    (tmp_path / "tanjak-api-key").unlink()
    result = CliRunner().invoke(app, ["--config", str(path), "status"])
    assert result.exit_code == 2
    assert "sources.tanjak" in result.output and "api_key_file" in result.output
    assert "s3cret" not in result.output
    assert result.output.count("\n") == 1


def test_missing_key_exit_2_one_line(tmp_path: Path) -> None:
    path = _example_with_secrets(tmp_path)
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("api_key_file", "# api_key_file"), encoding="utf-8")
    result = CliRunner().invoke(app, ["--config", str(path), "sync"])
    assert result.exit_code == 2
    assert result.output.strip() == "configuration error: sources.tanjak.api_key: Field required"


def test_not_toml(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[bridge\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["--config", str(path), "status"])
    assert result.exit_code == 2
    assert "not valid TOML" in result.output
