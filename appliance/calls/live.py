"""What call control keeps beside a `Call` while it runs: its actor's inbox and timers, and the working state
of each part of call control, grouped by the part that owns it.

A `Call` is what the API and the CDR show; `LiveCall` is what only the running call needs (an IVR session,
the consultation under way, the supervisor listening in ...) and goes when the call ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from appliance.calls.messages import CallMessage
from appliance.calls.models import Call
from appliance.ivr.runner import IvrRunner


@dataclass
class Playlist:
    """IVR prompts of one `Play` action, played one after another on the caller's endpoint."""

    play_id: int
    files: list[Path]
    barge_in: bool


@dataclass
class Monitor:
    """A supervisor's call joined to an agent's call (监听 / 密语 / 强插 / 强拆)."""

    target: str  # the monitored call
    agent: str
    mode: str  # listen | whisper | barge | take_over


@dataclass(frozen=True)
class VoicemailTake:
    """A voicemail message being recorded: it is deposited in `box` when the caller is done."""

    message_id: str
    path: Path
    box: str


@dataclass
class LiveCall:
    call: Call
    # the actor (actor.py)
    inbox: asyncio.Queue[CallMessage] = field(default_factory=asyncio.Queue)
    task: asyncio.Task[None] | None = None
    timers: list[asyncio.TimerHandle] = field(default_factory=list)
    # the caller's leg (leg_control.py, call_setup.py)
    answer_pending: bool = False  # the inbound caller's media is open: answer it when the call is answered
    on_caller_answer: Callable[[LiveCall], Awaitable[None]] | None = None  # originated: what follows the answer
    # controller prompts (playback.py)
    after_play: Callable[[], Awaitable[None]] | None = None  # the next step when a controller prompt finishes
    # IVR (ivr_calls.py)
    ivr: IvrRunner | None = None
    playlist: Playlist | None = None
    # queue and offers (queueing.py, agent_offers.py)
    in_acd: bool = False
    unanswered_offers: int = 0
    left_queue_by: str = ""
    # transfers (transfers.py)
    transfer_leg: str | None = None  # the phone a blind transfer rings, until it answers
    # voicemail (voicemail_flow.py)
    voicemail: VoicemailTake | None = None
    # consultation and conference (consultation.py)
    consult_leg: str | None = None
    consult_agent_ep: str | None = None
    consult_bridge: str | None = None
    conference_legs: set[str] = field(default_factory=set)
    joined_agents: dict[str, str] = field(default_factory=dict)  # consulted / third party's leg → agent (ACD)
    # callbacks (callbacks.py)
    callback_attempts: int = 0
    callback_confirmed: bool = False  # the IVR's callback step confirmed the number (its confirm prompt)
    callback_ticket: bool = False  # the number left in the IVR made the call a ticket as it entered the queue
    callback_leg: str | None = None  # the leg ringing the customer, until it answers
    # supervision (supervision.py)
    monitor: Monitor | None = None  # this call is a supervisor listening to another
    monitored_by: set[str] = field(default_factory=set)  # supervisor calls listening to this one

    @property
    def caller_endpoint(self) -> str | None:
        state = self.call.legs.get(self.call.caller_leg)
        return state.endpoint_id if state is not None else None

    @property
    def caller_gone(self) -> bool:
        """The caller's leg has ended (or there is none): a callback ticket keeps the call open without one."""
        state = self.call.legs.get(self.call.caller_leg)
        return state is None or state.ended_at is not None
