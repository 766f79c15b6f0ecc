"""The box image booted under qemu-system-x86_64 -accel tcg with OVMF: systemd starts the appliance, health
answers through a forwarded port, the security posture holds, RAUC updates into the other slot and marks it
good, a bundle from another CA is refused, a release that fails its health check falls back after three
tries, data survives both, and a factory reset brings back the first-boot state.

The tests share one VM and run in file order, each starting from the state the previous one left. The image
is built or reused (image_build/build.py caches every stage by its inputs): 106 s from nothing, 45 s after a
change to the appliance's code, 5 s when nothing changed (2 cores, light load). The module takes about 9
minutes at light load, nearly half a hour when the machine is loaded several times over (tcg slows with it)."""

from __future__ import annotations

import hashlib
import io
import json
import math
import re
import shutil
import socket
import subprocess
import time
import urllib.request
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.image.vm import (
    BUILD,
    KEYS,
    OUT,
    REPO,
    Vm,
    build_image,
    derive_rootfs,
    free_port,
    missing_prerequisites,
    rauc_bundle,
)

# Each test may wait through several tcg boots (the rollback: four); the module takes about 10 minutes at light
# load and over half an hour when the machine is loaded many times over.
pytestmark = [pytest.mark.slow, pytest.mark.interop, pytest.mark.timeout(2400)]

ADMIN_PASSWORD = "image-test-admin-1"
FIGURES: dict[str, float] = {}
KEPT: dict[str, str] = {}  # what the updates must keep: the SIPp call's CDR id, the uploaded prompt's digest


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    why = missing_prerequisites()
    if why:
        pytest.skip(why)
    data, seconds = build_image()
    FIGURES["build_or_reuse_s"] = round(seconds, 1)
    return data


@pytest.fixture(scope="module")
def vm(manifest: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Vm]:
    machine = Vm(OUT / "appliance.img", tmp_path_factory.mktemp("vm"))
    machine.start()
    machine.started_at = time.monotonic()  # type: ignore[attr-defined]
    try:
        yield machine
    finally:
        machine.stop()
        print(f"\nimage VM figures: {FIGURES}")


@pytest.fixture(scope="module")
def bundles(manifest: dict[str, Any]) -> dict[str, Path]:
    """A good next version, a release whose appliance never starts, and one signed by a foreign CA."""
    work = BUILD / "test-bundles"
    work.mkdir(parents=True, exist_ok=True)
    squash = OUT / "rootfs.squashfs"
    version = str(manifest["version"])
    out: dict[str, Path] = {}
    for name, broken in (("next", False), ("broken", True)):
        variant = derive_rootfs(squash, work, f"{version}-{name}", broken)
        out[name] = work / f"{name}.raucb"
        rauc_bundle(variant, f"{version}-{name}", out[name], KEYS)
    rogue = work / "rogue-keys"
    if not (rogue / "signing.key.pem").exists():
        subprocess.run(["sh", str(REPO / "image_build/keys.sh"), str(rogue), "Somebody else"], check=True)
    out["foreign"] = work / "foreign.raucb"
    rauc_bundle(OUT / "rootfs.squashfs", f"{version}-foreign", out["foreign"], rogue)
    return out


def booted(vm: Vm) -> str:
    status = vm.rauc_status()
    return str(status["booted"])


def slot_of(vm: Vm, bootname: str) -> dict[str, Any]:
    for entry in vm.rauc_status()["slots"]:
        for _, slot in entry.items():
            if slot.get("bootname") == bootname:
                return dict(slot)
    raise AssertionError(f"no slot {bootname}")


def wait_marked_good(vm: Vm, bootname: str, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    env: dict[str, str] = {}
    while time.monotonic() < deadline:
        env = vm.grubenv()
        state = vm.ssh("systemctl show -p ActiveState --value appliance-mark-good.service").stdout.strip()
        if state == "active" and env.get(f"{bootname}_OK") == "1" and env.get(f"{bootname}_TRY") == "0":
            return
        time.sleep(3)
    raise AssertionError(f"slot {bootname} not marked good: {env}")


def login(vm: Vm, password: str = ADMIN_PASSWORD) -> int:
    status, _ = vm.http("POST", "/api/v1/login", {"name": "admin", "password": password})
    return status


def admin_token(vm: Vm) -> str:
    status, body = vm.http("POST", "/api/v1/login", {"name": "admin", "password": ADMIN_PASSWORD})
    assert status == 200, body
    return str(body["token"])


def install_through_the_api(vm: Vm, bundle: Path) -> dict[str, Any]:
    """The web UI's way: the bundle is the request body; RAUC's progress is polled until the end."""
    token = admin_token(vm)
    status, body = vm.upload("/api/v1/firmware/install", bundle, token)
    assert status == 202 and body["state"] == "running", body
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        status, body = vm.http("GET", "/api/v1/firmware/install", token=token)
        if status == 200 and body["state"] != "running":
            return dict(body)
        time.sleep(1)
    raise AssertionError(f"the installation did not end: {body}")


def wait_for(what: str, check: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}")


def prompt_audio(vm: Vm) -> bytes:
    req = urllib.request.Request(f"http://127.0.0.1:{vm.http_port}/api/v1/prompts/zh-CN/image_test/audio",
                                 headers={"Authorization": f"Bearer {admin_token(vm)}"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return bytes(r.read())


def voicemail_audio(vm: Vm, key: str) -> bytes:
    req = urllib.request.Request(f"http://127.0.0.1:{vm.http_port}/api/v1/voicemail/{key}/audio",
                                 headers={"Authorization": f"Bearer {admin_token(vm)}"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return bytes(r.read())


def call_access_number(vm: Vm, tmp_path: Path, stay_ms: int) -> None:
    """Extension 1005 (digest auth) dials the demo's access number 8000 through the forwarded SIP port and
    stays `stay_ms` before hanging up."""
    creds = json.loads(vm.ssh("cat /data/appliance/demo-credentials.json").stdout)
    users = tmp_path / "users.csv"
    users.write_text(f"SEQUENTIAL\n1005;[authentication username=1005 password={creds['extensions']['1005']}]\n")
    result = subprocess.run(
        ["sipp", "-sf", str(Path(__file__).parent / "scenarios/caller_ivr.xml"), "-inf", str(users), "-s", "8000",
         "-i", "127.0.0.1", "-p", str(free_port(socket.SOCK_DGRAM)), "-m", "1", "-d", str(stay_ms), "-nostdin",
         "-timeout", "60", "-trace_err", f"127.0.0.1:{vm.sip_port}"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


def kept_data(vm: Vm) -> None:
    """What was made before the updates: the admin password and the business hours (configuration), the SIPp
    call's CDR (records), the voicemail it left (a call recording), an uploaded prompt (audio on the data
    partition) and the system settings."""
    assert login(vm) == 200
    token = admin_token(vm)
    if KEPT.get("cdr"):
        status, page = vm.http("GET", "/api/v1/cdr?did=8000", token=token)
        assert status == 200 and any(c["call_id"] == KEPT["cdr"] for c in page["items"]), page
    if KEPT.get("voicemail"):
        assert hashlib.sha256(voicemail_audio(vm, KEPT["voicemail"])).hexdigest() == KEPT["voicemail_audio"]
        status, hours = vm.http("GET", "/api/v1/schedules/business_hours", token=token)
        assert status == 200 and hours["work_days"] == [], hours
    assert hashlib.sha256(prompt_audio(vm)).hexdigest() == KEPT["prompt"]
    assert vm.ssh("hostname").stdout.strip() == "callbox-7"
    assert vm.ssh("readlink -f /etc/localtime").stdout.strip().endswith("Asia/Tokyo")


def install(vm: Vm, bundle: Path) -> subprocess.CompletedProcess[str]:
    vm.scp(bundle, "/data/update.raucb")
    try:
        return vm.ssh("appliance firmware install /data/update.raucb 2>&1", timeout=600, check=False)
    finally:
        vm.ssh("rm -f /data/update.raucb", check=False)


def test_boot_under_systemd_reaches_health_through_a_forwarded_port(vm: Vm) -> None:
    seconds = vm.wait_health(timeout=420, since=vm.started_at)  # type: ignore[attr-defined]
    FIGURES["boot_to_health_s"] = round(seconds, 1)
    vm.wait_ssh()
    show = vm.ssh("systemctl show appliance.service -p Type -p ActiveState -p WatchdogUSec -p User "
                  "-p NRestarts -p StatusText").stdout
    props = dict(line.split("=", 1) for line in show.splitlines() if "=" in line)
    assert props["Type"] == "notify" and props["ActiveState"] == "active", props
    assert props["WatchdogUSec"] == "1min" and props["NRestarts"] == "0", props
    assert props["StatusText"].startswith("appliance "), props  # sent over sd_notify with READY=1
    # The venv under /opt/appliance runs the compiled packet loop.
    vm.ssh("ls /opt/appliance/lib/python3.11/site-packages/appliance/media/_rtp_relay*.so")
    # First boot grew the data partition to the 4 GiB disk and formatted it.
    size = int(vm.ssh("lsblk -bno SIZE /dev/disk/by-partlabel/data").stdout)
    assert size > 3 * 1024**3, size
    assert vm.ssh("findmnt -no FSTYPE,OPTIONS /").stdout.startswith("squashfs ro")
    wait_marked_good(vm, "A")
    assert booted(vm) == "A"
    # The serial console waited for the appliance and opened provisioning's set-up menu at its first step.
    wait_for("the console's set-up menu", lambda: "尚未设置管理员密码" in vm.serial.read_text(errors="replace"), 120)
    print(f"boot to health: {seconds:.1f} s")


def test_security_posture_inside_the_vm(vm: Vm) -> None:
    listening: dict[str, str] = {}
    for line in vm.ssh("ss -Hlntup").stdout.splitlines():
        proto, _, _, _, local, _, *process = line.split()
        addr, _, port = local.rpartition(":")
        if addr.strip("[]").split("%")[0] in ("127.0.0.1", "::1", "127.0.0.53", "127.0.0.54"):
            continue
        listening[f"{port}/{proto}"] = " ".join(process)
    allowed = {"22/tcp", "80/tcp", "443/tcp", "5060/tcp", "5060/udp", "5061/tcp", "8443/tcp", "161/udp",
               "69/udp", "68/udp"}
    assert {"22/tcp", "80/tcp", "443/tcp", "5060/udp", "5060/tcp", "8443/tcp"} <= listening.keys(), listening
    unexpected = {k: v for k, v in listening.items() if k not in allowed}
    assert not unexpected, f"unexpected listeners: {unexpected}"

    pid = vm.ssh("systemctl show -p MainPID --value appliance.service").stdout.strip()
    status = vm.ssh(f"cat /proc/{pid}/status").stdout
    uid = re.search(r"^Uid:\s+(\d+)", status, re.M)
    assert uid and uid.group(1) != "0"
    assert vm.ssh(f"ps -o user= -p {pid}").stdout.strip() == "appliance"
    cap_eff = int(re.search(r"^CapEff:\s+([0-9a-f]+)", status, re.M).group(1), 16)  # type: ignore[union-attr]
    # CAP_NET_BIND_SERVICE | CAP_NET_ADMIN (the network settings) | CAP_SYS_NICE only
    assert cap_eff == (1 << 10) | (1 << 12) | (1 << 23), hex(cap_eff)
    assert re.search(r"^NoNewPrivs:\s+1", status, re.M)
    # ProtectSystem=strict: the appliance cannot write outside its data directory.
    vm.ssh(f"nsenter -t {pid} -m sh -c 'touch /opt/appliance/x' 2>/dev/null && exit 1 || exit 0")

    sshd = vm.ssh("sshd -T").stdout
    assert "passwordauthentication no" in sshd and "kbdinteractiveauthentication no" in sshd
    attempt = subprocess.run(
        ["ssh", "-p", str(vm.ssh_port), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
         "-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password,keyboard-interactive",
         "-o", "BatchMode=yes", "-o", "ConnectTimeout=20", "root@127.0.0.1", "true"],
        capture_output=True, text=True, timeout=60)
    assert attempt.returncode != 0 and "Permission denied (publickey)" in attempt.stderr, attempt.stderr

    ruleset = vm.ssh("nft list ruleset").stdout
    assert "policy drop" in ruleset and "20000-29999" in ruleset
    assert vm.ssh("sysctl -n net.core.rmem_max").stdout.strip() == "8388608"


def test_setup_before_update(vm: Vm) -> None:
    """First-boot state, then configuration the updates must keep: the admin password."""
    status, body = vm.http("GET", "/api/v1/setup")
    assert status == 200 and body["setup_required"] is True, body
    journal = vm.ssh("journalctl -u appliance.service -o cat --no-pager").stdout
    match = re.search(r"setup token.*\n\s+(\S+)", journal)
    assert match, journal[-2000:]
    status, body = vm.http("POST", "/api/v1/setup", {"token": match.group(1), "password": ADMIN_PASSWORD})
    assert status == 200, body
    assert login(vm) == 200
    wav = io.BytesIO()
    with wave.open(wav, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"".join(int(8000 * math.sin(2 * math.pi * 440 * n / 8000)).to_bytes(2, "little", signed=True)
                               for n in range(8000)))
    req = urllib.request.Request(f"http://127.0.0.1:{vm.http_port}/api/v1/prompts/zh-CN/image_test",
                                 data=wav.getvalue(), method="PUT",
                                 headers={"Content-Type": "audio/wav", "Authorization": f"Bearer {admin_token(vm)}"})
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.status in (200, 201)
    KEPT["prompt"] = hashlib.sha256(prompt_audio(vm)).hexdigest()
    vm.ssh("sync")


def test_system_settings_reach_the_read_only_root(vm: Vm) -> None:
    """The appliance (unprivileged, ProtectSystem=strict) keeps host name, time zone and NTP servers on the data
    partition; appliance-system-apply (root) applies them at once and at every boot."""
    token = admin_token(vm)
    status, body = vm.http("PUT", "/api/v1/system/host-name", {"host_name": "callbox-7"}, token=token)
    assert status == 200, body
    wait_for("the host name", lambda: vm.ssh("hostname").stdout.strip() == "callbox-7")
    status, body = vm.http("PUT", "/api/v1/system/time", {"time_zone": "Asia/Tokyo", "ntp_servers": ["10.0.2.2"]},
                           token=token)
    assert status == 200, body
    wait_for("the time zone", lambda: vm.ssh("date +%Z").stdout.strip() == "JST")
    wait_for("chrony's source", lambda: "10.0.2.2" in vm.ssh("chronyc -n sources", check=False).stdout)
    assert vm.ssh("findmnt -no OPTIONS /").stdout.startswith("ro")
    vm.ssh("sync")


@pytest.mark.skipif(shutil.which("sipp") is None, reason="SIPp (sip-tester) is not installed")
def test_sipp_call_to_the_demo_access_number_reaches_the_ivr(vm: Vm, tmp_path: Path) -> None:
    """Through the forwarded SIP port: extension 1005 (digest auth) dials 8000, the IVR answers and plays."""
    call_access_number(vm, tmp_path, stay_ms=4000)
    status, token = vm.http("POST", "/api/v1/login", {"name": "admin", "password": ADMIN_PASSWORD})
    assert status == 200
    deadline = time.monotonic() + 30
    cdrs: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not cdrs:
        status, page = vm.http("GET", "/api/v1/cdr?did=8000", token=token["token"])
        cdrs = page.get("items", []) if status == 200 else []
        time.sleep(1)
    assert cdrs, page
    # The demo's flows by the time of day: "main/welcome" in office hours, "off_hours/..." outside them.
    assert cdrs[0]["direction"] == "inbound" and cdrs[0]["ivr_path"], cdrs[0]
    assert cdrs[0]["ivr_path"][0].split("/")[0] in ("main", "off_hours"), cdrs[0]
    KEPT["cdr"] = cdrs[0]["call_id"]
    vm.ssh("sync")


@pytest.mark.skipif(shutil.which("sipp") is None, reason="SIPp (sip-tester) is not installed")
def test_a_voicemail_recorded_before_the_update(vm: Vm, tmp_path: Path) -> None:
    """A call recording the updates must keep: outside business hours (the schedule changed through the API)
    the access number leaves the caller in voicemail, which records the call into a WAV on the data partition."""
    token = admin_token(vm)
    status, body = vm.http("PATCH", "/api/v1/schedules/business_hours", {"work_days": [], "work_hours": []},
                           token=token)
    assert status == 200, body
    # (the opening-hours notice, the voicemail greeting and the tone come first; then about 10 s of message)
    call_access_number(vm, tmp_path, stay_ms=24000)
    deadline = time.monotonic() + 30
    items: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not items:
        status, page = vm.http("GET", "/api/v1/voicemail?box=general", token=token)
        items = page.get("items", []) if status == 200 else []
        time.sleep(1)
    _, cdrs = vm.http("GET", "/api/v1/cdr?did=8000", token=token)
    assert items and items[0]["caller"] == "1005" and items[0]["duration_s"] > 3, (items, cdrs)
    audio = voicemail_audio(vm, items[0]["id"])
    with wave.open(io.BytesIO(audio)) as w:
        assert w.getnframes() / w.getframerate() > 3
    KEPT["voicemail"] = items[0]["id"]
    KEPT["voicemail_audio"] = hashlib.sha256(audio).hexdigest()
    vm.ssh("sync")


def test_signed_update_installs_into_the_other_slot_and_is_marked_good(vm: Vm, bundles: dict[str, Path],
                                                                        manifest: dict[str, Any]) -> None:
    t = time.monotonic()
    progress = install_through_the_api(vm, bundles["next"])
    FIGURES["update_install_s"] = round(time.monotonic() - t, 1)  # upload through the forwarded port included
    assert progress["state"] == "succeeded", progress
    assert progress["slot"] == "B" and progress["version"] == f"{manifest['version']}-next", progress
    env = vm.grubenv()
    assert env["ORDER"].startswith("B") and env["B_OK"] == "1" and env["B_TRY"] == "0", env
    status, body = vm.http("GET", "/api/v1/firmware", token=admin_token(vm))
    assert status == 200 and body["booted"] == "A" and body["primary"] == "B", body
    old = vm.boot_id()
    t = time.monotonic()
    status, body = vm.http("POST", "/api/v1/firmware/reboot", {}, token=admin_token(vm))
    assert status == 202, body  # appliance-reboot.path takes the request up
    vm.wait_reboot(old)
    FIGURES["reboot_to_health_s"] = round(vm.wait_health(timeout=300, since=t), 1)
    assert booted(vm) == "B"
    assert vm.ssh(". /etc/appliance-release; echo $VERSION").stdout.strip() == f"{manifest['version']}-next"
    wait_marked_good(vm, "B")
    kept_data(vm)  # configuration, records, audio and system settings from before the update


def test_bundle_signed_by_another_ca_is_refused(vm: Vm, bundles: dict[str, Path]) -> None:
    before = vm.grubenv()
    progress = install_through_the_api(vm, bundles["foreign"])
    assert progress["state"] == "failed" and "signature verification failed" in progress["error"], progress
    assert vm.grubenv() == before
    assert booted(vm) == "B"


def test_release_failing_its_health_check_falls_back_after_its_tries(vm: Vm, bundles: dict[str, Path]) -> None:
    result = install(vm, bundles["broken"])  # from a root shell: `appliance firmware install`
    assert result.returncode == 0 and "into slot A" in result.stdout, result.stdout
    assert vm.grubenv()["ORDER"].startswith("A")
    old = vm.boot_id()
    t = time.monotonic()
    vm.ssh("systemctl reboot", check=False, timeout=30)
    # Each boot of the broken slot A reaches SSH, finds the appliance failed and reboots unmarked; the fourth
    # boot finds A out of tries and GRUB takes B.
    seen: set[str] = {old}
    # Four tcg boots: about 3 minutes at light load, a quarter of an hour with the machine loaded six times over.
    deadline = time.monotonic() + 1800
    while time.monotonic() < deadline:
        r = vm.ssh("cat /proc/sys/kernel/random/boot_id; . /etc/appliance-release; echo $VERSION", timeout=30,
                   check=False)
        if r.returncode == 0 and len(r.stdout.split()) == 2:
            boot, version = r.stdout.split()
            seen.add(boot)
            if boot != old and not version.endswith("-broken"):
                break
        time.sleep(3)
    else:
        raise AssertionError(f"never came back to the good slot:\n{vm.serial_tail()}")
    FIGURES["rollback_s"] = round(time.monotonic() - t, 1)
    vm.wait_health(timeout=300)
    assert booted(vm) == "B"
    env = vm.grubenv()
    assert env["A_TRY"] == "3" and env["ORDER"].startswith("A"), env  # three tries spent, never marked good
    wait_marked_good(vm, "B")
    kept_data(vm)  # data kept through the failed update and the rollback
    status = json.loads(vm.ssh("appliance firmware status --json").stdout)
    assert status["booted"] == "B" and status["primary"] == "B", status


def test_a_phone_vlan_with_a_route_on_the_box_kernel(vm: Vm) -> None:
    """The network settings through the API on the image's own kernel, which has 802.1Q (the test machines'
    kernels do not, so the namespace test can only check the refusal there): the wired port keeps its DHCP
    lease, a VLAN for the phones gets a static address and a route, and the change confirmed from the box's
    address is kept."""
    token = admin_token(vm)
    status, state = vm.http("GET", "/api/v1/network", token=token)
    assert status == 200 and state["managed"] is True, state
    wired = next(link["name"] for link in state["live"]["links"]
                 if any(a.startswith("10.0.2.15/") for a in link["addresses"]))
    vlan = f"{wired}.20"
    settings = {"interfaces": [{"name": wired, "dhcp": True,
                                "vlans": [{"id": 20, "addresses": ["10.20.0.2/24"]}]}],
                "routes": [{"destination": "10.21.0.0/16", "gateway": "10.20.0.1", "interface": vlan}]}
    status, body = vm.http("POST", "/api/v1/network/apply", {"settings": settings, "confirm_seconds": 120},
                           token=token)
    assert status == 202, body
    change = body["change_id"]
    wait_for("the VLAN", lambda: vm.ssh(f"ip -br addr show dev {vlan}", check=False).returncode == 0)
    status, body = vm.http("POST", f"/api/v1/network/changes/{change}/confirm", token=token)
    assert status == 200, body  # reached through the lease on the wired port, one of the new settings' addresses
    link = json.loads(vm.ssh(f"ip -d -j link show dev {vlan}").stdout)[0]
    assert link["linkinfo"]["info_kind"] == "vlan" and link["linkinfo"]["info_data"]["id"] == 20, link
    addresses = json.loads(vm.ssh(f"ip -j addr show dev {vlan}").stdout)[0]["addr_info"]
    assert [f"{a['local']}/{a['prefixlen']}" for a in addresses if a["family"] == "inet"] == ["10.20.0.2/24"]
    route = json.loads(vm.ssh("ip -j route show 10.21.0.0/16").stdout)
    assert route and route[0]["gateway"] == "10.20.0.1" and route[0]["dev"] == vlan, route
    status, state = vm.http("GET", "/api/v1/network", token=token)
    assert state["pending"] is None and state["saved"]["interfaces"][0]["vlans"][0]["id"] == 20, state
    lease = next(link["addresses"] for link in state["live"]["links"] if link["name"] == wired)
    assert any(a.startswith("10.0.2.15/") for a in lease), lease  # the wired port's lease stayed
    netdev = f"/run/systemd/network/10-appliance-{vlan}.netdev"  # what networkd sets up at the next boot
    wait_for("the VLAN's networkd file", lambda: "Id=20" in vm.ssh(f"cat {netdev}", check=False).stdout)


def test_factory_reset_brings_back_first_boot(vm: Vm) -> None:
    old, slot = vm.boot_id(), booted(vm)
    token = admin_token(vm)
    status, body = vm.http("POST", "/api/v1/firmware/factory-reset", {"confirm": "reset"}, token=token)
    assert status == 422 and body["details"]["fields"][0]["field"] == "confirm", body
    status, body = vm.http("POST", "/api/v1/firmware/factory-reset", {"confirm": "RESET"}, token=token)
    assert status == 202, body  # appliance-factory-reset.path takes the request up
    vm.wait_reboot(old, timeout=400)
    vm.wait_health(timeout=300)
    status, body = vm.http("GET", "/api/v1/setup")
    assert status == 200 and body["setup_required"] is True, body
    assert login(vm) != 200  # the admin password went with the data partition
    journal = vm.ssh("journalctl -b -u appliance-data-setup.service -o cat --no-pager").stdout
    assert "no filesystem" in journal, journal  # formatted again at this boot
    assert booted(vm) == slot  # the installed slot is kept
