"""The engine's gate (bridge/sync/gate.py): the pass's held work is committed before each
call that may send a request, on the pass's thread only. Over real HTTP the rule is
checked in test_sync_tanjak.py (``test_no_request_leaves_before_...``)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from bridge.core.ports import RawRecord
from bridge.sync.gate import Gate, GatedNational, GatedSource
from tests.fakes import FakeNational, FakeSource


def _gated() -> tuple[Gate, GatedSource, GatedNational, FakeSource, list[str]]:
    gate = Gate()
    source = FakeSource()
    for n in range(7):
        source.touch(str(n), text=f"keluhan {n}")
    return gate, GatedSource(source, gate), GatedNational(FakeNational(), gate), source, []


def test_each_sending_call_and_each_page_is_preceded_by_the_commit() -> None:
    gate, source, national, _, commits = _gated()
    with gate.committing(lambda: commits.append("commit")):
        pages = source.pull(None)
        for _ in pages:
            commits.append("page")
        source.fetch("1")
        national.get(1)
    # three pages of 3, 3, 1, a look after the last, then one commit per call
    assert (
        commits == ["commit", "page", "commit", "page", "commit", "page", "commit"] + ["commit"] * 2
    )


def test_what_sends_nothing_passes_straight_through() -> None:
    gate, source, national, fake, commits = _gated()
    with gate.committing(lambda: commits.append("commit")):
        source.normalize(RawRecord("1", dict(fake.records["1"])))
        national.status_code(source.normalize(RawRecord("1", dict(fake.records["1"]))).status)
    assert commits == []


def test_outside_a_pass_and_on_another_thread_nothing_is_committed() -> None:
    gate, source, national, _, commits = _gated()
    source.fetch("1")  # no pass: nothing to commit
    with gate.committing(lambda: commits.append("commit")):
        worker = threading.Thread(target=lambda: national.get(1))  # a worker: never the store
        worker.start()
        worker.join()
    assert commits == []


def test_a_feed_left_early_is_closed() -> None:
    """A pass that stops mid-feed closes the adapter's reader (its open answer)."""
    gate, closed = Gate(), []

    def feed() -> Iterator[int]:
        try:
            yield from range(5)
        finally:
            closed.append(True)

    pages = gate.pages(feed())
    assert next(pages) == 0
    pages.close()
    assert closed == [True]
