"""The small toolkit the city adapters share (``adapters/local/common.py``), and what each
adapter must keep saying the same way while it leans on it."""

from __future__ import annotations

import pytest

from adapters import registry
from adapters.local.common import STATUS_GLOSSES, status_names

#: each app's raw statuses as the auditor reads them in the HTML report, to the letter
STATUS_NAMES = {
    "tanjak": {
        "baru": "Baru (new)",
        "diverifikasi": "Diverifikasi (verified)",
        "diproses": "Diproses (in progress)",
        "selesai": "Selesai (done)",
        "ditolak": "Ditolak (rejected)",
    },
    "ujar": {
        "0": "Baru (new)",
        "1": "Terverifikasi (verified)",
        "2": "Diproses (in progress)",
        "3": "Selesai (done)",
        "9": "Ditolak (rejected)",
    },
    "sambat": {
        "Menunggu": "Menunggu (waiting)",
        "Diverifikasi": "Diverifikasi (verified)",
        "Diproses": "Diproses (in progress)",
        "Selesai": "Selesai (done)",
        "Ditolak": "Ditolak (rejected)",
    },
    "open311": {
        "open": "Open (dibuka)",
        "in_progress": "In progress (diproses)",
        "action_scheduled": "Action scheduled (dijadwalkan)",
        "investigating": "Investigating (diperiksa)",
        "internal_referral": "Internal referral (dirujuk)",
        "closed": "Closed (ditutup)",
        "fixed": "Fixed (diperbaiki)",
        "duplicate": "Duplicate (duplikat)",
        "not_councils_responsibility": "Not the council's responsibility (bukan wewenang)",
        "no_further_action": "No further action (tidak dilanjutkan)",
        "cancelled": "Cancelled (dibatalkan)",
        "reopen": "Reopened (dibuka kembali)",
    },
}


@pytest.mark.parametrize("kind", sorted(STATUS_NAMES))
def test_each_app_names_its_statuses_for_the_auditor_as_before(kind: str) -> None:
    names = registry.KINDS[kind].status_names
    assert dict(names) == STATUS_NAMES[kind]
    assert list(names) == list(STATUS_NAMES[kind])  # and in the same order


def test_status_names_gloss_each_word_whatever_its_case_and_key() -> None:
    assert status_names({"diproses": "diproses", "Ditolak": "Ditolak"}) == {
        "diproses": "Diproses (in progress)",
        "Ditolak": "Ditolak (rejected)",
    }
    assert status_names({1: "TERVERIFIKASI", 9: "ditolak"}) == {
        "1": "Terverifikasi (verified)",  # keys as the report's local_status holds them
        "9": "Ditolak (rejected)",
    }


def test_status_names_refuse_a_word_without_a_gloss() -> None:
    assert "dibatalkan" not in STATUS_GLOSSES
    with pytest.raises(KeyError):
        status_names({"dibatalkan": "dibatalkan"})
