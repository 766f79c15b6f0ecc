"""Build the box image: a GPT disk with an EFI system partition (GRUB), root slots A and B (squashfs) and a data
partition, plus the RAUC bundle of the same root filesystem, a bmap, a SHA-256 and a build manifest.

Runs as root on Debian 12 with the tools `make image` installs (mmdebstrap, squashfs-tools, grub-efi-amd64-bin,
mtools, dosfstools, fdisk, rauc, bmap-tools). No loop devices and no mounts of the image are needed: the root
filesystem is squashed from a directory, the ESP is written with mtools and the disk is assembled with sfdisk and
dd into offsets.

Every stage is cached under BUILD/cache by a hash of its inputs, so a second build with nothing changed only
re-links the outputs:
  base     mmdebstrap of image_build/packages.txt
  wheels   the appliance and its pinned dependencies (image_build/constraints.txt) as wheels
  rootfs   base + rootfs/ overlay + venv in /opt/appliance + initramfs, squashed
  esp      GRUB for EFI with the A/B boot-counting grub.cfg
  disk     the GPT image, its bmap, the compressed copy and the bundle
Standard library only: it runs before the project's venv exists.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
MiB = 1024 * 1024

# Fixed partition identities: grub.cfg and the kernel command line name the root slots by PARTUUID, RAUC and
# fstab by partition label.
ESP_TYPE = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
ROOT_TYPE = "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709"  # Linux root (x86-64)
DATA_TYPE = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"  # Linux filesystem
DISK_GUID = "6B1E3F0A-5C55-4C8E-9E2B-0A1B2C3D4E50"
PARTUUID_ESP = "6B1E3F0A-5C55-4C8E-9E2B-0A1B2C3D4E51"
PARTUUID_A = "6B1E3F0A-5C55-4C8E-9E2B-0A1B2C3D4E52"
PARTUUID_B = "6B1E3F0A-5C55-4C8E-9E2B-0A1B2C3D4E53"
PARTUUID_DATA = "6B1E3F0A-5C55-4C8E-9E2B-0A1B2C3D4E54"
ESP_MB, SLOT_MB, DATA_MB = 64, 448, 64

# GRUB 2.06 reads squashfs compressed with gzip, xz or lzo only (not zstd or lz4).
GRUB_MODULES = ["part_gpt", "fat", "ext2", "squash4", "gzio", "xzio", "normal", "linux", "configfile", "loadenv", "test", "echo", "regexp", "search", "search_fs_uuid", "search_label", "reboot", "halt", "sleep", "serial", "terminal", "efi_gop", "all_video", "cat", "ls", "true"]

# Kernel modules an appliance without a screen, sound or radio never loads: dropping them halves the image.
DROP_MODULE_DIRS = ("kernel/drivers/gpu", "kernel/drivers/media", "kernel/drivers/net/wireless",
                    "kernel/drivers/infiniband", "kernel/drivers/staging", "kernel/sound", "kernel/net/wireless",
                    "kernel/net/mac80211", "kernel/net/bluetooth", "kernel/drivers/bluetooth",
                    "kernel/drivers/iio", "kernel/drivers/isdn", "kernel/drivers/hid", "kernel/drivers/input/touchscreen",
                    "kernel/drivers/video", "kernel/fs/ocfs2", "kernel/fs/gfs2", "kernel/fs/ceph",
                    "kernel/fs/btrfs", "kernel/fs/xfs", "kernel/drivers/scsi/lpfc", "kernel/drivers/scsi/qla2xxx",
                    "kernel/drivers/net/ethernet/mellanox", "kernel/drivers/net/ethernet/chelsio")


@dataclass(frozen=True)
class Layout:
    """Partition offsets in MiB (1 MiB alignment, 1 MiB for the primary GPT and 1 MiB kept free at the end)."""

    esp: int = 1
    slot_a: int = 1 + ESP_MB
    slot_b: int = 1 + ESP_MB + SLOT_MB
    data: int = 1 + ESP_MB + 2 * SLOT_MB
    total: int = 1 + ESP_MB + 2 * SLOT_MB + DATA_MB + 1


def log(stage: str, message: str) -> None:
    print(f"[image {time.strftime('%H:%M:%S')}] {stage}: {message}", flush=True)


def run(cmd: Sequence[str | Path], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in cmd], check=True, text=True, **kw)  # type: ignore[call-overload,no-any-return]


def sha256_bytes(*parts: bytes) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(hashlib.sha256(p).digest())
    return h.hexdigest()


def tree_digest(paths: Iterable[Path]) -> str:
    """Hash of file names, modes and contents under the given paths (caches, bytecode and build debris skipped)."""
    h = hashlib.sha256()
    for root in paths:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file() or p.is_symlink())
        for f in files:
            rel = f.relative_to(REPO) if f.is_relative_to(REPO) else f
            if any(part in ("__pycache__", ".mypy_cache", "build", ".pytest_cache") for part in rel.parts):
                continue
            if f.suffix in (".pyc", ".so"):
                continue
            h.update(str(rel).encode() + b"\0" + oct(f.lstat().st_mode & 0o777).encode() + b"\0")
            h.update(os.readlink(f).encode() if f.is_symlink() else f.read_bytes())
    return h.hexdigest()


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(4 * MiB), b""):
            h.update(block)
    return h.hexdigest()


def apt_sources(suite: str = "bookworm") -> list[str]:
    """The machine's own Debian mirror lines for SUITE (one-line and deb822 formats), for mmdebstrap."""
    lines: list[str] = []
    base = Path("/etc/apt")
    for f in [base / "sources.list", *sorted((base / "sources.list.d").glob("*.list"))]:
        if f.exists():
            for line in f.read_text().splitlines():
                words = [w for w in line.split("#", 1)[0].split() if not w.startswith("[")]
                if len(words) >= 4 and words[0] == "deb" and re.fullmatch(rf"{suite}(-\w+)?", words[2]):
                    lines.append(" ".join(words))
    for f in sorted((base / "sources.list.d").glob("*.sources")):
        for stanza in f.read_text().split("\n\n"):
            fields: dict[str, str] = {}
            for line in stanza.splitlines():
                if ":" in line and not line.startswith(("#", " ")):
                    k, v = line.split(":", 1)
                    fields[k.strip().lower()] = v.strip()
            if "deb" not in fields.get("types", "").split():
                continue
            for uri in fields.get("uris", "").split():
                for s in fields.get("suites", "").split():
                    if s == suite or s.startswith(suite + "-"):
                        lines.append(f"deb {uri} {s} {fields.get('components', 'main')}")
    if not lines:
        lines = [f"deb http://deb.debian.org/debian {suite} main",
                 f"deb http://deb.debian.org/debian {suite}-updates main",
                 f"deb http://deb.debian.org/debian-security {suite}-security main"]
    return lines


def packages() -> list[str]:
    text = (HERE / "packages.txt").read_text()
    return [w for line in text.splitlines() for w in line.split("#", 1)[0].split()]


def project_version() -> str:
    m = re.search(r'^version\s*=\s*"([^"]+)"', (REPO / "pyproject.toml").read_text(), re.M)
    return m.group(1) if m else "0"


class Builder:
    def __init__(self, build: Path, keys: Path, version: str | None) -> None:
        self.build = build
        self.cache = build / "cache"
        self.keys = keys
        self.cache.mkdir(parents=True, exist_ok=True)
        self.timings: dict[str, float] = {}
        self.version = version
        self.layout = Layout()

    # -- stages --------------------------------------------------------------------------------------------
    def base(self) -> tuple[str, Path]:
        mirrors = apt_sources()
        key = sha256_bytes("\n".join(packages()).encode(), "\n".join(mirrors).encode(), b"base-v1")[:16]
        out = self.cache / f"base-{key}"
        if (out / ".done").exists():
            log("base", f"cached ({out.name})")
            return key, out
        shutil.rmtree(out, ignore_errors=True)
        for old in self.cache.glob("base-*"):
            shutil.rmtree(old, ignore_errors=True)
        log("base", f"mmdebstrap bookworm, {len(packages())} packages named")
        t = time.monotonic()
        run(["mmdebstrap", "--variant=minbase", "--mode=root", "--skip=cleanup/reproducible",
             "--include=" + ",".join(packages()),
             "--aptopt=Acquire::Retries \"3\"", "--dpkgopt=path-exclude=/usr/share/doc/*",
             "--dpkgopt=path-include=/usr/share/doc/*/copyright",
             "--dpkgopt=path-exclude=/usr/share/man/*", "--dpkgopt=path-exclude=/usr/share/locale/*",
             "bookworm", out, *mirrors], stdin=subprocess.DEVNULL)
        (out / ".done").write_text(key)
        self.timings["base_s"] = time.monotonic() - t
        log("base", f"done in {self.timings['base_s']:.0f} s")
        return key, out

    def wheels(self) -> tuple[str, Path]:
        sources = [REPO / p for p in ("appliance", "drivers", "web_ui", "provisioning", "pyproject.toml",
                                       "setup.py", "README.md") if (REPO / p).exists()]
        key = sha256_bytes((HERE / "constraints.txt").read_bytes(), tree_digest(sources).encode(), b"wheels-v1")[:16]
        out = self.cache / f"wheels-{key}"
        if (out / ".done").exists():
            log("wheels", f"cached ({out.name})")
            return key, out
        for old in self.cache.glob("wheels-*"):
            shutil.rmtree(old, ignore_errors=True)
        out.mkdir(parents=True)
        t = time.monotonic()
        log("wheels", "the appliance and its pinned dependencies")
        with tempfile.TemporaryDirectory() as src:
            # Build from a clean copy so the checkout's build/ and .so files never leak into the wheel.
            for p in sources:
                dst = Path(src) / p.name
                if p.is_dir():
                    shutil.copytree(p, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.so"))
                else:
                    shutil.copy2(p, dst)
            run([sys.executable, "-m", "pip", "wheel", "-q", "--wheel-dir", out, "-c", HERE / "constraints.txt", src])
        (out / ".done").write_text(key)
        self.timings["wheels_s"] = time.monotonic() - t
        log("wheels", f"{len(list(out.glob('*.whl')))} wheels in {self.timings['wheels_s']:.0f} s")
        return key, out

    def rootfs(self, base_key: str, base: Path, wheels_key: str, wheels: Path) -> tuple[str, Path, Path]:
        keyring = self.keys / "ca.cert.pem"
        key = sha256_bytes(base_key.encode(), wheels_key.encode(), tree_digest([REPO / "rootfs"]).encode(),
                           (HERE / "customize.sh").read_bytes(), keyring.read_bytes(),
                           "\n".join(DROP_MODULE_DIRS).encode(), b"rootfs-v1")[:16]
        version = self.version or f"{project_version()}+{key[:8]}"
        squash = self.cache / f"rootfs-{key}.squashfs"
        manifest = self.cache / f"rootfs-{key}.manifest.json"
        if squash.exists() and manifest.exists():
            log("rootfs", f"cached ({squash.name})")
            return key, squash, manifest
        for old in self.cache.glob("rootfs-*"):
            old.unlink()
        work = self.cache / "rootfs-work"
        shutil.rmtree(work, ignore_errors=True)
        t = time.monotonic()
        log("rootfs", "copy base")
        run(["cp", "-a", "--reflink=auto", base, work])
        (work / ".done").unlink()
        log("rootfs", "overlay rootfs/")
        overlay = REPO / "rootfs"
        for src in sorted(overlay.rglob("*")):
            rel = src.relative_to(overlay)
            dst = work / rel
            if src.is_dir():
                dst.mkdir(parents=True, exist_ok=True)
                continue
            if dst.exists() or dst.is_symlink():
                dst.unlink()
            shutil.copy2(src, dst, follow_symlinks=False)
            os.chown(dst, 0, 0, follow_symlinks=False)
            if not dst.is_symlink():
                dst.chmod(0o755 if os.access(src, os.X_OK) else 0o644)
        (work / "etc/rauc").mkdir(parents=True, exist_ok=True)
        shutil.copy2(keyring, work / "etc/rauc/keyring.pem")
        (work / "etc/appliance-release").write_text(f"VERSION={version}\nBUILD={key}\n")
        stage = work / "tmp/image-build"
        stage.mkdir(parents=True)
        shutil.copytree(wheels, stage / "wheels")
        shutil.copy2(HERE / "constraints.txt", stage / "constraints.txt")
        shutil.copy2(HERE / "customize.sh", stage / "customize.sh")
        (stage / "drop-modules").write_text("\n".join(DROP_MODULE_DIRS) + "\n")
        shutil.copy2("/etc/ssl/certs/ca-certificates.crt", stage / "ca.crt")
        log("rootfs", "customize in a chroot (venv, user, units, initramfs)")
        script = (f'set -e; r="{work}"; mount -t proc proc "$r/proc"; mount --rbind /dev "$r/dev"; '
                  f'mount -t sysfs sys "$r/sys"; chroot "$r" /bin/sh /tmp/image-build/customize.sh')
        # A clean environment: the build machine's PIP_* and locale settings must not reach the chroot.
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LANG": "C.UTF-8"}
        run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script], env=env)
        pkgs = run(["chroot", work, "dpkg-query", "-W", "-f", "${Package}\t${Version}\n"],
                   capture_output=True).stdout
        pydeps = run(["chroot", work, "/opt/appliance/bin/python", "-m", "pip", "list", "--format=json"],
                     capture_output=True).stdout
        shutil.rmtree(stage)
        manifest.write_text(json.dumps({
            "version": version, "rootfs_key": key,
            "debian_packages": dict(line.split("\t", 1) for line in pkgs.splitlines() if "\t" in line),
            "python_packages": {p["name"]: p["version"] for p in json.loads(pydeps)},
        }, indent=1, sort_keys=True))
        # gzip level 1: 6 s instead of 90 s at the default level, for a root filesystem 10 % larger.
        log("rootfs", "mksquashfs (gzip -1)")
        tmp = squash.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        run(["mksquashfs", work, tmp, "-comp", "gzip", "-Xcompression-level", "1", "-no-xattrs", "-noappend", "-quiet", "-no-progress",
             "-e", "var/cache/apt", "-e", "var/lib/apt/lists"], stdout=subprocess.DEVNULL)
        tmp.rename(squash)
        shutil.rmtree(work)
        self.timings["rootfs_s"] = time.monotonic() - t
        log("rootfs", f"{squash.stat().st_size / MiB:.0f} MiB in {self.timings['rootfs_s']:.0f} s")
        return key, squash, manifest

    def esp(self) -> tuple[str, Path]:
        cfg = grub_cfg()
        grub_version = run(["grub-mkimage", "--version"], capture_output=True).stdout
        key = sha256_bytes(cfg.encode(), grub_version.encode(), " ".join(GRUB_MODULES).encode(), b"esp-v1")[:16]
        out = self.cache / f"esp-{key}.img"
        if out.exists():
            log("esp", f"cached ({out.name})")
            return key, out
        for old in self.cache.glob("esp-*"):
            old.unlink()
        log("esp", "GRUB for EFI, grub.cfg, grubenv")
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            efi = tmp / "BOOTX64.EFI"
            run(["grub-mkimage", "-O", "x86_64-efi", "-p", "/grub", "-o", efi, *GRUB_MODULES])
            (tmp / "grub.cfg").write_text(cfg)
            env = tmp / "grubenv"
            run(["grub-editenv", env, "create"])
            run(["grub-editenv", env, "set", "ORDER=A B", "A_OK=1", "A_TRY=0", "B_OK=0", "B_TRY=0"])
            img = tmp / "esp.img"
            run(["mkfs.vfat", "-F", "32", "-n", "ESP", "-C", img, str(ESP_MB * 1024)], stdout=subprocess.DEVNULL)
            for folder in ("::/EFI", "::/EFI/BOOT", "::/grub"):
                run(["mmd", "-i", img, folder])
            run(["mcopy", "-i", img, efi, "::/EFI/BOOT/BOOTX64.EFI"])
            run(["mcopy", "-i", img, tmp / "grub.cfg", env, "::/grub/"])
            shutil.move(img, out)
        return key, out

    def disk(self, squash: Path, esp: Path, rootfs_manifest: Path, out_dir: Path, compress: bool) -> dict[str, object]:
        lay = self.layout
        if squash.stat().st_size > SLOT_MB * MiB:
            raise SystemExit(f"root filesystem {squash.stat().st_size / MiB:.0f} MiB exceeds the {SLOT_MB} MiB slot")
        meta = json.loads(rootfs_manifest.read_text())
        version = meta["version"]
        out_dir.mkdir(parents=True, exist_ok=True)
        img = out_dir / "appliance.img"
        t = time.monotonic()
        log("disk", f"GPT image {lay.total} MiB")
        new = out_dir / "appliance.img.new"  # renamed over the old one when whole: a running VM keeps its copy
        new.unlink(missing_ok=True)
        with new.open("wb") as f:
            f.truncate(lay.total * MiB)
        table = (f"label: gpt\nlabel-id: {DISK_GUID}\nunit: sectors\n"
                 f"start={lay.esp * 2048}, size={ESP_MB * 2048}, type={ESP_TYPE}, uuid={PARTUUID_ESP}, name=esp\n"
                 f"start={lay.slot_a * 2048}, size={SLOT_MB * 2048}, type={ROOT_TYPE}, uuid={PARTUUID_A}, name=rootfs-a\n"
                 f"start={lay.slot_b * 2048}, size={SLOT_MB * 2048}, type={ROOT_TYPE}, uuid={PARTUUID_B}, name=rootfs-b\n"
                 f"start={lay.data * 2048}, size={DATA_MB * 2048}, type={DATA_TYPE}, uuid={PARTUUID_DATA}, name=data\n")
        run(["sfdisk", "--quiet", "--no-reread", "--no-tell-kernel", new], input=table)
        for part, start in ((esp, lay.esp), (squash, lay.slot_a)):
            run(["dd", f"if={part}", f"of={new}", "bs=1M", f"seek={start}", "conv=notrunc,sparse", "status=none"])
        new.rename(img)
        # Slot B stays empty and the data partition unformatted: the first boot formats and grows it.
        log("disk", "bmap")
        bmap = out_dir / "appliance.img.bmap"
        run(["bmaptool", "create", "-o", bmap, img])
        outputs: dict[str, object] = {"image": img.name, "bmap": bmap.name}
        for stale in (out_dir / "appliance.img.zst", out_dir / "appliance.img.zst.sha256"):
            stale.unlink(missing_ok=True)  # never beside an image it was not made from
        if compress:
            log("disk", "zstd")
            zst = out_dir / "appliance.img.zst"
            run(["zstd", "-q", "-f", "-T0", "-6", img, "-o", zst])
            outputs["image_zst"] = zst.name
            outputs["image_zst_sha256"] = file_sha256(zst)
            outputs["image_zst_bytes"] = zst.stat().st_size
            (out_dir / "appliance.img.zst.sha256").write_text(f"{outputs['image_zst_sha256']}  {zst.name}\n")
        outputs["image_sha256"] = file_sha256(img)
        (out_dir / "appliance.img.sha256").write_text(f"{outputs['image_sha256']}  {img.name}\n")
        log("disk", "RAUC bundle")
        bundle = out_dir / "appliance.raucb"
        make_bundle(squash, version, bundle, self.keys / "signing.cert.pem", self.keys / "signing.key.pem",
                    self.keys / "ca.cert.pem")
        outputs["bundle"] = bundle.name
        outputs["bundle_sha256"] = file_sha256(bundle)
        shutil.copy2(squash, out_dir / "rootfs.squashfs")
        self.timings["disk_s"] = time.monotonic() - t
        return {**outputs, "version": version, "rootfs_bytes": squash.stat().st_size}


def make_bundle(squash: Path, version: str, bundle: Path, cert: Path, key: Path, keyring: Path) -> None:
    """A RAUC bundle (plain format, as Debian's rauc 1.8 verifies offline) carrying one raw root slot image."""
    with tempfile.TemporaryDirectory() as d:
        content = Path(d) / "content"
        content.mkdir()
        os.link(squash, content / "rootfs.img") if squash.stat().st_dev == content.stat().st_dev \
            else shutil.copy2(squash, content / "rootfs.img")
        (content / "manifest.raucm").write_text(
            f"[update]\ncompatible=callcenter-appliance-x86_64\nversion={version}\n\n"
            "[image.rootfs]\nfilename=rootfs.img\n")
        bundle.unlink(missing_ok=True)
        run(["rauc", "bundle", "--cert", cert, "--key", key, "--keyring", keyring, content, bundle],
            stdout=subprocess.DEVNULL)


def grub_cfg() -> str:
    """RAUC's GRUB scheme (ORDER, <slot>_OK, <slot>_TRY in grubenv) with three tries per slot.

    GRUB has no arithmetic, so a try is counted with an if-chain. `rauc install` sets the new slot first in
    ORDER with OK=1, TRY=0; `rauc status mark-good` resets TRY to 0. A slot whose TRY reached 3 is skipped, so a
    new slot that never passes its health check falls back to the other one after three boots."""
    def slot(name: str, index: int) -> str:
        chain = "".join(
            f"      {'if' if n == 0 else 'elif'} [ \"${name}_TRY\" = \"{n}\" ]; then set {name}_TRY={n + 1}; "
            f"set default={index}; set found=1\n" for n in range(3))
        return (f"    if [ \"$found\" = 0 -a \"$SLOT\" = \"{name}\" -a \"${name}_OK\" = 1 ]; then\n"
                f"{chain}      fi\n    fi\n")
    common = "rootfstype=squashfs ro console=tty0 console=ttyS0,115200 panic=10 quiet"
    return f"""# Generated by image_build/build.py: A/B root slots with boot counting (RAUC's GRUB scheme).
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
set timeout=1
set ORDER="A B"
set A_OK=0
set B_OK=0
set A_TRY=0
set B_TRY=0
load_env --file=$prefix/grubenv
set found=0
set default=0
for SLOT in $ORDER; do
{slot("A", 0)}{slot("B", 1)}done
if [ "$found" = 0 ]; then
    echo "No root slot left with tries; booting slot A"
fi
save_env --file=$prefix/grubenv A_TRY B_TRY
set fallback="2"

menuentry "Slot A" {{
    linux (hd0,gpt2)/vmlinuz root=PARTUUID={PARTUUID_A.lower()} rauc.slot=A {common}
    initrd (hd0,gpt2)/initrd.img
}}
menuentry "Slot B" {{
    linux (hd0,gpt3)/vmlinuz root=PARTUUID={PARTUUID_B.lower()} rauc.slot=B {common}
    initrd (hd0,gpt3)/initrd.img
}}
menuentry "Reboot" {{
    reboot
}}
"""


def ensure_keys(keys: Path) -> None:
    if not (keys / "signing.key.pem").exists():
        run(["sh", HERE / "keys.sh", keys])


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--build-dir", type=Path, default=REPO / "build" / "image")
    ap.add_argument("--keys", type=Path, default=REPO / "build" / "keys",
                    help="development CA and signing key (made by image_build/keys.sh when missing)")
    ap.add_argument("--version", help="image and bundle version (default: project version + input hash)")
    ap.add_argument("--no-compress", action="store_true", help="skip the zstd copy of the image")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("image build: run as root (mmdebstrap, chroot)", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    args.build_dir.mkdir(parents=True, exist_ok=True)
    # One build at a time per build directory (the test suite and a person may both ask for the image); a VM
    # already running keeps the image it opened, as the disk stage writes a new file rather than into the old.
    lock = (args.build_dir / ".lock").open("w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        log("lock", "another build of this directory is running; waiting for it")
        fcntl.flock(lock, fcntl.LOCK_EX)
    ensure_keys(args.keys)
    b = Builder(args.build_dir, args.keys, args.version)
    base_key, base = b.base()
    wheels_key, wheels = b.wheels()
    _, squash, rootfs_manifest = b.rootfs(base_key, base, wheels_key, wheels)
    _, esp = b.esp()
    out = args.build_dir / "out"
    outputs = b.disk(squash, esp, rootfs_manifest, out, compress=not args.no_compress)
    b.timings["total_s"] = time.monotonic() - t0
    manifest = json.loads(rootfs_manifest.read_text())
    manifest.update({"outputs": outputs, "timings_s": {k: round(v, 1) for k, v in b.timings.items()},
                     "layout_mib": {"esp": ESP_MB, "slot": SLOT_MB, "data_initial": DATA_MB,
                                    "disk": b.layout.total}})
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True))
    log("done", f"{out}: appliance.img, .bmap, .zst, appliance.raucb, manifest.json "
        f"(version {manifest['version']}) in {b.timings['total_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
