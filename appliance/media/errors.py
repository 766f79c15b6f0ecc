"""Errors of the media engine."""

from __future__ import annotations

from appliance.errors import ApplianceError, Conflict, NotFound


class MediaError(ApplianceError):
    pass


class NoPortAvailable(MediaError):
    def __init__(self, low: int, high: int) -> None:
        super().__init__(f"no free RTP port in {low}-{high}", f"RTP 端口 {low}-{high} 已用尽",
                         {"low": low, "high": high}, error_id="media_no_port", http_status=503)


class NoCommonCodec(MediaError):
    def __init__(self, offered: list[int]) -> None:
        super().__init__(f"no common codec in payload types {offered}", f"没有共同的编解码: {offered}",
                         {"offered": offered}, error_id="media_no_codec", http_status=488)


class BadPrompt(MediaError):
    def __init__(self, path: str, why: str) -> None:
        super().__init__(f"prompt {path} cannot be played: {why}", f"语音文件 {path} 无法播放: {why}",
                         {"path": path}, error_id="media_bad_prompt", http_status=422)


def unknown_endpoint(endpoint_id: str) -> NotFound:
    return NotFound("media endpoint", endpoint_id)


def unknown_bridge(bridge_id: str) -> NotFound:
    return NotFound("media bridge", bridge_id)


def endpoint_busy(endpoint_id: str, bridge_id: str) -> Conflict:
    return Conflict(f"endpoint {endpoint_id} is already in bridge {bridge_id}",
                    f"媒体端点 {endpoint_id} 已在桥 {bridge_id} 中", {"endpoint": endpoint_id, "bridge": bridge_id})


def not_rtp(endpoint_id: str) -> Conflict:
    return Conflict(f"endpoint {endpoint_id} is a frame port, not an RTP leg", f"媒体端点 {endpoint_id} 是帧端口, 不是 RTP",
                    {"endpoint": endpoint_id})
