"""API tokens per user or per system: made and revoked by an admin, scoped, stored hashed, stopped at once."""

from __future__ import annotations

import hashlib
import hmac
import json
import re

import pytest
import requests

from callchat import audit
from tests.conftest import ADMIN, API_TOKEN, OPERATOR, ChatUser, page_csrf

CALLEE = "+819055556666"


def make_token(admin: ChatUser, name: str, scope: str, owner: str = "system") -> str:
    """Make a token on the admin page, as an admin would; return it as the page shows it, once."""
    page = admin.http.get(f"{admin.base}/admin/tokens")
    made = admin.http.post(f"{admin.base}/admin/tokens", data={
        "csrf_token": page_csrf(page.text), "name": name, "scope": scope, "owner": owner})
    assert made.status_code == 200, made.text
    return re.search(r'id="new-token" readonly value="([^"]+)"', made.text).group(1)


def token_id(token: str) -> str:
    """The id part of `cc_<id>_<secret>`."""
    return token.split("_")[1]


def token_row(admin: ChatUser, row_id: str) -> str:
    """The text of a token's row on the admin page (by token id), tags stripped, spaces squeezed."""
    page = admin.http.get(f"{admin.base}/admin/tokens").text
    row = re.search(rf'<tr data-token="{row_id}">(.*?)</tr>', page, re.S).group(1)
    return " ".join(re.sub(r"<[^>]+>", " ", row).split())


def revoke_on_page(admin: ChatUser, token: str) -> requests.Response:
    page = admin.http.get(f"{admin.base}/admin/tokens")
    return admin.http.post(f"{admin.base}/admin/tokens/{token_id(token)}/revoke",
                           data={"csrf_token": page_csrf(page.text)})


def test_a_calls_token_places_a_call_but_cannot_open_sessions_and_its_use_shows(stack):
    admin = stack.signed_in(*ADMIN)
    token = make_token(admin, "monitoring", "calls")
    assert re.fullmatch(r"cc_[0-9a-f]{16}_[A-Za-z0-9_-]{43}", token)
    assert "never" in token_row(admin, token_id(token))

    placed = stack.api("POST", "/api/calls", token=token, json={"to": CALLEE, "say": "サーバー停止"})
    assert placed.status_code == 202, placed.text
    stack.settle()
    assert [h["text"] for h in stack.sim.phone(CALLEE).heard() if h["kind"] == "say"] == ["サーバー停止"]
    assert stack.api("GET", f"/api/calls/{placed.json()['id']}", token=token).json()["outcome"] == "reached"

    for method, path, body in (("POST", "/api/sessions", {"user": "u1", "a": CALLEE, "b": "+819011112222"}),
                               ("GET", "/api/sessions/anything", None)):
        refused = stack.api(method, path, token=token, json=body)
        assert refused.status_code == 403, (method, path)
        assert refused.headers["WWW-Authenticate"] == 'Bearer error="insufficient_scope", scope="sessions"'
        assert "'sessions' scope" in refused.json()["error"]
    assert not stack.redis.keys("session:*"), "no session was opened"

    row = token_row(admin, token_id(token))
    assert "never" not in row and re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", row) and "works" in row
    used = [e for e in audit.entries(stack.redis, newest_first=False) if e["action"] == "token-used"]
    assert [(e["actor"], e["method"], e["path"]) for e in used][0] == ("token:monitoring", "POST", "/api/calls")
    assert all(e["token"] == token_id(token) and e["owner"] == "system" for e in used)


def test_a_revoked_token_stops_at_once(stack):
    admin = stack.signed_in(*ADMIN)
    token = make_token(admin, "billing", "calls sessions")
    assert stack.api("GET", "/api/sessions/nope", token=token).status_code == 404, "the token works"
    assert stack.api("GET", "/api/calls/nope", token=token).status_code == 404
    revoked = revoke_on_page(admin, token)
    assert "is revoked" in revoked.text
    for path in ("/api/calls/nope", "/api/sessions/nope"):
        answer = stack.api("GET", path, token=token)
        assert answer.status_code == 401 and answer.headers["WWW-Authenticate"].startswith("Bearer")
        assert "revoked" in answer.json()["error"]
    assert token_row(admin, token_id(token)).startswith("billing system calls sessions")
    assert "revoked" in token_row(admin, token_id(token)) and "Revoke" not in token_row(admin, token_id(token))
    trail = [(e["action"], e["actor"]) for e in audit.entries(stack.redis, newest_first=False)]
    assert ("token-created", ADMIN[0]) in trail and ("token-revoked", ADMIN[0]) in trail


def disable_on_admin_page(stack, username):
    admin = stack.signed_in(*ADMIN)
    page = admin.http.get(f"{stack.url}/admin/")
    admin.http.post(f"{stack.url}/admin/users/{username}/disable", data={"csrf_token": page_csrf(page.text)})


def disable_with_the_cli(stack, username):
    assert stack.app.test_cli_runner().invoke(args=["users", "disable", username]).exit_code == 0


@pytest.mark.parametrize("disable", [disable_on_admin_page, disable_with_the_cli])
def test_a_token_owned_by_a_user_stops_at_once_when_they_are_disabled(stack, disable):
    token = make_token(stack.signed_in(*ADMIN), "typist's script", "sessions", owner=OPERATOR[0])
    assert stack.api("GET", "/api/sessions/nope", token=token).status_code == 404, "the token works"
    disable(stack, OPERATOR[0])
    answer = stack.api("GET", "/api/sessions/nope", token=token)
    assert answer.status_code == 401 and answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert f"belongs to {OPERATOR[0]}, who is disabled" in answer.json()["error"]
    assert stack.api("POST", "/api/sessions", token=token,
                     json={"user": "u1", "a": CALLEE, "b": "+819011112222"}).status_code == 401
    assert f"stopped: {OPERATOR[0]} is disabled" in token_row(stack.signed_in(*ADMIN), token_id(token))


def test_an_operator_cannot_see_make_or_revoke_tokens(stack):
    token = make_token(stack.signed_in(*ADMIN), "kept", "calls")
    page = stack.user.http.get(f"{stack.url}/rooms/")
    for method, path in (("GET", "/admin/tokens"), ("POST", "/admin/tokens"),
                         ("POST", f"/admin/tokens/{token_id(token)}/revoke")):
        answer = stack.user.http.request(method, f"{stack.url}{path}", data={
            "csrf_token": page_csrf(page.text), "name": "mine", "scope": "calls", "owner": "system"})
        assert answer.status_code == 403 and "Only an admin" in answer.text, (method, path)
        assert "kept" not in answer.text
    assert len(stack.redis.zrange("apitokens", 0, -1)) == 1, "no token made"
    assert stack.api("GET", "/api/calls/nope", token=token).status_code == 404, "not revoked"
    assert "API tokens" not in stack.user.http.get(f"{stack.url}/rooms/").text


def redis_dump(r) -> str:
    """Every key and every value in Redis, as one string."""
    parts = []
    for key in r.scan_iter("*"):
        kind = r.type(key)
        value = {"hash": r.hgetall, "string": r.get, "set": r.smembers, "stream": lambda k: r.xrange(k),
                 "zset": lambda k: r.zrange(k, 0, -1, withscores=True), "list": lambda k: r.lrange(k, 0, -1)}[kind](key)
        parts.append(f"{key} {value!r}")
    return "\n".join(parts)


def test_only_a_hash_of_the_token_is_stored(stack):
    page_token = make_token(stack.signed_in(*ADMIN), "hashed", "calls")
    cli = stack.app.test_cli_runner()
    made = cli.invoke(args=["tokens", "create", "from the cli", "--scope", "calls", "--scope", "sessions"])
    assert made.exit_code == 0 and "not shown again" in made.stderr
    cli_token = made.stdout.strip()
    for token in (page_token, cli_token):
        assert stack.api("GET", "/api/calls/nope", token=token).status_code == 404, "the token works"
        everything = redis_dump(stack.redis)
        secret = token.split("_", 2)[2]
        assert secret not in everything and secret[:16] not in everything
        stored = stack.redis.hget(f"apitoken:{token_id(token)}", "hash")
        assert stored == hashlib.sha256(token.encode()).hexdigest()
    assert page_token not in stack.signed_in(*ADMIN).http.get(f"{stack.url}/admin/tokens").text, "shown once"


def test_the_tokens_command_makes_lists_and_revokes(stack):
    cli = stack.app.test_cli_runner()
    made = cli.invoke(args=["tokens", "create", "nightly", "--scope", "calls", "--owner", OPERATOR[0]])
    assert made.exit_code == 0, made.output
    token = made.stdout.strip()
    assert stack.api("GET", "/api/calls/nope", token=token).status_code == 404
    listed = cli.invoke(args=["tokens", "list"]).stdout
    made_id = token_id(token)
    assert re.search(rf"^{made_id}\tnightly\t{OPERATOR[0]}\tcalls\tworks\t\d{{4}}-.* UTC$", listed, re.M), listed
    refused = cli.invoke(args=["tokens", "create", "x", "--scope", "calls", "--owner", "nobody"])
    assert refused.exit_code == 1 and "'nobody' is not" in refused.stderr
    assert cli.invoke(args=["tokens", "revoke", made_id]).exit_code == 0
    assert stack.api("GET", "/api/calls/nope", token=token).status_code == 401
    assert f"{made_id}\tnightly\t{OPERATOR[0]}\tcalls\trevoked" in cli.invoke(args=["tokens", "list"]).stdout
    assert cli.invoke(args=["tokens", "revoke", "0123456789abcdef"]).exit_code == 1


def test_api_token_keeps_working_beside_the_tokens_and_the_api_is_off_only_without_either(stack):
    stack.app.config["API_TOKEN"] = ""
    off = stack.api("GET", "/api/calls/nope", token="anything")
    assert off.status_code == 503 and "API_TOKEN" in off.json()["error"]
    token = make_token(stack.signed_in(*ADMIN), "first", "calls")
    assert stack.api("GET", "/api/calls/nope", token="anything").status_code == 401, "on, once a token exists"
    assert stack.api("GET", "/api/calls/nope", token=token).status_code == 404
    stack.app.config["API_TOKEN"] = API_TOKEN
    for path in ("/api/calls/nope", "/api/sessions/nope"):
        assert stack.api("GET", path).status_code == 404, "API_TOKEN: a system token with both scopes"
    assert stack.api("GET", "/api/sessions/nope", token=token).status_code == 403
    row = token_row(stack.signed_in(*ADMIN), "API_TOKEN")
    assert "API_TOKEN system calls sessions" in row and "never" not in row


def test_reads_are_audited_once_a_minute_and_every_change_each_time(stack):
    token = make_token(stack.signed_in(*ADMIN), "poller", "calls")
    for _ in range(3):
        stack.api("GET", "/api/calls/nope", token=token)
    for _ in range(2):
        stack.api("DELETE", "/api/calls/nope", token=token)
    trail = audit.entries(stack.redis, newest_first=False)
    used = [(e["method"], e["path"]) for e in trail if e["action"] == "token-used"]
    assert used == [("GET", "/api/calls/nope"), ("DELETE", "/api/calls/nope"), ("DELETE", "/api/calls/nope")]


def test_outcomes_of_calls_placed_with_a_token_are_signed_with_its_sha256(stack, receiver, monkeypatch):
    stack.app.config["STATUS_CALLBACK_ALLOW_PRIVATE"] = True  # the receiver listens on 127.0.0.1
    monkeypatch.setenv("STATUS_CALLBACK_ALLOW_PRIVATE", "true")
    token = make_token(stack.signed_in(*ADMIN), "signed", "calls")
    stack.sim.phone(CALLEE).script(["busy"])
    placed = stack.api("POST", "/api/calls", token=token, json={
        "to": CALLEE, "say": "x", "max_attempts": 1, "status_callback": f"{receiver.url}/outcome"})
    assert placed.status_code == 202, placed.text
    stack.settle()
    [sent] = receiver.received
    key = hashlib.sha256(token.encode()).hexdigest().encode()
    assert sent["signature"] == hmac.new(key, sent["body"], hashlib.sha256).hexdigest()
    assert sent["signature"] != hmac.new(API_TOKEN.encode(), sent["body"], hashlib.sha256).hexdigest()
    body = json.loads(sent["body"])
    assert body["outcome"] == "not reached" and body["api_token"] == token_id(token)


def test_a_bad_name_scope_or_owner_is_refused_on_the_page(stack):
    admin = stack.signed_in(*ADMIN)
    stack.app.test_cli_runner().invoke(args=["users", "disable", OPERATOR[0]])
    for name, scope, owner, reason in (("", "calls", "system", "This field is required"),
                                       ("x" * 65, "calls", "system", "between 1 and 64"),
                                       ("ok", "everything", "system", "Not a valid choice"),
                                       ("ok", "calls", OPERATOR[0], "Not a valid choice")):
        page = admin.http.get(f"{stack.url}/admin/tokens")
        answer = admin.http.post(f"{stack.url}/admin/tokens", data={
            "csrf_token": page_csrf(page.text), "name": name, "scope": scope, "owner": owner})
        assert answer.status_code == 400 and reason in answer.text, (name, scope, owner)
        assert 'id="new-token"' not in answer.text
    assert not stack.redis.exists("apitokens")
