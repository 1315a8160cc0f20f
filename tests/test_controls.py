"""Controlling the call from the room page: hang up, remove, mute, hold and resume, stop and clear, repeat."""

from __future__ import annotations

import pytest

from tests.conftest import CALLER, GREETING, OWNER

#: Long enough to be still speaking when the typist presses stop (3000 characters).
LONG = "とても長いお知らせです。" * 250


#: After each test, every REST request callchat sent (and every answer) validates against Twilio's spec.
pytestmark = pytest.mark.usefixtures("every_exchange_meets_twilios_spec")


@pytest.fixture
def conference(stack, monkeypatch):
    """A live room in a conference: the caller, and OWNER listening (muted); returns (room id, owner's CallSid)."""
    stack.app.config["OWNER_PHONE"] = OWNER
    monkeypatch.setenv("OWNER_PHONE", OWNER)  # the in-process worker reads its environment
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    owner = next(p for p in stack.user.state(room_id)["participants"] if p["label"] == "owner")
    assert stack.user.state(room_id)["room"]["mode"] == "conference"
    return room_id, owner["call_sid"]


def said(stack, number, source=None):
    """The texts a phone heard said after the greeting (from `source` only, if given), oldest first."""
    return [h["text"] for h in stack.sim.phone(number).heard() if h["kind"] == "say"
            and h.get("text") != GREETING and (source is None or h["source"] == source)]


def person(stack, room_id, key):
    return next(p for p in stack.user.state(room_id)["participants"] if p["call_sid"] == key)


def control(stack, room_id, path, payload=None, status=202):
    answer = stack.user.post(f"/rooms/{room_id}/{path}", payload or {})
    assert answer.status_code == status, answer.text
    stack.settle()
    return answer.json()


def test_hang_up_ends_the_call_for_everyone_and_fails_what_was_not_spoken(stack, conference):
    room_id, owner = conference
    control(stack, room_id, "hangup")
    assert {c["sid"]: c["status"] for c in stack.sim.calls()} == {room_id: "completed", owner: "completed"}
    state = stack.user.state(room_id)
    assert state["room"]["status"] == "ended"
    assert {p["status"] for p in state["participants"]} == {"left"}
    assert stack.user.say(room_id, "まだいますか").status_code == 409
    assert control(stack, room_id, "hangup", status=409)["error"] == "The call has already ended."


def test_hang_up_a_lone_callers_call(stack):
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    control(stack, room_id, "hangup")
    assert [c["status"] for c in stack.sim.calls()] == ["completed"]
    assert stack.user.state(room_id)["room"]["status"] == "ended"


def test_removing_a_participant_takes_them_off_and_the_others_go_on(stack, conference):
    room_id, owner = conference
    control(stack, room_id, f"participants/{owner}/remove")
    assert person(stack, room_id, owner)["status"] == "left"
    assert {c["sid"]: c["status"] for c in stack.sim.calls()}[owner] == "completed"
    stack.user.say(room_id, "まだ聞こえますか")
    stack.settle()
    assert said(stack, CALLER)[-1] == "まだ聞こえますか"
    assert "まだ聞こえますか" not in said(stack, OWNER)
    assert stack.user.post(f"/rooms/{room_id}/participants/CA{'0' * 32}/remove", {}).status_code == 404


def test_unmuted_participant_is_heard_and_muted_again_is_not(stack, conference):
    room_id, owner = conference
    control(stack, room_id, f"participants/{owner}/mute", {"muted": False})
    assert person(stack, room_id, owner)["muted"] is False
    stack.sim.phone(OWNER).say("オーナーです")
    stack.settle()
    control(stack, room_id, f"participants/{owner}/mute", {"muted": True})
    assert person(stack, room_id, owner)["muted"] is True
    stack.sim.phone(OWNER).say("聞こえないはず")
    stack.settle()
    assert said(stack, CALLER, "phone") == ["オーナーです"]
    bad = stack.user.post(f"/rooms/{room_id}/participants/{owner}/mute", {"muted": "yes"})
    assert bad.status_code == 400 and "'muted'" in bad.json()["error"]


def test_mute_needs_a_conference(stack):
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    refused = stack.user.post(f"/rooms/{room_id}/participants/{room_id}/mute", {"muted": True})
    assert refused.status_code == 409 and "nothing to mute" in refused.json()["error"]


def test_a_held_participant_hears_music_not_messages_until_resumed(stack, conference):
    room_id, _ = conference
    control(stack, room_id, f"participants/{room_id}/hold", {"held": True})
    assert person(stack, room_id, room_id)["held"] is True
    music = [h for h in stack.sim.phone(CALLER).heard() if h["source"] == "hold"]
    assert [h["kind"] for h in music][:2] == ["hold", "play"], "the caller hears callchat's hold music"
    assert music[0]["url"] == f"{stack.url}/voice/rooms/{room_id}/hold"
    stack.user.say(room_id, "保留中のメッセージ")
    stack.settle()
    assert "保留中のメッセージ" not in said(stack, CALLER)
    assert said(stack, OWNER)[-1] == "保留中のメッセージ"

    control(stack, room_id, f"participants/{room_id}/hold", {"held": False})
    assert person(stack, room_id, room_id)["held"] is False
    stack.user.say(room_id, "おかえりなさい")
    stack.settle()
    assert said(stack, CALLER)[-1] == "おかえりなさい"


def test_a_held_lone_caller_hears_music_and_the_messages_typed_meanwhile_after_resuming(stack):
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    control(stack, room_id, f"participants/{room_id}/hold", {"held": True})
    assert person(stack, room_id, room_id)["held"] is True
    stack.user.say(room_id, "お待たせしました")
    stack.settle()
    caller = stack.sim.phone(CALLER)
    assert "お待たせしました" not in said(stack, CALLER)
    assert any(h["kind"] == "play" and "music" in h["url"] for h in caller.heard()), "the caller hears hold music"
    assert [m["state"] for m in stack.user.state(room_id)["messages"]] == ["queued"]

    control(stack, room_id, f"participants/{room_id}/hold", {"held": False})
    assert said(stack, CALLER) == ["お待たせしました"]
    assert [m["state"] for m in stack.user.state(room_id)["messages"]] == ["spoken"]


def test_stop_cuts_the_message_short_and_clears_the_queue(stack):
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    for text in (LONG, "二つ目", "三つ目"):
        assert stack.user.say(room_id, text).status_code == 202
    stack.run_jobs()  # the first message goes to Twilio; the others wait in the queue
    answer = stack.user.post(f"/rooms/{room_id}/stop", {})
    stack.run_jobs()  # at once, while the first message is being said
    stack.settle()
    cleared = answer.json()["cleared"]
    assert len(cleared) == 2
    assert not [h for h in stack.sim.phone(CALLER).heard() if h.get("text") == LONG and not h.get("interrupted")]
    assert said(stack, CALLER) in ([], [LONG])  # cut short, if it had begun at all
    messages = stack.user.state(room_id)["messages"]
    assert [m["state"] for m in messages] == ["failed"] * 3
    assert "Stopped" in messages[0]["error"] and "Cleared" in messages[1]["error"]
    stack.user.say(room_id, "続けます")
    stack.settle()
    assert said(stack, CALLER)[-1] == "続けます"


def test_stop_in_a_conference_clears_the_queue_and_lets_the_announcement_finish(stack, conference):
    room_id, _ = conference
    for text in (LONG, "二つ目", "三つ目"):
        stack.user.say(room_id, text)
    stack.run_jobs()
    control(stack, room_id, "stop", status=200)
    assert said(stack, CALLER) == [LONG]
    assert [m["state"] for m in stack.user.state(room_id)["messages"]] == ["spoken", "failed", "failed"]


def test_repeat_says_the_last_message_again(stack):
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    assert control(stack, room_id, "repeat", status=409)["error"].startswith("Nothing has been said")
    stack.user.say(room_id, "一度目")
    stack.user.say(room_id, "もう一度言います")
    stack.settle()
    repeated = control(stack, room_id, "repeat")["message"]
    assert repeated["body"] == "もう一度言います"
    assert said(stack, CALLER) == ["一度目", "もう一度言います", "もう一度言います"]
    assert [m["state"] for m in stack.user.state(room_id)["messages"]] == ["spoken"] * 3
