"""A worker killed at any point of `announce_next`: every message is still spoken, once, in order.

The worker is the Procfile's (`jobs.worker.main`) with a crash injected at a named point
(`tests/crash_worker.py`); after a dyno's death a new worker starts, as Heroku restarts a
crashed dyno. bench/kill_matrix.py runs the same trials ten times each and prints how long
each room waited (`KILL_TRIALS`, `KILL_KINDS`: how the trials here are repeated and which kills).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from callchat import rooms
from callchat.devstack import wait_for
from tests.conftest import CALLER, GREETING, start_procfile_worker, stop_procfile_worker
from tests.crash_worker import POINTS

TYPED = ["一つ目です", "二つ目です", "三つ目です"]
#: Trials of each point and kill (bench/kill_matrix.py sets more), and the kills tried (tests/crash_worker.py).
TRIALS = range(int(os.environ.get("KILL_TRIALS", "1")))
KILLS = os.environ.get("KILL_KINDS", "horse,dyno").split(",")


def announcements(stack) -> list[dict]:
    """What the caller heard after the greeting, oldest first."""
    return [h for h in stack.sim.phone(CALLER).heard() if h["kind"] == "say" and h.get("text") != GREETING]


def start_crash_worker(redis_url: str, point: str, kill: str, flag: Path, log: Path) -> subprocess.Popen:
    """The Procfile's worker, in its own process group, set to crash at `point` (tests/crash_worker.py)."""
    env = dict(os.environ, REDIS_URL=redis_url, CRASH_AT=point, CRASH_KILL=kill, CRASH_FLAG=str(flag))
    return subprocess.Popen([sys.executable, "-m", "tests.crash_worker"], cwd=Path(__file__).resolve().parents[1],
                            env=env, stdout=open(log, "a"), stderr=subprocess.STDOUT, start_new_session=True)


@pytest.mark.parametrize("trial", TRIALS)
@pytest.mark.parametrize("kill", KILLS)
@pytest.mark.parametrize("point", POINTS)
def test_a_worker_killed_while_delivering_loses_nothing_and_repeats_nothing(stack, stack_config, tmp_path, point,
                                                                             kill, trial, report_figure):
    room_id = stack.call_in()
    stack.user.open_room(room_id)
    if point == "in-flight":  # Twilio applies the request at once and answers 2 s later
        stack.sim.inject_fault("POST", "Calls/*.json", "delay", seconds=2)
    flag, log = tmp_path / "crashed", tmp_path / "worker.log"
    workers = [start_crash_worker(stack_config["REDIS_URL"], point, kill, flag, log)]
    try:
        for text in TYPED:
            assert stack.user.say(room_id, text).status_code == 202
        wait_for(flag.exists, 30, f"the worker to crash at {point}")
        if kill != "horse":
            wait_for(lambda: workers[0].poll() is not None, 30, "the dead worker to be gone")
            workers.append(start_procfile_worker(stack_config["REDIS_URL"], log))  # Heroku restarts the dyno
        wait_for(lambda: all(m["state"] != "queued" and m["state"] != "speaking"
                             for m in stack.user.state(room_id)["messages"]), 60, "every message to be done")
        stack.sim.settle()
    finally:
        for worker in workers:
            stop_procfile_worker(worker)
        if os.environ.get("KILL_LOGS"):  # bench/kill_matrix.py keeps every trial's worker log
            Path(os.environ["KILL_LOGS"], f"{point}-{kill}-{trial}.log").write_text(log.read_text())
    heard = announcements(stack)
    assert [h["text"] for h in heard] == TYPED, log.read_text()[-3000:]
    assert not [h for h in heard if h.get("interrupted")], "no message was cut short"
    assert [m["state"] for m in stack.user.state(room_id)["messages"]] == ["spoken"] * 3
    assert stack.sim.errors() == []
    # How long the room waited: from the crash until Twilio fetched the next message.
    waited = float(rooms.get_message(stack.redis, room_id, 2)["fetched_at"]) - flag.stat().st_mtime
    report_figure(f"kill at {point}, {kill}: the next message was fetched {waited:.2f} s after the crash")
