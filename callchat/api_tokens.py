"""API tokens: bearer tokens for the JSON API, each owned by a user or by the system: the Redis keys this module owns.

An admin makes a token with a name, a scope and an owner; it is shown once. A token reads
`cc_<id>_<secret>`: `id` is 16 hex digits, which find its record in one lookup; `secret` is
32 random bytes (`secrets.token_urlsafe`). Only the SHA-256 of the whole token is stored: a
slow password hash (scrypt, argon2) protects guessable secrets, and 256 random bits cannot be
guessed, so one SHA-256 is enough (as GitHub does for its tokens) and costs nothing per request.
Keys:

    apitoken:{id}         hash  id, name, scope (space-separated, RFC 6749 §3.3: "calls", "sessions"
                                or "calls sessions"), owner (a username, or `system`), hash (SHA-256 hex
                                of the token), created_at, created_by, last_used_at, revoked_at,
                                revoked_by (epoch seconds, "" = not yet). Kept after revocation, so
                                that the admin page lists it and its calls' outcomes can still be signed.
    apitoken:{id}:recent  str   "1" for 60 s after a use was recorded: at most one `last_used_at`
                                write (and one `token-used` audit entry for reads) per token per minute.
    apitokens             zset  every token id, scored by created_at

A token works while it is not revoked and, if a user owns it, while that user exists and is
enabled: both are checked on every request, so revoking it or disabling its owner stops it at
once. The old `API_TOKEN` setting works as a system token with every scope (`SETTING`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from datetime import datetime, timezone
from typing import Any

from redis import Redis

from callchat import users
from callchat.i18n import gettext as _

#: What a token may be allowed: the first path segment after `/api/` of the routes it may use.
SCOPES = ("calls", "sessions")
#: The owner of a token no user owns.
SYSTEM = "system"
#: The id of the API_TOKEN setting, when it is the token used (its last use is kept under this id).
SETTING = "API_TOKEN"
#: A use of a token is recorded (last used, audit) at most once per this many seconds.
USE_RECORD_SECONDS = 60
NAME = re.compile(r"[^\x00-\x1f\x7f]{1,64}")
_TOKEN = re.compile(r"cc_([0-9a-f]{16})_[A-Za-z0-9_-]{43}")
_ALL = "apitokens"


class InvalidToken(ValueError):
    """A token name, scope, owner or id callchat refuses; str() says why, in words a person understands."""


class Refused(Exception):
    """A bearer token that may not make this request (RFC 6750 §3).

    Attributes:
        status: the HTTP status: 401 (no, unknown, revoked or disabled owner's token), 403 (scope
            missing), or 503 (the API is off: no API_TOKEN and no token made).
        headers: `WWW-Authenticate` for 401 and 403, e.g. `Bearer error="insufficient_scope", scope="calls"`.
        str(): the reason, a sentence for the person reading the script's log.
    """

    def __init__(self, message: str, status: int, challenge: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.headers = {"WWW-Authenticate": challenge} if challenge else {}


def _key(token_id: str, suffix: str = "") -> str:
    return f"apitoken:{token_id}{suffix}"


def digest(token: str) -> str:
    """The SHA-256 of a token, hex: what is stored, and the key that signs its calls' outcome webhooks."""
    return hashlib.sha256(token.encode()).hexdigest()


def clean_scope(scopes: list[str] | tuple[str, ...]) -> str:
    """Return the scopes as stored: known ones, in SCOPES order, space-separated.

    Raises:
        InvalidToken: none given, or one is not in SCOPES.
    """
    unknown = set(scopes) - set(SCOPES)
    if unknown or not scopes:
        given = " ".join(sorted(unknown)) or "nothing"
        raise InvalidToken(_("A token's scope is %(scopes)s, not %(given)s.", scopes=" / ".join(SCOPES), given=given))
    return " ".join(s for s in SCOPES if s in scopes)


def _check_owner(r: Redis, owner: str) -> str:
    if owner == SYSTEM:
        return owner
    user = users.get(r, owner)
    if user is None or user["disabled"]:
        raise InvalidToken(_("A token's owner is %(system)r or an enabled user; %(owner)r is not.", system=SYSTEM, owner=owner))
    return owner


def create(r: Redis, name: str, scopes: list[str] | tuple[str, ...], owner: str,
           created_by: str) -> tuple[str, dict[str, Any]]:
    """Make a token.

    Args:
        name: what it is for, 1-64 characters (e.g. "monitoring"); shown on the admin page and in the audit trail.
        scopes: some of SCOPES.
        owner: a username (the token stops when that user is disabled) or `system`.
        created_by: the admin's username, or `cli`.

    Returns:
        (the token, `cc_<id>_<secret>`, to show once; its record as `get` returns it).

    Raises:
        InvalidToken: a bad name or scope, or the owner is neither `system` nor an enabled user.
    """
    name = (name or "").strip()
    if not NAME.fullmatch(name):
        raise InvalidToken(_("A token's name is 1 to 64 characters, on one line."))
    scope = clean_scope(scopes)
    _check_owner(r, owner)
    token_id = secrets.token_hex(8)
    token = f"cc_{token_id}_{secrets.token_urlsafe(32)}"
    now = time.time()
    record = {"id": token_id, "name": name, "scope": scope, "owner": owner, "hash": digest(token),
              "created_at": f"{now:.3f}", "created_by": created_by, "last_used_at": "", "revoked_at": "",
              "revoked_by": ""}
    with r.pipeline() as pipe:
        pipe.hset(_key(token_id), mapping=record)
        pipe.zadd(_ALL, {token_id: now})
        pipe.execute()
    return token, get(r, token_id)


def when(epoch: str) -> str:
    """A time as stored (epoch seconds, a string) as `2024-05-01 12:34 UTC`; "" (not yet) as `never` (translated)."""
    return datetime.fromtimestamp(float(epoch), timezone.utc).strftime("%Y-%m-%d %H:%M UTC") if epoch else _("never")


def get(r: Redis, token_id: str) -> dict[str, Any] | None:
    """Return a token's record (`scopes` added, as a tuple; `revoked` as bool), or None if there is no such token."""
    record = r.hgetall(_key(token_id)) if re.fullmatch(r"[0-9a-f]{16}", token_id or "") else {}
    if not record:
        return None
    return dict(record, scopes=tuple(record["scope"].split()), revoked=bool(record["revoked_at"]))


def all_tokens(r: Redis) -> list[dict[str, Any]]:
    """Every token's record (see `get`), newest first, without its hash."""
    found = (get(r, token_id) for token_id in r.zrevrange(_ALL, 0, -1))
    return [{k: v for k, v in record.items() if k != "hash"} for record in found if record]


def exists(r: Redis) -> bool:
    """True once any token has been made (revoked ones count: the API is on, and says they are revoked)."""
    return bool(r.exists(_ALL))


def revoke(r: Redis, token_id: str, revoked_by: str) -> dict[str, Any]:
    """Revoke a token: it stops working at once. A token already revoked keeps its first revocation.

    Args:
        revoked_by: the admin's username, or `cli`.

    Returns:
        Its record (see `get`).

    Raises:
        InvalidToken: no such token.
    """
    record = get(r, token_id)
    if record is None:
        raise InvalidToken(_("There is no API token %(token)r.", token=token_id))
    if not record["revoked"]:
        r.hset(_key(token_id), mapping={"revoked_at": f"{time.time():.3f}", "revoked_by": revoked_by})
    return get(r, token_id)


def setting_record(r: Redis) -> dict[str, Any]:
    """The API_TOKEN setting as a token record: owner `system`, every scope, and its last use."""
    return {"id": SETTING, "name": SETTING, "scope": " ".join(SCOPES), "scopes": SCOPES, "owner": SYSTEM,
            "created_at": "", "created_by": "", "last_used_at": r.hget(_key(SETTING), "last_used_at") or "",
            "revoked_at": "", "revoked_by": "", "revoked": False}


def authenticate(r: Redis, authorization: str, setting_token: str, scope: str) -> dict[str, Any]:
    """Who is calling the API: check an `Authorization` header (RFC 6750 §2.1) for a route of `scope`.

    Args:
        authorization: the header's value, `Bearer <token>` ("" when absent).
        setting_token: the API_TOKEN setting ("" when unset), accepted with every scope.
        scope: the route's scope, one of SCOPES.

    Returns:
        The token's record (`get`); for API_TOKEN, `{"id": SETTING, "name", "owner": SYSTEM, "scopes": SCOPES}`,
        found without reading Redis.

    Raises:
        Refused: 503 when there is no API_TOKEN and no token was ever made; 401 when the header is
            missing or the token unknown, revoked, or owned by a disabled user; 403 when the token's
            scope lacks `scope`.
    """
    if not setting_token and not exists(r):
        raise Refused("The API is off: set API_TOKEN, or have an admin make an API token at /admin/tokens.", 503)
    given = authorization[7:] if authorization.startswith("Bearer ") else ""
    if setting_token and given and hmac.compare_digest(given.encode(), setting_token.encode()):
        return {"id": SETTING, "name": SETTING, "owner": SYSTEM, "scopes": SCOPES}
    found = _TOKEN.fullmatch(given)
    record = get(r, found.group(1)) if found else None
    if record is None or not hmac.compare_digest(record["hash"], digest(given)):
        raise Refused("Send 'Authorization: Bearer <token>' with an API token (or API_TOKEN).", 401, "Bearer")
    invalid = 'Bearer error="invalid_token"'
    if record["revoked"]:
        raise Refused(f"The API token {record['name']!r} was revoked.", 401, invalid)
    if record["owner"] != SYSTEM:
        owner = users.get(r, record["owner"])
        if owner is None or owner["disabled"]:
            raise Refused(f"The API token {record['name']!r} belongs to {record['owner']}, who is disabled.", 401,
                          invalid)
    if scope not in record["scopes"]:
        raise Refused(f"The API token {record['name']!r} may use /api/{' and /api/'.join(record['scopes'])} only, "
                      f"not /api/{scope}; ask an admin for a token with the {scope!r} scope.", 403,
                      f'Bearer error="insufficient_scope", scope="{scope}"')
    return record


def note_use(r: Redis, token_id: str) -> bool:
    """Record that a token was just used, at most once per USE_RECORD_SECONDS (one `SET NX` per request).

    Returns:
        True if this use was recorded (its `last_used_at` set now); False if one was within the last minute.
    """
    if not r.set(_key(token_id, ":recent"), "1", nx=True, ex=USE_RECORD_SECONDS):
        return False
    r.hset(_key(token_id), "last_used_at", f"{time.time():.3f}")
    return True


def signing_key(r: Redis, token_id: str) -> str:
    """The key that signs the outcome webhooks of calls a token placed: its stored SHA-256 (hex).

    Its owner computes the same from the token (`digest`), so a receiver checks
    `X-Callchat-Signature` without callchat keeping the token itself.

    Raises:
        LookupError: no such token (its record is kept after revocation, so only if Redis lost it).
    """
    record = get(r, token_id)
    if record is None:
        raise LookupError(f"API token {token_id!r} is gone; the outcome cannot be signed")
    return record["hash"]
