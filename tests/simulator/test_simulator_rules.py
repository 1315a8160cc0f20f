"""Twilio's documented rules the simulator follows, one test each (the page is in each docstring)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tests.simulator.conftest import (CALLEE, CALLER, NUMBER, SETTLE, conference_twiml, join_room,
                                  say_twiml)

US_CALLER = "+14155550100"
EVENTS = ["initiated", "ringing", "answered", "completed"]


def wait_loop(app) -> str:
    """The app's silent parking loop for a lone caller: Pause, then fetch /wait again."""
    return f'<Response><Pause length="60"/><Redirect>{app.url}/wait</Redirect></Response>'


def test_conference_callbacks_carry_increasing_sequence_numbers(sim, app, twilio):
    """twilio.com/docs/voice/twiml/conference#attributes-statusCallbackEvent: SequenceNumber
    orders a conference's callbacks; each conference counts from 0."""
    first, second = join_room(sim, app, CALLER, CALLEE)
    sim.hang_up(first)
    sim.hang_up(second)
    assert sim.settle(SETTLE) == []
    app.routes["/voice"] = conference_twiml(app, room="room-2")
    sim.phone(CALLER).call(NUMBER)
    assert sim.settle(SETTLE) == []

    events = app.params("/conference-events")
    rooms = {e["FriendlyName"] for e in events}
    assert rooms == {"room-1", "room-2"}
    for room in rooms:
        numbers = [int(e["SequenceNumber"]) for e in events if e["FriendlyName"] == room]
        assert numbers == list(range(len(numbers)))


def test_conference_end_says_why_and_which_call_ended_it(sim, app, twilio):
    """twilio.com/docs/voice/twiml/conference: conference-end carries ReasonConferenceEnded
    and CallSidEndingConference; a participant with endConferenceOnExit ends it for all."""
    app.routes["/voice"] = conference_twiml(app, end_conference_on_exit=True)
    host = sim.phone(CALLER).call(NUMBER)
    assert sim.settle(SETTLE) == []
    app.routes["/voice"] = conference_twiml(app)
    guest = sim.phone(CALLEE).call(NUMBER)
    assert sim.settle(SETTLE) == []

    sim.hang_up(host)
    assert sim.settle(SETTLE) == []

    [end] = app.params("/conference-events", "conference-end")
    assert (end["ReasonConferenceEnded"], end["CallSidEndingConference"]) == (
        "participant-with-end-conference-on-exit-left", host)
    leave = {e["CallSid"]: e for e in app.params("/conference-events", "participant-leave")}
    assert leave[guest]["ReasonParticipantLeft"] == "moderator_ended_conference"
    conference = twilio.conferences.list(friendly_name="room-1")[0]
    assert (conference.reason_conference_ended, conference.call_sid_ending_conference) == (
        "participant-with-end-conference-on-exit-left", host)


def test_voice_requests_carry_caller_and_called_location(sim, app, twilio):
    """twilio.com/docs/voice/twiml#request-parameters: FromCity/State/Zip/Country,
    ToCity/…, and the same as Caller…/Called…; "" where Twilio does not know."""
    app.routes["/voice"] = say_twiml("hello")
    sim.phone(US_CALLER).call(NUMBER)
    app.routes["/outbound"] = say_twiml("hi")
    twilio.calls.create(to=CALLEE, from_=NUMBER, url=app.url + "/outbound",
                        status_callback=app.url + "/call-status")
    assert sim.settle(SETTLE) == []

    [inbound] = app.params("/voice")
    assert (inbound["FromCountry"], inbound["CallerCountry"]) == ("US", "US")
    assert (inbound["ToCountry"], inbound["CalledCountry"]) == ("JP", "JP")
    assert all(inbound[f"{side}{field}"] == "" for side in ("From", "To", "Caller", "Called")
               for field in ("City", "State", "Zip"))
    [outbound] = app.params("/outbound")
    [completed] = app.params("/call-status")
    for params in (outbound, completed):
        assert (params["FromCountry"], params["ToCountry"]) == ("JP", "JP")


def test_every_completed_status_callback_carries_call_duration(sim, app, twilio):
    """twilio.com/docs/voice/api/call-resource#statuscallback: CallDuration (seconds) on the
    completed event, whatever the call's outcome."""
    sim.phone(CALLEE).script(["answer", "busy"])
    app.routes["/outbound"] = say_twiml("これは長めのお知らせです。最後までお聞きください。")
    answered = twilio.calls.create(to=CALLEE, from_=NUMBER, url=app.url + "/outbound",
                                   status_callback=app.url + "/call-status",
                                   status_callback_event=EVENTS)
    busy = twilio.calls.create(to=CALLEE, from_=NUMBER, url=app.url + "/outbound",
                               status_callback=app.url + "/call-status")
    assert sim.settle(SETTLE) == []

    done = {p["CallSid"]: p for p in app.params("/call-status")
            if p["CallStatus"] in ("completed", "busy")}
    assert done[answered.sid]["CallDuration"] == twilio.calls(answered.sid).fetch().duration
    assert int(done[answered.sid]["CallDuration"]) >= 1
    assert done[busy.sid]["CallDuration"] == "0"


def test_modifying_a_call_cuts_its_say_short_and_runs_the_new_twiml(sim, app, twilio):
    """twilio.com/docs/voice/api/call-resource#update-a-call-resource: Url/Twiml "will
    immediately redirect the call"; the <Say> in progress is heard only in part."""
    sim.set_clock("manual")
    app.routes["/voice"] = say_twiml("とても長い挨拶です。" * 20)
    call_sid = sim.phone(CALLER).call(NUMBER)
    assert sim.settle(SETTLE) == []

    twilio.calls(call_sid).update(twiml=say_twiml("割り込み"))
    assert sim.settle(SETTLE) == []

    greeting, update = sim.phone(CALLER).heard()
    assert (greeting["interrupted"], update["interrupted"]) == (True, False)
    assert (update["text"], update["source"], update["voice"], update["language"]) == (
        "割り込み", "twiml", "Polly.Mizuki", "ja-JP")


def test_a_call_parked_in_a_pause_loop_hears_each_update_in_order(sim, app, twilio):
    """The lone-caller pattern: the call waits in <Pause><Redirect>, and each message is
    a Calls update whose TwiML says it and redirects back (call-resource#update-a-call-resource).
    A silent wait does not keep settle waiting."""
    app.routes["/voice"] = wait_loop(app)
    app.routes["/wait"] = wait_loop(app)
    call_sid = sim.phone(CALLER).call(NUMBER)
    assert sim.settle(SETTLE) == []

    for n in range(3):
        app.routes[f"/message-{n}"] = (
            f'<Response><Say voice="Polly.Mizuki" language="ja-JP">メッセージ{n}</Say>'
            f"<Redirect>{app.url}/spoken-{n}</Redirect></Response>")
        app.routes[f"/spoken-{n}"] = wait_loop(app)
        twilio.calls(call_sid).update(url=f"{app.url}/message-{n}")
        assert sim.settle(SETTLE) == []
        assert len(app.params(f"/spoken-{n}")) == 1

    said = [(h["text"], h["source"]) for h in sim.phone(CALLER).heard() if h["kind"] == "say"]
    assert said == [(f"メッセージ{n}", "twiml") for n in range(3)]
    assert twilio.calls(call_sid).fetch().status == "in-progress"


def test_an_incoming_call_reports_completed_to_the_numbers_status_callback(sim, app, twilio):
    """twilio.com/docs/phone-numbers/api/incomingphonenumber-resource: the number's
    StatusCallback gets the call's status; completed carries CallDuration."""
    [number] = twilio.incoming_phone_numbers.list(phone_number=NUMBER)
    twilio.incoming_phone_numbers(number.sid).update(status_callback=app.url + "/number-status")
    app.routes["/voice"] = say_twiml("もしもし")
    call_sid = sim.phone(CALLER).call(NUMBER)
    assert sim.settle(SETTLE) == []

    [completed] = app.params("/number-status")
    assert (completed["CallSid"], completed["CallStatus"], completed["Direction"]) == (
        call_sid, "completed", "inbound")
    assert completed["CallDuration"] == twilio.calls(call_sid).fetch().duration


def test_a_phone_takes_its_script_in_the_order_calls_were_placed(sim, app, twilio):
    """twilio.com/en-us/changelog/outbound-call-queue-insights-in-programmable-voice-rest-api:
    Calls API calls are queued and dialed in turn, so a scripted phone's behaviours go to its
    calls in the order they were created, however their runner threads are scheduled."""
    outcomes = ["answer", "busy"] * 10
    sim.phone(CALLEE).script(outcomes)
    app.routes["/outbound"] = say_twiml("はい")
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: twilio.calls.create(to=CALLEE, from_=NUMBER,
                                                    url=app.url + "/outbound"), outcomes))
    assert sim.settle(SETTLE) == []

    placed = reversed(twilio.calls.list(to=CALLEE))  # newest first: reversed, in creation order
    assert [call.status for call in placed] == ["completed", "busy"] * 10
