"""Interop with a baresip phone: it registers with digest, calls the test target (407 challenge answered),
sends DTMF and hangs up.

baresip 1.0 sends DTMF only as RFC 4733 telephone-events in RTP (it has no SIP INFO mode), so the test plays
the media end itself: the test target's SDP answer points at a UDP socket of this test, which decodes the
telephone-event packets. That proves the offer/answer negotiated telephone-event and the digits went out on
the call the appliance set up; SIP INFO DTMF is covered by the core tests.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from appliance.sip import events as ev
from tests.baresip_peer import baresip_modules, free_pair, tone

from .conftest import Running, make_config, start_service
from .minirouter import MiniRouter

MODULES = baresip_modules()
pytestmark = [pytest.mark.interop, pytest.mark.slow,
              pytest.mark.skipif(MODULES is None, reason="baresip (with its modules) is not installed")]
EVENT_DIGITS = "0123456789*#"


def free_tcp() -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    p = int(s.getsockname()[1])
    s.close()
    return p


class RtpSink(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.packets = 0
        self.events: list[tuple[int, int]] = []  # (rtp timestamp, event)
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(data) < 12 or data[0] >> 6 != 2:
            return
        self.packets += 1
        pt = data[1] & 0x7F
        cc = data[0] & 0x0F
        off = 12 + 4 * cc
        if data[0] & 0x10 and len(data) >= off + 4:
            off += 4 + 4 * struct.unpack("!H", data[off + 2 : off + 4])[0]
        if pt == 101 and len(data) >= off + 4:
            ts = struct.unpack("!I", data[4:8])[0]
            if not any(t == ts for t, _ in self.events):
                self.events.append((ts, data[off]))

    @property
    def digits(self) -> str:
        return "".join(EVENT_DIGITS[e] if e < len(EVENT_DIGITS) else "?" for _, e in self.events)


async def ctrl(port: int, command: str, params: str = "") -> dict[str, object]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    body = json.dumps({"command": command, "params": params, "token": "t"}).encode()
    writer.write(str(len(body)).encode() + b":" + body + b",")
    await writer.drain()
    data = b""
    while True:
        chunk = await asyncio.wait_for(reader.read(4096), 5)
        if not chunk:
            break
        data += chunk
        if b'"response"' in data and data.endswith(b","):
            break
    writer.close()
    start = data.find(b'{"response"')
    if start < 0:
        start = data.find(b"{")
    end = data.rfind(b"}")
    return json.loads(data[start : end + 1]) if start >= 0 and end > start else {}


async def wait_for(pred: object, timeout: float) -> bool:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        if pred():  # type: ignore[operator]
            return True
        await asyncio.sleep(0.1)
    return bool(pred())  # type: ignore[operator]


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[tuple[Running, RtpSink, MiniRouter]]:
    loop = asyncio.get_running_loop()
    transport, sink = await loop.create_datagram_endpoint(RtpSink, local_addr=("127.0.0.1", 0))
    media_port = int(transport.get_extra_info("sockname")[1])
    # baresip 1.0 gives up when any challenge names SHA-256, so this phone gets MD5 only
    run = await start_service(tmp_path / "data", make_config(auth_algorithms=("MD5",), tls_port=0))
    router = MiniRouter(run.service, hangup_after=0, media_port=media_port)
    run.service.on_event = router.on_event
    yield run, sink, router
    router.close()
    await run.service.stop()
    transport.close()


@pytest.mark.parametrize("transport", ["udp", "tls"])
async def test_baresip_registers_calls_sends_dtmf_and_hangs_up(
        setup: tuple[Running, RtpSink, MiniRouter], tmp_path: Path, transport: str) -> None:
    """Over UDP, and over TLS with the certificate the appliance made for itself on first start."""
    run, sink, _ = setup
    port = run.service.ports[transport.upper()]
    suffix = ";transport=tls" if transport == "tls" else ""
    phone_dir = tmp_path / "phone"
    phone_dir.mkdir()
    tone(phone_dir / "tone.wav")
    sip_port, ctrl_port = free_pair(), free_tcp()
    (phone_dir / "config").write_text(f"""
sip_listen 127.0.0.1:{sip_port}
audio_source aufile,{phone_dir / 'tone.wav'}
audio_player aubridge,a
audio_srate 8000
audio_channels 1
rtp_ports 30000-30100
module_path {MODULES}
module g711.so
module aufile.so
module aubridge.so
module ctrl_tcp.so
module menu.so
module_app account.so
ctrl_tcp_listen 127.0.0.1:{ctrl_port}
""")
    (phone_dir / "accounts").write_text(
        f"<sip:1001@127.0.0.1:{port}{suffix}>;auth_pass=secret1001;regint=300;answermode=manual\n")
    proc = await asyncio.create_subprocess_exec(
        "baresip", "-f", str(phone_dir), "-t", "60", cwd=str(phone_dir),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        core = run.service.core
        # 1. it registers (digest challenge answered)
        assert await wait_for(lambda: bool(core.registrar.lookup("1001", run.service.clock.monotonic())), 15)
        assert any(isinstance(e, ev.RegistrationChanged) and e.extension == "1001" for e in run.events)
        # 2. it calls the test target; the INVITE is challenged (407) and authenticated as 1001
        await ctrl(ctrl_port, "dial", f"sip:9999@127.0.0.1:{port}{suffix}")
        assert await wait_for(lambda: any(isinstance(e, ev.LegAnswered) for e in run.events), 15)
        (call,) = [e for e in run.events if isinstance(e, ev.IncomingCall)]
        assert call.extension == "1001" and call.callee == "9999" and call.transport == transport.upper()
        assert await wait_for(lambda: sink.packets > 10, 10), "no RTP from the phone"
        # 3. DTMF
        for digit in "159#":
            await ctrl(ctrl_port, "sndcode", digit)
            await asyncio.sleep(0.4)
        assert await wait_for(lambda: sink.digits == "159#", 5), sink.digits
        # 4. hang up from the phone
        await ctrl(ctrl_port, "hangup")
        assert await wait_for(lambda: any(isinstance(e, ev.LegEnded) for e in run.events), 10)
        (ended,) = [e for e in run.events if isinstance(e, ev.LegEnded)]
        assert ended.cause == "hangup_remote" and ended.leg_id == call.leg_id
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except TimeoutError:
                proc.kill()
                await proc.wait()
