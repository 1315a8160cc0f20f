"""Fault injection on the REST APIs: Twilio's errors with Retry-After, late answers, dropped connections."""

from __future__ import annotations

import pytest
import requests
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from simulator import SimulatorError
from tests.simulator.conftest import ACCOUNT_SID, AUTH_TOKEN, CALLEE, NUMBER, SETTLE, SimulatorHttpClient, say_twiml


def place_call(app, twilio):
    app.routes["/outbound"] = say_twiml("お知らせです")
    return twilio.calls.create(to=CALLEE, from_=NUMBER, url=app.url + "/outbound")


def calls_to_callee(sim):
    return [c for c in sim.phone(CALLEE).calls()]


@pytest.mark.parametrize("kind, code", [("429", 20429), ("500", 20500), ("503", 20503)])
def test_an_error_fault_answers_twilios_error_body_and_applies_nothing(sim, app, twilio, kind, code):
    sim.inject_fault("POST", "Calls.json", kind, times=2, retry_after=7)
    for _ in range(2):
        with pytest.raises(TwilioRestException) as refused:
            place_call(app, twilio)
        assert (refused.value.status, refused.value.code) == (int(kind), code)
    answer = sim.requests()[-1]
    assert answer["status"] == int(kind) and answer["fault"] == kind
    assert sim.settle(SETTLE) == []
    assert calls_to_callee(sim) == [], "a refused request places no call"

    place_call(app, twilio)  # the rule is used up: the third request goes through
    assert sim.settle(SETTLE) == []
    assert len(calls_to_callee(sim)) == 1
    assert sim.faults()[0]["fired"] == 2


def test_an_error_fault_sends_retry_after(sim, server):
    sim.inject_fault("POST", "Conferences/*.json", "503", retry_after=12)
    sim.inject_fault("POST", "Calls/*.json", "429")
    auth = (ACCOUNT_SID, AUTH_TOKEN)
    base = f"{server.url}/2010-04-01/Accounts/{ACCOUNT_SID}"
    late = requests.post(f"{base}/Conferences/CF{'0' * 32}.json", auth=auth, data={"AnnounceUrl": "https://x.test/a"})
    assert late.status_code == 503 and late.headers["Retry-After"] == "12"
    assert late.json() == {"code": 20503, "message": "Service Unavailable",
                           "more_info": "https://www.twilio.com/docs/errors/20503", "status": 503}
    busy = requests.post(f"{base}/Calls/CA{'0' * 32}.json", auth=auth, data={"Url": "https://x.test/a"})
    assert busy.status_code == 429 and "Retry-After" not in busy.headers
    assert requests.post(f"{base}/Calls/CA{'0' * 32}.json", auth=auth, data={"Url": "https://x.test/a"}).status_code == 404


def test_a_late_answer_times_out_the_client_but_the_call_is_placed(sim, app, server):
    sim.inject_fault("POST", "Calls.json", "delay", seconds=1.5)
    impatient = Client(ACCOUNT_SID, AUTH_TOKEN, http_client=SimulatorHttpClient(server.url))
    impatient.http_client.timeout = 0.5
    with pytest.raises(requests.exceptions.Timeout):
        place_call(app, impatient)
    assert sim.settle(SETTLE) == []
    assert len(calls_to_callee(sim)) == 1, "the request was applied although its answer came too late"


@pytest.mark.parametrize("kind, placed", [("drop-before", 0), ("drop-after", 1)])
def test_a_dropped_connection_gives_no_answer(sim, app, twilio, kind, placed):
    sim.inject_fault("POST", "Calls.json", kind)
    with pytest.raises(requests.exceptions.ConnectionError):
        place_call(app, twilio)
    assert sim.settle(SETTLE) == []
    assert len(calls_to_callee(sim)) == placed
    assert [e["kind"] for e in sim.timeline() if e["type"] == "fault"] == [kind]


def test_faults_match_their_route_only_and_clear(sim, app, twilio):
    sim.inject_fault("POST", "Calls/*.json", "500", times=5)
    place_call(app, twilio)  # POST Calls.json is another route
    sim.clear_faults()
    assert sim.faults() == []
    with pytest.raises(SimulatorError):
        sim.inject_fault("POST", "Calls.json", "teapot")
    assert sim.settle(SETTLE) == []
