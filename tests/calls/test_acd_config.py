"""The stored demo configuration drives the real ACD engine."""

from __future__ import annotations

import dataclasses

from appliance.acd import actions as A
from appliance.acd import commands as C
from appliance.acd.engine import AcdEngine
from appliance.acd.models import AgentKind, Modifier, OverflowKind
from appliance.calls.acd_config import acd_config
from appliance.clock import ManualClock
from appliance.demo import demo_entities
from appliance.domain import models as m


def demo() -> tuple[dict[str, list[object]], dict[str, object]]:
    entities = demo_entities("appliance", {"extensions": {}, "pins": {}})
    return entities, {"min_busy_s": 30}  # type: ignore[return-value]


def test_demo_queues_and_agents_map_onto_the_engine() -> None:
    entities, settings = demo()
    config = acd_config(entities, settings)  # type: ignore[arg-type]
    queues = {q.id: q for q in config.queues}
    assert set(queues) == {"sales", "support"}
    assert queues["sales"].required_skills[0].skill == "sales"
    assert queues["sales"].on_max_wait.kind == OverflowKind.VOICEMAIL
    assert queues["sales"].ring_timeout == 15.0
    agents = {a.id: a for a in config.agents}
    assert set(agents) == {"1001", "1002", "1003", "1004", "1005", "1901"}
    assert agents["1003"].queues == ("sales", "support")
    assert agents["1901"].kind == AgentKind.SUPERVISOR
    assert config.settings.min_busy == 30.0
    assert [r.code for r in config.settings.pause_reasons] == ["1", "2", "3", "4"]


def test_a_call_to_sales_is_offered_to_a_logged_in_sales_agent() -> None:
    entities, settings = demo()
    clock = ManualClock()
    engine = AcdEngine(acd_config(entities, settings), clock=clock)  # type: ignore[arg-type]
    engine.handle(C.AgentLoggedIn(agent_id="1004"))  # support only
    engine.handle(C.AgentLoggedIn(agent_id="1002"))  # sales
    actions = engine.handle(C.CallArrived(call_id="c1", queue_id="sales", caller="13800138000"))
    offers = [a for a in actions if isinstance(a, A.OfferCall)]
    assert [(o.agent_id, o.ring_timeout) for o in offers] == [("1002", 15.0)]


def test_left_staff_and_vip_lists_are_mapped() -> None:
    entities, settings = demo()
    staff: list[m.Staff] = entities["staff"]  # type: ignore[assignment]
    entities["staff"] = [
        dataclasses.replace(s, status=m.StaffStatus.LEFT) if s.employee_no == "1001" else s for s in staff
    ]
    entities["vip_list"] = [m.VipEntry(number="13900000000"), m.VipEntry(number="13700000000", queues=("sales",))]
    queues: list[m.Queue] = entities["queues"]  # type: ignore[assignment]
    entities["queues"] = [dataclasses.replace(queues[0], modifiers=(Modifier.LOCALITY,)), queues[1]]
    config = acd_config(entities, settings)  # type: ignore[arg-type]
    assert "1001" not in {a.id for a in config.agents}
    assert config.settings.vip_numbers == ("13900000000",)
    sales = next(x for x in config.queues if x.id == "sales")
    assert sales.vip_numbers == ("13700000000",) and sales.modifiers == (Modifier.LOCALITY,)
