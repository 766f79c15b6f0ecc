"""Run-time configuration of the process (where to listen, where the data lives), fixed at start.

Entity configuration (queues, staff, ...) lives in the configuration store; this is only what the
command line and the environment decide before anything is opened.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from appliance.errors import FieldError, ValidationFailed


@dataclass(frozen=True, slots=True, kw_only=True)
class RunConfig:
    data_dir: Path = Path("var")
    bind: str = "127.0.0.1"
    http_port: int = 8080
    https_port: int = 8443  # the web UI over TLS with the box's certificate; 0: the OS chooses
    http_redirect: bool = False  # plain HTTP answers only with a redirect to HTTPS (on the image)
    sip_port: int = 5060
    snmp_port: int = 1161
    rtp_port_min: int = 20000
    rtp_port_max: int = 29999
    rtp_timeout: float = 30.0  # seconds without RTP before a dead phone's call is ended
    log_format: str = "text"  # text | json
    log_levels: str = "info"  # "info" or "info,appliance.sip=debug"
    seed_demo: bool = True

    def __post_init__(self) -> None:
        problems: list[FieldError] = []
        try:
            ipaddress.ip_address(self.bind)
        except ValueError:
            problems.append(FieldError("bind", "ip_address", f"bind: {self.bind!r} is not an IP address",
                                       f"bind: {self.bind!r} 不是 IP 地址"))
        for name in ("http_port", "https_port", "sip_port", "snmp_port", "rtp_port_min", "rtp_port_max"):
            value = getattr(self, name)
            if not 0 <= value <= 65535:
                problems.append(FieldError(name, "range", f"{name}: {value} is not a port (0-65535)",
                                           f"{name}: {value} 不是有效端口 (0-65535)"))
        if self.rtp_port_min > self.rtp_port_max:
            problems.append(FieldError("rtp_port_min", "range", "rtp_port_min: above rtp_port_max",
                                       "rtp_port_min: 大于 rtp_port_max"))
        if not 1.0 <= self.rtp_timeout <= 3600.0:
            problems.append(FieldError("rtp_timeout", "range", "rtp_timeout: 1 to 3600 seconds",
                                       "rtp_timeout: 应为 1 到 3600 秒"))
        if self.log_format not in ("text", "json"):
            problems.append(FieldError("log_format", "choice", "log_format: text or json", "log_format: text 或 json"))
        if problems:
            raise ValidationFailed(problems, "run configuration")
