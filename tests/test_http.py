"""The retry and rate-limit rules of bridge.runtime.http, at unit level (httpx.MockTransport)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from bridge.core.errors import Ambiguous, Transient, Unavailable
from bridge.runtime.http import (
    Endpoint,
    RateLimiter,
    RetryPolicy,
    make_client,
    on_each_request,
    retry_after_seconds,
)


def _endpoint(
    handler: Callable[[httpx.Request], httpx.Response], slept: list[float], attempts: int = 4
) -> Endpoint:
    client = make_client("http://app.test", transport=httpx.MockTransport(handler))
    return Endpoint(
        "app", client, RateLimiter(1000, 100), RetryPolicy(attempts, 0.01, 0.02), sleep=slept.append
    )


def test_429_honours_retry_after() -> None:
    answers = iter([httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(200)])
    slept: list[float] = []
    endpoint = _endpoint(lambda r: next(answers), slept)
    assert endpoint.send("GET", "/x").status_code == 200
    assert slept == [7.0]
    assert endpoint.stats.retries == 1


def test_5xx_retried_for_reads_ambiguous_for_writes() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        return httpx.Response(503, text="<html>503</html>")

    slept: list[float] = []
    endpoint = _endpoint(handler, slept)
    with pytest.raises(Unavailable, match="gave up after 4 attempts"):
        endpoint.send("GET", "/x")
    assert calls == ["GET"] * 4 and len(slept) == 3
    calls.clear()
    with pytest.raises(Ambiguous):
        endpoint.send("POST", "/create", idempotent=False)
    assert calls == ["POST"]  # never re-posted blind


def test_connection_refused_is_retried_even_for_writes() -> None:
    attempts = iter([httpx.ConnectError("refused"), None])

    def handler(request: httpx.Request) -> httpx.Response:
        error = next(attempts)
        if error is not None:
            raise error
        return httpx.Response(201)

    endpoint = _endpoint(handler, [])
    assert endpoint.send("POST", "/create", idempotent=False).status_code == 201


def test_dropped_answer_on_a_write_is_ambiguous() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.")

    with pytest.raises(Ambiguous):
        _endpoint(handler, []).send("POST", "/create", idempotent=False)


def test_4xx_is_returned_not_retried() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(422, json={"message": "invalid"})

    assert _endpoint(handler, []).send("POST", "/x", idempotent=False).status_code == 422
    assert len(calls) == 1


def test_check_turns_a_bad_200_into_a_retry() -> None:
    answers = iter(
        [
            httpx.Response(200, text="<html>error</html>", headers={"content-type": "text/html"}),
            httpx.Response(200, json={}),
        ]
    )

    def check(response: httpx.Response) -> None:
        if response.headers.get("content-type", "").startswith("text/html"):
            raise Transient("HTML inside 200")

    endpoint = _endpoint(lambda r: next(answers), [])
    assert endpoint.send("GET", "/x", check=check).json() == {}


def test_backoff_is_capped_and_jittered() -> None:
    policy = RetryPolicy(attempts=10, initial=0.5, maximum=4.0)
    waits = [policy.backoff(n) for n in range(1, 10) for _ in range(20)]
    assert max(waits) <= 4.0 and min(waits) >= 0.0
    assert len({round(w, 6) for w in waits}) > 50


def test_retry_after_forms() -> None:
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


def test_rate_limiter_spaces_requests() -> None:
    now = [0.0]
    limiter = RateLimiter(rate=2.0, burst=1, clock=lambda: now[0])
    limiter.acquire()
    assert limiter._tokens == 0
    now[0] += 0.5
    limiter.acquire()  # one token refilled after half a second at 2/s
    assert limiter._tokens == 0


def test_the_hook_runs_before_every_attempt_in_its_block_only() -> None:
    events: list[str] = []
    answers = iter([httpx.Response(503), httpx.Response(200), httpx.Response(200)])

    def handler(request: httpx.Request) -> httpx.Response:
        events.append("request")
        return next(answers)

    endpoint = _endpoint(handler, [])
    with on_each_request(lambda: events.append("hook")):
        endpoint.send("GET", "/x")
    # as each attempt is prepared and again as it leaves; the retry too
    assert events == ["hook", "hook", "request", "hook", "hook", "request"]
    events.clear()
    endpoint.send("GET", "/x")
    assert events == ["request"]


def test_the_hook_runs_again_after_a_wait_just_before_the_request_leaves() -> None:
    """A replica checks its lease in the hook: a check made before a ``Retry-After`` pause
    says nothing about the lease once the pause is over (the replica may have been frozen
    meanwhile), so the last check comes after every wait."""
    events: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        events.append("request")
        return httpx.Response(200)

    client = make_client("http://app.test", transport=httpx.MockTransport(handler))
    limiter = RateLimiter(1000, 100)
    endpoint = Endpoint("app", client, limiter, RetryPolicy(2, 0.01, 0.02),
                        sleep=lambda seconds: events.append(f"wait {seconds:.0f}"))  # fmt: skip
    limiter.hold(5)  # another sender was told Retry-After: 5
    with on_each_request(lambda: events.append("hook")):
        endpoint.send("GET", "/x")
    assert events[-2:] == ["hook", "request"]
    assert events.index("wait 5") < len(events) - 2


def test_a_failing_first_attempt_is_counted_once() -> None:
    """The first attempt is made outside the retry machinery; it still counts as one."""
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(503)

    slept: list[float] = []
    with pytest.raises(Unavailable, match="gave up after 3 attempts"):
        _endpoint(handler, slept, attempts=3).send("GET", "/x")
    assert len(calls) == 3 and len(slept) == 2


def test_a_cookie_a_server_sets_is_never_sent_back() -> None:
    """The bridge authenticates with what its config names; a server's cookie is not kept."""
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("Cookie"))
        return httpx.Response(200, headers={"Set-Cookie": "session=abc; Path=/"}, json={})

    slept: list[float] = []
    endpoint = _endpoint(handler, slept)
    endpoint.send("GET", "/login")
    endpoint.send("GET", "/x")
    assert seen == [None, None]
    with pytest.raises(TypeError):
        endpoint.client.cookies = {"session": "abc"}
    # what plain httpx would have done: the check above can fail
    with httpx.Client(base_url="http://app.test", transport=httpx.MockTransport(handler)) as plain:
        plain.get("/login")
        plain.get("/x")
    assert seen[-1] == "session=abc"
