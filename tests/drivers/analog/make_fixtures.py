"""Regenerate the signals under `fixtures/` with spandsp (ctypes), once; the tests read the files and do not
need spandsp to check the receivers.

    .venv/bin/python -m tests.drivers.analog.make_fixtures

Each signal is 16-bit little-endian linear PCM at 8 kHz (`.s16`); `manifest.json` says what each one carries
(the standard, the message spandsp assembled, and the fields a receiver must find).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from tests.drivers.analog import spandsp

HERE = Path(__file__).parent / "fixtures"
DATE, NUMBER, NAME = b"12061130", b"02150001234", b"ZHANG SAN"
DTMF_NUMBER = "13800138000"


def main() -> int:
    lib = spandsp.load()
    if lib is None:
        print("libspandsp is not installed (Debian: libspandsp-dev)", file=sys.stderr)
        return 1
    HERE.mkdir(exist_ok=True)
    manifest: dict[str, dict[str, object]] = {}
    mdmf = [(0x01, DATE), (0x02, NUMBER), (0x07, NAME)]
    sdmf = [(0, DATE), (0, NUMBER)]
    for name, standard, mtype, fields in (
            ("bell202_sdmf", spandsp.CLASS, 0x04, sdmf),
            ("bell202_mdmf", spandsp.CLASS, 0x80, mdmf),
            ("v23_sdmf", spandsp.CLIP, 0x04, sdmf),
            ("v23_mdmf", spandsp.CLIP, 0x80, mdmf)):
        signal, message = spandsp.fsk_caller_id(lib, standard, mtype, fields)
        (HERE / f"{name}.s16").write_bytes(signal.astype("<i2").tobytes())
        manifest[name] = {"kind": "fsk", "modem": "bell202" if standard == spandsp.CLASS else "v23",
                          "message": message.hex(), "date": DATE.decode(), "number": NUMBER.decode(),
                          "name": NAME.decode() if mtype == 0x80 else None}
    for twist in (-6, 0, 6):
        # China and ETSI variant 1: A<number>C, ETSI EN 300 659-1 Annex B timing (70 ms tones, 70 ms gaps)
        name = f"dtmf_cid_twist{twist:+d}"
        signal = spandsp.dtmf(lib, f"A{DTMF_NUMBER}C", level_dbm0=-10, twist_db=twist)
        signal = np.concatenate([np.zeros(400, np.int16), signal, np.zeros(400, np.int16)])
        (HERE / f"{name}.s16").write_bytes(signal.astype("<i2").tobytes())
        manifest[name] = {"kind": "dtmf", "twist_db": twist, "number": DTMF_NUMBER}
    for name, on_ms, seconds in (("busy_cn", 350, 3.5), ("congestion_cn", 700, 4.2)):
        signal = spandsp.cadenced_tone(lib, 450, -10, on_ms, on_ms, seconds)
        (HERE / f"{name}.s16").write_bytes(signal.astype("<i2").tobytes())
        manifest[name] = {"kind": "tone", "hz": 450, "on_ms": on_ms, "off_ms": on_ms}
    (HERE / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(manifest)} signals to {HERE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
