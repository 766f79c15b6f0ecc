"""Backup benchmark: recordings to an SFTP target (a real sshd on loopback) while 200 calls are relayed.

A data directory holds `--size-gb` of recordings: sparse files for the bulk of the size (restic reads them whole,
so chunking and hashing cost what real files would; their zero blocks deduplicate, so the upload is small) and
a sample of real audio (`--sample-files` WAVs of pink noise and speech from sox, which neither deduplicate nor
compress). The appliance's backup service (restic at `nice 19` and idle I/O class) backs it up in full, then
again after 1 % new recordings (the incremental run, three times over: the median is reported), then restores
the recordings into a fresh directory.
Meanwhile the media engine from `bench/media_relay.py` relays `--calls` two-party G.711 calls in a process of
its own, and the loss of its packets during the backup is reported.

    .venv/bin/python bench/backup.py [--size-gb 10] [--sample-files 100] [--calls 200]

The last line printed is one JSON object: files, bytes, full_s, incremental_s, restore_s, call_loss_pct (and
incremental_ratio, baseline_loss_pct, upload figures).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from appliance.backups.models import Part
from appliance.backups.service import BackupService
from appliance.backups.ssh import CONTROL_PERSIST_S
from appliance.clock import SystemClock
from appliance.events import EventBus
from bench.media_relay import build_generator, raise_fd_limit, run_step, start_engine, stop_engine
from tests.backups.conftest import Sshd
from tests.conftest import free_port

FILE_MB = 10  # a 10-minute G.711 recording is about 4.8 MB; 10 MB keeps the file count realistic for 10 GB


class Settings:
    def __init__(self, target: dict[str, Any]) -> None:
        self.settings: dict[str, Any] = {"backups": {"targets": [target]}}

    async def set_settings(self, **values: Any) -> None:
        self.settings.update(values)


def make_recordings(root: Path, day: str, total_mb: int, sample_files: int, seed: int) -> tuple[int, int]:
    """Sparse recordings for size, plus `sample_files` of real audio; returns (files, bytes)."""
    folder = root / "recordings" / day
    folder.mkdir(parents=True, exist_ok=True)
    files = size = 0
    sample_bytes = 0
    for i in range(sample_files):
        path = folder / f"sample-{seed}-{i:04d}.wav"
        # 60 s of 8 kHz 16-bit pink noise with a different seed per file: real, incompressible audio
        subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(path), "synth", "60", "pinknoise",
                        "vol", "0.3"], check=True, capture_output=True)
        with open(path, "r+b") as f:  # sox's noise is seeded per run; stamp each file so none deduplicate
            f.seek(64)
            f.write(os.urandom(1024))
        files += 1
        sample_bytes += path.stat().st_size
    size += sample_bytes
    remaining = max(0, total_mb * (1 << 20) - sample_bytes)
    n = max(1, remaining // (FILE_MB << 20)) if remaining else 0
    for i in range(n):
        path = folder / f"call-{seed}-{i:05d}.wav"
        with open(path, "wb") as f:
            f.write(os.urandom(4096))  # a header-like start that differs per file
            f.truncate(FILE_MB << 20)
        files += 1
        size += FILE_MB << 20
    return files, size


class Relay:
    """200 calls relayed in 5-second windows on a thread until stopped; packets sent and received summed."""

    def __init__(self, calls: int, workdir: Path) -> None:
        raise_fd_limit()
        self.calls = calls
        self.generator = build_generator(workdir)
        self.proc, self.conn = start_engine("relay")
        self.sent = self.received = 0
        self.windows: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._step = 0

    def window(self, seconds: float = 5.0) -> tuple[int, int]:
        self._step += 1
        r = run_step(self.conn, self.proc.pid or 0, self.generator, self.calls, seconds, self._step)
        return r.sent, r.received

    def start(self) -> None:
        self.sent = self.received = 0
        self.windows.clear()
        self._stop.clear()

        def loop() -> None:
            while not self._stop.is_set():
                sent, received = self.window()
                self.sent += sent
                self.received += received
                self.windows.append(100.0 * max(0, sent - received) / max(1, sent))

        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()

    def stop(self) -> float:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        return 100.0 * max(0, self.sent - self.received) / max(1, self.sent)

    def close(self) -> None:
        stop_engine(self.proc, self.conn)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="backup-bench-", dir=args.dir))
    sshd = None
    relay = None
    try:
        data = work / "data"
        data.mkdir()
        total_mb = int(args.size_gb * 1024)
        files, size = make_recordings(data, "20261201", total_mb, args.sample_files, seed=1)
        print(f"data: {files} files, {size / 2**30:.2f} GiB ({args.sample_files} of real audio)", flush=True)

        root = work / "sshd"
        root.mkdir()
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(root / "host_ed25519")], check=True)
        # The SFTP server stands for a remote machine; here it shares the two cores with the relay. With
        # --server-priority idle it gets them only when the relay does not want them, as a remote one would.
        prefix = ("chrt", "--idle", "0", "ionice", "-c", "3") if args.server_priority == "idle" else ()
        sshd = Sshd(root, free_port(), root / "authorized_keys", root / "host_ed25519", prefix=prefix)
        sshd.authorized_keys.write_text("")
        sshd.start()
        target = {"name": "remote", "kind": "sftp", "host": "127.0.0.1", "port": sshd.port, "user": "root",
                  "path": str(root / "repo"), "host_key": sshd.host_key_line()}
        service = BackupService(data, Settings(target), EventBus(), SystemClock(), host="bench", stall_s=300)
        await service.start()
        sshd.authorized_keys.write_text(await service.public_key() + "\n")

        relay = Relay(args.calls, work)
        sent, received = await asyncio.to_thread(relay.window, 5.0)
        baseline = 100.0 * max(0, sent - received) / max(1, sent)
        print(f"relay alone: {args.calls} calls, loss {baseline:.4f} %", flush=True)

        relay.start()
        t0 = time.perf_counter()
        full = await service.run_backup("remote", [Part.AUDIO])
        full_s = time.perf_counter() - t0
        loss = await asyncio.to_thread(relay.stop)
        full_windows = list(relay.windows)
        print(f"full: {full_s:.1f} s, {full.files_new} files new, {full.bytes_added / 2**20:.1f} MiB added; "
              f"relay loss during it {loss:.4f} % over {len(relay.windows)} windows", flush=True)
        # the control: as many windows again with no backup running, on a machine that others share
        relay.start()
        await asyncio.sleep(5.5 * len(full_windows))
        control = await asyncio.to_thread(relay.stop)
        print(f"control, relay alone for as long: loss {control:.4f} % over {len(relay.windows)} windows",
              flush=True)

        # Three incremental runs, each after another 1 % of new recordings (the hours after the full run); the
        # median is reported, as one run's two restic start-ups vary by a few tenths of a second here.
        runs: list[float] = []
        losses: list[float] = []
        new_files = new_bytes = 0
        for day in range(2, 2 + args.incremental_runs):
            # an hour apart in life: no run may find the previous run's SSH connection still open
            await asyncio.sleep(CONTROL_PERSIST_S + 2)
            files_now, bytes_now = make_recordings(data, f"202612{day:02d}", max(1, total_mb // 100),
                                                   max(1, args.sample_files // 100), seed=day)
            new_files += files_now
            new_bytes += bytes_now
            relay.start()
            t0 = time.perf_counter()
            incremental = await service.run_backup("remote", [Part.AUDIO])
            runs.append(time.perf_counter() - t0)
            losses.append(await asyncio.to_thread(relay.stop))
            print(f"incremental (+{files_now} files, {bytes_now / 2**20:.0f} MiB): {runs[-1]:.2f} s, "
                  f"{incremental.files_new} files new; relay loss {losses[-1]:.4f} %", flush=True)
        incremental_s = statistics.median(runs)
        loss_inc = max(losses)

        dest = work / "restored"
        t0 = time.perf_counter()
        await service.restore("remote", dest, [Part.AUDIO])
        restore_s = time.perf_counter() - t0
        sample = sorted((data / "recordings" / "20261201").glob("sample-*.wav"))[:5]
        identical = all((dest / "recordings" / "20261201" / p.name).read_bytes() == p.read_bytes() for p in sample)
        print(f"restore: {restore_s:.1f} s (sample byte-identical: {identical})", flush=True)
        await service.stop()
        return {
            "files": files + new_files, "bytes": size + new_bytes, "full_s": round(full_s, 2),
            "incremental_s": round(incremental_s, 2), "restore_s": round(restore_s, 2),
            "call_loss_pct": round(max(loss, loss_inc), 4), "baseline_loss_pct": round(baseline, 4),
            "control_loss_pct": round(control, 4), "load_average": os.getloadavg()[0],
            "incremental_ratio": round(incremental_s / full_s, 3), "calls": args.calls,
            "incremental_runs_s": [round(r, 2) for r in runs],
            "uploaded_full_bytes": full.bytes_added, "uploaded_incremental_bytes": incremental.bytes_added,
            "restore_identical": identical, "server_priority": args.server_priority,
            "loss_windows_pct": [round(w, 3) for w in full_windows],
        }
    finally:
        if relay is not None:
            relay.close()
        if sshd is not None:
            sshd.kill()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-gb", type=float, default=10.0)
    parser.add_argument("--sample-files", type=int, default=100)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--incremental-runs", type=int, default=3, help="incremental runs (the median is reported)")
    parser.add_argument("--server-priority", choices=("idle", "normal"), default="idle",
                        help="the loopback SFTP server's CPU and I/O class (it stands for a remote machine)")
    parser.add_argument("--verbose", action="store_true", help="print each restic command's duration")
    parser.add_argument("--dir", default=None, help="where the data, repository and restore go (a temp dir)")
    args = parser.parse_args()
    if args.verbose:  # each restic command and how long it took
        logging.basicConfig(level=logging.WARNING, format="  %(message)s")
        logging.getLogger("appliance.backups.restic").setLevel(logging.DEBUG)
    print(json.dumps(asyncio.run(run(args))))


if __name__ == "__main__":
    main()
