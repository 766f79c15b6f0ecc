"""The first-boot system settings that are not the configuration store's: host name, NTP servers, and the
files the image's services read (`/etc/hostname`, `/etc/localtime`, chrony's sources). The time zone and the
SIP domain live in the global settings (`appliance.configuration`); this module validates and applies them
beside the rest and keeps the SIP passwords of provisioned phones valid across a change of realm.

Off the box image (`etc_root` None) nothing outside the data directory is touched.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from appliance.configuration.service import Actor, ConfigService
from appliance.errors import FieldError, ValidationFailed
from appliance.health import Health, Status
from provisioning.phones.service import PhoneService

log = logging.getLogger(__name__)
HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
NTP_NAME = re.compile(r"^[A-Za-z0-9.:\-]{1,253}$")
DEFAULT_NTP = ("ntp.aliyun.com", "ntp.tencent.com", "cn.pool.ntp.org")
DEFAULT_HOST = "callcenter"
CHRONY_SOURCES = "etc/chrony/sources.d/appliance.sources"
SETUP_TOKEN_FILE = "setup-token"

CardLister = Callable[[], list[dict[str, Any]]]


def hal_cards() -> list[dict[str, Any]]:
    """Cards the drivers' HAL can see; raises ImportError while the HAL is not installed."""
    from drivers.hal.discovery import discover

    return [{"backend": c.backend, "path": c.path, "description": c.description} for c in discover()]


def _bad(field: str, rule: str, en: str, zh: str) -> ValidationFailed:
    return ValidationFailed([FieldError(field, rule, f"{field}: {en}", f"{field}: {zh}")])


def check_host_name(value: Any) -> str:
    name = str(value or "").strip().rstrip(".")
    if not name or len(name) > 253 or not all(HOST_LABEL.match(label) for label in name.split(".")):
        raise _bad("host_name", "hostname", "letters, digits and hyphens, labels of at most 63 (RFC 1123)",
                   "应为字母、数字和连字符,每段最多 63 个字符 (RFC 1123)")
    return name.lower()


def check_time_zone(value: Any) -> str:
    zone = str(value or "")
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise _bad("time_zone", "zone", "an IANA time zone such as Asia/Shanghai", "应为 IANA 时区,如 Asia/Shanghai") from None
    if zone not in available_timezones():
        raise _bad("time_zone", "zone", "an IANA time zone such as Asia/Shanghai", "应为 IANA 时区,如 Asia/Shanghai")
    return zone


def check_ntp(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) > 8:
        raise _bad("ntp_servers", "type", "a list of at most 8 host names or addresses", "应为最多 8 个主机名或地址的列表")
    errors = [FieldError(f"ntp_servers.{n}", "host", f"ntp_servers.{n}: a host name or address",
                         f"ntp_servers.{n}: 应为主机名或地址")
              for n, v in enumerate(value) if not isinstance(v, str) or not NTP_NAME.match(v)]
    if errors:
        raise ValidationFailed(errors)
    return tuple(value)


@dataclass
class SystemService:
    data_dir: Path
    config: ConfigService
    phones: PhoneService | None = None
    etc_root: Path | None = None  # "/" on the image; None elsewhere
    cards: CardLister = hal_cards
    setup_token: Callable[[], str | None] = lambda: None
    setup_required: Callable[[], bool] = lambda: False
    name: str = "system"
    _state: dict[str, Any] = field(default_factory=dict)

    @property
    def _file(self) -> Path:
        return self.data_dir / "provisioning" / "system.json"

    async def start(self) -> None:
        self._state = await asyncio.to_thread(self._load)
        await asyncio.to_thread(self.write_token_file)

    @property
    def token_file(self) -> Path:
        return self.data_dir / SETUP_TOKEN_FILE

    def write_token_file(self) -> None:
        """The one-time setup token for the console menu (0600: root on the box reads it), gone once used."""
        token = self.setup_token() if self.setup_required() else None
        if token is None:
            self.token_file.unlink(missing_ok=True)
            return
        fd = os.open(self.token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token + "\n")

    async def stop(self) -> None:
        return None

    def listening(self) -> list[str]:
        return []

    def health(self) -> Health:
        return Health.of(self.name, Status.OK, f"host {self.host_name}")

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self._file.read_text(encoding="utf-8"))
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def _save(self, state: dict[str, Any]) -> None:
        self._file.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(self._file, json.dumps(state, ensure_ascii=False, indent=1))

    # ---- reading ---------------------------------------------------------------------------------------

    @property
    def host_name(self) -> str:
        return str(self._state.get("host_name", DEFAULT_HOST))

    @property
    def ntp_servers(self) -> tuple[str, ...]:
        return tuple(self._state.get("ntp_servers", DEFAULT_NTP))

    def time_zone(self) -> str:
        return str(self.config.settings().time_zone)

    def sip_domain(self) -> str:
        return str(self.config.settings().sip_realm)

    def detected_cards(self) -> dict[str, Any]:
        try:
            return {"available": True, "cards": self.cards()}
        except ImportError:
            return {"available": False, "cards": [], "reason": "the card drivers are not installed"}
        except Exception as exc:  # a card that cannot be listed must not break the wizard
            log.warning("listing cards failed: %s", exc)
            return {"available": False, "cards": [], "reason": str(exc)}

    def summary(self, setup_required: bool) -> dict[str, Any]:
        return {"admin_password_set": not setup_required, "host_name": self.host_name,
                "time_zone": self.time_zone(), "ntp_servers": list(self.ntp_servers),
                "sip_domain": self.sip_domain(), "completed": bool(self._state.get("completed")),
                "cards": self.detected_cards()}

    # ---- changing (each idempotent: the same value twice changes nothing the second time) ---------------

    async def set_host_name(self, value: Any) -> str:
        name = check_host_name(value)
        self._state = {**self._state, "host_name": name}
        await asyncio.to_thread(self._save, self._state)
        if self.etc_root is not None:
            await asyncio.to_thread(self._write_host_name, name)
        return name

    def _write_host_name(self, name: str) -> None:
        assert self.etc_root is not None
        _atomic_write(self.etc_root / "etc" / "hostname", name + "\n")
        if self.etc_root == Path("/"):
            try:
                os.sethostname(name) if hasattr(os, "sethostname") else subprocess.run(
                    ["hostname", name], check=False, timeout=5)
            except OSError as exc:
                log.warning("could not set the running host name: %s", exc)

    async def set_time(self, zone: Any, ntp: Any, actor: Actor) -> dict[str, Any]:
        time_zone = check_time_zone(zone) if zone is not None else self.time_zone()
        servers = check_ntp(ntp) if ntp is not None else self.ntp_servers
        if time_zone != self.time_zone():
            await self.config.change_settings({"time_zone": time_zone}, actor)
        self._state = {**self._state, "ntp_servers": list(servers)}
        await asyncio.to_thread(self._save, self._state)
        if self.etc_root is not None:
            await asyncio.to_thread(self._write_time, time_zone, servers)
        return {"time_zone": time_zone, "ntp_servers": list(servers)}

    def _write_time(self, zone: str, servers: tuple[str, ...]) -> None:
        assert self.etc_root is not None
        etc = self.etc_root / "etc"
        etc.mkdir(parents=True, exist_ok=True)
        _atomic_write(etc / "timezone", zone + "\n")
        link = etc / "localtime"
        tmp = etc / ".localtime.tmp"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(f"/usr/share/zoneinfo/{zone}")
        os.replace(tmp, link)
        sources = self.etc_root / CHRONY_SOURCES
        sources.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(sources, "".join(f"server {s} iburst\n" for s in servers))
        if self.etc_root == Path("/") and shutil.which("chronyc"):
            subprocess.run(["chronyc", "reload", "sources"], check=False, timeout=10, capture_output=True)

    async def set_sip_domain(self, value: Any, actor: Actor) -> dict[str, Any]:
        """Change the SIP domain (the digest realm). Stored HA1s are per realm: provisioned phones get theirs
        set again from the passwords provisioning keeps; other extensions with a password are listed, as
        their passwords must be set again. SIP reads the realm at start: a restart applies it."""
        domain = str(value or "").strip().lower()
        if domain == self.sip_domain():
            return {"sip_domain": domain, "restart_required": False, "passwords_to_set_again": []}
        await self.config.change_settings({"sip_realm": domain}, actor)
        provisioned: set[str] = set()
        if self.phones is not None:
            provisioned = await self.phones.rehash_passwords(actor)
        stale = sorted(e.number for e in self.config.store.list("extensions")
                       if e.ha1_md5 and e.number not in provisioned)
        return {"sip_domain": domain, "restart_required": True, "passwords_to_set_again": stale}

    async def mark_completed(self) -> None:
        self._state = {**self._state, "completed": True}
        await asyncio.to_thread(self._save, self._state)


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
