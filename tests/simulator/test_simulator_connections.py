"""Persistent connections: webhooks reuse the simulator's connections to the app, REST clients keep theirs
to the simulator (RFC 9112 section 9.3), and a closed or refused connection still fails as Twilio's does (11200)."""

from __future__ import annotations

import base64
import http.client
import socket

import pytest

from simulator import SimulatorServer
from simulator.core import webhooks

from .conftest import ACCOUNT_SID, AUTH_TOKEN, NUMBER

PARAMS = {"CallSid": "CA" + "1" * 32, "AccountSid": ACCOUNT_SID, "CallStatus": "in-progress"}
AUTH = {"Authorization": "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()}
CALLS = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"


def test_webhooks_to_a_keep_alive_app_share_one_connection(keep_alive_app):
    answers = [webhooks.send(keep_alive_app.url + "/speak", "POST", PARAMS, AUTH_TOKEN) for _ in range(3)]
    assert [a.status for a in answers] == [200, 200, 200]
    assert answers[0].body == "<Response><Say>はい</Say></Response>"
    assert all(hit["valid"] for hit in keep_alive_app.hits)
    assert len({hit["port"] for hit in keep_alive_app.hits}) == 1, keep_alive_app.hits


def test_a_webhook_to_a_stopped_app_is_11200_and_the_next_app_gets_a_new_connection(keep_alive_app):
    assert webhooks.send(keep_alive_app.url + "/speak", "POST", PARAMS, AUTH_TOKEN).ok  # a connection kept
    keep_alive_app.stop()
    failed = webhooks.send(keep_alive_app.url + "/speak", "POST", PARAMS, AUTH_TOKEN)
    assert (failed.status, failed.error_code) == (None, 11200) and failed.error
    again = webhooks.send(keep_alive_app.url + "/speak", "GET", PARAMS, AUTH_TOKEN)
    assert again.error_code == 11200, "still refused: nothing listens"


def test_a_connection_the_app_closed_while_idle_is_replaced_not_failed(keep_alive_app):
    from simulator.core import keepalive
    assert webhooks.send(keep_alive_app.url + "/speak", "POST", PARAMS, AUTH_TOKEN).ok
    keepalive.close_all(keep_alive_app.server)  # as an app server's keep-alive timeout does
    assert webhooks.send(keep_alive_app.url + "/speak", "POST", PARAMS, AUTH_TOKEN).ok
    assert len({hit["port"] for hit in keep_alive_app.hits}) == 2


def test_rest_requests_share_one_connection_even_when_the_app_leaves_a_body_unread(server):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.request("GET", CALLS, headers=AUTH)
    first = connection.getresponse()
    assert first.status == 200 and "calls" in first.read().decode()
    socket_used = connection.sock
    connection.request("POST", "/no-such-page", body=b"x" * 5000, headers=AUTH)  # answered without reading the body
    assert connection.getresponse().read() and connection.sock is socket_used
    connection.request("GET", CALLS, headers=AUTH)
    third = connection.getresponse()
    assert third.status == 200 and "calls" in third.read().decode()
    assert connection.sock is socket_used and not first.will_close
    kept = list(server._server.open_connections)
    assert kept and all(c.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for c in kept), \
        "an answer's body is not held back by Nagle's algorithm on a kept connection"
    connection.close()


def test_stopping_the_simulator_closes_kept_connections():
    server = SimulatorServer({"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "phone_number": NUMBER}).start()
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.request("GET", CALLS, headers=AUTH)
    assert connection.getresponse().read()
    server.stop()
    with pytest.raises((http.client.HTTPException, OSError)):
        connection.request("GET", CALLS, headers=AUTH)
        connection.getresponse().read()
    connection.close()
