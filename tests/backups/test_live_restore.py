"""A restore into the live data directory while the stores are open and a writer holds the record store: the
configuration comes back through the live store (one `config.replaced`), the records through SQLite's backup
API under the writer, the audio files put back beside recordings made since; a safety backup first, and what
was replaced kept aside."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest

from appliance.backups.models import Part
from appliance.events import Event
from appliance.records.sqlite_store import RecordStore
from tests.backups.conftest import Box, add_cdrs, local_target, write_recordings

pytestmark = [pytest.mark.interop, pytest.mark.slow]


def _count(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT count(*) FROM cdr").fetchone()[0])
    finally:
        conn.close()


async def test_live_restore_while_running(box: Box, tmp_path: Path) -> None:
    await local_target(box, tmp_path / "repo")
    before = dict(box.store.settings)
    recordings = sorted((box.data / "recordings" / "20261201").iterdir())
    original = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in recordings}
    assert (await box.service.run_backup("local")).ok

    # life goes on: settings edited, calls recorded and logged, a recording damaged and one deleted
    await box.store.set_settings(language="en", time_zone="Europe/Berlin")
    writer = RecordStore.open(box.data / "records.sqlite3")
    add_cdrs(box.data, 7, start=5000)
    assert _count(box.data / "records.sqlite3") == 127
    recordings[0].write_bytes(b"damaged")
    recordings[1].unlink()
    newer = write_recordings(box.data, "20261202", 2, 4096, seed=9)
    replaced: list[Event] = []
    box.bus.subscribe(replaced.append, {"config.replaced"})

    try:
        report, done, aside = await box.service.restore_online("local", [Part.CONFIG, Part.AUDIO])
        # the writer's connection still works after the records were put back under it
        writer.put_cdr({"call_id": "after", "started": 1.0, "ended": 2.0, "direction": "inbound", "caller": "1",
                        "callee": "2", "disposition": "answered"})
    finally:
        writer.close()

    assert report.dest == str(box.data)
    settings = box.store.settings
    assert settings["language"] == before.get("language") and settings["time_zone"] == before.get("time_zone")
    assert settings["backups"]["targets"][0]["name"] == "local"  # the live backup settings are kept
    assert len(replaced) == 1 and done.counts["config_entities"] > 0
    assert done.records_integrity == "ok"
    assert _count(box.data / "records.sqlite3") == 121  # 120 from the backup, and the one written after
    now = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (box.data / "recordings" / "20261201").iterdir()}
    assert now == original
    assert all(p.exists() for p in newer)  # recorded since the backup: kept
    assert done.counts == {**done.counts, "audio_added": 1, "audio_replaced": 1}
    assert done.restart_required == []  # the certificate did not change
    # what was replaced is kept aside
    assert (aside / "recordings" / "20261201" / recordings[0].name).read_bytes() == b"damaged"
    assert _count(aside / "records.sqlite3") == 127
    assert '"Europe/Berlin"' in (aside / "config.json").read_text()
    # a safety backup of the state before was taken first
    snaps = await box.service.list_snapshots("local")
    assert sum("safety" in s.tags for s in snaps) == 2
    assert not any(p.name.startswith(".data.incoming-") for p in box.data.parent.iterdir())


async def test_live_restore_of_an_older_schema_migrates_it(box: Box, tmp_path: Path) -> None:
    """A backup written by an older version (configuration schema 2: extensions' SIP passwords in clear) comes
    back migrated to the current schema (hashes only), through the running store."""
    from appliance.security.passwords import sip_ha1
    from appliance.store.migrations import DEFAULT_REALM, SCHEMA_VERSION, schema_version

    await local_target(box, tmp_path / "repo")
    path = box.data / "config.json"
    current = path.read_text()
    doc = json.loads(current)
    doc["_meta"] = {"1": {"schema_version": 2}}
    record = next(iter(doc["extensions"].values()))
    number = record["number"]
    record.pop("ha1_md5"), record.pop("ha1_sha256")
    record["password"] = "an old secret"
    path.write_text(json.dumps(doc))  # what the older version had on disk when it backed up
    assert (await box.service.run_backup("local", [Part.CONFIG])).ok
    path.write_text(current)

    _report, done, _aside = await box.service.restore_online("local", [Part.CONFIG])
    realm = box.store.settings.get("sip_realm", DEFAULT_REALM)
    assert box.store.get("extensions", number).ha1_md5 == sip_ha1(number, realm, "an old secret", "MD5")
    on_disk = json.loads(path.read_text())
    assert schema_version(on_disk) == SCHEMA_VERSION and "password" not in json.dumps(on_disk["extensions"])
    assert done.records_integrity == "ok"


async def test_a_restore_outlives_the_request_that_started_it(box: Box, tmp_path: Path) -> None:
    """An HTTP request that times out (Sanic's response time-out) or a closed browser cancels its handler; a
    restore under way must not stop half done. It finishes, and says so in the history."""
    import asyncio

    await local_target(box, tmp_path / "repo")
    assert (await box.service.run_backup("local", [Part.CONFIG])).ok
    dest = tmp_path / "restored"
    caller = asyncio.create_task(box.service.outliving(box.service.restore("local", dest, [Part.CONFIG])))
    await asyncio.sleep(0.2)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    for _ in range(300):
        if box.service.history()[0].kind == "restore":
            break
        await asyncio.sleep(0.1)
    latest = box.service.history()[0]
    assert latest.kind == "restore" and latest.ok
    assert json.loads((dest / "config.json").read_text()) == json.loads((box.data / "config.json").read_text())
