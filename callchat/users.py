"""Users who sign in, their roles and passwords, and one-time links: the Redis keys this module owns.

Passwords are hashed with Werkzeug's scrypt (`werkzeug.security.generate_password_hash`,
werkzeug.palletsprojects.com/en/stable/utils/#module-werkzeug.security); a one-time link's
token is stored only as its SHA-256. Keys:

    user:{username}      hash  username, role (admin|operator), password (scrypt hash, "" = none set),
                               disabled ("" or "1"), generation (int: bumped when the password is reset
                               or the user disabled, which ends every session signed in before),
                               created_at, created_by, locale (the pages' language the user chose:
                               one of callchat.i18n.LOCALES, or "" or absent for the browser's choice)
    users                set   every username
    link:{sha256 hex}    hash  purpose (signin|invite|password), username or role; TTL = its lifetime

Pub/sub: `user:{username}:signed-out` gets a message when the user's sessions end
(disabled, or a new password), so that their open live streams close at once.

A username is 1-64 lower-case letters, digits and `.`, `_`, `-`, `@` (what people type is
lower-cased), so that it is safe in keys, URLs and log lines.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
import time
from typing import Any

from redis import Redis
from werkzeug.security import check_password_hash, generate_password_hash

from callchat.i18n import LOCALES, gettext as _

ROLES = ("admin", "operator")
USERNAME = re.compile(r"[a-z0-9._@-]{1,64}")
#: NIST SP 800-63B §5.1.1.2: at least 8 characters; callchat asks for 10, and accepts up to 256.
PASSWORD_MIN, PASSWORD_MAX = 10, 256
#: How long a one-time link works, in seconds, by purpose.
LINK_SECONDS = {"signin": 15 * 60, "invite": 7 * 86400, "password": 86400}
_ALL = "users"


@functools.cache
def _dummy_hash() -> str:
    """Checked against when the username is unknown, so that a wrong name costs as long as a wrong password."""
    return generate_password_hash(secrets.token_hex(16))


class InvalidUser(ValueError):
    """A username, role or password callchat refuses; str() says why, in words a person understands."""


def _key(username: str) -> str:
    return f"user:{username}"


def clean_username(raw: str) -> str:
    """Return `raw` stripped and lower-cased.

    Raises:
        InvalidUser: it is not 1-64 letters, digits and `.`, `_`, `-`, `@`.
    """
    username = (raw or "").strip().lower()
    if not USERNAME.fullmatch(username):
        raise InvalidUser(_("A username is 1 to 64 letters, digits, '.', '_', '-' or '@'."))
    return username


def check_password(password: str) -> str:
    """Return `password` unchanged if callchat accepts it.

    Raises:
        InvalidUser: shorter than PASSWORD_MIN or longer than PASSWORD_MAX characters.
    """
    if not PASSWORD_MIN <= len(password or "") <= PASSWORD_MAX:
        raise InvalidUser(_("A password is %(least)d to %(most)d characters long.", least=PASSWORD_MIN, most=PASSWORD_MAX))
    return password


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidUser(f"A role is one of {', '.join(ROLES)}, not {role!r}.")
    return role


def get(r: Redis, username: str) -> dict[str, Any] | None:
    """Return the user's record (`generation` as int, `disabled` as bool), or None if there is no such user."""
    user = r.hgetall(_key(username))
    if not user:
        return None
    return dict(user, generation=int(user.get("generation", 0)), disabled=user.get("disabled") == "1")


def all_users(r: Redis) -> list[dict[str, Any]]:
    """Every user's record (see `get`), sorted by username, without password hashes."""
    found = (get(r, name) for name in sorted(r.smembers(_ALL)))
    return [{k: v for k, v in user.items() if k != "password"} for user in found if user]


def create(r: Redis, username: str, role: str, password: str | None = None, created_by: str = "") -> dict[str, Any]:
    """Create a user.

    Args:
        username: as typed (see `clean_username`).
        role: `admin` or `operator`.
        password: the password, or None for none yet (they sign in by a one-time link and set one).
        created_by: who created them (a username, `cli` or `make run`), for the record.

    Returns:
        The new record, as `get` returns it.

    Raises:
        InvalidUser: a bad username, role or password, or the username is taken.
    """
    username = clean_username(username)
    _check_role(role)
    hashed = generate_password_hash(check_password(password)) if password is not None else ""
    record = {"username": username, "role": role, "password": hashed, "disabled": "", "generation": 0,
              "created_at": f"{time.time():.3f}", "created_by": created_by}
    if not r.hsetnx(_key(username), "username", username):
        raise InvalidUser(f"There is already a user called {username!r}.")
    with r.pipeline() as pipe:
        pipe.hset(_key(username), mapping=record)
        pipe.sadd(_ALL, username)
        pipe.execute()
    return get(r, username)


def set_locale(r: Redis, username: str, locale: str) -> None:
    """Set the language of the user's pages: `locale` is one of `callchat.i18n.LOCALES`, or "" for the browser's
    choice (`Accept-Language`).

    Raises:
        InvalidUser: no such user, or a language callchat does not offer.
    """
    if locale and locale not in LOCALES:
        raise InvalidUser(_("A language is one of %(offered)s, not %(locale)r.", offered=", ".join(LOCALES), locale=locale))
    _require(r, username)
    r.hset(_key(username), "locale", locale)


def signed_out_channel(username: str) -> str:
    """The pub/sub channel told when every session of `username` ends (open live pages listen to it)."""
    return f"user:{username}:signed-out"


def _require(r: Redis, username: str) -> dict[str, Any]:
    user = get(r, username)
    if user is None:
        raise InvalidUser(f"There is no user called {username!r}.")
    return user


def set_password(r: Redis, username: str, password: str) -> None:
    """Set a new password and end every session signed in with the old one.

    Raises:
        InvalidUser: no such user, or the password is refused (see `check_password`).
    """
    _require(r, username)
    with r.pipeline() as pipe:
        pipe.hset(_key(username), "password", generate_password_hash(check_password(password)))
        pipe.hincrby(_key(username), "generation", 1)
        pipe.publish(signed_out_channel(username), "password")
        pipe.execute()


def set_disabled(r: Redis, username: str, disabled: bool) -> None:
    """Disable a user (their sessions end at once; they cannot sign in) or enable them again.

    Raises:
        InvalidUser: no such user.
    """
    _require(r, username)
    with r.pipeline() as pipe:
        pipe.hset(_key(username), "disabled", "1" if disabled else "")
        pipe.hincrby(_key(username), "generation", 1)
        pipe.publish(signed_out_channel(username), "disabled" if disabled else "enabled")
        pipe.execute()


def authenticate(r: Redis, username: str, password: str) -> dict[str, Any] | None:
    """Return the user if `password` is theirs and they are enabled; None otherwise (same cost either way)."""
    try:
        user = get(r, clean_username(username))
    except InvalidUser:
        user = None
    stored = user["password"] if user and user["password"] else _dummy_hash()
    matches = check_password_hash(stored, password or "")
    if user is None or not user["password"] or user["disabled"] or not matches:
        return None
    return user


# ---- one-time links -------------------------------------------------------------------------------


def _link_key(token: str) -> str:
    return "link:" + hashlib.sha256(token.encode()).hexdigest()


def issue_link(r: Redis, purpose: str, **data: str) -> str:
    """Store a one-time link for `purpose` (signin, invite or password) and return its secret token.

    Args:
        data: what the link carries: `username` (signin, password) or `role` and `created_by` (invite).

    Returns:
        32 URL-safe random bytes (`secrets.token_urlsafe`), shown once; only their SHA-256 is stored,
        for `LINK_SECONDS[purpose]` seconds.
    """
    token = secrets.token_urlsafe(32)
    with r.pipeline() as pipe:
        pipe.hset(_link_key(token), mapping={"purpose": purpose, **data})
        pipe.expire(_link_key(token), LINK_SECONDS[purpose])
        pipe.execute()
    return token


def peek_link(r: Redis, purpose: str, token: str) -> dict[str, str] | None:
    """What a live link for `purpose` carries, without using it up; None if unknown, used or expired."""
    data = r.hgetall(_link_key(token))
    return data if data.get("purpose") == purpose else None


def redeem_link(r: Redis, purpose: str, token: str) -> dict[str, str] | None:
    """Use a link up: return what it carries, once (atomically, whatever the number of web processes)."""
    with r.pipeline() as pipe:
        pipe.hgetall(_link_key(token))
        pipe.delete(_link_key(token))
        data, deleted = pipe.execute()
    return data if deleted and data.get("purpose") == purpose else None
