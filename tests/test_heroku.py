"""Acceptance: the production `Procfile` as Heroku runs it, against the simulator.

Heroku's environment: `PORT`, `DYNO`, and a `rediss://` REDIS_URL with a password, to a Redis
that speaks only TLS with a self-signed certificate (`tls_redis`); `LOG_FORMAT=json` as for a
log drain. The release phase runs first and passes; `twilio setup` (as `heroku run` would run
it) points the number at the app; then web and worker run under honcho, a virtual phone calls
in, a signed-in typist types, and the phone hears it.
"""

from __future__ import annotations

import json
import re
import shlex

import pytest
import requests

from callchat import redis_client, users
from callchat.devstack import DevStack, free_port, wait_for
from callchat.numbers import redact
from simulator.client import SimulatorClient
from simulator.server import SimulatorServer
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, CALLER, OPERATOR, TWILIO_NUMBER, ChatUser, procfile_command

#: A line of honcho's log: `12:00:00 web.1    | …`.
HONCHO_LINE = re.compile(r"^\S+ (?P<process>\S+)\s+\| (?P<text>.*)$")


def test_the_production_procfile_takes_a_call_on_heroku_s_environment(tmp_path, tls_redis):
    redis = redis_client.connect({"REDIS_URL": tls_redis.url, "REDIS_SSL_CERT_REQS": "none"}, decode_responses=True)
    redis.flushall()
    sim_server = SimulatorServer({"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "phone_number": TWILIO_NUMBER,
                                  "voice_url": "https://old-deploy.example.com/voice", "clock_speed": 50}).start()
    port = free_port()
    stack = DevStack(tmp_path, {
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_PHONE_NUMBER": TWILIO_NUMBER,
        "TWILIO_API_BASE": sim_server.url, "WEB_PORT": port, "PORT": port, "DYNO": "web.1",
        "REDIS_URL": tls_redis.url, "LOG_FORMAT": "json", "WEB_CONCURRENCY": 1}, processes=("web", "worker"),
        procfile="Procfile")
    try:
        released = stack.run(*shlex.split(procfile_command("release")))
        assert released.returncode == 0 and "PROBLEM" not in released.stdout, released.stdout + released.stderr
        assert "rediss://:•••@127.0.0.1" in released.stdout and tls_redis.PASSWORD not in released.stdout

        set_up = stack.run("flask", "--app", "app", "twilio", "setup")
        assert set_up.returncode == 0, set_up.stdout + set_up.stderr
        assert f"changed: VoiceUrl https://old-deploy.example.com/voice → {stack.web}/voice/incoming" in set_up.stdout

        stack.start(timeout=60)
        users.create(redis, OPERATOR[0], "operator", OPERATOR[1], created_by="test")
        typist = ChatUser(stack.web)
        assert typist.sign_in(*OPERATOR).url == f"{stack.web}/rooms/"
        japanese = typist.http.get(f"{stack.web}/account", headers={"Accept-Language": "ja"})
        assert '<html lang="ja">' in japanese.text and "<h1>アカウント</h1>" in japanese.text, "the compiled catalogs serve"

        sim = SimulatorClient(sim_server.url)
        phone = sim.phone(CALLER)
        room_id = phone.call(TWILIO_NUMBER)
        wait_for(lambda: typist.state(room_id).get("room", {}).get("status") == "live", 30, "the room to go live")
        typist.open_room(room_id)
        with typist.http.get(f"{stack.web}/rooms/{room_id}/events", stream=True, timeout=10) as stream:
            assert next(line for line in stream.iter_lines(decode_unicode=True) if line.startswith("event:")) \
                == "event: snapshot", "the live stream reads Redis over TLS"
        typed = "本番の構成でも聞こえますか"
        assert typist.say(room_id, typed).status_code == 202
        wait_for(lambda: typed in [h["text"] for h in phone.heard()], 60, "the phone to hear the typed message")
        assert [h["text"] for h in phone.heard()].count(typed) == 1
        assert sim.errors() == []
    finally:
        stack.stop()
        sim_server.stop()
        print(stack.log.read_text()[-5000:])

    lines = [m.groupdict() for m in map(HONCHO_LINE.match, stack.log.read_text().splitlines()) if m]
    logged = [json.loads(line["text"]) for line in lines if line["process"].startswith(("web.", "worker."))]
    assert len(logged) == len([line for line in lines if line["process"].startswith(("web.", "worker."))]), \
        "with LOG_FORMAT=json every line of web and worker is one JSON object"
    incoming = [entry["message"] for entry in logged if entry["message"].startswith(f"incoming call CallSid {room_id}")]
    assert incoming == [f"incoming call CallSid {room_id} from {redact(CALLER)} (new room)"]
    assert not [entry for entry in logged if CALLER.lstrip("+") in json.dumps(entry)], "numbers partly hidden"
    assert not [entry for entry in logged if "exception" in entry or "Traceback" in entry["message"]]
    with pytest.raises(requests.ConnectionError):
        requests.get(stack.web, timeout=2)


def test_herokus_build_detects_a_python_app():
    """Heroku picks the buildpack by the files at the repository's root (devcenter.heroku.com/articles/buildpacks):
    requirements.txt is Python's, but a package.json there is the Node.js buildpack's, which Heroku's detection
    tries first. The tests' JavaScript (axe-core) is pinned under tests/axe/ instead."""
    from tests.conftest import NPM_PROJECT, ROOT

    assert (ROOT / "requirements.txt").exists() and (ROOT / ".python-version").exists()
    assert not [name for name in ("package.json", "package-lock.json", "yarn.lock") if (ROOT / name).exists()]
    assert (NPM_PROJECT / "package-lock.json").exists()
