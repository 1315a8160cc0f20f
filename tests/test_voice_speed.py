"""The room's voice and speed: voices shown by name and language, and slower or faster speech (SSML prosody)."""

from __future__ import annotations

import pytest

from tests.conftest import CALLER, GREETING
from tests.openapi_check import api_v2010


def heard(stack) -> list[dict]:
    return [h for h in stack.sim.phone(CALLER).heard() if h["kind"] == "say" and h["text"] != GREETING]


@pytest.mark.parametrize("owner", [False, True], ids=["lone caller", "conference"])
def test_a_slower_room_speaks_its_messages_slowly_and_a_basic_voice_at_its_own_pace(stack, monkeypatch, owner):
    if owner:
        stack.app.config["OWNER_PHONE"] = "+819099998888"
        monkeypatch.setenv("OWNER_PHONE", "+819099998888")
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    assert stack.user.post(f"/rooms/{room_id}/voice", {"voice": "Polly.Takumi", "language": "ja-JP", "rate": "slow"}).ok
    stack.user.say(room_id, "ゆっくり話します")
    stack.settle()
    assert stack.user.post(f"/rooms/{room_id}/voice", {"voice": "alice", "language": "en-US"}).ok  # the rate stays
    stack.user.say(room_id, "At my own pace")
    stack.settle()
    assert [(h["text"], h["voice"], h["rate"]) for h in heard(stack)] == [
        ("ゆっくり話します", "Polly.Takumi", "slow"), ("At my own pace", "alice", None)]
    assert stack.user.state(room_id)["room"]["rate"] == "slow"
    for exchange in stack.sim.requests():
        api_v2010().validate_exchange(exchange)


def test_an_unknown_speed_is_refused_and_the_page_names_voices_and_languages(stack):
    room_id = stack.call_in()
    page = stack.user.open_room(room_id).text
    assert "Mizuki (Japanese, female)" in page and ">Japanese<" in page and ">Slow<" in page
    refused = stack.user.post(f"/rooms/{room_id}/voice", {"voice": "Polly.Mizuki", "language": "ja-JP", "rate": "warp"})
    assert refused.status_code == 400 and "Speed 'warp'" in refused.json()["error"]


def test_a_repeated_message_keeps_its_speed(stack):
    """Bug: Repeat last queued the copy at the normal speed, whatever the original's."""
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    assert stack.user.post(f"/rooms/{room_id}/voice", {"voice": "Polly.Mizuki", "language": "ja-JP", "rate": "x-slow"}).ok
    stack.user.say(room_id, "もう一度言います")
    stack.settle()
    assert stack.user.post(f"/rooms/{room_id}/repeat", {}).status_code == 202
    stack.settle()
    assert [(h["text"], h["rate"]) for h in heard(stack)] == [("もう一度言います", "x-slow")] * 2
