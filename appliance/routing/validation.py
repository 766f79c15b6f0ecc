"""Routing configuration checks: formats (times, dates, time zones) and references (schedules, flows,
queues, extensions, voicemail boxes, prompts), each error with English and Chinese text naming the item."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import TypeAdapter
from pydantic import ValidationError as PydanticError

from appliance.errors import FieldError, ValidationFailed
from appliance.routing.models import Destination, RoutingConfig, Schedule
from appliance.routing.router import national_number
from appliance.routing.schedule import MAX_HOLIDAY_SPAN_DAYS, parse_minutes


def routing_from_data(data: Any) -> RoutingConfig:
    try:
        return TypeAdapter(RoutingConfig).validate_python(data)
    except PydanticError as exc:
        errors = []
        for e in exc.errors():
            path = ".".join(str(p) for p in e["loc"]) or "routing"
            errors.append(FieldError(path, e["type"], f"{path}: {e['msg']}", f"{path}: 取值无效"))
        raise ValidationFailed(errors, what="routing") from None


def _date(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def validate_schedule(schedule: Schedule, base: str) -> list[FieldError]:
    out: list[FieldError] = []
    name = schedule.name

    def add(path: str, rule: str, en: str, zh: str) -> None:
        out.append(FieldError(f"{base}.{path}", rule, f"schedule '{name}': {en}", f"时间表 '{name}': {zh}"))

    try:
        ZoneInfo(schedule.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        add("timezone", "unknown_timezone", f"unknown time zone {schedule.timezone!r}",
            f"未知时区 {schedule.timezone!r}")
    for i, day in enumerate(schedule.work_days):
        if not 1 <= day <= 7:
            add(f"work_days.{i}", "range", "weekdays are 1 (Monday) to 7 (Sunday)", "星期取值为 1(周一)到 7(周日)")
    for field, ranges in (("work_hours", schedule.work_hours),
                          ("special_workday_hours", schedule.special_workday_hours)):
        for i, r in enumerate(ranges):
            try:
                if parse_minutes(r.start) >= parse_minutes(r.end):
                    add(f"{field}.{i}", "range", f"{r.start}-{r.end} ends before it starts",
                        f"{r.start}-{r.end} 结束时间早于开始时间")
            except ValueError:
                add(f"{field}.{i}", "invalid_time", f"{r.start}-{r.end} is not HH:MM-HH:MM",
                    f"{r.start}-{r.end} 不是 HH:MM-HH:MM 格式")
    holidays: set[date] = set()
    for i, h in enumerate(schedule.holidays):
        first, last = _date(h.date), _date(h.end_date) if h.end_date else _date(h.date)
        if first is None or last is None:
            add(f"holidays.{i}", "invalid_date", f"holiday {h.date} {h.end_date} is not YYYY-MM-DD",
                f"节假日 {h.date} {h.end_date} 不是 YYYY-MM-DD 格式")
            continue
        if not 0 <= (last - first).days <= MAX_HOLIDAY_SPAN_DAYS:
            add(f"holidays.{i}.end_date", "range", f"holiday {h.date}..{h.end_date} is not a valid range",
                f"节假日 {h.date}..{h.end_date} 日期范围无效")
            continue
        holidays.update(date.fromordinal(first.toordinal() + n) for n in range((last - first).days + 1))
    for i, s in enumerate(schedule.special_workdays):
        d = _date(s.date)
        if d is None:
            add(f"special_workdays.{i}", "invalid_date", f"special working day {s.date} is not YYYY-MM-DD",
                f"特殊工作日 {s.date} 不是 YYYY-MM-DD 格式")
        elif d in holidays:
            add(f"special_workdays.{i}", "conflict", f"{s.date} is both a holiday and a special working day",
                f"{s.date} 同时被设为节假日和特殊工作日")
    return out


def validate_routing(
    config: RoutingConfig,
    known_flows: Collection[str] | None = None,
    known_queues: Collection[str] | None = None,
    known_extensions: Collection[str] | None = None,
    known_voicemail_boxes: Collection[str] | None = None,
    known_prompts: Collection[str] | None = None,
) -> list[FieldError]:
    out: list[FieldError] = []
    schedule_names: set[str] = set()
    for i, schedule in enumerate(config.schedules):
        if schedule.name in schedule_names:
            out.append(FieldError(f"schedules.{i}.name", "duplicate", f"schedule '{schedule.name}' is defined twice",
                                  f"时间表 '{schedule.name}' 重复"))
        schedule_names.add(schedule.name)
        out += validate_schedule(schedule, f"schedules.{i}")

    def check(path: str, owner_en: str, owner_zh: str, dest: Destination) -> None:
        known = {"flow": known_flows, "queue": known_queues, "extension": known_extensions,
                 "voicemail": known_voicemail_boxes, "prompt": known_prompts}.get(dest.kind)
        names_zh = {"flow": "流程", "queue": "队列", "extension": "分机", "voicemail": "语音信箱", "prompt": "语音文件",
                    "external": "外部号码"}
        if dest.kind != "hangup" and not dest.target:
            out.append(FieldError(f"{path}.target", "required", f"{owner_en}: the {dest.kind} is not set",
                                  f"{owner_zh}: 未设置{names_zh.get(dest.kind, '')}"))
        elif known is not None and dest.target not in known:
            out.append(FieldError(f"{path}.target", f"unknown_{dest.kind}",
                                  f"{owner_en}: {dest.kind} '{dest.target}' does not exist",
                                  f"{owner_zh}: {names_zh[dest.kind]} '{dest.target}' 不存在"))

    numbers: set[str] = set()
    for i, access in enumerate(config.access_numbers):
        en, zh = f"access number '{access.number}'", f"接入号 '{access.number}'"
        number = national_number(access.number)
        if not number.lstrip("+"):
            out.append(FieldError(f"access_numbers.{i}.number", "required", f"{en}: not a number", f"{zh}: 不是号码"))
        if number in numbers:
            out.append(FieldError(f"access_numbers.{i}.number", "duplicate", f"{en} is defined twice",
                                  f"{zh} 重复"))
        numbers.add(number)
        if access.schedule not in schedule_names:
            out.append(FieldError(f"access_numbers.{i}.schedule", "unknown_schedule",
                                  f"{en}: schedule '{access.schedule}' does not exist",
                                  f"{zh}: 时间表 '{access.schedule}' 不存在"))
        periods: set[str] = set()
        for r, route in enumerate(access.routes):
            if route.period in periods:
                out.append(FieldError(f"access_numbers.{i}.routes.{r}.period", "duplicate",
                                      f"{en}: period {route.period} has two routes", f"{zh}: 时间段 {route.period} 重复"))
            periods.add(route.period)
            check(f"access_numbers.{i}.routes.{r}.destination", en, zh, route.destination)
        check(f"access_numbers.{i}.default", en, zh, access.default)
    check("unknown_did", "unknown access numbers", "未配置的接入号", config.unknown_did)
    treatment = config.blacklist_treatment
    if treatment.action == "flow" and known_flows is not None and treatment.flow not in known_flows:
        out.append(FieldError("blacklist_treatment.flow", "unknown_flow",
                              f"blacklist treatment: flow '{treatment.flow}' does not exist",
                              f"黑名单处理: 流程 '{treatment.flow}' 不存在"))
    if treatment.action == "prompt" and known_prompts is not None and treatment.prompt not in known_prompts:
        out.append(FieldError("blacklist_treatment.prompt", "unknown_prompt",
                              f"blacklist treatment: prompt '{treatment.prompt}' does not exist",
                              f"黑名单处理: 语音文件 '{treatment.prompt}' 不存在"))
    return out
