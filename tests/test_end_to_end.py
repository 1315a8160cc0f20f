"""The real processes of `make run` (Procfile.dev under honcho), driven over HTTP like a person would.

Starts redis (AOF on), gunicorn, two RQ workers and the simulator, each a separate
process, then: a virtual phone calls in, messages are typed through the chat page's
own endpoint, and the phone hears them, each once, in order.
"""

from __future__ import annotations

import json

import pytest
import requests
from redis import Redis

from callchat import users
from callchat.devstack import DevStack, wait_for
from simulator.client import SimulatorClient
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, CALLER, OPERATOR, OWNER, TWILIO_NUMBER, ChatUser


@pytest.fixture
def processes(tmp_path):
    """`honcho start` on Procfile.dev with two workers, on free ports; stopped with Ctrl-C (SIGINT)."""
    stack = DevStack(tmp_path, {
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_PHONE_NUMBER": TWILIO_NUMBER,
        "OWNER_PHONE": OWNER, "SIM_CLOCK_SPEED": 50, "ROOM_RETENTION_SECONDS": 2, "WEB_CONCURRENCY": 2},
        workers=2)
    try:
        stack.start()
        yield {"web": stack.web, "sim": stack.sim, "redis": stack.redis, "dir": tmp_path, "stack": stack}
    finally:
        stack.stop()
        print(stack.log.read_text()[-5000:])


def test_make_run_processes_speak_typed_messages_into_the_call(processes):
    web, sim = processes["web"], SimulatorClient(processes["sim"])
    caller = sim.phone(CALLER)
    room_id = caller.call(TWILIO_NUMBER)
    r = Redis.from_url(processes["redis"], decode_responses=True)
    users.create(r, *OPERATOR[:1], "operator", OPERATOR[1])
    user = ChatUser(web)
    user.sign_in(*OPERATOR)

    def room_state():
        response = user.http.get(f"{web}/rooms/{room_id}/state", timeout=2)
        return response.json() if response.ok else None

    state = wait_for(lambda: (s := room_state()) and s["room"]["status"] == "live" and s, what="the room to go live")
    assert state["room"]["caller"] == CALLER
    assert room_id in user.http.get(f"{web}/rooms/", timeout=2).text

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
    overlaps = [e for e in sim.errors() if "overlap" in str(e)]
    assert not overlaps, "announcements never overlap: " + json.dumps(
        [e for e in sim.timeline() if e["type"] in ("announcement", "announcement-overlap", "webhook")], default=str)

    # The caller hangs up: the room ends, and after retention none of its keys are left.
    sim.hang_up(room_id)
    wait_for(lambda: room_state() is None or room_state()["room"]["status"] == "ended", what="the room to end")
    wait_for(lambda: not r.keys(f"room:{{{room_id}}}*"), timeout=15, what="the room's keys to expire")
    assert room_id not in r.zrange("rooms:live", 0, -1)
    assert user.http.get(f"{web}/rooms/{room_id}", timeout=2).status_code == 404
    assert list(processes["dir"].glob("appendonly*")), "Redis runs with AOF on"

    # Ctrl-C stops every process, without needing SIGKILL.
    assert processes["stack"].stop() != -9
    for url in (web, processes["sim"]):
        with pytest.raises(requests.ConnectionError):
            requests.get(url, timeout=2)
