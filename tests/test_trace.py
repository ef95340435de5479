"""``lapor-bridge trace REF`` (bridge.md, Commands) over real syncs against the sandboxes:
one view of everything the bridge knows about a complaint, personal data masked."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bridge.reports.trace import parse_ref
from cli import app
from tests.harness import World

runner = CliRunner()
INSTITUTION = "Pemerintah Kota Tanjungpinang"
#: the seeded reporter: none of it may ever be printed
PELAPOR = {"nama": "Siti Aminah", "hp": "081234567890", "nik": "2172015501900001"}
PERSONAL = ("Siti", "Aminah", "081234567890", "81234567890", "2172015501900001")


def _trace(world: World, *args: str) -> tuple[int, str, str]:
    """Exit code, standard output, and everything printed (standard error included)."""
    result = runner.invoke(app, ["--config", str(world.config_path), "trace", *args])
    return result.exit_code, result.stdout, result.output


def _filed(world: World, isi: str = "Sampah menumpuk di TPS Jl. Ganet sudah tiga hari.") -> Any:
    return world.tanjak.add_aduan(
        isi=isi, kategori="persampahan", pelapor=dict(PELAPOR), anonim=False
    )


def _no_personal_data(text: str) -> None:
    for secret in PERSONAL:
        assert secret not in text, secret


def _synced_with_follow_ups(world: World) -> tuple[dict[str, Any], int]:
    """A synced complaint the admin verified, with a follow-up each way."""
    aduan = _filed(world)
    assert world.sync().ok
    national_id = int(world.national_for(aduan["id"])[0]["id"])
    world.lapor.verify(national_id, INSTITUTION)
    world.sync()
    world.lapor.agency_followup(national_id, INSTITUTION, "Tim kebersihan dijadwalkan besok.")
    world.tanjak.respond(aduan["id"], "DLH", "Sampah sudah kami angkut pagi ini.")
    for _ in range(2):
        assert world.sync().ok
    return aduan, national_id


def test_parse_ref_forms() -> None:
    assert parse_ref("tanjak:12").source == "tanjak"
    assert parse_ref("tanjak:12").local_id == "12"
    assert parse_ref("sambat:SMB-2019-000123").local_id == "SMB-2019-000123"
    assert parse_ref("#9165024").national_id == 9165024
    assert parse_ref("9165024").national_id == 9165024
    assert parse_ref("TJK-2026-000004").number == "TJK-2026-000004"
    assert parse_ref("Not A Source:1").number == "Not A Source:1"  # not a source name
    for bad in ("", "   ", "#", "#12a"):
        with pytest.raises(ValueError):
            parse_ref(bad)


def test_trace_a_synced_complaint_with_follow_ups_both_ways(world: World) -> None:
    aduan, national_id = _synced_with_follow_ups(world)
    code, out, everything = _trace(world, f"tanjak:{aduan['id']}")
    assert code == 0, everything
    assert out.startswith(f"tanjak:{aduan['id']} ({aduan['nomor']}) ↔ #{national_id}")
    assert f"state: mapped to #{national_id} (origin local)" in out
    assert "link done" in out
    # the agency's follow-up moved LAPOR on, and the app after it
    assert (
        "status in_progress: local diproses (in_progress),"
        " national Ditindaklanjuti oleh Instansi (in_progress)"
    ) in out
    assert "app → LAPOR  followup done by DLH: Sampah sudah kami angkut pagi ini." in out
    assert "LAPOR → app  response done" in out and "Tim kebersihan dijadwalkan besok." in out
    history = out.split("  history:\n", 1)[1]
    for kind in ("created", "tracking_id_written", "followup_sent", "response_written"):
        assert f"  {kind}  tanjak:{aduan['id']}" in history, kind
    assert '"name": "Ditindaklanjuti oleh Instansi"' in history  # a status name, not a person
    assert "in doubt" not in out.lower()
    _no_personal_data(everything)


def test_trace_by_the_number_the_citizen_sees(world: World) -> None:
    aduan, national_id = _synced_with_follow_ups(world)
    assert aduan["nomor"].startswith("TJK-")
    for ref in (aduan["nomor"], aduan["nomor"].lower(), f"tanjak:{aduan['nomor']}"):
        code, out, everything = _trace(world, ref)
        assert code == 0, (ref, everything)
        assert out.startswith(f"tanjak:{aduan['id']} ({aduan['nomor']}) ↔ #{national_id}"), ref
    result = runner.invoke(
        app, ["--config", str(world.config_path), "mapping", "show", aduan["nomor"]]
    )
    assert result.exit_code == 0 and f"tanjak:{aduan['id']} ↔ #{national_id}" in result.output


def test_trace_by_tracking_number_with_and_without_hash(world: World) -> None:
    aduan, national_id = _synced_with_follow_ups(world)
    outputs = []
    for ref in (f"#{national_id}", str(national_id)):
        code, out, everything = _trace(world, ref)
        assert code == 0, (ref, everything)
        assert out.startswith(f"tanjak:{aduan['id']} ({aduan['nomor']}) ↔ #{national_id}")
        outputs.append(out)
    assert outputs[0] == outputs[1]
    result = runner.invoke(
        app, ["--config", str(world.config_path), "mapping", "show", str(national_id)]
    )
    assert result.exit_code == 0 and f"tanjak:{aduan['id']}" in result.output


def test_trace_finds_a_quarantined_record_without_a_mapping(world: World) -> None:
    aduan = _filed(world, "Jalan rusak parah di depan SD 005, banyak lubang.")
    world.tanjak.corrupt(aduan["id"], status="entah")
    world.sync()
    result = runner.invoke(
        app, ["--config", str(world.config_path), "mapping", "show", f"tanjak:{aduan['id']}"]
    )
    assert result.exit_code == 1 and "no such mapping" in result.output
    for ref in (f"tanjak:{aduan['id']}", aduan["nomor"]):
        code, out, everything = _trace(world, ref)
        assert code == 0, (ref, everything)
        assert out.startswith(f"tanjak:{aduan['id']} ({aduan['nomor']}) ↔ no national complaint")
        assert "state: no mapping" in out and "state: quarantined" in out
        assert "1 open, 1 attempt(s)" in out and "status is not one of" in out
        assert "quarantined" in out.split("  history:\n", 1)[1]
        assert '"entah"' not in out  # the raw record is not printed (quarantine show has it)
        _no_personal_data(everything)


def test_trace_shows_a_create_in_doubt(world: World) -> None:
    aduan = _filed(world, "Lampu PJU padam di Jl. Basuki Rahmat sudah tiga hari.")
    world.lapor.faults.inject("drop_after_write", method="POST", path=r"/complaints/complaint$")
    assert world.sync().sources["tanjak"].in_doubt == 1
    code, out, everything = _trace(world, aduan["nomor"])
    assert code == 0, everything
    assert "state: no mapping" in out
    assert any(line.startswith("  state: create in doubt (intent ") for line in out.splitlines())
    assert any(
        line.startswith("    create ") and " IN DOUBT, 1 attempt(s), sent " in line
        for line in out.splitlines()
    ), out
    code, stdout, _ = _trace(world, f"tanjak:{aduan['id']}", "--json")
    [record] = json.loads(stdout)["records"]
    [intent] = record["intents"]
    assert intent["kind"] == "create" and intent["in_doubt"] is True
    assert intent["state"] == "pending" and intent["attempts"] == 1
    assert record["mapping"] is None and record["display_id"] == aduan["nomor"]
    _no_personal_data(everything + stdout)


def test_an_import_in_doubt_is_found_by_its_tracking_number(inbox_world: World) -> None:
    world = inbox_world
    national_id = world.lapor.file_complaint(
        "Lampu jalan mati di Jl. Pramuka",
        "Sudah seminggu lampu jalan mati di depan masjid, gelap dan rawan.",
        "PERHUBUNGAN/LAMPU PENERANGAN JALAN UMUM",
        INSTITUTION,
    )["id"]
    world.tanjak.faults.inject("drop_after_write", method="POST", path=r"/api/aduan$")
    world.sync()  # the app made the record; its answer was lost
    code, out, everything = _trace(world, f"#{national_id}")
    assert code == 0, everything
    assert out.startswith(f"tanjak:#{national_id} ↔ #{national_id}\n")
    assert "state: import in doubt (intent " in out
    world.tanjak.faults.clear()
    assert world.sync().ok  # found by its link: one record, shown once, with its import
    [aduan] = world.tanjak.all_aduan()
    code, out, everything = _trace(world, str(national_id))
    assert code == 0, everything
    assert out.startswith(f"tanjak:{aduan['id']} ({aduan['nomor']}) ↔ #{national_id}\n")
    assert f"tanjak:#{national_id}" not in out
    assert "state: mapped to #" in out and "(origin national)" in out
    assert "    import 1 done, " in out


def test_an_unknown_ref_exits_1_saying_what_was_looked_for(world: World) -> None:
    _synced_with_follow_ups(world)
    for ref, looked_for in (
        ("tanjak:999999", "record tanjak:999999"),
        ("TJK-1999-999999", "the visible number or id TJK-1999-999999 in every source"),
        ("#999999", "national complaint #999999"),
        ("999999", "national complaint #999999"),
    ):
        code, out, everything = _trace(world, ref)
        assert code == 1, (ref, everything)
        assert out == ""
        assert f"{ref}: nothing known about {looked_for}" in everything, everything
    code, _, everything = _trace(world, "999999")
    assert "a bare number is a tracking number" in everything
    code, _, everything = _trace(world, "#12a")
    assert code == 1 and "a tracking number is # and digits" in everything


def test_trace_json_is_one_object(world: World) -> None:
    aduan, national_id = _synced_with_follow_ups(world)
    code, stdout, everything = _trace(world, f"#{national_id}", "--json")
    assert code == 0, everything
    result = json.loads(stdout)
    assert result["ref"] == f"#{national_id}" and result["found"] is True
    assert result["looked_for"] == f"national complaint #{national_id}"
    [record] = result["records"]
    assert set(record) >= {
        "source", "local_id", "display_id", "tracking_id", "state", "mapping",
        "shares_complaint_with", "quarantine", "intents", "followups", "late_photos",
        "duplicate_checks", "history",
    }  # fmt: skip
    assert (record["source"], record["local_id"]) == ("tanjak", str(aduan["id"]))
    assert record["display_id"] == aduan["nomor"]
    assert record["tracking_id"] == f"#{national_id}"
    mapping = record["mapping"]
    assert mapping["national_id"] == national_id and mapping["duplicate_of"] is None
    assert mapping["local_status"] == "diproses" and mapping["link_state"] == "done"
    assert mapping["conflict"] is False
    assert "fingerprint" not in mapping
    directions = sorted((f["direction"], f["state"]) for f in record["followups"])
    assert directions == [("to_local", "done"), ("to_national", "done")]
    assert all(f["in_doubt"] is False for f in record["followups"])
    assert record["quarantine"] == [] and record["shares_complaint_with"] == []
    assert [i["kind"] for i in record["intents"]] == ["create"]
    kinds = [e["kind"] for e in record["history"]]
    assert "created" in kinds
    assert all(e["at"].endswith("+07:00") for e in record["history"])  # RFC 3339, WIB
    assert result["history"] == []
    _no_personal_data(stdout)


def test_a_terminal_escape_sequence_in_a_remote_text_is_neutralised(world: World) -> None:
    aduan = _filed(world)
    assert world.sync().ok
    national_id = int(world.national_for(aduan["id"])[0]["id"])
    world.lapor.verify(national_id, INSTITUTION)
    world.sync()
    hostile = "Sudah dicek\x1b]0;pwned\x07\x1b[2J\x9b31m ulang\u202e oleh petugas."
    world.lapor.agency_followup(national_id, INSTITUTION, hostile)
    world.sync()
    code, out, everything = _trace(world, f"tanjak:{aduan['id']}")
    assert code == 0, everything
    for control in ("\x1b", "\x07", "\x9b", "\u202e"):
        assert control not in everything
    assert "Sudah dicek" in out and "oleh petugas." in out
    code, stdout, _ = _trace(world, f"tanjak:{aduan['id']}", "--json")
    # escaped by JSON is not enough: `jq -r` would print it as it was
    assert "\\u001b" not in stdout and "\\u0007" not in stdout
    texts = [f["content"] for f in json.loads(stdout)["records"][0]["followups"]]
    assert any(t.startswith("Sudah dicek") and "\x1b" not in t for t in texts), texts


def test_follow_up_texts_have_phone_numbers_masked(world: World) -> None:
    aduan, national_id = _synced_with_follow_ups(world)
    world.lapor.agency_followup(
        national_id, INSTITUTION, "Pelapor dapat dihubungi di 0812-3456-7890 untuk survei."
    )
    world.sync()
    code, out, everything = _trace(world, f"tanjak:{aduan['id']}")
    assert code == 0
    assert "Pelapor dapat dihubungi di [redacted] untuk survei." in out
    assert "3456" not in everything


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_trace_is_read_only_and_never_creates_a_database(world: World) -> None:
    database = world.settings.bridge.database
    code, _, everything = _trace(world, "tanjak:1")
    assert code == 1 and "no database" in everything, everything
    assert not database.exists()
    assert not any(database.parent.glob("bridge.db*"))
    aduan, _ = _synced_with_follow_ups(world)
    before = _digest(database)
    for args in ((f"tanjak:{aduan['id']}",), (aduan["nomor"], "--json"), ("#1",)):
        _trace(world, *args)
    assert _digest(database) == before
    wal = database.with_name("bridge.db-wal")  # SQLite's read-only WAL open may make one
    assert not wal.exists() or wal.stat().st_size == 0  # with nothing written into it
