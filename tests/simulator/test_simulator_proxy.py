"""Twilio Proxy v1 in the simulator, driven by twilio-python (every exchange checked against
Twilio's OpenAPI specs), and masked calls between virtual phones."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from simulator import SimulatorClient, SimulatorServer
from tests.openapi_check import api_v2010, proxy_v1
from tests.simulator.conftest import ACCOUNT_SID, AUTH_TOKEN, NUMBER, SETTLE, say_twiml

POOL = ["+815000000101", "+815000000102"]
ALICE, BOB, CAROL, DAVE = "+819011110001", "+819011110002", "+819011110003", "+819011110004"


class RebasedHttpClient(TwilioHttpClient):
    """twilio-python's HTTP client, sending every https://*.twilio.com request (api. and
    proxy.) to the simulator, path and query unchanged."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base = urlsplit(base_url)

    def request(self, method, url, *args, **kwargs):
        parts = urlsplit(url)
        if parts.hostname and parts.hostname.endswith(".twilio.com"):
            url = urlunsplit((self.base.scheme, self.base.netloc, parts.path, parts.query, ""))
        return super().request(method, url, *args, **kwargs)


@pytest.fixture(scope="module")
def server(app_under_test):
    server = SimulatorServer({"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN,
                              "phone_number": NUMBER, "voice_url": app_under_test.url + "/voice",
                              "numbers": [{"phone_number": n} for n in POOL],
                              "clock": "auto"}).start()
    yield server
    server.stop()


def check_journal(sim: SimulatorClient) -> int:
    """Validate every REST exchange so far against its spec; return how many were /v1/."""
    proxied = 0
    for exchange in sim.requests():
        if exchange["path"].startswith("/v1/"):
            proxy_v1().validate_exchange(exchange)
            proxied += 1
        else:
            api_v2010().validate_exchange(exchange)
    return proxied


@pytest.fixture
def twilio(server):
    return Client(ACCOUNT_SID, AUTH_TOKEN, http_client=RebasedHttpClient(server.url))


@pytest.fixture
def service(twilio, sim):
    """A Proxy service created over REST, with both pool numbers (one by sid, one by number)."""
    created = twilio.proxy.v1.services.create(unique_name="masked-calls")
    pool = {n.phone_number: n.sid for n in twilio.incoming_phone_numbers.list()}
    created.phone_numbers.create(sid=pool[POOL[0]])
    created.phone_numbers.create(phone_number=POOL[1])
    return created


def session_with(service, *identifiers, **options):
    session = service.sessions.create(**options)
    return session, [session.participants.create(identifier=i) for i in identifiers]


def test_masked_call_reaches_the_partner_from_their_proxy_number(sim, twilio, service):
    session, (alice, bob) = session_with(service, ALICE, BOB, unique_name="order-1", ttl=3600,
                                         mode="voice-only")
    assert session.sid.startswith("KC") and session.status == "open"
    assert (alice.identifier, alice.sid[:2], alice.proxy_identifier_sid[:2]) == (
        ALICE, "KP", "PN")
    assert {alice.proxy_identifier, bob.proxy_identifier} <= set(POOL)

    call_sid = sim.phone(ALICE).call(alice.proxy_identifier)
    assert sim.settle(SETTLE) == []

    [leg] = sim.phone(BOB).calls()
    assert (leg["from"], leg["to"], leg["status"]) == (bob.proxy_identifier, BOB, "in-progress")
    assert ALICE not in (leg["from"], leg["to"])
    assert twilio.calls(call_sid).fetch().status == "in-progress"
    fetched = service.sessions("order-1").fetch()
    assert (fetched.sid, fetched.status, fetched.mode) == (session.sid, "in-progress",
                                                          "voice-only")
    assert fetched.date_last_interaction is not None and fetched.date_expiry is not None
    assert [p.identifier for p in session.participants.list()] == [ALICE, BOB]
    assert session.participants(bob.sid).fetch().proxy_identifier == bob.proxy_identifier
    assert [n.in_use for n in service.phone_numbers.list()] == [1, 0]

    sim.hang_up(leg["call_sid"])
    assert sim.settle(SETTLE) == []
    assert twilio.calls(call_sid).fetch().status == "completed"
    assert check_journal(sim) == 10  # /v1/ exchanges, all valid


def test_proxy_numbers_keep_each_identifier_pair_unique_among_live_sessions(sim, service):
    first, (alice_1, _) = session_with(service, ALICE, BOB)
    _, (alice_2, carol) = session_with(service, ALICE, CAROL)
    assert alice_1.proxy_identifier != alice_2.proxy_identifier  # two sessions, two numbers
    third = service.sessions.create()
    with pytest.raises(TwilioRestException) as raised:
        third.participants.create(identifier=ALICE)
    assert (raised.value.status, raised.value.code) == (400, 80208)

    first.update(status="closed")
    alice_3 = third.participants.create(identifier=ALICE)
    assert alice_3.proxy_identifier == alice_1.proxy_identifier

    sim.phone(CAROL).call(carol.proxy_identifier)  # reaches Alice from her session-2 number
    assert sim.settle(SETTLE) == []
    assert sim.phone(ALICE).calls()[0]["from"] == alice_2.proxy_identifier


def test_sessions_expire_by_ttl_on_the_simulators_clock(sim, service):
    session, (alice, _) = session_with(service, ALICE, BOB, ttl=60)
    sim.advance(59)
    assert session.fetch().status == "open"
    sim.advance(2)

    expired = session.fetch()
    assert (expired.status, expired.closed_reason) == ("closed", "ttl")
    assert expired.date_ended is not None
    call_sid = sim.phone(ALICE).call(alice.proxy_identifier)
    [error] = sim.settle(SETTLE)
    assert (error["code"], error["call_sid"]) == (80904, call_sid)
    assert sim.phone(BOB).calls() == []
    with pytest.raises(TwilioRestException) as raised:
        session.participants.create(identifier=CAROL)
    assert raised.value.code == 80607


def test_a_caller_outside_any_session_is_rejected_or_sent_out_of_session(sim, app, twilio):
    service_sid = sim.create_proxy_service("existing", POOL[:1])
    session = twilio.proxy.v1.services(service_sid).sessions.create(participants=[
        {"Identifier": ALICE}, {"Identifier": BOB, "FriendlyName": "Bob"}])
    assert [p.friendly_name for p in session.participants.list()] == [None, "Bob"]

    stranger = sim.phone(CAROL).call(POOL[0])
    [error] = sim.settle(SETTLE)
    assert (error["code"], error["call_sid"]) == (80905, stranger)
    assert twilio.calls(stranger).fetch().status == "failed"
    assert [c["to"] for c in sim.calls()] == [POOL[0]]  # nobody else was called

    app.routes["/out-of-session"] = say_twiml("このセッションは終了しました")
    twilio.proxy.v1.services(service_sid).update(
        out_of_session_callback_url=app.url + "/out-of-session")
    sim.phone(CAROL).call(POOL[0])
    assert sim.settle(SETTLE) == [error]
    assert app.params("/out-of-session")[0]["From"] == CAROL
    assert sim.phone(CAROL).heard()[0]["text"] == "このセッションは終了しました"


def test_message_only_sessions_do_not_carry_calls(sim, service):
    _, (alice, _) = session_with(service, ALICE, BOB, mode="message-only")
    sim.phone(ALICE).call(alice.proxy_identifier)
    [error] = sim.settle(SETTLE)
    assert error["code"] == 80905 and sim.phone(BOB).calls() == []


def test_closed_proxy_answers_80506_to_every_create(sim, twilio):
    service_sid = sim.create_proxy_service("existing", POOL)  # the control API still works
    existing = twilio.proxy.v1.services(service_sid)
    session = existing.sessions.create(unique_name="before")
    sim.set_proxy_closed(True)

    for create in (lambda: twilio.proxy.v1.services.create(unique_name="new"),
                   lambda: existing.sessions.create(unique_name="after"),
                   lambda: session.participants.create(identifier=ALICE),
                   lambda: existing.phone_numbers.create(phone_number=NUMBER)):
        with pytest.raises(TwilioRestException) as raised:
            create()
        assert (raised.value.status, raised.value.code) == (403, 80506)
    assert [s.unique_name for s in existing.sessions.list()] == ["before"]
    assert sim.proxy()["closed"] is True

    sim.set_proxy_closed(False)
    assert session.participants.create(identifier=ALICE).proxy_identifier in POOL


@pytest.mark.parametrize("identifier, options, code", [
    ("0901111000", {}, 80404),  # not E.164
    (ALICE, {"proxy_identifier": NUMBER}, 80605),  # not in the pool
    (ALICE, {"proxy_identifier_sid": "PN" + "0" * 32}, 80605),
])
def test_participant_errors(sim, service, identifier, options, code):
    session = service.sessions.create()
    with pytest.raises(TwilioRestException) as raised:
        session.participants.create(identifier=identifier, **options)
    assert (raised.value.status, raised.value.code) == (400, code)


def error_code(create) -> int:
    """The Twilio error code ``create()`` fails with."""
    with pytest.raises(TwilioRestException) as raised:
        create()
    return raised.value.code


def test_session_limits_and_pool_errors(sim, twilio, service):
    session, _ = session_with(service, ALICE, unique_name="order-2")
    assert error_code(lambda: session.participants.create(identifier=ALICE)) == 80103
    session.participants.create(identifier=BOB, proxy_identifier=POOL[1])
    assert error_code(lambda: session.participants.create(identifier=CAROL)) == 80609
    assert error_code(lambda: service.sessions.create(unique_name="order-2")) == 80603
    assert error_code(lambda: twilio.proxy.v1.services.create(unique_name="masked-calls")) == (
        80602)

    empty = twilio.proxy.v1.services.create(unique_name="empty")
    assert error_code(lambda: empty.sessions.create().participants.create(
        identifier=DAVE)) == 80205
    assert error_code(lambda: empty.phone_numbers.create(phone_number=POOL[0])) == 80601
    for number in service.phone_numbers.list():
        number.update(is_reserved=True)
    assert error_code(lambda: service.sessions.create().participants.create(
        identifier=DAVE)) == 80207


def test_deleting_participants_sessions_and_services(sim, twilio, service):
    session, (alice, bob) = session_with(service, ALICE, BOB)
    assert session.participants(bob.sid).delete() is True
    assert [p.sid for p in session.participants.list()] == [alice.sid]
    assert session.delete() is True
    with pytest.raises(TwilioRestException) as raised:
        session.fetch()
    assert (raised.value.status, raised.value.code) == (404, 20404)
    number = service.phone_numbers.list()[0]
    assert service.phone_numbers(number.sid).delete() is True
    assert len(service.phone_numbers.list()) == 1
    assert service.delete() is True
    assert twilio.proxy.v1.services.list() == []


def test_proxy_needs_the_accounts_credentials(server, sim):
    wrong = Client(ACCOUNT_SID, "wrong-token", http_client=RebasedHttpClient(server.url))
    with pytest.raises(TwilioRestException) as raised:
        wrong.proxy.v1.services("KS" + "f" * 32).fetch()
    assert (raised.value.status, raised.value.code) == (401, 20003)
