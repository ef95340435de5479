"""The example Prometheus alert rules (packaging/lapor-bridge.rules.yml; README, "Metrics and
alerts"): every metric they use is one a running daemon serves, and README shows the file
as it is.

No YAML parser is in the lock file, so the rules are read with regular expressions: the
file is kept to one ``expr:`` per line."""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

import httpx

from tests.harness import World
from tests.test_daemon import Run

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "packaging" / "lapor-bridge.rules.yml"

#: PromQL words that are not metric names
KEYWORDS = frozenset(
    {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
     "bool", "offset"}
)  # fmt: skip


def _exprs(text: str) -> list[str]:
    return [m.strip().strip("\"'") for m in re.findall(r"^\s*expr:\s*(.+)$", text, flags=re.M)]


def _metric_names(expr: str) -> set[str]:
    """The metric names an expression reads: identifiers that are not functions, keywords,
    label matchers, strings, durations or numbers."""
    bare = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings
    bare = re.sub(r"\{[^}]*\}", "", bare)  # label matchers
    bare = re.sub(r"\[[^\]]*\]", "", bare)  # range selectors
    # label lists: sum by (source) (...), on (kind, name)
    bare = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", bare)
    names = set()
    for match in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(\s*\()?", bare):
        word, call = match.group(1), match.group(2)
        if call or word in KEYWORDS:
            continue
        names.add(word)
    return names


def _sampled(body: str) -> set[str]:
    """The metric names that have at least one sample in a /metrics scrape."""
    return {
        re.split(r"[{ ]", line, maxsplit=1)[0]
        for line in body.splitlines()
        if line and not line.startswith("#")
    }


def test_the_rules_file_has_alerts_with_expressions() -> None:
    text = RULES.read_text(encoding="utf-8")
    alerts = re.findall(r"^\s*- alert:\s*(\w+)$", text, flags=re.M)
    exprs = _exprs(text)
    assert alerts and len(alerts) == len(exprs), (alerts, exprs)
    assert len(set(alerts)) == len(alerts), "alert names repeat"
    assert "groups:" in text
    used = set().union(*map(_metric_names, exprs))
    assert {
        "lapor_bridge_health",
        "lapor_bridge_oldest_unsynced_seconds",
        "lapor_bridge_in_doubt",
        "lapor_bridge_last_success_timestamp_seconds",
    } <= used, used


def test_readme_shows_the_rules_file_as_it_is() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```yaml\n(.*?)^```$", readme, flags=re.M | re.S)
    shown = [b for b in blocks if "groups:" in b]
    assert len(shown) == 1, "README shows the alert rules once, in a ```yaml block"
    assert shown[0] == RULES.read_text(encoding="utf-8")


def test_every_metric_the_rules_use_is_served_by_a_running_daemon(world: World) -> None:
    used = set().union(*map(_metric_names, _exprs(RULES.read_text(encoding="utf-8"))))
    run = Run(world, interval=1.0)
    body, missing = "", used
    try:
        end = time.monotonic() + 30
        while time.monotonic() < end:
            try:
                body = run.get("/metrics").text
            except httpx.TransportError:
                body = ""
            missing = used - _sampled(body)
            if not missing:
                break
            run.drain(0.3)
    finally:
        run.proc.send_signal(signal.SIGTERM)
        run.proc.wait(timeout=12)
        run.close()
    assert not missing, f"the rules use metrics the daemon does not serve: {sorted(missing)}"
