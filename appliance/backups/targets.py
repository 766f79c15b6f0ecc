"""From a configured target to a restic repository, after checking the target is there: a local directory, a
removable disk found by its filesystem label (and mounted), or an SFTP server through the written ssh_config."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from appliance.backups.errors import TargetUnavailable
from appliance.backups.models import Target, TargetKind
from appliance.backups.restic import Repository
from appliance.backups.ssh import SshFiles


def _unescape(field: str) -> str:
    # /proc/self/mounts escapes space, tab, newline and backslash as octal
    return (field.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n")
            .replace("\\134", "\\"))


@dataclass(frozen=True, slots=True)
class Disks:
    """Where labels and mounts are read from (the system's own by default)."""

    by_label: Path = Path("/dev/disk/by-label")
    mounts: Path = Path("/proc/self/mounts")

    def device_of(self, label: str) -> Path | None:
        link = self.by_label / label
        return Path(os.path.realpath(link)) if os.path.lexists(link) else None

    def mount_point_of(self, device: Path) -> Path | None:
        try:
            lines = self.mounts.read_text(encoding="utf-8").splitlines()
        except OSError:
            return None
        for line in lines:
            fields = line.split()
            if len(fields) >= 2 and os.path.realpath(_unescape(fields[0])) == str(device):
                return Path(_unescape(fields[1]))
        return None


def connected(disks: Disks) -> list[tuple[str, str]]:
    """The labelled disks connected now and where each is mounted ("" when not), for the target form.
    Blocking (reads /dev and /proc): a worker thread."""
    try:
        labels = sorted(p.name for p in disks.by_label.iterdir())
    except OSError:
        return []
    out: list[tuple[str, str]] = []
    for label in labels:  # udev's link names (a label with spaces shows "\\x20": not one a target can name)
        device = disks.device_of(label)
        mount = disks.mount_point_of(device) if device is not None else None
        out.append((label, str(mount) if mount is not None and os.path.ismount(mount) else ""))
    return out


def removable_root(target: Target, disks: Disks) -> Path:
    """The directory on the removable disk, or a clear error: never write into an empty mount point."""
    device = disks.device_of(target.label)
    if device is None:
        raise TargetUnavailable(target.name, f"no disk labelled {target.label!r} is connected",
                                f"未连接卷标为 {target.label!r} 的磁盘")
    mount = disks.mount_point_of(device)
    if mount is None or not os.path.ismount(mount):
        raise TargetUnavailable(target.name, f"the disk labelled {target.label!r} ({device}) is not mounted",
                                f"卷标为 {target.label!r} 的磁盘({device})未挂载")
    return mount / target.path if target.path else mount


def repository_of(target: Target, ssh: SshFiles, disks: Disks) -> Repository:
    """Blocking (reads /proc and the disk): call it on a worker thread."""
    if target.kind is TargetKind.LOCAL:
        parent = Path(target.path).parent
        if not parent.is_dir():
            raise TargetUnavailable(target.name, f"the directory {parent} does not exist",
                                    f"目录 {parent} 不存在")
        return Repository(target.name, target.path, limit_upload_kib=target.upload_kib_s)
    if target.kind is TargetKind.REMOVABLE:
        return Repository(target.name, str(removable_root(target, disks)), limit_upload_kib=target.upload_kib_s)
    if not target.host_key:
        raise TargetUnavailable(target.name, "its SSH host key has not been confirmed yet",
                                "尚未确认其 SSH 主机密钥")
    # With sftp.command set restic ignores the host part; the alias keeps messages readable.
    return Repository(target.name, f"sftp:{target.name}:{target.path}",
                      (f"sftp.command={ssh.sftp_command(target)}",), target.upload_kib_s)
