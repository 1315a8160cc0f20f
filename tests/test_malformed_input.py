"""Malformed input answers 4xx with a readable error, never 5xx, and stores nothing.

One test per cause the fuzzing of issue 10 found, plus the body size limit.
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import pytest
import requests

from callchat.request_limits import MAX_CONTENT_LENGTH
from callchat.devstack import free_port, wait_for
from tests.conftest import (ADMIN, API_TOKEN, CALLER, OWNER, TWILIO_NUMBER, page_csrf, redis_contents,
                            start_procfile, stop_procfile_worker)

DEEP = "[" * 30_000 + "]" * 30_000  # under the size limit, far over Python's recursion limit


def place_call(stack) -> str:
    response = stack.api("POST", "/api/calls", json={"to": "090-5555-6666", "say": "点検のお知らせです"})
    assert response.status_code == 202, response.text
    return response.json()["id"]


@pytest.mark.parametrize("body", [DEEP, '{"kind": "say", "text": ' + "[" * 5000 + "]" * 5000 + "}"])
def test_deeply_nested_json_is_a_400(stack, body):
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    before = redis_contents(stack.redis, bookkeeping=False)
    answer = stack.user.http.post(f"{stack.url}/rooms/{room_id}/messages", data=body, headers={
        "Content-Type": "application/json", "X-CSRFToken": stack.user.csrf, "Accept": "application/json"})
    assert answer.status_code == 400
    assert "JSON object" in answer.json()["error"]
    api = requests.post(f"{stack.url}/api/calls", data=body, timeout=10, headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {API_TOKEN}"})
    assert api.status_code == 400
    assert redis_contents(stack.redis, bookkeeping=False) == before
    assert stack.user.state(room_id)["messages"] == []


@pytest.mark.parametrize("payload", [{"kind": "say", "text": "こんにちは\ud800"},
                                     {"kind": "play", "url": "https://example.com/\ud800.mp3"}])
def test_a_lone_surrogate_is_a_400(stack, payload):
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    answer = stack.user.post(f"/rooms/{room_id}/messages", payload)
    assert answer.status_code == 400, answer.text
    assert stack.user.state(room_id)["messages"] == []
    api = stack.api("POST", "/api/calls", json={"to": "090-5555-6666", "say": "\udfff"})
    assert api.status_code == 400


@pytest.mark.parametrize("url", ["https://[::1/a.mp3", "https://example.com:99999/a.mp3", "https://exa mple.com/a.mp3"])
def test_a_play_url_that_is_not_a_url_is_a_400(stack, url):
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    answer = stack.user.play(room_id, url)
    assert answer.status_code == 400
    assert "https://" in answer.json()["error"]


def test_a_non_numeric_sip_response_code_does_not_poison_the_call(stack):
    call_id = place_call(stack)
    for code, seq in (("abc", "1"), ("1e999", "2"), ("²", "²")):
        hook = stack.twilio_post(f"/voice/calls/{call_id}/attempts/1/status", {
            "CallSid": "CA" + "9" * 32, "CallStatus": "ringing", "SequenceNumber": seq, "SipResponseCode": code})
        assert hook.status_code == 204
    shown = stack.api("GET", f"/api/calls/{call_id}")
    assert shown.status_code == 200, shown.text
    assert shown.json()["attempts"][0].get("sip_response_code") is None


@pytest.mark.parametrize("call_sid", ["CA:not-a-job-id", "CA" + "g" * 32, "CA" + "a" * 33, "", "ca" + "a" * 32,
                                      "CA" + "A" * 32])
def test_a_call_sid_of_the_wrong_shape_is_refused_before_anything_is_stored(stack, call_sid):
    stack.app.config["OWNER_PHONE"] = OWNER  # the owner's dial job is queued under the CallSid
    before = redis_contents(stack.redis)
    answer = stack.twilio_post("/voice/incoming", {"CallSid": call_sid, "From": CALLER, "To": TWILIO_NUMBER})
    assert answer.status_code == 400
    assert "CallSid" in answer.json()["error"]
    assert redis_contents(stack.redis) == before
    assert stack.queue.count == 0


@pytest.mark.parametrize("announce_url", ["http://[", "https://callchat.example:port/x", "not a url"])
def test_an_announce_url_that_is_not_a_url_is_ignored(stack, announce_url):
    room_id = stack.call_in()
    hook = stack.twilio_post("/voice/conference-status", {
        "FriendlyName": room_id, "ConferenceSid": "CF" + "1" * 32, "StatusCallbackEvent": "announcement-end",
        "SequenceNumber": "7", "AnnounceUrl": announce_url})
    assert hook.status_code == 204


def test_a_non_numeric_sequence_number_on_a_participant_is_ignored(stack):
    room_id = stack.call_in()
    hook = stack.twilio_post("/voice/conference-status", {
        "FriendlyName": room_id, "ConferenceSid": "CF" + "1" * 32, "StatusCallbackEvent": "participant-join",
        "SequenceNumber": "²", "CallSid": "CA" + "2" * 32, "ParticipantLabel": "guest"})
    assert hook.status_code == 204


def test_a_body_over_the_limit_is_a_readable_413(stack):
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    before = redis_contents(stack.redis)
    answer = stack.user.post(f"/rooms/{room_id}/messages", {"kind": "say", "text": "あ" * MAX_CONTENT_LENGTH})
    assert answer.status_code == 413
    assert "KiB" in answer.json()["error"]
    page = stack.user.http.post(f"{stack.url}/rooms/{room_id}/messages", data={"text": "a" * (MAX_CONTENT_LENGTH + 1)})
    assert page.status_code == 413
    assert "larger than callchat accepts" in page.text
    assert redis_contents(stack.redis) == before


def test_a_chunked_body_over_the_limit_is_cut_off_at_the_limit(stack):
    """No Content-Length to check up front: the body is read up to the limit, then refused."""
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    before = redis_contents(stack.redis)
    address = urlsplit(stack.url)
    chunk = b'"' + b"a" * 65_534 + b'"'
    cookies = "; ".join(f"{c.name}={c.value}" for c in stack.user.http.cookies)
    with socket.create_connection((address.hostname, address.port), timeout=10) as conn:
        conn.sendall((f"POST /rooms/{room_id}/messages HTTP/1.1\r\nHost: {address.netloc}\r\n"
                      f"Content-Type: application/json\r\nAccept: application/json\r\nCookie: {cookies}\r\n"
                      f"X-CSRFToken: {stack.user.csrf}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n").encode())
        try:
            for _ in range(200):  # 13 MB offered; the server stops reading after 64 KiB
                conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            conn.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server answered and closed the connection before the body ended
        answer = conn.makefile("rb").readline()
    assert answer.startswith(b"HTTP/1.1 413"), answer
    assert redis_contents(stack.redis) == before


def test_after_a_413_gunicorn_closes_the_connection_instead_of_reading_the_rest(stack, tmp_path):
    """Bug: gunicorn read and discarded the whole refused body, 1 KiB at a time, to keep the connection alive;
    400 MB sent fast kept its gevent worker busy until the arbiter killed it (bench/big_body.py)."""
    port = free_port()
    web = start_procfile("web", {"PORT": str(port), "WEB_CONCURRENCY": "1"}, tmp_path / "web.log")
    try:
        wait_for(lambda: requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok, 30, "gunicorn")
        total, sent = 64 * 1024 * 1024, 0
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            conn.sendall((f"POST /api/calls HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {API_TOKEN}\r\n"
                          f"Content-Type: application/json\r\nContent-Length: {total}\r\n\r\n").encode())
            try:
                while sent < total:
                    conn.sendall(b"a" * 65536)
                    sent += 65536
            except OSError:
                pass  # the server answered and closed the connection
            answer = conn.makefile("rb").readline()
    finally:
        stop_procfile_worker(web)
    assert answer.startswith(b"HTTP/1.1 413"), answer
    assert sent < total, "the connection closed after the answer; the rest of the body was never read"


def test_revoking_an_unknown_api_token_is_a_404(stack):
    admin = stack.signed_in(*ADMIN)
    csrf = page_csrf(admin.http.get(f"{stack.url}/admin/tokens").text)
    answer = admin.http.post(f"{stack.url}/admin/tokens/{'0' * 16}/revoke", data={"csrf_token": csrf})
    assert answer.status_code == 404
    assert "There is no API token" in answer.text


@pytest.mark.parametrize("body", ["3", '["a"]', '"text"', '{"name": 3}'])
def test_json_to_a_form_is_a_415_and_json_that_is_not_an_object_a_400(stack, body):
    admin = stack.signed_in(*ADMIN)
    csrf = page_csrf(admin.http.get(f"{stack.url}/admin/tokens").text)
    headers = {"Content-Type": "application/json", "X-CSRFToken": csrf, "Accept": "application/json"}
    form = admin.http.post(f"{stack.url}/admin/tokens", data=body, headers=headers)
    assert form.status_code == 415
    assert "form, not JSON" in form.json()["error"]
    api = requests.post(f"{stack.url}/api/calls", data=body, timeout=10, headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {API_TOKEN}"})
    assert api.status_code == 400
