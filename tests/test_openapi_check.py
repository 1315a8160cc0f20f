"""Tests for ``openapi_check``: valid exchanges pass, broken ones fail.

Request bodies are produced by twilio-python itself (through a capturing HTTP
client, no network) and responses come from the spec's own ``examples``.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from typing import Any, Callable
from urllib.parse import urlsplit

import pytest
import requests
from openapi_core.testing import MockRequest
from openapi_core.unmarshalling.request.unmarshallers import V30RequestBodyUnmarshaller
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from tests.openapi_check import FORMAT_CHECKERS, SPEC_DIR, SpecViolation, TwilioSpec, api_v2010, proxy_v1

AC = "AC" + "a" * 32
CF = "CF" + "b" * 32
V2010 = "twilio_api_v2010.json"
PROXY = "twilio_proxy_v1.json"
FORM = "application/x-www-form-urlencoded"
ACCOUNT = "/2010-04-01/Accounts/{AccountSid}"
PARTICIPANTS = ACCOUNT + "/Conferences/{ConferenceSid}/Participants.json"
CONFERENCE = ACCOUNT + "/Conferences/{Sid}.json"
CONFERENCES = ACCOUNT + "/Conferences.json"
CALLS = ACCOUNT + "/Calls.json"


@functools.cache
def _spec_json(name: str) -> dict[str, Any]:
    return json.loads((SPEC_DIR / name).read_text())


def example(path: str, method: str, status: int, name: str, spec: str = V2010) -> Any:
    """Returns a deep copy of a response example from the spec file ``spec``."""
    response = _spec_json(spec)["paths"][path][method]["responses"][str(status)]
    return copy.deepcopy(response["content"]["application/json"]["examples"][name]["value"])


class _CapturingHttpClient(TwilioHttpClient):
    """Records what twilio-python would put on the wire; answers with a canned body."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__()
        self.status, self.body = status, json.dumps(body)
        self.sent: list[requests.PreparedRequest] = []

    def request(self, method: str, url: str, params: Any = None, data: Any = None,
                headers: Any = None, **kwargs: Any) -> Response:
        request = requests.Request(method.upper(), url, params=params, data=data, headers=headers)
        self.sent.append(request.prepare())
        return Response(self.status, self.body)


def sent_by_twilio(call: Callable[[Client], object], status: int, body: Any) -> dict[str, Any]:
    """Returns the exchange for what ``call`` sends, answered with ``status``/``body``."""
    http = _CapturingHttpClient(status, body)
    call(Client(AC, "auth-token", http_client=http))
    (sent,) = http.sent
    url = urlsplit(sent.url)
    return {
        "method": sent.method, "path": url.path, "query": url.query,
        "content_type": sent.headers.get("Content-Type"), "body": sent.body or "",
        "status": status, "response_content_type": "application/json",
        "response_body": http.body,
    }


def exchange(method: str, path: str, body: str = "", query: str = "", status: int = 200,
             response: Any = None, content_type: str = "application/json") -> dict[str, Any]:
    """Returns a hand-written exchange (for encodings twilio-python never produces)."""
    return {
        "method": method, "path": path, "query": query, "content_type": FORM if body else None,
        "body": body, "status": status, "response_content_type": content_type,
        "response_body": response if isinstance(response, str) else json.dumps(response),
    }


def participants_create(body: str, response: Any = None, status: int = 201) -> dict[str, Any]:
    if response is None:
        response = example(PARTICIPANTS, "post", 201, "createWithSid")
    path = f"/2010-04-01/Accounts/{AC}/Conferences/{CF}/Participants.json"
    return exchange("POST", path, body, status=status, response=response)


def violation(entry: dict[str, Any], spec: TwilioSpec | None = None) -> str:
    """Returns the SpecViolation message ``entry`` must produce."""
    with pytest.raises(SpecViolation) as caught:
        (spec or api_v2010()).validate_exchange(entry)
    message = str(caught.value)
    assert message.startswith(f"{entry['method']} {entry['path']}")
    return message


# --- valid exchanges, encoded by twilio-python -------------------------------


def test_participant_create_with_repeated_events_and_booleans() -> None:
    entry = sent_by_twilio(
        lambda c: c.conferences(CF).participants.create(
            from_="+15017122661", to="+15558675310", label="customer",
            status_callback="https://app.example/cb",
            status_callback_event=["initiated", "ringing"],
            conference_status_callback_event=["start", "end", "join"],
            muted=True, early_media=False, timeout=30,
        ),
        201, example(PARTICIPANTS, "post", 201, "createWithSid"),
    )
    assert "StatusCallbackEvent=initiated&StatusCallbackEvent=ringing" in entry["body"]
    assert "Muted=true" in entry["body"] and "Timeout=30" in entry["body"]
    api_v2010().validate_exchange(entry)


def test_single_valued_array_param() -> None:
    entry = sent_by_twilio(
        lambda c: c.conferences(CF).participants.create(
            from_="+15017122661", to="client:alice", status_callback_event=["answered"]
        ),
        201, example(PARTICIPANTS, "post", 201, "createWithSid"),
    )
    assert "StatusCallbackEvent=answered" in entry["body"]
    api_v2010().validate_exchange(entry)


def test_openapi_core_decodes_form_arrays_and_casts_scalars() -> None:
    request = MockRequest(
        "https://api.twilio.com", "POST",
        f"/2010-04-01/Accounts/{AC}/Conferences/{CF}/Participants.json",
        data=b"From=%2B1501&To=%2B1555&StatusCallbackEvent=initiated&StatusCallbackEvent=ringing"
             b"&ConferenceStatusCallbackEvent=end&Muted=true&Timeout=30",
        content_type=FORM,
    )
    unmarshaller = V30RequestBodyUnmarshaller(api_v2010().spec, base_url="https://api.twilio.com")
    body = unmarshaller.unmarshal(request).body
    assert body == {
        "From": "+1501", "To": "+1555", "StatusCallbackEvent": ["initiated", "ringing"],
        "ConferenceStatusCallbackEvent": ["end"], "Muted": True, "Timeout": 30,
    }


def test_conference_update_announce() -> None:
    entry = sent_by_twilio(
        lambda c: c.conferences(CF).update(
            announce_url="https://app.example/announce.xml", announce_method="POST"
        ),
        200, example(CONFERENCE, "post", 200, "announceToConference"),
    )
    assert entry["body"] == (
        "AnnounceUrl=https%3A%2F%2Fapp.example%2Fannounce.xml&AnnounceMethod=POST"
    )
    api_v2010().validate_exchange(entry)


def test_calls_create() -> None:
    entry = sent_by_twilio(
        lambda c: c.calls.create(
            to="+15558675310", from_="+15017122661", url="https://app.example/twiml",
            status_callback="https://app.example/status", status_callback_method="POST",
            status_callback_event=["initiated", "answered", "completed"], record=False, timeout=20,
        ),
        201, example(CALLS, "post", 201, "create"),
    )
    api_v2010().validate_exchange(entry)


def test_conferences_list_with_friendly_name() -> None:
    entry = sent_by_twilio(
        lambda c: c.conferences.page(friendly_name="room 1", status="in-progress", page_size=20),
        200, example(CONFERENCES, "get", 200, "readFull"),
    )
    assert entry["method"] == "GET" and entry["body"] == ""
    assert "FriendlyName=room+1" in entry["query"] and "PageSize=20" in entry["query"]
    api_v2010().validate_exchange(entry)


def test_proxy_service_create() -> None:
    entry = sent_by_twilio(
        lambda c: c.proxy.v1.services.create(unique_name="support", default_ttl=3600),
        201, example("/v1/Services", "post", 201, "create", PROXY),
    )
    proxy_v1().validate_exchange(entry)


def test_proxy_session_create_with_unknown_mode_fails() -> None:
    sessions = "/v1/Services/{ServiceSid}/Sessions"
    entry = sent_by_twilio(
        lambda c: c.proxy.v1.services("KS" + "a" * 32).sessions.create(
            unique_name="order-1", mode="voice-and-message", ttl=600
        ),
        201, example(sessions, "post", 201, "create", PROXY),
    )
    proxy_v1().validate_exchange(entry)
    entry["body"] = entry["body"].replace("voice-and-message", "fax-only")
    assert "Mode: 'fax-only' is not one of" in violation(entry, proxy_v1())


def test_json_content_type_with_charset_and_empty_optional_body() -> None:
    path = f"/2010-04-01/Accounts/{AC}/Conferences/{CF}.json"
    response = example(CONFERENCE, "post", 200, "updateEndConference")
    api_v2010().validate_exchange(
        exchange("POST", path, response=response, content_type="application/json; charset=utf-8")
    )


def test_participant_delete_with_empty_204() -> None:
    path = f"/2010-04-01/Accounts/{AC}/Conferences/{CF}/Participants/CA{'c' * 32}.json"
    deleted = exchange("DELETE", path, status=204, response="", content_type="")
    api_v2010().validate_exchange(deleted)
    assert "undocumented status 200" in violation(exchange("DELETE", path, status=200, response=""))


def test_unset_enum_may_be_null_but_not_unknown() -> None:
    conference = example(CONFERENCE, "get", 200, "fetchValidRegionInProgress")
    path = f"/2010-04-01/Accounts/{AC}/Conferences/{CF}.json"
    conference["reason_conference_ended"] = None
    api_v2010().validate_exchange(exchange("GET", path, response=conference))
    conference["reason_conference_ended"] = "bored"
    assert "reason_conference_ended: 'bored' is not one of" in violation(
        exchange("GET", path, response=conference)
    )


def test_twilio_error_body_is_accepted_for_undocumented_error_status() -> None:
    error = {"code": 20404, "message": "The requested resource was not found",
             "more_info": "https://www.twilio.com/docs/errors/20404", "status": 404}
    api_v2010().validate_exchange(participants_create("From=%2B1501&To=%2B1555", error, 404))


def test_specs_are_cached() -> None:
    assert api_v2010() is api_v2010()
    assert TwilioSpec(SPEC_DIR / V2010).spec is api_v2010().spec


# --- broken exchanges must fail ----------------------------------------------


def _without(key: str) -> Any:
    participant = example(PARTICIPANTS, "post", 201, "createWithSid")
    del participant[key]
    return participant


def _with(key: str, value: Any) -> Any:
    return {**example(PARTICIPANTS, "post", 201, "createWithSid"), key: value}


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (_without("muted"), "<root>: 'muted' is a required property"),
        (_with("muted", "yes"), "muted: 'yes' is not of type 'boolean'"),
        (_with("call_sid", "CA123"), "call_sid: 'CA123' does not match '^CA[0-9a-fA-F]{32}$'"),
        (_with("status", "dancing"), "status: 'dancing' is not one of"),
        (_with("date_created", "yesterday"),
         "date_created: 'yesterday' is not a 'date-time-rfc-2822'"),
        ([], "<root>: [] is not of type 'object'"),
    ],
    ids=["missing-property", "wrong-type", "sid-pattern", "unknown-enum", "bad-date", "not-object"],
)
def test_broken_response_fails(response: Any, expected: str) -> None:
    entry = participants_create("From=%2B1501&To=%2B1555", response)
    assert f"response: {expected}" in violation(entry)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("From=%2B1501&To=%2B1555&WaitMethod=PUT",
         "WaitMethod: 'PUT' is not one of ['GET', 'POST'"),
        ("From=%2B1501", "'To' is a required property"),
        ("", "request body: empty, but 'From', 'To' required"),
        ("From=%2B1501&To=%2B1555&Muted=yes", "Failed to cast value to boolean type: yes"),
        ("From=%2B1501&To=%2B1555&Timeout=soon", "Failed to cast value to integer type: soon"),
        ("From=%2B1501&To=%2B1555&Mutted=true", "undeclared parameter 'Mutted'"),
        ("From=%2B1501&To=%2B1555&Label=a&Label=b", "parameter 'Label' repeated but not an array"),
    ],
    ids=["enum", "missing-required", "empty-body", "boolean", "integer", "unknown-field",
         "repeated-scalar"],
)
def test_broken_participant_request_fails(body: str, expected: str) -> None:
    assert expected in violation(participants_create(body))


def test_conference_update_with_unknown_announce_method_fails() -> None:
    path = f"/2010-04-01/Accounts/{AC}/Conferences/{CF}.json"
    body = "AnnounceUrl=https%3A%2F%2Fapp.example%2Fa.xml&AnnounceMethod=PUT"
    response = example(CONFERENCE, "post", 200, "announceToConference")
    message = violation(exchange("POST", path, body, response=response))
    assert "request body: AnnounceMethod: 'PUT' is not one of ['GET', 'POST'" in message


def test_status_callback_event_values_are_not_enumerated_by_the_spec() -> None:
    """Known limit: the spec types these array items as plain strings, so
    ``StatusCallbackEvent=bogus`` cannot be caught by spec validation."""
    items = _spec_json(V2010)["paths"][PARTICIPANTS]["post"]["requestBody"]["content"][FORM][
        "schema"]["properties"]["StatusCallbackEvent"]["items"]
    assert items == {"type": "string"}
    entry = participants_create("From=%2B1501&To=%2B1555&StatusCallbackEvent=bogus")
    api_v2010().validate_exchange(entry)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("Status=bogus", "query parameter 'Status': <root>: 'bogus' is not one of"),
        ("PageSize=0", "query parameter 'PageSize': <root>: 0 is less than the minimum of 1"),
        ("DateCreated=yesterday", "'yesterday' is not a 'date'"),
        ("FriendlyName=a&Frendlyname=b", "undeclared parameter 'Frendlyname'"),
    ],
)
def test_broken_conferences_list_query_fails(query: str, expected: str) -> None:
    path = f"/2010-04-01/Accounts/{AC}/Conferences.json"
    response = example(CONFERENCES, "get", 200, "readEmpty")
    assert expected in violation(exchange("GET", path, query=query, response=response))


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("POST", f"/2010-04-01/Accounts/{AC}/Conferences/{CF}/Mute.json",
         "no such operation: Path not found"),
        ("DELETE", f"/2010-04-01/Accounts/{AC}/Conferences.json",
         "no such operation: Operation delete not found"),
        ("GET", "/2010-04-01/Accounts/AC123/Conferences.json", "path parameter 'AccountSid'"),
    ],
)
def test_request_outside_the_spec_fails(method: str, path: str, expected: str) -> None:
    assert expected in violation(exchange(method, path, response={}))


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (400, {"message": "Bad", "more_info": "u", "status": 400}, "'code' missing or not int"),
        (400, {"code": True, "message": "Bad", "more_info": "u", "status": 400},
         "'code' missing or not int"),
        (404, {"code": 20404, "message": "x", "more_info": "u", "status": 400},
         "status 400 != HTTP 404"),
        (500, "<html>oops</html>", "error response body is not JSON"),
        (200, {"code": 1, "message": "x", "more_info": "u", "status": 200},
         "undocumented status 200"),
    ],
    ids=["missing-code", "bool-code", "status-mismatch", "not-json", "undocumented-2xx"],
)
def test_bad_status_or_error_body_fails(status: int, body: Any, expected: str) -> None:
    assert expected in violation(participants_create("From=%2B1501&To=%2B1555", body, status))


# --- format checkers ---------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "good", "bad"),
    [
        ("date-time-rfc-2822", "Fri, 18 Feb 2011 21:07:19 +0000", "2011-02-18T21:07:19Z"),
        ("phone-number", "+15017122661", "yes"),
        ("phone-number", "client:alice", "+"),
        ("phone-number", "(800) 100-0052", "call me"),
        ("uri", "https://app.example/cb?a=1", "not a url"),
        ("uri", "/2010-04-01/Accounts.json", "app.example/cb"),
        ("currency", "usd", "dollars"),
        ("iso-country-code", "US", "USA"),
    ],
)
def test_format_checkers(fmt: str, good: str, bad: str) -> None:
    assert FORMAT_CHECKERS[fmt](good) and not FORMAT_CHECKERS[fmt](bad)


# --- every response example in the specs -------------------------------------

# Examples that contradict their own schema in Twilio's spec: they must fail;
# every other example must pass.
SPEC_EXAMPLE_BUGS = {
    r"get .*/AvailablePhoneNumbers/\{CountryCode\}/\w+\.json 200 read": "omits page metadata",
    r"(get|post) .*/IncomingPhoneNumbers(/\w+|/\{Sid\})?\.json 200 (readFull|fetch|update)$":
        "'' AP sid",
    r"get .*/(Usage/Records(/\w+)?|Transcriptions(/\{Sid\})?)\.json 200 (readFull|fetch)$":
        "string price",
    r"get .*/Calls/\{CallSid\}/Recordings(/\{Sid\})?\.json 200 (readFull|fetch)$": "string price",
    r"get .*/DependentPhoneNumbers\.json 200 readFull$": "trunk_sid example is an AP sid",
}


def _all_examples(buggy: bool) -> list[tuple[str, str, str, int, str]]:
    cases = []
    for spec in (V2010, PROXY):
        for path, item in _spec_json(spec)["paths"].items():
            for method, operation in item.items():
                responses = operation.get("responses", {}) if isinstance(operation, dict) else {}
                for status, response in responses.items():
                    content = response.get("content", {}).get("application/json", {})
                    for name in content.get("examples", {}):
                        case_id = f"{method} {path} {status} {name}"
                        if any(re.match(rx, case_id) for rx in SPEC_EXAMPLE_BUGS) == buggy:
                            cases.append((spec, method, path, int(status), name))
    return cases


def _example_problems(spec: str, method: str, path: str, status: int, name: str) -> list[str]:
    checker = api_v2010() if spec == V2010 else proxy_v1()
    entry = exchange(method.upper(), re.sub(r"\{\w+\}", "x", path), status=status,
                     response=example(path, method, status, name, spec))
    return checker.check_response(entry)


@pytest.mark.parametrize(("spec", "method", "path", "status", "name"), _all_examples(buggy=False))
def test_spec_response_examples_pass(
    spec: str, method: str, path: str, status: int, name: str
) -> None:
    assert _example_problems(spec, method, path, status, name) == []


def test_known_bad_spec_examples_are_rejected() -> None:
    cases = _all_examples(buggy=True)
    assert len(cases) == 36
    assert all(_example_problems(*case) for case in cases)
