"""Shared machinery for the adapters' sandboxes.

A sandbox is a real HTTP server on loopback that implements one contract
(LAPOR-SP4N, Tanjak, ...) over an in-memory store. Tests and the demo drive
it in-process: they seed data, act as the other side's users, and switch on
faults. Every sandbox gets the same fault injection from this module:

* one-shot or counted faults aimed at a method and a path pattern
  (``sandbox.faults.inject("drop_after_write", method="POST", path=r"/complaint$")``);
* a chaos mode that fails a fraction of all requests at random, from a seed.

Fault kinds:

``500``/``503``      a JSON 5xx, before the request is processed
``html502``          the gateway's HTML 502 page, before processing (``html503``,
                     ``html504`` likewise)
``html200``          an HTML error page with status 200, before processing
``429``              ``Retry-After: <retry_after>`` (default 1 s), before processing
``422``              the app's validation error (``validation_body``), before processing
``latency``          sleep ``seconds`` (± ``jitter``, uniform) then serve normally
``hang``             sleep ``seconds`` (default 30) then drop the connection
``drop_before``      close the connection without processing
``drop_after_write`` process the request (state changes!) then close the
                     connection without answering: the lost answer
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import random
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

__all__ = [
    "FAULT_KINDS",
    "Faults",
    "Request",
    "Response",
    "Router",
    "SandboxServer",
    "UploadedFile",
    "page_slice",
]

FAULT_KINDS = (
    "500",
    "503",
    "html502",
    "html503",
    "html504",
    "html200",
    "429",
    "422",
    "latency",
    "hang",
    "drop_before",
    "drop_after_write",
)

_HTML_502 = (
    b"<html><head><title>502 Bad Gateway</title></head>"
    b"<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>"
)
_GATEWAY_TITLES = {
    502: "502 Bad Gateway",
    503: "503 Service Temporarily Unavailable",
    504: "504 Gateway Time-out",
}
_HTML_200 = (
    b"<!DOCTYPE html><html><head><title>Error</title></head>"
    b"<body><h1>Terjadi kesalahan pada server</h1><p>Silakan coba lagi.</p></body></html>"
)


@dataclass
class UploadedFile:
    """One part of a multipart body that carried a file."""

    field: str
    filename: str
    content_type: str
    data: bytes


@dataclass
class Request:
    """What a handler sees of one HTTP request."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))

    def form(self) -> dict[str, str]:
        """Form fields, from a urlencoded or a multipart body."""
        ctype = self.header("content-type") or ""
        if ctype.startswith("multipart/form-data"):
            fields, _ = self.multipart()
            return fields
        parsed = parse_qs(self.body.decode("utf-8"), keep_blank_values=True)
        return {k: v[0] for k, v in parsed.items()}

    def multipart(self) -> tuple[dict[str, str], list[UploadedFile]]:
        ctype = self.header("content-type") or ""
        message = BytesParser(policy=HTTP).parsebytes(
            b"Content-Type: " + ctype.encode("latin-1") + b"\r\n\r\n" + self.body
        )
        fields: dict[str, str] = {}
        files: list[UploadedFile] = []
        if not message.is_multipart():
            return fields, files
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if not isinstance(name, str):
                continue
            payload = part.get_payload(decode=True)
            data = payload if isinstance(payload, bytes) else b""
            filename = part.get_filename()
            if filename is not None:
                files.append(UploadedFile(name, filename, part.get_content_type(), data))
            else:
                fields[name] = data.decode("utf-8")
        return fields, files


@dataclass
class Response:
    """What a handler answers."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        return cls(status, body, "application/json", dict(headers or {}))


Handler = Callable[[Request], Response]


class Router:
    """Maps (method, path regex) to a handler; named groups become params."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        self._routes.append((method.upper(), re.compile(f"^{pattern}$"), handler))

    def route(self, method: str, path: str) -> tuple[Handler, dict[str, str]] | None:
        allowed = False
        for route_method, pattern, handler in self._routes:
            match = pattern.match(path)
            if match is None:
                continue
            allowed = True
            if route_method == method:
                return handler, match.groupdict()
        if allowed:
            return _method_not_allowed, {}
        return None


def _method_not_allowed(_: Request) -> Response:
    return Response.json(405, {"error": "method_not_allowed"})


@dataclass
class _Fault:
    kind: str
    method: str | None
    path: re.Pattern[str] | None
    remaining: int
    params: dict[str, float]

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method != method:
            return False
        return self.path is None or self.path.search(path) is not None


class Faults:
    """Switchable fault injection, shared by every sandbox."""

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._queued: list[_Fault] = []
        self._rng = random.Random(seed)
        self._chaos_rate = 0.0
        self._chaos_kinds: tuple[str, ...] = ()
        self._chaos_methods: frozenset[str] | None = None
        self._chaos_params: dict[str, float] = {}
        self.fired: list[tuple[str, str, str]] = []

    def inject(
        self,
        kind: str,
        *,
        method: str | None = None,
        path: str | None = None,
        count: int = 1,
        **params: float,
    ) -> None:
        """Fail the next ``count`` requests matching method and path regex."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}")
        compiled = re.compile(path) if path is not None else None
        with self._lock:
            self._queued.append(
                _Fault(kind, method.upper() if method else None, compiled, count, dict(params))
            )

    def chaos(
        self,
        rate: float,
        kinds: Iterable[str] = ("500", "503", "html502", "429", "latency"),
        *,
        methods: Iterable[str] | None = None,
        seed: int | None = None,
        **params: float,
    ) -> None:
        """Fail a fraction ``rate`` of matching requests with a random kind."""
        chosen = tuple(kinds)
        for kind in chosen:
            if kind not in FAULT_KINDS:
                raise ValueError(f"unknown fault kind {kind!r}")
        with self._lock:
            self._chaos_rate = rate
            self._chaos_kinds = chosen
            self._chaos_methods = frozenset(m.upper() for m in methods) if methods else None
            self._chaos_params = dict(params)
            if seed is not None:
                self._rng.seed(seed)

    def clear(self) -> None:
        with self._lock:
            self._queued.clear()
            self._chaos_rate = 0.0

    def pending(self) -> int:
        with self._lock:
            return sum(f.remaining for f in self._queued)

    def take(self, method: str, path: str) -> tuple[str, dict[str, float]] | None:
        with self._lock:
            for fault in self._queued:
                if fault.remaining > 0 and fault.matches(method, path):
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._queued.remove(fault)
                    self.fired.append((fault.kind, method, path))
                    return fault.kind, fault.params
            chaos_on = self._chaos_rate > 0 and bool(self._chaos_kinds)
            method_ok = self._chaos_methods is None or method in self._chaos_methods
            if chaos_on and method_ok and self._rng.random() < self._chaos_rate:
                kind = self._rng.choice(self._chaos_kinds)
                self.fired.append((kind, method, path))
                return kind, dict(self._chaos_params)
        return None


class _Drop(Exception):
    """Close the connection without an answer."""


class SandboxServer:
    """A threaded HTTP server on loopback serving one sandbox's router.

    Subclasses fill ``self.router`` and keep their state under ``self.lock``.
    """

    #: the JSON body of an injected 5xx; sandboxes override with their own shape
    error_body: ClassVar[Any] = {"error": "server_error", "message": "Internal Server Error"}
    #: the body of an injected 422
    validation_body: ClassVar[Any] = {"error": "validation_failed", "message": "invalid request"}

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, seed: int = 0) -> None:
        self.router = Router()
        self.faults = Faults(seed)
        self.lock = threading.RLock()
        self.requests: list[tuple[str, str]] = []
        #: the sandbox's clock: its records' times and its answers' ``Date`` header
        self.now: Callable[[], datetime] = lambda: datetime.now(UTC)
        self._server = _Server((host, port), _make_handler(self))
        self._thread: threading.Thread | None = None

    # lifecycle -------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> SandboxServer:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=type(self).__name__,
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:  # shutdown() waits for a serve_forever that never ran
            self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def count_requests(self, method: str, pattern: str) -> int:
        compiled = re.compile(pattern)
        with self.lock:
            return sum(1 for m, p in self.requests if m == method and compiled.search(p))

    # hooks -----------------------------------------------------------------
    def authorize(self, request: Request) -> Response | None:
        """Return an error response when the request's credentials are wrong."""
        return None

    def dispatch(self, request: Request) -> Response:
        denied = self.authorize(request)
        if denied is not None:
            return denied
        found = self.router.route(request.method, request.path)
        if found is None:
            return self.not_found(request)
        handler, params = found
        request.params = params
        return handler(request)

    def not_found(self, request: Request) -> Response:
        return Response.json(404, {"error": "not_found"})

    def fault_response(self, kind: str, params: dict[str, float]) -> Response:
        if kind in ("500", "503"):
            return Response.json(int(kind), self.error_body)
        if kind in ("html502", "html503", "html504"):
            code = int(kind.removeprefix("html"))
            title = _GATEWAY_TITLES[code].encode()
            return Response(code, _HTML_502.replace(b"502 Bad Gateway", title), "text/html")
        if kind == "html200":
            return Response(200, _HTML_200, "text/html; charset=utf-8")
        if kind == "422":
            return Response.json(422, self.validation_body)
        if kind == "429":
            retry_after = params.get("retry_after", 1)
            return Response.json(
                429,
                {"error": "too_many_requests", "message": "Too Many Requests"},
                {"Retry-After": str(int(retry_after))},
            )
        raise AssertionError(kind)

    def handle(self, request: Request) -> Response:
        with self.lock:
            self.requests.append((request.method, request.path))
        fault = self.faults.take(request.method, request.path)
        if fault is None:
            return self.dispatch(request)
        kind, params = fault
        if kind == "latency":
            jitter = params.get("jitter", 0.0)
            time.sleep(max(0.0, params.get("seconds", 0.5) + random.uniform(-jitter, jitter)))
            return self.dispatch(request)
        if kind == "hang":
            time.sleep(params.get("seconds", 30.0))
            raise _Drop
        if kind == "drop_before":
            raise _Drop
        if kind == "drop_after_write":
            self.dispatch(request)
            raise _Drop
        return self.fault_response(kind, params)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def _make_handler(sandbox: SandboxServer) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # headers and body go out in two writes: without this, Nagle's algorithm and
        # delayed ACKs add ~40 ms to every answer
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            return

        def date_time_string(self, timestamp: float | None = None) -> str:
            # the ``Date`` header from the sandbox's own clock, so a test can step it
            return email.utils.format_datetime(sandbox.now().astimezone(UTC), usegmt=True)

        def _serve(self) -> None:
            split = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            request = Request(
                method=self.command,
                path=split.path,
                query=parse_qs(split.query, keep_blank_values=True),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
            )
            try:
                response = sandbox.handle(request)
            except _Drop:
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return
            except Exception as exc:  # a sandbox bug must not hang the client
                response = Response.json(500, {"error": "sandbox_error", "message": repr(exc)})
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(response.body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    return _Handler


def page_slice(items: list[Any], page: int, size: int) -> tuple[list[Any], int]:
    """One page (from 1) of ``items`` and the number of pages."""
    pages = max(1, -(-len(items) // size)) if size > 0 else 1
    start = (page - 1) * size
    return items[start : start + size], pages
