"""The Twilio simulator, driven the way the app drives real Twilio: twilio-python's REST
client, signed webhooks into a small app under test, and virtual phones."""

from __future__ import annotations
import json
import threading
import xml.etree.ElementTree as ElementTree
import pytest
import requests
from flask import Flask, request
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from twilio.twiml.voice_response import Dial, VoiceResponse
from werkzeug.serving import make_server
from simulator import SimulatorClient, SimulatorError, SimulatorServer
from simulator.conferences.wait import DEFAULT_WAIT_URL
from simulator.twiml import TwimlError, parse
from simulator.core.webhooks import sign
from tests.simulator.conftest import (ACCOUNT_SID, CALLEE, CALLER, NUMBER, SETTLE, SimulatorHttpClient, conference_twiml,
                                      join_room, say_twiml)


def test_incoming_call_hears_greeting_then_waits_alone_with_hold_music(sim, app, twilio):
    call_sid = join_room(sim, app, CALLER)[0]

    voice = app.params("/voice")[0]
    where = {f"{side}{field}": "JP" if field == "Country" else ""
             for side in ("From", "To", "Caller", "Called")
             for field in ("City", "State", "Zip", "Country")}
    assert voice == {"CallSid": call_sid, "AccountSid": ACCOUNT_SID, "From": CALLER,
                     "To": NUMBER, "Caller": CALLER, "Called": NUMBER,
                     "CallStatus": "ringing", "ApiVersion": "2010-04-01",
                     "Direction": "inbound", **where}
    heard = sim.phone(CALLER).heard()
    assert [(h["kind"], h["text"], h["url"], h["voice"], h["language"], h["source"])
            for h in heard] == [
        ("say", "ようこそ", None, "Polly.Mizuki", "ja-JP", "twiml"),
        ("wait", None, DEFAULT_WAIT_URL, None, None, "wait")]

    [join] = app.params("/conference-events")
    assert (join["StatusCallbackEvent"], join["SequenceNumber"]) == ("participant-join", "0")
    conference = twilio.conferences.list(friendly_name="room-1")[0]
    assert conference.status == "init"
    assert join["ConferenceSid"] == conference.sid and join["FriendlyName"] == "room-1"
    assert (join["CallSid"], join["Muted"], join["Hold"], join["Coaching"]) == (
        call_sid, "false", "false", "false")
    assert (join["StartConferenceOnEnter"], join["EndConferenceOnExit"]) == ("true", "false")
    assert join["AccountSid"] == ACCOUNT_SID and join["Timestamp"].endswith("+0000")
    assert twilio.calls(call_sid).fetch().status == "in-progress"


def test_the_conference_starts_when_the_second_participant_joins(sim, app, twilio):
    first, second = join_room(sim, app, CALLER, CALLEE)

    events = app.params("/conference-events")
    assert [(e["StatusCallbackEvent"], e.get("CallSid"), e["SequenceNumber"]) for e in events] == [
        ("participant-join", first, "0"), ("participant-join", second, "1"),
        ("conference-start", None, "2")]
    assert twilio.conferences(events[0]["ConferenceSid"]).fetch().status == "in-progress"
    assert [h["kind"] for h in sim.phone(CALLEE).heard()] == ["say"]  # no wait: it started


def test_announce_is_heard_by_every_participant(sim, app, twilio):
    join_room(sim, app, CALLER, CALLEE)
    conference = twilio.conferences.list(friendly_name="room-1")[0]
    app.routes["/announce"] = say_twiml("こんにちは")

    updated = twilio.conferences(conference.sid).update(announce_url=app.url + "/announce")
    assert sim.settle(SETTLE) == []

    assert updated.status == "in-progress"
    [room] = sim.conferences()
    assert len(room["participants"]) == 2
    for number in (CALLER, CALLEE):
        last = sim.phone(number).heard()[-1]
        assert (last["text"], last["source"], last["conference"]) == (
            "こんにちは", "announcement", "room-1")
    assert app.params("/announce") == [{"AccountSid": ACCOUNT_SID, "ConferenceSid": conference.sid,
                                        "FriendlyName": "room-1", "ApiVersion": "2010-04-01"}]
    [done] = app.params("/conference-events", "announcement-end")
    assert done["AnnounceUrl"] == app.url + "/announce"


def test_overlapping_announcements_are_recorded(sim, app, twilio):
    join_room(sim, app, CALLER, CALLEE)
    conference = twilio.conferences.list(friendly_name="room-1")[0]
    app.routes["/announce"] = say_twiml("一つ目のメッセージはかなり長いので、まだ話しています。")

    twilio.conferences(conference.sid).update(announce_url=app.url + "/announce")
    twilio.conferences(conference.sid).update(announce_url=app.url + "/announce")
    errors = sim.settle(SETTLE)

    assert [e["type"] for e in errors] == ["announcement-overlap"]
    assert errors[0]["conference"] == "room-1"
    assert len(app.params("/conference-events", "announcement-end")) == 2


def test_announce_into_a_finished_conference_is_404(sim, app, twilio):
    [call_sid] = join_room(sim, app, CALLER)
    conference = twilio.conferences.list(friendly_name="room-1")[0]
    sim.hang_up(call_sid)
    sim.settle(SETTLE)

    with pytest.raises(TwilioRestException) as raised:
        twilio.conferences(conference.sid).update(announce_url=app.url + "/announce")
    assert (raised.value.status, raised.value.code) == (404, 20404)


def test_participants_api_by_friendly_name_calls_and_joins(sim, app, twilio):
    participant = twilio.conferences("room-2").participants.create(
        from_=NUMBER, to=CALLEE, label="guest",
        status_callback=app.url + "/call-status#rc=2", status_callback_method="GET",
        status_callback_event=["initiated", "ringing", "answered", "completed"],
        conference_status_callback=app.url + "/conference-events",
        conference_status_callback_event=["start", "join", "mute"])
    assert participant.status == "queued" and participant.conference_sid.startswith("CF")
    assert sim.settle(SETTLE) == []

    [call] = sim.phone(CALLEE).calls()
    assert (call["call_sid"], call["direction"], call["from"], call["status"]) == (
        participant.call_sid, "incoming", NUMBER, "in-progress")
    statuses = app.params("/call-status")  # sent with GET, signed over the query string
    assert [(s["CallStatus"], s["SequenceNumber"]) for s in statuses] == [
        ("initiated", "0"), ("ringing", "1"), ("in-progress", "2")]
    assert all(s["Direction"] == "outbound-api" and
               s["CallbackSource"] == "call-progress-events" for s in statuses)
    [join] = app.params("/conference-events")  # alone: it waits, the conference is init
    assert (join["StatusCallbackEvent"], join["ParticipantLabel"]) == ("participant-join", "guest")
    assert twilio.conferences(participant.conference_sid).fetch().status == "init"
    guest = twilio.conferences(participant.conference_sid).participants("guest")
    assert (guest.fetch().call_sid, guest.fetch().status) == (participant.call_sid, "connected")

    assert guest.update(muted=True).muted is True
    assert sim.settle(SETTLE) == []
    [mute] = app.params("/conference-events", "participant-mute")
    assert (mute["CallSid"], mute["Muted"]) == (participant.call_sid, "true")


@pytest.mark.parametrize("script, events, sip", [
    (["busy"], [("initiated", "0"), ("busy", "1")], "486"),
    (["no-answer"], [("initiated", "0"), ("ringing", "1"), ("no-answer", "2")], "487"),
    (["fail"], [("initiated", "0"), ("failed", "1")], "500"),
])
def test_unanswered_calls_report_their_terminal_status(sim, app, twilio, script, events, sip):
    sim.phone(CALLEE).script(script)
    call = twilio.calls.create(
        to=CALLEE, from_=NUMBER, url=app.url + "/outbound", timeout=5,
        status_callback=app.url + "/call-status",
        status_callback_event=["initiated", "ringing", "answered", "completed"])
    assert call.status == "queued"
    assert sim.settle(SETTLE) == []

    statuses = app.params("/call-status")
    assert [(s["CallStatus"], s["SequenceNumber"]) for s in statuses] == events
    assert (statuses[-1]["SipResponseCode"], statuses[-1]["CallDuration"]) == (sip, "0")
    assert "Duration" not in statuses[-1]
    assert app.params("/outbound") == []
    assert twilio.calls(call.sid).fetch().status == events[-1][0]


def test_answered_call_runs_its_twiml_then_completes(sim, app, twilio):
    sim.phone(CALLEE).script(["no-answer", "machine"])
    app.routes["/outbound"] = say_twiml("お知らせです")
    twilio.calls.create(to=CALLEE, from_=NUMBER, url=app.url + "/outbound", timeout=5)
    call = twilio.calls.create(to=CALLEE, from_=NUMBER, url=app.url + "/outbound",
                               machine_detection="DetectMessageEnd",
                               status_callback=app.url + "/call-status")
    assert sim.settle(SETTLE) == []

    [voice] = app.params("/outbound")
    assert (voice["CallSid"], voice["AnsweredBy"], voice["CallStatus"]) == (
        call.sid, "machine_end_beep", "in-progress")
    assert sim.phone(CALLEE).heard()[-1]["text"] == "お知らせです"
    completed = app.params("/call-status")[-1]
    assert (completed["CallStatus"], completed["SipResponseCode"], completed["Duration"]) == (
        "completed", "200", "1")


def test_dial_number_bridges_with_caller_id(sim, app, twilio):
    response = VoiceResponse()
    response.dial(CALLEE, caller_id=NUMBER, action=app.url + "/dial-done")
    app.routes["/voice"] = str(response)
    done = VoiceResponse()
    done.hangup()
    app.routes["/dial-done"] = str(done)
    caller_sid = sim.phone(CALLER).call(NUMBER)
    assert sim.settle(SETTLE) == []

    [leg] = sim.phone(CALLEE).calls()
    assert (leg["from"], leg["status"], leg["twilio_direction"]) == (
        NUMBER, "in-progress", "outbound-dial")
    sim.hang_up(leg["call_sid"])
    assert sim.settle(SETTLE) == []

    [done] = app.params("/dial-done")
    assert (done["DialCallStatus"], done["DialCallSid"], done["DialBridged"]) == (
        "completed", leg["call_sid"], "true")
    assert twilio.calls(caller_sid).fetch().status == "completed"


@pytest.mark.parametrize("document, problem", [
    ("<Response><Sing>hello</Sing></Response>", "Unknown TwiML verb <Sing>"),
    ('<Response><Say tone="warm">hello</Say></Response>', "Unknown attribute 'tone'"),
    ("<Response><Say>unclosed</Response>", "Document parse failure"),
])
def test_strict_twiml_fails_the_call_loudly(sim, app, twilio, document, problem):
    app.routes["/voice"] = document
    call_sid = sim.phone(CALLER).call(NUMBER)
    [error] = sim.settle(SETTLE)

    assert problem in error["message"] and error["call_sid"] == call_sid
    assert error["code"] in (12100, 12200)
    assert sim.phone(CALLER).heard() == []
    assert twilio.calls(call_sid).fetch().status == "failed"


@pytest.mark.parametrize("document", [
    "<Response><Dial><Queue>support</Queue></Dial></Response>",
    '<Response><Dial><Conference beep="loud">r</Conference></Dial></Response>',
    "<Response><Say>hi<break/></Say></Response>",
    "<Reply><Say>hi</Say></Reply>",
    '<Response><Say><prosody rate="warp">hi</prosody></Say></Response>',
    '<Response><Say>hi <prosody rate="slow">there</prosody></Say></Response>',
])
def test_twiml_parser_rejects_what_it_does_not_know(document):
    with pytest.raises(TwimlError):
        parse(document)


@pytest.mark.parametrize("rate", ["x-slow", "slow", "fast", "80%", "200%"])
def test_a_say_with_ssml_prosody_is_its_words_at_that_rate(rate):
    """twilio.com/docs/voice/twiml/say/text-speech#prosody: rate is a word, or a percentage (20%-200%)."""
    [say] = parse(f'<Response><Say voice="Polly.Mizuki"><prosody rate="{rate}">ゆっくり</prosody></Say></Response>')
    assert (say.text, say.attrs["rate"], say.attrs["voice"]) == ("ゆっくり", rate, "Polly.Mizuki")


def test_webhook_signature_matches_twilio_python_vector():
    # twilio-python's tests/unit/test_request_validator.py (Caller/From +14158675309)
    params = {"CallSid": "CA1234567890ABCDE", "Caller": "+14158675309", "Digits": "1234",
              "From": "+14158675309", "To": "+18005551212"}
    assert sign("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", params) == (
        "RSOYDt4T1cUTdK1PDd93/VVr8B8=")


def test_announcement_twiml_allows_only_say_play_pause_redirect():
    assert [v.name for v in parse("<Response><Say>a</Say><Pause/><Play>u</Play></Response>",
                                  announcement=True)] == ["Say", "Pause", "Play"]
    with pytest.raises(TwimlError, match="not allowed in an announcement"):
        parse("<Response><Hangup/></Response>", announcement=True)


@pytest.mark.parametrize("answer, code", [
    (("oops", 500), 11200),  # HTTP retrieval failure
    (("", 204), 12100),  # no document
    (("{}", 200, {"Content-Type": "application/json"}), 12300),  # not TwiML
])
def test_bad_webhook_answers_are_twilio_errors(sim, app, twilio, answer, code):
    app.routes["/voice"] = answer
    call_sid = sim.phone(CALLER).call(NUMBER)
    [error] = sim.settle(SETTLE)

    assert (error["code"], error["call_sid"], error["url"]) == (code, call_sid, app.url + "/voice")
    assert twilio.calls(call_sid).fetch().status == "failed"


def test_bad_credentials_are_401_with_code_20003(server, sim):
    wrong = Client(ACCOUNT_SID, "wrong-token", http_client=SimulatorHttpClient(server.url))
    with pytest.raises(TwilioRestException) as raised:
        wrong.calls("CA" + "f" * 32).fetch()
    assert (raised.value.status, raised.value.code) == (401, 20003)

    response = requests.get(f"{server.url}/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json",
                            timeout=5)
    assert response.status_code == 401
    assert response.json() == {"code": 20003, "message": response.json()["message"],
                               "more_info": "https://www.twilio.com/docs/errors/20003",
                               "status": 401}


def test_invalid_to_is_400_with_code_21211_and_journaled(sim, app, twilio):
    with pytest.raises(TwilioRestException) as raised:
        twilio.calls.create(to="12345", from_=NUMBER, url=app.url + "/outbound")
    assert (raised.value.status, raised.value.code) == (400, 21211)
    assert "'To' number 12345 is not a valid phone number" in raised.value.msg

    [entry] = sim.requests()
    assert (entry["method"], entry["status"]) == ("POST", 400)
    assert entry["path"] == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"
    assert "To=12345" in entry["body"] and json.loads(entry["response_body"])["code"] == 21211


def test_other_accounts_and_unknown_sids_are_404(twilio):
    with pytest.raises(TwilioRestException) as raised:
        twilio.calls("CA" + "f" * 32).fetch()
    assert (raised.value.status, raised.value.code) == (404, 20404)
    with pytest.raises(TwilioRestException) as raised:
        twilio.api.v2010.accounts("AC" + "f" * 32).calls("CA" + "f" * 32).fetch()
    assert (raised.value.status, raised.value.code) == (404, 20404)


def test_settle_waits_for_ringing_and_times_out(sim, app, twilio):
    sim.phone(CALLEE).script(["no-answer"])
    call = twilio.calls.create(to=CALLEE, from_=NUMBER, url=app.url + "/outbound", timeout=600)
    with pytest.raises(SimulatorError):
        sim.settle(timeout=0.2)

    twilio.calls(call.sid).update(status="canceled")
    assert sim.settle(SETTLE) == []
    assert twilio.calls(call.sid).fetch().status == "canceled"


def test_hang_up_ends_the_conference(sim, app, twilio):
    call_sid, other = join_room(sim, app, CALLER, CALLEE)
    sim.hang_up(other)
    assert sim.settle(SETTLE) == []
    assert twilio.conferences.list(friendly_name="room-1")[0].status == "in-progress"
    sim.hang_up(call_sid)
    assert sim.settle(SETTLE) == []

    leave, end = app.params("/conference-events")[-2:]
    assert (leave["StatusCallbackEvent"], leave["CallSid"]) == ("participant-leave", call_sid)
    assert (leave["ParticipantCallStatus"], leave["ReasonParticipantLeft"]) == (
        "completed", "participant_hung_up")
    assert (end["StatusCallbackEvent"], end["ReasonConferenceEnded"]) == (
        "conference-end", "last-participant-left")
    assert end["CallSidEndingConference"] == call_sid
    conference = twilio.conferences.list(friendly_name="room-1")[0]
    assert (conference.status, conference.reason_conference_ended) == (
        "completed", "last-participant-left")
    assert twilio.calls(call_sid).fetch().status == "completed"


def test_ending_conference_via_api_continues_after_dial(sim, app, twilio):
    response = ElementTree.fromstring(conference_twiml(app))
    ElementTree.SubElement(response, "Say").text = "さようなら"
    app.routes["/voice"] = ElementTree.tostring(response, encoding="unicode")
    call_sid, _ = [sim.phone(n).call(NUMBER) for n in (CALLER, CALLEE)]
    sim.settle(SETTLE)
    conference = twilio.conferences.list(friendly_name="room-1")[0]

    twilio.conferences(conference.sid).update(status="completed")
    assert sim.settle(SETTLE) == []

    assert sim.phone(CALLER).heard()[-1]["text"] == "さようなら"
    end = app.params("/conference-events", "conference-end")[0]
    assert end["ReasonConferenceEnded"] == "conference-ended-via-api"
    assert twilio.calls(call_sid).fetch().status == "completed"


def test_redirect_and_kick_take_calls_out_of_the_conference(sim, app, twilio):
    response = ElementTree.fromstring(conference_twiml(app))
    ElementTree.SubElement(response, "Say").text = "退出しました"
    app.routes["/voice"] = ElementTree.tostring(response, encoding="unicode")
    first, second = [sim.phone(n).call(NUMBER) for n in (CALLER, CALLEE)]
    assert sim.settle(SETTLE) == []
    conference = twilio.conferences.list(friendly_name="room-1")[0]

    twilio.calls(first).update(twiml=say_twiml("移動します"))
    twilio.conferences(conference.sid).participants(second).delete()
    assert sim.settle(SETTLE) == []

    assert sim.phone(CALLER).heard()[-1]["text"] == "移動します"
    assert sim.phone(CALLEE).heard()[-1]["text"] == "退出しました"
    leaves = app.params("/conference-events", "participant-leave")
    assert {(e["CallSid"], e["ReasonParticipantLeft"]) for e in leaves} == {
        (first, "participant_updated_via_api"), (second, "participant_updated_via_api")}
    end = app.params("/conference-events", "conference-end")[0]
    assert end["ReasonConferenceEnded"] in ("last-participant-left", "last-participant-kicked")
    # heard: the first one's hold music, if the second joined after it began (the two calls race)
    assert {"conference", "webhook"} <= {e["type"] for e in sim.timeline(conference="room-1")} <= {
        "conference", "webhook", "heard"}
    assert {"status", "webhook", "heard"} <= {e["type"] for e in sim.timeline(call_sid=first)}
