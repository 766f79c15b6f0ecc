"""The SSH side of SFTP targets: the appliance's own key, an ssh_config it writes, and host keys pinned in its
own known_hosts (never the system's), so restic's `sftp.command` connects exactly as configured.

Every SFTP target gets a `Host backup-<name>` block with `HostKeyAlias`, so its pin is one known_hosts line
whatever host and port it points at, and `StrictHostKeyChecking yes` refuses a changed key. Keepalives and a
connect time-out make a hung server fail the run in about 20 s instead of blocking it.

One connection serves a run: each target's block makes the first ssh of a run the master (`ControlMaster auto`)
and the run's later restic commands reuse it, so a run pays one key exchange and one login rather than one per
command. The sockets live in a short private directory the service makes at start (a Unix socket path is
limited to 108 bytes) and the master ends a few seconds after its last session, or when the service stops.

Password authentication: the password sits in a 0600 file beside the config and ssh reads it through a
one-line askpass program (`SSH_ASKPASS` with `SSH_ASKPASS_REQUIRE=force`, OpenSSH 8.4+), so it never appears
on a command line, in the environment or in the configuration store.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.backups.errors import BackupError, ConnectionLost, HostKeyChanged, TargetUnavailable
from appliance.backups.models import SshAuth, Target, TargetKind

KEEPALIVE_S = 5
KEEPALIVE_COUNT = 3
CONNECT_TIMEOUT_S = 10
CONTROL_PERSIST_S = 10  # bridges the commands of one run, not the hour between two runs


def alias_of(target: Target) -> str:
    return f"backup-{target.name}"


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


@dataclass(frozen=True, slots=True)
class HostKey:
    key: str  # "ssh-ed25519 AAAA..."
    fingerprint: str  # "SHA256:..." as ssh-keygen -l prints it


@dataclass(frozen=True, slots=True)
class SshFiles:
    """Files under the backup state directory; written on a worker thread (they are small, but they fsync)."""

    root: Path
    control_dir: Path | None = None  # where connection masters listen; None: one connection per command

    @property
    def config(self) -> Path:
        return self.root / "ssh_config"

    @property
    def known_hosts(self) -> Path:
        return self.root / "known_hosts"

    @property
    def key(self) -> Path:
        return self.root / "id_ed25519"

    def password_file(self, name: str) -> Path:
        return self.root / f"password.{name}"

    def askpass(self, name: str) -> Path:
        return self.root / f"askpass.{name}"

    def env(self, target: Target) -> dict[str, str]:
        """What ssh needs in its environment for this target (the askpass program for a password)."""
        if target.auth is not SshAuth.PASSWORD:
            return {}
        return {"SSH_ASKPASS": str(self.askpass(target.name)), "SSH_ASKPASS_REQUIRE": "force"}

    def sftp_command(self, target: Target) -> str:
        env = " ".join(f"{k}={v}" for k, v in self.env(target).items())
        return f"{'env ' + env + ' ' if env else ''}ssh -F {self.config} {alias_of(target)} -s sftp"

    def has_password(self, name: str) -> bool:
        return self.password_file(name).is_file()

    def write_password(self, name: str, password: str) -> None:
        """Keep an SFTP target's password (0600) and its askpass program (0700, only `cat` of that file)."""
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        _write_private(self.password_file(name), password)
        script = self.askpass(name)
        _write_private(script, f"#!/bin/sh\nexec cat '{self.password_file(name)}'\n")
        os.chmod(script, 0o700)

    def forget_password(self, name: str) -> None:
        for path in (self.password_file(name), self.askpass(name)):
            path.unlink(missing_ok=True)

    def write(self, targets: tuple[Target, ...]) -> None:
        """The ssh_config and known_hosts for every SFTP target (replaces both)."""
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        blocks: list[str] = []
        pins: list[str] = []
        for t in targets:
            if t.kind is not TargetKind.SFTP:
                continue
            alias = alias_of(t)
            if t.auth is SshAuth.PASSWORD:  # askpass answers the one prompt; BatchMode would forbid asking
                auth = ["  PubkeyAuthentication no", "  PasswordAuthentication yes",
                        "  KbdInteractiveAuthentication no", "  PreferredAuthentications password",
                        "  NumberOfPasswordPrompts 1", "  BatchMode no"]
            else:
                auth = [f"  IdentityFile {t.identity_file or self.key}", "  IdentitiesOnly yes",
                        "  BatchMode yes", "  PasswordAuthentication no"]
            blocks.append("\n".join([
                f"Host {alias}",
                f"  HostName {t.host}",
                f"  Port {t.port}",
                f"  User {t.user}",
                *auth,
                f"  HostKeyAlias {alias}",
                f"  UserKnownHostsFile {self.known_hosts}",
                "  GlobalKnownHostsFile /dev/null",
                "  StrictHostKeyChecking yes",
                "  UpdateHostKeys no",
                f"  ServerAliveInterval {KEEPALIVE_S}",
                f"  ServerAliveCountMax {KEEPALIVE_COUNT}",
                f"  ConnectTimeout {CONNECT_TIMEOUT_S}",
                *([] if self.control_dir is None else [
                    "  ControlMaster auto", f"  ControlPath {self.control_dir}/%C",
                    f"  ControlPersist {CONTROL_PERSIST_S}"]),
                "  LogLevel ERROR",
            ]))
            if t.host_key:
                pins.append(f"{alias} {t.host_key}")
        # No catch-all block: a Host restic did not get from us matches nothing and fails.
        _write_private(self.config, "\n\n".join(blocks) + "\n")
        _write_private(self.known_hosts, "\n".join(pins) + ("\n" if pins else ""))

    async def close_masters(self, targets: tuple[Target, ...]) -> None:
        """End the connection masters still lingering (at stop: nothing of ours outlives the service)."""
        if self.control_dir is None or not any(self.control_dir.iterdir()):
            return
        for t in targets:
            if t.kind is not TargetKind.SFTP:
                continue
            proc = await asyncio.create_subprocess_exec(
                "ssh", "-F", str(self.config), "-O", "exit", alias_of(t), stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except TimeoutError:
                proc.kill()
                await proc.wait()

    async def ensure_key(self) -> str:
        """The appliance's own ed25519 key (made once); returns the public line for authorized_keys."""
        pub = self.key.with_name(self.key.name + ".pub")
        if not self.key.exists():
            self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
            proc = await asyncio.create_subprocess_exec(
                "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "appliance-backup", "-f", str(self.key),
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE)
            _, err = await proc.communicate()
            if proc.returncode != 0:
                raise BackupError(f"ssh-keygen failed: {err.decode(errors='replace').strip()}",
                                  f"ssh-keygen 失败: {err.decode(errors='replace').strip()}", "backup_ssh_key")
        return (await asyncio.to_thread(pub.read_text, encoding="utf-8")).strip()


async def scan_host_keys(target: Target, timeout_s: float = 10.0) -> list[HostKey]:
    """What the server presents now, with fingerprints, for the admin to compare and confirm (pin on first use)."""
    if shutil.which("ssh-keyscan") is None:
        raise BackupError("ssh-keyscan is not installed", "未安装 ssh-keyscan", "backup_ssh_missing")
    proc = await asyncio.create_subprocess_exec(
        "ssh-keyscan", "-T", str(int(timeout_s)), "-p", str(target.port), "-t", "ed25519,ecdsa,rsa", target.host,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout_s + 5)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise ConnectionLost(target.name, f"{target.host}:{target.port} did not answer") from None
    keys: list[HostKey] = []
    for line in out.decode(errors="replace").splitlines():
        fields = line.split()
        if len(fields) < 3 or line.startswith("#"):
            continue
        key = f"{fields[1]} {fields[2]}"
        keys.append(HostKey(key, await fingerprint(key)))
    if not keys:
        raise ConnectionLost(target.name, f"no SSH host key from {target.host}:{target.port}")
    return keys


async def fingerprint(key: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        "ssh-keygen", "-l", "-f", "-", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL)
    out, _ = await proc.communicate(f"x {key}\n".encode())
    fields = out.decode(errors="replace").split()
    return fields[1] if len(fields) > 1 else ""


async def probe(files: SshFiles, target: Target, timeout_s: float = 30.0) -> None:
    """Open the SFTP subsystem once before restic does: ssh's own verdict (a changed host key, a refused key, no
    route) is read from its stderr here, where restic may exit before relaying it."""
    proc = await asyncio.create_subprocess_exec(  # a connection of its own: a master's verdict may be stale
        "ssh", "-F", str(files.config), "-o", "ControlPath=none", alias_of(target), "-s", "sftp",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, env={**os.environ, **files.env(target)})
    try:
        _, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise ConnectionLost(target.name, f"{target.host}:{target.port} did not answer within {timeout_s:.0f} s"
                             ) from None
    if proc.returncode == 0:
        return
    text = err.decode(errors="replace")
    low = text.lower()
    if "host key verification failed" in low or "has changed" in low:
        raise HostKeyChanged(target.name)
    if "permission denied" in low and target.auth is SshAuth.PASSWORD:
        raise TargetUnavailable(target.name, f"the server refused the password of user {target.user!r}",
                                f"服务器拒绝了用户 {target.user!r} 的密码")
    if "permission denied" in low:
        raise TargetUnavailable(target.name, f"the server refused the appliance's key for user {target.user!r}",
                                f"服务器拒绝了用户 {target.user!r} 的设备密钥")
    tail = " ".join(text.strip().splitlines()[-2:])[:300] or f"ssh exit status {proc.returncode}"
    raise ConnectionLost(target.name, tail)


def sftp_batch(files: SshFiles, target: Target) -> Callable[[str], Any] | None:
    """`sftp` commands on the target (sweeping abandoned uploads); None for other kinds."""
    if target.kind is not TargetKind.SFTP:
        return None

    # `sftp -b` forces BatchMode, which forbids the askpass a password target answers with: commands on
    # stdin without -b run the same way (each "-" command may fail without stopping the rest).
    batch_args = [] if target.auth is SshAuth.PASSWORD else ["-b", "-"]

    async def batch(commands: str) -> None:
        proc = await asyncio.create_subprocess_exec(
            "sftp", "-F", str(files.config), *batch_args, alias_of(target), stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            env={**os.environ, **files.env(target)})
        try:
            await asyncio.wait_for(proc.communicate(commands.encode()), 60)
        except TimeoutError:
            proc.kill()
            await proc.wait()

    return batch
