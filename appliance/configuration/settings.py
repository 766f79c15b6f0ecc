"""The box's global settings: one typed record, validated at the API edge and kept in the configuration store.

Read elsewhere by key from `ConfigStore.settings` (`sip_realm` by SIP, `crm_vip_*` by the ACD's
configuration, `time_zone` and `language` by the web UI); this is where they are checked and changed.
Settings the first-boot set-up and the network own (host name, addresses) are not here.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Annotated, Any, Literal
from zoneinfo import available_timezones

from pydantic import Field

from appliance.domain.validation import dump, parse
from appliance.errors import FieldError, ValidationFailed
from appliance.store.migrations import DEFAULT_REALM

HttpUrl = Annotated[str, Field(max_length=500, pattern=r"^(https?://\S+)?$")]


@dataclass(frozen=True, slots=True)
class GlobalSettings:
    sip_realm: Annotated[str, Field(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9.-]+$")] = DEFAULT_REALM
    time_zone: Annotated[str, Field(min_length=1, max_length=64)] = "Asia/Shanghai"
    language: Literal["zh_CN", "en"] = "zh_CN"  # the default for pages and prompts; each user may choose
    crm_vip_url: HttpUrl = ""  # 第三方VIP: asked whether a caller is a VIP; empty: no CRM
    crm_vip_timeout_s: Annotated[float, Field(ge=0.1, le=10.0)] = 1.5
    crm_customer_url: HttpUrl = ""  # the screen pop also asks this CRM for the caller (appliance.customers.external)
    crm_customer_timeout_s: Annotated[float, Field(ge=0.1, le=5.0)] = 1.0
    # after a restart, agents come back logged out, or in the state they were in (appliance.acd.restore)
    agents_after_restart: Literal["logged_out", "last_state"] = "logged_out"


SETTING_NAMES = tuple(f.name for f in fields(GlobalSettings))


def current(stored: dict[str, Any]) -> GlobalSettings:
    """The settings as stored, each unknown or unreadable one at its default (a bad value never stops a box)."""
    values: dict[str, Any] = {}
    for name in SETTING_NAMES:
        if name in stored:
            try:
                parse(GlobalSettings, {name: stored[name]})
            except ValidationFailed:
                continue
            values[name] = stored[name]
    return parse(GlobalSettings, values)


def merged(stored: dict[str, Any], change: Any) -> GlobalSettings:
    """`change` (a JSON object with some settings) applied to the stored ones, or the fields it breaks."""
    if not isinstance(change, dict):
        raise ValidationFailed([FieldError("(body)", "type", "the body must be a JSON object", "请求体应为 JSON 对象")])
    unknown = sorted(set(change) - set(SETTING_NAMES))
    if unknown:
        raise ValidationFailed([FieldError(n, "unknown", f"{n}: no such setting", f"{n}: 没有此设置") for n in unknown])
    result = parse(GlobalSettings, {**dump(GlobalSettings, current(stored)), **change}, "settings")
    if result.time_zone not in available_timezones():
        raise ValidationFailed([FieldError("time_zone", "choice", "time_zone: not a known time zone (e.g. Asia/Shanghai)",
                                           "time_zone: 未知时区(例如 Asia/Shanghai)")], "settings")
    return result
