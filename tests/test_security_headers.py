"""Every response tells the browser to refuse framing, sniffing, inline script and leaky referrers; the
session cookie is HttpOnly, SameSite=Lax and (behind https) Secure; every page runs under that policy."""

from __future__ import annotations

import re

import requests

from app import create_app
from callchat.security import HEADERS, SESSION_COOKIE_NAME, STRICT_TRANSPORT_SECURITY
from tests.conftest import ADMIN, CALLER, TWILIO_NUMBER, ServedApp

#: Collects the page's Content-Security-Policy violations (w3.org/TR/CSP3, SecurityPolicyViolationEvent)
#: into `window.cspViolations`; injected before the page's own scripts.
WATCH_CSP = """window.cspViolations = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI} at ${e.sourceFile}:${e.lineNumber}`));"""


def security_headers(response: requests.Response) -> dict[str, str]:
    """The response's headers among `HEADERS` and Strict-Transport-Security."""
    return {name: response.headers[name] for name in [*HEADERS, "Strict-Transport-Security"] if name in response.headers}


def session_cookie(jar) -> dict[str, object]:
    """The attributes a browser would keep for the session cookie in a requests cookie jar."""
    cookie = next(c for c in jar if c.name == SESSION_COOKIE_NAME)
    return {"HttpOnly": cookie.has_nonstandard_attr("HttpOnly"), "SameSite": cookie.get_nonstandard_attr("SameSite"),
            "Secure": cookie.secure}


def test_every_kind_of_response_has_the_headers(stack):
    room_id = stack.call_in()
    user = stack.user
    page = user.open_room(room_id)
    with user.http.get(f"{stack.url}/rooms/{room_id}/events", stream=True, timeout=10) as events:
        stream = events
    responses = {
        "room list": user.http.get(f"{stack.url}/rooms/"),
        "room page": page,
        "masked calling page": user.http.get(f"{stack.url}/sessions/"),
        "room as JSON": user.http.get(f"{stack.url}/rooms/{room_id}/state"),
        "live stream": stream,
        "message posted": user.say(room_id, "hello"),
        "refused message": user.say(room_id, ""),
        "script": requests.get(f"{stack.url}/static/chat.js", timeout=10),
        "missing page": user.http.get(f"{stack.url}/no-such-page"),
        "health": requests.get(f"{stack.url}/healthz", timeout=10),
        "API": stack.api("GET", "/api/openapi.json"),
        "TwiML": stack.twilio_post("/voice/incoming", {"CallSid": "CA" + "e5" * 16, "From": CALLER, "To": TWILIO_NUMBER}),
    }
    assert {what: r.headers["Content-Type"].split(";")[0] for what, r in responses.items()} == {
        "room list": "text/html", "room page": "text/html", "masked calling page": "text/html",
        "room as JSON": "application/json", "live stream": "text/event-stream", "message posted": "application/json",
        "refused message": "application/json", "script": "text/javascript", "missing page": "text/html",
        "health": "application/json", "API": "application/json", "TwiML": "text/xml"}
    for what, response in responses.items():
        assert security_headers(response) == HEADERS, f"{what}: over http, no HSTS"
    assert HEADERS["Content-Security-Policy"].startswith("default-src 'self'; script-src 'self'; style-src 'self';")
    assert "frame-ancestors 'none'" in HEADERS["Content-Security-Policy"]
    stack.settle()


def test_the_session_cookie_is_httponly_and_samesite_lax_and_not_secure_over_http(stack):
    stack.user.open_room(stack.call_in())
    assert session_cookie(stack.user.http.cookies) == {"HttpOnly": True, "SameSite": "Lax", "Secure": False}, \
        "Secure over http would make the browser drop it: make run would not work"


def test_behind_https_the_cookie_is_secure_and_hsts_is_sent(stack_config, redis_client):
    """callchat behind a TLS-terminating proxy (one hop), as on Heroku: PUBLIC_BASE_URL is https."""
    served = ServedApp(create_app(dict(stack_config, PUBLIC_BASE_URL="https://callchat.example.com", PROXY_HOPS=1))).start()
    try:
        browser = requests.Session()
        via_https = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "callchat.example.com"}
        page = browser.get(f"{served.url}/rooms/", headers=via_https, timeout=10)
        assert security_headers(page) == {**HEADERS, "Strict-Transport-Security": STRICT_TRANSPORT_SECURITY}
        assert session_cookie(browser.cookies) == {"HttpOnly": True, "SameSite": "Lax", "Secure": True}
        plain = requests.get(f"{served.url}/healthz", timeout=10)
        assert "Strict-Transport-Security" not in plain.headers, "HSTS only on a request that came over https"
    finally:
        served.stop()


def test_every_page_runs_under_the_content_security_policy(stack, page):
    """No inline script or style, no eval: every page works with nothing blocked, in Debian's Chromium."""
    from playwright.sync_api import expect

    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.add_init_script(WATCH_CSP)
    room_id = stack.call_in()

    page.goto(f"{stack.url}/signin")
    expect(page.get_by_label("Username")).to_be_visible()
    assert page.evaluate("window.cspViolations") == [], "the sign-in page"
    stack.sign_in_browser(page, *ADMIN)
    page.goto(f"{stack.url}/admin/")
    page.get_by_role("button", name="Make an invitation link").click()
    expect(page.locator("#new-link")).to_have_value(re.compile("/invite/"))
    assert page.evaluate("window.cspViolations") == [], "the admin page"
    page.get_by_role("link", name="API tokens").click()
    page.get_by_label("Name").fill("csp")
    page.get_by_role("button", name="Make a token").click()
    expect(page.locator("#new-token")).to_have_value(re.compile("^cc_"))
    assert page.evaluate("window.cspViolations") == [], "the API tokens page"
    page.goto(f"{stack.url}/rooms/")
    expect(page.locator("#rooms li")).to_have_count(1)
    assert page.evaluate("window.cspViolations") == []

    page.goto(f"{stack.url}/rooms/{room_id}")
    expect(page.locator("#room-status")).to_have_text("live")
    page.locator("#text").fill("ポリシーの下で")
    page.locator("#text").press("Enter")
    expect(page.locator("#messages li")).to_have_count(1)  # the post's answer, before any job ran
    stack.settle()
    expect(page.locator("#messages li .state")).to_have_text(["spoken"])
    page.locator("#language").select_option("en-US")
    expect(page.locator("#voice")).to_have_value("Polly.Joanna")
    assert page.evaluate("window.cspViolations") == []

    page.goto(f"{stack.url}/sessions/")
    expect(page.locator("h1")).to_contain_text("Masked calling")
    page.goto(f"{stack.url}/rooms/CA{'0' * 32}")
    expect(page.locator("h1")).to_have_text("Not Found")
    assert page.evaluate("window.cspViolations") == []
    assert [e for e in errors if "Content Security Policy" in e] == []
