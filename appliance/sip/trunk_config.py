"""The configuration's SIP trunks as the SIP stack takes them, and each leg's SRTP policy (the SIP edge of the
stored configuration)."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from appliance.domain import models as m
from appliance.sip.models import CallerIdRule, TrunkConfig


def sip_trunks(trunks: Iterable[m.Trunk]) -> tuple[TrunkConfig, ...]:
    """Enabled SIP trunks with a host; PRI and FXO trunks belong to their drivers."""
    out = []
    for t in trunks:
        if t.kind != m.TrunkKind.SIP or not t.enabled or not t.host:
            continue
        out.append(TrunkConfig(
            name=t.id, host=t.host, port=t.port, transport=t.transport.value.upper(),
            username=t.username or None, password=t.secret or None, register=t.register,
            ip_networks=tuple(ipaddress.ip_network(n, strict=False) for n in t.ip_auth_networks),
            outbound_caller_id=tuple(
                CallerIdRule(match_prefix=r.match_prefix, strip=len(r.match_prefix) if r.replace_with else r.strip,
                             prepend=r.replace_with or r.prepend)
                for r in t.caller_id_rules),
        ))
    return tuple(out)


class _Finder(Protocol):
    def find(self, kind: str, key: str) -> Any | None: ...


def srtp_policies(store: _Finder) -> Callable[[str | None, str | None], m.SrtpPolicy]:
    """The SRTP policy of a leg from the stored configuration (read from the store's in-memory snapshot on
    each new leg, so an edit applies to the next call): its extension's, else its trunk's, else offered."""

    def policy(extension: str | None, trunk: str | None) -> m.SrtpPolicy:
        if extension is not None and (ext := store.find("extensions", extension)) is not None:
            return ext.srtp  # type: ignore[no-any-return]
        if trunk is not None and (t := store.find("trunks", trunk)) is not None:
            return t.srtp  # type: ignore[no-any-return]
        return m.SrtpPolicy.OFFERED

    return policy
