"""Quick phrases: each user's saved phrases, sent into a call with one click or Alt+1…9.

A phrase is a message like any other once sent (`rooms.add_message`). Until a user saves
their own, they get `DEFAULTS`, in Japanese and English. Key:

    user:{name}:phrases      str   JSON list of the user's phrases, in order (no TTL: it is a setting)
"""

from __future__ import annotations

import json

from redis import Redis

from callchat.i18n import gettext as _

#: The phrases every user starts with: Japanese first (callchat's first users), then English.
DEFAULTS = ("はい", "いいえ", "少々お待ちください", "もう一度お願いします", "ありがとうございます", "わかりました",
            "Yes", "No", "One moment, please", "Could you say that again, please?", "Thank you")
#: Most phrases a user keeps, and the longest phrase, in characters (a phrase is one short utterance).
MAX_PHRASES, MAX_LENGTH = 30, 200


class InvalidPhrases(ValueError):
    """Phrases callchat will not save; str() says which and why, for a person."""


def key(username: str) -> str:
    """The Redis key of a user's phrases."""
    return f"user:{username}:phrases"


def get(r: Redis, username: str) -> list[str]:
    """Return the user's phrases, in order: their own if they saved any, else `DEFAULTS`."""
    saved = r.get(key(username))
    return json.loads(saved) if saved is not None else list(DEFAULTS)


def parse(text: str) -> list[str]:
    """Read phrases typed one per line: blank lines dropped, spaces trimmed, repeats kept once.

    Raises:
        InvalidPhrases: more than MAX_PHRASES, or a line longer than MAX_LENGTH characters.
    """
    phrases = list(dict.fromkeys(line.strip() for line in text.splitlines() if line.strip()))
    if len(phrases) > MAX_PHRASES:
        raise InvalidPhrases(_("That is %(count)d phrases; keep at most %(most)d.", count=len(phrases), most=MAX_PHRASES))
    for n, phrase in enumerate(phrases, 1):
        if len(phrase) > MAX_LENGTH:
            raise InvalidPhrases(_("Phrase %(n)d is %(length)d characters long; a phrase is at most %(most)d.", n=n, length=len(phrase),
                                      most=MAX_LENGTH))
    return phrases


def save(r: Redis, username: str, phrases: list[str] | None) -> None:
    """Store the user's phrases (already `parse`d), or with None go back to `DEFAULTS`."""
    if phrases is None:
        r.delete(key(username))
    else:
        r.set(key(username), json.dumps(phrases, ensure_ascii=False))
