"""The one way the bridge talks HTTP: client factory, rate limit, retries.

Retry rules (the same for every destination):

* connection failures before the request was sent, and ``429`` (honouring
  ``Retry-After``), are always retried: nothing was applied;
* ``5xx``, HTML gateway pages and broken answers are retried for idempotent
  requests; for a non-idempotent write they raise :class:`Ambiguous`, and the
  caller looks the record up before writing again;
* any other ``4xx`` is returned to the adapter, which raises :class:`Rejected`.

Back-off is exponential with full jitter, capped, and bounded in attempts;
after the last one :class:`Unavailable` is raised.
"""

from __future__ import annotations

import json
import random
import re
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx
import tenacity

from bridge import __version__
from bridge.core.errors import Ambiguous, TooLarge, Transient, Unavailable

USER_AGENT = f"lapor-bridge/{__version__} (+https://github.com/lapor-bridge)"
#: the largest answer the bridge reads, after decoding (a feed page, a photo, an answer);
#: a bigger one is refused as it streams in, never held whole, whatever it claims
MAX_ANSWER_BYTES = 32 * 2**20
#: one exchange may take at most this many times its read timeout in all: a server that
#: drips a byte just inside every read timeout cannot hold a pass forever
DEADLINE_READS = 4
#: headers that described the body on the wire, not the decoded body kept
_WIRE_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_thread = threading.local()
_T = TypeVar("_T")


@contextmanager
def on_each_request(callback: Callable[[], None]) -> Iterator[None]:
    """Run ``callback`` before each request this thread sends inside the block, retries
    included: once as the request is prepared and again after any wait for its turn (a
    ``Retry-After`` pause, the rate limit), just before it leaves.

    The daemon's heartbeat: a worker whose pass is still sending is alive, however long
    the pass. (The engine's commit before a request is not here but at its ports,
    bridge/sync/gate.py, where it can be seen.) Blocks nest: an outer block's callback
    still runs, first, inside an inner one.
    """
    previous: Callable[[], None] | None = getattr(_thread, "before_request", None)
    if previous is None:
        _thread.before_request = callback
    else:

        def both() -> None:
            previous()
            callback()

        _thread.before_request = both
    try:
        yield
    finally:
        _thread.before_request = previous


def with_this_threads_hook(call: Callable[[], _T]) -> Callable[[], _T]:
    """``call``, to run on another thread (a request in flight) with the callback
    :func:`on_each_request` set on this one: the daemon's heartbeat, and a replica's check
    of its lease before each request, hold for requests sent by workers too."""
    hook: Callable[[], None] | None = getattr(_thread, "before_request", None)
    if hook is None:
        return call

    def carried() -> _T:
        with on_each_request(hook):
            return call()

    return carried


class RequestCount:
    """The requests this thread sent to one destination inside :func:`counting_requests`."""

    def __init__(self, destination: str) -> None:
        self.destination = destination
        self.sent = 0


@contextmanager
def counting_requests(destination: str) -> Iterator[RequestCount]:
    """Count every request (retries included) this thread sends to ``destination``.

    What another system sees is what a budget of requests must be charged with: a
    read that needed a retry, or a second page, costs more than one. Per thread, so a
    worker's count holds none of another worker's requests to the same destination.
    """
    count = RequestCount(destination)
    counters: list[RequestCount] = getattr(_thread, "counters", [])
    _thread.counters = [*counters, count]
    try:
        yield count
    finally:
        _thread.counters = counters


def looks_html(response: httpx.Response) -> bool:
    """Whether an answer is an HTML page (a gateway's or a framework's error), by its
    type or by its first bytes: some servers send a page under a JSON type, or none."""
    content_type = response.headers.get("content-type", "").lower()
    return "html" in content_type or response.content[:64].lstrip()[:1] == b"<"


def json_of(response: httpx.Response) -> Any:
    """The body as JSON, read liberally; ``ValueError`` when it is not JSON at all.

    One record's bad bytes must not make a whole page unreadable: invalid UTF-8 becomes
    U+FFFD, and so does a lone surrogate escape (``"\\ud800"`` is valid JSON but no text
    can be stored, hashed or sent on with it). Either way the complaint itself gets through.
    """
    text = response.content.decode("utf-8-sig", errors="replace")
    value = json.loads(text)
    if "\\ud" in text or "\\uD" in text:  # escapes only: a raw surrogate cannot be decoded
        value = _without_lone_surrogates(value)
    return value


def _without_lone_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_without_lone_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {
            _without_lone_surrogates(key): _without_lone_surrogates(item)
            for key, item in value.items()
        }
    return value


class _NoCookies(httpx.Cookies):
    """A cookie jar that keeps nothing a server sets."""

    def extract_cookies(self, response: httpx.Response) -> None:
        """Keeps nothing: ``Set-Cookie`` is not even parsed."""


class _Client(httpx.Client):
    """``httpx.Client`` without a cookie jar.

    The bridge authenticates with what its config names (headers, a token it asks
    for), never with a cookie: one set by a server would otherwise be kept and sent
    back with every later request to it, state nobody configured. Not parsing
    ``Set-Cookie`` also saves the jar's work on every answer (docs/benchmarks.md).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._kept = _NoCookies()

    @property
    def cookies(self) -> httpx.Cookies:
        return self._kept

    @cookies.setter
    def cookies(self, cookies: object) -> None:
        raise TypeError("the bridge's HTTP clients keep no cookies")


def make_client(
    base_url: str,
    *,
    timeout: float = 30.0,
    headers: dict[str, str] | None = None,
    auth: httpx.Auth | tuple[str, str] | None = None,
    transport: httpx.BaseTransport | None = None,
) -> httpx.Client:
    """An ``httpx.Client`` with the bridge's defaults: TLS verified, timeouts, user agent,
    no cookies kept."""
    return _Client(
        base_url=base_url,
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        headers={"User-Agent": USER_AGENT, "Accept": "application/json", **(headers or {})},
        auth=auth,
        verify=True,
        follow_redirects=False,
        transport=transport,
        limits=httpx.Limits(max_connections=16, max_keepalive_connections=8),
    )


class RateLimiter:
    """A token bucket: at most ``rate`` requests a second, bursts of ``burst``.

    One limiter is shared by everything that sends to its destination (every thread of
    a pass, every pass of the daemon), and so is a pause: when the destination answers
    ``429`` with ``Retry-After``, :meth:`hold` makes every sender that goes through an
    :class:`Endpoint` wait until then, not only the one that was told.
    """

    def __init__(self, rate: float, burst: int = 1, clock: Callable[[], float] = time.monotonic):
        self.rate = rate
        self.burst = max(1, burst)
        self._clock = clock
        self._tokens = float(self.burst)
        self._last = clock()
        self._resume_at = float("-inf")  # a Retry-After in force until then
        self._lock = threading.Lock()

    def acquire(self) -> None:
        while True:
            with self._lock:
                now = self._clock()
                # no tokens accrue during a pause: requests restart at the rate, not in a
                # burst of everyone who waited
                elapsed = max(0.0, now - max(self._last, self._resume_at))
                self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
                self._last = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                wait = (1 - self._tokens) / self.rate
            time.sleep(wait)

    def hold(self, seconds: float) -> None:
        """Nobody sends for ``seconds`` (the destination's ``Retry-After``)."""
        with self._lock:
            resume = self._clock() + max(0.0, seconds)
            if resume > self._resume_at:
                self._resume_at = resume
                self._tokens = min(self._tokens, 1.0)

    def paused_for(self) -> float:
        """Seconds left of a :meth:`hold` (0 when none is in force)."""
        with self._lock:
            return max(0.0, self._resume_at - self._clock())


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    initial: float = 0.5
    maximum: float = 30.0

    def backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(max, initial * 2**(attempt-1))]."""
        ceiling = min(self.maximum, self.initial * 2 ** max(0, attempt - 1))
        return random.uniform(0, ceiling)


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds: an integer, or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def answered_at(response: httpx.Response) -> datetime | None:
    """The remote's clock when it answered (its ``Date`` header, UTC), or ``None`` when
    the answer carries no readable one. Feed cursors are bounded by it: the remote's
    records are stamped by its clock, not the bridge's."""
    try:
        when = parsedate_to_datetime(response.headers.get("Date", ""))
        return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


@dataclass
class EndpointStats:
    requests: int = 0
    retries: int = 0
    last_error: str | None = None


Check = Callable[[httpx.Response], None]


@dataclass
class Endpoint:
    """One destination: its client, its rate limit and its retry policy."""

    name: str
    client: httpx.Client
    limiter: RateLimiter
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    stats: EndpointStats = field(default_factory=EndpointStats)
    sleep: Callable[[float], None] = time.sleep
    #: the largest answer read from this destination (decoded)
    max_bytes: int = MAX_ANSWER_BYTES

    def _bounded(self, method: str, url: str, kwargs: dict[str, Any]) -> httpx.Response:
        return _bounded(self.name, self.client, method, url, kwargs, self.max_bytes)

    def send(
        self,
        method: str,
        url: str,
        *,
        idempotent: bool = True,
        check: Check | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send with retries; returns any answer below 500 except 429.

        ``check`` may raise :class:`Transient` for answers that look fine but
        are not (an HTML page inside a 200, an error inside a 200).
        """

        def attempt(first: bool = True) -> httpx.Response:
            before = getattr(_thread, "before_request", None)
            if before is not None:
                before()
            if first:  # a retry has waited for any pause already (``wait``)
                paused = self.limiter.paused_for()
                if paused > 0:  # another sender was told Retry-After: so is this one
                    self.sleep(paused)
            self.limiter.acquire()
            if before is not None:
                # again after the waits, as the request leaves: what the hook checks (a
                # replica's lease) may have run out while this thread waited for its turn
                before()
            self.stats.requests += 1
            for count in getattr(_thread, "counters", ()):
                if count.destination == self.name:
                    count.sent += 1
            try:
                response = self._bounded(method, url, kwargs)
            except _Overdue as exc:
                if idempotent:
                    raise Transient(str(exc)) from None
                raise Ambiguous(str(exc)) from None
            except TooLarge as exc:
                if idempotent:
                    raise
                raise Ambiguous(f"{self.name} answered a write with {exc.message}") from None
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                raise Transient(f"cannot connect to {self.name}: {failure(exc)}") from None
            except (httpx.TransportError, httpx.DecodingError) as exc:
                reason = f"{self.name} dropped the request: {failure(exc)}"
                if idempotent:
                    raise Transient(reason) from None
                raise Ambiguous(reason) from None
            if response.status_code == 429:
                retry_after = retry_after_seconds(response.headers.get("Retry-After"))
                if retry_after is not None:
                    self.limiter.hold(retry_after)  # everyone waiting on it waits that long
                raise Transient(f"{self.name} rate limit (429)", retry_after)
            if response.status_code >= 500:
                reason = f"{self.name} answered {response.status_code}"
                if idempotent:
                    raise Transient(reason)
                raise Ambiguous(reason)
            if check is not None:
                try:
                    check(response)
                except Transient as exc:
                    if idempotent:
                        raise
                    raise Ambiguous(str(exc)) from None
            return response

        def wait(state: tenacity.RetryCallState) -> float:
            backoff = self.policy.backoff(state.attempt_number)
            outcome = state.outcome
            exc = outcome.exception() if outcome is not None else None
            if isinstance(exc, Transient) and exc.retry_after is not None:
                backoff = max(exc.retry_after, backoff)
            return max(backoff, self.limiter.paused_for())

        def before_sleep(state: tenacity.RetryCallState) -> None:
            self.stats.retries += 1
            outcome = state.outcome
            exc = outcome.exception() if outcome is not None else None
            self.stats.last_error = str(exc)

        made: list[Transient] = []

        def again() -> httpx.Response:
            if made:
                raise made.pop()  # the first attempt, made before the retry machinery
            return attempt(first=False)

        try:
            try:
                return _uncycled(attempt())  # most requests need no retry machinery
            except Transient as exc:
                made.append(exc)
            retrying = tenacity.Retrying(
                retry=tenacity.retry_if_exception_type(Transient),
                stop=tenacity.stop_after_attempt(self.policy.attempts),
                wait=wait,
                sleep=self.sleep,
                before_sleep=before_sleep,
                reraise=False,
            )
            return _uncycled(retrying(again))
        except tenacity.RetryError as exc:
            last = exc.last_attempt.exception()
            self.stats.last_error = str(last)
            tries = self.policy.attempts
            plural = "s" if tries != 1 else ""
            raise Unavailable(f"{last} (gave up after {tries} attempt{plural})") from None
        except Ambiguous as exc:
            self.stats.last_error = str(exc)
            raise


def shown_url(url: httpx.URL | str) -> str:
    """A URL fit for a message: scheme, host, port and path; never the query (Open311's
    ``api_key``, a token) nor a user or password in it."""
    parsed = httpx.URL(str(url))
    port = f":{parsed.port}" if parsed.port is not None else ""
    return f"{parsed.scheme}://{parsed.host}{port}{parsed.path}"


def failure(exc: BaseException) -> str:
    """What went wrong with an exchange, for the person reading it: the kind of failure
    (the name did not resolve, the connection was refused, TLS, a timeout) and the URL,
    without secrets. Told from the exception and its causes (httpx wraps the socket's)."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(chain) < 8:
        chain.append(current)
        current = current.__cause__ or current.__context__
    text = " ".join(str(e) for e in chain).lower()
    if any(isinstance(e, socket.gaierror) for e in chain) or "name or service" in text:
        kind = "DNS: the host name did not resolve"
    elif any(isinstance(e, ConnectionRefusedError) for e in chain) or "refused" in text:
        kind = "connection refused (nothing listens at that address and port)"
    elif any(isinstance(e, ssl.SSLError) for e in chain) or "ssl" in text or "certificate" in text:
        kind = "TLS failed (certificate or handshake)"
    elif isinstance(exc, httpx.TimeoutException) or any(isinstance(e, TimeoutError) for e in chain):
        kind = "timed out"
    elif isinstance(exc, httpx.DecodingError):
        kind = "the answer could not be decoded"
    else:
        kind = type(exc).__name__
    request = getattr(exc, "_request", None)  # httpx raises RuntimeError on .request unset
    return f"{kind}, {shown_url(request.url)}" if request is not None else kind


class _Overdue(Exception):
    """An exchange past its total deadline."""


def _read_timeout(client: httpx.Client, kwargs: dict[str, Any]) -> float:
    timeout = kwargs.get("timeout", client.timeout)
    if isinstance(timeout, httpx.Timeout):
        return timeout.read or 30.0
    return float(timeout) if isinstance(timeout, (int, float)) else 30.0


def _bounded(
    name: str, client: httpx.Client, method: str, url: str, kwargs: dict[str, Any],
    max_bytes: int,
) -> httpx.Response:  # fmt: skip
    """Send and read the answer as a stream, within ``max_bytes`` (decoded) and a total
    deadline; the answer comes back read and closed, as ``client.request`` gives it."""
    total = DEADLINE_READS * _read_timeout(client, kwargs)
    started = time.monotonic()
    request = client.build_request(method, url, **kwargs)
    response = client.send(request, stream=True)
    try:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise TooLarge(
                response.status_code, f"an answer of {declared} bytes (at most {max_bytes})"
            )
        if response.is_stream_consumed:  # an in-process transport handed it over read
            if len(response.content) > max_bytes:
                raise TooLarge(response.status_code, f"an answer over {max_bytes} bytes")
            return response
        body = bytearray()
        for chunk in _decoded(response):
            if len(body) + len(chunk) > max_bytes:
                raise TooLarge(response.status_code, f"an answer over {max_bytes} bytes")
            if time.monotonic() - started > total:
                raise _Overdue(f"{name} took over {total:g} s to answer")
            body += chunk
    finally:
        response.close()
    headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in _WIRE_HEADERS]
    return httpx.Response(
        response.status_code, headers=headers, content=bytes(body), request=request
    )


#: decoded output per step: a small compressed input cannot expand into a huge one at once
_DECODE_STEP = 2**20


def _decoded(response: httpx.Response) -> Iterator[bytes]:
    """The body decoded in steps of at most ``_DECODE_STEP`` bytes (gzip and deflate; any
    other encoding as httpx decodes it)."""
    encoding = response.headers.get("content-encoding", "").strip().lower()
    if encoding in ("", "identity"):
        yield from response.iter_raw()
        return
    if encoding not in ("gzip", "x-gzip", "deflate"):
        yield from response.iter_bytes()
        return
    decoder = zlib.decompressobj(zlib.MAX_WBITS | 32)  # a gzip or zlib header, detected
    try:
        for raw in response.iter_raw():
            data = raw
            while data:
                yield decoder.decompress(data, _DECODE_STEP)
                data = decoder.unconsumed_tail
        yield decoder.flush()
    except zlib.error as exc:
        raise httpx.DecodingError(f"a {encoding} body that does not decode: {exc}") from None


def _uncycled(response: httpx.Response) -> httpx.Response:
    """The answer, freed as soon as its last reference goes.

    httpx wraps a response's stream in one that points back at the response: a
    reference cycle, so every answer (a whole feed page) lives until the cyclic
    collector runs, and a daemon draining a backlog piles them up in the oldest
    generation. The body is read and the stream closed by now; a plain stream
    over the same bytes breaks the cycle.
    """
    if response.is_closed and response.is_stream_consumed:
        response.stream = httpx.ByteStream(response.content)
    return response
