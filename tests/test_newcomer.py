"""The newcomer path: what a person who just cloned the repository tries, tried the same way.

The big test copies the repository as a clone has it (uncommitted work included), with
nothing beside it, writes only a `.env` choosing free ports, runs `make run` exactly as
shipped (it builds `.venv` from requirements-local.txt alone: production's requirements.txt
plus make run's embedded redis-server and honcho), calls in from a virtual phone,
types through the chat page's own endpoint, checks that the phone heard it, then presses
Ctrl-C. It fails if those requirements miss something `make run` needs, or if the shipped
settings break calls.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from callchat import settings
from callchat.devstack import DEFAULT_PORTS, LOCAL_ENV, ROOT, free_port, port_urls, ports_in_use, run_env, wait_for
from callchat.masking import builtin
from simulator.client import SimulatorClient
from tests.conftest import CALLER, ChatUser

#: Minutes are spent building `.venv` (pip install -r requirements-local.txt) before anything answers.
START_TIMEOUT = 900


def copy_as_cloned(dest: Path) -> None:
    """Copy the repository's files as `git clone` would give them, plus uncommitted and new (not ignored) files."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():  # a tracked file deleted in the work tree is not copied
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)


def users_environment() -> dict[str, str]:
    """This process's environment without anything callchat, the simulator or make read: a user's shell.

    `python3` on PATH is the interpreter running the tests, so `make run`'s venv uses the
    same Python; pip keeps its wheel cache between runs.
    """
    ours = {*settings.DEFAULTS, *DEFAULT_PORTS, *port_urls(DEFAULT_PORTS)}
    env = {k: v for k, v in os.environ.items()
           if k not in ours and not k.startswith(("TWILIO_", "SIM_", "REDIS_", "MAKE", "PIP_NO_CACHE"))
           and k not in ("MFLAGS", "PYTHONPATH", "VIRTUAL_ENV", "PORT")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env.setdefault("PIP_CACHE_DIR", str(Path.home() / ".cache" / "pip"))
    return env


def processes_in(folder: Path) -> dict[int, str]:
    """Every process whose working directory is in `folder` (Linux /proc): {pid: command line}."""
    found = {}
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and Path(os.readlink(entry / "cwd")).is_relative_to(folder):
                found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # gone meanwhile, or not ours to look at
            continue
    return found


def press_ctrl_c(make: subprocess.Popen, clone: Path) -> dict[int, str]:
    """SIGINT to `make run`'s process group, as Ctrl-C in its terminal; return what still runs 30 s later
    (then killed, so that nothing outlives the test)."""
    if make.poll() is None:
        os.killpg(make.pid, signal.SIGINT)
    try:
        make.wait(30)
        wait_for(lambda: not processes_in(clone), 30, "every process of make run to end")
        return {}
    except (subprocess.TimeoutExpired, AssertionError):
        left = processes_in(clone)
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        return left


def test_make_run_on_a_fresh_clone_speaks_what_is_typed_into_a_call(tmp_path):
    clone = tmp_path / "callchat"
    copy_as_cloned(clone)
    ports = {name: free_port() for name in DEFAULT_PORTS}
    (clone / ".env").write_text("".join(f"{name}={port}\n" for name, port in ports.items()))
    web, sim_url = f"http://127.0.0.1:{ports['WEB_PORT']}", f"http://127.0.0.1:{ports['SIM_PORT']}"
    log_path = tmp_path / "make-run.log"
    log = open(log_path, "w")
    make = subprocess.Popen(["make", "run"], cwd=clone, env=users_environment(), stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)

    def answers(url: str) -> bool:
        assert make.poll() is None, f"make run stopped (exit {make.returncode}); its output is below"
        return requests.get(url, timeout=2).ok

    try:
        wait_for(lambda: answers(f"{web}/healthz") and answers(f"{sim_url}/")
                 and "Sign in (one-time link" in log_path.read_text(), START_TIMEOUT, "make run's pages and sign-in link")
        printed = log_path.read_text()
        assert f"Chat page:             {web}/rooms/" in printed and f"Simulator phone page:  {sim_url}/" in printed

        sim = SimulatorClient(sim_url)
        phone = sim.phone(CALLER)
        room_id = phone.call(run_env(clone, {})[0]["TWILIO_PHONE_NUMBER"])
        sim.settle(timeout=60)
        assert sim.errors() == [], "the call is answered (no failed webhook)"
        link = re.search(r"Sign in \(one-time link, 15 minutes\):\s+(\S+)", printed).group(1)
        assert link.startswith(f"{web}/signin/link/")
        assert requests.get(f"{web}/rooms/{room_id}", timeout=2, allow_redirects=False).status_code == 302, \
            "nothing is open without the link"
        user = ChatUser(web)
        assert user.use_link(link).url == f"{web}/rooms/"
        assert user.http.get(link, timeout=2).status_code == 404, "the link works once"
        user.open_room(room_id)
        typed = "はじめまして、聞こえますか"
        response = user.say(room_id, typed)
        assert response.status_code == 202, response.text
        wait_for(lambda: answers(f"{web}/healthz") and typed in [h.get("text") for h in phone.heard()], 120,
                 "the phone to hear the typed message")
        doctor = subprocess.run(["make", "doctor"], cwd=clone, env=users_environment(), capture_output=True,
                                text=True, timeout=120)
        assert doctor.returncode == 0 and "PROBLEM" not in doctor.stdout, \
            f"make doctor finds the shipped settings wrong:\n{doctor.stdout}{doctor.stderr}"
    finally:
        left = press_ctrl_c(make, clone)
        log.close()
        print(log_path.read_text())
    assert not left, f"still running after Ctrl-C: {left}"
    for url in (web, sim_url):
        with pytest.raises(requests.ConnectionError):
            requests.get(url, timeout=2)


def bare_clone_settings(folder: Path, dotenv: str) -> Path:
    """A folder with the shipped simulator/local.env and this `.env`: what `run_env` reads."""
    (folder / LOCAL_ENV).parent.mkdir()
    shutil.copy(ROOT / LOCAL_ENV, folder / LOCAL_ENV)
    (folder / ".env").write_text(dotenv)
    return folder


def test_the_shipped_local_settings_are_valid(tmp_path):
    env, simulator = run_env(bare_clone_settings(tmp_path, ""), {})
    assert simulator
    checked = settings.from_env(env)
    assert builtin.pool_problem(checked) == "" and len(builtin.pool(checked)) == 3
    assert checked["OWNER_PHONE"] and checked["TWILIO_PHONE_NUMBER"]


def test_make_run_makes_a_secret_key_of_its_own_unless_one_is_set(tmp_path):
    bare_clone_settings(tmp_path, "")
    first, _ = run_env(tmp_path, {})
    second, _ = run_env(tmp_path, {})
    assert first["SECRET_KEY"] != second["SECRET_KEY"], "a new random key for each make run"
    assert settings.secret_key_problem(first["SECRET_KEY"]) == ""
    assert (tmp_path / ".env").read_text() == "", "the user's .env is not written"
    key = settings.new_secret_key()
    (tmp_path / ".env").write_text(f"SECRET_KEY={key}\n")
    assert run_env(tmp_path, {})[0]["SECRET_KEY"] == key


def test_dotenv_overrides_local_env_and_the_urls_follow_the_ports(tmp_path):
    bare_clone_settings(tmp_path, "WEB_PORT=8000\nSIM_PORT=8100\nREDIS_PORT=6400\nOWNER_PHONE=\n"
                                  "PROXY_NUMBERS=+815010000201\n")
    env, simulator = run_env(tmp_path, {"SIM_PORT": "8200", "HOME": "/somewhere"})
    assert simulator
    assert {name: env[name] for name in ("WEB_PORT", "SIM_PORT", "REDIS_PORT", "REDIS_URL", "PUBLIC_BASE_URL",
                                         "TWILIO_API_BASE", "SIM_VOICE_URL", "OWNER_PHONE", "SIM_NUMBERS")} == {
        "WEB_PORT": "8000", "SIM_PORT": "8200", "REDIS_PORT": "6400",  # the shell's environment wins over .env
        "REDIS_URL": "redis://127.0.0.1:6400/0", "PUBLIC_BASE_URL": "http://127.0.0.1:8000",
        "TWILIO_API_BASE": "http://127.0.0.1:8200", "SIM_VOICE_URL": "http://127.0.0.1:8000/voice/incoming",
        "OWNER_PHONE": "+819010000001", "SIM_NUMBERS": "+815010000201"}  # an empty value is unset
    assert "HOME" not in env, "only the names callchat and the simulator use are taken from the environment"

    (tmp_path / ".env").write_text("PUBLIC_BASE_URL=https://tunnel.example.com\nREDIS_URL=redis://10.0.0.5:6379/2\n")
    env, _ = run_env(tmp_path, {})
    assert (env["PUBLIC_BASE_URL"], env["REDIS_URL"], env["TWILIO_API_BASE"]) == (
        "https://tunnel.example.com", "redis://10.0.0.5:6379/2", "http://127.0.0.1:5100"), "set explicitly: kept"


def test_env_example_copied_to_dotenv_keeps_the_simulators_settings(tmp_path):
    env, simulator = run_env(bare_clone_settings(tmp_path, (ROOT / ".env.example").read_text()), {})
    assert simulator, "its blank TWILIO_ACCOUNT_SID means: the simulator"
    checked = settings.from_env(env)
    assert checked["TWILIO_AUTH_TOKEN"] == "simulator-auth-token" and checked["REDIS_URL"] == "redis://127.0.0.1:6379/0"


def test_with_a_twilio_account_the_simulators_settings_are_not_used(tmp_path):
    env, simulator = run_env(bare_clone_settings(tmp_path, "TWILIO_ACCOUNT_SID=AC" + "1" * 32 + "\nREDIS_PORT=6400\n"), {})
    assert not simulator
    assert env["REDIS_URL"] == "redis://127.0.0.1:6400/0"
    assert "TWILIO_API_BASE" not in env and "PUBLIC_BASE_URL" not in env and "TWILIO_PHONE_NUMBER" not in env


def test_a_port_in_use_is_named(tmp_path):
    env, simulator = run_env(bare_clone_settings(tmp_path, ""), {name: str(free_port()) for name in DEFAULT_PORTS})
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        env["SIM_PORT"] = str(listener.getsockname()[1])
        assert list(ports_in_use(env, simulator)) == ["SIM_PORT"]
        assert ports_in_use(env, simulator=False) == {}, "without the simulator, SIM_PORT is not used"


def test_a_bad_port_is_named(tmp_path):
    (tmp_path / ".env").write_text("WEB_PORT=http\n")
    with pytest.raises(settings.SettingError) as raised:
        run_env(tmp_path, {"REDIS_PORT": "70000"})
    assert raised.value.problems == {"WEB_PORT": "'http' is not a port number (1-65535).",
                                     "REDIS_PORT": "'70000' is not a port number (1-65535)."}
