"""The sweep that checks on every live room's call (`jobs.rooms.check_rooms`): one scheduled job, not one per room."""

from __future__ import annotations

from callchat import rooms
from jobs.rooms import CHECKS_JOB
from tests.conftest import CALLER


def _scheduled(stack) -> list[str]:
    return stack.queue.scheduled_job_registry.get_job_ids()


def test_one_sweep_checks_every_live_room_and_stops_when_none_is_left(stack):
    first, second = stack.call_in(CALLER), stack.call_in("+819012340002")
    assert _scheduled(stack).count(CHECKS_JOB) == 1, "one sweep for both rooms, no job per room"
    stack.sim.set_clock("manual")  # the calls' waiting loops pause: no fetch refreshes seen_at before the sweep
    stack.settle()  # a loop fetch already on its way lands first (on a loaded machine it landed after the next line)
    stack.redis.hset(rooms.key(second), "seen_at", 0)  # as if its waiting loop had not been fetched for long
    assert stack.release_scheduled("check_rooms") == 1
    stack.settle()
    stack.sim.set_clock("real", speed=50)
    assert {rooms.get(stack.redis, sid)["status"] for sid in (first, second)} == {"live"}, "both calls still up"
    asked = {e["path"].rsplit("/", 1)[-1] for e in stack.sim.requests() if e["method"] == "GET" and "/Calls/" in e["path"]}
    assert asked == {f"{second}.json"}, "Twilio is asked only about the call that has not fetched its loop lately"
    assert _scheduled(stack) == [CHECKS_JOB], "it checks again later"
    for sid in (first, second):
        stack.sim.hang_up(sid)
    stack.settle()
    assert not rooms.live(stack.redis)
    assert stack.release_scheduled("check_rooms") == 1
    stack.settle()
    assert _scheduled(stack) == [], "with no live room the sweep stops: nothing is left in Redis"
    third = stack.call_in("+819012340003")
    assert _scheduled(stack) == [CHECKS_JOB], "the next room starts it again"
    assert rooms.get(stack.redis, third)["status"] == "live"


def test_a_worker_restarts_a_lost_sweep_while_rooms_are_live(stack, stack_config):
    from jobs.worker import Worker
    stack.call_in(CALLER)
    stack.queue.scheduled_job_registry.remove(CHECKS_JOB, delete_job=True)  # lost, e.g. with a killed worker
    assert _scheduled(stack) == []
    Worker([stack.queue], connection=stack.queue.connection).run_maintenance_tasks()
    assert _scheduled(stack) == [CHECKS_JOB]
