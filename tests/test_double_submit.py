"""Double submits: a message is stored and spoken once per client id; a number is called into a room once."""

from __future__ import annotations

import threading
import uuid

import pytest

from tests.conftest import CALLER, GREETING, OPERATOR, OWNER, TWILIO_NUMBER

CALLEE = "+819055556666"


def announcements(stack, number=CALLER):
    return [h["text"] for h in stack.sim.phone(number).heard() if h["kind"] == "say" and h["text"] != GREETING]


def at_once(*posts):
    """Run each zero-argument function in its own thread, released together; return their responses in order."""
    start = threading.Barrier(len(posts))
    responses = [None] * len(posts)

    def run(i, post):
        start.wait()
        responses[i] = post()

    threads = [threading.Thread(target=run, args=(i, post)) for i, post in enumerate(posts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return responses


def two_users(stack, room_id):
    """Two open pages of the same room (two sessions), so two posts really run side by side."""
    users = [stack.signed_in(*OPERATOR), stack.signed_in(*OPERATOR)]
    for user in users:
        user.open_room(room_id)
    return users


def dials_placed(stack):
    """Participant creations callchat asked of the simulator (Twilio's Conference Participants API)."""
    return [e for e in stack.sim.requests() if e["method"] == "POST" and e["path"].endswith("/Participants.json")]


def test_the_same_message_sent_twice_is_stored_and_spoken_once(stack):
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    payload = {"kind": "say", "text": "一度だけ", "client_id": str(uuid.uuid4())}
    first = stack.user.post(f"/rooms/{room_id}/messages", payload)
    again = stack.user.post(f"/rooms/{room_id}/messages", payload)
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["message"]["id"] == first.json()["message"]["id"]
    stack.settle()
    assert [m["body"] for m in stack.user.state(room_id)["messages"]] == ["一度だけ"]
    assert announcements(stack) == ["一度だけ"]


def test_the_same_message_sent_from_two_threads_is_spoken_once(stack):
    room_id = stack.call_in()
    users = two_users(stack, room_id)
    typed = [f"double {i}" for i in range(5)]
    for text in typed:
        payload = {"kind": "say", "text": text, "client_id": uuid.uuid4().hex}
        responses = at_once(*[lambda u=u: u.post(f"/rooms/{room_id}/messages", payload) for u in users])
        assert sorted(r.status_code for r in responses) == [200, 202]
        assert len({r.json()["message"]["id"] for r in responses}) == 1
    stack.settle()
    assert [m["body"] for m in stack.user.state(room_id)["messages"]] == typed
    assert announcements(stack) == typed


def test_messages_without_a_client_id_are_each_stored(stack):
    """API clients that send no client id keep working: every post is a new message."""
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    assert [stack.user.say(room_id, "same words").status_code for _ in range(2)] == [202, 202]
    stack.settle()
    assert announcements(stack) == ["same words", "same words"]


def test_the_client_ids_of_an_ended_room_expire_with_its_history(stack, monkeypatch):
    stack.app.config["ROOM_RETENTION_SECONDS"] = 5
    monkeypatch.setenv("ROOM_RETENTION_SECONDS", "5")  # the jobs' too: a job closes the room (`close_room`)
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    stack.user.post(f"/rooms/{room_id}/messages", {"kind": "say", "text": "bye", "client_id": uuid.uuid4().hex})
    stack.settle()
    stack.sim.hang_up(room_id)
    stack.settle()
    assert stack.redis.exists(f"room:{{{room_id}}}:clients")
    assert all(0 < stack.redis.pttl(k) <= 5000 for k in stack.redis.keys(f"room:{{{room_id}}}*"))


@pytest.mark.parametrize("client_id", ["short", "x" * 65, "has spaces in it", "日本語のクライアントID", 12345678])
def test_a_malformed_client_id_is_refused_and_nothing_is_stored(stack, client_id):
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    response = stack.user.post(f"/rooms/{room_id}/messages", {"kind": "say", "text": "hi", "client_id": client_id})
    assert response.status_code == 400
    assert "'client_id' must be 8 to 64 letters" in response.json()["error"]
    assert stack.user.state(room_id)["messages"] == []


def test_two_dials_at_once_to_the_same_number_place_one_call(stack):
    room_id = stack.call_in()
    users = two_users(stack, room_id)
    responses = at_once(*[lambda u=u: u.post(f"/rooms/{room_id}/calls", {"to": "090-5555-6666"}) for u in users])
    assert sorted(r.status_code for r in responses) == [202, 409]
    refused = next(r for r in responses if r.status_code == 409)
    assert refused.json()["error"] == f"{CALLEE} is already being called into this call (dialing)."
    stack.settle()
    assert len(stack.sim.phone(CALLEE).calls()) == 1
    assert len(dials_placed(stack)) == 1
    entries = [p for p in stack.user.state(room_id)["participants"] if p.get("dial_id")]
    assert [(p["label"], p["status"]) for p in entries] == [(CALLEE, "in the call")]


def test_a_number_in_the_call_is_refused_until_it_leaves(stack):
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    call_id = stack.user.post(f"/rooms/{room_id}/calls", {"to": CALLEE}).json()["id"]
    stack.settle()
    refused = stack.user.post(f"/rooms/{room_id}/calls", {"to": "090-5555-6666"})
    assert refused.status_code == 409 and refused.json()["error"] == f"{CALLEE} is already in this call."
    call_sid = stack.api("GET", f"/api/calls/{call_id}").json()["attempts"][0]["call_sid"]
    stack.sim.hang_up(call_sid)
    stack.settle()
    assert stack.user.post(f"/rooms/{room_id}/calls", {"to": CALLEE}).status_code == 202, "left: may be called again"
    stack.settle()
    assert len(stack.sim.phone(CALLEE).calls()) == 2
    assert len(dials_placed(stack)) == 2


def test_a_pending_redial_is_refused_and_a_cancelled_or_unreached_number_may_be_called_again(stack):
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    stack.sim.phone(CALLEE).script(["no-answer", "no-answer", "answer"])
    first = stack.user.post(f"/rooms/{room_id}/calls", {"to": CALLEE, "max_attempts": 2}).json()["id"]
    stack.settle()
    refused = stack.user.post(f"/rooms/{room_id}/calls", {"to": CALLEE})
    assert refused.status_code == 409 and "(no answer)" in refused.json()["error"], "a redial is due"
    stack.settle(redials=True)
    assert stack.api("GET", f"/api/calls/{first}").json()["outcome"] == "not reached"
    second = stack.user.post(f"/rooms/{room_id}/calls", {"to": CALLEE, "retry_delay": 600})
    assert second.status_code == 202, "not reached: may be called again"
    stack.settle()  # answered on the third try overall: in the call now
    assert stack.user.post(f"/rooms/{room_id}/calls", {"to": CALLEE}).status_code == 409
    assert len(stack.sim.phone(CALLEE).calls()) == 3


def test_a_cancelled_number_may_be_called_again(stack):
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    stack.sim.phone(CALLEE).script(["no-answer", "answer"])
    call_id = stack.user.post(f"/rooms/{room_id}/calls", {"to": CALLEE, "retry_delay": 600}).json()["id"]
    stack.settle()
    assert stack.user.post(f"/rooms/{room_id}/calls/{call_id}/cancel", {}).status_code == 200
    assert stack.user.post(f"/rooms/{room_id}/calls", {"to": CALLEE}).status_code == 202
    stack.settle()
    assert len(stack.sim.phone(CALLEE).calls()) == 2
    entries = {p["dial_id"]: p["status"] for p in stack.user.state(room_id)["participants"] if p.get("dial_id")}
    assert sorted(entries.values()) == ["cancelled", "in the call"]


@pytest.mark.parametrize("to, status, words", [
    (CALLER, 409, "the caller's own number"),
    ("090-1234-5678", 409, "the caller's own number"),
    (TWILIO_NUMBER, 400, "callchat's own number"),
])
def test_the_callers_own_number_and_callchats_are_refused_and_nothing_is_placed(stack, to, status, words):
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    response = stack.user.post(f"/rooms/{room_id}/calls", {"to": to})
    assert response.status_code == status
    assert words in response.json()["error"]
    stack.settle()
    assert dials_placed(stack) == []
    assert [p["label"] for p in stack.user.state(room_id)["participants"]] == ["caller"]


def test_the_owner_in_the_call_is_not_dialed_again(stack, monkeypatch):
    stack.app.config["OWNER_PHONE"] = OWNER
    monkeypatch.setenv("OWNER_PHONE", OWNER)  # the in-process worker reads its environment
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    refused = stack.user.post(f"/rooms/{room_id}/calls", {"to": OWNER})
    assert refused.status_code == 409 and refused.json()["error"] == f"{OWNER} is already in this call."
    stack.settle()
    assert len(stack.sim.phone(OWNER).calls()) == 1


def test_the_api_refuses_a_number_the_room_page_is_already_calling(stack):
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    assert stack.user.post(f"/rooms/{room_id}/calls", {"to": CALLEE}).status_code == 202
    response = stack.api("POST", "/api/calls", json={"to": CALLEE, "room": room_id})
    assert response.status_code == 409 and "already being called" in response.json()["error"]
    stack.settle()
    assert len(stack.sim.phone(CALLEE).calls()) == 1
