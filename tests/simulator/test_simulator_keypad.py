"""DTMF digits reaching a virtual phone, and a phone that acts as a phone menu: from
``<Play digits>`` on its call (twilio.com/docs/voice/twiml/play#attributes-digits), or
whispered to it as a conference participant (Participant update AnnounceUrl, whose TwiML
may hold <Play>, twilio.com/docs/voice/api/conference-participant-resource)."""

from __future__ import annotations

import json

import pytest
import requests

from simulator import SimulatorClient
from tests.openapi_check import api_v2010
from tests.simulator.conftest import CALLER, NUMBER, SETTLE, conference_twiml

MENU = "+815055551234"  # a company's phone menu
PROMPT = "Press 1 for sales, 2 for support."


def check_journal(sim: SimulatorClient) -> None:
    """Every REST exchange of the test conforms to Twilio's spec."""
    for exchange in sim.requests():
        api_v2010().validate_exchange(exchange)


def test_play_digits_on_a_call_reach_the_phone(sim, app, twilio):
    call = twilio.calls.create(to=MENU, from_=NUMBER,
                               twiml='<Response><Play digits="w12W3#"/></Response>')
    assert sim.settle(SETTLE) == []

    assert sim.phone(MENU).digits() == "123#"  # w and W are pauses, not tones
    assert sim.phone(MENU).digits(call.sid) == "123#"
    [received] = sim.phone(MENU).state()["digits"]
    assert (received["call_sid"], received["source"]) == (call.sid, "twiml")


def test_a_menu_answers_digits_whispered_to_it_in_a_conference(sim, app, twilio):
    sim.phone(MENU).menu(PROMPT, {"1": "Sales, how can I help?", "2#": "Support here."})
    menu = twilio.conferences("room-1").participants.create(
        from_=NUMBER, to=MENU, conference_status_callback=app.url + "/conference-events",
        conference_status_callback_event=["start", "join"])
    assert sim.settle(SETTLE) == []
    assert [s["text"] for s in sim.phone(MENU).said()] == [PROMPT]  # said when answered
    app.routes["/voice"] = conference_twiml(app)
    sim.phone(CALLER).call(NUMBER)
    assert sim.settle(SETTLE) == []
    twilio.calls(menu.call_sid).transcriptions.create(
        status_callback_url=app.url + "/transcription", track="inbound_track")

    app.routes["/keys"] = '<Response><Play digits="92#"/></Response>'
    twilio.conferences(menu.conference_sid).participants(menu.call_sid).update(
        announce_url=app.url + "/keys")
    assert sim.settle(SETTLE) == []

    assert sim.phone(MENU).digits() == "92#"  # 9 starts no option and is forgotten
    assert sim.phone(CALLER).digits() == ""  # a whisper reaches one participant only
    assert [s["text"] for s in sim.phone(MENU).said()] == [PROMPT, "Support here."]
    assert [h["text"] for h in sim.phone(CALLER).heard() if h["source"] == "phone"] == [
        "Support here."]
    [final] = [p for p in app.params("/transcription") if p.get("Final") == "true"]
    assert json.loads(final["TranscriptionData"])["transcript"] == "Support here."


def test_menu_off_makes_an_ordinary_phone_that_still_records_digits(sim, app, twilio):
    sim.phone(MENU).menu(PROMPT, {"1": "Sales."})
    assert sim.phone(MENU).menu()["menu"] is None
    twilio.calls.create(to=MENU, from_=NUMBER, twiml='<Response><Play digits="1"/></Response>')
    assert sim.settle(SETTLE) == []

    assert sim.phone(MENU).digits() == "1" and sim.phone(MENU).said() == []


@pytest.mark.parametrize("body", [{"options": {"1x": "no"}}, {"options": {"1": ""}},
                                  {"options": ["1"]}, {"prompt": " "}])
def test_a_menu_refuses_nonsense(server, body):
    response = requests.post(f"{server.url}/_sim/phones/{MENU}/menu", json=body, timeout=5)
    assert response.status_code == 400 and response.json()["code"] == 20001
