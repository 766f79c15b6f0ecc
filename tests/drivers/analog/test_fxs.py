"""The FXS port machine: ringing cadence with caller ID in the first silent interval (checked by spandsp's
receiver when it is installed, and by ours), DTMF caller ID before the first ring, answer, dial tone and
digits (feature codes), hook flash against bounce and hang-up, busy after the far end leaves, message
waiting."""

from __future__ import annotations

import numpy as np
import pytest

from appliance.legs.causes import Cause
from drivers.analog.dsp import callerid
from drivers.analog.fxs import FxsError, FxsPort
from drivers.analog.models import (
    Answered,
    Dialled,
    Ended,
    Flash,
    FxsSettings,
    PlayTone,
    PortState,
    SendAudio,
    SendCommand,
)
from drivers.hal.models import PortCommand, PortSignal
from tests.drivers.analog import spandsp
from tests.drivers.analog.lines import Clocked
from tests.drivers.analog.signals import line

CID = callerid.CallerId(number="02150001234", name="LI SI", date="12061130")
LIB = spandsp.load()


def commands(port: Clocked[FxsPort]) -> list[tuple[float, PortCommand]]:
    return [(round(t, 2), o.command) for t, o in port.of(SendCommand)]


def test_ringing_cadence_with_fsk_caller_id_in_the_first_silent_interval() -> None:
    port = Clocked(FxsPort(1))
    port.call(lambda now: port.port.ring(CID, now))
    port.run(10.5)
    assert commands(port) == [(0.0, PortCommand.RING_START), (1.0, PortCommand.RING_STOP),
                              (5.0, PortCommand.RING_START), (6.0, PortCommand.RING_STOP),
                              (10.0, PortCommand.RING_START)]
    [(at, sent)] = port.of(SendAudio)
    assert at >= 1.5 and at + len(sent.samples) / 8000 < 4.5  # all of it between ring 1 and ring 2
    assert [m for m, _ in callerid.decode_fsk(line(sent.samples.astype(np.float64)))] == [CID]
    if LIB is not None:  # the independent receiver
        got = spandsp.receive_caller_id(LIB, spandsp.CLASS, line(sent.samples.astype(np.float64)))
        assert got == [callerid.encode_mdmf(CID)[:-1]]
        assert dict(spandsp.fields_of(got[0]))[0x02] == b"02150001234"


def test_v23_sdmf_caller_id_per_port_setting() -> None:
    port = Clocked(FxsPort(1, FxsSettings(caller_id="fsk_v23", caller_id_mdmf=False)))
    port.call(lambda now: port.port.ring(CID, now))
    port.run(3.0)
    [(_, sent)] = port.of(SendAudio)
    if LIB is not None:
        assert spandsp.receive_caller_id(LIB, spandsp.CLIP, line(sent.samples.astype(np.float64))) == [
            b"\x04\x131206113002150001234"]
    [(message, raw)] = callerid.decode_fsk(line(sent.samples.astype(np.float64)))
    assert raw[0] == callerid.SDMF_CALLER_ID and message == callerid.CallerId(number=CID.number, date=CID.date)


def test_dtmf_caller_id_goes_before_the_first_ring() -> None:
    port = Clocked(FxsPort(1, FxsSettings(caller_id="dtmf")))
    out = port.call(lambda now: port.port.ring(CID, now))
    [sent] = [o for o in out if isinstance(o, SendAudio)]
    port.run(3.0)
    [(first_ring, _)] = commands(port)[:1]
    assert first_ring >= len(sent.samples) / 8000
    assert callerid.decode_dtmf(line(sent.samples.astype(np.float64))) == callerid.CallerId(number=CID.number)
    if LIB is not None:
        assert spandsp.receive_caller_id(LIB, spandsp.CLIP_DTMF, line(sent.samples.astype(np.float64))) == [
            b"A02150001234C"]


def test_picking_up_a_ringing_phone_answers_and_stops_the_ring() -> None:
    port = Clocked(FxsPort(1))
    port.call(lambda now: port.port.ring(CID, now))
    port.run(0.5)
    out = port.signal(PortSignal.OFF_HOOK)
    assert out[:2] == [SendCommand(PortCommand.RING_STOP), Answered()] and port.state() == PortState.IN_CALL
    with pytest.raises(FxsError):
        port.port.ring(CID, port.now)


def test_dial_tone_then_a_feature_code_is_dialled_after_the_interdigit_time() -> None:
    port = Clocked(FxsPort(4))
    assert port.signal(PortSignal.OFF_HOOK)[0] == PlayTone("dial")
    port.run(0.5)
    port.run(4.0, line(callerid.dtmf_signal("*11", level=-8.0).astype(np.float64), lead_s=0.1))
    tones = [o.tone for _, o in port.of(PlayTone)]
    assert tones == ["dial", None]
    [(at, dialled)] = port.of(Dialled)
    assert dialled == Dialled("*11") and port.state() == PortState.IN_CALL
    assert at >= 3.0  # (the code's last digit plus the inter-digit time)


def test_a_number_ended_by_hash_is_dialled_at_once_and_no_digit_gives_congestion() -> None:
    port = Clocked(FxsPort(4))
    port.signal(PortSignal.OFF_HOOK)
    port.run(1.5, line(callerid.dtmf_signal("8000#", level=-8.0).astype(np.float64), lead_s=0.1))
    assert [o for _, o in port.of(Dialled)] == [Dialled("8000")]
    idle = Clocked(FxsPort(5))
    idle.signal(PortSignal.OFF_HOOK)
    idle.run(16.0)
    assert [o.tone for _, o in idle.of(PlayTone)] == ["dial", "congestion"]


def in_call() -> Clocked[FxsPort]:
    port = Clocked(FxsPort(2))
    port.call(lambda now: port.port.ring(CID, now))
    port.run(0.3)
    port.signal(PortSignal.OFF_HOOK)
    return port


@pytest.mark.parametrize(("down_s", "what"), [(0.03, "bounce"), (0.1, "flash"), (0.6, "flash"), (1.2, "hang-up")])
def test_hook_switch_debounce_flash_and_hang_up(down_s: float, what: str) -> None:
    port = in_call()
    port.signal(PortSignal.ON_HOOK)
    port.run(down_s)
    if what != "hang-up":
        port.signal(PortSignal.OFF_HOOK)
    port.run(1.0)
    flashes = [o for _, o in port.of(Flash)]
    ended = [o for _, o in port.of(Ended)]
    if what == "bounce":
        assert (flashes, ended, port.port.counters["bounces"]) == ([], [], 1)
        assert port.state() == PortState.IN_CALL
    elif what == "flash":
        assert (flashes, ended) == ([Flash()], []) and port.state() == PortState.IN_CALL
    else:
        assert flashes == [] and ended == [Ended(Cause.NORMAL_CLEARING, remote=True, why="on hook")]
        assert port.state() == PortState.IDLE


def test_a_flash_reported_by_the_card_counts_too() -> None:
    port = in_call()
    assert port.signal(PortSignal.FLASH) == [Flash()]


def test_the_far_end_leaving_gives_busy_then_congestion() -> None:
    port = in_call()
    port.call(port.port.far_end_gone)
    port.run(31.0)
    assert [o.tone for _, o in port.of(PlayTone)] == ["busy", "congestion"]
    port.signal(PortSignal.ON_HOOK)
    assert port.state() == PortState.IDLE


def test_message_waiting_is_sent_on_hook_only() -> None:
    port = FxsPort(3)
    [sent] = port.message_waiting(True)
    assert isinstance(sent, SendAudio)
    assert [m for m, _ in callerid.decode_fsk(sent.samples)] == [callerid.MessageWaiting(True)]
    port.signal(PortSignal.OFF_HOOK, 0.0)
    assert port.message_waiting(False) == []


def test_flash_then_digits_name_a_transfer_target_and_a_second_flash_goes_back() -> None:
    port = in_call()
    port.signal(PortSignal.FLASH)
    port.call(port.port.collect)
    port.run(1.5, line(callerid.dtmf_signal("1003#", level=-8.0).astype(np.float64), lead_s=0.1))
    assert [o for _, o in port.of(Dialled)] == [Dialled("1003", in_call=True)]
    assert [o.tone for _, o in port.of(PlayTone)] == ["dial", None, None]
    assert port.state() == PortState.IN_CALL
    port.call(port.port.collect)
    assert port.call(port.port.resume) == [PlayTone(None)]
    port.run(1.0, line(callerid.dtmf_signal("5", level=-8.0).astype(np.float64)))
    assert len(port.of(Dialled)) == 1  # digits after going back are not collected


def test_caller_id_is_cut_to_what_a_phone_can_show() -> None:
    port = Clocked(FxsPort(1))
    port.call(lambda now: port.port.ring(callerid.CallerId(number="+86 21-5000 1234", name="上海某某某某某某科技有限公司客服中心",
                                                           date="12061130"), now))
    port.run(3.0)
    [(_, sent)] = port.of(SendAudio)
    [(message, _)] = callerid.decode_fsk(sent.samples)
    assert isinstance(message, callerid.CallerId)
    assert message.number == "862150001234" and message.name is not None
    assert len(message.name.encode("gb18030")) <= 32 and "上海某某" in message.name
    port = Clocked(FxsPort(2, FxsSettings(caller_id="dtmf")))
    out = port.call(lambda now: port.port.ring(callerid.CallerId(number="anonymous"), now))
    [sent_dtmf] = [o for o in out if isinstance(o, SendAudio)]
    assert callerid.decode_dtmf(sent_dtmf.samples) == callerid.CallerId(number_absent="O")
