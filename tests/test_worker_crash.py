"""A worker killed between a no-answer and its redial: the redial still happens, once."""

from __future__ import annotations

import signal

from callchat.devstack import wait_for
from tests.conftest import start_procfile_worker, stop_procfile_worker

CALLEE = "+819055556666"


def test_redial_survives_a_killed_worker(stack, stack_config, tmp_path):
    """RQ's scheduler lock outlives a killed worker by 61 s; the new worker takes it over once it
    went SCHEDULER_STALE_SECONDS without a refresh (`jobs.worker.free_dead_scheduler_lock`), so the
    redial happens seconds, not a minute, after the restart (this test took 66 s before that)."""
    stack.sim.phone(CALLEE).script(["no-answer", "answer"])
    created = stack.api("POST", "/api/calls", json={"to": CALLEE, "say": "再送です", "retry_delay": 5, "machine": "accept"})
    call_id = created.json()["id"]
    log = tmp_path / "workers.log"
    first = start_procfile_worker(stack_config["REDIS_URL"], log)
    try:
        def second_scheduled():
            attempts = stack.api("GET", f"/api/calls/{call_id}").json()["attempts"]
            return len(attempts) == 2 and attempts[1]["status"] == "scheduled"

        wait_for(second_scheduled, 20, "attempt 1 to ring out and attempt 2 to be scheduled")
    finally:
        stop_procfile_worker(first, signal.SIGKILL)  # the whole dyno: worker, work horse and scheduler
    assert len(stack.sim.phone(CALLEE).calls()) == 1
    assert stack.queue.scheduled_job_registry.count == 1, "the redial waits in Redis, not in the dead worker"

    second = start_procfile_worker(stack_config["REDIS_URL"], log)
    try:
        record = wait_for(lambda: (r := stack.api("GET", f"/api/calls/{call_id}").json())["outcome"] != "pending" and r,
                          120, "the redial after a new worker started")
        stack.sim.settle()
    finally:
        stop_procfile_worker(second)
    assert record["outcome"] == "reached"
    assert len(stack.sim.phone(CALLEE).calls()) == 2, "exactly one redial"
    assert stack.sim.phone(CALLEE).heard()[-1]["text"] == "再送です"
