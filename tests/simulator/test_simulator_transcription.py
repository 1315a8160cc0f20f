"""Real-Time Transcription as Twilio documents it
(twilio.com/docs/voice/api/realtime-transcription-resource,
twilio.com/docs/voice/twiml/transcription): started over REST or by TwiML, a phone that
speaks (``phone.say``), partial then final results per SequenceId, chaos on them, stop,
and transcription-error."""

from __future__ import annotations

import json
from collections import Counter

import pytest
import requests
from twilio.base.exceptions import TwilioRestException

from simulator import SimulatorClient, SimulatorError
from tests.openapi_check import api_v2010
from tests.simulator.conftest import CALLEE, CALLER, NUMBER, SETTLE, join_room

FIRST = "Hello, this is Tanaka speaking."
SECOND = "Can you hear me?"


def check_journal(sim: SimulatorClient) -> None:
    """Every REST exchange of the test conforms to Twilio's spec."""
    for exchange in sim.requests():
        api_v2010().validate_exchange(exchange)


def events(app, name: str | None = None) -> list[dict]:
    """The transcription callbacks the app got (optionally one TranscriptionEvent), in order."""
    return [p for p in app.params("/transcription")
            if name is None or p["TranscriptionEvent"] == name]


def results(app) -> list[tuple[str, str, str]]:
    """(Final, transcript, Track) of each transcription-content, in SequenceId order."""
    content = sorted(events(app, "transcription-content"), key=lambda p: int(p["SequenceId"]))
    return [(p["Final"], json.loads(p["TranscriptionData"])["transcript"], p["Track"])
            for p in content]


def transcribe(twilio, app, call_sid: str, **options):
    options.setdefault("track", "inbound_track")
    options.setdefault("partial_results", True)
    return twilio.calls(call_sid).transcriptions.create(
        status_callback_url=app.url + "/transcription", language_code="ja-JP", **options)


def test_what_a_phone_says_is_transcribed_partials_first_then_final(sim, app, twilio):
    caller, callee = join_room(sim, app, CALLER, CALLEE)
    started = transcribe(twilio, app, caller, name="captions")
    assert (started.status, started.name, started.call_sid) == ("in-progress", "captions", caller)
    assert started.sid.startswith("GT")

    said = sim.phone(CALLER).say(FIRST)
    sim.phone(CALLER).say(SECOND)
    assert sim.settle(SETTLE) == []

    assert said["call_sid"] == caller and said["seconds"] > 0
    sequence = [int(p["SequenceId"]) for p in events(app)]
    assert sequence == list(range(1, len(sequence) + 1))  # one queue: sent in order
    [begin] = events(app, "transcription-started")
    assert (begin["TranscriptionSid"], begin["Track"], begin["PartialResults"],
            begin["LanguageCode"], begin["Name"]) == (
        started.sid, "inbound_track", "true", "ja-JP", "captions")
    assert results(app) == [
        ("false", "Hello,", "inbound_track"), ("false", "Hello, this", "inbound_track"),
        ("false", "Hello, this is", "inbound_track"),
        ("false", "Hello, this is Tanaka", "inbound_track"),
        ("true", FIRST, "inbound_track"),
        ("false", "Can", "inbound_track"), ("false", "Can you", "inbound_track"),
        ("false", "Can you hear", "inbound_track"), ("true", SECOND, "inbound_track")]
    content = events(app, "transcription-content")
    assert all(p["CallSid"] == caller and p["LanguageCode"] == "ja-JP" for p in content)
    assert all("Stability" in p for p in content if p["Final"] == "false")
    assert json.loads(content[4]["TranscriptionData"])["confidence"] > 0
    assert all(p["Timestamp"].endswith("Z") for p in content)
    # the other participant heard both sentences, as the phone said them
    heard = [(h["text"], h["source"], h["speaker"]) for h in sim.phone(CALLEE).heard()
             if h["source"] == "phone"]
    assert heard == [(FIRST, "phone", CALLER), (SECOND, "phone", CALLER)]
    assert [s["heard_by"] for s in sim.phone(CALLER).said()] == [[CALLEE], [CALLEE]]
    assert callee not in {p["CallSid"] for p in events(app)}


def test_without_a_transcription_a_phone_speaking_sends_nothing(sim, app, twilio):
    join_room(sim, app, CALLER, CALLEE)
    sim.phone(CALLER).say(FIRST)
    assert sim.settle(SETTLE) == []

    assert events(app) == [] and sim.transcriptions() == []
    assert not any(e["type"] == "transcription" for e in sim.timeline())
    assert [h["text"] for h in sim.phone(CALLEE).heard() if h["source"] == "phone"] == [FIRST]


def test_without_partial_results_only_finals_arrive(sim, app, twilio):
    [caller] = join_room(sim, app, CALLER)
    transcribe(twilio, app, caller, partial_results=False)
    sim.phone(CALLER).say(FIRST)
    assert sim.settle(SETTLE) == []

    assert results(app) == [("true", FIRST, "inbound_track")]
    assert sim.phone(CALLER).said()[0]["heard_by"] == []  # alone: nobody heard it


def test_a_transcription_started_mid_sentence_gets_only_that_sentences_final(sim, app, twilio):
    """Partials are made for a sentence only when a transcription wanting them is running as it
    begins (issue 14: a sentence nobody transcribes is one timer, not one per partial). One started
    halfway through gets that sentence's final result only, then the next sentence in full."""
    [caller] = join_room(sim, app, CALLER)
    sim.set_clock("manual")
    said = sim.phone(CALLER).say(FIRST)
    sim.advance(said["seconds"] / 2)
    transcribe(twilio, app, caller)
    sim.advance(said["seconds"])
    assert results(app) == [("true", FIRST, "inbound_track")]

    sim.phone(CALLER).say(SECOND)
    sim.advance(said["seconds"])
    assert results(app)[1:] == [
        ("false", "Can", "inbound_track"), ("false", "Can you", "inbound_track"),
        ("false", "Can you hear", "inbound_track"), ("true", SECOND, "inbound_track")]


def test_text_without_spaces_gets_partials_by_thirds(sim, app, twilio):
    [caller] = join_room(sim, app, CALLER)
    transcribe(twilio, app, caller)
    sim.phone(CALLER).say("もしもし、田中です。")
    assert sim.settle(SETTLE) == []

    assert [text for _, text, _ in results(app)] == ["もしも", "もしもし、田", "もしもし、田中です。"]


def test_stopping_by_name_sends_stopped_and_nothing_after(sim, app, twilio):
    [caller] = join_room(sim, app, CALLER)
    started = transcribe(twilio, app, caller, name="captions")
    stopped = twilio.calls(caller).transcriptions("captions").update(status="stopped")
    assert (stopped.sid, stopped.status) == (started.sid, "stopped")
    sim.phone(CALLER).say(FIRST)
    assert sim.settle(SETTLE) == []

    assert [p["TranscriptionEvent"] for p in events(app)] == [
        "transcription-started", "transcription-stopped"]
    assert [t["status"] for t in sim.transcriptions(caller)] == ["stopped"]
    sim.hang_up(caller)  # a stopped transcription says nothing more when the call ends
    assert sim.settle(SETTLE) == []
    assert len(events(app)) == 2


def test_the_call_ending_stops_its_transcriptions(sim, app, twilio):
    [caller] = join_room(sim, app, CALLER)
    transcribe(twilio, app, caller)
    sim.hang_up(caller)
    assert sim.settle(SETTLE) == []

    assert [p["TranscriptionEvent"] for p in events(app)] == [
        "transcription-started", "transcription-stopped"]
    with pytest.raises(SimulatorError, match="409"):
        sim.phone(CALLER).say(FIRST)  # no call in progress to speak on


def test_both_tracks_also_transcribe_what_the_phone_hears(sim, app, twilio):
    app.routes["/voice"] = (
        '<Response><Start><Transcription statusCallbackUrl="/transcription" '
        'partialResults="false"/></Start><Say>Welcome to callchat</Say>'
        '<Dial><Conference>room-1</Conference></Dial></Response>')
    caller = sim.phone(CALLER).call(NUMBER)
    assert sim.settle(SETTLE) == []
    sim.phone(CALLER).say(SECOND)
    assert sim.settle(SETTLE) == []

    [begin] = events(app, "transcription-started")
    assert (begin["Track"], begin["LanguageCode"]) == ("both_tracks", "en-US")
    assert results(app) == [("true", "Welcome to callchat", "outbound_track"),
                            ("true", SECOND, "inbound_track")]
    assert {t["call_sid"] for t in sim.transcriptions()} == {caller}


def test_twiml_stop_transcription_stops_it_by_name(sim, app, twilio):
    app.routes["/voice"] = (
        '<Response><Start><Transcription name="live" statusCallbackUrl="/transcription"/>'
        '</Start><Say>Hi</Say><Stop><Transcription name="live"/></Stop><Say>Bye</Say>'
        '</Response>')
    sim.phone(CALLER).call(NUMBER)
    assert sim.settle(SETTLE) == []

    assert [p["TranscriptionEvent"] for p in events(app)] == [
        "transcription-started", "transcription-content", "transcription-stopped"]
    assert results(app) == [("true", "Hi", "outbound_track")]


def test_a_muted_caller_is_still_transcribed_but_not_heard(sim, app, twilio):
    caller, callee = join_room(sim, app, CALLER, CALLEE)
    conference = twilio.conferences.list(friendly_name="room-1")[0]
    twilio.conferences(conference.sid).participants(caller).update(muted=True)
    transcribe(twilio, app, caller, partial_results=False)
    sim.phone(CALLER).say(FIRST)
    assert sim.settle(SETTLE) == []

    assert results(app) == [("true", FIRST, "inbound_track")]
    assert [h for h in sim.phone(CALLEE).heard() if h["source"] == "phone"] == []


def test_chaos_repeats_and_shuffles_transcription_callbacks(sim, app, twilio):
    sim.chaos(repeat=3, shuffle=True, seed=5)
    [caller] = join_room(sim, app, CALLER)
    transcribe(twilio, app, caller)
    sim.phone(CALLER).say(FIRST)
    sim.phone(CALLER).say(SECOND)
    assert sim.settle(SETTLE) == []

    got = events(app)
    counts = Counter(p["SequenceId"] for p in got)
    assert set(counts.values()) == {3} and len(counts) == 10  # started, 7 partials, 2 finals
    order = [int(p["SequenceId"]) for p in got]
    assert order != sorted(order)
    finals = {p["SequenceId"]: p for p in got if p.get("Final") == "true"}
    assert [json.loads(p["TranscriptionData"])["transcript"]
            for _, p in sorted(finals.items(), key=lambda kv: int(kv[0]))] == [FIRST, SECOND]
    tokens = {}
    for params, token in zip(got, app.tokens("/transcription")):
        tokens.setdefault(params["SequenceId"], set()).add(token)
    assert all(len(same) == 1 for same in tokens.values())  # a repeat is a retry


def test_transcription_error_is_sent_then_the_transcription_stops(sim, app, twilio):
    [caller] = join_room(sim, app, CALLER)
    started = transcribe(twilio, app, caller)
    assert sim.transcription_error(caller, 32651, "provider failed") == [started.sid]
    sim.phone(CALLER).say(FIRST)
    assert sim.settle(SETTLE) == []

    error, stopped = events(app)[1:]
    assert (error["TranscriptionEvent"], error["TranscriptionErrorCode"],
            error["TranscriptionError"]) == ("transcription-error", "32651", "provider failed")
    assert stopped["TranscriptionEvent"] == "transcription-stopped"
    assert events(app, "transcription-content") == []


def test_transcriptions_api_refuses_what_twilio_refuses(sim, app, twilio):
    [caller] = join_room(sim, app, CALLER)
    with pytest.raises(TwilioRestException) as raised:
        twilio.calls("CA" + "0" * 32).transcriptions.create()
    assert (raised.value.status, raised.value.code) == (404, 20404)
    with pytest.raises(TwilioRestException) as raised:
        twilio.calls(caller).transcriptions("GT" + "0" * 32).update(status="stopped")
    assert raised.value.status == 404
    sim.hang_up(caller)
    assert sim.settle(SETTLE) == []
    with pytest.raises(TwilioRestException) as raised:
        twilio.calls(caller).transcriptions.create()
    assert (raised.value.status, raised.value.code) == (400, 21220)


def test_a_phone_on_a_dial_bridge_is_heard_by_the_other_end_and_transcribed_there(
        sim, app, twilio):
    app.routes["/voice"] = f"<Response><Dial>{CALLEE}</Dial></Response>"
    caller = sim.phone(CALLER).call(NUMBER)
    assert sim.settle(SETTLE) == []
    transcribe(twilio, app, caller, track="both_tracks", partial_results=False)
    [leg] = sim.phone(CALLEE).calls()
    sim.phone(CALLEE).say(SECOND)
    sim.phone(CALLER).say(FIRST)
    assert sim.settle(SETTLE) == []

    assert [(h["text"], h["speaker"]) for h in sim.phone(CALLER).heard()] == [(SECOND, CALLEE)]
    assert [(h["text"], h["speaker"]) for h in sim.phone(CALLEE).heard()] == [(FIRST, CALLER)]
    assert set(results(app)) == {("true", FIRST, "inbound_track"),
                                 ("true", SECOND, "outbound_track")}
    assert sim.phone(CALLEE).said()[0]["call_sid"] == leg["call_sid"]


@pytest.mark.parametrize("path, body, status, code", [
    (f"/_sim/phones/{CALLER}/say", {"text": 3}, 400, 20001),
    (f"/_sim/phones/{CALLER}/say", {"text": "  "}, 400, 20001),
    (f"/_sim/phones/{CALLER}/say", {"text": "hi", "call_sid": "CA" + "0" * 32}, 404, 20404),
    ("/_sim/calls/CA" + "0" * 32 + "/transcription-error", {"code": 12345}, 400, 20001),
    ("/_sim/calls/CA" + "0" * 32 + "/transcription-error", {}, 404, 20404),
])
def test_the_control_api_refuses_nonsense(sim, server, path, body, status, code):
    response = requests.post(server.url + path, json=body, timeout=5)
    assert (response.status_code, response.json()["code"]) == (status, code)
