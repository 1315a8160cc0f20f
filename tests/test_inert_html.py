"""Markup in a caller ID or a typed message shows as text, on the first render (Jinja) and on live updates
(the same partials, placed by live.js), in Debian's Chromium: no element is made of it and no script runs."""

from __future__ import annotations

from tests.conftest import ACCOUNT_SID, TWILIO_NUMBER

#: What an attacker puts in a caller ID or types: an image whose error handler would run script.
MARKUP = "<img src=x onerror=window.xss=1>"


def call_in_with_caller_id(stack, caller_id: str, call_sid: str) -> None:
    """Twilio's incoming-call webhook, signed, for a call whose From is `caller_id` (e.g. a `client:` or SIP
    caller, which Twilio passes as the caller set it); the room stays waiting for its caller."""
    response = stack.twilio_post("/voice/incoming", {"CallSid": call_sid, "AccountSid": ACCOUNT_SID, "From": caller_id,
                                                     "To": TWILIO_NUMBER, "CallStatus": "ringing", "Direction": "inbound"})
    assert response.status_code == 200, response.text


def assert_inert(page, container: str) -> None:
    """`container` shows MARKUP as text, has no element made of it, and no script of it ran."""
    from playwright.sync_api import expect

    expect(page.locator(container)).to_contain_text(MARKUP)
    expect(page.locator(f"{container} img")).to_have_count(0)
    assert page.evaluate("window.xss") is None


def test_markup_in_a_caller_id_shows_as_text_in_the_room_list_and_the_room_page(stack, page):
    stack.sign_in_browser(page)
    page.goto(f"{stack.url}/rooms/")
    live_room, first_render_room = "CA" + "a7" * 16, "CA" + "b8" * 16
    call_in_with_caller_id(stack, MARKUP, live_room)
    assert_inert(page, "#rooms")  # added live, by live.js

    call_in_with_caller_id(stack, MARKUP, first_render_room)
    listed = stack.user.http.get(f"{stack.url}/rooms/").text
    assert MARKUP not in listed and "&lt;img src=x onerror=window.xss=1&gt;" in listed, "escaped by Jinja"
    page.reload()
    assert_inert(page, "#rooms")

    html = stack.user.open_room(first_render_room).text
    assert MARKUP not in html and html.count("&lt;img src=x onerror=window.xss=1&gt;") == 3, "title, heading and participant"
    page.goto(f"{stack.url}/rooms/{first_render_room}")
    assert_inert(page, "#participants")  # as live.js places the stream's snapshot
    assert_inert(page, "#room-title")
    assert MARKUP in page.title()


def test_a_typed_message_with_markup_shows_as_text(stack, page):
    from playwright.sync_api import expect

    room_id = stack.call_in()
    stack.user.open_room(room_id)
    assert stack.user.say(room_id, MARKUP).status_code == 202
    stack.settle()
    html = stack.user.open_room(room_id).text
    assert MARKUP not in html and "&lt;img src=x onerror=window.xss=1&gt;" in html, "escaped by Jinja"

    stack.sign_in_browser(page)
    page.goto(f"{stack.url}/rooms/{room_id}")
    expect(page.locator("#messages li")).to_have_count(1)
    assert_inert(page, "#messages")

    page.locator("#text").fill(f"{MARKUP} again")
    page.locator("#text").press("Enter")
    expect(page.locator("#messages li")).to_have_count(2)  # chat.js renders the post's answer at once
    stack.settle()
    expect(page.locator("#messages li .state")).to_have_text(["spoken", "spoken"])  # and the stream's updates
    expect(page.locator("#messages li .body").nth(1)).to_have_text(f"{MARKUP} again")
    assert_inert(page, "#messages")
