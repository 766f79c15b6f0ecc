"""The vocabulary of Q.931 call control (`drivers.e1.q931.Q931`): the causes it uses (Q.850), its timers
(Q.931 Table 9-1/9-2) and its outputs: what goes to the data link (`Send`) and what happened to a call or the
interface (ITU-T Q.931 §5)."""

from __future__ import annotations

from dataclasses import dataclass

from drivers.e1.q931_codec import Bearer, Message, Number

# cause values used here (Q.850)
NORMAL_CLEARING, NO_CIRCUIT, CHANNEL_UNAVAILABLE, TEMPORARY_FAILURE = 16, 34, 44, 41
NO_USER_RESPONDING, CHANNEL_NONEXISTENT, INVALID_CREF, MANDATORY_IE_MISSING = 18, 82, 81, 96
STATE_INCOMPATIBLE, RECOVERY_ON_TIMER, STATUS_ENQUIRY_RESPONSE, NONEXISTENT_MESSAGE = 101, 102, 30, 97
INCOMPATIBLE_DESTINATION = 88


@dataclass(frozen=True, slots=True)
class Timers:
    t302: float = 15.0
    t303: float = 4.0
    t305: float = 30.0
    t308: float = 4.0
    t309: float = 90.0
    t310: float = 30.0
    t313: float = 4.0
    t316: float = 120.0



@dataclass(frozen=True, slots=True)
class Send:
    data: bytes
    message: Message


@dataclass(frozen=True, slots=True)
class IncomingCall:
    call: int
    channel: int
    called: Number | None
    calling: Number | None
    redirecting: Number | None
    bearer: Bearer | None


@dataclass(frozen=True, slots=True)
class Proceeding:
    call: int
    channel: int | None


@dataclass(frozen=True, slots=True)
class Alerting:
    call: int
    inband: bool


@dataclass(frozen=True, slots=True)
class Progressing:
    call: int
    description: int


@dataclass(frozen=True, slots=True)
class Answered:
    call: int


@dataclass(frozen=True, slots=True)
class ConnectAcknowledged:
    call: int


@dataclass(frozen=True, slots=True)
class Cleared:
    """The call is over for call control (its channel is free once the release completes)."""

    call: int
    cause: int
    remote: bool
    channel: int | None


@dataclass(frozen=True, slots=True)
class Digits:
    """Digits of the called number that came later (overlap receiving) or keypad digits while active."""

    call: int
    digits: str


@dataclass(frozen=True, slots=True)
class Restarted:
    """The peer restarted channels (None: the whole interface); their calls were cleared."""

    channels: tuple[int, ...] | None


@dataclass(frozen=True, slots=True)
class RestartConfirmed:
    channels: tuple[int, ...] | None


@dataclass(frozen=True, slots=True)
class StatusReceived:
    call: int | None
    cause: int | None
    state: int | None


@dataclass(frozen=True, slots=True)
class ProtocolError:
    """Something the peer sent that we had to refuse or ignore (counted; the link stays up)."""

    detail: str


Output = (Send | IncomingCall | Proceeding | Alerting | Progressing | Answered | ConnectAcknowledged | Cleared
          | Digits | Restarted | RestartConfirmed | StatusReceived | ProtocolError)


