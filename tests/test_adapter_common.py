"""The small toolkit the city adapters share (``adapters/local/common.py``), and what each
adapter must keep saying the same way while it leans on it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import BaseModel

from adapters import registry
from adapters.local.common import STATUS_GLOSSES, model_refusals, status_names
from bridge.core.errors import NormalizeError
from bridge.core.model import Complaint, Status

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


def _complaint(**changes: object) -> Complaint:
    fields: dict[str, object] = {
        "source": "kota",
        "local_id": "7",
        "title": "",
        "content": "Lampu jalan mati",
        "category": "PERHUBUNGAN/LAMPU PENERANGAN JALAN UMUM",
        "status": Status.SUBMITTED,
        "local_status": "baru",
        "region": "34",
        "created_at": datetime(2026, 1, 5, tzinfo=UTC),
        "updated_at": datetime(2026, 1, 5, tzinfo=UTC),
    }
    return Complaint.model_validate({**fields, **changes})


def test_model_refusals_name_the_field_and_never_the_value() -> None:
    with pytest.raises(NormalizeError) as caught, model_refusals():
        _complaint(content=["08123456789"])
    assert str(caught.value).startswith("content: ")
    assert "08123456789" not in str(caught.value)  # the input may be personal data
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_model_refusals_let_a_complaint_and_other_errors_through() -> None:
    with model_refusals():
        built = _complaint()
    assert built.local_id == "7"
    with pytest.raises(KeyError), model_refusals():
        raise KeyError("not the model's refusal")


def test_model_refusals_name_the_field_of_any_model() -> None:
    class Other(BaseModel):
        n: int

    with pytest.raises(NormalizeError, match=r"^n: "), model_refusals():
        Other.model_validate({"n": "many"})
