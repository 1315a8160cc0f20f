"""Type to speak, in-process over real HTTP: a call comes in, a person types, the caller hears it."""

from __future__ import annotations

import json
import time

import pytest
import requests
from app import create_app
from callchat import rooms, users
from jobs.announce import check_announcement
from tests.conftest import CALLER, GREETING, OWNER, SECRET_KEY, TWILIO_NUMBER, client_signed_in_as, start_redis


def announcements(phone):
    """What a phone heard said or played after the greeting, oldest first."""
    return [h for h in phone.heard() if h["kind"] in ("say", "play") and h.get("text") != GREETING]


def test_a_call_comes_in_and_opens_a_live_room(stack):
    room_id = stack.call_in()
    caller = stack.sim.phone(CALLER)
    greeting = [h for h in caller.heard() if h["kind"] == "say"]
    assert greeting and greeting[0]["language"] == "ja-JP", "the caller hears the greeting first"
    state = stack.user.state(room_id)
    assert state["room"]["status"] == "live"
    assert state["room"]["mode"] == "call", "a lone caller is not put in a conference"
    assert [(p["label"], p["status"]) for p in state["participants"]] == [("caller", "in the call")]
    assert CALLER in stack.user.http.get(f"{stack.url}/rooms/").text


def test_typed_message_is_heard_with_the_rooms_voice(stack):
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    response = stack.user.say(room_id, "  もしもし、聞こえますか  ")
    assert response.status_code == 202
    assert response.json()["message"]["state"] == "queued"
    stack.settle()
    heard = announcements(stack.sim.phone(CALLER))
    assert [(h["text"], h["voice"], h["language"]) for h in heard] == [("もしもし、聞こえますか", "Polly.Mizuki", "ja-JP")]
    assert [m["state"] for m in stack.user.state(room_id)["messages"]] == ["spoken"]


def test_play_action_plays_an_https_audio_url(stack):
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    assert stack.user.play(room_id, "https://example.com/chime.mp3").status_code == 202
    stack.settle()
    heard = announcements(stack.sim.phone(CALLER))
    assert [(h["kind"], h["url"]) for h in heard] == [("play", "https://example.com/chime.mp3")]


def test_voice_and_language_are_chosen_per_room(stack):
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    assert stack.user.post(f"/rooms/{room_id}/voice", {"language": "en-US", "voice": "Polly.Joanna"}).status_code == 200
    bad = stack.user.post(f"/rooms/{room_id}/voice", {"language": "en-US", "voice": "Polly.Mizuki"})
    assert bad.status_code == 400 and "does not speak en-US" in bad.json()["error"]
    stack.user.say(room_id, "Hello there")
    stack.settle()
    heard = announcements(stack.sim.phone(CALLER))
    assert [(h["voice"], h["language"]) for h in heard] == [("Polly.Joanna", "en-US")]


def test_messages_typed_quickly_are_spoken_once_each_in_order(stack):
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    typed = [f"number {i}" for i in range(8)]
    for text in typed:
        assert stack.user.say(room_id, text).status_code == 202
    stack.settle()
    assert [h["text"] for h in announcements(stack.sim.phone(CALLER))] == typed
    assert [m["state"] for m in stack.user.state(room_id)["messages"]] == ["spoken"] * 8
    assert not [e for e in stack.sim.errors() if "overlap" in json.dumps(e)]


@pytest.mark.parametrize("payload, status, words", [
    ({"kind": "say", "text": "   "}, 400, "empty"),
    ({"kind": "say", "text": "あ" * 3001}, 400, "at most 3000"),
    ({"kind": "play", "url": "http://example.com/a.mp3"}, 400, "https://"),
    ({"kind": "play", "url": ""}, 400, "audio"),
    ({"kind": "shout", "text": "hi"}, 400, "either 'say'"),
])
def test_bad_messages_get_a_clear_error_and_nothing_is_queued(stack, payload, status, words):
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    response = stack.user.post(f"/rooms/{room_id}/messages", payload)
    assert response.status_code == status
    assert words in response.json()["error"]
    assert stack.user.state(room_id)["messages"] == []


def test_a_post_without_the_pages_csrf_token_is_refused(stack):
    room_id = stack.call_in()
    response = stack.user.http.post(f"{stack.url}/rooms/{room_id}/messages", json={"kind": "say", "text": "hi"},
                             headers={"Accept": "application/json"})
    assert response.status_code == 400
    assert "Reload" in response.json()["error"]
    assert stack.user.state(room_id)["messages"] == []


def test_a_lone_caller_hears_every_message_in_order_with_no_hold_music_and_no_extra_call(stack):
    """Bug: a lone caller sat in a conference, which on Twilio never starts with one participant,
    so they heard hold music and none of the typed words."""
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    typed = ["一つ目のメッセージ", "second message", "三つ目"]
    for text in typed:
        assert stack.user.say(room_id, text).status_code == 202
    stack.settle()
    caller = stack.sim.phone(CALLER)
    assert [h["text"] for h in announcements(caller)] == typed
    assert not [h for h in caller.heard() if h["kind"] == "wait"], "no hold music"
    assert [m["state"] for m in stack.user.state(room_id)["messages"]] == ["spoken"] * 3
    assert [c["sid"] for c in stack.sim.calls()] == [room_id], "callchat placed no call of its own"
    assert stack.sim.conferences() == []
    made = [(q["method"], q["path"]) for q in stack.sim.requests()]
    assert not [m for m in made if m[1].endswith("/Calls.json") or "/Participants" in m[1]]


def test_owner_answering_moves_the_room_into_a_conference_and_both_hear_what_follows(stack, monkeypatch):
    stack.app.config["OWNER_PHONE"] = OWNER
    monkeypatch.setenv("OWNER_PHONE", OWNER)  # the in-process worker reads its environment
    room_id = stack.call_in()
    state = stack.user.state(room_id)
    assert state["room"]["mode"] == "conference"
    assert state["room"]["conference_sid"].startswith("CF")
    participants = {p["label"]: p for p in state["participants"]}
    assert participants["owner"]["status"] == "in the call"
    assert participants["owner"]["muted"] is True
    assert participants["caller"]["status"] == "in the call"
    stack.user.open_room(room_id)
    stack.user.say(room_id, "オーナーにも聞こえる")
    stack.settle()
    assert [h["text"] for h in announcements(stack.sim.phone(OWNER))] == ["オーナーにも聞こえる"]
    assert [h["text"] for h in announcements(stack.sim.phone(CALLER))] == ["オーナーにも聞こえる"]


def test_an_owner_who_answers_during_the_greeting_still_hears_what_is_typed(stack, monkeypatch):
    """Bug: the caller went straight from the greeting into the conference, and the room stayed 'waiting' for good."""
    stack.app.config["OWNER_PHONE"] = OWNER
    monkeypatch.setenv("OWNER_PHONE", OWNER)
    stack.sim.set_clock("manual")  # the greeting is still being said while the owner answers
    stack.sim.phone(OWNER).script(["answer"], answer_after=0)
    room_id = stack.sim.phone(CALLER).call(TWILIO_NUMBER)
    stack.settle()
    stack.sim.advance(60)
    stack.settle()
    stack.user.open_room(room_id)
    assert stack.user.say(room_id, "挨拶のあとで").status_code == 202
    stack.settle()
    state = stack.user.state(room_id)
    assert (state["room"]["status"], state["room"]["mode"]) == ("live", "conference")
    assert [h["text"] for h in announcements(stack.sim.phone(CALLER))] == ["挨拶のあとで"]
    assert [h["text"] for h in announcements(stack.sim.phone(OWNER))] == ["挨拶のあとで"]


def test_the_waiting_loop_nudges_a_stuck_message_at_most_once_per_period(stack):
    """Bug (bench/scale.py): every loop fetch of a room with a queued message enqueued another
    announce_next, so a backlog of jobs fed itself (7 jobs per message delivered). Since issue 14's drain
    the room is marked ready and one drain job (`jobs.delivery.deliver_ready`) delivers it."""
    room_id = stack.call_in()
    rooms.add_message(stack.redis, room_id, "say", "stuck", "Polly.Mizuki", "ja-JP")  # its job was lost
    loop = {"CallSid": room_id, "From": CALLER, "To": TWILIO_NUMBER, "CallStatus": "in-progress"}
    for _ in range(5):
        assert stack.twilio_post(f"/voice/rooms/{room_id}/wait", loop).status_code == 200
    assert [job.func_name for job in stack.queue.jobs] == ["jobs.delivery.deliver_ready"], "one drain, one job"
    stack.settle()
    assert [h["text"] for h in announcements(stack.sim.phone(CALLER))] == ["stuck"]


def test_hang_up_ends_the_room_and_fails_what_was_not_spoken(stack):
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    stack.user.say(room_id, "typed as the caller hangs up")  # accepted; no job has run yet
    stack.sim.hang_up(room_id)
    stack.settle()
    state = stack.user.state(room_id)
    assert state["room"]["status"] == "ended"
    assert [(m["state"], m["error"]) for m in state["messages"]] == [
        ("failed", "The call ended before this message was spoken.")]
    assert announcements(stack.sim.phone(CALLER)) == []
    refused = stack.user.say(room_id, "too late")
    assert refused.status_code == 409 and "ended" in refused.json()["error"]
    assert room_id not in [r["id"] for r in rooms.live(stack.redis)]


def test_every_key_of_an_ended_room_expires_after_retention(stack, monkeypatch):
    stack.app.config["ROOM_RETENTION_SECONDS"] = 5
    monkeypatch.setenv("ROOM_RETENTION_SECONDS", "5")  # the jobs' too: a job closes the room (`close_room`)
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    stack.user.say(room_id, "goodbye")
    stack.settle()
    stack.sim.hang_up(room_id)
    stack.settle()
    keys = stack.redis.keys(f"room:{{{room_id}}}*")
    assert keys, "the history stays readable during retention"
    assert all(0 < stack.redis.pttl(k) <= 5000 for k in keys)
    # Redis expires them itself; poll (no fixed sleep) for at most a few seconds.
    deadline = time.monotonic() + 15
    while stack.redis.keys(f"room:{{{room_id}}}*") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stack.redis.keys(f"room:{{{room_id}}}*") == []
    assert stack.user.http.get(f"{stack.url}/rooms/{room_id}").status_code == 404


def test_watchdog_moves_on_when_announcement_end_never_comes(stack):
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    # Two messages, the first claimed and handed to Twilio but its announcement-end lost:
    # the claim is made directly, so no callback will ever finish it.
    first = rooms.add_message(stack.redis, room_id, "say", "lost", "Polly.Mizuki", "ja-JP")
    rooms.claim_next(stack.redis, room_id, hold_seconds=600)
    stack.user.say(room_id, "next one")
    stack.settle()
    assert [m["state"] for m in stack.user.state(room_id)["messages"]] == ["speaking", "queued"], "the room waits"
    assert check_announcement(room_id, first["id"]) is True
    stack.settle()
    messages = stack.user.state(room_id)["messages"]
    assert [m["state"] for m in messages] == ["failed", "spoken"]
    assert "never confirmed" in messages[0]["error"]
    assert check_announcement(room_id, first["id"]) is False, "the watchdog acts once"


def test_repeated_announcement_end_finishes_a_message_once(stack):
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    stack.user.say(room_id, "once")
    stack.settle()
    message = stack.user.state(room_id)["messages"][0]
    assert rooms.finish(stack.redis, room_id, message["id"], "failed", "", "late duplicate") is False
    assert stack.user.state(room_id)["messages"][0]["state"] == "spoken"


def test_dead_redis_gets_a_503_with_a_reason(redis_url):
    app = create_app({"TESTING": True, "REDIS_URL": "redis://127.0.0.1:1/0", "WTF_CSRF_ENABLED": False,
                      "SECRET_KEY": SECRET_KEY})
    client = client_signed_in_as(app)  # a person who signed in before Redis went away
    health = client.get("/healthz")
    assert health.status_code == 503
    assert "Redis is unreachable" in health.get_json()["reason"]
    response = client.post("/rooms/CA123/messages", json={"kind": "say", "text": "hi"})
    assert response.status_code == 503
    assert "cannot reach its database" in response.get_json()["error"]
    page = client.get("/rooms/", headers={"Accept": "text/html"})
    assert page.status_code == 503 and b"Temporarily unavailable" in page.data


def test_healthz_is_ok_with_redis(stack):
    assert requests.get(f"{stack.url}/healthz").json() == {"status": "ok"}


def test_a_live_page_stream_ends_cleanly_when_redis_goes_away(tmp_path):
    """Bug: a Redis restart made every open SSE stream crash with a traceback in gunicorn."""
    proc, url = start_redis(tmp_path)
    try:
        app = create_app({"TESTING": True, "REDIS_URL": url, "SECRET_KEY": SECRET_KEY})
        rooms.create(app.redis, "CA" + "d4" * 16, CALLER, "Polly.Mizuki", "ja-JP", 3600)
        users.create(app.redis, "typist", "operator", "typist-password")
        response = client_signed_in_as(app).get(f"/rooms/{'CA' + 'd4' * 16}/events", buffered=False)
        chunks = iter(response.response)
        assert "event: snapshot" in next(chunks).decode()
        proc.kill()
        proc.wait(10)
        rest = list(chunks)  # raised redis.ConnectionError before the fix
        assert all("update" not in chunk.decode() for chunk in rest)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_a_caller_who_hangs_up_during_the_greeting_leaves_no_live_room(stack):
    """Bug: no conference ever started, so no conference-end came, and the room stayed listed for a day."""
    stack.sim.set_clock("manual")  # the greeting is still being said when the caller hangs up
    call_sid = stack.sim.phone(CALLER).call(TWILIO_NUMBER)
    stack.settle()
    assert stack.user.state(call_sid)["room"]["status"] == "waiting"
    stack.sim.hang_up(call_sid)
    stack.settle()
    assert stack.release_scheduled("check_rooms") == 1
    stack.settle()
    assert stack.user.state(call_sid)["room"]["status"] == "ended"
    assert call_sid not in [r["id"] for r in rooms.live(stack.redis)]


def test_many_open_pages_do_not_starve_twilios_webhooks(stack):
    """Bug: each open page held a connection of the 100-connection Redis pool, so page 101 and every webhook got 503."""
    stack.app.config["STREAMS_PER_USER"] = 120  # one person's 120 pages, all open (test_streams.py tests the cap)
    room_id = stack.call_in()
    streams = []
    try:
        for _ in range(120):
            response = stack.user.http.get(f"{stack.url}/rooms/{room_id}/events", stream=True, timeout=10)
            streams.append(response)
        assert [r.status_code for r in streams] == [200] * 120
        first_lines = {next(r.iter_lines()).decode() for r in streams}
        assert first_lines == {"retry: 2000"}, "every page got its snapshot"
        webhook = stack.twilio_post("/voice/incoming", {"CallSid": "CA" + "e5" * 16, "From": CALLER, "To": TWILIO_NUMBER})
        assert webhook.status_code == 200
    finally:
        for response in streams:
            response.close()
