"""A missed call (issue 13): a caller nobody answered leaves a message (`<Record>`: its recording and transcription
callbacks, signed as Twilio signs them), it shows in the history as a missed call with the message's length, its
page plays the recording through callchat and shows the transcript, and Call back calls the caller, as the dial
page does (redials, audit), answered into a new room.

The simulator does not play `<Record>` yet: the caller's clock is held while the queue webhook sends them to
voicemail, and the recording's callbacks are posted as Twilio posts them (twilio.com/docs/voice/twiml/record).
"""

from __future__ import annotations

from callchat import audit, urls
from callchat.voices import notice
from tests.conftest import ACCOUNT_SID, TWILIO_NUMBER, page_csrf

CALLER = "+819011110001"
RECORDING_SID = "RE" + "5a" * 16


def webhook(name: str, room_id: str) -> str:
    return getattr(urls, name).replace("<room_id>", room_id)


def leave_a_message(stack, desk, transcript: dict[str, str]) -> str:
    """A caller of team support (nobody connected) waits past the timeout, records 7 s, and hangs up; return the room."""
    desk.team("support", ["op-a"])
    room_id = stack.sim.phone(CALLER).call(TWILIO_NUMBER)
    stack.settle()
    stack.sim.set_clock("manual")
    desk.configure(QUEUE_TIMEOUT_SECONDS=0)
    prompt = stack.twilio_post(webhook("QUEUE", room_id), {"CallSid": room_id, "AccountSid": ACCOUNT_SID})
    assert "<Record" in prompt.text and notice("voicemail", "ja-JP") in prompt.text
    recording_url = f"{stack.sim.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{RECORDING_SID}"
    recorded = {"CallSid": room_id, "AccountSid": ACCOUNT_SID, "RecordingSid": RECORDING_SID,
                "RecordingUrl": recording_url, "RecordingDuration": "7"}
    assert stack.twilio_post(webhook("RECORDED", room_id), recorded).status_code == 200
    stack.sim.hang_up(room_id)
    stack.sim.set_clock("auto")
    stack.settle()
    assert stack.twilio_post(webhook("RECORDING_STATUS", room_id), dict(recorded, RecordingStatus="completed")).status_code == 204
    assert stack.twilio_post(webhook("TRANSCRIBED", room_id), dict(recorded, **transcript)).status_code == 204
    return room_id


def test_a_message_left_shows_as_a_missed_call_and_call_back_calls_the_caller(stack, desk):
    room_id = leave_a_message(stack, desk, {"TranscriptionText": "折り返しお願いします", "TranscriptionStatus": "completed"})
    history = stack.user.http.get(f"{stack.url}/history/").text
    assert "Missed call" in history and "left a message, 7 s" in history

    page = stack.user.open_room(room_id).text
    assert "The caller left a message (7 s)." in page and "折り返しお願いします" in page
    assert f'<audio controls preload="none" src="/history/{room_id}/recording.mp3"' in page
    assert stack.user.http.get(f"{stack.url}/history/{room_id}/recording.mp3").status_code == 404  # not in the simulator

    stack.sim.phone(CALLER).script(["answer"])
    called = stack.user.http.post(f"{stack.url}/history/{room_id}/call-back", data={"csrf_token": page_csrf(page)},
                                  allow_redirects=False)
    assert called.status_code == 303 and called.headers["Location"].startswith("/calls/")
    progress = stack.user.http.get(stack.url + called.headers["Location"])
    assert f"Calling {CALLER}" in progress.text
    stack.settle(redials=True)
    landed = stack.user.http.get(stack.url + called.headers["Location"])
    assert landed.url.startswith(f"{stack.url}/rooms/CA") and f"Call to {CALLER}" in landed.text
    assert [h["text"] for h in stack.sim.phone(CALLER).heard() if h["kind"] == "say"][-1] == notice("connect", "ja-JP")
    assert [e["action"] for e in audit.entries(stack.redis, actions=("call",))] == ["call"]


def test_a_failed_transcription_says_so_and_a_live_call_cannot_be_called_back(stack, desk):
    room_id = leave_a_message(stack, desk, {"TranscriptionText": "", "TranscriptionStatus": "failed"})
    page = stack.user.open_room(room_id).text
    assert "No transcript (transcription failed)" in page
    live = stack.call_in("+819022223333")  # waiting for an operator: not missed (yet)
    refused = stack.user.http.post(f"{stack.url}/history/{live}/call-back", data={"csrf_token": page_csrf(page)},
                                   headers={"Accept": "application/json"})
    assert refused.status_code == 409 and "Only a missed call" in refused.text
