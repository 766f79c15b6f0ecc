"""The admin's side of the SIP front door: the sources blocked for failed authentications (listed, lifted),
the thresholds behind them (the `sip_security` setting), and the audit log of every block, attack, expiry and
lift.

The blocks themselves are decided in the sans-IO core (`security.Guard`); this service reads them through
`SipService`, writes what the core reports on the bus into the audit log, and changes the thresholds of the
running core. A lift is audited here with the admin's name (the core's own event of it is not audited twice).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from appliance.clock import Clock
from appliance.configuration.service import Actor, ConfigService
from appliance.errors import ValidationFailed
from appliance.events import Event, EventBus
from appliance.records.models import AuditEntry
from appliance.sip import events as ev
from appliance.sip.security import Block, SecurityPolicy
from appliance.sip.service import SipService

log = logging.getLogger(__name__)

POLICY_SETTING = "sip_security"
AUDIT_KIND = "sip_block"
TOPICS = {ev.AuthBlocked.topic, ev.AuthUnblocked.topic, ev.ExtensionUnderAttack.topic}


@dataclass
class SipSecurityService:
    sip: SipService
    config: ConfigService
    bus: EventBus
    clock: Clock
    _subscription: Any = field(default=None, init=False)

    def __post_init__(self) -> None:
        stored = self.config.store.settings.get(POLICY_SETTING)
        if stored is not None:
            try:
                self.sip.set_security(SecurityPolicy.parse(stored, self.sip.config.security))
            except ValidationFailed as exc:
                log.error("the %s setting is unreadable (%s); using the defaults", POLICY_SETTING, exc)
        self._subscription = self.bus.subscribe(self._on_event, TOPICS)

    def close(self) -> None:
        self.bus.unsubscribe(self._subscription)

    # ---- the admin's questions and actions

    def blocks(self) -> list[dict[str, Any]]:
        mono, wall = self.clock.monotonic(), self.clock.wall()
        return [_block_dict(b, mono, wall) for b in self.sip.blocks()]

    def lift(self, source: str, actor: Actor) -> int:
        block = self.sip.lift_block(source)
        if block is None:
            return 0
        log.warning("SIP: %s lifted the block of source %s", actor.name, source)
        self._audit(actor.name, "unblock", source, {"reason": "lifted"}, actor.source)
        return 1

    @property
    def policy(self) -> SecurityPolicy:
        return self.sip.config.security

    async def set_policy(self, change: Any, actor: Actor) -> SecurityPolicy:
        before = self.policy
        after = SecurityPolicy.parse(change, before)
        await self.config.replace_setting(POLICY_SETTING, before.to_dict(), after.to_dict(), actor)
        self.sip.set_security(after)
        return after

    # ---- what the core reports

    def _on_event(self, event: Event) -> None:
        if isinstance(event, ev.AuthBlocked):
            self._audit("system", "block", event.key, {"seconds": event.seconds, "failures": event.failures,
                                                       "reason": event.reason, "extension": event.extension})
        elif isinstance(event, ev.AuthUnblocked) and event.reason != "lifted":
            self._audit("system", "unblock", event.source, {"reason": event.reason})
        elif isinstance(event, ev.ExtensionUnderAttack):
            self._audit("system", "attack", event.extension, {"failures": event.failures,
                                                              "sources": list(event.sources)}, "")

    def _audit(self, actor: str, action: str, key: str, after: dict[str, Any], source: str | None = None) -> None:
        self.config.records.append_audit(AuditEntry(
            at=self.clock.wall(), actor=actor, action=action, kind=AUDIT_KIND, key=key, after=after,
            source=key if source is None else source))


def _block_dict(block: Block, mono: float, wall: float) -> dict[str, Any]:
    """A block as the API shows it: its end on the wall clock (the core counts on the monotonic one)."""
    return {"source": block.source, "until": wall + (block.until - mono),
            "seconds_left": max(0, round(block.until - mono)), "seconds": block.seconds,
            "failures": block.failures, "reason": block.reason, "extension": block.extension}
