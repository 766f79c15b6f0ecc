"""HTTPS on its own port with the box's certificate (the one SIP over TLS presents too), the session cookie's
flags over it, and the plain-HTTP redirect the image turns on."""

from __future__ import annotations

import http.client
import ssl
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.harness import RunningAppliance, start_appliance
from tests.web.conftest import ADMIN_PASSWORD, open_page, sign_in

pytestmark = [pytest.mark.slow, pytest.mark.interop]


def _https_base(app: RunningAppliance) -> str:
    return f"https://127.0.0.1:{app.https_port}"


def test_https_serves_the_box_certificate_and_the_cookie_is_secure(web_box: RunningAppliance,
                                                                   playwright_browser: object) -> None:
    served = ssl.get_server_certificate(("127.0.0.1", web_box.https_port))
    box_cert = (web_box.data / "tls" / "box.crt").read_text()
    assert ssl.PEM_cert_to_DER_cert(served) == ssl.PEM_cert_to_DER_cert(box_cert)
    sip_tls = ssl.get_server_certificate(("127.0.0.1", web_box.sip_port + 1))
    assert ssl.PEM_cert_to_DER_cert(sip_tls) == ssl.PEM_cert_to_DER_cert(box_cert)  # one certificate for the box
    b = open_page(playwright_browser, _https_base(web_box))
    sign_in(b, "admin", ADMIN_PASSWORD)
    expect(b.page.locator("h1")).to_have_text("概览")
    session = {c["name"]: c for c in b.page.context.cookies()}["appliance_session"]
    assert session["secure"] and session["httpOnly"] and session["sameSite"] == "Strict"
    b.shot("home-https")


def test_plain_http_redirects_to_https_when_asked(tmp_path: Path) -> None:
    app = start_appliance(tmp_path, "--http-redirect", set_up=False)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", app.http_port, timeout=10)
        conn.request("GET", "/admin/queues?sort=name")
        response = conn.getresponse()
        assert response.status == 308
        assert response.getheader("location") == f"https://127.0.0.1:{app.https_port}/admin/queues?sort=name"
        conn.close()
        conn = http.client.HTTPConnection("127.0.0.1", app.http_port, timeout=10)
        conn.request("GET", "/api/v1/health")
        assert conn.getresponse().status == 200  # health checks stay on plain HTTP
        conn.close()
    finally:
        assert app.stop() == 0, app.log.read_text()[-3000:]
