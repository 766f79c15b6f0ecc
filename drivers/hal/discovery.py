"""Finding cards: serial ports through pyserial's port listing, and DAHDI device nodes when the kernel has
them. Discovery only lists candidates; `SerialCard.open` proves a serial one speaks PROTOCOL.md (HELLO)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from serial.tools import list_ports

# USB-serial bridges the cards are built with (FTDI, Silicon Labs, WCH) and the emulator's pseudo-terminals
CARD_USB_VIDS = frozenset({0x0403, 0x10C4, 0x1A86})


@dataclass(frozen=True, slots=True)
class Candidate:
    backend: str  # "serial" | "dahdi"
    path: str
    description: str


def serial_candidates(extra: tuple[str, ...] = ()) -> list[Candidate]:
    """USB-serial ports of the known bridges, plus `extra` paths (the emulator's pty, a configured tty)."""
    found = [Candidate("serial", p.device, p.description or p.device)
             for p in list_ports.comports() if p.vid in CARD_USB_VIDS]
    seen = {c.path for c in found}
    for path in extra:
        if path not in seen:
            seen.add(path)
            found.append(Candidate("serial", path, "configured"))
    return found


def dahdi_candidates(root: Path = Path("/dev/dahdi")) -> list[Candidate]:
    """DAHDI channel nodes (`/dev/dahdi/channel`, per-span `/dev/dahdi/chan/N/M`) when the driver is loaded."""
    if not (root / "ctl").exists():
        return []
    spans = sorted(p for p in (root / "chan").glob("*") if p.is_dir()) if (root / "chan").is_dir() else []
    return [Candidate("dahdi", str(p), f"DAHDI span {p.name}") for p in spans] or [
        Candidate("dahdi", str(root), "DAHDI")]


def discover(extra_serial: tuple[str, ...] = (), dahdi_root: Path = Path("/dev/dahdi")) -> list[Candidate]:
    return serial_candidates(extra_serial) + dahdi_candidates(dahdi_root)
