"""``lapor-bridge trace REF``: everything the bridge knows about one complaint, in one view.

REF (:func:`parse_ref`) is ``SOURCE:ID``, the number an app shows its citizen (Tanjak's
``TJK-2026-000004``: every source's record with it), ``#TRACKING`` or the bare tracking
number. :func:`trace` gathers, for every local record that REF names, its mapping, the
records sharing its national complaint, quarantine entries, creates and imports (in doubt
or not), follow-ups both ways, late photos, duplicate checks and the audit history; a
record that was never mapped (quarantined, a create in doubt) is found all the same.

Read only, and safe to print: no raw record or create body is read, every text from
outside (an app, LAPOR, an error) has its control characters removed (no escape sequence
reaches a terminal) and phone numbers, NIK and secrets masked (:mod:`bridge.runtime.logs`). Times
are RFC 3339 in WIB.
"""

from __future__ import annotations

import json
import re
from contextlib import suppress
from dataclasses import asdict, dataclass
from typing import Any

from bridge.core.text import clean
from bridge.core.timefmt import display, parse_rfc3339
from bridge.runtime.logs import redact_text, redact_value
from bridge.sync.storeport import EventRow, MappingRow, StateStore

#: bridge.md: source names are ``[a-z0-9-]{1,24}``
_SOURCE = re.compile(r"[a-z0-9-]{1,24}")
#: a tracking number: digits only (ASCII), small enough for SQLite's integers
_TRACKING = re.compile(r"#?([0-9]{1,18})")
#: columns holding a time, shown in WIB
_TIMES = frozenset({"at", "deadline", "first_seen", "last_seen"})

REF_HELP = (
    "SOURCE:ID, the number the app shows its citizen (e.g. TJK-2026-000004), #TRACKING,"
    " or the bare tracking number (9165024: an unquoted #9165024 is a comment to the shell)"
)


@dataclass(frozen=True)
class Ref:
    """What an operator asked for: exactly one of a record, a visible number, a tracking id."""

    text: str
    source: str | None = None
    local_id: str | None = None
    number: str | None = None
    national_id: int | None = None

    @property
    def looked_for(self) -> str:
        if self.national_id is not None:
            return f"national complaint #{self.national_id}"
        if self.source is not None:
            return f"record {self.source}:{self.local_id} (its id or visible number)"
        return f"the visible number or id {self.number} in every source"


def parse_ref(text: str) -> Ref:
    """``SOURCE:ID``, ``#N`` or ``N`` (a tracking number), else a visible number.

    Raises ``ValueError`` (a message for the operator) for an empty REF or a ``#`` not
    followed by digits.
    """
    ref = clean(text).replace("\n", " ")
    if not ref:
        raise ValueError(f"REF is {REF_HELP}")
    tracking = _TRACKING.fullmatch(ref)
    if tracking:
        return Ref(ref, national_id=int(tracking.group(1)))
    if ref.startswith("#"):
        raise ValueError(f"{ref}: a tracking number is # and digits (#9165024)")
    source, sep, local_id = ref.partition(":")
    if sep and local_id and _SOURCE.fullmatch(source):
        return Ref(ref, source=source, local_id=local_id)
    return Ref(ref, number=ref)


@dataclass(frozen=True)
class RecordTrace:
    """One local record (or an import not yet a record: ``local_id`` ``#N``)."""

    source: str
    local_id: str
    display_id: str | None
    tracking_id: str | None
    #: one line each: mapped, merged, quarantined, in doubt, conflict…
    state: list[str]
    mapping: dict[str, Any] | None
    #: the other records mapped to the same national complaint
    shares_complaint_with: list[dict[str, Any]]
    quarantine: list[dict[str, Any]]
    #: creates sent to LAPOR and imports into the app, each ``in_doubt`` or not
    intents: list[dict[str, Any]]
    followups: list[dict[str, Any]]
    late_photos: list[dict[str, Any]]
    duplicate_checks: list[dict[str, Any]]
    history: list[dict[str, Any]]

    @property
    def ref(self) -> str:
        return f"{self.source}:{self.local_id}"


@dataclass(frozen=True)
class Trace:
    ref: str
    looked_for: str
    records: list[RecordTrace]
    #: audit events of the tracking number when no record of it is known
    history: list[dict[str, Any]]

    @property
    def found(self) -> bool:
        return bool(self.records or self.history)

    def as_json(self) -> dict[str, Any]:
        """One JSON-ready object (``trace --json``)."""
        return {
            "ref": self.ref,
            "looked_for": self.looked_for,
            "found": self.found,
            "records": [asdict(record) for record in self.records],
            "history": self.history,
        }


# --- finding the records REF names ---------------------------------------------------


def _by_national(store: StateStore, national_id: int) -> list[tuple[str, str]]:
    found = [(m.source, m.local_id) for m in store.mappings_for_national(national_id)]
    found += store.records_of_national(national_id)
    marker = f"#{national_id}"  # an import not (yet) a record, or quarantined
    # an import that became a record is shown with that record (its intents go with it)
    homes = {source for source, local_id in found if local_id != marker}
    return [(source, local_id) for source, local_id in found
            if local_id != marker or source not in homes]  # fmt: skip


def records_for(store: StateStore, ref: Ref) -> list[tuple[str, str]]:
    """``(source, local_id)`` of every record REF names, in the order first found."""
    if ref.national_id is not None:
        found = _by_national(store, ref.national_id)
    elif ref.source is not None and ref.local_id is not None:
        found = store.records_numbered(ref.local_id, ref.source) or store.records_numbered(
            ref.text, None
        )
    else:
        assert ref.number is not None
        found = store.records_numbered(ref.number, None)
    return list(dict.fromkeys(found))


def mappings_for(store: StateStore, ref: Ref) -> list[MappingRow]:
    """The mappings REF names (``mapping show``): a tracking id's owner first."""
    if ref.national_id is not None:
        return store.mappings_for_national(ref.national_id)
    rows = (store.mapping(source, local_id) for source, local_id in records_for(store, ref))
    return [row for row in rows if row is not None]


# --- assembling what is known ---------------------------------------------------------


def _time(value: str) -> str:
    try:
        return display(parse_rfc3339(value))
    except ValueError:
        return value


def _outside(value: Any, *, keys: bool = True) -> Any:
    """A value from outside, safe to print: control characters gone, phone numbers, NIK and
    secrets in texts masked, and with ``keys`` the values of personal keys (``nama``, ``hp``)
    too. The audit log's details hold no personal data by design (their ``name`` is a status
    name): their texts are masked, not their keys."""
    if isinstance(value, str):
        return redact_text(clean(value))
    if isinstance(value, dict):
        inner = {k: _outside(v, keys=keys) for k, v in value.items()}
        return redact_value(inner) if keys else inner
    if isinstance(value, list | tuple):
        return [_outside(v, keys=keys) for v in value]
    return value


def _row(
    row: dict[str, Any], *, ids: tuple[str, ...] = ("source", "local_id"), keys: bool = True
) -> dict[str, Any]:
    """A stored row for printing: times in WIB; ids cleaned (copied by operators, never
    masked), every other text neutralised and masked."""
    shown: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, str) and (key.endswith("_at") or key in _TIMES):
            shown[key] = _time(value)
        elif key in ids:
            shown[key] = clean(value).replace("\n", " ") if isinstance(value, str) else value
        else:
            shown[key] = _outside(value, keys=keys)
    return shown


#: the mapping's fields ``trace`` shows, in this order (after ``display_id``)
_MAPPING_FIELDS = (
    "origin", "account", "national_id", "duplicate_of", "status", "local_status",
    "local_canonical", "national_status", "national_status_name", "national_canonical",
    "link_state", "conflict", "tracked_by", "category", "agency", "confidential", "anonymous",
    "created_at", "first_synced_at", "last_synced_at", "local_updated_at",
    "national_updated_at", "last_seen_at", "next_poll_at",
)  # fmt: skip
#: the mapping's 0/1 flags, shown as booleans
_FLAGS = frozenset({"conflict", "confidential", "anonymous"})
#: what ``trace`` shows of a duplicate check
_CHECK_FIELDS = ("at", "rule", "score", "merged", "candidate_of")


def _mapping(row: MappingRow) -> dict[str, Any]:
    shown: dict[str, Any] = {"display_id": row.display_id}
    for name in _MAPPING_FIELDS:
        value = getattr(row, name)
        shown[name] = bool(value) if name in _FLAGS else value
    return shown


def _record(store: StateStore, source: str, local_id: str) -> RecordTrace:
    found = store.mapping(source, local_id)
    mapping = _mapping(found) if found is not None else None
    national_id = found.national_id if found is not None else None
    if national_id is None and local_id.startswith("#") and local_id[1:].isdigit():
        national_id = int(local_id[1:])  # an import not (yet) a record of the app
    quarantine = [asdict(q) for q in store.quarantine_notes(source, local_id)]
    intents = [asdict(i) for i in store.intent_notes(source, local_id, national_id)]
    if national_id is None:
        answered = [i["national_id"] for i in intents if i["national_id"] is not None]
        national_id = answered[-1] if answered else None
    followups = [asdict(f) for f in store.followup_notes(source, local_id)]
    late_photos = [asdict(p) for p in store.late_photo_notes(source, local_id)]
    checks = [
        {name: getattr(d, name) for name in _CHECK_FIELDS}
        for d in store.dedupe_decisions(source, local_id)
    ]
    shares = [
        {"source": m.source, "local_id": m.local_id, "duplicate_of": m.duplicate_of}
        for m in (store.mappings_for_national(national_id) if national_id is not None else [])
        if (m.source, m.local_id) != (source, local_id)
    ]
    history = [_event(e) for e in store.events_for(source, local_id, national_id)]
    numbers = [mapping["display_id"]] if mapping else []
    numbers += [q["display_id"] for q in quarantine] + [i["display_id"] for i in intents]
    display_id = next((n for n in numbers if n), None)
    return RecordTrace(
        source=clean(source),
        local_id=clean(local_id),
        display_id=clean(display_id) if display_id else None,
        tracking_id=f"#{national_id}" if national_id is not None else None,
        state=_state(mapping, quarantine, intents, followups, late_photos),
        mapping=_row(mapping, ids=("duplicate_of",)) if mapping else None,
        shares_complaint_with=[_row(s, ids=("source", "local_id", "duplicate_of")) for s in shares],
        quarantine=[_row(q) for q in quarantine],
        intents=[_row(i, ids=("tag",)) for i in intents],
        followups=[_row(f, ids=("origin_id", "remote_id")) for f in followups],
        late_photos=[_row(p) for p in late_photos],
        duplicate_checks=[_row(c, ids=("candidate_of",)) for c in checks],
        history=history,
    )


def _event(event: EventRow) -> dict[str, Any]:
    detail: Any = event.detail
    if isinstance(detail, str):
        with suppress(ValueError):  # else an event of an earlier version: text as it is
            detail = json.loads(detail)
    return _row(
        {
            "at": event.at,
            "kind": event.kind,
            "source": event.source,
            "local_id": event.local_id,
            "national_id": event.national_id,
            "detail": detail,
        },
        keys=False,
    )


def _state(
    mapping: dict[str, Any] | None,
    quarantine: list[dict[str, Any]],
    intents: list[dict[str, Any]],
    followups: list[dict[str, Any]],
    late_photos: list[dict[str, Any]],
) -> list[str]:
    """What an operator wants first: where the record stands, and what is wrong with it."""
    state: list[str] = []
    if mapping is None:
        state.append("no mapping")
    elif mapping["national_id"] is None:
        state.append("mapped, no national complaint yet")
    elif mapping["duplicate_of"]:
        state.append(
            f"merged into {mapping['duplicate_of']}'s national complaint #{mapping['national_id']}"
        )
    else:
        state.append(f"mapped to #{mapping['national_id']} (origin {mapping['origin']})")
    if mapping is not None and mapping["national_id"] is not None:
        if mapping["link_state"] != "done":
            state.append("tracking id not yet written back to the app")
        if mapping["conflict"]:
            state.append("status conflict (one side done, the other rejected)")
    if any(q["state"] == "open" for q in quarantine):
        state.append("quarantined")
    for intent in intents:
        if intent["in_doubt"]:
            state.append(f"{intent['kind']} in doubt (intent {intent['id']})")
        elif intent["state"] == "pending":
            state.append(f"{intent['kind']} pending (intent {intent['id']})")
    doubtful = [f for f in followups if f["in_doubt"]]
    if doubtful:
        state.append(f"{len(doubtful)} follow-up(s) in doubt")
    failed = [f for f in followups if f["state"] == "failed"]
    if failed:
        state.append(f"{len(failed)} follow-up(s) refused")
    waiting = [p for p in late_photos if p["state"] == "waiting"]
    if waiting:
        state.append(f"{len(waiting)} photo(s) still to be sent")
    return state


def trace(store: StateStore, ref: Ref) -> Trace:
    """Everything known about the complaint REF names (``found`` False: nothing)."""
    records = [_record(store, source, local_id) for source, local_id in records_for(store, ref)]
    history: list[dict[str, Any]] = []
    if ref.national_id is not None and not records:  # else each record's history has them
        history = [_event(e) for e in store.events_for(None, None, ref.national_id)]
    return Trace(ref.text, ref.looked_for, records, history)


# --- for people ----------------------------------------------------------------------

#: a follow-up's text in the one-line view is cut here (``--json`` has it whole)
TEXT_WIDTH = 160
_DIRECTIONS = {"to_national": "app → LAPOR", "to_local": "LAPOR → app"}


def _line(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False)
    return str(value).replace("\n", " ")


def _cut(text: str, width: int = TEXT_WIDTH) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def render(result: Trace) -> list[str]:
    """The one view ``trace`` prints: lines already safe for a terminal."""
    lines: list[str] = []
    for record in result.records:
        head = record.ref
        if record.display_id and record.display_id != record.local_id:
            head += f" ({record.display_id})"
        lines.append(f"{head} ↔ {record.tracking_id or 'no national complaint'}")
        lines += [f"  state: {s}" for s in record.state]
        if record.mapping is not None:
            m = {k: _line(v) for k, v in record.mapping.items()}
            lines.append(
                f"  mapping: origin {m['origin']}, account {m['account']},"
                f" link {m['link_state']}, tracked by {m['tracked_by'] or '-'}"
            )
            lines.append(
                f"    status {m['status']}: local {m['local_status'] or '-'}"
                f" ({m['local_canonical'] or '-'}), national"
                f" {m['national_status_name'] or m['national_status'] or '-'}"
                f" ({m['national_canonical'] or '-'})"
            )
            if m["duplicate_of"]:
                lines.append(f"    duplicate_of: {m['duplicate_of']}")
            lines.append(f"    category: {m['category']}; agency: {m['agency'] or '-'}")
            for key in ("created_at", "first_synced_at", "last_synced_at", "last_seen_at"):
                if m[key]:
                    lines.append(f"    {key}: {m[key]}")
        for other in record.shares_complaint_with:
            merged = f" (merged into {other['duplicate_of']})" if other["duplicate_of"] else ""
            lines.append(f"  same complaint: {other['source']}:{other['local_id']}{merged}")
        if record.quarantine:
            lines.append("  quarantine (raw record: quarantine show ID):")
            for q in record.quarantine:
                lines.append(
                    f"    {q['id']} {q['state']}, {q['attempts']} attempt(s), first"
                    f" {q['first_seen']}, last {q['last_seen']}: {_line(q['reason'])}"
                )
        if record.intents:
            lines.append("  creates and imports:")
            for i in record.intents:
                state = "IN DOUBT" if i["in_doubt"] else i["state"]
                text = f"    {i['kind']} {i['id']} {state}, {i['attempts']} attempt(s)"
                for key in ("sent_at", "deadline", "answered_at"):
                    if i[key]:
                        text += f", {key.removesuffix('_at')} {i[key]}"
                if i["national_id"] is not None:
                    text += f", #{i['national_id']}"
                lines.append(text)
                for key in ("last_error", "evidence", "decision"):
                    if i[key]:
                        lines.append(f"      {key}: {_line(i[key])}")
        if record.followups:
            lines.append("  follow-ups:")
            for f in record.followups:
                state = "IN DOUBT" if f["in_doubt"] else f["state"]
                author = f" by {_line(f['author'])}" if f["author"] else ""
                lines.append(
                    f"    {f['created_at']}  {_DIRECTIONS.get(f['direction'], f['direction'])}"
                    f"  {f['kind']} {state}{author}: {_cut(_line(f['content']))}"
                )
                if f["last_error"]:
                    lines.append(f"      last_error: {_line(f['last_error'])}")
        if record.late_photos:
            lines.append("  late photos:")
            for p in record.late_photos:
                lines.append(
                    f"    photo {p['photo_index']} {p['state']}, {p['attempts']} failed"
                    f" fetch(es), next {p['next_try_at']}: {_line(p['reason'])}"
                )
        if record.duplicate_checks:
            lines.append("  duplicate checks (rule, score, merged, against):")
            for c in record.duplicate_checks:
                merged = "merged" if c["merged"] else "kept apart"
                lines.append(
                    f"    {c['at']}  {c['rule']}  {float(c['score']):.3f}  {merged}"
                    f"  {_line(c['candidate_of'])}"
                )
        lines.append("  history:" if record.history else "  history: none")
        lines += [_event_line(e) for e in record.history]
    if result.history:
        lines.append(f"history of {result.ref} (no record of it is known):")
        lines += [_event_line(e) for e in result.history]
    return lines


def _event_line(event: dict[str, Any]) -> str:
    where = f"{event['source']}:{event['local_id']}  " if event["local_id"] else ""
    return f"    {event['at']}  {event['kind']}  {where}{_line(event['detail'])}"
