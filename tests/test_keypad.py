"""The keypad: digits typed in the chat reach a phone menu as DTMF tones, in order with the messages."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import CALLER

MENU = "+819055556666"  # a company's phone menu
PROMPT = "Press 1 for sales, 2 for support."
OPTIONS = {"1": "Sales, how can I help?", "2#": "Support here."}
#: The room page with its keypad and call controls; people look at it after a run.
SCREENSHOT = Path(os.environ.get("SCREENSHOT_DIR", "/tmp")) / "callchat-controls.png"


#: After each test, every REST request callchat sent (and every answer) validates against Twilio's spec.
pytestmark = pytest.mark.usefixtures("every_exchange_meets_twilios_spec")


def keys(stack, room_id, digits, **extra):
    return stack.user.post(f"/rooms/{room_id}/messages", {"kind": "digits", "digits": digits, **extra})


def test_keys_typed_in_the_chat_reach_a_menu_called_into_the_room_and_the_caller_hears_its_reply(stack):
    stack.sim.phone(MENU).menu(PROMPT, OPTIONS)
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    assert stack.user.post(f"/rooms/{room_id}/calls", {"to": MENU}).status_code == 202
    stack.settle()
    assert stack.user.state(room_id)["room"]["mode"] == "conference"

    assert keys(stack, room_id, "2#").status_code == 202
    stack.settle()
    assert stack.sim.phone(MENU).digits() == "2#"
    assert stack.sim.phone(CALLER).digits() == "", "keys are whispered to the menu only"
    heard = [h["text"] for h in stack.sim.phone(CALLER).heard() if h["kind"] == "say" and h["source"] == "phone"]
    assert heard[-1] == "Support here."
    [message] = stack.user.state(room_id)["messages"]
    assert (message["kind"], message["body"], message["state"]) == ("digits", "2#", "spoken")
    assert not [e for e in stack.sim.errors() if "overlap" in str(e)]


def test_keys_go_into_a_lone_callers_call_between_messages_in_order(stack):
    stack.sim.phone(MENU).menu(PROMPT, OPTIONS)
    created = stack.api("POST", "/api/calls", json={"to": MENU, "chat": True, "machine": "accept"})
    assert created.status_code == 202, created.text
    stack.settle()
    room_id = stack.api("GET", f"/api/calls/{created.json()['id']}").json()["opened_room"]
    stack.user.open_room(room_id)

    stack.user.say(room_id, "こんにちは")
    assert keys(stack, room_id, " 1 ").status_code == 202
    stack.user.say(room_id, "よろしくお願いします")
    stack.settle()
    assert stack.sim.phone(MENU).digits() == "1"
    assert [s["text"] for s in stack.sim.phone(MENU).said()] == [PROMPT, "Sales, how can I help?"]
    messages = stack.user.state(room_id)["messages"]
    assert [(m["kind"], m["state"]) for m in messages] == [("say", "spoken"), ("digits", "spoken"), ("say", "spoken")]


@pytest.mark.parametrize("payload, words", [
    ({"digits": ""}, "1 to 32"),
    ({"digits": "12a"}, "1 to 32"),
    ({"digits": "1" * 33}, "1 to 32"),
    ({"digits": "1", "to": "CA" + "0" * 32}, "not on the call"),
])
def test_bad_keys_get_a_clear_error_and_nothing_is_queued(stack, payload, words):
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    answer = stack.user.post(f"/rooms/{room_id}/messages", {"kind": "digits", **payload})
    assert answer.status_code == 400 and words in answer.json()["error"]
    assert stack.user.state(room_id)["messages"] == []


def test_the_room_page_keypad_and_hold_button_work_and_show_their_state_live(stack, page):
    from playwright.sync_api import expect

    stack.sim.phone(MENU).menu(PROMPT, OPTIONS)
    created = stack.api("POST", "/api/calls", json={"to": MENU, "chat": True, "machine": "accept"})
    stack.settle()
    room_id = stack.api("GET", f"/api/calls/{created.json()['id']}").json()["opened_room"]
    stack.sign_in_browser(page)
    page.goto(f"{stack.url}/rooms/{room_id}")
    expect(page.locator("#room-status")).to_have_text("live")

    page.locator("#keypad button[data-key='1']").click()
    expect(page.locator("#messages li.message").first).to_contain_text("Keys sent: 1")  # after the timeline's events
    stack.settle()
    expect(page.locator("#messages li.message").first.locator(".state")).to_have_text("spoken")
    assert stack.sim.phone(MENU).digits() == "1"

    caller = page.locator(f"#participants li[data-call='{room_id}']")
    stack.hold_in_browser(caller, held=True)
    expect(caller.get_by_role("button", name="Resume")).to_be_visible()
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    stack.hold_in_browser(caller, held=False)

    stack.hang_up_in_browser(page)
    expect(page.locator("#keypad button").first).to_be_disabled()
