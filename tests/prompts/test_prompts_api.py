"""Prompt uploads through the API: converted on upload, refused with the field named when not audio."""

from __future__ import annotations

import io
import wave

import numpy as np

from tests.api_client import Client


def stereo_44k(seconds: float) -> bytes:
    t = np.arange(int(44100 * seconds)) / 44100
    tone = (12000 * np.sin(2 * np.pi * 440 * t)).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(44100)
        w.writeframes(np.repeat(tone, 2).tobytes())
    return buf.getvalue()


async def test_upload_convert_play_and_delete(admin: Client) -> None:
    status, info = await admin.call("PUT", "/api/v1/prompts/zh-CN/welcome", raw=stereo_44k(1.0))
    assert status == 201, info
    assert info["source"] == "upload" and abs(info["duration"] - 1.0) < 0.05
    response = await admin.fetch("/api/v1/prompts/zh-CN/welcome/audio")
    assert response.status == 200
    with wave.open(io.BytesIO(response.body)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
    _, listing = await admin.call("GET", "/api/v1/prompts")
    sources = {(p["name"], p["language"], p["source"]) for p in listing["items"]}
    assert ("welcome", "zh-CN", "upload") in sources and ("welcome", "zh-CN", "default") in sources
    status, _ = await admin.call("DELETE", "/api/v1/prompts/zh-CN/welcome")
    assert status == 204
    status, _ = await admin.call("DELETE", "/api/v1/prompts/zh-CN/welcome")
    assert status == 404  # only the shipped default is left, and it cannot be deleted
    response = await admin.fetch("/api/v1/prompts/zh-CN/welcome/audio")
    assert response.status == 200  # the default plays again


async def test_not_audio_is_refused_naming_the_field(admin: Client) -> None:
    status, data = await admin.call("PUT", "/api/v1/prompts/en/greeting", raw=b"this is not a wav file at all")
    assert status == 422 and data["details"]["fields"][0]["field"] == "file"
    status, data = await admin.call("PUT", "/api/v1/prompts/xx/greeting", raw=stereo_44k(0.5))
    assert status == 422 and data["details"]["fields"][0]["field"] == "language"
    status, data = await admin.call("PUT", "/api/v1/prompts/en/Bad Name", raw=stereo_44k(0.5))
    assert status in (404, 422)
    _, listing = await admin.call("GET", "/api/v1/prompts")
    assert not [p for p in listing["items"] if p["source"] == "upload"]
