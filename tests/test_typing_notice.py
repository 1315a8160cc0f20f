"""While the typist types and nothing is queued, the other side hears a short notice, at most once per pause."""

from __future__ import annotations

from callchat.settings import DEFAULTS
from callchat.voices import notice
from tests.conftest import CALLER, GREETING

PAUSE = DEFAULTS["TYPING_NOTICE_SECONDS"]


def said(stack) -> list[str]:
    return [h["text"] for h in stack.sim.phone(CALLER).heard() if h["kind"] == "say" and h["text"] != GREETING]


def typing(stack, room_id):
    assert stack.user.post(f"/rooms/{room_id}/typing", {}).status_code == 204


def test_a_long_silence_while_typing_is_explained_once_per_pause(stack):
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    for _ in range(3):  # the page reports typing every few seconds
        typing(stack, room_id)
    stack.pass_time(PAUSE, "say_typing_notice")
    assert said(stack) == [notice("typing", "ja-JP")]
    typing(stack, room_id)  # still typing, within the pause after the notice
    stack.pass_time(PAUSE - 1, "say_typing_notice")
    assert said(stack) == [notice("typing", "ja-JP")], "at most once per pause"
    stack.user.say(room_id, "お待たせしました")
    stack.settle()
    assert said(stack) == [notice("typing", "ja-JP"), "お待たせしました"]
    messages = stack.user.state(room_id)["messages"]
    assert [m["body"] for m in messages] == [notice("typing", "ja-JP"), "お待たせしました"], "the notice shows in the chat"


def test_no_notice_when_the_message_goes_out_before_the_pause_ends(stack):
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    typing(stack, room_id)
    stack.user.say(room_id, "すぐ送りました")
    stack.settle()
    stack.pass_time(PAUSE, "say_typing_notice")
    assert said(stack) == ["すぐ送りました"]


def test_a_pause_of_0_turns_the_notice_off(stack):
    stack.app.config["TYPING_NOTICE_SECONDS"] = 0
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    typing(stack, room_id)
    stack.pass_time(PAUSE, "say_typing_notice")
    assert said(stack) == []
