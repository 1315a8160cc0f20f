"""Log lines: one per event, as text or as one JSON object per line for log drains (LOG_FORMAT).

The web app (`create_app`) and the worker (`python -m jobs.worker`) log through `setup`'s
handler, gunicorn through gunicorn.conf.py's (`JsonFormatter` too, with LOG_FORMAT=json). Lines name the room and CallSid they are about and show phone
numbers partly hidden (`callchat.numbers.redact`); an expected condition (Twilio busy, Redis
restarting, a shutdown) is one line, never a traceback.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone

#: The text format: `2025-01-31 09:00:00,123 INFO jobs.announce: delivering message 3 in room CA…`.
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (Heroku's log drains, Papertrail, Datadog… split on newlines).

    Keys: `time` (ISO 8601, UTC), `level`, `logger`, `message`, and `exception` (the traceback, as one
    string) when the record has one. Non-ASCII text (Japanese messages) is kept as is.
    """

    def format(self, record: logging.LogRecord) -> str:  # noqa: A003 (logging.Formatter's name)
        """Return the record as a JSON object on one line."""
        entry = {"time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
                 "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def formatter(log_format: str) -> logging.Formatter:
    """The formatter for LOG_FORMAT: `JsonFormatter` for "json", `TEXT_FORMAT` for "text"."""
    return JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)


def setup(log_format: str) -> None:
    """Send INFO and above to stderr, one line each, in LOG_FORMAT ("text" or "json").

    Like `logging.basicConfig`, adds no handler when the root logger already has one (a test's
    log capture, or a process that set up logging itself). twilio-python's request and header
    lines (several per REST request, at INFO) are left out: callchat logs one line per event.
    """
    logging.getLogger("twilio.http_client").setLevel(logging.WARNING)
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(log_format))
    root.addHandler(handler)
    root.setLevel(logging.INFO)
