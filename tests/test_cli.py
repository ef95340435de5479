"""The operators' CLI against a store filled by real syncs."""

from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from cli import app
from tests.harness import World

runner = CliRunner()

#: bridge.md: every TIME the commands print is RFC 3339 (with its offset)
RFC3339 = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})"


def _cli(world: World, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["--config", str(world.config_path), *args])
    return result.exit_code, result.output


def test_status_json_has_the_contract_fields(world: World) -> None:
    world.tanjak.add_aduan(isi="Lampu jalan mati di Jl. Pramuka sejak seminggu.")
    assert world.sync().ok
    code, out = _cli(world, "status", "--json")
    state = json.loads(out)
    assert code == 0 and state["healthy"] is True
    tanjak = state["sources"]["tanjak"]
    for key in ("last_pull_at", "mapped", "pending", "quarantined", "in_doubt"):
        assert key in tanjak
    assert tanjak["mapped"] == 1
    assert state["accounts"]["tanjungpinang"]["pending"] == 0
    assert state["accounts"]["tanjungpinang"]["last_pull_at"]


def test_status_lists_the_categories_sent_under_the_fallback_id(world: World) -> None:
    # the evidenced profile: no category list; an app category without a configured id
    # flows under "*", and status says so (lapor.md) without calling the bridge degraded
    aduan = world.tanjak.add_aduan(isi="Jembatan kayu di Kampung Bugis rusak.", kategori="jalan")
    assert world.sync().ok
    national = world.national_for(aduan["id"])[0]
    lainnya = world.lapor.category_id("TOPIK LAINNYA")
    assert national["category_id"] == lainnya
    code, out = _cli(world, "status", "--json")
    state = json.loads(out)
    assert code == 0 and state["healthy"] is True
    assert state["sources"]["tanjak"]["categories_not_on_lapor"] == {"jalan": f'id {lainnya} ("*")'}
    code, out = _cli(world, "status")
    assert "categories not on LAPOR" in out


def test_status_says_which_categories_lapor_does_not_have(tmp_path: Path) -> None:
    # with the categories capability: a name path LAPOR lacks flows under its topic
    world = World(tmp_path, capabilities=("categories",))
    try:
        text = world.config_path.read_text(encoding="utf-8")
        world.config_path.write_text(
            text.replace(
                "[sources.tanjak.categories]\n",
                '[sources.tanjak.categories]\njalan = "PERHUBUNGAN/JEMBATAN RUSAK"\n',
            ),
            encoding="utf-8",
        )
        aduan = world.tanjak.add_aduan(
            isi="Jembatan kayu di Kampung Bugis rusak.", kategori="jalan"
        )
        assert world.sync().ok
        national = world.national_for(aduan["id"])[0]
        assert national["category_id"] == world.lapor.category_id("PERHUBUNGAN")
        code, out = _cli(world, "status", "--json")
        state = json.loads(out)
        assert code == 0 and state["healthy"] is True
        assert state["sources"]["tanjak"]["categories_not_on_lapor"] == {"jalan": "PERHUBUNGAN"}
        assert any("jalan → PERHUBUNGAN" in n for n in state["notes"])
    finally:
        world.stop()


def test_status_counts_an_import_whose_answer_was_lost_as_in_doubt(inbox_world: World) -> None:
    world = inbox_world
    world.lapor.file_complaint(
        "Lampu jalan mati di Jl. Pramuka",
        "Sudah seminggu lampu jalan mati di depan masjid, gelap dan rawan.",
        "PERHUBUNGAN/LAMPU PENERANGAN JALAN UMUM",
        "Pemerintah Kota Tanjungpinang",
    )
    world.tanjak.faults.inject("drop_after_write", method="POST", path=r"/api/aduan$")
    world.sync()  # the import reached Tanjak; its answer did not reach the bridge
    code, out = _cli(world, "status", "--json")
    state = json.loads(out)
    assert code == 1 and state["healthy"] is False
    assert state["sources"]["tanjak"]["in_doubt"] == 1
    assert state["sources"]["tanjak"]["pending"] == 0
    assert world.sync().ok  # found by its link, not posted again
    code, out = _cli(world, "status", "--json")
    assert code == 0 and json.loads(out)["sources"]["tanjak"]["in_doubt"] == 0
    assert len(world.tanjak.all_aduan()) == 1


def test_status_degraded_when_quarantined_and_the_table(world: World) -> None:
    aduan = world.tanjak.add_aduan(isi="Jalan rusak parah di depan SD 005, banyak lubang.")
    world.tanjak.corrupt(aduan["id"], status="entah")
    world.sync()
    code, out = _cli(world, "status")
    assert code == 1
    assert "DEGRADED" in out and "quarantined" in out


def test_quarantine_list_show_retry_drop(world: World) -> None:
    aduan = world.tanjak.add_aduan(
        isi="Sampah menumpuk di Jl. Ganet.",
        pelapor={"nama": "Siti Aminah", "hp": "081234567890", "nik": "2172015501900001"},
        anonim=False,
    )
    world.tanjak.corrupt(aduan["id"], status="entah")
    world.sync()
    code, out = _cli(world, "quarantine", "list")
    assert code == 0 and f"tanjak:{aduan['id']}" in out and "status" in out
    entry_id = out.split()[0]
    code, out = _cli(world, "quarantine", "show", entry_id)
    assert code == 0 and '"entah"' in out
    for secret in ("Siti Aminah", "081234567890", "2172015501900001"):
        assert secret not in out
    code, out = _cli(world, "quarantine", "retry", entry_id)
    assert code == 0 and "still quarantined" in out  # bridge.md: quarantine … exits 0
    world.tanjak.set_status(aduan["id"], "baru")  # the app fixes the record
    code, out = _cli(world, "quarantine", "retry", entry_id)
    assert code == 0, out
    assert len(world.national_for(aduan["id"])) == 1
    other = world.tanjak.add_aduan(isi="Parkir liar menutup trotoar di depan pertokoan.")
    world.tanjak.corrupt(other["id"], status="entah")
    world.sync()
    entries = world.store()
    entry = entries.quarantined("tanjak")[0]
    entries.close()
    code, out = _cli(world, "quarantine", "drop", str(entry.id))
    assert code == 0
    code, out = _cli(world, "quarantine", "list")
    assert "quarantine is empty" in out


def test_quarantine_list_prints_rfc3339_times(world: World) -> None:
    aduan = world.tanjak.add_aduan(isi="Jalan berlubang di Jl. Ganet, membahayakan pengendara.")
    world.tanjak.corrupt(aduan["id"], status="entah")
    world.sync()
    code, out = _cli(world, "quarantine", "list")
    assert code == 0
    assert re.search(rf"first {RFC3339}  last {RFC3339}  ", out), out


def test_quarantine_unknown_id_exits_1(world: World) -> None:
    world.store().close()  # a database the bridge made (reads never create one)
    for command in ("show", "retry", "drop"):
        result = runner.invoke(
            app, ["--config", str(world.config_path), "quarantine", command, "999"]
        )
        assert result.exit_code == 1, (command, result.output)
        assert "no quarantine entry 999" in result.output


def test_quarantine_retry_exits_0_when_lapor_is_down(world: World) -> None:
    aduan = world.tanjak.add_aduan(isi="Saluran air tersumbat di Jl. Pramuka, air meluap.")
    world.tanjak.corrupt(aduan["id"], status="entah")
    world.sync()
    store = world.store()
    entry_id = str(store.quarantined("tanjak")[0].id)
    store.close()
    world.tanjak.set_status(aduan["id"], "baru")
    world.lapor.faults.inject("503", count=1000)
    code, out = _cli(world, "quarantine", "retry", entry_id)
    world.lapor.faults.clear()
    assert code == 0 and "retry failed" in out and "still quarantined" in out


def test_status_healthy_before_any_pass(world: World) -> None:
    # bridge.md lists what degrades: a failed or stale last pass, in doubt, quarantined
    world.store().close()  # the service started (the database made), no pass ended yet
    code, out = _cli(world, "status", "--json")
    state = json.loads(out)
    assert code == 0 and state["healthy"] is True, state
    assert state["sources"]["tanjak"]["last_pull_at"] is None
    assert any("no pass has run yet" in note for note in state["notes"])


def test_mapping_show_prints_rfc3339_times(world: World) -> None:
    aduan = world.tanjak.add_aduan(isi="Pohon tumbang di Jl. Sei Timun menghalangi kendaraan.")
    world.sync()
    store = world.store()
    with store.atomic():
        store.db.execute(
            "INSERT INTO dedupe_decisions (at, source, local_id, candidate_of, rule, score,"
            " merged, inputs) VALUES (?, 'tanjak', ?, NULL, 'same-reporter', 0.5, 0, '{}')",
            ("2024-05-01T03:00:00.000000+00:00", str(aduan["id"])),
        )
    store.close()
    code, out = _cli(world, "mapping", "show", f"tanjak:{aduan['id']}")
    assert code == 0
    assert "2024-05-01T10:00:00+07:00  same-reporter" in out
    for line in out.splitlines():
        key, _, value = line.strip().partition(": ")
        if key in ("created_at", "first_synced_at", "last_synced_at") and value:
            assert re.fullmatch(RFC3339, value), line


def test_mapping_show_by_both_refs(world: World) -> None:
    aduan = world.tanjak.add_aduan(isi="Drainase tersumbat di Jl. Wiratno, air meluap ke jalan.")
    world.sync()
    national = world.national_for(aduan["id"])[0]
    code, out = _cli(world, "mapping", "show", f"tanjak:{aduan['id']}")
    assert code == 0 and f"#{national['id']}" in out and "created" in out
    code, out = _cli(world, "mapping", "show", f"#{national['id']}")
    assert code == 0 and f"tanjak:{aduan['id']}" in out
    code, _ = _cli(world, "mapping", "show", "tanjak:999999")
    assert code == 1


def test_resync_never_creates_twice_and_dry_run_plans(world: World) -> None:
    aduan = world.tanjak.add_aduan(isi="Pohon tumbang di Jl. Sei Timun menghalangi kendaraan.")
    fresh = world.tanjak.add_aduan(isi="Genangan air di depan pasar setelah hujan deras.")
    world.sync()
    extra = world.tanjak.add_aduan(isi="Lampu PJU padam di Jl. Basuki Rahmat sudah 3 hari.")
    code, out = _cli(world, "resync", "--source", "tanjak", "--dry-run")
    assert code == 0
    assert f"tanjak:{extra['id']}: create" in out
    assert f"tanjak:{aduan['id']} (#" in out
    assert len(world.lapor.complaints()) == 2  # a dry run changes nothing
    code, out = _cli(world, "resync", "--source", "tanjak", "--id", str(fresh["id"]))
    assert code == 0, out
    code, out = _cli(world, "resync", "--source", "tanjak", "--since", "2000-01-01")
    assert code == 0, out
    tags = [t for c in world.lapor.complaints() for t in c["tags"] if t.startswith("ext-")]
    assert len(tags) == len(set(tags)) == 3


def test_sync_exit_codes(world: World) -> None:
    world.tanjak.add_aduan(isi="Sampah di sungai Jl. Ganet menyumbat aliran air.")
    code, out = _cli(world, "sync")
    assert code == 0, out
    bad = world.tanjak.add_aduan(isi="Kabel menjuntai rendah di Jl. Pramuka berbahaya.")
    world.tanjak.corrupt(bad["id"], status="entah")
    code, out = _cli(world, "sync")
    assert code == 1


def test_config_check_reaches_every_system(world: World) -> None:
    code, out = _cli(world, "config", "check")
    assert code == 0, out
    assert "lapor.accounts.tanjungpinang: ok" in out and "sources.tanjak: ok" in out
    text = world.config_path.read_text(encoding="utf-8")
    world.config_path.write_text(text.replace('api_key = "', 'api_key = "wrong-'), encoding="utf-8")
    code, out = _cli(world, "config", "check")
    assert code == 2
    assert "sources.tanjak" in out and "401" in out and "wrong-" not in out


def test_export_and_sla_commands(world: World) -> None:
    aduan = world.tanjak.add_aduan(
        isi="Sampah menumpuk di TPS Jl. Ganet.",
        pelapor={"nama": "Rina Wulandari", "hp": "081299988877", "nik": "2172015501900002"},
        anonim=False,
    )
    world.sync()
    code, out = _cli(world, "export", "--format", "json")
    assert code == 0
    rows = json.loads(out)
    assert rows[0]["source"] == "tanjak" and rows[0]["local_id"] == str(aduan["id"])
    assert "Rina" not in out and "081299988877" not in out
    target = world.tmp / "out" / "report.html"
    code, _ = _cli(world, "export", "--format", "html", "--out", str(target))
    assert code == 0 and target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    code, out = _cli(world, "report", "sla", "--format", "json")
    assert code == 0 and json.loads(out)
    code, _ = _cli(world, "export", "--format", "xml")
    assert code == 2
