"""The prompts page in Chromium: a recording uploaded through the page is converted by the API, listed, and
played in the page (the audio element has data and a duration); then deleted."""

from __future__ import annotations

import io
import math
import re
import struct
import wave

import pytest
from playwright.sync_api import expect

from tests.e2e.harness import RunningAppliance
from tests.web.conftest import ADMIN_PASSWORD, base_of, open_page, sign_in

pytestmark = [pytest.mark.slow, pytest.mark.interop]


def _wav(seconds: float = 1.5, rate: int = 44100) -> bytes:
    """A stereo 16-bit recording at a PC's rate: the upload route converts it to 8 kHz mono."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        frames = bytearray()
        for i in range(int(seconds * rate)):
            v = int(8000 * math.sin(2 * math.pi * 440 * i / rate))
            frames += struct.pack("<hh", v, v)
        w.writeframes(bytes(frames))
    return buffer.getvalue()


def test_a_prompt_is_uploaded_played_and_deleted(web_box: RunningAppliance, playwright_browser: object) -> None:
    b = open_page(playwright_browser, base_of(web_box))
    sign_in(b, "admin", ADMIN_PASSWORD)
    page = b.page
    page.goto("/admin/prompts")
    expect(page.locator("nav.side a[href='/admin/prompts']")).to_have_attribute("aria-current", "page")
    zh = page.locator("table[data-prompts='zh-CN']")
    expect(zh.locator("tbody tr").first).to_have_attribute("data-name", re.compile(".+"))  # shipped defaults
    # a bad name is refused beside its field
    page.fill("#p-name", "Bad Name")
    page.set_input_files("#p-file", files=[{"name": "hello.wav", "mimeType": "audio/wav", "buffer": _wav()}])
    page.click("#prompt-upload button[type=submit]")
    expect(page.locator("#p-name-error")).not_to_be_empty()
    page.fill("#p-name", "holiday_notice")
    page.click("#prompt-upload button[type=submit]")
    row = zh.locator("tr[data-name='holiday_notice']")
    expect(row).to_contain_text("已上传")
    expect(page.locator("#p-saved")).to_contain_text("holiday_notice")
    status, listing = web_box.api("GET", "/api/v1/prompts")
    mine = [p for p in listing["items"] if p["name"] == "holiday_notice"]
    assert status == 200 and mine[0]["language"] == "zh-CN" and 1.4 < mine[0]["duration"] < 1.6
    row.locator("button.secondary").click()
    page.wait_for_function(
        "() => { const a = document.querySelector(\"table[data-prompts='zh-CN'] tr[data-name='holiday_notice'] audio\");"
        " return a && a.readyState >= 2 && a.duration > 0; }")
    duration = row.locator("audio").evaluate("a => a.duration")
    assert 1.4 < duration < 1.6
    b.shot("prompts-uploaded-playing")
    row.locator("button.danger").click()
    page.click("#confirm-ok")
    page.wait_for_load_state()
    expect(zh.locator("tr[data-name='holiday_notice']")).to_have_count(0)
    assert not [p for p in web_box.api("GET", "/api/v1/prompts")[1]["items"] if p["name"] == "holiday_notice"]
    assert b.csp_errors() == []
