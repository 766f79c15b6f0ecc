"""Why a leg ended or was refused: ITU-T Q.850 cause values, the one vocabulary of every kind of leg.

PRI carries these natively (Q.931 §4.5.12); SIP maps them to and from status codes at its edge (RFC 3398 §7.2
and §8.2.6.1, RFC 4497 for the reverse direction); analog ports map tones and loop events to them (busy tone →
USER_BUSY, a loop-current drop → NORMAL_CLEARING). Call control only ever sees a `Cause`.
"""

from __future__ import annotations

import enum


class Cause(enum.IntEnum):
    """Q.850 Table 1 (the values call control and the drivers use)."""

    UNALLOCATED_NUMBER = 1
    NO_ROUTE_TO_NETWORK = 2
    NO_ROUTE_TO_DESTINATION = 3
    CHANNEL_UNACCEPTABLE = 6
    NORMAL_CLEARING = 16
    USER_BUSY = 17
    NO_USER_RESPONDING = 18
    NO_ANSWER = 19  # user alerted, no answer
    SUBSCRIBER_ABSENT = 20  # e.g. a phone that is not registered
    CALL_REJECTED = 21
    NUMBER_CHANGED = 22
    EXCHANGE_ROUTING_ERROR = 25
    NON_SELECTED_USER_CLEARING = 26  # another phone of a ring-all group answered
    DESTINATION_OUT_OF_ORDER = 27
    INVALID_NUMBER_FORMAT = 28
    FACILITY_REJECTED = 29
    NORMAL_UNSPECIFIED = 31
    NO_CIRCUIT_AVAILABLE = 34
    NETWORK_OUT_OF_ORDER = 38
    TEMPORARY_FAILURE = 41
    SWITCHING_EQUIPMENT_CONGESTION = 42
    REQUESTED_CHANNEL_UNAVAILABLE = 44
    RESOURCE_UNAVAILABLE = 47
    INCOMING_CALL_BARRED = 54
    OUTGOING_CALL_BARRED = 53  # the caller may not dial that number (dial permissions)
    BEARER_CAPABILITY_NOT_AUTHORIZED = 57
    BEARER_CAPABILITY_NOT_AVAILABLE = 58
    SERVICE_UNAVAILABLE = 63
    BEARER_CAPABILITY_NOT_IMPLEMENTED = 65
    FACILITY_NOT_IMPLEMENTED = 69
    SERVICE_NOT_IMPLEMENTED = 79
    INVALID_CALL_REFERENCE = 81
    INCOMPATIBLE_DESTINATION = 88  # no codec or bearer in common
    INVALID_MESSAGE = 95
    MANDATORY_IE_MISSING = 96
    MESSAGE_TYPE_NONEXISTENT = 97
    IE_NONEXISTENT = 99
    INVALID_IE_CONTENTS = 100
    MESSAGE_NOT_COMPATIBLE_WITH_STATE = 101
    RECOVERY_ON_TIMER_EXPIRY = 102
    PROTOCOL_ERROR = 111
    INTERWORKING = 127

    @property
    def slug(self) -> str:
        """The cause as a lower-case word, as CDRs and events carry it ("user_busy")."""
        return self.name.lower()
