"""``status``: the state of every source and account, and whether the bridge is healthy."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from bridge.settings import CAPABILITIES
from bridge.store import Store
from bridge.timefmt import display, parse_rfc3339, utcnow

#: how many complaints tracked by polling ``status --json`` lists one by one
POLLED_SHOWN = 100

#: lapor.md, Profiles: what the bridge does without each capability, and what it assumes
#: with it (every capability is modelled: seen nowhere public)
_WITHOUT = {
    "inbox": (
        "Complaints filed directly on LAPOR about the city are not pulled; statuses and"
        " follow-ups of the bridge's own complaints are read by id on a schedule."
    ),
    "tag_search": (
        "A create whose answer was lost is settled by a scan of the ids between"
        " neighbouring creates (assuming ids increase in creation order), or by the"
        " operator (lapor-bridge indoubt resolve)."
    ),
    "categories": (
        'Categories are sent by configured id ("*" for every category not mapped);'
        " no category name can be resolved."
    ),
    "mark_completed": (
        'A local "done" is sent as a follow-up with the done template; LAPOR reaches'
        " Selesai on its own."
    ),
    "reporter": "No reporter object is sent with a create.",
}
_WITH = {
    "inbox": (
        "Assumes LAPOR's inbox lists the complaints disposed to each account's agency"
        " (modelled); they are created in its home source, the rest are read by id."
    ),
    "tag_search": (
        "Assumes LAPOR's search by tag is complete and consistent (modelled): a create"
        " whose answer was lost is settled by it."
    ),
    "categories": (
        "Assumes LAPOR lists its category tree (modelled): category names in the"
        " configuration are resolved against it."
    ),
    "mark_completed": (
        "Assumes mark_completed=1 on a done follow-up closes the complaint (modelled)."
    ),
    "reporter": "Assumes a create accepts a reporter object (modelled).",
}


def lapor_profile(capabilities: Iterable[str]) -> dict[str, Any]:
    """``status --json``'s ``lapor``: the configured profile (lapor.md, Profiles), its
    capabilities, and in plain sentences what it assumes or cannot do."""
    have = set(capabilities)
    listed = [c for c in CAPABILITIES if c in have]
    # what the bridge cannot do comes first: it is what an operator must know
    assumptions = [_WITHOUT[c] for c in CAPABILITIES if c not in have]
    assumptions += [_WITH[c] for c in listed]
    return {
        "profile": "extended" if listed else "evidenced",
        "capabilities": listed,
        "assumptions": assumptions,
    }


def open_view(store: Store, source: str) -> dict[str, Any]:
    """The freshness of the bridge's view of the source's open complaints followed by id:
    how many (LAPOR's side neither done nor rejected as last seen), the oldest time one was
    last read, and how many were never read since they were created."""
    row = store.db.execute(
        "SELECT COUNT(*), MIN(last_seen_at), COALESCE(SUM(last_seen_at IS NULL), 0)"
        " FROM mappings WHERE source = ? AND national_id IS NOT NULL AND duplicate_of IS NULL"
        " AND COALESCE(tracked_by, '') != 'inbox'"
        " AND COALESCE(national_canonical, status, '') NOT IN ('done', 'rejected')",
        (source,),
    ).fetchone()
    count, oldest, never = row if row else (0, None, 0)
    return {
        "open": int(count or 0),
        "oldest_seen_at": display(_time(oldest)) or None,
        "never_read": int(never or 0),
    }


def unknown_status_names(store: Store) -> list[dict[str, Any]]:
    """LAPOR status names the bridge did not know when it read them (events
    ``unknown_status_name``): each name, on how many complaints, and when last seen."""
    rows = store.db.execute(
        "SELECT json_extract(detail, '$.name') AS name, COUNT(DISTINCT national_id), MAX(at)"
        " FROM events WHERE kind = 'unknown_status_name' GROUP BY name ORDER BY MAX(at) DESC"
    ).fetchall()
    return [
        {
            "name": None if name is None else str(name),
            "complaints": int(complaints),
            "last_seen_at": display(_time(last)) or None,
        }
        for name, complaints, last in rows
    ]


def _time(value: str | None) -> datetime | None:
    return parse_rfc3339(value) if value else None


def collect(
    store: Store,
    sources: Iterable[str],
    accounts: Iterable[str],
    poll_interval: float,
    now: datetime | None = None,
    *,
    capabilities: Iterable[str] = (),
) -> dict[str, Any]:
    """The ``status --json`` object of bridge.md, with a reason for each problem.

    Only bridge.md's reasons make it degraded (``problems``): a last pass that failed or
    ended over three poll intervals ago, anything in doubt, anything quarantined. What is
    worth knowing but not one of those (no pass has run yet) goes to ``notes``. Beyond
    bridge.md's keys: each source's ``view`` of its open complaints followed by id, the
    ``lapor`` profile (``capabilities`` as configured) with what it assumes, and the
    ``unknown_status_names`` LAPOR showed.
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
            problems.append(
                f"source {name}: {counts['in_doubt']} in doubt (lapor-bridge indoubt list)"
            )
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
            "photos": store.late_photo_counts(name),  # fetched again later, or given up
            "view": open_view(store, name),
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
        "lapor": lapor_profile(capabilities),
        "unknown_status_names": unknown_status_names(store),
    }
