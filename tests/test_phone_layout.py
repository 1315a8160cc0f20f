"""On a phone (390×844) the room page shows the message box and the newest message without scrolling,
when it opens and after a message is sent (issue 12)."""

from __future__ import annotations

import os
from pathlib import Path

#: Where the screenshots go; people look at them after a run.
SHOTS = Path(os.environ.get("SCREENSHOT_DIR", "/tmp"))
#: getBoundingClientRect of a selector's last match, and the viewport's height (CSS pixels).
IN_VIEW = """(selector) => {
  const found = document.querySelectorAll(selector);
  const box = found[found.length - 1].getBoundingClientRect();
  return { top: box.top, bottom: box.bottom, height: window.innerHeight, scrolled: window.scrollY };
}"""


def assert_in_view(page, selector: str) -> None:
    box = page.evaluate(IN_VIEW, selector)
    assert 0 <= box["top"] and box["bottom"] <= box["height"], f"{selector} is not in the viewport: {box}"


def test_the_box_and_the_newest_message_show_on_a_phone(stack, page):
    from playwright.sync_api import expect

    room_id = stack.call_in()
    stack.user.open_room(room_id)
    for n in range(1, 16):  # more than a phone's screen holds
        assert stack.user.say(room_id, f"メッセージ {n} です。少し長めの文章で、画面の幅を超えて折り返します。").status_code == 202
    stack.settle()
    page.set_viewport_size({"width": 390, "height": 844})
    stack.sign_in_browser(page)
    page.goto(f"{stack.url}/rooms/{room_id}")
    expect(page.locator("#messages li")).to_have_count(15)
    expect(page.locator("#room-status")).to_have_text("live")
    assert_in_view(page, "#text")
    assert_in_view(page, "#messages li")
    expect(page.locator("#messages li").last).to_contain_text("メッセージ 15 です")
    page.screenshot(path=str(SHOTS / "callchat-phone-room.png"))

    page.locator("#text").fill("最後の一言")
    page.locator("#text").press("Enter")
    expect(page.locator("#messages li")).to_have_count(16)
    stack.settle()
    expect(page.locator("#messages li .state").last).to_have_text("spoken")
    assert_in_view(page, "#text")
    assert_in_view(page, "#messages li")
    expect(page.locator("#messages li").last).to_contain_text("最後の一言")
    page.screenshot(path=str(SHOTS / "callchat-phone-sent.png"))
