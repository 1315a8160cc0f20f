"""Live captions: what a phone says shows in its room, labelled by speaker, partial results first (issue 11, item 2)."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests

from tests.conftest import CALLER, OWNER

#: Where the browser test's screenshots go; people look at them after a run.
SCREENSHOT = Path(os.environ.get("SCREENSHOT_DIR", "/tmp")) / "callchat-captions.png"
FIRST, SECOND = "もしもし 田中です", "明日の 会議は 三時からです"


#: After each test, every REST request callchat sent (and every answer) validates against Twilio's spec.
pytestmark = pytest.mark.usefixtures("every_exchange_meets_twilios_spec")


class RoomEvents:
    """A room page's live updates (its SSE stream), read in a thread: `.captions` are the caption events, in order."""

    def __init__(self, user, room_id: str) -> None:
        self.response = user.http.get(f"{user.base}/rooms/{room_id}/events", stream=True, timeout=60)
        self.updates: list[dict[str, Any]] = []
        self.changed = threading.Condition()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        assert self.ready.wait(10), "no snapshot came"

    def _read(self) -> None:
        event = ""
        try:
            for line in self.response.iter_lines(decode_unicode=True):
                if line.startswith("event: "):
                    event = line.removeprefix("event: ")
                    self.ready.set() if event == "snapshot" else None
                elif line.startswith("data: ") and event == "update":
                    with self.changed:
                        self.updates.append(json.loads(line.removeprefix("data: ")))
                        self.changed.notify_all()
        except (requests.RequestException, AttributeError, ValueError):
            return  # closed

    @property
    def captions(self) -> list[dict[str, Any]]:
        return [u["caption"] for u in self.updates if u["type"] == "caption"]

    def wait_for_finals(self, count: int, timeout: float = 10) -> None:
        """Wait until `count` final captions have been shown (an update comes up to the page's batching window
        after the webhook that made it, so after `settle`)."""
        with self.changed:
            assert self.changed.wait_for(lambda: sum(c["final"] for c in self.captions) >= count, timeout), self.captions

    def close(self) -> None:
        self.response.close()


def transcription_requests(stack) -> list[dict[str, list[str]]]:
    """The form of every POST that started a transcription (Calls/{CallSid}/Transcriptions.json)."""
    return [parse_qs(e["body"]) for e in stack.sim.requests()
            if e["method"] == "POST" and e["path"].endswith("/Transcriptions.json")]


def finals(state: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c["speaker"], c["text"]) for c in state["captions"] if c["kind"] == "caption" and c["final"]]


def test_two_sentences_become_two_caption_bubbles_partials_first(stack):
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    started = transcription_requests(stack)
    assert len(started) == 1
    assert {k: v[0] for k, v in started[0].items() if k != "StatusCallbackUrl"} == {
        "Name": "callchat-captions", "Track": "inbound_track", "PartialResults": "true", "LanguageCode": "ja-JP",
        "StatusCallbackMethod": "POST"}
    assert started[0]["StatusCallbackUrl"] == [f"{stack.url}/voice/rooms/{room_id}/transcription-status"]

    events = RoomEvents(stack.user, room_id)
    stack.sim.phone(CALLER).say(FIRST)
    stack.sim.phone(CALLER).say(SECOND)
    stack.settle()
    events.wait_for_finals(2)
    events.close()

    state = stack.user.state(room_id)
    assert finals(state) == [("caller", FIRST), ("caller", SECOND)]
    assert len(state["captions"]) == 2
    assert [c["number"] for c in state["captions"]] == ["+8190••••5678"] * 2
    shown = events.captions
    for n, text in enumerate((FIRST, SECOND)):
        bubble = [c for c in shown if c["id"].endswith(f":{n}")]
        assert [c["final"] for c in bubble] == [False] * (len(bubble) - 1) + [True]
        assert len(bubble) >= 2, "partial results came before the final one"
        assert all(text.startswith(c["text"]) for c in bubble) and bubble[-1]["text"] == text
    assert [c["id"][-1] for c in shown if c["final"]] == ["0", "1"]
    assert all(c["speaker"] == "caller" for c in shown)


def test_repeated_and_shuffled_callbacks_still_make_exactly_two_final_captions(stack):
    room_id = stack.call_in()
    stack.sim.chaos(repeat=3, shuffle=True, seed=11)
    stack.sim.phone(CALLER).say(FIRST)
    stack.sim.phone(CALLER).say(SECOND)
    stack.settle()
    state = stack.user.state(room_id)
    assert finals(state) == [("caller", FIRST), ("caller", SECOND)]
    assert len(state["captions"]) == 2


def test_a_late_final_closes_its_own_bubble_and_later_partials_move_to_the_next(stack):
    """Callbacks posted by hand, signed, out of SequenceId order: the result is as if they came in order."""
    room_id = stack.call_in()
    stack.settle()
    sid = stack.sim.transcriptions(room_id)[0]["sid"]

    def content(seq: int, text: str, final: bool) -> None:
        data = {"transcript": text, **({"confidence": 0.9} if final else {})}
        answer = stack.twilio_post(f"/voice/rooms/{room_id}/transcription-status", {
            "AccountSid": "AC" + "a1" * 16, "CallSid": room_id, "TranscriptionSid": sid,
            "TranscriptionEvent": "transcription-content", "SequenceId": str(seq), "Timestamp": "2025-01-01T00:00:00.000Z",
            "LanguageCode": "ja-JP", "Track": "inbound_track", "TranscriptionData": json.dumps(data),
            "Final": "true" if final else "false", **({} if final else {"Stability": "0.8"})})
        assert answer.status_code == 204

    base = stack.sim.transcriptions(room_id)[0]["next_sequence_id"]  # after transcription-started
    content(base + 3, "明日", False)       # utterance 2's partial, first to arrive
    content(base + 1, "もしもし", False)
    content(base + 1, "もしもし", False)   # a repeat
    content(base + 2, "もしもし田中です", True)
    content(base + 4, "明日です", True)
    content(base + 3, "明日", False)       # late and repeated: nothing changes
    state = stack.user.state(room_id)
    assert [(c["text"], c["final"]) for c in state["captions"]] == [("もしもし田中です", True), ("明日です", True)]


def test_captions_off_by_setting_means_no_transcription_request_and_nothing_captioned(stack, monkeypatch):
    stack.app.config["CAPTIONS"] = False
    room_id = stack.call_in()
    stack.sim.phone(CALLER).say(FIRST)
    stack.settle()
    assert transcription_requests(stack) == []
    assert stack.sim.transcriptions(room_id) == []
    assert stack.user.state(room_id)["captions"] == []
    assert stack.user.state(room_id)["room"]["captions"] == "off"


def test_turning_captions_off_stops_them_and_on_starts_them_again(stack):
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    answer = stack.user.post(f"/rooms/{room_id}/captions", {"on": False})
    assert answer.status_code == 200 and answer.json()["room"]["captions"] == "off"
    stack.settle()
    assert [t["status"] for t in stack.sim.transcriptions(room_id)] == ["stopped"]
    stack.sim.phone(CALLER).say(FIRST)
    stack.settle()
    assert stack.user.state(room_id)["captions"] == []

    assert stack.user.post(f"/rooms/{room_id}/captions", {"on": True}).status_code == 200
    stack.settle()
    assert [t["status"] for t in stack.sim.transcriptions(room_id)] == ["stopped", "in-progress"]
    stack.sim.phone(CALLER).say(SECOND)
    stack.settle()
    assert finals(stack.user.state(room_id)) == [("caller", SECOND)]
    assert stack.user.post(f"/rooms/{room_id}/captions", {"on": "no"}).status_code == 400


def test_a_transcription_error_shows_as_a_notice(stack):
    room_id = stack.call_in()
    stack.sim.transcription_error(room_id, 32651, "The transcription provider is unavailable.")
    stack.settle()
    notices = [c for c in stack.user.state(room_id)["captions"] if c["kind"] == "notice"]
    assert [n["text"] for n in notices] == ["Captions stopped: The transcription provider is unavailable. (error 32651)"]

    stack.user.open_room(room_id)  # turned off and on again, they start anew
    assert stack.user.post(f"/rooms/{room_id}/captions", {"on": False}).status_code == 200
    assert stack.user.post(f"/rooms/{room_id}/captions", {"on": True}).status_code == 200
    stack.settle()
    assert [t["status"] for t in stack.sim.transcriptions(room_id)] == ["stopped", "in-progress"]


def test_everyone_on_a_conference_is_captioned_once_labelled_by_who_they_are(stack, monkeypatch):
    stack.app.config["OWNER_PHONE"] = OWNER
    monkeypatch.setenv("OWNER_PHONE", OWNER)  # the in-process worker reads its environment
    stack.sim.phone(OWNER).script(["answer"], answer_after=0)
    room_id = stack.call_in()
    stack.settle()
    assert stack.user.state(room_id)["room"]["mode"] == "conference"
    assert sorted(len(stack.sim.transcriptions(sid)) for sid in {p["call_sid"] for p in stack.user.state(room_id)["participants"]}) == [1, 1]
    stack.sim.phone(OWNER).say("オーナーです")
    stack.settle()
    stack.sim.phone(CALLER).say(FIRST)
    stack.settle()
    assert finals(stack.user.state(room_id)) == [("owner", "オーナーです"), ("caller", FIRST)]


def test_an_ended_rooms_captions_expire_with_it(stack):
    room_id = stack.call_in()
    stack.sim.phone(CALLER).say(FIRST)
    stack.settle()
    stack.sim.hang_up(room_id)
    stack.settle()
    caption_keys = [k for k in (f"room:{{{room_id}}}:captioned", f"room:{{{room_id}}}:captions")
                    if stack.redis.exists(k)] + stack.redis.keys(f"room:{{{room_id}}}:heard:*")
    assert len(caption_keys) == 3  # (a `*ca*` pattern also caught the room's :callbacks, when one had come)
    assert all(0 < stack.redis.ttl(k) <= 3600 for k in caption_keys)


def test_the_room_page_shows_a_partial_caption_on_the_left_then_the_final_one(stack, page):
    from playwright.sync_api import expect

    room_id = stack.call_in()
    stack.user.open_room(room_id)
    assert stack.user.say(room_id, "こちらは文字で話しています").status_code == 202
    stack.settle()
    stack.sign_in_browser(page)
    page.goto(f"{stack.url}/rooms/{room_id}")
    expect(page.locator("#room-status")).to_have_text("live")
    expect(page.locator("#captions")).to_be_checked()

    stack.sim.set_clock("manual")
    seconds = stack.sim.phone(CALLER).say(SECOND)["seconds"]
    stack.sim.advance(seconds * 0.7)
    bubble = page.locator("#messages li.caption")
    expect(bubble).to_have_class("caption partial")
    expect(bubble).to_contain_text("still listening")
    expect(bubble.locator(".speaker")).to_have_text("caller · +8190••••5678")
    page.screenshot(path=str(SCREENSHOT.with_name("callchat-caption-partial.png")), full_page=True)

    stack.sim.advance(seconds)
    stack.sim.set_clock("auto")
    stack.settle()
    expect(bubble).to_have_class("caption final")
    expect(bubble.locator(".body")).to_have_text(SECOND)
    expect(page.locator("#messages li")).to_have_count(2)
    assert page.locator("#messages li").nth(1).get_attribute("data-caption"), "the caption comes after the typed message"
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    page.locator("#captions").uncheck()
    stack.settle()
    assert [t["status"] for t in stack.sim.transcriptions(room_id)] == ["stopped"]
    expect(page.locator("#captions")).not_to_be_checked()
