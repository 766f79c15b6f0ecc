"""How the composition root builds first boot and provisioning: the services and their routes.

`ProvisioningConfig.from_env()` reads what the image's unit sets; a developer's machine gets the safe
defaults: the host's network is read, never changed, nothing outside the data directory is written, TFTP and
PnP are off, and the phones' HTTPS port is chosen by the OS.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sanic import Blueprint

from appliance.http_api import Api
from provisioning.firstboot.http import make_blueprint as firstboot_blueprint
from provisioning.firstboot.system import SystemService
from provisioning.network.http import make_blueprint as network_blueprint
from provisioning.network.netlink import Netlink
from provisioning.network.service import NetworkService
from provisioning.phones.http import make_blueprint as phones_blueprint
from provisioning.phones.service import PhoneServerConfig, PhoneService

if TYPE_CHECKING:
    from appliance.app import Core


@dataclass(frozen=True, slots=True)
class ProvisioningConfig:
    image: bool = False  # on the box image: network managed, /etc written
    networkd_dir: Path = Path("/etc/systemd/network")
    # Where the system's files are written on the image: its root is read-only, so the unit points this at the
    # data partition and a root service of the image applies them (rootfs/usr/sbin/appliance-system-apply).
    etc_root: Path = Path("/")
    phones_port: int = 0
    tftp_port: int | None = None
    pnp: bool = False
    advertise: str | None = None
    # A named network namespace whose interfaces the box manages (a lab or test bench standing for the box's
    # ports); its systemd-networkd files stay in the data directory and /etc is not written.
    netns: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ProvisioningConfig:
        env = os.environ if env is None else env
        image = env.get("APPLIANCE_IMAGE") == "1"
        tftp = env.get("APPLIANCE_TFTP_PORT")
        return cls(image=image,
                   networkd_dir=Path(env.get("APPLIANCE_NETWORKD_DIR", "/etc/systemd/network")),
                   etc_root=Path(env.get("APPLIANCE_ETC_ROOT", "/")),
                   phones_port=int(env.get("APPLIANCE_PHONES_PORT", "8443" if image else "0")),
                   tftp_port=int(tftp) if tftp else None,
                   pnp=env.get("APPLIANCE_SIP_PNP", "1" if image else "0") == "1",
                   advertise=env.get("APPLIANCE_ADVERTISE") or None,
                   netns=env.get("APPLIANCE_NETWORK_NETNS") or None)


@dataclass
class Provisioning:
    network: NetworkService
    phones: PhoneService
    system: SystemService
    blueprints: Callable[[Api], list[Blueprint]] = field(repr=False, default=lambda api: [])

    @property
    def services(self) -> list[NetworkService | PhoneService | SystemService]:
        return [self.system, self.network, self.phones]


def build_provisioning(core: Core, *, bind: str, sip_port: int, config: ProvisioningConfig | None = None,
                       setup_token: Callable[[], str | None] = lambda: None) -> Provisioning:
    """`setup_token` gives the running box's one-time token, written for the console (root only)."""
    cfg = config or ProvisioningConfig.from_env()
    data_dir = core.data_dir
    network = NetworkService(cfg.networkd_dir if cfg.image else data_dir / "provisioning" / "networkd",
                             Netlink(cfg.netns), managed=cfg.image or cfg.netns is not None, bus=core.bus,
                             clock=core.clock, networkctl=shutil.which("networkctl") if cfg.image else None)
    phones = PhoneService(data_dir, core.config, PhoneServerConfig(
        bind="0.0.0.0" if cfg.image else bind, https_port=cfg.phones_port, sip_port=sip_port,
        tftp_port=cfg.tftp_port, pnp=cfg.pnp, advertise=cfg.advertise))
    system = SystemService(data_dir, core.config, phones, etc_root=cfg.etc_root if cfg.image else None,
                           setup_token=setup_token, setup_required=lambda: core.auth.setup_required)
    auth = core.auth

    def blueprints(api: Api) -> list[Blueprint]:
        return [network_blueprint(api, network), phones_blueprint(api, phones),
                firstboot_blueprint(api, system, auth)]

    return Provisioning(network, phones, system, blueprints)
