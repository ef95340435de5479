"""Edges of the LAPOR client that the sandbox does not produce (httpx.MockTransport).

The sandbox writes tags as the bridge sent them; another server may hand them
back with the ``#`` of ``tags_raw``, in upper case, or as one string. Recovery
of a lost create searches by tag, so a tag written differently must still match.
"""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import SecretStr

from adapters.lapor.client import AccountConfig, LaporAccount, LaporConfig, connect
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
