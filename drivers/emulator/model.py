"""The emulated card's state: spans, their framers and links, analog ports — no I/O (the shell in
`process.py` owns the pty, sockets and the 20 ms clock).

Defects follow the receive side of each span (ITU-T G.775, G.706): what the far end transmits, or the
condition injected on this span's receive line. A span seeing LOS, AIS or LOF sets the A bit (RAI) in its
transmitted timeslot 0 (G.704 §2.3.2, G.732 §4), so its linked peer sees RAI. With framing "auto"
(G.706 Annex B) a span takes CRC-4 when the far end sends the CRC-4 multiframe, else falls back to no CRC-4.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from drivers.hal.models import (
    E1_TIMESLOTS,
    FRAME_BYTES,
    IDLE_ALAW,
    IMPEDANCES,
    Defect,
    PortCommand,
    PortSignal,
    SpanConfig,
    SpanCounters,
)

CONDITIONS = ("clear", "los", "ais", "lof", "lomf")
IDLE = bytes([IDLE_ALAW]) * FRAME_BYTES
# The host's answer to tick n goes on the line at tick n + TX_DELAY, as a card's transmit buffer is filled
# ahead of its read pointer: the host may answer up to ~60 ms late (its process not scheduled, a long turn
# of its loop) without a frame being lost or the delay changing. A first-come queue instead took each late
# answer as one tick more of delay for the rest of the call, and dropped a frame once it was full.
TX_DELAY = 4


@dataclass
class Span:
    span: int
    card: int = 1
    config: SpanConfig | None = None
    loopback: str = "none"
    condition: str = "clear"  # injected on our receive line
    peer: tuple[int, int] | None = None  # (card, span) wired back to back with ours
    external: bool = False  # our D-channel goes to an external peer instead
    counters: dict[str, int] = field(default_factory=lambda: dict(SpanCounters().to_wire()))
    reported: frozenset[Defect] = frozenset()
    drop_dchannel: int = 0
    corrupt_dchannel: int = 0
    lose_ticks: int = 0
    slip_ticks: int = 0
    tick: int = 0
    tx: dict[int, dict[int, bytes]] = field(default_factory=dict)  # host's answer by the tick it answers

    @property
    def bearer_slots(self) -> list[int]:
        d = self.config.dchannel if self.config is not None else 16
        return [ts for ts in range(1, E1_TIMESLOTS + 1) if ts != d]


@dataclass
class Port:
    port: int
    kind: str  # fxo | fxs
    peer: int | None = None
    off_hook: bool = False
    ringing: bool = False
    line: dict[str, str] = field(default_factory=dict)  # impedance and region, as configured
    tx: list[bytes] = field(default_factory=list)
    tick: int = 0


Outbox = list[tuple[str, Any]]  # ("dch", (card, span, frame)) | ("external", (card, span, frame))
Chassis = dict[tuple[int, int], Span]  # every span of every emulated card, by (card, span)


def wire(chassis: Chassis, a: tuple[int, int], b: tuple[int, int]) -> None:
    """Two spans back to back (a cable between them; the cards may differ)."""
    chassis[a].peer, chassis[b].peer = b, a


class Card:
    def __init__(self, spans: int, ports: list[str], port_links: list[tuple[int, int]], external: list[int],
                 *, card: int = 1, chassis: Chassis | None = None) -> None:
        self.card = card
        self.chassis: Chassis = chassis if chassis is not None else {}
        self.spans = {n: Span(n, card) for n in range(1, spans + 1)}
        for n, span in self.spans.items():
            self.chassis[(card, n)] = span
        self.ports = {n: Port(n, kind) for n, kind in enumerate(ports, start=1)}
        for a, b in port_links:
            self.ports[a].peer, self.ports[b].peer = b, a
        for n in external:
            self.spans[n].external = True

    def info(self) -> dict[str, Any]:
        return {"card_id": f"EMU-E1-{self.card:04d}", "model": "emulated E1/analog card", "firmware": "emu-1",
                "spans": [{"span": n, "kind": "e1", "timeslots": E1_TIMESLOTS} for n in self.spans],
                "ports": [{"port": p.port, "kind": p.kind} for p in self.ports.values()]}

    # ---------------------------------------------------------------- the line

    def _tx_condition(self, span: Span) -> str:
        """What `span` transmits: nothing when unconfigured (the far end sees LOS)."""
        return "los" if span.config is None else "ok"

    def defects(self, span: Span) -> frozenset[Defect]:
        found: set[Defect] = set()
        if span.config is None:
            return frozenset()
        far = self._far(span)
        if span.condition == "los" or (far is None and not span.external) or (
                far is not None and self._tx_condition(far) == "los"):
            found.add(Defect.LOS)
        elif span.condition == "ais":
            found.add(Defect.AIS)
        elif span.condition == "lof":
            found.add(Defect.LOF)
        else:
            if span.condition == "lomf" and self.framing_in_use(span) == "crc4":
                found.add(Defect.LOMF)
            if far is not None and self.sending_rai(far):
                found.add(Defect.RAI)
        return frozenset(found)

    def sending_rai(self, span: Span) -> bool:
        return span.config is not None and span.condition in ("los", "ais", "lof")

    def framing_in_use(self, span: Span) -> str:
        if span.config is None:
            return "none"
        if span.config.framing != "auto":
            return span.config.framing
        far = self._far(span)
        far_crc4 = far is not None and far.config is not None and far.config.framing in ("crc4", "auto")
        return "crc4" if far_crc4 or span.external else "no-crc4"

    def line_up(self, span: Span) -> bool:
        return span.config is not None and not (self.defects(span) & {Defect.LOS, Defect.AIS, Defect.LOF})

    def changed_defects(self) -> list[dict[str, Any]]:
        """Events for every span whose defects differ from what was last reported."""
        out = []
        for span in self.spans.values():
            now = self.defects(span)
            if now != span.reported:
                span.reported = now
                out.append({"event": "defects", "span": span.span, "defects": sorted(d.value for d in now),
                            "counters": dict(span.counters)})
        return out

    def status(self, n: int) -> dict[str, Any]:
        span = self._span(n)
        return {"span": n, "configured": span.config is not None, "defects": sorted(d.value for d in self.defects(span)),
                "sending_rai": self.sending_rai(span), "framing_in_use": self.framing_in_use(span),
                "loopback": span.loopback, "counters": dict(span.counters)}

    def _far(self, span: Span) -> Span | None:
        return self.chassis.get(span.peer) if span.peer is not None else None

    def _span(self, n: Any) -> Span:
        span = self.spans.get(int(n))
        if span is None:
            raise ValueError(f"no span {n}")
        return span

    def _port(self, n: Any) -> Port:
        port = self.ports.get(int(n))
        if port is None:
            raise ValueError(f"no port {n}")
        return port

    # ---------------------------------------------------------------- requests

    def configure(self, data: dict[str, Any]) -> None:
        span = self._span(data["span"])
        config = SpanConfig.from_wire(data)
        if config.framing not in ("crc4", "no-crc4", "auto") or config.line_code not in ("hdb3", "ami"):
            raise ValueError("framing or line code not supported")
        span.config = config

    def set_loopback(self, data: dict[str, Any]) -> None:
        mode = str(data["mode"])
        if mode not in ("none", "local", "remote", "payload"):
            raise ValueError(f"loopback mode {mode!r} not supported")
        self._span(data["span"]).loopback = mode

    def configure_port(self, data: dict[str, Any]) -> None:
        port = self._port(data["port"])
        if data.get("impedance") not in IMPEDANCES:
            raise ValueError(f"impedance {data.get('impedance')!r} not supported")
        port.line = {"impedance": str(data["impedance"]), "region": str(data.get("region", "cn"))}

    def port_command(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        port = self._port(data["port"])
        command = PortCommand(data["command"])
        fxs_only = command in (PortCommand.RING_START, PortCommand.RING_STOP, PortCommand.POLARITY_REVERSE,
                               PortCommand.POLARITY_NORMAL, PortCommand.LINE_OPEN)
        if (port.kind == "fxs") != fxs_only:
            raise ValueError(f"{command.value} is not a command for an {port.kind.upper()} port")
        events: list[tuple[int, PortSignal]] = []
        peer = self.ports.get(port.peer) if port.peer is not None else None
        if port.kind == "fxo" and command in (PortCommand.OFF_HOOK, PortCommand.ON_HOOK):
            port.off_hook = command == PortCommand.OFF_HOOK
            if peer is not None:
                peer.off_hook = port.off_hook  # (the "phone" on the FXS port is our FXO port)
                if port.off_hook and peer.ringing:
                    peer.ringing = False
                    events.append((port.port, PortSignal.RING_OFF))
                events.append((peer.port, PortSignal.OFF_HOOK if port.off_hook else PortSignal.ON_HOOK))
                events.append((port.port, PortSignal.LINE_CURRENT_ON if port.off_hook else
                               PortSignal.LINE_CURRENT_OFF))
        elif port.kind == "fxo" and command == PortCommand.FLASH and peer is not None:
            events.append((peer.port, PortSignal.FLASH))
        elif port.kind == "fxs" and command in (PortCommand.RING_START, PortCommand.RING_STOP):
            port.ringing = command == PortCommand.RING_START
            if peer is not None:
                events.append((peer.port, PortSignal.RING_ON if port.ringing else PortSignal.RING_OFF))
        elif port.kind == "fxs" and command == PortCommand.POLARITY_REVERSE and peer is not None:
            events.append((peer.port, PortSignal.POLARITY_REVERSAL))
        elif port.kind == "fxs" and command == PortCommand.LINE_OPEN and peer is not None:
            events.append((peer.port, PortSignal.LINE_CURRENT_OFF))
        return [{"event": "port", "port": p, "signal": s.value} for p, s in events]

    def inject(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        if "port" in data:
            port = self._port(data["port"])
            signal = PortSignal(data["signal"])
            if signal == PortSignal.OFF_HOOK:
                port.off_hook = True
            elif signal == PortSignal.ON_HOOK:
                port.off_hook = False
            return [{"event": "port", "port": port.port, "signal": signal.value}]
        span = self._span(data["span"])
        if "condition" in data:
            if data["condition"] not in CONDITIONS:
                raise ValueError(f"condition must be one of {', '.join(CONDITIONS)}")
            span.condition = str(data["condition"])
        errored = int(data.get("errored_frames", 0))
        if errored:
            span.counters["crc4_errors"] += errored
            span.counters["bpv"] += errored
            far = self._far(span)
            if far is not None:
                far.counters["ebits"] += errored  # the far end hears of our CRC errors through E bits
        span.slip_ticks += int(data.get("slips", 0))
        span.lose_ticks += int(data.get("lost_frames", 0))
        span.drop_dchannel += int(data.get("drop_dchannel", 0))
        span.corrupt_dchannel += int(data.get("corrupt_dchannel", 0))
        return []

    # ---------------------------------------------------------------- D-channel and bearer

    def dchannel_from_host(self, n: int, frame: bytes) -> Outbox:
        span = self._span(n)
        if span.loopback in ("local", "remote"):
            return [("dch", (self.card, n, frame))]
        if span.external:
            return [("external", (self.card, n, frame))]
        far = self._far(span)
        if far is None or not self.line_up(far) or self._tx_condition(span) == "los":
            return []
        if far.drop_dchannel:
            far.drop_dchannel -= 1
            return []
        if far.corrupt_dchannel and frame:
            far.corrupt_dchannel -= 1
            frame = bytes([frame[0] ^ 0x04]) + frame[1:]
        return [("dch", (far.card, far.span, frame))]

    def dchannel_from_external(self, n: int, frame: bytes) -> Outbox:
        span = self._span(n)
        return [("dch", (self.card, n, frame))] if self.line_up(span) else []

    def bearer_from_host(self, kind: str, unit: int, frames: dict[int, bytes], tick: int = 0) -> None:
        if kind == "span":
            span = self.spans.get(unit)
            if span is not None:
                gone = span.tick - TX_DELAY  # (answers up to this tick have had their slot, or have it now)
                for old in [t for t in span.tx if t < gone]:  # (never read: a span with no far end)
                    del span.tx[old]
                if not gone <= tick <= span.tick or tick in span.tx:  # (too late, not ours, or a second answer)
                    span.counters["bearer_lost"] += len(frames)
                else:
                    span.tx[tick] = frames
        else:
            port = self.ports.get(unit)
            if port is not None and 1 in frames:
                port.tx.append(frames[1])
                del port.tx[:-3]

    @staticmethod
    def _transmitted(span: Span) -> dict[int, bytes]:
        """What `span`'s transmitter puts on the line now: the host's answer to the tick TX_DELAY ago (the
        rack ticks card by card, so a span read before its own tick this round is one tick behind: the same
        fixed delay every round)."""
        due = span.tick - TX_DELAY
        if not span.tx:
            return {}
        for old in [t for t in span.tx if t < due]:  # (answers to ticks whose slot went by unread)
            span.counters["bearer_lost"] += len(span.tx.pop(old))
        return span.tx.pop(due, {})

    def tick(self) -> list[tuple[str, int, int, dict[int, bytes]]]:
        """One 20 ms tick of the card's clock: the frames each configured span and each port receives."""
        out: list[tuple[str, int, int, dict[int, bytes]]] = []
        for span in self.spans.values():
            if span.config is None:
                continue
            span.tick += 1
            source = span if span.loopback in ("local", "payload") else self._far(span)
            frames: dict[int, bytes] = {}
            up = self.line_up(span)
            sent = self._transmitted(source) if source is not None else {}
            for ts in span.bearer_slots:
                frame = sent.get(ts, IDLE)
                if span.condition == "ais":
                    frame = b"\xff" * FRAME_BYTES
                elif not up:
                    frame = IDLE
                frames[ts] = frame
            if span.slip_ticks:
                span.slip_ticks -= 1
                span.counters["slips"] += 1
                frames = {ts: f[:1] + f[:-1] for ts, f in frames.items()}  # one 125 us frame repeated
            if span.lose_ticks:
                span.lose_ticks -= 1
                span.counters["bearer_lost"] += 1
                continue
            out.append(("span", span.span, span.tick, frames))
        for port in self.ports.values():
            port.tick += 1
            peer = self.ports.get(port.peer) if port.peer is not None else None
            connected = peer is not None and (port.off_hook or peer.off_hook)
            frame = peer.tx.pop(0) if connected and peer is not None and peer.tx else IDLE
            if peer is not None and not connected:
                peer.tx.clear()
            out.append(("port", port.port, port.tick, {1: frame}))
        return out
