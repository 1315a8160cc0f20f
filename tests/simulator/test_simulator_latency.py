"""The simulator's latency settings (``simulator.core.latency``): a REST response that takes the
trip back from a far-away Twilio, webhooks that leave late, and a slower or faster voice.

Wall-clock figures are compared only as an order of events, each against the delay itself
(e.g. "the call existed half a delay before its answer came back"), never against a limit on
how long the machine took."""

from __future__ import annotations

import threading
import time

import pytest

from simulator import SimulatorClient, SimulatorError, SimulatorServer
from simulator.__main__ import config_from_env
from tests.simulator.conftest import (ACCOUNT_SID, AUTH_TOKEN, CALLEE, CALLER, NUMBER, SETTLE,
                                      say_twiml)

REST_DELAY = 0.5  # real seconds
WEBHOOK_DELAY = 0.5
CALL_EVENTS = ["initiated", "ringing", "answered", "completed"]


def place_call(twilio, app) -> tuple[str, float]:
    """Place a call that ends as soon as it is answered; its CallSid and when (wall clock)
    twilio-python got the answer."""
    sid = twilio.calls.create(to=CALLEE, from_=NUMBER, twiml="<Response><Hangup/></Response>",
                              status_callback=app.url + "/call-status",
                              status_callback_event=CALL_EVENTS).sid
    return sid, time.time()


def created_at(sim, call_sid: str) -> float:
    """When (wall clock) the simulator created the call: its first timeline entry."""
    return sim.timeline(call_sid)[0]["real_at"]


def test_latency_defaults_to_none_and_changes_at_run_time(sim):
    assert sim.latency() == {"rest": 0.0, "webhook": 0.0, "speech_per_char": 0.06}
    assert sim.set_latency(rest=0.15) == {"rest": 0.15, "webhook": 0.0, "speech_per_char": 0.06}
    assert sim.set_latency(webhook=0.2, speech_per_char=0.1) == {
        "rest": 0.15, "webhook": 0.2, "speech_per_char": 0.1}

    with pytest.raises(SimulatorError, match="rest must be a number of seconds >= 0"):
        sim.set_latency(rest=-1)
    with pytest.raises(SimulatorError, match="unknown latency settings"):
        sim._request("POST", "/_sim/latency", json={"jitter": 1})
    sim.reset()
    assert sim.latency() == {"rest": 0.0, "webhook": 0.0, "speech_per_char": 0.06}


def test_rest_delay_answers_late_but_the_call_is_placed_on_arrival(sim, app, twilio):
    sim.phone(CALLEE).script(["answer"], answer_after=0)
    sim.set_latency(rest=REST_DELAY)

    call_sid, answered = place_call(twilio, app)

    exchange = next(e for e in sim.requests() if e["method"] == "POST")
    assert exchange["received_at"] <= created_at(sim, call_sid) < answered - 0.5 * REST_DELAY
    assert exchange["responded_at"] - exchange["received_at"] >= 0.9 * REST_DELAY
    assert sim.settle(SETTLE) == []
    assert [p["CallStatus"] for p in app.params("/call-status")] == [
        "initiated", "ringing", "in-progress", "completed"]


def test_rest_delay_holds_up_no_other_request(sim, app, twilio):
    """Two calls placed at once: each exists while the other's answer is still on its way."""
    sim.phone(CALLEE).script([], answer_after=0)
    sim.set_latency(rest=2 * REST_DELAY)
    placed: list[tuple[str, float]] = []
    threads = [threading.Thread(target=lambda: placed.append(place_call(twilio, app)))
               for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    first_answer = min(answered for _, answered in placed)
    assert all(created_at(sim, sid) < first_answer - REST_DELAY for sid, _ in placed)
    assert sim.settle(SETTLE) == []


def test_webhook_delay_sends_each_webhook_late(sim, app):
    app.routes["/voice"] = say_twiml("もしもし")
    sim.set_latency(webhook=WEBHOOK_DELAY)

    call_sid = sim.phone(CALLER).call(NUMBER)
    assert sim.settle(SETTLE) == []

    voice = next(e for e in sim.timeline(call_sid) if e["type"] == "webhook")
    assert voice["sent_at"] - created_at(sim, call_sid) >= 0.9 * WEBHOOK_DELAY
    assert [h["text"] for h in sim.phone(CALLER).heard()] == ["もしもし"]


def test_webhook_delay_of_queued_callbacks_overlaps(sim, app, twilio):
    """A call's four status callbacks, queued at once, are sent in order, each one delay
    after it was queued: all four are out before the second delay ends, where one after
    another they would take four."""
    sim.phone(CALLEE).script(["answer"], answer_after=0)
    sim.set_latency(webhook=2 * WEBHOOK_DELAY)

    call_sid, _ = place_call(twilio, app)
    assert sim.settle(SETTLE) == []

    sent = [e["sent_at"] for e in sim.timeline(call_sid) if e["type"] == "webhook"]
    assert [p["CallStatus"] for p in app.params("/call-status")] == [
        "initiated", "ringing", "in-progress", "completed"]
    assert sent[0] - created_at(sim, call_sid) >= 0.9 * 2 * WEBHOOK_DELAY
    assert sent[-1] < created_at(sim, call_sid) + 2 * 2 * WEBHOOK_DELAY


def test_speech_seconds_per_char_sets_how_long_a_say_takes(sim, app):
    sim.set_clock("manual")
    sim.set_latency(speech_per_char=0.2)
    app.routes["/voice"] = "<Response><Say>0123456789</Say><Say>two</Say></Response>"
    sim.phone(CALLER).call(NUMBER)
    assert sim.settle(SETTLE) == []

    sim.advance(0.5 + 0.06 * 10 + 0.1)  # the default speech rate would have said it by now
    assert [h["text"] for h in sim.phone(CALLER).heard()] == ["0123456789"]
    sim.advance(0.2 * 10 - 0.06 * 10)  # 0.5 + 0.2 × 10 s in all
    assert [h["text"] for h in sim.phone(CALLER).heard()] == ["0123456789", "two"]
    assert sim.phone(CALLER).say("abcde")["seconds"] == pytest.approx(0.5 + 0.2 * 5)


def test_latency_comes_from_config_flags_and_env(monkeypatch):
    monkeypatch.setenv("SIM_REST_DELAY", "0.15")
    monkeypatch.setenv("SIM_SPEECH_SECONDS_PER_CHAR", "0.1")
    config = config_from_env(["--account-sid", ACCOUNT_SID, "--auth-token", AUTH_TOKEN,
                              "--phone-number", NUMBER, "--webhook-delay", "0.05"])
    assert (config["rest_delay"], config["webhook_delay"], config["speech_seconds_per_char"]) \
        == (0.15, 0.05, 0.1)
    server = SimulatorServer({"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN,
                              "phone_number": NUMBER, **config, "port": 0}).start()
    try:
        client = SimulatorClient(server.url)
        client.set_latency(rest=0)
        client.reset()  # a reset restores the configured settings
        assert client.latency() == {"rest": 0.15, "webhook": 0.05, "speech_per_char": 0.1}
    finally:
        server.stop()

    monkeypatch.setenv("SIM_WEBHOOK_DELAY", "soon")
    with pytest.raises(SystemExit):
        config_from_env(["--account-sid", ACCOUNT_SID, "--auth-token", AUTH_TOKEN,
                         "--phone-number", NUMBER])
    with pytest.raises(ValueError, match="rest_delay must be a number of seconds >= 0"):
        SimulatorServer({"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN,
                         "phone_number": NUMBER, "rest_delay": -0.1})
