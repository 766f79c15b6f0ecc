"""The box's telephony hardware in one view: the cards the E1/PRI and analog drivers opened (and the ones
discovery finds besides), E1 spans with their alarms, counters, loopback and B-channels, and analog ports.

The drivers own their cards; this service only reads them, and asks an E1 card for each span's status
every `poll_s` (the card's counters and what its framer found move without events). The view is also written
to `hardware/status.json` in the data directory, off the event loop, for `appliance hw status` to read while
the box runs (the box holds the cards, so the command cannot open them itself).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from appliance.errors import FieldError, NotFound, ValidationFailed
from appliance.health import Health, Status
from appliance.tasks import cancel_and_wait
from drivers.analog.service import AnalogService
from drivers.e1.service import E1Driver, SpanRuntime
from drivers.hal.discovery import Candidate, discover
from drivers.hal.errors import HalError
from drivers.hal.models import CardInfo, Loopback, SpanStatus
from drivers.hardware.models import LOOPBACKS, CardView, ChannelView, HardwareStatus, PortView, SpanView

log = logging.getLogger(__name__)
SNAPSHOT = Path("hardware") / "status.json"
STATUS_TIMEOUT_S = 2.0


def _info(card: object) -> CardInfo | None:
    try:
        return card.info  # type: ignore[attr-defined, no-any-return]
    except HalError:
        return None


class HardwareService:
    """Reads the drivers; `status()` for the API, the page and the snapshot, `cards()` for the set-up wizard."""

    name = "hardware"

    def __init__(self, e1: E1Driver | None, analog: AnalogService | None, *, data_dir: Path | None = None,
                 poll_s: float = 5.0, candidates: Callable[[], list[Candidate]] = discover,
                 wall: Callable[[], float] = time.time) -> None:
        self.e1 = e1
        self.analog = analog
        self.data_dir = data_dir
        self.poll_s = poll_s
        self.candidates = candidates
        self.wall = wall
        self._span_status: dict[int, SpanStatus] = {}
        self._found: list[Candidate] = []
        self._task: asyncio.Task[None] | None = None
        self.counters = {"polls": 0, "status_failures": 0, "loopbacks": 0, "snapshots": 0}

    # ------------------------------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        await self.refresh()
        self._task = asyncio.get_running_loop().create_task(self._poll(), name="hardware-poll")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    def listening(self) -> list[str]:
        return []

    def health(self) -> Health:
        view = self.status()
        down = [c.path for c in view.cards if c.driver and c.state != "up"]
        red = [s.span for s in view.spans if s.severity == "red"]
        status = Status.DEGRADED if down or red else Status.OK
        detail = ", ".join([f"card {p} down" for p in down] + [f"span {n} in red alarm" for n in red])
        gauges = {"cards": float(sum(1 for c in view.cards if c.driver)),
                  "spans_in_alarm": float(sum(1 for s in view.spans if s.alarms)),
                  "channels_in_use": float(sum(s.in_use for s in view.spans)),
                  "ports_faulted": float(sum(1 for p in view.ports if p.state == "faulted"))}
        return Health.of(self.name, status, detail or f"{len(view.cards)} cards", counters=self.counters,
                         gauges=gauges)

    # ------------------------------------------------------------------------------------------ reading

    def cards(self) -> list[CardView]:
        """Every card: those the drivers opened, then serial and DAHDI candidates nobody uses (what the
        first-boot wizard lists as detected cards). A plain read of the last poll: nothing is opened."""
        cards: list[CardView] = []
        if self.e1 is not None:
            info = _info(self.e1.card)
            up = info is not None and self.e1.card_down is None and self.e1.card.health().status == Status.OK
            cards.append(self._card_view("e1", self.e1.settings.device, info, up,
                                         "" if up else self.e1.card_down or "the card is not open"))
        if self.analog is not None:
            info = _info(self.analog.card)
            up = info is not None and self.analog.card_lost is None
            cards.append(self._card_view("analog", getattr(self.analog.card, "path", ""), info, up,
                                         self.analog.card_lost or ""))
        used = {c.path for c in cards}
        cards += [CardView(card_id="", driver="", backend=c.backend, path=c.path, state="detected",
                           detail=c.description) for c in self._found if c.path not in used]
        return cards

    def card_list(self) -> list[dict[str, Any]]:
        """`cards()` as plain dicts in the shape of the first-boot wizard's card list (`backend`, `path`,
        `description`) with the rest of each card beside it: `SystemService(cards=hardware.card_list)`."""
        return [{**asdict(c), "description": c.detail if not c.card_id else f"{c.model} ({c.card_id})"}
                for c in self.cards()]

    @staticmethod
    def _card_view(driver: str, path: str, info: CardInfo | None, up: bool, detail: str) -> CardView:
        return CardView(card_id=info.card_id if info else "", driver=driver, backend=info.backend if info else "serial",
                        path=path, model=info.model if info else "", firmware=info.firmware if info else "",
                        state="up" if up else "down", spans=len(info.spans) if info else 0,
                        ports=len(info.ports) if info else 0, detail=detail)

    def status(self) -> HardwareStatus:
        spans = tuple(self._span_view(rt) for rt in self.e1.spans.values()) if self.e1 is not None else ()
        ports: tuple[PortView, ...] = ()
        if self.analog is not None:
            analog = self.analog
            ports = tuple(PortView(card_id=analog.card_id, port=rt.number, kind=rt.kind,
                                   state="faulted" if analog.card_lost else rt.machine.state.value,
                                   trunk=rt.trunk or None, access_number=rt.access_number or None,
                                   extension=rt.extension or None, leg=rt.leg.leg_id if rt.leg else None,
                                   counters=dict(rt.machine.counters), frames_lost=rt.frames_lost)
                          for rt in sorted(analog.ports.values(), key=lambda r: r.number))
        return HardwareStatus(at=self.wall(), running=True, cards=tuple(self.cards()), spans=spans, ports=ports)

    def _span_view(self, rt: SpanRuntime) -> SpanView:
        assert self.e1 is not None
        q = rt.stack.q931
        legs = {leg.channel: leg.leg_id for leg in rt.legs.values()}
        channels = tuple(ChannelView(channel=ch, leg=legs.get(ch),
                                     state="blocked" if ch in q.blocked else "in_use" if ch in q.busy else "idle")
                         for ch in rt.settings.channels)
        polled = self._span_status.get(rt.number)
        counters = polled.counters if polled is not None else rt.counters
        info = _info(self.e1.card)
        line = rt.settings.line
        return SpanView(card_id=info.card_id if info else "", span=rt.number, trunk=rt.settings.trunk,
                        role=rt.settings.role, framing=line.framing,
                        framing_in_use=polled.framing_in_use if polled else "none", line_code=line.line_code,
                        clock=line.clock,
                        clock_priority=line.clock_priority, d_channel="up" if rt.link_up else "down",
                        lapd_state=rt.stack.lapd.state.name.lower(),
                        alarms=tuple(sorted(a.value for a in rt.alarms.active)),
                        sending_rai=polled.sending_rai if polled else False,
                        loopback=polled.loopback if polled else "none", counters=counters.to_wire(),
                        channels=channels, detail=rt.refused)

    # ------------------------------------------------------------------------------------------ commands

    async def loopback(self, span: int, mode: str) -> SpanView:
        """Put an E1 span into a loopback (local: our transmitter to our receiver; remote: the line's signal
        back to the far end; payload: the timeslots back, framing regenerated) or take it out ("none")."""
        if mode not in LOOPBACKS:
            raise ValidationFailed([FieldError("mode", "enum", f"mode: one of {', '.join(LOOPBACKS)}",
                                               f"mode: 应为 {'、'.join(LOOPBACKS)} 之一")], "loopback")
        if self.e1 is None or span not in self.e1.spans:
            raise NotFound("span", str(span))
        mode_: Loopback = mode  # type: ignore[assignment]
        await self.e1.card.loopback(span, mode_)
        self.counters["loopbacks"] += 1
        log.warning("E1 span %d: loopback %s", span, mode)
        await self._poll_span(span)
        return self._span_view(self.e1.spans[span])

    # ------------------------------------------------------------------------------------------ polling

    async def refresh(self) -> None:
        """Ask each E1 span's status of the card, look for cards, and write the snapshot."""
        self.counters["polls"] += 1
        if self.e1 is not None and _info(self.e1.card) is not None:
            for span in list(self.e1.spans):
                await self._poll_span(span)
        try:
            self._found = await asyncio.to_thread(self.candidates)
        except OSError as exc:  # (a sysfs that cannot be read: the cards the drivers hold are still shown)
            log.warning("looking for cards failed: %s", exc)
        if self.data_dir is not None:
            text = json.dumps(self.status().to_json(), ensure_ascii=False)
            await asyncio.to_thread(self._write_snapshot, self.data_dir / SNAPSHOT, text)
            self.counters["snapshots"] += 1

    async def _poll_span(self, span: int) -> None:
        assert self.e1 is not None
        try:
            self._span_status[span] = await asyncio.wait_for(self.e1.card.span_status(span), STATUS_TIMEOUT_S)
        except (HalError, TimeoutError) as exc:
            self.counters["status_failures"] += 1
            self._span_status.pop(span, None)
            log.info("E1 span %d: no status: %s", span, exc)

    @staticmethod
    def _write_snapshot(path: Path, text: str) -> None:
        # (no fsync: a view that is seconds old is rewritten soon; the flash is spared a write every poll)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_s)
            try:
                await self.refresh()
            except Exception:  # (the view must keep coming: a failed round is logged and the next one tried)
                log.exception("hardware status poll failed")
