"""Working days in WIB: Monday to Friday, minus Indonesia's national holidays and
collective leave (*cuti bersama*), plus a city's own local holidays.

**The count.** The working time between two instants is the sum, over the WIB
days they span, of the part of each working day that lies between them: a whole
working day counts 1, a weekend or holiday 0, so Friday 16:00 to Monday 10:00
WIB is 8/24 + 10/24 = 0.75. An end before its start counts 0.

**National days** come from :data:`NATIONAL_DAYS` (the joint decree of three
ministers, *SKB 3 Menteri*, of each year) for the years it holds; any other
year falls back to the ``holidays`` package's list for ``ID`` with its
``government`` category (which carries *cuti bersama*).

**Local days** (``[lapor.accounts.NAME] local_holidays_file``, one file per city):
one date a line, ``YYYY-MM-DD`` and an optional description, adds a local
holiday (a city's anniversary); ``-YYYY-MM-DD`` makes a national day off a
working day for that city (its offices open on a *cuti bersama*). ``#`` starts
a comment; blank lines are skipped.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

from bridge.core.timefmt import WIB

# Sources (each year's SKB 3 Menteri on national holidays and cuti bersama):
# * 2025: SKB No. 1017/2024, 2/2024, 2/2024 —
#   https://setkab.go.id/pemerintah-tetapkan-hari-libur-nasional-dan-cuti-bersama-tahun-2025/
#   and the cuti bersama of 18 August 2025 added in August 2025 —
#   https://news.detik.com/berita/d-8039857/pemerintah-tetapkan-senin-18-agustus-hari-libur
# * 2026: SKB No. 1497/2025, 2/2025, 5/2025 (17 holidays, 8 days of cuti bersama) —
#   https://www.detik.com/hikmah/khazanah/d-8346579/libur-nasional-dan-cuti-bersama-2026-cek-jadwalnya-di-sini
# * 2027: https://setneg.go.id/baca/index/inilah_skb_3_menteri_libur_nasional_dan_cuti_bersama_2027
# Cross-checked against the ``holidays`` package (vacanza/holidays 0.109, ``ID``, categories
# public and government), which cites the same documents; tests/test_sla_clocks.py compares them.
_H = "libur nasional"
_C = "cuti bersama"
NATIONAL_DAYS: dict[int, dict[date, str]] = {
    2025: {
        date(2025, 1, 1): f"{_H}: Tahun Baru Masehi",
        date(2025, 1, 27): f"{_H}: Isra Mikraj",
        date(2025, 1, 28): f"{_C}: Tahun Baru Imlek",
        date(2025, 1, 29): f"{_H}: Tahun Baru Imlek",
        date(2025, 3, 28): f"{_C}: Nyepi",
        date(2025, 3, 29): f"{_H}: Nyepi",
        date(2025, 3, 31): f"{_H}: Idul Fitri",
        date(2025, 4, 1): f"{_H}: Idul Fitri",
        date(2025, 4, 2): f"{_C}: Idul Fitri",
        date(2025, 4, 3): f"{_C}: Idul Fitri",
        date(2025, 4, 4): f"{_C}: Idul Fitri",
        date(2025, 4, 7): f"{_C}: Idul Fitri",
        date(2025, 4, 18): f"{_H}: Wafat Yesus Kristus",
        date(2025, 4, 20): f"{_H}: Paskah",
        date(2025, 5, 1): f"{_H}: Hari Buruh",
        date(2025, 5, 12): f"{_H}: Waisak",
        date(2025, 5, 13): f"{_C}: Waisak",
        date(2025, 5, 29): f"{_H}: Kenaikan Yesus Kristus",
        date(2025, 5, 30): f"{_C}: Kenaikan Yesus Kristus",
        date(2025, 6, 1): f"{_H}: Hari Lahir Pancasila",
        date(2025, 6, 6): f"{_H}: Idul Adha",
        date(2025, 6, 9): f"{_C}: Idul Adha",
        date(2025, 6, 27): f"{_H}: Tahun Baru Islam",
        date(2025, 8, 17): f"{_H}: Hari Kemerdekaan",
        date(2025, 8, 18): f"{_C}: Hari Kemerdekaan",
        date(2025, 9, 5): f"{_H}: Maulid Nabi",
        date(2025, 12, 25): f"{_H}: Natal",
        date(2025, 12, 26): f"{_C}: Natal",
    },
    2026: {
        date(2026, 1, 1): f"{_H}: Tahun Baru Masehi",
        date(2026, 1, 16): f"{_H}: Isra Mikraj",
        date(2026, 2, 16): f"{_C}: Tahun Baru Imlek",
        date(2026, 2, 17): f"{_H}: Tahun Baru Imlek",
        date(2026, 3, 18): f"{_C}: Nyepi",
        date(2026, 3, 19): f"{_H}: Nyepi",
        date(2026, 3, 20): f"{_C}: Idul Fitri",
        date(2026, 3, 21): f"{_H}: Idul Fitri",
        date(2026, 3, 22): f"{_H}: Idul Fitri",
        date(2026, 3, 23): f"{_C}: Idul Fitri",
        date(2026, 3, 24): f"{_C}: Idul Fitri",
        date(2026, 4, 3): f"{_H}: Wafat Yesus Kristus",
        date(2026, 4, 5): f"{_H}: Paskah",
        date(2026, 5, 1): f"{_H}: Hari Buruh",
        date(2026, 5, 14): f"{_H}: Kenaikan Yesus Kristus",
        date(2026, 5, 15): f"{_C}: Kenaikan Yesus Kristus",
        date(2026, 5, 27): f"{_H}: Idul Adha",
        date(2026, 5, 28): f"{_C}: Idul Adha",
        date(2026, 5, 31): f"{_H}: Waisak",
        date(2026, 6, 1): f"{_H}: Hari Lahir Pancasila",
        date(2026, 6, 16): f"{_H}: Tahun Baru Islam",
        date(2026, 8, 17): f"{_H}: Hari Kemerdekaan",
        date(2026, 8, 25): f"{_H}: Maulid Nabi",
        date(2026, 12, 24): f"{_C}: Natal",
        date(2026, 12, 25): f"{_H}: Natal",
    },
    2027: {
        date(2027, 1, 1): f"{_H}: Tahun Baru Masehi",
        date(2027, 1, 5): f"{_H}: Isra Mikraj",
        date(2027, 2, 5): f"{_C}: Tahun Baru Imlek",
        date(2027, 2, 6): f"{_H}: Tahun Baru Imlek",
        date(2027, 3, 8): f"{_H}: Nyepi",
        date(2027, 3, 9): f"{_C}: Idul Fitri",
        date(2027, 3, 10): f"{_H}: Idul Fitri",
        date(2027, 3, 11): f"{_H}: Idul Fitri",
        date(2027, 3, 12): f"{_C}: Idul Fitri",
        date(2027, 3, 15): f"{_C}: Idul Fitri",
        date(2027, 3, 25): f"{_C}: Wafat Yesus Kristus",
        date(2027, 3, 26): f"{_H}: Wafat Yesus Kristus",
        date(2027, 3, 28): f"{_H}: Paskah",
        date(2027, 5, 1): f"{_H}: Hari Buruh",
        date(2027, 5, 6): f"{_H}: Kenaikan Yesus Kristus",
        date(2027, 5, 17): f"{_H}: Idul Adha",
        date(2027, 5, 18): f"{_C}: Idul Adha",
        date(2027, 5, 19): f"{_C}: Waisak",
        date(2027, 5, 20): f"{_H}: Waisak",
        date(2027, 6, 1): f"{_H}: Hari Lahir Pancasila",
        date(2027, 6, 6): f"{_H}: Tahun Baru Islam",
        date(2027, 8, 15): f"{_H}: Maulid Nabi",
        date(2027, 8, 17): f"{_H}: Hari Kemerdekaan",
        date(2027, 12, 24): f"{_C}: Natal",
        date(2027, 12, 25): f"{_H}: Natal",
        date(2027, 12, 26): f"{_H}: Isra Mikraj",
    },
}


def national_days_off(year: int) -> list[date]:
    """Indonesia's national holidays and cuti bersama in ``year``."""
    if year in NATIONAL_DAYS:
        return list(NATIONAL_DAYS[year])
    import holidays  # only for the years the table does not hold

    found = holidays.country_holidays("ID", years=year, categories=("public", "government"))
    return list(found.keys())


@dataclass(frozen=True)
class LocalDays:
    """A city's own calendar on top of the national one."""

    off: frozenset[date] = frozenset()
    #: national days off on which this city works
    working: frozenset[date] = frozenset()


class LocalDaysError(ValueError):
    """A local holidays file that cannot be read; names the line."""


def read_local_days(path: Path) -> LocalDays:
    """Parse a local holidays file (the module's format); raises :class:`LocalDaysError`."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LocalDaysError(f"cannot read {path}: {exc.strerror or 'unreadable'}") from None
    off: set[date] = set()
    working: set[date] = set()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        word = line.split()[0]
        target = working if word.startswith("-") else off
        try:
            day = date.fromisoformat(word.removeprefix("-"))
        except ValueError:
            raise LocalDaysError(
                f"{path}, line {number}: not a date YYYY-MM-DD (or -YYYY-MM-DD for a working day)"
            ) from None
        target.add(day)
    both = off & working
    if both:
        raise LocalDaysError(f"{path}: {min(both)} is both a holiday and a working day")
    return LocalDays(frozenset(off), frozenset(working))


#: a Monday: weekdays are counted from it
_EPOCH = date(1970, 1, 5)
_DAY = timedelta(days=1)


class WorkCalendar:
    """Working days in WIB (see the module's definition), holidays loaded per year on demand."""

    def __init__(
        self,
        holidays_of: Callable[[int], Iterable[date]] = national_days_off,
        local: LocalDays | None = None,
    ) -> None:
        self._holidays_of = holidays_of
        self._local = local or LocalDays()
        self._years: set[int] = set()
        self._holidays: set[date] = set()
        self._weekday_holidays: list[date] = []

    def _load(self, first: int, last: int) -> None:
        missing = [y for y in range(first, last + 1) if y not in self._years]
        if not missing:
            return
        for year in missing:
            self._holidays.update(d for d in self._holidays_of(year) if d.year == year)
            self._holidays.update(d for d in self._local.off if d.year == year)
            self._years.add(year)
        self._holidays -= self._local.working
        self._weekday_holidays = sorted(d for d in self._holidays if d.weekday() < 5)

    def is_working_day(self, day: date) -> bool:
        self._load(day.year, day.year)
        return day.weekday() < 5 and day not in self._holidays

    def _position(self, moment: datetime) -> float:
        """Working days from an arbitrary origin to ``moment``: only differences mean anything."""
        local = moment.astimezone(WIB)
        day = local.date()
        weeks, rest = divmod((day - _EPOCH).days, 7)
        position = float(5 * weeks + min(rest, 5) - bisect_left(self._weekday_holidays, day))
        if self.is_working_day(day):
            position += (local - datetime.combine(day, time(0), WIB)) / _DAY
        return position

    def working_days(self, start: datetime, end: datetime) -> float:
        """Working time from ``start`` to ``end`` in days; 0 when ``end`` is not later."""
        if end <= start:
            return 0.0
        self._load(start.astimezone(WIB).year, end.astimezone(WIB).year)
        return self._position(end) - self._position(start)
