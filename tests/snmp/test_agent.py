"""net-snmp's tools against the agent: GET, GETNEXT (walk) and GETBULK over v2c and v3 authPriv, values
checked against the figures the monitor and services hold; wrong credentials and foreign sources get
nothing."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from appliance.calls.events import CallEnded, CallOffered
from appliance.monitoring.metrics import exposition, registry_for
from tests.snmp.conftest import COMMUNITY, ROOT, Box, parse_walk, run, v2c, v3

pytestmark = pytest.mark.interop


async def test_snmpget_v2c_reads_identity_and_system(box: Box) -> None:
    rc, out, err = await run("snmpget", *v2c(box.port), f"{ROOT}.1.1.1.0", f"{ROOT}.1.1.2.0", f"{ROOT}.1.1.3.0",
                             "1.3.6.1.2.1.1.2.0", "1.3.6.1.2.1.1.3.0")
    assert rc == 0, err
    got = parse_walk(out)
    assert got[f"{ROOT}.1.1.1.0"] == 'STRING: "CC-1000"'
    assert got[f"{ROOT}.1.1.2.0"] == 'STRING: "SN-0042"'
    assert got[f"{ROOT}.1.1.3.0"] == 'STRING: "1.2.3"'
    assert got["1.3.6.1.2.1.1.2.0"] == f"OID: .{ROOT}"
    assert got["1.3.6.1.2.1.1.3.0"].startswith("Timeticks:")


def _check_enterprise_walk(box: Box, got: dict[str, str]) -> None:
    s = box.monitor.sample
    assert s is not None
    # identity, health scalars
    assert got[f"{ROOT}.1.1.4.0"].startswith("Timeticks:")
    cpu = int(got[f"{ROOT}.1.2.1.0"].split()[-1])
    assert 0 <= cpu <= 100
    assert int(got[f"{ROOT}.1.2.3.0"].split()[-1]) == round(s.memory_percent)
    assert int(got[f"{ROOT}.1.2.5.0"].split()[-1]) == s.open_files
    assert got[f"{ROOT}.1.2.7.0"] == "Counter32: 7"  # media ticks late, from the media service's health
    # the data partition is row 1
    assert got[f"{ROOT}.1.2.10.1.2.1"] == f'STRING: "{s.disks[0].mount}"'
    assert got[f"{ROOT}.1.2.10.1.6.1"] == "INTEGER: 1"
    assert got[f"{ROOT}.1.2.10.1.5.1"] == f"Gauge32: {round(s.disks[0].percent)}"
    # services, with their status
    services = {got[k]: k.rsplit(".", 1)[1] for k in got if k.startswith(f"{ROOT}.1.3.1.2.")}
    assert {'STRING: "telephony"', 'STRING: "media"', 'STRING: "monitoring"', 'STRING: "snmp"'} <= set(services)
    telephony = services['STRING: "telephony"']
    assert got[f"{ROOT}.1.3.1.3.{telephony}"] == "INTEGER: 1"
    # calls, agents
    assert got[f"{ROOT}.1.4.1.0"] == "Gauge32: 2"
    assert [got[f"{ROOT}.1.6.{i}.0"] for i in (1, 2, 3, 4)] == ["Gauge32: 5", "Gauge32: 3", "Gauge32: 2",
                                                                "Gauge32: 0"]
    # queues: one row per queue, as call control reports them
    assert [got[f"{ROOT}.1.5.1.2.{i}"] for i in (1, 2, 3)] == ['STRING: "q001"', 'STRING: "q002"', 'STRING: "q003"']
    assert got[f"{ROOT}.1.5.1.3.3"] == "Gauge32: 3" and got[f"{ROOT}.1.5.1.4.1"] == "Gauge32: 12"
    assert got[f"{ROOT}.1.5.1.7.1"] == "Gauge32: 100"  # nothing answered late today
    # trunks: the registering one not (yet) registered, the other not required to
    assert got[f"{ROOT}.1.8.1.3.1"] == "INTEGER: 2" and got[f"{ROOT}.1.8.1.3.2"] == "INTEGER: 3"
    # the alarm table matches the monitor's
    active = box.monitor.table.active()
    assert got[f"{ROOT}.1.7.1.0"] == f"Gauge32: {len(active)}"
    for a in box.monitor.table.rows():
        assert got[f"{ROOT}.1.7.2.1.2.{a.id}"] == f'STRING: "{a.name}"'
        assert got[f"{ROOT}.1.7.2.1.8.{a.id}"] == f"Counter32: {a.count}"


async def _raise_some_alarm(box: Box) -> None:
    from appliance.sip.events import TrunkRegistrationChanged

    box.bus.publish(TrunkRegistrationChanged(trunk="carrier", registered=False, status=503))
    box.snmp._built_at = -1e9  # do not wait for the snapshot's second


async def test_snmpwalk_v2c_returns_every_object_with_plausible_values(box: Box) -> None:
    await _raise_some_alarm(box)
    rc, out, err = await run("snmpwalk", *v2c(box.port), ROOT)
    assert rc == 0, err
    got = parse_walk(out)
    assert len(got) > 60 and all(k.startswith(ROOT) for k in got)
    _check_enterprise_walk(box, got)
    assert got[f"{ROOT}.1.8.1.3.1"] == "INTEGER: 2"
    alarm = box.monitor.table.get("trunk_unregistered", "carrier")
    assert alarm is not None
    assert got[f"{ROOT}.1.7.2.1.3.{alarm.id}"] == 'STRING: "carrier"'
    assert got[f"{ROOT}.1.7.2.1.5.{alarm.id}"] == "INTEGER: 1"
    assert got[f"{ROOT}.1.7.2.1.6.{alarm.id}"].startswith("Hex-STRING:")  # DateAndTime without the MIB loaded


async def test_snmpwalk_v3_authpriv_and_bulkwalk_agree(box: Box) -> None:
    rc, out, err = await run("snmpwalk", *v3(box.port), ROOT)
    assert rc == 0, err
    walked = parse_walk(out)
    _check_enterprise_walk(box, walked)
    rc, out, err = await run("snmpbulkwalk", *v2c(box.port), "-Cr50", ROOT)
    assert rc == 0, err
    bulk = parse_walk(out)
    assert set(bulk) == set(walked)
    rc, out, err = await run("snmpbulkwalk", *v3(box.port), "-Cr50", "1.3.6.1.2.1")
    assert rc == 0, err
    mib2 = parse_walk(out)
    assert mib2["1.3.6.1.2.1.2.2.1.2.1"] == 'STRING: "lo"'  # ifTable: the loopback is interface 1
    assert int(mib2["1.3.6.1.2.1.2.1.0"].split()[-1]) >= 1


async def test_wrong_community_and_wrong_v3_password_get_nothing(box: Box) -> None:
    rc, out, _ = await run("snmpget", *v2c(box.port, "public"), f"{ROOT}.1.1.1.0")
    assert rc != 0 and "STRING" not in out
    rc, out, err = await run("snmpget", *v3(box.port, auth="wrong-pass-0000"), f"{ROOT}.1.1.1.0")
    assert rc != 0 and "STRING" not in out
    assert "Authentication failure" in err or "Timeout" in err
    rc, out, _ = await run("snmpget", *v3(box.port, priv="wrong-priv-0000"), f"{ROOT}.1.1.1.0")
    assert rc != 0 and "STRING" not in out


async def test_writes_are_refused(box: Box) -> None:
    rc, _, _ = await run("snmpset", *v2c(box.port), f"{ROOT}.1.1.1.0", "s", "hacked")
    assert rc != 0
    rc, out, _ = await run("snmpget", *v2c(box.port), f"{ROOT}.1.1.1.0")
    assert '"CC-1000"' in out


@pytest.mark.parametrize("snmp_extra", [{"allowed_networks": ["10.0.0.0/8"]}])
async def test_a_source_outside_the_allowed_networks_gets_nothing(box: Box) -> None:
    rc, out, err = await run("snmpget", *v2c(box.port), f"{ROOT}.1.1.1.0")
    assert rc != 0 and "Timeout" in err and out == ""
    assert box.snmp.agent is not None and box.snmp.agent.dropped >= 1


async def test_every_object_of_the_mib_is_served_with_its_syntax(box: Box) -> None:
    """Walked with the MIB loaded: every read-only object has an instance, and net-snmp finds no value of the
    wrong type (it prints "Wrong Type" when the agent's type differs from the MIB's syntax)."""
    import re

    from appliance.snmp.mib import MIB_DIR, MIB_NAME

    await _raise_some_alarm(box)
    text = (MIB_DIR / f"{MIB_NAME}.txt").read_text()
    read_only = set(re.findall(r"^(\w+) OBJECT-TYPE\s+SYNTAX[^:]*?MAX-ACCESS\s+read-only", text, re.M | re.S))
    assert len(read_only) > 40
    rc, out, err = await run("snmpwalk", "-v2c", "-c", COMMUNITY, "-M", str(MIB_DIR), "-m", MIB_NAME, "-OS",
                             f"udp:127.0.0.1:{box.port}", ROOT)
    assert rc == 0, err
    assert "Wrong Type" not in out, [line for line in out.splitlines() if "Wrong Type" in line]
    walked = {line.split("::", 1)[1].split(".", 1)[0] for line in out.splitlines() if "::" in line}
    assert read_only <= walked, read_only - walked


@pytest.mark.parametrize("snmp_extra", [{"communities": [{"name": "lab-only-community", "networks": ["10.9.0.0/16"]},
                                                        COMMUNITY]}])
async def test_a_community_limited_to_another_network_gets_nothing_here(box: Box) -> None:
    rc, out, err = await run("snmpget", *v2c(box.port, "lab-only-community"), f"{ROOT}.1.1.1.0")
    assert rc != 0 and "Timeout" in err and out == ""
    rc, out, _ = await run("snmpget", *v2c(box.port), f"{ROOT}.1.1.1.0")
    assert rc == 0 and '"CC-1000"' in out  # the other community, unrestricted, still works


@pytest.mark.parametrize("snmp_extra", [{"users": [{"name": "noc", "auth_key": "auth-pass-1234",
                                                    "priv_key": "priv-pass-5678", "networks": ["10.9.0.0/16"]}]}])
async def test_a_v3_user_limited_to_another_network_gets_nothing_here(box: Box) -> None:
    rc, out, _ = await run("snmpget", *v3(box.port), f"{ROOT}.1.1.1.0")
    assert rc != 0 and out == ""


async def test_the_trunk_table_counts_calls_on_each_trunk(box: Box) -> None:
    for n in (1, 2):
        box.bus.publish(CallOffered(call_id=f"c{n}", direction="inbound", caller="02150001234", caller_name="",
                                    callee="8000", trunk="carrier", leg_kind="sip"))
    box.bus.publish(CallEnded(call_id="c1", agent="", disposition="answered", hangup_side="caller",
                              hangup_cause="normal_clearing", duration=30.0, cdr={"trunk": "carrier"}))
    box.snmp._built_at = -1e9  # (rows are rebuilt at most once a second: read the new figures now)
    entry = f"{ROOT}.1.8.1"
    rc, out, err = await run("snmpwalk", *v2c(box.port), entry)
    assert rc == 0, err
    got = parse_walk(out)
    assert got[f"{entry}.2.1"] == 'STRING: "carrier"'
    assert (got[f"{entry}.4.1"], got[f"{entry}.5.1"]) == ("Gauge32: 1", "Gauge32: 1")  # one still up, one ended
    assert (got[f"{entry}.4.2"], got[f"{entry}.5.2"]) == ("Gauge32: 0", "Gauge32: 0")  # pbx


async def test_the_card_tables_and_their_metrics_agree(box: Box) -> None:
    """The span, channel and port tables (from the hardware status view) and the same figures in /metrics."""
    got: dict[str, str] = {}
    for table in (10, 11, 12):
        rc, out, err = await run("snmpwalk", *v2c(box.port), f"{ROOT}.1.{table}")
        assert rc == 0, err
        got |= parse_walk(out)
    span, channel, port = f"{ROOT}.1.10.1", f"{ROOT}.1.11.1", f"{ROOT}.1.12.1"
    assert got[f"{span}.2.1"] == 'STRING: "E1-0001"' and got[f"{span}.3.1"] == 'STRING: "pri1"'
    assert (got[f"{span}.4.1"], got[f"{span}.5.1"], got[f"{span}.6.1"]) == ("INTEGER: 2", "INTEGER: 4", 'STRING: "los"')
    assert (got[f"{span}.7.1"], got[f"{span}.9.1"], got[f"{span}.12.1"]) == ("Gauge32: 1", "Counter32: 12",
                                                                              "Counter32: 40")
    channels = {k.removeprefix(f"{channel}.2.1."): v for k, v in got.items() if k.startswith(f"{channel}.2.1.")}
    assert len(channels) == 30 and channels["1"] == "INTEGER: 2" and channels["2"] == "INTEGER: 1"
    assert (got[f"{port}.2.1"], got[f"{port}.3.1"], got[f"{port}.4.1"]) == ("INTEGER: 1", "INTEGER: 5", 'STRING: "pstn"')
    assert (got[f"{port}.2.2"], got[f"{port}.4.2"], got[f"{port}.5.2"]) == ("INTEGER: 2", 'STRING: "1009"',
                                                                            "Counter32: 5")

    text = exposition(registry_for(box.monitor, lambda: [])).decode()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(text) for s in f.samples}
    key = (("span", "1"), ("trunk", "pri1"))
    assert samples[("appliance_span_alarm_state", key)] == 4.0
    assert samples[("appliance_span_d_channel_up", key)] == 0.0
    assert samples[("appliance_span_channels_in_use", key)] == 1.0
    assert samples[("appliance_span_errors_total", (("counter", "crc4_errors"), *key))] == 12.0
    assert samples[("appliance_port_state", (("kind", "fxo"), ("port", "1")))] == 5.0
