"""Settings are checked once at start-up, `flask --app app doctor` reports every check, and a bad
masking pool never breaks calls to the main number."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest
from dotenv import dotenv_values

from app import create_app
from callchat.devstack import ROOT, free_port
from callchat.settings import SECRET_KEY_RECIPE, SettingError, new_secret_key
from tests.conftest import CALLER, GREETING, SECRET_KEY
from tests.openapi_check import api_v2010

BAD_POOL = "+815000000101,+815000000102"  # 050-0000-…: no such Japanese numbers


def doctor(env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run `flask --app app doctor` as a person would, in the repository, with this environment."""
    flask = os.path.join(os.path.dirname(sys.executable), "flask")
    return subprocess.run([flask, "--app", "app", "doctor"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)


def test_an_invalid_masking_pool_never_breaks_calls_to_the_main_number(stack, monkeypatch):
    stack.app.config["PROXY_NUMBERS"] = BAD_POOL
    monkeypatch.setenv("PROXY_NUMBERS", BAD_POOL)
    room_id = stack.call_in()
    greeting = [h for h in stack.sim.phone(CALLER).heard() if h["source"] == "twiml"]
    assert greeting and greeting[0]["text"] == GREETING, "the caller is answered with the room's TwiML"
    assert stack.user.state(room_id)["room"]["status"] == "live"
    assert stack.sim.errors() == []

    # Masked calling is what is unavailable, and a session says why.
    response = stack.api("POST", "/api/sessions", json={"user": "u1", "a": "090-1111-2222", "b": "090-3333-4444"})
    assert response.status_code == 202, response.text
    stack.settle()
    session = stack.api("GET", f"/api/sessions/{response.json()['id']}").json()
    assert session["status"] == "failed" and "PROXY_NUMBERS" in session["reason"]


def test_an_invalid_pool_is_logged_at_start_up_naming_proxy_numbers(redis_url, caplog):
    pool = "+815000000199"  # a setting no other test parses: the pool is parsed once per setting
    with caplog.at_level(logging.ERROR):
        app = create_app({"REDIS_URL": redis_url, "PROXY_NUMBERS": pool, "SECRET_KEY": SECRET_KEY})
    assert app.config["PROXY_NUMBERS"] == pool, "the app starts"
    assert [r.getMessage() for r in caplog.records if "PROXY_NUMBERS" in r.getMessage()] == [
        "PROXY_NUMBERS: '+815000000199' is not a valid phone number. Masked calling is unavailable until it is fixed."]


def test_bad_settings_stop_start_up_naming_each_variable_and_what_is_wrong(redis_url):
    with pytest.raises(SettingError) as raised:
        create_app({"REDIS_URL": "localhost:6379", "PUBLIC_BASE_URL": "callchat.example.com", "OWNER_PHONE": "090-12",
                    "TWILIO_PHONE_NUMBER": "+815000000001", "ROOM_MAX_SECONDS": "a day", "MASKING_BACKEND": "proxy",
                    "TWILIO_ACCOUNT_SID": "AC123", "SAY_VOICE": "Polly.Joanna", "SECRET_KEY": SECRET_KEY})
    assert raised.value.problems == {
        "ROOM_MAX_SECONDS": "'a day' is not a whole number of 0 or more.",
        "REDIS_URL": "'localhost:6379' is not a redis://host:port/db URL.",
        "PUBLIC_BASE_URL": "'callchat.example.com' is not an http(s)://host[:port][/path] URL, with no query.",
        "TWILIO_ACCOUNT_SID": "'AC123' is not a SID: AC followed by 32 hex digits.",
        "TWILIO_PHONE_NUMBER": "'+815000000001' is not a valid phone number.",
        "OWNER_PHONE": "'090-12' is too short to be a phone number.",
        "MASKING_BACKEND": "must be 'builtin' or 'twilio-proxy', not 'proxy'.",
        "SAY_VOICE": raised.value.problems["SAY_VOICE"],
    }
    assert raised.value.problems["SAY_VOICE"].startswith("Voice 'Polly.Joanna' does not speak ja-JP; choose one of")
    assert "OWNER_PHONE: '090-12' is too short" in str(raised.value)


WEAK_KEYS = {
    "missing": None,
    ".env.example's": dotenv_values(ROOT / ".env.example")["SECRET_KEY"],
    "the old default": "dev",
    "a placeholder": "change-me",
    "a long placeholder": "please-change-me-to-something-long-and-random",
    "README's old placeholder": "<a long random string>",
    "short": "k3Vq9xZ2bL7w",
    "not random": "a" * 64,
}


@pytest.mark.parametrize("key", WEAK_KEYS.values(), ids=WEAK_KEYS.keys())
def test_a_missing_default_or_weak_secret_key_stops_start_up(redis_url, monkeypatch, key):
    """Bug: SECRET_KEY silently defaulted to "dev", so anyone could sign a session cookie or CSRF token."""
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(SettingError) as raised:
        create_app({"REDIS_URL": redis_url} if key is None else {"REDIS_URL": redis_url, "SECRET_KEY": key})
    assert list(raised.value.problems) == ["SECRET_KEY"]
    assert SECRET_KEY_RECIPE in str(raised.value), "it says how to make a good one"


def test_a_random_secret_key_starts(redis_url):
    key = new_secret_key()
    assert create_app({"REDIS_URL": redis_url, "SECRET_KEY": key}).secret_key == key


@pytest.mark.parametrize("owner, own", [("050-1111-2222", "TWILIO_PHONE_NUMBER"), ("+815011110002", "PROXY_NUMBERS")])
def test_an_owner_phone_that_is_callchats_own_number_stops_start_up(redis_url, owner, own):
    with pytest.raises(SettingError) as raised:
        create_app({"REDIS_URL": redis_url, "SECRET_KEY": SECRET_KEY, "OWNER_PHONE": owner, "TWILIO_PHONE_NUMBER": "+815011112222",
                    "PROXY_NUMBERS": "+815011110001,+815011110002"})
    assert raised.value.problems == {"OWNER_PHONE": f"{'+815011112222' if own == 'TWILIO_PHONE_NUMBER' else owner} "
                                                   f"is callchat's own number ({own}); dialing it in would call callchat itself."}


@pytest.mark.parametrize("raw, allowed", [("true", True), ("FALSE", False), (" True ", True)])
def test_status_callback_allow_private_is_read_as_true_or_false(redis_url, raw, allowed):
    app = create_app({"REDIS_URL": redis_url, "SECRET_KEY": SECRET_KEY, "STATUS_CALLBACK_ALLOW_PRIVATE": raw})
    assert app.config["STATUS_CALLBACK_ALLOW_PRIVATE"] is allowed


def test_status_callback_allow_private_is_false_unless_set(redis_url):
    assert create_app({"REDIS_URL": redis_url, "SECRET_KEY": SECRET_KEY}).config["STATUS_CALLBACK_ALLOW_PRIVATE"] is False


def test_a_status_callback_allow_private_other_than_true_or_false_stops_start_up(redis_url):
    with pytest.raises(SettingError) as raised:
        create_app({"REDIS_URL": redis_url, "SECRET_KEY": SECRET_KEY, "STATUS_CALLBACK_ALLOW_PRIVATE": "yes"})
    assert raised.value.problems == {"STATUS_CALLBACK_ALLOW_PRIVATE": "'yes' is neither true nor false."}


def test_numbers_are_stored_in_e164_once_checked(redis_url):
    app = create_app({"REDIS_URL": redis_url, "OWNER_PHONE": "090-9999-8888", "TWILIO_PHONE_NUMBER": "050 1111 2222",
                      "SECRET_KEY": SECRET_KEY})
    assert (app.config["OWNER_PHONE"], app.config["TWILIO_PHONE_NUMBER"]) == ("+819099998888", "+815011112222")


def test_doctor_says_ok_to_every_check_of_a_working_stack(stack):
    result = doctor(dict(os.environ))  # the stack fixture put its settings in the environment
    assert result.returncode == 0, result.stdout + result.stderr
    assert [line.split(":")[0] for line in result.stdout.splitlines()] == [
        "ok       Redis", "ok       simulator", "ok       PUBLIC_BASE_URL", "ok       TWILIO_PHONE_NUMBER",
        "ok       OWNER_PHONE", "ok       PROXY_NUMBERS", "ok       other settings"]
    assert f"TWILIO_PHONE_NUMBER: {stack.app.config['TWILIO_PHONE_NUMBER']} is the account's number" in result.stdout
    for exchange in stack.sim.requests():
        api_v2010().validate_exchange(exchange)


def test_doctor_names_every_problem_and_exits_non_zero(stack):
    env = dict(os.environ, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0", TWILIO_AUTH_TOKEN="wrong",
               OWNER_PHONE="+819000000001", PROXY_NUMBERS=BAD_POOL, ROOM_MAX_SECONDS="-1")
    result = doctor(env)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "PROBLEM  Redis", "PROBLEM  simulator", "ok       PUBLIC_BASE_URL", "ok       TWILIO_PHONE_NUMBER",
        "PROBLEM  OWNER_PHONE", "PROBLEM  PROXY_NUMBERS", "PROBLEM  ROOM_MAX_SECONDS"]
    assert "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are refused (HTTP 401)" in lines[1]
    assert lines[4].endswith("'+819000000001' is not a valid phone number.")
    assert "'+815000000101' is not a valid phone number" in lines[5]


def test_doctor_on_real_twilio_refuses_a_local_public_base_url(stack):
    env = dict(os.environ, TWILIO_API_BASE="", PUBLIC_BASE_URL=stack.url)
    env.pop("TWILIO_ACCOUNT_SID")
    result = doctor(env)
    assert result.returncode == 1
    assert f"PROBLEM  PUBLIC_BASE_URL: {stack.url}: real Twilio cannot reach it" in result.stdout
    assert "PROBLEM  Twilio: TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are not set" in result.stdout
