"""The room page in a real browser: Debian's Chromium, driven by Playwright (no browser download)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import CALLER

CHROMIUM = "/usr/bin/chromium"
#: Where the screenshot goes; people look at it after a run.
SCREENSHOT = Path(os.environ.get("SCREENSHOT_DIR", "/tmp")) / "callchat-room.png"


@pytest.fixture
def page():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is not installed (.ci/run installs it)")
        pytest.skip("Debian's chromium is not installed: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        page = browser.new_page(viewport={"width": 1100, "height": 720})
        yield page
        browser.close()


def test_type_in_the_room_page_and_see_it_spoken(stack, page):
    from playwright.sync_api import expect

    room_id = stack.call_in()
    page.goto(f"{stack.url}/rooms/")
    page.get_by_role("link", name=CALLER).click()
    expect(page.locator("#room-status")).to_have_text("live")
    expect(page.locator("#participants")).to_contain_text("caller")

    page.locator("#text").fill("こんにちは、テキストで話しています")
    page.locator("#text").press("Enter")
    message = page.locator("#messages li").first
    expect(message).to_contain_text("queued")  # the echo is instant, before any job ran
    stack.settle()
    expect(message.locator(".state")).to_have_text("spoken")
    expect(page.locator("#text")).to_have_value("")

    page.locator("#text").press("Enter")  # empty: refused with a readable message
    expect(page.locator("#error")).to_contain_text("empty")

    page.screenshot(path=str(SCREENSHOT), full_page=True)
    heard = [h["text"] for h in stack.sim.phone(CALLER).heard() if h["source"] == "announcement"]
    assert heard == ["こんにちは、テキストで話しています"]
    assert SCREENSHOT.stat().st_size > 0
