"""The registry of leg providers, keyed by kind, and the one place their events meet.

Call control asks the factory for a leg of a kind ("sip" for an IP phone or a SIP trunk, "pri" for an E1
span, "fxo"/"fxs" for analog ports) and subscribes once to the events of all providers; a provider for a
new technology is registered by the composition root and nothing in call control changes.

An extension is a number, not a technology: the factory says which kind reaches it (`extension_kind`). A
driver whose ports carry extensions (FXS: analog desk phones) registers a resolver for the extensions bound
to it; every other extension is a SIP phone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from appliance.errors import NotFound
from appliance.events import Event
from appliance.legs.causes import Cause
from appliance.legs.models import CallLeg, LegProvider, LegRefused, LegSink, OutboundLeg

log = logging.getLogger(__name__)

DEFAULT_EXTENSION_KIND = "sip"  # an extension no driver claims is an IP phone

# extension → the leg kind that reaches it, or None when it is not one of this driver's
ExtensionResolver = Callable[[str], str | None]


@dataclass
class LegFactory:
    _providers: dict[str, LegProvider] = field(default_factory=dict)
    _sink: LegSink | None = None
    _extension_resolvers: list[ExtensionResolver] = field(default_factory=list)

    def register(self, provider: LegProvider) -> None:
        if provider.kind in self._providers:
            raise ValueError(f"a leg provider of kind {provider.kind!r} is registered already")
        self._providers[provider.kind] = provider
        provider.attach(self._deliver)

    def claim_extensions(self, resolver: ExtensionResolver) -> None:
        """A driver's extensions (e.g. those bound to FXS ports) ring through the kind `resolver` names."""
        self._extension_resolvers.append(resolver)

    def extension_kind(self, extension: str) -> str:
        """The leg kind that rings `extension`."""
        for resolve in self._extension_resolvers:
            kind = resolve(extension)
            if kind is not None:
                return kind
        return DEFAULT_EXTENSION_KIND

    def subscribe(self, sink: LegSink) -> None:
        """Call control's one intake for every provider's leg events."""
        self._sink = sink

    def _deliver(self, event: Event) -> None:
        if self._sink is None:
            log.warning("leg event with nobody to take it: %s", event.topic)
            return
        self._sink(event)

    @property
    def kinds(self) -> frozenset[str]:
        return frozenset(self._providers)

    def provides(self, kind: str) -> bool:
        return kind in self._providers

    def provider(self, kind: str) -> LegProvider:
        try:
            return self._providers[kind]
        except KeyError:
            raise NotFound("leg provider", kind) from None

    def leg(self, kind: str, leg_id: str) -> CallLeg:
        return self.provider(kind).leg(leg_id)

    async def create(self, kind: str, request: OutboundLeg) -> CallLeg:
        """A new outbound leg; `LegRefused` when no provider of `kind` is installed or it refuses."""
        provider = self._providers.get(kind)
        if provider is None:
            raise LegRefused(Cause.REQUESTED_CHANNEL_UNAVAILABLE, f"no {kind} driver is installed")
        return await provider.create(request)
