"""The conference lifecycle as Twilio documents it
(twilio.com/docs/voice/conference#lifecycle-of-a-conference): a lone participant waits and
hears the waitUrl, the conference starts with its second participant (or its moderator),
and nothing is announced into a conference that has not started."""

from __future__ import annotations

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.twiml.voice_response import Dial, VoiceResponse

from simulator.conferences.wait import DEFAULT_WAIT_URL
from tests.openapi_check import api_v2010
from tests.simulator.conftest import CALLEE, CALLER, NUMBER, SETTLE, join_room, say_twiml

THIRD = "+819033334444"
HOLD = "<Response><Say>お待ちください</Say><Play>https://example.com/hold.mp3</Play>" \
       "<Redirect>/hold</Redirect></Response>"


def dial_conference(app, **conference: object) -> str:
    """<Dial><Conference> into room-1, with status callbacks, and no greeting before it."""
    response = VoiceResponse()
    dial = Dial()
    dial.conference("room-1", status_callback=app.url + "/conference-events",
                    status_callback_event="start end join leave announcement", **conference)
    response.append(dial)
    return str(response)


def test_a_lone_caller_hears_the_apps_wait_url_until_the_second_one_joins(sim, app, twilio):
    sim.set_clock("manual")  # the hold music's Say waits on the clock, so nothing loops
    app.routes["/voice"] = dial_conference(app, wait_url="/hold")
    app.routes["/hold"] = HOLD
    first = sim.phone(CALLER).call(NUMBER)
    assert sim.settle(SETTLE) == []

    wait, say = sim.phone(CALLER).heard()
    assert (wait["kind"], wait["url"], wait["source"], wait["conference"]) == (
        "wait", app.url + "/hold", "wait", "room-1")
    assert (say["kind"], say["text"], say["source"]) == ("say", "お待ちください", "wait")
    [fetch] = app.params("/hold")  # waitMethod defaults to POST, with the call's parameters
    assert (fetch["CallSid"], fetch["CallStatus"]) == (first, "in-progress")
    assert twilio.conferences.list(friendly_name="room-1")[0].status == "init"

    sim.phone(CALLEE).call(NUMBER)
    assert sim.settle(SETTLE) == []

    assert sim.phone(CALLER).heard()[1]["interrupted"] is True  # the music stops at once
    assert [e["StatusCallbackEvent"] for e in app.params("/conference-events")] == [
        "participant-join", "participant-join", "conference-start"]
    assert sim.phone(CALLEE).heard() == []
    assert twilio.conferences.list(friendly_name="room-1")[0].status == "in-progress"


def test_default_hold_music_is_recorded_not_fetched_and_an_empty_wait_url_is_silence(
        sim, app, twilio):
    app.routes["/voice"] = dial_conference(app)
    sim.phone(CALLER).call(NUMBER)
    assert sim.settle(SETTLE) == []
    app.routes["/voice"] = dial_conference(app, wait_url="")
    sim.phone(CALLEE).call(NUMBER)  # joins the first: room-1 starts, nobody waits now
    assert sim.settle(SETTLE) == []
    app.routes["/voice"] = dial_conference(app, wait_url="").replace("room-1", "room-2")
    sim.phone(THIRD).call(NUMBER)
    assert sim.settle(SETTLE) == []

    [(kind, url)] = [(h["kind"], h["url"]) for h in sim.phone(CALLER).heard()]
    assert (kind, url) == ("wait", DEFAULT_WAIT_URL)
    assert sim.phone(THIRD).heard() == []  # alone in room-2, waiting in silence
    assert not any("twimlets" in e.get("url", "") for e in sim.timeline()
                   if e["type"] == "webhook")


def test_wait_url_twiml_may_only_say_play_pause_and_redirect(sim, app, twilio):
    app.routes["/voice"] = dial_conference(app, wait_url="/hold")
    app.routes["/hold"] = "<Response><Dial>+819055550000</Dial></Response>"
    call_sid = sim.phone(CALLER).call(NUMBER)
    [error] = sim.settle(SETTLE)

    assert (error["code"], error["call_sid"]) == (13238, call_sid)
    assert twilio.calls(call_sid).fetch().status == "in-progress"  # still waiting, in silence


def test_a_moderated_conference_starts_only_when_the_moderator_joins(sim, app, twilio):
    app.routes["/voice"] = dial_conference(app, start_conference_on_enter=False)
    guests = [sim.phone(n).call(NUMBER) for n in (CALLER, CALLEE)]
    assert sim.settle(SETTLE) == []
    assert twilio.conferences.list(friendly_name="room-1")[0].status == "init"

    app.routes["/voice"] = dial_conference(app)
    moderator = sim.phone(THIRD).call(NUMBER)
    assert sim.settle(SETTLE) == []

    events = [(e["StatusCallbackEvent"], e.get("CallSid")) for e in
              app.params("/conference-events")]
    assert events[2:] == [("participant-join", moderator), ("conference-start", None)]
    assert {sid for _, sid in events[:2]} == set(guests)
    assert [h["kind"] for h in sim.phone(THIRD).heard()] == []
    assert all(sim.phone(n).heard()[0]["kind"] == "wait" for n in (CALLER, CALLEE))


def test_an_announce_into_a_conference_with_one_participant_is_refused(sim, app, twilio):
    join_room(sim, app, CALLER)
    conference = twilio.conferences.list(friendly_name="room-1")[0]
    app.routes["/announce"] = say_twiml("こんにちは")

    with pytest.raises(TwilioRestException) as raised:
        twilio.conferences(conference.sid).update(announce_url=app.url + "/announce")
    assert (raised.value.status, raised.value.code) == (400, 16001)
    assert sim.settle(SETTLE) == []
    assert app.params("/announce") == []
    assert [h["source"] for h in sim.phone(CALLER).heard()] == ["twiml", "wait"]

    join_room(sim, app, CALLEE)
    twilio.conferences(conference.sid).update(announce_url=app.url + "/announce")
    assert sim.settle(SETTLE) == []
    for number in (CALLER, CALLEE):
        assert sim.phone(number).heard()[-1]["text"] == "こんにちは"
    for exchange in sim.requests():  # the refusal is a Twilio error body, as the spec wants
        api_v2010().validate_exchange(exchange)


def test_the_participants_api_creates_the_conference_and_its_participant_waits(
        sim, app, twilio):
    participant = twilio.conferences("room-1").participants.create(
        from_=NUMBER, to=CALLEE, wait_url=app.url + "/hold-music.mp3", wait_method="GET",
        conference_status_callback=app.url + "/conference-events",
        conference_status_callback_event=["start", "join"])
    app.routes["/hold-music.mp3"] = ("", 200, {"Content-Type": "audio/mpeg"})
    assert sim.settle(SETTLE) == []

    conference = twilio.conferences(participant.conference_sid).fetch()
    assert (conference.friendly_name, conference.status) == ("room-1", "init")
    wait, play = sim.phone(CALLEE).heard()
    assert (wait["kind"], wait["url"]) == ("wait", app.url + "/hold-music.mp3")
    assert (play["kind"], play["url"], play["source"]) == (
        "play", app.url + "/hold-music.mp3", "wait")  # an audio answer is played

    app.routes["/voice"] = dial_conference(app)
    sim.phone(CALLER).call(NUMBER)
    assert sim.settle(SETTLE) == []
    assert twilio.conferences(participant.conference_sid).fetch().status == "in-progress"
    assert [e["StatusCallbackEvent"] for e in app.params("/conference-events")] == [
        "participant-join", "participant-join", "conference-start"]
    for exchange in sim.requests():  # WaitUrl and WaitMethod are Twilio's parameters
        api_v2010().validate_exchange(exchange)


def test_modifying_a_waiting_call_takes_it_out_of_the_conference(sim, app, twilio):
    sim.set_clock("manual")
    app.routes["/voice"] = dial_conference(app, wait_url="/hold")
    app.routes["/hold"] = HOLD
    call_sid = sim.phone(CALLER).call(NUMBER)
    assert sim.settle(SETTLE) == []

    twilio.calls(call_sid).update(twiml=say_twiml("会議を出ます"))
    assert sim.settle(SETTLE) == []

    wait, hold_say, said = sim.phone(CALLER).heard()
    assert (hold_say["source"], hold_say["interrupted"]) == ("wait", True)
    assert (said["text"], said["source"]) == ("会議を出ます", "twiml")
    [leave] = app.params("/conference-events", "participant-leave")
    assert (leave["CallSid"], leave["ReasonParticipantLeft"]) == (
        call_sid, "participant_updated_via_api")
    assert twilio.conferences.list(friendly_name="room-1")[0].status == "completed"
