"""The asyncio shell: symmetric start/stop, TCP and TLS transports, self-signed certificate, persistence off
the event loop, health."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import threading
from pathlib import Path

import pytest

from appliance.health import Status
from appliance.sip import events as ev
from appliance.sip import service as service_module
from appliance.sip.digest import DigestClient
from appliance.sip.message import SipMessage
from appliance.sip.models import TrunkConfig
from appliance.sip.parser import StreamFramer, parse

from .conftest import REALM, Running, make_config, options, start_service, udp_peer


def _free(kind: int, port: int) -> bool:
    s = socket.socket(socket.AF_INET, kind)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


async def test_start_stop_releases_everything(tmp_path: Path) -> None:
    before = {t for t in asyncio.all_tasks() if not t.done()}
    run = await start_service(tmp_path, make_config(tls_port=0))
    ports = dict(run.service.ports)
    assert set(ports) == {"UDP", "TCP", "TLS"}
    # make it hold a TCP connection and a timer, then stop
    reader, writer = await asyncio.open_connection("127.0.0.1", ports["TCP"])
    writer.write(options(1).replace(b"UDP", b"TCP"))
    await writer.drain()
    await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2)
    assert run.service.open_handles() > 0
    await run.service.stop()
    await asyncio.sleep(0.05)
    assert run.service.open_handles() == 0
    assert not run.service.running
    assert _free(socket.SOCK_DGRAM, ports["UDP"])
    assert _free(socket.SOCK_STREAM, ports["TCP"]) and _free(socket.SOCK_STREAM, ports["TLS"])
    assert await asyncio.wait_for(reader.read(), 2) == b""  # the server closed our connection
    writer.close()
    after = {t for t in asyncio.all_tasks() if not t.done()}
    assert after <= before | {asyncio.current_task()}
    # and it starts again on the same data directory
    await run.service.start()
    assert run.service.open_handles() > 0
    await run.service.stop()
    assert run.service.open_handles() == 0


async def _stream_options(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, transport: str) -> int:
    writer.write(options(5555).replace(b"SIP/2.0/UDP", f"SIP/2.0/{transport}".encode()))
    await writer.drain()
    framer = StreamFramer()
    while True:
        chunk = await asyncio.wait_for(reader.read(4096), 2)
        assert chunk
        msgs = list(framer.feed(chunk))
        if msgs:
            return parse(msgs[0], stream=True).status


async def test_tcp_and_tls(tmp_path: Path) -> None:
    run = await start_service(tmp_path, make_config(tls_port=0))
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", run.service.ports["TCP"])
        assert await _stream_options(reader, writer, "TCP") == 200
        # a message split across segments and a keep-alive are fine too
        writer.write(b"\r\n\r\n")
        assert await _stream_options(reader, writer, "TCP") == 200
        writer.close()
        assert (tmp_path / "sip_tls.crt").exists() and (tmp_path / "sip_tls.key").stat().st_mode & 0o077 == 0
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        reader, writer = await asyncio.open_connection("127.0.0.1", run.service.ports["TLS"], ssl=ctx)
        assert await _stream_options(reader, writer, "TLS") == 200
        writer.close()
    finally:
        await run.service.stop()
    cert = (tmp_path / "sip_tls.crt").read_bytes()
    run2 = await start_service(tmp_path, make_config(tls_port=0))
    await run2.service.stop()
    assert (tmp_path / "sip_tls.crt").read_bytes() == cert  # generated once, on first boot


async def test_broken_stream_is_closed_and_the_server_keeps_serving(tmp_path: Path) -> None:
    run = await start_service(tmp_path, make_config())
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", run.service.ports["TCP"])
        writer.write(b"OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/TCP h\r\n\r\n")  # no Content-Length on a stream
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), 2) == b""
        writer.close()
        peer = await udp_peer()
        peer.send(options(peer.port), run.udp)
        assert (await peer.final()).status == 200
        peer.close()
    finally:
        await run.service.stop()


async def _register(run: Running, user: str, password: str) -> int:
    peer = await udp_peer()
    try:
        def msg(cseq: int, auth: str | None) -> bytes:
            lines = [f"REGISTER sip:{REALM} SIP/2.0",
                     f"Via: SIP/2.0/UDP 127.0.0.1:{peer.port};branch=z9hG4bKr{cseq};rport",
                     f"From: <sip:{user}@{REALM}>;tag=r", f"To: <sip:{user}@{REALM}>", "Call-ID: persist-1",
                     f"CSeq: {cseq} REGISTER", f"Contact: <sip:{user}@127.0.0.1:{peer.port}>", "Expires: 600",
                     "Max-Forwards: 70"]
            if auth:
                lines.append(f"Authorization: {auth}")
            return ("\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n").encode()

        peer.send(msg(1, None), run.udp)
        ch = await peer.final()
        auth = DigestClient(user, password).authorization(ch.get_all("www-authenticate")[0], "REGISTER",
                                                          f"sip:{REALM}")
        peer.send(msg(2, auth), run.udp)
        return (await peer.final()).status
    finally:
        peer.close()


async def test_bindings_survive_a_restart(tmp_path: Path) -> None:
    run = await start_service(tmp_path, make_config())
    assert await _register(run, "1001", "secret1001") == 200
    assert any(isinstance(e, ev.RegistrationChanged) for e in run.events)
    await run.service.stop()
    saved = (tmp_path / "sip_bindings.json").read_text()
    assert "1001" in saved and not list(tmp_path.glob("*.tmp"))
    run2 = await start_service(tmp_path, make_config())
    try:
        (b,) = run2.service.core.registrar.lookup("1001", run2.service.clock.monotonic())
        assert b.contact.startswith("sip:1001@127.0.0.1:")
        assert 590 < b.expires_at - run2.service.clock.monotonic() <= 600
    finally:
        await run2.service.stop()


async def test_bindings_are_written_while_running(tmp_path: Path) -> None:
    run = await start_service(tmp_path, make_config())
    try:
        assert await _register(run, "1002", "secret1002") == 200
        await asyncio.sleep(2.4)  # the writer runs at most every two seconds
        assert "1002" in (tmp_path / "sip_bindings.json").read_text()
    finally:
        await run.service.stop()


async def test_bindings_are_written_off_the_loop_one_write_at_a_time(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fsync'd write runs on a worker thread: REGISTERs are answered while it is under way, a change made
    meanwhile is written after it (not beside it), and stop() waits for the last write and leaves nothing
    running."""
    monkeypatch.setattr(service_module, "PERSIST_INTERVAL", 0.05)
    real_write = service_module.atomic_write_bytes
    writes: list[tuple[int, bytes]] = []
    started, release = threading.Event(), threading.Event()

    def slow_write(path: Path, data: bytes, mode: int = 0o600) -> None:
        writes.append((threading.get_ident(), data))
        started.set()
        release.wait(5)
        real_write(path, data, mode)

    monkeypatch.setattr(service_module, "atomic_write_bytes", slow_write)
    before = {t for t in asyncio.all_tasks() if not t.done()}
    run = await start_service(tmp_path, make_config())
    assert await _register(run, "1001", "secret1001") == 200
    assert await asyncio.to_thread(started.wait, 2)  # the first write is under way and held
    assert await _register(run, "1002", "secret1002") == 200  # the loop is not blocked by it
    await asyncio.sleep(0.2)  # the change is due for writing, but one write is in flight
    assert len(writes) == 1
    stopping = asyncio.create_task(run.service.stop())
    await asyncio.sleep(0.1)
    assert not stopping.done()  # stop() waits for the writes
    release.set()
    await asyncio.wait_for(stopping, 5)
    assert len(writes) == 2 and all(thread != threading.get_ident() for thread, _ in writes)
    first, last = (json.loads(data)["bindings"] for _, data in writes)
    assert set(first) == {"1001"} and set(last) == {"1001", "1002"}
    assert json.loads((tmp_path / "sip_bindings.json").read_text())["bindings"] == last
    assert run.service.open_handles() == 0
    assert {t for t in asyncio.all_tasks() if not t.done()} <= before | {asyncio.current_task()}


async def test_tcp_connect_failure_reaches_the_leg(tmp_path: Path) -> None:
    run = await start_service(tmp_path, make_config())
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        closed = int(s.getsockname()[1])
        s.close()  # nothing listens there now
        leg = run.service.create_leg(callee="x", sdp_offer=b"", caller="y",
                                     uri=f"sip:x@127.0.0.1:{closed};transport=tcp")
        for _ in range(50):
            if any(isinstance(e, ev.LegEnded) for e in run.events):
                break
            await asyncio.sleep(0.05)
        ended = [e for e in run.events if isinstance(e, ev.LegEnded)]
        assert [(e.leg_id, e.cause, e.status) for e in ended] == [(leg.leg_id, "transport_error", 503)]
    finally:
        await run.service.stop()


async def test_host_names_are_resolved_off_the_call_path(tmp_path: Path) -> None:
    run = await start_service(tmp_path, make_config())
    peer = await udp_peer()
    try:
        leg = run.service.create_leg(callee="x", sdp_offer=b"", caller="y", uri=f"sip:x@localhost:{peer.port}")
        invite = await peer.recv(5.0)
        assert invite.method == "INVITE" and invite.uri == f"sip:x@localhost:{peer.port}"
        bad = run.service.create_leg(callee="x", sdp_offer=b"", caller="y", uri="sip:x@no-such-host.invalid")
        for _ in range(150):
            if any(isinstance(e, ev.LegEnded) and e.leg_id == bad.leg_id for e in run.events):
                break
            await asyncio.sleep(0.05)
        ended = [(e.cause, e.status) for e in run.events if isinstance(e, ev.LegEnded) and e.leg_id == bad.leg_id]
        assert ended == [("transport_error", 503)]
        assert not any(isinstance(e, ev.LegEnded) and e.leg_id == leg.leg_id for e in run.events)
    finally:
        peer.close()
        await run.service.stop()
    assert run.service.open_handles() == 0


def _reply(req: SipMessage, status: str, *extra: str) -> bytes:
    """A carrier's response to `req`: its Via, From, To (with a tag), Call-ID and CSeq, and `extra` lines."""
    return "\r\n".join([f"SIP/2.0 {status}", *(f"Via: {v}" for v in req.get_all("via")), f"From: {req.get('from')}",
                        f"To: {req.get('to')};tag=c1", f"Call-ID: {req.get('call-id')}", f"CSeq: {req.get('cseq')}",
                        *extra, "Content-Length: 0", "", ""]).encode()


async def test_stop_waits_a_little_for_a_carrier_that_does_not_answer_the_unregister(tmp_path: Path) -> None:
    """The shutdown un-REGISTER is sent (and retransmitted) but a silent carrier does not hold the box up."""
    carrier = await udp_peer()
    trunk = TrunkConfig(name="carrier", host="127.0.0.1", port=carrier.port, username="7001", password="pw",
                        register=True)
    run = await start_service(tmp_path, make_config(trunks=(trunk,)))
    first = await carrier.recv(2.0)
    assert first.method == "REGISTER" and first.get("expires") == "600"
    carrier.send(_reply(first, "200 OK", f"Contact: {first.get('contact')};expires=600"), run.udp)
    await asyncio.sleep(0.1)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await run.service.stop()
    assert 1.9 <= loop.time() - started < 3.0
    removal = await carrier.recv(0.5)
    assert removal.method == "REGISTER" and removal.get("expires") == "0"
    assert removal.get("call-id") == first.get("call-id")
    assert run.service.open_handles() == 0
    carrier.close()


async def test_health_gives_status_counters_and_gauges(tmp_path: Path) -> None:
    carrier, phone, callee = await udp_peer(), await udp_peer(), await udp_peer()
    trunk = TrunkConfig(name="carrier", host="127.0.0.1", port=carrier.port, username="7001", password="pw",
                        register=True)
    run = await start_service(tmp_path, make_config(trunks=(trunk,)))
    health = run.service.health()
    assert (health.name, health.status) == ("sip", Status.OK)  # a trunk still registering is not a fault
    assert (health.gauges["trunks_registering"], health.gauges["trunks_registered"]) == (1, 0)
    carrier.send(_reply(await carrier.recv(2.0), "403 Forbidden"), run.udp)
    assert await _register(run, "1001", "secret1001") == 200
    assert await _register(run, "1002", "wrong") == 403
    phone.send(b"NOT A SIP MESSAGE\r\n\r\n", run.udp)  # malformed: counted, not answered
    phone.send(options(phone.port), run.udp)
    assert (await phone.final()).status == 200
    run.service.create_leg(callee="x", sdp_offer=b"", caller="y", uri=f"sip:x@127.0.0.1:{callee.port}")
    health = run.service.health()
    assert health.status is Status.DEGRADED and "carrier" in health.detail  # its REGISTER was refused
    assert health.gauges["registrations"] == 1 and health.gauges["trunks_registered"] == 0
    assert health.gauges["legs_active"] == 1 and health.gauges["legs_connected"] == 0
    assert health.gauges["transactions_active"] >= 1
    assert health.counters["auth_failures"] == 1 and health.counters["protocol_violations"] == 1
    assert health.counters["messages_received"] >= 7 and health.counters["messages_sent"] >= 7
    stopping = asyncio.create_task(run.service.stop())
    unregister = await carrier.recv(2.0)  # Expires: 0 at shutdown, answered so stop() need not wait
    carrier.send(_reply(unregister, "200 OK"), run.udp)
    await stopping
    assert run.service.health().status is Status.STARTING
    for peer in (carrier, phone, callee):
        peer.close()
