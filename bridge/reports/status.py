"""``status``: the state of every source and account, and whether the bridge is healthy."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from bridge.core.timefmt import display, parse_rfc3339, utcnow
from bridge.core.tracking import COST, HOUR, Spending, Tracking
from bridge.runtime import health as health_mod
from bridge.runtime.health import Backlog, Health, PassState
from bridge.runtime.settings import CAPABILITIES
from bridge.sync.storeport import ReplicaRow, StateStore

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


def open_view(store: StateStore, source: str) -> dict[str, Any]:
    """The freshness of the bridge's view of the source's open complaints followed by id:
    how many (LAPOR's side neither done nor rejected as last seen), the oldest time one was
    last read, and how many were never read since they were created."""
    view = store.open_view(source)
    return {
        "open": view.open,
        "oldest_seen_at": display(_time(view.oldest_seen_at)) or None,
        "never_read": view.never_read,
    }


def tracking(
    store: StateStore, account: str, sources: Iterable[str], policy: Tracking, now: datetime
) -> dict[str, Any]:
    """Following the account's complaints by id within its budget (bridge/core/tracking.py):
    the requests an hour it may spend and those it spent in the last hour; its open
    complaints followed by id, those due now, and the oldest view of one (``oldest_view_at``
    and its age in seconds: a complaint never read counts from its mapping); what the
    schedule wants an hour, and ``stretch``, how far every interval stretches when the
    budget is short of it (1.0: everything is read when wanted)."""
    budget = policy.budget(account)
    spending = Spending.load(store, account, budget, now)
    view = store.tracking_view(list(sources), now.isoformat(timespec="microseconds"))
    oldest = _time(view.oldest_view_at)
    wanted = view.wanted_per_hour
    return {
        "budget_per_hour": budget,
        "spent_last_hour": spending.spent(now),
        "open": view.open,
        "due": view.due,
        "oldest_view_at": display(oldest) or None,
        "oldest_view_seconds": round((now - oldest).total_seconds(), 1) if oldest else None,
        "wanted_per_hour": round(wanted, 1),
        "stretch": round(max(1.0, wanted / budget), 2),
        "max_view_age_hours": policy.max_view_age / HOUR,
        # reading every open complaint once within the bound takes this much an hour
        "bound_needs_per_hour": round(view.open * COST / (policy.max_view_age / HOUR), 1),
    }


def unknown_status_names(store: StateStore) -> list[dict[str, Any]]:
    """LAPOR status names the bridge did not know when it read them (events
    ``unknown_status_name``): each name, on how many complaints, and when last seen."""
    return [
        {
            "name": row.name,
            "complaints": row.complaints,
            "last_seen_at": display(_time(row.last_seen_at)) or None,
        }
        for row in store.unknown_status_names()
    ]


def feed_assumptions(cursor: str | None) -> dict[str, Any]:
    """What a source's cursor says it assumed or could not do (an Open311 city keeps the
    cap it assumed, the requests it could not read or gave up on, and the statuses it read
    as "no change"): shown by ``status`` without the raw cursor. Empty for other cursors."""
    try:
        data = json.loads(cursor) if cursor else None
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    out: dict[str, Any] = {}
    cap = data.get("cap")
    if isinstance(cap, dict) and isinstance(cap.get("assumed"), int):
        out["cap"] = {
            "assumed": cap["assumed"],
            "by": str(cap.get("by") or ""),
            "largest_answer": cap.get("largest_answer"),
        }
    for key in ("unreadable", "given_up", "unknown_statuses"):
        value = data.get(key)
        if isinstance(value, dict) and value:
            out[key] = sorted(str(k) for k in value)
    return out


def _time(value: str | None) -> datetime | None:
    return parse_rfc3339(value) if value else None


def backlog(store: StateStore, source: str, counts: dict[str, int] | None = None) -> Backlog:
    """The source's records not in sync, by why (:class:`bridge.runtime.health.Backlog`): the
    counts of :meth:`StateStore.counts` (pending without what waits on a person), and what
    the reconciliation report calls conflict, drift and refused, and the waiting
    (:meth:`StateStore.backlog_counts`)."""
    counts = counts if counts is not None else store.counts(source)
    found = store.backlog_counts(source)
    photos = store.late_photo_counts(source)
    return Backlog(
        pending=counts["pending"],
        in_doubt=counts["in_doubt"],
        quarantined=counts["quarantined"],
        conflicts=found.conflicts,
        drift=found.drift,
        refused=found.refused,
        refused_closed=found.refused_closed,
        photos_given_up=photos["given_up"],
        waiting_verification=found.waiting_verification,
        waiting_city=found.waiting_city,
        waiting_lapor_close=found.waiting_lapor_close,
        photos_waiting=photos["waiting"],
        oldest_unsynced_at=_time(found.oldest_unsynced_at),
    )


def pass_states(
    store: StateStore, progress: dict[str, datetime] | None = None
) -> dict[str, PassState]:
    """Each ``passes`` row as a :class:`PassState`, keyed ``source:NAME``/``account:NAME``.

    ``progress``: the last sign of life of each worker (the daemon's heartbeats). Without
    it, a pass running now shows life by when it started and when it last saved a page's
    cursor (all another process can see).
    """
    cursors = store.cursor_times()
    states: dict[str, PassState] = {}
    for key, row in store.passes().items():
        started = _time(row.started_at)
        finished = _time(row.finished_at)
        alive: datetime | None
        if progress is not None:
            alive = progress.get(key)
        else:
            signs = [t for t in (started, _time(cursors.get(key))) if t is not None]
            alive = max(signs) if signs else None
        state = PassState(started, finished, _time(row.ok_at), row.last_error)
        if state.running:
            state = PassState(started, finished, state.ok_at, state.last_error, progress_at=alive)
        states[key] = state
    return states


def assess(
    store: StateStore,
    sources: Iterable[str],
    accounts: Iterable[str],
    poll_interval: float,
    now: datetime | None = None,
    *,
    progress: dict[str, datetime] | None = None,
    backlogs: dict[str, Backlog] | None = None,
) -> Health:
    """The health model (:mod:`bridge.runtime.health`) over this store: what ``status``,
    ``/healthz`` and ``/metrics`` say."""
    now = now or utcnow()
    states = pass_states(store, progress)
    passes: dict[str, PassState | None] = {}
    for kind, names in (("source", sources), ("account", accounts)):
        for name in names:
            key = f"{kind}:{name}"
            state = states.get(key)
            if state is None and progress is not None and key in progress:
                state = PassState(progress_at=progress[key])  # a worker before its first pass
            passes[f"{kind} {name}"] = state
    if backlogs is None:
        backlogs = {name: backlog(store, name) for name in sources}
    return health_mod.assess(passes, backlogs, poll_interval, now)


def cluster(store: StateStore, lease_seconds: float) -> dict[str, Any] | None:
    """``status --json``'s ``cluster`` (PostgreSQL replicas; ``None`` when no replica ever
    ran: SQLite, or a database only ``sync`` wrote): each replica with its heartbeat's age
    and ``state`` (``running``; ``stopped``, cleanly; ``silent``, no heartbeat for a lease
    period: dead, frozen or cut off), and each unit's lease: its ``owner``, ``epoch``, held
    ``since``, ``expires_at``, ``live``, and the ``takeovers`` it went through."""
    replicas, leases = store.replicas(), store.leases()
    if not replicas and not leases:
        return None

    def state(row: ReplicaRow) -> str:
        if row.stopped_at is not None:
            return "stopped"
        return "running" if row.age < lease_seconds else "silent"

    return {
        "lease_seconds": lease_seconds,
        "replicas": [
            {
                "replica": r.replica,
                "host": r.host,
                "pid": r.pid,
                "version": r.version,
                "started_at": display(_time(r.started_at)) or None,
                "heartbeat_at": display(_time(r.heartbeat_at)) or None,
                "heartbeat_age_seconds": round(r.age, 1),
                "state": state(r),
                "leases": sum(1 for lease in leases if lease.live and lease.owner == r.replica),
            }
            for r in replicas
        ],
        "leases": [
            {
                "unit": lease.unit,
                "owner": lease.owner if lease.live else None,
                "epoch": lease.epoch,
                "since": display(_time(lease.acquired_at)) or None,
                "expires_at": display(_time(lease.expires_at)) or None,
                "live": lease.live,
                "takeovers": lease.takeovers,
            }
            for lease in leases
        ],
    }


def collect(
    store: StateStore,
    sources: Iterable[str],
    accounts: Iterable[str],
    poll_interval: float,
    now: datetime | None = None,
    *,
    capabilities: Iterable[str] = (),
    tracking_policy: Tracking | None = None,
    owners: Mapping[str, str] | None = None,
    lease_seconds: float = 30.0,
) -> dict[str, Any]:
    """The ``status --json`` object of bridge.md, with the health model's verdict.

    Beyond bridge.md's keys: ``health`` (``ok``, ``waiting`` or ``error``:
    :mod:`bridge.runtime.health`; ``healthy`` is anything but ``error``), ``problems`` (the
    errors, in words), ``waiting_for`` (what waits on a person, in words), ``reasons``
    (each with its level, subject and code) and ``notes`` (no level: no pass yet, a pass
    stopped by a signal or running). Per source: its ``health``, ``waiting`` (counts by
    kind and ``total``), ``conflicts``, ``drift``, ``refused``, ``oldest_unsynced_at``,
    the ``view`` of its open complaints followed by id; per account its ``health`` and, given
    its ``tracking_policy`` (budgets and bound) and the ``owners`` (source → account), its
    ``tracking`` (:func:`tracking`). And
    the ``lapor`` profile (``capabilities`` as configured) with what it assumes, and the
    ``unknown_status_names`` LAPOR showed. With PostgreSQL replicas, the ``cluster``
    (:func:`cluster`, ``lease_seconds`` as configured).
    """
    now = now or utcnow()
    sources, accounts = list(sources), list(accounts)
    passes = store.passes()
    counts = {name: store.counts(name) for name in sources}
    backlogs = {name: backlog(store, name, counts[name]) for name in sources}
    verdict = assess(store, sources, accounts, poll_interval, now, backlogs=backlogs)

    def level_of(subject: str) -> str:
        levels = [r.level for r in verdict.reasons if r.subject == subject]
        return max(levels, key=lambda lv: lv.rank, default=health_mod.Level.OK).value

    def pass_info(key: str) -> dict[str, Any]:
        row = passes.get(key)
        return {
            "last_pull_at": display(_time(row.ok_at if row else None)) or None,
            "last_pass_at": display(_time(row.finished_at if row else None)) or None,
            "last_error": row.last_error if row else None,
            "cursor": store.cursor(key),
            "feed": feed_assumptions(store.cursor(key)),
        }

    notes = list(verdict.notes)
    source_rows: dict[str, Any] = {}
    for name in sources:
        fallbacks = store.category_fallbacks(name)
        if fallbacks:
            sent = ", ".join(f"{asked} → {used}" for asked, used in sorted(fallbacks.items()))
            notes.append(f"source {name}: categories not on LAPOR, sent as: {sent}")
        tracked = store.tracked_by_polling([name])
        found = backlogs[name]
        source_rows[name] = {
            **pass_info(f"source:{name}"),
            **counts[name],
            "health": level_of(f"source {name}"),
            "waiting": found.waiting(),
            "conflicts": found.conflicts,
            "drift": found.drift,
            "refused": found.refused,
            "refused_closed": found.refused_closed,
            "oldest_unsynced_at": display(found.oldest_unsynced_at) or None,
            "categories_not_on_lapor": fallbacks,
            "photos": store.late_photo_counts(name),  # fetched again later, or given up
            "view": open_view(store, name),
            "tracked_by_polling": len(tracked),
            "polled": [
                {
                    "local_id": row.local_id,
                    "tracking_id": f"#{row.national_id}",
                    "last_seen_at": display(_time(row.last_seen_at)) or None,
                    "next_poll_at": display(_time(row.next_poll_at)) or None,
                }
                for row in tracked[:POLLED_SHOWN]
            ],
        }
    account_rows: dict[str, Any] = {}
    for name in accounts:
        account_rows[name] = {
            **pass_info(f"account:{name}"),
            "pending": store.account_pending(name),
            "health": level_of(f"account {name}"),
        }
        if tracking_policy is not None:
            followed = [s for s, owner in (owners or {}).items() if owner == name]
            account_rows[name]["tracking"] = tracking(store, name, followed, tracking_policy, now)
    model = verdict.as_dict()
    return {
        "healthy": verdict.healthy,
        "health": model["health"],
        "problems": model["errors"],
        "waiting_for": model["waiting_for"],
        "reasons": model["reasons"],
        "notes": notes,
        "checked_at": display(now),
        "sources": source_rows,
        "accounts": account_rows,
        "lapor": lapor_profile(capabilities),
        "unknown_status_names": unknown_status_names(store),
        **({"cluster": replicas} if (replicas := cluster(store, lease_seconds)) else {}),
    }
