"""Under Twilio's faults (simulator fault injection), nothing typed is lost, stuck or spoken twice; calls heal.

Each fault of issue 10 and its test:
- 429 / 500 / 503 / dropped connection when placing a call: `test_a_failed_request_to_place_a_call_is_retried_once`
- Twilio answering 503 for a long outage when placing a call: `test_a_call_placed_during_an_outage_is_redialed_per_max_attempts`
- Twilio answering 503 for a long outage on announce: `test_an_outage_heals_without_anyone_typing`
- Twilio answering late (request applied) on announce: `test_a_late_answer_is_spoken_exactly_once`
- a job that died after claiming a message: `test_a_message_whose_job_died_is_spoken_once`
"""

from __future__ import annotations

import pytest

from callchat import rooms
from callchat.settings import DEFAULTS
from tests.conftest import CALLER

CALLEE = "+819055556666"


def announcements(stack):
    """What the caller heard after the greeting, oldest first."""
    return [h["text"] for h in stack.sim.phone(CALLER).heard()
            if h["kind"] == "say" and h.get("text") != DEFAULTS["GREETING"]]


def let_time_pass(stack, *job_names: str, rounds: int = 50) -> None:
    """Run every scheduled retry of `job_names` now, again and again, until none is left (simulated waiting)."""
    for _ in range(rounds):
        stack.settle()
        if not sum(stack.release_scheduled(name) for name in job_names):
            return
    raise AssertionError(f"{job_names} were still being retried after {rounds} rounds")


@pytest.mark.parametrize("kind", ["429", "500", "503", "drop-before", "drop-after"])
def test_a_failed_request_to_place_a_call_is_retried_once(stack, kind):
    stack.sim.inject_fault("POST", "Calls.json", kind, retry_after=2 if kind == "429" else None)
    created = stack.api("POST", "/api/calls", json={"to": CALLEE, "say": "お知らせです", "machine": "accept"})
    stack.settle(redials=True)
    record = stack.api("GET", f"/api/calls/{created.json()['id']}").json()
    assert record["outcome"] == "reached"
    assert len(stack.sim.phone(CALLEE).calls()) == 1, "the person is called once for the one attempt"
    assert [a["status"] for a in record["attempts"]] == ["completed"]
    assert [h["text"] for h in stack.sim.phone(CALLEE).heard() if h["kind"] == "say"] == ["お知らせです"]


def test_a_call_placed_during_an_outage_is_redialed_per_max_attempts(stack):
    stack.sim.phone(CALLEE).script(["no-answer", "answer"])
    stack.sim.inject_fault("POST", "Calls.json", "503", times=12, retry_after=5)
    created = stack.api("POST", "/api/calls", json={"to": CALLEE, "say": "お知らせです", "machine": "accept",
                                                    "max_attempts": 3})
    stack.settle(redials=True)
    record = stack.api("GET", f"/api/calls/{created.json()['id']}").json()
    assert stack.sim.faults()[0]["fired"] == 12
    assert record["outcome"] == "reached"
    assert [a["status"] for a in record["attempts"]] == ["no-answer", "completed"]
    assert len(stack.sim.phone(CALLEE).calls()) == 2, "one call per attempt"


def test_an_outage_heals_without_anyone_typing(stack):
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    stack.sim.inject_fault("POST", "Calls/*.json", "503", times=12, retry_after=5)  # ~60 s of backoff
    for text in ("一つ目", "二つ目", "三つ目"):
        assert stack.user.say(room_id, text).status_code == 202
    stack.settle()
    assert announcements(stack) == []
    let_time_pass(stack, "announce_next")
    assert stack.sim.faults()[0]["fired"] == 12
    assert announcements(stack) == ["一つ目", "二つ目", "三つ目"]
    assert [m["state"] for m in stack.user.state(room_id)["messages"]] == ["spoken"] * 3
    assert stack.sim.errors() == []


@pytest.mark.parametrize("kind", ["delay", "drop-after", "500"])
def test_a_late_answer_is_spoken_exactly_once(stack, monkeypatch, kind):
    monkeypatch.setenv("TWILIO_TIMEOUT_SECONDS", "1")
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    if kind == "500":  # Twilio applied it, yet answered 500: callchat cannot tell either
        stack.sim.inject_fault("POST", "Calls/*.json", "drop-after")
    else:
        stack.sim.inject_fault("POST", "Calls/*.json", kind, seconds=2)
    stack.user.say(room_id, "一度だけ")
    stack.user.say(room_id, "次の言葉")
    stack.settle()
    let_time_pass(stack, "check_delivery", "announce_next")
    assert announcements(stack) == ["一度だけ", "次の言葉"]
    assert [m["state"] for m in stack.user.state(room_id)["messages"]] == ["spoken", "spoken"]
    assert stack.sim.errors() == []


def test_a_lost_request_that_twilio_never_applied_is_sent_again(stack):
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    stack.sim.inject_fault("POST", "Calls/*.json", "drop-before")
    stack.user.say(room_id, "もう一度")
    stack.settle()
    assert announcements(stack) == []
    let_time_pass(stack, "check_delivery", "announce_next")
    assert announcements(stack) == ["もう一度"]


def test_a_message_whose_job_died_is_spoken_once(stack):
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    stack.user.say(room_id, "最初")
    claimed = rooms.claim_next(stack.redis, room_id, hold_seconds=60)  # a job that claimed it, then died
    assert claimed["body"] == "最初"
    stack.redis.delete(rooms.key(room_id, ":speaking"))  # its lease lapsed
    stack.queue.empty()
    stack.user.say(room_id, "二番目")
    stack.settle()
    assert announcements(stack) == ["最初", "二番目"]
