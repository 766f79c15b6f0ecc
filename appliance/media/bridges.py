"""Bridges and conferences: who hears whom (masks), and whether a bridge relays packets or mixes per tick.

A two-party bridge with one codec, no mask, no prompt or tone and no DTMF being sent relays each packet as it
comes (`packets.py`); anything else is mixed by the tick. Recording and in-band detection do not stop the
relay: they tap a copy of each payload into the leg's jitter buffer, which the tick decodes. `reconcile`
decides after every change and moves the legs over without a gap: each outgoing stream keeps its SSRC, its
sequence goes on by one, its timestamp by the time that passed, and a new jitter buffer is seeded with the
last relayed frame so concealment covers the first tick.

A frame port (`frames.py`) in A-law bridged two-party to a PCMA leg relays too: its frames go out as RTP as
the driver pushes them, and the leg's audio reaches the port untouched through the leg's jitter buffer and the
tick, which hands the code words over without decoding (and decodes a copy for recordings and detectors).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from appliance.media.core import Core
from appliance.media.endpoint import Endpoint
from appliance.media.errors import endpoint_busy, unknown_bridge, unknown_endpoint
from appliance.media.mixer import Mixer
from appliance.media.models import PCMA, PartyMask


@dataclass(eq=False)
class Bridge:
    bridge_id: str
    parties: dict[str, PartyMask] = field(default_factory=dict)
    relaying: bool = False


class Bridges:
    def __init__(self, core: Core) -> None:
        self._core = core
        self.bridges: dict[str, Bridge] = {}
        self.mixer = Mixer()

    def bridge(self, bridge_id: str) -> Bridge:
        br = self.bridges.get(bridge_id)
        if br is None:
            raise unknown_bridge(bridge_id)
        return br

    def create(self) -> str:
        bridge_id = self._core.new_id("br")
        self.bridges[bridge_id] = Bridge(bridge_id)
        return bridge_id

    def add_party(self, bridge_id: str, endpoint_id: str, mask: PartyMask | None = None) -> None:
        br = self.bridge(bridge_id)
        ep = self._core.endpoint(endpoint_id)
        if ep.bridge_id is not None and ep.bridge_id != bridge_id:
            raise endpoint_busy(endpoint_id, ep.bridge_id)
        ep.bridge_id = bridge_id
        br.parties[endpoint_id] = mask or PartyMask()
        self.mixer.set_party(bridge_id, endpoint_id, br.parties[endpoint_id])
        self.reconcile(bridge_id)

    def set_mask(self, bridge_id: str, endpoint_id: str, mask: PartyMask) -> None:
        br = self.bridge(bridge_id)
        if endpoint_id not in br.parties:
            raise unknown_endpoint(endpoint_id)
        br.parties[endpoint_id] = mask
        self.mixer.set_party(bridge_id, endpoint_id, mask)
        self.reconcile(bridge_id)

    def unbridge(self, bridge_id: str) -> None:
        br = self.bridges.get(bridge_id)
        if br is None:
            return
        for endpoint_id in list(br.parties):
            ep = self._core.endpoints.get(endpoint_id)
            if ep is not None:
                self.leave(ep)
        self.bridges.pop(bridge_id, None)
        self.mixer.remove_conference(bridge_id)

    def leave(self, ep: Endpoint) -> None:
        bridge_id = ep.bridge_id
        ep.bridge_id = None
        if bridge_id is None:
            return
        br = self.bridges.get(bridge_id)
        self.mixer.remove_party(bridge_id, ep.endpoint_id)
        if br is not None:
            br.parties.pop(ep.endpoint_id, None)
            if not br.parties:
                del self.bridges[bridge_id]
        self._set_relay(ep, None)
        self.reconcile(bridge_id)  # the bridge it left: two parties again may relay
        self.reconcile_endpoint(ep)

    def refresh(self, ep: Endpoint) -> None:
        """After anything that can change how `ep` is carried (a player, DTMF, a recording, a detector): its
        bridge's relay-or-mix choice, then its own part in the tick."""
        self.reconcile(ep.bridge_id)
        self.reconcile_endpoint(ep)

    def _relay_possible(self, br: Bridge) -> bool:
        if len(br.parties) != 2:
            return False
        a, b = (self._core.endpoints.get(i) for i in br.parties)
        if a is None or b is None:
            return False
        if any(m != PartyMask() for m in br.parties.values()):
            return False
        if any(ep.player is not None or ep.dtmf_tx for ep in (a, b)):
            return False
        if a.frame is None and b.frame is None:
            # recording and in-band detection do not stop the relay: they tap a copy of the packets
            return a.codec == b.codec
        # a frame port's A-law passes to and from a PCMA leg untouched; recordings and detectors read the
        # decoded copy the tick makes of both sides anyway
        port, leg = (a, b) if a.frame is not None else (b, a)
        return port.frame is not None and port.frame.law == "alaw" and leg.frame is None and leg.codec == PCMA

    def reconcile(self, bridge_id: str | None) -> None:
        """Choose relay or mixing for a bridge and move its legs over without a gap."""
        if bridge_id is None:
            return
        br = self.bridges.get(bridge_id)
        if br is None:
            return
        relay = self._relay_possible(br)
        endpoints = self._core.endpoints
        parties = [endpoints[i] for i in br.parties if i in endpoints]
        if relay:
            a, b = parties
            self._set_relay(a, b)
            self._set_relay(b, a)
        else:
            for ep in parties:
                self._set_relay(ep, None)
        br.relaying = relay
        for ep in parties:
            self.reconcile_endpoint(ep)

    def _set_relay(self, ep: Endpoint, target: Endpoint | None) -> None:
        if ep.relay_to is target:
            return
        self._core.own(ep)
        ep.relay_to = target
        ep.resync = True
        self._core.plan_dirty = True  # which rows are mixed and sent depends on it

    @staticmethod
    def needs_tick(ep: Endpoint) -> bool:
        if bool(ep.recordings) or ep.inband is not None:
            return True  # decoded every tick, relayed or not
        if ep.relay_to is not None:
            # an RTP leg relayed into a frame port: the tick hands its frames (undecoded) to the port
            return ep.relay_to.frame is not None and ep.frame is None
        return ep.bridge_id is not None or ep.player is not None or bool(ep.dtmf_tx)

    def reconcile_endpoint(self, ep: Endpoint) -> None:
        core = self._core
        core.own(ep)
        ticked = self.needs_tick(ep)
        if ep.frame is not None:  # no jitter buffer: the port's elastic buffer is its input to the tick
            if ep.frame.ticked != ticked:
                ep.frame.ticked = ticked
                core.plan_dirty = True
        elif ticked and ep.jitter is None:
            ep.jitter = core.new_jitter(ep)
            if ep.last_in_payload:
                ep.jitter.seed(ep.last_in_ts, ep.last_in_payload)
            core.plan_dirty = True
        elif not ticked and ep.jitter is not None:
            ep.jitter = None
            core.plan_dirty = True
        self.mixer.invalidate()
