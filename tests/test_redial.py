"""Dial and redial: each attempt a fresh call from the same number, until answered or out of attempts."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from callchat import calls
from tests.conftest import API_TOKEN, CALLER, POOL, TWILIO_NUMBER

CALLEE = "+819055556666"


#: After each test, every REST request callchat sent (and every answer) validates against Twilio's spec.
pytestmark = pytest.mark.usefixtures("every_exchange_meets_twilios_spec")


def calls_to(stack, number):
    return [c for c in stack.sim.phone(number).calls()]


def heard_says(stack, number):
    return [h["text"] for h in stack.sim.phone(number).heard() if h["kind"] == "say"]


def place(stack, **body):
    response = stack.api("POST", "/api/calls", json={"to": "090-5555-6666", "say": "定期点検のお知らせです", **body})
    assert response.status_code == 202, response.text
    return response.json()["id"]


def test_answered_on_the_third_try(stack):
    stack.sim.phone(CALLEE).script(["no-answer", "no-answer", "answer"])
    call_id = place(stack, retry_delay=60, ring_timeout=20)
    stack.settle(redials=True)
    placed = calls_to(stack, CALLEE)
    assert len(placed) == 3
    assert {c["from"] for c in placed} == {TWILIO_NUMBER}, "every attempt from the same caller ID"
    assert len({c["call_sid"] for c in placed}) == 3, "each attempt a fresh call"
    assert heard_says(stack, CALLEE) == ["定期点検のお知らせです"]
    record = stack.api("GET", f"/api/calls/{call_id}").json()
    assert record["outcome"] == "reached"
    assert [a["status"] for a in record["attempts"]] == ["no-answer", "no-answer", "completed"]
    assert [a["call_sid"] for a in record["attempts"]] == [c["call_sid"] for c in placed]
    assert all(a["sip_response_code"] for a in record["attempts"])
    assert record["attempts"][2]["answered_by"] == "human"


def test_called_into_a_room_on_the_third_try(stack):
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    stack.sim.phone(CALLEE).script(["no-answer", "busy", "answer"])
    response = stack.user.post(f"/rooms/{room_id}/calls", {"to": "090-5555-6666"})
    assert response.status_code == 202, response.text
    stack.settle()
    entry = next(p for p in stack.user.state(room_id)["participants"] if p.get("dial_id"))
    assert (entry["status"], entry["attempt"], entry["max_attempts"]) == ("no answer", 1, 3)
    assert entry["next_try_at"], "the page counts down to the next try"
    stack.settle(redials=True)
    assert len(calls_to(stack, CALLEE)) == 3
    entry = next(p for p in stack.user.state(room_id)["participants"] if p.get("dial_id"))
    assert entry["status"] == "in the call" and entry["label"] == CALLEE
    stack.user.say(room_id, "ようこそ")
    stack.settle()
    assert [h["text"] for h in stack.sim.phone(CALLEE).heard() if h["source"] == "announcement"] == ["ようこそ"]


def test_never_answered_reports_not_reached_to_the_status_callback(stack, receiver, monkeypatch):
    stack.app.config["STATUS_CALLBACK_ALLOW_PRIVATE"] = True  # the receiver listens on 127.0.0.1
    monkeypatch.setenv("STATUS_CALLBACK_ALLOW_PRIVATE", "true")
    stack.sim.phone(CALLEE).script(["busy", "busy", "busy"])
    call_id = place(stack, status_callback=f"{receiver.url}/outcome")
    stack.settle(redials=True)
    assert len(calls_to(stack, CALLEE)) == 3
    record = stack.api("GET", f"/api/calls/{call_id}").json()
    assert record["outcome"] == "not reached"
    assert [a["status"] for a in record["attempts"]] == ["busy"] * 3
    assert len(receiver.received) == 1
    sent = receiver.received[0]
    assert sent["signature"] == hmac.new(API_TOKEN.encode(), sent["body"], hashlib.sha256).hexdigest()
    body = json.loads(sent["body"])
    assert body["id"] == call_id and body["outcome"] == "not reached" and len(body["attempts"]) == 3


def test_answering_machine_hears_the_message_after_the_beep(stack):
    stack.sim.phone(CALLEE).script(["machine"])
    call_id = place(stack, machine="leave_message")
    stack.settle(redials=True)
    assert len(calls_to(stack, CALLEE)) == 1
    assert heard_says(stack, CALLEE) == ["定期点検のお知らせです"]
    record = stack.api("GET", f"/api/calls/{call_id}").json()
    assert record["outcome"] == "reached (voicemail)"
    assert record["attempts"][0]["answered_by"].startswith("machine_end")
    detection = [e for e in stack.sim.requests() if e["path"].endswith("/Calls.json") and e["method"] == "POST"]
    assert "MachineDetection=DetectMessageEnd" in detection[0]["body"]


def test_an_answering_machine_counts_as_no_answer_with_machine_retry(stack):
    stack.sim.phone(CALLEE).script(["machine", "answer"])
    call_id = place(stack, machine="retry")
    stack.settle(redials=True)
    assert len(calls_to(stack, CALLEE)) == 2
    assert heard_says(stack, CALLEE) == ["定期点検のお知らせです"], "the machine was hung up on, the person heard it"
    record = stack.api("GET", f"/api/calls/{call_id}").json()
    assert record["outcome"] == "reached"
    assert record["attempts"][0]["answered_by"].startswith("machine")


def test_repeated_and_shuffled_callbacks_still_make_one_call_per_attempt(stack):
    stack.sim.chaos(repeat=3, shuffle=True)
    stack.sim.phone(CALLEE).script(["no-answer", "no-answer", "answer"])
    call_id = place(stack)
    stack.settle(redials=True)
    assert len(calls_to(stack, CALLEE)) == 3
    record = stack.api("GET", f"/api/calls/{call_id}").json()
    assert record["outcome"] == "reached"
    assert [a["status"] for a in record["attempts"]] == ["no-answer", "no-answer", "completed"]
    deliveries = [e for e in stack.sim.timeline() if e["type"] == "webhook" and "/attempts/" in e.get("url", "")
                  and e.get("url", "").endswith("/status")]
    assert len(deliveries) >= 3 * 3 * 2, "every status callback really was delivered three times"


def test_cancel_stops_the_pending_redial(stack):
    stack.sim.phone(CALLEE).script(["no-answer", "answer"])
    call_id = place(stack, retry_delay=600)
    stack.settle()
    assert len(calls_to(stack, CALLEE)) == 1
    cancelled = stack.api("DELETE", f"/api/calls/{call_id}")
    assert cancelled.status_code == 200 and cancelled.json()["outcome"] == "cancelled"
    stack.settle(redials=True)
    assert len(calls_to(stack, CALLEE)) == 1, "no call after cancelling"
    assert stack.api("DELETE", f"/api/calls/{call_id}").status_code == 409


@pytest.mark.parametrize("to, words", [
    ("090-CALL-ME", "letters"),
    ("12", "too short"),
    ("+1 900 555 0100", "premium-rate"),
    ("+44 909 876 5432", "premium-rate"),
    ("0990-123-456", "premium-rate"),
    ("0570-064-000", "UAN, such as Japan's 0570 Navi Dial"),
    ("020-4123-4567", "a pager number"),
    ("+1 212 555 0100", "callchat is not set up to call numbers in United States."),
    ("", "Enter a phone number"),
])
def test_bad_numbers_are_refused_before_twilio_is_asked(stack, to, words):
    response = stack.api("POST", "/api/calls", json={"to": to, "say": "hi"})
    assert response.status_code == 400
    assert words in response.json()["error"]
    stack.settle()
    assert stack.sim.requests() == [], "the simulator recorded no request"


@pytest.mark.parametrize("to, setting", [(TWILIO_NUMBER, "TWILIO_PHONE_NUMBER"), (POOL[2], "PROXY_NUMBERS")])
def test_callchats_own_numbers_are_refused_before_twilio_is_asked(stack, to, setting):
    stack.app.config["PROXY_NUMBERS"] = ",".join(POOL)
    response = stack.api("POST", "/api/calls", json={"to": to, "say": "hi"})
    assert response.status_code == 400
    assert response.json()["error"] == f"{to} is one of callchat's own numbers; callchat cannot call itself."
    assert setting not in response.json()["error"], "a setting's name is for the log, not for people"
    stack.settle()
    assert stack.sim.requests() == [], "the simulator recorded no request"


def test_the_hourly_cap_per_destination(stack, monkeypatch):
    stack.app.config["DESTINATION_CALLS_PER_HOUR"] = 2
    monkeypatch.setenv("DESTINATION_CALLS_PER_HOUR", "2")
    stack.sim.phone(CALLEE).script(["busy", "busy", "busy"])
    call_id = place(stack)
    stack.settle(redials=True)
    assert len(calls_to(stack, CALLEE)) == 2, "the third attempt is over the cap"
    record = stack.api("GET", f"/api/calls/{call_id}").json()
    assert record["outcome"] == "not reached" and "limit" in record["reason"]
    assert f"{CALLEE} was called too often in the last hour; try again later." in [a.get("error") for a in record["attempts"]]
    refused = stack.api("POST", "/api/calls", json={"to": CALLEE, "say": "again"})
    assert refused.status_code == 429 and "in the last hour" in refused.json()["error"]


@pytest.mark.parametrize("token, status", [(None, 401), ("wrong", 401)])
def test_the_api_needs_the_bearer_token(stack, token, status):
    assert stack.api("POST", "/api/calls", token=token, json={"to": CALLEE, "say": "hi"}).status_code == status
    assert stack.api("GET", "/api/calls/0", token=token).status_code == status


def test_the_api_is_off_without_api_token(stack):
    stack.app.config["API_TOKEN"] = ""
    response = stack.api("POST", "/api/calls", json={"to": CALLEE, "say": "hi"})
    assert response.status_code == 503 and "API_TOKEN" in response.json()["error"]


def test_malformed_requests_name_the_problem(stack):
    assert "say" in stack.api("POST", "/api/calls", json={"to": CALLEE}).json()["error"]
    assert "max_attempts" in stack.api("POST", "/api/calls", json={"to": CALLEE, "say": "x", "max_attempts": 0}).json()["error"]
    assert "machine" in stack.api("POST", "/api/calls", json={"to": CALLEE, "say": "x", "machine": "maybe"}).json()["error"]
    assert stack.api("POST", "/api/calls", json={"to": CALLEE, "room": "CAnope"}).status_code == 404
    assert stack.api("POST", "/api/calls", data="not json").status_code == 400


def test_api_answers_match_its_own_openapi_document(stack):
    from openapi_core import OpenAPI
    from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

    document = stack.api("GET", "/api/openapi.json", token=None)
    assert document.status_code == 200
    spec = OpenAPI.from_dict(document.json())
    stack.sim.phone(CALLEE).script(["no-answer", "answer"])
    exchanges = [
        stack.api("POST", "/api/calls", json={"to": CALLEE, "say": "契約", "retry_delay": 600}),
        stack.api("POST", "/api/calls", json={"to": "+1 900 555 0100", "say": "x"}),
    ]
    call_id = exchanges[0].json()["id"]
    stack.settle()
    exchanges += [stack.api("GET", f"/api/calls/{call_id}"), stack.api("DELETE", f"/api/calls/{call_id}"),
                  stack.api("DELETE", f"/api/calls/{call_id}"), stack.api("GET", "/api/calls/nope")]
    assert [r.status_code for r in exchanges] == [202, 400, 200, 200, 409, 404]
    for response in exchanges:
        request_ = RequestsOpenAPIRequest(response.request)
        spec.validate_request(request_)
        spec.validate_response(request_, RequestsOpenAPIResponse(response))


def test_a_late_ringing_callback_does_not_undo_in_the_call(stack):
    """Bug: a repeated 'ringing' status callback after the participant joined showed them as ringing again."""
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    response = stack.user.post(f"/rooms/{room_id}/calls", {"to": CALLEE})
    call_id = response.json()["id"]
    stack.settle()
    entry = next(p for p in stack.user.state(room_id)["participants"] if p.get("dial_id"))
    assert entry["status"] == "in the call"
    call_sid = stack.api("GET", f"/api/calls/{call_id}").json()["attempts"][0]["call_sid"]
    replay = stack.twilio_post(f"/voice/calls/{call_id}/attempts/1/status", {
        "CallSid": call_sid, "CallStatus": "ringing", "SequenceNumber": "1", "To": CALLEE, "From": TWILIO_NUMBER})
    assert replay.status_code == 204
    entry = next(p for p in stack.user.state(room_id)["participants"] if p.get("dial_id"))
    assert entry["status"] == "in the call"


def test_no_redial_into_a_room_whose_call_has_ended(stack):
    """Bug: a redial due after the room's call ended would open a new, empty conference."""
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    stack.sim.phone(CALLEE).script(["no-answer", "answer"])
    call_id = stack.user.post(f"/rooms/{room_id}/calls", {"to": CALLEE}).json()["id"]
    stack.settle()
    stack.sim.hang_up(room_id)
    stack.settle(redials=True)
    assert len(calls_to(stack, CALLEE)) == 1
    record = stack.api("GET", f"/api/calls/{call_id}").json()
    assert record["outcome"] == "not reached" and "ended" in record["reason"]
    assert [c["status"] for c in stack.sim.conferences() if c["friendly_name"] == room_id] == ["completed"]


def test_the_hourly_cap_counts_the_last_hour_not_the_clock_hour(redis_client):
    """Two attempts a second before the clock hour turns still count a second after it (a clock-hour
    window let twice the cap through across the boundary, and failed this test at 01:00:01)."""
    boundary = 3600 * 500_000
    for t in (boundary - 2, boundary - 1):
        calls.count_destination(redis_client, "+819055550001", now=t)
    assert calls.destination_count(redis_client, "+819055550001", now=boundary + 1) == 2
    assert calls.destination_count(redis_client, "+819055550001", now=boundary + 3599) == 0
