"""SIP plug-and-play inside network namespaces: SIPp on the LAN side sends a ua-profile SUBSCRIBE to the
multicast group; the box answers and NOTIFYs the provisioning URL, which the phone then fetches over HTTPS."""

from __future__ import annotations

import asyncio
import re
import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from appliance.app import Core
from appliance.demo import seed_if_empty
from appliance.sip.parser import parse
from appliance.sip.transport import udp_socket
from provisioning.phones.pnp import PNP_GROUP, PnpResponder
from provisioning.phones.service import PhoneServerConfig, PhoneService, pnp_socket
from tests.provisioning.conftest import Lan
from tests.provisioning.netns import in_namespace
from tests.provisioning.phones_fixture import add_demo_phones

SCENARIO = Path(__file__).parent / "scenarios" / "pnp_subscribe.xml"
BOX_IP = "10.77.0.2"


def route_source_in(ns: str) -> Any:
    def local(peer: str) -> str:
        def probe() -> str:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.connect((peer, 9))
                return str(s.getsockname()[0])
        return str(in_namespace(ns, probe))
    return local


@pytest.fixture
async def phones(lan: Lan, tmp_path: Path) -> AsyncIterator[tuple[PhoneService, dict[str, Any]]]:
    core = Core.open(tmp_path / "data")
    await core.auth.ensure_admin()
    await seed_if_empty(core)
    service = PhoneService(core.data_dir, core.config, PhoneServerConfig(https_port=0),
                           local_address=route_source_in(lan.box.name))
    records = await add_demo_phones(service)
    lan.lan.ip("route", "add", "224.0.0.0/4", "dev", "eth0")
    await service.start_https_on(lan.box.socket(socket.AF_INET, socket.SOCK_STREAM, ("0.0.0.0", 0)))
    # the box's SIP socket on the same port, as on the image (both bound; each gets only its own traffic)
    sip = in_namespace(lan.box.name, lambda: udp_socket("0.0.0.0", 5060, shared_with_pnp=True))
    sip.settimeout(0.5)
    await service.start_pnp(in_namespace(lan.box.name, lambda: pnp_socket(BOX_IP, 5060)))
    try:
        yield service, records, sip
    finally:
        await service.stop()
        sip.close()
        core.close()


def nothing_on(sock: socket.socket) -> bool:
    try:
        sock.recv(4096)
    except TimeoutError:
        return True
    return False


async def run(argv: list[str], cwd: Path) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(*argv, cwd=cwd, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode(errors="replace")


@pytest.mark.interop
@pytest.mark.skipif(shutil.which("sipp") is None, reason="SIPp (sip-tester) is not installed")
async def test_sipp_subscribe_to_the_pnp_group_gets_the_phone_url(
        lan: Lan, phones: tuple[PhoneService, dict[str, Any], socket.socket], tmp_path: Path) -> None:
    service, records, sip = phones
    yealink = records["1001"]
    code, out = await run(lan.lan.argv(
        "sipp", "-sf", str(SCENARIO), "-key", "mac", "805ec0001001", "-i", "10.77.0.1", "-p", "5070",
        f"{PNP_GROUP}:5060", "-m", "1", "-nostdin", "-timeout", "10", "-timeout_error", "-trace_err", "-trace_logs",
        "-trace_msg"), tmp_path)
    assert code == 0, (service.counters, out[-1500:])
    (logfile,) = tmp_path.glob("*_logs.log")
    url = re.search(r"URL=(\S+)", logfile.read_text())
    assert url is not None
    assert url.group(1) == f"https://{BOX_IP}:{service.https_port}/p/{yealink.token}/"
    assert service.counters["pnp_answered"] == 1
    assert nothing_on(sip)  # the group's SUBSCRIBE did not reach the SIP socket sharing the port
    # ... while unicast SIP to the box reaches it, and not the plug-and-play listener
    before = dict(service.counters)
    in_namespace(lan.lan.name, lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(
        b"OPTIONS sip:box SIP/2.0\r\n\r\n", (BOX_IP, 5060)))
    assert sip.recv(4096).startswith(b"OPTIONS")
    await asyncio.sleep(0.2)
    assert service.counters == before
    # the phone follows the URL: its own file, from the LAN, over HTTPS
    code, body = await run(lan.lan.argv("curl", "-s", "-k", "-m", "10", url.group(1) + "805ec0001001.cfg"), tmp_path)
    assert code == 0 and f"account.1.password = {yealink.sip_password}" in body


async def test_an_unknown_mac_gets_no_answer(lan: Lan, phones: tuple[PhoneService, dict[str, Any], socket.socket]) -> None:
    service, _, _sip = phones

    def ask() -> bytes | None:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("10.77.0.1", 0))
        s.settimeout(1.0)
        port = s.getsockname()[1]
        s.sendto(SCENARIO.read_text().split("<![CDATA[")[1].split("]]>")[0].strip().replace("\n      ", "\r\n")
                 .replace("[mac]", "001122334455").replace("[local_ip]", "10.77.0.1")
                 .replace("[local_port]", str(port)).replace("[branch]", "z9hG4bK1").replace("[pid]", "1")
                 .replace("[call_number]", "1").replace("[call_id]", "x@y").encode() + b"\r\n\r\n",
                 (PNP_GROUP, 5060))
        try:
            return s.recv(4096)
        except TimeoutError:
            return None
        finally:
            s.close()

    assert await asyncio.to_thread(in_namespace, lan.lan.name, ask) is None
    assert service.counters["pnp_ignored"] == 1 and service.counters["pnp_answered"] == 0


def test_responder_answers_polycom_style_subscribe() -> None:
    """The sans-IO core alone: a Polycom-style From (plain MAC user), Via without rport."""
    responder = PnpResponder(lambda mac, local: f"https://{local}:8443/p/tok-{mac}/" if mac == "0004f2001003" else None,
                             lambda peer: "192.0.2.1")
    sub = (b"SUBSCRIBE sip:0004f2001003@224.0.1.75 SIP/2.0\r\n"
           b"Via: SIP/2.0/UDP 192.0.2.50:5060;branch=z9hG4bKabc\r\n"
           b"From: <sip:0004f2001003@224.0.1.75>;tag=1\r\nTo: <sip:0004f2001003@224.0.1.75>\r\n"
           b"Call-ID: c1\r\nCSeq: 7 SUBSCRIBE\r\nContact: <sip:192.0.2.50:5062>\r\n"
           b"Event: ua-profile;profile-type=\"device\";vendor=\"Polycom\"\r\nMax-Forwards: 70\r\n"
           b"Content-Length: 0\r\n\r\n")
    result = responder.datagram(sub, ("192.0.2.50", 40000))
    assert result.answered and result.mac == "0004f2001003"
    ok, notify = result.out
    assert ok.to == ("192.0.2.50", 5060) and parse(ok.data).status == 200
    msg = parse(notify.data)
    assert notify.to == ("192.0.2.50", 5062) and msg.method == "NOTIFY"
    assert msg.body == b"https://192.0.2.1:8443/p/tok-0004f2001003/"
    assert msg.get("content-type") == "application/url" and msg.call_id == "c1"
    assert "terminated" in (msg.get("subscription-state") or "")
    assert not responder.datagram(sub.replace(b"ua-profile", b"presence"), ("192.0.2.50", 1)).answered
