"""Fixtures for the simulator's own tests: a small app under test that the simulator calls with
signed webhooks, the simulator served for real, and twilio-python's REST client pointed at it."""

from __future__ import annotations

import json
import threading
import xml.etree.ElementTree as ElementTree

import pytest
import requests
from flask import Flask, request
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from twilio.twiml.voice_response import Dial, VoiceResponse
from werkzeug.serving import make_server

from simulator import SimulatorClient, SimulatorError, SimulatorServer
from simulator.conferences.wait import DEFAULT_WAIT_URL
from simulator.twiml import TwimlError, parse
from simulator.core.webhooks import sign

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "test-auth-token"
NUMBER = "+815012345678"  # the account's Twilio number
CALLER = "+819012345678"
CALLEE = "+819087654321"
SETTLE = 10  # real seconds


class AppUnderTest:
    """A stand-in for callchat: serves TwiML per path and records every signed webhook."""

    def __init__(self) -> None:
        self.routes: dict[str, str | tuple] = {}  # path -> TwiML, or a Flask response tuple
        self.hits: list[dict] = []
        self.lock = threading.Lock()
        self.app = Flask("app_under_test")
        self.app.add_url_rule("/<path:path>", "any", self._handle, methods=["GET", "POST"])
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _handle(self, path: str):
        params = request.form if request.method == "POST" else {}
        valid = RequestValidator(AUTH_TOKEN).validate(
            request.url, params, request.headers.get("X-Twilio-Signature", ""))
        with self.lock:
            self.hits.append({"path": "/" + path, "method": request.method, "valid": valid,
                              "token": request.headers.get("I-Twilio-Idempotency-Token"),
                              "params": (request.form if request.method == "POST"
                                         else request.args).to_dict()})
        body = self.routes.get("/" + path)
        if body is None:
            return "", 204
        if isinstance(body, tuple):
            return body
        return body, 200, {"Content-Type": "text/xml"}

    def params(self, path: str, event: str | None = None) -> list[dict]:
        """Params of the requests to ``path`` (optionally one StatusCallbackEvent), in order."""
        with self.lock:
            return [h["params"] for h in self.hits if h["path"] == path and
                    (event is None or h["params"].get("StatusCallbackEvent") == event)]

    def tokens(self, path: str) -> list[str]:
        """The I-Twilio-Idempotency-Token of each request to ``path``, in order."""
        with self.lock:
            return [h["token"] for h in self.hits if h["path"] == path]

    def reset(self) -> None:
        with self.lock:
            self.hits.clear()
        self.routes.clear()


class SimulatorHttpClient(TwilioHttpClient):
    """twilio-python's HTTP client, sending https://api.twilio.com traffic to the simulator."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url

    def request(self, method, url, *args, **kwargs):
        return super().request(method, url.replace("https://api.twilio.com", self.base_url, 1),
                               *args, **kwargs)


@pytest.fixture(scope="module")
def app_under_test():
    app = AppUnderTest()
    yield app
    app.server.shutdown()


@pytest.fixture(scope="module")
def server(app_under_test):
    server = SimulatorServer({"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN,
                              "phone_number": NUMBER, "clock_speed": 50,
                              "voice_url": app_under_test.url + "/voice"}).start()
    yield server
    server.stop()


@pytest.fixture
def app(app_under_test, sim):
    """The app under test, emptied; after the test every webhook it got must be signed."""
    app_under_test.reset()
    yield app_under_test
    assert all(hit["valid"] for hit in app_under_test.hits), app_under_test.hits


@pytest.fixture
def sim(server, request):
    """A client of the simulator, reset; afterwards the test module's `check_journal(client)` runs, if it has one
    (checking every REST exchange of the test against Twilio's spec)."""
    client = SimulatorClient(server.url)
    client.reset()
    yield client
    check_journal = getattr(request.module, "check_journal", None)
    if check_journal is not None:
        check_journal(client)


class KeepAliveApp:
    """An app that keeps its connections open (the simulator's own keep-alive server) and records, for
    each webhook, the client's port (one port: one connection) and whether its signature is valid."""

    def __init__(self) -> None:
        from simulator.core import keepalive
        self.hits: list[dict] = []
        self.app = Flask("keep_alive_app")
        self.app.add_url_rule("/<path:path>", "any", self._handle, methods=["GET", "POST"])
        self.server = keepalive.make_server("127.0.0.1", 0, self.app)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _handle(self, path: str):
        self.hits.append({"port": request.environ["REMOTE_PORT"], "valid": RequestValidator(AUTH_TOKEN).validate(
            request.url, request.form, request.headers.get("X-Twilio-Signature", ""))})
        return "<Response><Say>はい</Say></Response>", 200, {"Content-Type": "text/xml"}

    def stop(self) -> None:
        """Stop serving and close every open connection: the port refuses from now on."""
        from simulator.core import keepalive
        self.server.shutdown()
        self.server.server_close()
        keepalive.close_all(self.server)


@pytest.fixture
def keep_alive_app():
    app = KeepAliveApp()
    yield app
    app.stop()


@pytest.fixture
def twilio(server):
    return Client(ACCOUNT_SID, AUTH_TOKEN, http_client=SimulatorHttpClient(server.url))


def conference_twiml(app: AppUnderTest, room: str = "room-1", greeting: str = "ようこそ",
                     **conference: object) -> str:
    response = VoiceResponse()
    response.say(greeting, voice="Polly.Mizuki", language="ja-JP")
    dial = Dial()
    dial.conference(room, status_callback=app.url + "/conference-events",
                    status_callback_event="start end join leave announcement", **conference)
    response.append(dial)
    return str(response)


def say_twiml(text: str) -> str:
    response = VoiceResponse()
    response.say(text, voice="Polly.Mizuki", language="ja-JP")
    return str(response)


def join_room(sim: SimulatorClient, app: AppUnderTest, *numbers: str) -> list[str]:
    """Each number calls in and sits in room-1, in the order given (each once the one before is in); their CallSids."""
    app.routes["/voice"] = conference_twiml(app)
    sids = []
    for number in numbers:  # one at a time: calls placed at once race to join, in either order
        sids.append(sim.phone(number).call(NUMBER))
        assert sim.settle(SETTLE) == []
    return sids
