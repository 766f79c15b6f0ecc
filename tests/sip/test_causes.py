"""SIP status ↔ Q.850 cause at the SIP edge of the leg seam, against the tables of RFC 3398 (§7.2.4.1 for the
responses we send, §8.2.6.1 for the responses we receive) and Q.1912.5's rule for a user's rejection."""

from __future__ import annotations

import pytest

from appliance.legs.causes import Cause
from appliance.sip.causes import cause_from_status, status_from_cause

# Rows of RFC 3398 §8.2.6.1 "SIP response → ISUP cause".
RFC3398_RECEIVED = [
    (400, 41), (401, 21), (402, 21), (403, 21), (404, 1), (405, 63), (406, 79), (407, 21), (408, 102),
    (410, 22), (413, 127), (414, 127), (415, 79), (416, 127), (420, 127), (421, 127), (423, 127), (480, 18),
    (481, 41), (482, 25), (483, 25), (484, 28), (485, 1), (486, 17), (487, 127), (488, 127), (500, 41),
    (501, 79), (502, 38), (503, 41), (504, 102), (505, 127), (513, 127), (600, 17), (603, 21), (604, 1),
    (606, 58),
]

# Rows of RFC 3398 §7.2.4.1 "ISUP cause → SIP response" (21 is the user's rejection: 603, Q.1912.5 §6.11).
RFC3398_SENT = [
    (1, 404), (2, 404), (3, 404), (17, 486), (18, 408), (19, 480), (20, 480), (21, 603), (22, 410), (26, 404),
    (27, 502), (28, 484), (29, 501), (31, 480), (34, 503), (38, 503), (41, 503), (42, 503), (47, 503),
    (57, 403), (58, 503), (65, 488), (79, 501), (102, 504), (111, 500), (127, 500),
]


@pytest.mark.parametrize(("status", "cause"), RFC3398_RECEIVED)
def test_a_failure_response_received_maps_to_the_rfc_3398_cause(status: int, cause: int) -> None:
    assert cause_from_status(status) == cause


@pytest.mark.parametrize(("cause", "status"), RFC3398_SENT)
def test_a_refusal_is_sent_with_the_rfc_3398_status(cause: int, status: int) -> None:
    assert status_from_cause(Cause(cause)) == status


def test_causes_the_table_does_not_name_fall_back_by_class() -> None:
    assert cause_from_status(499) == Cause.INTERWORKING  # an unknown response: interworking
    assert status_from_cause(Cause.NORMAL_CLEARING) == 480  # normal class (1-31): temporarily unavailable
    assert status_from_cause(Cause.MESSAGE_TYPE_NONEXISTENT) == 500  # the others: server error


def test_what_the_box_refuses_with_reaches_phones_as_before() -> None:
    # dial permissions, unknown numbers, no codec in common, blacklist, unknown dialog in a REFER
    assert status_from_cause(Cause.OUTGOING_CALL_BARRED) == 403
    assert status_from_cause(Cause.UNALLOCATED_NUMBER) == 404
    assert status_from_cause(Cause.BEARER_CAPABILITY_NOT_IMPLEMENTED) == 488
    assert status_from_cause(cause_from_status(603)) == 603
    assert status_from_cause(Cause.INVALID_CALL_REFERENCE) == 481
