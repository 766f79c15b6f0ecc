"""The SNMP agent on pysnmp 7 (asyncio): command responders for GET, GETNEXT and GETBULK (RFC 3416) over
v2c communities and v3 USM users (RFC 3414, authPriv with SHA-2 and AES, RFC 7860 / RFC 3826), with VACM
(RFC 3415) read views, serving the rows of `appliance.snmp.view`.

pysnmp's own MIB instrumentation wants one object per managed instance; our tables change with the
configuration and the alarms, so the context is served by `RowInstrum`, which looks rows up in a sorted
snapshot rebuilt at most every `max_age` seconds. Requests from outside the allowed networks are dropped
before pysnmp parses them.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from typing import Any

from pysnmp.carrier.asyncio.dgram import udp, udp6
from pysnmp.entity import config, engine
from pysnmp.entity.rfc3413 import cmdrsp, context
from pysnmp.proto import rfc1902, rfc1905
from pysnmp.smi import error as smi_error

from appliance.snmp.models import SnmpSettings
from appliance.snmp.peek import principal
from appliance.snmp.view import (
    COUNTER,
    COUNTER64,
    GAUGE,
    INT,
    OCTETS,
    OID,
    STR,
    TICKS,
    UNSIGNED,
    Row,
    RowIndex,
)

log = logging.getLogger(__name__)

AUTH = {"sha": config.USM_AUTH_HMAC96_SHA, "sha224": config.USM_AUTH_HMAC128_SHA224,
        "sha256": config.USM_AUTH_HMAC192_SHA256, "sha384": config.USM_AUTH_HMAC256_SHA384,
        "sha512": config.USM_AUTH_HMAC384_SHA512}
PRIV = {"aes128": config.USM_PRIV_CFB128_AES, "aes192": config.USM_PRIV_CFB192_AES_BLUMENTHAL,
        "aes256": config.USM_PRIV_CFB256_AES_BLUMENTHAL}
READ_VIEW = (1, 3, 6, 1)

_TYPES: dict[str, Callable[[Any], Any]] = {
    STR: lambda v: rfc1902.OctetString(v.encode()), OCTETS: rfc1902.OctetString, INT: rfc1902.Integer32,
    GAUGE: rfc1902.Gauge32, COUNTER: rfc1902.Counter32, COUNTER64: rfc1902.Counter64, TICKS: rfc1902.TimeTicks,
    UNSIGNED: rfc1902.Unsigned32, OID: rfc1902.ObjectIdentifier,
}


def to_value(row: Row) -> Any:
    return _TYPES[row[1]](row[2])


class RowInstrum:
    """The MIB instrumentation pysnmp's command responders call (read_variables / read_next_variables)."""

    def __init__(self, snapshot: Callable[[], RowIndex]) -> None:
        self._snapshot = snapshot
        self.requests = 0

    def _denied(self, name: Any, value: Any, idx: int, ctx: dict[str, Any]) -> bool:
        ac = ctx.get("acFun")
        if ac is None:
            return False
        try:
            return bool(ac("read", (name, value), **{**ctx, "idx": idx}))
        except smi_error.NoAccessError:
            return True

    def read_variables(self, *var_binds: Any, **ctx: Any) -> list[tuple[Any, Any]]:
        self.requests += 1
        index = self._snapshot()
        out = []
        for i, (name, _) in enumerate(var_binds):
            row = index.get(tuple(name))
            if row is None:
                out.append((name, rfc1905.noSuchObject))
                continue
            value = to_value(row)
            out.append((name, rfc1905.noSuchObject if self._denied(name, value, i, ctx) else value))
        return out

    def read_next_variables(self, *var_binds: Any, **ctx: Any) -> list[tuple[Any, Any]]:
        self.requests += 1
        index = self._snapshot()
        out = []
        for i, (name, _) in enumerate(var_binds):
            oid = tuple(name)
            while True:
                row = index.next(oid)
                if row is None:
                    out.append((name, rfc1905.endOfMibView))
                    break
                value, next_name = to_value(row), rfc1902.ObjectName(row[0])
                if self._denied(next_name, value, i, ctx):
                    oid = row[0]
                    continue
                out.append((next_name, value))
                break
        return out

    def write_variables(self, *var_binds: Any, **ctx: Any) -> list[tuple[Any, Any]]:
        raise smi_error.NotWritableError(name=var_binds[0][0] if var_binds else (), idx=0)


def _filtered(base: type[Any]) -> type[Any]:
    class Filtered(base):  # type: ignore[misc]
        """Drops datagrams from outside the allowed networks before pysnmp parses them."""

        allows: Callable[[str, bytes], bool] = staticmethod(lambda _a, _d: True)
        dropped = 0

        busy_max = 0.0  # longest time one datagram held the event loop (decode, answer, encode), seconds
        busy_total = 0.0
        handled = 0

        def datagram_received(self, datagram: bytes, address: Any) -> None:
            if not self.allows(str(address[0]), datagram):
                self.dropped += 1
                return
            self.loop.call_soon(self._timed, datagram, address)

        def _timed(self, datagram: bytes, address: Any) -> None:
            t0 = time.perf_counter()
            try:
                if self._callback_function is not None:
                    self._callback_function(self, address, datagram)
            finally:
                took = time.perf_counter() - t0
                self.busy_total += took
                self.busy_max = max(self.busy_max, took)
                self.handled += 1

    return Filtered


FilteredUdp = _filtered(udp.UdpAsyncioTransport)
FilteredUdp6 = _filtered(udp6.Udp6AsyncioTransport)


def engine_id_of(pen: int, local: bytes) -> bytes:
    """RFC 3411 SnmpEngineID: the enterprise number with the top bit set, format 5 (octets), then 8 octets
    kept in the data directory (the engine ID must not change: v3 receivers know the box by it)."""
    return (0x80000000 | pen).to_bytes(4, "big") + b"\x05" + local


def load_engine_local(path: Any) -> bytes:
    """The 8 octets of this box's engine ID, made once (blocking: call on a worker thread)."""
    try:
        data = path.read_bytes()
        if len(data) == 8:
            return bytes(data)
    except FileNotFoundError:
        pass
    data = os.urandom(8)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return data


class Agent:
    """A pysnmp engine with its responders, bound to one UDP socket."""

    def __init__(self, settings: SnmpSettings, engine_id: bytes, snapshot: Callable[[], RowIndex]) -> None:
        self.settings = settings
        self.engine = engine.SnmpEngine(snmpEngineID=rfc1902.OctetString(engine_id))
        self.instrum = RowInstrum(snapshot)
        self.transport: Any = None
        self.sock: socket.socket | None = None

    def open(self, host: str, port: int) -> int:
        """Bind and configure; returns the bound port. Runs on the event loop (no blocking work in here)."""
        e, s = self.engine, self.settings
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        sock.setblocking(False)
        sock.bind((host, port))
        self.sock = sock
        cls, domain = (FilteredUdp6, udp6.DOMAIN_NAME) if family == socket.AF_INET6 else (FilteredUdp, udp.DOMAIN_NAME)
        transport = cls()
        receivers = frozenset(r.host for r in s.trap_receivers)  # their inform acknowledgements come back here
        transport.allows = lambda address, datagram: address in receivers or s.admits(address, principal(datagram))
        self.transport = transport
        config.add_transport(e, domain, transport.open_server_mode(sock=sock))
        for n, community in enumerate(s.communities):
            area = f"community-{n}"
            config.add_v1_system(e, area, community.name)
            config.add_vacm_user(e, 2, area, "noAuthNoPriv", READ_VIEW)
        for u in s.users:
            config.add_v3_user(e, u.name, AUTH[u.auth_protocol], u.auth_key, PRIV[u.priv_protocol], u.priv_key)
            config.add_vacm_user(e, 3, u.name, "authPriv", READ_VIEW)
        ctx = context.SnmpContext(e)
        ctx.unregister_context_name(b"")
        ctx.register_context_name(b"", self.instrum)
        cmdrsp.GetCommandResponder(e, ctx)
        cmdrsp.NextCommandResponder(e, ctx)
        cmdrsp.BulkCommandResponder(e, ctx)
        return int(sock.getsockname()[1])

    @property
    def dropped(self) -> int:
        return int(self.transport.dropped) if self.transport is not None else 0

    def load(self) -> tuple[int, float, float]:
        """Datagrams handled, longest and total time they held the event loop (seconds)."""
        t = self.transport
        return (0, 0.0, 0.0) if t is None else (int(t.handled), float(t.busy_max), float(t.busy_total))

    def close(self) -> None:
        self.engine.close_dispatcher()
        if self.sock is not None:
            self.sock.close()
            self.sock = None
