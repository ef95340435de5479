"""``status``: the state of every source and account, and whether the bridge is healthy."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from bridge.store import Store
from bridge.timefmt import display, parse_rfc3339, utcnow

#: how many complaints tracked by polling ``status --json`` lists one by one
POLLED_SHOWN = 100


def _time(value: str | None) -> datetime | None:
    return parse_rfc3339(value) if value else None


def collect(
    store: Store,
    sources: Iterable[str],
    accounts: Iterable[str],
    poll_interval: float,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The ``status --json`` object of bridge.md, with a reason for each problem.

    Only bridge.md's reasons make it degraded (``problems``): a last pass that failed or
    ended over three poll intervals ago, anything in doubt, anything quarantined. What is
    worth knowing but not one of those (no pass has run yet) goes to ``notes``.
    """
    now = now or utcnow()
    stale_after = timedelta(seconds=3 * poll_interval)
    passes = store.passes()
    problems: list[str] = []
    notes: list[str] = []

    def pass_info(key: str, label: str) -> dict[str, Any]:
        row = passes.get(key, {})
        ok_at = _time(row.get("ok_at"))
        finished = _time(row.get("finished_at"))
        error = row.get("last_error")
        if finished is None:
            notes.append(f"{label}: no pass has run yet")
        elif error:
            problems.append(f"{label}: last pass failed: {error}")
        elif now - finished > stale_after:
            problems.append(f"{label}: last pass ended {display(finished)}, over 3 intervals ago")
        return {
            "last_pull_at": display(ok_at) or None,
            "last_pass_at": display(finished) or None,
            "last_error": error,
            "cursor": store.cursor(key),
        }

    source_rows: dict[str, Any] = {}
    for name in sources:
        info = pass_info(f"source:{name}", f"source {name}")
        counts = store.counts(name)
        if counts["in_doubt"]:
            problems.append(f"source {name}: {counts['in_doubt']} create(s) in doubt")
        if counts["quarantined"]:
            problems.append(f"source {name}: {counts['quarantined']} record(s) quarantined")
        fallbacks = store.category_fallbacks(name)
        if fallbacks:
            sent = ", ".join(f"{asked} → {used}" for asked, used in sorted(fallbacks.items()))
            notes.append(f"source {name}: categories not on LAPOR, sent as: {sent}")
        tracked = store.tracked_by_polling([name])
        source_rows[name] = {
            **info,
            **counts,
            "categories_not_on_lapor": fallbacks,
            "tracked_by_polling": len(tracked),
            "polled": [
                {
                    "local_id": row["local_id"],
                    "tracking_id": f"#{row['national_id']}",
                    "last_seen_at": display(_time(row["last_seen_at"])) or None,
                    "next_poll_at": display(_time(row["next_poll_at"])) or None,
                }
                for row in tracked[:POLLED_SHOWN]
            ],
        }
    account_rows: dict[str, Any] = {}
    for name in accounts:
        info = pass_info(f"account:{name}", f"account {name}")
        account_rows[name] = {**info, "pending": store.account_pending(name)}
    return {
        "healthy": not problems,
        "problems": problems,
        "notes": notes,
        "checked_at": display(now),
        "sources": source_rows,
        "accounts": account_rows,
    }
