"""Live pages are capped per person and per web process, the oldest closed first (`callchat.streams`), so that
open pages never take the connections Twilio's webhooks and chat posts need (issue 10).

Each cap is set low through the app's config (read at every new stream); pages are real HTTP streams,
read as a browser's EventSource parses them.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from app import create_app
from callchat import fanout, operators, rooms, shutdown, streams, users
from callchat.devstack import free_port, wait_for
from callchat.settings import SettingError
from callchat.redis_server import redis_server_binary, wait_until_up
from tests.conftest import (ADMIN, CALLER, OPERATOR, SECRET_KEY, TWILIO_NUMBER, ChatUser, ServedApp, client_signed_in_as,
                            start_procfile, start_redis)

#: Where the screenshot of a page closed by STREAMS_PER_USER goes; people look at it after a run.
SCREENSHOT = Path(os.environ.get("SCREENSHOT_DIR", "/tmp")) / "callchat-too-many-pages.png"


class Page:
    """One open page's live stream, at `base` (a web process), read block by block as EventSource does:
    room `room_id`'s page, or the room list when None."""

    def __init__(self, user: ChatUser, room_id: str | None, base: str | None = None) -> None:
        path = f"/rooms/{room_id}/events" if room_id else "/rooms/events"
        self.response = user.http.get(f"{base or user.base}{path}", stream=True, timeout=10)
        assert self.response.status_code == 200, self.response.text
        self.lines = self.response.iter_lines(decode_unicode=True)
        assert self.next()["event"] == "snapshot"

    def next(self) -> dict[str, Any] | None:
        """The next block's fields ({"event", "data", "retry"}), keep-alives skipped; None when the stream ended."""
        fields: dict[str, Any] = {}
        for line in self.lines:
            if line == "" and fields:
                return fields
            if line and not line.startswith(":"):
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
        return fields or None

    def hears_typed(self, text: str) -> bool:
        """True when the next block is the update showing `text` as a message."""
        block = self.next()
        return block is not None and block.get("event") == "update" and json.loads(block["data"])["message"]["body"] == text

    def until(self, event: str) -> dict[str, Any] | None:
        """The data (JSON) of the next `event` block, the blocks before it skipped; None when the stream ended first."""
        while (block := self.next()) is not None:
            if block.get("event") == event:
                return json.loads(block["data"])
        return None

    def rest(self) -> list[str]:
        """The names of the events left until the stream ends (a read timeout fails the test if it does not)."""
        return [block.get("event", "") for block in iter(self.next, None)]

    def close(self) -> None:
        self.response.close()


@pytest.fixture
def pages():
    """Open pages, closed at the end of the test."""
    opened: list[Page] = []
    yield opened
    for page in opened:
        page.close()


def test_a_persons_page_past_streams_per_user_stops_their_oldest_which_says_so(stack, pages, caplog):
    stack.app.config["STREAMS_PER_USER"] = 3
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    for _ in range(3):
        pages.append(Page(stack.user, room_id))
    someone_else = stack.signed_in(*ADMIN)
    pages.append(Page(someone_else, room_id))  # not counted against the typist

    with caplog.at_level(logging.INFO, logger="callchat.streams"):
        pages.append(Page(stack.user, room_id))  # the typist's fourth

    oldest = pages[0]
    assert oldest.next() == {"event": "closed", "data": json.dumps({"message": streams.CLOSED_MESSAGE})}
    assert oldest.next() is None, "the stream ends after saying why"
    assert [r.getMessage() for r in caplog.records if r.name == "callchat.streams"] == [
        "live stream of typist closed: they have STREAMS_PER_USER=3 pages open; their oldest stopped updating"]
    assert stack.user.say(room_id, "まだ見えますか").status_code == 202
    assert all(page.hears_typed("まだ見えますか") for page in pages[1:]), "every other page still updates"


def test_streams_per_user_counts_pages_on_every_web_process(stack, pages, stack_config):
    """Two web processes on one Redis (as gunicorn's workers or Heroku's dynos): the oldest page is closed wherever it is."""
    stack.app.config["STREAMS_PER_USER"] = 2
    other = ServedApp(create_app(dict(stack_config, STREAMS_PER_USER=2, PUBLIC_BASE_URL=stack.url))).start()
    try:
        room_id = stack.call_in()
        stack.user.open_room(room_id)
        pages.append(Page(stack.user, room_id, base=other.url))
        pages.append(Page(stack.user, room_id))
        pages.append(Page(stack.user, room_id))
        assert pages[0].next()["event"] == "closed"
        assert stack.user.say(room_id, "二つの窓").status_code == 202
        assert all(page.hears_typed("二つの窓") for page in pages[1:])
    finally:
        other.stop()


def test_a_page_left_by_a_dead_process_is_not_counted(stack, pages):
    """A web process killed outright leaves its streams in Redis; they must not close pages that are still open."""
    stack.app.config["STREAMS_PER_USER"] = 2
    stack.redis.zadd(streams.user_key(OPERATOR[0]), {"0" * 32: 1.0})  # the oldest, and nobody listens to it
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    pages.append(Page(stack.user, room_id))
    pages.append(Page(stack.user, room_id))
    assert stack.user.say(room_id, "両方とも").status_code == 202
    assert all(page.hears_typed("両方とも") for page in pages)
    assert len(stack.redis.zrange(streams.user_key(OPERATOR[0]), 0, -1)) == 2


def test_a_page_past_streams_per_process_closes_the_processs_oldest_which_reconnects_later(stack, pages, caplog):
    stack.app.config["STREAMS_PER_PROCESS"] = 3
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    admin = stack.signed_in(*ADMIN)
    pages += [Page(admin, room_id), Page(stack.user, room_id), Page(admin, room_id)]
    with caplog.at_level(logging.INFO, logger="callchat.streams"):
        pages.append(Page(stack.user, room_id))

    oldest = pages[0].next()
    assert set(oldest) == {"retry"}, "no event: the browser just reconnects"
    low, high = streams.CROWDED_RETRY_MS
    assert low <= int(oldest["retry"]) <= high, "later than the usual 2 s, so that closed pages do not all return at once"
    assert pages[0].next() is None
    assert [r.getMessage() for r in caplog.records if r.name == "callchat.streams"] == [
        "live stream of boss closed: this web process holds STREAMS_PER_PROCESS=3 streams; the page reconnects later"]
    assert stack.user.say(room_id, "三つまで").status_code == 202
    assert all(page.hears_typed("三つまで") for page in pages[1:])


def test_a_page_stopped_by_streams_per_user_shows_why_and_reloads_on_request(stack, page):
    from playwright.sync_api import expect

    stack.app.config["STREAMS_PER_USER"] = 1
    room_id = stack.call_in()
    stack.sign_in_browser(page)
    page.goto(f"{stack.url}/rooms/{room_id}")
    expect(page.locator("#room-status")).to_have_text("live")
    newer = Page(stack.user, room_id)  # the same person, in another tab
    try:
        notice = page.locator("#live-closed")
        expect(notice).to_have_text(f"{streams.CLOSED_MESSAGE} Reload")
        page.screenshot(path=str(SCREENSHOT), full_page=True)
        assert SCREENSHOT.stat().st_size > 0
        expect(page.locator("#room-status")).to_have_text("live")  # the page was not reloaded to sign in
    finally:
        newer.close()

    stack.app.config["STREAMS_PER_USER"] = 10
    page.get_by_role("button", name="Reload").click()
    expect(notice).to_have_count(0)
    stack.user.open_room(room_id)
    stack.user.say(room_id, "戻りました")
    expect(page.locator("#messages li").first).to_contain_text("戻りました")


@pytest.mark.parametrize("name, value, problem", [
    ("STREAMS_PER_USER", 0, "0 is not a whole number of 1 or more."),
    ("STREAMS_PER_PROCESS", "many", "'many' is not a whole number of 1 or more."),
])
def test_a_bad_stream_cap_stops_start_up_naming_it(redis_url, name, value, problem):
    with pytest.raises(SettingError) as raised:
        create_app({"REDIS_URL": redis_url, "SECRET_KEY": SECRET_KEY, name: value})
    assert raised.value.problems == {name: problem}


def test_gunicorn_refuses_to_start_when_pages_could_take_the_webhooks_connections(redis_url, tmp_path):
    log = tmp_path / "web.log"
    web = start_procfile("web", {"PORT": str(free_port()), "REDIS_URL": redis_url, "SECRET_KEY": SECRET_KEY,
                                 "WEB_CONCURRENCY": "1", "STREAMS_PER_PROCESS": "950"}, log)
    try:
        assert web.wait(60) != 0
    finally:
        if web.poll() is None:
            os.killpg(web.pid, signal.SIGKILL)
    assert ("STREAMS_PER_PROCESS: 950 live pages would leave fewer than 100 of a web process's 1000 connections "
            "(gunicorn's worker_connections) for Twilio's webhooks and chat posts; set it to 900 or less.") in log.read_text()


def test_a_room_streams_pieces_of_its_page_and_hears_of_other_incoming_calls(stack, pages):
    """One source of markup: the stream's snapshot and updates carry the page's own partials (`html`),
    and a room page hears of a new incoming call on its one stream."""
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    assert stack.user.say(room_id, "<b>太字</b>ではない").status_code == 202
    stack.settle()
    page = Page(stack.user, room_id)
    pages.append(page)
    page_html = stack.user.open_room(room_id).text
    assert stack.user.say(room_id, "二つ目").status_code == 202
    update = json.loads(page.next()["data"])
    assert update["type"] == "message" and update["message"]["body"] == "二つ目", "the JSON fields stay"
    assert update["html"].startswith(f'<li id="message-{update["message"]["id"]}" class="message queued"')
    assert "二つ目" in update["html"] and ">queued<" in update["html"]
    first = page_html.split('<li id="message-1"', 1)[1].split("</li>", 1)[0]
    assert "&lt;b&gt;太字&lt;/b&gt;ではない" in first and ">spoken<" in first, "the page renders the same partial"

    other = stack.sim.phone("+819022223333").call(TWILIO_NUMBER)
    stack.settle()
    for _ in range(50):  # the room's own updates (the message spoken) come first
        block = page.next()
        if block is None or block.get("event") == "incoming":
            break
    assert block and block["event"] == "incoming", "an incoming event on the room's own stream"
    told = json.loads(block["data"])
    assert told["room"]["id"] == other and f'href="/rooms/{other}"' in told["html"]


def test_a_timeline_event_reaches_each_page_in_its_readers_language(stack, pages):
    """The typist's page is in English; a Japanese reader's stream shows what the typist did in Japanese
    (the event was published with the actor's English text before)."""
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    reader = stack.signed_in(*ADMIN)
    reader.http.headers["Accept-Language"] = "ja"
    page = Page(reader, room_id)
    pages.append(page)
    assert stack.user.post(f"/rooms/{room_id}/captions", {"on": False}).status_code == 200
    for _ in range(50):
        block = page.next()
        update = json.loads(block["data"]) if block and block.get("event") == "update" else {}
        if block is None or update.get("type") == "event":
            break
    assert update["event"]["what"] == "captions-off"
    assert "typist さんが字幕をオフにしました" in update["html"]


def test_a_room_list_page_is_sent_a_rooms_id_and_status_with_its_html_and_not_the_rest_of_the_room(stack, pages):
    """Issue 14: every change is written to every open list page, so its events carry only what the page's scripts
    read: the room's id and status, and the html that shows it."""
    page = Page(stack.user, None)
    pages.append(page)
    room_id = stack.call_in()
    update, told = page.until("update"), page.until("incoming")
    # The room goes live soon after it is created; a write that takes both changes carries the latest only.
    assert update["type"] == "room" and update["room"] in ({"id": room_id, "status": status} for status in ("waiting", "live"))
    assert f'id="room-{room_id}"' in update["html"]
    assert told["room"] in ({"id": room_id, "status": status} for status in ("waiting", "live"))
    assert f'href="/rooms/{room_id}"' in told["html"]


def test_a_web_process_subscribes_once_for_all_its_pages_and_hands_every_change_to_each(stack, pages):
    """Issue 14: Redis writes a change once per web process (one subscription, fanned out in memory), not once
    per open page; the process unsubscribes from a channel once its last page listening to it has gone."""
    users.create(stack.redis, "reader", "operator", "reader-password")
    reader = stack.signed_in("reader", "reader-password")
    pages += [Page(reader, None) for _ in range(3)] + [Page(stack.user, None)]
    readers = (users.signed_out_channel("reader"), operators.channel("reader"))  # heard by the reader's 3 pages
    assert stack.redis.pubsub_numsub(*readers) == [(channel, 1) for channel in readers], "one subscriber: this process"

    room_id = stack.call_in()
    told = [page.until("incoming") for page in pages]
    assert all(t and t["room"]["id"] == room_id and f'href="/rooms/{room_id}"' in t["html"] for t in told), told
    # Not necessarily alike: a page whose write took the room's next change too is told of the room as it is then.

    assert shutdown.end_streams(stack.app) == 4
    assert all(set(page.rest()) <= {"update"} for page in pages), "every stream ended, with no event of its own"
    wait_for(lambda: stack.redis.pubsub_numsub(*readers) == [(channel, 0) for channel in readers], 10,
             "the process to unsubscribe from the reader's channels")


def test_list_pages_writing_at_their_own_moments_each_hear_every_change_in_order(stack, pages):
    """Issue 14: a web process's list pages write at moments spread over the batching window (each its own), not
    all at once; every page still hears of every room, in the order published, ends showing each room's latest
    state, and hears of each new call once as news (a change another one of its room follows within a window may
    be left out: `test_a_list_page_is_sent_only_a_rooms_latest_state_of_a_batch`)."""
    users.create(stack.redis, "reader", "operator", "reader-password")
    pages += [Page(stack.signed_in("reader", "reader-password"), None), Page(stack.user, None)]
    created = [f"CA{n:032x}" for n in range(30)]
    for room_id in created:  # a burst: several batches' worth, written to each page at its own moments
        rooms.create(stack.redis, room_id, CALLER, "Polly.Mizuki", "ja-JP", 3600)
    rooms.update(stack.redis, created[0], status="live")
    published = [(room_id, "waiting") for room_id in created] + [(created[0], "live")]

    for page in pages:
        heard: dict[str, list[tuple[str, str]]] = {"update": [], "incoming": []}
        while (created[0], "live") not in heard["update"] or len(heard["incoming"]) < len(created):
            block = page.next()  # the last change published; news follows its room's update, in the same write
            assert block is not None, heard
            room = json.loads(block["data"])["room"]
            heard[block["event"]].append((room["id"], room["status"]))
        assert heard["update"] in (published, published[1:]), "in order; the first room's first state maybe left out"
        assert sorted(heard["incoming"]) == sorted(set(heard["incoming"])), "each new call is news once"
        assert {room_id for room_id, _ in heard["incoming"]} == set(created)


def test_pages_opened_together_keep_their_operator_present_each_at_a_moment_of_its_own(stack, pages):
    """Every page renews its operator's presence once a period (PRESENCE_GRACE_SECONDS / 3), a Redis round trip and
    a write. Pages opened together (a deploy reconnects every page at once) do it at moments spread over the
    period, not all at once, when the webhooks would wait behind every one of them (issue 14)."""
    stack.app.config.update(PRESENCE_GRACE_SECONDS=3, STREAMS_PER_USER=20)  # a period of 1 s
    with ThreadPoolExecutor(16) as pool:
        pages += pool.map(lambda _: Page(stack.user, None), range(16))
    time.sleep(3.5)  # each page has renewed twice or more; each expiry is its latest renewal + 3 s
    expiries = [score for _, score in stack.redis.zrange(operators.presence_key(OPERATOR[0]), 0, -1, withscores=True)]
    assert len(expiries) == 16
    assert max(expiries) - min(expiries) >= 0.4, f"renewed within {max(expiries) - min(expiries):.2f} s of each other"


def test_a_list_page_is_sent_only_a_rooms_latest_state_of_a_batch(stack, pages):
    """Issue 14: a call centre's room changes several times a second; a list page shows a room's latest state
    only, so of the changes of one room that reach a page in one write, it is sent the last (each replaces the
    room's line): what the page shows ends the same. A call that came in is still news once, even when it also
    ended within the write."""
    pages.append(Page(stack.user, None))
    quick, steady = "CA" + "1" * 32, "CA" + "2" * 32
    rooms.create(stack.redis, quick, CALLER, "Polly.Mizuki", "ja-JP", 3600)
    rooms.create(stack.redis, steady, "+819011112222", "Polly.Mizuki", "ja-JP", 3600)
    for status in ("live", "waiting", "live"):
        rooms.update(stack.redis, steady, status=status)
    rooms.update(stack.redis, quick, status="ended")

    shown: dict[str, str] = {}  # the list as the page shows it: room id -> its <li>
    heard: dict[str, list[tuple[str, str]]] = {"update": [], "incoming": []}
    while (quick, "ended") not in heard["update"]:  # the last change published
        block = pages[0].next()
        assert block is not None, heard
        data = json.loads(block["data"])
        heard[block["event"]].append((data["room"]["id"], data["room"]["status"]))
        if block["event"] == "update":
            shown[data["room"]["id"]] = data["html"]
    assert 'data-gone' in shown[quick] and ">live<" in shown[steady], shown
    assert sorted(room_id for room_id, _ in heard["incoming"]) == sorted([quick, steady]), "each call is news once"
    steady_states = [status for room_id, status in heard["update"] if room_id == steady]
    assert steady_states[-1] == "live" and len(steady_states) <= 4


def test_of_a_list_pages_batch_only_each_rooms_latest_change_is_rendered_and_sent():
    """The batch rule (`blueprints.rooms._superseded_rooms`): a room's change is left out when a later one of the
    batch publishes the room again, unless it is news (an incoming call) and no later one is; other channels'
    messages (the page's own) are never left out."""
    from blueprints.rooms import _superseded_rooms

    def change(room_id: str, **room: str) -> fanout.Message:
        return fanout.Message(rooms.LIST_CHANNEL, json.dumps({"type": "room", "room": dict(room, id=room_id)}))

    batch = [change("A", status="waiting"), change("B", status="waiting"), fanout.Message("callchat:stream:x", "USER_CAP"),
             change("A", status="live"), change("B", status="live"), change("A", status="ended"),
             change("C", status="waiting", direction="outgoing"), change("C", status="live", direction="outgoing"),
             fanout.Message(rooms.LIST_CHANNEL, json.dumps({"type": "room", "room": None}))]
    assert _superseded_rooms(batch) == {0, 1, 6}, "A live is kept: news, and A's last change (ended) is not"


def test_a_listener_that_does_not_take_its_messages_falls_behind_alone(redis_client):
    """A page whose network does not drain (its stream is stuck writing) must not hold up the others: past
    fanout.QUEUE_MESSAGES waiting, it is ended (its page reconnects to a fresh snapshot); the rest hear everything."""
    process = fanout.Fanout(redis_client)
    slow, fast = process.listen([rooms.LIST_CHANNEL]), process.listen([rooms.LIST_CHANNEL, "after"])
    heard: list[str] = []

    def hear(count: int) -> None:
        while len(heard) < count:
            got = fast.get(5)
            assert got, f"heard {len(heard)} of {count}"
            heard.extend(message.data for message in got)

    try:
        for n in range(fanout.QUEUE_MESSAGES):
            redis_client.publish(rooms.LIST_CHANNEL, str(n))
        hear(fanout.QUEUE_MESSAGES)
        redis_client.publish(rooms.LIST_CHANNEL, "one too many")
        redis_client.publish("after", "handed out after the one too many")
        hear(fanout.QUEUE_MESSAGES + 2)
        assert heard == [str(n) for n in range(fanout.QUEUE_MESSAGES)] + ["one too many", "handed out after the one too many"]
        with pytest.raises(fanout.FellBehind):
            slow.get(0)
    finally:
        slow.close()
        fast.close()
    wait_for(lambda: not redis_client.pubsub_channels(), 10, "both channels to be unsubscribed")


def test_live_pages_come_back_after_a_redis_restart(tmp_path):
    """The process's one subscription is lost with Redis: its pages end (they reconnect, as EventSource does), and a
    page opened once Redis is back subscribes on a new connection and hears changes again."""
    proc, url = start_redis(tmp_path)
    room_id = "CA" + "f7" * 16

    def open_page(app) -> Any:
        rooms.create(app.redis, room_id, CALLER, "Polly.Mizuki", "ja-JP", 3600)
        users.create(app.redis, "typist", "operator", "typist-password")
        stream = (chunk.decode() for chunk in client_signed_in_as(app).get(f"/rooms/{room_id}/events", buffered=False).response)
        assert "event: snapshot" in next(stream)
        return stream

    try:
        app = create_app({"TESTING": True, "REDIS_URL": url, "SECRET_KEY": SECRET_KEY})
        before = open_page(app)
        proc.kill()
        proc.wait(10)
        assert all("event: update" not in chunk for chunk in before), "the page's stream ends"

        proc = subprocess.Popen([redis_server_binary(), "--port", url.rsplit(":", 1)[1].split("/")[0], "--bind", "127.0.0.1",
                                 "--save", "", "--appendonly", "no", "--dir", str(tmp_path)], stdout=subprocess.DEVNULL)
        wait_until_up(url)
        after = open_page(app)  # Redis is empty again: the room and the user anew
        rooms.update(app.redis, room_id, status="live")
        assert '"status": "live"' in next(chunk for chunk in after if "event: update" in chunk)
    finally:
        proc.kill()
        proc.wait(10)
