"""Issue 16: what the configuration refuses, what it only warns about, and the health
server's and lock's limits — over real files, sockets and processes."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from adapters import registry
from adapters.sandbox.region import Region
from bridge.runtime.service import DatabaseLock, HealthServer, LockedError, Metrics
from bridge.runtime.settings import ConfigError, Settings, config_warnings, load_settings
from cli import app
from tests.harness import TANJAK_KEY, World
from tests.test_settings import _example_with_secrets

ROOT = Path(__file__).resolve().parent.parent


def _edited(tmp_path: Path, *edits: tuple[str, str]) -> Path:
    """config.example.toml (secrets in files of mode 0600) with each ``old`` → ``new`` once."""
    path = _example_with_secrets(tmp_path)
    for secret in tmp_path.iterdir():
        if secret != path:
            secret.chmod(0o600)
    text = path.read_text(encoding="utf-8")
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    path.write_text(text, encoding="utf-8")
    return path


def _refused(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        registry.validate(load_settings(path))
    return caught.value


def _loaded(path: Path) -> Settings:
    conf = load_settings(path)
    registry.validate(conf)
    return conf


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- 1. numbers that are not finite ------------------------------------------------------


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "+inf"])
@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        (
            "poll_interval_seconds = 60",
            "poll_interval_seconds = {}",
            "bridge.poll_interval_seconds",
        ),
        (
            "create_timeout_seconds = 120",
            "create_timeout_seconds = {}",
            "lapor.create_timeout_seconds",
        ),
        ("requests_per_second = 5 ", "requests_per_second = {} ", "lapor.requests_per_second"),
        ("timeout_seconds = 30 ", "timeout_seconds = {} ", "lapor.timeout_seconds"),
        (
            "requests_per_second = 10\n",
            "requests_per_second = {}\n",
            "sources.tanjak.requests_per_second",
        ),
        # an adapter's own key (Open311's), validated by its model
        ("window_days = 90", "window_days = {}", "sources.kota-contoh.window_days"),
        # an adapter's own key the adapter does not know: still named as not finite
        ("page_size = 100 ", "rate_boost = {}\npage_size = 100 ", "sources.tanjak.rate_boost"),
    ],
)
def test_a_number_that_is_not_finite_is_refused_naming_the_key(
    tmp_path: Path, old: str, new: str, key: str, value: str
) -> None:
    error = _refused(_edited(tmp_path, (old, new.format(value))))
    assert error.key == key
    # finiteness is checked first, whatever else the value breaks (nan > 0 is false too)
    assert error.problem == "Input should be a finite number"


def test_inf_from_the_environment_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _edited(tmp_path)
    monkeypatch.setenv("LAPOR_BRIDGE_BRIDGE__POLL_INTERVAL_SECONDS", "inf")
    error = _refused(path)
    assert (error.key, error.problem) == (
        "bridge.poll_interval_seconds",
        "Input should be a finite number",
    )


def test_inf_exits_2_with_one_line_naming_the_key(tmp_path: Path) -> None:
    path = _edited(tmp_path, ("create_timeout_seconds = 120", "create_timeout_seconds = inf"))
    result = CliRunner().invoke(app, ["--config", str(path), "status"])
    assert result.exit_code == 2
    assert result.output == (
        "configuration error: lapor.create_timeout_seconds: Input should be a finite number\n"
    )


# --- 2. http_listen ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "listen", ["", "127.0.0.1:9464", "0.0.0.0:1", "[::1]:9464", "[::]:65535", "10.1.2.3:80"]
)
def test_http_listen_takes_an_ip_address_and_port_or_nothing(tmp_path: Path, listen: str) -> None:
    path = _edited(tmp_path, ('http_listen = "127.0.0.1:9464"', f'http_listen = "{listen}"'))
    assert _loaded(path).bridge.http_listen == listen


@pytest.mark.parametrize(
    "listen",
    [
        "localhost:9464",
        "lapor-bridge.example:9464",
        "127.0.0.1",
        "9464",
        ":9464",
        "127.0.0.1:0",
        "127.0.0.1:65536",
        "127.0.0.1:http",
        "256.0.0.1:9464",
        "::1:9464",
        "[127.0.0.1]:9464",
        "[::1]",
        " 127.0.0.1:9464",
        "garbage",
    ],
)
def test_http_listen_refuses_names_and_garbage(tmp_path: Path, listen: str) -> None:
    path = _edited(tmp_path, ('http_listen = "127.0.0.1:9464"', f'http_listen = "{listen}"'))
    error = _refused(path)
    assert error.key == "bridge.http_listen"
    assert "use an IP address such as 127.0.0.1:9464" in error.problem


# --- 3. log_level ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "taken"),
    [("debug", "debug"), ("INFO", "info"), ("Warning", "warning"), ("error", "error"),
     ("CRITICAL", "critical")],
)  # fmt: skip
def test_log_level_is_a_known_level_in_any_case(tmp_path: Path, given: str, taken: str) -> None:
    path = _edited(tmp_path, ('log_level = "info"', f'log_level = "{given}"'))
    assert _loaded(path).bridge.log_level == taken


@pytest.mark.parametrize("level", ["verbose", "trace", "warn ", "", "10"])
def test_an_unknown_log_level_is_refused(tmp_path: Path, level: str) -> None:
    error = _refused(_edited(tmp_path, ('log_level = "info"', f'log_level = "{level}"')))
    assert error.key == "bridge.log_level"
    assert "'debug', 'info', 'warning', 'error' or 'critical'" in error.problem


# --- 4. plain http:// to a remote system ---------------------------------------------------

LAPOR_URL = 'base_url = "http://127.0.0.1:8100"'
TANJAK_URL = 'base_url = "http://127.0.0.1:8101"'
SAMBAT_URL = 'base_url = "http://127.0.0.1:8103"'
LAPOR_INSECURE = "allow_insecure_http = false"  # config.example.toml shows it in [lapor]


@pytest.mark.parametrize(
    "host", ["10.1.2.3:8100", "lapor.example", "[fe80::1]:80", "127.0.0.1.nip.io"]
)
def test_plain_http_to_a_remote_lapor_is_refused(tmp_path: Path, host: str) -> None:
    error = _refused(_edited(tmp_path, (LAPOR_URL, f'base_url = "http://{host}"')))
    assert error.key == "lapor.base_url"
    assert "allow_insecure_http = true in [lapor]" in error.problem


def test_plain_http_to_a_remote_source_is_refused_even_when_lapor_allows_it(
    tmp_path: Path,
) -> None:
    path = _edited(
        tmp_path,
        (LAPOR_INSECURE, "allow_insecure_http = true"),
        (TANJAK_URL, 'base_url = "http://tanjak.example"'),
    )
    error = _refused(path)
    assert error.key == "sources.tanjak.base_url"
    assert "allow_insecure_http = true in [sources.tanjak]" in error.problem


@pytest.mark.parametrize(
    "host", ["127.0.0.1:8100", "127.9.8.7", "localhost:8100", "LOCALHOST", "[::1]:8100"]
)
def test_loopback_http_needs_no_permission_and_warns_nothing(tmp_path: Path, host: str) -> None:
    conf = _loaded(
        _edited(
            tmp_path,
            (LAPOR_URL, f'base_url = "http://{host}"'),
            (TANJAK_URL, f'base_url = "http://{host}"'),
        )
    )
    assert conf.lapor.base_url == f"http://{host}"
    assert config_warnings(conf) == []


def test_allow_insecure_http_lets_it_through_with_a_warning(tmp_path: Path) -> None:
    path = _edited(
        tmp_path,
        (LAPOR_URL, 'base_url = "http://10.1.2.3:8100"'),
        (LAPOR_INSECURE, "allow_insecure_http = true"),
        (SAMBAT_URL, 'base_url = "http://sambat.malangkota.example"\nallow_insecure_http = true'),
    )
    conf = _loaded(path)  # the adapter (extra="forbid") is not handed the new key
    assert conf.lapor.allow_insecure_http and conf.sources["sambat"].allow_insecure_http
    assert not conf.sources["tanjak"].allow_insecure_http
    warnings = config_warnings(conf)
    assert len(warnings) == 2, warnings
    assert warnings[0].startswith("lapor.base_url: plain http://")
    assert warnings[1].startswith("sources.sambat.base_url: plain http://")
    assert all("allow_insecure_http" in w for w in warnings)


def test_allow_insecure_http_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _edited(tmp_path, (LAPOR_URL, 'base_url = "http://10.1.2.3:8100"'))
    assert _refused(path).key == "lapor.base_url"
    monkeypatch.setenv("LAPOR_BRIDGE_LAPOR__ALLOW_INSECURE_HTTP", "true")
    assert _loaded(path).lapor.allow_insecure_http


def test_plain_http_to_a_remote_system_exits_2_naming_the_key(tmp_path: Path) -> None:
    path = _edited(tmp_path, (TANJAK_URL, 'base_url = "http://192.0.2.7:8101"'))
    result = CliRunner().invoke(app, ["--config", str(path), "config", "check"])
    assert result.exit_code == 2
    assert result.output.startswith("configuration error: sources.tanjak.base_url: plain http://")
    assert result.output.count("\n") == 1


def test_the_demo_and_test_configurations_are_valid_without_warnings(
    tmp_path: Path, world: World
) -> None:
    # every sandbox runs on loopback http: neither refused nor warned about
    with Region() as region:
        path = tmp_path / "demo.toml"
        path.write_text(
            region.config(tmp_path / "bridge.db", http_listen="127.0.0.1:9464"), encoding="utf-8"
        )
        conf = _loaded(path)
        assert set(conf.sources) == {"tanjak", "ujar", "sambat", "kota-contoh"}
        assert config_warnings(conf) == []
    assert config_warnings(_loaded(world.config_path)) == []


# --- 5. warnings -------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644])
def test_a_secret_file_others_may_read_is_a_warning_naming_the_key(
    tmp_path: Path, mode: int
) -> None:
    path = _edited(tmp_path)
    (tmp_path / "lapor-malang-secret").chmod(mode)
    (tmp_path / "sambat-password").chmod(mode)
    warnings = config_warnings(_loaded(path))
    assert warnings == [
        "lapor.accounts.malang.api_secret_file: the file is readable by group or others;"
        " make it readable by the bridge's user alone (chmod 600)",
        "sources.sambat.password_file: the file is readable by group or others;"
        " make it readable by the bridge's user alone (chmod 600)",
    ]
    assert not any("s3cret" in w or str(tmp_path) in w for w in warnings)


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_a_secret_file_only_its_owner_reads_is_no_warning(tmp_path: Path, mode: int) -> None:
    path = _edited(tmp_path)
    (tmp_path / "lapor-malang-secret").chmod(mode)
    assert config_warnings(_loaded(path)) == []


def test_a_secret_file_given_from_the_environment_is_checked_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _edited(tmp_path)
    loose = tmp_path / "env-secret"
    loose.write_text("from-env-file\n", encoding="utf-8")
    loose.chmod(0o644)
    monkeypatch.setenv("LAPOR_BRIDGE_SOURCES__TANJAK__API_KEY_FILE", str(loose))
    conf = _loaded(path)
    assert (conf.sources["tanjak"].model_extra or {})["api_key"] == "from-env-file"
    assert [w.split(":")[0] for w in config_warnings(conf)] == ["sources.tanjak.api_key_file"]


@pytest.mark.parametrize("listen", ["0.0.0.0:9464", "10.1.2.3:9464", "[::]:9464"])
def test_http_listen_off_loopback_is_a_warning(tmp_path: Path, listen: str) -> None:
    path = _edited(tmp_path, ('http_listen = "127.0.0.1:9464"', f'http_listen = "{listen}"'))
    warnings = config_warnings(_loaded(path))
    assert len(warnings) == 1
    assert warnings[0].startswith(f"bridge.http_listen: {listen} is not a loopback address")
    assert "/metrics" in warnings[0]


def test_config_check_prints_the_warnings_and_still_exits_0(world: World) -> None:
    key_file = world.tmp / "tanjak-key"
    key_file.write_text(TANJAK_KEY, encoding="utf-8")
    key_file.chmod(0o644)
    text = world.config_path.read_text(encoding="utf-8")
    text = text.replace(f'api_key = "{TANJAK_KEY}"', f'api_key_file = "{key_file}"')
    text = text.replace('http_listen = ""', 'http_listen = "0.0.0.0:9464"')
    world.config_path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(app, ["--config", str(world.config_path), "config", "check"])
    assert result.exit_code == 0, result.output
    assert "sources.tanjak: ok" in result.output  # the key was read from the file
    assert "warning: bridge.http_listen: 0.0.0.0:9464 is not a loopback address" in result.stderr
    assert "warning: sources.tanjak.api_key_file: the file is readable by group" in result.stderr
    assert TANJAK_KEY not in result.output
    key_file.chmod(0o600)
    world.config_path.write_text(
        text.replace('"0.0.0.0:9464"', '"127.0.0.1:9464"'), encoding="utf-8"
    )
    result = CliRunner().invoke(app, ["--config", str(world.config_path), "config", "check"])
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output


def test_run_logs_each_warning_at_start(world: World) -> None:
    port = _free_port()
    key_file = world.tmp / "tanjak-key"
    key_file.write_text(TANJAK_KEY, encoding="utf-8")
    key_file.chmod(0o640)
    text = world.config_path.read_text(encoding="utf-8")
    text = text.replace(f'api_key = "{TANJAK_KEY}"', f'api_key_file = "{key_file}"')
    text = text.replace('http_listen = ""', f'http_listen = "0.0.0.0:{port}"')
    world.config_path.write_text(text, encoding="utf-8")
    log = world.tmp / "daemon.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", "import cli; cli.main()", "--config", str(world.config_path),
             "run"],
            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            else:
                pytest.fail(log.read_text(encoding="utf-8"))
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=15) == 0
    events = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    warned = [e for e in events if e.get("event") == "config_warning"]
    assert [(e["level"], e["warning"].split(":")[0]) for e in warned] == [
        ("warning", "bridge.http_listen"),
        ("warning", "sources.tanjak.api_key_file"),
    ]
    assert TANJAK_KEY not in log.read_text(encoding="utf-8")


# --- 6. the health server's limits -------------------------------------------------------


@pytest.fixture
def server() -> Iterator[HealthServer]:
    health = HealthServer("127.0.0.1:0", lambda: (True, {}), Metrics(), timeout=1.0)
    health.start()
    try:
        yield health
    finally:
        health.stop()


def _closed_by_peer(sock: socket.socket, wait: float) -> bool:
    """Whether the other end closes ``sock`` within ``wait`` seconds (nothing is sent)."""
    readable, _, _ = select.select([sock], [], [], wait)
    if not readable:
        return False
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def _healthz(address: tuple[str, int]) -> httpx.Response:
    return httpx.get("http://{}:{}/healthz".format(*address), timeout=2)


def test_idle_connections_are_bounded_then_dropped() -> None:
    server = HealthServer("127.0.0.1:0", lambda: (True, {}), Metrics(), timeout=2.0)
    server.start()
    before = threading.active_count()
    sockets = [socket.create_connection(server.address) for _ in range(50)]
    try:
        time.sleep(0.3)
        # 16 are held (a thread each, waiting for a request), the other 34 closed on arrival
        assert threading.active_count() <= before + 16
        # while 16 idle clients hold every slot, a request gets no answer
        with pytest.raises(httpx.TransportError):
            _healthz(server.address)
        readable, _, _ = select.select(sockets, [], [], 0)
        assert len(readable) == 34 and all(_closed_by_peer(s, 0) for s in readable)
        # each idle client is dropped after the read timeout (2 s here), freeing its slot
        assert all(_closed_by_peer(s, 3.0) for s in sockets)
        time.sleep(0.2)
        assert threading.active_count() <= before
        answer = _healthz(server.address)
        assert (answer.status_code, answer.json()) == (200, {"status": "ok"})
    finally:
        for s in sockets:
            s.close()
        server.stop()


def test_a_client_dripping_its_request_is_dropped(server: HealthServer) -> None:
    request = b"GET /healthz HTTP/1.0\r\nHost: x\r\n\r\n"
    start = time.monotonic()
    with socket.create_connection(server.address) as sock:
        sent = 0
        dropped = False
        # a byte every 0.3 s: each read gets one well within 1 s, so only a deadline on the
        # whole request (not a timeout per read) drops this client
        for byte in request:
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                dropped = True
                break
            sent += 1
            if _closed_by_peer(sock, 0.3):
                dropped = True
                break
        elapsed = time.monotonic() - start
    assert dropped and sent < len(request)
    assert 0.9 <= elapsed <= 2.5
    assert _healthz(server.address).status_code == 200


def test_the_default_read_timeout_is_five_seconds() -> None:
    health = HealthServer("127.0.0.1:0", lambda: (True, {}), Metrics())
    health.start()
    try:
        with socket.create_connection(health.address) as sock:
            start = time.monotonic()
            assert _closed_by_peer(sock, 8.0)
            assert 4.5 <= time.monotonic() - start <= 6.5
    finally:
        health.stop()


def test_the_health_server_listens_on_ipv6() -> None:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback here")
    health = HealthServer("[::1]:0", lambda: (True, {}), Metrics())
    health.start()
    try:
        host, port = health.address
        assert host == "::1"
        assert httpx.get(f"http://[::1]:{port}/healthz", timeout=2).status_code == 200
    finally:
        health.stop()


# --- 7. the database lock through a symlink ----------------------------------------------


def test_a_symlink_to_the_database_meets_the_same_lock(tmp_path: Path) -> None:
    real = tmp_path / "state" / "bridge.db"
    real.parent.mkdir()
    real.touch()
    link = tmp_path / "link.db"
    link.symlink_to(real)
    through_dir = tmp_path / "state-link"
    through_dir.symlink_to(real.parent)
    with DatabaseLock(real):
        for other in (link, through_dir / "bridge.db"):
            with pytest.raises(LockedError, match=r"bridge\.db is in use"):
                DatabaseLock(other).acquire()
    with DatabaseLock(link) as lock:  # and the other way round
        assert lock.path == Path(f"{real}.lock")
        with pytest.raises(LockedError):
            DatabaseLock(real).acquire()
    assert not (tmp_path / "link.db.lock").exists()


def test_sync_through_a_symlink_is_refused_while_the_real_path_is_locked(world: World) -> None:
    real = world.settings.bridge.database
    real.touch()
    link = world.tmp / "other-name.db"
    link.symlink_to(real)
    text = world.config_path.read_text(encoding="utf-8")
    world.config_path.write_text(text.replace(f'"{real}"', f'"{link}"'), encoding="utf-8")
    with DatabaseLock(real):  # as `run` holds it
        result = CliRunner().invoke(app, ["--config", str(world.config_path), "sync"])
    assert result.exit_code == 1
    assert "is in use by lapor-bridge" in result.output
