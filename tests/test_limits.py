"""Rate limits: failed sign-ins per account and per address, messages and dials per user, API requests per token.

Every limit is read from the app's config at each request, so a test sets its own with
`stack.app.config.update`; the addresses are told apart by `X-Forwarded-For` (PROXY_HOPS=1).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from app import create_app
from callchat import audit
from callchat.settings import SettingError
from tests.conftest import ADMIN, API_TOKEN, CALLER, OPERATOR, SECRET_KEY, ChatUser, page_csrf

CALLEES = [f"+8190555566{i:02d}" for i in range(3)]


@pytest.fixture
def stack_config(stack_config):
    """The usual stack behind one proxy hop, so that each test client can say which address it comes from."""
    return dict(stack_config, PROXY_HOPS=1)


def person_at(stack, address: str) -> ChatUser:
    """Someone at `address`, not signed in."""
    person = ChatUser(stack.url)
    person.http.headers["X-Forwarded-For"] = address
    return person


def sign_in(person: ChatUser, username: str, password: str) -> requests.Response:
    """Post the sign-in form; return the answer without following a redirect."""
    form = person.http.get(f"{person.base}/signin")
    return person.http.post(f"{person.base}/signin", allow_redirects=False,
                            data={"csrf_token": page_csrf(form.text), "username": username, "password": password})


def test_ten_wrong_passwords_give_429s_and_an_audit_entry_and_the_right_one_works_after_the_window(stack):
    stack.app.config["SIGNIN_LIMIT_PER_ACCOUNT"] = "5 per 15 seconds"  # ten scrypt checks fit in it on a loaded machine
    guesser = person_at(stack, "203.0.113.5")
    answers = [sign_in(guesser, OPERATOR[0], f"guess {n}") for n in range(10)]
    assert [a.status_code for a in answers] == [401] * 5 + [429] * 5
    refused = answers[-1]
    assert 1 <= int(refused.headers["Retry-After"]) <= 15
    assert "Too many failed sign-ins for this account. Wait" in refused.text
    assert 'name="username"' in refused.text, "the sign-in form, shown again"
    assert sign_in(person_at(stack, "198.51.100.7"), *OPERATOR).status_code == 429, \
        "while the account is refused, its right password is refused too (a guesser learns nothing)"

    trail = list(audit.entries(stack.redis, newest_first=False))
    limited = [e for e in trail if e["action"] == "signin-limited"]
    assert len(limited) == 1, "one entry per window, however many refusals"
    assert limited[0]["username"] == OPERATOR[0] and limited[0]["address"] == "203.0.113.5"
    assert [e["action"] for e in trail].count("signin-failed") == 5

    person = person_at(stack, "198.51.100.7")
    for _ in range(3):  # wait as a person would: as long as Retry-After says (the window is wall-clock time)
        time.sleep(int(refused.headers["Retry-After"]))
        answer = sign_in(person, *OPERATOR)
        if answer.status_code != 429:
            break
        refused = answer
    assert answer.status_code == 302 and answer.headers["Location"] == "/rooms/"


def test_only_failures_use_up_an_accounts_sign_ins(stack):
    stack.app.config["SIGNIN_LIMIT_PER_ACCOUNT"] = "3 per minute"
    person = person_at(stack, "198.51.100.7")
    statuses = [sign_in(person, OPERATOR[0], "wrong").status_code for _ in range(2)]
    statuses += [sign_in(person_at(stack, "198.51.100.7"), *OPERATOR).status_code for _ in range(4)]
    statuses += [sign_in(person, OPERATOR[0], "wrong").status_code for _ in range(2)]
    assert statuses == [401, 401] + [302] * 4 + [401, 429]


def test_parallel_guesses_cannot_slip_past_the_limit(stack):
    stack.app.config["SIGNIN_LIMIT_PER_ACCOUNT"] = "3 per minute"
    guessers = [person_at(stack, f"203.0.113.{n}") for n in range(12)]
    with ThreadPoolExecutor(len(guessers)) as pool:
        statuses = sorted(pool.map(lambda g: sign_in(g, OPERATOR[0], "guess").status_code, guessers))
    assert statuses == [401] * 3 + [429] * 9


def test_one_address_or_account_refused_locks_out_neither_other_accounts_nor_other_addresses(stack):
    stack.app.config.update(SIGNIN_LIMIT_PER_ACCOUNT="3 per minute", SIGNIN_LIMIT_PER_ADDRESS="6 per minute")
    attacker = person_at(stack, "203.0.113.5")
    statuses = [sign_in(attacker, f"nobody{n}", "guess").status_code for n in range(8)]
    assert statuses == [401] * 6 + [429] * 2
    refused = sign_in(attacker, *ADMIN)
    assert refused.status_code == 429 and "from your network" in refused.text, "that address is refused for a while"
    assert sign_in(person_at(stack, "198.51.100.7"), *ADMIN).status_code == 302, "another address is not"

    elsewhere = person_at(stack, "192.0.2.10")
    assert [sign_in(elsewhere, OPERATOR[0], "guess").status_code for _ in range(4)] == [401] * 3 + [429]
    assert sign_in(person_at(stack, "192.0.2.11"), OPERATOR[0], "guess").status_code == 429, "that account is refused"
    assert sign_in(person_at(stack, "192.0.2.11"), *ADMIN).status_code == 302, "another account is not"


def test_a_refused_link_form_gets_the_error_page_with_the_sentence(stack):
    stack.app.config["SIGNIN_LIMIT_PER_ADDRESS"] = "2 per minute"
    person = person_at(stack, "203.0.113.5")
    link = f"{stack.url}/signin/link/{'x' * 43}"
    token = page_csrf(person.http.get(f"{stack.url}/signin").text)
    statuses = [person.http.post(link, data={"csrf_token": token}).status_code for _ in range(2)]
    refused = person.http.post(link, data={"csrf_token": token}, headers={"Accept": "text/html"})
    assert statuses == [404, 404] and refused.status_code == 429
    assert "Too many failed sign-in attempts from your network" in refused.text and "Retry-After" in refused.headers


def test_messages_past_the_limit_are_refused_with_a_sentence_and_never_spoken(stack):
    stack.app.config["MESSAGE_LIMIT_PER_USER"] = "3 per minute"
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    answers = [stack.user.say(room_id, f"message {n}") for n in range(4)]
    assert [a.status_code for a in answers] == [202, 202, 202, 429]
    refused = answers[-1]
    assert refused.json()["error"].startswith("You are sending messages faster than callchat allows (3 per minute). Wait ")
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    admin = stack.signed_in(*ADMIN)
    admin.open_room(room_id)
    assert admin.say(room_id, "from the admin").status_code == 202, "the limit is per user"
    stack.settle()
    said = [h["text"] for h in stack.sim.phone(CALLER).heard() if h["kind"] == "say"][1:]
    assert said == ["message 0", "message 1", "message 2", "from the admin"]


def test_dials_past_the_limit_are_refused_and_nobody_is_called(stack):
    stack.app.config["DIAL_LIMIT_PER_USER"] = "2 per hour"
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    answers = [stack.user.post(f"/rooms/{room_id}/calls", {"to": callee}) for callee in CALLEES]
    assert [a.status_code for a in answers] == [202, 202, 429]
    assert answers[-1].json()["error"].startswith("You have called in as many people as callchat allows (2 per hour).")
    assert int(answers[-1].headers["Retry-After"]) > 60
    stack.settle()
    assert [len(stack.sim.phone(callee).calls()) for callee in CALLEES] == [1, 1, 0]


def test_api_requests_past_the_limit_are_refused_per_token(stack):
    stack.app.config["API_LIMIT_PER_TOKEN"] = "3 per minute"
    assert [stack.api("GET", "/api/calls/nope").status_code for _ in range(3)] == [404] * 3
    refused = stack.api("POST", "/api/calls", json={"to": CALLEES[0], "say": "hello"})
    assert refused.status_code == 429 and "Retry-After" in refused.headers
    assert refused.json()["error"].startswith("Too many API requests with this token (3 per minute). Retry after ")
    assert stack.api("GET", "/api/calls/nope", token="another-token").status_code == 401, "another token: its own count"
    stack.settle()
    assert stack.sim.phone(CALLEES[0]).calls() == []
    assert not any(API_TOKEN in key for key in stack.redis.keys("*")), "only the token's SHA-256 is kept"


def test_twilio_webhooks_and_healthz_are_never_limited(stack):
    stack.app.config.update({name: "1 per hour" for name in (
        "SIGNIN_LIMIT_PER_ACCOUNT", "SIGNIN_LIMIT_PER_ADDRESS", "MESSAGE_LIMIT_PER_USER", "DIAL_LIMIT_PER_USER",
        "API_LIMIT_PER_TOKEN")})
    room_ids = [stack.call_in(caller) for caller in (CALLER, "+819012340001", "+819012340002")]
    stack.user.open_room(room_ids[0])
    assert stack.user.say(room_ids[0], "hello").status_code == 202
    stack.settle()
    assert [h["text"] for h in stack.sim.phone(CALLER).heard() if h["kind"] == "say"][1:] == ["hello"]
    assert all(stack.user.state(room_id)["room"]["status"] == "live" for room_id in room_ids)
    assert [requests.get(f"{stack.url}/healthz", timeout=5).status_code for _ in range(3)] == [200] * 3


def test_without_redis_the_limits_count_in_memory_and_nothing_becomes_a_500():
    app = create_app({"TESTING": True, "REDIS_URL": "redis://127.0.0.1:1/0", "WTF_CSRF_ENABLED": False,
                      "SECRET_KEY": SECRET_KEY, "API_LIMIT_PER_TOKEN": "2 per minute"})
    client = app.test_client()
    signin = client.post("/signin", data={"username": OPERATOR[0], "password": OPERATOR[1]})
    assert signin.status_code == 503 and b"cannot reach its database" in signin.data
    assert [client.get("/api/openapi.json").status_code for _ in range(3)] == [200, 200, 429]


@pytest.mark.parametrize("value", ["lots", "0 per minute", "5 per fortnight", ""])
def test_a_bad_limit_stops_start_up_naming_the_setting(redis_url, value):
    with pytest.raises(SettingError) as raised:
        create_app({"REDIS_URL": redis_url, "SECRET_KEY": SECRET_KEY, "DIAL_LIMIT_PER_USER": value})
    assert list(raised.value.problems) == ["DIAL_LIMIT_PER_USER"]
    assert "is not a rate limit" in raised.value.problems["DIAL_LIMIT_PER_USER"]
