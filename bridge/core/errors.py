"""The failures the engine tells apart. Messages never carry citizens' data or secrets."""

from __future__ import annotations


class Transient(Exception):
    """A failure worth retrying: the request was not applied (or is safe to repeat)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class Unavailable(Exception):
    """A destination kept failing after every retry."""


class Stopped(Unavailable):
    """A stop (SIGTERM, SIGINT) ended the pass between two requests: not a failure."""


class Ambiguous(Exception):
    """A write whose outcome is unknown: it may or may not have been applied."""


class Rejected(Exception):
    """The other side refused the request (a 4xx); retrying the same thing will not help."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


class NotFound(Rejected):
    """The other side does not know the record."""


class NormalizeError(Exception):
    """A local record that cannot become a canonical complaint; it goes to quarantine."""


class TooLarge(Rejected):
    """An answer larger than the bridge reads: refused unread, never held whole."""


class Unreadable(Unavailable):
    """One record the other side cannot serve now while the rest of it answers (a 5xx on
    that record alone): it is retried later and reported, and never blocks the others."""
