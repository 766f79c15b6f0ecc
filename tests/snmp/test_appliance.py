"""The running appliance: SNMP configured through the REST API, net-snmp walking the agent on --snmp-port,
and the figures checked against the API's and against /metrics."""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from prometheus_client.parser import text_string_to_metric_families

from appliance.app import Appliance, create_appliance
from appliance.config import RunConfig
from appliance.snmp.service import SnmpService
from tests.conftest import free_port, free_rtp_port
from tests.snmp.conftest import AUTH_KEY, COMMUNITY, PRIV_KEY, ROOT, USER, parse_walk, run, settings, v2c, v3
from tests.snmp.trapd import TrapD, config, text_of

pytestmark = [pytest.mark.interop, pytest.mark.slow]
PASSWORD = "correct horse battery"


@pytest.fixture
async def running(tmp_path: Path, seeded_template: Path) -> AsyncIterator[tuple[Appliance, httpx.AsyncClient]]:
    data = tmp_path / "data"
    shutil.copytree(seeded_template, data)
    rtp = free_rtp_port()
    box = create_appliance(RunConfig(data_dir=data, http_port=0, https_port=0, sip_port=0,
                                     snmp_port=free_port(2), rtp_port_min=rtp, rtp_port_max=rtp + 20))
    await box.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{box.http_port}", timeout=10) as http:
            r = await http.post("/api/v1/setup", json={"token": box.setup_token, "password": PASSWORD})
            assert r.status_code == 200, r.text
            r = await http.post("/api/v1/login", json={"name": "admin", "password": PASSWORD})
            http.headers["Authorization"] = f"Bearer {r.json()['token']}"
            yield box, http
    finally:
        await box.stop()


def _snmp(box: Appliance) -> SnmpService:
    return next(s for s in box.services if isinstance(s, SnmpService))


async def test_walks_of_the_running_box_match_the_api(running: tuple[Appliance, httpx.AsyncClient]) -> None:
    box, http = running
    snmp = _snmp(box)
    port = snmp.bound_port
    assert port == box.run.snmp_port
    # nothing is served before a community or user is configured
    rc, out, _ = await run("snmpget", *v2c(port), f"{ROOT}.1.1.1.0")
    assert rc != 0 and "STRING" not in out

    r = await http.put("/api/v1/snmp/settings", json={**settings(), "communities": ["public"]})
    assert r.status_code in (400, 422) and r.json()["details"]["fields"][0]["field"] == "communities.0"
    r = await http.put("/api/v1/snmp/settings", json=settings())
    assert r.status_code == 200, r.text
    shown = (await http.get("/api/v1/snmp/settings")).json()
    assert shown["communities"] == ["********"] and shown["users"][0]["auth_key"] == "********"
    assert shown["engine_id"].startswith("80007ed905") and len(shown["engine_id"]) == 26
    # saving what was shown keeps the secrets
    r = await http.put("/api/v1/snmp/settings", json=shown)
    assert r.status_code == 200, r.text
    assert _snmp(box).bound_port == port

    rc, out, err = await run("snmpbulkwalk", "-Cr50", *v2c(port), ROOT)
    assert rc == 0, err
    got = parse_walk(out)
    rc, out, err = await run("snmpwalk", *v3(port), ROOT)
    assert rc == 0, err
    assert set(parse_walk(out)) == set(got)

    queues = (await http.get("/api/v1/queues/status")).json()["items"]
    walked_queues = sorted(v for k, v in got.items() if k.startswith(f"{ROOT}.1.5.1.2."))
    assert walked_queues == sorted(f'STRING: "{q["queue"]}"' for q in queues) and queues
    health = (await http.get("/api/v1/health")).json()
    services = health["services"]
    walked_services = {v.split('"')[1] for k, v in got.items() if k.startswith(f"{ROOT}.1.3.1.2.")}
    assert {"telephony", "sip", "media", "monitoring", "snmp", "records", "web"} <= walked_services
    assert walked_services <= set(services)
    alarms = (await http.get("/api/v1/alarms")).json()
    assert got[f"{ROOT}.1.7.1.0"] == f"Gauge32: {alarms['active']}"
    assert got[f"{ROOT}.1.1.3.0"] == f'STRING: "{health["version"]}"'

    # /metrics from the box itself needs no token; its figures are the ones SNMP serves
    r = await http.get("/metrics", headers={"Authorization": ""})
    assert r.status_code == 200
    families: dict[str, Any] = {f.name: f for f in text_string_to_metric_families(r.text)}
    metric_queues = {s.labels["queue"] for s in families["appliance_queue_waiting"].samples}
    assert {q["queue"] for q in queues} == metric_queues
    data_mount = next(s.labels["mount"] for s in families["appliance_disk_usage_percent"].samples
                      if s.labels["data"] == "true")
    assert got[f"{ROOT}.1.2.10.1.2.1"] == f'STRING: "{data_mount}"'
    active = sum(s.value for s in families["appliance_alarm_active"].samples)
    assert active == alarms["active"]



@pytest.fixture
async def trapd(running: tuple[Appliance, httpx.AsyncClient], tmp_path: Path) -> AsyncIterator[TrapD]:
    """snmptrapd, configured as the running box's trap receiver through the API."""
    _, http = running
    trap_port = free_port(2)
    d = TrapD(trap_port, tmp_path / "trapd")
    await d.start(config(COMMUNITY, USER, AUTH_KEY, PRIV_KEY, "80007ed9050102030405060708"))
    try:
        r = await http.put("/api/v1/snmp/settings", json=settings(trap_receivers=[
            {"host": "127.0.0.1", "port": trap_port, "version": "v2c", "community": COMMUNITY}]))
        assert r.status_code == 200, r.text
        yield d
    finally:
        await d.stop()


async def test_a_web_sign_in_brute_force_is_blocked_alarmed_and_trapped(
        running: tuple[Appliance, httpx.AsyncClient], trapd: TrapD) -> None:
    """svcrack-style guessing on the web sign-in: after the limit the source is refused, the alarm table has
    brute_force_blocked for it, and snmptrapd receives ccaBruteForceBlocked naming the address."""
    _, http = running
    statuses = []
    async with httpx.AsyncClient(base_url=str(http.base_url), timeout=10) as attacker:
        for i in range(12):
            r = await attacker.post("/api/v1/login", json={"name": "admin", "password": f"guess-{i}"})
            statuses.append(r.status_code)
    assert statuses[:10] == [401] * 10 and statuses[10:] == [429, 429], statuses
    [trap] = await trapd.wait_for(f"{ROOT}.0.8")
    assert text_of(trap.varbinds[f"{ROOT}.1.9.3.0"]) == "127.0.0.1"
    assert "web" in text_of(trap.varbinds[f"{ROOT}.1.9.1.0"])
    alarms = (await http.get("/api/v1/alarms?active=true")).json()["items"]
    blocked = [a for a in alarms if a["name"] == "brute_force_blocked"]
    assert [a["source"] for a in blocked] == ["web 127.0.0.1 admin"] and "10 failed" in blocked[0]["text"]
    assert "brute_force_blocked" in await trapd.wait_for_alarms(f"{ROOT}.0.1", {"brute_force_blocked"})


async def test_a_configuration_change_is_trapped_with_who_made_it(
        running: tuple[Appliance, httpx.AsyncClient], trapd: TrapD) -> None:
    _, http = running
    queue = (await http.get("/api/v1/queues?limit=1")).json()["items"][0]
    r = await http.patch(f"/api/v1/queues/{queue['id']}", json={"name": "Sales (evening)"})
    assert r.status_code == 200, r.text
    changed = await trapd.wait_for(f"{ROOT}.0.4")
    mine = [n for n in changed if text_of(n.varbinds[f"{ROOT}.1.9.3.0"]) == f"queues/{queue['id']}"]
    assert mine, [n.varbinds for n in changed]
    assert text_of(mine[0].varbinds[f"{ROOT}.1.9.2.0"]) == "admin"
    assert text_of(mine[0].varbinds[f"{ROOT}.1.9.1.0"]) == f"update queues {queue['id']} by admin"


async def test_a_backup_to_an_unreachable_target_fails_into_the_alarm_table_and_a_trap(
        running: tuple[Appliance, httpx.AsyncClient], trapd: TrapD) -> None:
    """An SFTP target whose server does not answer (nothing listens on its port): the backup run through the
    API fails, the alarm table has backup_failed for the target, and ccaBackupFailed reaches snmptrapd."""
    _, http = running
    host_key = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode()
    r = await http.put("/api/v1/backups/targets/offsite", json={
        "kind": "sftp", "host": "127.0.0.1", "port": free_port(), "user": "backup", "path": "/srv/box",
        "host_key": host_key})
    assert r.status_code in (200, 201), r.text
    r = await http.post("/api/v1/backups/targets/offsite/run", json={"parts": ["config"]})
    assert r.status_code == 202, r.text
    [trap] = await trapd.wait_for(f"{ROOT}.0.5", timeout=60)
    assert text_of(trap.varbinds[f"{ROOT}.1.9.3.0"]) == "offsite"
    alarms = (await http.get("/api/v1/alarms?active=true")).json()["items"]
    failed = [a for a in alarms if a["name"] == "backup_failed"]
    assert [a["source"] for a in failed] == ["offsite"], alarms
    assert "backup_failed" in await trapd.wait_for_alarms(f"{ROOT}.0.1", {"backup_failed"})


def _guess_sip_passwords(port: int, extension: str, guesses: int) -> list[int]:
    """svcrack-style: REGISTER, answer the digest challenge with a wrong password, again and again (blocking:
    run on a thread). Returns the final status of each guess."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(3)
    sock.bind(("127.0.0.1", 0))
    local = sock.getsockname()[1]
    uri = f"sip:127.0.0.1:{port}"
    statuses = []

    def md5(text: str) -> str:
        return hashlib.md5(text.encode()).hexdigest()

    def send(cseq: int, call_id: str, auth: str = "") -> str:
        msg = (f"REGISTER {uri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK{secrets.token_hex(6)};rport\r\n"
               f"Max-Forwards: 70\r\nFrom: <sip:{extension}@127.0.0.1>;tag={secrets.token_hex(4)}\r\n"
               f"To: <sip:{extension}@127.0.0.1>\r\nCall-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\n"
               f"Contact: <sip:{extension}@127.0.0.1:{local}>\r\nExpires: 60\r\n{auth}Content-Length: 0\r\n\r\n")
        sock.sendto(msg.encode(), ("127.0.0.1", port))
        return sock.recv(65535).decode(errors="replace")

    try:
        for i in range(guesses):
            call_id = secrets.token_hex(8)
            try:
                challenge = send(1, call_id)
            except TimeoutError:
                statuses.append(0)  # a blocked source gets no answer at all
                continue
            if " 401 " not in challenge.split("\r\n", 1)[0]:
                statuses.append(int(challenge.split(" ", 2)[1]))
                continue
            header = next(line for line in challenge.split("\r\n") if line.lower().startswith("www-authenticate:"))
            params = dict(re.findall(r'(\w+)="?([^",]+)"?', header.split(" ", 2)[2]))
            ha1 = md5(f"{extension}:{params['realm']}:wrong-guess-{i}")
            ha2 = md5(f"REGISTER:{uri}")
            cnonce, nc = secrets.token_hex(4), "00000001"
            response = md5(f"{ha1}:{params['nonce']}:{nc}:{cnonce}:auth:{ha2}") if "qop" in params else \
                md5(f"{ha1}:{params['nonce']}:{ha2}")
            auth = (f'Authorization: Digest username="{extension}", realm="{params["realm"]}", '
                    f'nonce="{params["nonce"]}", uri="{uri}", response="{response}", algorithm=MD5'
                    + (f', qop=auth, nc={nc}, cnonce="{cnonce}"' if "qop" in params else "") + "\r\n")
            try:
                answer = send(2, call_id, auth)
                statuses.append(int(answer.split(" ", 2)[1]))
            except TimeoutError:
                statuses.append(0)
    finally:
        sock.close()
    return statuses


async def test_sip_password_guessing_is_blocked_alarmed_and_trapped(
        running: tuple[Appliance, httpx.AsyncClient], trapd: TrapD) -> None:
    box, http = running
    assert box.telephony is not None
    port = box.telephony.sip.ports["UDP"]
    statuses = await asyncio.to_thread(_guess_sip_passwords, port, "1001", 7)
    assert statuses[:5] == [403] * 5 and statuses[5:] in ([0, 0], [403, 0], [403, 403]), statuses
    [trap] = await trapd.wait_for(f"{ROOT}.0.8")
    assert text_of(trap.varbinds[f"{ROOT}.1.9.3.0"]) == "127.0.0.1"
    assert "sip" in text_of(trap.varbinds[f"{ROOT}.1.9.1.0"])
    alarms = (await http.get("/api/v1/alarms?active=true")).json()["items"]
    assert "sip 127.0.0.1" in [a["source"] for a in alarms if a["name"] == "brute_force_blocked"], alarms
