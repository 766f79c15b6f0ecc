"""Routes for the toll-fraud guards' setting (`toll_fraud`): read it, change some limits, audited.

The guards themselves are in `toll_fraud.py` and read the setting for each call out, so a change applies to
the next call without a restart.
"""

from __future__ import annotations

from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from appliance.auth.models import WRITE_CONFIG
from appliance.calls.toll_fraud import SETTING, OutboundPolicy, policy_of
from appliance.configuration.service import Actor, ConfigService
from appliance.errors import FieldError, ValidationFailed
from appliance.http_api import Api, body_of, ok, session_of, source_of


def make_blueprint(api: Api, config: ConfigService) -> Blueprint:
    bp = Blueprint("toll_fraud", url_prefix="")

    async def get_policy(request: Request) -> HTTPResponse:
        return ok(policy_of(config.store.settings).to_dict())

    async def change_policy(request: Request) -> HTTPResponse:
        change = body_of(request)
        if not isinstance(change, dict):
            raise ValidationFailed([FieldError("(body)", "type", "the body must be a JSON object",
                                               "请求体应为 JSON 对象")])
        before = policy_of(config.store.settings).to_dict()
        after = OutboundPolicy.parse({**before, **change}).to_dict()
        s = session_of(request)
        await config.replace_setting(SETTING, before, after, Actor(s.user, source_of(request)))
        return ok(after)

    limit = {"type": "integer", "minimum": 0, "maximum": 100_000}
    properties: dict[str, Any] = {name: limit for name in OutboundPolicy().to_dict() if name != "hours"}
    properties["hours"] = {"type": "object", "description": "dial class → [from, to) local hours",
                           "additionalProperties": {"type": "array", "items": {"type": "integer"}}}
    policy = {"type": "object", "required": sorted(properties), "properties": properties}
    api.route(bp, "GET", "/api/v1/security/toll-fraud", get_policy,
              summary="Toll-fraud guards on calls out: concurrent and per-minute limits, allowed hours per dial "
                      "class, the burst alarm (0: no limit)",
              tag="security", operation_id="get_toll_fraud_policy", roles=WRITE_CONFIG, response=policy)
    api.route(bp, "PATCH", "/api/v1/security/toll-fraud", change_policy,
              summary="Change some toll-fraud limits (each checked; applies to the next call); audited",
              tag="security", operation_id="set_toll_fraud_policy", roles=WRITE_CONFIG,
              request={"type": "object", "properties": properties}, response=policy, errors=(400, 422))
    return bp
