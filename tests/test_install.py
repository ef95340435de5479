"""README's "Run it as a service", end to end as far as a container allows (bridge.md,
"Installing as a service"): ``make install`` into temporary PREFIX, BINDIR, UNITDIR and
CONFDIR from a copy of the checkout, the copy deleted, then the installed ``lapor-bridge``
(``--version``, ``config check``, ``backup``, ``demo``) and the installed unit
(``systemd-analyze verify`` and ``security``). The install builds a virtual environment
from the lock file: this module takes a minute or two."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bridge.runtime import settings as settings_mod
from bridge.runtime.settings import SERVICE_CREDENTIAL, ConfigError, load_settings
from cli import app, version
from tests.harness import World

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "packaging" / "lapor-bridge.service"
ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze not installed")

# the install (pip from the lock) runs in the first test that needs it
pytestmark = pytest.mark.timeout(900)


def _recorded_exposure() -> float:
    """The exposure score README records for the unit (systemd-analyze security)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"overall exposure level (\d+\.\d)", readme)
    assert match, "README records the unit's exposure score"
    return float(match[1])


def _outside() -> dict[str, str]:
    """The environment of an operator's shell: nothing of this checkout or of a service."""
    dropped = {"PYTHONPATH", "VIRTUAL_ENV", "LAPOR_BRIDGE_CONFIG", "CREDENTIALS_DIRECTORY"}
    return {k: v for k, v in os.environ.items() if k not in dropped}


# --- the command's conventions -----------------------------------------------------------


def test_version_and_short_help() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["--version"])
    assert (result.exit_code, result.output) == (0, f"lapor-bridge {version()}\n")
    assert re.fullmatch(r"\d+\.\d+\.\d+", version())  # this checkout is installed (.venv)
    for args in (["-h"], ["status", "-h"], ["quarantine", "-h"], ["backup", "-h"]):
        short, long = runner.invoke(app, args), runner.invoke(app, [*args[:-1], "--help"])
        assert short.exit_code == 0 and short.output == long.output, args
        assert "Usage: lapor-bridge" in short.output


# --- one configuration, one database -----------------------------------------------------


def test_the_default_configuration_is_etc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert Path("/etc/lapor-bridge/config.toml") == settings_mod.DEFAULT_PATH
    missing = tmp_path / "etc" / "lapor-bridge" / "config.toml"
    monkeypatch.setattr(settings_mod, "DEFAULT_PATH", missing)
    monkeypatch.delenv("LAPOR_BRIDGE_CONFIG", raising=False)
    result = CliRunner().invoke(app, ["status"])
    assert result.exit_code == 2
    assert result.output == (
        f"configuration error: configuration file {missing} not found"
        " (give --config PATH or set LAPOR_BRIDGE_CONFIG)\n"
    )
    monkeypatch.setenv("LAPOR_BRIDGE_CONFIG", str(tmp_path / "elsewhere.toml"))
    result = CliRunner().invoke(app, ["status"])
    assert (result.exit_code, result.output) == (
        2,
        f"configuration error: configuration file {tmp_path / 'elsewhere.toml'} not found\n",
    )


def test_the_example_uses_one_absolute_database_and_the_units_credentials() -> None:
    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    assert re.search(r'^database = "/var/lib/lapor-bridge/bridge\.db"', text, re.M)
    files = re.findall(r'^\w+_file = "([^"]+)"', text, re.M)
    assert len(files) == 8
    assert all(f.startswith(SERVICE_CREDENTIAL) for f in files), files


def test_a_service_credential_is_read_beside_the_configuration_outside_the_service(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the operator's CLI (root, service stopped): /run/credentials/... does not exist, the
    # file the unit would load it from does
    world = World(tmp_path)
    try:
        text = world.config_path.read_text(encoding="utf-8")
        key = re.search(r'^api_key = "([^"]+)"$', text, re.M)
        assert key
        folder = tmp_path / "etc"
        (folder / "credentials").mkdir(parents=True)
        (folder / "credentials" / "tanjak-api-key").write_text(key[1] + "\n", encoding="utf-8")
        (folder / "credentials" / "tanjak-api-key").chmod(0o600)
        config = folder / "config.toml"
        config.write_text(
            text.replace(key[0], f'api_key_file = "{SERVICE_CREDENTIAL}tanjak-api-key"'),
            encoding="utf-8",
        )
        monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
        loaded = load_settings(config)
        assert (loaded.sources["tanjak"].model_extra or {})["api_key"] == key[1]
        result = CliRunner().invoke(app, ["--config", str(config), "config", "check"])
        assert result.exit_code == 0, result.output
        # inside the service only the credential itself counts: a missing one is named
        monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path / "run"))
        with pytest.raises(ConfigError) as caught:
            load_settings(config)
        assert caught.value.key == "sources.tanjak"
        assert "api_key_file" in caught.value.problem and key[1] not in str(caught.value)
    finally:
        world.stop()


def test_the_unit_template() -> None:
    lines = UNIT.read_text(encoding="utf-8").splitlines()
    settings = [line for line in lines if line and not line.startswith(("#", "["))]
    assert "RestartPreventExitStatus=2" in settings
    assert [s for s in settings if s.startswith("LoadCredential")] == [
        "LoadCredential=secret:/etc/lapor-bridge/credentials"
    ]
    assert not [s for s in settings if s.startswith("Environment")]  # the config's database
    assert (
        "ExecStart=/opt/lapor-bridge/bin/lapor-bridge --config /etc/lapor-bridge/config.toml run"
        in settings
    )
    assert (
        "Documentation=file:///opt/lapor-bridge/README.md" in settings
    )  # make install puts it there
    assert SERVICE_CREDENTIAL.startswith("/run/credentials/lapor-bridge.service/secret_")


# --- make install ------------------------------------------------------------------------


@dataclass
class Installed:
    base: Path
    prefix: Path
    bindir: Path
    unitdir: Path
    confdir: Path
    #: what the install left in the copy of the checkout (it must leave nothing)
    leftovers: set[str]
    #: the operator's edit of config.toml, made before the second install (an upgrade)
    edit: str

    def run(
        self, *args: str, cwd: Path | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bindir / "lapor-bridge"), *args],
            cwd=cwd or self.base,
            env=_outside(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )


def _make_install(copy: Path, base: Path) -> None:
    result = subprocess.run(
        [
            "make",
            "-C",
            str(copy),
            "install",
            f"PYTHON={sys.executable}",
            f"PREFIX={base / 'prefix'}",
            f"BINDIR={base / 'bin'}",
            f"UNITDIR={base / 'units'}",
            f"CONFDIR={base / 'conf'}",
        ],
        cwd=base,
        env=_outside(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    if shutil.which("make") is None or shutil.which("git") is None:
        pytest.skip("make install needs make and git")
    base = tmp_path_factory.mktemp("install")
    copy = base / "checkout"
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():  # a tracked file deleted in the work tree is gone
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    before = {p.name for p in copy.iterdir()}
    _make_install(copy, base)
    confdir = base / "conf"
    edit = "\n# the operator's own settings\n"
    with (confdir / "config.toml").open("a", encoding="utf-8") as file:
        file.write(edit)
    _make_install(copy, base)  # an upgrade: `git pull && make install`
    leftovers = {p.name for p in copy.iterdir()} - before
    shutil.rmtree(copy)  # the installed bridge must not need the checkout
    return Installed(
        base=base,
        prefix=base / "prefix",
        bindir=base / "bin",
        unitdir=base / "units",
        confdir=confdir,
        leftovers=leftovers,
        edit=edit,
    )


def test_install_is_self_contained(installed: Installed) -> None:
    assert installed.leftovers == set()  # no build/, no egg-info in the checkout
    link = installed.bindir / "lapor-bridge"
    assert link.is_symlink() and link.resolve() == installed.prefix / "bin" / "lapor-bridge"
    result = installed.run("--version")
    assert (result.returncode, result.stdout) == (0, f"lapor-bridge {version()}\n")
    where = subprocess.run(
        [
            str(installed.prefix / "bin" / "python"),
            "-c",
            "import cli, bridge, adapters.lapor.topics as t; print(cli.__file__, bridge.__file__, t.TOPICS_FILE)",
        ],
        cwd=installed.base,
        env=_outside(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert all(Path(p).is_relative_to(installed.prefix) and Path(p).exists() for p in where), where
    site = next((installed.prefix / "lib").glob("python3*/site-packages"))
    assert not list(site.glob("__editable__*")) and not list(site.glob("*.egg-link"))
    for pth in site.glob("*.pth"):
        assert str(installed.base) not in pth.read_text(encoding="utf-8"), pth
    assert (installed.prefix / "README.md").is_file()
    assert (installed.prefix / "docs" / "design.md").is_file()  # README links there


def test_install_keeps_the_operators_configuration(installed: Installed) -> None:
    config = (installed.confdir / "config.toml").read_text(encoding="utf-8")
    example = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    assert config == example + installed.edit  # copied once, never overwritten
    credentials = installed.confdir / "credentials"
    assert credentials.is_dir() and credentials.stat().st_mode & 0o777 == 0o700


def test_installed_config_check(installed: Installed, tmp_path: Path) -> None:
    # the installed example, before any secret is in place: one message naming the key
    env_config = ["--config", str(installed.confdir / "config.toml")]
    result = installed.run(*env_config, "config", "check")
    assert result.returncode == 2
    assert result.stderr.startswith("configuration error: lapor.accounts.tanjungpinang")
    assert "api_secret_file" in result.stderr and result.stderr.count("\n") == 1
    if not Path("/etc/lapor-bridge/config.toml").exists():
        result = installed.run("status")
        assert (result.returncode, result.stderr) == (
            2,
            "configuration error: configuration file /etc/lapor-bridge/config.toml not found"
            " (give --config PATH or set LAPOR_BRIDGE_CONFIG)\n",
        )
    # as README says: each secret a root-only file in credentials/, named in config.toml
    # by the path the unit hands it over at
    world = World(tmp_path)
    try:
        confdir = tmp_path / "etc-lapor-bridge"
        (confdir / "credentials").mkdir(parents=True, mode=0o700)
        text = world.config_path.read_text(encoding="utf-8")
        for n, match in enumerate(re.finditer(r'^(\w+) = "([^"]+)"$', text, re.M)):
            key, value = match[1], match[2]
            if key in settings_mod.SECRET_KEYS:
                secret = confdir / "credentials" / f"secret-{n}"
                secret.write_text(value + "\n", encoding="utf-8")
                secret.chmod(0o600)
                text = text.replace(match[0], f'{key}_file = "{SERVICE_CREDENTIAL}secret-{n}"')
        assert text.count(SERVICE_CREDENTIAL) == 3
        (confdir / "config.toml").write_text(text, encoding="utf-8")
        config = ["--config", str(confdir / "config.toml")]
        result = installed.run(*config, "config", "check")
        assert result.returncode == 0, result.stderr
        assert "sources.tanjak: ok" in result.stdout
        result = installed.run(*config, "backup", str(tmp_path / "copy.db"))
        database = tmp_path / "bridge.db"
        assert (result.returncode, result.stderr) == (
            1,
            f"error: no database at {database}; has the bridge run?\n",
        )
        result = installed.run(*config, "sync", timeout=300)
        assert result.returncode in (0, 1), result.stderr
        result = installed.run(*config, "backup", str(tmp_path / "copy.db"))
        assert result.returncode == 0, result.stderr
        assert (tmp_path / "copy.db").stat().st_mode & 0o777 == 0o600
    finally:
        world.stop()


def test_installed_demo(installed: Installed) -> None:
    workdir = installed.base / "demo-out"
    result = installed.run("demo", "--workdir", str(workdir), "--complaints", "6", timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "0 created twice" in result.stdout
    # its sample data and LAPOR's topic tree came from the install (package data)
    assert json.loads((workdir / "status.json").read_text(encoding="utf-8"))["sources"]


@needs_analyze
def test_installed_unit_passes_systemd_analyze_verify(installed: Installed) -> None:
    unit = installed.unitdir / "lapor-bridge.service"
    text = unit.read_text(encoding="utf-8")
    assert (
        f"ExecStart={installed.prefix}/bin/lapor-bridge"
        f" --config {installed.confdir}/config.toml run"
    ) in text
    assert f"LoadCredential=secret:{installed.confdir}/credentials" in text
    assert f"Documentation=file://{installed.prefix}/README.md" in text
    assert "/opt/lapor-bridge" not in text and "/etc/lapor-bridge" not in text
    result = subprocess.run(
        [str(ANALYZE), "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    problems = [
        line for line in (result.stdout + result.stderr).splitlines() if "lapor-bridge" in line
    ]
    assert result.returncode == 0 and not problems, problems


@needs_analyze
def test_installed_unit_exposure_stays_at_most_the_recorded_score(installed: Installed) -> None:
    unit = installed.unitdir / "lapor-bridge.service"
    result = subprocess.run(
        [str(ANALYZE), "security", "--offline=yes", "--no-pager", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    match = re.search(r"Overall exposure level for lapor-bridge\.service: (\d+\.\d)", result.stdout)
    assert match, result.stdout[-1000:] + result.stderr
    assert float(match[1]) <= _recorded_exposure()
