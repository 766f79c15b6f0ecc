"""The SIP stack's view of the configured extensions: digest HA1s and allowed networks, read live from the
configuration store's snapshot (an edited password or network applies to the next request)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from appliance.sip.digest import Credential
from appliance.store.config_store import ConfigStore


@dataclass
class StoreCredentials:
    store: ConfigStore

    def lookup(self, extension: str, realm: str) -> Credential | None:
        ext = self.store.find("extensions", extension)
        if ext is None or not ext.ha1_md5:
            return None
        networks = tuple(ipaddress.ip_network(n, strict=False) for n in ext.allowed_networks)
        return Credential(extension, {"MD5": ext.ha1_md5, "SHA-256": ext.ha1_sha256}, networks)
