"""A chat page's CSRF token lasts as long as the page's session, and a post from another site is refused."""

from __future__ import annotations

import time
from types import SimpleNamespace

import itsdangerous.timed

from tests.conftest import CALLER, GREETING


def heard_after_greeting(stack) -> list[str]:
    """What the caller's phone heard <Say>, the greeting left out."""
    return [h["text"] for h in stack.sim.phone(CALLER).heard() if h["kind"] == "say" and h["text"] != GREETING]


def test_a_page_left_open_for_two_hours_still_sends(stack, monkeypatch):
    """Bug: the page's token expired after 3600 s and a typist on a long call got "Page expired"."""
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    typed = []
    for minutes in (25, 50, 75, 100, 125):  # the clock that signs and checks tokens and cookies moves on
        monkeypatch.setattr(itsdangerous.timed, "time", SimpleNamespace(time=lambda m=minutes: time.time() + m * 60))
        text = f"{minutes} 分たちました"
        response = stack.user.say(room_id, text)
        assert response.status_code == 202, f"after {minutes} min: {response.text}"
        typed.append(text)
        stack.settle()
    assert heard_after_greeting(stack) == typed


def test_a_cross_site_form_post_to_a_chat_action_is_refused_and_nothing_is_queued(stack):
    room_id = stack.call_in()
    stack.user.open_room(room_id)  # the typist's browser holds a session cookie
    forged = stack.user.http.post(f"{stack.url}/rooms/{room_id}/messages", data={"kind": "say", "text": "送金してください"},
                                  headers={"Origin": "http://evil.example", "Referer": "http://evil.example/form.html"})
    assert forged.status_code == 400
    assert "Page expired" in forged.text
    assert stack.queue.count == 0
    stack.settle()
    assert stack.user.state(room_id)["messages"] == []
    assert heard_after_greeting(stack) == []
