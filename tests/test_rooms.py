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


def test_concurrent_claimers_keep_typed_order(redis_client):
    open_room(redis_client)
    typed = [f"m{i}" for i in range(200)]
    for text in typed:
        rooms.add_message(redis_client, ROOM, "say", text, "Polly.Mizuki", "ja-JP")
    spoken, lock = [], threading.Lock()

    def worker():
        while True:
            message = rooms.claim_next(redis_client, ROOM, 60)
            if message is None:
                if redis_client.llen(rooms.key(ROOM, ":queue")) == 0 and not redis_client.exists(rooms.key(ROOM, ":speaking")):
                    return
                continue
            with lock:
                spoken.append(message["body"])
            assert rooms.finish(redis_client, ROOM, message["id"], "spoken")

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert spoken == typed
    assert {m["state"] for m in rooms.messages(redis_client, ROOM)} == {"spoken"}


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
