"""Fixtures for the backup tests: a real OpenSSH server on a loopback port with its own host key, config and
authorized key; a seeded data directory with CDRs and recordings; the backup service over it."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from appliance.backups.service import BackupService
from appliance.clock import SystemClock
from appliance.domain.kinds import all_kinds
from appliance.events import Event, EventBus
from appliance.records.sqlite_store import RecordStore
from appliance.store.config_store import ConfigStore
from tests.conftest import free_port

SSHD = "/usr/sbin/sshd"


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


@dataclass
class Sshd:
    root: Path
    port: int
    authorized_keys: Path
    host_key: Path
    proc: subprocess.Popen[bytes] | None = None
    stopped: bool = False
    prefix: tuple[str, ...] = ()  # e.g. ("chrt", "--idle", "0") when it stands for a remote machine
    password: bool = False  # password logins (for root, with a shadow file of its own: see `with_password`)

    @property
    def config(self) -> Path:
        return self.root / "sshd_config"

    def write_config(self) -> None:
        # sshd insists on an absolute path to its config: with a relative one every connection is reset
        self.config.write_text("\n".join([
            f"Port {self.port}", "ListenAddress 127.0.0.1", f"HostKey {self.host_key}",
            f"AuthorizedKeysFile {self.authorized_keys}",
            f"PermitRootLogin {'yes' if self.password else 'prohibit-password'}",
            f"PasswordAuthentication {'yes' if self.password else 'no'}", "KbdInteractiveAuthentication no",
            "UsePAM no", "StrictModes no",
            f"PidFile {self.root / 'sshd.pid'}", "Subsystem sftp internal-sftp", "LogLevel VERBOSE", ""]))

    def start(self) -> None:
        Path("/run/sshd").mkdir(exist_ok=True)
        self.write_config()
        self.proc = subprocess.Popen([*self.prefix, SSHD, "-D", "-f", str(self.config.resolve()), "-E", str(self.root / "log")])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"sshd did not listen: {(self.root / 'log').read_text(errors='replace')}")

    def descendants(self) -> list[int]:
        """The sessions this server forked (and theirs), so only our own processes are signalled."""
        if self.proc is None:
            return []
        found: list[int] = []
        todo = [self.proc.pid]
        while todo:
            pid = todo.pop()
            out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
            found += [int(p) for p in out]
            todo += [int(p) for p in out]
        return found

    def _signal_all(self, sig: int) -> None:
        assert self.proc is not None
        for pid in [self.proc.pid, *self.descendants()]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    def kill(self) -> None:
        """SIGKILL the listener and every session it forked (an upload in progress dies with them)."""
        if self.proc is None:
            return
        pids = [*self.descendants(), self.proc.pid]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if self.stopped:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)
            self.stopped = False
        self.proc.wait(5)
        self.proc = None

    def stop_all(self) -> None:
        """SIGSTOP the server and its sessions: the target hangs, TCP stays open."""
        self._signal_all(signal.SIGSTOP)
        self.stopped = True

    def resume(self) -> None:
        self._signal_all(signal.SIGCONT)
        self.stopped = False

    def with_password(self, password: str) -> None:
        """Let root log in with `password`: sshd (without PAM) checks /etc/shadow, so it runs in a mount
        namespace of its own where a copy of that file with this password is bind-mounted over it. The box's
        own accounts are untouched."""
        hashed = subprocess.run(["openssl", "passwd", "-6", "-stdin"], input=password, capture_output=True,
                                text=True, check=True).stdout.strip()
        lines = [f"root:{hashed}:" + line.split(":", 2)[2] if line.startswith("root:") else line
                 for line in Path("/etc/shadow").read_text().splitlines()]
        shadow = self.root / "shadow"
        shadow.write_text("\n".join(lines) + "\n")
        shadow.chmod(0o640)
        self.password = True
        self.prefix = ("unshare", "--mount", "--propagation", "private", "sh", "-c",
                       'mount --bind "$0" /etc/shadow && exec "$@"', str(shadow))

    def host_key_line(self) -> str:
        fields = Path(str(self.host_key) + ".pub").read_text().split()
        return f"{fields[0]} {fields[1]}"


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[Sshd]:
    root = tmp_path / "sshd"
    root.mkdir()
    _keygen(root / "host_ed25519")
    server = Sshd(root, free_port(), root / "authorized_keys", root / "host_ed25519")
    server.authorized_keys.write_text("")
    server.start()
    try:
        yield server
    finally:
        server.kill()


@dataclass
class Recorder:
    events: list[Event] = field(default_factory=list)

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def topics(self) -> list[str]:
        return [e.topic for e in self.events]

    def of(self, topic: str) -> list[Event]:
        return [e for e in self.events if e.topic == topic]


def write_recordings(root: Path, day: str, count: int, size: int, seed: int) -> list[Path]:
    """Recording-like files: random bytes (they do not deduplicate or compress, like real audio)."""
    folder = root / "recordings" / day
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(count):
        path = folder / f"call-{seed}-{i:04d}.wav"
        path.write_bytes(hashlib.sha256(f"{seed}-{i}".encode()).digest() * (size // 32))
        out.append(path)
    return out


def add_cdrs(data: Path, n: int, start: int = 0) -> None:
    records = RecordStore.open(data / "records.sqlite3")
    try:
        for i in range(start, start + n):
            records.put_cdr({"call_id": f"call-{i}", "started": 1_700_000_000.0 + i, "ended": 1_700_000_060.0 + i,
                             "direction": "inbound", "caller": "1005", "callee": "8000", "disposition": "answered"})
    finally:
        records.close()


def tree_digest(root: Path, skip: tuple[str, ...] = ("backups", ".appliance.lock")) -> dict[str, str]:
    """Every file under `root` and its SHA-256, to show a failed run changed nothing on the box."""
    out: dict[str, str] = {}
    for dirpath, _dirs, names in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root)
        if rel_dir.parts and rel_dir.parts[0] in skip:
            continue
        for name in names:
            rel = rel_dir / name
            if str(rel) in skip or name.endswith(("-wal", "-shm")):
                continue
            out[str(rel)] = hashlib.sha256((Path(dirpath) / name).read_bytes()).hexdigest()
    return out


@dataclass
class Box:
    data: Path
    store: ConfigStore
    bus: EventBus
    events: Recorder
    service: BackupService


@pytest.fixture(scope="session")
def backup_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory after first start with the demo tenant (the stores only: no listener, no web UI)."""
    from appliance.app import Core
    from appliance.demo import seed_if_empty

    data = tmp_path_factory.mktemp("backup-template") / "data"

    async def seed() -> None:
        core = Core.open(data)
        try:
            await core.auth.ensure_admin()
            await seed_if_empty(core)
        finally:
            core.close()

    asyncio.run(seed())
    return data


@pytest.fixture
async def box(tmp_path: Path, backup_template: Path) -> AsyncIterator[Box]:
    data = tmp_path / "data"
    shutil.copytree(backup_template, data)
    add_cdrs(data, 120)
    write_recordings(data, "20261201", 20, 64 * 1024, seed=1)
    (data / "voicemail" / "1001").mkdir(parents=True, exist_ok=True)
    (data / "voicemail" / "1001" / "vm-1.wav").write_bytes(os.urandom(8000))
    bus = EventBus()
    recorder = Recorder()
    bus.subscribe(recorder, {"backups.*"})
    store = ConfigStore.open(data, all_kinds(), bus, SystemClock())
    service = BackupService(data, store, bus, SystemClock(), host="box-test", stall_s=60)
    await service.start()
    try:
        yield Box(data, store, bus, recorder, service)
    finally:
        await service.stop()
        store.close()
        await asyncio.sleep(0)


async def sftp_target(box: Box, sshd: Sshd, name: str = "remote", path: str | None = None,
                      upload_kib_s: int = 0) -> None:
    """The appliance's key authorised on the server, and its host key scanned and pinned (as the admin would)."""
    public = await box.service.public_key()
    sshd.authorized_keys.write_text(public + "\n")
    repo = path or str(sshd.root / "repo")
    raw_target = {"name": name, "kind": "sftp", "host": "127.0.0.1", "port": sshd.port, "user": "root",
                  "path": repo, "upload_kib_s": upload_kib_s}
    await box.service.save_settings({"targets": [raw_target]})
    keys = await box.service.scan_host_key(name)
    chosen = next(k for k in keys if k.key.startswith("ssh-ed25519"))
    assert chosen.key == sshd.host_key_line()
    await box.service.save_settings({"targets": [{**raw_target, "host_key": chosen.key}]})


async def local_target(box: Box, path: Path, name: str = "local", retention: dict[str, int] | None = None,
                       upload_kib_s: int = 0) -> None:
    raw = {"targets": [{"name": name, "kind": "local", "path": str(path), "upload_kib_s": upload_kib_s}]}
    if retention:
        raw["retention"] = retention  # type: ignore[assignment]
    await box.service.save_settings(raw)
