"""Deploying: Redis over TLS as Heroku serves it, the release phase, and `flask --app app twilio setup`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from flask.testing import FlaskCliRunner
from redis import Redis
from rq import Queue
from twilio.base.exceptions import TwilioRestException

from callchat import doctor, redis_client, settings
from callchat.devstack import free_port
from simulator.server import SimulatorServer
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, POOL, ROOT, SECRET_KEY, TWILIO_NUMBER, procfile_command
from jobs.worker import Worker
from tests.openapi_check import api_v2010


def test_certificates_are_checked_except_on_heroku():
    assert settings.read({})["REDIS_SSL_CERT_REQS"] == "required"
    assert settings.read({"DYNO": "web.1"})["REDIS_SSL_CERT_REQS"] == "none", "Heroku's Redis has a self-signed one"
    assert settings.read({"DYNO": "web.1", "REDIS_SSL_CERT_REQS": "required"})["REDIS_SSL_CERT_REQS"] == "required"
    found = settings.problems(settings.read({"REDIS_SSL_CERT_REQS": "None", "LOG_FORMAT": "xml"}))
    assert found["REDIS_SSL_CERT_REQS"] == "'None' is neither required nor none."
    assert found["LOG_FORMAT"] == "'xml' is neither text nor json."
    assert redis_client.options("rediss://h:6380", "none") == {"ssl_cert_reqs": "none"}
    assert redis_client.options("redis://h:6379/0", "none") == {}, "no TLS, nothing to choose"


def test_a_redis_urls_password_is_never_shown():
    url = "rediss://:p4ssw0rd-heroku@ec2-1-2-3-4.compute-1.amazonaws.com:6380"
    problem = settings.problems(settings.read({"REDIS_URL": url + "?x=1", "SECRET_KEY": SECRET_KEY}))["REDIS_URL"]
    assert "p4ssw0rd" not in problem and "rediss://:•••@ec2-1-2-3-4" in problem


def redis_line(cfg: dict) -> tuple[bool, str]:
    """Doctor's Redis line for these settings: (ok, what it says)."""
    name, fine, detail = next(doctor.checks(cfg))
    assert name == "Redis"
    return fine, detail


def test_tls_redis_with_a_self_signed_certificate(tls_redis, monkeypatch):
    cfg = settings.read({"REDIS_URL": tls_redis.url, "SECRET_KEY": SECRET_KEY})
    fine, detail = redis_line(dict(cfg, REDIS_SSL_CERT_REQS="required"))
    assert not fine and "set REDIS_SSL_CERT_REQS=none" in detail, detail
    assert tls_redis.PASSWORD not in detail and ":•••@127.0.0.1" in detail

    assert redis_line(dict(cfg, REDIS_SSL_CERT_REQS="none"))[1].endswith("answers, over TLS (certificate none)")
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_redis.cert))  # the machine trusts it: "required" passes too
    assert redis_line(dict(cfg, REDIS_SSL_CERT_REQS="required"))[0]

    with pytest.raises(Exception, match="CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
        monkeypatch.delenv("SSL_CERT_FILE")
        redis_client.connect(dict(cfg, REDIS_SSL_CERT_REQS="required")).ping()


@pytest.fixture
def simulator():
    """The simulator with callchat's account and number (no webhook: these tests make no call)."""
    server = SimulatorServer({"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "phone_number": TWILIO_NUMBER,
                              "voice_url": ""}).start()
    yield server
    server.stop()


def release(env: dict[str, str]) -> subprocess.CompletedProcess:
    """The Procfile's `release:` command as Heroku runs it: a shell, Heroku's environment (DYNO)."""
    environ = {k: v for k, v in os.environ.items() if k not in settings.DEFAULTS}
    environ.update(env, DYNO="release.1", PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    return subprocess.run(procfile_command("release"), shell=True, cwd=ROOT, env=environ, capture_output=True,
                          text=True, timeout=60)


@pytest.mark.parametrize("wrong, problem", [
    ("TWILIO_AUTH_TOKEN", "PROBLEM  simulator: the simulator at {sim}: TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are "
                          "refused (HTTP 401)."),
    ("REDIS_URL", "PROBLEM  Redis: rediss://:•••@127.0.0.1:{port}/0 does not answer"),
])
def test_the_release_fails_naming_the_problem(wrong, problem, simulator, tls_redis):
    port = free_port()  # nothing listens there
    env = {"REDIS_URL": tls_redis.url, "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
           "TWILIO_PHONE_NUMBER": TWILIO_NUMBER, "TWILIO_API_BASE": simulator.url, "SECRET_KEY": SECRET_KEY,
           "PUBLIC_BASE_URL": "https://callchat.example.com"}
    env[wrong] = {"TWILIO_AUTH_TOKEN": "not-the-token", "REDIS_URL": f"rediss://:secret@127.0.0.1:{port}/0"}[wrong]
    done = release(env)
    assert done.returncode == 1, done.stdout + done.stderr
    assert problem.format(sim=simulator.url, port=port) in done.stdout, done.stdout
    assert "The release is stopped" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr and "secret@" not in done.stdout


def test_twilio_setup_points_the_main_and_pool_numbers_at_this_app(stack, monkeypatch):
    incoming = f"{stack.url}/voice/incoming"
    stack.sim.add_number(TWILIO_NUMBER, voice_url="https://old-deploy.example.com/voice")
    for number in POOL[:2]:
        stack.sim.add_number(number, voice_url="https://old-deploy.example.com/voice")
    monkeypatch.setenv("PROXY_NUMBERS", ",".join(POOL[:2]))
    runner = FlaskCliRunner(stack.app)

    check = runner.invoke(args=["twilio", "setup", "--check"])
    assert check.exit_code == 1
    assert f"{TWILIO_NUMBER} (TWILIO_PHONE_NUMBER) needs: VoiceUrl https://old-deploy.example.com/voice → {incoming}" \
        in check.output
    assert {n["phone_number"]: n["voice_url"] for n in stack.sim.numbers()}[TWILIO_NUMBER] \
        == "https://old-deploy.example.com/voice", "--check changes nothing"

    first = runner.invoke(args=["twilio", "setup"])
    assert first.exit_code == 0, first.output
    assert first.output.splitlines() == [
        f"{TWILIO_NUMBER} (TWILIO_PHONE_NUMBER) changed: VoiceUrl https://old-deploy.example.com/voice → {incoming}",
        *(f"{number} (PROXY_NUMBERS) changed: VoiceUrl https://old-deploy.example.com/voice → {incoming}"
          for number in POOL[:2])]
    numbers = {n["phone_number"]: n for n in stack.sim.numbers()}
    assert all(numbers[n]["voice_url"] == incoming and numbers[n]["voice_method"] == "POST"
               for n in (TWILIO_NUMBER, *POOL[:2]))
    updates = len([r for r in stack.sim.requests() if r["method"] == "POST"])

    second = runner.invoke(args=["twilio", "setup"])
    assert second.exit_code == 0 and all(line.endswith("nothing to change.") for line in second.output.splitlines())
    assert len([r for r in stack.sim.requests() if r["method"] == "POST"]) == updates, "a second run changes nothing"
    assert runner.invoke(args=["twilio", "setup", "--check"]).exit_code == 0
    for exchange in stack.sim.requests():
        api_v2010().validate_exchange(exchange)

    room_id = stack.call_in()  # the main number's webhook now reaches this app
    assert stack.user.state(room_id)["room"]["status"] == "live"


def test_twilio_setup_names_a_number_the_account_does_not_have(stack, monkeypatch):
    monkeypatch.setenv("PROXY_NUMBERS", "+815099990001")
    result = FlaskCliRunner(stack.app).invoke(args=["twilio", "setup"])
    assert result.exit_code == 1
    assert "+815099990001 (PROXY_NUMBERS) is not one of this account's phone numbers." in result.output


def test_an_expected_job_failure_is_one_line_and_a_bug_keeps_its_traceback(redis_url, caplog):
    connection = Redis.from_url(redis_url)
    queue = Queue(settings.QUEUE_NAME, connection=connection)
    job = queue.enqueue("jobs.announce.announce_next", "CA" + "0" * 32, job_id="an-expected-failure")
    worker = Worker([queue], connection=connection)
    for exc in (TwilioRestException(503, "https://api.twilio.com/…", msg="Service Unavailable", code=20500),
                ValueError("a bug")):
        caplog.clear()
        try:
            raise exc
        except Exception:
            worker.handle_exception(job, *sys.exc_info())
        (record,) = [r for r in caplog.records if r.name == "rq.worker"]
        if isinstance(exc, ValueError):
            assert "Traceback" in record.getMessage()
        else:
            assert record.getMessage() == (
                f"job {job.id} jobs.announce.announce_next('CA{'0' * 32}',) failed: Twilio answered HTTP 503 "
                "(error 20500: Service Unavailable); RQ retries it while it has retries left")
    job.delete()
