"""The small toolkit the city adapters share (``adapters/local/common.py``), and what each
adapter must keep saying the same way while it leans on it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from adapters import registry
from adapters.local.common import (
    STATUS_GLOSSES,
    AppConfig,
    AppSource,
    get_photo,
    list_field,
    model_refusals,
    rate_limiter,
    status_names,
)
from bridge.core.errors import NormalizeError, NotFound, Rejected
from bridge.core.model import Attachment, Complaint, Status
from bridge.core.ports import RawRecord
from bridge.runtime.http import Endpoint, make_client
from tests.kits import FAST

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


def test_rate_limiter_bursts_one_seconds_worth() -> None:
    assert (rate_limiter(10.0).rate, rate_limiter(10.0).burst) == (10.0, 10)
    assert rate_limiter(2.5).burst == 2
    assert rate_limiter(0.2).burst == 1  # a slow app still sends one at a time


# AppSource: a made-up app on a mock transport ---------------------------------------


def _normalize(
    payload: Mapping[str, Any],
    *,
    source: str,
    region: str,
    categories: Mapping[str, str] | None = None,
) -> Complaint:
    return _complaint(
        source=source, region=region, local_id=str(payload["id"]), category=(categories or {})["x"]
    )


class _App(AppSource[AppConfig]):
    def _record(self, local_id: str) -> RawRecord:
        response = self.endpoint.send("GET", f"/records/{local_id}")
        if response.status_code == 404:
            raise NotFound(404, "no such record")
        return RawRecord(local_id, response.json())


class _KeylessApp(_App):
    sends_credentials = False


def _app(cls: type[_App] = _App) -> tuple[_App, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/api/records/7":
            return httpx.Response(200, json={"id": 7})
        if "/media/" in request.url.path:
            return httpx.Response(200, content=b"jpeg")
        return httpx.Response(404, json={})

    config = AppConfig(
        account="kota",
        base_url="https://app.example/api",
        location_id=34,
        categories={"x": "KESEHATAN"},
    )
    client = make_client(config.base_url, transport=httpx.MockTransport(handler))
    endpoint = Endpoint("app", client, rate_limiter(1000.0), FAST)
    return cls("city", config, endpoint, _normalize), seen


def test_app_source_has_its_name_and_its_configs_account() -> None:
    app, _ = _app()
    assert (app.name, app.account, app.config.location_id) == ("city", "kota", 34)


def test_app_source_fetch_answers_none_for_a_record_the_app_does_not_have() -> None:
    app, _ = _app()
    assert app.fetch("7") == RawRecord("7", {"id": 7})
    assert app.fetch("8") is None


def test_app_source_normalizes_with_its_name_region_and_categories() -> None:
    app, _ = _app()
    raw = app.fetch("7")
    assert raw is not None
    complaint = app.normalize(raw)
    assert (complaint.source, complaint.region, complaint.local_id) == ("city", "34", "7")
    assert complaint.category == "KESEHATAN"


@pytest.mark.parametrize(
    ("cls", "said"), [(_App, "credentials go nowhere else"), (_KeylessApp, "not fetched")]
)
def test_app_source_fetches_photos_only_from_its_origin(cls: type[_App], said: str) -> None:
    app, seen = _app(cls)
    assert app.fetch_attachment(Attachment(url="https://app.example/media/1.jpg")) == b"jpeg"
    assert app.fetch_attachment(Attachment(url="/media/2.jpg")) == b"jpeg"
    assert len(seen) == 2
    with pytest.raises(Rejected, match=said):
        app.fetch_attachment(Attachment(url="http://app.example/media/1.jpg"))
    assert len(seen) == 2  # nothing sent off the origin


def test_app_source_creates_synchronously_and_closes_its_client() -> None:
    app, _ = _app()
    assert app.poll_created("any token") is None
    app.close()
    assert app.endpoint.client.is_closed


def test_get_photo_refuses_an_error_answer() -> None:
    app, _ = _app()
    assert get_photo(app.endpoint, "/media/3.jpg") == b"jpeg"
    with pytest.raises(Rejected, match="photo answered HTTP 404"):
        get_photo(app.endpoint, "/elsewhere.jpg")


def test_app_config_refuses_a_key_the_app_does_not_know() -> None:
    with pytest.raises(ValueError, match="rate_boost"):
        AppConfig.model_validate(
            {"account": "a", "base_url": "https://x", "location_id": 1, "rate_boost": 2}
        )


def test_list_field_reads_null_as_empty_and_refuses_anything_else() -> None:
    assert list_field(None, "foto") == []
    assert list_field(["a", 1], "foto") == ["a", 1]
    for value in ("a.jpg", {"url": "a.jpg"}, ("a.jpg",), ""):
        with pytest.raises(NormalizeError, match=r"^foto is not a list$"):
            list_field(value, "foto")
