"""Voicemail: deposit, list, play (ranged download), mark handled with a note, events."""

from __future__ import annotations

import wave

import numpy as np

from appliance.events import Event
from tests.api_client import Client


def write_tone(path: str, seconds: float) -> bytes:
    t = np.arange(int(8000 * seconds)) / 8000
    pcm = (8000 * np.sin(2 * np.pi * 450 * t)).astype("<i2").tobytes()
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(pcm)
    return pcm


async def test_message_lifecycle(admin: Client) -> None:
    service = admin.appliance.core.voicemail
    events: list[Event] = []
    admin.appliance.core.bus.subscribe(events.append, {"voicemail.*"})
    message_id, path = service.new_file("sales")
    write_tone(str(path), 2.5)
    service.deposit(message_id, "sales", "13800138000", "call-1", path)
    assert [e.topic for e in events] == ["voicemail.new"]

    status, data = await admin.call("GET", "/api/v1/voicemail?box=sales&handled=false")
    assert status == 200 and data["total"] == 1
    item = data["items"][0]
    assert item["caller"] == "13800138000" and item["duration_s"] == 2.5 and item["handled"] is False

    whole = await admin.fetch(f"/api/v1/voicemail/{message_id}/audio")
    assert whole.status == 200 and whole.body == path.read_bytes()
    assert whole.headers["content-type"] == "audio/wav"
    part = await admin.fetch(f"/api/v1/voicemail/{message_id}/audio", {"Range": "bytes=100-199"})
    assert part.status == 206 and part.body == path.read_bytes()[100:200]

    status, data = await admin.call("POST", f"/api/v1/voicemail/{message_id}/handled", {"note": "called back"})
    assert status == 200 and data["handled"] and data["note"] == "called back" and data["handled_by"] == "admin"
    status, data = await admin.call("POST", f"/api/v1/voicemail/{message_id}/handled", {"note": "again"})
    assert status == 409
    assert [e.topic for e in events] == ["voicemail.new", "voicemail.handled"]
    status, data = await admin.call("GET", "/api/v1/voicemail?handled=true")
    assert data["total"] == 1


async def test_unknown_message_is_404(admin: Client) -> None:
    status, data = await admin.call("GET", "/api/v1/voicemail/nope")
    assert status == 404 and data["error_id"] == "not_found"
    response = await admin.fetch("/api/v1/voicemail/nope/audio")
    assert response.status == 404
