"""Edges of the LAPOR client that the sandbox does not produce (httpx.MockTransport).

Another server may write what the sandbox does not: tags with the ``#`` of
``tags_raw``, in capitals or as one string; a JSON answer under another content
type, or without ``success``; every create answer shape lapor.md lists, status
names LAPOR may add, history entries in every form. Liberal in what is read,
the client still tells an HTML page from an answer, and a create whose answer
does not show the new id is in doubt, not a crash.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from adapters.lapor.client import (
    AccountConfig,
    LaporAccount,
    LaporConfig,
    archive_reason,
    connect,
    fill_template,
    parse_time,
    read_status,
)
from bridge.core.errors import Ambiguous, Rejected, Unavailable
from bridge.core.model import Status
from bridge.core.ports import CreateRequest, Photo
from bridge.core.timefmt import WIB
from tests.kits import FAST

TOKEN = "{6f1c2a9e-1b7d-4c1e-9d51-2b1f0c7e8a11}"


def _complaint(number: int, tags: Any) -> dict[str, Any]:
    return {
        "id": number,
        "status_code": 10,
        "tags": tags,
        "created_at": "28-09-2020 10:20:11",
        "updated_at": "28-09-2020 10:20:11",
    }


def _account(complaints: list[dict[str, Any]]) -> LaporAccount:
    def answer(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/complaints"
        body = {"success": True, "results": {"data": complaints, "next_page_url": None}}
        return httpx.Response(200, json=body)

    return _connect(answer, capabilities=["tag_search"])


def _connect(
    answer: Callable[[httpx.Request], httpx.Response], capabilities: list[str] | None = None
) -> LaporAccount:
    accounts = connect(
        LaporConfig(base_url="http://lapor.test", capabilities=capabilities or []),
        {
            "tpi": AccountConfig(
                api_secret=SecretStr("s"), token=SecretStr(TOKEN), user_id=7, institution="Kota"
            )
        },
        policy=FAST,
        transport=httpx.MockTransport(answer),
    )
    return accounts["tpi"]


def _read(number: int, **data: Any) -> httpx.Response:
    found = {"id": number, "status_name": "Belum Terverifikasi", **data}
    return httpx.Response(200, json={"success": True, "results": {"data": found}})


def test_a_tag_written_with_its_hash_or_in_capitals_is_found() -> None:
    account = _account(
        [
            _complaint(1, ["#tanjak", "#ext-tanjak-7"]),
            _complaint(2, "#TANJAK #EXT-TANJAK-7"),
            _complaint(3, ["tanjak", "ext-tanjak-70"]),  # another record's tag
            _complaint(4, None),
        ]
    )
    try:
        found = account.find_by_tag("ext-tanjak-7")
    finally:
        account.close()
    assert [t.id for t in found] == [1, 2]
    assert all(t.tags == ("tanjak", "ext-tanjak-7") for t in found)


def test_tags_of_another_shape_are_no_tags() -> None:
    account = _account([_complaint(1, {"tag": "ext-tanjak-7"}), _complaint(2, [7, ""])])
    try:
        assert account.find_by_tag("ext-tanjak-7") == []
    finally:
        account.close()


def test_without_the_capability_there_is_no_tag_search_at_all() -> None:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(200, json={"results": {"data": []}})

    account = _connect(answer)
    try:
        with pytest.raises(Unavailable, match="capabilities"):
            account.find_by_tag("ext-tanjak-7")
    finally:
        account.close()
    assert seen == []


REQUEST = CreateRequest(tag="ext-tanjak-7", body={"title": "Lampu jalan mati"})


@pytest.mark.parametrize(
    "answer",
    [
        {"success": True, "results": {"complaint": {"id": 9165816}}},
        {"complaint_id": 9165816, "success": True},
        {"complaint_id": "9165816"},
        {"data": {"complaint_id": 9165816}},
        {"results": {"complaint_id": 9165816}},
    ],
    ids=["results.complaint", "top-level", "top-level-string", "data", "results"],
)
def test_every_create_answer_shape_gives_the_id_in_one_request(
    answer: dict[str, Any],
) -> None:
    """Issue 19: the complaint is not read back; it is new, so waiting for the admin."""
    seen: list[str] = []

    def serve(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        return httpx.Response(200, text=json.dumps(answer))

    account = _connect(serve)
    try:
        ticket = account.create(REQUEST)
    finally:
        account.close()
    assert (ticket.id, ticket.status_code, ticket.status_name, ticket.markers) == (
        9165816,
        10,
        "Belum Terverifikasi",
        ("ext-tanjak-7",),
    )
    assert [s for s in seen if "/masters/" not in s] == ["POST /complaints/complaint"]


def test_a_create_answered_as_plain_text_is_still_lapor_s_answer() -> None:
    created = {"success": True, "results": {"complaint": _complaint(9165816, ["ext-tanjak-7"])}}

    def serve(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return _read(9165816)
        return httpx.Response(201, text=json.dumps(created), headers={"content-type": "text/plain"})

    account = _connect(serve)
    try:
        assert account.create(REQUEST).id == 9165816
    finally:
        account.close()


def test_a_2xx_without_success_is_taken_and_one_saying_false_is_refused() -> None:
    def silent(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return _read(9165817)
        return httpx.Response(201, json={"results": {"complaint": _complaint(9165817, [])}})

    account = _connect(silent)
    try:
        assert account.create(REQUEST).id == 9165817
    finally:
        account.close()
    refused = {"success": False, "message": "Akun tidak aktif"}
    account = _connect(lambda _: httpx.Response(200, json=refused))
    try:
        with pytest.raises(Rejected, match="Akun tidak aktif"):
            account.create(REQUEST)
    finally:
        account.close()


def test_a_create_answer_without_an_id_is_in_doubt_and_described_without_values() -> None:
    odd = {"success": True, "results": {"ticket": {"nomor": "Budi 0812345678"}}}
    account = _connect(lambda _: httpx.Response(201, json=odd))
    try:
        with pytest.raises(Ambiguous) as caught:
            account.create(REQUEST)
    finally:
        account.close()
    assert "results: {ticket: {nomor: str}}" in str(caught.value)
    assert "Budi" not in str(caught.value) and "0812" not in str(caught.value)


def test_an_html_page_in_a_200_is_transient() -> None:
    page = httpx.Response(200, text="<html><body>Gateway</body></html>")
    account = _connect(lambda _: page)
    try:
        with pytest.raises(Unavailable):
            account.get(1)
    finally:
        account.close()


def test_uploads_are_read_from_images_and_docs() -> None:
    answer = {"success": True, "results": {"images": [{"id": 5}, {"id": 6}], "docs": [{"id": 7}]}}
    account = _connect(lambda _: httpx.Response(200, json=answer))
    try:
        ids = account.upload([Photo("a.jpg", "image/jpeg", b"\xff\xd8\xff")])
    finally:
        account.close()
    assert ids == [5, 6, 7]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"status_name": "Terdisposisi ke Pemerintah Kota Tanjungpinang"}, Status.VERIFIED),
        ({"status_name": " Selesai ", "status_code": "30"}, Status.DONE),  # the name wins
        ({"status_name": "Selesai otomatis dalam 10 hari"}, None),  # not Selesai
        ({"status_name": "Menunggu Tanggapan Pelapor"}, None),  # unknown: moves nothing
        ({"status_code": "60"}, Status.DONE),  # no name: the (modelled) code
        ({"status_code": 90}, Status.REJECTED),
        ({}, None),
    ],
)
def test_statuses_are_read_by_name(data: dict[str, Any], expected: Status | None) -> None:
    assert read_status(data)[1] == expected


def test_history_entries_in_every_form_are_filled() -> None:
    entry = {
        "date": "29-09-2020 08:01:40",
        "content": "Laporan didisposisikan dari {{institution_from}} ke {{ institution_to }}",
        "institution_from": {"id": 1, "name": "Admin Nasional"},
        "institution_to_name": "Pemerintah Kota Tanjungpinang",
    }
    assert fill_template(entry) == (
        "Laporan didisposisikan dari Admin Nasional ke Pemerintah Kota Tanjungpinang"
    )
    odd = {"content": "Dari {{institution}} ({{ status_new }})", "institution_id": {"name": "X"}}
    assert fill_template(odd) == "Dari X ({{ status_new }})"  # what cannot be filled stays
    archived = {
        "content": "Diarsipkan: {{status_old}} → {{status_new}}, laporan ganda",
        "data": json.dumps(
            {"status_old": {"name": "Belum Terverifikasi"}, "status_new": {"name": "Diarsipkan"}}
        ),
    }
    later = {"content": "tindak lanjut", "status_old": {"name": "Diarsipkan"},
             "status_new": {"name": "Diarsipkan"}}  # fmt: skip
    assert archive_reason([entry, archived, later]) == (
        "Diarsipkan: Belum Terverifikasi → Diarsipkan, laporan ganda"
    )


def test_follow_ups_without_author_or_id_and_without_disposition_events() -> None:
    items = [
        {"content": "Didisposisikan", "created_at": "01-10-2020 08:00:00",
         "institution_from_name": "Admin Nasional", "template_code": "disposition"},
        {"content": "Mohon foto tambahan", "created_at": "01-10-2020 09:00:00",
         "institution_from_name": "Admin Nasional", "template_code": "reply"},
        {"id": 11, "content": "Sudah kami perbaiki", "created_at": "02-10-2020 09:00:00",
         "institution_from_name": "Kota", "template_code": "reply"},
        {"content": "Terima kasih", "created_at": "03-10-2020 09:00:00",
         "institution_from_name": None, "template_code": None},
    ]  # fmt: skip
    body = {"success": True, "results": {"data": items, "next_page_url": None}}
    account = _connect(lambda _: httpx.Response(200, json=body))
    try:
        got = account.follow_ups(1)
        again = account.follow_ups(1)
    finally:
        account.close()
    assert [(f.author, f.content) for f in got] == [
        ("admin", "Mohon foto tambahan"),
        ("instansi", "Sudah kami perbaiki"),
        ("pelapor", "Terima kasih"),
    ]
    assert got[1].id == "11" and got[0].id.startswith("h")
    assert [f.id for f in got] == [f.id for f in again]  # stable without LAPOR's ids


def test_follow_ups_without_id_alike_in_time_writer_template_and_words_are_one() -> None:
    """lapor.md: an item without ``id`` is identified by those four: two posted alike in one
    second are one follow-up (copied once); a second later they are two."""
    note = {"content": "Mohon segera ditindaklanjuti", "created_at": "01-10-2020 09:00:00",
            "institution_from_name": "Admin Nasional", "template_code": "reply"}  # fmt: skip
    later = {**note, "created_at": "01-10-2020 09:00:01"}
    body = {"success": True, "results": {"data": [note, dict(note), later], "next_page_url": None}}
    account = _connect(lambda _: httpx.Response(200, json=body))
    try:
        got = account.follow_ups(1)
    finally:
        account.close()
    assert len(got) == 3 and got[0].id == got[1].id != got[2].id


def test_a_next_page_on_another_origin_is_not_followed() -> None:
    page = {"success": True, "results": {"data": [], "next_page_url": "http://evil.test/x?page=2"}}
    account = _connect(lambda _: httpx.Response(200, json=page))
    try:
        with pytest.raises(Unavailable, match="another origin"):
            account.follow_ups(1)
    finally:
        account.close()


@given(st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9999, 12, 30)))
def test_lapor_times_read_as_strptime_reads_them(moment: datetime) -> None:
    text = moment.strftime("%d-%m-%Y %H:%M:%S")
    expected = datetime.strptime(text, "%d-%m-%Y %H:%M:%S").replace(tzinfo=WIB).astimezone(UTC)
    assert parse_time(text) == expected


def test_lapor_times_written_loosely_or_wrongly() -> None:
    assert parse_time("1-2-2020 7:05:00") == datetime(2020, 2, 1, 0, 5, tzinfo=UTC)
    # ISO 8601, as date_of_incident is written: with its offset, or WIB without one
    assert parse_time("2025-11-04T00:00:00.000000Z") == datetime(2025, 11, 4, tzinfo=UTC)
    assert parse_time("2020-09-28 10:15:00") == datetime(2020, 9, 28, 3, 15, tzinfo=UTC)
    for wrong in ("31-02-2020 10:00:00", "28-13-2020 10:00:00", "28/09/2020", ""):
        with pytest.raises(ValueError):
            parse_time(wrong)
