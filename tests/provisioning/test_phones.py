"""Phone provisioning over HTTPS and TFTP with real clients (curl, tftp-hpa), per vendor."""

from __future__ import annotations

import shutil
import socket
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from appliance.app import Core
from appliance.demo import seed_if_empty
from appliance.health import Status
from appliance.security.passwords import sip_ha1
from provisioning.phones.service import PhoneServerConfig, PhoneService
from tests.conftest import free_port
from tests.provisioning.phones_fixture import ACTOR, add_demo_phones, curl

MACS = {"1001": "805ec0001001", "1002": "c074ad001002", "1003": "0004f2001003", "1004": "aabbcc001004"}


@pytest.fixture
async def box(tmp_path: Path) -> AsyncIterator[tuple[PhoneService, dict[str, Any]]]:
    core = Core.open(tmp_path / "data")
    await core.auth.ensure_admin()
    await seed_if_empty(core)
    service = PhoneService(core.data_dir, core.config,
                           PhoneServerConfig(bind="127.0.0.1", https_port=0, sip_port=5060,
                                             tftp_port=free_port(2)))
    await service.start()
    records = await add_demo_phones(service)
    try:
        yield service, records
    finally:
        await service.stop()
        core.close()


def url(service: PhoneService, token: str, name: str) -> str:
    return f"https://127.0.0.1:{service.https_port}/p/{token}/{name}"


async def test_each_vendor_gets_its_files_over_https(box: tuple[PhoneService, dict[str, Any]]) -> None:
    service, records = box
    yl, gs, pc, gen = (records[e] for e in ("1001", "1002", "1003", "1004"))
    # Yealink: the common file (no secret) and the phone's own, lower case, no separators
    common = (await curl(url(service, yl.token, "y000000000000.cfg")))
    assert common.code == 200 and b"local_time.time_zone = +8" in common.body and b"password" not in common.body
    own = (await curl(url(service, yl.token, f"{MACS['1001']}.cfg")))
    assert own.code == 200
    lines = dict(line.split(" = ", 1) for line in own.body.decode().splitlines() if " = " in line)
    assert lines["account.1.user_name"] == "1001" and lines["account.1.password"] == yl.sip_password
    assert lines["account.1.sip_server.1.address"] == "127.0.0.1"  # the address the phone reached
    assert (lines["linekey.1.type"], lines["linekey.1.value"]) == ("16", "1002")
    assert (lines["linekey.2.value"], lines["linekey.3.value"]) == ("*11", "*13")
    # Grandstream: cfg<mac>.xml, P-values
    gsx = ET.fromstring((await curl(url(service, gs.token, f"cfg{MACS['1002']}.xml"))).body)
    assert gsx.findtext("mac") == MACS["1002"]
    assert gsx.findtext("config/P34") == gs.sip_password and gsx.findtext("config/P35") == "1002"
    assert gsx.findtext("config/P47") == "127.0.0.1:5060" and gsx.findtext("config/P326") == "1001"
    # Polycom: the master file names the others; the phone file has the account and keys
    master = ET.fromstring((await curl(url(service, pc.token, "000000000000.cfg"))).body)
    assert master.get("CONFIG_FILES") == "[PHONE_MAC_ADDRESS]-phone.cfg, [PHONE_MAC_ADDRESS].cfg"
    reg = ET.fromstring((await curl(url(service, pc.token, f"{MACS['1003']}-phone.cfg"))).body)
    assert reg.find("reg").get("reg.1.auth.password") == pc.sip_password  # type: ignore[union-attr]
    assert reg.find("attendant").get("attendant.resourceList.1.address") == "1004"  # type: ignore[union-attr]
    assert reg.find("efk").get("efk.efklist.1.action.string") == "*14$Tinvite$"  # type: ignore[union-attr]
    site = ET.fromstring((await curl(url(service, pc.token, f"{MACS['1003']}.cfg"))).body)
    assert site.find("tcpIpApp").get("tcpIpApp.sntp.gmtOffset") == "28800"  # type: ignore[union-attr]
    # generic: every field, escaped
    g = ET.fromstring((await curl(url(service, gen.token, f"{MACS['1004']}.xml"))).body)
    assert g.findtext("account/password") == gen.sip_password and g.findtext("account/user") == "1004"
    assert g.findtext("account/registrar") == "sip:127.0.0.1:5060;transport=udp"
    assert g.find("time").get("zone") == "Asia/Shanghai"  # type: ignore[union-attr]
    assert service.counters["served"] == 7 and service.counters["refused"] == 0


async def test_credentials_only_for_the_right_device(box: tuple[PhoneService, dict[str, Any]]) -> None:
    service, records = box
    yl, gen = records["1001"], records["1004"]
    # another phone's file with this phone's token, an unknown token, a common file of another vendor
    assert (await curl(url(service, gen.token, f"{MACS['1001']}.cfg"))).code == 404
    assert (await curl(url(service, "x" * 24, f"{MACS['1001']}.cfg"))).code == 404
    assert (await curl(url(service, gen.token, "y000000000000.cfg"))).code == 404
    assert (await curl(url(service, yl.token, "cfg001122334455.xml"))).code == 404
    # no file carries another phone's password
    for ext in MACS:
        record = records[ext]
        for name in service.public(record)["files"]:
            body = (await curl(url(service, record.token, name))).body
            for other in records.values():
                if other is not record:
                    assert other.sip_password.encode() not in body
    assert service.counters["refused"] == 4


async def test_tftp_serves_known_macs_only(box: tuple[PhoneService, dict[str, Any]], tmp_path: Path) -> None:
    service, records = box
    port = service.tftp_port
    got = subprocess.run(["curl", "-s", "-m", "10", f"tftp://127.0.0.1:{port}/{MACS['1001']}.cfg"],
                         capture_output=True, timeout=20)
    assert got.returncode == 0 and f"account.1.password = {records['1001'].sip_password}".encode() in got.stdout
    missing = subprocess.run(["curl", "-s", "-m", "10", f"tftp://127.0.0.1:{port}/001122334455.cfg"],
                             capture_output=True, timeout=20)
    assert missing.returncode != 0 and missing.stdout == b""
    if shutil.which("tftp"):  # Debian's tftp-hpa
        out = tmp_path / "gs.xml"
        subprocess.run(["tftp", "-m", "binary", "127.0.0.1", str(port), "-c", "get", f"cfg{MACS['1002']}.xml",
                        str(out)], capture_output=True, timeout=20, check=True)
        assert ET.parse(out).getroot().findtext("config/P34") == records["1002"].sip_password
    common = subprocess.run(["curl", "-s", "-m", "10", f"tftp://127.0.0.1:{port}/000000000000.cfg"],
                            capture_output=True, timeout=20)
    assert ET.fromstring(common.stdout).tag == "APPLICATION"


async def test_revoke_reissue_and_rotate(box: tuple[PhoneService, dict[str, Any]]) -> None:
    service, records = box
    mac, old = MACS["1004"], records["1004"]
    await service.revoke(mac)
    assert (await curl(url(service, old.token, f"{mac}.xml"))).code == 404
    assert subprocess.run(["curl", "-s", "-m", "5", f"tftp://127.0.0.1:{service.tftp_port}/{mac}.xml"],
                          capture_output=True, timeout=20).returncode != 0
    new = await service.reissue(mac)
    assert new.token != old.token and (await curl(url(service, new.token, f"{mac}.xml"))).code == 200
    assert (await curl(url(service, old.token, f"{mac}.xml"))).code == 404
    await service.rotate_password(mac, ACTOR)
    rotated = service.get(mac)
    assert rotated.sip_password != old.sip_password
    body = (await curl(url(service, new.token, f"{mac}.xml"))).body
    assert ET.fromstring(body).findtext("account/password") == rotated.sip_password
    ext = service.config.store.get("extensions", "1004")
    assert ext.ha1_md5 == sip_ha1("1004", service.config.realm, rotated.sip_password, "MD5")
    assert service.public(rotated)["password_in_sync"]
    # a change of the live configuration reaches the next fetch
    await service.config.store.set_settings(time_zone="Europe/Berlin", ntp_servers=["ntp.example.org"])
    g = ET.fromstring((await curl(url(service, new.token, f"{mac}.xml"))).body)
    assert g.find("time").get("zone") == "Europe/Berlin" and g.findtext("time/ntp") == "ntp.example.org"  # type: ignore[union-attr]


async def test_inventory_survives_a_restart(box: tuple[PhoneService, dict[str, Any]]) -> None:
    service, records = box
    again = PhoneService(service.data_dir, service.config)
    assert [r.phone for r in again.inventory.all()] == [r.phone for r in service.inventory.all()]
    assert again.inventory.by_token(records["1001"].token) is not None
    assert (service.data_dir / "provisioning" / "phones.json").stat().st_mode & 0o777 == 0o600


async def test_the_phone_server_answers_its_one_route_and_keeps_the_connection(
        box: tuple[PhoneService, dict[str, Any]]) -> None:
    import asyncio
    import ssl

    service, records = box
    yl = records["1001"]
    common, own = url(service, yl.token, "y000000000000.cfg"), url(service, yl.token, f"{MACS['1001']}.cfg")
    # the vendor's common file then the phone's own on one TLS connection, as a phone does after a restart
    proc = await asyncio.create_subprocess_exec(
        "curl", "-s", "-k", "-m", "10", "-o", "/dev/null", "-o", "/dev/null",
        "-w", "%{http_code} %{num_connects}\n", common, own, stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    assert out.decode().split("\n")[:2] == ["200 1", "200 0"]
    assert (await curl(own, "-X", "POST")).code == 405
    head = await curl(own, "-I")
    assert head.code == 200 and b"content-length" in head.body.lower()
    assert (await curl(own.replace(f"{MACS['1001']}.cfg", "a%2Fb.cfg"))).code == 404
    assert (await curl(f"https://127.0.0.1:{service.https_port}/p/{yl.token}")).code == 404
    assert (await curl(f"https://127.0.0.1:{service.https_port}/other")).code == 404
    # bytes that are not HTTP get a 400 and the connection closed
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    reader, writer = await asyncio.open_connection("127.0.0.1", service.https_port, ssl=ctx)
    writer.write(b"\x00\x01 not http at all\r\n\r\n")
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 400")


async def test_plug_and_play_that_cannot_listen_leaves_the_rest_running(tmp_path: Path) -> None:
    core = Core.open(tmp_path / "data")
    taken = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # the port held without sharing it
    taken.bind(("0.0.0.0", 0))
    service = PhoneService(core.data_dir, core.config,
                           PhoneServerConfig(bind="127.0.0.1", https_port=0, pnp=True,
                                             pnp_port=taken.getsockname()[1]))
    try:
        await service.start()
        health = service.health()
        assert health.status is Status.DEGRADED and "plug-and-play" in health.detail
        assert service.https_port > 0  # the phones' HTTPS server runs all the same
    finally:
        await service.stop()
        taken.close()
        core.close()


async def test_every_https_thread_serves_and_stop_ends_them_all(tmp_path: Path) -> None:
    import asyncio
    import threading

    core = Core.open(tmp_path / "data")
    await seed_if_empty(core)
    service = PhoneService(core.data_dir, core.config,
                           PhoneServerConfig(bind="127.0.0.1", https_port=0, https_threads=3))
    served_by: set[str] = set()
    fetch = service.fetch

    def spying_fetch(*args: Any, **kwargs: Any) -> bytes | None:
        served_by.add(threading.current_thread().name)
        return fetch(*args, **kwargs)

    service.fetch = spying_fetch  # type: ignore[method-assign]
    await service.start()
    try:
        records = await add_demo_phones(service)
        yl = records["1001"]
        own = url(service, yl.token, f"{MACS['1001']}.cfg")
        threads = {t.name for t in threading.enumerate() if t.name.startswith("phones-https-")}
        assert threads == {"phones-https-0", "phones-https-1", "phones-https-2"}
        # the threads accept on one socket; a burst of fetches lands on more than one of them
        for _ in range(5):
            answers = await asyncio.gather(*(curl(own) for _ in range(24)))
            assert all(a.code == 200 and b"account.1.user_name = 1001" in a.body for a in answers)
            if len(served_by) > 1:
                break
        assert len(served_by) > 1 and served_by <= threads
        assert service.health().counters["served"] >= 24
        port = service.https_port
    finally:
        await service.stop()
        core.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("phones-https-")]
    with socket.create_server(("127.0.0.1", port)):  # every duplicate of the listening socket is closed
        pass
