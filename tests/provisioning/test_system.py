"""First-boot system settings: files the image's services read, idempotence, the SIP domain change keeping
provisioned phones' passwords valid, and the cards list with and without the HAL."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from appliance.app import Core
from appliance.demo import seed_if_empty
from appliance.errors import ValidationFailed
from appliance.security.passwords import sip_ha1
from provisioning.firstboot.system import SETUP_TOKEN_FILE, SystemService
from provisioning.phones.service import PhoneServerConfig, PhoneService
from tests.provisioning.phones_fixture import ACTOR, add_demo_phones


@pytest.fixture
async def system(tmp_path: Path) -> AsyncIterator[tuple[SystemService, PhoneService, dict[str, Any]]]:
    core = Core.open(tmp_path / "data")
    await core.auth.ensure_admin()
    await seed_if_empty(core)
    token = core.auth.issue_setup_token()
    phones = PhoneService(core.data_dir, core.config, PhoneServerConfig(https_port=0))
    records = await add_demo_phones(phones)
    service = SystemService(core.data_dir, core.config, phones, etc_root=tmp_path / "root",
                            setup_token=lambda: token, setup_required=lambda: core.auth.setup_required)
    await service.start()
    try:
        yield service, phones, records
    finally:
        core.close()


async def test_host_name_time_and_ntp_reach_the_files(system: tuple[SystemService, PhoneService, Any],
                                                      tmp_path: Path) -> None:
    service, _, _ = system
    root = tmp_path / "root"
    assert service.time_zone() == "Asia/Shanghai"  # the default
    assert await service.set_host_name("CC-Box1.example.cn") == "cc-box1.example.cn"
    assert (root / "etc" / "hostname").read_text() == "cc-box1.example.cn\n"
    with pytest.raises(ValidationFailed) as bad:
        await service.set_host_name("-bad_name")
    assert bad.value.errors[0].field == "host_name"
    for _ in range(2):  # the same step twice: same result
        await service.set_time("Asia/Urumqi", ["ntp.aliyun.com", "10.0.0.1"], ACTOR)
    assert os.readlink(root / "etc" / "localtime") == "/usr/share/zoneinfo/Asia/Urumqi"
    assert (root / "etc/chrony/sources.d/appliance.sources").read_text() == \
        "server ntp.aliyun.com iburst\nserver 10.0.0.1 iburst\n"
    assert service.config.settings().time_zone == "Asia/Urumqi"
    with pytest.raises(ValidationFailed) as bad:
        await service.set_time("Mars/Base", ["ok.example", "bad host"], ACTOR)
    assert bad.value.errors[0].field == "time_zone"
    with pytest.raises(ValidationFailed) as bad:
        await service.set_time(None, ["ok.example", "bad host"], ACTOR)
    assert bad.value.errors[0].field == "ntp_servers.1"
    again = SystemService(service.data_dir, service.config)
    await again.start()
    assert again.host_name == "cc-box1.example.cn" and again.ntp_servers == ("ntp.aliyun.com", "10.0.0.1")


async def test_sip_domain_change_sets_provisioned_passwords_again(
        system: tuple[SystemService, PhoneService, dict[str, Any]]) -> None:
    service, _, records = system
    result = await service.set_sip_domain("voice.example.cn", ACTOR)
    assert result["restart_required"] and service.sip_domain() == "voice.example.cn"
    for ext, record in records.items():
        stored = service.config.store.get("extensions", ext)
        assert stored.ha1_md5 == sip_ha1(ext, "voice.example.cn", record.sip_password, "MD5")
    # the demo's other extensions keep HA1s of the old realm: the caller is told which
    assert result["passwords_to_set_again"] and not set(result["passwords_to_set_again"]) & set(records)
    assert (await service.set_sip_domain("voice.example.cn", ACTOR))["restart_required"] is False


async def test_setup_token_file_and_cards(system: tuple[SystemService, PhoneService, Any]) -> None:
    service, _, _ = system
    token_file = service.data_dir / SETUP_TOKEN_FILE
    assert token_file.read_text().strip() == service.setup_token()
    assert token_file.stat().st_mode & 0o777 == 0o600

    def no_hal() -> list[dict[str, Any]]:
        raise ImportError("drivers.hal")

    service.cards = no_hal
    assert service.detected_cards() == {"available": False, "cards": [],
                                        "reason": "the card drivers are not installed"}
    summary = service.summary(setup_required=True)
    assert summary["admin_password_set"] is False and summary["time_zone"] == "Asia/Shanghai"
