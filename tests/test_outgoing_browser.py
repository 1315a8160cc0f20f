"""Issue 11's walk through one outgoing call in a real browser (Debian's Chromium, Playwright):
dial, captions appear, reply, hold, resume, hang up."""

from __future__ import annotations

import os
from pathlib import Path

from callchat.voices import notice
from callchat.twiml import HOLD_MUSIC

CALLEE = "+819055556666"
#: Where the screenshots go; people look at them after a run.
SHOTS = Path(os.environ.get("SCREENSHOT_DIR", "/tmp"))


def test_an_outgoing_call_from_dial_to_hang_up(stack, page):
    from playwright.sync_api import expect

    stack.sim.phone(CALLEE).script(["no-answer", "answer"])
    stack.sign_in_browser(page)
    page.get_by_label("Their number").fill("090-5555-6666")
    page.get_by_role("button", name="Call", exact=True).click()
    expect(page.locator("h1")).to_have_text("Calling +819055556666")
    stack.settle(redials=True)  # no answer, then the redial is answered
    # The progress page goes to the room by itself (refresh.js, every 2 s); a reload here could
    # race that navigation and be aborted (net::ERR_ABORTED, seen once in CI at ace9a47).
    page.wait_for_url(f"{stack.url}/rooms/*")
    expect(page.locator("#room-status")).to_have_text("live")
    room_id = page.url.rsplit("/", 1)[-1]
    heard = stack.sim.phone(CALLEE).heard
    assert [h["text"] for h in heard() if h["kind"] == "say"] == [notice("connect", "ja-JP")]

    stack.sim.phone(CALLEE).say("もしもし、どちら様ですか")
    stack.settle()
    caption = page.locator("#messages li.caption.final")
    expect(caption).to_contain_text("もしもし、どちら様ですか")
    expect(caption.locator(".speaker")).to_contain_text("caller")

    page.locator("#text").fill("お世話になっております。文字で失礼します")
    page.locator("#text").press("Enter")
    expect(page.locator("#messages li.message").last).to_contain_text("文字で失礼します")  # the post's answer
    stack.settle()
    expect(page.locator("#messages li.message").last.locator(".state")).to_have_text("spoken")
    assert [h["text"] for h in heard() if h["kind"] == "say"][-1] == "お世話になっております。文字で失礼します"
    page.screenshot(path=str(SHOTS / "callchat-outgoing-call.png"), full_page=True)

    them = page.locator(f"#participants li[data-call='{room_id}']")
    stack.hold_in_browser(them, held=True)
    assert any(h["kind"] == "play" and h["url"] == HOLD_MUSIC for h in heard()), "they hear hold music"
    stack.hold_in_browser(them, held=False)

    stack.hang_up_in_browser(page)
    assert stack.sim.phone(CALLEE).calls()[-1]["status"] == "completed"
    page.screenshot(path=str(SHOTS / "callchat-outgoing-ended.png"), full_page=True)
