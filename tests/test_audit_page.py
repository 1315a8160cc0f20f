"""The audit trail: messages, dials and cancels are recorded (never the words or the full number), and an admin
reads, filters, pages through and downloads them; an operator cannot."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from datetime import datetime, timedelta, timezone

import pytest

from callchat import audit
from tests.conftest import ADMIN, CALLER, OPERATOR

CALLEE = "+819055556666"
SECRET_WORDS = "the safe's code is 4711"


def rows(page) -> list[tuple[str, str]]:
    """(action, text of the row) of every entry row on an audit page, top to bottom."""
    return [(action, re.sub(r"<[^>]+>", " ", cells)) for action, cells in
            re.findall(r'<tr data-action="([^"]+)">(.*?)</tr>', page.text, re.S)]


def day(offset: int = 0) -> str:
    return (datetime.now(timezone.utc) + timedelta(days=offset)).strftime("%Y-%m-%d")


@pytest.fixture
def typed_dialed_cancelled(stack):
    """A room where the typist said something, called CALLEE in and stopped the call; returns (room id, call id)."""
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    assert stack.user.say(room_id, SECRET_WORDS).status_code == 202
    stack.sim.phone(CALLEE).script(["no-answer"])
    call = stack.user.post(f"/rooms/{room_id}/calls", {"to": CALLEE, "retry_delay": 600}).json()
    stack.settle()  # the first attempt was not answered; the next waits 600 s
    assert stack.user.post(f"/rooms/{room_id}/calls/{call['id']}/cancel", {}).status_code == 200
    stack.settle()
    return room_id, call["id"]


def test_messages_dials_and_cancels_are_recorded_without_the_words_or_the_number(stack, typed_dialed_cancelled):
    room_id, call_id = typed_dialed_cancelled
    trail = [e for e in audit.entries(stack.redis, newest_first=False) if e["action"] in ("message", "dial", "cancel")]
    assert [(e["action"], e["actor"], e["room"]) for e in trail] == [
        ("message", OPERATOR[0], room_id), ("dial", OPERATOR[0], room_id), ("cancel", OPERATOR[0], room_id)]
    message = stack.user.state(room_id)["messages"][0]
    assert trail[0]["message"] == str(message["id"]) and trail[0]["kind"] == "say"
    assert trail[1]["call"] == call_id == trail[2]["call"]
    assert trail[1]["to"] == "+8190••••6666"
    stored = json.dumps(list(audit.entries(stack.redis)), ensure_ascii=False)
    assert SECRET_WORDS not in stored and CALLEE not in stored


def test_api_dials_and_cancels_are_recorded_with_the_token_as_actor(stack):
    call = stack.api("POST", "/api/calls", json={"to": CALLEE, "say": "hello", "retry_delay": 600}).json()
    stack.api("DELETE", f"/api/calls/{call['id']}")
    trail = [(e["action"], e["actor"], e["call"]) for e in audit.entries(stack.redis, newest_first=False)
             if e["action"] in ("dial", "cancel")]
    assert trail == [("dial", "token:API_TOKEN", call["id"]), ("cancel", "token:API_TOKEN", call["id"])]


def test_an_admin_reads_the_trail_newest_first_and_filters_it(stack, typed_dialed_cancelled):
    room_id, call_id = typed_dialed_cancelled
    admin = stack.signed_in(*ADMIN)
    page = admin.http.get(f"{stack.url}/admin/audit")
    assert page.status_code == 200
    shown = rows(page)
    assert [action for action, _ in shown] == ["signin", "cancel", "dial", "message", "signin"]
    action, text = shown[2]
    assert "someone was called into a room" in text and OPERATOR[0] in text and f"call: {call_id}" in text
    assert "+8190••••6666" in text and CALLEE not in page.text and SECRET_WORDS not in page.text

    only_dials = admin.http.get(f"{stack.url}/admin/audit", params={"action": "dial"})
    assert [action for action, _ in rows(only_dials)] == ["dial"]
    assert [len(rows(admin.http.get(f"{stack.url}/admin/audit", params=dates))) for dates in (
        {"from": day(), "to": day()}, {"from": day(1)}, {"to": day(-1)})] == [5, 0, 0]
    refused = admin.http.get(f"{stack.url}/admin/audit", params={"from": "yesterday"})
    assert refused.status_code == 400 and "YYYY-MM-DD" in refused.text


def test_the_trail_is_shown_a_hundred_entries_a_page(stack):
    for n in range(130):
        audit.record(stack.redis, "signin-failed", "anonymous", 3600, address="192.0.2.1", username=f"guess{n:03d}")
    admin = stack.signed_in(*ADMIN)
    first = admin.http.get(f"{stack.url}/admin/audit", params={"action": "signin-failed"})
    assert len(rows(first)) == 100 and "username: guess129" in rows(first)[0][1]
    older = re.search(r'href="([^"]+)" rel="next"', first.text).group(1).replace("&amp;", "&")
    second = admin.http.get(f"{stack.url}{older}")
    assert [text.split("username: ")[1].split()[0] for _, text in rows(second)] == [f"guess{n:03d}" for n in range(29, -1, -1)]
    assert 'rel="next"' not in second.text and ">Newest<" in second.text


def test_an_operator_can_neither_read_nor_download_the_trail(stack):
    for path in ("/admin/audit", "/admin/audit.csv", "/admin/audit.json"):
        response = stack.user.http.get(f"{stack.url}{path}")
        assert response.status_code == 403 and "Only an admin" in response.text, path


def test_the_downloads_hold_the_filtered_entries(stack, typed_dialed_cancelled):
    room_id, call_id = typed_dialed_cancelled
    audit.record(stack.redis, "signin-failed", "anonymous", 3600, address="192.0.2.1", username="=HYPERLINK(\"x\")")
    admin = stack.signed_in(*ADMIN)
    exported = admin.http.get(f"{stack.url}/admin/audit.csv")
    assert exported.headers["Content-Disposition"].startswith('attachment; filename="callchat-audit-')
    table = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert [r["action"] for r in table] == ["signin", "signin-failed", "cancel", "dial", "message", "signin"]
    dial = table[3]
    assert dial["meaning"] == "someone was called into a room" and dial["actor"] == OPERATOR[0]
    assert f"call={call_id}" in dial["details"] and "to=+8190••••6666" in dial["details"]
    assert datetime.fromisoformat(dial["time"]).timestamp() == pytest.approx(time.time(), abs=300)
    assert table[1]["details"] == "username==HYPERLINK(\"x\")", "a detail cell starts with its name, never '='"

    only_dials = admin.http.get(f"{stack.url}/admin/audit.json", params={"action": "dial", "from": day()})
    assert only_dials.headers["Content-Disposition"].endswith('.json"')
    entries = only_dials.json()["entries"]
    assert [(e["action"], e["call"], e["to"], e["room"]) for e in entries] == [("dial", call_id, "+8190••••6666", room_id)]
    assert CALLER not in exported.text + only_dials.text and CALLEE not in exported.text + only_dials.text


def test_a_formula_in_a_column_of_its_own_is_made_text(stack):
    audit.record(stack.redis, "signin", "-1+1", 3600, address="@SUM(A1)")
    admin = stack.signed_in(*ADMIN)
    table = list(csv.reader(io.StringIO(admin.http.get(f"{stack.url}/admin/audit.csv").content.decode("utf-8-sig"))))
    assert table[2][3:5] == ["'-1+1", "'@SUM(A1)"]


def test_the_audit_page_in_a_browser(stack, typed_dialed_cancelled, page, tmp_path):
    refused = []  # what the Content-Security-Policy blocked, as Chromium reports it on the console
    page.on("console", lambda message: refused.append(message.text) if "Content Security Policy" in message.text else None)
    stack.sign_in_browser(page, *ADMIN)
    page.goto(f"{stack.url}/admin/")
    page.get_by_role("link", name="Audit trail").click()
    assert page.get_by_role("heading", name="Audit trail").is_visible()
    assert page.locator("tr[data-action]").count() == 5
    page.screenshot(path=str(tmp_path / "audit-all.png"), full_page=True)
    page.get_by_label("Action").select_option("dial")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(re.compile(r"action=dial"))
    assert page.locator("tr[data-action]").count() == 1
    with page.expect_download() as download:
        page.get_by_role("link", name="CSV").click()
    assert download.value.suggested_filename.endswith(".csv")
    page.screenshot(path=str(tmp_path / "audit-dials.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 800})
    page.screenshot(path=str(tmp_path / "audit-phone.png"), full_page=True)
    assert refused == []
