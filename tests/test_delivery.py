"""Drains (`jobs.delivery`): one RQ job delivers many rooms; nothing is lost or spoken twice (issue 14).

The simulator's clock is held (`manual`) where a test must tell what one drain job did: Twilio then
fetches each message (it is `speaking` on the page) but no waiting loop comes round to nudge a room.
"""

from __future__ import annotations

import threading

from callchat import rooms
from callchat.devstack import wait_for
from jobs import announce, delivery
from tests.conftest import GREETING, stop_procfile_worker
from tests.test_worker_kill import start_crash_worker

ROOMS = 6
TYPED = ["一つ目です", "二つ目です"]


def callers(count: int) -> list[str]:
    return [f"+8190777{i:05d}" for i in range(count)]


def heard(stack, caller: str) -> list[str]:
    """What one phone heard after its greeting, in order."""
    return [h["text"] for h in stack.sim.phone(caller).heard() if h["kind"] == "say" and h.get("text") != GREETING]


def open_rooms(stack, count: int) -> dict[str, str]:
    """{caller: room id} for `count` lone callers, each room open on the typist's page."""
    opened = {caller: stack.call_in(caller) for caller in callers(count)}
    for room_id in opened.values():
        stack.user.open_room(room_id)
    return opened


def states(stack, room_id: str) -> list[str]:
    return [m["state"] for m in stack.user.state(room_id)["messages"]]


def test_one_drain_job_delivers_every_ready_room_and_each_phone_hears_its_own_in_order(stack):
    opened = open_rooms(stack, ROOMS)
    stack.sim.set_clock("manual")  # Twilio fetches each message; none ends, no loop nudges
    for room_id in opened.values():
        for text in TYPED:
            assert stack.user.say(room_id, text).status_code == 202
    assert [job.func_name for job in stack.queue.jobs] == ["jobs.delivery.deliver_ready"], "12 messages, one job"
    stack.run_jobs()
    assert all(states(stack, room_id) == ["speaking", "queued"] for room_id in opened.values()), \
        "that one job handed every room's first message to Twilio"
    stack.sim.set_clock("auto")
    stack.settle()
    for caller, room_id in opened.items():
        assert heard(stack, caller) == TYPED, caller
        assert states(stack, room_id) == ["spoken", "spoken"]
    assert stack.redis.zcard(delivery.READY) == 0 and stack.redis.zcard(delivery.DRAINS) == 0, "nothing left behind"


def test_a_message_typed_while_its_room_is_being_drained_is_not_lost(stack):
    (caller, room_id), = open_rooms(stack, 1).items()
    stack.sim.set_clock("manual")
    delivery.mark_ready(stack.queue, room_id)  # e.g. the loop's nudge: a drain job is queued
    taken = delivery._step(stack.redis, "drain-on-the-room", None)  # a second drain takes the room first…
    assert taken[0] == room_id
    assert announce.announce_next(room_id) is None  # …finds nothing to say yet…
    assert stack.user.say(room_id, "間に合いました").status_code == 202  # …the typist sends a message…
    done = (taken[0], taken[1], True)
    assert delivery._step(stack.redis, "drain-on-the-room", done, take=False) is None  # …and is done with it
    stack.run_jobs()  # the queued drain: the room is still due, marked after that take
    assert states(stack, room_id) == ["speaking"], "handed to Twilio without any nudge"
    stack.sim.set_clock("auto")
    stack.settle()
    assert heard(stack, caller) == ["間に合いました"]


def test_a_room_whose_delivery_raises_does_not_stop_the_others(stack, caplog):
    """An unexpected exception for one room (here Redis refuses its gate: a key of the wrong type) is logged
    with the room; the drain goes on with the others, and the room is due again after RETRY's first wait."""
    opened = open_rooms(stack, 3)
    broken = list(opened.values())[1]
    stack.redis.rpush(rooms.key(broken, ":current"), "not a message id")  # a bug's leftovers: the gate raises
    stack.sim.set_clock("manual")
    for room_id in opened.values():
        stack.user.say(room_id, "どうぞ")
    stack.run_jobs()
    assert [states(stack, room_id) for room_id in opened.values()] == [["speaking"], ["queued"], ["speaking"]]
    assert f"room {broken} (CallSid {broken}): delivery failed; it is tried again in 1 s" in caplog.text
    assert stack.redis.hget(delivery.RETRIES, broken) == "1"
    assert stack.redis.zscore(delivery.READY, broken) is not None, "due again after the backoff"


def test_a_drain_killed_mid_room_loses_nothing_and_repeats_nothing(stack, stack_config, tmp_path):
    """The worker's process dies right after a drain claimed a message (tests/crash_worker.py, `claimed`):
    the pool hands the drain job back, RQ runs it again, and it takes the room it held first."""
    opened = open_rooms(stack, 3)
    flag, log = tmp_path / "crashed", tmp_path / "worker.log"
    workers = [start_crash_worker(stack_config["REDIS_URL"], "claimed", "horse", flag, log)]
    try:
        for text in TYPED:
            for room_id in opened.values():
                assert stack.user.say(room_id, text).status_code == 202
        wait_for(flag.exists, 30, "the worker to crash mid-room")
        wait_for(lambda: all(s == "spoken" for room_id in opened.values() for s in states(stack, room_id)), 60,
                 "every message to be spoken")
        stack.sim.settle()
    finally:
        for worker in workers:
            stop_procfile_worker(worker)
    for caller in opened:
        assert heard(stack, caller) == TYPED, log.read_text()[-3000:]
    assert "handed back" in log.read_text()
    assert stack.sim.errors() == []


def drain_trips(stack, room_ids: list[str], text: str) -> int:
    """Type `text` into each room, run the one drain job this queues; return the Redis round trips made in this
    thread meanwhile (the job runs here; the app's webhooks run in the server's threads)."""
    from redis.connection import AbstractConnection
    for room_id in room_ids:
        assert stack.user.say(room_id, text).status_code == 202
    assert [job.func_name for job in stack.queue.jobs] == ["jobs.delivery.deliver_ready"]
    sent, here, original = [], threading.get_ident(), AbstractConnection.send_packed_command

    def counting(self, command, check_health=True):
        if threading.get_ident() == here:
            sent.append(command)
        return original(self, command, check_health)

    AbstractConnection.send_packed_command = counting
    try:
        stack.run_jobs()
    finally:
        AbstractConnection.send_packed_command = original
    assert all(states(stack, room_id)[-1] == "speaking" for room_id in room_ids), "each handed to Twilio"
    return len(sent)


def test_a_drain_costs_two_redis_round_trips_per_message(stack, report_figure):
    """Take the room (holding the last room's slot while Twilio speaks its message, in the same script), and
    announce_next's checks and claim (one script); RQ's bookkeeping (here a burst worker's start and stop too) is
    once per job, whatever the number of rooms. Before issue 14's drain: 8 per message, and an RQ job each (about
    21 commands in 11 round trips); 3 with the slot held in a round trip of its own."""
    room_ids = list(open_rooms(stack, 19).values())
    stack.sim.set_clock("manual")  # each message stays speaking: no webhook marks a room meanwhile
    drain_trips(stack, room_ids[:1], "暖機")  # the scripts are loaded
    one = drain_trips(stack, room_ids[1:2], "一部屋")
    many = drain_trips(stack, room_ids[2:], "十七部屋")
    per_message = (many - one) / (len(room_ids[2:]) - 1)
    report_figure(f"drain: {per_message:.2f} Redis round trips per message; {one} for a drain of one room "
                  f"(RQ's bookkeeping included), {many} for 17")
    assert per_message <= 2
    stack.sim.set_clock("auto")
    stack.settle()


def test_a_drain_waiting_on_twilio_for_one_room_does_not_hold_up_the_next_room(redis_url):
    """With workers free, a room marked ready while every live drain is delivering another room gets a drain of its
    own: on real Twilio a drain waits 100–300 ms on each REST request (bench/real_latency.py: p99 163 ms before)."""
    from redis import Redis
    from rq import Queue, SimpleWorker

    from callchat.settings import QUEUE_NAME

    r = Redis.from_url(redis_url)
    q = Queue(QUEUE_NAME, connection=r)
    for name in ("one", "two"):  # two workers listen on the queue, as a dyno's pool does
        SimpleWorker([q], connection=r, name=name).register_birth()
    first, second = "CA" + "a1" * 16, "CA" + "b2" * 16
    delivery.mark_ready(q, first)
    [drain] = q.job_ids
    assert delivery._step(r, drain, None)[0] == first.encode(), "the drain is now delivering the first room"
    delivery.mark_ready(q, second)
    assert len(q.job_ids) == 2, "a second drain for the second room"
    delivery.mark_ready(q, second)
    assert len(q.job_ids) == 2, "but not a third: the second drain is free for it"
