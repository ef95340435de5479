"""Edges of the LAPOR client that the sandbox does not produce (httpx.MockTransport).

Another server may write what the sandbox does not: tags with the ``#`` of
``tags_raw``, in capitals or as one string (recovery of a lost create searches
by tag); a JSON answer under another content type, or without ``success``.
Liberal in what is read, the client still tells an HTML page from an answer,
and a create whose answer does not show the complaint is in doubt, not a crash.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from adapters.lapor.client import AccountConfig, LaporAccount, LaporConfig, connect
from bridge.errors import Ambiguous, Rejected, Unavailable
from bridge.ports import CreateRequest
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

    return _connect(answer)


def _connect(answer: Callable[[httpx.Request], httpx.Response]) -> LaporAccount:
    accounts = connect(
        LaporConfig(base_url="http://lapor.test"),
        {
            "tpi": AccountConfig(
                api_secret=SecretStr("s"), token=SecretStr(TOKEN), institution="Kota"
            )
        },
        policy=FAST,
        transport=httpx.MockTransport(answer),
    )
    return accounts["tpi"]


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


REQUEST = CreateRequest(tag="ext-tanjak-7", body={"title": "Lampu jalan mati"})


def test_a_create_answered_as_plain_text_is_still_lapor_s_answer() -> None:
    created = {"success": True, "results": {"complaint": _complaint(9165816, ["ext-tanjak-7"])}}
    account = _connect(
        lambda _: httpx.Response(
            201, text=json.dumps(created), headers={"content-type": "text/plain"}
        )
    )
    try:
        assert account.create(REQUEST).id == 9165816
    finally:
        account.close()


def test_a_2xx_without_success_is_taken_and_one_saying_false_is_refused() -> None:
    silent = {"results": {"complaint": _complaint(9165817, [])}}
    account = _connect(lambda _: httpx.Response(201, json=silent))
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


def test_a_create_answer_without_its_complaint_is_in_doubt_not_a_crash() -> None:
    account = _connect(lambda _: httpx.Response(201, json={"success": True, "results": {}}))
    try:
        with pytest.raises(Ambiguous):
            account.create(REQUEST)
    finally:
        account.close()


def test_an_html_page_in_a_200_is_transient() -> None:
    page = httpx.Response(200, text="<html><body>Gateway</body></html>")
    account = _connect(lambda _: page)
    try:
        with pytest.raises(Unavailable):
            account.get(1)
    finally:
        account.close()
