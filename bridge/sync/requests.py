"""Operator requests: what an operator asks for on one record, carried out by a pass.

``quarantine retry``, ``mapping link``/``split``, ``resync --id``, ``indoubt resolve`` and
``conflict resolve`` need the state and the remote systems, which belong to the one
process holding the database's writer lock (``run``, ``sync``). So the command records a
*request* (table ``operator_requests``, migration m010) and:

* when no process holds the lock, takes it and carries the request out at once
  (``carried_out_by = 'command'``);
* when one does (the daemon), leaves it ``queued``: the next pass of its source carries
  it out before anything else (:func:`carry_out`, called by
  :meth:`bridge.sync.engine.Engine.sync_source`), and the command may wait for the result by
  polling the row (:func:`wait_for`).

A request goes ``queued`` → ``running`` → ``done`` | ``failed``, with who asked and when,
who carried it out and when, and the outcome in words. Each step is also an audit event of
the record (``operator_request``, ``operator_request_done``/``_failed``), so ``mapping
show`` and ``trace`` tell the story.

``indoubt resolve`` records its decision on the intent (or follow-up) at once, as before
(bridge.md: it works while the daemon runs); its request is what acts on that decision:
the record is settled with LAPOR (mapped to ``#N``, or posted again).

What ``conflict resolve`` does (a conflict: one side ``done``, the other ``rejected``):

* ``--keep national``: the app is moved to LAPOR's status (``LocalSource.set_status``, the
  write the bridge makes when LAPOR moves a complaint); the pair then agrees.
* ``--keep local``: nothing is written to LAPOR. ``Selesai`` and ``Diarsipkan`` are set by
  LAPOR's admin and are final; an agency can neither reopen nor re-archive a complaint
  (LAPOR refuses follow-ups and hand-backs on a closed complaint), and no port moves a
  national status. The mapping records the decision (``conflict_kept = 'local'``): its
  status is the app's, the conflict flag is cleared and not raised again for this pair.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from bridge.core.errors import Ambiguous, Rejected, Unavailable
from bridge.core.model import Status
from bridge.core.ports import RawRecord
from bridge.sync.store import StoreError
from bridge.sync.storeport import STATE_ERRORS, MappingRow, OperatorRequestRow, StateStore

if TYPE_CHECKING:
    from bridge.sync.engine import Engine, SourceReport

#: every action a request can carry
ACTIONS = (
    "quarantine_retry",
    "mapping_link",
    "mapping_split",
    "resync",
    "indoubt_resolve",
    "conflict_resolve",
)
#: failures of a remote system while a request is carried out: the request fails with them
REMOTE_FAILURES = (Unavailable, Ambiguous, Rejected)


#: one row of ``operator_requests`` (its params decoded), as the store gives it
OperatorRequest = OperatorRequestRow


class RequestFailed(Exception):
    """The request cannot be carried out (an unknown record, a refusal): its outcome."""


# the queue ------------------------------------------------------------------------------
def enqueue(
    store: StateStore,
    action: str,
    source: str,
    local_id: str | None,
    params: Mapping[str, Any],
    by: str,
) -> OperatorRequest:
    """Record a request (queued) and its audit event; one transaction of its own."""
    if action not in ACTIONS:
        raise ValueError(f"unknown operator action {action!r}")
    with store.atomic():
        request_id = store.add_operator_request(
            action, source, local_id, json.dumps(dict(params)), by
        )
        store.event(
            "operator_request",
            source,
            local_id,
            _national(params),
            request=request_id,
            action=action,
            by=by,
            **{k: v for k, v in params.items() if k != "national_id"},
        )
    found = get(store, request_id)
    assert found is not None
    return found


def get(store: StateStore, request_id: int) -> OperatorRequest | None:
    return store.operator_request(request_id)


def waiting(store: StateStore, source: str) -> list[OperatorRequest]:
    """A source's requests not finished, oldest first. ``running`` ones are included: only
    the writer-lock holder carries requests out, so one left running was cut short (a
    kill) and is carried out again."""
    return store.operator_requests_waiting(source)


def claim(store: StateStore, request: OperatorRequest, by: str) -> OperatorRequest:
    """Mark the request running (``by``: ``pass`` or ``command``)."""
    with store.atomic():
        store.claim_operator_request(request.id, by)
    claimed = get(store, request.id)
    assert claimed is not None
    return claimed


def finish(store: StateStore, request: OperatorRequest, ok: bool, outcome: str) -> OperatorRequest:
    """Record the outcome (done or failed) and its audit event."""
    state = "done" if ok else "failed"
    with store.atomic():
        store.finish_operator_request(request.id, state, outcome)
        store.event(
            f"operator_request_{state}",
            request.source,
            request.local_id,
            _national(request.params),
            request=request.id,
            action=request.action,
            by=request.requested_by,
            carried_out_by=request.carried_out_by,
            outcome=outcome,
        )
    finished = get(store, request.id)
    assert finished is not None
    return finished


def _national(params: Mapping[str, Any]) -> int | None:
    value = params.get("national_id")
    return int(value) if isinstance(value, int) else None


# carrying out ---------------------------------------------------------------------------
def carry_out(engine: Engine, source: str) -> list[OperatorRequest]:
    """Every request waiting for ``source``, in order, by the pass about to start."""
    return [run(engine, request, "pass") for request in waiting(engine.store, source)]


def run(engine: Engine, request: OperatorRequest, by: str) -> OperatorRequest:
    """Claim, execute and finish one request; never raises for the record's sake: what
    went wrong is its outcome (a failure of the state itself still raises)."""
    request = claim(engine.store, request, by)
    try:
        outcome = execute(engine, request)
    except RequestFailed as exc:
        return finish(engine.store, request, False, str(exc))
    except REMOTE_FAILURES as exc:
        return finish(engine.store, request, False, f"{type(exc).__name__.lower()}: {exc}")
    except STATE_ERRORS:
        raise  # the state itself: the pass fails, the request is carried out again
    except Exception as exc:  # a bug met on this record must not stop every later pass
        return finish(engine.store, request, False, f"internal error: {type(exc).__name__}")
    return finish(engine.store, request, True, outcome)


def execute(engine: Engine, request: OperatorRequest) -> str:
    """Carry one request out; its outcome in words (raises :class:`RequestFailed`)."""
    from bridge.sync.engine import SourceReport

    local = engine.sources.get(request.source)
    if local is None:
        raise RequestFailed(f"source {request.source!r} is not configured")
    report = SourceReport(request.source)
    handlers: dict[str, Callable[[Engine, OperatorRequest, SourceReport], str]] = {
        "quarantine_retry": _quarantine_retry,
        "mapping_link": _mapping_link,
        "mapping_split": _mapping_split,
        "resync": _resync,
        "indoubt_resolve": _indoubt_resolve,
        "conflict_resolve": _conflict_resolve,
    }
    return handlers[request.action](engine, request, report)


def _quarantine_retry(engine: Engine, request: OperatorRequest, report: SourceReport) -> str:
    local = engine.sources[request.source]
    entry_id = int(request.params["entry"])
    entry = engine.store.quarantine_entry(entry_id)
    if entry is None:
        raise RequestFailed(f"no quarantine entry {entry_id}")
    local_id = entry.local_id
    raw = local.fetch(local_id)
    kept = json.loads(entry.raw)
    if raw is None and kept is None:
        # a closed entry's raw record is forgotten (dropped or resolved)
        raise RequestFailed(
            f"the app no longer has {request.source}:{local_id}, and the entry"
            f" ({entry.state}) keeps no copy of it"
        )
    engine.reconcile(local, raw or RawRecord(local_id, kept), report)
    engine.write_back_pending(local)
    still = engine.store.quarantine_entry(entry_id)
    if still is not None and still.state == "open":
        return f"still quarantined: {still.reason}"
    return f"{request.source}:{local_id}: processed, out of quarantine"


def _mapping_link(engine: Engine, request: OperatorRequest, report: SourceReport) -> str:
    local = engine.sources[request.source]
    national_id = int(request.params["national_id"])
    assert request.local_id is not None
    try:
        engine.link_by_hand(local, request.local_id, national_id, report)
    except ValueError as exc:
        raise RequestFailed(str(exc)) from None
    return f"{request.record} linked to #{national_id}"


def _mapping_split(engine: Engine, request: OperatorRequest, report: SourceReport) -> str:
    local = engine.sources[request.source]
    assert request.local_id is not None
    try:
        national_id = engine.split(local, request.local_id, report)
    except ValueError as exc:
        raise RequestFailed(str(exc)) from None
    return f"{request.record} now has its own national complaint #{national_id}"


def _resync(engine: Engine, request: OperatorRequest, report: SourceReport) -> str:
    local = engine.sources[request.source]
    unknown: list[str] = []
    for local_id in request.params["ids"]:
        raw = local.fetch(str(local_id))
        if raw is None:
            unknown.append(str(local_id))
            continue
        engine.reconcile(local, raw, report)
    engine.write_back_pending(local)
    summary = (
        f"{request.source}: seen {report.seen}, created {report.created},"
        f" linked {report.linked}, updated {report.updated},"
        f" quarantined {report.quarantined}, follow-ups sent {report.pair.to_national},"
        f" responses {report.pair.to_local}"
    )
    if unknown:
        ids = ", ".join(unknown)
        if not report.seen:
            raise RequestFailed(f"{summary}; the app does not know {ids}")
        summary += f"; the app does not know {ids}"
    return summary


def _indoubt_resolve(engine: Engine, request: OperatorRequest, report: SourceReport) -> str:
    local = engine.sources[request.source]
    followup = request.params.get("followup")
    if followup is not None:
        row = engine.store.followup_row(int(followup))
        if row is None:
            raise RequestFailed(f"no follow-up f{followup}")
        if row.state == "pending":
            national = engine.nationals[local.account]
            engine.twoway.flush_to_national(local, national, row.local_id, report.pair)
            row = engine.store.followup_row(int(followup)) or row
        if row.state == "done":
            return f"follow-up f{followup} → #{row.national_id}: done"
        raise RequestFailed(
            f"follow-up f{followup} → #{row.national_id}: {row.state}"
            + (f" ({row.last_error})" if row.last_error else "")
        )
    assert request.local_id is not None
    engine.settle(local, request.local_id, report)
    mapping = engine.store.mapping(request.source, request.local_id)
    if mapping is not None and mapping.national_id is not None:
        return f"{request.record} is mapped to #{mapping.national_id}"
    intent = engine.store.pending_intent(request.source, request.local_id, "create")
    if intent is None:
        raise RequestFailed(f"{request.record}: no create left, and no mapping")
    why = intent.last_error or intent.evidence or "no answer"
    raise RequestFailed(f"{request.record} is still in doubt: {why}")


def in_conflict(mapping: MappingRow) -> bool:
    """bridge.md's conflict, on a mapping: flagged, or one side done and the other
    rejected, unless an operator kept the local side."""
    if mapping.conflict_kept == "local":
        return False
    pair = {mapping.local_canonical, mapping.national_canonical}
    return bool(mapping.conflict) or pair == {Status.DONE.value, Status.REJECTED.value}


def _conflict_resolve(engine: Engine, request: OperatorRequest, report: SourceReport) -> str:
    local = engine.sources[request.source]
    assert request.local_id is not None
    mapping = engine.store.mapping(request.source, request.local_id)
    if mapping is None or mapping.national_id is None:
        raise RequestFailed(f"{request.record} is not mapped")
    if not in_conflict(mapping):
        raise RequestFailed(
            f"{request.record} is not in conflict (local {mapping.local_canonical},"
            f" national {mapping.national_canonical})"
        )
    keep = str(request.params["keep"])
    national_id = mapping.national_id
    local_status = Status(mapping.local_canonical or Status.SUBMITTED)
    national_status = Status(mapping.national_canonical or Status.SUBMITTED)
    if keep == "national":
        local.set_status(request.local_id, national_status)
        report.pair.statuses += 1
        with engine.store.atomic():
            engine.store.update_mapping(
                request.source,
                request.local_id,
                local_canonical=national_status.value,
                status=national_status.value,
                conflict=0,
                conflict_kept="national",
            )
            engine.store.event(
                "conflict_resolved",
                request.source,
                request.local_id,
                national_id,
                keep="national",
                by=request.requested_by,
                request=request.id,
                local_was=local_status.value,
                national=national_status.value,
            )
        return (
            f"{request.record}: the app was moved to LAPOR's status {national_status.value}"
            f" (it was {local_status.value}); #{national_id} unchanged"
        )
    with engine.store.atomic():
        engine.store.update_mapping(
            request.source,
            request.local_id,
            status=local_status.value,
            conflict=0,
            conflict_kept="local",
        )
        engine.store.event(
            "conflict_resolved",
            request.source,
            request.local_id,
            national_id,
            keep="local",
            by=request.requested_by,
            request=request.id,
            local=local_status.value,
            national_was=national_status.value,
        )
    return (
        f"{request.record}: kept the app's status {local_status.value}; LAPOR's"
        f" {national_status.value} on #{national_id} is its admin's and final (an agency"
        " cannot change it): nothing sent to LAPOR, no longer reported as a conflict"
    )


# waiting ----------------------------------------------------------------------------------
def wait_for(
    open_store: Callable[[], StateStore],
    request_id: int,
    timeout: float,
    *,
    every: float = 0.5,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> OperatorRequest | None:
    """Poll the request's row until it is finished or ``timeout`` seconds passed; the
    request as last read (``None`` if it cannot be read). ``open_store`` opens the state
    read-only, afresh for each look (the command's, from its configuration)."""
    end = clock() + timeout
    last: OperatorRequest | None = None
    while True:
        try:
            store = open_store()
        except StoreError:
            store = None
        if store is not None:
            try:
                last = get(store, request_id)
            finally:
                store.close()
        if (last is not None and last.finished) or clock() >= end:
            return last
        sleep(min(every, max(0.0, end - clock())))


__all__ = [
    "ACTIONS",
    "OperatorRequest",
    "RequestFailed",
    "carry_out",
    "claim",
    "enqueue",
    "execute",
    "finish",
    "get",
    "in_conflict",
    "run",
    "wait_for",
    "waiting",
]
