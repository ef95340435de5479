"""Every error a person can cause is one message (what, where, what to do) and an exit
code, never a traceback: run through the entry point, as a person would."""

from __future__ import annotations

import gc
import io
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bridge.core.errors import Unavailable
from bridge.reports import exports
from bridge.runtime.http import Endpoint, RateLimiter, RetryPolicy, failure, make_client
from tests.harness import World

ROOT = Path(__file__).resolve().parent.parent


def entry(config: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), "--config", str(config), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "80"},
        timeout=timeout,
    )


def variant(world: World, old: str, new: str) -> Path:
    text = world.config_path.read_text(encoding="utf-8")
    assert old in text
    path = world.tmp / f"variant-{abs(hash(new))}.toml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def one_message(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture
def busy_port() -> Iterator[int]:
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    held.listen()
    try:
        yield held.getsockname()[1]
    finally:
        held.close()


def test_the_health_port_in_use(world: World, busy_port: int) -> None:
    config = variant(world, 'http_listen = ""', f'http_listen = "127.0.0.1:{busy_port}"')
    result = entry(config, "run", timeout=30)
    assert result.returncode == 1
    message = one_message(result)
    assert f"bridge.http_listen 127.0.0.1:{busy_port}" in message
    assert "in use" in message and "another port" in message


def test_http_listen_without_a_port(world: World) -> None:
    result = entry(variant(world, 'http_listen = ""', 'http_listen = "localhost"'), "run")
    assert result.returncode == 2
    message = one_message(result)
    assert message.startswith("configuration error: bridge.http_listen:")
    assert "127.0.0.1:9464" in message  # what to write instead


def test_a_database_folder_that_does_not_exist(world: World) -> None:
    missing = world.tmp / "nope" / "state"
    config = variant(world, str(world.tmp / "bridge.db"), str(missing / "bridge.db"))
    for command in (["sync"], ["resync", "--source", "tanjak"]):
        result = entry(config, *command)
        assert result.returncode == 1
        message = one_message(result)
        assert f"the folder {missing} does not exist" in message
        assert "mkdir -p" in message and "[bridge] database" in message
    result = entry(config, "status")  # a read never creates it
    assert result.returncode == 1
    assert "no database at" in one_message(result)
    assert not missing.exists()


def test_a_database_path_through_a_file(world: World) -> None:
    (world.tmp / "afile").write_text("not a folder", encoding="utf-8")
    config = variant(world, str(world.tmp / "bridge.db"), str(world.tmp / "afile" / "bridge.db"))
    result = entry(config, "sync")
    assert result.returncode == 1
    assert f"{world.tmp / 'afile'} is not a folder" in one_message(result)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes in any folder")
def test_a_database_folder_this_user_cannot_write(world: World) -> None:
    locked = world.tmp / "locked"
    locked.mkdir(mode=0o500)
    config = variant(world, str(world.tmp / "bridge.db"), str(locked / "bridge.db"))
    result = entry(config, "sync")
    assert result.returncode == 1
    assert "cannot write in" in one_message(result)


def test_export_into_a_closed_pipe_ends_quietly(world: World) -> None:
    world.tanjak.add_aduan(isi="Lampu jalan mati di Jl. Pramuka sejak seminggu.")
    assert world.sync().ok
    command = [sys.executable, str(ROOT / "cli.py"), "--config", str(world.config_path)]
    for fmt in ("csv", "json", "html"):
        proc = subprocess.Popen(
            [*command, "export", "--format", fmt], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()  # `| head` that has read what it wanted
        err = proc.stderr.read().decode()
        proc.stderr.close()
        assert proc.wait(timeout=60) != 0
        assert err == ""


class _ClosedPipe(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        if self.writes > 2:
            raise BrokenPipeError(32, "Broken pipe")
        return super().write(text)


def test_a_reader_gone_mid_export_leaves_nothing_to_finish_after_the_database_closes(
    world: World,
) -> None:
    """``export | head`` once printed "Exception ignored … Cannot operate on a closed
    database": the rows' generator was finished after the store had closed."""
    for n in range(3):
        world.tanjak.add_aduan(isi=f"Lampu jalan mati di Jl. Pramuka nomor {n} sejak seminggu.")
    assert world.sync().ok
    unraisable: list[object] = []
    previous = sys.unraisablehook
    sys.unraisablehook = unraisable.append
    try:
        store = world.store()
        with pytest.raises(BrokenPipeError):
            exports.export(store, "json", _ClosedPipe())
        store.close()
        gc.collect()
    finally:
        sys.unraisablehook = previous
    assert unraisable == []


# network errors say which system, which URL, and what failed -------------------------


def _endpoint(url: str, name: str = "Tanjak (tanjak)") -> Endpoint:
    return Endpoint(
        name,
        make_client(url, timeout=2.0),
        RateLimiter(1000),
        RetryPolicy(attempts=1),
    )


def _free_port() -> int:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port: int = probe.getsockname()[1]
    probe.close()
    return port


def test_connection_refused_names_the_system_and_the_url_without_secrets() -> None:
    port = _free_port()
    endpoint = _endpoint(f"http://127.0.0.1:{port}")
    with pytest.raises(Unavailable) as raised:
        endpoint.send("GET", "/api/aduan", params={"api_key": "RAHASIA"})
    message = str(raised.value)
    assert message.startswith("cannot connect to Tanjak (tanjak): connection refused")
    assert f"http://127.0.0.1:{port}/api/aduan" in message
    assert "RAHASIA" not in message and "api_key" not in message
    assert "gave up after 1 attempt)" in message


def test_a_name_that_does_not_resolve_is_dns() -> None:
    exc = httpx.ConnectError("[Errno -2] Name or service not known")
    exc.__cause__ = socket.gaierror(-2, "Name or service not known")
    exc.request = httpx.Request("GET", "https://lapor.invalid/complaints?token=x")
    assert failure(exc) == "DNS: the host name did not resolve, https://lapor.invalid/complaints"


def test_tls_and_timeouts_are_told_apart() -> None:
    # a server that answers a TLS hello with plain text
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def serve() -> None:
        conn, _ = server.accept()
        conn.recv(1024)
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\nthis is not TLS\r\n" * 4)
        conn.close()

    threading.Thread(target=serve, daemon=True).start()
    url = f"https://127.0.0.1:{server.getsockname()[1]}/x"
    try:
        with pytest.raises(httpx.TransportError) as raised:
            httpx.get(url, timeout=5)
    finally:
        server.close()
    assert failure(raised.value) == f"TLS failed (certificate or handshake), {url}"
    timeout = httpx.ReadTimeout("timed out", request=httpx.Request("GET", "https://a.example/b"))
    assert failure(timeout) == "timed out, https://a.example/b"


def test_config_check_tries_each_system_once(world: World) -> None:
    port = _free_port()
    config = variant(world, world.tanjak.url, f"http://127.0.0.1:{port}")
    started = time.monotonic()
    result = entry(config, "config", "check", timeout=60)
    took = time.monotonic() - started
    assert result.returncode == 2
    assert took < 15, f"{took:.1f} s: config check retried in silence"
    assert "Traceback" not in result.stderr
    line = next(x for x in result.stderr.splitlines() if x.startswith("sources.tanjak:"))
    assert "connection refused" in line and f"127.0.0.1:{port}" in line
    assert "lapor.accounts.tanjungpinang: ok" in result.stdout
