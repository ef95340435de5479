"""The Quickstart's main job: the demo ends healthy, with no complaint created twice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import structlog

from adapters.demo import run_demo


def test_demo_runs_healthy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    try:
        assert run_demo(tmp_path, complaints=12) == 0
    finally:
        structlog.reset_defaults()  # the demo quiets logging; later tests expect the defaults
    out = capsys.readouterr().out
    assert "0 created twice" in out
    state = json.loads((tmp_path / "status.json").read_text(encoding="utf-8"))
    assert state["healthy"] is True
    assert set(state["sources"]) == {"tanjak", "ujar", "sambat", "kota-contoh"}
    assert all(row["mapped"] >= 12 for row in state["sources"].values())
