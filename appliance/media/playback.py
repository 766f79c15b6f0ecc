"""What is played to a leg — prompts, hold music, tones, RFC 4733 digits — and the digits heard from it.

A player or DTMF being sent takes a bridge off the relay (the tick mixes them in); when it ends the bridge
relays again. A digit heard (RFC 4733 from the packet path, in-band from the tick) is published, handed to
the leg's callback, and ends a prompt that allows barge-in.
"""

from __future__ import annotations

import logging
from pathlib import Path

from appliance.media.bridges import Bridges
from appliance.media.core import Core
from appliance.media.dtmf import EventSender
from appliance.media.endpoint import Endpoint
from appliance.media.events import DtmfReceived, PlaybackFinished
from appliance.media.player import Player, load_wav
from appliance.media.tones import PLANS, ToneGenerator

log = logging.getLogger(__name__)


class Playback:
    def __init__(self, core: Core, bridges: Bridges) -> None:
        self._core = core
        self._bridges = bridges

    def play(self, ep: Endpoint, *, prompt: Path | None, tone: str | None, loop: bool, barge_in: bool) -> None:
        source: Player | ToneGenerator
        if prompt is not None:
            source = Player(load_wav(prompt), loop=loop, barge_in=barge_in)
            what = str(prompt)
        elif tone is not None:
            config = self._core.config
            plan = PLANS[config.tone_plan]
            if tone not in plan:
                raise KeyError(f"no tone {tone!r} in plan {config.tone_plan!r}")
            source = ToneGenerator(plan[tone])
            what = f"tone:{tone}"
        else:
            raise ValueError("play needs a prompt or a tone")
        if ep.player is not None:
            self.finish(ep, interrupted=True)
        ep.player = source
        ep.player_what = what
        ep.player_barge_in = barge_in
        self._core.plan_dirty = True  # the tick adds the players it planned
        self._bridges.refresh(ep)

    def finish(self, ep: Endpoint, interrupted: bool) -> None:
        core = self._core
        what = ep.player_what
        ep.player = None
        ep.player_what = ""
        core.plan_dirty = True
        core.bus.publish(PlaybackFinished(at=core.clock.wall(), endpoint_id=ep.endpoint_id, what=what,
                                          interrupted=interrupted))
        if ep.endpoint_id in core.endpoints:
            self._bridges.refresh(ep)

    def send_dtmf(self, ep: Endpoint, digits: str, duration_ms: int) -> None:
        if ep.te_pt is None:
            raise ValueError(f"endpoint {ep.endpoint_id} has no telephone-event payload type")
        for d in digits:
            ep.dtmf_tx.append(EventSender(d, duration_ms=duration_ms))
        self._bridges.refresh(ep)

    def digit(self, ep: Endpoint, digit: str, source: str) -> None:
        if ep.player is not None and ep.player_barge_in:
            self.finish(ep, interrupted=True)
        core = self._core
        core.bus.publish(DtmfReceived(at=core.clock.wall(), endpoint_id=ep.endpoint_id, digit=digit, source=source))
        if ep.on_dtmf is not None:
            try:
                ep.on_dtmf(ep.endpoint_id, digit)
            except Exception:
                log.exception("DTMF callback failed")
