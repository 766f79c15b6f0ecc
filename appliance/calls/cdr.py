"""The call detail record (话单) and the missed-call classification, built from a finished call.

One CDR per call, whatever happened inside it: transfers, consultations and supervisor legs are part of the
same record (its `legs` and `transfers`), so nothing is lost when a call is transferred. Missed calls are
classified as the seed's four cases (漏接电话): abandoned in the IVR, queued with no agent to serve it,
offered to an agent who did not answer, abandoned while queued.
"""

from __future__ import annotations

from typing import Any

from appliance.calls.models import Call, Direction

MISSED_IVR_ABANDONED = "ivr_abandoned"
MISSED_NO_AGENT = "no_agent"
MISSED_NOT_ANSWERED = "not_answered"
MISSED_QUEUE_ABANDONED = "queue_abandoned"


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def missed_reasons(call: Call, unanswered_offers: int, left_queue_by: str) -> list[str]:
    """`left_queue_by`: how the call left the queue when no agent took it ("caller", "overflow", "")."""
    if call.direction != Direction.INBOUND or call.agent_answered_at is not None:
        return []
    reasons: list[str] = []
    if call.ivr_exit == "abandoned" and call.queued_at is None:
        reasons.append(MISSED_IVR_ABANDONED)
    if unanswered_offers:
        reasons.append(MISSED_NOT_ANSWERED)
    if call.queued_at is not None:
        if left_queue_by == "caller":
            reasons.append(MISSED_QUEUE_ABANDONED)
        elif left_queue_by == "overflow":
            reasons.append(MISSED_NO_AGENT)
    return reasons


def build_cdr(call: Call, missed: list[str]) -> dict[str, Any]:
    talk = None
    if call.agent_answered_at is not None and call.ended_at is not None:
        talk = call.ended_at - call.agent_answered_at - call.hold_seconds
    wait = None
    if call.queued_at is not None:
        wait = (call.agent_answered_at or call.ended_at or call.queued_at) - call.queued_at
    mos = [leg.mos for leg in call.legs.values() if leg.mos is not None]
    return {
        "call_id": call.id,
        "direction": call.direction.value,
        "caller": call.caller,
        "caller_name": call.caller_name,
        "callee": call.callee,
        "did": call.did,
        "trunk": call.trunk,
        "extension": call.extension,
        "started": _r(call.started_at),
        "answered": _r(call.answered_at),
        "ended": _r(call.ended_at),
        "duration": _r((call.ended_at or call.started_at) - call.started_at),
        "flow": call.flow,
        "ivr_path": list(call.ivr_path),
        "ivr_keys": call.ivr_keys,
        "ivr_exit": call.ivr_exit,
        "queue": call.queue,
        "queued_at": _r(call.queued_at),
        "wait": _r(wait),
        "vip": call.vip,
        "offered_agents": list(call.offered_agents),
        "agent": call.agent,
        "agent_answered": _r(call.agent_answered_at),
        "talk": _r(talk),
        "hold": _r(call.hold_seconds),
        "transfers": list(call.transfers),
        "survey_score": call.survey_score,
        "intended_customer": call.intended_customer,
        "recording": call.recordings[0] if call.recordings else "",
        "recordings": list(call.recordings),
        "voicemail": call.voicemail_id,
        "hangup_side": call.hangup_side,
        "hangup_cause": call.hangup_cause,
        "disposition": call.disposition,
        "missed": missed,
        "mos": min(mos) if mos else None,
        "legs": [
            {"leg": leg_id, "role": s.role.value, "party": s.party, "agent": s.agent_id,
             "created": _r(s.created_at), "answered": _r(s.answered_at), "ended": _r(s.ended_at),
             "cause": s.cause, "mos": s.mos}
            for leg_id, s in call.legs.items()
        ],
        "variables": dict(call.variables),
        "timeline": [list(t) for t in call.timeline],
    }
