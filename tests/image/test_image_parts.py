"""The image's parts that can be checked without booting it: GRUB's script, the signing PKI against RAUC,
and the units' hardening as systemd reads it."""

from __future__ import annotations

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
                 "ProtectSystem=strict", "CapabilityBoundingSet=CAP_NET_BIND_SERVICE CAP_SYS_NICE"):
        assert line in text.splitlines(), line
    r = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--no-pager", str(unit)],
                       capture_output=True, text=True)
    if "--offline" in r.stderr or "Unknown option" in r.stderr:
        pytest.skip("systemd-analyze without --offline")
    exposure = r.stdout.strip().splitlines()[-1]
    assert "Overall exposure level" in exposure, r.stdout[-500:] + r.stderr[-500:]
    assert float(exposure.split("level for")[-1].split(":")[1].split()[0]) < 5.0, exposure
