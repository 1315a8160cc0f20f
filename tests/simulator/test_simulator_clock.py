"""The simulator's clock: real, manual and auto-advancing time, driven through the control API."""

from __future__ import annotations

import email.utils
import threading
import time

import pytest
from twilio.rest import Client

from simulator import SimulatorClient, SimulatorError, SimulatorServer
from simulator.__main__ import config_from_env
from simulator.core.clock import Clock
from tests.simulator.conftest import (ACCOUNT_SID, AUTH_TOKEN, CALLEE, CALLER, NUMBER, SETTLE,
                                  AppUnderTest, conference_twiml)

EVENTS = ["initiated", "ringing", "answered", "completed"]


def stamp(params: dict) -> float:
    """A status callback's RFC 2822 Timestamp as epoch seconds."""
    return email.utils.parsedate_to_datetime(params["Timestamp"]).timestamp()


def ring_out(sim: SimulatorClient, app: AppUnderTest, twilio: Client, timeout: int = 60) -> str:
    sim.phone(CALLEE).script(["no-answer"])
    return twilio.calls.create(to=CALLEE, from_=NUMBER, url=app.url + "/outbound",
                               timeout=timeout, status_callback=app.url + "/call-status",
                               status_callback_event=EVENTS).sid


def test_auto_clock_rings_out_a_60_second_timeout_without_waiting(sim, app, twilio):
    assert sim.set_clock("auto")["mode"] == "auto"
    started, sim_started = time.monotonic(), sim.clock()["now"]

    call_sid = ring_out(sim, app, twilio, timeout=60)
    assert sim.settle(SETTLE) == []

    assert time.monotonic() - started < 30, "the 60 s ring was not waited out"  # (a loaded machine took 1.04 s)
    assert twilio.calls(call_sid).fetch().status == "no-answer"
    initiated, ringing, no_answer = app.params("/call-status")
    assert (no_answer["CallStatus"], no_answer["SipResponseCode"]) == ("no-answer", "487")
    assert stamp(no_answer) - stamp(ringing) == pytest.approx(60, abs=1)
    assert sim.clock()["now"] - sim_started >= 60
    assert sim.clock()["pending"] == 0


def test_manual_clock_does_not_ring_out_until_advanced(sim, app, twilio):
    sim.set_clock("manual")
    call_sid = ring_out(sim, app, twilio, timeout=60)
    assert sim.settle(SETTLE) == []  # ringing waits on the clock, so it does not count

    assert twilio.calls(call_sid).fetch().status == "ringing"
    assert [p["CallStatus"] for p in app.params("/call-status")] == ["initiated", "ringing"]
    now = sim.clock()["now"]
    assert sim.advance(59)["now"] == pytest.approx(now + 59)
    assert twilio.calls(call_sid).fetch().status == "ringing"

    sim.advance(1)  # returns once the resulting callbacks were delivered
    assert twilio.calls(call_sid).fetch().status == "no-answer"
    assert [p["CallStatus"] for p in app.params("/call-status")] == [
        "initiated", "ringing", "no-answer"]


def test_advance_fires_timers_in_deadline_order(sim, app, twilio):
    sim.set_clock("manual")
    app.routes["/voice"] = ('<Response><Say>one</Say><Pause length="10"/><Say>two</Say>'
                            '</Response>')
    ring_out(sim, app, twilio, timeout=30)  # CALLEE rings out at +30
    caller_sid = sim.phone(CALLER).call(NUMBER)
    assert sim.settle(SETTLE) == []
    assert [h["text"] for h in sim.phone(CALLER).heard()] == ["one"]

    sim.advance(100)

    assert [h["text"] for h in sim.phone(CALLER).heard()] == ["one", None, "two"]
    order = [(e["call_sid"], e["status"]) for e in sim.timeline() if e["type"] == "status"
             and e["status"] in ("completed", "no-answer")]
    assert order[0][0] == caller_sid  # Say (~0.8 s) + Pause 10 s + Say ends before +30
    assert [status for _, status in order] == ["completed", "no-answer"]


def test_auto_settle_ignores_calls_idle_in_a_conference(sim, app, twilio):
    sim.set_clock("auto")
    app.routes["/voice"] = conference_twiml(app)
    before = sim.clock()["now"]
    call_sid = sim.phone(CALLER).call(NUMBER)
    assert sim.settle(SETTLE) == []

    assert twilio.calls(call_sid).fetch().status == "in-progress"
    assert sim.clock()["now"] - before < 60  # the 4 h <Dial timeLimit is not a timer to jump to
    sim.advance(4 * 3600)
    assert twilio.calls(call_sid).fetch().status == "completed"


def test_switching_modes_keeps_time_and_reset_restores_the_configured_clock(sim):
    assert sim.clock()["mode"] == "real"
    frozen = sim.set_clock("manual")["now"]
    time.sleep(0.05)
    assert sim.clock()["now"] == frozen
    assert sim.set_clock("real", speed=1000)["now"] >= frozen
    time.sleep(0.05)
    assert sim.clock()["now"] - frozen >= 10

    with pytest.raises(SimulatorError, match="clock mode"):
        sim.set_clock("sideways")
    with pytest.raises(SimulatorError, match="speed"):
        sim.set_clock(speed=0)
    sim.reset()
    assert (sim.clock()["mode"], sim.clock()["speed"]) == ("real", 50)


def test_clock_mode_comes_from_config_and_sim_clock_env(monkeypatch):
    server = SimulatorServer({"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN,
                              "phone_number": NUMBER, "clock": "manual"}).start()
    try:
        assert SimulatorClient(server.url).clock()["mode"] == "manual"
    finally:
        server.stop()
    with pytest.raises(ValueError, match="clock"):
        SimulatorServer({"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN,
                         "phone_number": NUMBER, "clock": "fast"})

    monkeypatch.setenv("SIM_CLOCK", "auto")
    config = config_from_env(["--account-sid", ACCOUNT_SID, "--auth-token", AUTH_TOKEN,
                              "--phone-number", NUMBER])
    assert config["clock"] == "auto"


def test_an_interrupt_wakes_its_own_sleeper_and_the_rest_fire_in_deadline_order():
    """Each sleeper waits on its own; 100 at once, half cut short, the others fired by
    advancing the clock, latest-started first (their deadlines are earliest)."""
    clock = Clock(mode="manual", start=1000.0)
    interrupts = [threading.Event() for _ in range(100)]
    slept: dict[int, bool] = {}
    fired: list[int] = []

    def sleeper(i: int) -> None:
        slept[i] = clock.sleep(100 - i, interrupts[i], on_fire=lambda: fired.append(i))

    threads = [threading.Thread(target=sleeper, args=(i,)) for i in range(100)]
    for thread in threads:
        thread.start()
    with clock.cond:
        assert clock.cond.wait_for(lambda: clock.pending() == 100, timeout=SETTLE)
    for i in range(0, 100, 2):
        clock.interrupt(interrupts[i])
        threads[i].join()
    assert clock.pending() == 50 and clock.next_deadline() == 1001.0

    clock.advance_to(1100.0)
    for thread in threads:
        thread.join()
    assert slept == {i: i % 2 == 1 for i in range(100)}
    assert fired == list(range(99, 0, -2))
    assert clock.pending() == 0 and clock.next_deadline() is None
