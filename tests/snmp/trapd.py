"""snmptrapd (net-snmp) as a test peer: its own configuration, port and persistent directory; received
notifications are read from its log as (trap OID, {varbind OID: value})."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

FORMAT = "TRAP|%b|%v\n"
TRAP_OID = "1.3.6.1.6.3.1.1.4.1.0"


@dataclass
class Notification:
    source: str
    varbinds: dict[str, str]

    @property
    def oid(self) -> str:
        return self.varbinds.get(TRAP_OID, "").replace("OID: ", "").lstrip(".")


@dataclass
class TrapD:
    port: int
    workdir: Path
    proc: asyncio.subprocess.Process | None = None
    received: list[Notification] = field(default_factory=list)
    _reader: asyncio.Task[None] | None = None

    async def start(self, conf: str) -> None:
        if shutil.which("snmptrapd") is None:
            pytest.fail("snmptrapd (Debian snmptrapd) is not installed")
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "snmptrapd.conf").write_text(conf)
        env = {**os.environ, "SNMP_PERSISTENT_DIR": str(self.workdir / "persist"), "MIBS": ""}
        self.proc = await asyncio.create_subprocess_exec(
            "snmptrapd", "-f", "-Lo", "-C", "-c", str(self.workdir / "snmptrapd.conf"), "-On", "-m", "",
            "-F", FORMAT, "-p", str(self.workdir / "pid"), f"udp:127.0.0.1:{self.port}",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env)
        self._reader = asyncio.create_task(self._read())
        await asyncio.sleep(0.5)  # it binds before it says anything

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        async for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            if not line.startswith("TRAP|"):
                continue
            _, source, binds = line.split("|", 2)
            varbinds = {}
            for part in binds.split("\t"):
                if " = " in part:
                    oid, value = part.split(" = ", 1)
                    varbinds[oid.strip().lstrip(".")] = value.strip()
            self.received.append(Notification(source, varbinds))

    async def wait_for(self, oid_suffix: str, count: int = 1, timeout: float = 10.0) -> list[Notification]:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            found = [n for n in self.received if n.oid.endswith(oid_suffix)]
            if len(found) >= count or asyncio.get_running_loop().time() > deadline:
                return found
            await asyncio.sleep(0.05)

    def alarm_names(self, oid_suffix: str) -> set[str]:
        """The alarm names (ccaAlarmName) carried by the notifications received so far with this OID."""
        return {text_of(v) for n in self.received if n.oid.endswith(oid_suffix)
                for k, v in n.varbinds.items() if ".1.7.2.1.2." in k}

    async def wait_for_alarms(self, oid_suffix: str, names: set[str], timeout: float = 10.0) -> set[str]:
        deadline = asyncio.get_running_loop().time() + timeout
        while not names <= self.alarm_names(oid_suffix) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        return self.alarm_names(oid_suffix)

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            await self.proc.wait()
        if self._reader is not None:
            self._reader.cancel()


def config(community: str, user: str, auth: str, priv: str, engine_id: str) -> str:
    return "\n".join([
        "disableAuthorization no",
        f"authCommunity log {community}",
        # traps name the sender's engine; informs are localized to snmptrapd's own (discovered)
        f"createUser -e 0x{engine_id} {user} SHA-256 {auth} AES {priv}",
        f"createUser {user} SHA-256 {auth} AES {priv}",
        f"authUser log {user} priv",
        "",
    ])


def text_of(value: str) -> str:
    m = re.fullmatch(r'STRING: "(.*)"', value)
    return m.group(1) if m else value
