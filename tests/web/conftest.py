"""Browser tests: the real `appliance run`, driven by Playwright in the system's Chromium.

Never `playwright install`: the browser is Debian's, launched by path. Every page a test visits is saved as
a screenshot under `test-artifacts/screenshots/` (look at them), and every console message is kept so a test
can assert that no Content-Security-Policy violation happened.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.e2e.harness import RunningAppliance, start_appliance

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ADMIN_PASSWORD = "an admin password"
CHROMIUM_ARGS = ["--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]

pytestmark = [pytest.mark.slow, pytest.mark.interop]


def _real_chromium() -> str:
    # Debian's wrapper script prints a harmless shell warning; the binary behind it is launched directly.
    direct = Path("/usr/lib/chromium/chromium")
    return str(direct) if direct.exists() else CHROMIUM


@dataclass
class Browser:
    """One page in a fresh context, with its console log, and a screenshot helper."""

    page: object
    console: list[str] = field(default_factory=list)
    base: str = ""

    def shot(self, name: str) -> Path:
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"{re.sub(r'[^a-z0-9_-]+', '-', name.lower())}.png"
        self.page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
        return path

    def csp_errors(self) -> list[str]:
        return [m for m in self.console if "Content Security Policy" in m or "Content-Security-Policy" in m]


@pytest.fixture(scope="module")
def playwright_browser() -> Iterator[object]:
    # Per module, not per session: Playwright's sync API keeps an event loop running on the main thread
    # while it is open, and an asyncio test run meanwhile (any later module) could not start its own.
    if not Path(_real_chromium()).exists():
        pytest.skip("chromium is not installed (make installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_real_chromium(), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def open_page(browser: object, base: str, *, language: str = "zh-CN", bypass_csp: bool = False) -> Browser:
    context = browser.new_context(  # type: ignore[attr-defined]
        base_url=base, locale=language, ignore_https_errors=True, bypass_csp=bypass_csp,
        viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.set_default_timeout(15_000)
    b = Browser(page, base=base)
    page.on("console", lambda m: b.console.append(f"{m.type}: {m.text}"))
    return b


@pytest.fixture(scope="module")
def web_box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningAppliance]:
    """One appliance for a module's browser tests, already set up (the admin password set)."""
    app = start_appliance(tmp_path_factory.mktemp("web"))
    try:
        yield app
    finally:
        assert app.stop() == 0, app.log.read_text()[-3000:]


def sign_in(b: Browser, user: str, password: str) -> None:
    page = b.page
    page.goto("/login")  # type: ignore[attr-defined]
    page.fill("#f-name", user)  # type: ignore[attr-defined]
    page.fill("#f-password", password)  # type: ignore[attr-defined]
    page.click("form[data-api] button[type=submit]")  # type: ignore[attr-defined]
    page.wait_for_url(lambda url: "/login" not in url)  # type: ignore[attr-defined]


def base_of(app: RunningAppliance) -> str:
    return f"http://127.0.0.1:{app.http_port}"


