"""SRTP end to end: the agent's phone is baresip with its SRTP module, registered over SIP TLS with
`mediaenc=srtp-mand` (RTP/SAVP with SDES keys), and extension 1002's policy is "required". A caller (SIPp
over UDP, with the test's own RTP phone) dials the access number, presses 1, and the call reaches the agent
through IVR and queue. Audio is checked both ways by tone (the phone sends 1100 Hz and records what it
decodes; the caller sends 500 Hz), and dumpcap on loopback records the agent leg's UDP: every datagram there
must be SRTP — no tone in its payload, and no payload the caller sent. A caller whose extension requires
SRTP and who offers plain RTP is refused with 488."""

from __future__ import annotations

import audioop
import json
import random
import shutil
import socket
import subprocess
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.baresip_peer import baresip_agent, baresip_modules
from tests.conftest import free_port, free_rtp_port
from tests.e2e.harness import (
    SCENARIOS,
    RunningAppliance,
    channel_rms,
    sipp_available,
    start_appliance,
    successful,
    tone_share,
    wait_until,
)
from tests.e2e.rtp_phone import RtpPhone
from tests.media.helpers import read_pcap_udp, tone_level

MODULES = baresip_modules()
pytestmark = [pytest.mark.interop, pytest.mark.slow,
              pytest.mark.skipif(not sipp_available(), reason="SIPp (sip-tester) is not installed"),
              pytest.mark.skipif(MODULES is None or not (MODULES / "srtp.so").exists(),
                                 reason="baresip (with its srtp module) is not installed"),
              pytest.mark.skipif(shutil.which("dumpcap") is None, reason="dumpcap (tshark) is not installed")]

ALWAYS_OPEN = {"work_days": [1, 2, 3, 4, 5, 6, 7], "work_hours": [{"start": "00:00", "end": "24:00"}]}
CALLER_HZ, AGENT_HZ = 500.0, 1100.0
AGENT_TALKS_S = 10.0  # baresip hangs up when its aufile source ends


@pytest.fixture
def box(tmp_path: Path) -> Iterator[RunningAppliance]:
    app = start_appliance(tmp_path, "--snmp-port", "0")
    try:
        yield app
    finally:
        assert app.stop() == 0, app.log.read_text()[-3000:]


def srtp_agent(box: RunningAppliance, extension: str, folder: Path, rtp_low: int, *, hz: float = AGENT_HZ,
               seconds: float = AGENT_TALKS_S, dial: str | None = None,
               ctrl_port: int | None = None) -> subprocess.Popen[bytes]:
    """baresip registered as `extension` over TLS with srtp-mand, answering by itself (or dialling `dial`)."""
    tls = f"127.0.0.1:{box.sip_port + 1};transport=tls"  # the box's SIP TLS listener
    return baresip_agent(f"sip:{extension}@{tls}", box.password(extension), folder, seconds=seconds, hz=hz,
                         rtp_ports=(rtp_low, rtp_low + 40), timeout_s=90,
                         modules=("srtp.so",) + (("ctrl_tcp.so",) if ctrl_port else ()),
                         config=f"ctrl_tcp_listen 127.0.0.1:{ctrl_port}\n" if ctrl_port else "",
                         account=";mediaenc=srtp-mand", dial=f"sip:{dial}@{tls}" if dial is not None else None)


def test_srtp_agent_over_tls_hears_and_is_heard_and_nothing_plain_crosses_its_leg(box: RunningAppliance) -> None:
    assert box.api("PATCH", "/api/v1/schedules/business_hours", ALWAYS_OPEN)[0] == 200
    assert box.api("PATCH", "/api/v1/queues/sales", {"survey_flow": None})[0] == 200
    status, ext = box.api("PATCH", "/api/v1/extensions/1002", {"srtp": "required"})
    assert status == 200 and ext["srtp"] == "required", ext
    rtp_low = random.randrange(21000, 29000, 100)
    capture = box.work / "agent-leg.pcap"
    dumpcap = subprocess.Popen(["dumpcap", "-q", "-P", "-i", "lo", "-f", f"udp portrange {rtp_low}-{rtp_low + 41}",
                                "-w", str(capture)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    folder = box.work / "baresip-1002"
    phone = srtp_agent(box, "1002", folder, rtp_low)
    caller_rtp = RtpPhone(CALLER_HZ)
    caller_rtp.start()
    try:
        wait_until("baresip's registration over TLS", lambda: b"200 OK" in (folder / "out.log").read_bytes(), 20)
        status, agent = box.api("POST", "/api/v1/agents/1002/login", {})
        assert status == 200 and agent["state"] == "idle", agent
        caller = box.sipp(box.caller_with_media(caller_rtp.port), timeout=90)
        assert successful(caller) == 1, caller.stdout[-3000:] + (folder / "out.log").read_text()[-3000:]
    finally:
        caller_rtp.stop()
        phone.terminate()
        phone.wait(timeout=10)
        time.sleep(0.5)
        dumpcap.terminate()
        dumpcap.wait(timeout=10)

    cdr = box.wait_for_cdr("8000")
    assert cdr["queue"] == "sales" and cdr["agent"] == "1002" and cdr["disposition"] == "answered", cdr
    to_mono = time.time() - time.monotonic()
    bridged = next(at for at, e, _ in cdr["timeline"] if e == "bridged") - to_mono
    ended = cdr["ended"] - to_mono
    # the caller hears the agent's phone: the box decrypted its SRTP
    heard = caller_rtp.level(AGENT_HZ, bridged + 0.5, ended - 0.5)
    assert heard > 1000.0 and heard > 20 * caller_rtp.level(CALLER_HZ, bridged + 0.5, ended - 0.5), heard
    # the agent's phone decrypted what the box encrypted, and heard the caller
    (decoded,) = folder.glob("*-dec.wav")
    assert tone_share(decoded, CALLER_HZ, (AGENT_HZ,)) > 0.9
    log = (folder / "out.log").read_text(errors="replace")
    assert "srtp" in log.lower(), log[-2000:]

    # the agent leg on the wire: SRTP both ways, in numbers, and no audio to be heard in it
    datagrams = [d for d in read_pcap_udp(capture) if len(d.payload) >= 12 and d.payload[0] >> 6 == 2]
    baresip_ports = range(rtp_low, rtp_low + 42)
    to_phone = [d.payload for d in datagrams if d.dst[1] in baresip_ports and d.src[1] not in baresip_ports]
    from_phone = [d.payload for d in datagrams if d.src[1] in baresip_ports and d.dst[1] not in baresip_ports]
    assert len(to_phone) > 200 and len(from_phone) > 200, (len(to_phone), len(from_phone))
    rtp_to_phone = [p for p in to_phone if not 192 <= p[1] <= 223]
    rtp_from_phone = [p for p in from_phone if not 192 <= p[1] <= 223]
    # both ends have AEAD_AES_128_GCM, first in our offer: its 16-byte tag follows each 160-byte A-law frame
    assert {len(p) for p in rtp_to_phone} == {12 + 160 + 16}, {len(p) for p in rtp_to_phone}
    assert {len(p) for p in rtp_from_phone} == {12 + 160 + 16}, {len(p) for p in rtp_from_phone}

    def level(packets: list[bytes], hz: float) -> float:
        pcm = np.frombuffer(audioop.alaw2lin(b"".join(p[12:12 + 160] for p in packets), 2), dtype="<i2")
        return tone_level(pcm, hz)

    # decoded as if plain, the payloads are noise: the tones the phones send and hear are not in them
    for packets, hz in ((rtp_to_phone, CALLER_HZ), (rtp_from_phone, AGENT_HZ)):
        noise = np.frombuffer(audioop.alaw2lin(b"".join(p[12:172] for p in packets), 2), dtype="<i2")
        rms = float(np.sqrt(np.mean(noise.astype(np.float64) ** 2)))
        assert level(packets, hz) < 0.02 * rms, (hz, level(packets, hz), rms)
    # and no frame the caller's phone sent (its 500 Hz A-law repeats every 16 samples: any plain frame holds this)
    t = np.arange(16 * 160) / 8000
    caller_audio = audioop.lin2alaw((6000 * np.sin(2 * np.pi * CALLER_HZ * t)).astype("<i2").tobytes(), 2)
    probe = caller_audio[:40]
    assert not any(probe in p for p in rtp_to_phone)


def test_a_plain_rtp_offer_from_an_extension_that_requires_srtp_gets_488(box: RunningAppliance) -> None:
    status, ext = box.api("PATCH", "/api/v1/extensions/1005", {"srtp": "required"})
    assert status == 200 and ext["srtp"] == "required", ext
    scenario = box.work / "caller_488.xml"
    scenario.write_text((SCENARIOS / "caller_refused.xml").read_text()
                        .replace('<recv response="403"/>', '<recv response="488"/>')
                        .replace("refused with 403", "refused with 488"))
    result = box.sipp([*box.sipp_args(scenario, free_port(), media_port=free_rtp_port()),
                       "-inf", str(box.users_csv("1005")), "-s", "8000", f"127.0.0.1:{box.sip_port}"])
    assert successful(result) == 1, result.stdout[-2000:]
    cdr = box.wait_for_cdr("8000")
    assert cdr["disposition"] == "rejected", cdr


def test_srtp_phone_to_srtp_phone_both_over_tls(box: RunningAppliance) -> None:
    """Extension to extension, both baresip with srtp-mand over TLS: the box answers one SRTP offer and makes
    another, and relays SRTP to SRTP (decrypting and encrypting again with each leg's own keys)."""
    for ext in ("1002", "1005"):
        assert box.api("PATCH", f"/api/v1/extensions/{ext}", {"srtp": "required"})[0] == 200
    low = random.randrange(21000, 29000, 100)
    callee_dir, caller_dir = box.work / "baresip-1002", box.work / "baresip-1005"
    callee = srtp_agent(box, "1002", callee_dir, low, hz=AGENT_HZ, seconds=20.0)
    try:
        wait_until("the callee's registration", lambda: b"200 OK" in (callee_dir / "out.log").read_bytes(), 20)
        caller = srtp_agent(box, "1005", caller_dir, low + 50, hz=CALLER_HZ, seconds=8.0, dial="1002")
        try:
            cdr = box.wait_for_cdr("1002", timeout=40)  # the caller hangs up when its 8 s tone ends
        finally:
            caller.terminate()
            caller.wait(timeout=10)
    finally:
        callee.terminate()
        callee.wait(timeout=10)
    assert cdr["direction"] == "internal" and cdr["disposition"] == "answered", cdr
    assert cdr["duration"] > 5 and cdr["hangup_side"] == "caller", cdr
    left, right = channel_rms(box.data / cdr["recording"])  # the box decrypted both sides for its recording
    assert left > 100 and right > 100, (left, right)
    (heard_by_callee,) = callee_dir.glob("*-dec.wav")
    (heard_by_caller,) = caller_dir.glob("*-dec.wav")
    assert tone_share(heard_by_callee, CALLER_HZ, (AGENT_HZ,)) > 0.9
    assert tone_share(heard_by_caller, AGENT_HZ, (CALLER_HZ,)) > 0.9


def ctrl(port: int, command: str) -> dict[str, object]:
    """One command to baresip's ctrl_tcp module (JSON in netstrings) and its response (events that arrive
    first are skipped)."""
    body = json.dumps({"command": command, "params": "", "token": "t"}).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(str(len(body)).encode() + b":" + body + b",")
        data = b""
        while True:
            while b":" in data:
                size, _, rest = data.partition(b":")
                if len(rest) < int(size) + 1:
                    break
                message, data = json.loads(rest[:int(size)]), rest[int(size) + 1:]
                if "response" in message:
                    return dict(message)
            chunk = sock.recv(4096)
            if not chunk:
                return {}
            data += chunk


def test_an_srtp_phone_holds_and_resumes_and_the_audio_comes_back_encrypted(box: RunningAppliance) -> None:
    """The caller's re-INVITEs (hold: sendonly, then sendrecv) carry its a=crypto again: the box answers with
    the leg's own key under the new offer's tag and both directions go on, still SRTP."""
    for ext in ("1002", "1005"):
        assert box.api("PATCH", f"/api/v1/extensions/{ext}", {"srtp": "required"})[0] == 200
    low = random.randrange(21000, 29000, 100)
    callee_dir, caller_dir = box.work / "baresip-1002", box.work / "baresip-1005"
    ctrl_port = free_port()
    callee = srtp_agent(box, "1002", callee_dir, low, hz=AGENT_HZ, seconds=25.0)
    try:
        wait_until("the callee's registration", lambda: b"200 OK" in (callee_dir / "out.log").read_bytes(), 20)
        caller = srtp_agent(box, "1005", caller_dir, low + 50, hz=CALLER_HZ, seconds=30.0, dial="1002",
                            ctrl_port=ctrl_port)
        try:
            wait_until("the call", lambda: box.api("GET", "/api/v1/calls")[1] not in (None, [], {"calls": []}), 20)
            time.sleep(3.0)
            assert ctrl(ctrl_port, "hold").get("ok") is True
            time.sleep(2.0)
            assert ctrl(ctrl_port, "resume").get("ok") is True
            time.sleep(4.0)
            assert ctrl(ctrl_port, "hangup").get("ok") is True  # (its source does not end after a hold)
            time.sleep(1.0)
        finally:
            if caller.poll() is None:
                caller.terminate()
                caller.wait(timeout=10)
    finally:
        callee.terminate()
        callee.wait(timeout=10)
    cdr = box.wait_for_cdr("1002", timeout=20)
    assert cdr["disposition"] == "answered" and cdr["hangup_side"] == "caller", cdr
    assert cdr["hold"] > 1.0, cdr  # the box saw the hold
    (heard_by_callee,) = callee_dir.glob("*-dec.wav")
    with wave.open(str(heard_by_callee)) as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)
    tail = pcm[-3 * 8000:]  # the last seconds, after the resume: the caller's tone again, decrypted
    assert float(np.sqrt(np.mean(tail * tail))) > 500
    t = np.arange(len(tail)) / 8000
    wanted, other = (abs(np.dot(tail, np.exp(-2j * np.pi * f * t))) ** 2 for f in (CALLER_HZ, AGENT_HZ))
    assert wanted > 0.9 * (wanted + other)
    log = box.log.read_text(errors="replace")
    assert "unusable SDP" not in log and "hanging up" not in log, log[-2000:]
