"""``report sla``: one clock per promise, per city and agency (bridge.md, "The SLA report")."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import holidays
import pytest
from typer.testing import CliRunner

from adapters.sandbox.sambat import SambatSandbox
from adapters.sandbox.ujar import UjarSandbox
from bridge.core.timefmt import WIB
from bridge.reports import sla
from bridge.reports.agencies import NOT_ASSIGNED, AgencyNames
from bridge.reports.workdays import NATIONAL_DAYS, LocalDays, WorkCalendar, read_local_days
from bridge.runtime.settings import ConfigError, load_settings
from cli import app
from tests.harness import World

runner = CliRunner()


def wib(month: int, day: int, hour: int = 9) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=WIB)


# --- (a) a synthetic timeline, by hand ---------------------------------------------------------
#
# August 2026: Monday 17 is Independence Day, Tuesday 25 the Prophet's Birthday, and the
# weekends 15-16, 22-23, 29-30. "Now" is Monday 31 August 09:00 WIB.
NOW = wib(8, 31)
A = sla.Moments(  # kept everything
    "kota", "tanjak", "1", "#1", "DLH", filed=wib(8, 13), in_app=wib(8, 13),
    on_lapor=wib(8, 14), verified=wib(8, 18), responded=wib(8, 20), closed=wib(8, 26),
    done=wib(8, 26),
)  # fmt: skip
B = sla.Moments(  # delivered late, never verified, never answered: two open breaches
    "kota", "tanjak", "2", "#2", "DLH", filed=wib(8, 14, 12), in_app=wib(8, 14, 12),
    on_lapor=wib(8, 19, 12), unverified=True,
)  # fmt: skip
C = sla.Moments(  # verified on its third day exactly; answers still within their promises
    "kota", "ujar", "U-3", "#3", NOT_ASSIGNED, filed=wib(8, 24), in_app=wib(8, 24),
    on_lapor=wib(8, 24, 15), verified=wib(8, 28, 15),
)  # fmt: skip
D = sla.Moments(  # answered in the app before LAPOR verified it (late), done
    "kota", "tanjak", "4", "#4", "PUPR", filed=wib(8, 18), in_app=wib(8, 18),
    on_lapor=wib(8, 18, 15), verified=wib(8, 27), responded=wib(8, 19), closed=wib(8, 28),
    done=wib(8, 28),
)  # fmt: skip
RULES = sla.Rules(
    accounts={"kota": sla.AccountRules(city_response_days=7)}, sources={"tanjak": "kota"}
)


def test_working_days_span_the_holiday_and_the_weekend() -> None:
    cal = WorkCalendar()
    assert not cal.is_working_day(date(2026, 8, 17)) and not cal.is_working_day(date(2026, 8, 25))
    # Friday 09:00 → Tuesday 09:00: Friday's rest, nothing on Saturday, Sunday and Monday 17
    assert cal.working_days(wib(8, 14), wib(8, 18)) == 1.0
    assert cal.working_days(wib(8, 13), wib(8, 26)) == 7.0
    # a local holiday file adds a day off and gives one back
    local = WorkCalendar(
        local=LocalDays(frozenset({date(2026, 8, 19)}), frozenset({date(2026, 8, 17)}))
    )
    assert local.working_days(wib(8, 14), wib(8, 20)) == 3.0  # Fri .625, Mon 1, Tue 1, Thu .375


def test_each_clock_of_each_complaint() -> None:
    cal = WorkCalendar()
    days = {m.local_id: {s.clock: (s.days, s.ended_at is None) for s in sla.spans(m, cal, NOW)}
            for m in (A, B, C, D)}  # fmt: skip
    assert days["1"] == {
        "delivery": (1.0, False),
        "verification": (1.0, False),
        "agency_followup": (2.0, False),
        "city_response": (4.0, False),
        "done": (7.0, False),
    }
    assert days["2"] == {
        "delivery": (2.0, False),
        "verification": (6.875, True),
        "city_response": (8.875, True),
    }
    assert days["U-3"] == {
        "delivery": (0.25, False),
        "verification": (3.0, False),
        "agency_followup": (0.75, True),
        "city_response": (4.0, True),
    }
    assert days["4"] == {
        "delivery": (0.25, False),
        "verification": (5.75, False),
        "agency_followup": (0.0, False),  # answered before LAPOR verified it
        "city_response": (1.0, False),
        "done": (7.0, False),
    }


def _figures(result: sla.SlaSummary, agency: str | None = None) -> dict[str, tuple[object, ...]]:
    (account,) = result.accounts
    group = (
        account.total if agency is None else next(a for a in account.agencies if a.name == agency)
    )
    return {
        clock: (f.n, f.median_days, f.p90_days, f.max_days, f.breaches)
        for clock, f in group.clocks.items()
    }


def test_median_p90_and_breaches_by_hand() -> None:
    tally = sla.SlaTally(RULES, sla.Scope(wib(1, 1), wib(12, 31)), NOW)
    for m in (A, B, C, D):
        tally.add(m)
    result = tally.result()
    approx = pytest.approx
    assert _figures(result) == {
        # 0.25 0.25 1 2: median (0.25+1)/2, p90 at rank 2.7: 1 + 0.7 × 1
        "delivery": (4, 0.625, approx(1.7), 2.0, 1),
        # 1 3 5.75 6.875: B open and D over 3; C's 3.0 is the promise, kept
        "verification": (4, 4.375, approx(6.5375), 6.875, 2),
        # C's 0.75 still runs within its promise: not counted; B never verified
        "agency_followup": (2, 1.0, approx(1.8), 2.0, 0),
        # promise 7: 1 4 8.875 (B open); C's 4.0 still runs within it
        "city_response": (3, 4.0, approx(7.9), 8.875, 1),
        "done": (2, 7.0, 7.0, 7.0, None),
    }
    assert _figures(result, "DLH")["verification"] == (2, 3.9375, approx(6.2875), 6.875, 1)
    assert result.accounts[0].agencies[-1].name == NOT_ASSIGNED
    assert result.promises == {
        "delivery": 1.0,
        "verification": 3.0,
        "agency_followup": 5.0,
        "city_response": 7.0,
        "done": None,
    }
    listed = {(b.clock, b.local_id, b.open, b.days) for b in result.breaches}
    assert listed == {
        ("delivery", "2", False, 2.0),
        ("verification", "2", True, 6.875),
        ("verification", "4", False, 5.75),
        ("city_response", "2", True, 8.875),
    }
    # a median above the promise means at least half of n are breaches, on every clock
    for clock, figures in result.accounts[0].total.clocks.items():
        promise = result.accounts[0].promises[clock]
        if promise is not None and (figures.median_days or 0) > promise:
            assert 2 * (figures.breaches or 0) >= figures.n, clock


def test_national_table_matches_the_published_lists() -> None:
    for year, days in NATIONAL_DAYS.items():
        published = holidays.country_holidays("ID", years=year, categories=("public", "government"))
        assert set(days) == set(published), year


def test_agency_names_per_account() -> None:
    names = AgencyNames(
        {"Dinas PU": "Dinas Pekerjaan Umum dan Penataan Ruang"}, "Pemerintah Kota Malang"
    )
    full = "Dinas Pekerjaan Umum dan Penataan Ruang"
    assert {
        names.canonical(n) for n in ("PUPR", "dpupr", "Dinas PU", full, f"{full} Kota Malang")
    } == {full}
    assert names.canonical("Dinas Lingkungan Hidup Kota Malang") == "Dinas Lingkungan Hidup"
    assert names.canonical("Badan Baru Kota Malang") == "Badan Baru"
    assert names.canonical(None) == names.canonical("  ") == NOT_ASSIGNED
    assert names.canonical("Kantor  Camat") == "Kantor Camat"


def test_local_holidays_file(tmp_path: Path) -> None:
    path = tmp_path / "libur.txt"
    path.write_text(
        "# Tanjungpinang\n2026-01-17  Hari Jadi Kota\n-2026-12-24\n\n", encoding="utf-8"
    )
    assert read_local_days(path) == LocalDays(
        frozenset({date(2026, 1, 17)}), frozenset({date(2026, 12, 24)})
    )
    path.write_text("17/01/2026\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 1"):
        read_local_days(path)


# --- (b) two cities over real HTTP ------------------------------------------------------------

UJAR_ID, UJAR_SECRET = "sla-ujar", "sla-ujar-rahasia"
SAMBAT_USER, SAMBAT_PASSWORD = "sla-sambat", "sla-sambat-rahasia"
MALANG_SECRET, MALANG_TOKEN = "sandbox-secret-mlg", "{11111111-2222-3333-4444-555555555555}"
PUPR = "Dinas Pekerjaan Umum dan Penataan Ruang"
DLH = "Dinas Lingkungan Hidup"


class Cities:
    """Tanjungpinang (Tanjak, Ujar) and Malang (Sambat) on one LAPOR."""

    def __init__(self, tmp: Path) -> None:
        self.world = World(tmp)
        self.ujar = UjarSandbox(UJAR_ID, UJAR_SECRET)
        self.sambat = SambatSandbox(SAMBAT_USER, SAMBAT_PASSWORD)
        self.ujar.start()
        self.sambat.start()
        malang_user = self.world.lapor.add_account(
            MALANG_SECRET, MALANG_TOKEN, "Pemerintah Kota Malang"
        )
        lainnya = self.world.lapor.category_id("TOPIK LAINNYA")
        self.holidays = tmp / "libur-malang.txt"
        self.holidays.write_text("2026-04-01  Hari Jadi Kota Malang\n", encoding="utf-8")
        extra = f"""
[lapor.accounts.tanjungpinang.agencies]
"Dinas PU" = "{PUPR}"

[lapor.accounts.malang]
api_secret = "{MALANG_SECRET}"
token = "{MALANG_TOKEN}"
user_id = {malang_user}
institution = "Pemerintah Kota Malang"
city_response_days = 7
local_holidays_file = "{self.holidays}"

[lapor.accounts.malang.agencies]
"Bina Marga" = "{PUPR}"

[sources.ujar]
kind = "ujar"
account = "tanjungpinang"
base_url = "{self.ujar.url}"
client_id = "{UJAR_ID}"
client_secret = "{UJAR_SECRET}"
location_id = 34
classification_id = 1
requests_per_second = 1000

[sources.ujar.categories]
"*" = {lainnya}

[sources.sambat]
kind = "sambat"
account = "malang"
base_url = "{self.sambat.url}"
username = "{SAMBAT_USER}"
password = "{SAMBAT_PASSWORD}"
location_id = 34
classification_id = 1
requests_per_second = 1000

[sources.sambat.categories]
"*" = {lainnya}
"""
        config = self.world.config_path
        config.write_text(config.read_text(encoding="utf-8") + extra, encoding="utf-8")

    def cli(self, *args: str) -> tuple[int, str]:
        result = runner.invoke(app, ["--config", str(self.world.config_path), *args])
        return result.exit_code, result.output

    def stop(self) -> None:
        self.ujar.stop()
        self.sambat.stop()
        self.world.stop()


@pytest.fixture
def cities(tmp_path: Path) -> Iterator[Cities]:
    c = Cities(tmp_path)
    try:
        yield c
    finally:
        c.stop()


def _fill(c: Cities) -> None:
    tanjak = c.world.tanjak
    for opd in ("PUPR", "PUPR", PUPR, "Dinas PU", None, "DLH"):
        tanjak.add_aduan(isi="Jalan berlubang di depan pasar, mohon segera diperbaiki.", opd=opd)
    answered = c.ujar.add_ticket(message="Drainase tersumbat di Jl. Sei Timun setelah hujan.")
    c.ujar.respond(answered["ticketNo"], "PUPR", "Tim menuju lokasi.")
    c.ujar.add_ticket(message="Pohon tumbang menutup jalan di Batu IX sejak pagi.")
    places = ("Jl. Ijen", "Jl. Kawi", "Jl. Semeru", "Jl. Bromo", "Jl. Arjuno", "Jl. Welirang")
    skpds = (PUPR, PUPR, "DPUPR", "Bina Marga", "Dinas Lingkungan Hidup Kota Malang", "")
    for number, (skpd, place) in enumerate(zip(skpds, places, strict=True)):
        c.sambat.add_sambat(
            isi_sambat=f"Keluhan nomor {number}: masalah berbeda di {place}, mohon dicek.",
            skpd_tujuan=skpd,
            nama=f"Warga {place}",
            hp=f"08123456780{number}",
        )


def _counts(out: str) -> dict[tuple[str, str], int]:
    document = json.loads(out)
    return {
        (account["name"], agency["name"]): agency["received"]
        for account in document["accounts"]
        for agency in account["agencies"]
    }


def test_counts_per_city_and_agency_over_http(cities: Cities) -> None:
    _fill(cities)
    assert cities.world.sync().ok
    code, out = cities.cli("report", "sla", "--format", "json", "--since", "2000-01-01")
    assert code == 0, out
    # by hand: Tanjak PUPR ×2 + full name + the configured "Dinas PU", Ujar's answer by PUPR;
    # Malang's full name ×2 + DPUPR + its own alias "Bina Marga"; LAPOR's "… Kota Malang"
    assert _counts(out) == {
        ("malang", DLH): 1,
        ("malang", PUPR): 4,
        ("malang", NOT_ASSIGNED): 1,
        ("tanjungpinang", DLH): 1,
        ("tanjungpinang", PUPR): 5,
        ("tanjungpinang", NOT_ASSIGNED): 2,
    }
    document = json.loads(out)
    totals = {a["name"]: a["total"]["received"] for a in document["accounts"]}
    assert totals == {"malang": 6, "tanjungpinang": 8}
    assert {a["name"]: a["promise_days"]["city_response"] for a in document["accounts"]} == {
        "malang": 7,
        "tanjungpinang": 5,
    }
    assert document["clocks"]["city_response"]["promise_days"] is None  # not shared
    assert document["clocks"]["verification"]["promise_days"] == 3
    for account in document["accounts"]:
        delivery = account["total"]["clocks"]["delivery"]
        assert delivery["n"] == account["total"]["received"]  # every one delivered, at once
        assert delivery["breaches"] == 0 and delivery["max_days"] < 1

    # (c) the options
    code, out = cities.cli("report", "sla", "--format", "json", "--since", "2000-01-01",
                           "--account", "malang", "--agency", "DPUPR")  # fmt: skip
    assert code == 0, out
    assert _counts(out) == {("malang", PUPR): 4}
    code, out = cities.cli("report", "sla", "--format", "json", "--since", "2000-01-01",
                           "--source", "ujar")  # fmt: skip
    assert code == 0, out
    assert _counts(out) == {("tanjungpinang", PUPR): 1, ("tanjungpinang", NOT_ASSIGNED): 1}
    code, out = cities.cli("report", "sla", "--format", "json", "--since", "2000-01-01",
                           "--agency", "Dinas PU")  # fmt: skip
    assert code == 0, out
    assert _counts(out) == {("malang", PUPR): 4, ("tanjungpinang", PUPR): 5}
    # a range that holds nothing: the accounts asked for, empty
    code, out = cities.cli("report", "sla", "--format", "json", "--since", "2001-01-01",
                           "--until", "2001-02-01T00:00:00+07:00", "--account", "malang")  # fmt: skip
    assert code == 0, out
    document = json.loads(out)
    assert document["since"] == "2001-01-01T00:00:00+07:00"
    assert [(a["name"], a["total"]["received"], a["agencies"]) for a in document["accounts"]] == [
        ("malang", 0, [])
    ]
    # text and csv carry the same figures
    code, text = cities.cli("report", "sla", "--since", "2000-01-01", "--account", "malang")
    assert code == 0 and "== malang ==" in text
    pupr = [line for line in text.splitlines() if line.startswith(PUPR)]
    assert pupr and all(line.split()[-6] == "4" for line in pupr)  # received, on every clock
    code, flat = cities.cli("report", "sla", "--format", "csv", "--since", "2000-01-01")
    assert code == 0
    lines = flat.splitlines()
    assert lines[0].startswith("account,agency,received,delivery_n")
    assert f"malang,{PUPR},4," in flat and "tanjungpinang,(total),8," in flat

    # unknown names: exit 2 with a message
    for args, word in (
        (("--account", "surabaya"), "surabaya"),
        (("--source", "nosuch"), "nosuch"),
        (("--agency", "Dinas Pariwisata"), "Dinas Pariwisata"),
        (("--since", "kemarin"), "--since"),
    ):
        code, out = cities.cli("report", "sla", *args)
        assert code == 2 and word in out, (args, out)
    code, out = cities.cli("export", "--source", "nosuch")
    assert code == 2 and "nosuch" in out


def test_settings_validate_the_sla_keys(cities: Cities) -> None:
    conf = load_settings(cities.world.config_path)
    assert conf.lapor.accounts["malang"].city_response_days == 7
    assert conf.bridge.delivery_promise_days == 1
    rules = sla.Rules.from_settings(conf)
    assert not rules.account("malang").calendar.is_working_day(date(2026, 4, 1))
    assert rules.account("tanjungpinang").calendar.is_working_day(date(2026, 4, 1))
    cities.holidays.write_text("2026-13-01\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(cities.world.config_path)
    assert caught.value.key == "lapor.accounts.malang.local_holidays_file"
    cities.holidays.write_text("", encoding="utf-8")
    text = cities.world.config_path.read_text(encoding="utf-8")
    cities.world.config_path.write_text(
        text.replace("city_response_days = 7", "city_response_days = 0"), encoding="utf-8"
    )
    with pytest.raises(ConfigError, match="city_response_days"):
        load_settings(cities.world.config_path)


def test_json_of_an_empty_store_has_the_shape(cities: Cities) -> None:
    cities.world.sync()
    code, out = cities.cli("report", "sla", "--format", "json")
    assert code == 0, out
    document = json.loads(out)
    assert set(document) >= {"since", "until", "generated_at", "clocks", "accounts", "breaches"}
    assert list(document["clocks"]) == list(sla.CLOCKS)
    year = datetime.now(UTC).astimezone(WIB).year
    assert document["since"] == f"{year}-01-01T00:00:00+07:00"
