"""What the benchmarks share: processes (Redis, gunicorn, RQ workers), wrk, py-spy, statistics, tables.

Every benchmark runs its processes on free ports on 127.0.0.1 and stops them (by the
process ids it started) when done. Benchmarks print figures; they never fail on one.
"""

from __future__ import annotations

import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator

import requests

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from callchat.devstack import DevStack, free_port, wait_for  # noqa: E402
from callchat.redis_server import redis_server_binary, wait_until_up  # noqa: E402
from callchat.settings import new_secret_key  # noqa: E402

BIN = Path(sys.executable).parent
RESULTS = ROOT / "bench" / "results"

#: Settings every benchmark gives callchat and the simulator (a test account; nothing reaches Twilio).
ACCOUNT_SID = "AC" + "be" * 16
AUTH_TOKEN = "bench-auth-token"
TWILIO_NUMBER = "+815011112222"
#: The owner's phone in the conference mode: one phonenumbers accepts, as OWNER_PHONE must be, and outside
#: every block of `callers` that a benchmark uses (block 10 would make a caller the owner).
OWNER = "+819099990001"
#: The usual case: OWNER_PHONE unset, so a caller is alone with the typist (no conference). One typist (TYPIST)
#: types into every room, as a whole call centre's operators would: MESSAGE_LIMIT_PER_USER is lifted for it.
SETTINGS: dict[str, Any] = {"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                            "TWILIO_PHONE_NUMBER": TWILIO_NUMBER, "SECRET_KEY": new_secret_key(), "API_TOKEN": "bench-token",
                            "OWNER_PHONE": "", "WEB_CONCURRENCY": 2, "MESSAGE_LIMIT_PER_USER": "1000000 per minute"}

#: How a room speaks typed messages: `lone`, the caller alone in a `<Pause>`/`<Redirect>` loop, each
#: message a `POST Calls/{sid}` (Url=…/speak); `conference`, OWNER_PHONE set and answered, so the
#: caller is moved into a conference and each message is a `POST Conferences/{sid}` (AnnounceUrl).
MODES = ("lone", "conference")
#: The Twilio number that reaches callchat in each mode (`two_modes` runs one callchat per mode).
NUMBERS = {"lone": TWILIO_NUMBER, "conference": "+815011113333"}


# ---- statistics ------------------------------------------------------------------------------------


def percentile(values: Iterable[float], q: float) -> float:
    """The q-th percentile (0–100) by nearest rank; NaN for no values."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def median(values: Iterable[float]) -> float:
    values = list(values)
    return statistics.median(values) if values else float("nan")


def ms(seconds: float) -> str:
    """Seconds as milliseconds for a table, e.g. `12.3 ms`."""
    return "n/a" if seconds != seconds else f"{seconds * 1000:.1f} ms"


def ratio(a: float, b: float) -> str:
    return "n/a" if not b or a != a or b != b else f"{a / b:.2f}×"


# ---- the result table -----------------------------------------------------------------------------


class Table:
    """Rows of (item, figure, callchat, baseline, ratio, note): what every benchmark reports."""

    HEADER = ("item", "figure", "callchat", "baseline", "ratio", "note")

    def __init__(self) -> None:
        self.rows: list[tuple[str, ...]] = []

    def add(self, item: str, figure: str, callchat: str = "", baseline: str = "", ratio: str = "", note: str = "") -> None:
        self.rows.append((item, figure, callchat, baseline, ratio, note))

    def extend(self, other: "Table") -> None:
        self.rows.extend(other.rows)

    def render(self) -> str:
        """A Markdown table (readable as plain text too)."""
        rows = [self.HEADER, *self.rows]
        widths = [max(len(r[i]) for r in rows) for i in range(len(self.HEADER))]
        line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
        return "\n".join([line(rows[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows[1:])])


def save(name: str, text: str, data: Any = None) -> Path:
    """Write a report (and its raw figures as JSON) to bench/results/ (gitignored); return the text file."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = RESULTS / f"{name}-{stamp}.md"
    path.write_text(text + "\n")
    if data is not None:
        (RESULTS / f"{name}-{stamp}.json").write_text(json.dumps(data, indent=2, default=str))
    return path


def machine() -> dict[str, str]:
    """The machine and the versions the figures were measured with."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
    redis_version = subprocess.run([redis_server_binary(), "--version"], capture_output=True, text=True).stdout
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True) if _have("wrk") else None
    import gevent
    import gunicorn
    import rq
    return {"cpus": str(os.cpu_count()), "cpu": cpu, "memory": f"{mem_kb / 1024 / 1024:.1f} GiB",
            "os": _os_release(), "python": platform.python_version(), "gunicorn": gunicorn.__version__,
            "gevent": gevent.__version__, "rq": rq.__version__,
            "redis": (re.search(r"v=(\S+)", redis_version) or [None, "?"])[1] + f" ({redis_server_binary()})",
            "wrk": (wrk.stdout + wrk.stderr).split("Copyright")[0].strip() if wrk else "missing"}


def _os_release() -> str:
    try:
        return re.search(r'PRETTY_NAME="([^"]+)"', Path("/etc/os-release").read_text()).group(1)
    except (OSError, AttributeError):
        return platform.platform()


def _have(program: str) -> bool:
    from shutil import which
    return which(program) is not None


# ---- processes ----------------------------------------------------------------------------------


class Process:
    """A process (group) this benchmark started, with its output in a log file; stopped by its own id."""

    def __init__(self, argv: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.log_path = log
        self._log = open(log, "w")
        self.proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)  # the group this process leads (start_new_session)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()


def base_env(**extra: Any) -> dict[str, str]:
    """This environment without any TWILIO_/REDIS_/… setting of the caller's, with the venv first on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "REDIS_", "PUBLIC_", "SIM_"))}
    env["PATH"] = f"{BIN}{os.pathsep}{env['PATH']}"
    env["PYTHONUNBUFFERED"] = "1"
    env.update({k: str(v) for k, v in extra.items()})
    return env


def start_redis(folder: Path) -> tuple[Process, str]:
    """redis-server as Procfile.dev runs it (AOF on, data in `folder`); return it and its URL."""
    port = free_port()
    proc = Process([str(BIN / "python"), "-m", "callchat.redis_server", "--port", str(port), "--bind", "127.0.0.1",
                    "--appendonly", "yes", "--dir", str(folder)], folder / "redis.log", base_env())
    url = f"redis://127.0.0.1:{port}/0"
    wait_until_up(url)
    return proc, url


def start_gunicorn(app: str, folder: Path, name: str, env: dict[str, Any], port: int | None = None) -> tuple[Process, str]:
    """`gunicorn --config gunicorn.conf.py --bind … <app>`, as the Procfile's web (gevent, WEB_CONCURRENCY workers).

    Its access log goes to a file, the same way for every app measured.
    """
    port = port or free_port()
    proc = Process([str(BIN / "gunicorn"), "--config", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}", app],
                   folder / f"{name}.log", base_env(**env))
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: _answers(url), 30, f"gunicorn serving {app}")
    wait_for(lambda: len(children(proc.pid)) >= int(env.get("WEB_CONCURRENCY", 2)), 30, "gunicorn's workers")
    return proc, url


def _answers(url: str) -> bool:
    try:
        requests.get(url + "/healthz", timeout=1)
        return True
    except requests.ConnectionError:
        return False


def children(pid: int) -> list[int]:
    """The direct child processes of `pid` (e.g. gunicorn's workers)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return found


def start_workers(stack: DevStack, count: int, folder: Path, name: str = "") -> Process:
    """`honcho start -c worker=<count> worker` on Procfile.dev with the stack's env: RQ workers as `make run` starts them.

    Their output (RQ logs every job it starts) goes to `folder/workers-<name or count>.log`.
    """
    env = base_env()
    return Process([str(BIN / "honcho"), "-f", "Procfile.dev", "-e", str(stack.env_file), "start",
                    "-c", f"worker={count}", "worker"], folder / f"workers-{name or count}.log", env)


_JOB_STARTED = re.compile(rb"\b(?:callchat|default): jobs\.\w+\.(\w+)\(")


def jobs_run(log: Path) -> Counter:
    """How many jobs each function ran, from an RQ worker log (`callchat: jobs.announce.announce_next('CA…') (id)`)."""
    return Counter(m.decode() for m in _JOB_STARTED.findall(log.read_bytes())) if log.exists() else Counter()


def stop_workers(workers: Process) -> None:
    workers.stop(signal.SIGINT, timeout=30)


@contextmanager
def dev_stack(settings: dict[str, Any], workers: int = 1, processes: tuple[str, ...] = ()) -> Iterator[DevStack]:
    """callchat.devstack.DevStack (Procfile.dev under honcho on free ports) in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="callchat-bench-") as folder:
        stack = DevStack(Path(folder), {**SETTINGS, **settings}, workers=workers, processes=processes)
        stack.start(timeout=60)
        try:
            yield stack
        finally:
            stack.stop()


@contextmanager
def two_modes(settings: dict[str, Any], workers: int = 1) -> Iterator[dict[str, DevStack]]:
    """callchat twice on one simulator, to measure both delivery modes side by side (see MODES).

    `lone`: the whole of `make run` (DevStack), OWNER_PHONE unset, on NUMBERS["lone"].
    `conference`: a second `make run` without its own simulator (Procfile.dev's redis, web and
    `workers` workers), OWNER_PHONE set, on NUMBERS["conference"], a second number of the same
    simulated account. Both stacks' `sim` is the one simulator.

    Yields:
        {"lone": DevStack, "conference": DevStack}.
    """
    from simulator.client import SimulatorClient
    with tempfile.TemporaryDirectory(prefix="callchat-bench-") as folder:
        lone_dir, conference_dir = Path(folder, "lone"), Path(folder, "conference")
        lone_dir.mkdir()
        conference_dir.mkdir()
        lone = DevStack(lone_dir, {**SETTINGS, **settings}, workers=workers)
        conference = DevStack(conference_dir, {**SETTINGS, **settings, "OWNER_PHONE": OWNER, "TWILIO_API_BASE": lone.sim,
                                               "TWILIO_PHONE_NUMBER": NUMBERS["conference"]},
                              workers=workers, processes=("redis", "web", "worker"))
        conference.sim = lone.sim
        try:
            lone.start(timeout=60)
            conference.start(timeout=60)
            sim = SimulatorClient(lone.sim)
            sim.add_number(NUMBERS["conference"], voice_url=conference.web + "/voice/incoming")
            yield {"lone": lone, "conference": conference}
        finally:
            conference.stop()
            lone.stop()


# ---- signing -----------------------------------------------------------------------------------


def sign(url: str, params: dict[str, str], token: str = AUTH_TOKEN) -> str:
    """X-Twilio-Signature for a POST of `params` to `url`, as Twilio computes it."""
    from twilio.request_validator import RequestValidator
    return RequestValidator(token).compute_signature(url, params)


# ---- wrk ---------------------------------------------------------------------------------------

_LUA = r"""
-- Rotates pre-signed POST bodies read from a file of "signature<TAB>body" lines.
local sigs, bodies, n, i = {}, {}, 0, 0
function init(args)
  for line in io.lines(args[1]) do
    local tab = line:find("\t", 1, true)
    n = n + 1
    sigs[n] = line:sub(1, tab - 1)
    bodies[n] = line:sub(tab + 1)
  end
end
function request()
  i = i % n + 1
  return wrk.format("POST", nil, {["Content-Type"] = "application/x-www-form-urlencoded",
                                  ["X-Twilio-Signature"] = sigs[i]}, bodies[i])
end
%(delay)s
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, ' ..
    '"max_us": %d, "mean_us": %f, "connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean, e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def ensure_wrk() -> None:
    """wrk must be on PATH (`make bench` installs Debian's package with apt-get)."""
    if not _have("wrk"):
        raise SystemExit("wrk is missing: apt-get install wrk (make bench does it)")


def write_bodies(path: Path, url: str, bodies: Iterable[dict[str, str]]) -> int:
    """Write signed bodies for the wrk script; return how many."""
    from urllib.parse import urlencode
    count = 0
    with open(path, "w") as out:
        for params in bodies:
            out.write(f"{sign(url, params)}\t{urlencode(params)}\n")
            count += 1
    return count


def wrk(url: str, bodies_file: Path, seconds: float, connections: int, threads: int = 1,
        pause_ms: int = 0) -> dict[str, float]:
    """Run wrk against `url`, rotating the signed bodies in `bodies_file`; return its figures.

    With `pause_ms`, each connection waits that long after every answer before its next
    request (so the load is about connections / (pause + latency) requests per second).

    Returns:
        requests, rps, p50, p90, p99, max, mean (seconds), errors (socket errors + non-2xx/3xx).
    """
    ensure_wrk()
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        lua.write(_LUA.replace("%(delay)s", f"function delay() return {pause_ms} end" if pause_ms else ""))
    try:
        out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
                              "-s", lua.name, url, "--", str(bodies_file)],
                             capture_output=True, text=True, timeout=seconds + 60)
    finally:
        os.unlink(lua.name)
    match = re.search(r"WRKJSON (\{.*\})", out.stdout)
    if not match:
        raise RuntimeError(f"wrk failed: {out.stdout}\n{out.stderr}")
    raw = json.loads(match.group(1))
    return {"requests": raw["requests"], "rps": raw["requests"] / (raw["duration_us"] / 1e6),
            "p50": raw["p50_us"] / 1e6, "p90": raw["p90_us"] / 1e6, "p99": raw["p99_us"] / 1e6,
            "max": raw["max_us"] / 1e6, "mean": raw["mean_us"] / 1e6,
            "errors": sum(raw[k] for k in ("connect", "read", "write", "status", "timeout")),
            "non2xx": raw["status"]}


# ---- profiles ----------------------------------------------------------------------------------


def py_spy(pid: int, seconds: float, out: Path, subprocesses: bool = False, rate: int = 250) -> subprocess.Popen | None:
    """Start `py-spy record` on `pid` for `seconds` (folded stacks in `out`); None if py-spy is missing."""
    binary = BIN / "py-spy"
    if not binary.exists():
        return None
    argv = [str(binary), "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", str(rate),
            "--format", "raw", "--output", str(out), "--nonblocking"]
    if subprocesses:
        argv.append("--subprocesses")
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def finish(spy: subprocess.Popen | None, timeout: float) -> None:
    """Wait for a py-spy started by `py_spy`; stop it (it is ours) if it takes longer than `timeout`."""
    if spy is None:
        return
    try:
        spy.wait(timeout)
    except subprocess.TimeoutExpired:
        spy.terminate()
        spy.wait(10)


def _frame_name(frame: str) -> str:
    """`fn (path/to/module.py:12)` -> `fn (module.py)`: one name per function, whatever the line."""
    m = re.match(r"(.*) \((.*?):\d+\)$", frame.strip())
    if not m:
        return frame.strip()
    fn, path = m.groups()
    parts = Path(path).parts
    short = "/".join(parts[-2:]) if len(parts) > 1 else path
    return f"{fn} ({short})"


def folded_profile(paths: Iterable[Path]) -> tuple[Counter, Counter, int]:
    """Read py-spy raw (folded) stacks; return (inclusive samples by function, self samples, total samples)."""
    inclusive: Counter = Counter()
    own: Counter = Counter()
    total = 0
    for frames, n in _stacks(paths):
        total += n
        for name in set(frames):
            inclusive[name] += n
        if frames:
            own[frames[-1]] += n
    return inclusive, own, total


def _stacks(paths: Iterable[Path]) -> Iterator[tuple[list[str], int]]:
    for path in paths:
        if not path.exists():
            continue
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if stack and count.isdigit():
                yield [f for f in map(_frame_name, stack.split(";")) if not f.startswith("process ")], int(count)


def children_of(paths: Iterable[Path], parent: str) -> tuple[Counter, int]:
    """Samples under the first frame containing `parent`, by the frame just below it (or `(self)`)."""
    below: Counter = Counter()
    total = 0
    for frames, n in _stacks(paths):
        at = next((i for i, f in enumerate(frames) if parent in f), None)
        if at is None:
            continue
        total += n
        below[frames[at + 1] if at + 1 < len(frames) else "(self)"] += n
    return below, total


def summarize_profile(paths: Iterable[Path], breakdown: Iterable[str] = (), top: int = 8) -> str:
    """A profile in a few lines: total samples, the top functions by self time, and for each
    `breakdown` frame its share of all samples and how its time splits among the frames it calls."""
    paths = list(paths)
    inclusive, own, total = folded_profile(paths)
    if not total:
        return "(no samples: py-spy missing or not permitted)"
    lines = [f"{total} samples; top self: " + ", ".join(f"{name} {100 * n / total:.1f}%" for name, n in own.most_common(top))]
    for parent in breakdown:
        below, under = children_of(paths, parent)
        if not under:
            continue
        parts = ", ".join(f"{name} {100 * n / total:.1f}%" for name, n in below.most_common(top) if n / total >= 0.005)
        lines.append(f"  {100 * under / total:5.1f}% in {parent}: {parts}")
    return "\n".join(lines)


# ---- rooms through the whole stack -------------------------------------------------------------


def callers(count: int, block: int = 0) -> list[str]:
    """`count` distinct virtual phone numbers (E.164), from block `block` (so runs never share a phone)."""
    return [f"+8190{block:02d}{i:06d}" for i in range(count)]


def open_rooms(stack: DevStack, numbers: list[str], timeout: float = 120, mode: str = "lone", wave: int = 100) -> list[str]:
    """Each number calls NUMBERS[mode] through the simulator, `wave` calls at a time; return the room ids once
    every room is ready to speak in that mode (see `ready_count`).

    Waves keep the burst of incoming-call webhooks within what the web process answers before the
    simulator's 15 s webhook timeout on a busy machine (a call whose webhook times out fails, as on Twilio).

    Raises:
        AssertionError: a wave was not ready within `timeout` seconds.
    """
    from concurrent.futures import ThreadPoolExecutor

    from simulator.client import SimulatorClient
    sim = SimulatorClient(stack.sim, timeout=30)
    room_ids: list[str] = []
    with ThreadPoolExecutor(8) as pool:
        for start in range(0, len(numbers), wave):
            opened = list(pool.map(lambda number: sim.phone(number).call(NUMBERS[mode]), numbers[start:start + wave]))
            wait_for(lambda: ready_count(stack.redis, opened, mode) == len(opened), timeout,
                     f"{len(opened)} rooms to be ready ({mode}; {len(room_ids)} were)")
            room_ids += opened
    return room_ids


def ready_count(redis_url: str, room_ids: list[str], mode: str = "lone") -> int:
    """How many of these rooms would speak a message now in `mode`, read from Redis.

    `lone`: the room is live (the caller reached the waiting loop) and its mode is `call`.
    `conference`: the caller was moved into the room's conference and it started.
    """
    from redis import Redis

    from callchat import rooms
    r = Redis.from_url(redis_url, decode_responses=True)
    with r.pipeline(transaction=False) as p:
        for room_id in room_ids:
            p.hmget(rooms.key(room_id), "status", "mode", "conference_started", "conference_sid")
        states = p.execute()
    if mode == "lone":
        return sum(status == "live" and room_mode == "call" for status, room_mode, _, _ in states)
    return sum(status == "live" and room_mode == "conference" and bool(started and sid)
               for status, room_mode, started, sid in states)


def hang_up(stack: DevStack, room_ids: list[str]) -> None:
    """Every caller hangs up (each room ends: the caller's status callback, or its conference's end)."""
    from concurrent.futures import ThreadPoolExecutor

    from simulator.client import SimulatorClient
    sim = SimulatorClient(stack.sim, timeout=30)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(sim.hang_up, room_ids))


def queue_idle(redis_url: str, timeout: float = 120) -> None:
    """Wait until RQ's callchat queue is empty and no job is running."""
    from redis import Redis
    from rq import Queue

    from callchat.settings import QUEUE_NAME
    q = Queue(QUEUE_NAME, connection=Redis.from_url(redis_url))
    wait_for(lambda: q.count == 0 and q.started_job_registry.count == 0, timeout, "the RQ queue to drain")


#: The operator every benchmark types as (created in the stack's Redis on first use).
TYPIST = ("bench-typist", "bench-typist-password-1")
_signed_in: dict[str, Any] = {}


def _session_cookies(stack) -> Any:
    """The session cookies of TYPIST signed in to `stack` (a DevStack: `.web`, `.redis`), signing in once per stack:
    the sign-in form is rate limited, and one session may type from many connections."""
    if stack.web not in _signed_in:
        from redis import Redis

        from callchat import users
        r = Redis.from_url(stack.redis, decode_responses=True)
        if users.get(r, TYPIST[0]) is None:
            users.create(r, TYPIST[0], "operator", TYPIST[1], created_by="bench")
        http = requests.Session()
        form = http.get(f"{stack.web}/signin", timeout=30)
        csrf = re.search(r'name="csrf-token" content="([^"]+)"', form.text).group(1)
        answer = http.post(f"{stack.web}/signin", data={"csrf_token": csrf, "username": TYPIST[0], "password": TYPIST[1]},
                           timeout=30)
        if not answer.url.endswith("/rooms/"):
            raise RuntimeError(f"the benchmark's typist could not sign in to {stack.web} ({answer.status_code})")
        _signed_in[stack.web] = http.cookies
    return _signed_in[stack.web]


class Typist:
    """A chat page user (as tests/conftest.py's ChatUser), signed in as TYPIST: loads the room page for the CSRF
    token, then types. `stack`: a DevStack (its `.web` and `.redis`)."""

    def __init__(self, stack, room_id: str) -> None:
        self.base, self.room_id = stack.web, room_id
        self.http = requests.Session()
        self.http.cookies.update(_session_cookies(stack))
        page = self.http.get(f"{self.base}/rooms/{room_id}", timeout=30)
        page.raise_for_status()
        self.csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)

    def say(self, text: str, room_id: str | None = None) -> dict[str, Any]:
        """POST the message (to this room, or another: the session's CSRF token is valid on every page);
        return the stored message (202) with `room`, and `sent` and `answered` wall-clock times added."""
        room_id = room_id or self.room_id
        sent = time.time()
        response = self.http.post(f"{self.base}/rooms/{room_id}/messages", json={"kind": "say", "text": text},
                                  headers={"X-CSRFToken": self.csrf, "Accept": "application/json"}, timeout=30)
        answered = time.time()
        response.raise_for_status()
        return {**response.json()["message"], "room": room_id, "sent": sent, "answered": answered}


def message_states(redis_url: str, messages: list[dict[str, Any]]) -> list[str]:
    """The current state of each message ({"room", "id"}), read from Redis."""
    from redis import Redis

    from callchat import rooms
    r = Redis.from_url(redis_url, decode_responses=True)
    with r.pipeline(transaction=False) as p:
        for m in messages:
            p.hget(rooms.key(m["room"], f":msg:{m['id']}"), "state")
        return p.execute()


def _route(rule: str) -> re.Pattern:
    """A callchat.urls rule as a pattern whose groups are the room id and the message id."""
    return re.compile(re.escape(rule).replace(re.escape("<room_id>"), "([^/]+)").replace(re.escape("<int:msg_id>"), r"(\d+)") + "$")


def deliveries(sim_url: str) -> dict[tuple[str, int], dict[str, Any]]:
    """How each message was handed to Twilio, from the simulator's journal and timeline, by (room, message id).

    Returns:
        {(room_id, msg_id): {"via": "call" | "conference", "requested_at": when the simulator received
        `POST Calls/{sid}` with Url=…/speak, or `POST Conferences/{sid}` with AnnounceUrl=…/announce;
        "fetched_at": when it sent the fetch of that TwiML, the moment speaking starts (wall clock, s)}}.
        Either time is missing if the simulator has no record of it.
    """
    from urllib.parse import parse_qs, urlsplit

    from callchat import urls
    from simulator.client import SimulatorClient
    sim = SimulatorClient(sim_url, timeout=60)
    routes = {"call": _route(urls.SPEAK), "conference": _route(urls.ANNOUNCE)}
    found: dict[tuple[str, int], dict[str, Any]] = {}

    def match(url: str) -> tuple[str, tuple[str, int]] | None:
        path = urlsplit(url).path
        for via, route in routes.items():
            if m := route.search(path):
                return via, (m.group(1), int(m.group(2)))
        return None

    for entry in sim.requests():
        if entry["method"] == "POST" and ("/Calls/" in entry["path"] or "/Conferences/" in entry["path"]):
            body = parse_qs(entry["body"])
            hit = match((body.get("Url") or body.get("AnnounceUrl") or [""])[0])
            if hit:
                found.setdefault(hit[1], {"via": hit[0]}).setdefault("requested_at", entry["received_at"])
    for entry in sim.timeline():
        if entry["type"] == "webhook" and entry.get("purpose") in ("announce", "redirect"):
            hit = match(entry["url"])
            if hit:
                found.setdefault(hit[1], {"via": hit[0]}).setdefault("fetched_at", entry["sent_at"])
    return found


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (children, their children, …)."""
    found, todo = [], [pid]
    while todo:
        for child in children(todo.pop()):
            found.append(child)
            todo.append(child)
    return found


def rq_worker_pids(root: int) -> list[int]:
    """The processes that run jobs below process `root` (honcho): each `python -m jobs.worker` is a pool
    (`jobs.pool`) whose children, with the same command line, are the workers; a worker's scheduler is
    a grandchild of the pool, with it too."""
    pids = []
    for pid in descendants(root):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv[1:3] == [b"-m", b"jobs.worker"]:
            pids.append(pid)
    pools = [pid for pid in pids if not any(pid in children(other) for other in pids)]
    return [pid for pool in pools for pid in children(pool) if pid in pids]


# ---- CPU accounting -----------------------------------------------------------------------------

_CLK_TCK = os.sysconf("SC_CLK_TCK")
#: Which process of `make run` a command line belongs to.
ROLES = (("simulator", b"simulator"), ("rq workers", b"worker"), ("gunicorn", b"gunicorn"), ("redis", b"redis-server"))


def _cpu(pid: int) -> float:
    """CPU seconds of `pid` and of its children it has reaped (RQ's work horses, for a worker)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(v) for v in fields[11:15]) / _CLK_TCK  # utime stime cutime cstime


def cpu_by_role(*roots: int) -> dict[str, float]:
    """CPU seconds used so far by the processes below `roots` (honcho), by role (simulator, workers, …).

    Take it before and after a run: the difference is who used the machine meanwhile.
    """
    totals = {role: 0.0 for role, _ in ROLES}
    for root in roots:
        for pid in descendants(root):
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if argv.startswith(b"/bin/sh") or argv.startswith(b"sh\0"):
                continue  # honcho's shell wrappers (their reaped children are counted by the children themselves)
            role = next((name for name, marker in ROLES if marker in argv), None)
            if role is not None:
                totals[role] += _cpu(pid)
    return totals


def cpu_share(before: dict[str, float], after: dict[str, float], seconds: float) -> str:
    """`simulator 0.9 cores, rq workers 0.6 cores, …` between two cpu_by_role() readings `seconds` apart."""
    used = {role: after[role] - before.get(role, 0.0) for role in after}
    return ", ".join(f"{role} {v / seconds:.2f}" for role, v in sorted(used.items(), key=lambda kv: -kv[1]))
