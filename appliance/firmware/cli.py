"""`appliance firmware status|install|factory-reset`: the box's slots and updates from a root shell on the
image (the serial console or SSH). `install` drives RAUC's client like the web UI does and prints RAUC's
steps; it needs no data directory, so it works beside the running appliance. `factory-reset` runs the image's
own reset, which asks for the typed confirmation itself."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from appliance.errors import ApplianceError
from appliance.firmware.errors import NotOnImage
from appliance.firmware.models import FirmwareStatus
from appliance.firmware.rauc import RaucClient, parse_status
from appliance.firmware.service import FirmwareConfig, running_version

FACTORY_RESET = "/usr/sbin/appliance-factory-reset"  # rootfs/usr/sbin


def add_commands(sub: Any, data_dir_arg: Callable[[argparse.ArgumentParser], None]) -> None:
    fw = sub.add_parser("firmware", help="root slots, updates (RAUC) and factory reset on the box image")
    cmds = fw.add_subparsers(dest="firmware_command", required=True)
    status = cmds.add_parser("status", help="the running version and both root slots")
    status.add_argument("--json", action="store_true", help="as JSON")
    install = cmds.add_parser("install", help="install a signed bundle into the other slot (reboot to use it)")
    install.add_argument("bundle", type=Path)
    reset = cmds.add_parser("factory-reset", help="erase the data partition and reboot into first-boot set-up")
    reset.add_argument("--yes", action="store_true", help="do not ask for the typed confirmation")


def _client() -> tuple[RaucClient, FirmwareConfig]:
    config = FirmwareConfig.from_env()
    if not config.enabled:
        raise NotOnImage("firmware management", "固件管理")
    return RaucClient(config.rauc), config


def _print_status(s: FirmwareStatus) -> None:
    print(f"version {s.version}  booted slot {s.booted or '?'}  next boot {s.primary or '?'}  ({s.compatible})")
    for slot in s.slots:
        flags = [f for f, on in (("booted", slot.state == "booted"), ("next", slot.primary)) if on]
        print(f"  slot {slot.bootname} ({slot.name}, {slot.device}): {slot.boot_status or 'unknown'}"
              f"{' [' + ', '.join(flags) + ']' if flags else ''}  {slot.version or '-'}"
              f"{'  installed ' + slot.installed_at if slot.installed_at else ''}")


def _status(args: argparse.Namespace) -> int:
    client, config = _client()
    try:
        status = parse_status(asyncio.run(client.status()), running_version(config.release_file))
    except RuntimeError as exc:
        raise ApplianceError(f"RAUC did not answer: {exc}", f"RAUC 无响应: {exc}", error_id="rauc") from None
    if args.json:
        print(json.dumps(status.to_json(), ensure_ascii=False, indent=1))
    else:
        _print_status(status)
    return 0


def _install(args: argparse.Namespace) -> int:
    client, config = _client()
    bundle = args.bundle.resolve()
    if not bundle.is_file():
        raise FileNotFoundError(f"no bundle at {bundle}")

    def step(percent: int, text: str) -> None:
        print(f"{percent:3d}% {text}", flush=True)

    result = asyncio.run(client.install(bundle, step))
    if not result.ok:
        print(f"install failed: {result.error}", file=sys.stderr)
        return 1
    status = parse_status(asyncio.run(client.status()), running_version(config.release_file))
    target = next((s for s in status.slots if s.bootname == status.primary), None)
    print(f"installed {target.version if target else '?'} into slot {status.primary or '?'}; "
          "it boots next (reboot to use it)")
    return 0


def _factory_reset(args: argparse.Namespace) -> int:
    if not Path(FACTORY_RESET).exists() or os.geteuid() != 0:
        raise NotOnImage("a factory reset", "恢复出厂设置")
    return subprocess.run([FACTORY_RESET, *(["--yes"] if args.yes else [])], check=False).returncode


HANDLERS: dict[tuple[str, str], Callable[[argparse.Namespace], int]] = {
    ("firmware", "status"): _status,
    ("firmware", "install"): _install,
    ("firmware", "factory-reset"): _factory_reset,
}
