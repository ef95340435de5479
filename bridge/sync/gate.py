"""The engine's doors to other systems: nothing leaves while what led to it is uncommitted.

A source pass holds its commits (``Store.holding``): one commit for many small writes. The
rule that makes that safe is that the held work is committed before anything is sent to
another system, so that a kill while a request is out loses at most what a lost answer
would (an intent stays pending and is looked up by its tag, lapor.md's Recovery).

The engine keeps that rule here, where it can be seen: every port it holds, each app's
:class:`LocalSource` and each account's :class:`National`, is wrapped in a gate, and every
method of a port that may send a request first runs the :class:`Gate`'s check, which
commits the pass's held work. A feed or a tag search sends one request a page: the check
runs before each page is read. ``normalize`` and ``prepare_create`` send nothing and pass
straight through.

The check runs only on the pass's own thread, the store's single writer. A call the pass
hands to a worker (bridge/sync/inflight.py) is committed for before it is handed over and
before the pass waits for it (``Flights.before_wait``); the worker never touches the store.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TypeVar

from bridge.core.model import (
    Attachment,
    Complaint,
    FollowUp,
    NationalComplaint,
    NationalTicket,
    Status,
)
from bridge.core.ports import (
    Created,
    CreateRequest,
    LocalSource,
    National,
    Page,
    Photo,
    RawRecord,
)

T = TypeVar("T")


class Gate:
    """What runs before a request leaves: the pass's commit, on the pass's thread only."""

    def __init__(self) -> None:
        self._commit: Callable[[], None] | None = None
        self._thread: threading.Thread | None = None

    @contextmanager
    def committing(self, commit: Callable[[], None]) -> Iterator[None]:
        """Inside the block, ``commit`` runs before each request this thread sends."""
        self._commit, self._thread = commit, threading.current_thread()
        try:
            yield
        finally:
            self._commit = self._thread = None

    def __call__(self) -> None:
        if self._commit is not None and threading.current_thread() is self._thread:
            self._commit()

    def pages(self, pages: Iterator[T]) -> Iterator[T]:
        """``pages``, with the check before each is read (each may be a request)."""
        try:
            while True:
                self()
                try:
                    page = next(pages)
                except StopIteration:
                    return
                yield page
        finally:
            close = getattr(pages, "close", None)
            if close is not None:
                close()


class GatedSource:
    """A city app behind the gate: the engine's only way to it."""

    def __init__(self, inner: LocalSource, gate: Gate) -> None:
        self.inner = inner
        self.name = inner.name
        self.account = inner.account
        self._gate = gate

    def pull(self, cursor: str | None) -> Iterator[Page]:
        return self._gate.pages(self.inner.pull(cursor))

    def cursor_for(self, since: datetime) -> str | None:
        self._gate()
        return self.inner.cursor_for(since)

    def fetch(self, local_id: str) -> RawRecord | None:
        self._gate()
        return self.inner.fetch(local_id)

    def normalize(self, raw: RawRecord) -> Complaint:
        return self.inner.normalize(raw)  # nothing is sent

    def fetch_attachment(self, attachment: Attachment) -> bytes:
        self._gate()
        return self.inner.fetch_attachment(attachment)

    def link_national(self, local_id: str, national_id: int) -> None:
        self._gate()
        self.inner.link_national(local_id, national_id)

    def set_status(self, local_id: str, status: Status) -> None:
        self._gate()
        self.inner.set_status(local_id, status)

    def add_response(self, local_id: str, response: FollowUp, ref: str) -> None:
        self._gate()
        self.inner.add_response(local_id, response, ref)

    def create(self, complaint: NationalComplaint) -> Created:
        self._gate()
        return self.inner.create(complaint)

    def poll_created(self, token: str) -> str | None:
        self._gate()
        return self.inner.poll_created(token)

    def find_created(self, national_id: int, since: datetime) -> str | None:
        self._gate()
        return self.inner.find_created(national_id, since)

    def close(self) -> None:
        self.inner.close()


class GatedNational:
    """An account on LAPOR behind the gate: the engine's only way to it."""

    def __init__(self, inner: National, gate: Gate) -> None:
        self.inner = inner
        self.account = inner.account
        self.capabilities = inner.capabilities
        self.create_timeout = inner.create_timeout
        #: the account's HTTP endpoint, where requests are counted (its ``name``)
        self.endpoint = getattr(inner, "endpoint", None)
        self._gate = gate

    def check(self) -> None:
        self._gate()
        self.inner.check()

    def upload(self, files: Sequence[Photo]) -> list[int]:
        self._gate()
        return self.inner.upload(files)

    def prepare_create(
        self, complaint: Complaint, tags: tuple[str, ...], attachment_ids: Sequence[int]
    ) -> CreateRequest:
        return self.inner.prepare_create(complaint, tags, attachment_ids)  # nothing is sent

    def create(self, request: CreateRequest) -> NationalTicket:
        self._gate()
        return self.inner.create(request)

    def find_by_tag(self, tag: str) -> list[NationalTicket]:
        self._gate()
        return self.inner.find_by_tag(tag)

    def tagged(self, tag: str) -> Iterator[list[NationalTicket]]:
        return self._gate.pages(self.inner.tagged(tag))

    def get(self, national_id: int) -> NationalTicket | None:
        self._gate()
        return self.inner.get(national_id)

    def complaint(self, national_id: int) -> NationalComplaint | None:
        self._gate()
        return self.inner.complaint(national_id)

    def inbox(self, updated_from: datetime) -> Iterator[list[NationalComplaint]]:
        return self._gate.pages(self.inner.inbox(updated_from))

    def follow_ups(self, national_id: int) -> list[FollowUp]:
        self._gate()
        return self.inner.follow_ups(national_id)

    def add_follow_up(
        self, national_id: int, content: str, done: bool, files: Sequence[Photo] = ()
    ) -> str | None:
        self._gate()
        return self.inner.add_follow_up(national_id, content, done, files)

    def reject(self, national_id: int, reason: str) -> None:
        self._gate()
        self.inner.reject(national_id, reason)

    def status_code(self, status: Status) -> int | None:
        return self.inner.status_code(status)  # a table, nothing is sent

    def close(self) -> None:
        self.inner.close()


_source: type[LocalSource] = GatedSource  # mypy checks each gate against its port
_national: type[National] = GatedNational
