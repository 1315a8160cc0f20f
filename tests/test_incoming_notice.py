"""A new incoming call is noticed on an open list or room page: the title counts it, an assertive live
region says it with a link to its room, and a desktop notification shows when allowed. The call is a
real one: a simulator phone calls the Twilio number, and the simulator posts callchat's signed webhooks.
`window.Notification` (the browser's API) is replaced by a recorder before the page loads."""

from __future__ import annotations

import pytest

from tests.conftest import CALLER

#: In place of the browser's Notification API: permission granted, each notification recorded.
RECORD_NOTIFICATIONS = """
window.shown = [];
window.Notification = class {
  static permission = "granted";
  static requestPermission() { return Promise.resolve("granted"); }
  constructor(title, options) { window.shown.push({ title, body: options.body }); }
};
"""
OTHER = "+819022223333"


@pytest.fixture
def noticing(page):
    """The `page`, recording the notifications it shows (`window.shown`)."""
    page.add_init_script(RECORD_NOTIFICATIONS)
    return page


def test_an_open_list_page_notices_an_incoming_call(stack, noticing):
    from playwright.sync_api import expect

    stack.sign_in_browser(noticing)
    expect(noticing.locator("#empty")).to_be_visible()
    expect(noticing.locator("#notify-ask")).to_be_hidden()  # already granted: nothing to ask
    room_id = stack.call_in(OTHER)

    expect(noticing).to_have_title("(1) Incoming call · callchat")
    line = noticing.locator("#incoming[aria-live=assertive]")
    expect(line).to_have_text(f"Incoming call from {OTHER}")
    expect(line.get_by_role("link")).to_have_attribute("href", f"/rooms/{room_id}")
    expect(noticing.locator("#rooms li")).to_have_count(1)
    expect(noticing.locator("#empty")).to_be_hidden()
    assert noticing.evaluate("window.shown") == [{"title": "Incoming call", "body": f"Incoming call from {OTHER}"}]


def test_an_open_room_page_notices_another_incoming_call_but_not_its_own_changes(stack, noticing):
    from playwright.sync_api import expect

    room_id = stack.call_in()
    stack.sign_in_browser(noticing)
    noticing.goto(f"{stack.url}/rooms/{room_id}")
    expect(noticing.locator("#room-status")).to_have_text("live")
    stack.user.open_room(room_id)
    assert stack.user.say(room_id, "少々お待ちください").status_code == 202
    stack.settle()
    expect(noticing.locator("#messages li .state")).to_have_text(["spoken"])
    assert noticing.evaluate("window.shown") == [], "the room's own changes are not an incoming call"

    other = stack.call_in(OTHER)
    expect(noticing).to_have_title("(1) Incoming call · callchat")
    expect(noticing.locator("#incoming a")).to_have_attribute("href", f"/rooms/{other}")
    assert [n["body"] for n in noticing.evaluate("window.shown")] == [f"Incoming call from {OTHER}"]
    assert CALLER not in noticing.locator("#incoming").inner_text()


def test_the_list_page_asks_for_notifications_only_when_clicked(stack, page):
    from playwright.sync_api import expect

    page.add_init_script("""
      window.asked = 0;
      window.Notification = class {
        static permission = "default";
        static requestPermission() { window.asked += 1; window.Notification.permission = "granted"; return Promise.resolve("granted"); }
      };
    """)
    stack.sign_in_browser(page)
    ask = page.locator("#notify-ask button")
    expect(ask).to_be_visible()
    assert page.evaluate("window.asked") == 0, "never asked unprompted"
    ask.click()
    expect(ask).to_be_hidden()
    assert page.evaluate("window.asked") == 1


def test_on_a_phone_the_notice_can_be_dismissed_and_gives_the_navigation_back(stack, noticing):
    """Bug: at phone width the notice stayed over the header's navigation until the next page load."""
    from playwright.sync_api import expect

    noticing.set_viewport_size({"width": 390, "height": 844})
    stack.sign_in_browser(noticing)
    expect(noticing.locator("#empty")).to_be_visible()
    room_id = stack.call_in(OTHER)
    line = noticing.locator("#incoming")
    expect(line).to_have_text(f"Incoming call from {OTHER}")
    dismiss = noticing.get_by_role("button", name="Dismiss")
    dismiss.click()
    expect(line).to_be_empty()
    expect(dismiss).to_be_hidden()
    noticing.get_by_role("link", name="Phrases").click(timeout=2000)  # nothing covers it now
    expect(noticing).to_have_url(f"{stack.url}/phrases")
    noticing.go_back()
    expect(noticing.locator(f"#rooms a[href='/rooms/{room_id}']")).to_be_visible()
