"""`appliance hw status [--json]`: cards, E1 spans (alarms, counters, B-channels) and analog ports.

While the box runs it holds the cards and the data directory's lock: the command prints the view the running
box last wrote (`hardware/status.json`, every few seconds). When the box is stopped, the command opens the
configured cards itself (HELLO, then each span's status) and lists the serial and DAHDI candidates found
besides; signalling state (D-channel, calls, port states) exists only while the box runs. Hooked into
`appliance.cli` by `add_commands` and `HANDLERS`.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import json
import os
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from drivers.hal.discovery import discover
from drivers.hal.errors import HalError
from drivers.hal.interface import BearerFrames
from drivers.hal.models import CardEvent
from drivers.hal.serial_backend import SerialCard
from drivers.hardware.models import CardView, HardwareStatus, PortView, SpanView
from drivers.hardware.service import SNAPSHOT

LOCK_FILE = ".appliance.lock"
STALE_S = 30.0  # a snapshot older than this (a box that hangs) is shown with a warning


def add_commands(sub: Any, data_dir_arg: Callable[[argparse.ArgumentParser], None]) -> None:
    hw = sub.add_parser("hw", help="telephony cards: E1 spans, channels, analog ports")
    cmds = hw.add_subparsers(dest="hw_command", required=True)
    status = cmds.add_parser("status", help="cards, spans with alarms and counters, channels, ports")
    status.add_argument("--json", action="store_true", help="the view as JSON (as GET /api/v1/hardware)")
    data_dir_arg(status)


class _Quiet:
    """A listener for a card opened only to be asked its status."""

    def card_event(self, event: CardEvent) -> None:
        return None

    def bearer(self, frames: BearerFrames) -> None:
        return None


def box_running(data_dir: Path) -> bool:
    """Whether a running appliance holds the data directory (its lock is taken)."""
    path = data_dir / LOCK_FILE
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


async def probe(settings: Mapping[str, Any], candidates: Callable[[], list[Any]] = discover) -> HardwareStatus:
    """Open the configured cards (the box is stopped) and read what a card knows without signalling."""
    cards: list[CardView] = []
    spans: list[SpanView] = []
    ports: list[PortView] = []
    for driver in ("e1", "analog"):
        conf = settings.get(driver)
        path = conf.get("card") if isinstance(conf, Mapping) else None
        if not isinstance(path, str) or not path:
            continue
        card = SerialCard(path, retries=1)
        try:
            info = await card.open(_Quiet())
        except HalError as exc:
            cards.append(CardView(card_id="", driver=driver, backend="serial", path=path, state="down",
                                  detail=exc.message))
            continue
        try:
            cards.append(CardView(card_id=info.card_id, driver=driver, backend=info.backend, path=path,
                                  model=info.model, firmware=info.firmware, state="up", spans=len(info.spans),
                                  ports=len(info.ports)))
            for s in info.spans if driver == "e1" else ():
                st = await card.span_status(s.span)
                spans.append(SpanView(card_id=info.card_id, span=s.span, trunk="", role="", framing="",
                                      framing_in_use=st.framing_in_use, clock="", clock_priority=0,
                                      d_channel="down", lapd_state="not running",
                                      alarms=tuple(sorted(d.value for d in st.defects)), sending_rai=st.sending_rai,
                                      loopback=st.loopback, counters=st.counters.to_wire(), channels=()))
            ports += [PortView(card_id=info.card_id, port=p.port, kind=p.kind, state="unknown", counters={})
                      for p in info.ports] if driver == "analog" else []
        finally:
            await card.close()
    used = {c.path for c in cards}
    cards += [CardView(card_id="", driver="", backend=c.backend, path=c.path, state="detected", detail=c.description)
              for c in await asyncio.to_thread(candidates) if c.path not in used]
    return HardwareStatus(at=time.time(), running=False, cards=tuple(cards), spans=tuple(spans), ports=tuple(ports))


def render(view: HardwareStatus, now: float | None = None) -> str:
    """The view as text for a terminal (80 columns)."""
    now = time.time() if now is None else now
    age = now - view.at
    lines = [f"hardware status, {'from the running box' if view.running else 'probed (the box is stopped)'}, "
             f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(view.at))}"
             + (f"  (WARNING: {age:.0f} s old)" if view.running and age > STALE_S else "")]
    lines.append("cards / 板卡:")
    if not view.cards:
        lines.append("  none found / 未发现板卡")
    for c in view.cards:
        what = f"{c.model} fw {c.firmware}, {c.spans} spans, {c.ports} ports" if c.card_id else c.detail
        lines.append(f"  {c.driver or '-':<7}{c.state:<9}{c.path}  {c.card_id}  {what}".rstrip())
        if c.card_id and c.detail:
            lines.append(f"         {c.detail}")
    if view.spans:
        lines.append("E1 spans / 中继:")
    for s in view.spans:
        alarms = ",".join(s.alarms) or "none"
        lines.append(f"  span {s.span} {s.trunk} {s.role}: D-channel {s.d_channel} ({s.lapd_state}), alarms "
                     f"{alarms}, framing {s.framing_in_use}, loopback {s.loopback}"
                     + (", sending RAI" if s.sending_rai else ""))
        lines.append("    " + " ".join(f"{k}={v}" for k, v in s.counters.items()))
        if s.channels:
            lines.append(f"    channels: {len(s.channels)}, in use {s.in_use}, blocked {s.blocked}")
            for ch in s.channels:
                if ch.state != "idle":
                    lines.append(f"      B{ch.channel:<3}{ch.state:<8}{ch.leg or ''}")
    if view.ports:
        lines.append("analog ports / 模拟端口:")
    for p in view.ports:
        who = p.extension or (f"{p.trunk} -> {p.access_number}" if p.trunk else "")
        lines.append(f"  port {p.port:<3}{p.kind}  {p.state:<9}{who}  {p.leg or ''}".rstrip()
                     + (f"  frames lost {p.frames_lost}" if p.frames_lost else ""))
    return "\n".join(lines)


def _status(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir)
    if box_running(data_dir):
        try:
            view = HardwareStatus.from_json(json.loads((data_dir / SNAPSHOT).read_text(encoding="utf-8")))
        except FileNotFoundError:
            print("the box is starting: no hardware status yet / 系统正在启动,暂无硬件状态", file=sys.stderr)
            return 1
    else:
        from appliance.domain.kinds import all_kinds
        from appliance.store.config_store import ConfigStore

        settings: Mapping[str, Any] = {}
        if (data_dir / "config.json").exists():
            settings = ConfigStore.open(data_dir, all_kinds(), read_only=True).settings
        view = asyncio.run(probe(settings))
    print(json.dumps(view.to_json(), ensure_ascii=False, indent=1) if args.json else render(view))
    return 0


HANDLERS: dict[tuple[str, str], Callable[[argparse.Namespace], int]] = {("hw", "status"): _status}
