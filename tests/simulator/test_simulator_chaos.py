"""Test traps: repeated and shuffled status callbacks (chaos), and calls nobody expected."""

from __future__ import annotations

from collections import Counter

import pytest
import requests
from twilio.twiml.voice_response import VoiceResponse

from tests.simulator.conftest import CALLEE, CALLER, NUMBER, SETTLE, join_room, say_twiml

EVENTS = ["initiated", "ringing", "answered", "completed"]
STRANGER = "+819055550000"


def place_call(app, twilio, to=CALLEE, **extra):
    app.routes["/outbound"] = say_twiml("お知らせです")
    return twilio.calls.create(to=to, from_=NUMBER, url=app.url + "/outbound",
                               status_callback=app.url + "/call-status",
                               status_callback_event=EVENTS, **extra)


def test_chaos_repeats_each_status_callback_as_a_retry_would(sim, app, twilio):
    assert sim.chaos(repeat=3) == {"repeat": 3, "shuffle": False, "seed": None}
    call = place_call(app, twilio)
    assert sim.settle(SETTLE) == []

    statuses = app.params("/call-status")
    assert [s["CallStatus"] for s in statuses] == (
        ["initiated"] * 3 + ["ringing"] * 3 + ["in-progress"] * 3 + ["completed"] * 3)
    for i in range(0, 12, 3):
        assert statuses[i] == statuses[i + 1] == statuses[i + 2]  # same Timestamp, SequenceNumber
    tokens = app.tokens("/call-status")
    assert len(set(tokens)) == 4 and all(tokens[i] == tokens[i + 2] for i in range(0, 12, 3))
    assert len(app.params("/outbound")) == 1  # voice requests are never repeated
    assert twilio.calls(call.sid).fetch().status == "completed"


def test_chaos_shuffle_holds_a_calls_callbacks_until_it_ends(sim, app, twilio):
    sim.chaos(repeat=2, shuffle=True, seed=7)
    sim.set_clock("manual")
    call = place_call(app, twilio)
    assert sim.settle(SETTLE) == []
    assert app.params("/call-status") == []  # ringing: everything so far is held

    sim.advance(30)
    statuses = app.params("/call-status")
    assert Counter(s["SequenceNumber"] for s in statuses) == {"0": 2, "1": 2, "2": 2, "3": 2}
    order = [int(s["SequenceNumber"]) for s in statuses]
    assert order != sorted(order)
    ended = next(i for i, e in enumerate(sim.timeline(call_sid=call.sid))
                 if e["type"] == "status" and e["status"] == "completed")
    sent = [i for i, e in enumerate(sim.timeline(call_sid=call.sid))
            if e["type"] == "webhook" and e["purpose"] == "call-status"]
    assert min(sent) > ended


def test_chaos_repeats_amd_and_conference_callbacks(sim, app, twilio):
    sim.chaos(repeat=2)
    sim.phone(CALLEE).script(["machine"])
    participant = twilio.conferences("room-9").participants.create(
        from_=NUMBER, to=CALLEE, status_callback=app.url + "/call-status",
        status_callback_event=["answered"], machine_detection="Enable",
        amd_status_callback=app.url + "/amd",
        conference_status_callback=app.url + "/conference-events",
        conference_status_callback_event=["start", "join"])
    assert sim.settle(SETTLE) == []

    assert [s["CallStatus"] for s in app.params("/call-status")] == ["in-progress"] * 2
    assert [a["AnsweredBy"] for a in app.params("/amd")] == ["machine_start"] * 2
    assert [e["StatusCallbackEvent"] for e in app.params("/conference-events")] == [
        "participant-join", "participant-join"]  # alone, so the conference has not started
    assert app.params("/amd")[0]["CallSid"] == participant.call_sid
    tokens = app.tokens("/conference-events")
    assert tokens[0] == tokens[1]


def test_chaos_repeats_and_shuffles_conference_callbacks(sim, app, twilio):
    sim.chaos(repeat=3, shuffle=True, seed=11)
    join_room(sim, app, CALLER, CALLEE)

    events = app.params("/conference-events")
    assert Counter(e["SequenceNumber"] for e in events) == {"0": 3, "1": 3, "2": 3}
    assert Counter(e["StatusCallbackEvent"] for e in events) == {
        "participant-join": 6, "conference-start": 3}
    order = [int(e["SequenceNumber"]) for e in events]
    assert order != sorted(order)
    by_number = {}
    for event, token in zip(events, app.tokens("/conference-events")):
        by_number.setdefault(event["SequenceNumber"], set()).add(token)
    assert all(len(tokens) == 1 for tokens in by_number.values())  # a repeat is a retry
    assert [e["type"] for e in sim.timeline(conference="room-1")].count("chaos") >= 1


def test_chaos_off_again(sim, app, twilio):
    sim.chaos(repeat=3, shuffle=True)
    assert sim.chaos() == {"repeat": 1, "shuffle": False, "seed": None}
    place_call(app, twilio)
    assert sim.settle(SETTLE) == []
    assert [s["SequenceNumber"] for s in app.params("/call-status")] == ["0", "1", "2", "3"]


def test_a_call_nobody_expected_fails_and_is_an_error(sim, app, twilio):
    sim.expect_calls([CALLEE])
    expected = place_call(app, twilio)
    unexpected = place_call(app, twilio, to=STRANGER)  # REST still says 201 queued
    assert unexpected.status == "queued"
    [error] = sim.settle(SETTLE)

    assert (error["type"], error["number"], error["call_sid"]) == (
        "unexpected-call", STRANGER, unexpected.sid)
    assert twilio.calls(expected.sid).fetch().status == "completed"
    assert twilio.calls(unexpected.sid).fetch().status == "failed"
    assert sim.phone(STRANGER).heard() == []


def test_an_unexpected_dial_fails_the_dial(sim, app, twilio):
    sim.expect_calls([])
    response = VoiceResponse()
    response.dial(STRANGER, action=app.url + "/dial-done")
    app.routes["/voice"] = str(response)
    app.routes["/dial-done"] = say_twiml("つながりませんでした")
    sim.phone(CALLER).call(NUMBER)
    [error] = sim.settle(SETTLE)

    assert (error["type"], error["number"]) == ("unexpected-call", STRANGER)
    assert app.params("/dial-done")[0]["DialCallStatus"] == "failed"


def test_expect_none_allows_any_number(sim, app, twilio):
    sim.expect_calls([CALLEE])
    assert sim.expect_calls(None) == {"numbers": None}
    place_call(app, twilio, to=STRANGER)
    assert sim.settle(SETTLE) == []


@pytest.mark.parametrize("body", [{"repeat": 0}, {"repeat": "3"}, {"shuffle": "yes"}])
def test_chaos_rejects_nonsense(server, body):
    response = requests.post(server.url + "/_sim/chaos", json=body, timeout=5)
    assert response.status_code == 400 and response.json()["code"] == 20001
