"""Which file names each vendor asks for, and their contents rendered from the Jinja2 templates.

Yealink: `y000000000000.cfg` (common) and `<mac>.cfg`; Grandstream: `cfg<mac>.xml`; Polycom: `000000000000.cfg`
(the master file naming the others), `<mac>-phone.cfg` (account, keys) and `<mac>.cfg` (device settings);
generic: `<mac>.xml`. MACs are 12 lower-case hex digits with no separators. Common files carry no secret.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from provisioning.phones.models import PhoneRecord, Vendor

COMMON_FILES: dict[str, tuple[Vendor, str]] = {
    "y000000000000.cfg": (Vendor.YEALINK, "yealink_common.cfg.j2"),
    "000000000000.cfg": (Vendor.POLYCOM, "polycom_common.xml.j2"),
}
_PER_PHONE = re.compile(r"^(?:cfg)?([0-9a-f]{12})(-phone)?\.(cfg|xml)$")


def phone_files(vendor: Vendor, mac: str) -> dict[str, str]:
    """File name → template, for one phone."""
    if vendor is Vendor.YEALINK:
        return {f"{mac}.cfg": "yealink_phone.cfg.j2"}
    if vendor is Vendor.GRANDSTREAM:
        return {f"cfg{mac}.xml": "grandstream_phone.xml.j2"}
    if vendor is Vendor.POLYCOM:
        return {f"{mac}-phone.cfg": "polycom_phone.xml.j2", f"{mac}.cfg": "polycom_site.xml.j2"}
    return {f"{mac}.xml": "generic_phone.xml.j2"}


def mac_in(filename: str) -> str | None:
    """The MAC a per-phone file name asks for (lower-cased: some phones ask in upper case)."""
    m = _PER_PHONE.match(filename.lower())
    return m.group(1) if m and m.group(1) != "000000000000" else None


@dataclass(frozen=True, slots=True)
class LiveContext:
    """What the live configuration says at the moment of a fetch."""

    server: str  # the address the phone registers to
    port: int
    domain: str  # the SIP domain (digest realm)
    time_zone: str = "Asia/Shanghai"
    ntp: tuple[str, ...] = ()
    transport: str = "udp"
    expires: int = 300


def _cfg(value: Any) -> str:
    # key = value files end a value at the line's end: a line break in a label must not start a new key
    return str(value).replace("\r", " ").replace("\n", " ")


def _time(zone: str, ntp: tuple[str, ...]) -> dict[str, Any]:
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        tz, zone = ZoneInfo("UTC"), "UTC"
    offset = datetime.datetime.now(tz).utcoffset() or datetime.timedelta()
    seconds = int(offset.total_seconds())
    hours = seconds / 3600
    text = f"{hours:+g}"
    return {"zone": zone, "ntp": list(ntp), "offset_seconds": seconds, "offset_hours": text,
            "posix": f"LOC{-hours:+g}".replace("+", "")}


class Renderer:
    def __init__(self, directory: Path | None = None) -> None:
        self.env = Environment(
            loader=FileSystemLoader(str(directory or Path(__file__).parent / "templates")),
            autoescape=select_autoescape(enabled_extensions=("xml.j2",), default_for_string=False, default=False),
            undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
            auto_reload=False,  # the templates ship with the code: no stat per fetch
        )
        self.env.filters["cfg"] = _cfg

    def warm(self) -> None:
        """Compile every template now, not during the first fetches after a power cut."""
        for name in self.env.list_templates(filter_func=lambda n: n.endswith(".j2")):
            self.env.get_template(name)

    def common(self, filename: str, live: LiveContext) -> bytes | None:
        entry = COMMON_FILES.get(filename.lower())
        if entry is None:
            return None
        return self.env.get_template(entry[1]).render(time=_time(live.time_zone, live.ntp)).encode()

    def for_phone(self, record: PhoneRecord, filename: str, live: LiveContext, display_name: str) -> bytes | None:
        """The file, or None when the name is not one of this phone's."""
        phone = record.phone
        template = phone_files(phone.vendor, phone.mac).get(filename.lower())
        if template is None:
            return None
        host = f"[{live.server}]" if ":" in live.server else live.server
        account = {"user": phone.extension, "password": record.sip_password, "server": live.server,
                   "server_uri_host": host, "port": live.port, "transport": live.transport, "domain": live.domain,
                   "expires": live.expires, "display_name": display_name or phone.extension,
                   "label": phone.label or phone.extension}
        keys = [{"kind": k.kind.value, "value": k.value, "label": k.label} for k in phone.line_keys]
        return self.env.get_template(template).render(
            phone={"mac": phone.mac, "model": phone.model}, account=account, keys=keys,
            time=_time(live.time_zone, live.ntp)).encode()
