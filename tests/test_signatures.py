"""Every Twilio-facing route refuses what Twilio did not sign, and changes nothing."""

from __future__ import annotations

import pytest
from twilio.request_validator import RequestValidator

from app import create_app
from callchat import rooms
from tests.conftest import SECRET_KEY

TOKEN = "sig-test-token"
ROOM = "CA" + "b2" * 16
PUBLIC = "https://callchat.example.com"
PARAMS = {"CallSid": ROOM, "From": "+819012345678", "To": "+815011112222", "AccountSid": "AC" + "0" * 32,
          "StatusCallbackEvent": "conference-end", "FriendlyName": ROOM, "ConferenceSid": "CF" + "1" * 32,
          "CallStatus": "completed", "AnnounceUrl": f"{PUBLIC}/voice/rooms/{ROOM}/messages/1/announce"}


@pytest.fixture
def app(redis_url, redis_client):
    app = create_app({"TESTING": True, "REDIS_URL": redis_url, "TWILIO_AUTH_TOKEN": TOKEN, "PUBLIC_BASE_URL": PUBLIC,
                      "OWNER_PHONE": "+819099998888", "SECRET_KEY": SECRET_KEY})
    return app


def twilio_routes(app):
    """(method, path) of every route under /voice/ — the prefix reserved for Twilio, served by `app.twilio_app`."""
    adapter = app.twilio_app.url_map.bind("localhost")
    found = []
    for rule in app.twilio_app.url_map.iter_rules():
        if not rule.rule.startswith("/voice/"):
            continue
        values = {name: (1 if name in ("msg_id", "n") else ROOM) for name in rule.arguments}
        path = adapter.build(rule.endpoint, values)
        found += [(method, path) for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return found


def everything(r):
    """The whole database, to prove a refused request changed nothing."""
    return {key: (r.type(key), r.dump(key)) for key in r.keys("*")}


def test_the_walk_finds_the_twilio_routes(app):
    paths = {path for _, path in twilio_routes(app)}
    assert {"/voice/incoming", "/voice/conference-status"} <= paths
    assert len(paths) >= 4
    assert not [rule.rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/voice/")], \
        "every Twilio-facing route is the Twilio-facing app's"


@pytest.mark.parametrize("signature", [None, "", "bm90IGEgc2lnbmF0dXJl", "WRONG"])
def test_every_twilio_route_refuses_unsigned_or_wrongly_signed_requests(app, redis_client, signature):
    client = app.test_client()
    rooms.create(redis_client, ROOM, "+819012345678", "Polly.Mizuki", "ja-JP", 3600)
    rooms.update(redis_client, ROOM, status="live", conference_sid="CF" + "1" * 32)
    rooms.add_message(redis_client, ROOM, "say", "hello", "Polly.Mizuki", "ja-JP")
    before = everything(redis_client)
    jobs_before = app.task_queue.count
    for method, path in twilio_routes(app):
        headers = {} if signature is None else {"X-Twilio-Signature": signature}
        response = client.open(path, method=method, data=PARAMS, headers=headers)
        assert response.status_code == 403, (method, path, response.status_code)
        assert "signed by Twilio" in response.get_json()["error"]
    assert everything(redis_client) == before
    assert app.task_queue.count == jobs_before


def test_a_signature_for_another_url_is_refused(app, redis_client):
    signature = RequestValidator(TOKEN).compute_signature("https://evil.example.com/voice/incoming", PARAMS)
    response = app.test_client().post("/voice/incoming", data=PARAMS, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 403
    assert redis_client.keys("*") == []


def test_a_signature_for_the_public_url_is_accepted_behind_a_proxy(app, redis_client):
    # Twilio called https://callchat.example.com/…; the proxy forwarded it to http://localhost/….
    signature = RequestValidator(TOKEN).compute_signature(f"{PUBLIC}/voice/incoming", PARAMS)
    response = app.test_client().post("/voice/incoming", data=PARAMS, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 200
    assert response.mimetype == "text/xml"
    assert rooms.get(redis_client, ROOM)["caller"] == "+819012345678"
    assert {job.func_name.split(".")[-1] for job in app.task_queue.jobs} == {"dial_owner"}, \
        "watch_caller goes with the caller's first loop fetch"


def test_a_signature_over_the_url_with_its_default_port_is_accepted(app, redis_client):
    # Twilio may sign https://host:443/… for https://host/… (twilio-python's RequestValidator checks both forms).
    signature = RequestValidator(TOKEN).compute_signature("https://callchat.example.com:443/voice/incoming", PARAMS)
    response = app.test_client().post("/voice/incoming", data=PARAMS, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 200
    assert rooms.get(redis_client, ROOM)["caller"] == "+819012345678"


def test_twilio_is_sent_no_cookie_and_an_unknown_voice_path_answers_json(app, redis_client):
    # /voice/… is served by the Twilio-facing app (callchat.twilio_facing): no session, JSON errors.
    signature = RequestValidator(TOKEN).compute_signature(f"{PUBLIC}/voice/incoming", PARAMS)
    client = app.test_client()
    response = client.post("/voice/incoming", data=PARAMS, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 200 and "Set-Cookie" not in response.headers
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    missing = client.post("/voice/nowhere", data=PARAMS, headers={"X-Twilio-Signature": signature})
    assert missing.status_code == 404 and missing.get_json()["error"]


def test_proxy_fix_rebuilds_the_signed_url_when_no_public_base_url(redis_url, redis_client):
    app = create_app({"TESTING": True, "REDIS_URL": redis_url, "TWILIO_AUTH_TOKEN": TOKEN, "PUBLIC_BASE_URL": "",
                      "PROXY_HOPS": 1, "SECRET_KEY": SECRET_KEY})
    signature = RequestValidator(TOKEN).compute_signature("https://callchat.example.com/voice/incoming", PARAMS)
    headers = {"X-Twilio-Signature": signature, "X-Forwarded-Proto": "https", "X-Forwarded-Host": "callchat.example.com"}
    assert app.test_client().post("/voice/incoming", data=PARAMS, headers=headers).status_code == 200
    # Without the proxy headers the same signature does not match http://localhost/….
    assert app.test_client().post("/voice/incoming", data=PARAMS,
                                  headers={"X-Twilio-Signature": signature}).status_code == 403
