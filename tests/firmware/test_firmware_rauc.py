"""The firmware service, its command line and its routes against a real RAUC service (on a private D-Bus,
with GRUB boot counting in a grubenv file and file-backed root slots; see rauc_peer.py): signed bundles
install into the other slot and switch GRUB's ORDER, foreign ones are refused with RAUC's reason, progress is
RAUC's own, and the result is an event. The booted box (real partitions, reboot, mark-good, rollback) is
tests/image/test_image_vm.py."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from appliance.clock import SystemClock
from appliance.errors import ValidationFailed
from appliance.events import Event, EventBus
from appliance.firmware.errors import BundleTooLarge, InstallRunning, NotOnImage
from appliance.firmware.models import InstallState
from appliance.firmware.rauc import RaucClient, parse_status
from appliance.firmware.service import RESET_REQUEST, FirmwareConfig, FirmwareService
from tests.firmware.rauc_peer import RaucPeer, missing, rauc_peer

pytestmark = [pytest.mark.interop, pytest.mark.skipif(missing() is not None, reason=str(missing()))]
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RaucPeer]:
    with rauc_peer(tmp_path_factory.mktemp("rauc")) as p:
        yield p


def service_for(peer: RaucPeer, data: Path, bus: EventBus, **config: Any) -> FirmwareService:
    return FirmwareService(data, FirmwareConfig(enabled=True, release_file=data / "release", **config), bus,
                           SystemClock(), rauc=RaucClient("rauc", peer.env))


async def chunks_of(path: Path, size: int = 65536) -> AsyncIterator[bytes]:
    data = path.read_bytes()
    for i in range(0, len(data), size):
        yield data[i:i + size]


async def wait_done(service: FirmwareService, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while service.installing and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert not service.installing


def reset_slots(peer: RaucPeer) -> None:
    subprocess.run(["grub-editenv", str(peer.root / "grubenv"), "set", "ORDER=A B", "A_OK=1", "A_TRY=0", "B_OK=0",
                    "B_TRY=0"], check=True)


async def test_status_is_rauc_s_view_of_both_slots(peer: RaucPeer, tmp_path: Path) -> None:
    (tmp_path / "release").write_text("VERSION=1.0+abc\n")
    status = await service_for(peer, tmp_path, EventBus()).status()
    assert status.available and status.version == "1.0+abc"
    assert status.booted == "A" and status.compatible == "callcenter-appliance-x86_64"
    assert [s.bootname for s in status.slots] == ["A", "B"]
    a, b = status.slots
    assert a.state == "booted" and b.state == "inactive"
    assert status.primary == ("A" if peer.grubenv["ORDER"].startswith("A") else "B")


async def test_an_uploaded_signed_bundle_installs_into_the_other_slot(peer: RaucPeer, tmp_path: Path) -> None:
    reset_slots(peer)
    bus = EventBus()
    events: list[Event] = []
    bus.subscribe(events.append)
    service = service_for(peer, tmp_path, bus)
    await service.start()
    bundle = peer.bundle("2.0.0")
    size, sha = await service.receive(chunks_of(bundle))
    assert size == bundle.stat().st_size and len(sha) == 64
    started = service.start_install(source="api")
    assert started.state is InstallState.RUNNING and started.bundle_bytes == size
    with pytest.raises(InstallRunning):
        service.start_install(source="api")
    await wait_done(service)
    p = service.progress()
    assert p.state is InstallState.SUCCEEDED, p
    assert p.percent == 100 and p.slot == "B" and p.version == "2.0.0", p
    assert any("Verifying signature" in line for line in p.log), p.log
    assert not (tmp_path / "firmware" / "upload.raucb").exists()  # the upload does not stay on the disk
    # RAUC's GRUB scheme: the new slot first, with its tries reset.
    env = peer.grubenv
    assert env["ORDER"].startswith("B") and env["B_OK"] == "1" and env["B_TRY"] == "0", env
    assert Path(peer.root / "slot-b.img").read_bytes()[:4] == b"hsqs"  # the squashfs image, written raw
    status = await service.status()
    assert status.primary == "B" and status.slots[1].version == "2.0.0" and status.slots[1].install_count >= 1
    topics = [e.topic for e in events]
    assert topics == ["firmware.install_started", "firmware.install_finished"], topics
    finished = events[-1]
    assert finished.ok and finished.slot == "B" and finished.version == "2.0.0"  # type: ignore[attr-defined]
    await service.stop()


async def test_a_bundle_signed_by_another_ca_is_refused(peer: RaucPeer, tmp_path: Path) -> None:
    reset_slots(peer)
    before = peer.grubenv
    bus = EventBus()
    events: list[Event] = []
    bus.subscribe(events.append, {"firmware.install_finished"})
    service = service_for(peer, tmp_path, bus)
    progress = await service.install(peer.bundle("6.6.6", foreign=True))
    assert progress.state is InstallState.FAILED
    assert "signature verification failed" in progress.error, progress.error
    assert peer.grubenv == before  # nothing switched
    assert len(events) == 1 and not events[0].ok and "signature" in events[0].error  # type: ignore[attr-defined]


async def test_a_bundle_over_the_limit_is_refused_while_uploading(peer: RaucPeer, tmp_path: Path) -> None:
    service = service_for(peer, tmp_path, EventBus(), max_bundle_bytes=10_000)
    await service.start()
    with pytest.raises(BundleTooLarge) as err:
        await service.receive(chunks_of(peer.bundle("3.0.0")))
    assert err.value.http_status == 413
    assert not (tmp_path / "firmware" / "upload.raucb").exists()


async def test_factory_reset_needs_the_typed_word_and_only_asks(peer: RaucPeer, tmp_path: Path) -> None:
    service = service_for(peer, tmp_path, EventBus())
    with pytest.raises(ValidationFailed) as err:
        await service.request_factory_reset("reset", "admin")
    assert err.value.errors[0].field == "confirm"
    assert not (tmp_path / "firmware" / RESET_REQUEST).exists()
    await service.request_factory_reset("RESET", "admin")
    assert (tmp_path / "firmware" / RESET_REQUEST).read_text() == "admin\n"  # the image's path unit takes it up


async def test_off_the_image_nothing_can_be_installed(tmp_path: Path) -> None:
    service = FirmwareService(tmp_path, FirmwareConfig(enabled=False), EventBus())
    status = await service.status()
    assert not status.available and status.slots == ()
    with pytest.raises(NotOnImage) as err:
        await service.request_reboot("admin")
    assert err.value.http_status == 409
    assert service.health().status.value == "ok"


def test_parse_status_keeps_what_rauc_said_about_each_slot() -> None:
    raw = {"compatible": "c", "booted": "B", "boot_primary": "rootfs.1", "slots": [
        {"rootfs.1": {"bootname": "B", "state": "booted", "boot_status": "good", "device": "/dev/vda3",
                      "slot_status": {"bundle": {"version": "1.1"}, "installed": {"timestamp": "t", "count": 2}}}},
        {"rootfs.0": {"bootname": "A", "state": "inactive", "boot_status": "bad", "device": "/dev/vda2"}}]}
    s = parse_status(raw, "1.1")
    assert [x.bootname for x in s.slots] == ["A", "B"] and s.primary == "B" and s.booted == "B"
    assert s.slots[1].version == "1.1" and s.slots[1].install_count == 2 and s.slots[0].boot_status == "bad"


def test_the_command_line_installs_and_reports(peer: RaucPeer, tmp_path: Path) -> None:
    reset_slots(peer)
    env = {**peer.env, "APPLIANCE_FIRMWARE": "rauc", "PYTHONPATH": str(REPO)}
    bundle = peer.bundle("4.0.0")
    r = subprocess.run([sys.executable, "-m", "appliance", "firmware", "install", str(bundle)], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Verifying signature" in r.stdout and "installed 4.0.0 into slot B" in r.stdout, r.stdout
    r = subprocess.run([sys.executable, "-m", "appliance", "firmware", "status", "--json"], env=env,
                       capture_output=True, text=True, timeout=60)
    status = json.loads(r.stdout)
    assert status["primary"] == "B" and status["slots"][1]["version"] == "4.0.0"
    r = subprocess.run([sys.executable, "-m", "appliance", "firmware", "install",
                        str(peer.bundle("6.6.7", foreign=True))], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "signature verification failed" in r.stderr, r.stdout + r.stderr


@pytest.mark.slow
def test_the_api_takes_an_upload_and_installs_it(peer: RaucPeer, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """`appliance run` with RAUC on: the bundle is the request body; progress is polled; errors are JSON."""
    from tests.e2e.harness import start_appliance

    reset_slots(peer)
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", peer.env["DBUS_SYSTEM_BUS_ADDRESS"])
    monkeypatch.setenv("APPLIANCE_FIRMWARE", "rauc")
    app = start_appliance(tmp_path)
    try:
        def post(path: str, body: bytes, token: str | None = app.token) -> tuple[int, Any]:
            req = urllib.request.Request(f"http://127.0.0.1:{app.http_port}{path}", data=body, method="POST",
                                         headers={"Content-Type": "application/octet-stream",
                                                  **({"Authorization": f"Bearer {token}"} if token else {})})
            try:
                with urllib.request.urlopen(req, timeout=30) as r:
                    return r.status, json.loads(r.read())
            except urllib.error.HTTPError as e:
                return e.code, json.loads(e.read())

        bundle = peer.bundle("5.0.0").read_bytes()
        assert post("/api/v1/firmware/install", bundle, token=None)[0] == 401
        status, body = post("/api/v1/firmware/install", bundle)
        assert status == 202 and body["state"] == "running" and body["bundle_bytes"] == len(bundle), body
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            status, body = app.api("GET", "/api/v1/firmware/install")
            if body["state"] != "running":
                break
            time.sleep(0.2)
        assert body["state"] == "succeeded" and body["version"] == "5.0.0" and body["slot"] == "B", body
        status, full = app.api("GET", "/api/v1/firmware")
        assert status == 200 and full["available"] and full["primary"] == "B", full
        status, body = post("/api/v1/firmware/install", b"")
        assert status == 422 and body["details"]["fields"][0]["field"] == "bundle", body
        status, body = app.api("POST", "/api/v1/firmware/factory-reset", {"confirm": "yes"})
        assert status == 422 and body["details"]["fields"][0]["field"] == "confirm", body
        status, body = app.api("POST", "/api/v1/firmware/reboot", {})
        assert status == 202 and (app.data / "firmware" / "reboot.request").exists()
        status, audit = app.api("GET", "/api/v1/audit?kind=firmware")
        assert status == 200 and [(e["action"], e["actor"]) for e in audit["items"]] == [
            ("reboot", "admin"), ("install", "admin")], audit
    finally:
        assert app.stop() == 0, app.log.read_text()[-3000:]
