"""The whole of `make run` (Procfile.dev under honcho) on free ports, for end-to-end tests and benchmarks.

Starts redis (AOF on), gunicorn, RQ workers and the simulator as separate processes,
exactly as `make run` does, with an env file of its own; stops them with SIGINT, as
Ctrl-C does.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import requests

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition: Callable[[], Any], timeout: float = 30, what: str = "condition") -> Any:
    """Poll `condition()` every 50 ms until it returns something truthy; return it.

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
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class DevStack:
    """`honcho start` on Procfile.dev with its own ports, env and folder.

    Args:
        folder: where Redis keeps its AOF and honcho's log goes.
        settings: extra environment (e.g. TWILIO_* for the simulator, OWNER_PHONE, SIM_CLOCK_SPEED).
        workers: how many `worker` processes.
        processes: which Procfile.dev processes to start (all by default).

    Attributes:
        web, sim: base URLs; redis: the redis:// URL; log: honcho's output file.
    """

    def __init__(self, folder: Path, settings: dict[str, Any], workers: int = 1,
                 processes: tuple[str, ...] = ()) -> None:
        web, sim, redis = free_port(), free_port(), free_port()
        self.web, self.sim = f"http://127.0.0.1:{web}", f"http://127.0.0.1:{sim}"
        self.redis = f"redis://127.0.0.1:{redis}/0"
        self.folder, self.log = folder, folder / "honcho.log"
        env = {"WEB_PORT": web, "SIM_PORT": sim, "REDIS_PORT": redis, "REDIS_DIR": folder, "REDIS_URL": self.redis,
               "PUBLIC_BASE_URL": self.web, "TWILIO_API_BASE": self.sim, "SIM_VOICE_URL": f"{self.web}/voice/incoming",
               "PYTHONUNBUFFERED": 1, **settings}
        self.env_file = folder / "devstack.env"
        self.env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
        self.workers, self.processes = workers, processes
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30) -> "DevStack":
        """Start the processes and wait until the web app, Redis and the simulator answer."""
        bin_dir = Path(sys.executable).parent
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "REDIS_", "PUBLIC_", "SIM_"))}
        env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
        self._log = open(self.log, "w")
        self.proc = subprocess.Popen(
            [str(bin_dir / "honcho"), "-f", "Procfile.dev", "-e", str(self.env_file), "start",
             "-c", f"worker={self.workers}", *self.processes],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(lambda: requests.get(f"{self.web}/healthz", timeout=1).ok, timeout, "the web app and Redis")
        if not self.processes or "simulator" in self.processes:
            wait_for(lambda: requests.get(f"{self.sim}/_sim/phones", timeout=1).ok, timeout, "the simulator")
        return self

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
