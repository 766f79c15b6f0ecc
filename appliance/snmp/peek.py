"""Who a request claims to be, read from its header before pysnmp processes it: the community of a v1/v2c
message (RFC 3416 / RFC 1901) or the USM user name of a v3 message (RFC 3412 §6, RFC 3414 §2.4), so each
community and user can be limited to its own source networks."""

from __future__ import annotations

from pyasn1.codec.ber import decoder
from pyasn1.error import PyAsn1Error
from pysnmp.proto import api
from pysnmp.proto.mpmod.rfc3412 import SNMPv3Message
from pysnmp.proto.secmod.rfc3414.service import UsmSecurityParameters


def principal(datagram: bytes) -> tuple[str, str] | None:
    """("community", name) or ("user", name); None when the header cannot be read (pysnmp then drops it)."""
    try:
        version = int(api.decodeMessageVersion(datagram))
        if version in (api.SNMP_VERSION_1, api.SNMP_VERSION_2C):
            module = api.PROTOCOL_MODULES[version]
            msg, _ = decoder.decode(datagram, asn1Spec=module.Message())
            return "community", bytes(module.apiMessage.get_community(msg)).decode("utf-8", "replace")
        if version == 3:
            msg, _ = decoder.decode(datagram, asn1Spec=SNMPv3Message())
            params, _ = decoder.decode(bytes(msg["msgSecurityParameters"]), asn1Spec=UsmSecurityParameters())
            return "user", bytes(params["msgUserName"]).decode("utf-8", "replace")
    except (PyAsn1Error, KeyError, ValueError, TypeError):
        return None
    return None
