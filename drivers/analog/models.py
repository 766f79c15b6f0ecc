"""Per-port settings and what the sans-IO port machines emit (to the card, to the leg provider, to media)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from appliance.legs.causes import Cause
from drivers.analog.dsp.callerid import CallerId
from drivers.hal.models import PortCommand

CallerIdMode = Literal["fsk_bell202", "fsk_v23", "dtmf", "none"]
Disconnect = Literal["busy_tone", "polarity", "loop_current"]


class PortState(enum.StrEnum):
    """What `appliance hw status` and the API show for a port."""

    IDLE = "idle"
    RINGING = "ringing"  # FXO: the exchange rings us; FXS: we ring the phone
    OFF_HOOK = "off_hook"  # FXO: seized, dialling; FXS: the phone is up, dial tone and digits
    IN_CALL = "in_call"
    FAULTED = "faulted"  # FXO: no loop current when seized (no battery on the line)


@dataclass(frozen=True, slots=True, kw_only=True)
class FxoSettings:
    rings_to_answer: int = 2  # announce the call at this ring (caller ID comes after the first)
    disconnect: frozenset[Disconnect] = frozenset({"busy_tone", "polarity", "loop_current"})
    tone_plan: str = "cn"
    ring_gone_s: float = 6.0  # no ring for this long: the caller gave up (the cadence's off time is 4 s)
    min_ring_s: float = 0.15  # shorter ringing voltage is a glitch, not a ring
    caller_id_window_s: float = 5.0  # from the end of the first ring (FSK) / before it (DTMF)
    answer_on_polarity: bool = False  # outbound: the exchange signals answer by reversing the loop
    dial_tone_wait_s: float = 1.0  # after seizing, before the first digit
    pause_s: float = 1.0  # a ',' in a dial string
    digit_on_ms: int = 80
    digit_off_ms: int = 80
    dial_level_dbm0: float = -8.0
    loop_current_timeout_s: float = 1.0  # seized without loop current this long: the line is dead
    flash_s: float = 0.1
    rx_gain_db: float = 0.0  # per-port gain (applied by the driver to the port's audio)
    tx_gain_db: float = 0.0
    impedance: str = "cn"  # passed to the card: "600", "900", "cn" (200 + 680 || 100 nF)
    region: str = "cn"


@dataclass(frozen=True, slots=True, kw_only=True)
class FxsSettings:
    caller_id: CallerIdMode = "fsk_bell202"
    caller_id_mdmf: bool = True
    tone_plan: str = "cn"
    ring_on_s: float = 1.0  # 25 Hz ringing 1 s on, 4 s off (the card makes the 25 Hz)
    ring_off_s: float = 4.0
    caller_id_delay_s: float = 0.6  # after the first ring ends (FSK), before the data
    dtmf_caller_id_lead_s: float = 0.3  # DTMF caller ID ends this long before the first ring
    flash_min_s: float = 0.08  # on-hook shorter than this is contact bounce
    flash_max_s: float = 0.8  # on-hook longer than this is hanging up
    interdigit_s: float = 3.0
    code_window_s: float = 2.0  # after a flash in a consultation: the code must come within this
    three_way_code: str = "3"  # flash, then this digit, during a consultation: all three talk together
    first_digit_s: float = 15.0  # dial tone this long with no digit: congestion
    busy_after_s: float = 30.0  # far end gone and the phone still up: busy tone, then this long to congestion
    rx_gain_db: float = 0.0  # per-port gain (applied by the driver to the port's audio)
    tx_gain_db: float = 0.0


# -------------------------------------------------------------------------------------------- outputs


@dataclass(frozen=True, slots=True)
class SendCommand:
    """To the card (`CardBackend.port_command`)."""

    command: PortCommand


@dataclass(frozen=True, slots=True)
class PlayTone:
    """To media: play this tone of the plan to the port (None: stop)."""

    tone: str | None


@dataclass(frozen=True, slots=True)
class SendAudio:
    """To the port's bearer, ahead of anything else: caller ID or dialled digits, 8 kHz linear."""

    samples: npt.NDArray[np.int16]


@dataclass(frozen=True, slots=True)
class StateChanged:
    state: PortState
    detail: str = ""


@dataclass(frozen=True, slots=True)
class CallOffered:
    """FXO: the exchange's call, with its caller ID if one came (announce it: `LegIncoming`)."""

    caller_id: CallerId | None


@dataclass(frozen=True, slots=True)
class CallerIdReceived:
    caller_id: CallerId
    how: str  # "fsk" | "dtmf"


@dataclass(frozen=True, slots=True)
class Answered:
    """The far side answered: FXO outbound (dialled, or polarity reversal), FXS: the phone was picked up."""


@dataclass(frozen=True, slots=True)
class Ended:
    cause: Cause
    remote: bool
    why: str


@dataclass(frozen=True, slots=True)
class Dialled:
    """FXS: the phone dialled this (a number or a feature code such as `*11`); `in_call`: after a flash, the
    target of a transfer."""

    digits: str
    in_call: bool = False


@dataclass(frozen=True, slots=True)
class Flash:
    """FXS: a hook flash during a call (consult / transfer / 3-way by the code that follows)."""


PortOutput = (SendCommand | PlayTone | SendAudio | StateChanged | CallOffered | CallerIdReceived | Answered
              | Ended | Dialled | Flash)
