"""Keys in the path are percent-decoded once at the edge: a number kept with `+` or `#` (the VIP list, the
blacklist) is reachable by the address a browser builds for it (`encodeURIComponent` encodes both), and what
the route looks up is the key itself."""

from __future__ import annotations

from urllib.parse import quote

from tests.api_client import Client


async def test_numbers_with_plus_or_hash_are_reachable_by_their_encoded_address(admin: Client) -> None:
    for kind, number in (("vip_list", "*#8613800138000"), ("blacklist", "+4001234567")):
        status, _ = await admin.call("POST", f"/api/v1/{kind}", {"number": number, "name": "x"}
                                     if kind == "vip_list" else {"number": number})
        assert status == 201
        status, entry = await admin.call("GET", f"/api/v1/{kind}/{quote(number, safe='')}")
        assert status == 200 and entry["number"] == number
        status, _ = await admin.call("DELETE", f"/api/v1/{kind}/{quote(number, safe='')}")
        assert status == 204
        status, data = await admin.call("GET", f"/api/v1/{kind}/{quote(number, safe='')}")
        assert status == 404 and data["details"]["key"] == number
