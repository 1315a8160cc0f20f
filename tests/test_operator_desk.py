"""The operator's side of the pages (issue 13): the presence control, a call offered with a countdown and Accept,
the offer taken by someone else, a team call's room page for a reader who may not type, and handing a call over
or asking for help from the room page. Real browsers (Debian's Chromium), the real simulator's calls to a number
mapped to a team, signed webhooks; what the caller's phone heard is the proof.
"""

from __future__ import annotations

import os
from pathlib import Path

from callchat import operators
from callchat.voices import notice
from tests.conftest import ADMIN, OPERATOR_PASSWORD, TWILIO_NUMBER

CALLER = "+819011110001"
#: Where the two operators' pages and the admins' board are shot; people look at them after a run.
SCREENSHOTS = Path(os.environ.get("SCREENSHOT_DIR", "/tmp"))


def said_to(stack, caller: str = CALLER) -> list[str]:
    """What the caller's phone heard said, in order."""
    return [h["text"] for h in stack.sim.phone(caller).heard() if h["kind"] == "say"]


def open_desk(stack, page, username: str):
    """`page` (a new browser context's) signs in as operator `username` and shows the room list."""
    stack.sign_in_browser(page, username, OPERATOR_PASSWORD)
    from playwright.sync_api import expect

    expect(page.locator("#presence [data-choose=available]")).to_have_attribute("aria-pressed", "true")
    return page


def second_browser(page):
    """A second browser context (its own cookies: another person), as the `page` fixture's."""
    return page.context.browser.new_page(viewport={"width": 1100, "height": 720}, locale="en-US")


def two_offered(stack, desk, page):
    """Team support rings all: op-a (in `page`) and op-b (a second browser) show the room list; a call comes in.
    Returns (op-a's page, op-b's page, the room id)."""
    desk.team("support", ["op-a", "op-b"], strategy="ring-all")
    first, other = open_desk(stack, page, "op-a"), open_desk(stack, second_browser(page), "op-b")
    room_id = stack.sim.phone(CALLER).call(TWILIO_NUMBER)
    stack.settle()
    return first, other, room_id


def test_two_operators_one_accepts_the_offer_and_types_the_other_sees_it_taken(stack, desk, page):
    from playwright.sync_api import expect

    first, other, room_id = two_offered(stack, desk, page)

    for shown in (first, other):
        card = shown.locator(f"#offers[aria-live=assertive] #offer-{room_id}")
        expect(card).to_contain_text(f"Call from {CALLER}")
        expect(card).to_contain_text("team support")
        expect(card.locator("[data-until]")).to_contain_text("s to accept")
        expect(shown.locator(f"#room-{room_id} .answers")).to_have_text("Waiting for an operator")
        expect(shown.locator("#incoming")).to_be_empty()  # the offer replaces the incoming-call notice
    first.locator(f"#offer-{room_id}").get_by_role("button", name="Accept").click()
    first.wait_for_url(f"{stack.url}/rooms/{room_id}")
    expect(first.locator("#room-answers")).to_have_text("Answered by op-a")
    expect(first.locator("#presence")).to_contain_text("In a call")

    expect(other.locator(f"#offer-{room_id}")).to_have_text("Taken by op-a")
    other.screenshot(path=str(SCREENSHOTS / "callchat-offer-taken.png"))
    expect(other.locator(f"#offer-{room_id}")).to_have_count(0, timeout=15000)  # the card goes after a few seconds
    expect(other.locator(f"#room-{room_id} .answers")).to_have_text("Answered by op-a")
    first.screenshot(path=str(SCREENSHOTS / "callchat-offer-accepted.png"))

    board = second_browser(page)  # an admin, a third person
    stack.sign_in_browser(board, *ADMIN)
    board.goto(f"{stack.url}/admin/board")
    expect(board.locator('[data-operator="op-a"]')).to_have_attribute("data-state", "busy")
    expect(board.locator('[data-operator="op-a"]')).to_contain_text("busy")
    expect(board.locator('[data-operator="op-b"]')).to_have_attribute("data-state", "available")
    expect(board.locator('[data-operator="op-b"]')).to_contain_text("available")
    expect(board.locator("#board-answered")).to_have_text("1")
    board.screenshot(path=str(SCREENSHOTS / "callchat-board-two-operators.png"), full_page=True)

    first.get_by_role("textbox", name="Message").fill("お待たせしました")
    first.get_by_role("textbox", name="Message").press("Enter")
    expect(first.locator("#messages")).to_contain_text("お待たせしました")  # the post's answer, before any job ran
    stack.settle()
    expect(first.locator("#messages li .state")).to_have_text(["spoken", "spoken"])  # "answered", then typed
    assert said_to(stack)[-2:] == [notice("answered", "ja-JP"), "お待たせしました"]

    other.goto(f"{stack.url}/rooms/{room_id}")
    expect(other.locator("#room-answers")).to_have_text("Answered by op-a")
    expect(other.locator("#gate")).to_contain_text("Only the operator who answered this call")
    expect(other.get_by_role("textbox", name="Message")).to_have_count(0)
    refused = other.evaluate("""async (url) => {
        const r = await fetch(url, {method: "POST", headers: {"Content-Type": "application/json", Accept: "application/json",
            "X-CSRFToken": document.querySelector('meta[name="csrf-token"]').content}, body: JSON.stringify({text: "横から"})});
        return [r.status, (await r.json()).error]; }""", f"/rooms/{room_id}/messages")
    assert refused == [403, "op-a answered this call; ask them to bring you in."]
    assert "横から" not in said_to(stack)


def test_an_offered_operator_accepts_from_the_room_page_and_the_other_page_reloads_with_who_answered(stack, desk, page):
    from playwright.sync_api import expect

    first, other, room_id = two_offered(stack, desk, page)
    for shown in (first, other):
        shown.goto(f"{stack.url}/rooms/{room_id}")
        expect(shown.locator("#room-answers")).to_have_text("Waiting for an operator")
    other.locator("#gate").get_by_role("button", name="Accept").click()
    expect(other.get_by_role("textbox", name="Message")).to_be_visible()
    expect(first.locator("#room-answers")).to_have_text("Answered by op-b")
    expect(first.locator("#gate [data-accept]")).to_have_count(0)
    expect(first.get_by_role("textbox", name="Message")).to_have_count(0)


def test_presence_away_and_back(stack, desk, page):
    from playwright.sync_api import expect

    desk.team("support", ["op-a"])
    shown = open_desk(stack, page, "op-a")
    shown.get_by_role("button", name="Away").click()
    expect(shown.get_by_role("button", name="Away")).to_have_attribute("aria-pressed", "true")
    assert operators.record(stack.redis, "op-a")["state"] == "away"
    room_id = stack.sim.phone(CALLER).call(TWILIO_NUMBER)
    stack.settle()
    expect(shown.locator(f"#room-{room_id} .answers")).to_have_text("Waiting for an operator")
    expect(shown.locator("#offers .offer")).to_have_count(0)
    shown.get_by_role("button", name="Available").click()
    expect(shown.get_by_role("button", name="Available")).to_have_attribute("aria-pressed", "true")
    expect(shown.locator(f"#offer-{room_id}")).to_contain_text(f"Call from {CALLER}")


def test_a_user_in_no_team_sees_no_desk(stack, page):
    from playwright.sync_api import expect

    stack.sign_in_browser(page)
    expect(page.locator("#rooms")).to_be_attached()
    expect(page.locator("#desk")).to_have_count(0)


def test_the_owner_asks_for_help_then_hands_the_call_over_the_caller_hears_only_typing(stack, desk, page):
    from playwright.sync_api import expect

    desk.configure(WRAP_UP_SECONDS=0)
    desk.team("support", ["op-a", "op-b", "op-c"], strategy="ring-all")  # longest-idle: whose page connected first
    owner = open_desk(stack, page, "op-a")
    helper, successor = desk.operator("op-b"), open_desk(stack, second_browser(page), "op-c")
    room_id = stack.sim.phone(CALLER).call(TWILIO_NUMBER)
    stack.settle()
    owner.locator(f"#offer-{room_id}").get_by_role("button", name="Accept").click()
    owner.wait_for_url(f"{stack.url}/rooms/{room_id}")
    stack.settle()

    form = owner.locator("#handover")
    expect(form.get_by_label("Operator").locator("option")).to_have_text(["op-b", "op-c"])
    form.get_by_label("Operator").select_option("op-b")
    form.get_by_role("button", name="Ask for help").click()
    expect(owner.locator("#room-answers")).to_have_text("Answered by op-a · Helping: op-b")
    assert helper.wait_for(lambda e: e.get("type") == "assigned")["role"] == "helper"
    helper.user.open_room(room_id)
    assert helper.user.say(room_id, "お手伝いします").status_code == 202

    form.get_by_label("Operator").select_option("op-b")
    form.get_by_role("button", name="Hand over").click()
    expect(form.locator(".error")).to_have_text("op-b is not available right now.")  # busy helping
    form.get_by_label("Operator").select_option("op-c")
    form.get_by_role("button", name="Hand over").click()
    expect(owner.locator("#room-answers")).to_have_text("Answered by op-c · Helping: op-b")
    expect(owner.get_by_role("textbox", name="Message")).to_have_count(0)  # the page reloaded without the message box
    expect(owner.locator("#presence")).to_contain_text("Available")

    notice_ = successor.locator(f"#assigned-{room_id}")
    expect(notice_).to_contain_text("op-a handed you a call")
    notice_.get_by_role("link", name="Open the call").click()
    successor.get_by_role("textbox", name="Message").fill("引き継ぎました")
    successor.get_by_role("textbox", name="Message").press("Enter")
    expect(successor.locator("#messages")).to_contain_text("引き継ぎました")  # the post's answer, before any job ran
    stack.settle()
    expect(successor.locator("#messages li .state")).to_have_text(["spoken"] * 3)
    assert said_to(stack)[-3:] == [notice("answered", "ja-JP"), "お手伝いします", "引き継ぎました"], said_to(stack)
