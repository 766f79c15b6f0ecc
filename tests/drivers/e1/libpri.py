"""libpri 1.6 (Debian libpri1.4) through ctypes: the independent Q.921/Q.931 peer our stacks are tested
against, and a bench that runs our `PriStack` against it over a SEQPACKET socket pair in real time.

libpri writes every frame with two FCS bytes it does not compute and strips two on read without checking
them; at this boundary frames from libpri get their real FCS before they reach our stack (which checks it),
and ours go to libpri with the real FCS we computed. Every frame our stack sends and receives is written to
a pcap (link type 177) for tshark.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import select
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drivers.e1 import q931, q931_model
from drivers.e1.pcap import PcapWriter
from drivers.e1.pri import PriStack
from drivers.hal.crc import add_fcs

PRI_NETWORK, PRI_CPE, PRI_SWITCH_EUROISDN_E1 = 1, 2, 5
EVENTS = {1: "DCHAN_UP", 2: "DCHAN_DOWN", 3: "RESTART", 4: "CONFIG_ERR", 5: "RING", 6: "HANGUP", 7: "RINGING",
          8: "ANSWER", 9: "HANGUP_ACK", 10: "RESTART_ACK", 11: "FACILITY", 12: "INFO_RECEIVED", 13: "PROCEEDING",
          14: "SETUP_ACK", 15: "HANGUP_REQ", 16: "NOTIFY", 17: "PROGRESS", 18: "KEYPAD_DIGIT", 27: "CONNECT_ACK"}


def find_libpri() -> str | None:
    for name in ("libpri.so.1.4", ctypes.util.find_library("pri")):
        if not name:
            continue
        try:
            ctypes.CDLL(name)
            return name
        except OSError:
            continue
    return None


class Generic(ctypes.Structure):
    _fields_ = [("e", ctypes.c_int), ("channel", ctypes.c_int)]


class Ring(ctypes.Structure):
    _fields_ = [("e", ctypes.c_int), ("channel", ctypes.c_int), ("callingpres", ctypes.c_int),
                ("callingplanani", ctypes.c_int), ("callingplan", ctypes.c_int), ("callingani", ctypes.c_char * 256),
                ("callingnum", ctypes.c_char * 256), ("callingname", ctypes.c_char * 256),
                ("calledplan", ctypes.c_int), ("ani2", ctypes.c_int), ("callednum", ctypes.c_char * 256),
                ("redirectingnum", ctypes.c_char * 256), ("redirectingname", ctypes.c_char * 256),
                ("redirectingreason", ctypes.c_int), ("callingplanrdnis", ctypes.c_int),
                ("useruserinfo", ctypes.c_char * 260), ("flexible", ctypes.c_int), ("cref", ctypes.c_int),
                ("ctype", ctypes.c_int), ("layer1", ctypes.c_int), ("complete", ctypes.c_int),
                ("call", ctypes.c_void_p)]


class Hangup(ctypes.Structure):
    _fields_ = [("e", ctypes.c_int), ("channel", ctypes.c_int), ("cause", ctypes.c_int), ("cref", ctypes.c_int),
                ("call", ctypes.c_void_p)]


class Answer(ctypes.Structure):  # also ringing, the first fields of proceeding differ (below)
    _fields_ = [("e", ctypes.c_int), ("channel", ctypes.c_int), ("cref", ctypes.c_int), ("progress", ctypes.c_int),
                ("progressmask", ctypes.c_int), ("call", ctypes.c_void_p)]


class Proceeding(ctypes.Structure):
    _fields_ = [("e", ctypes.c_int), ("channel", ctypes.c_int), ("cref", ctypes.c_int), ("progress", ctypes.c_int),
                ("progressmask", ctypes.c_int), ("cause", ctypes.c_int), ("call", ctypes.c_void_p)]


class Timeval(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]


IO_CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int)


def _event(ptr: int) -> dict[str, Any]:
    """Copy the fields of a pri_event at once (it points into libpri's memory)."""
    e = Generic.from_address(ptr).e
    out: dict[str, Any] = {"e": EVENTS.get(e, str(e))}
    if e == 5:
        r = Ring.from_address(ptr)
        out.update(channel=r.channel & 0xFF, explicit=bool(r.channel >> 16 & 1), callingnum=r.callingnum.decode(),
                   callednum=r.callednum.decode(), callingplan=r.callingplan, callingpres=r.callingpres,
                   redirectingnum=r.redirectingnum.decode(), complete=r.complete, flexible=r.flexible,
                   call=r.call, raw_channel=r.channel)
    elif e in (6, 9, 15):
        h = Hangup.from_address(ptr)
        out.update(channel=h.channel & 0xFF, cause=h.cause, call=h.call)
    elif e in (7, 8, 17, 27):
        a = Answer.from_address(ptr)
        out.update(channel=a.channel & 0xFF, call=a.call)
    elif e == 13:
        p = Proceeding.from_address(ptr)
        out.update(channel=p.channel & 0xFF, call=p.call)
    elif e in (3, 10):
        g = Generic.from_address(ptr)
        out.update(channel=g.channel if g.channel == -1 else g.channel & 0xFF)
    return out


class LibPri:
    """One libpri instance on one end of the socket pair."""

    def __init__(self, lib: ctypes.CDLL, sock: socket.socket, *, network: bool) -> None:
        self.lib = lib
        self.sock = sock
        self._read = IO_CB(self._io_read)  # (kept referenced: libpri holds the pointers)
        self._write = IO_CB(self._io_write)
        lib.pri_new_cb.restype = ctypes.c_void_p
        lib.pri_new_cb.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, IO_CB, IO_CB, ctypes.c_void_p]
        for name in ("pri_check_event", "pri_schedule_run", "pri_schedule_next", "pri_new_call", "pri_sr_new"):
            getattr(lib, name).restype = ctypes.c_void_p
        for name in ("pri_check_event", "pri_schedule_run", "pri_schedule_next", "pri_new_call"):
            getattr(lib, name).argtypes = [ctypes.c_void_p]
        lib.pri_sr_new.argtypes = []
        self.pri = lib.pri_new_cb(sock.fileno(), PRI_NETWORK if network else PRI_CPE, PRI_SWITCH_EUROISDN_E1,
                                  self._read, self._write, None)
        if not self.pri:
            raise RuntimeError("pri_new_cb failed")
        self.dropped_in = 0  # frames the test made libpri's read lose

    def _io_read(self, _pri: int | None, buf: int, buflen: int) -> int:
        try:
            data = self.sock.recv(buflen)
        except BlockingIOError:
            return -1
        ctypes.memmove(buf, data, len(data))
        return len(data)

    def _io_write(self, _pri: int | None, buf: int, buflen: int) -> int:
        self.sock.send(ctypes.string_at(buf, buflen))
        return buflen

    def call_fn(self, name: str, *args: Any) -> int:
        fn = getattr(self.lib, name)
        conv = [ctypes.c_void_p(a) if isinstance(a, int) and name != "pri_set_timer" and i == 0 else a
                for i, a in enumerate(args)]
        return int(fn(ctypes.c_void_p(self.pri), *conv) or 0)

    def set_timer(self, name: str, ms: int) -> None:
        self.lib.pri_timer2idx.argtypes = [ctypes.c_char_p]
        idx = self.lib.pri_timer2idx(name.encode())
        assert idx >= 0, name
        self.lib.pri_set_timer(ctypes.c_void_p(self.pri), idx, ms)

    def check(self) -> dict[str, Any] | None:
        ptr = self.lib.pri_check_event(ctypes.c_void_p(self.pri))
        return _event(ptr) if ptr else None

    def run_timers(self) -> dict[str, Any] | None:
        ptr = self.lib.pri_schedule_run(ctypes.c_void_p(self.pri))
        return _event(ptr) if ptr else None

    def next_delay(self) -> float | None:
        ptr = self.lib.pri_schedule_next(ctypes.c_void_p(self.pri))
        if not ptr:
            return None
        tv = Timeval.from_address(ptr)
        return max(0.0, float(tv.tv_sec) + float(tv.tv_usec) / 1e6 - time.time())

    # ---------------------------------------------------------------- calls (libpri's API)

    def setup(self, called: str, calling: str, channel: int, *, exclusive: bool = True, calling_plan: int = 0x21,
              calling_pres: int = 0x00, complete: bool = True, redirecting: str | None = None) -> int:
        lib, c = self.lib, ctypes
        call = lib.pri_new_call(c.c_void_p(self.pri))
        sr = lib.pri_sr_new()
        lib.pri_sr_set_channel(c.c_void_p(sr), channel, int(exclusive), 0)
        lib.pri_sr_set_bearer(c.c_void_p(sr), 0, 0x23)  # speech, G.711 A-law (PRI_LAYER_1_ALAW)
        lib.pri_sr_set_called(c.c_void_p(sr), called.encode(), 0x21, int(complete))
        lib.pri_sr_set_caller(c.c_void_p(sr), calling.encode(), None, calling_plan, calling_pres)
        if redirecting is not None:
            lib.pri_sr_set_redirecting(c.c_void_p(sr), redirecting.encode(), 0x21, 0, 2)
        rc = lib.pri_setup(c.c_void_p(self.pri), c.c_void_p(call), c.c_void_p(sr))
        lib.pri_sr_free(c.c_void_p(sr))
        assert rc == 0, "pri_setup failed"
        return int(call)

    def act(self, name: str, call: int, *args: Any) -> int:
        fn = getattr(self.lib, name)
        return int(fn(ctypes.c_void_p(self.pri), ctypes.c_void_p(call), *args))


@dataclass
class Bench:
    """Our PriStack (role `ours`) against libpri in the other role, in real time, with a pcap of our frames."""

    ours: q931.Role
    pcap_path: Path
    t200: float = 1.0
    t203: float = 10.0
    timers: q931_model.Timers = field(default_factory=q931_model.Timers)
    overlap_digits: int = 0
    stack: PriStack = field(init=False)
    peer: LibPri = field(init=False)
    pcap: PcapWriter = field(init=False)
    events: list[Any] = field(default_factory=list)  # ours
    peer_events: list[dict[str, Any]] = field(default_factory=list)
    drop_ours: Callable[[bytes], bool] | None = None  # our frame (without FCS) never reaches libpri
    drop_theirs: Callable[[bytes], bool] | None = None  # libpri's frame never reaches us
    on_peer_event: Callable[[dict[str, Any]], None] | None = None

    def __post_init__(self) -> None:
        lib_name = find_libpri()
        assert lib_name is not None
        self.a, self.b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.a.setblocking(False)
        self.b.setblocking(False)
        self.stack = PriStack(self.ours, t200=self.t200, t203=self.t203, timers=self.timers,
                              overlap_digits=self.overlap_digits)
        self.pcap = PcapWriter(self.pcap_path, network_side=self.ours == "network")
        self.stack.tap = lambda frame, sent, at: self.pcap.write(frame, sent=sent, at=time.time())
        self.peer = LibPri(ctypes.CDLL(lib_name), self.b, network=self.ours == "user")

    def close(self) -> None:
        self.pcap.close()
        self.a.close()
        self.b.close()

    @property
    def now(self) -> float:
        return time.monotonic()

    def start(self) -> None:
        self.stack.start(self.now)

    def _flush(self) -> None:
        frames, events = self.stack.take()
        self.events += events
        for frame in frames:
            if self.drop_ours is not None and self.drop_ours(frame[:-2]):
                continue
            self.a.send(frame)

    def _peer_event(self, ev: dict[str, Any] | None) -> None:
        if ev is None:
            return
        self.peer_events.append(ev)
        if ev["e"] == "HANGUP" and ev.get("call"):
            # as a libpri application must (chan_dahdi does): a RELEASE seen is completed by pri_hangup
            self.peer.act("pri_hangup", ev["call"], ev["cause"])
        if self.on_peer_event is not None:
            self.on_peer_event(ev)

    def pump(self, until: Callable[[], bool], timeout: float = 5.0) -> None:
        """Run both sides until `until()` holds (AssertionError after `timeout` seconds)."""
        end = self.now + timeout
        while True:
            self._flush()
            if until():
                return
            now = self.now
            if now > end:
                raise AssertionError("timed out")
            waits = [end - now]
            ours = self.stack.next_deadline()
            if ours is not None:
                waits.append(ours - now)
            theirs = self.peer.next_delay()
            if theirs is not None:
                waits.append(theirs)
            readable, _, _ = select.select([self.a, self.b], [], [], max(0.0, min(waits)))
            if self.a in readable:
                while True:
                    try:
                        data = self.a.recv(4096)
                    except BlockingIOError:
                        break
                    frame = data[:-2]  # libpri's two unset FCS bytes
                    if self.drop_theirs is not None and self.drop_theirs(frame):
                        continue
                    self.stack.receive(add_fcs(frame), self.now)
            if self.b in readable:
                self._peer_event(self.peer.check())
            theirs = self.peer.next_delay()
            if theirs is not None and theirs <= 0:
                self._peer_event(self.peer.run_timers())
            ours = self.stack.next_deadline()
            if ours is not None and ours <= self.now:
                self.stack.handle_timeout(self.now)

    def run_for(self, seconds: float) -> None:
        end = self.now + seconds
        self.pump(lambda: self.now >= end, seconds + 1)

    # ---------------------------------------------------------------- helpers for tests

    def ours_of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]

    def theirs(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.peer_events if e["e"] == name]

    def feed(self, outputs: list[q931_model.Output]) -> None:
        self.stack.feed(outputs, self.now)


def tshark_fields(pcap: Path, *fields: str) -> list[list[str]]:
    import subprocess

    args = ["tshark", "-r", str(pcap), "-T", "fields", "-E", "separator=|"]
    for f in fields:
        args += ["-e", f]
    out = subprocess.run(args, capture_output=True, text=True, check=True, timeout=60,
                         env={**os.environ, "HOME": str(pcap.parent)}).stdout
    return [line.split("|") for line in out.splitlines()]
