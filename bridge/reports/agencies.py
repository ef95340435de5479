"""Agencies (OPD) as the SLA report counts them: one per (account, canonical name).

Each app names an agency its own way: Tanjak a short code (``opd``: ``PUPR``),
Sambat the full name (``skpd_tujuan``), Ujar the signature of the agency's first
response (``by``), Open311 ``agency_responsible``; LAPOR's dispositions add the
city's name (``Dinas Lingkungan Hidup Kota Malang``). :class:`AgencyNames` turns
any of them into one canonical name per account:

1. the account's alias table (``[lapor.accounts.NAME.agencies]``: code or spelling →
   canonical name), then the built-in table :data:`BUILTIN` of the codes the sample
   cities use; keys compared without regard to case, spaces or punctuation;
2. else the name with the account's city (``Kota Malang``, from its ``institution``)
   taken off its end, matched again against the canonical names, so a LAPOR
   disposition name meets the app's;
3. else the name as written (spaces collapsed).

The same name in two accounts stays two agencies: the report keys on the account too.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

#: how the report names a complaint that no agency holds yet
NOT_ASSIGNED = "(not yet assigned)"

PUPR = "Dinas Pekerjaan Umum dan Penataan Ruang"
PERKIM = "Dinas Perumahan dan Kawasan Permukiman"
DUKCAPIL = "Dinas Kependudukan dan Pencatatan Sipil"

#: the codes Tanjungpinang's apps (Tanjak ``opd``, Ujar ``by``) and Malang's Sambat use,
#: and their common variants, to the agency's full name (Permendagri 90/2019 naming)
BUILTIN: dict[str, str] = {
    "PUPR": PUPR,
    "DPUPR": PUPR,
    "DISPUPR": PUPR,
    "DINAS PUPR": PUPR,
    "DLH": "Dinas Lingkungan Hidup",
    "PERKIM": PERKIM,
    "DISPERKIM": PERKIM,
    "DPKPP": PERKIM,
    "DPRKP": PERKIM,
    "DISHUB": "Dinas Perhubungan",
    "DISKOMINFO": "Dinas Komunikasi dan Informatika",
    "KOMINFO": "Dinas Komunikasi dan Informatika",
    "DINSOS": "Dinas Sosial",
    "DINKES": "Dinas Kesehatan",
    "DISDIK": "Dinas Pendidikan",
    "DISDIKBUD": "Dinas Pendidikan dan Kebudayaan",
    "DISDUKCAPIL": DUKCAPIL,
    "DISPENDUKCAPIL": DUKCAPIL,
    "DUKCAPIL": DUKCAPIL,
    "DPMPTSP": "Dinas Penanaman Modal dan Pelayanan Terpadu Satu Pintu",
    "SATPOL PP": "Satuan Polisi Pamong Praja",
    "BPBD": "Badan Penanggulangan Bencana Daerah",
}

_NOT_WORD = re.compile(r"[\W_]+")
_SPACES = re.compile(r"\s+")


def fold(name: str) -> str:
    """A name as compared: NFKC, case-folded, punctuation and spaces dropped."""
    return _NOT_WORD.sub("", unicodedata.normalize("NFKC", name).casefold())


def city_of(institution: str) -> str:
    """``Pemerintah Kota Malang`` → ``Kota Malang``: the words LAPOR adds to its names."""
    return re.sub(r"^\s*pemerintah\s+", "", institution, flags=re.IGNORECASE).strip()


class AgencyNames:
    """The canonical agency names of one account."""

    def __init__(self, aliases: Mapping[str, str] | None = None, institution: str = "") -> None:
        table: dict[str, str] = {}
        for canonical in BUILTIN.values():
            table[fold(canonical)] = canonical
        for key, canonical in BUILTIN.items():
            table[fold(key)] = canonical
        for key, canonical in (aliases or {}).items():
            clean = _SPACES.sub(" ", canonical).strip()
            table[fold(clean)] = clean
            table[fold(key)] = clean
        self._table = table
        self._configured = frozenset(table[fold(k)] for k in (aliases or {}))
        city = fold(city_of(institution)) if institution.strip() else ""
        self._city = city

    def configured(self) -> frozenset[str]:
        """The canonical names the account's alias table gives."""
        return self._configured

    def canonical(self, name: str | None) -> str:
        """The canonical name of ``name``; :data:`NOT_ASSIGNED` when there is none."""
        written = _SPACES.sub(" ", name or "").strip()
        key = fold(written)
        if not key:
            return NOT_ASSIGNED
        found = self._table.get(key)
        if found is not None:
            return found
        if self._city and key.endswith(self._city) and len(key) > len(self._city):
            found = self._table.get(key.removesuffix(self._city))
            if found is not None:
                return found
            return _strip_city(written, self._city)
        return written


def _strip_city(written: str, city: str) -> str:
    """``written`` without its trailing city words (those whose fold is ``city``)."""
    words = written.split(" ")
    for cut in range(len(words) - 1, 0, -1):
        if fold(" ".join(words[cut:])) == city:
            return " ".join(words[:cut])
    return written
