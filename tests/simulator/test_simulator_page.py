"""The simulator's phone page in a real browser (Debian's Chromium; the ``page`` fixture is
in tests/conftest.py): a phone on a call says something from its box, and the page shows
it said, who heard it, and the keys a phone received."""

from __future__ import annotations

import os
from pathlib import Path

from tests.simulator.conftest import CALLEE, CALLER, NUMBER, SETTLE, join_room

#: Where the screenshot goes; people look at it after a run.
SCREENSHOT = Path(os.environ.get("SCREENSHOT_DIR", "/tmp")) / "simulator-phones.png"
MENU = "+815055551234"


def test_a_phone_says_something_from_the_phone_page(sim, app, twilio, server, page):
    from playwright.sync_api import expect

    caller, _ = join_room(sim, app, CALLER, CALLEE)
    sim.phone(MENU).menu("Press 1 for sales.", {"1": "Sales here."})
    twilio.calls.create(to=MENU, from_=NUMBER, twiml='<Response><Play digits="1"/></Response>')
    assert sim.settle(SETTLE) == []
    page.goto(server.url)

    box = page.get_by_label(f"say on {caller}")
    box.fill("もしもし、聞こえますか")
    page.locator("form.say", has=box).get_by_role("button", name="Say").click()
    def card(number: str):
        return page.locator("section.phone",
                            has=page.get_by_role("heading", name=number, exact=True))

    caller_card = card(CALLER)
    expect(caller_card.locator("h3", has_text="Said")).to_be_visible()
    expect(caller_card).to_contain_text(f"heard by {CALLEE}")
    assert sim.settle(SETTLE) == []
    assert [(h["text"], h["speaker"]) for h in sim.phone(CALLEE).heard()
            if h["source"] == "phone"] == [("もしもし、聞こえますか", CALLER)]
    callee_card = card(CALLEE)
    expect(callee_card).to_contain_text(f"{CALLER}: もしもし、聞こえますか")
    menu_card = card(MENU)
    expect(menu_card.locator(".digits")).to_have_text("1")
    expect(menu_card).to_contain_text("1: Sales here.")
    page.screenshot(path=str(SCREENSHOT), full_page=True)
