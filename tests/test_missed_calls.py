"""A missed call (issue 13): a caller nobody answered leaves a message (`<Record>`: its recording and transcription
callbacks, signed as Twilio signs them), it shows in the history as a missed call with the message's length, its
page plays the recording through callchat and shows the transcript, and Call back calls the caller, as the dial
page does (redials, audit), answered into a new room.

The simulator does not play `<Record>` yet: `Desk.leave_a_message` posts the webhooks as Twilio would.
"""

from __future__ import annotations

from callchat import audit
from callchat.voices import notice
from tests.conftest import page_csrf

CALLER = "+819011110001"


def test_a_message_left_shows_as_a_missed_call_and_call_back_calls_the_caller(stack, desk):
    desk.team("support", ["op-a"])
    room_id = desk.leave_a_message(CALLER, {"TranscriptionText": "折り返しお願いします", "TranscriptionStatus": "completed"})
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
    desk.team("support", ["op-a"])
    room_id = desk.leave_a_message(CALLER, {"TranscriptionText": "", "TranscriptionStatus": "failed"})
    page = stack.user.open_room(room_id).text
    assert "No transcript (transcription failed)" in page
    live = stack.call_in("+819022223333")  # waiting for an operator: not missed (yet)
    refused = stack.user.http.post(f"{stack.url}/history/{live}/call-back", data={"csrf_token": page_csrf(page)},
                                   headers={"Accept": "application/json"})
    assert refused.status_code == 409 and "Only a missed call" in refused.text
