"""The admins' live board: each operator's state and for how long, calls waiting and whom they are offered to, calls
in progress and who answered them, today's figures; updated over its stream as calls arrive and are accepted.

Operators are online while one of their pages holds a live stream (the `desk` fixture's operators); calls come
from the simulator's phones to the Twilio number, which `desk.team` maps to the team.
"""

from __future__ import annotations

import html
import json
import os
import re
from pathlib import Path
from typing import Callable

from callchat import operators, routing
from tests.conftest import ADMIN, CALLER, TWILIO_NUMBER, ChatUser
from tests.test_streams import Page  # reads a live stream's blocks as EventSource does

#: Where the board's screenshots go (ja and en, desk and phone); people look at them after a run.
SCREENSHOTS = Path(os.environ.get("SCREENSHOT_DIR", "/tmp"))


class Board(Page):
    """The admin's live board, its stream read as EventSource reads it, and the board as its latest event shows it."""

    def __init__(self, admin: ChatUser) -> None:
        """Open the board's stream (not a room's, as `Page.__init__` does) and read its snapshot."""
        self.response = admin.http.get(f"{admin.base}/admin/board/events", stream=True, timeout=10)
        assert self.response.status_code == 200, self.response.text
        self.lines = self.response.iter_lines(decode_unicode=True)
        first = self.next()
        assert first["event"] == "snapshot"
        self.html = json.loads(first["data"])["html"]["board"]

    @property
    def text(self) -> str:
        """The board as a person reads it: tags stripped, spaces squeezed."""
        return text_of(self.html)

    def until(self, shown: Callable[[str], bool], most: int = 20) -> str:
        """Read the board's updates until `shown(text)` is true of one (at most `most` updates); return that text."""
        for _ in range(most):
            if shown(self.text):
                return self.text
            block = self.next()
            assert block is not None, "the board's stream ended"
            if block["event"] == "update":
                data = json.loads(block["data"])
                assert data["type"] == "board" and data["now"] > 0
                self.html = data["html"]
        raise AssertionError(f"the board never showed it; it shows: {self.text}")


def text_of(markup: str) -> str:
    """Markup as a person reads it: tags stripped, entities read, spaces squeezed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", markup)).split())


def call(stack, caller: str = CALLER) -> str:
    """The caller's phone calls the Twilio number; the room id once the stack settled."""
    room_id = stack.sim.phone(caller).call(TWILIO_NUMBER)
    stack.settle()
    return room_id


def test_a_call_waits_on_the_board_then_shows_who_answered_it_and_todays_figures(stack, desk):
    desk.team("Support", ["alice"])
    alice = desk.operator("alice")  # her room list is open: she is available
    admin = stack.signed_in(*ADMIN)
    board = Board(admin)
    assert re.search(r"alice available for 0:0\d", board.text)
    assert "Answered today 0 Missed today 0 Average wait 0:00" in board.text
    assert "No call is waiting." in board.text and "No call is in progress." in board.text

    room_id = call(stack)
    shown = board.until(lambda text: "offered to" in text)
    assert re.search(rf"Waiting Call from {re.escape(CALLER)} waiting for 0:0\d offered to alice \(", shown)
    assert "alice available for" in shown and "being offered a call" in shown
    assert "data-until=" in board.html  # the offer's countdown, which live.js counts down

    assert alice.accept(room_id).status_code == 200
    shown = board.until(lambda text: "answered by alice" in text)
    assert re.search(rf"alice busy for 0:0\d Call from {re.escape(CALLER)}", shown)
    assert "No call is waiting." in shown and "Answered today 1 Missed today 0" in shown
    assert f'href="/rooms/{room_id}"' in board.html
    page = text_of(admin.http.get(f"{stack.url}/admin/board").text)  # the page itself shows the same
    assert "answered by alice" in page and "alice busy for" in page

    stack.sim.hang_up(room_id)
    stack.settle()
    shown = board.until(lambda text: "alice wrap-up for" in text)
    assert "No call is in progress." in shown
    board.close()


def test_a_call_nobody_is_free_for_waits_and_counts_as_missed_when_the_caller_hangs_up(stack, desk):
    desk.team("Support", ["alice"])  # who has no page open: offline
    admin = stack.signed_in(*ADMIN)
    board = Board(admin)
    assert re.search(r"alice offline (Waiting|$)", board.text)  # offline: no "for how long"

    room_id = call(stack)
    shown = board.until(lambda text: "nobody free" in text)
    assert f"Call from {CALLER} waiting for" in shown

    stack.sim.hang_up(room_id)
    stack.settle()
    shown = board.until(lambda text: "Missed today 1" in text)
    assert "No call is waiting." in shown and "Answered today 0" in shown
    board.close()


def test_a_change_that_shows_nothing_new_sends_nothing(stack, desk):
    desk.team("Support", ["alice"])
    board = Board(stack.signed_in(*ADMIN))
    stack.redis.publish(operators.BOARD_CHANNEL, json.dumps({"type": "teams"}))  # nothing on the board changed
    operators.save_team(stack.redis, "Sales")
    block = board.next()
    assert block["event"] == "update" and "Sales" in json.loads(block["data"])["html"]
    board.close()


def test_the_board_says_how_to_start_when_there_is_no_team(stack):
    admin = stack.signed_in(*ADMIN)
    page = admin.http.get(f"{stack.url}/admin/board").text
    assert "No operators yet: add teams on the Teams page" in text_of(page)
    assert 'href="/admin/teams"' in page
    japanese = admin.http.get(f"{stack.url}/admin/board", headers={"Accept-Language": "ja"}).text
    assert "担当者はまだいません" in text_of(japanese)


def test_the_board_in_a_browser_with_two_operators_in_two_states(stack, desk, page):
    """Issue 13's acceptance (the board's part): the admin's board shows one operator busy in a call and one away,
    a call waiting that nobody is free for, and updates live when its caller hangs up; screenshots of the board and
    the Teams page in Japanese and English, on a desk and on a phone."""
    from playwright.sync_api import expect

    desk.team("Support", ["alice", "bob"])
    people = {"alice": desk.operator("alice"), "bob": desk.operator("bob")}  # both online, available
    room_id = call(stack)
    busy = routing.offer(stack.redis, room_id)["operators"][0]
    away = next(name for name in people if name != busy)
    assert people[busy].accept(room_id).status_code == 200
    assert people[away].user.post("/operators/presence", {"state": "away"}).status_code == 200
    waiting = call(stack, "+819087654321")  # one is busy, the other away: nobody is free for it

    browser = page.context.browser
    for language, texts in (("ja", {"busy": "話し中", "away": "離席中", "title": "ライブボード", "nobody free": "対応できる人がいません"}),
                            ("en", {"busy": "busy", "away": "away", "title": "Live board", "nobody free": "nobody free"})):
        for size, viewport in (("desk", {"width": 1100, "height": 720}), ("phone", {"width": 390, "height": 844})):
            context = browser.new_context(locale={"ja": "ja-JP", "en": "en-US"}[language], viewport=viewport,
                                          extra_http_headers={"Accept-Language": language})
            tab = context.new_page()
            if language == "en":
                stack.sign_in_browser(tab, *ADMIN)
            else:
                _sign_in_ja(stack, tab)
            tab.goto(f"{stack.url}/admin/board")
            expect(tab.locator("h1")).to_have_text(texts["title"])
            row = tab.locator(f'[data-operator="{busy}"]')
            expect(row.locator(".badge")).to_have_text(texts["busy"])
            expect(row.locator(".elapsed")).to_have_text(re.compile(r"^\d+:\d\d$"))
            expect(row.get_by_role("link")).to_have_attribute("href", f"/rooms/{room_id}")
            expect(tab.locator(f'[data-operator="{away}"] .badge')).to_have_text(texts["away"])
            expect(tab.locator(".in-progress")).to_contain_text(busy)
            expect(tab.locator(f'.waiting [data-room="{waiting}"]')).to_contain_text(texts["nobody free"])
            tab.screenshot(path=str(SCREENSHOTS / f"callchat-board-{language}-{size}.png"), full_page=True)
            if (language, size) == ("en", "phone"):  # the waiting caller hangs up while the board is open: it shows live
                stack.sim.hang_up(waiting)
                stack.settle()
                expect(tab.locator(f'[data-room="{waiting}"]')).to_have_count(0)
                expect(tab.locator("#board-missed")).to_have_text("1")
            tab.goto(f"{stack.url}/admin/teams")
            tab.screenshot(path=str(SCREENSHOTS / f"callchat-teams-{language}-{size}.png"), full_page=True)
            context.close()


def _sign_in_ja(stack, tab) -> None:
    """Sign the admin in on a page shown in Japanese."""
    tab.goto(f"{stack.url}/signin")
    tab.get_by_label("ユーザー名").fill(ADMIN[0])
    tab.get_by_label("パスワード").fill(ADMIN[1])
    tab.get_by_role("button", name="サインイン").click()
    tab.wait_for_url(f"{stack.url}/rooms/")
