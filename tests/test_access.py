"""Nobody listens, speaks or dials without signing in; operators are not admins; disabled means disabled at once."""

from __future__ import annotations

import re
import time

import itsdangerous.timed
import pytest
import requests

from callchat import access, users
from tests.conftest import ADMIN, CALLER, OPERATOR, ChatUser, page_csrf, redis_contents

#: Endpoints open to anyone, on purpose. A new route is closed unless it is added to `access.OPEN`,
#: and this list must then be changed too, by someone who thought about it.
EXPECTED_OPEN = {"static", "health.healthz", "auth.signin", "auth.link", "auth.invite", "auth.new_password"}
#: Endpoints that answer with JSON or a live stream: 401 rather than a redirect to sign in.
JSON_OR_STREAM = {"rooms.state", "rooms.room_events", "rooms.list_events", "admin.board_events"}


def every_closed_route(app, room_id: str):
    """(method, URL path, endpoint) of every route that needs a signed-in user, with real ids filled in."""
    values = {"room_id": room_id, "key": room_id, "call_id": "x", "username": OPERATOR[0], "token": "x", "token_id": "x", "filename": "style.css"}
    for rule in app.url_map.iter_rules():
        blueprint = rule.endpoint.rpartition(".")[0]
        if blueprint in access.OWN_CHECKS or rule.endpoint in access.OPEN:
            continue
        path = rule.build({name: values[name] for name in rule.arguments})[1]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield method, path, rule.endpoint


def test_every_route_but_the_open_ones_wants_a_signed_in_user_and_changes_nothing(stack):
    assert access.OPEN == EXPECTED_OPEN
    assert access.OWN_CHECKS == {"api"}, "a bearer token; Twilio's webhooks are the Twilio-facing app's, not this one's"
    assert not [rule.rule for rule in stack.app.url_map.iter_rules() if rule.rule.startswith("/voice/")]
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    stack.user.say(room_id, "before")
    stack.settle()
    before = redis_contents(stack.redis)
    routes = list(every_closed_route(stack.app, room_id))
    assert len(routes) >= 15 and {"rooms.room", "rooms.post_message", "admin.index"} <= {e for _, _, e in routes}
    for method, path, endpoint in routes:
        for accept in ("text/html", "application/json"):
            response = requests.request(method, f"{stack.url}{path}", headers={"Accept": accept},
                                        data={"kind": "say", "text": "anonymous"}, allow_redirects=False, timeout=5)
            if accept == "application/json" or endpoint in JSON_OR_STREAM:
                assert response.status_code == 401, (method, path, accept, response.status_code)
                assert response.json() == {"error": "Sign in first."}
            else:
                assert response.status_code == 302, (method, path, accept, response.status_code)
                assert response.headers["Location"].startswith("/signin?next=")
            assert CALLER not in response.text and "before" not in response.text
    assert redis_contents(stack.redis) == before, "an anonymous request changed nothing"
    stack.settle()
    said = [h["text"] for h in stack.sim.phone(CALLER).heard() if h["kind"] == "say"]
    assert said[1:] == ["before"], "after the greeting, only what the signed-in typist said; nothing anonymous"


def test_the_open_routes_reveal_nothing(stack):
    room_id = stack.call_in()
    assert requests.get(f"{stack.url}/healthz", timeout=5).json() == {"status": "ok"}
    signin = requests.get(f"{stack.url}/signin", timeout=5)
    assert signin.status_code == 200 and room_id not in signin.text and CALLER not in signin.text
    assert requests.get(f"{stack.url}/signin/link/{'x' * 43}", timeout=5).status_code == 404


def test_signing_in_returns_to_the_page_asked_for_but_never_to_another_site(stack):
    room_id = stack.call_in()
    user = ChatUser(stack.url)
    page = user.http.get(f"{stack.url}/rooms/{room_id}")
    assert page.url == f"{stack.url}/signin?next=/rooms/{room_id}"
    form = user.http.get(page.url)
    signed_in = user.http.post(page.url, data={"csrf_token": page_csrf(form.text), "username": "TYPIST",
                                               "password": OPERATOR[1]})
    assert signed_in.url == f"{stack.url}/rooms/{room_id}" and CALLER in signed_in.text
    other = ChatUser(stack.url)
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        form = other.http.get(f"{stack.url}/signin")
        answer = other.http.post(f"{stack.url}/signin?next={target}", allow_redirects=False, data={
            "csrf_token": page_csrf(form.text), "username": OPERATOR[0], "password": OPERATOR[1]})
        assert answer.headers["Location"] in ("/rooms/", f"{stack.url}/rooms/"), target


def test_an_operator_cannot_open_the_admin_pages_or_manage_users(stack):
    for method, path in (("GET", "/admin/"), ("POST", "/admin/invite"), ("POST", f"/admin/users/{ADMIN[0]}/disable"),
                         ("POST", f"/admin/users/{ADMIN[0]}/password-link")):
        response = stack.user.http.request(method, f"{stack.url}{path}", data={"role": "admin"},
                                           headers={"X-CSRFToken": stack.user.csrf})
        assert response.status_code == 403, (method, path)
        assert "Only an admin" in response.text
    assert not users.get(stack.redis, ADMIN[0])["disabled"]
    assert "Admin" not in stack.user.http.get(f"{stack.url}/rooms/").text.split("<main>")[0], "no Admin link"


def admin_action(admin: ChatUser, path: str, **data) -> requests.Response:
    page = admin.http.get(f"{admin.base}/admin/")
    return admin.http.post(f"{admin.base}{path}", data={"csrf_token": page_csrf(page.text), **data})


def link_on(page: requests.Response) -> str:
    return re.search(r'id="new-link" readonly value="([^"]+)"', page.text).group(1)


def test_an_admin_invites_someone_who_joins_once_and_can_be_disabled_at_once(stack):
    admin = stack.signed_in(*ADMIN)
    invite = admin_action(admin, "/admin/invite", role="operator")
    link = link_on(invite)
    assert "/invite/" in link
    newcomer = ChatUser(stack.url)
    form = newcomer.http.get(link)
    joined = newcomer.http.post(link, data={"csrf_token": page_csrf(form.text), "username": "Hanako",
                                            "password": "hanako-password", "confirm": "hanako-password"})
    assert joined.url == f"{stack.url}/rooms/" and ">hanako<" in joined.text
    assert users.get(stack.redis, "hanako")["role"] == "operator"
    assert newcomer.http.get(link).status_code == 404, "an invitation works once"

    room_id = stack.call_in()
    newcomer.open_room(room_id)
    assert newcomer.say(room_id, "hello").status_code == 202
    admin_action(admin, "/admin/users/hanako/disable")
    assert newcomer.say(room_id, "after").status_code == 401, "the session stops working at once"
    assert newcomer.http.get(f"{stack.url}/rooms/{room_id}").url.startswith(f"{stack.url}/signin")
    assert newcomer.sign_in("hanako", "hanako-password").url.startswith(f"{stack.url}/signin"), "cannot sign in"
    admin_action(admin, "/admin/users/hanako/enable")
    assert newcomer.sign_in("hanako", "hanako-password").url == f"{stack.url}/rooms/"


def test_a_password_link_sets_a_new_password_and_ends_the_old_sessions(stack):
    admin = stack.signed_in(*ADMIN)
    link = link_on(admin_action(admin, f"/admin/users/{OPERATOR[0]}/password-link"))
    other_device = stack.signed_in(*OPERATOR)
    person = ChatUser(stack.url)
    form = person.http.get(link)
    done = person.http.post(link, data={"csrf_token": page_csrf(form.text), "password": "a-new-password",
                                        "confirm": "a-new-password"})
    assert done.url == f"{stack.url}/rooms/"
    assert other_device.http.get(f"{stack.url}/rooms/").url.startswith(f"{stack.url}/signin"), "signed out elsewhere"
    assert ChatUser(stack.url).sign_in(OPERATOR[0], OPERATOR[1]).url.startswith(f"{stack.url}/signin")
    assert ChatUser(stack.url).sign_in(OPERATOR[0], "a-new-password").url == f"{stack.url}/rooms/"


def test_the_users_command_creates_lists_disables_and_resets(stack):
    cli = stack.app.test_cli_runner()
    created = cli.invoke(args=["users", "create", "Kenji", "--role", "admin", "--password-stdin"],
                         input="kenji-password\n")
    assert created.exit_code == 0 and "Created kenji (admin)." in created.output
    assert ChatUser(stack.url).sign_in("kenji", "kenji-password").url == f"{stack.url}/rooms/"
    refused = cli.invoke(args=["users", "create", "kenji", "--password-stdin"], input="another-password\n")
    assert refused.exit_code == 1 and "already a user called 'kenji'" in refused.output
    short = cli.invoke(args=["users", "create", "aki", "--password-stdin"], input="short\n")
    assert short.exit_code == 1 and "10 to 256 characters" in short.output
    listed = cli.invoke(args=["users", "list"])
    assert "kenji\tadmin\tenabled" in listed.output and f"{OPERATOR[0]}\toperator\tenabled" in listed.output
    session = stack.signed_in("kenji", "kenji-password")
    assert cli.invoke(args=["users", "disable", "kenji"]).exit_code == 0
    assert "kenji\tadmin\tdisabled" in cli.invoke(args=["users", "list"]).output
    assert session.http.get(f"{stack.url}/rooms/").url.startswith(f"{stack.url}/signin")
    assert cli.invoke(args=["users", "enable", "kenji"]).exit_code == 0
    reset = cli.invoke(args=["users", "reset-password", "kenji", "--password-stdin"], input="kenji-password-2\n")
    assert reset.exit_code == 0
    assert ChatUser(stack.url).sign_in("kenji", "kenji-password-2").url == f"{stack.url}/rooms/"
    link = cli.invoke(args=["users", "signin-link", "kenji"]).output.strip()
    assert link.startswith(f"{stack.url}/signin/link/")
    assert ChatUser(stack.url).use_link(link).url == f"{stack.url}/rooms/"
    assert cli.invoke(args=["users", "disable", "nobody"]).exit_code == 1


def test_the_session_ends_after_the_idle_timeout(stack, monkeypatch):
    assert stack.user.http.get(f"{stack.url}/rooms/").url == f"{stack.url}/rooms/"
    idle = int(stack.app.config["SESSION_IDLE_SECONDS"])
    now = time.time()
    monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: now + idle + 60)
    assert stack.user.http.get(f"{stack.url}/rooms/").url.startswith(f"{stack.url}/signin")


@pytest.mark.parametrize("username", ["", "a b", "x" * 65, "名前"])
def test_a_bad_username_is_refused(redis_client, username):
    with pytest.raises(users.InvalidUser, match="1 to 64"):
        users.create(redis_client, username, "operator", "long-enough-password")


def test_sign_ins_failures_and_user_changes_are_in_the_audit_trail(stack):
    from callchat import audit

    ChatUser(stack.url).sign_in(OPERATOR[0], "not the password")
    admin = stack.signed_in(*ADMIN)
    admin_action(admin, f"/admin/users/{OPERATOR[0]}/disable")
    stack.app.test_cli_runner().invoke(args=["users", "enable", OPERATOR[0]])
    trail = [(e["action"], e["actor"], e.get("username", "")) for e in audit.entries(stack.redis, newest_first=False)]
    assert trail[-4:] == [("signin-failed", "anonymous", OPERATOR[0]), ("signin", ADMIN[0], ""),
                          ("user-disabled", ADMIN[0], OPERATOR[0]), ("user-enabled", "cli", OPERATOR[0])]
