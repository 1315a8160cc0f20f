"""`make run` (Procfile.dev under honcho): its settings, its start (`python -m callchat.devstack`),
and the same on free ports for end-to-end tests and benchmarks (`DevStack`).

Starts redis (AOF on), gunicorn, RQ workers and the simulator as separate processes,
with an env file of their own; Ctrl-C (SIGINT) stops them all.
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Mapping

import requests
from dotenv import dotenv_values
from redis.exceptions import RedisError

from callchat import settings as callchat_settings
from callchat import redis_client, users
from callchat.urls import INCOMING

ROOT = Path(__file__).resolve().parents[1]
#: `make run`'s settings while TWILIO_ACCOUNT_SID is unset (the simulator's account and numbers), in the repository.
LOCAL_ENV = Path("simulator") / "local.env"
#: The ports `make run`'s processes listen on unless `.env` (or the environment) chooses others.
DEFAULT_PORTS = {"WEB_PORT": 5000, "SIM_PORT": 5100, "REDIS_PORT": 6379}
#: Where `make run` writes the settings it gives honcho.
RUN_ENV = Path("instance") / "make-run.env"


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition: Callable[[], Any], timeout: float = 30, what: str = "condition", every: float = 0.05) -> Any:
    """Poll `condition()` every `every` s (50 ms) until it returns something truthy; return it.

    Raises:
        AssertionError: `timeout` seconds passed first.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = condition()
        except (requests.ConnectionError, requests.Timeout):
            value = None
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


class DevStack:
    """`honcho start` on Procfile.dev (or another Procfile) with its own ports, env and folder.

    Args:
        folder: where Redis keeps its AOF and honcho's log goes.
        settings: extra environment (e.g. TWILIO_* for the simulator, OWNER_PHONE, SIM_CLOCK_SPEED,
            or REDIS_URL, PORT and DYNO as Heroku sets them); a random SECRET_KEY unless it has one.
        workers: how many `worker` processes.
        processes: which of the Procfile's processes to start (all by default).
        procfile: the Procfile to run, in the repository: `Procfile.dev` (`make run`'s) or `Procfile` (production's).

    Attributes:
        web, sim: base URLs; redis: REDIS_URL; log: honcho's output file.
    """

    def __init__(self, folder: Path, settings: dict[str, Any], workers: int = 1,
                 processes: tuple[str, ...] = (), procfile: str = "Procfile.dev") -> None:
        ports = {name: free_port() for name in DEFAULT_PORTS}
        env = {**ports, **port_urls({**ports, **settings}), "REDIS_DIR": folder, "PYTHONUNBUFFERED": 1,
               "SECRET_KEY": callchat_settings.new_secret_key(), **settings}
        self.web, self.sim, self.redis = env["PUBLIC_BASE_URL"], env["TWILIO_API_BASE"], env["REDIS_URL"]
        self.folder, self.log = folder, folder / "honcho.log"
        self.env_file = folder / "devstack.env"
        write_env_file(self.env_file, env)
        self.workers, self.processes, self.procfile = workers, processes, procfile
        self.proc: subprocess.Popen | None = None

    def _honcho(self, *args: str) -> list[str]:
        """The honcho command line for this stack's Procfile and env file."""
        return [str(Path(sys.executable).parent / "honcho"), "-f", self.procfile, "-e", str(self.env_file), *args]

    def _environ(self) -> dict[str, str]:
        """This process's environment without callchat's settings (the env file gives them), with the venv on PATH."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "REDIS_", "PUBLIC_", "SIM_"))}
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
        return env

    def start(self, timeout: float = 30) -> "DevStack":
        """Start the processes and wait until the web app, Redis and the simulator answer."""
        self._log = open(self.log, "w")
        self.proc = subprocess.Popen(self._honcho("start", "-c", f"worker={self.workers}", *self.processes),
                                     cwd=ROOT, env=self._environ(), stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        wait_for(lambda: requests.get(f"{self.web}/healthz", timeout=1).ok, timeout, "the web app and Redis")
        if not self.processes or "simulator" in self.processes:
            wait_for(lambda: requests.get(f"{self.sim}/_sim/phones", timeout=1).ok, timeout, "the simulator")
        return self

    def run(self, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess:
        """Run one command with the stack's settings (`honcho run`, as `heroku run` does); return it, output as text."""
        return subprocess.run(self._honcho("run", *argv), cwd=ROOT, env=self._environ(), capture_output=True,
                              text=True, timeout=timeout)

    def stop(self, timeout: float = 20) -> int:
        """Stop everything with SIGINT (Ctrl-C); SIGKILL whatever is left after `timeout` s. Return honcho's exit code."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()
        return self.proc.returncode

    def __enter__(self) -> "DevStack":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ---- make run ----------------------------------------------------------------------------------


def port_urls(env: Mapping[str, Any], simulator: bool = True) -> dict[str, str]:
    """The settings that follow `make run`'s ports unless set explicitly.

    Args:
        env: WEB_PORT, SIM_PORT and REDIS_PORT (port numbers), and PROXY_NUMBERS if any.
        simulator: whether the local simulator stands in for Twilio.

    Returns:
        REDIS_URL; with the simulator also PUBLIC_BASE_URL, TWILIO_API_BASE, SIM_VOICE_URL
        (callchat's incoming-call webhook) and SIM_NUMBERS (the masking pool, so that the
        simulator has those numbers too). All on 127.0.0.1.
    """
    urls = {"REDIS_URL": f"redis://127.0.0.1:{env['REDIS_PORT']}/0"}
    if simulator:
        web = f"http://127.0.0.1:{env['WEB_PORT']}"
        urls.update(PUBLIC_BASE_URL=web, TWILIO_API_BASE=f"http://127.0.0.1:{env['SIM_PORT']}",
                    SIM_VOICE_URL=f"{web}{INCOMING}", SIM_NUMBERS=str(env.get("PROXY_NUMBERS", "")))
    return urls


def run_env(root: Path = ROOT, environ: Mapping[str, str] | None = None) -> tuple[dict[str, str], bool]:
    """`make run`'s settings: the environment's, over `.env`'s, over `simulator/local.env`'s (read only
    while TWILIO_ACCOUNT_SID is unset), over `DEFAULT_PORTS` and the `port_urls` that follow them.
    An empty value counts as unset, as in `callchat.settings.read`: a `.env` copied from
    `.env.example` with blanks left does not blank the simulator's settings. With no SECRET_KEY
    set, a new random one (`make run` writes it into `RUN_ENV` for its processes, never into `.env`).

    Args:
        root: the repository, with `.env` (optional) and `simulator/local.env`.
        environ: the process environment (`os.environ` when None); only the names callchat,
            the simulator and the two files use are taken from it.

    Returns:
        (the settings, as strings; True when they run the local simulator instead of Twilio).

    Raises:
        callchat.settings.SettingError: WEB_PORT, SIM_PORT or REDIS_PORT is not a port number.
    """
    environ = os.environ if environ is None else environ
    dotenv = _env_file(root / ".env")
    local = _env_file(root / LOCAL_ENV)
    names = {*local, *dotenv, *DEFAULT_PORTS, *port_urls(DEFAULT_PORTS), *callchat_settings.DEFAULTS}
    shell = {name: environ[name] for name in names if environ.get(name, "").strip()}
    simulator = "TWILIO_ACCOUNT_SID" not in {**dotenv, **shell}
    env = {**{name: str(port) for name, port in DEFAULT_PORTS.items()}, **(local if simulator else {}), **dotenv, **shell}
    bad = {name: f"{env[name]!r} is not a port number (1-65535)." for name in DEFAULT_PORTS
           if not env[name].strip().isdigit() or not 0 < int(env[name]) < 65536}
    if bad:
        raise callchat_settings.SettingError(bad)
    env.setdefault("SECRET_KEY", callchat_settings.new_secret_key())
    return {**port_urls(env, simulator), **env}, simulator


def _env_file(path: Path) -> dict[str, str]:
    """The non-empty settings of an env file (none if it does not exist)."""
    values = dotenv_values(path, interpolate=False) if path.exists() else {}
    return {name: value for name, value in values.items() if value and value.strip()}


def write_env_file(path: Path, env: Mapping[str, Any]) -> None:
    """Write `env` as an env file that honcho (`-e`) reads back exactly: one `NAME=value` a line, shell-quoted."""
    path.write_text("".join(f"{name}={shlex.quote(str(value))}\n" for name, value in env.items()))


def ports_in_use(env: Mapping[str, str], simulator: bool) -> dict[str, str]:
    """Which of WEB_PORT, REDIS_PORT (and SIM_PORT with the simulator) something already listens on."""
    busy = {}
    for name in DEFAULT_PORTS if simulator else ("WEB_PORT", "REDIS_PORT"):
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn and redis do: TIME_WAIT is free
            try:
                s.bind(("127.0.0.1", int(env[name])))
            except OSError:
                busy[name] = (f"127.0.0.1:{env[name]} is already in use (another program, or another make run); "
                              f"choose a free port in .env, e.g. {name}={int(env[name]) + 1}.")
    return busy


LOCAL_ADMIN = "admin"


def local_signin_link(env: Mapping[str, str]) -> str:
    """A one-time sign-in link for `make run`'s local admin (`LOCAL_ADMIN`), made if there is none yet.

    Args:
        env: `run_env`'s settings (REDIS_URL, WEB_PORT).

    Returns:
        `http://127.0.0.1:<WEB_PORT>/signin/link/<token>`, usable once, for 15 minutes; or a
        sentence saying why there is none (the local admin was disabled).
    """
    r = redis_client.connect(callchat_settings.read(env), decode_responses=True, socket_connect_timeout=2)
    if users.get(r, LOCAL_ADMIN) is None:
        users.create(r, LOCAL_ADMIN, "admin", None, created_by="make run")
    elif users.get(r, LOCAL_ADMIN)["disabled"]:
        return f"(none: the user {LOCAL_ADMIN!r} is disabled; flask --app app users enable {LOCAL_ADMIN})"
    token = users.issue_link(r, "signin", username=LOCAL_ADMIN)
    return f"http://127.0.0.1:{env['WEB_PORT']}/signin/link/{token}"


def _run(env: Mapping[str, str], simulator: bool, bin_dir: Path) -> int:
    """Run honcho on Procfile.dev until it stops; once the web app answers, print the one-time sign-in link.

    Ctrl-C reaches honcho too (same process group), which stops every process; this process
    ignores it and waits for honcho, whose exit code it returns. SIGTERM is passed on to honcho.
    """
    honcho = subprocess.Popen([str(bin_dir / "honcho"), "-f", "Procfile.dev", "-e", str(RUN_ENV), "start",
                               *(() if simulator else ("web", "worker", "redis"))])
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: honcho.send_signal(signal.SIGTERM))
    web = f"http://127.0.0.1:{env['WEB_PORT']}"
    try:
        wait_for(lambda: honcho.poll() is not None or requests.get(f"{web}/healthz", timeout=1).ok, 120, "the web app")
        if honcho.poll() is None:
            print(f"\n  Sign in (one-time link, 15 minutes):  {local_signin_link(env)}\n"
                  "  Another link later: make signin-link\n", flush=True)
    except (AssertionError, RedisError) as exc:
        print(f"  No sign-in link: {exc}. Try: make signin-link", flush=True)
    return honcho.wait()


def main(argv: list[str] | None = None) -> None:
    """`python -m callchat.devstack [run|doctor|signin-link]`: what `make run`, `make doctor` and `make signin-link` do.

    `run` prints the chat page's and the simulator's URLs, runs `honcho start` on Procfile.dev
    (all of it with the simulator; web, worker and redis with a TWILIO_ACCOUNT_SID), given
    `run_env`'s settings in `RUN_ENV`, and prints a one-time sign-in link for the local admin
    once the web app answers. `doctor` runs `flask --app app doctor` with the same settings;
    `signin-link` prints a fresh sign-in link while `make run` runs. A bad setting or a port in
    use stops `run` before anything starts, with a message naming the variable.
    """
    args = sys.argv[1:] if argv is None else argv
    command = args[0] if args else "run"
    if command not in ("run", "doctor", "signin-link"):
        sys.exit(f"usage: python -m callchat.devstack [run|doctor|signin-link], not {command!r}")
    os.chdir(ROOT)
    bin_dir = Path(sys.executable).parent
    try:
        env, simulator = run_env()
        if command == "doctor":
            os.environ.update(env)
            os.execv(bin_dir / "flask", [str(bin_dir / "flask"), "--app", "app", "doctor"])
        if command == "signin-link":
            print(local_signin_link(env))
            return
        callchat_settings.from_env({**os.environ, **env})
        busy = ports_in_use(env, simulator)
        if busy:
            raise callchat_settings.SettingError(busy)
    except callchat_settings.SettingError as exc:
        sys.exit(str(exc))
    except RedisError as exc:
        sys.exit(f"Redis does not answer on {env['REDIS_URL']} ({exc}): is make run running?")
    RUN_ENV.parent.mkdir(exist_ok=True)
    write_env_file(RUN_ENV, env)
    chat = f"http://127.0.0.1:{env['WEB_PORT']}/rooms/"
    if simulator:
        print("No TWILIO_ACCOUNT_SID set: running against the local Twilio simulator.\n"
              f"  Chat page:             {chat}\n  Simulator phone page:  http://127.0.0.1:{env['SIM_PORT']}/")
    else:
        print(f"Using the Twilio account {env['TWILIO_ACCOUNT_SID']}. Chat page: {chat}")
    print("Press Ctrl-C to stop.", flush=True)
    sys.exit(_run(env, simulator, bin_dir))


if __name__ == "__main__":
    main()
