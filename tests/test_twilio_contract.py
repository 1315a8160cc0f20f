"""Every REST request callchat sends, and every answer the simulator gives, match Twilio's OpenAPI spec."""

from __future__ import annotations

import json

from tests.conftest import OWNER
from tests.openapi_check import api_v2010


def test_every_rest_exchange_of_the_flow_validates_against_twilio_api_v2010(stack, monkeypatch):
    stack.app.config["OWNER_PHONE"] = OWNER
    monkeypatch.setenv("OWNER_PHONE", OWNER)
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    stack.user.say(room_id, "契約テスト")
    stack.user.play(room_id, "https://example.com/chime.mp3")
    stack.settle()
    stack.sim.hang_up(room_id)
    stack.settle()

    exchanges = stack.sim.requests()
    kinds = {(e["method"], e["path"].split("/")[-1] if "Participants" in e["path"] else e["path"].rsplit("/", 2)[-2])
             for e in exchanges}
    assert ("POST", "Participants.json") in kinds, "the owner was added with the Participants API"
    assert ("POST", "Conferences") in kinds, "messages were announced with a Conference update"
    assert ("POST", "Calls") in kinds, "the lone caller's call was modified (status callback, then into the conference)"
    assert len(exchanges) >= 3
    spec = api_v2010()
    for exchange in exchanges:
        spec.validate_exchange(exchange)


def test_the_checker_catches_a_bad_answer(stack, monkeypatch):
    """The contract test above could not pass by accident: a broken answer is caught."""
    stack.app.config["OWNER_PHONE"] = OWNER  # a conference with two participants announces
    monkeypatch.setenv("OWNER_PHONE", OWNER)
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    stack.user.say(room_id, "x")
    stack.settle()
    update = next(e for e in stack.sim.requests() if e["method"] == "POST" and "/Calls/" in e["path"])
    body = json.loads(update["response_body"])
    body["status"] = "melting"
    broken = dict(update, response_body=json.dumps(body))
    try:
        api_v2010().validate_exchange(broken)
    except AssertionError:
        return
    raise AssertionError("a call status outside the enum was accepted")
