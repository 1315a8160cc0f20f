"""Calls started from callchat that open a chat room: the person called is typed to as a caller would be."""

from __future__ import annotations

import pytest

from callchat.voices import notice
from tests.conftest import page_csrf

CALLEE = "+819055556666"


#: After each test, every REST request callchat sent (and every answer) validates against Twilio's spec.
pytestmark = pytest.mark.usefixtures("every_exchange_meets_twilios_spec")


def said(stack, number):
    return [h["text"] for h in stack.sim.phone(number).heard() if h["kind"] == "say"]


def test_an_outgoing_chat_call_is_redialed_then_hears_the_notice_and_what_is_typed(stack):
    stack.sim.phone(CALLEE).script(["no-answer", "answer"])
    created = stack.api("POST", "/api/calls", json={"to": CALLEE, "chat": True, "retry_delay": 5, "machine": "accept"})
    assert created.status_code == 202, created.text
    stack.settle(redials=True)
    record = stack.api("GET", f"/api/calls/{created.json()['id']}").json()
    assert [a["status"] for a in record["attempts"]] == ["no-answer", "in-progress"]
    room_id = record["opened_room"]
    assert room_id == record["attempts"][1]["call_sid"]
    assert said(stack, CALLEE) == [notice("connect", "ja-JP")]

    stack.user.open_room(room_id)
    state = stack.user.state(room_id)
    assert (state["room"]["status"], state["room"]["direction"], state["room"]["caller"]) == ("live", "outgoing", CALLEE)
    for text in ("こんにちは", "お元気ですか", "また電話します"):
        assert stack.user.say(room_id, text).status_code == 202
    stack.settle()
    assert said(stack, CALLEE) == [notice("connect", "ja-JP"), "こんにちは", "お元気ですか", "また電話します"]
    assert [m["state"] for m in stack.user.state(room_id)["messages"]] == ["spoken"] * 3

    stack.sim.hang_up(room_id)
    stack.settle()
    assert stack.user.state(room_id)["room"]["status"] == "ended"
    assert stack.api("GET", f"/api/calls/{created.json()['id']}").json()["outcome"] == "reached"


def test_a_voicemail_is_not_a_chat_room_and_is_redialed(stack):
    stack.sim.phone(CALLEE).script(["machine", "answer"])
    created = stack.api("POST", "/api/calls", json={"to": CALLEE, "chat": True, "retry_delay": 5})
    stack.settle(redials=True)
    record = stack.api("GET", f"/api/calls/{created.json()['id']}").json()
    assert [a["answered_by"] for a in record["attempts"]][0].startswith("machine")
    assert record["opened_room"] == record["attempts"][-1]["call_sid"]
    assert said(stack, CALLEE)[-1] == notice("connect", "ja-JP")


@pytest.mark.parametrize("body, problem", [({"chat": "yes"}, "'chat'"), ({"chat": True, "room": "CA" + "0" * 32}, "'room'")])
def test_a_malformed_chat_call_names_the_problem(stack, body, problem):
    answer = stack.api("POST", "/api/calls", json={"to": CALLEE, **body})
    assert answer.status_code == 400 and problem in answer.json()["error"]


def test_a_typist_calls_a_number_from_the_room_list_and_lands_in_its_room(stack):
    stack.sim.phone(CALLEE).script(["busy", "answer"])
    page = stack.user.http.get(f"{stack.url}/rooms/")
    assert "Call a number" in page.text
    started = stack.user.http.post(f"{stack.url}/calls", data={"to": "090-5555-6666", "csrf_token": page_csrf(page.text)},
                                   allow_redirects=False)
    assert started.status_code == 303
    progress = stack.user.http.get(stack.url + started.headers["Location"])
    assert "Calling +819055556666" in progress.text and 'data-refresh="2"' in progress.text
    stack.settle(redials=True)
    landed = stack.user.http.get(stack.url + started.headers["Location"])
    assert landed.url.startswith(f"{stack.url}/rooms/CA"), "answered: the progress page goes to the call's room"
    assert "Call to +819055556666" in stack.user.http.get(f"{stack.url}/rooms/").text
    assert said(stack, CALLEE) == [notice("connect", "ja-JP")]


@pytest.mark.parametrize("number, status, reason", [("12345", 400, "number"), ("0570-000-000", 400, "0570")])
def test_a_number_callchat_will_not_call_is_refused_on_the_room_list(stack, number, status, reason):
    page = stack.user.http.get(f"{stack.url}/rooms/")
    refused = stack.user.http.post(f"{stack.url}/calls", data={"to": number, "csrf_token": page_csrf(page.text)})
    assert refused.status_code == status
    assert 'role="alert"' in refused.text and reason in refused.text
    assert stack.sim.calls() == []


def test_a_call_in_english_hears_the_notice_in_english(stack):
    created = stack.api("POST", "/api/calls", json={"to": CALLEE, "chat": True, "language": "en-US",
                                                    "voice": "Polly.Joanna", "machine": "accept"})
    stack.settle()
    assert said(stack, CALLEE) == ["This call uses typed messages read aloud. Please wait while I type."]
    assert stack.api("GET", f"/api/calls/{created.json()['id']}").json()["opened_room"]
