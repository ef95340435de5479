"""The reconciliation report and the SLA report on both stores (issue 20: the reports through
the store's interface, bridge/sync/report_reads.py and pg_report_reads.py).

One history is recorded through the store's interface, at times a fake clock gives, into a
SQLite store (the reference) and into the store under test (SQLite, then PostgreSQL: a real
server, tests/pg.py; those runs are marked ``pg``). The reports' rows, figures and rendered
output must be equal on both, under filters by source and period whose bounds fall on the
stored times (offsets, a time without one, a text that is no time), and must be what this
file says by hand — so wrong SQL in either store fails here, not only a difference.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bridge.core.timefmt import WIB
from bridge.reports import exports, report, sla
from bridge.reports.report import Filters, ReportRow
from bridge.sync import pgstore, store
from bridge.sync.pgstore import PgStore
from bridge.sync.store import Store
from bridge.sync.storeport import StateStore
from tests.pg import PgServer

AGENCY_ON_LAPOR = "Instansi (via LAPOR-SP4N)"
RULES = sla.Rules(sources={"tanjak": "tanjungpinang", "ujar": "tanjungpinang", "sambat": "malang"})
NOW = datetime(2024, 6, 3, 2, tzinfo=UTC)  # a Monday, 09:00 WIB


def _utc(month: int, day: int, hour: int = 2, year: int = 2024) -> str:
    return datetime(year, month, day, hour, tzinfo=UTC).isoformat()


def _wib(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, tzinfo=WIB)


YEAR_2024 = (_wib(2024, 1, 1), _wib(2025, 1, 1))


class Clock:
    """The stores' clock (``now_iso``), set by the history before each write."""

    def __init__(self) -> None:
        self.now = _utc(1, 1)

    def __call__(self) -> str:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(store, "now_iso", fake)
    monkeypatch.setattr(pgstore, "now_iso", fake)
    return fake


@dataclass
class Stores:
    """The store under test and the SQLite reference, both holding the same history."""

    name: str
    tested: StateStore
    reference: Store
    #: another connection to the tested database, for a writer during a report
    open_other: Callable[[], StateStore]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def stores(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock) -> Iterator[Stores]:
    opened: list[StateStore] = []

    def keep(s: StateStore) -> StateStore:
        opened.append(s)
        return s

    reference = Store(tmp_path / "reference.db")
    opened.append(reference)
    if request.param == "sqlite":
        path = tmp_path / "tested.db"
        opener: Callable[[], StateStore] = lambda: keep(Store(path))  # noqa: E731
    else:
        server: PgServer = request.getfixturevalue("pg_server")
        dsn = server.new_database()
        opener = lambda: keep(PgStore(dsn))  # noqa: E731
    found = Stores(request.param, opener(), reference, opener)
    for s in (found.reference, found.tested):
        record(s, clock)
    try:
        yield found
    finally:
        for s in reversed(opened):
            s.close()


# --- the history -----------------------------------------------------------------------------


def _mapping(s: StateStore, source: str, local_id: str, national_id: int | None, **f: Any) -> None:
    created = f.pop("created_at", _utc(3, 1))
    s.insert_mapping(
        source=source,
        local_id=local_id,
        national_id=national_id,
        created_at=created,
        first_synced_at=f.pop("first_synced_at", created),
        last_synced_at=f.pop("last_synced_at", created),
        link_state=f.pop("link_state", "done"),
        **f,
    )


def _event(s: StateStore, clock: Clock, at: str, kind: str, source: str, local_id: str,
           **detail: Any) -> None:  # fmt: skip
    clock.now = at
    s.event(kind, source, local_id, **detail)


def _ledger(s: StateStore, source: str, local_id: str, national_id: int, at: str, **f: Any) -> None:
    s.add_followup(
        source=source,
        local_id=local_id,
        national_id=national_id,
        direction=f.pop("direction", "to_national"),
        origin_id=f.pop("origin_id", f"{source}-{local_id}-{at}"),
        kind=f.pop("kind", "followup"),
        content="Sudah ditangani oleh dinas.",
        state=f.pop("state", "done"),
        created_at=at,
        updated_at=f.pop("updated_at", at),
        **f,
    )


def _intent(s: StateStore, clock: Clock, at: str, kind: str, source: str, local_id: str,
            payload: dict[str, Any], **f: Any) -> int:  # fmt: skip
    clock.now = at
    return s.add_intent(kind, source, local_id, payload, **f)


def _quarantine(
    s: StateStore, clock: Clock, at: str, source: str, local_id: str, reason: str
) -> None:
    clock.now = at
    s.quarantine(source, local_id, {"isi": "teks warga"}, reason)


def record(s: StateStore, clock: Clock) -> None:
    """Every kind of row both reports read, at known times (09:00 WIB is 02:00 UTC)."""
    _mappings(s, clock)
    _unmapped(s, clock)


def _mappings(s: StateStore, clock: Clock) -> None:
    # done, every moment known: verified on 5 March, answered 7 March, closed 12 March
    _mapping(s, "tanjak", "1", 100, created_at=_utc(3, 4), agency="DLH", status="done",
             account="tanjungpinang", local_canonical="done", national_canonical="done",
             national_status=60, local_status="selesai")  # fmt: skip
    _event(s, clock, _utc(3, 5), "national_status_moved", "tanjak", "1", new="verified")
    _event(s, clock, _utc(3, 6), "response_seen", "tanjak", "1", said_at=_utc(3, 6, 1))
    _ledger(s, "tanjak", "1", 100, _utc(3, 7))
    _ledger(s, "tanjak", "1", 100, _utc(3, 12), kind="complete")
    _event(s, clock, _utc(3, 12), "followup_sent", "tanjak", "1", item="complete")
    # in progress: a move back to submitted is no verification; answered by the agency on LAPOR
    _mapping(s, "tanjak", "2", 101, created_at=_utc(4, 1), agency="PUPR", status="in_progress",
             local_canonical="in_progress", national_canonical="in_progress")  # fmt: skip
    _event(s, clock, _utc(4, 2), "national_status_moved", "tanjak", "2", new="submitted")
    _event(s, clock, _utc(4, 8), "local_status_moved", "tanjak", "2", new="in_progress")
    _event(s, clock, _utc(4, 9), "national_status_moved", "tanjak", "2", new="in_progress")
    _ledger(s, "tanjak", "2", 101, _utc(4, 10), direction="to_local", author=AGENCY_ON_LAPOR)
    _ledger(s, "tanjak", "2", 101, _utc(4, 11), direction="to_local", author="Pelapor")
    _ledger(s, "tanjak", "2", 101, _utc(4, 12), state="pending")
    _ledger(s, "tanjak", "2", 101, _utc(4, 12, 3), state="pending")
    _ledger(s, "tanjak", "2", 101, _utc(4, 13), state="failed")
    # filed at 23:00 WIB on New Year's Eve (2023 in WIB), not linked, LAPOR not verified
    _mapping(s, "tanjak", "3", 102, created_at="2023-12-31T16:00:00+00:00", link_state="pending",
             status="submitted", national_canonical="submitted", agency="Dinas PU")  # fmt: skip
    # merged into tanjak:1
    _mapping(s, "tanjak", "4", 100, created_at=_utc(3, 4, 3), duplicate_of="tanjak:1", agency="DLH")
    # stored with offsets: midnight WIB exactly (in 2024), half a second before it (in 2023)
    _mapping(s, "tanjak", "5", 104, created_at="2024-01-01T00:00:00+07:00", agency="PUPR")
    _mapping(s, "tanjak", "6", 105, created_at="2023-12-31T23:59:59.5+07:00", agency="PUPR")
    # a time without an offset is UTC; a text that is no time is in no period
    _mapping(s, "ujar", "U-1", 106, created_at="2024-05-31T18:00:00", agency="DLH")
    _mapping(s, "ujar", "U-2", 107, created_at="kemarin sore", agency="DLH")
    # from LAPOR's inbox: imported, answered in the app
    _mapping(s, "sambat", "S-1", 103, origin="national", created_at=_utc(2, 1), status="verified",
             account="malang", national_canonical="verified", local_canonical="verified")  # fmt: skip
    _event(s, clock, _utc(2, 1, 5), "imported", "sambat", "S-1")
    _ledger(s, "sambat", "S-1", 103, _utc(2, 2))
    # done against rejected, flagged; and one an operator kept local
    _mapping(s, "sambat", "S-2", 108, created_at=_utc(2, 5), conflict=1, status="done",
             local_canonical="done", national_canonical="rejected", account="malang",
             local_updated_at=_utc(2, 20), national_updated_at=_utc(2, 19))  # fmt: skip
    _mapping(s, "sambat", "S-3", 109, created_at=_utc(2, 6), status="done", conflict_kept="local",
             local_canonical="done", national_canonical="rejected", account="malang",
             national_updated_at=_utc(2, 21))  # fmt: skip
    # an inbox complaint the city rejected and the bridge handed back
    _mapping(s, "sambat", "S-4", 110, origin="national", created_at=_utc(2, 7), status="rejected",
             local_canonical="rejected", national_canonical="submitted", account="malang")  # fmt: skip
    _ledger(s, "sambat", "S-4", 110, _utc(2, 8), kind="reject")
    # mapped, quarantined since (a phone number in the reason), a create still pending
    _mapping(
        s, "ujar", "U-3", 111, created_at=_utc(5, 2), agency="DLH", confidential=1, anonymous=1
    )
    _quarantine(s, clock, _utc(5, 3), "ujar", "U-3", "status kosong; hubungi 081234567890")
    _intent(s, clock, _utc(5, 2), "create", "ujar", "U-3", {"summary": {}}, tag="#ext-ujar-U-3")


def _unmapped(s: StateStore, clock: Clock) -> None:
    _quarantine(s, clock, _utc(5, 1), "ujar", "U-9", "tanggal tidak terbaca")
    _quarantine(s, clock, _utc(5, 1, 3), "tanjak", "#777", "the home app refused it")
    _quarantine(s, clock, _utc(5, 1, 4), "tanjak", "Q-2", "fixed since")
    s.release_quarantine("tanjak", "Q-2")
    _quarantine(s, clock, _utc(5, 1, 5), "tanjak", "Q-3", "foto terlalu besar")
    _intent(s, clock, _utc(5, 1, 6), "create", "tanjak", "Q-3", {"summary": {}})
    summary = {"summary": {"created_at": _utc(5, 2, 1), "agency": "DLH"}}
    _quarantine(s, clock, _utc(5, 2, 2), "tanjak", "C-1", "released before its create")
    s.release_quarantine("tanjak", "C-1")
    _intent(s, clock, _utc(5, 2, 3), "create", "tanjak", "C-1", summary, account="tanjungpinang")
    _intent(s, clock, "2023-12-31T16:30:00+00:00", "create", "ujar", "C-2", {"body": "teks"})
    done = _intent(s, clock, _utc(5, 3), "create", "ujar", "C-3", {"summary": {}})
    s.finish_intent(done)
    complaint = {"status_code": 10, "created_at": _utc(2, 10, 1), "confidential": True,
                 "content": "teks warga yang rahasia"}  # fmt: skip
    _intent(s, clock, _utc(2, 11), "import", "sambat", "#900", {"complaint": complaint},
            national_id=900)  # fmt: skip
    _intent(s, clock, _utc(2, 12), "import", "sambat", "#103", {"complaint": complaint},
            national_id=103)  # fmt: skip
    _intent(s, clock, "2023-12-20T02:00:00+00:00", "import", "sambat", "#901",
            {"complaint": {"status_code": "20"}}, national_id=901)  # fmt: skip


# --- the reconciliation report -------------------------------------------------------------

FILTERS = {
    "all": Filters(),
    "tanjak": Filters(("tanjak",)),
    "sambat and ujar": Filters(("sambat", "ujar")),
    "2024 in WIB": Filters((), *YEAR_2024),
    "2023 in WIB": Filters((), _wib(2023, 1, 1), _wib(2024, 1, 1)),
    "tanjak, March": Filters(("tanjak",), _wib(2024, 3, 1), _wib(2024, 4, 1)),
    "since June, WIB": Filters((), _wib(2024, 6, 1), None),
}
#: each filter's rows, in the report's order, by hand (national-only rows by tracking id)
EXPECTED_KEYS = {
    "all": [
        "tanjak:1", "tanjak:2", "tanjak:3", "tanjak:4", "tanjak:5", "tanjak:6", "ujar:U-1",
        "ujar:U-2", "sambat:S-1", "sambat:S-2", "sambat:S-3", "sambat:S-4", "ujar:U-3",
        "ujar:U-9", ":#777", "tanjak:Q-3", "tanjak:C-1", "ujar:C-2", ":#900", ":#901",
    ],
    "tanjak": [
        "tanjak:1", "tanjak:2", "tanjak:3", "tanjak:4", "tanjak:5", "tanjak:6", ":#777",
        "tanjak:Q-3", "tanjak:C-1",
    ],
    "sambat and ujar": [
        "ujar:U-1", "ujar:U-2", "sambat:S-1", "sambat:S-2", "sambat:S-3", "sambat:S-4",
        "ujar:U-3", "ujar:U-9", "ujar:C-2", ":#900", ":#901",
    ],
    "2024 in WIB": [
        "tanjak:1", "tanjak:2", "tanjak:4", "tanjak:5", "ujar:U-1", "sambat:S-1", "sambat:S-2",
        "sambat:S-3", "sambat:S-4", "ujar:U-3", "ujar:U-9", ":#777", "tanjak:Q-3", "tanjak:C-1",
        ":#900",
    ],
    "2023 in WIB": ["tanjak:3", "tanjak:6", "ujar:C-2", ":#901"],
    "tanjak, March": ["tanjak:1", "tanjak:4"],
    "since June, WIB": ["ujar:U-1"],
}  # fmt: skip


def _key(row: ReportRow) -> str:
    return f"{row.source}:{row.local_id or row.tracking_id}"


@pytest.mark.parametrize("name", list(FILTERS))
def test_the_report_rows_are_the_same_on_both_stores(stores: Stores, name: str) -> None:
    filters = FILTERS[name]
    tested = list(report.rows(stores.tested, filters))
    assert [_key(r) for r in tested] == EXPECTED_KEYS[name]
    assert tested == list(report.rows(stores.reference, filters))


def test_each_row_says_what_the_history_says(stores: Stores) -> None:
    rows = {_key(r): r for r in report.rows(stores.tested)}
    one, two = rows["tanjak:1"], rows["tanjak:2"]
    assert (one.verified_at, one.first_response_at, one.closed_at) == (
        "2024-03-05T09:00:00+07:00",
        "2024-03-07T09:00:00+07:00",
        "2024-03-12T09:00:00+07:00",
    )
    assert one.in_sync and one.national_status == 60 and one.tracking_id == "#100"
    # the move back to submitted is not a verification; the first move past it is
    assert two.verified_at == "2024-04-08T09:00:00+07:00" and two.closed_at == ""
    assert two.problem == "follow-ups pending: 2; follow-ups failed: 1"
    assert rows["tanjak:3"].problem == "not linked; waiting on LAPOR: not verified"
    assert rows["tanjak:4"].problem == "duplicate of tanjak:1"
    assert rows["tanjak:5"].created_at == "2024-01-01T00:00:00+07:00"
    assert rows["sambat:S-1"].verified_at == "2024-02-01T12:00:00+07:00"
    assert rows["sambat:S-2"].problem == "conflict"
    assert rows["sambat:S-2"].closed_at == "2024-02-20T09:00:00+07:00"  # the local side's time
    assert rows["sambat:S-3"].problem == "kept local by operator (national rejected)"
    assert rows["sambat:S-3"].closed_at == "2024-02-21T09:00:00+07:00"  # LAPOR's side's time
    # handed back: no drift (LAPOR waits for another agency), only LAPOR's verification
    assert rows["sambat:S-4"].problem == "waiting on LAPOR: not verified"
    u3 = rows["ujar:U-3"]
    assert u3.problem == "quarantined: status kosong; hubungi [redacted]; in doubt"
    assert u3.confidential and u3.anonymous
    assert rows["tanjak:Q-3"].problem == "quarantined: foto terlalu besar; in doubt"
    assert rows[":#777"].problem == "quarantined: the home app refused it"
    assert rows[":#900"].problem == "no local record"
    assert rows["tanjak:C-1"].problem == rows["ujar:C-2"].problem == "in doubt"
    national = rows[":#900"]
    assert (national.national_status, national.confidential, national.created_at) == (
        10,
        True,
        "2024-02-10T08:00:00+07:00",
    )
    assert rows[":#901"].national_status == 20 and rows[":#901"].created_at == ""


def test_the_exports_are_byte_for_byte_the_same(stores: Stores) -> None:
    for fmt in ("csv", "json", "html"):
        outputs = []
        for s in (stores.tested, stores.reference):
            out = io.StringIO()
            exports.export(s, fmt, out, now=NOW, rules=RULES, since=YEAR_2024[0])
            outputs.append(out.getvalue())
        assert outputs[0] == outputs[1], fmt
    assert "teks warga" not in outputs[0]


def test_a_record_moving_during_the_report_appears_once(stores: Stores) -> None:
    """The report's reads share one snapshot: a record mapped (and released from quarantine)
    by another connection while the mappings stream is still quarantined in this report."""
    rows = report.rows(stores.tested, Filters(("ujar",)))
    first = next(rows)
    assert _key(first) == "ujar:U-1"
    writer = stores.open_other()
    with writer.atomic():
        _mapping(writer, "ujar", "U-9", 999, created_at=_utc(5, 1))
        writer.release_quarantine("ujar", "U-9")
    seen = [first, *rows]
    assert [r.tracking_id for r in seen if _key(r) == "ujar:U-9"] == [""]  # still quarantined
    after = [r for r in report.rows(stores.tested, Filters(("ujar",))) if _key(r) == "ujar:U-9"]
    assert [r.tracking_id for r in after] == ["#999"]


# --- the SLA report ------------------------------------------------------------------------

SCOPES = {
    "2024": sla.Scope(*YEAR_2024),
    "2023": sla.Scope(_wib(2023, 1, 1), _wib(2024, 1, 1)),
    "tanjak, 2024": sla.Scope(*YEAR_2024, sources=("tanjak",)),
    "malang, 2024": sla.Scope(*YEAR_2024, accounts=("malang",)),
}
#: (account, agency) → complaints received, by hand
EXPECTED_RECEIVED = {
    "2024": {
        ("malang", sla.NOT_ASSIGNED): 4,
        # tanjak:1, ujar:U-3, tanjak:C-1; ujar:U-1 is in the period, but its time (no offset)
        # is none the clocks read
        ("tanjungpinang", "Dinas Lingkungan Hidup"): 3,
        ("tanjungpinang", "Dinas Pekerjaan Umum dan Penataan Ruang"): 2,  # tanjak:2, 5
        ("tanjungpinang", sla.NOT_ASSIGNED): 2,  # ujar:U-9 (quarantined), tanjak:Q-3 (pending)
    },
    "2023": {
        ("tanjungpinang", "Dinas PU"): 1,  # tanjak:3: no alias says whose it is
        ("tanjungpinang", "Dinas Pekerjaan Umum dan Penataan Ruang"): 1,  # tanjak:6
        ("tanjungpinang", sla.NOT_ASSIGNED): 1,  # ujar:C-2, filed when its intent was
    },
    "tanjak, 2024": {
        ("tanjungpinang", "Dinas Lingkungan Hidup"): 2,
        ("tanjungpinang", "Dinas Pekerjaan Umum dan Penataan Ruang"): 2,
        ("tanjungpinang", sla.NOT_ASSIGNED): 1,
    },
    "malang, 2024": {("malang", sla.NOT_ASSIGNED): 4},
}


def _received(summary: sla.SlaSummary) -> dict[tuple[str, str], int]:
    return {(a.name, g.name): g.received for a in summary.accounts for g in a.agencies}


@pytest.mark.parametrize("name", list(SCOPES))
def test_the_sla_figures_are_the_same_on_both_stores(stores: Stores, name: str) -> None:
    scope = SCOPES[name]
    tested = sla.compute(stores.tested, RULES, scope, NOW)
    assert _received(tested) == EXPECTED_RECEIVED[name]
    assert tested == sla.compute(stores.reference, RULES, scope, NOW)
    assert list(sla.moments(stores.tested, RULES, scope)) == list(
        sla.moments(stores.reference, RULES, scope)
    )


def test_each_clock_says_what_the_history_says(stores: Stores) -> None:
    found = {(m.source, m.local_id): m for m in sla.moments(stores.tested, RULES, SCOPES["2024"])}
    one, two = found[("tanjak", "1")], found[("tanjak", "2")]
    assert one.verified == datetime(2024, 3, 5, 2, tzinfo=UTC)
    assert one.responded == datetime(2024, 3, 6, 1, tzinfo=UTC)  # said in the app, first
    assert one.closed == one.done == datetime(2024, 3, 12, 2, tzinfo=UTC)
    assert two.verified == datetime(2024, 4, 9, 2, tzinfo=UTC)  # LAPOR's move, not the app's
    assert two.responded == datetime(2024, 4, 10, 2, tzinfo=UTC)  # the agency, on LAPOR
    s1 = found[("sambat", "S-1")]
    assert s1.in_app == s1.agency_start == datetime(2024, 2, 1, 5, tzinfo=UTC)
    assert found[("sambat", "S-2")].closed == datetime(2024, 2, 20, 2, tzinfo=UTC)
    assert found[("sambat", "S-4")].closed == datetime(2024, 2, 8, 2, tzinfo=UTC)  # handed back
    assert found[("tanjak", "C-1")].filed == datetime(2024, 5, 2, 1, tzinfo=UTC)
    assert found[("tanjak", "C-1")].agency == "Dinas Lingkungan Hidup"
    assert ("tanjak", "4") not in found and ("tanjak", "#777") not in found


def test_the_sla_outputs_are_byte_for_byte_the_same(stores: Stores) -> None:
    for fmt in sla.SLA_FORMATS:
        outputs = []
        for s in (stores.tested, stores.reference):
            out = io.StringIO()
            sla.write_report(s, fmt, out, rules=RULES, scope=SCOPES["2024"], now=NOW)
            outputs.append(out.getvalue())
        assert outputs[0] == outputs[1], fmt


def test_agencies_are_known_from_either_store(stores: Stores) -> None:
    for account in ("tanjungpinang", "malang", "nowhere"):
        assert sla.known_agencies(stores.tested, RULES, account) == sla.known_agencies(
            stores.reference, RULES, account
        )
    assert stores.tested.agencies_seen("malang", ["sambat"]) == {None}
    assert stores.tested.agencies_seen("tanjungpinang", ["tanjak", "ujar"]) == {
        "DLH",
        "PUPR",
        "Dinas PU",
    }
    assert "Dinas PU" in sla.known_agencies(stores.tested, RULES, "tanjungpinang")
    scope = sla.resolve_scope(stores.tested, RULES, *YEAR_2024, agencies=["PUPR"])
    assert scope.agencies == ("Dinas Pekerjaan Umum dan Penataan Ruang",)
    narrowed = sla.compute(stores.tested, RULES, scope, NOW)
    assert narrowed == sla.compute(stores.reference, RULES, scope, NOW)
    assert _received(narrowed) == {("tanjungpinang", "Dinas Pekerjaan Umum dan Penataan Ruang"): 2}
