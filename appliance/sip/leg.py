"""The call-control-facing leg interface.

Call control owns legs behind this one protocol: SIP legs now (`appliance.sip.service.SipLeg`), E1/PRI
B-channels and FXO ports later. Media is described by SDP bytes on every kind of leg (a TDM leg describes its
channel as an SDP too), so call control hands the media engine one format. Outcomes come back as events keyed
by `leg_id` (for SIP: `appliance.sip.events` LegProgress, LegAnswered, LegEnded, LegMediaChanged,
DtmfReceived, TransferRequested, TransferProgress).
"""

from __future__ import annotations

from typing import Protocol


class CallLeg(Protocol):
    @property
    def leg_id(self) -> str: ...

    @property
    def kind(self) -> str:
        """"sip", "pri", "fxo"..."""

    def progress(self, sdp: bytes | None = None) -> None:
        """Ringing (no SDP) or early media (with SDP) on an inbound leg."""

    def answer(self, sdp: bytes) -> None: ...

    def reject(self, status: int) -> None:
        """Refuse an inbound leg; `status` is a SIP code (TDM legs map it to a Q.850 cause)."""

    def hangup(self) -> None: ...

    def hold(self) -> None: ...

    def unhold(self) -> None: ...

    def send_dtmf(self, digit: str, duration_ms: int = 160) -> None: ...

    def transfer(self, target: str, replaces_leg: str | None = None) -> None:
        """Ask the far end to call `target` (blind) or to replace our other leg (attended)."""

    def transfer_progress(self, status: int) -> None:
        """Report progress of a transfer the far end requested (SIP: NOTIFY sipfrag)."""
