"""Admin pages: teams of operators, how each offers its calls, and which Twilio numbers each answers.

The state and its rules are `callchat.operators`' (teams, members, numbers); these views only read
the forms, say what went wrong in a 400 page, record each change in the audit trail and redirect
(POST/redirect/GET) with a flashed notice. A team is named in the query string (`?team=`), not the
path: a name may be `..`, which a browser would fold out of a path.
"""

from __future__ import annotations

import hashlib
from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _, lazy_gettext as N_
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Regexp

from blueprints.admin import ActionForm, bp, check_action
from callchat import audit, numbers, operators, users
from callchat.i18n import shown
from callchat.masking import builtin

#: The strategies as a form offers them: (value, its words in the reader's language).
STRATEGY_CHOICES = [SelectChoice(name, N_(words)) for name, words in operators.STRATEGY_NAMES.items()]


class TeamForm(FlaskForm):
    """A new team: its name (`operators.TEAM_NAME`) and how its calls are offered (`operators.STRATEGIES`)."""

    name = StringField(N_("Team name"), validators=[DataRequired(), Regexp(operators.TEAM_NAME, message=N_(
        "A team's name is 1 to 40 letters, digits, spaces, dots, dashes or underscores."))],
                       render_kw={"placeholder": N_("e.g. Support"), "autocomplete": "off"})
    strategy = SelectField(N_("Offer each call to"), choices=STRATEGY_CHOICES, default="longest-idle")


class StrategyForm(FlaskForm):
    """A team's strategy, changed on its card."""

    strategy = SelectField(N_("Offer each call to"), choices=STRATEGY_CHOICES)


class MemberForm(FlaskForm):
    """An operator to put in a team: one of the enabled users not in it yet (filled in by `_forms_of`)."""

    username = SelectField(N_("Operator"))


class NumberForm(FlaskForm):
    """A Twilio number (any form `callchat.numbers.normalize` reads, DEFAULT_REGION) whose calls the team answers."""

    number = StringField(N_("Twilio number"), validators=[DataRequired()],
                         render_kw={"type": "tel", "autocomplete": "off", "list": "own-numbers"})


#: The forms of one team's card, by what they change.
CARD_FORMS = {"strategy": StrategyForm, "member": MemberForm, "number": NumberForm}


def _prefix(name: str) -> str:
    """The prefix of team `name`'s card forms, so that every field id on the page is unique: `t` + 10 hex digits."""
    return "t" + hashlib.sha256(name.encode()).hexdigest()[:10]


def _forms_of(team: dict[str, Any], people: list[str], submitted: bool = False) -> dict[str, FlaskForm]:
    """Team `team`'s card forms (`CARD_FORMS`): filled from this request's form if `submitted`, else from the team."""
    made = {what: form_class(prefix=_prefix(team["name"]), **({} if submitted else {"formdata": None}))
            for what, form_class in CARD_FORMS.items()}
    if not submitted:
        made["strategy"].strategy.data = team["strategy"]
    made["member"].username.choices = [u for u in people if u not in team["members"]]
    return made


def _people() -> list[str]:
    """The usernames an admin may put in a team: every enabled user."""
    return [u["username"] for u in users.all_users(current_app.redis) if not u["disabled"]]


def _teams_page(new: TeamForm | None = None, failed: tuple[str, str, FlaskForm] | None = None, status: int = 200):
    """The Teams page; `failed` is (team name, which card form, that form) when one did not validate: shown with
    its errors."""
    cfg, people = current_app.config, _people()
    found = operators.teams(current_app.redis)
    for team in found:
        team["id"], team["forms"] = _prefix(team["name"]), _forms_of(team, people)
        if failed and failed[0] == team["name"]:
            team["forms"][failed[1]] = failed[2]
    mapped = {number for team in found for number in team["numbers"]}
    suggested = [n for n in [_own_number(cfg)] if n and n not in mapped]
    return render_template("admin/teams.html", teams=found, new=new or TeamForm(formdata=None), action=ActionForm(),
                           suggested=suggested), status


def _own_number(cfg: dict[str, Any]) -> str:
    """TWILIO_PHONE_NUMBER in E.164, the number to suggest mapping ("" if unset or invalid)."""
    try:
        return numbers.normalize(cfg["TWILIO_PHONE_NUMBER"], cfg["DEFAULT_REGION"]) if cfg["TWILIO_PHONE_NUMBER"] else ""
    except numbers.RefusedNumber:
        return ""


def _team_or_404() -> dict[str, Any]:
    """The team the query's `team` names; 404 if there is none."""
    name = request.args.get("team", "")
    team = operators.team(current_app.redis, name)
    if team is None:
        abort(404, description=_("There is no team called %(name)r.", name=name))
    return team


def _done(message: str):
    """Flash `message` and go back to the Teams page (303: the browser GETs it)."""
    flash(message)
    return redirect(url_for("admin.teams"), 303)


@bp.get("/teams")
def teams():
    """Every team with its strategy, operators and Twilio numbers, and the forms to change them."""
    return _teams_page()


@bp.post("/teams")
def create_team():
    """Make a team: 400 with the form's errors for a bad or taken name."""
    form = TeamForm()
    if not form.validate_on_submit():
        return _teams_page(new=form, status=400)
    name = form.name.data.strip()
    if operators.team(current_app.redis, name) is not None:
        form.name.errors.append(_("There is already a team called %(name)r.", name=name))
        return _teams_page(new=form, status=400)
    try:
        operators.save_team(current_app.redis, name, form.strategy.data)
    except operators.InvalidTeam as exc:
        form.name.errors.append(str(exc))
        return _teams_page(new=form, status=400)
    audit.note("team-saved", team=name, strategy=form.strategy.data)
    current_app.logger.info("%s made team %s (%s)", current_user.username, name, form.strategy.data)
    return _done(_("The team %(name)s is made. Put operators in it and map a Twilio number to it.", name=name))


def _submitted(what: str) -> tuple[dict[str, Any], FlaskForm, Any]:
    """The query's team (404 if none), its card form `what` (a key of CARD_FORMS) as submitted, and the 400 page
    showing the form's errors if it did not validate (else None)."""
    team = _team_or_404()
    form = _forms_of(team, _people(), submitted=True)[what]
    return team, form, None if form.validate_on_submit() else _teams_page(failed=(team["name"], what, form), status=400)


@bp.post("/teams/strategy")
def set_strategy():
    """Change how the query's team offers its calls (`operators.STRATEGIES`); 400 for another strategy."""
    team, form, refused = _submitted("strategy")
    if refused:
        return refused
    operators.save_team(current_app.redis, team["name"], form.strategy.data)
    audit.note("team-saved", team=team["name"], strategy=form.strategy.data)
    return _done(_("The team %(name)s now offers each call to: %(strategy)s.", name=team["name"],
                   strategy=shown(operators.STRATEGY_NAMES[form.strategy.data])))


@bp.post("/teams/members")
def add_member():
    """Put an enabled user in the query's team; 400 for anyone else."""
    team, form, refused = _submitted("member")
    if refused:
        return refused
    operators.set_member(current_app.redis, team["name"], form.username.data, True)
    audit.note("team-member", team=team["name"], username=form.username.data, member="added")
    return _done(_("%(username)s is in the team %(name)s.", username=form.username.data, name=team["name"]))


@bp.post("/teams/members/remove")
def remove_member():
    """Take the query's `username` out of the query's team (a call they own stays theirs)."""
    check_action()
    team, username = _team_or_404(), request.args.get("username", "")
    if username not in team["members"]:
        abort(404, description=_("%(username)s is not in the team %(name)s.", username=username, name=team["name"]))
    operators.set_member(current_app.redis, team["name"], username, False)
    audit.note("team-member", team=team["name"], username=username, member="removed")
    return _done(_("%(username)s is no longer in the team %(name)s.", username=username, name=team["name"]))


@bp.post("/teams/numbers")
def map_number():
    """Route calls to a Twilio number to the query's team (a number answers for one team: it leaves any other);
    400 for what is not a phone number, or a masked-calling pool number (PROXY_NUMBERS)."""
    team, form, refused = _submitted("number")
    if refused:
        return refused
    cfg, r = current_app.config, current_app.redis
    try:
        number = numbers.normalize(form.number.data, cfg["DEFAULT_REGION"])
    except numbers.RefusedNumber as exc:
        form.number.errors.append(str(exc))
        return _teams_page(failed=(team["name"], "number", form), status=400)
    if cfg["MASKING_BACKEND"] == "builtin" and number in builtin.pool(cfg):
        form.number.errors.append(_("%(number)s is a masked-calling number (PROXY_NUMBERS); its calls are not routed to "
                                    "teams.", number=number))
        return _teams_page(failed=(team["name"], "number", form), status=400)
    before = operators.team_for_number(r, number)
    operators.set_number(r, number, team["name"])
    audit.note("team-number", team=team["name"], number=numbers.redact(number))
    if before and before != team["name"]:
        return _done(_("Calls to %(number)s now go to the team %(name)s (no longer to %(before)s).", number=number,
                       name=team["name"], before=before))
    return _done(_("Calls to %(number)s now go to the team %(name)s.", number=number, name=team["name"]))


@bp.post("/teams/numbers/remove")
def unmap_number():
    """Stop routing the query's `number` (E.164) to a team: its calls go to everyone again."""
    check_action()
    number = request.args.get("number", "")
    name = operators.team_for_number(current_app.redis, number)
    if not name:
        abort(404, description=_("%(number)s is not mapped to a team.", number=number))
    operators.set_number(current_app.redis, number, "")
    audit.note("team-number", team="", number=numbers.redact(number))
    return _done(_("Calls to %(number)s no longer go to the team %(name)s: everyone sees them.", number=number, name=name))


@bp.get("/teams/delete")
def confirm_delete_team():
    """Ask before deleting the query's team."""
    return render_template("admin/team_delete.html", team=_team_or_404())


@bp.post("/teams/delete")
def delete_team():
    """Delete the query's team: its numbers' calls go to everyone again; its operators stay users."""
    check_action()
    team = _team_or_404()
    operators.delete_team(current_app.redis, team["name"])
    audit.note("team-deleted", team=team["name"])
    current_app.logger.info("%s deleted team %s", current_user.username, team["name"])
    return _done(_("The team %(name)s is deleted.", name=team["name"]))
