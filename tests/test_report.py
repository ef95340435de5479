"""The reconciliation report and the SLA report: rows from real syncs, rules, privacy."""

from __future__ import annotations

import csv
import html
import io
import json
import random
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from adapters import registry
from bridge.core.timefmt import WIB, parse_rfc3339
from bridge.reports import exports, report, report_html, sla
from bridge.reports.report import COLUMNS, Facts, Filters
from bridge.sync.store import Store
from tests.harness import World

INSTITUTION = "Pemerintah Kota Tanjungpinang"


def _export(store: Store, fmt: str, **kwargs: Any) -> str:
    out = io.StringIO()
    exports.export(store, fmt, out, **kwargs)
    return out.getvalue()


def _csv_rows(text: str) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(text))
    assert tuple(reader.fieldnames or ()) == COLUMNS
    return list(reader)


def _by_key(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {f"{r['source']}:{r['local_id'] or r['tracking_id']}": r for r in rows}


# --- scenario: real syncs against the sandboxes ------------------------------------------


def _citizen(n: int) -> dict[str, str | None]:
    """A reporter no seeded record shares a phone with, so that no rule merges their records."""
    return {"nama": f"Warga Uji {n}", "hp": f"08129900{n:04d}", "nik": None}


def _scenario(world: World) -> dict[str, Any]:
    """Records in every state the report knows, reached through real passes."""
    add = world.tanjak.add_aduan
    ok = add(isi="Sampah menumpuk di TPS Jl. Ganet sudah tiga hari.", pelapor=_citizen(1))
    drift = add(isi="Lampu jalan mati di depan masjid Jl. Pramuka seminggu.", pelapor=_citizen(2))
    clash = add(isi="Jalan berlubang besar di depan pasar Bintan Centre.", pelapor=_citizen(3))
    assert world.sync().ok
    national = {a["id"]: world.national_for(a["id"])[0]["id"] for a in (ok, drift, clash)}
    world.lapor.verify(national[ok["id"]], INSTITUTION)
    world.tanjak.set_status(drift["id"], "ditolak")  # LAPOR keeps showing it waiting
    world.lapor.archive(national[clash["id"]], "Bukan pengaduan.")
    world.tanjak.set_status(clash["id"], "selesai")
    duplicate = add(
        isi="Sampah di TPS Jl. Ganet belum diangkut.",
        lapor_id=f"#{national[ok['id']]}",
        pelapor=_citizen(4),
    )
    broken = add(isi="Pelayanan KTP di kecamatan lambat, antre berjam-jam.", pelapor=_citizen(5))
    world.tanjak.corrupt(broken["id"], status="entah")
    world.sync()
    world.sync()
    return {
        "ok": str(ok["id"]),
        "drift": str(drift["id"]),
        "clash": str(clash["id"]),
        "duplicate": str(duplicate["id"]),
        "broken": str(broken["id"]),
        "national": {str(k): v for k, v in national.items()},
        "ok_created": ok["dibuat_pada"],
    }


def test_rows_from_real_syncs_name_each_problem(world: World) -> None:
    ids = _scenario(world)
    store = world.store()
    try:
        as_csv = _by_key(_csv_rows(_export(store, "csv")))
        as_json = json.loads(_export(store, "json"))
    finally:
        store.close()
    assert [list(r) for r in as_json] == [list(COLUMNS)] * len(as_json)
    assert len(as_json) == len(as_csv) == 5
    by_json = _by_key(as_json)

    ok = by_json[f"tanjak:{ids['ok']}"]
    assert ok["tracking_id"] == f"#{ids['national'][ids['ok']]}"
    assert ok["origin"] == "local"
    assert (ok["local_status"], ok["national_status"], ok["status"]) == (
        "diverifikasi",
        30,
        "verified",
    )
    assert ok["in_sync"] is True and ok["problem"] == "" and ok["duplicate_of"] == ""
    assert parse_rfc3339(ok["created_at"]) == parse_rfc3339(ids["ok_created"])
    # times people read are WIB, with the offset saying so
    assert ok["first_synced_at"].endswith("+07:00") and ok["last_synced_at"].endswith("+07:00")
    assert ok["verified_at"] and ok["closed_at"] == ""

    drift = by_json[f"tanjak:{ids['drift']}"]
    assert drift["problem"] == "status drift: local rejected, national submitted"
    assert drift["in_sync"] is False
    assert (drift["local_status"], drift["national_status"]) == ("ditolak", 10)
    assert drift["closed_at"]

    clash = by_json[f"tanjak:{ids['clash']}"]
    assert clash["problem"].split("; ")[0] == "conflict"
    assert (clash["local_status"], clash["national_status"], clash["status"]) == (
        "selesai",
        90,
        "done",
    )

    duplicate = by_json[f"tanjak:{ids['duplicate']}"]
    assert duplicate["duplicate_of"] == f"tanjak:{ids['ok']}"
    assert duplicate["problem"].split("; ")[0] == f"duplicate of tanjak:{ids['ok']}"
    assert duplicate["tracking_id"] == ok["tracking_id"]

    broken = by_json[f"tanjak:{ids['broken']}"]
    assert broken["problem"].startswith("quarantined: status is not one of")
    assert (broken["tracking_id"], broken["status"], broken["in_sync"]) == ("", "", False)

    for key, row in by_json.items():  # the CSV says the same as the JSON
        flat = as_csv[key]
        assert flat["in_sync"] == ("true" if row["in_sync"] else "false")
        assert flat["problem"] == row["problem"]
        assert flat["national_status"] == (
            "" if row["national_status"] is None else str(row["national_status"])
        )


def test_unverified_on_lapor_is_waiting_not_in_sync(world: World) -> None:
    """issue 18: LAPOR still "Belum Terverifikasi" is waiting on LAPOR, never "in sync"."""
    added = world.tanjak.add_aduan(
        isi="Drainase tersumbat di Jl. Basuki Rahmat.", pelapor=_citizen(7)
    )
    assert world.sync().ok
    row = _json_rows(world)[f"tanjak:{added['id']}"]
    assert (row["local_status"], row["national_status"]) == ("baru", 10)
    assert (row["in_sync"], row["problem"]) == (False, "waiting on LAPOR: not verified")

    world.lapor.verify(world.national_for(added["id"])[0]["id"], INSTITUTION)
    world.sync()
    row = _json_rows(world)[f"tanjak:{added['id']}"]
    assert row["national_status"] == 30
    assert (row["in_sync"], row["problem"]) == (True, "")


def _json_rows(world: World) -> dict[str, dict[str, Any]]:
    store = world.store()
    try:
        return _by_key(json.loads(_export(store, "json")))
    finally:
        store.close()


def test_national_only_and_in_doubt_rows(inbox_world: World) -> None:
    world = inbox_world
    filed = world.lapor.file_complaint(
        "Lampu jalan mati di Jl. Pramuka",
        "Sudah seminggu lampu jalan mati di depan masjid, gelap dan rawan.",
        "PERHUBUNGAN/LAMPU PENERANGAN JALAN UMUM",
        INSTITUTION,
    )
    world.tanjak.faults.inject("drop_before", method="POST", path=r"/api/aduan$")
    world.sync()  # the import into Tanjak loses its answer: still pending
    national = _json_rows(world)[f":#{filed['id']}"]
    assert (national["source"], national["local_id"], national["origin"]) == ("", "", "national")
    assert national["tracking_id"] == f"#{filed['id']}"
    assert national["national_status"] == 30
    assert national["problem"] == "no local record" and national["in_sync"] is False
    assert national["created_at"].endswith("+07:00")

    pending = world.tanjak.add_aduan(isi="Pohon tumbang menutup jalan di Jl. Sei Timun sejak pagi.")
    world.lapor.faults.inject(
        "drop_before", method="POST", path=r"/complaints/complaint$", count=10
    )
    world.sync()  # the create is left in doubt; the import goes through
    rows = _json_rows(world)
    doubt = rows[f"tanjak:{pending['id']}"]
    assert (doubt["problem"], doubt["tracking_id"], doubt["origin"]) == ("in doubt", "", "local")
    imported = [r for r in rows.values() if r["tracking_id"] == f"#{filed['id']}"]
    assert [(r["origin"], r["problem"]) for r in imported] == [("national", "")]
    assert imported[0]["local_id"]


def test_source_and_time_filters(world: World) -> None:
    old = world.tanjak.add_aduan(
        isi="Drainase tersumbat di Jl. Wiratno.", dibuat_pada=datetime(2024, 3, 1, 2, tzinfo=UTC)
    )
    new = world.tanjak.add_aduan(isi="Sampah menumpuk di TPS Jl. Ganet sudah tiga hari.")
    assert world.sync().ok
    store = world.store()
    try:
        march = json.loads(
            _export(
                store, "json", since=parse_rfc3339("2024-03-01"), until=parse_rfc3339("2024-04-01")
            )
        )
        later = json.loads(_export(store, "json", since=parse_rfc3339("2024-04-01")))
        other = json.loads(_export(store, "json", sources=["ujar"]))
        both = json.loads(_export(store, "json", sources=["tanjak"]))
    finally:
        store.close()
    assert [r["local_id"] for r in march] == [str(old["id"])]
    assert [r["local_id"] for r in later] == [str(new["id"])]
    assert other == []
    assert len(both) == 2


def test_no_personal_data_in_any_export(inbox_world: World, tmp_path: Path) -> None:
    world = inbox_world
    rng = random.Random(11)
    seeded = world.tanjak.seed_sample(rng, 30, photos=False)
    lapor_ids = world.lapor.seed_sample(rng, 8, INSTITUTION)
    broken = world.tanjak.add_aduan(
        isi="Parkir liar di depan toko setiap sore.",
        pelapor={"nama": "Siti Rahmawati Lubis", "hp": "0812-7788-9911", "nik": "2172014506900003"},
        rahasia=True,
    )
    world.tanjak.corrupt(broken["id"], status="entah")
    world.sync()
    world.sync()
    secrets: set[str] = {
        "Siti Rahmawati Lubis",
        "0812-7788-9911",
        "081277889911",
        "2172014506900003",
    }
    texts: set[str] = {broken["isi"]}
    for aduan in seeded:
        pelapor = aduan["pelapor"] or {}
        secrets.update(v for v in (pelapor.get("nama"), pelapor.get("nik")) if v)
        if pelapor.get("hp"):
            digits = re.sub(r"\D", "", pelapor["hp"])
            secrets.update(
                {
                    pelapor["hp"],
                    digits,
                    "0" + digits.removeprefix("62").lstrip("0"),
                    "+62" + digits.removeprefix("62").lstrip("0"),
                }
            )
        texts.add(aduan["isi"])
        if aduan["judul"]:
            texts.add(aduan["judul"])
    for national_id in lapor_ids:
        complaint = world.lapor.complaint(national_id)
        secrets.update(v for v in (complaint["reporter"] or {}).values() if v)
        texts.add(complaint["content"])
    assert len(secrets) > 40 and len(texts) > 30
    store = world.store()
    try:
        outputs = {fmt: _export(store, fmt) for fmt in report.FORMATS}
        for fmt in sla.SLA_FORMATS:
            out = io.StringIO()
            sla.write_report(store, fmt, out)
            outputs[f"sla-{fmt}"] = out.getvalue()
        rows = json.loads(outputs["json"])
    finally:
        store.close()
    assert any(r["confidential"] for r in rows)
    assert len(rows) >= 38
    for name, text in outputs.items():
        readable = html.unescape(text)
        leaked = sorted(s for s in secrets if s in text or s in readable)
        assert leaked == [], f"{name} shows personal data"
        shown = sorted(t for t in texts if t in readable)
        assert shown == [], f"{name} shows complaint text"


def test_html_is_one_self_contained_page(world: World) -> None:
    _scenario(world)
    store = world.store()
    try:
        page = _export(store, "html", now=datetime(2026, 1, 5, 3, tzinfo=UTC))
        rows = json.loads(_export(store, "json"))
    finally:
        store.close()
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert f'content="{report_html.CSP}"' in page
    assert not re.search(r"""\s(src|href|action)\s*=\s*["']""", page)
    assert "url(" not in page and "@import" not in page
    assert "http://" not in page and "https://" not in page
    block = re.search(
        r'<script id="report-data" type="application/json">(.*?)</script>', page, re.S
    )
    assert block is not None
    data = json.loads(block.group(1))
    assert data["columns"] == list(COLUMNS)
    assert data["rows"] == [[r[c] for c in COLUMNS] for r in rows]
    # the backlog is drawn in SVG; the bar charts are HTML, whose labels wrap, never clip
    assert page.count("<svg") == 1 and page.count("class='bars'") >= 2
    assert "Status per sumber" in page and "Tunggakan" in page and "Tindak lanjut OPD" in page
    assert "class='card city'" in page and "table class='agencies'" in page
    assert "05-01-2026 10:00 WIB" in page


def test_script_data_cannot_close_its_element() -> None:
    row = report._bare_row("tanjak", "</script><b>", Facts(in_doubt=True, mapped=False))
    now = datetime(2026, 1, 5, tzinfo=UTC)
    empty = sla.SlaTally(sla.Rules(), sla.Scope(*sla.this_year(now)), now).result()
    out = io.StringIO()
    report_html.write_html([row], out, filters=Filters(), now=now, sla=empty)
    page = out.getvalue()
    assert "</script><b>" not in page
    block = re.search(
        r'<script id="report-data" type="application/json">(.*?)</script>', page, re.S
    )
    assert block is not None
    assert json.loads(block.group(1))["rows"][0][1] == "</script><b>"


# --- the problem rules ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("facts", "problem"),
    [
        (Facts(local_canonical="verified", national_canonical="verified"), ""),
        (Facts(conflict=True, local_canonical="done", national_canonical="rejected"), "conflict"),
        (Facts(local_canonical="rejected", national_canonical="done"), "conflict"),
        (Facts(quarantine_reason="status is bad"), "quarantined: status is bad"),
        (Facts(in_doubt=True, mapped=False), "in doubt"),
        (Facts(national_origin=True, mapped=False), "no local record"),
        (Facts(duplicate_of="ujar:T-1"), "duplicate of ujar:T-1"),
        # LAPOR ahead: the local app should have been moved
        (
            Facts(local_canonical="submitted", national_canonical="in_progress"),
            "status drift: local submitted, national in_progress",
        ),
        (
            Facts(local_canonical="in_progress", national_canonical="done"),
            "status drift: local in_progress, national done",
        ),
        # the city ahead at a stage LAPOR reaches by itself: explained
        (Facts(local_canonical="in_progress", national_canonical="verified"), ""),
        # LAPOR has not verified yet: nothing waits on the bridge, but not in sync either
        (
            Facts(local_canonical="verified", national_canonical="submitted"),
            "waiting on LAPOR: not verified",
        ),
        (
            Facts(local_canonical="submitted", national_canonical="submitted"),
            "waiting on LAPOR: not verified",
        ),
        (
            Facts(local_canonical="submitted", national_canonical="submitted", linked=False),
            "not linked; waiting on LAPOR: not verified",
        ),
        # the city done, its completion still on its way / never sent
        (
            Facts(local_canonical="done", national_canonical="verified", pending_followups=1),
            "follow-ups pending: 1",
        ),
        (
            Facts(local_canonical="done", national_canonical="verified"),
            "status drift: local done, national verified",
        ),
        # an inbox complaint the city rejected and the bridge handed back: no drift, but
        # LAPOR's admin has yet to send it to another agency
        (
            Facts(
                local_canonical="rejected",
                national_canonical="submitted",
                national_origin=True,
                handed_back=True,
            ),
            "waiting on LAPOR: not verified",
        ),
        (
            Facts(local_canonical="rejected", national_canonical="submitted"),
            "status drift: local rejected, national submitted",
        ),
        (Facts(failed_followups=2), "follow-ups failed: 2"),
        (Facts(linked=False), "not linked"),
        (
            Facts(duplicate_of="tanjak:1", pending_followups=1, linked=False),
            "duplicate of tanjak:1; follow-ups pending: 1; not linked",
        ),
    ],
)
def test_problem_rules(facts: Facts, problem: str) -> None:
    assert report.problem_text(facts) == problem


def test_quarantine_reason_is_scrubbed() -> None:
    reason = "hp 0812-3456-7890 tidak valid; NIK 2172014506900003 ganda;\n #9160001 tidak dikenal"
    cleaned = report.clean_reason(reason)
    assert "0812" not in cleaned and "2172014506900003" not in cleaned
    assert "#9160001" in cleaned and "\n" not in cleaned


def test_stored_times_become_rfc3339() -> None:
    assert report.rfc("2024-05-01T03:04:05.123456+00:00") == "2024-05-01T10:04:05+07:00"
    assert report.rfc("2024-05-01T20:04:05+00:00") == "2024-05-02T03:04:05+07:00"
    assert report.rfc("2024-05-01T03:04:05Z") == "2024-05-01T10:04:05+07:00"
    assert report.rfc("2024-05-01T10:04:05+07:00") == "2024-05-01T10:04:05+07:00"
    assert report.rfc("") == report.rfc(None) == report.rfc("kemarin") == ""


def test_json_is_an_array_even_when_empty() -> None:
    out = io.StringIO()
    assert report.write_json(iter(()), out) == 0
    assert json.loads(out.getvalue()) == []


def test_unknown_format_is_refused(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    try:
        with pytest.raises(ValueError, match="xml"):
            exports.export(store, "xml", io.StringIO())
    finally:
        store.close()


# --- working days and percentiles ----------------------------------------------------------


def _wib(y: int, m: int, d: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(y, m, d, hour, minute, tzinfo=WIB)


def test_working_days_skip_weekends_and_holidays() -> None:
    cal = sla.WorkCalendar()
    # Friday 16:00 to Monday 10:00 WIB: 8 hours + 10 hours of working days
    assert cal.working_days(_wib(2024, 3, 1, 16), _wib(2024, 3, 4, 10)) == pytest.approx(0.75)
    # Eid al-Fitr 2024 (Wed 10, Thu 11 April) and its cuti bersama (Mon 8, Tue 9, Fri 12, Mon 15)
    # count nothing: Friday 5 April 09:00 to Tuesday 16 April 09:00 is 0.625 + 0.375
    assert cal.working_days(_wib(2024, 4, 5, 9), _wib(2024, 4, 16, 9)) == pytest.approx(1.0)
    assert cal.working_days(_wib(2024, 3, 2, 8), _wib(2024, 3, 3, 20)) == 0.0  # a weekend
    assert cal.working_days(_wib(2024, 3, 4), _wib(2024, 3, 1)) == 0.0  # backwards
    # across a year: 2024-12-31 (Tue) 12:00 to 2025-01-02 (Thu) 12:00, New Year's Day off
    assert cal.working_days(_wib(2024, 12, 31, 12), _wib(2025, 1, 2, 12)) == pytest.approx(1.0)
    # UTC in, WIB days out: Friday 20:00 UTC is Saturday 03:00 WIB
    friday_night = datetime(2024, 3, 1, 20, tzinfo=UTC)
    assert cal.working_days(friday_night, _wib(2024, 3, 4)) == 0.0
    assert not cal.is_working_day(date(2024, 8, 17))
    assert cal.is_working_day(date(2024, 8, 16))


def test_working_days_use_the_given_holidays() -> None:
    cal = sla.WorkCalendar(lambda year: [date(year, 3, 5)])
    assert cal.working_days(_wib(2024, 3, 4), _wib(2024, 3, 11)) == pytest.approx(4.0)


def test_percentiles_interpolate() -> None:
    assert sla.percentile([4.0, 1.0, 3.0, 2.0], 0.5) == pytest.approx(2.5)
    assert sla.percentile([1.0, 2.0, 3.0, 4.0], 0.9) == pytest.approx(3.7)
    assert sla.percentile([7.0], 0.9) == 7.0
    assert sla.percentile([], 0.5) is None


# --- the SLA report, on a store with known times -------------------------------------------


def _utc(y: int, m: int, d: int, hour: int = 0) -> str:
    return datetime(y, m, d, hour, tzinfo=UTC).isoformat()


def _mapping(store: Store, local_id: str, national_id: int, created: str, **fields: Any) -> None:
    store.insert_mapping(
        source=fields.pop("source", "tanjak"),
        local_id=local_id,
        national_id=national_id,
        origin=fields.pop("origin", "local"),
        created_at=created,
        first_synced_at=fields.pop("first_synced_at", created),
        last_synced_at=created,
        link_state="done",
        **fields,
    )


def _event(store: Store, at: str, kind: str, source: str, local_id: str, **detail: Any) -> None:
    store.db.execute(
        "INSERT INTO events (at, kind, source, local_id, detail) VALUES (?, ?, ?, ?, ?)",
        (at, kind, source, local_id, json.dumps(detail)),
    )


def _answered(
    store: Store, source: str, local_id: str, national_id: int, at: str, kind: str = "followup"
) -> None:
    store.add_followup(
        source=source,
        local_id=local_id,
        national_id=national_id,
        direction="to_national",
        origin_id=f"{kind}-{local_id}",
        kind=kind,
        content="Sudah ditangani oleh dinas.",
        state="done",
        created_at=at,
        updated_at=at,
    )


@pytest.fixture
def timed_store(tmp_path: Path) -> Iterator[Store]:
    """Complaints of 2024 whose every moment is known (09:00 WIB is 02:00 UTC)."""
    store = Store(tmp_path / "sla.db")
    with store.atomic():
        # kept every promise: verified after 1 day, answered after 3, done after 5
        _mapping(store, "1", 100, _utc(2024, 3, 4, 2), agency="DLH", status="done")
        _event(
            store,
            _utc(2024, 3, 5, 2),
            "local_status_moved",
            "tanjak",
            "1",
            old="submitted",
            new="verified",
        )
        _answered(store, "tanjak", "1", 100, _utc(2024, 3, 7, 2))
        # done the Tuesday after: Monday 11 March is Nyepi
        _answered(store, "tanjak", "1", 100, _utc(2024, 3, 12, 2), kind="complete")
        _event(store, _utc(2024, 3, 12, 2), "followup_sent", "tanjak", "1", item="complete")
        # verified after 5 working days, answered 6 working days later (Eid in between)
        _mapping(store, "2", 101, _utc(2024, 4, 1, 2), agency="DLH", status="in_progress")
        _event(store, _utc(2024, 4, 8, 2), "national_status_moved", "tanjak", "2", new="verified")
        _answered(store, "tanjak", "2", 101, _utc(2024, 4, 18, 2))
        # never verified: still open at "now"
        _mapping(store, "3", 102, _utc(2024, 5, 6, 2), agency="PUPR", status="submitted")
        # merged into tanjak:1: counted once, under its owner
        _mapping(store, "4", 100, _utc(2024, 3, 4, 3), agency="DLH", duplicate_of="tanjak:1")
        # from LAPOR's inbox into another app, no agency code
        _mapping(
            store,
            "S-1",
            103,
            _utc(2024, 2, 1, 2),
            source="sambat",
            origin="national",
            status="verified",
        )
        _event(store, _utc(2024, 2, 1, 5), "imported", "sambat", "S-1")
        _answered(store, "sambat", "S-1", 103, _utc(2024, 2, 2, 2))
        # LAPOR shows it verified, the bridge never saw when: its promise is not measured
        _mapping(
            store,
            "7",
            106,
            _utc(2024, 4, 1, 2),
            agency="DISHUB",
            status="verified",
            national_status=30,
            local_canonical="verified",
            national_canonical="verified",
        )
        # filed at 23:00 WIB on New Year's Eve: 2023 in WIB; 01:00 WIB on New Year's Day: 2024
        _mapping(store, "5", 104, _utc(2023, 12, 31, 16), agency="PUPR", status="submitted")
        _mapping(store, "6", 105, _utc(2023, 12, 31, 18), agency="PUPR", status="submitted",
                 first_synced_at=_utc(2024, 1, 2, 2))  # fmt: skip
    yield store
    store.close()


NOW = datetime(2024, 5, 13, 2, tzinfo=UTC)  # Monday 09:00 WIB


# the SLA report's figures on a known timeline: tests/test_sla_clocks.py


def test_report_rows_carry_the_moments(timed_store: Store) -> None:
    rows = {r.local_id: r for r in report.rows(timed_store)}
    assert rows["1"].verified_at == "2024-03-05T09:00:00+07:00"
    assert rows["1"].first_response_at == "2024-03-07T09:00:00+07:00"
    assert rows["1"].closed_at == "2024-03-12T09:00:00+07:00"
    assert rows["2"].verified_at == "2024-04-08T09:00:00+07:00"
    assert rows["S-1"].verified_at == "2024-02-01T12:00:00+07:00"
    assert rows["3"].verified_at == rows["3"].closed_at == ""


def _cells(page: str, city: str) -> dict[str, list[str]]:
    """The agency table of ``city``'s section: each row's cells as text, by its first."""
    section = re.search(
        rf"<section class='card city' aria-label='{re.escape(city)}'>(.*?)</section>", page, re.S
    )
    assert section is not None, f"no section for {city}"
    table = re.search(r"<table class='agencies'>.*?<tbody>(.*?)</tbody>", section.group(1), re.S)
    assert table is not None
    rows = {}
    for tr in re.findall(r"<tr[^>]*>(.*?)</tr>", table.group(1), re.S):
        cells = [
            html.unescape(re.sub(r"<br>", " | ", re.sub(r"<(?!br>)[^>]+>", "", c)))
            for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", tr, re.S)
        ]
        rows[cells[0]] = cells[1:]
    return rows


def _cell(f: sla.ClockFigures) -> str:
    """How the page writes one clock's figures (the test's own spelling of them)."""
    if not f.n and not f.breaches:
        return "–"

    def days(value: float | None) -> str:
        return "–" if value is None else f"{value:.1f}".replace(".", ",")

    text = f"med {days(f.median_days)} · p90 {days(f.p90_days)} | n={f.n}"
    return text if f.breaches is None else f"{text} | {f.breaches} lewat janji / over"


def test_city_sections_are_the_sla_report(timed_store: Store) -> None:
    """The page's per-city tables carry ``report sla``'s figures, clock by clock, for the
    export's range (default: this year at ``now``), "(not yet assigned)" included."""
    rules = sla.Rules(sources={"tanjak": "tanjungpinang", "sambat": "malang"})
    page = _export(timed_store, "html", now=NOW, rules=rules)
    expected = sla.compute(timed_store, rules, sla.Scope(*sla.this_year(NOW)), NOW)
    assert [a.name for a in expected.accounts] == ["malang", "tanjungpinang"]
    for account in expected.accounts:
        shown = _cells(page, account.name)
        lines = [*account.agencies, account.total]
        assert list(shown) == [a.name for a in account.agencies] + ["Total kota / city total"]
        for line, cells in zip(lines, shown.values(), strict=True):
            assert cells == [str(line.received), *(_cell(line.clocks[c]) for c in sla.CLOCKS)]
    # by hand: Malang's one inbox import has no agency; Tanjungpinang's 2024 complaints are
    # 1, 2, 3, 6 and 7 (4 is merged into 1, 5 was filed in 2023 in WIB)
    assert list(_cells(page, "malang")) == [sla.NOT_ASSIGNED, "Total kota / city total"]
    assert _cells(page, "tanjungpinang")["Total kota / city total"][0] == "5"
    # tanjak:2, on LAPOR Monday 1 April 09:00 WIB, verified Monday 8 April (cuti bersama):
    # 0.625 + 4 working days, a breach of 3, listed in its city
    two = next(b for b in expected.breaches if b.local_id == "2" and b.clock == "verification")
    assert two.days == pytest.approx(4.625)
    sections = {
        name: page[page.index(f"aria-label='{name}'") :].split("</section>")[0]
        for name in ("malang", "tanjungpinang")
    }
    assert "<td>tanjak:2</td>" in sections["tanjungpinang"]
    for name, section in sections.items():
        mine = [b for b in expected.breaches if b.account == name]
        assert section.count("<td>tanjak:") + section.count("<td>sambat:") == len(mine)
        assert f"Broken promises ({len(mine)})" in section or not mine
    # each chart draws its own clock's promise line: none on "done", 3 on verification
    figures = re.findall(r"<figure><figcaption><b>(.*?)</b>(.*?)</figure>", page, re.S)
    notes: dict[str, set[str]] = {}
    for title, body in figures:
        notes.setdefault(title, set()).update(re.findall(r"janji / promise: ([\d.]+)", body))
    assert notes["Verifikasi LAPOR"] == {"3"} and notes["Selesai"] == set()
    assert notes["Tindak lanjut OPD"] == {"5"} and notes["Tanggapan kota"] == {"5"}

    # the export's own range replaces this year: 2023 in WIB holds tanjak:5 alone
    older = _export(
        timed_store,
        "html",
        now=NOW,
        rules=rules,
        since=parse_rfc3339("2023-01-01"),
        until=parse_rfc3339("2024-01-01"),
    )
    assert list(_cells(older, "tanjungpinang")) == [  # PUPR, by the built-in aliases
        "Dinas Pekerjaan Umum dan Penataan Ruang",
        "Total kota / city total",
    ]
    assert "aria-label='malang'" not in older
    assert "01-01-2023 00:00 – 01-01-2024 00:00 WIB" in older


def test_backlog_follows_opening_and_closing() -> None:
    opened = report_html.Counter({date(2024, 3, 1): 3, date(2024, 3, 3): 1})
    closed = report_html.Counter({date(2024, 3, 2): 2})
    points = report_html.backlog_points(opened, closed, date(2024, 3, 4))
    assert points == [
        (date(2024, 3, 1), 3),
        (date(2024, 3, 2), 1),
        (date(2024, 3, 3), 2),
        (date(2024, 3, 4), 2),
    ]
    assert report_html.nice_ticks(7) == [0.0, 2.0, 4.0, 6.0, 8.0]


def test_the_page_names_lapor_statuses_by_the_adapters_vocabulary(tmp_path: Path) -> None:
    """The core knows no LAPOR status code: the page's names come from LAPOR's adapter."""
    names = registry.national_status_names()
    assert names[60] == "Selesai" and names[90] == "Diarsipkan"
    store = Store(tmp_path / "bridge.db")
    try:
        now = datetime(2026, 1, 5, 3, tzinfo=UTC)
        named = _export(store, "html", now=now, national_names=names)
        bare = _export(store, "html", now=now)
    finally:
        store.close()
    assert '"national_names":{"10":"Belum Terverifikasi","20":"Ditunda"' in named
    assert '"national_names":{}' in bare
