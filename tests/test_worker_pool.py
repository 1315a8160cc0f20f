"""The worker runs its jobs without a fork each (`jobs.worker`, `jobs.pool`): a job that hangs is
stopped at its timeout and the worker goes on; SIGTERM lets a job run its grace, then hands it back."""

from __future__ import annotations

import os
import signal
import time

import pytest
from rq import Retry
from rq.job import Job, JobStatus
from rq.worker import Worker as RQWorker

from callchat.devstack import wait_for
from jobs.worker import SHUTDOWN_GRACE_SECONDS
from tests.conftest import CALLER, start_procfile, stop_procfile_worker
from tests.test_shutdown import running


def test_a_job_that_hangs_is_stopped_at_its_timeout_and_the_worker_goes_on(stack, stack_config, tmp_path):
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    hung = stack.queue.enqueue(time.sleep, 600, job_timeout=1)  # first in the queue: the only worker takes it
    log = tmp_path / "worker.log"
    worker = start_procfile("worker", {"REDIS_URL": stack_config["REDIS_URL"], "WORKER_CONCURRENCY": "1"}, log)
    try:
        assert stack.user.say(room_id, "止まった後です").status_code == 202
        wait_for(lambda: "止まった後です" in [h.get("text") for h in stack.sim.phone(CALLER).heard()], 30,
                 "the message typed behind the hung job to be spoken")
        stack.sim.settle()
    finally:
        stop_procfile_worker(worker)
    assert hung.get_status(refresh=True) == JobStatus.FAILED
    assert "JobTimeoutException: Task exceeded maximum timeout value (1 seconds)" in log.read_text()


def test_sigterm_hands_back_a_job_still_running_after_the_grace(stack, stack_config, tmp_path):
    long = stack.queue.enqueue(time.sleep, 600, job_timeout=900, retry=Retry(max=1))
    log = tmp_path / "worker.log"
    worker = start_procfile("worker", {"REDIS_URL": stack_config["REDIS_URL"], "WORKER_CONCURRENCY": "2"}, log)
    try:
        wait_for(lambda: long.get_status(refresh=True) == JobStatus.STARTED, 30, "the worker to start the job")
        stopped_at = time.monotonic()
        os.killpg(worker.pid, signal.SIGTERM)  # every process of the dyno, as Heroku does
        worker.wait(30)  # the shell
        wait_for(lambda: not running(worker), 30, "every process of the worker to end")
        took = time.monotonic() - stopped_at
    finally:
        stop_procfile_worker(worker, signal.SIGKILL)
    assert SHUTDOWN_GRACE_SECONDS <= took < 30, "the job had its grace, and the dyno was gone before Heroku's SIGKILL"
    job = Job.fetch(long.id, connection=stack.queue.connection)
    assert job.get_status() == JobStatus.QUEUED and job.retries_left == 0, "handed back to be run again"
    assert "ShutDownImminentException: shut down imminent" in log.read_text()
    assert "Traceback" not in log.read_text()


@pytest.mark.parametrize("thread", ["RQ's pub/sub thread", "the lease renewer"])
def test_a_sigterm_taken_by_another_thread_of_a_worker_waiting_on_twilio_starts_its_shutdown(stack, stack_config, tmp_path,
                                                                                             thread):
    # Linux hands a process's signal to any thread not blocking it; Python runs the handler in the main thread only,
    # once that wakes. A SIGTERM taken by the worker's Redis pub/sub thread or its lease renewer, while the main
    # thread waited on Twilio (or slept in a job), was seen only when the job ended: the pool killed it 23 s on.
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    stack.sim.inject_fault("POST", "Calls/*.json", "delay", seconds=8)  # Twilio takes the message, answers late
    log = tmp_path / "worker.log"
    worker = start_procfile("worker", {"REDIS_URL": stack_config["REDIS_URL"], "WORKER_CONCURRENCY": "1"}, log)
    try:
        assert stack.user.say(room_id, "遅い返事").status_code == 202
        wait_for(lambda: any(r["method"] == "POST" and r["path"].endswith(f"/Calls/{room_id}.json") and r["fault"]
                             for r in stack.sim.requests()), 30, "the worker to hand the message to Twilio")
        [busy] = RQWorker.all(connection=stack.queue.connection)
        threads = [int(tid) for tid in os.listdir(f"/proc/{busy.pid}/task") if int(tid) != busy.pid]
        assert len(threads) == 2, "beside its main thread, the worker runs RQ's pub/sub thread and the lease renewer"
        # The pub/sub thread starts with the worker, the renewer with its first job: thread ids grow.
        os.kill(min(threads) if thread == "RQ's pub/sub thread" else max(threads), signal.SIGTERM)  # Linux gives it
        # to the thread whose id is named, unless that thread blocks it
        wait_for(lambda: "warm shut down requested" in log.read_text(), 4, "the worker to start its shutdown")
    finally:
        stop_procfile_worker(worker, signal.SIGKILL)
