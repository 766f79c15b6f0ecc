"""SRTP and SRTCP for one RTP endpoint (RFC 3711), keyed by SDES (RFC 4568), through libsrtp (`pylibsrtp`).

Suites: AES_CM_128_HMAC_SHA1_80 (RFC 3711 §8.2 / RFC 4568 §6.2.1), AES_CM_128_HMAC_SHA1_32 (same cipher, 32-bit
tag on SRTP, 80-bit on SRTCP, as RFC 4568 §6.2.2 asks) and AEAD_AES_128_GCM (RFC 7714). With SDES each side
encrypts what it sends with the key it put in its own SDP (RFC 4568 §6.1: the key of an a=crypto line is the
sender's), so a context holds two libsrtp sessions: ours for sending (any outbound SSRC) and the peer's for
receiving (any inbound SSRC: a new SSRC after a re-INVITE or transfer gets its own stream and replay window).

An endpoint whose media must be encrypted gets its context when it is allocated, before any key is known (we
offered and wait for the answer): until `set_keys`, it sends nothing and takes nothing, so no plain packet
leaves or enters a leg that was meant to be encrypted. `wrap` puts the context between the endpoint and its
socket (the endpoint's `send`/`sendto`/`recv`/`recvfrom`), so every path that sends or reads RTP in Python —
relay, mix, prompts, tones, DTMF, frame ports — protects and checks without knowing about it. A packet that
fails authentication or the replay check reads as empty, which every reader drops (too short for RTP), and
is counted; it never latches a source. The compiled packet path reads and writes sockets itself, so it never
takes an encrypted leg (`FastRelay.hand_over` refuses it): those legs relay in Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pylibsrtp

from appliance.media.models import SrtpKeys

if TYPE_CHECKING:
    from appliance.media.endpoint import Endpoint

# suite name -> (libsrtp profile, master key + salt length in bytes)
SUITES: dict[str, tuple[int, int]] = {
    "AEAD_AES_128_GCM": (pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM, 28),  # RFC 7714 §12: 16 + 12
    "AES_CM_128_HMAC_SHA1_80": (pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80, 30),  # RFC 4568 §6.2: 16 + 14
    "AES_CM_128_HMAC_SHA1_32": (pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_32, 30),
}


def key_length(suite: str) -> int:
    return SUITES[suite][1]


def _session(suite: str, key: bytes, ssrc_type: int) -> pylibsrtp.Session:
    profile, length = SUITES[suite]
    if len(key) != length:
        raise ValueError(f"{suite} takes a {length}-byte master key and salt, not {len(key)}")
    policy = pylibsrtp.Policy(key=key, ssrc_type=ssrc_type, srtp_profile=profile)
    policy.allow_repeat_tx = True  # (an RFC 4733 end packet may go out again with the same sequence number)
    return pylibsrtp.Session(policy)


@dataclass(eq=False, slots=True)
class SrtpFigures:
    protected: int = 0
    unprotected: int = 0
    auth_failures: int = 0  # SRTP or SRTCP packets that failed authentication, a replay check or parsing
    dropped_unkeyed: int = 0  # packets dropped both ways while no key was agreed yet


class SrtpContext:
    """The two SRTP sessions of one leg. Without keys it drops everything (see the module docstring)."""

    __slots__ = ("_rx", "_tx", "figures", "keys")

    def __init__(self, keys: SrtpKeys | None = None) -> None:
        self.figures = SrtpFigures()
        self.keys: SrtpKeys | None = None
        self._tx: pylibsrtp.Session | None = None
        self._rx: pylibsrtp.Session | None = None
        if keys is not None:
            self.set_keys(keys)

    def set_keys(self, keys: SrtpKeys) -> None:
        """Start (or re-key after a new offer/answer, RFC 4568 §7.1.4) with `keys`. The same keys again change
        nothing: the replay windows and rollover counters go on."""
        if keys == self.keys:
            return
        tx = _session(keys.suite, keys.tx_key, pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
        rx = _session(keys.suite, keys.rx_key, pylibsrtp.Policy.SSRC_ANY_INBOUND)
        self._tx, self._rx, self.keys = tx, rx, keys

    def protect(self, packet: bytes) -> bytes | None:
        tx = self._tx
        if tx is None:
            self.figures.dropped_unkeyed += 1
            return None
        try:
            out = tx.protect(packet)
        except (pylibsrtp.Error, ValueError):
            return None  # (a packet too large for libsrtp's buffer: never one we build)
        self.figures.protected += 1
        return out

    def unprotect(self, packet: bytes) -> bytes:
        """The RTP packet, or b"" when it is not authentic (or there is no key yet)."""
        rx = self._rx
        if rx is None:
            self.figures.dropped_unkeyed += 1
            return b""
        try:
            out = rx.unprotect(packet)
        except (pylibsrtp.Error, ValueError):
            self.figures.auth_failures += 1
            return b""
        self.figures.unprotected += 1
        return out

    def protect_rtcp(self, packet: bytes) -> bytes | None:
        tx = self._tx
        if tx is None:
            return None
        try:
            return tx.protect_rtcp(packet)
        except (pylibsrtp.Error, ValueError):
            return None

    def unprotect_rtcp(self, packet: bytes) -> bytes | None:
        rx = self._rx
        if rx is None:
            return None
        try:
            return rx.unprotect_rtcp(packet)
        except (pylibsrtp.Error, ValueError):
            self.figures.auth_failures += 1
            return None


def wrap(ep: Endpoint, ctx: SrtpContext) -> None:
    """Put `ctx` between `ep` and its socket (after `Ports.open` set the socket's methods)."""
    sock = ep.sock
    if sock is None:
        return
    raw_send, raw_sendto, raw_recv, raw_recvfrom = sock.send, sock.sendto, sock.recv, sock.recvfrom
    protect, unprotect = ctx.protect, ctx.unprotect

    def send(packet: bytes) -> int:
        out = protect(packet)
        return 0 if out is None else raw_send(out)

    def sendto(packet: bytes, addr: Any) -> int:
        out = protect(packet)
        return 0 if out is None else raw_sendto(out, addr)

    def recv(size: int) -> bytes:
        return unprotect(raw_recv(size))

    def recvfrom(size: int) -> tuple[bytes, Any]:
        data, addr = raw_recvfrom(size)
        return unprotect(data), addr

    ep.srtp = ctx
    ep.send, ep.sendto, ep.recv, ep.recvfrom = send, sendto, recv, recvfrom



def unwrap(ep: Endpoint) -> None:
    """The endpoint back on its bare socket: the peer answered without SRTP where it was only offered."""
    ep.srtp = None
    sock = ep.sock
    if sock is not None:
        ep.send, ep.sendto, ep.recv, ep.recvfrom = sock.send, sock.sendto, sock.recv, sock.recvfrom
