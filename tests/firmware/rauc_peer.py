"""A real RAUC service outside the VM: `rauc service` on a private D-Bus system bus (its own dbus-daemon),
with GRUB's boot counting in a grubenv file and two root slots that are plain files. The appliance's RAUC
client reaches it through DBUS_SYSTEM_BUS_ADDRESS, exactly as it reaches the image's service over the system
bus; RAUC verifies signatures, writes the slot and switches GRUB's ORDER as it does on the box. Needs root
(RAUC loop-mounts plain bundles), rauc, dbus-daemon, grub-editenv, mksquashfs and openssl."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from image_build.build import make_bundle

REPO = Path(__file__).resolve().parents[2]
TOOLS = ("rauc", "dbus-daemon", "grub-editenv", "mksquashfs", "openssl")
BUS_CONF = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
"""


def missing() -> str | None:
    if os.geteuid() != 0:
        return "RAUC mounts bundles: needs root"
    gone = [t for t in TOOLS if shutil.which(t) is None]
    return f"missing: {' '.join(gone)}" if gone else None


@dataclass
class RaucPeer:
    root: Path
    keys: Path
    rogue: Path
    env: dict[str, str]

    @property
    def grubenv(self) -> dict[str, str]:
        out = subprocess.run(["grub-editenv", str(self.root / "grubenv"), "list"], capture_output=True, text=True,
                             check=True).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def bundle(self, version: str, *, foreign: bool = False) -> Path:
        tree = self.root / f"tree-{version}"
        (tree / "etc").mkdir(parents=True, exist_ok=True)
        (tree / "etc/appliance-release").write_text(f"VERSION={version}\n")
        (tree / "payload").write_bytes(os.urandom(64 * 1024))  # RAUC wants images over 4 KiB
        squash = self.root / f"rootfs-{version}.squashfs"
        subprocess.run(["mksquashfs", str(tree), str(squash), "-noappend", "-quiet", "-no-progress"], check=True,
                       stdout=subprocess.DEVNULL)
        keys = self.rogue if foreign else self.keys
        out = self.root / f"{version}{'-foreign' if foreign else ''}.raucb"
        make_bundle(squash, version, out, keys / "signing.cert.pem", keys / "signing.key.pem", keys / "ca.cert.pem")
        return out


def _keys(where: Path, name: str) -> Path:
    subprocess.run(["sh", str(REPO / "image_build/keys.sh"), str(where), name], check=True, capture_output=True)
    return where


@contextmanager
def rauc_peer(root: Path) -> Iterator[RaucPeer]:
    root.mkdir(parents=True, exist_ok=True)
    keys = _keys(root / "keys", "Call-center appliance test")
    rogue = _keys(root / "rogue", "Somebody else")
    socket = root / "bus.sock"
    (root / "bus.conf").write_text(BUS_CONF.format(socket=socket))
    for slot in ("a", "b"):
        with (root / f"slot-{slot}.img").open("wb") as f:
            f.truncate(4 * 1024 * 1024)
    grubenv = root / "grubenv"
    subprocess.run(["grub-editenv", str(grubenv), "create"], check=True)
    subprocess.run(["grub-editenv", str(grubenv), "set", "ORDER=A B", "A_OK=1", "A_TRY=0", "B_OK=0", "B_TRY=0"],
                   check=True)
    # The image's system.conf (rootfs/etc/rauc), pointed at files.
    (root / "system.conf").write_text(
        "[system]\ncompatible=callcenter-appliance-x86_64\nbootloader=grub\n"
        f"grubenv={grubenv}\nmountprefix={root / 'mnt'}\ndata-directory={root / 'data'}\n\n"
        f"[keyring]\npath={keys / 'ca.cert.pem'}\n\n"
        f"[slot.rootfs.0]\ndevice={root / 'slot-a.img'}\ntype=raw\nbootname=A\n\n"
        f"[slot.rootfs.1]\ndevice={root / 'slot-b.img'}\ntype=raw\nbootname=B\n")
    env = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={socket}"}
    bus = subprocess.Popen(["dbus-daemon", "--nofork", f"--config-file={root / 'bus.conf'}"],
                           stdout=subprocess.DEVNULL, stderr=(root / "dbus.log").open("w"))
    service: subprocess.Popen[bytes] | None = None
    try:
        deadline = time.monotonic() + 10
        while not socket.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        service = subprocess.Popen(["rauc", f"--conf={root / 'system.conf'}", "service", "--override-boot-slot=A"],
                                   env=env, stdout=subprocess.DEVNULL, stderr=(root / "rauc.log").open("w"))
        while time.monotonic() < deadline:
            r = subprocess.run(["rauc", "status", "--output-format=json"], env=env, capture_output=True)
            if r.returncode == 0:
                break
            time.sleep(0.1)
        else:
            raise AssertionError(f"rauc service did not come up: {(root / 'rauc.log').read_text()}")
        yield RaucPeer(root, keys, rogue, env)
    finally:
        for proc in (service, bus):
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
