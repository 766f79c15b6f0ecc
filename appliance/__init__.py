"""Call-center appliance core: domain, store, ACD, IVR, SIP, RTP media, call control, records, SNMP, backups."""

__version__ = "0.1.0"
