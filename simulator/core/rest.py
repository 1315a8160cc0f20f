"""What both REST APIs share: HTTP Basic auth, Twilio error bodies, the journal, in-flight
counting, the lock around each operation, list pages, and the REST delay (``core.latency``:
the request takes effect on arrival, its response leaves ``latency.rest`` seconds later).

The convention for every service (v2010 and Proxy v1 alike): a view parses and checks
its parameters, then within :func:`locked` calls the service's backend (which returns
records) and renders them with the service's ``*_json`` functions.
"""

from __future__ import annotations

import contextlib
import re
import time
from typing import Any, Callable, Iterator
from urllib.parse import urlencode

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request

from . import faults, latency, ledger, timeline
from .errors import ApiError, error_json, not_found
from .formats import V2010
from .kernel import Kernel
from .params import paging

__all__ = ["kernel", "locked", "require_basic_auth", "v2010_blueprint", "v2010_page",
           "v1_page", "init_app", "is_api", "PROXY_API"]

PROXY_API = "/v1/"  # Twilio Proxy v1 (proxy.twilio.com), served on the same host
# A recording's media file (``recordings.responses``): audio, not a REST operation.
MEDIA = re.compile(r"^/2010-04-01/Accounts/[^/]+/Recordings/RE[0-9a-fA-F]{32}(\.wav)?$")


def kernel() -> Kernel:
    """The simulator kernel of the current app."""
    return current_app.extensions["simulator"]


@contextlib.contextmanager
def locked() -> Iterator[Kernel]:
    """Hold the kernel's lock for one operation and its rendering; yields the kernel."""
    found = kernel()
    with found.lock:
        yield found


def require_basic_auth() -> None:
    """Reject wrong or missing HTTP Basic auth (AccountSid:AuthToken) with 401 and code
    20003, as Twilio does (twilio.com/docs/usage/security#http-authentication).

    Raises:
        ApiError: the credentials are missing or wrong.
    """
    found = kernel()
    auth = request.authorization
    if auth is None or auth.username != found.account_sid or auth.password != found.auth_token:
        raise ApiError(20003, "Authentication Error - invalid username" if auth
                       else "Authentication Error - No credentials provided", 401)


def v2010_blueprint(name: str) -> Blueprint:
    """A blueprint for REST API v2010 resources under ``/2010-04-01/Accounts/<AccountSid>``:
    Basic auth, and 20404 for another account's path. Its views get no account_sid."""
    bp = Blueprint(name, __name__, url_prefix=f"{V2010}/Accounts/<account_sid>")

    @bp.url_value_preprocessor
    def _drop_account_sid(endpoint: str | None, values: dict[str, Any] | None) -> None:
        g.path_account_sid = values.pop("account_sid", None) if values else None

    @bp.before_request
    def _authenticate() -> None:
        require_basic_auth()
        if g.path_account_sid != kernel().account_sid:
            raise not_found(request.path)

    return bp


def v2010_page(key: str, items: list[Any], to_json: Callable[[Any], dict[str, Any]],
               filters: dict[str, str | None]) -> Response:
    """A v2010 list response (e.g. ListCallResponse): one page of ``items`` plus paging
    fields, page URIs keeping the filters asked for (lock held for ``to_json``).

    Args:
        key: The list's name: "calls", "conferences", "participants", ...
        items: Every matching record, already filtered and ordered.
        filters: The query filters (None values are left out of the URIs).
    """
    page, size = paging()
    query = {k: v for k, v in filters.items() if v is not None}
    start = page * size
    chunk = items[start:start + size]

    def uri(number: int) -> str:
        return request.path + "?" + urlencode({**query, "PageSize": size, "Page": number})

    return jsonify({
        key: [to_json(item) for item in chunk],
        "end": start + max(len(chunk) - 1, 0),
        "first_page_uri": uri(0),
        "next_page_uri": uri(page + 1) if start + size < len(items) else None,
        "page": page,
        "page_size": size,
        "previous_page_uri": uri(page - 1) if page > 0 else None,
        "start": start,
        "uri": uri(page),
    })


def v1_page(host: str, key: str, items: list[Any],
            to_json: Callable[[Any], dict[str, Any]]) -> Response:
    """A v1 list response (Proxy): ``{key: [...], "meta": {...}}`` with absolute URLs on
    ``host`` (lock held for ``to_json``)."""
    page, size = paging()
    start = page * size
    chunk = items[start:start + size]

    def url(number: int) -> str:
        return f"{host}{request.path}?" + urlencode({"PageSize": size, "Page": number})

    return jsonify({key: [to_json(item) for item in chunk], "meta": {
        "first_page_url": url(0), "key": key,
        "next_page_url": url(page + 1) if start + size < len(items) else None,
        "page": page, "page_size": size,
        "previous_page_url": url(page - 1) if page > 0 else None, "url": url(page)}})


def is_api(path: str) -> bool:
    """True for a Twilio REST path: v2010 (``/2010-04-01/…``) or Proxy v1 (``/v1/…``),
    but not a recording's media file."""
    return (path.startswith(V2010) or path.startswith(PROXY_API)) and not MEDIA.match(path)


def _api_error(exc: ApiError) -> tuple[Response, int]:
    response = jsonify(error_json(exc.code, exc.message, exc.status))
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
    return response, exc.status


def init_app(app: Flask) -> None:
    """Twilio-shaped errors, the journal, in-flight counting, the REST delay (``core.latency``)
    and fault injection (``core.faults``) for every REST path."""
    app.register_error_handler(ApiError, _api_error)

    @app.before_request
    def _rest_begin() -> Response | tuple[Response, int, dict[str, str]] | None:
        if not is_api(request.path):
            return None
        received_at = time.time()  # wall clock, for benchmarks
        body = request.get_data(as_text=True)  # read (and kept) before taking the lock
        with locked() as found:
            g.sim_respond_at = time.monotonic() + found.latency.rest
            g.sim_world = found.world
            ledger.begin(found, g.sim_world)
            g.sim_fault = fault = faults.take(found, g.sim_world, request.method, request.path)
            g.sim_exchange = {  # journaled on arrival; the response is filled in as it leaves
                "method": request.method, "path": request.path,
                "query": request.query_string.decode("utf-8", "replace"),
                "content_type": request.content_type, "body": body,
                "status": None, "response_content_type": None, "response_body": None,
                "received_at": received_at, "responded_at": None,
                "fault": fault["kind"] if fault else None}
            timeline.exchange(g.sim_world, g.sim_exchange)
        if fault is None or fault["kind"] in ("delay", "drop-after"):
            return None  # applied as usual; the answer is delayed or lost in `_rest_journal`
        if fault["kind"] == "drop-before":
            faults.drop_connection(request.environ)
            return Response(status=204)  # never reaches the client
        body, status, headers = faults.error_body(fault)
        return jsonify(body), status, headers

    @app.after_request
    def _rest_journal(response: Response) -> Response:
        if is_api(request.path):
            fault = g.get("sim_fault")
            latency.wait_until(g.get("sim_respond_at"))  # the trip back from a far-away Twilio
            if fault and fault["kind"] == "delay":
                time.sleep(fault["seconds"])  # real time: the client's timeout is real too
            elif fault and fault["kind"] == "drop-after":
                faults.drop_connection(request.environ)
            with locked():
                g.sim_exchange.update(
                    status=response.status_code, response_content_type=response.content_type,
                    response_body=response.get_data(as_text=True), responded_at=time.time())
        return response

    @app.teardown_request
    def _rest_end(exc: BaseException | None) -> None:
        world = g.pop("sim_world", None)
        if world is not None:
            with locked() as found:
                ledger.end(found, world)

    for status, code, text in ((404, 20404, "The requested resource {} was not found"),
                               (405, 20004, "Method not allowed: {}")):
        def handler(exc: Exception, status: int = status, code: int = code, text: str = text):
            if is_api(request.path):
                return jsonify(error_json(code, text.format(request.path), status)), status
            return jsonify({"error": str(exc)}), status
        app.register_error_handler(status, handler)
