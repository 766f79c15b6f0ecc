"""The process's memory, as the NOC, support and the soak test see it, and the two things done about it.

- `figures()`: resident memory, open descriptors, the interpreter's allocated blocks (unlike RSS, the block
  count falls again as soon as objects are freed) and what SQLite holds (its page caches fill up to their
  limit as the record store grows, which is RSS growth that is not a leak).
- `reclaim()`: a full garbage collection, then glibc's `malloc_trim` so freed heap pages go back to the
  system. Support runs it before reading the figures when it suspects a leak: what remains afterwards is
  memory the appliance really holds, not garbage waiting for the collector's next full pass or free pages
  the C allocator kept after a busy hour.
- `settle_heap()` / `unsettle_heap()`: the composition root freezes what start-up created (it lives as long as
  the process) so the collector's full passes scan only what calls create: one pass over hundreds of
  thousands of objects stalls the event loop for tens of milliseconds, which is jitter on every relayed
  RTP packet and a late 20 ms media tick.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import sys

import psutil


def _library(soname: str, name: str) -> ctypes.CDLL | None:
    """A C library the process has loaded already (dlopen of it again is cheap), by its Debian soname; the
    slow search through the linker cache (`find_library` runs a program) only where that name is unknown.
    The figures are read on the event loop by every health check, so they must stay cheap."""
    try:
        return ctypes.CDLL(soname)
    except OSError:
        found = ctypes.util.find_library(name)
        try:
            return ctypes.CDLL(found) if found else None
        except OSError:
            return None


def _sqlite_memory_used() -> int:
    """Bytes the SQLite library has allocated (sqlite3_memory_used), or -1 where it cannot be asked."""
    lib = _library("libsqlite3.so.0", "sqlite3")
    used = getattr(lib, "sqlite3_memory_used", None)
    if used is None:
        return -1
    used.restype = ctypes.c_int64
    return int(used())


def figures() -> dict[str, float | int]:
    proc = psutil.Process()
    sqlite = _sqlite_memory_used()
    return {"rss_mb": round(proc.memory_info().rss / 2**20, 1), "open_files": proc.num_fds(),
            "heap_blocks": sys.getallocatedblocks(),
            "sqlite_mb": round(sqlite / 2**20, 2) if sqlite >= 0 else -1}


def _malloc_trim() -> bool:
    trim = getattr(_library("libc.so.6", "c"), "malloc_trim", None)  # glibc only (musl has none)
    if trim is None:
        return False
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    trim(0)
    return True


def reclaim() -> dict[str, int | bool]:
    """Collect every generation and hand free heap pages back; returns what the collector found."""
    unreachable = gc.collect()
    return {"unreachable_objects": unreachable, "trimmed": _malloc_trim()}


def settle_heap() -> None:
    """Call once, after every service has started: collect start-up garbage, then freeze what is left."""
    gc.collect()
    gc.freeze()


def unsettle_heap() -> None:
    """The reverse, on stop: frozen objects go back to the oldest generation, so cycles among them that died
    meanwhile can be collected (tests start and stop many appliances in one process)."""
    gc.unfreeze()
