"""Process-wide settings the media path's timing depends on, for the composition root to apply.

CPython's cyclic garbage collector scans every tracked object on a full (oldest-generation) pass; with the
hundreds of thousands of objects a started appliance holds, one pass stalls the event loop for tens of
milliseconds, which shows as jitter on every relayed packet and a late 20 ms tick. Objects that exist once
start-up is over live as long as the process, so they are moved out of the collector's view
(`gc.freeze`, Python 3.7+); what calls create later is collected as usual.
"""

from __future__ import annotations

import gc


def settle_heap() -> None:
    """Call once, after every service has started: collect start-up garbage, then freeze what is left."""
    gc.collect()
    gc.freeze()


def unsettle_heap() -> None:
    """The reverse, on stop: frozen objects go back to the oldest generation, so cycles among them that died
    meanwhile can be collected (tests start and stop many appliances in one process)."""
    gc.unfreeze()
