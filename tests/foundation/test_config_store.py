"""The configuration store: durable, atomic, migrating, refusing to open a corrupt file."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.domain import models as m
from appliance.domain.kinds import all_kinds
from appliance.errors import Conflict, Forbidden, ValidationFailed
from appliance.security.passwords import sip_ha1
from appliance.store.config_store import ConfigStore, check_integrity, restore_last_good
from appliance.store.errors import SchemaTooNew, StoreCorrupt
from appliance.store.migrations import SCHEMA_VERSION

FIXTURES = Path(__file__).parent / "fixtures"
ROOT = Path(__file__).resolve().parents[2]


def open_store(path: Path) -> ConfigStore:
    return ConfigStore.open(path, all_kinds())


async def test_writes_survive_reopen(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    await store.create("skills", m.Skill(id="sales", name="Sales"))
    await store.create("queues", m.Queue(id="q1", name="Q1", required_skill="sales"))
    await store.update("queues", m.Queue(id="q1", name="Queue one", required_skill="sales"))
    store.close()
    again = open_store(tmp_path)
    assert again.get("queues", "q1").name == "Queue one"
    assert again.get("queues", "q1").required_skill == "sales"


async def test_reference_to_missing_entity_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    before = store.path.read_bytes()
    with pytest.raises(ValidationFailed) as err:
        await store.create("queues", m.Queue(id="q1", name="Q1", required_skill="nope"))
    assert err.value.errors[0].field == "required_skill"
    assert err.value.errors[0].rule == "reference"
    assert store.find("queues", "q1") is None
    assert store.path.read_bytes() == before


async def test_delete_in_use_is_refused(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    await store.create("skills", m.Skill(id="sales", name="Sales"))
    await store.create("queues", m.Queue(id="q1", name="Q1", required_skill="sales"))
    with pytest.raises(Conflict) as err:
        await store.delete("skills", "sales")
    assert "queues/q1" in err.value.details["used_by"]
    await store.delete("queues", "q1")
    await store.delete("skills", "sales")
    assert store.list("skills") == []


async def test_staff_cannot_be_deleted(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    await store.create("staff", m.Staff(employee_no="1", name="A"))
    with pytest.raises(Forbidden):
        await store.delete("staff", "1")
    assert store.find("staff", "1") is not None


async def test_duplicate_key_is_a_conflict(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    await store.create("skills", m.Skill(id="sales", name="Sales"))
    with pytest.raises(Conflict):
        await store.create("skills", m.Skill(id="sales", name="Other"))
    assert store.get("skills", "sales").name == "Sales"


def test_migrations_run_forward_from_a_v1_file(tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "config-v1.json", tmp_path / "config.json")
    store = open_store(tmp_path)
    staff = store.get("staff", "2001")
    assert staff.skills == (m.SkillLevel(skill="sales", level=5), m.SkillLevel(skill="support", level=5))
    ext = store.get("extensions", "2001")
    assert ext.ha1_md5 == sip_ha1("2001", "appliance", "frontdesk-secret", "MD5")
    assert ext.ha1_sha256 == sip_ha1("2001", "appliance", "frontdesk-secret", "SHA-256")
    on_disk = json.loads((tmp_path / "config.json").read_text())
    assert on_disk["_meta"]["1"]["schema_version"] == SCHEMA_VERSION
    assert "frontdesk-secret" not in (tmp_path / "config.json").read_text()
    assert (tmp_path / "config.v1.bak.json").exists()


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"_meta": {"1": {"schema_version": SCHEMA_VERSION + 1}}}))
    with pytest.raises(SchemaTooNew):
        open_store(tmp_path)
    (tmp_path / f"config.v{SCHEMA_VERSION + 1}.bak.json").write_text("{}")  # a copy this release cannot read either
    with pytest.raises(SchemaTooNew):
        open_store(tmp_path)


async def test_after_a_rollback_the_older_release_carries_on_from_the_copy_kept_before_the_migration(
        tmp_path: Path) -> None:
    store = open_store(tmp_path)
    await store.create("skills", m.Skill(id="sales", name="Sales"))
    store.close()
    kept = (tmp_path / "config.json").read_text()
    # what a newer release does at its first boot: keep a copy, then write its own schema
    (tmp_path / f"config.v{SCHEMA_VERSION}.bak.json").write_text(kept)
    newer = json.loads(kept)
    newer["_meta"]["1"]["schema_version"] = SCHEMA_VERSION + 1
    newer["skills"]["2"] = {"id": "vip", "name": "VIP", "made_under": "the newer release"}
    (tmp_path / "config.json").write_text(json.dumps(newer))
    for read_only in (True, False):
        again = ConfigStore.open(tmp_path, all_kinds(), read_only=read_only)
        assert again.get("skills", "sales").name == "Sales" and again.find("skills", "vip") is None
        again.close()
    # the newer release's file is set aside, not lost; the store is this release's again and opens cleanly
    assert json.loads((tmp_path / f"config.v{SCHEMA_VERSION + 1}.rolled-back.json").read_text()) == newer
    assert json.loads((tmp_path / "config.json").read_text())["_meta"]["1"]["schema_version"] == SCHEMA_VERSION
    assert check_integrity(tmp_path, all_kinds()).ok
    open_store(tmp_path).close()


async def test_corrupt_file_refuses_to_start_and_offers_the_last_good_copy(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    await store.create("skills", m.Skill(id="sales", name="Sales"))
    store.close()
    open_store(tmp_path).close()  # a clean open refreshes the last good copy
    (tmp_path / "config.json").write_text('{"skills": {"1": {"id": "sal')
    with pytest.raises(StoreCorrupt) as err:
        open_store(tmp_path)
    assert "config.last-good.json" in err.value.message
    assert "restore-last-good" in err.value.message
    report = check_integrity(tmp_path, all_kinds())
    assert not report.ok and report.last_good
    restore_last_good(tmp_path)
    assert open_store(tmp_path).get("skills", "sales").name == "Sales"
    assert (tmp_path / "config.corrupt.json").exists()


def test_an_entity_that_no_longer_validates_is_reported_as_corruption(tmp_path: Path) -> None:
    doc = {"_meta": {"1": {"schema_version": SCHEMA_VERSION}}, "skills": {"1": {"id": "BAD ID", "name": "x"}}}
    (tmp_path / "config.json").write_text(json.dumps(doc))
    with pytest.raises(StoreCorrupt):
        open_store(tmp_path)
    report = check_integrity(tmp_path, all_kinds())
    assert any("skills #1" in p for p in report.problems)


async def test_replace_all_checks_references_over_the_whole(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    # the queue refers to a box that refers back to the queue: fine as a whole, in any order
    count = await store.replace_all({
        "queues": [m.Queue(id="q", name="Q", voicemail_box="b")],
        "voicemail_boxes": [m.VoicemailBox(id="b", name="B", owner_queue="q")],
    })
    assert count == 2
    with pytest.raises(ValidationFailed):
        await store.replace_all({"queues": [m.Queue(id="q", name="Q", voicemail_box="missing")]})
    assert store.get("queues", "q").voicemail_box == "b"


@pytest.mark.slow
@pytest.mark.parametrize("kill_after", [5, 40, 150])
def test_kill_9_during_a_burst_of_writes_loses_no_acknowledged_write(tmp_path: Path, kill_after: int) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).parent / "store_writer.py"), str(tmp_path)],
        stdout=subprocess.PIPE, text=True, env=env,
    )
    acked: list[str] = []
    assert proc.stdout is not None
    while len(acked) < kill_after:
        line = proc.stdout.readline()
        assert line, "the writer died before the kill"
        acked.append(line.strip())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    store = open_store(tmp_path)  # loads: not corrupt
    stored = {s.id for s in store.list("skills")}
    assert set(acked) <= stored
    assert check_integrity(tmp_path, all_kinds()).ok


async def test_a_replacement_built_from_an_older_state_is_refused(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    try:
        seen = store.revision
        whole = {k.name: store.list(k.name) for k in store.kinds}
        await store.create("skills", m.Skill(id="late", name="Written meanwhile"))
        with pytest.raises(Conflict):
            await store.replace_all(whole, if_revision=seen)
        assert store.find("skills", "late") is not None  # the write in between survives
        await store.replace_all({k.name: store.list(k.name) for k in store.kinds}, if_revision=store.revision)
    finally:
        store.close()
