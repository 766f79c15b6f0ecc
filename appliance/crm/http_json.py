"""One GET to a CRM answered by a JSON object: the shape every CRM look-up here shares (the VIP look-up, the
screen pop's customer look-up). A caller never waits past `timeout`, and every way it can go wrong — time-out,
connection refused, an HTTP error status, a body that is not a JSON object — is one `LookupFailed`, which
each look-up answers with its own fallback."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx


class LookupFailed(Exception):
    pass


async def get_object(client: httpx.AsyncClient, url: str, params: Mapping[str, str], timeout: float,
                     *, missing: frozenset[int] = frozenset()) -> dict[str, Any] | None:
    """The CRM's JSON object, or None when it answered one of the `missing` statuses (e.g. 404: no such
    record)."""
    try:
        response = await client.get(url, params=dict(params), timeout=timeout)
        if response.status_code in missing:
            return None
        response.raise_for_status()
        body = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise LookupFailed(str(exc) or type(exc).__name__) from exc
    if not isinstance(body, dict):
        raise LookupFailed("the CRM's answer is not a JSON object")
    return body
