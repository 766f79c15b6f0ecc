"""The card HAL: what the E1/PRI and analog stacks need from a telephony card, whatever the card is.

`interface.CardBackend` is the one protocol the stacks use (see README.md); `serial_backend.SerialCard`
speaks the framed protocol of PROTOCOL.md over a serial line (a real card's UART, or the emulator's pty);
`discovery` finds cards. A DAHDI backend can implement the same protocol later.
"""
