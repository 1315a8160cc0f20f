"""Twilio's callbacks can come twice, late and out of order; rooms must still show what is true.

Twilio retries a webhook that failed or timed out and does not promise any order
(twilio.com/docs/usage/webhooks/webhooks-connection-overrides); conference status
callbacks carry a SequenceNumber for that reason
(twilio.com/docs/voice/api/conference-resource#conference-status-callbacks).
"""

from __future__ import annotations

import pytest

from callchat import rooms
from tests.conftest import GREETING

CONFERENCE = "CF" + "7" * 32
OTHER = "CA" + "8" * 32
CALLERS = [f"+8180111100{i:02d}" for i in range(20)]
CALLEES = [f"+8190555566{i:02d}" for i in range(20)]


def conference_event(stack, room_id: str, event: str, seq: int, **extra: str):
    params = {"FriendlyName": room_id, "ConferenceSid": CONFERENCE, "StatusCallbackEvent": event,
              "SequenceNumber": str(seq), "AccountSid": "AC" + "a1" * 16, "Timestamp": "Tue, 01 Dec 2026 10:00:00 +0000",
              **extra}
    response = stack.twilio_post("/voice/conference-status", params)
    assert response.status_code == 204
    stack.settle()


def said_after_greeting(phone) -> list[str]:
    return [h["text"] for h in phone.heard() if h["kind"] == "say" and h["text"] != GREETING]


def test_a_conference_start_that_arrives_after_the_end_does_not_revive_the_room(stack):
    room_id = stack.call_in()
    conference_event(stack, room_id, "conference-end", 9, ReasonConferenceEnded="participant-with-end-conference-on-exit-left")
    conference_event(stack, room_id, "conference-start", 1)
    room = stack.user.state(room_id)["room"]
    assert room["status"] == "ended"
    assert room_id not in [r["id"] for r in rooms.live(stack.redis)]
    stack.user.open_room(room_id)
    assert stack.user.say(room_id, "too late").status_code == 409


def test_a_late_participant_join_does_not_put_someone_who_left_back_in_the_call(stack):
    room_id = stack.call_in()
    conference_event(stack, room_id, "participant-leave", 5, CallSid=OTHER, ParticipantLabel="guest")
    conference_event(stack, room_id, "participant-join", 3, CallSid=OTHER, ParticipantLabel="guest")
    guest = rooms.participant(stack.redis, room_id, OTHER)
    assert guest["status"] == "left"


def test_a_repeated_callback_is_applied_once(stack):
    room_id = stack.call_in()
    conference_event(stack, room_id, "participant-join", 3, CallSid=OTHER, ParticipantLabel="guest")
    conference_event(stack, room_id, "participant-leave", 4, CallSid=OTHER, ParticipantLabel="guest")
    # Twilio's retry of the join: same ConferenceSid and SequenceNumber.
    conference_event(stack, room_id, "participant-join", 3, CallSid=OTHER, ParticipantLabel="guest")
    assert rooms.participant(stack.redis, room_id, OTHER)["status"] == "left"


def test_nobody_joins_a_room_that_has_ended(stack):
    room_id = stack.call_in()
    stack.sim.hang_up(room_id)
    stack.settle()
    assert stack.user.state(room_id)["room"]["status"] == "ended"
    conference_event(stack, room_id, "participant-join", 2, CallSid=OTHER, ParticipantLabel="guest")
    assert rooms.participant(stack.redis, room_id, OTHER) is None


@pytest.mark.parametrize("seed", [1])
def test_twenty_full_calls_under_repeated_and_shuffled_callbacks(stack, seed):
    """Join, three messages, a dial-in, one more message, a hang-up, in 20 rooms, with every callback sent 3 times
    in random order (conference callbacks included)."""
    stack.sim.chaos(repeat=3, shuffle=True, seed=seed)
    room_ids = [stack.sim.phone(caller).call(stack.app.config["TWILIO_PHONE_NUMBER"]) for caller in CALLERS]
    stack.settle()
    typed = {room_id: [f"{room_id[-6:]} message {n}" for n in range(3)] for room_id in room_ids}
    for room_id in room_ids:
        stack.user.open_room(room_id)
        for text in typed[room_id]:
            assert stack.user.say(room_id, text).status_code == 202
    stack.settle()
    for room_id, callee in zip(room_ids, CALLEES):
        stack.sim.phone(callee).script(["answer"])
        response = stack.user.post(f"/rooms/{room_id}/calls", {"to": callee, "max_attempts": 1})
        assert response.status_code == 202, response.text
    stack.settle()
    assert [stack.user.state(room_id)["room"]["mode"] for room_id in room_ids] == ["conference"] * 20, \
        "each caller was moved into a conference with the person dialed in"
    for room_id in room_ids:
        typed[room_id].append(f"{room_id[-6:]} to both")
        assert stack.user.say(room_id, typed[room_id][-1]).status_code == 202
    stack.settle()
    for room_id, callee in zip(room_ids, CALLEES):
        assert said_after_greeting(stack.sim.phone(callee)) == typed[room_id][-1:], "announced once to the new party"
    for room_id in room_ids:
        stack.sim.hang_up(room_id)
    stack.settle()
    for room_id, caller in zip(room_ids, CALLERS):
        assert said_after_greeting(stack.sim.phone(caller)) == typed[room_id], "each message spoken exactly once, in order"
        state = stack.user.state(room_id)
        assert state["room"]["status"] == "ended"
        assert [m["state"] for m in state["messages"]] == ["spoken"] * 4
        assert not [p for p in state["participants"] if p["status"] == "in the call"], state["participants"]
    assert rooms.live(stack.redis) == []
    # The simulator really did repeat and reorder the conference callbacks.
    sent = [e["params"] for e in stack.sim.timeline() if e["type"] == "webhook"
            and "SequenceNumber" in (e.get("params") or {}) and "FriendlyName" in e["params"]]
    by_event = {}
    for params in sent:
        by_event.setdefault((params["ConferenceSid"], params["SequenceNumber"]), []).append(params)
    assert by_event and all(len(copies) == 3 for copies in by_event.values()), "each conference callback sent 3 times"
    assert any([int(p["SequenceNumber"]) for p in sent if p["ConferenceSid"] == sid]
               != sorted(int(p["SequenceNumber"]) for p in sent if p["ConferenceSid"] == sid)
               for sid in {sid for sid, _ in by_event}), "and out of order"
