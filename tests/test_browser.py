"""The room page in a real browser: Debian's Chromium, driven by Playwright (no browser download; the
`page` fixture is in conftest.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from callchat import users
from tests.conftest import CALLER, GREETING, OPERATOR, open_session

#: Where the screenshot goes; people look at it after a run.
SCREENSHOT = Path(os.environ.get("SCREENSHOT_DIR", "/tmp")) / "callchat-room.png"


def test_sign_in_type_in_the_room_page_see_it_spoken_and_sign_out(stack, page):
    from playwright.sync_api import expect

    room_id = stack.call_in()
    page.goto(f"{stack.url}/rooms/{room_id}")
    expect(page).to_have_url(f"{stack.url}/signin?next=/rooms/{room_id}")
    expect(page.locator("body")).not_to_contain_text(CALLER)
    page.get_by_label("Username").fill(OPERATOR[0])
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".field .error")).to_contain_text("Wrong username or password")
    page.get_by_label("Password").fill(OPERATOR[1])
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{stack.url}/rooms/{room_id}")
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
    heard = [h["text"] for h in stack.sim.phone(CALLER).heard() if h["kind"] == "say"][1:]  # after the greeting
    assert heard == ["こんにちは、テキストで話しています"]
    assert SCREENSHOT.stat().st_size > 0

    page.get_by_role("button", name="Sign out").click()
    expect(page.locator(".notice")).to_have_text("You are signed out.")
    page.goto(f"{stack.url}/rooms/{room_id}")
    expect(page).to_have_url(f"{stack.url}/signin?next=/rooms/{room_id}")
    expect(page.locator("#messages")).to_have_count(0)


def test_call_someone_into_the_room_shows_progress_and_cancel(stack, page):
    from playwright.sync_api import expect

    room_id = stack.call_in()
    stack.sim.phone("+819055556666").script(["no-answer", "answer"])
    stack.sign_in_browser(page)
    page.goto(f"{stack.url}/rooms/{room_id}")
    page.locator("#dial-to").fill("090-5555-6666")
    page.locator("#dial button").click()
    entry = page.locator("#participants li", has_text="+819055556666")
    expect(entry).to_contain_text("dialing")
    stack.settle()
    expect(entry).to_contain_text("no answer, attempt 1 of 3, next try in")
    expect(entry.get_by_role("button", name="cancel")).to_be_visible()
    page.screenshot(path=str(SCREENSHOT.with_name("callchat-dial.png")), full_page=True)
    entry.get_by_role("button", name="cancel").click()
    expect(entry).to_contain_text("cancelled")
    stack.settle(redials=True)
    assert len(stack.sim.phone("+819055556666").calls()) == 1, "cancelled: no second attempt"

    page.locator("#dial-to").fill("+1 900 555 0100")
    page.locator("#dial button").click()
    expect(page.locator("#dial-error")).to_contain_text("premium-rate")


@pytest.mark.parametrize("masking", ["builtin"], indirect=True)
def test_operators_see_live_sessions_with_numbers_partly_hidden(masking, page):
    from playwright.sync_api import expect

    session = open_session(masking, "order-1234", "090-1111-2222", "090-3333-4444")
    masking.sign_in_browser(page)
    page.goto(f"{masking.url}/sessions/")
    row = page.locator("tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("order-1234")
    expect(row).to_contain_text(session["numbers"]["a"]["calls"])
    expect(row).not_to_contain_text("+819011112222")
    page.screenshot(path=str(SCREENSHOT.with_name("callchat-sessions.png")), full_page=True)


def open_live_room(stack, page) -> str:
    """A phone calls in and the page opens its room, showing it live; return the room id."""
    from playwright.sync_api import expect

    room_id = stack.call_in()
    stack.sign_in_browser(page)
    page.goto(f"{stack.url}/rooms/{room_id}")
    expect(page.locator("#room-status")).to_have_text("live")
    return room_id


def test_double_clicking_send_speaks_the_message_once(stack, page):
    from playwright.sync_api import expect

    room_id = open_live_room(stack, page)
    page.locator("#text").fill("二度押しても一度だけ")
    page.locator("#send").dblclick()
    expect(page.locator("#text")).to_have_value("")
    stack.settle()
    expect(page.locator("#messages li .state")).to_have_text(["spoken"])
    assert [m["body"] for m in stack.user.state(room_id)["messages"]] == ["二度押しても一度だけ"]
    heard = [h["text"] for h in stack.sim.phone(CALLER).heard() if h["kind"] == "say" and h["text"] != GREETING]
    assert heard == ["二度押しても一度だけ"]


def test_double_clicking_call_dials_once_and_the_callers_number_is_refused(stack, page):
    from playwright.sync_api import expect

    room_id = open_live_room(stack, page)
    page.locator("#dial-to").fill("090-5555-6666")
    page.locator("#dial button").dblclick()
    expect(page.locator("#dial-to")).to_have_value("")
    stack.settle()
    expect(page.locator("#participants li", has_text="+819055556666")).to_have_count(1)
    expect(page.locator("#participants li", has_text="+819055556666")).to_contain_text("in the call")
    assert len(stack.sim.phone("+819055556666").calls()) == 1
    expect(page.locator("#dial-error")).to_be_hidden()

    page.locator("#dial-to").fill("090-5555-6666")
    page.locator("#dial button").click()
    expect(page.locator("#dial-error")).to_have_text("+819055556666 is already in this call.")
    page.locator("#dial-to").fill(CALLER)
    page.locator("#dial button").click()
    expect(page.locator("#dial-error")).to_contain_text("the caller's own number")
    page.screenshot(path=str(SCREENSHOT.with_name("callchat-dial-refused.png")), full_page=True)
    stack.settle()
    assert len(stack.sim.phone("+819055556666").calls()) == 1
    assert len(stack.sim.phone(CALLER).calls()) == 1, "only the caller's own incoming call"


def test_a_disabled_users_open_room_page_goes_to_sign_in_at_once(stack, page):
    """An open page's live stream must not outlive its user's session (it would keep showing the conversation)."""
    from playwright.sync_api import expect

    room_id = open_live_room(stack, page)
    users.set_disabled(stack.redis, OPERATOR[0], True)
    expect(page).to_have_url(f"{stack.url}/signin?next=/rooms/{room_id}")
    stack.user.say(room_id, "said after the typist was disabled")  # stack.user is the same (disabled) operator
    expect(page.locator("body")).not_to_contain_text("said after")
