"""How the composition root puts the analog driver in: from the `analog` setting (`{"card": "/dev/ttyUSB0",
"fxo": [...], "fxs": [...]}`, see `config.parse_config`) to the service and its leg providers.

An analog phone is an extension like a SIP one: the extensions bound to FXS ports are claimed in the leg
factory (`claims`), so call control rings them through the "fxs" provider and every other one over SIP.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from appliance.errors import FieldError, ValidationFailed
from appliance.events import EventBus
from appliance.legs.models import LegProvider
from appliance.media.frame_media import FrameMedia
from drivers.analog.config import AnalogConfig, parse_config
from drivers.analog.service import AnalogService
from drivers.hal.serial_backend import SerialCard


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

    def providers(self, media: FrameMedia, bus: EventBus) -> list[LegProvider]:
        """The leg providers to register: FXO lines and FXS phones."""
        self.service = AnalogService(SerialCard(self.card_path), media, self.config, bus)
        return [self.service.fxo, self.service.fxs]

    def claims(self, extension: str) -> str | None:
        """The leg kind of an extension bound to an FXS port ("fxs"); None for any other."""
        return "fxs" if self.config.fxs_for(extension) is not None else None
