"""The room page works from the keyboard, with the shortcuts it lists under "Keyboard shortcuts":
Enter sends, Shift+Enter makes a new line, Alt+1…9 sends a quick phrase, Alt+Shift+K goes to the keypad,
Alt+Shift+H hangs up (after asking)."""

from __future__ import annotations

from tests.conftest import CALLER


def test_the_room_pages_keyboard_shortcuts(stack, page):
    from playwright.sync_api import expect

    room_id = stack.call_in()
    stack.sign_in_browser(page)
    page.goto(f"{stack.url}/rooms/{room_id}")
    expect(page.locator("#room-status")).to_have_text("live")
    listed = page.locator(".shortcuts")
    listed.locator("summary").press("Enter")  # the list opens from the keyboard
    expect(listed.locator("dt")).to_have_text(["Enter", "Shift+Enter", "Alt+1–9", "Alt+Shift+K", "Alt+Shift+H"])
    expect(page.locator("#keys")).to_have_attribute("aria-keyshortcuts", "Alt+Shift+K")
    expect(page.locator("#hangup")).to_have_attribute("aria-keyshortcuts", "Alt+Shift+H")

    page.locator("#text").fill("一行目")
    page.locator("#text").press("Shift+Enter")
    page.locator("#text").type("二行目")
    page.locator("#text").press("Enter")
    expect(page.locator("#messages li.message")).to_have_count(1)  # sent before the phrase, so heard first
    page.keyboard.press("Alt+1")
    expect(page.locator("#messages li.message")).to_have_count(2)  # the post's answer, before any job ran
    stack.settle()
    expect(page.locator("#messages li .state")).to_have_text(["spoken", "spoken"])
    first_phrase = page.locator("#phrases .phrase").first.get_attribute("data-text")
    heard = [h["text"] for h in stack.sim.phone(CALLER).heard() if h["kind"] == "say"][1:]
    assert heard == ["一行目\n二行目", first_phrase]

    page.keyboard.press("Alt+Shift+K")
    expect(page.locator("#keys")).to_be_focused()

    page.once("dialog", lambda dialog: dialog.accept())
    with stack.posted(page, "/hangup"):
        page.keyboard.press("Alt+Shift+H")
    stack.settle()
    expect(page.locator("#room-status")).to_have_text("ended")
    assert stack.sim.phone(CALLER).calls()[-1]["status"] == "completed"
