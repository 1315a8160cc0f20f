"""Japanese and English: every marked string has its Japanese, no template text is left unmarked,
pages follow the user's choice, else Accept-Language, and what a phone hears follows the ROOM's language.

The catalog check extracts the strings as `make messages` does (`pybabel extract -F babel.cfg`) into a
temporary .pot and reads `translations/ja/LC_MESSAGES/messages.po` (python-babel.github.io/babel/cmdline.html).
"""

from __future__ import annotations

import gettext
import html
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
import requests
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po
from babel.support import Translations
from jinja2 import Environment

from callchat import i18n, rooms, voices
from callchat.settings import DEFAULTS
from tests.conftest import ADMIN, API_TOKEN, CALLER, OPERATOR, POOL, ROOT, TWILIO_NUMBER, ChatUser, page_csrf

#: The templates whose text the bare-text scan reads (globs under templates/): every one.
SCANNED_TEMPLATES = ("**/*.html",)
#: Words that are the same in every language: the product's name, formats, the sessions' A/B columns, and the
#: names of keys as keyboards print them (the room page's shortcuts: Alt+Shift+H).
SAME_IN_EVERY_LANGUAGE = {"callchat", "CSV", "JSON", "HTTP", "A", "B", "Alt", "Shift", "Enter", "H", "K"}
#: An example address in a placeholder (an audio URL) reads the same in every language.
_URL = re.compile(r"https?://\S+")

#: Attributes a person reads or hears, by element (`*`: any element); `value` where it is a button's words
#: (`<input type=submit|button|reset>`; a `<button>` shows its content, not its value).
READ_ATTRIBUTES = {"*": ("title", "placeholder", "aria-label", "alt"), "input": ("value",)}
#: Where Python's text placeholders (%(name)s) sit in a msgid or msgstr.
PLACEHOLDER = re.compile(r"%\((\w+)\)[sdr]")
#: Where the screenshots go; people look at them after a run (as tests/test_browser.py's).
SCREENSHOTS = Path(os.environ.get("SCREENSHOT_DIR", "/tmp"))
TYPING_NOTICE_SECONDS = DEFAULTS["TYPING_NOTICE_SECONDS"]
PYBABEL = str(Path(sys.executable).parent / "pybabel")


# --- the catalog ---------------------------------------------------------------------------------------------

def extract(folder: Path, mapping: Path, into: Path) -> Catalog:
    """The strings marked in `folder`'s files, extracted by `pybabel extract -F mapping` into the .pot `into`."""
    subprocess.run([PYBABEL, "extract", "-F", str(mapping), "--keyword", "stored", "-o", str(into), str(folder)], cwd=folder,
                   check=True, capture_output=True)
    with into.open("rb") as pot:
        return read_po(pot)


def untranslated(extracted: Catalog, po: Catalog) -> list[str]:
    """The msgids of `extracted` that `po` lacks, leaves empty or fuzzy, or translates with other placeholders."""
    missing = []
    for message in extracted:
        if not message.id:
            continue
        found = po.get(message.id)
        strings = found.string if found is not None else ""
        strings = strings if isinstance(strings, tuple) else (strings,)
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        if (found is None or found.fuzzy or not all(strings)
                or any(set(PLACEHOLDER.findall(s)) != set(PLACEHOLDER.findall(ids[0])) for s in strings)):
            missing.append(ids[0])
    return missing


def japanese() -> Catalog:
    with i18n.catalog("ja").open("rb") as po:
        return read_po(po, locale="ja")


def test_every_marked_string_has_its_japanese(tmp_path):
    extracted = extract(ROOT, ROOT / "babel.cfg", tmp_path / "messages.pot")
    assert len(extracted) > 150, "the extraction found the templates' and Python's strings"
    assert untranslated(extracted, japanese()) == [], "translate these in translations/ja/LC_MESSAGES/messages.po"


def test_a_marked_but_untranslated_template_string_is_found(tmp_path):
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "new.html").write_text('<p>{{ _("Sign in") }}</p><p>{{ _("A sentence nobody translated") }}</p>')
    (tmp_path / "babel.cfg").write_text("[jinja2: templates/**.html]\n")
    extracted = extract(tmp_path, tmp_path / "babel.cfg", tmp_path / "messages.pot")
    assert untranslated(extracted, japanese()) == ["A sentence nobody translated"]


def test_a_translation_that_drops_a_placeholder_counts_as_untranslated():
    extracted, po = Catalog(), Catalog(locale="ja")
    extracted.add("Calling %(number)s")
    po.add("Calling %(number)s", "発信中")
    assert untranslated(extracted, po) == ["Calling %(number)s"]


# --- bare text in templates ----------------------------------------------------------------------------------

class _TextFinder(HTMLParser):
    """Collects text a person reads (text nodes, `READ_ATTRIBUTES`, a meta description) that has words in it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self.skipping: list[str] = []  # open <script>, <style>, <code>, <kbd>: not prose

    def _check(self, text: str) -> None:
        words = set(re.findall(r"[^\W\d_]+", _URL.sub(" ", text.replace("\x00", " ")))) - SAME_IN_EVERY_LANGUAGE
        if words:
            self.found.append(" ".join(text.replace("\x00", "…").split()))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        names = READ_ATTRIBUTES["*"] + READ_ATTRIBUTES.get(tag, ())
        if tag == "input" and values.get("type") not in ("submit", "button", "reset"):
            names = READ_ATTRIBUTES["*"]
        if tag == "meta" and values.get("name") == "description":
            names += ("content",)
        for name in names:
            if values.get(name):
                self._check(values[name])
        if tag in ("script", "style", "code", "kbd"):
            self.skipping.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if self.skipping and self.skipping[-1] == tag:
            self.skipping.pop()

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self._check(data)


def bare_text(source: str) -> list[str]:
    """The user-visible text of Jinja template `source` that is not inside `_()` or `{% trans %}`.

    Jinja's own lexer splits the template: its tags and expressions become a placeholder (`\\x00`), and so
    does everything between `{% trans %}` and `{% endtrans %}`; what is left is the template's literal
    HTML, whose text nodes and read attributes must then hold no words.
    """
    kept, in_trans, after_block_begin = [], False, False
    for _, kind, value in Environment(extensions=["jinja2.ext.i18n"]).lex(source):
        if kind == "whitespace":
            continue
        if after_block_begin and kind == "name":
            in_trans = {"trans": True, "endtrans": False}.get(value, in_trans)
        after_block_begin = kind == "block_begin"
        if kind == "data" and not in_trans:
            kept.append(value)
        elif not kept or kept[-1] != "\x00":
            kept.append("\x00")
    finder = _TextFinder()
    finder.feed("".join(kept))
    finder.close()
    return finder.found


def scanned_templates() -> list[Path]:
    return sorted({path for pattern in SCANNED_TEMPLATES for path in (ROOT / "templates").glob(pattern)})


def test_no_template_has_bare_user_visible_text():
    found = {str(path.relative_to(ROOT)): bare_text(path.read_text()) for path in scanned_templates()}
    assert len(found) >= 15
    assert {path: texts for path, texts in found.items() if texts} == {}, "mark these with _() or {% trans %}"


def test_the_scan_finds_a_bare_string_and_a_bare_attribute():
    snippet = """{% extends "base.html" %}{% block content %}
      <h1>{{ _("Sign in") }}</h1>
      <p>{% trans user=name %}Hello {{ user }}{% endtrans %}</p>
      <p>Type your name</p>
      <input type="text" placeholder="e.g. Taro" aria-label="{{ _('Name') }}">
      <button type="submit" title="Send it" name="action" value="send">{{ _("Send") }}</button>
      <input type="submit" value="Go">
      <script>const notText = "ok";</script> <code>make run</code> <span>callchat · CSV</span>
    {% endblock %}"""
    assert bare_text(snippet) == ["Type your name", "e.g. Taro", "Send it", "Go"]


# --- the build compiles the catalogs -------------------------------------------------------------------------

def test_herokus_post_compile_hook_compiles_the_catalogs(tmp_path):
    """Heroku's Python buildpack runs bin/post_compile after installing requirements.txt (heroku-buildpack-python,
    bin/steps/hooks/post_compile); the slug then holds the .mo files git does not."""
    build = tmp_path / "build"
    shutil.copytree(ROOT / "bin", build / "bin")
    shutil.copytree(ROOT / "translations", build / "translations", ignore=shutil.ignore_patterns("*.mo"))
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    done = subprocess.run([str(build / "bin" / "post_compile")], cwd=build, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    ja = gettext.translation("messages", str(build / "translations"), languages=["ja"])
    assert ja.gettext("Sign in") == "サインイン"
    assert subprocess.run(["git", "check-ignore", "-q", "translations/ja/LC_MESSAGES/messages.mo"], cwd=ROOT).returncode == 0, \
        "compiled catalogs are not committed"


def test_a_start_without_compiled_catalogs_compiles_them(tmp_path):
    shutil.copytree(ROOT / "translations", tmp_path / "translations", ignore=shutil.ignore_patterns("*.mo"))
    assert i18n.ensure_compiled(tmp_path / "translations") == ["ja"]
    assert i18n.ensure_compiled(tmp_path / "translations") == [], "up to date: nothing to do"
    ja = gettext.translation("messages", str(tmp_path / "translations"), languages=["ja"])
    assert ja.gettext("Your account") == "アカウント"


def test_a_missing_catalog_stops_the_start_naming_it(tmp_path):
    (tmp_path / "translations").mkdir()
    with pytest.raises(RuntimeError, match=r"the ja catalog .*messages\.po is missing"):
        i18n.ensure_compiled(tmp_path / "translations")


# --- pages ---------------------------------------------------------------------------------------------------

def test_pages_and_errors_follow_accept_language(stack):
    person = ChatUser(stack.url)
    japanese_page = person.http.get(f"{stack.url}/signin", headers={"Accept-Language": "ja,en;q=0.5"})
    assert '<html lang="ja">' in japanese_page.text and "<h1>サインイン</h1>" in japanese_page.text
    english_page = person.http.get(f"{stack.url}/signin", headers={"Accept-Language": "en-GB,ja;q=0.5"})
    assert '<html lang="en">' in english_page.text and "<h1>Sign in</h1>" in english_page.text
    neither = person.http.get(f"{stack.url}/signin", headers={"Accept-Language": "fr"})
    assert '<html lang="ja">' in neither.text, "DEFAULT_LOCALE (ja) when the browser asks for neither"

    gone = f"{stack.url}/rooms/CA{'0' * 32}/state"
    refused = stack.user.http.get(gone, headers={"Accept": "application/json"})
    assert refused.status_code == 404 and refused.json()["error"].startswith("There is no such room")
    refused = stack.user.http.get(gone, headers={"Accept": "application/json", "Accept-Language": "ja"})
    assert refused.status_code == 404
    assert refused.json() == {"error": "その部屋はありません。通話が終了し、履歴の保存期間が過ぎた可能性があります。"}
    page = stack.user.http.get(f"{stack.url}/rooms/CA{'0' * 32}", headers={"Accept-Language": "ja"})
    assert page.status_code == 404 and "<h1>見つかりません</h1>" in page.text, "the error page's title too"


def test_a_refused_country_is_named_in_the_readers_language_not_by_its_setting(stack):
    english = stack.api("POST", "/api/calls", json={"to": "+1 212 555 0100", "say": "hi"})
    assert english.json()["error"] == "callchat is not set up to call numbers in United States."
    japanese_answer = requests.post(f"{stack.url}/api/calls", timeout=10, json={"to": "+1 212 555 0100", "say": "hi"},
                                headers={"Authorization": f"Bearer {API_TOKEN}", "Accept-Language": "ja"})
    assert japanese_answer.json()["error"] == "callchat はアメリカ合衆国の番号に発信するよう設定されていません。"


def test_voices_are_shown_by_name_language_and_kind(stack):
    room_id = stack.call_in()

    def offered(page: str) -> dict[str, str]:
        """The voice menu's options (each voice of every language: `<option value=voice data-language=…>label`)."""
        return {voice: html.unescape(label.strip()) for voice, label in
                re.findall(r'<option value="([^"]+)" data-language="[^"]+"[^>]*>([^<]*)</option>', page)}

    english = stack.user.open_room(room_id).text
    assert offered(english)["Polly.Mizuki"] == "Mizuki (Japanese, female)"
    assert offered(english)["Polly.Kazuha-Neural"] == "Kazuha (Japanese, female, natural)"
    stack.user.http.headers["Accept-Language"] = "ja"
    japanese_room = stack.user.open_room(room_id).text
    assert offered(japanese_room)["Polly.Mizuki"] == "Mizuki（日本語、女性）"
    assert offered(japanese_room)["Polly.Amy"] == "Amy（英語（英国）、女性）"
    assert ">日本語</option>" in japanese_room and ">ゆっくり</option>" in japanese_room, "languages' and speeds' names"


def test_the_language_chosen_on_the_account_page_wins_over_accept_language(stack):
    person = stack.signed_in(*OPERATOR)
    person.http.headers["Accept-Language"] = "en"
    account = person.http.get(f"{stack.url}/account")
    assert '<html lang="en">' in account.text and "Language of the pages" in account.text
    chosen = person.http.post(f"{stack.url}/account", data={"csrf_token": page_csrf(account.text), "locale": "ja"})
    assert chosen.status_code == 200 and '<html lang="ja">' in chosen.text, "the browser still asks for English"
    assert "表示言語を保存しました。" in chosen.text
    assert '<option selected value="ja">' in chosen.text
    assert stack.redis.hget(f"user:{OPERATOR[0]}", "locale") == "ja"
    assert '<html lang="ja">' in person.http.get(f"{stack.url}/rooms/").text

    back = person.http.post(f"{stack.url}/account", data={"csrf_token": page_csrf(chosen.text), "locale": ""})
    assert '<html lang="en">' in back.text and "Your language is saved." in back.text, "the browser's choice again"

    refused = person.http.post(f"{stack.url}/account", data={"csrf_token": page_csrf(back.text), "locale": "fr"})
    assert refused.status_code == 400 and "Not a valid choice" in refused.text
    assert stack.redis.hget(f"user:{OPERATOR[0]}", "locale") == ""


def test_sign_in_account_and_room_list_in_japanese_and_in_english_in_a_browser(stack, page):
    from playwright.sync_api import expect

    browser = page.context.browser
    for language, texts in (("ja", {"title": "サインイン", "username": "ユーザー名", "password": "パスワード",
                                    "nav": "通話", "account": "アカウント", "language": "表示言語",
                                    "sign_out": "サインアウト", "signed_out": "サインアウトしました。"}),
                            ("en", {"title": "Sign in", "username": "Username", "password": "Password", "nav": "Calls",
                                    "account": "Your account", "language": "Language of the pages",
                                    "sign_out": "Sign out", "signed_out": "You are signed out."})):
        context = browser.new_context(locale={"ja": "ja-JP", "en": "en-US"}[language], viewport={"width": 1100, "height": 720})
        tab = context.new_page()
        tab.goto(f"{stack.url}/signin")
        expect(tab.locator("html")).to_have_attribute("lang", language)
        expect(tab.locator("h1")).to_have_text(texts["title"])
        tab.get_by_label(texts["username"]).fill(OPERATOR[0])
        tab.get_by_label(texts["password"]).fill(OPERATOR[1])
        tab.screenshot(path=str(SCREENSHOTS / f"callchat-signin-{language}.png"), full_page=True)
        tab.get_by_role("button", name=texts["title"]).click()
        tab.wait_for_url(f"{stack.url}/rooms/")
        expect(tab.locator("html")).to_have_attribute("lang", language)
        expect(tab.locator("nav").get_by_role("link", name=texts["nav"], exact=True)).to_be_visible()
        tab.screenshot(path=str(SCREENSHOTS / f"callchat-rooms-{language}.png"), full_page=True)

        tab.goto(f"{stack.url}/account")
        expect(tab.locator("h1")).to_have_text(texts["account"])
        expect(tab.get_by_label(texts["language"])).to_have_value("")
        tab.screenshot(path=str(SCREENSHOTS / f"callchat-account-{language}.png"), full_page=True)
        tab.get_by_role("button", name=texts["sign_out"]).click()
        expect(tab.locator(".notice")).to_have_text(texts["signed_out"])
        context.close()


# --- what a phone hears: the room's language -----------------------------------------------------------------

@pytest.mark.parametrize("language, voice", [("ja-JP", "Polly.Mizuki"), ("en-US", "Polly.Joanna")])
def test_the_greeting_is_in_the_rooms_language_whatever_the_page_shows(stack, language, voice):
    stack.app.config.update(SAY_LANGUAGE=language, SAY_VOICE=voice)
    stack.call_in()
    heard = [h["text"] for h in stack.sim.phone(CALLER).heard() if h["kind"] == "say"]
    assert heard[0] == voices.NOTICES["greeting"][language[:2]]


@pytest.mark.parametrize("language, voice", [("ja-JP", "Polly.Mizuki"), ("en-US", "Polly.Joanna")])
def test_a_masked_number_outside_a_session_refuses_in_the_configured_language(stack, language, voice):
    stack.sim.add_number(POOL[0], voice_url=f"{stack.url}/voice/incoming")
    stack.app.config.update(SAY_LANGUAGE=language, SAY_VOICE=voice, MASKING_BACKEND="builtin", PROXY_NUMBERS=POOL[0])
    stranger = "+819077776666"
    stack.sim.phone(stranger).call(POOL[0])
    stack.settle()
    heard = [h["text"] for h in stack.sim.phone(stranger).heard() if h["kind"] == "say"]
    assert heard == [voices.NOTICES["not_connected"][language[:2]]]


def test_every_spoken_prompt_exists_in_every_language():
    assert {kind: sorted(texts) for kind, texts in voices.NOTICES.items()} == {
        kind: sorted(i18n.LOCALES) for kind in voices.NOTICES}


def test_a_greeting_setting_replaces_it_in_every_language(stack):
    stack.app.config["GREETING"] = "Hello from the setting"
    stack.call_in()
    assert [h["text"] for h in stack.sim.phone(CALLER).heard() if h["kind"] == "say"][0] == "Hello from the setting"


def test_callchats_own_number_is_refused_in_japanese_without_naming_its_setting(stack):
    answer = requests.post(f"{stack.url}/api/calls", timeout=10, json={"to": TWILIO_NUMBER, "say": "hi"},
                       headers={"Authorization": f"Bearer {API_TOKEN}", "Accept-Language": "ja"})
    assert answer.json()["error"] == f"{TWILIO_NUMBER} は callchat 自身の番号です。callchat から自分自身に発信することはできません。"


def test_the_typing_notice_is_in_the_rooms_language_though_the_typists_page_is_japanese(stack):
    stack.app.config.update(SAY_LANGUAGE="en-US", SAY_VOICE="Polly.Joanna")
    room_id = stack.call_in()
    stack.user.http.headers["Accept-Language"] = "ja"
    stack.user.open_room(room_id)
    assert stack.user.post(f"/rooms/{room_id}/typing", {}).status_code == 204
    stack.pass_time(TYPING_NOTICE_SECONDS, "say_typing_notice")
    heard = [h["text"] for h in stack.sim.phone(CALLER).heard() if h["kind"] == "say"]
    assert heard == ["Thank you for calling. Someone will answer you by typing. Please hold on.",
                     "I am typing a reply. Please wait a moment."]


@pytest.mark.parametrize("language, voice", [("ja-JP", "Polly.Mizuki"), ("en-US", "Polly.Joanna")])
def test_the_connect_notice_is_in_the_calls_language(stack, language, voice):
    callee = "+819055556666"
    created = requests.post(f"{stack.url}/api/calls", timeout=10, headers={"Authorization": f"Bearer {API_TOKEN}",
                            "Accept-Language": "ja" if language == "en-US" else "en"},
                            json={"to": callee, "chat": True, "language": language, "voice": voice})
    assert created.status_code == 202, created.text
    stack.settle()
    heard = [h["text"] for h in stack.sim.phone(callee).heard() if h["kind"] == "say"]
    assert heard == [voices.NOTICES["connect"][language[:2]]]


@pytest.mark.parametrize("path, title", [
    ("/account", "アカウント"), ("/phrases", "定型文"), ("/sessions/", "番号を伏せた通話"), ("/admin/", "ユーザー"),
    ("/admin/tokens", "API トークン"), ("/admin/audit", "監査ログ"), ("/signin/link/nothing", "見つかりません")])
def test_each_page_of_this_area_reads_in_japanese(stack, path, title):
    admin = stack.signed_in(*ADMIN)
    page = admin.http.get(f"{stack.url}{path}", headers={"Accept-Language": "ja"})
    assert '<html lang="ja">' in page.text
    assert re.search(r"<h1>\s*" + re.escape(title), page.text), page.text[:2000]
    # Left out: commands (<code>), the phrases typed (<textarea>) and machine names shown as such (the small print).
    visible = re.sub(r"<code>.*?</code>|<textarea.*?</textarea>|<span class=\"muted small\">.*?</span>|<[^>]+>", " ",
                     page.text.split("<main>", 1)[-1], flags=re.S)
    english = set(re.findall(r"\b[A-Za-z]{4,}\b", visible)) - SAME_IN_EVERY_LANGUAGE - {
        "typist", "boss", "conftest", "operator", "admin", "system", "calls", "sessions", "builtin", "password",
        "OpenAPI", "English"}  # usernames, roles, scopes, the masking backend, audit details: ids; a language's own name
    assert english == set(), "English left on a Japanese page"


def test_the_room_page_in_japanese_and_in_english_in_a_browser(stack, page):
    """Issue 12's acceptance: the room page follows Accept-Language (ja, en); its bubbles carry their text's lang."""
    from playwright.sync_api import expect

    room_id = stack.call_in()
    stack.user.open_room(room_id)
    stack.user.say(room_id, "少々お待ちください")
    stack.settle()
    browser = page.context.browser
    for language, texts in (("ja", {"username": "ユーザー名", "password": "パスワード", "sign_in": "サインイン",
                                    "title": "からの通話", "send": "送信", "spoken": "読み上げ済み", "hang_up": "通話を切る",
                                    "shortcuts": "キーボードショートカット"}),
                            ("en", {"username": "Username", "password": "Password", "sign_in": "Sign in",
                                    "title": "Call from", "send": "Send", "spoken": "spoken", "hang_up": "Hang up",
                                    "shortcuts": "Keyboard shortcuts"})):
        for size, viewport in (("desk", {"width": 1100, "height": 720}), ("phone", {"width": 390, "height": 844})):
            context = browser.new_context(locale={"ja": "ja-JP", "en": "en-US"}[language], viewport=viewport,
                                          extra_http_headers={"Accept-Language": language})
            tab = context.new_page()
            tab.goto(f"{stack.url}/signin")
            tab.get_by_label(texts["username"]).fill(OPERATOR[0])
            tab.get_by_label(texts["password"]).fill(OPERATOR[1])
            tab.get_by_role("button", name=texts["sign_in"]).click()
            tab.wait_for_url(f"{stack.url}/rooms/")
            tab.goto(f"{stack.url}/rooms/{room_id}")
            expect(tab.locator("html")).to_have_attribute("lang", language)
            expect(tab.locator("h1")).to_contain_text(texts["title"])
            expect(tab.get_by_role("button", name=texts["send"], exact=True)).to_be_visible()
            expect(tab.get_by_role("button", name=texts["hang_up"], exact=True)).to_be_attached()
            bubble = tab.locator("li.message", has_text="少々お待ちください")
            expect(bubble).to_have_attribute("lang", "ja-JP")
            expect(bubble.locator(".state")).to_have_text(texts["spoken"])
            expect(tab.get_by_text(texts["shortcuts"])).to_be_attached()
            tab.screenshot(path=str(SCREENSHOTS / f"callchat-room-{language}-{size}.png"), full_page=(size == "desk"))
            context.close()


def test_a_messages_stored_failure_shows_in_the_readers_language(stack):
    """callchat stores why a message failed in English (jobs/controls.py's HUNG_UP); the room page shows it in
    the reader's language. It showed the English to a Japanese page before."""
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    stack.interrupt(room_id, "hangup")
    # Why it failed: the hang-up from the chat (HUNG_UP), or, when the caller's call status callback ends the
    # room first, rooms.CALL_ENDED; either is stored in English.
    error = next(m["error"] for m in stack.user.state(room_id)["messages"] if m["state"] == "failed")
    japanese = stack.user.http.get(f"{stack.url}/rooms/{room_id}", headers={"Accept-Language": "ja"}).text
    english = stack.user.http.get(f"{stack.url}/rooms/{room_id}", headers={"Accept-Language": "en"}).text
    assert error in ("The call was hung up from the chat before this message was spoken.", rooms.CALL_ENDED)
    assert Translations.load(str(ROOT / "translations"), ["ja"]).gettext(error) in japanese
    assert error not in japanese
    assert error in english


def test_the_progress_page_of_an_unanswered_call_reads_in_japanese(stack):
    """Each attempt's status (Twilio's call status, e.g. no-answer) and why the call gave up show in the
    reader's language; they showed as stored, in English, before."""
    callee = "+819055556666"
    stack.sim.phone(callee).script(["no-answer", "no-answer", "no-answer"])
    created = stack.api("POST", "/api/calls", json={"to": callee, "chat": True, "retry_delay": 5, "max_attempts": 3})
    assert created.status_code == 202, created.text
    stack.settle(redials=True)
    call_id = created.json()["id"]
    assert stack.api("GET", f"/api/calls/{call_id}").json()["outcome"] == "not reached"
    japanese = stack.user.http.get(f"{stack.url}/calls/{call_id}", headers={"Accept-Language": "ja"}).text
    assert japanese.count("回目：応答なし") == 3
    assert "につながりませんでした：誰も応答しませんでした。" in japanese
    english = stack.user.http.get(f"{stack.url}/calls/{call_id}", headers={"Accept-Language": "en"}).text
    assert "Attempt 3: no answer" in english and "could not be reached: nobody answered." in english
