"""The state store's transactions: held commits, durable intents, savepoints."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.sync.engine import CrashPoint
from bridge.sync.store import Store


@pytest.fixture
def stores(tmp_path: Path) -> tuple[Store, Store]:
    """The bridge's connection, and another process's view of the same database."""
    return Store(tmp_path / "bridge.db"), Store(tmp_path / "bridge.db")


def _write(store: Store, name: str, *, durable: bool = False) -> None:
    with store.atomic(durable=durable):
        store.set_cursor(name, "x")


def test_held_blocks_are_committed_together_at_the_commit_point(
    stores: tuple[Store, Store],
) -> None:
    bridge, other = stores
    with bridge.holding():
        _write(bridge, "a")
        _write(bridge, "b")
        assert bridge.cursor("a") == "x"  # the bridge reads its own writes
        assert other.cursor("a") is None  # nobody else sees them yet
        bridge.commit_held()
        assert (other.cursor("a"), other.cursor("b")) == ("x", "x")
        _write(bridge, "c")
    assert other.cursor("c") == "x"  # leaving the block commits


def test_a_durable_block_commits_at_once_with_what_was_held(
    stores: tuple[Store, Store],
) -> None:
    bridge, other = stores
    with bridge.holding():
        _write(bridge, "mapping")
        _write(bridge, "intent", durable=True)
        assert (other.cursor("mapping"), other.cursor("intent")) == ("x", "x")
        with bridge.atomic():  # nested: the outermost block commits
            _write(bridge, "nested intent", durable=True)
            assert other.cursor("nested intent") is None
        assert other.cursor("nested intent") == "x"


def test_a_failed_block_takes_back_only_itself(stores: tuple[Store, Store]) -> None:
    bridge, other = stores
    with bridge.holding():
        _write(bridge, "kept")
        with pytest.raises(ValueError), bridge.atomic():
            bridge.set_cursor("lost", "x")
            raise ValueError("a bug")
        bridge.commit_held()
    assert (other.cursor("kept"), other.cursor("lost")) == ("x", None)


def test_an_error_commits_what_was_held_and_an_interrupt_loses_it(
    stores: tuple[Store, Store],
) -> None:
    bridge, other = stores
    with pytest.raises(RuntimeError), bridge.holding():
        _write(bridge, "before an error")
        raise RuntimeError("the pass failed")
    assert other.cursor("before an error") == "x"
    with pytest.raises(CrashPoint), bridge.holding():
        _write(bridge, "before a kill")
        raise CrashPoint("killed")  # as a kill: uncommitted work is gone
    assert other.cursor("before a kill") is None
    assert bridge.cursor("before a kill") is None


def test_outside_holding_every_block_commits(stores: tuple[Store, Store]) -> None:
    bridge, other = stores
    _write(bridge, "a")
    assert other.cursor("a") == "x"
