"""Every answer is bounded: in bytes (before and after decoding) and in total time.

A hostile or broken server on a real loopback socket: a gzip bomb, a body that never
ends, a body dripped one byte at a time just inside the read timeout. Each is refused
with a clear error while the process's memory and the exchange's time stay bounded.
"""

from __future__ import annotations

import contextlib
import gzip
import socket
import socketserver
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator

import httpx
import pytest

from bridge.core.errors import TooLarge, Transient, Unavailable
from bridge.runtime.http import MAX_ANSWER_BYTES, Endpoint, RateLimiter, RetryPolicy, make_client

ONCE = RetryPolicy(attempts=1, initial=0.01, maximum=0.01)
BOMB = gzip.compress(b"\0" * (256 * 2**20), compresslevel=9)  # 256 MiB in ~250 kB


class _Raw(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def _serve(write: Callable[[socket.socket], None]) -> Iterator[str]:
    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.recv(65536)  # the request; its content does not matter
            with contextlib.suppress(OSError):  # the client gave up, as it should
                write(self.request)

    server = _Raw(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _endpoint(url: str, *, timeout: float = 5.0, max_bytes: int | None = None) -> Endpoint:
    endpoint = Endpoint("TEST", make_client(url, timeout=timeout), RateLimiter(100), ONCE)
    if max_bytes is not None:
        endpoint.max_bytes = max_bytes
    return endpoint


@pytest.fixture
def bomb() -> Iterator[str]:
    def write(sock: socket.socket) -> None:
        head = (
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
            f"Content-Length: {len(BOMB)}\r\nConnection: close\r\n\r\n"
        )
        sock.sendall(head.encode() + BOMB)

    yield from _serve(write)


@pytest.fixture
def endless() -> Iterator[str]:
    def write(sock: socket.socket) -> None:
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nConnection: close\r\n\r\n")
        block = b"\xff" * 65536
        while True:
            sock.sendall(block)

    yield from _serve(write)


@pytest.fixture
def drip() -> Iterator[str]:
    def write(sock: socket.socket) -> None:
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n")
        for _ in range(600):  # a minute of it, if nothing stopped the client
            sock.sendall(b" ")
            time.sleep(0.1)

    yield from _serve(write)


def test_a_gzip_bomb_is_refused_with_memory_bounded(bomb: str) -> None:
    endpoint = _endpoint(bomb)
    tracemalloc.start()
    try:
        with pytest.raises(TooLarge, match="over"):
            endpoint.send("GET", "/feed")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        endpoint.client.close()
    # 256 MiB decoded was on offer: the read stopped at the limit (32 MiB), holding the
    # body once while reading and once as the answer's bytes, decoded 1 MiB at a time
    assert peak < 2.5 * MAX_ANSWER_BYTES + 8 * 2**20, peak


def test_a_body_that_never_ends_is_refused_at_the_limit(endless: str) -> None:
    endpoint = _endpoint(endless, max_bytes=2 * 2**20)
    try:
        with pytest.raises(TooLarge):
            endpoint.send("GET", "/photo.jpg")
    finally:
        endpoint.client.close()


def test_a_declared_length_over_the_limit_is_refused_unread(bomb: str) -> None:
    endpoint = _endpoint(bomb, max_bytes=len(BOMB) - 1)
    try:
        with pytest.raises(TooLarge, match=f"{len(BOMB)} bytes"):
            endpoint.send("GET", "/feed")
    finally:
        endpoint.client.close()


def test_a_drip_ends_at_the_total_deadline_not_never(drip: str) -> None:
    endpoint = _endpoint(drip, timeout=0.5)  # each byte comes within the read timeout
    started = time.monotonic()
    try:
        with pytest.raises(Unavailable, match="took over 2 s"):
            endpoint.send("GET", "/feed")
    finally:
        endpoint.client.close()
    assert time.monotonic() - started < 30  # the drip alone would take a minute


def test_a_drip_on_a_write_is_ambiguous_not_retried(drip: str) -> None:
    from bridge.core.errors import Ambiguous

    endpoint = _endpoint(drip, timeout=0.5)
    try:
        with pytest.raises(Ambiguous, match="took over"):
            endpoint.send("POST", "/complaints/complaint", idempotent=False, json={})
    finally:
        endpoint.client.close()


def test_a_bounded_answer_reads_as_before(bomb: str) -> None:
    # within the limit a gzip answer is decoded as httpx would, and reads whole
    small = gzip.compress(b'{"ok": true}')

    def write(sock: socket.socket) -> None:
        head = (
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
            f"Content-Length: {len(small)}\r\nConnection: close\r\n\r\n"
        )
        sock.sendall(head.encode() + small)

    for url in _serve(write):
        endpoint = _endpoint(url)
        try:
            response = endpoint.send("GET", "/x")
        finally:
            endpoint.client.close()
        assert response.json() == {"ok": True}
        assert isinstance(response, httpx.Response) and response.is_closed
    assert not isinstance(TooLarge(200, "x"), Transient)
