"""CDR, queue log, agent log and recording downloads through the API: paging, filters, time ranges, roles,
and recordings that must not be served."""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any

from tests.api_client import Client
from tests.calls.test_http import field_names, login_as


def cdr(call_id: str, started: float, *, agent: str = "", queue: str = "sales", direction: str = "inbound",
        caller: str = "13800000000", missed: tuple[str, ...] = (), recording: str = "",
        disposition: str = "answered", legs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "call_id": call_id, "direction": direction, "caller": caller, "callee": "8000", "did": "8000",
        "started": started, "answered": started + 1, "ended": started + 60, "queue": queue, "agent": agent,
        "disposition": disposition, "missed": list(missed), "recording": recording, "legs": legs or [],
    }


def wav(seconds: float = 0.5) -> bytes:
    frames = b"\x00\x00" * int(8000 * seconds)
    header = b"RIFF" + struct.pack("<I", 36 + len(frames)) + b"WAVEfmt " + struct.pack(
        "<IHHIIHH", 16, 1, 1, 8000, 16000, 2, 16) + b"data" + struct.pack("<I", len(frames))
    return header + frames


def seed_cdrs(client: Client) -> None:
    records = client.appliance.core.records
    records.put_cdr(cdr("c-1", 1000.0, agent="1001"))
    records.put_cdr(cdr("c-2", 1100.0, agent="1002", queue="support"))
    records.put_cdr(cdr("c-3", 1200.0, missed=("queue_abandoned",), disposition="abandoned"))
    records.put_cdr(cdr("c-4", 1300.0, direction="internal", queue="", caller="1001", disposition="ended"))
    records.put_cdr(cdr("c-5", 1400.0, agent="1001", missed=("not_answered",),
                        legs=[{"leg": "l1", "role": "agent", "agent": "1003"}]))


async def ids(client: Client, query: str, token: str | None = None) -> list[str]:
    status, data = await client.call("GET", f"/api/v1/cdr{query}", token=token)
    assert status == 200, data
    return [c["call_id"] for c in data["items"]]


async def test_cdr_paging_newest_first(admin: Client) -> None:
    seed_cdrs(admin)
    status, data = await admin.call("GET", "/api/v1/cdr?limit=2")
    assert status == 200 and data["total"] == 5 and data["offset"] == 0 and data["limit"] == 2
    assert [c["call_id"] for c in data["items"]] == ["c-5", "c-4"]
    status, data = await admin.call("GET", "/api/v1/cdr?limit=2&offset=4")
    assert [c["call_id"] for c in data["items"]] == ["c-1"] and data["total"] == 5
    assert data["items"][0]["caller"] == "13800000000" and data["items"][0]["ended"] == 1060.0


async def test_cdr_filters_and_time_range(admin: Client) -> None:
    seed_cdrs(admin)
    assert await ids(admin, "?agent=1001") == ["c-5", "c-1"]
    assert await ids(admin, "?queue=support") == ["c-2"]
    assert await ids(admin, "?direction=internal") == ["c-4"]
    assert await ids(admin, "?caller=1001") == ["c-4"]
    assert await ids(admin, "?disposition=abandoned") == ["c-3"]
    assert await ids(admin, "?did=8000&callee=8000&limit=1") == ["c-5"]
    assert await ids(admin, "?missed=true") == ["c-5", "c-3"]
    assert await ids(admin, "?missed=false") == ["c-4", "c-2", "c-1"]
    assert await ids(admin, "?since=1100&until=1300") == ["c-3", "c-2"]
    assert await ids(admin, "?since=1100&until=1300&missed=false") == ["c-2"]
    assert await ids(admin, "?agent=9999") == []


async def test_cdr_bad_query_names_the_field(admin: Client) -> None:
    for query, name in (("limit=0", "limit"), ("limit=1001", "limit"), ("limit=ten", "limit"),
                        ("offset=-1", "offset"), ("direction=sideways", "direction"), ("missed=maybe", "missed"),
                        ("since=yesterday", "since"), ("until=noon", "until"), ("agent=" + "9" * 200, "agent")):
        status, data = await admin.call("GET", f"/api/v1/cdr?{query}")
        assert status == 422 and data["error_id"] == "validation_failed" and field_names(data) == {name}, query


async def test_one_cdr_and_roles(admin: Client) -> None:
    seed_cdrs(admin)
    status, data = await admin.call("GET", "/api/v1/cdr/c-2")
    assert status == 200 and data["agent"] == "1002" and data["queue"] == "support"
    status, data = await admin.call("GET", "/api/v1/cdr/nope")
    assert status == 404 and data["error_id"] == "not_found"

    me = await login_as(admin, "zhangwei", "agent", staff="1001")
    assert await ids(admin, "", token=me) == ["c-5", "c-1"]
    assert await ids(admin, "?agent=1001&missed=true", token=me) == ["c-5"]
    status, _ = await admin.call("GET", "/api/v1/cdr?agent=1002", token=me)
    assert status == 403
    status, _ = await admin.call("GET", "/api/v1/cdr/c-1", token=me)
    assert status == 200
    status, _ = await admin.call("GET", "/api/v1/cdr/c-2", token=me)
    assert status == 403
    # An agent who took part through a later leg (a transfer) sees the call too.
    li = await login_as(admin, "lina", "agent", staff="1003")
    status, _ = await admin.call("GET", "/api/v1/cdr/c-5", token=li)
    assert status == 200
    qa = await login_as(admin, "qa1", "qa")
    assert len(await ids(admin, "", token=qa)) == 5


def seed_logs(client: Client) -> None:
    records = client.appliance.core.records
    records.append_many("queue_log", [
        (1000.0, "c-1", "sales", "queued", None, {"position": 1}),
        (1010.0, "c-1", "sales", "answered", "1001", {"wait": 10}),
        (1100.0, "c-2", "support", "queued", None, {}),
        (1150.0, "c-2", "support", "abandoned", None, {"wait": 50}),
    ])
    records.append_many("agent_log", [
        (900.0, "1001", "logged_out", "idle", "login", {}),
        (1005.0, "1001", "idle", "ringing", "", {}),
        (1010.0, "1001", "ringing", "on_call", "", {}),
        (950.0, "1002", "logged_out", "idle", "login", {}),
        (1200.0, "1002", "idle", "paused", "2", {"by": "zhaomin"}),
    ])


async def test_queue_log_paging_filters_and_time_range(admin: Client) -> None:
    seed_logs(admin)
    status, data = await admin.call("GET", "/api/v1/queue-log?limit=3")
    assert status == 200 and data["total"] == 4
    assert [(r["call_id"], r["event"]) for r in data["items"]] == [
        ("c-1", "queued"), ("c-1", "answered"), ("c-2", "queued")]
    status, data = await admin.call("GET", "/api/v1/queue-log?offset=3")
    assert [r["event"] for r in data["items"]] == ["abandoned"] and data["items"][0]["data"] == {"wait": 50}
    status, data = await admin.call("GET", "/api/v1/queue-log?queue=sales&event=answered")
    assert data["total"] == 1 and data["items"][0]["agent"] == "1001"
    status, data = await admin.call("GET", "/api/v1/queue-log?since=1010&until=1150")
    assert [r["at"] for r in data["items"]] == [1010.0, 1100.0]
    status, data = await admin.call("GET", "/api/v1/queue-log?call_id=c-2")
    assert data["total"] == 2
    status, data = await admin.call("GET", "/api/v1/queue-log?limit=5000")
    assert status == 422 and field_names(data) == {"limit"}
    me = await login_as(admin, "zhangwei", "agent", staff="1001")
    status, _ = await admin.call("GET", "/api/v1/queue-log", token=me)
    assert status == 403


async def test_agent_log_filters_and_agents_read_only_their_own(admin: Client) -> None:
    seed_logs(admin)
    status, data = await admin.call("GET", "/api/v1/agent-log")
    assert status == 200 and data["total"] == 5
    assert [r["at"] for r in data["items"]] == [900.0, 950.0, 1005.0, 1010.0, 1200.0]  # oldest first
    status, data = await admin.call("GET", "/api/v1/agent-log?agent=1002&state_to=paused")
    assert data["total"] == 1 and data["items"][0]["reason"] == "2" and data["items"][0]["data"] == {"by": "zhaomin"}
    status, data = await admin.call("GET", "/api/v1/agent-log?since=1000&limit=1&offset=1")
    assert data["total"] == 3 and [r["at"] for r in data["items"]] == [1010.0]
    status, data = await admin.call("GET", "/api/v1/agent-log?until=abc")
    assert status == 422 and field_names(data) == {"until"}

    me = await login_as(admin, "zhangwei", "agent", staff="1001")
    status, data = await admin.call("GET", "/api/v1/agent-log", token=me)
    assert status == 200 and data["total"] == 3 and {r["agent"] for r in data["items"]} == {"1001"}
    status, _ = await admin.call("GET", "/api/v1/agent-log?agent=1002", token=me)
    assert status == 403


async def test_recording_download_full_and_ranged(admin: Client) -> None:
    data_dir = admin.appliance.core.data_dir
    path = data_dir / "recordings" / "2026-11-23" / "c-1.wav"
    path.parent.mkdir(parents=True, exist_ok=True)
    audio = wav()
    path.write_bytes(audio)
    admin.appliance.core.records.put_cdr(cdr("c-1", 1000.0, agent="1001", recording=str(path)))

    response = await admin.fetch("/api/v1/recordings/c-1")
    assert response.status == 200 and response.body == audio
    assert response.headers["content-type"].startswith("audio/wav")
    assert response.headers["accept-ranges"] == "bytes"
    assert "c-1.wav" in response.headers["content-disposition"]

    response = await admin.fetch("/api/v1/recordings/c-1", headers={"Range": "bytes=44-143"})
    assert response.status == 206 and response.body == audio[44:144]
    assert response.headers["content-range"] == f"bytes 44-143/{len(audio)}"


async def test_recording_roles(admin: Client) -> None:
    data_dir = admin.appliance.core.data_dir
    for call_id, agent in (("c-1", "1001"), ("c-2", "1002")):
        path = data_dir / "recordings" / "2026-11-23" / f"{call_id}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(wav(0.1))
        admin.appliance.core.records.put_cdr(cdr(call_id, 1000.0, agent=agent, recording=str(path)))
    me = await login_as(admin, "zhangwei", "agent", staff="1001")
    qa = await login_as(admin, "qa1", "qa")
    sup = await login_as(admin, "zhaomin", "supervisor", staff="1901")
    client = Client(admin.appliance)
    for token, call_id, expected in ((me, "c-1", 200), (me, "c-2", 403), (qa, "c-2", 200), (sup, "c-1", 200),
                                     (None, "c-1", 401)):
        client.token = token
        admin.appliance.http_app.asgi_client.cookies.clear()  # the test client keeps the login cookies
        response = await client.fetch(f"/api/v1/recordings/{call_id}")
        assert response.status == expected, (call_id, expected)
        if expected == 403:
            assert response.json["error_id"] == "forbidden"


async def test_recording_missing_or_outside_the_recordings_folder_is_a_json_404(admin: Client, tmp_path: Path) -> None:
    data_dir = admin.appliance.core.data_dir
    records = admin.appliance.core.records
    outside = tmp_path / "secret.wav"
    outside.write_bytes(wav(0.1))
    (data_dir / "recordings").mkdir(exist_ok=True)
    records.put_cdr(cdr("none", 1000.0))  # not recorded
    records.put_cdr(cdr("gone", 1001.0, recording=str(data_dir / "recordings" / "gone.wav")))
    records.put_cdr(cdr("abs", 1002.0, recording=str(outside)))
    records.put_cdr(cdr("up", 1003.0, recording=str(data_dir / "recordings" / ".." / "config.json")))
    records.put_cdr(cdr("rel", 1004.0, recording="../records.sqlite3"))
    records.put_cdr(cdr("dir", 1005.0, recording=str(data_dir / "recordings")))
    for call_id in ("none", "gone", "abs", "up", "rel", "dir", "no-such-call"):
        response = await admin.fetch(f"/api/v1/recordings/{call_id}")
        assert response.status == 404, call_id
        assert response.json["error_id"] == "not_found", call_id


async def test_recording_paths_written_relative_or_from_a_moved_data_directory_are_found(admin: Client) -> None:
    data_dir = admin.appliance.core.data_dir
    records = admin.appliance.core.records
    day = data_dir / "recordings" / "2026-11-23"
    day.mkdir(parents=True, exist_ok=True)
    for name in ("rel", "moved"):
        (day / f"{name}.wav").write_bytes(wav(0.1) + name.encode())
    # A data directory given relatively: the controller wrote the path relative to the working directory.
    records.put_cdr(cdr("rel", 1000.0, recording=os.path.relpath(day / "rel.wav")))
    # Restored from a box whose data directory was elsewhere.
    records.put_cdr(cdr("moved", 1001.0, recording="/srv/old-box/data/recordings/2026-11-23/moved.wav"))
    for name in ("rel", "moved"):
        response = await admin.fetch(f"/api/v1/recordings/{name}")
        assert response.status == 200 and response.body.endswith(name.encode()), name


async def test_a_symlink_out_of_the_recordings_folder_is_not_followed(admin: Client, tmp_path: Path) -> None:
    data_dir = admin.appliance.core.data_dir
    outside = tmp_path / "elsewhere.wav"
    outside.write_bytes(wav(0.1))
    link = data_dir / "recordings" / "2026-11-23" / "link.wav"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(outside)
    admin.appliance.core.records.put_cdr(cdr("link", 1000.0, recording=str(link)))
    response = await admin.fetch("/api/v1/recordings/link")
    assert response.status == 404 and response.json["error_id"] == "not_found"
