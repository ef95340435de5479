"""The apps' credentials go only to their configured origin; the state database is 0600.

A photo URL elsewhere (another port of loopback, another host, ``http`` on an
``https`` app) is refused with ``Rejected`` before anything is sent: a recording
server on another port sees no request at all, so no key, login or token.
"""

from __future__ import annotations

import importlib
import os
import random
import stat
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.local.common import same_origin
from adapters.local.sambat import client as sambat
from adapters.local.sample import make_jpeg
from adapters.local.tanjak import client as tanjak
from bridge.core.errors import Rejected
from bridge.core.model import Attachment
from bridge.sync.store import Store
from tests.kits import FAST

KITS = {
    "tanjak": "tests.kits.tanjak:TanjakKit",
    "sambat": "tests.kits.sambat:SambatKit",
    "ujar": "tests.kits.ujar:UjarKit",
    "open311": "tests.kits.open311:Open311Kit",
}


class Recorder:
    """A tiny HTTP server on its own loopback port that keeps every request's headers."""

    def __init__(self) -> None:
        seen: list[dict[str, str]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                seen.append({k.lower(): v for k, v in self.headers.items()})
                body = make_jpeg(random.Random(1))
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.seen = seen
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    server = Recorder()
    try:
        yield server
    finally:
        server.stop()


def _kit(name: str) -> Any:
    module_name, cls = KITS[name].split(":")
    return getattr(importlib.import_module(module_name), cls)()


@pytest.mark.parametrize("name", sorted(KITS))
def test_photo_on_another_loopback_port_gets_no_credentials(name: str, recorder: Recorder) -> None:
    kit = _kit(name)
    kit.sandbox.start()
    source = kit.source("city", "acct")
    try:
        # the recorder itself answers: a request that reached it would be seen
        assert httpx.get(f"{recorder.url}/probe").status_code == 200
        assert len(recorder.seen) == 1
        recorder.seen.clear()
        sandbox_port = httpx.URL(kit.sandbox.url).port
        elsewhere = [
            f"{recorder.url}/media/1/1.jpg",  # same host, another port
            f"https://127.0.0.1:{sandbox_port}/media/1/1.jpg",  # the app's port, other scheme
            f"http://localhost:{sandbox_port}/media/1/1.jpg",  # the app's port, other host name
            f"//127.0.0.1:{recorder.server.server_address[1]}/media/1/1.jpg",
        ]
        for url in elsewhere:
            with pytest.raises(Rejected, match="not on the app's host") as caught:
                source.fetch_attachment(Attachment(url=url))
            assert caught.value.status == 0
            assert "scheme, host and port" in caught.value.message
        assert recorder.seen == []
    finally:
        source.close()
        kit.sandbox.stop()


@pytest.mark.parametrize("name", ["tanjak", "sambat", "ujar"])
def test_photo_on_the_apps_origin_is_still_fetched(name: str) -> None:
    kit = _kit(name)
    kit.sandbox.start()
    source = kit.source("city", "acct")
    try:
        local_id = kit.add_record(random.Random(3))
        jpeg = make_jpeg(random.Random(4))
        photo_id = int(local_id) if name == "tanjak" else local_id
        url = kit.sandbox.add_photo(photo_id, jpeg)
        assert source.fetch_attachment(Attachment(url=url)) == jpeg
    finally:
        source.close()
        kit.sandbox.stop()


def test_origin_is_scheme_host_and_port() -> None:
    """One rule for every app (adapters/local/common.py); each app's photo fetch is
    checked against it over real HTTP below."""
    base = "https://app.example/api"
    assert same_origin(base, "https://app.example/media/1.jpg")
    assert same_origin(base, "https://APP.example:443/media/1.jpg")  # default port, any case
    assert same_origin(base, "/media/1.jpg")  # relative: on the app's origin
    assert not same_origin(base, "http://app.example/media/1.jpg")  # downgrade to http
    assert not same_origin(base, "http://app.example:443/media/1.jpg")
    assert not same_origin(base, "https://app.example:8443/media/1.jpg")  # another port
    assert not same_origin(base, "https://cdn.app.example/media/1.jpg")  # another host
    assert not same_origin(base, "//evil.example/media/1.jpg")
    assert not same_origin(base, "https://app.example.evil.example/1.jpg")
    assert not same_origin(base, "http://[::1/broken")
    assert same_origin("http://127.0.0.1:8080", "http://127.0.0.1:8080/x.jpg")
    assert not same_origin("http://127.0.0.1:8080", "http://127.0.0.1:8081/x.jpg")
    assert not same_origin("http://127.0.0.1:8080", "https://127.0.0.1:8080/x.jpg")


def _tanjak(base_url: str, handler: Callable[[httpx.Request], httpx.Response]) -> Any:
    config = tanjak.TanjakConfig(
        account="a", base_url=base_url, api_key="rahasia-tanjak", location_id=34
    )
    return tanjak.connect("city", config, policy=FAST, transport=httpx.MockTransport(handler))


def _sambat(base_url: str, handler: Callable[[httpx.Request], httpx.Response]) -> Any:
    config = sambat.SambatConfig.model_validate(
        {
            "account": "a",
            "base_url": base_url,
            "username": "kota",
            "password": "rahasia-sambat",
            "location_id": 34,
        }
    )
    return sambat.connect("city", config, policy=FAST, transport=httpx.MockTransport(handler))


@pytest.mark.parametrize("connect", [_tanjak, _sambat])
def test_https_app_never_sends_its_credentials_over_http(
    connect: Callable[[str, Callable[[httpx.Request], httpx.Response]], Any],
) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=b"photo", headers={"Content-Type": "image/jpeg"})

    source = connect("https://app.example", handler)
    try:
        with pytest.raises(Rejected, match="not on the app's host"):
            source.fetch_attachment(Attachment(url="http://app.example/media/1/1.jpg"))
        assert seen == []
        assert source.fetch_attachment(Attachment(url="https://app.example/media/1/1.jpg"))
        [sent] = seen
        assert sent.url.scheme == "https"
    finally:
        source.close()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_new_database_and_its_wal_and_shm_are_0600(tmp_path: Path) -> None:
    path = tmp_path / "state" / "bridge.db"
    path.parent.mkdir()
    previous = os.umask(0o000)  # the widest umask: the mode must not depend on it
    try:
        store = Store(path)
        try:
            with store.atomic():
                store.db.execute("CREATE TABLE probe (x)")
                store.db.execute("INSERT INTO probe VALUES (1)")
            assert _mode(path) == 0o600
            for suffix in ("-wal", "-shm"):
                sidecar = Path(f"{path}{suffix}")
                assert sidecar.exists(), suffix
                assert _mode(sidecar) == 0o600, suffix
        finally:
            store.close()
    finally:
        os.umask(previous)


def test_wider_wal_and_shm_are_narrowed_and_an_existing_file_keeps_its_mode(
    tmp_path: Path,
) -> None:
    path = tmp_path / "bridge.db"
    Store(path).close()
    path.chmod(0o640)  # an operator's own choice for the database file: left alone
    keeper = Store(path)  # holds the WAL and SHM open while the next one opens
    try:
        with keeper.atomic():
            keeper.db.execute("CREATE TABLE probe (x)")
        for suffix in ("-wal", "-shm"):
            Path(f"{path}{suffix}").chmod(0o644)
        Store(path).close()
        assert _mode(path) == 0o640
        for suffix in ("-wal", "-shm"):
            assert _mode(Path(f"{path}{suffix}")) == 0o600, suffix
    finally:
        keeper.close()
