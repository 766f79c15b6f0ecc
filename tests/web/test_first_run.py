"""First run in the browser: `/` leads to set-up, the console token sets the password, then sign-in works."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.harness import RunningAppliance, start_appliance
from tests.web.conftest import ADMIN_PASSWORD, base_of, open_page, sign_in

pytestmark = [pytest.mark.slow, pytest.mark.interop]


@pytest.fixture
def fresh_box(tmp_path: Path) -> Iterator[RunningAppliance]:
    app = start_appliance(tmp_path, set_up=False)
    try:
        yield app
    finally:
        assert app.stop() == 0, app.log.read_text()[-3000:]


def test_first_run_sets_the_password_with_the_token_then_signs_in(fresh_box: RunningAppliance,
                                                                  playwright_browser: object) -> None:
    b = open_page(playwright_browser, base_of(fresh_box))
    page = b.page
    page.goto("/")
    page.wait_for_url("**/setup")
    assert page.locator("h1").inner_text() == "首次设置"
    b.shot("setup")
    # a wrong token is refused beside the form, and nothing is set
    page.fill("#f-token", "not-the-token")
    page.fill("#f-password", ADMIN_PASSWORD)
    page.fill("#f-password_again", ADMIN_PASSWORD)
    page.click("form[data-api] button[type=submit]")
    expect(page.locator(".form-error")).to_contain_text("设置令牌无效")
    # a weak password is refused beside its field
    page.fill("#f-token", fresh_box.setup_token)
    page.fill("#f-password", "12345678")
    page.fill("#f-password_again", "12345678")
    page.click("form[data-api] button[type=submit]")
    expect(page.locator("#f-password-error")).to_contain_text("过于简单")
    expect(page.locator("#f-password")).to_have_attribute("aria-invalid", "true")
    b.shot("setup-weak-password")
    page.fill("#f-password", ADMIN_PASSWORD)
    page.fill("#f-password_again", ADMIN_PASSWORD)
    page.click("form[data-api] button[type=submit]")
    page.wait_for_url("**/setup/wizard")  # signed in by the token and the new password: on to the wizard
    expect(page.locator("h1")).to_have_text("设置向导")
    # signing out, then in with the new password
    page.locator("form[action='/logout'] button").click()
    page.wait_for_url("**/login")
    b.shot("login")
    sign_in(b, "admin", ADMIN_PASSWORD)
    expect(page.locator("h1")).to_have_text("概览")
    b.shot("home")
    assert b.csp_errors() == []
    # the one-time token is spent: the set-up page now leads to sign-in
    page.goto("/setup")
    page.wait_for_url("**/login")
