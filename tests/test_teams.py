"""The admins' Teams page: teams made, their strategy changed, operators put in and taken out, Twilio numbers mapped
and unmapped, teams deleted after a confirmation; every change in the audit trail; bad input a 400 saying why.

Forms are filled as a browser fills them: the page's own form (by its action), its hidden fields (the CSRF
token) as the page rendered them, and the fields by the name their label is for.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from typing import Any

import requests

from callchat import audit, operators, users
from tests.conftest import ADMIN, OPERATOR, TWILIO_NUMBER, ChatUser


class _Forms(HTMLParser):
    """Every <form> of a page: [{"action", "fields": {name: value}, "labels": {label text: field name}}]."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self.label_for, self.label_text = "", ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "fields": {}, "labels": {}})
        elif tag in ("input", "select") and self.forms and a.get("name"):
            self.forms[-1]["fields"][a["name"]] = a.get("value", "")
        elif tag == "label":
            self.label_for, self.label_text = a.get("for", ""), ""

    def handle_data(self, data: str) -> None:
        if self.label_for:
            self.label_text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "label" and self.forms:
            self.forms[-1]["labels"][self.label_text.strip()] = self.label_for
            self.label_for = ""


def submit(user: ChatUser, page: str, action: str, **by_label: str) -> requests.Response:
    """Fill and send the form of admin page `page` (a path) whose action is `action` (a path with its query), its
    fields given by their label (`by_label`: label text -> value), the rest as the page rendered them."""
    parser = _Forms()
    parser.feed(user.http.get(f"{user.base}{page}").text)
    form = next(f for f in parser.forms if f["action"].replace("&amp;", "&") == action)
    fields = dict(form["fields"])
    for label, value in by_label.items():
        fields[form["labels"][label]] = value  # WTForms names a field as its id, which its <label for> gives
    return user.http.post(f"{user.base}{action}", data=fields)


def notices(response: requests.Response) -> list[str]:
    """The flashed notices and field errors a page shows, tags stripped."""
    found = re.findall(r'<(?:p class="notice"[^>]*|span class="error"[^>]*)>(.*?)</(?:p|span)>', response.text, re.S)
    return [" ".join(html.unescape(re.sub(r"<[^>]+>", "", text)).split()) for text in found]


def team_card(response: requests.Response, name: str) -> str:
    """The text of team `name`'s card on the Teams page, tags stripped, spaces squeezed."""
    card = re.search(rf'<section class="card team" data-team="{re.escape(name)}".*?</section>', response.text, re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", card.group())).split()) if card else ""


def make_team(admin: ChatUser, name: str, strategy: str = "longest idle") -> requests.Response:
    """Make a team on the Teams page, as an admin would."""
    return submit(admin, "/admin/teams", "/admin/teams", **{"Team name": name, "Offer each call to": _value(strategy)})


def _value(words: str) -> str:
    """A strategy's value from the words the form shows for it (`operators.STRATEGY_NAMES`)."""
    return next(value for value, shown in operators.STRATEGY_NAMES.items() if shown == words)


def test_an_admin_makes_a_team_fills_it_maps_a_number_and_deletes_it(stack):
    admin = stack.signed_in(*ADMIN)
    users.create(stack.redis, "hanako", "operator", "hanako-password", created_by="test")
    empty = admin.http.get(f"{stack.url}/admin/teams")
    assert "No team yet" in empty.text
    assert f'<option value="{TWILIO_NUMBER}">' in empty.text  # TWILIO_PHONE_NUMBER, suggested while no team answers it

    made = make_team(admin, "Support")
    assert made.status_code == 200 and made.url.endswith("/admin/teams")
    assert "The team Support is made. Put operators in it and map a Twilio number to it." in notices(made)
    assert "Nobody yet" in team_card(made, "Support")

    query = "?team=Support"
    for username in (OPERATOR[0], "hanako"):
        added = submit(admin, "/admin/teams", f"/admin/teams/members{query}", Operator=username)
        assert f"{username} is in the team Support." in notices(added)
    mapped = submit(admin, "/admin/teams", f"/admin/teams/numbers{query}", **{"Twilio number": "050-1111-2222"})
    assert f"Calls to {TWILIO_NUMBER} now go to the team Support." in notices(mapped)
    card = team_card(mapped, "Support")
    assert "hanako Take out" in card and f"{OPERATOR[0]} Take out" in card and f"{TWILIO_NUMBER} Unmap" in card
    assert f'<option value="{TWILIO_NUMBER}">' not in mapped.text  # mapped now: no longer suggested
    assert operators.team_for_number(stack.redis, TWILIO_NUMBER) == "Support"

    ring = submit(admin, "/admin/teams", f"/admin/teams/strategy{query}", **{"Offer each call to": "ring-all"})
    assert "The team Support now offers each call to: ring all." in notices(ring)
    assert '<option selected value="ring-all">' in ring.text
    out = submit(admin, "/admin/teams", f"/admin/teams/members/remove{query}&username=hanako")
    assert "hanako is no longer in the team Support." in notices(out)
    assert "hanako Take out" not in team_card(out, "Support")
    assert operators.members(stack.redis, "Support") == [OPERATOR[0]]

    unmapped = submit(admin, "/admin/teams", f"/admin/teams/numbers/remove?number=%2B{TWILIO_NUMBER[1:]}")
    assert f"Calls to {TWILIO_NUMBER} no longer go to the team Support: everyone sees them." in notices(unmapped)
    assert operators.team_for_number(stack.redis, TWILIO_NUMBER) == ""

    confirm = admin.http.get(f"{stack.url}/admin/teams/delete{query}")
    assert "Delete the team Support?" in confirm.text and f"Its operators ({OPERATOR[0]})" in confirm.text
    assert operators.team(stack.redis, "Support") is not None  # asking deletes nothing
    deleted = submit(admin, f"/admin/teams/delete{query}", f"/admin/teams/delete{query}")
    assert "The team Support is deleted." in notices(deleted) and "No team yet" in deleted.text
    assert operators.teams(stack.redis) == [] and operators.teams_of(stack.redis, OPERATOR[0]) == []

    trail = [(e["action"], e.get("team"), e.get("username") or e.get("number") or e.get("strategy"))
             for e in audit.entries(stack.redis, newest_first=False) if e["action"].startswith("team-")]
    assert trail == [("team-saved", "Support", "longest-idle"), ("team-member", "Support", OPERATOR[0]),
                     ("team-member", "Support", "hanako"), ("team-number", "Support", "+8150••••2222"),
                     ("team-saved", "Support", "ring-all"), ("team-member", "Support", "hanako"),
                     ("team-number", "", "+8150••••2222"), ("team-deleted", "Support", None)]
    page = admin.http.get(f"{stack.url}/admin/audit?action=team-member").text
    assert "an operator was put in a team or taken out" in page


def test_a_mapped_number_routes_its_calls_to_the_team_and_an_unmapped_one_to_everyone(stack):
    admin = stack.signed_in(*ADMIN)
    make_team(admin, "Support")
    submit(admin, "/admin/teams", "/admin/teams/members?team=Support", Operator=OPERATOR[0])
    submit(admin, "/admin/teams", "/admin/teams/numbers?team=Support", **{"Twilio number": TWILIO_NUMBER})
    routed = stack.call_in()
    assert stack.user.state(routed)["room"]["team"] == "Support"
    stack.user.open_room(routed)
    refused = stack.user.post(f"/rooms/{routed}/messages", {"kind": "say", "text": "こんにちは"})
    assert refused.status_code == 403 and refused.json()["error"] == "This call is waiting for an operator to accept it."

    submit(admin, "/admin/teams", f"/admin/teams/numbers/remove?number=%2B{TWILIO_NUMBER[1:]}")
    anyone = stack.call_in("+819087654321")
    assert stack.user.state(anyone)["room"].get("team", "") == ""
    stack.user.open_room(anyone)
    assert stack.user.say(anyone, "こんにちは").status_code == 202


def test_bad_input_gets_a_400_that_says_why(stack):
    admin = stack.signed_in(*ADMIN)
    for name, why in (("", "This field is required."),
                      ("a/b", "A team's name is 1 to 40 letters, digits, spaces, dots, dashes or underscores."),
                      ("x" * 41, "A team's name is 1 to 40 letters, digits, spaces, dots, dashes or underscores.")):
        refused = make_team(admin, name)
        assert refused.status_code == 400 and why in notices(refused), name
    assert make_team(admin, "Support").status_code == 200
    again = make_team(admin, "Support")
    assert again.status_code == 400 and "There is already a team called 'Support'." in notices(again)

    query = "?team=Support"
    for action, label, value, why in (
            (f"/admin/teams/numbers{query}", "Twilio number", "call me", "'call me' contains letters"),
            (f"/admin/teams/numbers{query}", "Twilio number", "03-12", "'03-12' is too short to be a phone number."),
            (f"/admin/teams/members{query}", "Operator", "nobody", "Not a valid choice."),
            (f"/admin/teams/strategy{query}", "Offer each call to", "round-robin", "Not a valid choice.")):
        refused = submit(admin, "/admin/teams", action, **{label: value})
        assert refused.status_code == 400, value
        assert any(why in text for text in notices(refused)), (value, notices(refused))
        assert 'aria-invalid="true"' in refused.text
    team = operators.team(stack.redis, "Support")
    assert (team["members"], team["numbers"], team["strategy"]) == ([], [], "longest-idle")

    missing = admin.http.get(f"{stack.url}/admin/teams/delete?team=Sales")
    assert missing.status_code == 404 and "There is no team called 'Sales'." in html.unescape(missing.text)
    forged = admin.http.post(f"{stack.url}/admin/teams/delete{query}", data={"csrf_token": "stale"})
    assert forged.status_code == 400 and operators.team(stack.redis, "Support") is not None


def test_an_operator_cannot_open_the_teams_page_or_the_board(stack):
    for method, path in (("GET", "/admin/teams"), ("POST", "/admin/teams"), ("GET", "/admin/board"),
                         ("GET", "/admin/board/events"), ("POST", "/admin/teams/delete?team=Support")):
        refused = stack.user.http.request(method, f"{stack.url}{path}", timeout=10)
        assert refused.status_code == 403, path
