"""The image's parts that can be checked without booting it: GRUB's script, the signing PKI against RAUC,
and the units' hardening as systemd reads it."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from image_build import build

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("grub-script-check") is None, reason="grub-common is not installed")
def test_grub_cfg_is_valid_grub_script(tmp_path: Path) -> None:
    cfg = tmp_path / "grub.cfg"
    cfg.write_text(build.grub_cfg())
    subprocess.run(["grub-script-check", str(cfg)], check=True)


def test_grub_cfg_counts_three_tries_per_slot() -> None:
    cfg = build.grub_cfg()
    for slot in ("A", "B"):
        for n in range(3):
            assert f'[ "${slot}_TRY" = "{n}" ]; then set {slot}_TRY={n + 1};' in cfg
        assert f'"${slot}_TRY" = "3"' not in cfg  # a slot at three tries is never chosen again
    assert "save_env --file=$prefix/grubenv A_TRY B_TRY" in cfg
    assert f"root=PARTUUID={build.PARTUUID_A.lower()} rauc.slot=A" in cfg


def test_layout_fits_partitions() -> None:
    lay = build.Layout()
    assert lay.slot_a == lay.esp + build.ESP_MB and lay.slot_b == lay.slot_a + build.SLOT_MB
    assert lay.total == lay.data + build.DATA_MB + 1


@pytest.mark.interop
@pytest.mark.skipif(shutil.which("rauc") is None or shutil.which("mksquashfs") is None, reason="rauc missing")
def test_bundles_signed_by_the_development_ca_verify_and_foreign_ones_do_not(tmp_path: Path) -> None:
    keys, rogue = tmp_path / "keys", tmp_path / "rogue"
    subprocess.run(["sh", str(REPO / "image_build/keys.sh"), str(keys)], check=True, capture_output=True)
    subprocess.run(["sh", str(REPO / "image_build/keys.sh"), str(rogue), "Somebody else"], check=True,
                   capture_output=True)
    assert not any("PRIVATE" in p.read_text() for p in keys.glob("*.cert.pem"))
    tree = tmp_path / "tree"
    (tree / "etc").mkdir(parents=True)
    (tree / "etc/appliance-release").write_text("VERSION=test\n" + "x" * 8192)
    squash = tmp_path / "rootfs.squashfs"
    subprocess.run(["mksquashfs", str(tree), str(squash), "-comp", "gzip", "-quiet", "-no-progress"], check=True,
                   capture_output=True)
    ours, theirs = tmp_path / "ours.raucb", tmp_path / "theirs.raucb"
    build.make_bundle(squash, "1.2.3", ours, keys / "signing.cert.pem", keys / "signing.key.pem",
                      keys / "ca.cert.pem")
    build.make_bundle(squash, "6.6.6", theirs, rogue / "signing.cert.pem", rogue / "signing.key.pem",
                      rogue / "ca.cert.pem")
    info = subprocess.run(["rauc", "info", "--keyring", str(keys / "ca.cert.pem"), "--output-format=shell",
                           str(ours)], capture_output=True, text=True)
    assert info.returncode == 0, info.stderr
    assert "RAUC_MF_VERSION='1.2.3'" in info.stdout and "callcenter-appliance-x86_64" in info.stdout
    refused = subprocess.run(["rauc", "info", "--keyring", str(keys / "ca.cert.pem"), str(theirs)],
                             capture_output=True, text=True)
    assert refused.returncode != 0 and "signature verification failed" in refused.stderr, refused.stderr


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze missing")
def test_appliance_unit_hardening_as_systemd_reads_it() -> None:
    unit = REPO / "rootfs/etc/systemd/system/appliance.service"
    text = unit.read_text()
    for line in ("Type=notify", "WatchdogSec=60", "Restart=on-failure", "User=appliance", "NoNewPrivileges=yes",
                 "ProtectSystem=strict",
                 "CapabilityBoundingSet=CAP_NET_BIND_SERVICE CAP_SYS_NICE CAP_NET_ADMIN"):
        assert line in text.splitlines(), line
    r = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--no-pager", str(unit)],
                       capture_output=True, text=True)
    if "--offline" in r.stderr or "Unknown option" in r.stderr:
        pytest.skip("systemd-analyze without --offline")
    exposure = r.stdout.strip().splitlines()[-1]
    assert "Overall exposure level" in exposure, r.stdout[-500:] + r.stderr[-500:]
    assert float(exposure.split("level for")[-1].split(":")[1].split()[0]) < 5.0, exposure


# ---- the system settings the unprivileged appliance writes, applied by root (appliance-system-apply) ------------

APPLY = REPO / "rootfs/usr/sbin/appliance-system-apply"


def _apply(tmp_path: Path) -> tuple[dict[str, str], subprocess.CompletedProcess[str]]:
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "SRC": str(tmp_path / "system"),
           "RUN": str(tmp_path / "run"), "NETWORKD_RUN": str(tmp_path / "networkd"),
           "ZONEINFO": "/usr/share/zoneinfo", "HOSTNAME_FILE": str(tmp_path / "kernel-hostname")}
    r = subprocess.run(["sh", str(APPLY)], env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    return env, r


@pytest.mark.skipif(not Path("/usr/share/zoneinfo/Asia/Tokyo").exists(), reason="tzdata missing")
def test_what_provisioning_writes_is_what_the_image_applies(tmp_path: Path) -> None:
    """provisioning's SystemService writes under APPLIANCE_ETC_ROOT; the root script reads the same files."""
    from provisioning.builder import ProvisioningConfig
    from provisioning.firstboot.system import SystemService

    unit = (REPO / "rootfs/etc/systemd/system/appliance.service").read_text()
    env_line = next(line for line in unit.splitlines() if "APPLIANCE_ETC_ROOT=" in line)
    values = dict(w.split("=", 1) for w in env_line.split("=", 1)[1].split())
    cfg = ProvisioningConfig.from_env({"APPLIANCE_IMAGE": "1", **values})
    assert cfg.image and str(cfg.etc_root) == "/data/appliance/system"  # the script's default SRC
    assert str(cfg.networkd_dir) == "/data/appliance/system/network"
    assert "SRC=${SRC:-/data/appliance/system}" in APPLY.read_text()

    system = SystemService(tmp_path / "data", None, etc_root=tmp_path / "system")  # type: ignore[arg-type]
    system._write_host_name("call-center-1.example")
    system._write_time("Asia/Tokyo", ("ntp.aliyun.com", "10.0.0.1"))
    _, out = _apply(tmp_path)
    assert (tmp_path / "kernel-hostname").read_text() == "call-center-1.example"
    assert os.readlink(tmp_path / "run/localtime") == "/usr/share/zoneinfo/Asia/Tokyo"
    assert (tmp_path / "run/timezone").read_text() == "Asia/Tokyo\n"
    assert (tmp_path / "run/chrony-sources/appliance.sources").read_text() == (
        "server ntp.aliyun.com iburst\nserver 10.0.0.1 iburst\n")
    assert "host name call-center-1.example" in out.stdout


def test_the_root_script_refuses_what_it_must_not_apply(tmp_path: Path) -> None:
    etc = tmp_path / "system/etc"
    (etc / "chrony/sources.d").mkdir(parents=True)
    (etc / "hostname").write_text("bad_name;reboot\n")
    (etc / "timezone").write_text("../../../etc/shadow\n")
    (etc / "chrony/sources.d/appliance.sources").write_text(
        "server ntp.aliyun.com iburst\nserver x; rm -rf / iburst\nallow all\ncmdallow all\n")
    net = tmp_path / "system/network"
    net.mkdir()
    (net / "10-appliance-eth0.network").write_text("[Match]\nName=eth0\n\n[Network]\nAddress=10.1.1.5/24\n")
    (net / ".appliance-pending.json").write_text("{}")
    (net / "99-other.network").write_text("[Match]\nName=*\n")
    (tmp_path / "kernel-hostname").write_text("before")
    _, out = _apply(tmp_path)
    assert (tmp_path / "kernel-hostname").read_text() == "before" and "refused host name" in out.stdout
    assert os.readlink(tmp_path / "run/localtime") == "/usr/share/zoneinfo/Asia/Shanghai"  # the default zone
    assert (tmp_path / "run/chrony-sources/appliance.sources").read_text() == "server ntp.aliyun.com iburst\n"
    assert sorted(p.name for p in (tmp_path / "networkd").iterdir()) == ["10-appliance-eth0.network"]
    # A file the appliance dropped disappears from networkd's directory too.
    (net / "10-appliance-eth0.network").unlink()
    _apply(tmp_path)
    assert list((tmp_path / "networkd").iterdir()) == []
