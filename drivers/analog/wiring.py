"""How the composition root puts the analog driver in: from the `analog` setting (`{"card": "/dev/ttyUSB0",
"fxo": [...], "fxs": [...]}`, see `config.parse_config`) to the service and its leg providers.

Call control rings every extension through the leg kind "sip"; an analog phone is an extension like a SIP
one, so `ExtensionLegs` stands in that kind's place: an extension bound to an FXS port rings the port, any
other goes to the SIP provider unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from appliance.errors import FieldError, ValidationFailed
from appliance.events import EventBus
from appliance.legs.models import CallLeg, LegProvider, LegSink, OutboundLeg
from appliance.media.frame_media import FrameMedia
from drivers.analog.config import AnalogConfig, parse_config
from drivers.analog.service import AnalogService
from drivers.hal.serial_backend import SerialCard


@dataclass(eq=False)
class ExtensionLegs:
    """The "sip" leg kind with analog phones among the extensions (implements `LegProvider`)."""

    sip: LegProvider
    analog: AnalogService

    @property
    def kind(self) -> str:
        return self.sip.kind

    def attach(self, sink: LegSink) -> None:
        self.sip.attach(sink)

    def leg(self, leg_id: str) -> CallLeg:
        return self.sip.leg(leg_id)

    async def create(self, request: OutboundLeg) -> CallLeg:
        if request.extension and self.analog.config.fxs_for(request.extension) is not None:
            return await self.analog.fxs.create(request)
        return await self.sip.create(request)


@dataclass(eq=False)
class AnalogWiring:
    config: AnalogConfig
    card_path: str
    service: AnalogService | None = None

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any] | None) -> AnalogWiring | None:
        """None when no analog card is configured; `ValidationFailed` naming the field when it is wrong."""
        if not settings:
            return None
        card = settings.get("card")
        if not isinstance(card, str) or not card:
            raise ValidationFailed([FieldError("analog.card", "required", "the card's device path",
                                               "需要板卡设备路径")], "analog configuration")
        return cls(parse_config(settings), card)

    def providers(self, media: FrameMedia, bus: EventBus, sip: LegProvider) -> list[LegProvider]:
        """The leg providers to register: extensions (SIP and analog phones), FXO lines, FXS phones."""
        self.service = AnalogService(SerialCard(self.card_path), media, self.config, bus)
        return [ExtensionLegs(sip, self.service), self.service.fxo, self.service.fxs]
