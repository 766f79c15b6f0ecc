"""The hardware status of the telephony cards (E1/PRI spans, B-channels, analog ports): a service that reads
the drivers, its API under /api/v1/hardware, and `appliance hw status`."""
