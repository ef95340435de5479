"""One source's unexpected failure fails that source's pass only; the others run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from bridge.core.ports import Page
from bridge.sync.engine import Engine
from bridge.sync.store import Store
from tests.fakes import FakeNational, FakeSource


class _Deep(FakeSource):
    """A feed whose page the bridge cannot read (deeply nested JSON, say)."""

    def pull(self, cursor: str | None) -> Iterator[Page]:
        raise RecursionError("maximum recursion depth exceeded while decoding a JSON array")


def test_an_unexpected_error_fails_its_source_and_the_others_run(tmp_path: Path) -> None:
    broken, fine = _Deep(), FakeSource()
    broken.name = "broken"
    fine.touch("a", text="banjir")
    store = Store(tmp_path / "bridge.db")
    try:
        report = Engine(store, {"broken": broken, "fake": fine}, {"acct": FakeNational()}).sync()
    finally:
        store.close()
    error = report.sources["broken"].error or ""
    assert error.startswith("the bridge could not process this pass: RecursionError at")
    assert "recursion depth" not in error  # where it broke, never what the data said
    assert report.sources["fake"].ok and report.sources["fake"].created == 1
