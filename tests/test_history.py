"""History (issue 12): ended calls stay, are searched by number, date and words, exported, and deleted."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import requests

from callchat import audit, history, rooms
from tests.conftest import CALLER, OWNER, page_csrf

#: Where the browser test's screenshots go; people look at them after a run.
SCREENSHOT_DIR = Path(os.environ.get("SCREENSHOT_DIR", "/tmp"))
SECOND, THIRD = "+819022223333", "+819044445555"
#: Called into the first call from its page.
CALLEE = "+819055556666"
HEARD = "はい田中です、予約の件で"


@pytest.fixture(autouse=True)
def in_english(stack):
    """The typist's pages in English (DEFAULT_LOCALE is ja): the texts asserted here are the English ones."""
    stack.user.http.headers["Accept-Language"] = "en"


def end(stack, room_id: str) -> None:
    """The caller hangs up; the room ends."""
    stack.sim.hang_up(room_id)
    stack.settle()


@pytest.fixture
def three_calls(stack):
    """Three ended calls, as people made them: (first, second, third) room ids.

    First: CALLER; a typed message, a caption of what the caller said, CALLEE called in (answers),
    captions switched off, hung up from the page. Second: SECOND, "Please hold the line". Third: THIRD.
    """
    first = stack.call_in(CALLER)
    stack.user.open_room(first)
    assert stack.user.say(first, "明日の予約を確認します").status_code == 202
    stack.settle()
    stack.sim.phone(CALLER).say(HEARD)
    stack.settle()
    assert stack.user.post(f"/rooms/{first}/calls", {"to": "090-5555-6666"}).status_code == 202
    stack.settle()
    assert stack.user.post(f"/rooms/{first}/captions", {"on": False}).status_code == 200
    assert stack.user.post(f"/rooms/{first}/hangup", {}).status_code == 202
    stack.settle()
    ids = [first]
    for number, text in ((SECOND, "Please hold the line"), (THIRD, "See you tomorrow")):
        room_id = stack.call_in(number)
        assert stack.user.say(room_id, text).status_code == 202
        stack.settle()
        end(stack, room_id)
        ids.append(room_id)
    assert [rooms.get(stack.redis, i)["status"] for i in ids] == ["ended"] * 3
    return tuple(ids)


def shown(stack, **query) -> list[str]:
    """The room ids /history lists for a search, in order."""
    page = stack.user.http.get(f"{stack.url}/history/", params=query)
    assert page.status_code == 200, page.text
    return [row.split('"')[0] for row in page.text.split('<tr data-room="')[1:]]


def keys_of(r, room_id: str, call_ids: list[str]) -> list[str]:
    """Every Redis key that names the room or one of its calls, but RQ's records of jobs run (`rq:job:attempt-<call>-<n>`:
    the job's name and outcome, no transcript), which RQ expires itself (checked here)."""
    found = sorted(k for k in r.scan_iter(count=1000) if room_id in k or any(c in k for c in call_ids))
    assert all(r.ttl(k) > 0 for k in found if k.startswith("rq:"))
    return [k for k in found if not k.startswith("rq:")]


def test_three_calls_searched_by_number_and_typed_word_exported_and_one_deleted_with_every_key(stack, three_calls):
    first, second, third = three_calls
    assert shown(stack) == [third, second, first]  # newest first
    assert shown(stack, number="090-2222-3333") == [second]
    assert shown(stack, number="+81 90 4444 5555") == [third]
    assert shown(stack, number="090-5555-6666") == [first]  # anyone on the call, not only the caller
    assert shown(stack, words="please HOLD") == [second]  # typed, any case
    assert shown(stack, words="田中") == [first]  # captioned

    exported = stack.user.http.get(f"{stack.url}/history/{first}.json")
    assert exported.status_code == 200
    assert exported.headers["Content-Disposition"] == f'attachment; filename="callchat-{first}.json"'
    document = exported.json()
    state = stack.user.state(first)
    assert document["messages"] == state["messages"] and len(document["messages"]) == 1
    message = document["messages"][0]
    assert (message["body"], message["state"], message["voice"], message["language"]) == (
        "明日の予約を確認します", "spoken", "Polly.Mizuki", "ja-JP")
    assert {"created_at", "speaking_at", "finished_at", "error"} <= set(message)
    assert document["captions"] == state["captions"]
    assert [c["text"] for c in document["captions"] if c["kind"] == "caption"] == [HEARD]
    whats = [e["what"] for e in document["events"]]
    # The callee's call ends with the caller's: its outcome and the room's end come in either order.
    assert whats[:3] == ["call", "captions-off", "hang-up"] and sorted(whats[3:]) == ["call-outcome", "ended"]
    assert document["events"][0]["text"] == "typist called +8190••••6666 into the call"
    assert [(c["to"], c["outcome"], len(c["attempts"])) for c in document["calls"]] == [(CALLEE, "reached", 1)]
    assert {p["number"] for p in document["participants"]} == {CALLER, CALLEE}

    call_ids = [c["id"] for c in document["calls"]]
    before = keys_of(stack.redis, first, call_ids)
    assert f"room:{{{first}}}" in before and f"call:{{{call_ids[0]}}}" in before and len(before) > 10
    confirm = stack.user.http.get(f"{stack.url}/history/{first}/delete")
    assert "cannot be undone" in confirm.text
    done = stack.user.http.post(f"{stack.url}/history/{first}/delete", data={"csrf_token": page_csrf(confirm.text)})
    assert done.url == f"{stack.url}/history/" and "The call with +8190••••5678 was deleted." in done.text
    assert keys_of(stack.redis, first, call_ids) == []
    assert stack.redis.zscore(rooms.ENDED, first) is None
    assert shown(stack) == [third, second]
    assert stack.user.http.get(f"{stack.url}/rooms/{first}").status_code == 404
    assert stack.user.http.get(f"{stack.url}/history/{first}.json").status_code == 404
    entry = next(audit.entries(stack.redis, actions={"call-deleted"}))
    assert (entry["actor"], entry["room"]) == ("typist", first)
    assert set(audit.details(entry)) == {"room"}  # who and which call, never the transcript


def test_text_export_is_a_readable_transcript(stack, three_calls):
    first = three_calls[0]
    text = stack.user.http.get(f"{stack.url}/history/{first}.txt")
    assert text.headers["Content-Type"].startswith("text/plain")
    assert text.headers["Content-Disposition"] == f'attachment; filename="callchat-{first}.txt"'
    lines = text.text.splitlines()
    assert lines[0] == f"Call with {CALLER}"
    body = [line.split("] ", 1)[1] for line in lines if line.startswith("[")]
    assert body[:5] == ["You: 明日の予約を確認します (spoken)", f"caller · +8190••••5678: {HEARD}",
                        "— typist called +8190••••6666 into the call", "— typist turned captions off",
                        "— typist hung up the call"]
    assert sorted(body[5:]) == ["— +8190••••6666 was reached on attempt 1", "— The call ended"]  # in either order


def test_date_range_in_japan_time_searches_and_exports(stack, three_calls):
    stack.app.config["ROOM_RETENTION_SECONDS"] = 30 * 86400
    today = datetime.now(history.TIMEZONE).date()
    yesterday, tomorrow = (today - timedelta(days=1)).isoformat(), (today + timedelta(days=1)).isoformat()
    assert shown(stack, **{"from": today.isoformat(), "to": today.isoformat()}) == list(reversed(three_calls))
    assert shown(stack, **{"from": tomorrow}) == [] and shown(stack, to=yesterday) == []
    # A call that ended two days ago (Japan time) is found only by a range that holds that day.
    two_days_ago = datetime.now(history.TIMEZONE) - timedelta(days=2)
    stack.redis.zadd(rooms.ENDED, {three_calls[0]: two_days_ago.timestamp()})
    assert shown(stack, **{"from": two_days_ago.date().isoformat(), "to": yesterday}) == [three_calls[0]]
    exported = stack.user.http.get(f"{stack.url}/history/export.json", params={"from": today.isoformat()})
    assert exported.headers["Content-Disposition"] == f'attachment; filename="callchat-history-{today.isoformat()}.json"'
    assert [c["room"]["id"] for c in exported.json()["calls"]] == [three_calls[2], three_calls[1]]
    text = stack.user.http.get(f"{stack.url}/history/export.txt", params={"number": "090-2222-3333"}).text
    assert text.startswith(f"Call with {SECOND}") and "Please hold the line" in text and CALLER not in text
    bad = stack.user.http.get(f"{stack.url}/history/", params={"from": "12/01/2026"})
    assert bad.status_code == 400 and "Dates are written YYYY-MM-DD" in bad.text
    assert stack.user.http.get(f"{stack.url}/history/", params={"number": "abc"}).status_code == 400


def test_a_live_call_cannot_be_deleted(stack):
    room_id = stack.call_in()
    page = stack.user.open_room(room_id)
    assert "Delete this call" not in page.text  # the actions show once the call has ended
    refused = stack.user.http.post(f"{stack.url}/history/{room_id}/delete", data={"csrf_token": stack.user.csrf},
                                   headers={"Accept": "application/json"})
    assert refused.status_code == 409 and "has not ended" in refused.json()["error"]
    assert rooms.get(stack.redis, room_id)["status"] == "live"
    assert stack.user.http.get(f"{stack.url}/history/{room_id}/delete").status_code == 409  # nor is it asked
    end(stack, room_id)
    page = stack.user.open_room(room_id)
    assert f'href="/history/{room_id}.json"' in page.text and f'href="/history/{room_id}/delete"' in page.text


def test_signed_out_requests_are_refused(stack, three_calls):
    first = three_calls[0]
    for path in ("/history/", f"/history/{first}.json", f"/history/{first}.txt", "/history/export.json",
                 f"/history/{first}/delete"):
        answer = requests.get(f"{stack.url}{path}", allow_redirects=False, timeout=10)
        assert answer.status_code == 302 and "/signin" in answer.headers["Location"], path
    deleting = requests.post(f"{stack.url}/history/{first}/delete", allow_redirects=False, timeout=10)
    assert deleting.status_code == 302 and "/signin" in deleting.headers["Location"]
    assert requests.get(f"{stack.url}/history/", headers={"Accept": "application/json"}, timeout=10).status_code == 401
    assert rooms.get(stack.redis, first) is not None


def test_controls_go_on_the_timeline_and_out_on_the_rooms_stream(stack):
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    listener = stack.redis.pubsub(ignore_subscribe_messages=True)
    listener.subscribe(rooms.channel(room_id))
    assert listener.get_message(timeout=5) is None  # the subscription's confirmation
    stack.user.say(room_id, "もしもし")
    stack.settle()
    assert stack.user.post(f"/rooms/{room_id}/repeat", {}).status_code == 202
    assert stack.user.post(f"/rooms/{room_id}/voice", {"voice": "Polly.Joanna", "language": "en-US"}).status_code == 200
    assert stack.user.post(f"/rooms/{room_id}/stop", {}).status_code == 200
    stack.settle()
    updates = [json.loads(m["data"]) for m in iter(lambda: listener.get_message(timeout=1), None)]
    listener.close()
    published = [u["event"] for u in updates if u["type"] == "event"]
    items = stack.user.state(room_id)["events"]
    assert [e["what"] for e in items] == ["repeat", "voice", "stop"]
    assert published == items
    assert [e["id"] for e in items] == ["ev-1", "ev-2", "ev-3"]
    assert items[1]["text"] == "typist changed the voice to Joanna (English (US), female)"
    assert items[2]["by"] == "typist" and items[2]["kind"] == "event"


def test_nothing_outlives_the_retention(stack):
    """After a call, every key it left expires within ROOM_RETENTION_SECONDS; once they have, the index is empty too."""
    retention = int(stack.app.config["ROOM_RETENTION_SECONDS"])
    start = {k for k in stack.redis.keys("*") if not k.startswith("rq:")}
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    stack.user.say(room_id, "また明日")
    stack.settle()
    end(stack, room_id)
    assert shown(stack) == [room_id]
    new = {k for k in stack.redis.keys("*") if not k.startswith("rq:")} - start
    room_keys = {k for k in new if k.startswith(f"room:{{{room_id}}}")}
    assert room_keys and all(0 < stack.redis.ttl(k) <= retention for k in room_keys | {rooms.ENDED})
    # Other keys are bookkeeping with their own expiry: the audit trail (AUDIT_RETENTION_SECONDS) and rate limits.
    assert new - room_keys - {rooms.ENDED} <= {audit.STREAM} | {k for k in new if k.startswith("LIMITS:")}
    for k in room_keys:  # the retention passes
        stack.redis.pexpire(k, 1)
    while any(stack.redis.exists(k) for k in room_keys):  # Redis expires them at once (no fixed sleep)
        pass
    assert shown(stack) == []
    left = {k for k in stack.redis.keys("*") if not k.startswith(("rq:", "LIMITS:"))}
    assert left - start <= {audit.STREAM}


@pytest.mark.parametrize("size", [(1100, 720), (390, 844)], ids=["desktop", "phone"])
def test_history_and_an_ended_room_in_a_browser(stack, three_calls, page, size):
    page.set_viewport_size({"width": size[0], "height": size[1]})
    stack.sign_in_browser(page)
    page.goto(f"{stack.url}/history/")
    assert page.locator("tr[data-room]").count() == 3
    page.screenshot(path=str(SCREENSHOT_DIR / f"callchat-history-{size[0]}.png"), full_page=True)
    page.get_by_label("Words typed or heard").fill("田中")  # what the first caller said
    page.get_by_role("button", name="Search").click()
    assert page.locator("tr[data-room]").count() == 1
    page.get_by_role("link", name=CALLER).click()
    page.wait_for_url(f"{stack.url}/rooms/{three_calls[0]}")
    assert page.get_by_role("link", name="Delete this call…").is_visible()
    page.screenshot(path=str(SCREENSHOT_DIR / f"callchat-history-room-{size[0]}.png"), full_page=True)
    page.get_by_role("link", name="Delete this call…").click()
    page.screenshot(path=str(SCREENSHOT_DIR / f"callchat-history-delete-{size[0]}.png"), full_page=True)
    page.get_by_role("button", name="Delete").click()
    page.wait_for_url(f"{stack.url}/history/")
    assert page.get_by_role("status").first.inner_text() == "The call with +8190••••5678 was deleted."
    assert page.locator("tr[data-room]").count() == 2
    page.screenshot(path=str(SCREENSHOT_DIR / f"callchat-history-deleted-{size[0]}.png"), full_page=True)


def test_a_callee_who_answers_before_twilio_answers_the_request_is_shown_reached(stack):
    """Twilio's answer to the Participant create came after the callee had joined: the job's "dialing" used to
    overwrite "in the call", so hanging up cancelled a call that was answered and the timeline said so."""
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    stack.sim.inject_fault("POST", "Conferences/*/Participants.json", "delay", seconds=1)
    assert stack.user.post(f"/rooms/{room_id}/calls", {"to": CALLEE}).status_code == 202
    stack.settle()
    callee = next(p for p in stack.user.state(room_id)["participants"] if p.get("number") == CALLEE)
    assert callee["status"] == "in the call"
    assert stack.user.post(f"/rooms/{room_id}/hangup", {}).status_code == 202
    stack.settle()
    texts = [e["text"] for e in stack.user.state(room_id)["events"]]
    assert "+8190••••6666 was reached on attempt 1" in texts and "Calling +8190••••6666 was cancelled" not in texts


def test_mute_hold_and_remove_in_a_conference_go_on_the_timeline_by_whom(stack, monkeypatch):
    stack.app.config["OWNER_PHONE"] = OWNER
    monkeypatch.setenv("OWNER_PHONE", OWNER)  # the in-process worker reads its environment
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    owner = next(p for p in stack.user.state(room_id)["participants"] if p["label"] == "owner")["call_sid"]
    for path, payload in (("mute", {"muted": False}), ("mute", {"muted": True}), ("hold", {"held": True}),
                          ("hold", {"held": False}), ("remove", {})):
        assert stack.user.post(f"/rooms/{room_id}/participants/{owner}/{path}", payload).status_code == 202
        stack.settle()
    assert [e["text"] for e in stack.user.state(room_id)["events"]] == [
        "typist unmuted +8190••••8888", "typist muted +8190••••8888", "typist put +8190••••8888 on hold",
        "typist took +8190••••8888 off hold", "typist took +8190••••8888 off the call"]
