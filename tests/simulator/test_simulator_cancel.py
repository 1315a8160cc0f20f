"""Ending calls through the REST API: Status=canceled while queued/ringing, Status=completed
while in progress, and Participants-API calls canceled before they join."""

from __future__ import annotations

from tests.simulator.conftest import CALLEE, CALLER, NUMBER, SETTLE, join_room

EVENTS = ["initiated", "ringing", "answered", "completed"]
GUEST = "+819011112222"


def call_out(app, twilio, twiml="<Response><Pause length=\"600\"/></Response>"):
    return twilio.calls.create(to=CALLEE, from_=NUMBER, twiml=twiml,
                               status_callback=app.url + "/call-status",
                               status_callback_event=EVENTS)


def test_canceling_a_ringing_call_ends_it_as_canceled_with_487(sim, app, twilio):
    sim.set_clock("manual")
    call = call_out(app, twilio)
    assert sim.settle(SETTLE) == []
    assert twilio.calls(call.sid).fetch().status == "ringing"

    assert twilio.calls(call.sid).update(status="canceled").status == "canceled"
    assert sim.settle(SETTLE) == []

    last = app.params("/call-status")[-1]
    assert (last["CallStatus"], last["SipResponseCode"], last["CallDuration"]) == (
        "canceled", "487", "0")
    assert "Duration" not in last
    assert [s["CallStatus"] for s in app.params("/call-status")] == [
        "initiated", "ringing", "canceled"]
    assert sim.phone(CALLEE).calls()[0]["status"] == "canceled"


def test_completed_hangs_up_a_call_in_progress_and_canceled_does_not(sim, app, twilio):
    sim.set_clock("manual")
    call = call_out(app, twilio)
    sim.advance(2)  # answered after 1 s; now in the 600 s <Pause>
    assert twilio.calls(call.sid).fetch().status == "in-progress"

    assert twilio.calls(call.sid).update(status="canceled").status == "in-progress"
    assert twilio.calls(call.sid).update(status="completed").status == "completed"
    assert sim.settle(SETTLE) == []

    last = app.params("/call-status")[-1]
    assert (last["CallStatus"], last["SipResponseCode"], last["Duration"]) == (
        "completed", "200", "1")


def test_canceling_a_ringing_participant_leaves_the_conference_as_it_was(sim, app, twilio):
    [host] = join_room(sim, app, CALLER)
    conference = twilio.conferences.list(friendly_name="room-1")[0]
    sim.set_clock("manual")
    guest = twilio.conferences(conference.sid).participants.create(
        from_=NUMBER, to=GUEST, status_callback=app.url + "/call-status",
        status_callback_event=EVENTS)
    assert sim.settle(SETTLE) == []
    assert twilio.conferences(conference.sid).participants(guest.call_sid).fetch().status == (
        "ringing")

    twilio.calls(guest.call_sid).update(status="canceled")
    assert sim.settle(SETTLE) == []

    assert [p.call_sid for p in twilio.conferences(conference.sid).participants.list()] == [host]
    assert twilio.conferences(conference.sid).fetch().status == "init"  # the host waits alone
    assert [e["StatusCallbackEvent"] for e in app.params("/conference-events")] == [
        "participant-join"]  # no leave or end for the one that never joined
    assert app.params("/call-status")[-1]["CallStatus"] == "canceled"
    assert twilio.calls(host).fetch().status == "in-progress"


def test_canceling_the_only_participant_closes_the_room_quietly(sim, app, twilio):
    sim.set_clock("manual")
    guest = twilio.conferences("room-7").participants.create(
        from_=NUMBER, to=GUEST, conference_status_callback=app.url + "/conference-events",
        conference_status_callback_event=["start", "end", "join", "leave"])
    assert sim.settle(SETTLE) == []

    twilio.conferences(guest.conference_sid).participants(guest.call_sid).delete()
    assert sim.settle(SETTLE) == []

    assert twilio.calls(guest.call_sid).fetch().status == "canceled"
    assert twilio.conferences(guest.conference_sid).fetch().status == "completed"
    assert twilio.conferences(guest.conference_sid).participants.list() == []
    assert app.params("/conference-events") == []
    again = twilio.conferences("room-7").participants.create(from_=NUMBER, to=GUEST)
    assert again.conference_sid != guest.conference_sid
