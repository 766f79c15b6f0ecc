"""RAUC driven through its command-line client, which talks to the RAUC service over D-Bus (the service, as
root, verifies the bundle's CMS signature against the image's keyring, writes the other slot and switches
GRUB's boot order). Parsing is kept apart from the process handling so it can be checked on RAUC's real
output: `rauc status --detailed --output-format=json` and the `NN% step` lines `rauc install` prints.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.firmware.models import FirmwareStatus, Slot

PROGRESS_LINE = re.compile(r"^\s*(\d{1,3})% (.*)$")
STATUS_TIMEOUT_S = 20.0


@dataclass(frozen=True, slots=True)
class InstallResult:
    ok: bool
    error: str
    output: tuple[str, ...]


def parse_status(raw: Mapping[str, Any], running_version: str) -> FirmwareStatus:
    """`rauc status --detailed --output-format=json` as slots, A before B."""
    slots: list[Slot] = []
    primary = str(raw.get("boot_primary") or "")
    for entry in raw.get("slots", []):
        for name, info in dict(entry).items():
            status = info.get("slot_status") or {}
            bundle = status.get("bundle") or {}
            installed = status.get("installed") or {}
            slots.append(Slot(
                name=str(name), bootname=str(info.get("bootname") or ""), device=str(info.get("device") or ""),
                state=str(info.get("state") or ""), boot_status=str(info.get("boot_status") or ""),
                primary=name == primary, version=str(bundle.get("version") or ""),
                installed_at=str(installed.get("timestamp") or ""), install_count=int(installed.get("count") or 0)))
    slots.sort(key=lambda s: (s.bootname, s.name))
    by_name = {s.name: s.bootname for s in slots}
    return FirmwareStatus(available=True, reason="", version=running_version,
                          compatible=str(raw.get("compatible") or ""), booted=str(raw.get("booted") or ""),
                          primary=by_name.get(primary, ""), slots=tuple(slots))


def parse_progress(line: str) -> tuple[int, str] | None:
    m = PROGRESS_LINE.match(line)
    if m is None:
        return None
    return min(100, int(m.group(1))), m.group(2).strip()


def install_error(lines: Sequence[str]) -> str:
    """The reason RAUC gave for a failed install: its `LastError:` line, else its last line that is not a
    progress step."""
    last = [ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("LastError:")]
    if last:
        return last[-1][:500]
    text = [ln.strip() for ln in lines if ln.strip() and parse_progress(ln) is None and ln.strip() != "installing"]
    failed = [ln for ln in text if "fail" in ln.lower() or "error" in ln.lower()]
    return (failed or text or ["rauc install failed without saying why"])[-1][:500]


@dataclass(frozen=True, slots=True)
class RaucClient:
    binary: str = "rauc"
    env: Mapping[str, str] | None = None  # None: this process's environment (DBUS_SYSTEM_BUS_ADDRESS, PATH)

    def _env(self) -> dict[str, str]:
        return dict(os.environ if self.env is None else self.env)

    async def status(self) -> dict[str, Any]:
        proc = await asyncio.create_subprocess_exec(
            self.binary, "status", "--detailed", "--output-format=json", stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=self._env())
        try:
            out, err = await asyncio.wait_for(proc.communicate(), STATUS_TIMEOUT_S)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise RuntimeError("rauc status did not answer") from None
        if proc.returncode != 0:
            raise RuntimeError(err.decode(errors="replace").strip() or f"rauc status exited {proc.returncode}")
        data: dict[str, Any] = json.loads(out)
        return data

    async def install(self, bundle: Path, progress: Callable[[int, str], None]) -> InstallResult:
        """`rauc install BUNDLE`; each `NN% step` line goes to `progress` as it is printed."""
        proc = await asyncio.create_subprocess_exec(
            self.binary, "install", str(bundle), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            env=self._env())
        assert proc.stdout is not None
        lines: list[str] = []
        try:
            async for raw in proc.stdout:
                line = raw.decode(errors="replace").rstrip("\n")
                lines.append(line)
                step = parse_progress(line)
                if step is not None:
                    progress(*step)
            code = await proc.wait()
        except asyncio.CancelledError:
            # RAUC's service finishes the slot it is writing on its own; the client only stops watching.
            proc.kill()
            await proc.wait()
            raise
        ok = code == 0 and any("succeeded" in ln for ln in lines[-3:])
        return InstallResult(ok, "" if ok else install_error(lines), tuple(lines[-200:]))
