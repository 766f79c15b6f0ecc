"""Call recorder: stereo WAV (RIFF/WAVE, 16-bit PCM, 8 kHz; caller left, agent right), written incrementally.

Audio is buffered in memory and flushed at least every `flush_interval` seconds; every flush also rewrites the
two size fields of the header, so after a crash the file is a playable WAV that lacks at most the last second.
`repair()` (and `python -m appliance.media.recorder repair FILE...`) recomputes the header from the file's
length for files cut off between a data write and its header update; at start-up the box runs
`repair_recent()` over the newest day folders, where the recordings of calls a crash cut off are.

A full disk (ENOSPC, EDQUOT) or any other write error stops this recording cleanly — what was written stays a
valid file — and is reported through `failure`; it never raises into the call path, so the call stays up.
Optional MP3: `mp3_command()` gives the `lame` command line when lame is on PATH.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import struct
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

RATE = 8000
CHANNELS = 2
WIDTH = 2
HEADER_SIZE = 44


def wav_header(data_bytes: int, channels: int = CHANNELS, rate: int = RATE) -> bytes:
    block = channels * WIDTH
    return (b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE"
            + b"fmt " + struct.pack("<IHHIIHH", 16, 1, channels, rate, rate * block, block, 8 * WIDTH)
            + b"data" + struct.pack("<I", data_bytes))


def _default_open(path: Path) -> BinaryIO:
    return open(path, "w+b")


@dataclass
class Recorder:
    path: Path
    flush_interval: float = 1.0
    open_file: Callable[[Path], BinaryIO] = _default_open
    failure: str | None = None
    data_bytes: int = 0
    _file: BinaryIO | None = None
    _pending: list[bytes] = field(default_factory=list)
    _last_flush: float = 0.0

    def open(self, now: float) -> None:
        self._file = self.open_file(self.path)
        self._file.write(wav_header(0))
        self._file.flush()
        self._last_flush = now

    @property
    def active(self) -> bool:
        return self._file is not None

    def write(self, stereo_frame: bytes, now: float) -> None:
        """Interleaved little-endian stereo samples; flushed to disk when the interval is up."""
        self.append(stereo_frame)
        if self._file is not None and now - self._last_flush >= self.flush_interval:
            self.flush(now)

    def append(self, stereo_frame: bytes) -> None:
        """Like `write`, for a caller that schedules `flush` itself (the engine flushes each recording on its
        own tick of every second, so a thousand recordings cost one list append each per tick)."""
        if self._file is not None:
            self._pending.append(stereo_frame)

    def flush(self, now: float) -> None:
        if self._file is None:
            return
        self._last_flush = now
        if not self._pending:
            return
        data = b"".join(self._pending)
        self._pending.clear()
        try:
            self._file.write(data)
            self._file.flush()
            self.data_bytes += len(data)
            self._update_header()
        except OSError as exc:
            self.failure = f"{exc.strerror or exc}"
            self._abandon()

    def _update_header(self) -> None:
        assert self._file is not None
        end = self._file.tell()
        self._file.seek(4)
        self._file.write(struct.pack("<I", 36 + self.data_bytes))
        self._file.seek(40)
        self._file.write(struct.pack("<I", self.data_bytes))
        self._file.seek(end)
        self._file.flush()

    def _abandon(self) -> None:
        """After a write error: close without writing more; repair the header from what reached the disk."""
        f, self._file = self._file, None
        if f is not None:
            with contextlib.suppress(OSError):
                f.close()
        with contextlib.suppress(OSError):
            repair(self.path)

    def close(self, now: float) -> None:
        self.flush(now)
        f, self._file = self._file, None
        if f is not None:
            try:
                f.close()
            except OSError as exc:
                self.failure = self.failure or f"{exc.strerror or exc}"


def repair(path: Path) -> int:
    """Make the header of a cut-off recording agree with the file's length; returns the data bytes."""
    with open(path, "r+b") as f:
        f.seek(0, 2)
        size = f.tell()
        f.seek(0)
        head = f.read(HEADER_SIZE)
        data = max(0, size - HEADER_SIZE)
        data -= data % (CHANNELS * WIDTH)
        if len(head) < HEADER_SIZE or head[:4] != b"RIFF" or head[8:16] != b"WAVEfmt ":
            channels, rate = CHANNELS, RATE
        else:
            channels, rate = struct.unpack_from("<HI", head, 22)
        f.seek(0)
        # Past the last whole sample is a write the crash cut short: cut it off, so the header and the
        # length agree (and a second start-up finds nothing to repair).
        f.truncate(HEADER_SIZE + data)
        f.write(wav_header(data, channels, rate))
    return data


def header_agrees(path: Path) -> bool:
    """Whether a recording's header states the file's real length (it was closed, or its last flush ended)."""
    try:
        with open(path, "rb") as f:
            head = f.read(HEADER_SIZE)
            size = os.fstat(f.fileno()).st_size
    except OSError:
        return False
    if len(head) < HEADER_SIZE or head[:4] != b"RIFF" or head[8:16] != b"WAVEfmt " or head[36:40] != b"data":
        return False
    riff, data = struct.unpack_from("<I", head, 4)[0], struct.unpack_from("<I", head, 40)[0]
    return bool(riff == size - 8 and data == size - HEADER_SIZE)


def repair_recent(recordings_dir: Path, extra: Iterable[Path] = (), folders: int = 2) -> list[Path]:
    """Repair the recordings a crash may have cut off: those in the newest `folders` day folders (a call
    in progress records into the folder of the day it was bridged) and `extra`; returns those repaired.
    Only headers are read, so a start-up after a crash costs one small read per recent recording."""
    days = sorted(d for d in recordings_dir.glob("[0-9]" * 8) if d.is_dir())[-folders:] if folders else []
    candidates = {p for day in days for p in day.glob("*.wav")} | {Path(p) for p in extra}
    repaired = []
    for path in sorted(candidates):
        if path.is_file() and not header_agrees(path):
            repair(path)
            repaired.append(path)
    return repaired


def mp3_command(wav: Path, mp3: Path) -> list[str] | None:
    lame = shutil.which("lame")
    if lame is None:
        return None
    return [lame, "--quiet", "-m", "s", "-b", "32", str(wav), str(mp3)]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 2 or args[0] != "repair":
        print("usage: python -m appliance.media.recorder repair FILE...", file=sys.stderr)
        return 2
    for name in args[1:]:
        data = repair(Path(name))
        print(f"{name}: {data} bytes of audio ({data / (RATE * CHANNELS * WIDTH):.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
