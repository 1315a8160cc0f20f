"""``<Record>`` as Twilio documents it (twilio.com/docs/voice/twiml/record): a caller hears
the prompt and the beep, says a message (``phone.say``), and the recording ends on silence,
maxLength, a finishOnKey key (``phone.press``) or a hang-up; then the action request, the
recording status callback and the transcription callback, each with Twilio's parameters;
an empty recording goes on with the next verb; the Recording resource and its media."""

from __future__ import annotations

import io
import math
import wave

import pytest
import requests

from simulator import SimulatorClient, SimulatorError
from simulator.calls.record import BEEP_SECONDS
from simulator.twiml import TwimlError, parse, say_seconds
from tests.openapi_check import api_v2010
from tests.simulator.conftest import CALLER, NUMBER, SETTLE

PROMPT = "ただいま電話に出ることができません。発信音のあとにメッセージをどうぞ。"
MESSAGE = "田中です。明日の会議の件で、折り返しお電話をお願いします。"
THANKS = "メッセージをお預かりしました。"
NOTHING = "メッセージがありませんでした。"
# The parameters Twilio documents for each request, beyond a voice request's own.
ACTION = {"RecordingUrl", "RecordingSid", "RecordingDuration"}
STATUS = {"AccountSid", "CallSid", "RecordingSid", "RecordingUrl", "RecordingStatus",
          "RecordingDuration", "RecordingChannels", "RecordingSource", "RecordingStartTime",
          "ErrorCode"}
MARGIN = 0.01  # seconds past a timed step's end, whatever the float sums of its waits
TRANSCRIPTION = {"TranscriptionSid", "TranscriptionText", "TranscriptionStatus",
                 "TranscriptionUrl", "RecordingSid", "RecordingUrl"}


def check_journal(sim: SimulatorClient) -> None:
    """Every REST exchange of the test conforms to Twilio's spec."""
    for exchange in sim.requests():
        api_v2010().validate_exchange(exchange)


def voicemail(app, *, after: str = f"<Say>{NOTHING}</Say>", **record: str) -> str:
    """callchat's voicemail TwiML: the prompt, then <Record> with every callback."""
    attrs = {"action": app.url + "/recorded", "method": "POST", "maxLength": "120",
             "timeout": "5", "playBeep": "true", "finishOnKey": "#", "transcribe": "true",
             "transcribeCallback": app.url + "/transcribed",
             "recordingStatusCallback": app.url + "/recording",
             "recordingStatusCallbackMethod": "POST",
             "recordingStatusCallbackEvent": "completed", **record}
    written = " ".join(f'{name}="{value}"' for name, value in attrs.items() if value is not None)
    return (f'<Response><Say voice="Polly.Mizuki" language="ja-JP">{PROMPT}</Say>'
            f"<Record {written}/>{after}<Hangup/></Response>")


def call_in(sim, app, **record: str) -> str:
    """The caller calls the number with the voicemail TwiML on an auto clock, and is left
    recording (settled: the recording waits for the phone)."""
    sim.set_clock("auto")
    app.routes["/voice"] = voicemail(app, **record)
    app.routes["/recorded"] = f"<Response><Say>{THANKS}</Say><Hangup/></Response>"
    call_sid = sim.phone(CALLER).call(NUMBER)
    assert sim.settle(SETTLE) == []
    return call_sid


def heard(sim) -> list[tuple[str, str | None]]:
    return [(h["kind"], h["text"]) for h in sim.phone(CALLER).heard()]


def test_a_message_ends_on_silence_then_action_status_and_transcription(sim, app, twilio):
    call_sid = call_in(sim, app)
    assert heard(sim) == [("say", PROMPT), ("beep", None)]
    [recording] = sim.recordings()
    assert (recording["call_sid"], recording["status"]) == (call_sid, "in-progress")

    sim.phone(CALLER).say(MESSAGE)
    assert sim.settle(SETTLE) == []
    assert app.params("/recorded") == []  # still recording: 5 s of silence have not passed
    sim.advance(4.9)
    assert app.params("/recorded") == []
    sim.advance(0.1)
    assert sim.settle(SETTLE) == []

    duration = str(math.ceil(say_seconds(MESSAGE)))
    [voice] = app.params("/voice")
    [action] = app.params("/recorded")
    assert set(action) == set(voice) | ACTION  # no Digits: it ended on silence
    assert (action["CallSid"], action["CallStatus"], action["RecordingDuration"]) == (
        call_sid, "in-progress", duration)
    assert action["RecordingSid"].startswith("RE")
    assert action["RecordingUrl"].endswith(f"/Recordings/{action['RecordingSid']}")
    [status] = app.params("/recording")
    assert set(status) == STATUS
    assert (status["RecordingStatus"], status["RecordingDuration"], status["RecordingSource"],
            status["RecordingChannels"], status["RecordingUrl"]) == (
        "completed", duration, "RecordVerb", "1", action["RecordingUrl"])
    [text] = app.params("/transcribed")
    assert set(text) == set(voice) | TRANSCRIPTION
    assert (text["TranscriptionText"], text["TranscriptionStatus"], text["RecordingSid"]) == (
        MESSAGE, "completed", action["RecordingSid"])
    assert text["TranscriptionSid"].startswith("TR")
    # the action's TwiML runs: the caller hears the thanks, not what followed <Record>
    assert heard(sim) == [("say", PROMPT), ("beep", None), ("say", THANKS)]
    [recording] = sim.recordings(call_sid)
    assert (recording["status"], recording["text"], recording["duration"], recording["digits"],
            recording["url"], recording["transcription_status"]) == (
        "completed", MESSAGE, int(duration), None, action["RecordingUrl"], "completed")
    assert twilio.calls(call_sid).fetch().status == "completed"


def test_the_recording_resource_and_its_media(sim, app, twilio):
    call_sid = call_in(sim, app)
    sim.phone(CALLER).say(MESSAGE)
    assert sim.settle(SETTLE) == []
    sim.advance(5)
    [recording] = sim.recordings()

    fetched = twilio.recordings(recording["sid"]).fetch()
    assert (fetched.call_sid, fetched.status, fetched.duration, fetched.source) == (
        call_sid, "completed", str(recording["duration"]), "RecordVerb")
    [listed] = twilio.recordings.list(call_sid=call_sid)
    assert listed.sid == recording["sid"]
    media = requests.get(recording["url"], timeout=5)  # no auth, as Twilio's media
    assert media.headers["Content-Type"] == "audio/x-wav"
    with wave.open(io.BytesIO(media.content)) as audio:
        assert audio.getnframes() / audio.getframerate() == recording["duration"]
    assert requests.get(recording["url"] + ".json", timeout=5).status_code == 401
    with pytest.raises(Exception):
        twilio.recordings("RE" + "0" * 32).fetch()
    assert all("Recordings/RE" not in e["path"] or e["path"].endswith(".json")
               for e in sim.requests())  # the media is not a REST exchange


def test_max_length_cuts_the_message_mid_sentence(sim, app):
    long = "Hello, this is Tanaka from the sales office, please call me back tomorrow."
    call_sid = call_in(sim, app, maxLength="3", transcribe=None, transcribeCallback=None)
    sim.phone(CALLER).say(long)
    assert sim.settle(SETTLE) == []  # maxLength passes while the phone speaks

    [action] = app.params("/recorded")
    [recording] = sim.recordings()
    assert (action["RecordingDuration"], recording["duration"]) == ("3", 3)
    assert "Digits" not in action and app.params("/transcribed") == []
    assert long.startswith(recording["text"]) and 0 < len(recording["text"]) < len(long)
    assert recording["transcription_status"] is None
    assert sim.timeline(call_sid)[-1]["type"] == "status"


def test_finish_on_key_ends_it_and_other_keys_do_not(sim, app):
    call_in(sim, app, finishOnKey="#*")
    sim.phone(CALLER).say(MESSAGE)
    assert sim.settle(SETTLE) == []
    sim.phone(CALLER).press("1")
    assert sim.settle(SETTLE) == [] and app.params("/recorded") == []

    assert sim.phone(CALLER).press("*")["digits"] == "*"
    assert sim.settle(SETTLE) == []
    [action] = app.params("/recorded")
    assert action["Digits"] == "*"
    assert sim.recordings()[0]["digits"] == "*"
    assert heard(sim)[-1] == ("say", THANKS)


def test_an_empty_finish_on_key_lets_no_key_end_it(sim, app):
    call_in(sim, app, finishOnKey="")
    sim.phone(CALLER).say(MESSAGE)
    sim.phone(CALLER).press("#")
    assert sim.settle(SETTLE) == [] and app.params("/recorded") == []
    sim.advance(5)
    assert "Digits" not in app.params("/recorded")[0]


def test_hanging_up_mid_message_still_requests_the_action(sim, app, twilio):
    call_sid = call_in(sim, app)
    sim.phone(CALLER).say(MESSAGE)
    assert sim.settle(SETTLE) == []
    sim.hang_up(call_sid)
    assert sim.settle(SETTLE) == []

    [voice] = app.params("/voice")
    [action] = app.params("/recorded")
    assert set(action) == set(voice) | ACTION | {"Digits"}
    assert (action["Digits"], action["CallStatus"]) == ("hangup", "completed")
    assert heard(sim)[-1] == ("beep", None)  # the action's answer is not run
    assert [p["RecordingStatus"] for p in app.params("/recording")] == ["completed"]
    assert app.params("/transcribed")[0]["TranscriptionText"] == MESSAGE
    assert twilio.calls(call_sid).fetch().status == "completed"


def test_an_empty_recording_goes_on_with_the_next_verb(sim, app):
    call_sid = call_in(sim, app, recordingStatusCallbackEvent="in-progress completed absent")
    sim.advance(5)
    assert sim.settle(SETTLE) == []

    assert app.params("/recorded") == [] and app.params("/transcribed") == []
    assert heard(sim) == [("say", PROMPT), ("beep", None), ("say", NOTHING)]
    statuses = app.params("/recording")
    assert [p["RecordingStatus"] for p in statuses] == ["in-progress", "absent"]
    assert set(statuses[0]) == STATUS - {"RecordingDuration"} and set(statuses[1]) == STATUS
    [recording] = sim.recordings(call_sid)
    assert (recording["status"], recording["text"], recording["duration"]) == ("absent", "", 0)
    assert requests.get(recording["url"], timeout=5).status_code == 404


def test_without_action_the_current_document_is_requested_again(sim, app):
    call_in(sim, app, action=None, playBeep="false")
    assert heard(sim) == [("say", PROMPT)]
    sim.phone(CALLER).say(MESSAGE)
    assert sim.settle(SETTLE) == []
    app.routes["/voice"] = "<Response><Hangup/></Response>"
    sim.advance(5)
    assert sim.settle(SETTLE) == []

    first, again = app.params("/voice")
    assert set(again) == set(first) | ACTION


def test_a_short_message_is_not_transcribed(sim, app):
    call_sid = call_in(sim, app)
    sim.phone(CALLER).say("田中です。")
    assert sim.settle(SETTLE) == []
    sim.advance(5)

    [text] = app.params("/transcribed")
    assert (text["TranscriptionStatus"], text["TranscriptionText"]) == ("failed", "")
    assert app.params("/recorded")[0]["RecordingDuration"] == "1"
    [warning] = [e for e in sim.timeline(call_sid) if e["type"] == "warning"]
    assert warning["code"] == 13617


def test_do_not_trim_keeps_the_silence(sim, app):
    call_in(sim, app, trim="do-not-trim")
    sim.advance(2)
    sim.phone(CALLER).say(MESSAGE)
    assert sim.settle(SETTLE) == []
    sim.advance(5)

    expected = math.ceil(2 + say_seconds(MESSAGE) + 5)
    assert app.params("/recorded")[0]["RecordingDuration"] == str(expected)


def test_manual_clock_records_only_as_time_is_advanced(sim, app):
    sim.set_clock("manual")
    app.routes["/voice"] = voicemail(app)
    app.routes["/recorded"] = f"<Response><Say>{THANKS}</Say></Response>"
    sim.phone(CALLER).call(NUMBER)
    assert sim.settle(SETTLE) == []
    sim.advance(say_seconds(PROMPT) + BEEP_SECONDS + MARGIN)
    assert heard(sim) == [("say", PROMPT), ("beep", None)]
    sim.phone(CALLER).say(MESSAGE)
    sim.advance(say_seconds(MESSAGE) + 4)
    assert app.params("/recorded") == []
    sim.advance(1)
    assert app.params("/recorded")[0]["RecordingDuration"] == str(math.ceil(say_seconds(MESSAGE)))


def test_chaos_repeats_recording_callbacks(sim, app):
    call_in(sim, app)
    sim.chaos(repeat=2)
    sim.phone(CALLER).say(MESSAGE)
    assert sim.settle(SETTLE) == []
    sim.advance(5)
    assert sim.settle(SETTLE) == []

    assert len(app.params("/recording")) == 2 and len(set(app.tokens("/recording"))) == 1
    assert len(app.params("/transcribed")) == 2
    assert len(app.params("/recorded")) == 1  # a voice request: never repeated


def test_pressing_keys_needs_a_call_and_real_keys(sim, app):
    with pytest.raises(SimulatorError, match="409"):
        sim.phone(CALLER).press("#")
    call_in(sim, app)
    with pytest.raises(SimulatorError, match="400"):
        sim.phone(CALLER).press("#x")


def test_many_callers_at_once_each_leave_their_own_message(sim, app):
    callers = [f"+8190{n:08d}" for n in range(1, 41)]
    sim.set_clock("manual")  # (auto: one caller's silence would pass while others speak)
    app.routes["/voice"] = voicemail(app)
    app.routes["/recorded"] = "<Response><Hangup/></Response>"
    sids = [sim.phone(number).call(NUMBER) for number in callers]
    assert sim.settle(SETTLE) == []
    sim.advance(say_seconds(PROMPT) + BEEP_SECONDS + MARGIN)
    messages = {number: f"{number} です。折り返しお電話をお願いいたします。" for number in callers}
    for number, message in messages.items():
        sim.phone(number).say(message)
    sim.advance(say_seconds(messages[callers[0]]) + 5)
    assert sim.settle(SETTLE) == []

    assert len(set(sids)) == len(callers)
    actions = app.params("/recorded")
    missing = set(sids) - {p["CallSid"] for p in actions}
    assert not missing, missing
    by_call = {r["call_sid"]: r["text"] for r in sim.recordings()}
    assert all(by_call[p["CallSid"]] == messages[p["From"]] for p in actions)
    assert sorted(p["CallSid"] for p in app.params("/transcribed")) == sorted(sids)


@pytest.mark.parametrize("document", [
    '<Response><Record maxLength="1"/></Response>',
    '<Response><Record maxLength="14401"/></Response>',
    '<Response><Record finishOnKey="x"/></Response>',
    '<Response><Record recordingStatusCallbackEvent="done"/></Response>',
    '<Response><Record trim="cut"/></Response>',
    '<Response><Record loop="2"/></Response>',
    '<Response><Record>words</Record></Response>',
])
def test_the_parser_refuses_a_record_twilio_would_not_run(document):
    with pytest.raises(TwimlError):
        parse(document)


def test_record_is_not_allowed_in_an_announcement():
    with pytest.raises(TwimlError) as raised:
        parse("<Response><Record/></Response>", announcement=True)
    assert raised.value.code == 13238


def test_a_call_modified_mid_message_ends_the_recording_without_action(sim, app, twilio):
    call_sid = call_in(sim, app)
    sim.phone(CALLER).say(MESSAGE)
    assert sim.settle(SETTLE) == []
    twilio.calls(call_sid).update(twiml="<Response><Say>Transferring.</Say></Response>")
    assert sim.settle(SETTLE) == []

    assert app.params("/recorded") == []
    assert [p["RecordingStatus"] for p in app.params("/recording")] == ["completed"]
    assert heard(sim)[-1] == ("say", "Transferring.")


def test_inline_twiml_without_action_goes_on_with_the_next_verb(sim, app, twilio):
    sim.set_clock("auto")
    twilio.calls.create(to=CALLER, from_=NUMBER, twiml='<Response><Record playBeep="false"/>'
                        f"<Say>{THANKS}</Say></Response>")
    assert sim.settle(SETTLE) == []
    sim.phone(CALLER).say(MESSAGE)
    assert sim.settle(SETTLE) == []
    sim.advance(5)
    assert sim.settle(SETTLE) == []

    assert heard(sim) == [("say", THANKS)]
    assert sim.recordings()[0]["text"] == MESSAGE
