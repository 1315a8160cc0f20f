"""Admin pages: API tokens, made (shown once), listed and revoked."""

from __future__ import annotations

from flask import abort, current_app, render_template
from flask_login import current_user
from flask_babel import gettext as _, lazy_gettext as N_
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from blueprints.admin import ActionForm, bp, check_action
from callchat import api_tokens, audit, users


class TokenForm(FlaskForm):
    """A new API token: its name, scope and owner (`system` or an enabled user, filled in by `_token_form`)."""

    name = StringField(N_("Name"), validators=[DataRequired(), Length(1, 64)],
                       render_kw={"placeholder": N_("e.g. monitoring")})
    scope = SelectField(N_("Scope"), choices=[SelectChoice(s) for s in api_tokens.SCOPES]
                        + [SelectChoice(" ".join(api_tokens.SCOPES), " and ".join(api_tokens.SCOPES))])
    owner = SelectField(N_("Owner"), default=api_tokens.SYSTEM)


def _token_form(**kwargs) -> TokenForm:
    """The form, its owners being `system` and every enabled user (kwargs: FlaskForm's, e.g. `formdata=None`)."""
    form = TokenForm(**kwargs)
    form.owner.choices = [api_tokens.SYSTEM] + [u["username"] for u in users.all_users(current_app.redis)
                                                if not u["disabled"]]
    return form


def _tokens_page(form: TokenForm | None = None, status: int = 200, **shown):
    r = current_app.redis
    tokens = api_tokens.all_tokens(r)
    if current_app.config["API_TOKEN"]:
        tokens.append(api_tokens.setting_record(r))
    disabled = {u["username"] for u in users.all_users(r) if u["disabled"]}
    return render_template("admin/tokens.html", tokens=tokens, form=form or _token_form(), action=ActionForm(),
                           disabled=disabled, setting=api_tokens.SETTING, when=api_tokens.when, **shown), status


@bp.get("/tokens")
def tokens():
    """Every API token, with its owner, scope and last use, and the form to make one."""
    return _tokens_page()


@bp.post("/tokens")
def create_token():
    """Make an API token; it is shown once on the page (only its SHA-256 is kept)."""
    form = _token_form()
    if not form.validate_on_submit():
        return _tokens_page(form, 400)
    try:
        token, record = api_tokens.create(current_app.redis, form.name.data, form.scope.data.split(), form.owner.data,
                                          created_by=current_user.username)
    except api_tokens.InvalidToken as exc:
        form.name.errors.append(str(exc))
        return _tokens_page(form, 400)
    audit.note("token-created", token=record["id"], name=record["name"], owner=record["owner"], scope=record["scope"])
    current_app.logger.info("%s made API token %s (%s)", current_user.username, record["id"], record["scope"])
    return _tokens_page(_token_form(formdata=None), new_token=token, new_record=record)


@bp.post("/tokens/<token_id>/revoke")
def revoke_token(token_id: str):
    """Revoke an API token: it stops working at once."""
    check_action()
    record = api_tokens.get(current_app.redis, token_id)
    if record is None:
        abort(404, description=_("There is no API token %(token)r.", token=token_id))
    if record["revoked"]:
        return _tokens_page(notice=_("The API token %(name)r was already revoked.", name=record["name"]))
    api_tokens.revoke(current_app.redis, token_id, current_user.username)
    audit.note("token-revoked", token=token_id, name=record["name"])
    current_app.logger.info("%s revoked API token %s", current_user.username, token_id)
    return _tokens_page(notice=_("The API token %(name)r is revoked.", name=record["name"]))
