"""Quick phrases: each typist's own, one click (or Alt+1…9) to speak one into the call."""

from __future__ import annotations

from callchat import phrases
from callchat.settings import DEFAULTS
from tests.conftest import CALLER, GREETING, OPERATOR, page_csrf


def said(stack) -> list[str]:
    """What the caller heard after the greeting."""
    return [h["text"] for h in stack.sim.phone(CALLER).heard() if h["kind"] == "say" and h["text"] != GREETING]


def save(stack, text: str, **extra):
    page = stack.user.http.get(f"{stack.url}/phrases")
    return stack.user.http.post(f"{stack.url}/phrases", data={"text": text, "csrf_token": page_csrf(page.text), **extra})


def test_a_new_typist_has_the_default_phrases_in_japanese_and_english_on_the_room_page(stack):
    room_id = stack.call_in()
    page = stack.user.open_room(room_id).text
    for phrase in ("はい", "少々お待ちください", "もう一度お願いします", "Thank you"):
        assert f'data-text="{phrase}"' in page
    assert 'aria-keyshortcuts="Alt+1"' in page


def test_phrases_are_added_edited_reordered_and_deleted_one_per_line(stack):
    assert save(stack, "お待たせしました\n\n  はい \nはい\n折り返します").status_code == 200  # after the redirect
    assert phrases.get(stack.redis, OPERATOR[0]) == ["お待たせしました", "はい", "折り返します"]
    room_id = stack.call_in()
    page = stack.user.open_room(room_id).text
    assert page.index('data-text="お待たせしました"') < page.index('data-text="はい"') < page.index('data-text="折り返します"')
    assert 'data-text="いいえ"' not in page
    assert save(stack, "", action="defaults").status_code == 200
    assert phrases.get(stack.redis, OPERATOR[0]) == list(phrases.DEFAULTS)


def test_too_many_or_too_long_phrases_are_refused_with_the_reason_and_nothing_is_saved(stack):
    too_many = save(stack, "\n".join(f"phrase {n}" for n in range(phrases.MAX_PHRASES + 1)))
    assert too_many.status_code == 400 and f"at most {phrases.MAX_PHRASES}" in too_many.text
    too_long = save(stack, "ok\n" + "あ" * (phrases.MAX_LENGTH + 1))
    assert too_long.status_code == 400 and "Phrase 2" in too_long.text
    assert phrases.get(stack.redis, OPERATOR[0]) == list(phrases.DEFAULTS)


def test_a_phrase_added_in_the_browser_is_spoken_with_one_click_and_with_alt_1(stack, page):
    from playwright.sync_api import expect

    room_id = stack.call_in()
    stack.sign_in_browser(page, *OPERATOR)
    page.goto(f"{stack.url}/phrases")
    box = page.get_by_label("Your phrases, one per line")
    box.fill("すぐに折り返します\n" + box.input_value())
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".notice")).to_contain_text("Saved")
    page.goto(f"{stack.url}/rooms/{room_id}")
    page.get_by_role("button", name="少々お待ちください").click()
    expect(page.locator("#messages")).to_contain_text("少々お待ちください")
    stack.settle()
    page.keyboard.press("Alt+1")
    expect(page.locator("#messages")).to_contain_text("すぐに折り返します")
    stack.settle()
    assert said(stack) == ["少々お待ちください", "すぐに折り返します"]
