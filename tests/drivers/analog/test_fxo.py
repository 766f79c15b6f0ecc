"""The FXO port machine driven through time with the exchange's signals: ringing cadence, spandsp's caller ID
between the rings (or DTMF before them), answer at the configured ring, disconnect by busy tone, polarity
or loop current as the port is set, dialling with pauses, a dead line."""

from __future__ import annotations

import io
import wave

import numpy as np
import pytest

from appliance.calls.assets import render as render_hold_music
from appliance.legs.causes import Cause
from appliance.media import inband
from drivers.analog.dsp.callerid import CallerId
from drivers.analog.fxo import FxoError, FxoPort
from drivers.analog.models import (
    Answered,
    CallerIdReceived,
    CallOffered,
    Ended,
    FxoSettings,
    PortState,
    SendAudio,
    SendCommand,
)
from drivers.hal.models import PortCommand, PortSignal
from tests.drivers.analog.lines import Clocked
from tests.drivers.analog.signals import at_level, fixture, line

FSK_CID = CallerId(number="02150001234", name="ZHANG SAN", date="12061130")


def ring(port: Clocked[FxoPort], gap_audio: np.ndarray | None = None, on_s: float = 1.0, off_s: float = 4.0) -> None:
    port.signal(PortSignal.RING_ON)
    port.run(on_s)
    port.signal(PortSignal.RING_OFF)
    port.run(off_s, gap_audio)


def answered_call(settings: FxoSettings | None = None) -> Clocked[FxoPort]:
    port = Clocked(FxoPort(1, settings or FxoSettings(rings_to_answer=1)))
    ring(port)
    ring(port)
    assert port.of(CallOffered)
    port.call(port.port.answer)
    port.signal(PortSignal.LINE_CURRENT_ON)
    return port


@pytest.mark.parametrize("name", ["bell202_mdmf", "v23_mdmf", "bell202_sdmf", "v23_sdmf"])
def test_fsk_caller_id_between_the_first_rings_then_the_call_is_offered_at_the_second(name: str) -> None:
    port = Clocked(FxoPort(1, FxoSettings(rings_to_answer=2)))
    cid_audio = np.concatenate([np.zeros(4000, np.int16), line(at_level(fixture(name), -25.0))])
    ring(port, cid_audio)
    [(_, got)] = port.of(CallerIdReceived)
    assert isinstance(got, CallerIdReceived) and got.how == "fsk"
    expected = FSK_CID if "mdmf" in name else CallerId(number=FSK_CID.number, date=FSK_CID.date)
    assert got.caller_id == expected
    assert not port.of(CallOffered) and port.state() == PortState.RINGING
    ring(port)
    [(at, offered)] = port.of(CallOffered)
    assert offered == CallOffered(expected) and at == pytest.approx(6.0, abs=0.05)  # as ring 2 ends
    out = port.call(port.port.answer)
    assert SendCommand(PortCommand.OFF_HOOK) in out and Answered() in out
    assert port.state() == PortState.IN_CALL


def test_dtmf_caller_id_before_the_first_ring() -> None:
    port = Clocked(FxoPort(1, FxoSettings(rings_to_answer=1)))
    port.run(2.5, line(at_level(fixture("dtmf_cid_twist+0"), -30.0)))  # the line is idle: no ring yet
    assert port.state() == PortState.IDLE and not port.of(CallerIdReceived)
    ring(port)
    [(_, got)] = port.of(CallerIdReceived)
    assert got == CallerIdReceived(CallerId(number="13800138000"), "dtmf")
    assert [o for _, o in port.of(CallOffered)] == [CallOffered(CallerId(number="13800138000"))]


def test_dtmf_caller_id_too_long_before_a_ring_belongs_to_no_call() -> None:
    port = Clocked(FxoPort(1, FxoSettings(rings_to_answer=1)))
    port.run(2.5, line(at_level(fixture("dtmf_cid_twist-6"), -20.0)))
    port.run(10.0)
    ring(port)
    ring(port)
    assert not port.of(CallerIdReceived) and [o for _, o in port.of(CallOffered)] == [CallOffered(None)]


def test_answer_after_one_ring_waits_for_caller_id_and_offers_as_it_arrives() -> None:
    port = Clocked(FxoPort(1, FxoSettings(rings_to_answer=1)))
    ring(port, np.concatenate([np.zeros(4000, np.int16), line(at_level(fixture("bell202_mdmf"), -20.0))]))
    [(cid_at, _)] = port.of(CallerIdReceived)
    [(offer_at, offered)] = port.of(CallOffered)
    assert offer_at == cid_at and offered == CallOffered(FSK_CID)


def test_without_caller_id_the_call_is_offered_one_ring_later() -> None:
    port = Clocked(FxoPort(1, FxoSettings(rings_to_answer=1)))
    ring(port)
    assert not port.of(CallOffered)
    ring(port)
    assert [o for _, o in port.of(CallOffered)] == [CallOffered(None)]


def test_glitches_are_not_rings_and_a_caller_who_gives_up_ends_the_offer() -> None:
    port = Clocked(FxoPort(1, FxoSettings(rings_to_answer=1)))
    ring(port, on_s=0.06, off_s=1.0)
    assert port.port.rings == 0
    ring(port)
    ring(port)
    assert port.of(CallOffered)
    port.run(7.0)
    assert [o for _, o in port.of(Ended)] == [Ended(Cause.NORMAL_CLEARING, remote=True, why="ringing stopped")]
    assert port.state() == PortState.IDLE and port.port.counters["abandoned"] == 1


@pytest.mark.parametrize("lead_s", [0.5, 2.23])
def test_the_far_end_hanging_up_is_heard_by_its_busy_tone_within_three_cycles(lead_s: float) -> None:
    port = answered_call()
    with wave.open(io.BytesIO(render_hold_music())) as w:
        hold = np.frombuffer(w.readframes(10**6), "<i2")
    port.run(3.0, hold[:24000])  # talk (music) first: no disconnect
    assert not port.of(Ended)
    start = port.now
    port.run(5.0, line(at_level(fixture("busy_cn"), -20.0), lead_s=lead_s))
    [(at, ended)] = port.of(Ended)
    assert ended == Ended(Cause.NORMAL_CLEARING, remote=True, why="busy tone")
    assert at - (start + lead_s) <= 2.1
    assert (at, SendCommand(PortCommand.ON_HOOK)) in port.out and port.state() == PortState.IDLE
    assert port.port.counters["busy_disconnects"] == 1


@pytest.mark.parametrize(("signal", "setting"), [(PortSignal.POLARITY_REVERSAL, "polarity"),
                                                 (PortSignal.LINE_CURRENT_OFF, "loop_current")])
def test_polarity_and_loop_current_disconnect_only_when_the_port_says_so(signal: PortSignal, setting: str) -> None:
    others = frozenset({"busy_tone", "polarity", "loop_current"}) - {setting}
    port = answered_call(FxoSettings(rings_to_answer=1, disconnect=others))  # type: ignore[arg-type]
    port.signal(signal)
    assert not port.of(Ended) and port.state() == PortState.IN_CALL
    port = answered_call()
    port.signal(signal)
    assert [o.cause for _, o in port.of(Ended)] == [Cause.NORMAL_CLEARING]


def test_dialling_out_with_a_pause_in_dtmf_after_dial_tone() -> None:
    port = Clocked(FxoPort(2))
    out = port.call(lambda now: port.port.dial("0,8675309", now))
    assert out[0] == SendCommand(PortCommand.OFF_HOOK) and port.state() == PortState.OFF_HOOK
    port.signal(PortSignal.LINE_CURRENT_ON)
    port.run(5.0)
    sent = port.of(SendAudio)
    assert len(sent) == 2 and sent[1][0] - sent[0][0] >= 1.0  # the pause
    digits = [inband.detect(o.samples) for _, o in sent if isinstance(o, SendAudio)]
    assert digits == [["0"], list("8675309")]
    assert port.of(Answered) and port.state() == PortState.IN_CALL
    with pytest.raises(FxoError):
        port.port.dial("1", port.now)


def test_a_line_with_no_loop_current_is_faulted_until_current_returns() -> None:
    port = Clocked(FxoPort(3))
    port.call(lambda now: port.port.dial("10086", now))
    port.run(2.0)
    assert [o.cause for _, o in port.of(Ended)] == [Cause.NETWORK_OUT_OF_ORDER]
    assert port.state() == PortState.FAULTED and port.port.counters["faults"] == 1
    port.signal(PortSignal.LINE_CURRENT_ON)
    assert port.state() == PortState.IDLE
