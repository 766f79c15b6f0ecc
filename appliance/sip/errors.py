"""Errors of the SIP stack.

Kept apart as in h11: `RemoteProtocolError` — the peer sent something illegal (the core answers it with
`status` when it can and keeps serving); `LocalProtocolError` — we were asked to do something illegal (a bug
in the caller, e.g. answering a leg twice). `SipParseError` is the only exception the parser raises.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from appliance.errors import ApplianceError

if TYPE_CHECKING:
    from appliance.sip.message import SipMessage


class SipError(Exception):
    """Base of everything the SIP package raises on its own."""


class RemoteProtocolError(SipError):
    """The peer sent something that breaks the protocol. `status` is the response code to send, if any."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class SipParseError(RemoteProtocolError):
    """A message could not be parsed or is malformed.

    `message` is what could be recovered before the fault (a request whose Via, From, To, Call-ID and CSeq
    survived can still be answered with `status`); None when even the framing failed.
    """

    def __init__(self, reason: str, status: int = 400, message: SipMessage | None = None) -> None:
        super().__init__(reason, status)
        self.message = message


class LocalProtocolError(SipError):
    """We were asked to do something the protocol or the state of a leg does not allow."""


class UnknownLeg(LocalProtocolError):
    """A command named a leg that does not exist (any more)."""


class SipConfigError(ApplianceError):
    """The SIP configuration cannot be used (bad certificate path, unusable listen address)."""

    def __init__(self, message: str, message_zh: str) -> None:
        super().__init__(message, message_zh, {}, error_id="sip_config", http_status=422)
