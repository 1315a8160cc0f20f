"""Every page and state passes axe-core 4.14.1 (pinned in tests/axe/package.json) with no violation of any impact,
light and dark, on a desk (1100×720) and on a phone (390×844): the `axe` fixture in conftest.py."""

from __future__ import annotations

import pytest

from tests.conftest import ADMIN, CALLER, OPERATOR_PASSWORD, TWILIO_NUMBER, open_session


def test_pages_without_a_call(stack, page, axe):
    axe.assert_clean(page, f"{stack.url}/signin")
    stack.sign_in_browser(page, *ADMIN)
    for path in ("/rooms/", "/account", "/phrases", "/admin/", "/admin/tokens", "/admin/audit", "/admin/teams", "/admin/board",
                 "/rooms/CA" + "0" * 32):
        axe.assert_clean(page, f"{stack.url}{path}")

    def expired_form(page):
        """A form posted with a token that is not the session's: 400, "Page expired"."""
        page.goto(f"{stack.url}/phrases")
        page.evaluate("document.querySelectorAll('input[name=csrf_token]').forEach((input) => { input.value = 'stale'; })")
        page.get_by_role("button", name="Save").click()
        page.wait_for_load_state()
        assert "HTTP 400" in page.locator("main").inner_text()

    axe.assert_clean(page, expired_form)


def test_the_room_list_and_a_room_in_every_state(stack, page, axe):
    room_id = stack.call_in()
    stack.sign_in_browser(page)
    room = f"{stack.url}/rooms/{room_id}"
    axe.assert_clean(page, f"{stack.url}/rooms/")
    axe.assert_clean(page, room)  # a lone caller, nothing said yet
    stack.user.open_room(room_id)

    stack.sim.phone(CALLER).say("もしもし、聞こえますか")  # a caption
    stack.interrupt(room_id, "stop")  # the second message is cleared while the first is being said
    state = stack.user.state(room_id)
    assert "failed" in [m["state"] for m in state["messages"]] and state["captions"]
    axe.assert_clean(page, room)

    stack.sim.phone("+819055556666").script(["answer"])
    assert stack.user.post(f"/rooms/{room_id}/calls", {"to": "090-5555-6666"}).status_code == 202
    stack.settle()
    stack.sim.phone("+819077778888").script(["no-answer", "answer"])
    assert stack.user.post(f"/rooms/{room_id}/calls", {"to": "090-7777-8888"}).status_code == 202
    stack.settle()
    state = stack.user.state(room_id)
    assert state["room"]["mode"] == "conference"
    assert "no answer" in [p["status"] for p in state["participants"]]
    axe.assert_clean(page, room)  # a conference, with someone being called in

    assert stack.user.post(f"/rooms/{room_id}/hangup", {}).status_code == 202
    stack.settle()
    assert stack.user.state(room_id)["room"]["status"] == "ended"
    axe.assert_clean(page, room)


def test_the_history_pages(stack, page, axe):
    """The history with ended calls, a search that finds nothing, the delete confirmation and the page after it
    (one call deleted for each of the four views `assert_clean` looks at)."""
    ended = []
    for n in range(5):
        room_id = stack.call_in(f"+8190111122{n:02d}")
        stack.user.open_room(room_id)
        stack.user.say(room_id, "履歴に残る言葉")
        stack.settle()
        assert stack.user.post(f"/rooms/{room_id}/hangup", {}).status_code == 202
        stack.settle()
        ended.append(room_id)
    stack.sign_in_browser(page)
    axe.assert_clean(page, f"{stack.url}/history/")
    axe.assert_clean(page, f"{stack.url}/history/?words=nothing-like-this&from=2026-01-01&to=2026-12-31")
    axe.assert_clean(page, f"{stack.url}/history/{ended[0]}/delete")

    def deleted(page):
        """Delete one more call through its confirmation: back on the history, with a notice."""
        page.goto(f"{stack.url}/history/{ended.pop()}/delete")
        page.get_by_role("button", name="Delete", exact=True).click()
        page.wait_for_url(f"{stack.url}/history/")
        assert "was deleted" in page.locator("main").inner_text()

    axe.assert_clean(page, deleted)


def test_the_outgoing_call_progress_page(stack, page, axe):
    stack.sim.phone("+819055556666").script(["no-answer", "no-answer", "no-answer"])
    stack.sign_in_browser(page)
    page.get_by_label("Their number").fill("090-5555-6666")
    page.get_by_role("button", name="Call", exact=True).click()
    page.wait_for_url(f"{stack.url}/calls/*")
    axe.assert_clean(page, page.url)


@pytest.mark.parametrize("masking", ["builtin"], indirect=True)
def test_the_masked_calling_sessions_page(masking, page, axe):
    open_session(masking, "order-1234", "090-1111-2222", "090-3333-4444")
    masking.sign_in_browser(page)
    axe.assert_clean(page, f"{masking.url}/sessions/")


def test_the_teams_page_and_the_live_board_with_operators_and_calls(stack, desk, page, axe):
    """A team with two operators, one busy in a call, one available, a second call waiting; a form's error shown."""
    desk.team("Support", ["alice", "bob"])
    alice, bob = desk.operator("alice"), desk.operator("bob")
    first = stack.sim.phone(CALLER).call(TWILIO_NUMBER)
    stack.settle()
    (alice if alice.offers() else bob).accept(first)
    stack.sim.phone("+819087654321").call(TWILIO_NUMBER)
    stack.settle()
    stack.sign_in_browser(page, *ADMIN)
    axe.assert_clean(page, f"{stack.url}/admin/board")
    axe.assert_clean(page, f"{stack.url}/admin/teams")
    axe.assert_clean(page, f"{stack.url}/admin/teams/delete?team=Support")

    def refused_number(page):
        """A number that is not one: the team's card shows the field's error (400)."""
        page.goto(f"{stack.url}/admin/teams")
        page.get_by_label("Twilio number").fill("call me")
        page.get_by_role("button", name="Map to this team").click()
        page.wait_for_load_state()
        assert "contains letters" in page.locator("main").inner_text()

    axe.assert_clean(page, refused_number)


def test_an_operators_pages_an_offer_a_team_call_and_a_missed_call(stack, desk, page, axe):
    """An offer card on the list and on the waiting room's page, the owner's room page (hand over, ask for help),
    the page of a call someone else answered, and a missed call's page and history row."""
    from playwright.sync_api import expect

    desk.configure(WRAP_UP_SECONDS=0)
    desk.team("support", ["op-a", "op-b"], strategy="ring-all")
    stack.sign_in_browser(page, "op-a", OPERATOR_PASSWORD)
    other = desk.operator("op-b")
    room_id = stack.sim.phone(CALLER).call(TWILIO_NUMBER)
    stack.settle()
    other.offered(room_id)
    room = f"{stack.url}/rooms/{room_id}"
    axe.assert_clean(page, f"{stack.url}/rooms/")
    axe.assert_clean(page, room)
    page.goto(f"{stack.url}/rooms/")
    page.locator(f"#offer-{room_id}").get_by_role("button", name="Accept").click()
    page.wait_for_url(room)
    axe.assert_clean(page, room)  # the owner's page, with Hand over and Ask for help
    owner = desk.operator("op-a")
    owner.user.open_room(room_id)
    assert owner.user.post(f"/rooms/{room_id}/transfer", {"to": "op-b"}).status_code == 200
    expect(page.locator("#gate")).to_be_visible()  # the page reloaded itself without the message box
    axe.assert_clean(page, room)  # someone else's call
    assert other.user.post(f"/rooms/{room_id}/hangup", {}).status_code == 202
    stack.settle()

    missed = desk.leave_a_message("+819022223333", "田中と申します。請求書の件でお電話しました。折り返しください。")
    axe.assert_clean(page, f"{stack.url}/rooms/{missed}")
    axe.assert_clean(page, f"{stack.url}/history/")
