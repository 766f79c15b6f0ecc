"""A generic profile fetched from the running box (`appliance run`) over HTTPS, turned into baresip accounts:
both softphones register with the provisioned credentials and one calls the other through the box."""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.baresip_peer import baresip_modules, free_pair, tone
from tests.conftest import free_port
from tests.e2e.harness import RunningAppliance, start_appliance, wait_until

MODULES = baresip_modules()
pytestmark = [pytest.mark.interop, pytest.mark.slow,
              pytest.mark.skipif(MODULES is None, reason="baresip (with its modules) is not installed")]
PHONES = {"1004": "aa:bb:cc:00:10:04", "1005": "aa:bb:cc:00:10:05"}


@pytest.fixture
def box(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningAppliance]:
    monkeypatch.setenv("APPLIANCE_PHONES_PORT", str(free_port()))
    app = start_appliance(tmp_path)
    try:
        yield app
    finally:
        assert app.stop() == 0, app.log.read_text()[-3000:]


def profile(box: RunningAppliance, extension: str) -> ET.Element:
    mac = PHONES[extension]
    status, url = box.api("GET", f"/api/v1/phones/{mac}/url")
    assert status == 200, url
    fetched = subprocess.run(["curl", "-s", "-k", "-m", "10", url["url"] + mac.replace(":", "") + ".xml"],
                             capture_output=True, timeout=20, check=True)
    return ET.fromstring(fetched.stdout)


def baresip(folder: Path, account: ET.Element, rtp: str, *commands: str) -> subprocess.Popen[bytes]:
    """A baresip whose account line is made from the profile alone: user, password, registrar."""
    folder.mkdir()
    tone(folder / "tone.wav", 6.0, 700.0)
    registrar = account.findtext("registrar") or ""
    host_port = registrar.removeprefix("sip:").split(";")[0]
    (folder / "config").write_text(f"""
sip_listen 127.0.0.1:{free_pair()}
audio_source aufile,{folder / 'tone.wav'}
audio_player aubridge,a
audio_srate 8000
audio_channels 1
rtp_ports {rtp}
module_path {MODULES}
module g711.so
module aufile.so
module aubridge.so
module menu.so
module_app account.so
""")
    (folder / "accounts").write_text(
        f"<sip:{account.findtext('user')}@{host_port}>;auth_user={account.findtext('auth-user')};"
        f"auth_pass={account.findtext('password')};regint={account.findtext('register-expires')};"
        "answermode=auto\n")
    args = ["baresip", "-f", str(folder), "-t", "40"]
    for command in commands:
        args += ["-e", command]
    return subprocess.Popen(args, cwd=folder, stdout=(folder / "out.log").open("wb"), stderr=subprocess.STDOUT)


def test_a_provisioned_generic_profile_registers_and_calls(box: RunningAppliance) -> None:
    status, added = box.api("POST", "/api/v1/phones", {"phones": [
        {"mac": mac, "extension": ext, "vendor": "generic"} for ext, mac in PHONES.items()]})
    assert status == 201, added
    callee, caller = profile(box, "1005"), profile(box, "1004")
    assert callee.findtext("account/password") != caller.findtext("account/password")
    b = baresip(box.work / "phone-1005", callee.find("account"), "22000-22050")  # type: ignore[arg-type]
    a = None
    try:
        wait_until("1005's registration", lambda: b"200 OK" in (box.work / "phone-1005" / "out.log").read_bytes(), 20)
        a = baresip(box.work / "phone-1004", caller.find("account"), "22100-22150",  # type: ignore[arg-type]
                    "/dial 1005")
        cdr = box.wait_for_cdr("1005", timeout=30)
    finally:
        for p in (a, b):
            if p is not None:
                p.terminate()
                p.wait(timeout=10)
    assert cdr["caller"] == "1004" and cdr["disposition"] == "answered", cdr
    assert cdr["answered"] and cdr["ended"] - cdr["answered"] > 2, cdr  # they talked until the tone ended
    log_a = (box.work / "phone-1004" / "out.log").read_text(errors="replace")
    assert "200 OK" in log_a and "established" in log_a.lower(), log_a[-2000:]
    # the registrar holds both phones' bindings, made with the provisioned passwords
    status, phones = box.api("GET", "/api/v1/phones")
    assert all(p["password_in_sync"] for p in phones["items"]), phones
