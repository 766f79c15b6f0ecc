"""Voicemail messages: audio under `<data>/voicemail/<box>/`, the index in the record store (SQLite).

Call control records the caller into a file it gets from `new_file()` and then `deposit()`s it; people list,
play, download and mark messages handled (with a note, seed: 备注) through the API.
"""

from __future__ import annotations

import uuid
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.clock import Clock
from appliance.errors import Conflict, NotFound
from appliance.events import EventBus
from appliance.records.models import Page
from appliance.records.sqlite_store import RecordStore
from appliance.voicemail.events import VoicemailHandled, VoicemailReceived
from appliance.voicemail.models import VoicemailMessage

_SCHEMA = """
CREATE TABLE IF NOT EXISTS voicemail (
    id TEXT PRIMARY KEY, box TEXT NOT NULL, caller TEXT NOT NULL, caller_name TEXT NOT NULL DEFAULT '',
    call_id TEXT NOT NULL, received_at REAL NOT NULL, duration_s REAL NOT NULL, file TEXT NOT NULL,
    handled INTEGER NOT NULL DEFAULT 0, note TEXT NOT NULL DEFAULT '', handled_by TEXT NOT NULL DEFAULT '',
    handled_at REAL
);
CREATE INDEX IF NOT EXISTS voicemail_box ON voicemail(box, received_at);
"""
_COLUMNS = ("id", "box", "caller", "caller_name", "call_id", "received_at", "duration_s", "file", "handled",
            "note", "handled_by", "handled_at")


def wav_duration(path: Path) -> float:
    with wave.open(str(path), "rb") as w:
        return w.getnframes() / float(w.getframerate())


@dataclass
class VoicemailService:
    data_dir: Path
    records: RecordStore
    bus: EventBus
    clock: Clock
    name: str = "voicemail"

    def __post_init__(self) -> None:
        self.records.conn.executescript(_SCHEMA)

    @property
    def root(self) -> Path:
        return self.data_dir / "voicemail"

    def new_file(self, box: str) -> tuple[str, Path]:
        """An id and the path to record a new message into."""
        message_id = uuid.uuid4().hex
        directory = self.root / box
        directory.mkdir(parents=True, exist_ok=True)
        return message_id, directory / f"{message_id}.wav"

    def deposit(self, message_id: str, box: str, caller: str, call_id: str, path: Path,
                caller_name: str = "") -> VoicemailMessage:
        message = VoicemailMessage(
            id=message_id, box=box, caller=caller, caller_name=caller_name, call_id=call_id,
            received_at=self.clock.wall(), duration_s=round(wav_duration(path), 2),
            file=str(path.relative_to(self.data_dir)),
        )
        self.records.conn.execute(
            f"INSERT INTO voicemail({','.join(_COLUMNS)}) VALUES ({','.join('?' for _ in _COLUMNS)})",
            (message.id, message.box, message.caller, message.caller_name, message.call_id, message.received_at,
             message.duration_s, message.file, 0, "", "", None),
        )
        self.bus.publish(VoicemailReceived(at=message.received_at, message_id=message.id, box=box, caller=caller,
                                           duration_s=message.duration_s))
        return message

    def list(self, *, box: str | None = None, handled: bool | None = None, offset: int = 0,
             limit: int = 50) -> Page:
        clauses: list[str] = []
        args: list[str] = []
        if box is not None:
            clauses.append("box = ?")
            args.append(box)
        if handled is not None:
            clauses.append("handled = ?")
            args.append("1" if handled else "0")
        clause = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        conn = self.records.conn
        total = conn.execute(f"SELECT count(*) FROM voicemail {clause}", args).fetchone()[0]
        rows = conn.execute(
            f"SELECT {','.join(_COLUMNS)} FROM voicemail {clause} ORDER BY received_at DESC LIMIT ? OFFSET ?",
            [*args, limit, offset],
        ).fetchall()
        return Page(items=tuple(self._message(r) for r in rows), total=int(total), offset=offset, limit=limit)

    def get(self, message_id: str) -> VoicemailMessage:
        row = self.records.conn.execute(
            f"SELECT {','.join(_COLUMNS)} FROM voicemail WHERE id = ?", (message_id,)
        ).fetchone()
        if row is None:
            raise NotFound("voicemail message", message_id)
        return self._message(row)

    def audio_path(self, message_id: str) -> Path:
        path = self.data_dir / self.get(message_id).file
        if not path.exists():
            raise NotFound("voicemail audio", message_id)
        return path

    def set_note(self, message_id: str, note: str) -> VoicemailMessage:
        """Write or change the message's note (备注), handled or not: what the listener wants kept for later."""
        self.get(message_id)
        self.records.conn.execute("UPDATE voicemail SET note = ? WHERE id = ?", (note[:1000], message_id))
        return self.get(message_id)

    def mark_handled(self, message_id: str, note: str, by: str) -> VoicemailMessage:
        message = self.get(message_id)
        if message.handled:
            raise Conflict(f"message {message_id} is already handled", f"留言 {message_id} 已处理")
        now = self.clock.wall()
        self.records.conn.execute(
            "UPDATE voicemail SET handled = 1, note = ?, handled_by = ?, handled_at = ? WHERE id = ?",
            (note[:1000], by, now, message_id),
        )
        self.bus.publish(VoicemailHandled(at=now, message_id=message_id, box=message.box, by=by))
        return self.get(message_id)

    @staticmethod
    def _message(row: tuple[Any, ...]) -> VoicemailMessage:
        d: dict[str, Any] = dict(zip(_COLUMNS, row, strict=True))
        return VoicemailMessage(
            id=str(d["id"]), box=str(d["box"]), caller=str(d["caller"]), caller_name=str(d["caller_name"]),
            call_id=str(d["call_id"]), received_at=float(d["received_at"]),
            duration_s=float(d["duration_s"]), file=str(d["file"]), handled=bool(d["handled"]),
            note=str(d["note"]), handled_by=str(d["handled_by"]),
            handled_at=float(d["handled_at"]) if d["handled_at"] is not None else None,
        )
