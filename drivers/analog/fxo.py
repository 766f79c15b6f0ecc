"""FXO port: the box as the telephone on a line from the exchange (sans-IO).

What it implements, in the Chinese conventions by default (YDN 069-1997 for caller ID, E.180 Suppl. 2 tones):
- ringing: the card reports ringing voltage on/off; rings shorter than `min_ring_s` are ignored, and no ring
  for `ring_gone_s` means the caller gave up before we answered;
- caller ID: FSK (Bell 202 or V.23, SDMF or MDMF) between the first and second ring, or DTMF before the
  first ring; the call is offered at ring `rings_to_answer`, or at once when caller ID arrives after that;
- answer: off hook; outbound: seize, wait for dial tone, dial DTMF with pauses, then the call is up (or on a
  polarity reversal, when the exchange gives answer supervision);
- disconnect, per port setting: the exchange's busy or congestion tone (cadence-checked, see
  `dsp.progress`), a polarity reversal, or a loop-current drop; Q.850 causes: busy tone → NORMAL_CLEARING
  (the far party hung up), the loop → NORMAL_CLEARING, a dead line → NETWORK_OUT_OF_ORDER;
- hook flash on request (a transfer on the exchange).

Inputs: `signal` (the card's PortSignal), `audio` (each 20 ms frame the line sends, linear), the provider's
requests, and `handle_timeout(now)` at `next_deadline()`. Every method returns the outputs it caused.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from appliance.legs.causes import Cause
from drivers.analog.dsp import callerid
from drivers.analog.dsp.progress import ToneCadenceDetector, plan_cadences
from drivers.analog.models import (
    Answered,
    CallerIdReceived,
    CallOffered,
    Ended,
    FxoSettings,
    PortOutput,
    PortState,
    SendAudio,
    SendCommand,
    StateChanged,
)
from drivers.hal.models import PortCommand, PortSignal

_CID_BUFFER_S = 6.0


class FxoError(RuntimeError):
    """A request the port cannot carry out in its state (a local error, not the line's)."""


class FxoPort:
    def __init__(self, port: int, settings: FxoSettings | None = None) -> None:
        self.port = port
        self.settings = settings or FxoSettings()
        self.state = PortState.IDLE
        self.outbound = False
        self.rings = 0
        self.caller_id: callerid.CallerId | None = None
        self.counters = {"calls_in": 0, "calls_out": 0, "caller_ids": 0, "busy_disconnects": 0,
                         "polarity_disconnects": 0, "loop_disconnects": 0, "faults": 0, "abandoned": 0}
        self._ring_started: float | None = None
        self._ring_ended: float | None = None
        self._offered = False
        self._cid_samples: list[npt.NDArray[np.int16]] = []
        self._dtmf_cid = callerid.DtmfCallerIdReceiver()
        self._tones = ToneCadenceDetector(plan_cadences(self.settings.tone_plan))
        self._loop_current = False
        self._deadline: float | None = None
        self._timer: str | None = None
        self._dial_queue: list[str] = []
        self._early_cid: tuple[float, callerid.CallerId] | None = None

    # ------------------------------------------------------------------------------------------ timers

    def next_deadline(self) -> float | None:
        return self._deadline

    def _arm(self, what: str | None, at: float | None) -> None:
        self._timer, self._deadline = what, at

    def handle_timeout(self, now: float) -> list[PortOutput]:
        if self._deadline is None or now < self._deadline:
            return []
        what = self._timer
        self._arm(None, None)
        if what == "ring_gone":
            self.counters["abandoned"] += 1
            out: list[PortOutput] = []
            if self._offered:
                out.append(Ended(Cause.NORMAL_CLEARING, remote=True, why="ringing stopped"))
            return out + self._to(PortState.IDLE, "ringing stopped")
        if what == "loop_check" and not self._loop_current:
            self.counters["faults"] += 1
            return [SendCommand(PortCommand.ON_HOOK),
                    Ended(Cause.NETWORK_OUT_OF_ORDER, remote=True, why="no loop current"),
                    *self._to(PortState.FAULTED, "no loop current when seized")]
        if what == "dial":
            return self._dial_next(now)
        return []

    # ------------------------------------------------------------------------------------------ the line

    def signal(self, sig: PortSignal, now: float) -> list[PortOutput]:
        s = self.settings
        if sig == PortSignal.RING_ON:
            if self.state in (PortState.IDLE, PortState.FAULTED):
                self.rings = 0
                self.caller_id = None
                self._offered = False
                self._cid_samples.clear()
                out = self._to(PortState.RINGING, "ringing")
                early, self._early_cid = self._early_cid, None
                if early is not None and now - early[0] <= s.caller_id_window_s:
                    out += self._got_caller_id(early[1], "dtmf")
            elif self.state == PortState.RINGING:
                out = []
            else:
                return []
            self._ring_started = now
            self._arm("ring_gone", now + s.ring_gone_s)
            return out
        if sig == PortSignal.RING_OFF and self.state == PortState.RINGING and self._ring_started is not None:
            length, self._ring_started = now - self._ring_started, None
            if length < s.min_ring_s:
                return []
            self.rings += 1
            self._ring_ended = now
            self._arm("ring_gone", now + s.ring_gone_s)
            return self._maybe_offer()
        if sig == PortSignal.LINE_CURRENT_ON:
            self._loop_current = True
            if self.state == PortState.FAULTED:
                return self._to(PortState.IDLE, "loop current back")
            return []
        if sig == PortSignal.LINE_CURRENT_OFF:
            self._loop_current = False
            if self.state in (PortState.IN_CALL, PortState.OFF_HOOK) and "loop_current" in s.disconnect:
                self.counters["loop_disconnects"] += 1
                return self._clear(Cause.NORMAL_CLEARING, "loop current dropped")
            return []
        if sig == PortSignal.POLARITY_REVERSAL:
            if self.state == PortState.OFF_HOOK and self.outbound and s.answer_on_polarity:
                self._dial_queue.clear()
                return [Answered(), *self._to(PortState.IN_CALL, "answered (polarity)")]
            if self.state == PortState.IN_CALL and "polarity" in s.disconnect:
                self.counters["polarity_disconnects"] += 1
                return self._clear(Cause.NORMAL_CLEARING, "polarity reversal")
        return []

    def audio(self, frame: npt.NDArray[np.int16], now: float) -> list[PortOutput]:
        """One 20 ms frame heard on the line."""
        if self.state == PortState.IDLE:
            # DTMF caller ID comes before the first ring, on a line that is still idle
            cid = self._dtmf_cid.feed(frame)
            if cid is not None:
                self._early_cid = (now, cid)
            return []
        if self.state == PortState.RINGING:
            return self._caller_id_audio(frame)
        if self.state == PortState.IN_CALL and "busy_tone" in self.settings.disconnect:
            tone = self._tones.feed(frame)
            if tone is not None:
                self.counters["busy_disconnects"] += 1
                return self._clear(Cause.NORMAL_CLEARING, f"{tone} tone")
        return []

    def _caller_id_audio(self, frame: npt.NDArray[np.int16]) -> list[PortOutput]:
        if self.caller_id is not None:
            return []
        if self.rings == 0:  # (while the first ring lasts: DTMF caller ID may still be finishing)
            cid = self._dtmf_cid.feed(frame)
            return self._got_caller_id(cid, "dtmf") if cid is not None else []
        self._cid_samples.append(frame.copy())
        if len(self._cid_samples) > _CID_BUFFER_S * 50:
            del self._cid_samples[0]
        if len(self._cid_samples) % 10:  # look every 200 ms: a message takes 0.3-0.5 s
            return []
        found = callerid.decode_fsk(np.concatenate(self._cid_samples))
        for message, _raw in found:
            if isinstance(message, callerid.CallerId):
                return self._got_caller_id(message, "fsk")
        return []

    def _got_caller_id(self, cid: callerid.CallerId, how: str) -> list[PortOutput]:
        self.caller_id = cid
        self.counters["caller_ids"] += 1
        self._cid_samples.clear()
        return [CallerIdReceived(cid, how), *self._maybe_offer()]

    def _maybe_offer(self) -> list[PortOutput]:
        if self._offered or self.rings < self.settings.rings_to_answer:
            return []
        if self.caller_id is None and self.rings < self.settings.rings_to_answer + 1 and self._cid_pending():
            return []
        self._offered = True
        self.counters["calls_in"] += 1
        return [CallOffered(self.caller_id)]

    def _cid_pending(self) -> bool:
        """Caller ID could still come: it is sent after the first ring, so only the first gap is waited for."""
        return self.rings == 1

    # ------------------------------------------------------------------------------------------ requests

    def answer(self, now: float) -> list[PortOutput]:
        if self.state != PortState.RINGING:
            raise FxoError(f"port {self.port}: nothing to answer ({self.state})")
        self.outbound = False
        self._tones.reset()
        self._arm("loop_check", now + self.settings.loop_current_timeout_s)
        return [SendCommand(PortCommand.OFF_HOOK), Answered(), *self._to(PortState.IN_CALL, "answered")]

    def dial(self, number: str, now: float) -> list[PortOutput]:
        """Seize the line and dial `number` (digits, `*`, `#`, and `,` for a pause)."""
        if self.state != PortState.IDLE:
            raise FxoError(f"port {self.port}: cannot seize ({self.state})")
        bad = set(number) - set("0123456789*#ABCD,")
        if bad:
            raise FxoError(f"cannot dial {''.join(sorted(bad))!r}")
        self.outbound = True
        self.counters["calls_out"] += 1
        self._tones.reset()
        self._dial_queue = list(number)
        self._loop_current = False
        self._arm("dial", now + self.settings.dial_tone_wait_s)
        return [SendCommand(PortCommand.OFF_HOOK), *self._to(PortState.OFF_HOOK, f"dialling {number}")]

    def _dial_next(self, now: float) -> list[PortOutput]:
        s = self.settings
        if not self._loop_current:
            self.counters["faults"] += 1
            return [SendCommand(PortCommand.ON_HOOK),
                    Ended(Cause.NETWORK_OUT_OF_ORDER, remote=True, why="no loop current"),
                    *self._to(PortState.FAULTED, "no loop current when seized")]
        digits: list[str] = []
        while self._dial_queue and self._dial_queue[0] != ",":
            digits.append(self._dial_queue.pop(0))
        out: list[PortOutput] = []
        wait = 0.0
        if digits:
            samples = callerid.dtmf_signal("".join(digits), level=s.dial_level_dbm0, twist_db=2.0,
                                           on_ms=s.digit_on_ms, off_ms=s.digit_off_ms)
            out.append(SendAudio(samples))
            wait = len(samples) / 8000
        if self._dial_queue:  # a pause
            self._dial_queue.pop(0)
            self._arm("dial", now + wait + s.pause_s)
            return out
        if s.answer_on_polarity:
            return out  # the call is up when the exchange reverses the loop
        return [*out, Answered(), *self._to(PortState.IN_CALL, "dialled")]

    def hangup(self, now: float) -> list[PortOutput]:
        if self.state in (PortState.IN_CALL, PortState.OFF_HOOK):
            self._dial_queue.clear()
            return [SendCommand(PortCommand.ON_HOOK), *self._to(PortState.IDLE, "hung up")]
        if self.state == PortState.RINGING:
            # an offered call refused: an analog line cannot reject; let it ring out
            self._offered = True
            return []
        return []

    def flash(self, now: float) -> list[PortOutput]:
        if self.state != PortState.IN_CALL:
            raise FxoError(f"port {self.port}: flash outside a call ({self.state})")
        return [SendCommand(PortCommand.FLASH)]

    # ------------------------------------------------------------------------------------------ inside

    def _clear(self, cause: Cause, why: str) -> list[PortOutput]:
        self._dial_queue.clear()
        return [SendCommand(PortCommand.ON_HOOK), Ended(cause, remote=True, why=why),
                *self._to(PortState.IDLE, why)]

    def _to(self, state: PortState, detail: str) -> list[PortOutput]:
        if state == PortState.IDLE:
            self._arm(None, None)
            self.outbound = False
            self._ring_started = None
            self._dtmf_cid = callerid.DtmfCallerIdReceiver()
        if state == self.state:
            return []
        self.state = state
        return [StateChanged(state, detail)]
