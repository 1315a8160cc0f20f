"""Room state in a real Redis: one message at a time, in order, whoever claims it."""

from __future__ import annotations

import json
import threading

from callchat import rooms

ROOM = "CA" + "c3" * 16


def open_room(r):
    rooms.create(r, ROOM, "+819012345678", "Polly.Mizuki", "ja-JP", 3600)
    rooms.update(r, ROOM, status="live", conference_sid="CF" + "0" * 32)


def test_only_one_message_is_speaking_at_a_time(redis_client):
    open_room(redis_client)
    for text in ("a", "b"):
        rooms.add_message(redis_client, ROOM, "say", text, "Polly.Mizuki", "ja-JP")
    first = rooms.claim_next(redis_client, ROOM, 60)
    assert first["body"] == "a" and first["state"] == "speaking"
    assert rooms.claim_next(redis_client, ROOM, 60) is None, "b waits until a is finished"
    assert rooms.finish(redis_client, ROOM, first["id"], "spoken")
    assert rooms.claim_next(redis_client, ROOM, 60)["body"] == "b"


def recover_then_claim_and_finish(redis_client, requeue, claimed: list, lock: threading.Lock) -> None:
    """What each `announce_next` does, minus Twilio: take back an orphan (`orphan`, then `requeue`), claim, finish."""
    while True:
        found = rooms.orphan(redis_client, ROOM)
        if found and not found.get("fetched_at"):
            requeue(redis_client, ROOM, found["id"])
        message = rooms.claim_next(redis_client, ROOM, 60)
        if message is None:
            if redis_client.llen(rooms.key(ROOM, ":queue")) == 0 and not redis_client.exists(rooms.key(ROOM, ":speaking")):
                return
            continue
        with lock:
            claimed.append(message["body"])
        rooms.finish(redis_client, ROOM, message["id"], "spoken")


def test_a_message_claimed_between_the_orphan_check_and_the_requeue_is_sent_once(redis_client):
    """`orphan` looks (the slot is free: the previous message just ended), another job claims the next
    message, then the first acts on what it saw. It used to `requeue` that live claim, freeing its slot,
    and claim it again: the message went to Twilio twice at once (the end-to-end test's overlapping
    announcements). `requeue_orphan` checks again and leaves it. (Also: concurrent claimers keep typed order.)"""
    open_room(redis_client)
    typed = [f"m{i}" for i in range(300)]
    for text in typed:
        rooms.add_message(redis_client, ROOM, "say", text, "Polly.Mizuki", "ja-JP")
    claimed, lock = [], threading.Lock()
    threads = [threading.Thread(target=recover_then_claim_and_finish, args=(redis_client, rooms.requeue_orphan, claimed, lock))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert claimed == typed, "each message claimed once, in order, by 4 claimers at once"
    assert {m["state"] for m in rooms.messages(redis_client, ROOM)} == {"spoken"}


def test_a_true_orphan_goes_back_to_the_head_of_the_queue(redis_client):
    open_room(redis_client)
    for text in ("a", "b"):
        rooms.add_message(redis_client, ROOM, "say", text, "Polly.Mizuki", "ja-JP")
    first = rooms.claim_next(redis_client, ROOM, 60)
    assert not rooms.requeue_orphan(redis_client, ROOM, first["id"]), "its claimer still holds the slot"
    redis_client.delete(rooms.key(ROOM, ":speaking"))  # the claimer died; its lease lapsed
    assert rooms.orphan(redis_client, ROOM)["id"] == first["id"]
    assert rooms.requeue_orphan(redis_client, ROOM, first["id"])
    assert rooms.claim_next(redis_client, ROOM, 60)["body"] == "a"


def test_requeue_puts_a_message_back_at_the_head(redis_client):
    open_room(redis_client)
    for text in ("a", "b"):
        rooms.add_message(redis_client, ROOM, "say", text, "Polly.Mizuki", "ja-JP")
    first = rooms.claim_next(redis_client, ROOM, 60)
    assert rooms.requeue(redis_client, ROOM, first["id"])
    assert rooms.get_message(redis_client, ROOM, first["id"])["state"] == "queued"
    assert rooms.claim_next(redis_client, ROOM, 60)["body"] == "a"


def test_every_change_is_published_for_live_pages(redis_client):
    open_room(redis_client)
    pubsub = redis_client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(rooms.channel(ROOM))
    message = rooms.add_message(redis_client, ROOM, "say", "hi", "Polly.Mizuki", "ja-JP")
    rooms.claim_next(redis_client, ROOM, 60)
    rooms.finish(redis_client, ROOM, message["id"], "spoken")
    states = []
    for _ in range(10):  # the first read may only consume the subscribe confirmation
        event = pubsub.get_message(timeout=1)
        if event:
            states.append(json.loads(event["data"])["message"]["state"])
        if len(states) == 3:
            break
    assert states == ["queued", "speaking", "spoken"]
    pubsub.close()


def test_a_job_that_finishes_after_the_join_callback_does_not_show_the_owner_dialing_again(redis_client):
    """Bug (seen in the make-run test): dial_owner stored 'dialing' after participant-join had said 'in the call'."""
    open_room(redis_client)
    owner = "CA" + "d5" * 16
    rooms.upsert_participant(redis_client, ROOM, owner, conference_seq=0, status="in the call", label="owner")
    rooms.upsert_participant(redis_client, ROOM, owner, status_if_new="dialing", number="+819099998888", muted=True)
    assert rooms.participant(redis_client, ROOM, owner)["status"] == "in the call"


def test_an_older_conference_event_never_moves_a_participant_back(redis_client):
    open_room(redis_client)
    guest = "CA" + "e6" * 16
    assert rooms.upsert_participant(redis_client, ROOM, guest, conference_seq=5, status="left")
    assert rooms.upsert_participant(redis_client, ROOM, guest, conference_seq=3, status="in the call") is None
    assert rooms.participant(redis_client, ROOM, guest)["status"] == "left"


def test_an_ended_room_never_changes_again(redis_client):
    open_room(redis_client)
    assert rooms.end(redis_client, ROOM, 60)
    assert rooms.update(redis_client, ROOM, status="live") is None
    assert rooms.get(redis_client, ROOM)["status"] == "ended"
    assert rooms.end(redis_client, ROOM, 60) is False


def test_a_ringing_callback_handled_at_the_same_time_as_the_join_never_wins(redis_client):
    """Bug (seen in the make-run test): 'ringing' read the status before 'in the call' was written, then wrote over it."""
    open_room(redis_client)
    owner = "CA" + "f7" * 16
    rooms.upsert_participant(redis_client, ROOM, owner, conference_seq=0, status="in the call", label="owner")
    later = rooms.GONE | {"in the call"}
    assert rooms.upsert_participant(redis_client, ROOM, owner, unless_status=later, status="ringing") is None
    assert rooms.participant(redis_client, ROOM, owner)["status"] == "in the call"


def test_a_callback_recorded_as_the_room_ends_does_not_outlive_the_room(redis_client):
    """Bug (seen in the make-run test): the callbacks set took the room's TTL from before the end, and stayed a day."""
    open_room(redis_client)
    assert rooms.first_time(redis_client, ROOM, "CF" + "1" * 32, "3")
    assert rooms.end(redis_client, ROOM, 5)
    assert not rooms.first_time(redis_client, ROOM, "CF" + "1" * 32, "3"), "applied once"
    assert rooms.first_time(redis_client, ROOM, "CF" + "1" * 32, "4")
    assert 0 < redis_client.pttl(rooms.key(ROOM, ":callbacks")) <= 5000
