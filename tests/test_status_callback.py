"""The outcome webhook (`status_callback`) never reaches into callchat's own network: only public
https URLs, checked when a call is requested and again before the worker POSTs, unless
STATUS_CALLBACK_ALLOW_PRIVATE=true. Each refusal is shown with a listener that must receive nothing."""

from __future__ import annotations

import logging

import pytest

CALLEE = "+819055556666"


def allow_private(stack, monkeypatch, allowed: bool) -> None:
    """Set STATUS_CALLBACK_ALLOW_PRIVATE for the app and for the in-process worker (which reads its environment)."""
    stack.app.config["STATUS_CALLBACK_ALLOW_PRIVATE"] = allowed
    monkeypatch.setenv("STATUS_CALLBACK_ALLOW_PRIVATE", str(allowed).lower())


def call_keys(stack) -> list[str]:
    return stack.redis.keys("call:*")


@pytest.mark.parametrize("url, words", [
    ("http://127.0.0.1:{port}/outcome", "must be an https:// URL"),
    ("http://169.254.169.254/latest/meta-data/", "must be an https:// URL"),
    ("https://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
    ("https://localhost:{port}/outcome", "localhost resolves to a loopback address"),
    ("https://[::ffff:127.0.0.1]:{port}/outcome", "is a loopback address"),
    ("https://10.0.0.1/outcome", "10.0.0.1 is a private address"),
    ("ftp://example.com/outcome", "absolute https:// URL"),
])
def test_a_status_callback_into_a_private_network_is_refused_and_nothing_is_sent(stack, receiver, url, words):
    url = url.format(port=receiver.port)
    response = stack.api("POST", "/api/calls", json={"to": CALLEE, "say": "hi", "status_callback": url})
    assert response.status_code == 400
    assert words in response.json()["error"]
    stack.settle(redials=True)
    assert call_keys(stack) == [], "nothing is stored"
    assert stack.sim.requests() == [], "no call is placed"
    assert receiver.received == []


def test_the_rooms_dial_refuses_a_local_status_callback_too(stack, receiver):
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    response = stack.user.post(f"/rooms/{room_id}/calls", {"to": CALLEE, "status_callback": f"{receiver.url}/"})
    assert response.status_code == 400 and "https://" in response.json()["error"]
    stack.settle(redials=True)
    assert stack.sim.phone(CALLEE).calls() == [] and receiver.received == []


def test_the_worker_checks_again_before_posting(stack, receiver, monkeypatch, caplog):
    allow_private(stack, monkeypatch, True)
    response = stack.api("POST", "/api/calls", json={"to": CALLEE, "say": "hi", "status_callback": f"{receiver.url}/"})
    assert response.status_code == 202, response.text
    allow_private(stack, monkeypatch, False)  # as when the host's DNS answer changes after the request
    with caplog.at_level(logging.WARNING, logger="jobs.attempts"):
        stack.settle(redials=True)
    assert stack.api("GET", f"/api/calls/{response.json()['id']}").json()["outcome"] == "reached"
    assert receiver.received == []
    assert [r.getMessage() for r in caplog.records if r.name == "jobs.attempts"] == [
        f"call {response.json()['id']}: outcome not posted to its status_callback: 'status_callback' must be an "
        "https:// URL: callchat does not send outcomes unencrypted."]


def test_a_redirect_from_the_status_callback_is_not_followed(stack, receiver, monkeypatch):
    allow_private(stack, monkeypatch, True)
    receiver.redirect_to = f"{receiver.url}/stolen"
    response = stack.api("POST", "/api/calls", json={"to": CALLEE, "say": "hi",
                                                     "status_callback": f"{receiver.url}/redirect"})
    assert response.status_code == 202, response.text
    stack.settle(redials=True)
    assert [r["path"] for r in receiver.received] == ["/redirect"], "the 307 was not followed to /stolen"
