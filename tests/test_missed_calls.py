"""A missed call (issue 13): a caller nobody answered leaves a message (the simulator's `<Record>`, its recording
and transcription callbacks), it shows in the history as a missed call with the message's length, its page plays
the recording through callchat and shows the transcript, and Call back calls the caller, as the dial page does
(redials, audit), answered into a new room.
"""

from __future__ import annotations

from callchat import audit
from callchat.voices import notice
from tests.conftest import page_csrf

CALLER = "+819011110001"
#: What the caller says after the beep: long enough (over 2 s) for Twilio to transcribe it.
WORDS = "田中と申します。請求書の件でお電話しました。折り返しお願いします。"


def test_a_message_left_shows_as_a_missed_call_and_call_back_calls_the_caller(stack, desk):
    desk.team("support", ["op-a"])
    room_id = desk.leave_a_message(CALLER, WORDS)
    seconds = stack.sim.recordings(room_id)[0]["duration"]
    history = stack.user.http.get(f"{stack.url}/history/").text
    assert "Missed call" in history and f"left a message, {seconds} s" in history

    page = stack.user.open_room(room_id).text
    assert f"The caller left a message ({seconds} s)." in page and WORDS in page
    assert f'<audio controls preload="none" src="/history/{room_id}/recording.wav"' in page
    played = stack.user.http.get(f"{stack.url}/history/{room_id}/recording.wav")
    assert played.status_code == 200 and played.headers["Content-Type"] == "audio/x-wav"
    assert played.content[:4] == b"RIFF" and played.content[8:12] == b"WAVE"

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
    desk.team("support", ["op-a"])
    room_id = desk.leave_a_message(CALLER, "はい。")  # 2 s or less: Twilio transcribes nothing
    page = stack.user.open_room(room_id).text
    assert "No transcript (transcription failed)" in page
    live = stack.call_in("+819022223333")  # waiting for an operator: not missed (yet)
    refused = stack.user.http.post(f"{stack.url}/history/{live}/call-back", data={"csrf_token": page_csrf(page)},
                                   headers={"Accept": "application/json"})
    assert refused.status_code == 409 and "Only a missed call" in refused.text
