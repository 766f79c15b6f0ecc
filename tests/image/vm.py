"""The box image under QEMU (tcg, OVMF): build or reuse it, boot it, reach it through forwarded ports.

Shared by tests/image and bench/image.py. The image comes from image_build/build.py, whose stages are cached
by their inputs, so a second run with nothing changed only re-assembles the disk (seconds). Commands run in
the guest over SSH with a key handed over by QEMU's fw_cfg (the image has no password login at all)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "build" / "image"
OUT = BUILD / "out"
KEYS = REPO / "build" / "keys"
OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
TOOLS = ("mmdebstrap", "mksquashfs", "unsquashfs", "grub-mkimage", "mcopy", "mkfs.vfat", "sfdisk", "rauc",
         "bmaptool", "qemu-system-x86_64", "qemu-img", "ssh", "ssh-keygen")


def missing_prerequisites() -> str | None:
    if os.geteuid() != 0:
        return "the image build needs root"
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if not OVMF_CODE.exists():
        missing.append("ovmf")
    return f"missing: {' '.join(missing)}" if missing else None


def build_image(compress: bool = False) -> tuple[dict[str, Any], float]:
    """Build or reuse the image (every stage cached by its inputs); returns the manifest and seconds spent."""
    t = time.monotonic()
    cmd = [sys.executable, str(REPO / "image_build" / "build.py"), "--keys", str(KEYS)]
    subprocess.run([*cmd, *([] if compress else ["--no-compress"])], check=True, cwd=REPO)
    return json.loads((OUT / "manifest.json").read_text()), time.monotonic() - t


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def rauc_bundle(squash: Path, version: str, out: Path, keys: Path) -> None:
    from image_build.build import make_bundle

    make_bundle(squash, version, out, keys / "signing.cert.pem", keys / "signing.key.pem",
                      keys / "ca.cert.pem")


def derive_rootfs(squash: Path, work: Path, version: str, broken: bool) -> Path:
    """A variant of the built root filesystem: another version string, and with `broken` an appliance that
    exits at start (a release that never passes its health check). Cached beside the original."""
    out = work / f"rootfs-{version}.squashfs"
    if out.exists() and out.stat().st_mtime > squash.stat().st_mtime:
        return out
    base = version.rsplit("-", 1)[0]
    for stale in work.glob("rootfs-*.squashfs"):  # variants of earlier builds
        if not stale.name.startswith(f"rootfs-{base}-"):
            stale.unlink()
    tree = work / f"tree-{version}"
    shutil.rmtree(tree, ignore_errors=True)
    subprocess.run(["unsquashfs", "-q", "-n", "-d", str(tree), str(squash)], check=True, stdout=subprocess.DEVNULL)
    release = tree / "etc/appliance-release"
    release.write_text(release.read_text().replace("VERSION=", f"VERSION={version}\nBASE_VERSION=", 1))
    if broken:
        app = tree / "opt/appliance/bin/appliance"
        app.unlink()
        app.write_text("#!/bin/sh\necho 'this release is broken on purpose' >&2\nexit 3\n")
        app.chmod(0o755)
    tmp = out.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    subprocess.run(["mksquashfs", str(tree), str(tmp), "-comp", "gzip", "-Xcompression-level", "1", "-no-xattrs",
                    "-noappend", "-quiet", "-no-progress"], check=True, stdout=subprocess.DEVNULL)
    tmp.rename(out)
    shutil.rmtree(tree)
    return out


@dataclass
class Vm:
    """One QEMU guest on a copy-on-write overlay of the image (the image file itself stays pristine)."""

    image: Path
    work: Path
    disk_gb: int = 4
    memory_mb: int = 2048
    http_port: int = field(default_factory=free_port)
    ssh_port: int = field(default_factory=free_port)
    sip_port: int = field(default_factory=lambda: free_port(socket.SOCK_DGRAM))
    proc: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        self.key = self.work / "id_ed25519"
        if not self.key.exists():
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.key)], check=True)
        self.disk = self.work / "disk.qcow2"
        self.vars = self.work / "OVMF_VARS.fd"
        self.serial = self.work / "serial.log"
        self.console = self.work / "console.sock"  # the serial console's menu, for a person debugging a run
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", str(self.image),
                        str(self.disk), f"{self.disk_gb}G"], check=True)
        shutil.copy2(OVMF_VARS, self.vars)

    def start(self) -> None:
        fwd = (f"hostfwd=tcp:127.0.0.1:{self.http_port}-:80,hostfwd=tcp:127.0.0.1:{self.ssh_port}-:22,"
               f"hostfwd=udp:127.0.0.1:{self.sip_port}-:5060")
        cmd = ["qemu-system-x86_64", "-accel", "tcg", "-machine", "q35", "-cpu", "max", "-m", str(self.memory_mb),
               "-smp", "2", "-nodefaults", "-display", "none", "-no-user-config",
               # q35's TCO watchdog resets the machine like a board's would (QEMU straps it off by default): a
               # boot that hangs after a reboot is reset by RebootWatchdogSec, as the box itself recovers
               "-global", "ICH9-LPC.noreboot=off",
               "-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}",
               "-drive", f"if=pflash,format=raw,unit=1,file={self.vars}",
               "-drive", f"if=virtio,format=qcow2,file={self.disk},cache=unsafe",
               "-netdev", f"user,id=n0,{fwd}", "-device", "virtio-net-pci,netdev=n0",
               "-device", "virtio-rng-pci",
               "-fw_cfg", f"name=opt/appliance/authorized_keys,file={self.key}.pub",
               "-chardev", f"socket,id=ser0,path={self.console},server=on,wait=off,logfile={self.serial},"
                           "logappend=on", "-serial", "chardev:ser0"]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=(self.work / "qemu.log").open("ab"))

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def serial_tail(self, lines: int = 40) -> str:
        try:
            text = self.serial.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def ssh(self, command: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = ["ssh", "-q", "-i", str(self.key), "-p", str(self.ssh_port), "-o", "StrictHostKeyChecking=no",
               "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=10", "-o", "BatchMode=yes",
               "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=4", "root@127.0.0.1", command]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"guest: {command!r} exited {r.returncode}: {r.stdout}{r.stderr}")
        return r

    def scp(self, src: Path, dst: str, timeout: float = 300) -> None:
        subprocess.run(["scp", "-q", "-i", str(self.key), "-P", str(self.ssh_port), "-o", "StrictHostKeyChecking=no",
                        "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", str(src),
                        f"root@127.0.0.1:{dst}"], check=True, timeout=timeout)

    def http(self, method: str, path: str, body: Any = None, token: str | None = None,
             timeout: float = 10) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"http://127.0.0.1:{self.http_port}{path}", data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def upload(self, path: str, file: Path, token: str, timeout: float = 600) -> tuple[int, Any]:
        """POST a file as the request body (an update bundle, streamed from disk)."""
        size = file.stat().st_size
        with file.open("rb") as f:
            req = urllib.request.Request(f"http://127.0.0.1:{self.http_port}{path}", data=f, method="POST",
                                         headers={"Content-Type": "application/octet-stream",
                                                  "Content-Length": str(size), "Authorization": f"Bearer {token}"})
            try:
                with urllib.request.urlopen(req, timeout=timeout) as r:
                    return r.status, json.loads(r.read() or b"null")
            except urllib.error.HTTPError as e:
                return e.code, json.loads(e.read() or b"null")

    def wait_health(self, timeout: float = 300, since: float | None = None) -> float:
        """Seconds from `since` (default: now) until /api/v1/health answers "ok" through the forwarded port."""
        start = time.monotonic() if since is None else since
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"qemu exited {self.proc.returncode}:\n{self.serial_tail()}")
            try:
                status, body = self.http("GET", "/api/v1/health", timeout=5)
                last = (status, body.get("status") if isinstance(body, dict) else body)
                if status == 200 and body.get("status") == "ok":
                    return time.monotonic() - start
            except (OSError, ValueError) as exc:
                last = exc
            time.sleep(1)
        raise AssertionError(f"no healthy appliance after {timeout:.0f} s (last: {last}):\n{self.serial_tail()}")

    def wait_ssh(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.ssh("true", timeout=30, check=False).returncode == 0:
                    return
            except subprocess.TimeoutExpired:
                pass
            time.sleep(2)
        raise AssertionError(f"no SSH after {timeout:.0f} s:\n{self.serial_tail()}")

    def boot_id(self) -> str:
        return self.ssh("cat /proc/sys/kernel/random/boot_id").stdout.strip()

    def wait_reboot(self, old_boot_id: str, timeout: float = 600) -> None:
        """Wait until the guest runs with another boot id (it may reboot several times on the way)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                r = self.ssh("cat /proc/sys/kernel/random/boot_id", timeout=30, check=False)
                if r.returncode == 0 and r.stdout.strip() and r.stdout.strip() != old_boot_id:
                    return
            except subprocess.TimeoutExpired:
                pass
            time.sleep(3)
        raise AssertionError(f"no reboot within {timeout:.0f} s:\n{self.serial_tail()}")

    def rauc_status(self) -> dict[str, Any]:
        out: dict[str, Any] = json.loads(self.ssh("rauc status --output-format=json").stdout)
        return out

    def grubenv(self) -> dict[str, str]:
        text = self.ssh("grub-editenv /boot/efi/grub/grubenv list").stdout
        return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


@contextmanager
def running(vm: Vm) -> Iterator[Vm]:
    vm.start()
    try:
        yield vm
    finally:
        vm.stop()
