"""Our Q.921/Q.931 (drivers.e1.pri.PriStack) against libpri through ctypes, in both roles: we as CPE with
libpri as the network, and the reverse. Every frame our stack sends or receives goes to a pcap (link type
177) that tshark must decode as LAPD/Q.931 without a malformed packet, and the test asserts on its fields.
"""

from __future__ import annotations

import ctypes
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.e1 import q921, q931_model
from drivers.e1.q931_codec import Number
from tests.drivers.e1.libpri import Bench, find_libpri, tshark_fields

pytestmark = [pytest.mark.interop,
              pytest.mark.skipif(find_libpri() is None, reason="libpri (libpri1.4) is not installed"),
              pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")]

ROLES = ["user", "network"]
MT = {"SETUP": "0x05", "CALL_PROCEEDING": "0x02", "ALERTING": "0x01", "CONNECT": "0x07", "CONNECT_ACK": "0x0f",
      "DISCONNECT": "0x45", "RELEASE": "0x4d", "RELEASE_COMPLETE": "0x5a", "RESTART": "0x46",
      "RESTART_ACK": "0x4e", "STATUS": "0x7d"}
FIELDS = ("frame.number", "lapd.cr", "q931.message_type", "q931.calling_party_number.digits",
          "q931.called_party_number.digits", "q931.cause_value", "q931.channel.number", "_ws.malformed",
          "q931.restart_indicator", "lapd.control.s_ftype", "lapd.control.u_modifier_cmd",
          "lapd.control.u_modifier_resp")


class Decoded:
    """The pcap as tshark decoded it: one dict per frame."""

    def __init__(self, bench: Bench) -> None:
        bench.pcap.close()
        rows = tshark_fields(bench.pcap_path, *FIELDS)
        self.rows = [dict(zip(FIELDS, row, strict=True)) for row in rows]
        assert len(self.rows) == bench.pcap.frames > 0
        assert not [r for r in self.rows if r["_ws.malformed"]], "tshark found malformed packets"

    def messages(self) -> list[str]:
        return [r["q931.message_type"] for r in self.rows if r["q931.message_type"]]

    def with_type(self, name: str) -> list[dict[str, str]]:
        return [r for r in self.rows if r["q931.message_type"] == MT[name]]


@pytest.fixture
def bench_of(tmp_path: Path) -> Iterator[object]:
    benches: list[Bench] = []

    def make(ours: str, **kw: object) -> Bench:
        b = Bench(ours, tmp_path / f"{ours}-{len(benches)}.pcap", **kw)  # type: ignore[arg-type]
        benches.append(b)
        return b

    yield make
    for b in benches:
        b.close()


def up(b: Bench) -> None:
    b.start()
    b.pump(lambda: bool(b.theirs("DCHAN_UP")) and b.stack.lapd.up, 5)
    b.events.clear()


@pytest.mark.parametrize("ours", ROLES)
def test_link_up_with_sabme_collision(bench_of, ours: str) -> None:  # type: ignore[no-untyped-def]
    b = bench_of(ours)
    b.start()  # both sides send SABME at once: libpri starts on creation, we now
    b.pump(lambda: bool(b.theirs("DCHAN_UP")) and b.stack.lapd.up, 5)
    assert b.ours_of(q921.Established) == [q921.Established()]
    assert b.stack.lapd.state == q921.State.ESTABLISHED
    d = Decoded(b)
    sabme = [r for r in d.rows if r["lapd.control.u_modifier_cmd"] == "0x1b"]  # SABME
    ua = [r for r in d.rows if r["lapd.control.u_modifier_resp"] == "0x18"]  # UA
    assert len(sabme) >= 2 and len(ua) >= 2, d.rows  # each side commanded and each answered
    # C/R per Q.921 Table 1: network commands and user responses carry 1
    net, usr = ("1", "0")
    assert {r["lapd.cr"] for r in sabme} == {net, usr}


@pytest.mark.parametrize("ours", ROLES)
@pytest.mark.parametrize("clears", ["caller", "callee"])
def test_inbound_call_set_up_and_cleared(bench_of, ours: str, clears: str) -> None:  # type: ignore[no-untyped-def]
    b = bench_of(ours)
    up(b)
    call = b.peer.setup("8000", "02150001234", 5, calling_pres=0x01)  # presentation allowed, user passed
    b.pump(lambda: bool(b.ours_of(q931_model.IncomingCall)), 3)
    inc = b.ours_of(q931_model.IncomingCall)[0]
    assert (inc.channel, inc.called.digits, inc.calling.digits) == (5, "8000", "02150001234")
    assert (inc.calling.type, inc.calling.plan, inc.calling.presentation, inc.calling.screening) == (2, 1, 0, 1)
    cid = inc.call
    b.feed(b.stack.q931.proceeding(cid, b.now))
    b.feed(b.stack.q931.alerting(cid, b.now))
    b.pump(lambda: bool(b.theirs("RINGING")), 3)
    b.feed(b.stack.q931.connect(cid, b.now))
    b.pump(lambda: bool(b.theirs("ANSWER")) and (ours == "network" or bool(b.ours_of(q931_model.ConnectAcknowledged))), 3)
    assert b.theirs("PROCEEDING")[0]["channel"] == 5
    if clears == "caller":
        b.peer.act("pri_hangup", call, 17)  # user busy, from libpri
        b.pump(lambda: bool(b.ours_of(q931_model.Cleared)), 3)
        assert b.ours_of(q931_model.Cleared)[0] == q931_model.Cleared(cid, 17, True, 5)
        b.pump(lambda: bool(b.theirs("HANGUP")) and not b.stack.q931.calls, 3)
        cause = 17
    else:
        b.feed(b.stack.q931.hangup(cid, 31, b.now))  # normal, unspecified
        b.pump(lambda: bool(b.theirs("HANGUP_REQ")), 3)
        assert b.theirs("HANGUP_REQ")[0]["cause"] == 31
        b.peer.act("pri_hangup", call, 31)
        b.pump(lambda: not b.stack.q931.calls, 3)
        cause = 31
    assert not b.stack.q931.busy
    d = Decoded(b)
    setup = d.with_type("SETUP")[0]
    assert (setup["q931.calling_party_number.digits"], setup["q931.called_party_number.digits"],
            setup["q931.channel.number"]) == ("02150001234", "8000", "5")
    assert [m for m in d.messages() if m in (MT["CALL_PROCEEDING"], MT["ALERTING"], MT["CONNECT"])] == [
        MT["CALL_PROCEEDING"], MT["ALERTING"], MT["CONNECT"]]
    assert d.with_type("CALL_PROCEEDING")[0]["q931.channel.number"] == "5"
    assert d.with_type("DISCONNECT")[0]["q931.cause_value"] == str(cause)
    assert d.with_type("RELEASE") and d.with_type("RELEASE_COMPLETE")


@pytest.mark.parametrize("ours", ROLES)
@pytest.mark.parametrize("clears", ["caller", "callee"])
def test_outbound_call_set_up_and_cleared(bench_of, ours: str, clears: str) -> None:  # type: ignore[no-untyped-def]
    b = bench_of(ours)
    up(b)

    def answer(ev: dict[str, object]) -> None:
        pass

    cid, out = b.stack.q931.setup(b.now, Number("13800138000", type=2), calling=Number(
        "02150009999", type=2, presentation=1, screening=3), channel=7,
        redirecting=Number("02150008888", type=2, presentation=0, screening=0, reason=15))
    b.feed(out)
    b.pump(lambda: bool(b.theirs("RING")), 3)
    ring = b.theirs("RING")[0]
    assert (ring["channel"], ring["callednum"], ring["callingnum"], ring["redirectingnum"]) == (
        7, "13800138000", "02150009999", "02150008888")
    assert ring["callingpres"] == 0x23  # restricted, network provided
    call = ring["call"]
    b.peer.act("pri_proceeding", call, ring["raw_channel"], 0)
    b.peer.act("pri_acknowledge", call, ring["raw_channel"], 1)
    b.pump(lambda: bool(b.ours_of(q931_model.Alerting)), 3)
    assert b.ours_of(q931_model.Proceeding)[0] == q931_model.Proceeding(cid, 7)
    b.peer.act("pri_answer", call, ring["raw_channel"], 0)
    b.pump(lambda: bool(b.ours_of(q931_model.Answered)), 3)
    if clears == "callee":
        b.peer.act("pri_hangup", call, 16)
        b.pump(lambda: bool(b.ours_of(q931_model.Cleared)), 3)
        assert b.ours_of(q931_model.Cleared)[0] == q931_model.Cleared(cid, 16, True, 7)
        b.pump(lambda: bool(b.theirs("HANGUP")), 3)
    else:
        b.feed(b.stack.q931.hangup(cid, 16, b.now))
        b.pump(lambda: bool(b.theirs("HANGUP_REQ")), 3)
        assert b.theirs("HANGUP_REQ")[0]["cause"] == 16
        b.peer.act("pri_hangup", call, 16)
        b.pump(lambda: not b.stack.q931.calls, 3)
    d = Decoded(b)
    setup = d.with_type("SETUP")[0]
    assert (setup["q931.calling_party_number.digits"], setup["q931.called_party_number.digits"],
            setup["q931.channel.number"]) == ("02150009999", "13800138000", "7")
    assert d.with_type("CONNECT_ACK") and d.with_type("DISCONNECT")[0]["q931.cause_value"] == "16"


@pytest.mark.parametrize("ours", ROLES)
def test_a_dropped_i_frame_is_recovered_by_retransmission(bench_of, ours: str) -> None:  # type: ignore[no-untyped-def]
    b = bench_of(ours, t200=0.3)
    up(b)
    dropped: list[bytes] = []

    def drop_first_i(frame: bytes) -> bool:
        if not dropped and len(frame) > 4 and frame[2] & 1 == 0:
            dropped.append(frame)
            return True
        return False

    b.drop_ours = drop_first_i
    cid, out = b.stack.q931.setup(b.now, Number("8001"), calling=Number("1001"), channel=3)
    b.feed(out)
    b.pump(lambda: bool(b.theirs("RING")), 4)  # our T200 polls, libpri's RR says N(R)=0: we send it again
    assert dropped and b.stack.lapd.counters["retransmitted"] >= 1
    assert b.theirs("RING")[0]["callednum"] == "8001"
    # libpri's CALL PROCEEDING lost on its way to us: its ALERTING is out of sequence, our REJ brings both again
    b.drop_ours = None
    lost: list[bytes] = []

    def drop_their_first_i(frame: bytes) -> bool:
        if not lost and len(frame) > 4 and frame[2] & 1 == 0:
            lost.append(frame)
            return True
        return False

    b.drop_theirs = drop_their_first_i
    ring = b.theirs("RING")[0]
    b.peer.act("pri_proceeding", ring["call"], ring["raw_channel"], 0)
    b.peer.act("pri_acknowledge", ring["call"], ring["raw_channel"], 1)
    b.pump(lambda: bool(b.ours_of(q931_model.Alerting)), 5)
    assert lost and b.stack.lapd.counters["rej_out"] == 1
    assert b.ours_of(q931_model.Proceeding) == [q931_model.Proceeding(cid, 3)] and b.ours_of(q931_model.Alerting)
    d = Decoded(b)
    assert [r["lapd.control.s_ftype"] for r in d.rows if r["lapd.control.s_ftype"]].count("0x0002") == 1  # REJ
    assert len(d.with_type("SETUP")) == 2 and len(d.with_type("CALL_PROCEEDING")) == 1


@pytest.mark.parametrize("ours", ROLES)
def test_t303_expiry_clears_an_unanswered_setup(bench_of, ours: str) -> None:  # type: ignore[no-untyped-def]
    b = bench_of(ours, timers=q931_model.Timers(t303=0.4))
    up(b)
    cid, out = b.stack.q931.setup(b.now, Number("8002"), calling=Number("1002"), channel=9)
    b.feed(out)
    b.pump(lambda: bool(b.ours_of(q931_model.Cleared)), 3)  # libpri's application never answers the RING
    assert b.ours_of(q931_model.Cleared)[0] == q931_model.Cleared(cid, q931_model.NO_USER_RESPONDING, True, 9)
    # libpri took the RELEASE COMPLETE quietly (no STATUS back) and takes a new call on the same channel
    _, out = b.stack.q931.setup(b.now, Number("8012"), calling=Number("1002"), channel=9)
    b.feed(out)
    b.pump(lambda: len(b.theirs("RING")) == 2, 3)
    ring = b.theirs("RING")[1]
    assert (ring["channel"], ring["callednum"]) == (9, "8012")
    b.peer.act("pri_answer", ring["call"], ring["raw_channel"], 0)
    b.pump(lambda: bool(b.ours_of(q931_model.Answered)), 3)
    d = Decoded(b)
    assert not d.with_type("STATUS")
    assert len(d.with_type("SETUP")) == 3  # the first sent again on the first expiry (Q.931 §5.1.1)
    assert d.with_type("RELEASE_COMPLETE")[0]["q931.cause_value"] == "102"


@pytest.mark.parametrize("ours", ROLES)
def test_restart_of_one_channel_and_of_the_interface(bench_of, ours: str) -> None:  # type: ignore[no-untyped-def]
    b = bench_of(ours)
    up(b)
    # libpri restarts channel 4: we clear what is on it and acknowledge
    cid, out = b.stack.q931.setup(b.now, Number("8003"), channel=4)
    b.feed(out)
    b.pump(lambda: bool(b.theirs("RING")), 3)
    b.peer.call_fn("pri_reset", 4)
    b.pump(lambda: bool(b.ours_of(q931_model.Restarted)) and bool(b.theirs("RESTART_ACK")), 3)
    assert b.ours_of(q931_model.Restarted) == [q931_model.Restarted((4,))]
    assert b.ours_of(q931_model.Cleared)[0].call == cid and not b.stack.q931.busy
    # we restart channel 6, then the whole interface
    b.feed(b.stack.q931.restart(b.now, [6]))
    b.pump(lambda: bool(b.ours_of(q931_model.RestartConfirmed)), 3)
    assert b.theirs("RESTART")[-1]["channel"] == 6
    b.feed(b.stack.q931.restart(b.now))
    b.pump(lambda: len(b.ours_of(q931_model.RestartConfirmed)) == 2, 3)
    assert b.ours_of(q931_model.RestartConfirmed)[-1] == q931_model.RestartConfirmed(None)
    d = Decoded(b)
    restarts = d.with_type("RESTART")
    assert [r["q931.channel.number"] for r in restarts] == ["4", "6", ""]
    assert len(d.with_type("RESTART_ACK")) == 3


@pytest.mark.parametrize("ours", ROLES)
def test_glare_on_one_channel_is_resolved_by_role(bench_of, ours: str) -> None:  # type: ignore[no-untyped-def]
    b = bench_of(ours)
    up(b)
    theirs_on: dict[int, int] = {}

    def application(ev: dict[str, object]) -> None:
        """libpri's application, as chan_dahdi behaves: a network refuses a SETUP for a channel its own call
        holds (cause 44); a CPE yields the channel to the network's call."""
        if ev["e"] != "RING":
            return
        channel, call = int(ev["channel"]), int(ev["call"])  # type: ignore[call-overload]
        if channel in theirs_on and ours == "user":
            b.peer.act("pri_hangup", call, 44)
        else:
            b.peer.act("pri_proceeding", call, int(ev["raw_channel"]), 0)  # type: ignore[call-overload]

    b.on_peer_event = application
    cid, out = b.stack.q931.setup(b.now, Number("8004"), calling=Number("1004"), channel=2)
    theirs = b.peer.setup("8005", "02150005555", 2)  # both SETUPs cross on the line
    theirs_on[2] = theirs
    b.feed(out)
    if ours == "user":  # the network's call keeps channel 2; ours is refused
        b.pump(lambda: bool(b.ours_of(q931_model.Cleared)) and bool(b.ours_of(q931_model.IncomingCall)), 3)
        assert [e.channel for e in b.ours_of(q931_model.IncomingCall)] == [2]
        cleared = b.ours_of(q931_model.Cleared)[0]
        assert (cleared.call, cleared.cause, cleared.remote) == (cid, q931_model.CHANNEL_UNAVAILABLE, True)
        inc = b.ours_of(q931_model.IncomingCall)[0].call
        b.feed(b.stack.q931.connect(inc, b.now))
        b.pump(lambda: bool(b.theirs("ANSWER")), 3)
        assert b.theirs("ANSWER")[0]["call"] == theirs
        b.pump(lambda: len(b.stack.q931.calls) == 1, 3)
        assert b.stack.q931.busy == {2: inc}
    else:  # we are the network: our call keeps it, libpri's is refused
        b.pump(lambda: bool(b.theirs("HANGUP")) and bool(b.ours_of(q931_model.Proceeding)), 3)
        assert not b.ours_of(q931_model.IncomingCall)
        hangup = b.theirs("HANGUP")[0]
        assert (hangup["call"], hangup["cause"]) == (theirs, q931_model.CHANNEL_UNAVAILABLE)
        assert b.ours_of(q931_model.Proceeding) == [q931_model.Proceeding(cid, 2)]
        assert b.stack.q931.busy == {2: cid}
    assert b.stack.q931.counters["glare"] == 1
    d = Decoded(b)
    assert len(d.with_type("SETUP")) == 2 and d.with_type("RELEASE_COMPLETE")[0]["q931.cause_value"] == "44"


def test_overlap_receiving_from_libpri_as_the_network(bench_of) -> None:  # type: ignore[no-untyped-def]
    b = bench_of("user", overlap_digits=4)
    up(b)
    b.peer.lib.pri_set_overlapdial(ctypes.c_void_p(b.peer.pri), 1)  # (else libpri adds Sending Complete)
    call = b.peer.setup("80", "02150001234", 8, complete=False)  # the number comes in pieces
    b.pump(lambda: bool(b.theirs("SETUP_ACK")), 3)
    assert not b.ours_of(q931_model.IncomingCall)
    for digit in "01":
        b.peer.lib.pri_information.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_char]
        b.peer.lib.pri_information(ctypes.c_void_p(b.peer.pri), ctypes.c_void_p(call), digit.encode())
    b.pump(lambda: bool(b.ours_of(q931_model.IncomingCall)), 3)
    inc = b.ours_of(q931_model.IncomingCall)[0]
    assert (inc.called.digits, inc.channel) == ("8001", 8)
    b.feed(b.stack.q931.alerting(inc.call, b.now))
    b.pump(lambda: bool(b.theirs("RINGING")), 3)
    d = Decoded(b)
    assert d.with_type("SETUP")[0]["q931.called_party_number.digits"] == "80"
    assert [r["q931.called_party_number.digits"] for r in d.rows if r["q931.message_type"] == "0x7b"] == ["0", "1"]
    assert [r for r in d.rows if r["q931.message_type"] == "0x0d"]  # SETUP ACKNOWLEDGE
