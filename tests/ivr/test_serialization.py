"""Flow JSON import/export and its schema."""

from __future__ import annotations

import json

import pytest

from appliance.errors import ValidationFailed
from appliance.ivr.demo import demo_flows, main_flow
from appliance.ivr.models import MenuNode
from appliance.ivr.serialization import (
    export_flows,
    flow_from_data,
    flow_from_json,
    flow_json_schema,
    flow_to_data,
    flow_to_json,
    import_flows,
)


def test_round_trip_of_demo_flows() -> None:
    for flow in demo_flows():
        assert flow_from_json(flow_to_json(flow)) == flow
    assert import_flows(export_flows(demo_flows())) == list(demo_flows())


def test_json_is_plain_and_tagged() -> None:
    data = flow_to_data(main_flow())
    menu = next(n for n in data["nodes"] if n["id"] == "menu")
    assert menu["kind"] == "menu"
    assert menu["options"][0] == {"digit": "1", "next": "to_sales"}
    json.dumps(data)  # nothing but JSON types


def test_schema_describes_every_node_kind() -> None:
    schema = flow_json_schema()
    kinds = set()
    for definition in schema["$defs"].values():
        kind = definition.get("properties", {}).get("kind", {})
        if "const" in kind:
            kinds.add(kind["const"])
    assert kinds == {
        "play", "menu", "collect", "queue", "extension", "voicemail", "external", "goto_flow", "back_to_parent",
        "back_to_top", "hangup", "set_variable", "condition", "http", "language", "survey", "callback",
    }
    assert set(schema["required"]) == {"name", "start", "nodes"}


def test_bad_input_names_fields_in_both_languages() -> None:
    with pytest.raises(ValidationFailed) as info:
        flow_from_data(
            {
                "name": "x",
                "start": "a",
                "nodes": [{"id": "a", "kind": "teleport"}, {"id": "b", "kind": "queue"}, {"kind": "menu",
                                                                                           "id": "m",
                                                                                           "max_retries": "lots"}],
            }
        )
    fields = {e.field: e for e in info.value.errors}
    assert fields["nodes.0"].message_zh.endswith("未知的节点类型")
    assert fields["nodes.1.queue"].rule == "missing"
    assert fields["nodes.1.queue"].message_zh.endswith("缺少必填项")
    assert fields["nodes.2.max_retries"].rule == "int_parsing"


def test_lists_become_tuples_and_defaults_fill_in() -> None:
    flow = flow_from_data(
        {"name": "x", "start": "m", "nodes": [{"id": "m", "kind": "menu", "options": [{"digit": "1", "next": "m"}]}]}
    )
    menu = flow.nodes[0]
    assert isinstance(menu, MenuNode)
    assert isinstance(menu.options, tuple) and menu.max_retries == 2


def test_import_rejects_foreign_documents() -> None:
    for text in ("not json", json.dumps({"flows": []}), json.dumps([1, 2])):
        with pytest.raises(ValidationFailed):
            import_flows(text)
    bad = json.dumps({"format": "callcenter-ivr-flows", "version": 1, "flows": [{"name": "x"}]})
    with pytest.raises(ValidationFailed) as info:
        import_flows(bad)
    assert {e.field for e in info.value.errors} == {"flows.0.start", "flows.0.nodes"}
