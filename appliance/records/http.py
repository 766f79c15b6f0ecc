"""Records routes beside the CDR API: the recordings of chosen calls as one zip (`GET /api/v1/recordings.zip`).

The zip is written as it is sent: each WAV is read from its file in chunks on a worker thread and stored
(`ZIP_STORED`: audio does not deflate) through `zipfile` into a sink the response drains, with the sizes in
data descriptors after each file, so there is never a temporary copy nor a whole file in memory. Every call
is checked (it exists, it has a recording, the viewer may hear it) before the first byte leaves, so a bad
choice is a clear 4xx rather than a broken download. Agents only their own calls, as for one recording.
"""

from __future__ import annotations

import asyncio
import io
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from appliance.auth.models import ANY_ROLE
from appliance.calls.http import recording_file
from appliance.domain.models import Role
from appliance.errors import FieldError, Forbidden, NotFound, ValidationFailed
from appliance.http_api import Api, Param, session_of
from appliance.records.sqlite_store import RecordStore

MAX_FILES = 100  # a page's worth; the ids travel in the address
CHUNK = 256 * 1024


class _Sink(io.RawIOBase):
    """A write-only, unseekable file for `zipfile`: what it writes waits here until the response takes it."""

    def __init__(self) -> None:
        super().__init__()
        self._chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._chunks.append(chunk)
        return len(chunk)

    def take(self) -> bytes:
        out = b"".join(self._chunks)
        self._chunks.clear()
        return out


@dataclass(frozen=True, slots=True)
class _Entry:
    name: str
    path: Path
    size: int
    mtime: float


def _ids(request: Request) -> list[str]:
    raw = [part for value in request.args.getlist("call_id") for part in str(value).split(",") if part]
    ids = list(dict.fromkeys(raw))
    if not ids:
        raise ValidationFailed([FieldError("call_id", "required", "call_id: choose at least one call",
                                           "call_id: 请至少选择一个通话")])
    if len(ids) > MAX_FILES or any(len(i) > 128 for i in ids):
        raise ValidationFailed([FieldError("call_id", "maxItems",
                                           f"call_id: at most {MAX_FILES} calls of at most 128 characters",
                                           f"call_id: 最多 {MAX_FILES} 个通话,每个不超过 128 个字符")])
    return ids


def _agents_of(cdr: dict[str, Any]) -> set[str]:
    agents = {str(leg["agent"]) for leg in cdr.get("legs", ()) if isinstance(leg, dict) and leg.get("agent")}
    if cdr.get("agent"):
        agents.add(str(cdr["agent"]))
    return agents


def make_blueprint(api: Api, records: RecordStore, recordings_dir: Path) -> Blueprint:
    bp = Blueprint("records", url_prefix="")

    def chosen_records(request: Request, ids: list[str]) -> list[tuple[str, list[str]]]:
        """(call id, stored recording paths) of each call, checked: it exists and the viewer may hear it. A call
        recorded in parts (a transfer, a consultation) brings every part."""
        session = session_of(request)
        out: list[tuple[str, list[str]]] = []
        for call_id in ids:
            page = records.cdrs(where={"call_id": call_id}, limit=1)  # the primary key: one indexed read
            if not page.items:
                raise NotFound("call record", call_id)
            cdr: dict[str, Any] = page.items[0]
            if session.role == Role.AGENT and (not session.staff or session.staff not in _agents_of(cdr)):
                raise Forbidden(f"agents may download only their own calls' recordings ({call_id})",
                                f"座席只能下载自己通话的录音({call_id})")
            parts = [str(r) for r in cdr.get("recordings") or () if r] or [str(cdr.get("recording") or "")]
            out.append((call_id, [p for p in parts if p]))
        return out

    def files(chosen: list[tuple[str, list[str]]]) -> list[_Entry]:
        out: list[_Entry] = []
        for call_id, parts in chosen:
            found = [path for path in (recording_file(recordings_dir, stored) for stored in parts) if path]
            if not found:
                raise NotFound("recording", call_id)
            for n, path in enumerate(found, start=1):
                stat = path.stat()
                out.append(_Entry(f"{call_id}.wav" if n == 1 else f"{call_id}-{n}.wav", path, stat.st_size,
                                  stat.st_mtime))
        return out

    async def recordings_zip(request: Request) -> HTTPResponse:
        chosen = await asyncio.to_thread(files, chosen_records(request, _ids(request)))
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime())
        response = await request.respond(
            content_type="application/zip",
            headers={"Content-Disposition": f'attachment; filename="recordings-{stamp}.zip"'})
        sink = _Sink()
        with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED) as archive:
            for entry in chosen:
                info = zipfile.ZipInfo(entry.name, time.localtime(entry.mtime)[:6])
                info.compress_type = zipfile.ZIP_STORED
                info.file_size = entry.size  # tells zipfile whether the entry needs ZIP64 fields
                source = await asyncio.to_thread(entry.path.open, "rb")
                try:
                    with archive.open(info, "w") as target:
                        while chunk := await asyncio.to_thread(source.read, CHUNK):
                            target.write(chunk)
                            await response.send(sink.take())
                finally:
                    source.close()
                await response.send(sink.take())
        await response.send(sink.take())  # the central directory
        await response.eof()
        # Already answered through `request.respond`: Sanic is given nothing more to send.
        return None  # type: ignore[return-value]

    api.route(bp, "GET", "/api/v1/recordings.zip", recordings_zip,
              summary="The recordings of the chosen calls as one zip, streamed (WAV files named by call id, "
                      "a call's further parts <call id>-2.wav ...); agents only their own calls",
              tag="records", operation_id="recordings_zip", roles=ANY_ROLE, content_type="application/zip",
              params=(Param("call_id", required=True,
                            schema={"type": "array", "items": {"type": "string"}, "maxItems": MAX_FILES},
                            description="a call id; repeat it (or separate ids by commas) for more calls"),),
              response={"type": "string", "format": "binary"}, errors=(401, 403, 404, 422))
    return bp
