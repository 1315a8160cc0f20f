"""The real processes of `make run` (Procfile.dev under honcho), driven over HTTP like a person would.

Starts redis (AOF on), gunicorn, two RQ workers and the simulator, each a separate
process, then: a virtual phone calls in, messages are typed through the chat page's
own endpoint, and the phone hears them, each once, in order.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, CALLER, OWNER, ROOT, TWILIO_NUMBER, ChatUser, free_port
from simulator.client import SimulatorClient


def wait_for(condition, timeout: float = 30, what: str = "condition"):
    """Poll `condition()` until it returns something truthy (the processes are not ours to settle)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = condition()
        except requests.ConnectionError:
            value = None
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def processes(tmp_path):
    """`honcho start` on Procfile.dev with two workers, on free ports; stopped with Ctrl-C (SIGINT)."""
    web, sim, redis = free_port(), free_port(), free_port()
    env_file = tmp_path / "e2e.env"
    env_file.write_text("\n".join([
        f"WEB_PORT={web}", f"SIM_PORT={sim}", f"REDIS_PORT={redis}", f"REDIS_DIR={tmp_path}",
        f"REDIS_URL=redis://127.0.0.1:{redis}/0", f"PUBLIC_BASE_URL=http://127.0.0.1:{web}",
        f"TWILIO_API_BASE=http://127.0.0.1:{sim}", f"SIM_VOICE_URL=http://127.0.0.1:{web}/voice/incoming",
        f"TWILIO_ACCOUNT_SID={ACCOUNT_SID}", f"TWILIO_AUTH_TOKEN={AUTH_TOKEN}", f"TWILIO_PHONE_NUMBER={TWILIO_NUMBER}",
        f"OWNER_PHONE={OWNER}", "SIM_CLOCK_SPEED=50", "ROOM_RETENTION_SECONDS=2", "WEB_CONCURRENCY=2",
        "SECRET_KEY=e2e-secret", "PYTHONUNBUFFERED=1",
    ]) + "\n")
    bin_dir = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "REDIS_", "PUBLIC_", "SIM_"))}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    log = open(tmp_path / "honcho.log", "w")
    proc = subprocess.Popen([str(bin_dir / "honcho"), "-f", "Procfile.dev", "-e", str(env_file), "start", "-c", "worker=2"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    urls = {"web": f"http://127.0.0.1:{web}", "sim": f"http://127.0.0.1:{sim}", "redis": f"redis://127.0.0.1:{redis}/0",
            "dir": tmp_path, "proc": proc}
    try:
        wait_for(lambda: requests.get(f"{urls['web']}/healthz", timeout=1).ok, what="the web app and Redis")
        wait_for(lambda: requests.get(f"{urls['sim']}/_sim/phones", timeout=1).ok, what="the simulator")
        yield urls
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                raise
        log.close()
        print((tmp_path / "honcho.log").read_text()[-5000:])


def test_make_run_processes_speak_typed_messages_into_the_call(processes):
    web, sim = processes["web"], SimulatorClient(processes["sim"])
    caller = sim.phone(CALLER)
    room_id = caller.call(TWILIO_NUMBER)
    user = ChatUser(web)

    def room_state():
        response = requests.get(f"{web}/rooms/{room_id}/state", timeout=2)
        return response.json() if response.ok else None

    state = wait_for(lambda: (s := room_state()) and s["room"]["status"] == "live" and s, what="the room to go live")
    assert state["room"]["caller"] == CALLER
    assert room_id in requests.get(f"{web}/rooms/", timeout=2).text

    # The owner was dialed in, muted, and is on the call.
    wait_for(lambda: any(p["label"] == "owner" and p["status"] == "in the call" for p in room_state()["participants"]),
             what="the owner to join")

    user.open_room(room_id)
    typed = [f"メッセージ {i} です" for i in range(20)]
    for text in typed:
        response = user.say(room_id, text)
        assert response.status_code == 202, response.text
        assert response.json()["message"]["state"] == "queued"

    final = wait_for(lambda: (s := room_state()) and all(m["state"] in ("spoken", "failed") for m in s["messages"])
                     and len(s["messages"]) == 20 and s, timeout=60, what="all 20 messages to be spoken")
    assert [m["state"] for m in final["messages"]] == ["spoken"] * 20
    assert [m["body"] for m in final["messages"]] == typed

    heard = [h["text"] for h in caller.heard() if h["source"] == "announcement"]
    assert heard == typed, "each message heard exactly once, in the order typed"
    assert all(h["voice"] == "Polly.Mizuki" and h["language"] == "ja-JP"
               for h in caller.heard() if h["source"] == "announcement")
    assert [h["text"] for h in sim.phone(OWNER).heard() if h["source"] == "announcement"] == typed
    assert not [e for e in sim.errors() if "overlap" in str(e)], "announcements never overlap"

    # The caller hangs up: the room ends, and after retention none of its keys are left.
    sim.hang_up(room_id)
    wait_for(lambda: room_state() is None or room_state()["room"]["status"] == "ended", what="the room to end")
    from redis import Redis

    r = Redis.from_url(processes["redis"], decode_responses=True)
    wait_for(lambda: not r.keys(f"room:{{{room_id}}}*"), timeout=15, what="the room's keys to expire")
    assert room_id not in r.zrange("rooms:live", 0, -1)
    assert requests.get(f"{web}/rooms/{room_id}", timeout=2).status_code == 404
    assert list(processes["dir"].glob("appendonly*")), "Redis runs with AOF on"
