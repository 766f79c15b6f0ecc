"""Every page of the console, in both languages: no Content-Security-Policy violation in the console, a
screenshot each, and an axe-core audit (from npm, run inside the page) with no serious or critical finding."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.harness import RunningAppliance
from tests.web.conftest import ADMIN_PASSWORD, base_of, open_page, sign_in
from web_ui.labels import KIND_TITLES

pytestmark = [pytest.mark.slow, pytest.mark.interop]
AXE = Path(__file__).resolve().parents[2] / "web_ui" / "frontend" / "node_modules" / "axe-core" / "axe.min.js"


def _pages(web_box: RunningAppliance) -> list[str]:
    pages = ["/", "/admin/settings", "/admin/audit", "/system/health", "/system/about", "/system/hardware", "/admin/prompts", "/admin/ivr/new", "/admin/ivr/main"]
    pages.append("/system/firmware")
    pages += [f"/admin/{kind}/import" for kind in ("staff", "extensions", "vip_list", "blacklist")]
    web_box.api("PUT", "/api/v1/backups/targets/every", {"kind": "local", "path": str(web_box.work / "every-repo")})
    pages += ["/admin/backups", "/admin/backups/targets/new", "/admin/backups/schedules/new",
              "/admin/backups/targets/every", "/admin/backups/targets/every/snapshots"]
    pages += ["/setup/wizard", "/admin/network", "/admin/phones"]
    pages += ["/system/alarms", "/system/resources", "/system/thresholds", "/system/snmp"]
    pages.append("/live/wallboard")
    pages.append("/live/console")  # the supervisor console (admins too)
    pages.append("/desk")  # the admin has no staff link: the desk says so
    pages += ["/records/calls", "/records/missed", "/records/voicemail", "/records/current-calls",
              "/records/intended"]
    status, customer = web_box.api("POST", "/api/v1/customers", {"name": "每页"})  # one per language: no number
    assert status == 201, customer
    pages += ["/customers", "/customers/new", "/customers/import", f"/customers/{customer['id']}"]
    status, _ = web_box.api("PUT", "/api/v1/customer-fields/grade", {"label": "Grade", "label_zh": "等级",
                                                                     "type": "select", "options": ["A", "B"]})
    assert status == 200
    pages += ["/customers/fields", "/customers/fields/new", "/customers/fields/grade"]
    pages += ["/reports", *(f"/reports/{kind}" for kind in ("queues", "agent-calls", "agent-states", "groups", "ivr",
                                                            "queue-calls", "agent-state-log", "ivr-journeys"))]
    pages.append("/reports/exports")  # background exports and scheduled reports
    for kind in KIND_TITLES:
        pages += [f"/admin/{kind}", f"/admin/{kind}/new"]
        status, listing = web_box.api("GET", f"/api/v1/{kind}?limit=1")
        if status == 200 and listing["items"]:
            key_field = next(iter(listing["items"][0]))
            item = listing["items"][0]
            key = {"staff": "employee_no", "extensions": "number", "dids": "number", "vip_list": "number",
                   "blacklist": "number", "users": "name", "schedules": "name", "ivr_flows": "name",
                   "pause_reasons": "code"}.get(kind, "id")
            pages.append(f"/admin/{kind}/item/{item.get(key, item[key_field])}")
    return pages


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_every_page_loads_under_the_csp_and_passes_axe(web_box: RunningAppliance, playwright_browser: object,
                                                       language: str) -> None:
    if not AXE.exists():
        pytest.skip("axe-core is not installed (make installs the front-end packages)")
    b = open_page(playwright_browser, base_of(web_box), language=language)
    sign_in(b, "admin", ADMIN_PASSWORD)
    page = b.page
    if language == "en":
        page.goto("/lang?language=en&next=/")
    audit = open_page(playwright_browser, base_of(web_box), language=language, bypass_csp=True)
    audit.page.context.add_cookies(page.context.cookies())
    problems: dict[str, list[str]] = {}
    for path in _pages(web_box):
        response = page.goto(path)
        assert response is not None and response.status == 200, path
        expect(page.locator("h1")).not_to_be_empty()
        b.shot(f"{language}{path.replace('/', '-') or '-home'}")
        # axe is injected as a script, which the CSP rightly forbids: it runs in a second context that
        # bypasses the CSP, on the same page and session.
        audit.page.goto(path)
        audit.page.add_script_tag(path=str(AXE))
        result = audit.page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
        bad = [f"{v['id']} ({v['impact']}): {v['nodes'][0]['target']}" for v in result["violations"]
               if v["impact"] in ("serious", "critical")]
        if bad:
            problems[path] = bad
    assert problems == {}, json.dumps(problems, indent=1, ensure_ascii=False)
    assert b.csp_errors() == []
