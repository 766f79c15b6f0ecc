"""Reading the box with psutil (blocking calls: run them on a worker thread) and chrony's view of NTP."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import psutil

from appliance.monitoring.models import DiskSample, SystemSample

# pseudo and container file systems say nothing about the box's disks
_SKIP_FS = frozenset({"tmpfs", "devtmpfs", "overlay", "squashfs", "proc", "sysfs", "cgroup", "cgroup2", "nsfs",
                      "autofs", "devpts", "mqueue", "debugfs", "tracefs", "securityfs", "pstore", "bpf",
                      "fusectl", "configfs", "hugetlbfs", "binfmt_misc", "ramfs", "efivarfs"})


def data_mount(data_dir: Path) -> str:
    """The mount point holding `data_dir` (the longest mount point that is a prefix of its real path)."""
    real = os.path.realpath(data_dir)
    best = "/"
    for part in psutil.disk_partitions(all=True):
        mp = part.mountpoint
        if (real == mp or real.startswith(mp.rstrip("/") + "/")) and len(mp) > len(best):
            best = mp
    return best


def disks(data_dir: Path) -> tuple[DiskSample, ...]:
    data = data_mount(data_dir)
    mounts = [data, *sorted({p.mountpoint for p in psutil.disk_partitions(all=False)
                              if p.fstype not in _SKIP_FS and p.mountpoint != data})]
    out = []
    for mp in mounts:
        try:
            use = psutil.disk_usage(mp)
        except OSError:
            continue  # unmounted meanwhile, or not readable
        out.append(DiskSample(mp, use.total // 2**20, use.used // 2**20, float(use.percent), mp == data))
    return tuple(out)


def temperatures() -> dict[str, float]:
    read = getattr(psutil, "sensors_temperatures", None)
    if read is None:
        return {}
    try:
        found = read()
    except OSError:
        return {}
    out: dict[str, float] = {}
    for chip, entries in found.items():
        for i, entry in enumerate(entries):
            out[f"{chip}/{entry.label or i}"] = float(entry.current)
    return out


def sample(data_dir: Path, now: float, ntp_synced: bool | None) -> SystemSample:
    """One reading of the box (blocking: psutil reads /proc and statfs)."""
    try:
        load1 = os.getloadavg()[0]
    except OSError:
        load1 = 0.0
    try:
        open_files = psutil.Process().num_fds()
    except (psutil.Error, AttributeError):
        open_files = 0
    return SystemSample(at=now, cpu_percent=float(psutil.cpu_percent(interval=None)), load1=load1,
                        memory_percent=float(psutil.virtual_memory().percent),
                        swap_percent=float(psutil.swap_memory().percent), disks=disks(data_dir),
                        temperatures=temperatures(), open_files=open_files, ntp_synced=ntp_synced)


async def chrony_synced(timeout: float = 2.0) -> bool | None:
    """Whether chrony says the clock is synchronized; None without chrony (or when it does not answer)."""
    chronyc = shutil.which("chronyc")
    if chronyc is None:
        return None
    try:
        proc = await asyncio.create_subprocess_exec(chronyc, "-n", "tracking", stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.DEVNULL)
    except OSError:
        return None
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return None
    if proc.returncode != 0:
        return None
    for line in out.decode(errors="replace").splitlines():
        if line.startswith("Leap status"):
            return "Not synchronised" not in line
    return None
