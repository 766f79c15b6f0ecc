"""Shared helpers for the SIP tests: a running SipService on free ports and a UDP peer socket."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from appliance.events import Event, EventBus
from appliance.sip.digest import InMemoryCredentials
from appliance.sip.errors import SipParseError
from appliance.sip.message import SipMessage
from appliance.sip.models import SipConfig, TrunkConfig
from appliance.sip.parser import parse
from appliance.sip.security import SecurityPolicy
from appliance.sip.service import SipService

FIXTURES = Path(__file__).parent / "fixtures"
REALM = "appliance.test"


class UdpPeer(asyncio.DatagramProtocol):
    """A bare UDP socket for tests: send bytes, await parsed messages."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[bytes, tuple[str, int]]] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.queue.put_nowait((data, addr))

    @property
    def port(self) -> int:
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])

    def send(self, data: bytes, port: int) -> None:
        assert self.transport is not None
        self.transport.sendto(data, ("127.0.0.1", port))

    async def recv(self, timeout: float = 2.0) -> SipMessage:
        data, _ = await asyncio.wait_for(self.queue.get(), timeout)
        try:
            return parse(data)
        except SipParseError as e:
            # our 400s echo the peer's broken headers on purpose; read them leniently here
            assert e.message is not None
            return e.message

    async def final(self, timeout: float = 2.0) -> SipMessage:
        """The next final (>= 200) response, skipping provisional ones."""
        while True:
            m = await self.recv(timeout)
            if m.method is None and m.status >= 200:
                return m

    async def nothing(self, wait: float = 0.3) -> bool:
        try:
            await asyncio.wait_for(self.queue.get(), wait)
        except TimeoutError:
            return True
        return False

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def udp_peer() -> UdpPeer:
    loop = asyncio.get_running_loop()
    _, proto = await loop.create_datagram_endpoint(UdpPeer, local_addr=("127.0.0.1", 0))
    return proto


@dataclass
class Running:
    service: SipService
    bus: EventBus
    creds: InMemoryCredentials
    events: list[Event] = field(default_factory=list)

    @property
    def udp(self) -> int:
        return self.service.ports["UDP"]

    def of(self, kind: type[Event]) -> list[Event]:
        return [e for e in self.events if isinstance(e, kind)]


def make_config(trusted: bool = False, **kw: object) -> SipConfig:
    trunks = (TrunkConfig(name="local", host="127.0.0.1", ip_networks=(ipaddress.ip_network("127.0.0.1/32"),)),) \
        if trusted else ()
    base: dict[str, object] = dict(
        realm=REALM, listen_host="127.0.0.1", udp_port=0, tcp_port=0, tls_port=None, trunks=trunks,
        security=SecurityPolicy(rate_per_source=10_000, burst_per_source=10_000), qualify_interval=0,
        auth_algorithms=("MD5", "SHA-256"),
    )
    base.update(kw)
    return SipConfig(**base)  # type: ignore[arg-type]


async def start_service(tmp: Path, config: SipConfig) -> Running:
    creds = InMemoryCredentials()
    creds.add("1001", "secret1001", REALM)
    creds.add("1002", "secret1002", REALM)
    bus = EventBus()
    svc = SipService(config, creds, tmp, bus)
    run = Running(svc, bus, creds)
    bus.subscribe(run.events.append)
    await svc.start()
    return run


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[Running]:
    run = await start_service(tmp_path, make_config())
    yield run
    await run.service.stop()


@pytest.fixture
async def peer() -> AsyncIterator[UdpPeer]:
    p = await udp_peer()
    yield p
    p.close()


def options(port: int, n: int = 1) -> bytes:
    return (
        f"OPTIONS sip:probe@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKprobe{n};rport\r\n"
        f"Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=p{n}\r\nTo: <sip:probe@127.0.0.1>\r\n"
        f"Call-ID: probe-{n}@test\r\nCSeq: {n} OPTIONS\r\nContent-Length: 0\r\n\r\n"
    ).encode()
