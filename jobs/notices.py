"""What the other side hears about the typing itself: a short notice while the typist types.

The page reports typing (`POST /rooms/<id>/typing`, at most every few seconds); the first
report of a pause schedules `say_typing_notice` TYPING_NOTICE_SECONDS later, which says
the typing notice (TYPING_NOTICE, or `voices.NOTICES` in the room's language) if the typist has sent nothing since, nothing is queued or
being spoken, and no notice went out in the last TYPING_NOTICE_SECONDS (issue 11: "at most
once per pause"). It is a message like any other, in the room's voice, shown in the chat.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from callchat import rooms
from callchat.voices import notice
from jobs import config, queue, state
from jobs.announce import enqueue_announce

log = logging.getLogger(__name__)


def schedule_typing_notice(r, q, room_id: str, cfg) -> bool:
    """The typist is typing in room `room_id` (`CA…`): schedule a typing notice, once per pause.

    Returns:
        True if one was scheduled (none while TYPING_NOTICE_SECONDS is 0 or one is pending).
    """
    pause = int(cfg["TYPING_NOTICE_SECONDS"])
    since = rooms.typing(r, room_id, pause) if pause > 0 else None
    if since is None:
        return False
    q.enqueue_in(timedelta(seconds=pause), say_typing_notice, room_id, since)
    return True


def say_typing_notice(room_id: str, since: float) -> int | None:
    """Say TYPING_NOTICE in the room if the typist typed since `since` (epoch s) and sent nothing.

    Returns:
        The notice's message id, or None if it was not owed (something was sent, queued or
        spoken, a notice went out in the last pause, or the room is not live).
    """
    cfg = config()
    r = state(cfg)
    room = rooms.get(r, room_id)
    if not room or room["status"] != "live":
        return None
    if not rooms.owes_typing_notice(r, room_id, since, int(cfg["TYPING_NOTICE_SECONDS"])):
        return None
    said = notice("typing", room["language"], cfg["TYPING_NOTICE"])
    message = rooms.add_message(r, room_id, "say", said, room["voice"], room["language"],
                                rate=room.get("rate") or "medium")
    enqueue_announce(queue(cfg), room_id)
    log.info("room %s: the typist is still typing; typing notice %s", room_id, message["id"])
    return message["id"]
