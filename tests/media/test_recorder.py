from __future__ import annotations

import errno
import io
import subprocess
import sys
import wave
from pathlib import Path
from typing import BinaryIO

import numpy as np

from appliance.media.recorder import HEADER_SIZE, Recorder, repair

FRAME_BYTES = 160 * 4  # stereo 16-bit


def stereo_frame(i: int) -> bytes:
    left = np.full(160, i, dtype="<i2")
    right = np.full(160, -i, dtype="<i2")
    return np.stack([left, right], axis=1).tobytes()


def test_recording_is_a_valid_stereo_wav(tmp_path: Path) -> None:
    rec = Recorder(tmp_path / "a.wav")
    rec.open(0.0)
    for i in range(100):
        rec.write(stereo_frame(i), i * 0.02)
    rec.close(2.0)
    with wave.open(str(tmp_path / "a.wav")) as w:
        assert (w.getnchannels(), w.getframerate(), w.getsampwidth(), w.getnframes()) == (2, 8000, 2, 16000)
        data = np.frombuffer(w.readframes(16000), dtype="<i2").reshape(-1, 2)
    assert data[160 * 7, 0] == 7 and data[160 * 7, 1] == -7


def test_a_crash_loses_at_most_a_second(tmp_path: Path) -> None:
    path = tmp_path / "crash.wav"
    rec = Recorder(path, flush_interval=1.0)
    rec.open(0.0)
    for i in range(250):  # 5 s
        rec.write(stereo_frame(i), i * 0.02)
    # the process dies here: no close(); what is on disk is a valid WAV already
    with wave.open(str(path)) as w:
        on_disk = w.getnframes() / 8000
    assert 4.0 <= on_disk <= 5.0


def test_repair_fixes_a_header_cut_off_before_its_update(tmp_path: Path) -> None:
    path = tmp_path / "cut.wav"
    rec = Recorder(path)
    rec.open(0.0)
    rec.close(0.0)
    with open(path, "ab") as f:  # audio that reached the disk after the last header update
        f.write(stereo_frame(3) * 50 + b"\x01")  # and half a sample frame
    assert repair(path) == 50 * FRAME_BYTES
    with wave.open(str(path)) as w:
        assert w.getnframes() == 50 * 160


def test_repair_command(tmp_path: Path) -> None:
    path = tmp_path / "cmd.wav"
    path.write_bytes(b"\x00" * HEADER_SIZE + stereo_frame(1) * 10)  # header lost entirely
    out = subprocess.run([sys.executable, "-m", "appliance.media.recorder", "repair", str(path)],
                         capture_output=True, text=True, check=True)
    assert "6400 bytes" in out.stdout
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getnframes()) == (2, 1600)


class FillingDisk(io.FileIO):
    """A file on a disk with `room` bytes left."""

    def __init__(self, path: Path, room: int) -> None:
        super().__init__(path, "w+")
        self.room = room

    def write(self, data: bytes) -> int:  # type: ignore[override]
        if self.tell() + len(data) > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        return super().write(data)


def test_full_disk_stops_recording_cleanly(tmp_path: Path) -> None:
    path = tmp_path / "full.wav"

    def opener(p: Path) -> BinaryIO:
        return FillingDisk(p, room=HEADER_SIZE + 3 * 50 * FRAME_BYTES)  # type: ignore[return-value]

    rec = Recorder(path, flush_interval=1.0, open_file=opener)
    rec.open(0.0)
    for i in range(300):
        rec.write(stereo_frame(i), i * 0.02)  # must not raise
    assert rec.failure == "No space left on device"
    assert not rec.active
    rec.close(7.0)  # closing after a failure is harmless
    with wave.open(str(path)) as w:
        assert w.getnframes() > 0 and w.getnchannels() == 2
