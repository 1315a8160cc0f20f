"""Double submits: a message is stored and spoken once per client id."""

from __future__ import annotations

import threading
import uuid

import pytest

from tests.conftest import CALLER, ChatUser


def announcements(stack, number=CALLER):
    return [h["text"] for h in stack.sim.phone(number).heard() if h["source"] == "announcement"]


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
    users = [ChatUser(stack.url), ChatUser(stack.url)]
    for user in users:
        user.open_room(room_id)
    return users


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


@pytest.mark.parametrize("client_id", ["short", "x" * 65, "has spaces in it", "日本語のクライアントID", 12345678])
def test_a_malformed_client_id_is_refused_and_nothing_is_stored(stack, client_id):
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    response = stack.user.post(f"/rooms/{room_id}/messages", {"kind": "say", "text": "hi", "client_id": client_id})
    assert response.status_code == 400
    assert "'client_id' must be 8 to 64 letters" in response.json()["error"]
    assert stack.user.state(room_id)["messages"] == []
