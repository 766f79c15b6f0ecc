"""The box image: build time, compressed size, tcg boot to health, RAUC install time.

Builds the image with image_build/build.py (every stage cached by its inputs; `--from-scratch` clears the
cache first, Debian base included, `--keep-base` keeps only the mmdebstrap stage), boots it under
qemu-system-x86_64 -accel tcg with OVMF, times power-on to a healthy /api/v1/health through a forwarded port,
then installs a signed bundle of the next version into the other slot and times `rauc install`.

    sudo .venv/bin/python bench/image.py --from-scratch     # the recorded run
    sudo .venv/bin/python bench/image.py                    # reuse what did not change

Acceptance: the compressed image is at most 600 MB and a tcg boot reaches health in at most 120 s.
The last line printed is one JSON object: {build_s, image_mb, boot_to_health_s, update_install_s, ...}.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.image.vm import (
    BUILD,
    KEYS,
    OUT,
    Vm,
    build_image,
    derive_rootfs,
    missing_prerequisites,
    rauc_bundle,
)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--from-scratch", action="store_true", help="clear every cached stage first")
    ap.add_argument("--keep-base", action="store_true", help="with --from-scratch: keep the mmdebstrap stage")
    args = ap.parse_args()
    why = missing_prerequisites()
    if why:
        print(f"image benchmark: {why}", file=sys.stderr)
        return 2
    cache = BUILD / "cache"
    if args.from_scratch and cache.exists():
        for entry in cache.iterdir():
            if args.keep_base and entry.name.startswith("base-"):
                continue
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    manifest, build_s = build_image(compress=True)
    outputs = manifest["outputs"]
    image_mb = outputs["image_zst_bytes"] / 1e6
    print(f"build: {build_s:.0f} s (stages: {manifest['timings_s']})")
    print(f"image: {image_mb:.0f} MB compressed (raw disk {manifest['layout_mib']['disk']} MiB, root filesystem "
          f"{outputs['rootfs_bytes'] / 1e6:.0f} MB), version {manifest['version']}")

    with tempfile.TemporaryDirectory() as d:
        work = Path(d)
        next_version = f"{manifest['version']}-next"
        t = time.monotonic()
        variant = derive_rootfs(OUT / "rootfs.squashfs", BUILD / "test-bundles", next_version, broken=False)
        bundle = BUILD / "test-bundles" / "next.raucb"
        rauc_bundle(variant, next_version, bundle, KEYS)
        print(f"next-version bundle: {time.monotonic() - t:.0f} s")
        vm = Vm(OUT / "appliance.img", work)
        vm.start()
        try:
            boot_s = vm.wait_health(timeout=600)
            print(f"power-on to healthy /api/v1/health (tcg): {boot_s:.1f} s")
            vm.wait_ssh()
            vm.scp(bundle, "/data/update.raucb")
            t = time.monotonic()
            vm.ssh("rauc install /data/update.raucb", timeout=600)
            install_s = time.monotonic() - t
            print(f"rauc install of a {bundle.stat().st_size / 1e6:.0f} MB bundle: {install_s:.1f} s")
            old = vm.boot_id()
            t = time.monotonic()
            vm.ssh("systemctl reboot", check=False, timeout=30)
            vm.wait_reboot(old)
            reboot_s = vm.wait_health(timeout=600, since=t)
            print(f"reboot into the new slot to healthy: {reboot_s:.1f} s")
        finally:
            vm.stop()
    result = {"build_s": round(build_s, 1), "image_mb": round(image_mb, 1), "boot_to_health_s": round(boot_s, 1),
              "update_install_s": round(install_s, 1), "reboot_to_health_s": round(reboot_s, 1),
              "stages_s": manifest["timings_s"], "from_scratch": args.from_scratch,
              "image_ok": image_mb <= 600, "boot_ok": boot_s <= 120}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
