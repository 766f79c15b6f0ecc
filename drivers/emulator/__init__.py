"""A card emulator that speaks the bytes a real card would (drivers/hal/PROTOCOL.md): its own process, a
pty for the control line (pyserial opens it like a card's UART) and a UDP socket for the bearer frames.

Spans can be wired back to back (what one host sends on span 1 arrives on span 2), or a span's D-channel
handed to an external peer on a Unix SEQPACKET socket (libpri); analog ports can be wired FXS to FXO.
Line conditions are injected through the protocol (INJECT): LOS, AIS, LOF, CRC-4 multiframe loss, slips,
errored frames, lost bearer frames, dropped or corrupted D-channel frames, and analog port signals.

    python -m drivers.emulator --spans 2 --link 1-2 [--ports fxs:1,fxo:1 --port-link 1-2]

prints one JSON line: {"tty": ..., "bearer_port": ..., "pid": ...}.
"""
