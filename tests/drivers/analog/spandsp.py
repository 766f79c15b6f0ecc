"""spandsp 0.0.6 (Debian `libspandsp2`) through ctypes: the independent peer the analog DSP is checked against.

Used by `make_fixtures.py` to generate the caller ID and tone signals kept under `fixtures/`, and by the tests
to decode the caller ID our FXS ports send with spandsp's own receiver. State pointers are allocated by the
library (NULL passed in) and kept as `c_void_p`.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

# adsi.h
CLASS, CLIP, CLIP_DTMF = 1, 2, 5

_PUT_MSG = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint8), ctypes.c_int)


def load() -> ctypes.CDLL | None:
    """The library, or None when it is not installed (the tests that need it then skip)."""
    name = ctypes.util.find_library("spandsp") or "libspandsp.so.2"
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        return None
    vp, i = ctypes.c_void_p, ctypes.c_int
    lib.adsi_tx_init.restype = vp
    lib.adsi_tx_init.argtypes = [vp, i]
    lib.adsi_rx_init.restype = vp
    lib.adsi_rx_init.argtypes = [vp, i, _PUT_MSG, vp]
    lib.adsi_add_field.argtypes = [vp, vp, i, ctypes.c_uint8, vp, i]
    lib.adsi_tx_put_message.argtypes = [vp, vp, i]
    lib.adsi_tx.argtypes = [vp, vp, i]
    lib.adsi_rx.argtypes = [vp, vp, i]
    lib.adsi_tx_set_preamble.argtypes = [vp, i, i, i, i]
    lib.adsi_tx_free.argtypes = [vp]
    lib.adsi_rx_free.argtypes = [vp]
    lib.dtmf_tx_init.restype = vp
    lib.dtmf_tx_init.argtypes = [vp]
    lib.dtmf_tx_put.argtypes = [vp, ctypes.c_char_p, i]
    lib.dtmf_tx_set_level.argtypes = [vp, i, i]
    lib.dtmf_tx_set_timing.argtypes = [vp, i, i]
    lib.dtmf_tx.argtypes = [vp, vp, i]
    lib.dtmf_tx_free.argtypes = [vp]
    lib.tone_gen_descriptor_init.restype = vp
    lib.tone_gen_descriptor_init.argtypes = [vp, i, i, i, i, i, i, i, i, i]
    lib.tone_gen_init.restype = vp
    lib.tone_gen_init.argtypes = [vp, vp]
    lib.tone_gen.argtypes = [vp, vp, i]
    lib.tone_gen_free.argtypes = [vp]
    lib.tone_gen_descriptor_free.argtypes = [vp]
    return lib


def _drain(generate: Callable[[int, int, int], int], state: int, limit: int) -> npt.NDArray[np.int16]:
    out = np.zeros(limit, dtype=np.int16)
    n = generate(state, out.ctypes.data, limit)
    return out[:n].copy()


def fsk_caller_id(lib: ctypes.CDLL, standard: int, message_type: int,
                  fields: Sequence[tuple[int, bytes]]) -> tuple[npt.NDArray[np.int16], bytes]:
    """An FSK caller ID burst from spandsp's transmitter (`CLASS`: Bell 202, `CLIP`: V.23), built with its own
    `adsi_add_field`; SDMF bodies are given as fields of type 0. Returns the signal and the message as the
    library assembled it (type, length, body; the checksum is added on the line)."""
    tx = lib.adsi_tx_init(None, standard)
    msg = (ctypes.c_uint8 * 256)()
    n = lib.adsi_add_field(tx, msg, 0, message_type, None, 0)
    for kind, body in fields:
        n = lib.adsi_add_field(tx, msg, n, kind, body, len(body))
    lib.adsi_tx_put_message(tx, msg, n)
    signal = _drain(lib.adsi_tx, tx, 16000)
    lib.adsi_tx_free(tx)
    assembled = bytearray(msg[:n])
    assembled[1] = n - 2  # (adsi_tx_put_message writes the length on the line; the buffer keeps 0)
    return signal, bytes(assembled)


def dtmf(lib: ctypes.CDLL, digits: str, *, level_dbm0: int = -10, twist_db: int = 0, on_ms: int = 70,
         off_ms: int = 70) -> npt.NDArray[np.int16]:
    """DTMF digits from spandsp's generator; `level_dbm0` is the low tone's, `twist_db` the high tone above it."""
    tx = lib.dtmf_tx_init(None)
    lib.dtmf_tx_set_level(tx, level_dbm0, twist_db)
    lib.dtmf_tx_set_timing(tx, on_ms, off_ms)
    lib.dtmf_tx_put(tx, digits.encode(), len(digits))
    signal = _drain(lib.dtmf_tx, tx, 8000 * 5)
    lib.dtmf_tx_free(tx)
    return signal


def cadenced_tone(lib: ctypes.CDLL, hz: int, level_dbm0: int, on_ms: int, off_ms: int,
                  seconds: float) -> npt.NDArray[np.int16]:
    """A single-frequency cadenced tone from spandsp's tone generator (repeating)."""
    desc = lib.tone_gen_descriptor_init(None, hz, level_dbm0, 0, 0, on_ms, off_ms, 0, 0, 1)
    gen = lib.tone_gen_init(None, desc)
    signal = _drain(lib.tone_gen, gen, int(8000 * seconds))
    lib.tone_gen_free(gen)
    lib.tone_gen_descriptor_free(desc)
    return signal


def receive_caller_id(lib: ctypes.CDLL, standard: int, signal: npt.NDArray[np.int16]) -> list[bytes]:
    """Every message spandsp's ADSI receiver decodes from `signal` (type, length, body; checksum verified)."""
    got: list[bytes] = []

    def put(_user: int | None, msg: ctypes._Pointer[ctypes.c_uint8], n: int) -> None:
        if n > 0:
            got.append(bytes(msg[:n]))

    callback = _PUT_MSG(put)
    rx = lib.adsi_rx_init(None, standard, callback, None)
    pcm = np.ascontiguousarray(np.concatenate([signal.astype(np.int16), np.zeros(1600, np.int16)]))
    lib.adsi_rx(rx, pcm.ctypes.data, len(pcm))
    lib.adsi_rx_free(rx)
    return got


def fields_of(message: bytes) -> list[tuple[int, bytes]]:
    """An MDMF message's parameters, split the way GR-30 / EN 300 659-3 lay them out."""
    out: list[tuple[int, bytes]] = []
    pos = 2
    while pos + 2 <= len(message):
        kind, size = message[pos], message[pos + 1]
        out.append((kind, message[pos + 2:pos + 2 + size]))
        pos += 2 + size
    return out
