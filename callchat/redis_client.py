"""Redis connections: the one place that turns REDIS_URL and REDIS_SSL_CERT_REQS into redis-py's options.

Every connection callchat opens (web commands, live-page streams, the RQ queue, workers and
their scheduler, `doctor`, `make run`, `python -m callchat.redis_server --wait`) goes through
`options`, so a `rediss://` URL works everywhere. Heroku's Redis (Heroku Key-Value Store) serves
TLS with a self-signed certificate, which Heroku tells Python clients to accept with
`ssl_cert_reqs=None` (devcenter.heroku.com/articles/heroku-redis, "Connecting in Python").
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from redis import Redis

#: The password in a Redis URL (`rediss://:secret@host:port`, `redis://user:secret@host`).
_PASSWORD = re.compile(r"(rediss?://[^:/@\s]*:)[^@\s]+@")

#: REDIS_SSL_CERT_REQS's values, as redis-py's `ssl_cert_reqs` takes them (ssl.CERT_REQUIRED, ssl.CERT_NONE).
CERT_REQS = ("required", "none")


def options(url: str, cert_reqs: str) -> dict[str, Any]:
    """The redis-py connection options for a REDIS_URL (for `Redis.from_url`, `ConnectionPool.from_url`,
    or Flask-Limiter's `storage_options`).

    Args:
        url: REDIS_URL: `redis://`, `rediss://` (TLS) or `unix://`.
        cert_reqs: REDIS_SSL_CERT_REQS, one of `CERT_REQS`: "required" checks the server's certificate
            against the system's CAs (or `SSL_CERT_FILE`) and its host name; "none" accepts any certificate
            (still encrypted), as Heroku's self-signed ones need.

    Returns:
        `{"ssl_cert_reqs": …}` for a `rediss://` URL; `{}` for any other (no TLS, nothing to choose).

    Raises:
        ValueError: `cert_reqs` is not one of `CERT_REQS` (`callchat.settings` checks it at start-up).
    """
    if cert_reqs not in CERT_REQS:
        raise ValueError(f"REDIS_SSL_CERT_REQS must be one of {', '.join(CERT_REQS)}, not {cert_reqs!r}")
    return {"ssl_cert_reqs": cert_reqs} if url.startswith("rediss://") else {}


def connect(settings: Mapping[str, Any], **kwargs: Any) -> Redis:
    """A Redis client for callchat's settings.

    Args:
        settings: with REDIS_URL and REDIS_SSL_CERT_REQS (as `callchat.settings.read` gives them).
        **kwargs: more `Redis.from_url` options, e.g. `decode_responses=True`, `socket_connect_timeout=2`.

    Returns:
        `Redis.from_url(REDIS_URL, **options(...), **kwargs)`; it connects lazily, at its first command.
    """
    return Redis.from_url(settings["REDIS_URL"], **options(settings["REDIS_URL"], settings["REDIS_SSL_CERT_REQS"]),
                          **kwargs)


def redacted(text: str) -> str:
    """`text` (a REDIS_URL, or a message quoting one) with every Redis URL's password replaced by `•••`.

    Heroku's REDIS_URL holds the password (`rediss://:p…@ec2-….compute-1.amazonaws.com:6380`); what
    callchat prints or logs (doctor, the release phase, setting errors) shows the URL without it.
    """
    return _PASSWORD.sub(r"\1•••@", text)
