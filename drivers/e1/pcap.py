"""Writing D-channel frames to a pcap file with link type 177 (LINUX_LAPD), which Wireshark decodes as LAPD
and Q.931. Each record: a 16-byte pseudo-header (packet type: 4 sent by us, 0 received; ARP hardware type
LAPD; address length 8; 8 address octets whose first is non-zero when the capture point is the network
side; protocol 0x0030), then the LAPD frame without its FCS. Written on the caller's thread: the driver
hands it to a worker, tests write directly."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

LINKTYPE_LINUX_LAPD = 177
_GLOBAL = struct.Struct("<IHHiIII")
_RECORD = struct.Struct("<IIII")
_PSEUDO = struct.Struct(">HHH8sH")


class PcapWriter:
    def __init__(self, path: Path, *, network_side: bool) -> None:
        self.path = path
        self.network_side = network_side
        self.frames = 0
        self._f: BinaryIO = path.open("wb")
        self._f.write(_GLOBAL.pack(0xA1B2C3D4, 2, 4, 0, 0, 65535, LINKTYPE_LINUX_LAPD))

    def write(self, frame: bytes, *, sent: bool, at: float) -> None:
        address = bytes((1 if self.network_side else 0,)) + bytes(7)
        data = _PSEUDO.pack(4 if sent else 0, 0x0030, 8, address, 0x0030) + frame
        sec = int(at)
        self._f.write(_RECORD.pack(sec, int((at - sec) * 1e6), len(data), len(data)) + data)
        self.frames += 1

    def close(self) -> None:
        self._f.close()
