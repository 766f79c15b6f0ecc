"""Q.931 basic call control for one PRI interface (ITU-T Q.931 §5, ETSI EN 300 403-1), sans-IO, in the
user (CPE) or the network role.

Implements circuit-switched call establishment and clearing (§5.1-5.4: SETUP, SETUP ACKNOWLEDGE and
overlap receiving, CALL PROCEEDING, ALERTING, PROGRESS, CONNECT, CONNECT ACKNOWLEDGE, DISCONNECT, RELEASE,
RELEASE COMPLETE), B-channel selection with exclusive and preferred channels and glare resolved by role
(§5.1.2, §5.2.3: the network's choice wins), restart of channels and of the interface (§5.5, class 0 and
7), status enquiry and the error procedures of §5.8 (unknown call references, messages incompatible with
the state, STATUS with a null state, mandatory IEs missing), data link failure (§5.8.8-5.8.9, T309) and the
timers T302, T303, T305, T308, T309, T310, T313 and T316 (Table 9-1/9-2 values by default).

Inputs: requests from call control (`setup`, `proceeding`, `alerting`, `progress`, `connect`, `hangup`,
`restart`, `status_enquiry`) and from the data link (`receive`, `link_up`, `link_down`); outputs: `Send`
(a DL-DATA request) and the indications below. Calls are named by an id of ours, never by call reference.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Literal

from drivers.e1.q931_codec import (
    MT,
    Bearer,
    CauseIE,
    ChannelId,
    Message,
    Number,
    ProgressIE,
    Q931Error,
    decode,
    encode,
)
from drivers.e1.q931_model import (
    CHANNEL_NONEXISTENT,
    CHANNEL_UNAVAILABLE,
    INCOMPATIBLE_DESTINATION,
    INVALID_CREF,
    MANDATORY_IE_MISSING,
    NO_CIRCUIT,
    NO_USER_RESPONDING,
    NORMAL_CLEARING,
    RECOVERY_ON_TIMER,
    STATE_INCOMPATIBLE,
    STATUS_ENQUIRY_RESPONSE,
    TEMPORARY_FAILURE,
    Alerting,
    Answered,
    Cleared,
    ConnectAcknowledged,
    Digits,
    IncomingCall,
    Output,
    Proceeding,
    Progressing,
    ProtocolError,
    RestartConfirmed,
    Restarted,
    Send,
    StatusReceived,
    Timers,
)

Role = Literal["user", "network"]
B_CHANNELS = tuple(c for c in range(1, 32) if c != 16)



# ---------------------------------------------------------------- calls


@dataclass
class Call:
    id: int
    cref: int
    outbound: bool  # we sent the SETUP (our call reference: flag 0 on what we send)
    state: int = 0  # Q.931 call state number (U/N states share numbers in §2)
    channel: int | None = None
    cleared: bool = False  # Cleared was reported
    timer: str | None = None
    timer_at: float = 0.0
    timer_count: int = 0
    cause: int = NORMAL_CLEARING
    setup: Message | None = None
    digits: str = ""  # overlap receiving
    channel_lost: bool = False  # glare: the channel went to the other call


@dataclass
class Q931:
    role: Role
    timers: Timers = field(default_factory=Timers)
    channels: tuple[int, ...] = B_CHANNELS
    hunting: Literal["ascending", "descending"] = "descending"  # the side that picks, picks from the far end
    overlap_digits: int = 0  # overlap receiving: the called number is complete at this many digits (0: off)
    calls: dict[int, Call] = field(default_factory=dict)
    busy: dict[int, int] = field(default_factory=dict)  # channel -> call id
    blocked: set[int] = field(default_factory=set)  # channels out of service (after T308 twice)
    link: bool = False
    counters: dict[str, int] = field(default_factory=lambda: {
        "messages_in": 0, "messages_out": 0, "bad_messages": 0, "calls_in": 0, "calls_out": 0, "glare": 0,
        "restarts_in": 0, "restarts_out": 0, "timer_expiries": 0})
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _crefs: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _out: list[Output] = field(default_factory=list)
    _restart: tuple[tuple[int, ...] | None, float, int] | None = None  # (channels, T316 deadline, tries)
    _t309_at: float | None = None

    # ---------------------------------------------------------------- requests from call control

    def setup(self, now: float, called: Number, *, calling: Number | None = None, channel: int | None = None,
              exclusive: bool = True, bearer: Bearer | None = None, redirecting: Number | None = None,
              sending_complete: bool = True) -> tuple[int, list[Output]]:
        """Start an outbound call. `channel` None: we pick one (hunting order); `LookupError` when none is free."""
        if channel is None:
            channel = self.free_channel()
            if channel is None:
                raise LookupError("no free B-channel")
        elif channel not in self.channels or channel in self.busy or channel in self.blocked:
            raise LookupError(f"B-channel {channel} is not free")
        call = self._new_call(self._next_cref(), outbound=True)
        call.channel = channel
        self.busy[channel] = call.id
        msg = Message(MT.SETUP, call.cref, bearer=bearer or Bearer(), channel=ChannelId(channel, exclusive),
                      calling=calling, called=called, redirecting=redirecting, sending_complete=sending_complete)
        call.setup = msg
        call.state = 1
        self.counters["calls_out"] += 1
        self._send(call, msg)
        self._start(call, "t303", now)
        return call.id, self._flush()

    def proceeding(self, call_id: int, now: float) -> list[Output]:
        call = self.calls.get(call_id)
        if call is not None and call.state in (6, 25):
            self._send(call, self._msg(call, MT.CALL_PROCEEDING, channel=ChannelId(call.channel, True)))
            call.state = 9
        return self._flush()

    def alerting(self, call_id: int, now: float, *, inband: bool = False) -> list[Output]:
        call = self.calls.get(call_id)
        if call is not None and call.state in (6, 9, 25):
            first = call.state in (6, 25)
            self._send(call, self._msg(call, MT.ALERTING, channel=ChannelId(call.channel, True) if first else None,
                                       progress=ProgressIE(8, self._location()) if inband else None))
            call.state = 7
        return self._flush()

    def progress(self, call_id: int, now: float, description: int = 8) -> list[Output]:
        call = self.calls.get(call_id)
        if call is not None and call.state in (7, 9, 25):
            self._send(call, self._msg(call, MT.PROGRESS, progress=ProgressIE(description, self._location())))
        return self._flush()

    def connect(self, call_id: int, now: float) -> list[Output]:
        call = self.calls.get(call_id)
        if call is not None and call.state in (6, 7, 9, 25):
            first = call.state in (6, 25)
            self._send(call, self._msg(call, MT.CONNECT, channel=ChannelId(call.channel, True) if first else None))
            if self.role == "user":
                call.state = 8
                self._start(call, "t313", now)
            else:
                call.state = 10  # the network side is active at once; CONNECT ACK comes from the user
        return self._flush()

    def hangup(self, call_id: int, cause: int, now: float) -> list[Output]:
        """Clear a call in whatever state: RELEASE COMPLETE for an offered SETUP, else DISCONNECT (§5.3)."""
        call = self.calls.get(call_id)
        if call is None or call.state in (0, 11, 19):
            return self._flush()
        call.cause = cause
        if call.state == 6:
            self._send(call, self._msg(call, MT.RELEASE_COMPLETE, cause=self._cause(cause)))
            self._report_cleared(call, cause, remote=False)
            self._forget(call)
        elif call.state == 12:
            self._release(call, cause, now)
            self._report_cleared(call, cause, remote=False)
        else:
            self._send(call, self._msg(call, MT.DISCONNECT, cause=self._cause(cause)))
            call.state = 11
            self._start(call, "t305", now)
            self._report_cleared(call, cause, remote=False)
        return self._flush()

    def restart(self, now: float, channels: Iterable[int] | None = None) -> list[Output]:
        """RESTART of channels (class 0, one channel ID per message) or of the interface (class 7)."""
        chans = tuple(channels) if channels is not None else None
        self._clear_channels(chans, TEMPORARY_FAILURE, remote=False)
        self._send_restart(chans)
        self._restart = (chans, now + self.timers.t316, 1)
        self.counters["restarts_out"] += 1
        return self._flush()

    def status_enquiry(self, call_id: int, now: float) -> list[Output]:
        call = self.calls.get(call_id)
        if call is not None:
            self._send(call, self._msg(call, MT.STATUS_ENQUIRY))
        return self._flush()

    def free_channel(self) -> int | None:
        order = self.channels if self.hunting == "ascending" else tuple(reversed(self.channels))
        return next((c for c in order if c not in self.busy and c not in self.blocked), None)

    # ---------------------------------------------------------------- the data link

    def link_up(self, now: float) -> list[Output]:
        self.link = True
        self._t309_at = None
        return self._flush()

    def link_down(self, now: float) -> list[Output]:
        """§5.8.8/5.8.9: calls not yet active are cleared; active ones wait T309 for the link to return."""
        self.link = False
        for call in list(self.calls.values()):
            if call.state != 10:
                self._report_cleared(call, TEMPORARY_FAILURE, remote=True)
                self._forget(call)
        if self.calls and self._t309_at is None:
            self._t309_at = now + self.timers.t309
        return self._flush()

    def receive(self, data: bytes, now: float) -> list[Output]:
        """One DL-DATA indication."""
        try:
            msg = decode(data)
        except Q931Error as exc:
            self.counters["bad_messages"] += 1
            self._out.append(ProtocolError(str(exc)))
            return self._flush()
        self.counters["messages_in"] += 1
        if msg.cref == 0:
            self._global(msg, now)
            return self._flush()
        # the flag is set on messages from the side that did not originate the reference: so a message
        # about our outbound call has the flag set, and a new SETUP from the peer has it clear
        call = next((c for c in self.calls.values() if c.cref == msg.cref and c.outbound == msg.from_destination),
                    None)
        if call is None:
            self._unknown_cref(msg, now)
        else:
            self._in_call(call, msg, now)
        return self._flush()

    # ---------------------------------------------------------------- time

    def next_deadline(self) -> float | None:
        times = [c.timer_at for c in self.calls.values() if c.timer is not None]
        if self._restart is not None:
            times.append(self._restart[1])
        if self._t309_at is not None:
            times.append(self._t309_at)
        return min(times) if times else None

    def handle_timeout(self, now: float) -> list[Output]:
        for call in list(self.calls.values()):
            if call.timer is not None and now >= call.timer_at:
                name, call.timer = call.timer, None
                self.counters["timer_expiries"] += 1
                self._expired(call, name, now)
        if self._restart is not None and now >= self._restart[1]:
            chans, _, tries = self._restart
            self.counters["timer_expiries"] += 1
            if tries < 2:
                self._send_restart(chans)
                self._restart = (chans, now + self.timers.t316, tries + 1)
            else:
                self._restart = None
                self._out.append(ProtocolError("no RESTART ACKNOWLEDGE after T316 twice"))
        if self._t309_at is not None and now >= self._t309_at:
            self._t309_at = None
            self.counters["timer_expiries"] += 1
            for call in list(self.calls.values()):
                self._report_cleared(call, TEMPORARY_FAILURE, remote=True)
                self._forget(call)
        return self._flush()

    def _expired(self, call: Call, name: str, now: float) -> None:
        if name == "t303":
            if call.timer_count < 2 and call.setup is not None:
                self._send(call, call.setup)  # §5.1.1: SETUP once more
                self._start(call, "t303", now, count=call.timer_count + 1)
            else:
                self._send(call, self._msg(call, MT.RELEASE_COMPLETE, cause=self._cause(RECOVERY_ON_TIMER)))
                self._report_cleared(call, NO_USER_RESPONDING, remote=True)
                self._forget(call)
        elif name in ("t310", "t313"):
            self._send(call, self._msg(call, MT.DISCONNECT, cause=self._cause(RECOVERY_ON_TIMER)))
            call.state = 11
            self._start(call, "t305", now)
            self._report_cleared(call, RECOVERY_ON_TIMER, remote=True)
        elif name == "t305":
            self._release(call, call.cause, now)
        elif name == "t308":
            if call.timer_count < 2:
                self._send(call, self._msg(call, MT.RELEASE, cause=self._cause(call.cause)))
                self._start(call, "t308", now, count=call.timer_count + 1)
            else:
                if call.channel is not None and not call.channel_lost:
                    self.blocked.add(call.channel)  # §5.3.4.3: out of service until restarted
                self._report_cleared(call, call.cause, remote=False)
                self._forget(call)
        elif name == "t302":
            self._offer(call, now)

    # ---------------------------------------------------------------- inside: per message

    def _in_call(self, call: Call, msg: Message, now: float) -> None:
        t = msg.type
        if t == MT.STATUS_ENQUIRY:
            self._send(call, self._msg(call, MT.STATUS, cause=self._cause(STATUS_ENQUIRY_RESPONSE),
                                       call_state=call.state))
            return
        if t == MT.STATUS:
            self._out.append(StatusReceived(call.id, msg.cause.value if msg.cause else None, msg.call_state))
            if msg.call_state == 0 and call.state != 0:  # §5.8.11: the peer has no such call
                self._report_cleared(call, msg.cause.value if msg.cause else STATE_INCOMPATIBLE, remote=True)
                self._forget(call)
            return
        if t == MT.RELEASE_COMPLETE:
            self._report_cleared(call, msg.cause.value if msg.cause else NORMAL_CLEARING, remote=True)
            self._forget(call)
            return
        if t == MT.RELEASE:
            self._send(call, self._msg(call, MT.RELEASE_COMPLETE))
            self._report_cleared(call, msg.cause.value if msg.cause else NORMAL_CLEARING, remote=True)
            self._forget(call)
            return
        if t == MT.DISCONNECT:
            cause = msg.cause.value if msg.cause else NORMAL_CLEARING
            if msg.cause is None:
                self._out.append(ProtocolError("DISCONNECT without a cause"))
            if call.state == 11:  # §5.3.5 clear collision: both sent DISCONNECT
                self._release(call, call.cause, now)
                return
            self._report_cleared(call, cause, remote=True)
            self._release(call, cause, now)  # (the user or network side both release at once here)
            return
        if call.state in (11, 19):
            return  # clearing: anything else is ignored (§5.3)
        if t == MT.CALL_PROCEEDING and call.state in (1, 2):
            if not self._outbound_channel(call, msg):
                return
            call.state = 3
            self._start(call, "t310", now)
            self._out.append(Proceeding(call.id, call.channel))
        elif t == MT.SETUP_ACKNOWLEDGE and call.state == 1:
            if not self._outbound_channel(call, msg):
                return
            call.state = 2
            self._stop(call)
        elif t == MT.ALERTING and call.state in (1, 2, 3):
            if not self._outbound_channel(call, msg):
                return
            call.state = 4
            self._stop(call)
            self._out.append(Alerting(call.id, bool(msg.progress and msg.progress.description in (1, 8))))
        elif t == MT.PROGRESS and call.state in (1, 2, 3, 4):
            if call.timer == "t310":
                self._stop(call)
            self._out.append(Progressing(call.id, msg.progress.description if msg.progress else 0))
        elif t == MT.CONNECT and call.state in (1, 2, 3, 4):
            if not self._outbound_channel(call, msg):
                return
            self._stop(call)
            call.state = 10
            self._send(call, self._msg(call, MT.CONNECT_ACKNOWLEDGE))
            self._out.append(Answered(call.id))
        elif t == MT.CONNECT_ACKNOWLEDGE and call.state in (8, 10):
            self._stop(call)
            call.state = 10
            self._out.append(ConnectAcknowledged(call.id))
        elif t == MT.INFORMATION:
            digits = msg.called.digits if msg.called else ""
            if call.state == 25:
                call.digits += digits
                if msg.sending_complete or (self.overlap_digits and len(call.digits) >= self.overlap_digits):
                    self._offer(call, now)
                else:
                    self._start(call, "t302", now)
            elif digits:
                self._out.append(Digits(call.id, digits))
        elif t in (MT.FACILITY, MT.NOTIFY, MT.INFORMATION):
            pass
        else:
            self._send(call, self._msg(call, MT.STATUS, cause=self._cause(STATE_INCOMPATIBLE), call_state=call.state))
            self._out.append(ProtocolError(f"{msg.name()} in call state {call.state}"))

    def _outbound_channel(self, call: Call, msg: Message) -> bool:
        """The network's answer may name another channel than our preferred one (§5.1.2)."""
        if msg.channel is None or msg.channel.channel is None or msg.channel.channel == call.channel:
            return True
        new = msg.channel.channel
        if new not in self.channels or (new in self.busy and self.busy[new] != call.id):
            self._send(call, self._msg(call, MT.RELEASE_COMPLETE, cause=self._cause(CHANNEL_UNAVAILABLE)))
            self._report_cleared(call, CHANNEL_UNAVAILABLE, remote=False)
            self._forget(call)
            return False
        if call.channel is not None and self.busy.get(call.channel) == call.id:
            del self.busy[call.channel]
        call.channel = new
        self.busy[new] = call.id
        return True

    def _unknown_cref(self, msg: Message, now: float) -> None:
        if msg.type == MT.SETUP and not msg.from_destination:
            self._incoming_setup(msg, now)
        elif msg.type == MT.RELEASE:
            self._send_raw(Message(MT.RELEASE_COMPLETE, msg.cref, not msg.from_destination,
                                   cause=self._cause(INVALID_CREF)))
        elif msg.type in (MT.RELEASE_COMPLETE, MT.STATUS):
            pass  # §5.8.3.2: no answer
        elif msg.type == MT.STATUS_ENQUIRY:
            self._send_raw(Message(MT.STATUS, msg.cref, not msg.from_destination,
                                   cause=self._cause(STATUS_ENQUIRY_RESPONSE), call_state=0))
        else:
            self._send_raw(Message(MT.RELEASE_COMPLETE, msg.cref, not msg.from_destination,
                                   cause=self._cause(INVALID_CREF)))
            self._out.append(ProtocolError(f"{msg.name()} for an unknown call reference {msg.cref}"))

    def _incoming_setup(self, msg: Message, now: float) -> None:
        def refuse(cause: int) -> None:
            self._send_raw(Message(MT.RELEASE_COMPLETE, msg.cref, True, cause=self._cause(cause)))

        if msg.bearer is None:
            refuse(MANDATORY_IE_MISSING)
            return
        if msg.bearer.capability not in (0x00, 0x10):  # speech, 3.1 kHz audio: nothing else is carried
            refuse(INCOMPATIBLE_DESTINATION)
            return
        wanted = msg.channel
        channel: int | None
        if wanted is not None and wanted.channel is not None:
            channel = wanted.channel
            if channel not in self.channels:
                refuse(CHANNEL_NONEXISTENT)
                return
            holder = self.calls.get(self.busy.get(channel, 0))
            if holder is not None or channel in self.blocked:
                glare = holder is not None and holder.outbound and holder.state in (1, 2)
                if glare:
                    self.counters["glare"] += 1
                if glare and holder is not None and self.role == "user" and wanted.exclusive:
                    # §5.2.3: the network's call wins the channel; ours will be refused by the network
                    holder.channel_lost = True
                    del self.busy[channel]
                elif not wanted.exclusive:
                    channel = self.free_channel()
                    if channel is None:
                        refuse(NO_CIRCUIT)
                        return
                else:
                    refuse(CHANNEL_UNAVAILABLE)
                    return
        else:
            if self.role == "user" and wanted is None:
                refuse(MANDATORY_IE_MISSING)  # the network must name the channel on a PRI (§5.2.3.1)
                return
            channel = self.free_channel()
            if channel is None:
                refuse(NO_CIRCUIT)
                return
        call = self._new_call(msg.cref, outbound=False)
        call.channel = channel
        call.setup = msg
        self.busy[channel] = call.id
        self.counters["calls_in"] += 1
        call.digits = msg.called.digits if msg.called else ""
        if self.overlap_digits and not msg.sending_complete and len(call.digits) < self.overlap_digits:
            call.state = 25  # overlap receiving (§5.2.4)
            self._send(call, self._msg(call, MT.SETUP_ACKNOWLEDGE, channel=ChannelId(channel, True)))
            self._start(call, "t302", now)
            return
        self._offer(call, now)

    def _offer(self, call: Call, now: float) -> None:
        self._stop(call)
        call.state = 6
        msg = call.setup
        assert msg is not None
        called = replace(msg.called, digits=call.digits) if msg.called else (
            Number(call.digits) if call.digits else None)
        assert call.channel is not None
        self._out.append(IncomingCall(call.id, call.channel, called, msg.calling, msg.redirecting, msg.bearer))

    def _global(self, msg: Message, now: float) -> None:
        if msg.type == MT.RESTART:
            cls = msg.restart_class if msg.restart_class is not None else 7
            chans: tuple[int, ...] | None
            if cls == 0:
                if msg.channel is None or msg.channel.channel is None:
                    self._send_raw(Message(MT.STATUS, 0, not msg.from_destination,
                                           cause=self._cause(MANDATORY_IE_MISSING), call_state=0))
                    return
                chans = (msg.channel.channel,)
            else:
                chans = None
            self.counters["restarts_in"] += 1
            self._clear_channels(chans, TEMPORARY_FAILURE, remote=True)
            self._send_raw(Message(MT.RESTART_ACKNOWLEDGE, 0, not msg.from_destination, channel=msg.channel,
                                   restart_class=cls))
            self._out.append(Restarted(chans))
        elif msg.type == MT.RESTART_ACKNOWLEDGE:
            if self._restart is not None:
                chans = self._restart[0]
                self._restart = None
                self._out.append(RestartConfirmed(chans))
        elif msg.type == MT.STATUS:
            self._out.append(StatusReceived(None, msg.cause.value if msg.cause else None, msg.call_state))

    def _clear_channels(self, chans: tuple[int, ...] | None, cause: int, *, remote: bool) -> None:
        for call in list(self.calls.values()):
            if chans is None or call.channel in chans:
                self._report_cleared(call, cause, remote=remote)
                self._forget(call)
        for c in chans if chans is not None else tuple(self.blocked):
            self.blocked.discard(c)

    def _send_restart(self, chans: tuple[int, ...] | None) -> None:
        if chans is None:
            self._send_raw(Message(MT.RESTART, 0, False, restart_class=7))
        else:
            for c in chans:
                self._send_raw(Message(MT.RESTART, 0, False, channel=ChannelId(c, True), restart_class=0))

    # ---------------------------------------------------------------- inside: helpers

    def _release(self, call: Call, cause: int, now: float) -> None:
        self._send(call, self._msg(call, MT.RELEASE, cause=self._cause(cause)))
        call.state = 19
        self._start(call, "t308", now)

    def _report_cleared(self, call: Call, cause: int, *, remote: bool) -> None:
        if not call.cleared:
            call.cleared = True
            self._out.append(Cleared(call.id, cause, remote, call.channel))

    def _forget(self, call: Call) -> None:
        call.state = 0
        call.timer = None
        self.calls.pop(call.id, None)
        if call.channel is not None and self.busy.get(call.channel) == call.id:
            del self.busy[call.channel]

    def _new_call(self, cref: int, *, outbound: bool) -> Call:
        call = Call(next(self._ids), cref, outbound)
        self.calls[call.id] = call
        return call

    def _next_cref(self) -> int:
        while True:
            cref = next(self._crefs) % 0x7FFF or next(self._crefs) % 0x7FFF
            if not any(c.cref == cref and c.outbound for c in self.calls.values()):
                return cref

    def _location(self) -> int:
        return 0 if self.role == "user" else 2

    def _cause(self, value: int) -> CauseIE:
        return CauseIE(value, self._location())

    def _msg(self, call: Call, type_: int, **ies: object) -> Message:
        return Message(type_, call.cref, not call.outbound, **ies)  # type: ignore[arg-type]

    def _start(self, call: Call, name: str, now: float, count: int = 1) -> None:
        call.timer, call.timer_at, call.timer_count = name, now + float(getattr(self.timers, name)), count

    def _stop(self, call: Call) -> None:
        call.timer = None

    def _send(self, call: Call, msg: Message) -> None:
        self._send_raw(msg)

    def _send_raw(self, msg: Message) -> None:
        self.counters["messages_out"] += 1
        self._out.append(Send(encode(msg), msg))

    def _flush(self) -> list[Output]:
        out, self._out = self._out, []
        return out
