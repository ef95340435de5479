from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from tests.harness import World
from tests.pg import PgServer, start_server_or_skip

# CI runs the property tests on a fixed sequence of examples (the same run, every time: a red
# CI names a change, not a roll of the dice); run without it, they explore new examples.
settings.register_profile("ci", derandomize=True)
if os.environ.get("LAPOR_BRIDGE_CI"):
    settings.load_profile("ci")


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    try:
        yield w
    finally:
        w.stop()


@pytest.fixture
def inbox_world(tmp_path: Path) -> Iterator[World]:
    """A world whose LAPOR account has the (modelled) inbox: complaints filed on LAPOR
    reach the home app."""
    w = World(tmp_path, capabilities=("inbox",))
    try:
        yield w
    finally:
        w.stop()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A real PostgreSQL server for the session (tests/pg.py); the tests that use it are
    marked ``pg``. Skipped where no server can be had, saying why — except in CI
    (``LAPOR_BRIDGE_CI=1``), which must have one."""
    server = start_server_or_skip()
    try:
        yield server
    finally:
        server.stop()
