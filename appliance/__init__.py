"""Call-center appliance core: domain, store, ACD, IVR, SIP, RTP media, call control, records, SNMP, backups."""

import os

__version__ = "0.1.0"

# The box is one asyncio process whose matrix products (in-band DTMF on every B-channel and analog line,
# conference mixes) are small and come every 20 ms. OpenBLAS's worker threads spin between them: on a
# 2-core box at real-time priority that was a whole core, and a tick waited for a worker the scheduler had
# not run (ticks of 60 ms, frames lost on the E1 lines). One thread does products this size in a fraction
# of a millisecond. numpy reads these once, when it loads, and nothing here has loaded it yet; a value set
# from outside wins.
for _threads in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_threads, "1")
del _threads
