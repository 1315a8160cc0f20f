"""Fuzzing every route (`app.url_map`, and `app.twilio_app.url_map` for /voice/…): malformed input answers 4xx,
never 5xx, and a refused request changes nothing.

Each request is signed where Twilio signs (as `stack.twilio_post` signs), signed in where
people sign in (operator, or admin for /admin), and carries the bearer token for /api, so
that it gets past the gate to the code that reads it; a few are left unsigned or without
their CSRF token. Bodies are malformed forms and JSON, bad UTF-8, lone surrogates, wrong
Content-Types, deep nesting and sizes past the limit; ids are real, unknown and malformed.
The seed is fixed, so a failure repeats. Run with `-s` to see the count.

"Redis unchanged by a refused request" is checked from Redis's keyspace notifications
(redis.io/docs/latest/develop/use/keyspace-notifications/): every write names its key, so
a 4xx request must have written nothing but bookkeeping (`REFUSAL_AUDIT`, rate-limit
counters, a token's last use). That is stricter than comparing digests (a write of the
same value counts too) and costs one round trip a request, where a digest of every key
after each of 10,000 requests took minutes as accepted requests filled Redis.
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from typing import Any, Iterator
from urllib.parse import quote, urlencode

import pytest
from twilio.request_validator import RequestValidator
from werkzeug.test import EnvironBuilder

from callchat import access, audit, rooms, users
from callchat.request_limits import MAX_CONTENT_LENGTH, MAX_JSON_DEPTH
from tests.conftest import (ADMIN, API_TOKEN, AUTH_TOKEN, CALLER, OPERATOR, REFUSAL_AUDIT, client_signed_in_as,
                            page_csrf)

SEED = 20261201
REQUESTS = int(os.environ.get("FUZZ_REQUESTS", 10_000))
ROOM = "CA" + "5a" * 16
#: A user the fuzz may disable, enable or send links to (never the signed-in operator or admin).
TARGET = "fuzzee"
#: Endpoints whose success ends the client's own session: sent from a throwaway client.
SESSION_ENDING = {"auth.signout", "auth.signin", "auth.link", "auth.invite", "auth.new_password"}

WEIRD_TEXT = ["", " ", "a", "0", "-1", "1.5", "1e999", "NaN", "²", "٣", "null", "true", "[]", "{}", "\x00",
              "\x7f\x1b[31m", "<script>alert(1)</script>", "' OR 1=1 --", "%ED%A0%80", "%FF%FE", "..%2F..%2Fetc",
              "https://[", "http://[::1", "https://example.com:99999/a.mp3", "javascript:alert(1)",
              "https://example.com/a.mp3", "https://127.0.0.1/a", "file:///etc/passwd", "+819012345678",
              "090-5555-6666", "+1", "CA" + "0" * 32, "CA" + "g" * 32, "CA:x", "CF" + "1" * 32, "é" * 40,
              "\u202e\u200b", "😀" * 10, "a" * 5001, "9" * 40, "Polly.Mizuki", "ja-JP", "say", "play"]
JSON_VALUES: list[Any] = [None, True, False, 0, -1, 2 ** 70, 1.5, float("inf"), "", [], {}, ["a"], {"a": "b"}]
FIELDS = ["CallSid", "CallStatus", "SequenceNumber", "SipResponseCode", "CallDuration", "Duration", "Timestamp",
          "AnnounceUrl", "FriendlyName", "StatusCallbackEvent", "ConferenceSid", "ParticipantLabel", "AnsweredBy",
          "ErrorCode", "ReasonAnnouncementFailed", "Muted", "From", "To", "AccountSid",
          "kind", "text", "url", "client_id", "voice", "language", "to", "say", "room", "max_attempts",
          "retry_delay", "ring_timeout", "machine", "status_callback", "user", "a", "b", "ttl",
          "username", "password", "password2", "name", "scopes", "owner", "role", "next", "csrf_token"]
QUERY_NAMES = ["next", "action", "since", "until", "before", "page", "actor", "room", "format"]


@pytest.fixture
def stack_config(stack_config):
    """Limits high enough that the fuzz reaches the views rather than Flask-Limiter's 429."""
    return dict(stack_config, MESSAGE_LIMIT_PER_USER="100000 per minute", DIAL_LIMIT_PER_USER="100000 per hour",
                API_LIMIT_PER_TOKEN="100000 per minute", SIGNIN_LIMIT_PER_ADDRESS="100000 per minute",
                SIGNIN_LIMIT_PER_ACCOUNT="100000 per minute", STATUS_CALLBACK_ALLOW_PRIVATE="true")


class Fuzzer:
    """Makes requests for every route, deterministic for a seed."""

    def __init__(self, stack, seed: int) -> None:
        self.stack = stack
        self.app = stack.app
        self.rng = random.Random(seed)
        self.rules = [*self.app.url_map.iter_rules(), *self.app.twilio_app.url_map.iter_rules()]
        self.call_id = stack.api("POST", "/api/calls", json={"to": "090-5555-6666", "room": ROOM}).json()["id"]
        self.session_id = stack.api("POST", "/api/sessions", json={
            "user": "u1", "a": "090-1111-2222", "b": "090-3333-4444"}).json()["id"]
        self.clients = {role: self._client(username) for role, username in (("operator", OPERATOR[0]),
                                                                               ("admin", ADMIN[0]))}

    def _client(self, username: str):
        client = client_signed_in_as(self.app, username)
        client.csrf = page_csrf(client.get("/account").text)
        return client

    def ids(self, name: str) -> list[str]:
        """Values for a route's `<name>` placeholder: real, unknown and malformed."""
        real = {"room_id": [ROOM, "CA" + "0" * 32], "msg_id": ["1", "2"], "key": [ROOM, "dial-x"], "call_id": [self.call_id, "0" * 32],
                "session_id": [self.session_id], "n": ["1", "2", "3"], "username": [TARGET, "nobody"],
                "token_id": ["0" * 16], "token": ["x" * 40], "filename": ["style.css", "app.js", "../app.py"]}
        malformed = ["0", "99999999999999999999999", "%00", "%ED%A0%80", "%FF", "a" * 300, "..%2F..", "CA%3Ax",
                     "%F0%9F%98%80", "%20"]
        return real.get(name, []) + malformed

    def path(self, rule) -> str:
        parts = []
        for is_dynamic, text in rule._trace:  # the rule's parts in order: static text or a placeholder's name
            parts.append(self.rng.choice(self.ids(text)) if is_dynamic else text)
        return "".join(parts).split("|", 1)[-1]

    def body(self) -> tuple[bytes, str]:
        """A body and its Content-Type."""
        rng = self.rng
        fields = rng.sample(FIELDS, rng.randint(0, 6))
        kind = rng.choice(["form", "form", "form", "json", "json", "json", "nested", "surrogate", "bad-utf8",
                           "wrong-type", "too-large", "multipart", "none", "bad-json"])
        if kind == "form":
            return urlencode([(f, rng.choice(WEIRD_TEXT)) for f in fields]).encode(), "application/x-www-form-urlencoded"
        if kind == "json":
            value = {f: rng.choice(WEIRD_TEXT + JSON_VALUES) for f in fields}
            top = rng.choice([value, value, value, [value], "text", 3, None])
            return json.dumps(top, ensure_ascii=rng.random() < 0.5).encode(), "application/json"
        if kind == "nested":
            depth = rng.choice([MAX_JSON_DEPTH, MAX_JSON_DEPTH + 1, 5000, 30000])
            inner = "[" * depth + "]" * depth
            return ('{"kind": "say", "text": ' + inner + "}").encode(), "application/json"
        if kind == "surrogate":
            return json.dumps({f: "a\ud800b" for f in fields or ["text"]}).encode(), "application/json"
        if kind == "bad-utf8":
            return b"text=\xff\xfe\xed\xa0\x80&kind=say&CallSid=\xc3", rng.choice(
                ["application/json", "application/x-www-form-urlencoded", "text/plain; charset=utf-8"])
        if kind == "wrong-type":
            return b'{"kind": "say", "text": "hi"}', rng.choice(
                ["text/plain", "application/xml", "application/json; charset=latin-1", "multipart/form-data",
                 "application/x-www-form-urlencoded; charset=shift_jis", ""])
        if kind == "too-large":
            return b"text=" + b"a" * (MAX_CONTENT_LENGTH + rng.randint(1, 5000)), "application/x-www-form-urlencoded"
        if kind == "multipart":
            boundary = "fuzzboundary"
            parts = "".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{f}"\r\n\r\n{rng.choice(WEIRD_TEXT)}\r\n'
                            for f in fields)
            return (parts + f"--{boundary}--\r\n").encode("utf-8", "surrogatepass"), f"multipart/form-data; boundary={boundary}"
        if kind == "bad-json":
            return rng.choice([b"{", b'{"a": }', b"\x00\x00", b'{"a": NaN}', b"[1, 2", b'"\\ud800"']), "application/json"
        return b"", ""

    def requests(self, count: int) -> Iterator[dict[str, Any]]:
        """`count` requests: {"endpoint", "method", "path", "query", "body", "content_type", "headers", "role"}."""
        rng = self.rng
        for _ in range(count):
            rule = rng.choice(self.rules)
            methods = sorted(rule.methods - {"HEAD", "OPTIONS"})
            method = rng.choice(methods) if rng.random() < 0.9 else rng.choice(["GET", "POST", "PUT", "DELETE", "PATCH"])
            body, content_type = self.body() if method in ("POST", "PUT", "PATCH", "DELETE") or rng.random() < 0.1 \
                else (b"", "")
            query = urlencode([(n, rng.choice(WEIRD_TEXT)) for n in rng.sample(QUERY_NAMES, rng.randint(0, 2))])
            yield {"endpoint": rule.endpoint, "method": method, "path": self.path(rule), "query": query,
                   "body": body, "content_type": content_type,
                   "accept": rng.choice(["application/json", "text/html", "text/event-stream", "*/*"]),
                   "omit_credentials": rng.random() < 0.05}

    def send(self, req: dict[str, Any]):
        """Send one request with the credentials its route needs; return the response (body closed)."""
        blueprint = req["endpoint"].rpartition(".")[0]
        headers = {"Accept": req["accept"]}
        if req["content_type"]:
            headers["Content-Type"] = req["content_type"]
        client = self.clients["admin" if blueprint in access.ADMIN_ONLY else "operator"]
        if req["endpoint"] in SESSION_ENDING:
            client = self._client(OPERATOR[0]) if req["endpoint"] == "auth.signout" else self.app.test_client()
        if not req["omit_credentials"]:
            if blueprint in ("voice", "outbound"):
                headers["X-Twilio-Signature"] = self.signature(req)
            elif blueprint == "api":
                headers["Authorization"] = f"Bearer {API_TOKEN}"
            elif getattr(client, "csrf", None):
                headers["X-CSRFToken"] = client.csrf
        response = client.open(req["path"], method=req["method"], query_string=req["query"], data=req["body"],
                               headers=headers, buffered=False)
        if response.mimetype == "text/event-stream":
            next(response.response, None)  # the first event: the snapshot is built, then the stream is dropped
        response.close()
        return response

    def signature(self, req: dict[str, Any]) -> str:
        """`X-Twilio-Signature` as Twilio computes it, over the URL and the form the app will read."""
        seen = EnvironBuilder(req["path"], method=req["method"], query_string=req["query"], data=req["body"],
                              content_type=req["content_type"] or None).get_request()
        form = seen.form if req["method"] == "POST" and len(req["body"]) <= MAX_CONTENT_LENGTH else {}
        url = f"{self.stack.url}{seen.path}" + (f"?{req['query']}" if req["query"] else "")
        return RequestValidator(AUTH_TOKEN).compute_signature(url, form)


class RedisWrites:
    """The keys Redis writes, as its keyspace notifications report them, request by request."""

    def __init__(self, r) -> None:
        self.r = r
        r.config_set("notify-keyspace-events", "EA")  # key-event notifications, every class but expiry/eviction
        self.pubsub = r.pubsub()
        self.pubsub.psubscribe("__keyevent@*__:*")
        newest = r.xrevrange(audit.STREAM, count=1)  # entries written before the fuzz (its set-up) are not its
        self.last_audit = newest[0][0] if newest else "0-0"
        self.since()

    def since(self) -> list[str]:
        """`event key` for every write since the last call, but bookkeeping; PING marks where "now" is."""
        self.pubsub.ping()  # its answer comes after every notification sent before it (redis-py parses it oddly)
        written = []
        while (message := self.pubsub.get_message(timeout=10)) is not None and message["type"] in ("pmessage",
                                                                                                  "psubscribe"):
            if message["type"] == "pmessage":
                written.append((message["channel"].rpartition(":")[2], message["data"]))
        recent = {key.removesuffix(":recent") for _, key in written if key.endswith(":recent")}
        changes = []
        for event, key in written:
            if event in ("expired", "evicted") or key.startswith("LIMITS:") or key.endswith(":recent"):
                continue
            if key in recent and event == "hset":  # the token's last_used_at, written with its :recent
                continue
            if key == audit.STREAM and event in ("xadd", "xtrim") and not self._new_audit():
                continue
            changes.append(f"{event} {key}")
        return changes

    def _new_audit(self) -> list[str]:
        """Actions of audit entries added since the last look, but those that record a refusal."""
        entries = self.r.xrange(audit.STREAM, min=f"({self.last_audit}")
        if entries:
            self.last_audit = entries[-1][0]
        return [fields["action"] for _, fields in entries if fields.get("action") not in REFUSAL_AUDIT]

    def close(self) -> None:
        self.pubsub.close()
        self.r.config_set("notify-keyspace-events", "")


def test_every_route_answers_malformed_input_with_4xx_and_a_refusal_changes_nothing(stack, report_figure):
    rooms.create(stack.redis, ROOM, CALLER, "Polly.Mizuki", "ja-JP", 3600)
    rooms.add_message(stack.redis, ROOM, "say", "こんにちは", "Polly.Mizuki", "ja-JP")
    users.create(stack.redis, TARGET, "operator", "fuzzee-password-1", created_by="test_fuzz")
    fuzzer = Fuzzer(stack, SEED)
    writes = RedisWrites(stack.redis)
    statuses: Counter[int] = Counter()
    server_errors: list[str] = []
    changed_by_refusal: list[str] = []
    try:
        for req in fuzzer.requests(REQUESTS):
            status = fuzzer.send(req).status_code
            statuses[status] += 1
            changes = writes.since()
            described = f"{status} {req['method']} {req['path']}?{req['query']} {req['content_type']} {req['body'][:100]!r}"
            if status >= 500:
                server_errors.append(described)
            elif 400 <= status < 500 and changes:
                changed_by_refusal.append(f"{described}: {changes}")
    finally:
        writes.close()
    total = sum(statuses.values())
    report_figure(f"fuzz: {total} requests over {len(fuzzer.rules)} routes, {len(server_errors)} × 5xx; "
          f"statuses {dict(sorted(statuses.items()))}")
    assert total >= REQUESTS
    assert not server_errors, "\n".join(server_errors[:20])
    assert not changed_by_refusal, "\n".join(changed_by_refusal[:20])
    assert sum(n for s, n in statuses.items() if s < 400) > REQUESTS // 20, "the fuzz reaches the views, not only the gate"
