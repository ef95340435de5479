"""Adapter kits: what the shared adapter contract suite needs to drive one app.

Every city adapter provides a kit (``tests/kits/<app>.py``) and is plugged into
``tests/test_adapter_contract.py``; the next app gets the whole suite for free.
"""

from __future__ import annotations

import random
from typing import Any, Protocol

from adapters.sandbox.server import SandboxServer
from bridge.core.model import Status
from bridge.core.ports import LocalSource
from bridge.runtime.http import RetryPolicy

FAST = RetryPolicy(attempts=6, initial=0.01, maximum=0.05)


class Kit(Protocol):
    """One app's sandbox and adapter, seen through the same questions."""

    kind: str

    @property
    def sandbox(self) -> SandboxServer:
        """The app's sandbox (a subclass of the shared server)."""
        ...

    def section(self, account: str) -> dict[str, Any]:
        """The ``[sources.NAME]`` keys (``kind`` included) that point at the sandbox."""
        ...

    def source(self, name: str, account: str) -> LocalSource:
        """The adapter, connected to the sandbox with the FAST retry policy."""
        ...

    def add_record(self, rng: random.Random, **overrides: Any) -> str:
        """A citizen files a valid complaint now; its local id. ``text`` and
        ``phone`` overrides set the complaint's text and the citizen's phone."""
        ...

    def edit_record(self, local_id: str, text: str) -> None:
        """The citizen (or an operator) changes the complaint's text."""
        ...

    def corrupt(self, local_id: str) -> None:
        """Make the record unreadable for the normalizer (outside the contract)."""
        ...

    def link_value(self, local_id: str) -> int | None:
        """The national id the app shows in its link field, or None."""
        ...

    def status_of(self, local_id: str) -> Status:
        """The app's current status, as canonical."""
        ...

    def city_sets_status(self, local_id: str, status: Status) -> None:
        """The city's agency moves the record in its app."""
        ...

    def city_responds(self, local_id: str, text: str) -> None:
        """The city's agency answers in its app."""
        ...

    def responses(self, local_id: str) -> list[tuple[str, str | None]]:
        """The record's responses as ``(text, ref)``, oldest first."""
        ...

    def records(self) -> list[str]:
        """Every local id the app holds."""
        ...
