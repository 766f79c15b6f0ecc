"""End to end: a caller whose RTP restarts its sequence numbers and timestamps mid-call, under the same SSRC
(as a phone or gateway may after a re-INVITE, hold or failover), is still heard in full by the agent.

The caller is SIPp for the signalling with the test's own RTP phone (so the test decides what its stream
does); it dials the demo access number and presses 1, and the call reaches agent 1002 on a baresip softphone
through IVR and queue. Some seconds after the bridge the caller's sequence number goes back 235 and its
timestamp about 7 s, and its tone changes from 500 Hz to 700 Hz. baresip records what it decodes (sndfile);
its jitter buffer drops packets whose sequence number went back, so the agent hears the rest of the call
only if the box keeps its outgoing stream continuous. The agent's recording must hold nearly all of the
caller's audio from the bridge to the hang-up, and nearly all of the tone sent after the restart.
"""

from __future__ import annotations

import subprocess
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from tests.baresip_peer import baresip_agent, baresip_modules
from tests.e2e.harness import RunningAppliance, sipp_available, successful, wait_until
from tests.e2e.rtp_phone import RATE, RtpPhone

MODULES = baresip_modules()
pytestmark = [pytest.mark.interop, pytest.mark.slow,
              pytest.mark.skipif(not sipp_available(), reason="SIPp (sip-tester) is not installed"),
              pytest.mark.skipif(MODULES is None, reason="baresip (with its modules) is not installed")]

ALWAYS_OPEN = {"work_days": [1, 2, 3, 4, 5, 6, 7], "work_hours": [{"start": "00:00", "end": "24:00"}]}
BEFORE_HZ, AFTER_HZ, AGENT_HZ = 500.0, 700.0, 1100.0
AGENT_TALKS_S = 18.0  # baresip hangs up when its aufile source ends
RESTART_AFTER_S = 6.0  # after the bridge
SEQ_BACK, TS_BACK = 235, 7 * RATE  # what the issue saw: 44212 back to 43977, the timestamp back about 7 s
FRAME_S = 0.02


def tone_frames(path: Path) -> dict[float, int]:
    """How many 20 ms frames of a mono 8 kHz WAV carry each of the caller's tones (it holds more than half of
    the frame's power: a frame of silence, of the agent's tone or of anything else counts for neither)."""
    with wave.open(str(path)) as w:
        assert w.getframerate() == RATE and w.getnchannels() == 1
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)
    n = len(pcm) // 160
    spectra = np.abs(np.fft.rfft(pcm[:n * 160].reshape(n, 160), axis=1)) ** 2  # 50 Hz bins
    total = spectra.sum(axis=1) + 1e-9
    loud = np.sqrt(np.mean(pcm[:n * 160].reshape(n, 160) ** 2, axis=1)) > 500
    return {hz: int(np.count_nonzero(loud & (spectra[:, int(hz) // 50] > 0.5 * total)))
            for hz in (BEFORE_HZ, AFTER_HZ)}


def test_the_agent_hears_all_of_a_caller_whose_rtp_restarts_its_sequence(box: RunningAppliance) -> None:
    box.api("PATCH", "/api/v1/schedules/business_hours", ALWAYS_OPEN)
    box.api("PATCH", "/api/v1/queues/sales", {"survey_flow": None})
    folder = box.work / "baresip-1002"
    phone = baresip_agent(f"sip:1002@127.0.0.1:{box.sip_port}", box.password("1002"), folder,
                          seconds=AGENT_TALKS_S, hz=AGENT_HZ, rtp_ports=(21200, 21300), timeout_s=120)
    caller_rtp = RtpPhone(BEFORE_HZ)
    caller_rtp.start()
    caller: subprocess.Popen[str] | None = None
    try:
        wait_until("baresip's registration", lambda: b"200 OK" in (folder / "out.log").read_bytes(), 20)
        status, agent = box.api("POST", "/api/v1/agents/1002/login", {})
        assert status == 200 and agent["state"] == "idle", agent
        caller = box.sipp_background(box.caller_with_media(caller_rtp.port))
        box.connected_call(timeout=30)
        time.sleep(RESTART_AFTER_S)
        caller_rtp.restart(SEQ_BACK, TS_BACK, AFTER_HZ)
        out, _ = caller.communicate(timeout=90)
        assert successful(out) == 1, out[-3000:]  # the agent's phone hung up: BYE to the caller
    finally:
        if caller is not None and caller.poll() is None:
            caller.kill()
            caller.wait()
        caller_rtp.stop()
        phone.terminate()
        phone.wait(timeout=10)

    cdr = box.wait_for_cdr("8000")
    assert cdr["agent"] == "1002" and cdr["hangup_side"] == "agent", cdr
    to_mono = time.time() - time.monotonic()  # CDR times are wall clock, the test phone's times monotonic
    bridged = next(at for at, e, _ in cdr["timeline"] if e == "bridged") - to_mono
    ended = cdr["ended"] - to_mono
    restarted = caller_rtp.restarted_at
    assert restarted is not None and bridged + 2 < restarted < ended - 5, (bridged, restarted, ended)
    # what the caller sent while it was bridged to the agent, and what of it the agent's phone decoded
    sent_before = sum(1 for at in caller_rtp.sent if bridged <= at < restarted)
    sent_after = sum(1 for at in caller_rtp.sent if restarted <= at < ended)
    (decoded,) = folder.glob("*-dec.wav")
    heard = tone_frames(decoded)
    assert sent_after > (AGENT_TALKS_S - RESTART_AFTER_S - 4) / FRAME_S, (sent_before, sent_after)
    assert heard[BEFORE_HZ] >= 0.95 * sent_before, (heard, sent_before)
    assert heard[AFTER_HZ] >= 0.95 * sent_after, (heard, sent_after)
    # and no more than was sent (the box's recording of the call is another matter: it has its own tests)
    assert heard[BEFORE_HZ] + heard[AFTER_HZ] <= sent_before + sent_after + 25, (heard, sent_before, sent_after)
