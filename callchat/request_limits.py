"""What a request body may be: its size, and JSON that callchat can store.

A body larger than MAX_CONTENT_LENGTH is refused with 413 before it is read into memory:
Werkzeug checks `Content-Length` (flask.palletsprojects.com/en/stable/config/#MAX_CONTENT_LENGTH).
A chunked body (RFC 9112 section 7.1) has none, and Werkzeug would quietly cut it at the limit
(a form cut short would then be taken as whole), so `_check_body` reads at most one
byte past the limit first and answers 413 when there is more. Forms are capped as well
(MAX_FORM_MEMORY_SIZE, MAX_FORM_PARTS).

JSON (RFC 8259) is parsed by `StrictJSONProvider`, which refuses what Python's parser
accepts but nothing else can use: nesting deeper than `MAX_JSON_DEPTH` (Python would raise
RecursionError, a 500) and lone surrogates such as `"\\ud800"` (RFC 8259 section 8.2: not
valid Unicode; Redis's client cannot encode them as UTF-8, another 500). A JSON body must be
an object, and only the blueprints in `JSON_BLUEPRINTS` take JSON: the others' forms
(Flask-WTF reads a JSON body as form data, and fails on anything but an object of strings)
answer 415 to it, so a route added later takes no JSON until it is listed here.

After a 413 the connection closes (`_close_after_refusal`): gunicorn would otherwise read and
discard the rest of the body to keep the connection alive, which for 400 MB sent fast kept a
gevent worker busy until its arbiter killed it, with every webhook and stream it held.
"""

from __future__ import annotations

import io
import json
from typing import Any

from flask import Flask, abort, request
from flask.json.provider import DefaultJSONProvider

from callchat.i18n import gettext as _

#: Largest request body, in bytes: a chat message is at most 5000 characters (20 KB of UTF-8).
MAX_CONTENT_LENGTH = 64 * 1024
#: Largest form (urlencoded or multipart) kept in memory, in bytes, and most fields in one form.
MAX_FORM_MEMORY_SIZE = MAX_CONTENT_LENGTH
MAX_FORM_PARTS = 200
#: Deepest nesting of arrays and objects accepted in a JSON body (callchat's own bodies nest 1 deep).
MAX_JSON_DEPTH = 32
#: Blueprints whose routes take a JSON body (an object); every other route answers 415 to JSON.
JSON_BLUEPRINTS = frozenset({"rooms", "api", "operators"})


class StrictJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider, but `loads` refuses deep nesting and lone surrogates with ValueError.

    Flask's `request.get_json(silent=True)` turns that ValueError into None (no JSON), and
    `request.get_json()` into 400 Bad Request.
    """

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        """Parse a JSON document.

        Args:
            s: the document, as text or UTF-8 bytes.

        Returns:
            The parsed value.

        Raises:
            ValueError: malformed JSON, nesting deeper than MAX_JSON_DEPTH, or a lone surrogate.
        """
        if isinstance(s, bytes):
            s = s.decode("utf-8")  # UnicodeDecodeError is a ValueError
        if _depth(s) > MAX_JSON_DEPTH:
            raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
        value = json.loads(s, **kwargs)
        # A lone surrogate only appears through a `\ud800`-style escape; encoding finds it.
        if "\\u" in s:
            json.dumps(value, ensure_ascii=False).encode("utf-8")  # UnicodeEncodeError is a ValueError
        return value


def _depth(text: str) -> int:
    """The deepest nesting of `[`/`{` in a JSON text, ignoring brackets inside strings (a linear scan)."""
    if "[" not in text and "{" not in text:
        return 0
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _check_body() -> None:
    """Flask `before_request`, before every other hook (none has read the body yet): bound and check the body.

    A chunked body is read up to one byte past the limit; what was read replaces the input,
    with its length as `Content-Length`, so nothing later reads from the connection. A JSON
    body must go to a route of `JSON_BLUEPRINTS` and be an object (after `StrictJSONProvider`).

    Raises:
        werkzeug.exceptions.RequestEntityTooLarge: the body is longer than MAX_CONTENT_LENGTH (413).
        werkzeug.exceptions.UnsupportedMediaType: JSON sent to a route that takes forms (415).
        werkzeug.exceptions.BadRequest: a JSON body that is not an object callchat accepts (400).
    """
    environ = request.environ
    if not environ.get("CONTENT_LENGTH") and "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        body = environ["wsgi.input"].read(MAX_CONTENT_LENGTH + 1)
        if len(body) > MAX_CONTENT_LENGTH:
            abort(413)
        environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(body), str(len(body))
    if not request.is_json or request.endpoint is None or not request.content_length:
        return
    if request.blueprint not in JSON_BLUEPRINTS:
        abort(415, description=_("This address takes a form, not JSON."))
    if not isinstance(request.get_json(silent=True), dict):
        abort(400, description=_("Send a JSON object (UTF-8, without lone surrogates or deep nesting)."))


def _close_after_refusal(response):
    """Flask `after_request`: after a 413, gunicorn closes the connection instead of reading the rest of the body.

    gunicorn discards an unread body 1 KiB at a time before the next request on the connection
    (`gunicorn.http.parser.Parser.finish_body`), and closes instead when the body is marked
    `failed` (as its own reader does on a malformed body). The `Connection` header of a WSGI
    answer is hop-by-hop, which gunicorn drops (PEP 3333), so this is the only way to say it.
    """
    body = request.environ.get("wsgi.input")
    if response.status_code == 413 and type(body).__module__.startswith("gunicorn."):
        body.failed = True
    return response


def init_app(app: Flask) -> None:
    """Cap request bodies and forms on `app` (413 beyond them) and parse JSON with `StrictJSONProvider`.

    Call it before any other `before_request` hook is registered.
    """
    app.before_request(_check_body)
    app.after_request(_close_after_refusal)
    app.config["MAX_CONTENT_LENGTH"] = MAX_CONTENT_LENGTH
    app.config["MAX_FORM_MEMORY_SIZE"] = MAX_FORM_MEMORY_SIZE
    app.config["MAX_FORM_PARTS"] = MAX_FORM_PARTS
    app.json = StrictJSONProvider(app)


def too_large_message() -> str:
    """The sentence a 413 answer gives."""
    return _("The request is larger than callchat accepts (%(size)d KiB). Send a shorter message.",
             size=MAX_CONTENT_LENGTH // 1024)

