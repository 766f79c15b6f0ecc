"""The media engine as a card driver sees it: frame ports opened and released, nothing else.

Drivers (E1/PRI, analog) and test providers type against these protocols rather than `MediaEngine`, so they
can be run against a fake engine and never reach into the RTP side."""

from __future__ import annotations

from typing import Protocol

from appliance.media.events import LegQuality
from appliance.media.frames import FrameLaw


class FramePortLike(Protocol):
    """What a driver holds of a frame port (`appliance.media.frames.FramePort`)."""

    @property
    def endpoint_id(self) -> str: ...

    def push(self, frame: bytes) -> None: ...

    def pull(self) -> bytes: ...


class FrameMedia(Protocol):
    """What a driver needs of the media engine (`appliance.media.service.MediaEngine`)."""

    def open_frame_port(self, law: FrameLaw = "alaw") -> FramePortLike: ...

    def release(self, endpoint_id: str) -> LegQuality | None: ...
