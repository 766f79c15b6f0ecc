"""FXS port: the box as the exchange for an agent's analog phone (sans-IO).

- Ringing with the plan's cadence (China: 25 Hz, 1 s on / 4 s off; the card makes the 25 Hz, the host times
  the cadence with RING_START / RING_STOP), caller ID to the phone per port: FSK (Bell 202 or V.23, MDMF or
  SDMF) in the first silent interval, `caller_id_delay_s` after the first ring (YDN 069, GR-30 on-hook
  transmission), or DTMF (`A<number>C`) just before the first ring.
- Off hook: while ringing it answers the call; otherwise dial tone, then DTMF digits from the phone (in band,
  detected here because no call exists yet); the number or feature code (`*11` …) is handed on after the
  inter-digit time or `#`.
- On hook and hook flash from the hook switch with debounce: on-hook shorter than `flash_min_s` is contact
  bounce, up to `flash_max_s` a flash (consult, transfer, 3-way by the code that follows), longer a hang-up.
  A card that reports FLASH itself is taken as well.
- The far end gone while the phone is still up: busy tone, then congestion after `busy_after_s`.
- Message waiting: FSK MWI (MDMF 0x82) sent on hook.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from appliance.legs.causes import Cause
from appliance.media.inband import InbandDetector
from drivers.analog.dsp import callerid, fsk
from drivers.analog.models import (
    Answered,
    Dialled,
    Ended,
    Flash,
    FxsSettings,
    PlayTone,
    PortOutput,
    PortState,
    SendAudio,
    SendCommand,
    StateChanged,
)
from drivers.hal.models import PortCommand, PortSignal


class FxsError(RuntimeError):
    """A request the port cannot carry out in its state."""


def displayable(cid: callerid.CallerId | None) -> callerid.CallerId | None:
    """Caller ID as an analog phone can take it: a number of digits (else "unavailable"), a name cut to 32
    bytes on a character boundary."""
    if cid is None:
        return None
    number = "".join(ch for ch in (cid.number or "") if ch.isdigit())[:20] or None
    name = cid.name
    if name:
        while len(name.encode(callerid.NAME_ENCODING)) > 32:
            name = name[:-1]
    return callerid.CallerId(number=number, name=name or None, date=cid.date,
                             number_absent=None if number else (cid.number_absent or "O"),
                             name_absent=cid.name_absent)


class FxsPort:
    def __init__(self, port: int, settings: FxsSettings | None = None) -> None:
        self.port = port
        self.settings = settings or FxsSettings()
        self.state = PortState.IDLE
        self.off_hook = False
        self.digits = ""
        self.counters = {"rings": 0, "answered": 0, "dialled": 0, "flashes": 0, "bounces": 0, "caller_ids": 0}
        self._timers: dict[str, float] = {}
        self._ringing = False  # a call rings the phone
        self._ring_on = False
        self._rings_sent = 0
        self._caller_id: callerid.CallerId | None = None
        self._hook_down_at: float | None = None
        self._far_end_gone = False
        self._detector: InbandDetector | None = None
        self._collecting = False  # digits after a flash, in a call
        self._code_only = False  # collecting one digit of a code (3-way) after a flash, not a number

    # ------------------------------------------------------------------------------------------ timers

    def next_deadline(self) -> float | None:
        return min(self._timers.values()) if self._timers else None

    def handle_timeout(self, now: float) -> list[PortOutput]:
        out: list[PortOutput] = []
        for name, at in sorted(self._timers.items(), key=lambda kv: kv[1]):
            if at <= now and self._timers.get(name) == at:
                del self._timers[name]
                out += self._fire(name, now)
        return out

    def _fire(self, name: str, now: float) -> list[PortOutput]:
        s = self.settings
        if name == "ring" and self._ringing:
            if self._ring_on:
                self._ring_on = False
                self._timers["ring"] = now + s.ring_off_s
                out: list[PortOutput] = [SendCommand(PortCommand.RING_STOP)]
                if self._rings_sent == 1 and self._caller_id and s.caller_id.startswith("fsk"):
                    self._timers["caller_id"] = now + s.caller_id_delay_s
                return out
            return self._ring_start(now)
        if name == "caller_id" and self._ringing and self._caller_id is not None:
            return [self._fsk(self._caller_id)]
        if name == "hook":  # on hook for longer than a flash: hung up
            return self._hung_up(now)
        if name == "digits" and (self.state == PortState.OFF_HOOK or self._collecting) and self.digits:
            return self._dialled()
        if name == "digits" and self._collecting and self._code_only:  # no code within the window
            return self._dialled()
        if name == "digits" and self.state == PortState.OFF_HOOK:
            return [PlayTone("congestion")]
        if name == "congestion" and self.off_hook and self._far_end_gone:
            return [PlayTone("congestion")]
        return []

    # ------------------------------------------------------------------------------------------ the phone

    def signal(self, sig: PortSignal, now: float) -> list[PortOutput]:
        s = self.settings
        if sig == PortSignal.ON_HOOK and self.off_hook:
            self.off_hook = False
            self._hook_down_at = now
            if self.state == PortState.IN_CALL and not self._far_end_gone:
                self._timers["hook"] = now + s.flash_max_s  # a flash, or hanging up: the time tells
                return []
            return self._hung_up(now)
        if sig == PortSignal.OFF_HOOK and not self.off_hook:
            self.off_hook = True
            down, self._hook_down_at = self._hook_down_at, None
            if "hook" in self._timers and down is not None:
                del self._timers["hook"]
                if now - down < s.flash_min_s:
                    self.counters["bounces"] += 1
                    return []
                self.counters["flashes"] += 1
                return [Flash()]
            if self._ringing:
                return self._answered()
            return self._dial_tone(now)
        if sig == PortSignal.FLASH and self.state == PortState.IN_CALL:
            self.counters["flashes"] += 1
            return [Flash()]
        return []

    def audio(self, frame: npt.NDArray[np.int16], now: float) -> list[PortOutput]:
        """A 20 ms frame from the phone; digits are collected here only while it dials (no call yet)."""
        if not (self.state == PortState.OFF_HOOK or self._collecting) or self._detector is None:
            return []
        out: list[PortOutput] = []
        for digit in self._detector.feed(frame.astype(np.int16)):
            if not self.digits:
                out.append(PlayTone(None))  # the first digit stops the dial tone
            if digit == "#" and self.digits and not self.digits.startswith("*"):
                return out + self._dialled()
            self.digits += digit
            if self._code_only:  # (codes are one digit: act at once; a # or * is the tail of the number dialled)
                if digit in "#*":
                    self.digits = ""
                    continue
                return out + self._dialled()
            self._timers["digits"] = now + self.settings.interdigit_s
        return out

    # ------------------------------------------------------------------------------------------ requests

    def ring(self, caller_id: callerid.CallerId | None, now: float) -> list[PortOutput]:
        """A call for this phone: ring it with caller ID (what a phone can show of it: the number's digits,
        a name of at most 32 bytes)."""
        if self.off_hook or self._ringing:
            raise FxsError(f"port {self.port}: busy ({self.state})")
        self._ringing = True
        self._rings_sent = 0
        self._caller_id = displayable(caller_id) if self.settings.caller_id != "none" else None
        out: list[PortOutput] = [*self._to(PortState.RINGING, "ringing")]
        if self._caller_id is not None and self.settings.caller_id == "dtmf":
            digits = callerid.encode_dtmf(self._caller_id)
            samples = callerid.dtmf_signal(digits, level=-10.0)
            self.counters["caller_ids"] += 1
            out.append(SendAudio(samples))
            self._timers["ring"] = now + len(samples) / 8000 + self.settings.dtmf_caller_id_lead_s
            return out
        return out + self._ring_start(now)

    def stop_ringing(self, now: float) -> list[PortOutput]:
        """The call stopped ringing the phone (answered elsewhere, the caller gave up, the ring timeout)."""
        if not self._ringing:
            return []
        out = self._stop_ring()
        return out + self._to(PortState.IDLE, "ringing stopped")

    def connected(self, now: float) -> list[PortOutput]:
        """Call control bridged the phone's call (after it dialled): it is in a call."""
        return [PlayTone(None), *self._to(PortState.IN_CALL, "connected")]

    def far_end_gone(self, now: float, tone: str = "busy") -> list[PortOutput]:
        """The other party left: the phone, still up, hears busy, then congestion."""
        if not self.off_hook:
            return self.stop_ringing(now)
        self._far_end_gone = True
        self._timers.pop("hook", None)
        self._timers["congestion"] = now + self.settings.busy_after_s
        return [PlayTone(tone), *self._to(PortState.OFF_HOOK, "far end gone")]

    def collect(self, now: float) -> list[PortOutput]:
        """After a flash: the caller is held, the phone hears dial tone and dials the transfer target."""
        if self.state != PortState.IN_CALL:
            return []
        self._collecting = True
        self.digits = ""
        self._detector = InbandDetector()
        self._timers["digits"] = now + self.settings.first_digit_s
        return [PlayTone("dial")]

    def collect_code(self, now: float) -> list[PortOutput]:
        """A flash during a consultation: one digit within `code_window_s` says what to do (the three-way
        code joins everyone); nothing, `Dialled("", in_call=True)`, means back to the held caller. No dial
        tone: the consulted party is still on the line."""
        if self.state != PortState.IN_CALL:
            return []
        self._collecting, self._code_only = True, True
        self.digits = ""
        self._detector = InbandDetector()
        self._timers["digits"] = now + self.settings.code_window_s
        return []

    def resume(self, now: float) -> list[PortOutput]:
        """Back to the held call (a second flash, or the transfer failed)."""
        self._collecting = False
        self._code_only = False
        self._detector = None
        self.digits = ""
        self._timers.pop("digits", None)
        return [PlayTone(None)]

    def message_waiting(self, active: bool) -> list[PortOutput]:
        if self.off_hook or self._ringing:
            return []  # sent on hook and idle only; the driver retries later
        message = callerid.encode_message_waiting(active, mdmf=self.settings.caller_id_mdmf)
        modem = fsk.V23 if self.settings.caller_id == "fsk_v23" else fsk.BELL202
        return [SendAudio(callerid.fsk_signal(message, modem))]

    # ------------------------------------------------------------------------------------------ inside

    def _ring_start(self, now: float) -> list[PortOutput]:
        self._ring_on = True
        self._rings_sent += 1
        self.counters["rings"] += 1
        self._timers["ring"] = now + self.settings.ring_on_s
        return [SendCommand(PortCommand.RING_START)]

    def _stop_ring(self) -> list[PortOutput]:
        was_on = self._ring_on
        self._ringing = self._ring_on = False
        self._timers.pop("ring", None)
        self._timers.pop("caller_id", None)
        return [SendCommand(PortCommand.RING_STOP)] if was_on else []

    def _fsk(self, cid: callerid.CallerId) -> SendAudio:
        s = self.settings
        message = callerid.encode_mdmf(cid) if s.caller_id_mdmf else callerid.encode_sdmf(cid)
        self.counters["caller_ids"] += 1
        return SendAudio(callerid.fsk_signal(message, fsk.V23 if s.caller_id == "fsk_v23" else fsk.BELL202))

    def _answered(self) -> list[PortOutput]:
        out = self._stop_ring()
        self.counters["answered"] += 1
        return [*out, Answered(), *self._to(PortState.IN_CALL, "answered")]

    def _dial_tone(self, now: float) -> list[PortOutput]:
        self.digits = ""
        self._far_end_gone = False
        self._detector = InbandDetector()
        self._timers["digits"] = now + self.settings.first_digit_s
        return [PlayTone("dial"), *self._to(PortState.OFF_HOOK, "dial tone")]

    def _dialled(self) -> list[PortOutput]:
        digits, self.digits = self.digits, ""
        self._timers.pop("digits", None)
        self._detector = None
        self.counters["dialled"] += 1
        if self._collecting:
            self._collecting, self._code_only = False, False
            return [PlayTone(None), Dialled(digits, in_call=True)]
        return [Dialled(digits), *self._to(PortState.IN_CALL, f"dialled {digits}")]

    def _hung_up(self, now: float) -> list[PortOutput]:
        was = self.state
        self._timers.clear()
        self._detector = None
        self.digits = ""
        self._far_end_gone = False
        self._collecting = self._code_only = False
        out: list[PortOutput] = [PlayTone(None)]
        if was == PortState.IN_CALL:
            out.append(Ended(Cause.NORMAL_CLEARING, remote=True, why="on hook"))
        return out + self._to(PortState.IDLE, "on hook")

    def _to(self, state: PortState, detail: str) -> list[PortOutput]:
        if state == self.state:
            return []
        self.state = state
        return [StateChanged(state, detail)]
