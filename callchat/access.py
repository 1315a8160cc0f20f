"""Who may reach what: Flask-Login sessions, and one gate in front of every route.

Every endpoint needs a signed-in user unless it is listed in `OWN_CHECKS` (the JSON API checks
its bearer token) or `OPEN` (sign-in, static files, `/healthz`). A route added later is therefore
closed until someone opens it here. Twilio's webhooks are not served by this app at all: the
Twilio-facing app (`callchat.twilio_facing`) serves them, each checking `X-Twilio-Signature`, so a
Twilio-facing blueprint registered here by mistake would be closed too.
Admin pages also need the `admin` role (blueprints named in `ADMIN_ONLY`).

Sessions follow Flask-Login (flask-login.readthedocs.io): the session stores
`username:generation`, so disabling a user or resetting their password ends their sessions
at once. The session is permanent with an idle timeout of SESSION_IDLE_SECONDS, renewed by
each request (Flask's PERMANENT_SESSION_LIFETIME and SESSION_REFRESH_EACH_REQUEST).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask, abort, current_app, g, jsonify, redirect, request, session, url_for
from flask_login import LoginManager, UserMixin, current_user, login_user

from callchat import users
from callchat.i18n import gettext as _

#: Blueprints whose every route checks its caller itself (a bearer token).
OWN_CHECKS = frozenset({"api"})
#: Endpoints anyone may open, signed in or not.
OPEN = frozenset({"static", "health.healthz", "auth.signin", "auth.link", "auth.invite", "auth.new_password"})
#: Blueprints only admins may open.
ADMIN_ONLY = frozenset({"admin"})

login_manager = LoginManager()
login_manager.session_protection = "basic"  # "strong" would sign a phone out whenever its network changes


class User(UserMixin):
    """A signed-in person, as Flask-Login sees them.

    Args:
        record: the user's record from `callchat.users.get`.
    """

    def __init__(self, record: dict[str, Any]) -> None:
        self.username = record["username"]
        self.role = record["role"]
        self.generation = record["generation"]
        self.locale = record.get("locale", "")  # "" = the browser's choice (callchat.i18n.select_locale)

    def get_id(self) -> str:
        """`username:generation`: what the session cookie holds."""
        return f"{self.username}:{self.generation}"

    @property
    def is_admin(self) -> bool:
        """True for the `admin` role."""
        return self.role == "admin"


@login_manager.user_loader
def _load(user_id: str) -> User | None:
    username, _sep, generation = user_id.rpartition(":")
    record = users.get(current_app.redis, username) if username else None
    if record is None or record["disabled"] or str(record["generation"]) != generation:
        return None
    return User(record)


@login_manager.unauthorized_handler
def _unauthorized():
    if wants_json():
        return jsonify(error=_("Sign in first.")), 401
    return redirect(url_for("auth.signin", next=request.full_path.rstrip("?")))


def wants_json() -> bool:
    """True when the request is from a script or a live stream rather than a person's page load."""
    best = request.accept_mimetypes.best
    return (best in ("application/json", "text/event-stream") or request.is_json
            or request.path.startswith(("/voice/", "/api/")) or request.path.endswith(("/events", "/state")))


def sign_in(record: dict[str, Any]) -> None:
    """Start a session for this user (a fresh one: the old session's data is dropped)."""
    session.clear()
    login_user(User(record))
    session.permanent = True


def as_anonymous() -> None:
    """Treat the rest of this request as anonymous (an error page while Redis is down cannot load the user)."""
    g._login_user = login_manager.anonymous_user()


def _gate():
    """Flask `before_request`: let a request through only if its endpoint allows this visitor."""
    endpoint = request.endpoint or ""
    blueprint = request.blueprint or ""
    if endpoint in OPEN or blueprint in OWN_CHECKS or request.endpoint is None:
        return None  # None: no route matched; Flask answers 404/405 without running a view
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if blueprint in ADMIN_ONLY and not current_user.is_admin:
        abort(403, description=_("Only an admin can open this page."))
    return None


def init_app(app: Flask) -> None:
    """Set up Flask-Login, the idle timeout and the gate on `app` (settings: SESSION_IDLE_SECONDS)."""
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(seconds=int(app.config["SESSION_IDLE_SECONDS"]))
    app.config["SESSION_REFRESH_EACH_REQUEST"] = True
    login_manager.init_app(app)
    app.before_request(_gate)
