"""Persistent HTTP/1.1 connections for the simulator's server, as api.twilio.com keeps them.

werkzeug's development server answers every request with ``Connection: close``, so each
REST request costs the client a new TCP connection and the simulator a new thread. An
HTTP/1.1 connection is persistent unless either side says ``close`` (RFC 9112 section 9.3);
twilio-python's client (requests) keeps its connections open, so with :class:`KeepAliveHandler`
one connection and one handler thread carry a client's requests one after another.

A connection stays open only when the next request line can be found: the request was
HTTP/1.1 without ``Connection: close``, its body had a ``Content-Length`` (not chunked) and
was read to its end (what the app left unread is read and dropped first). Otherwise it is
closed after the answer, as before. A connection idle for :data:`IDLE_SECONDS` is closed,
and :func:`close_all` closes every open one when the server stops, so a stopped simulator
answers nothing more.
"""

from __future__ import annotations

import logging
import socket
import threading
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler
from werkzeug.serving import make_server as werkzeug_make_server
from werkzeug.wsgi import LimitedStream

__all__ = ["KeepAliveHandler", "make_server", "close_all", "IDLE_SECONDS"]

#: Real seconds a kept-alive connection may wait for its next request before it is closed.
IDLE_SECONDS = 60.0
_LOCK = threading.Lock()  # guards each server's ``open_connections``


class KeepAliveHandler(WSGIRequestHandler):
    """werkzeug's WSGI request handler, keeping HTTP/1.1 connections open (see the module
    docstring); :func:`make_server` serves an app with it."""

    timeout = IDLE_SECONDS  # a socket timeout: an idle (or stalled) connection is dropped

    def setup(self) -> None:
        """Register the connection with the server, for :func:`close_all`. TCP_NODELAY:
        werkzeug writes an answer's headers and body apart, and on a kept connection Nagle's
        algorithm would hold the body until the client's delayed ACK (40 ms)."""
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with _LOCK:
            self.server.open_connections.add(self.connection)

    def finish(self) -> None:
        """Forget the connection once its last request is done."""
        try:
            super().finish()
        finally:
            with _LOCK:
                self.server.open_connections.discard(self.connection)

    def run_wsgi(self) -> None:
        """Answer one request; the body is read through a stream limited to its
        Content-Length, so werkzeug's clean-up after the answer cannot read into the next
        request; what the app left unread is read and dropped, and if that fails the
        connection closes."""
        raw = self.rfile
        body = self._framed_body()
        self._keep = body is not None
        if body is not None:
            self.rfile = body
        try:
            super().run_wsgi()
        finally:
            self.rfile = raw
        if body is not None and not body.is_exhausted:
            try:
                body.exhaust()  # what the app left unread: the next request line follows it
            except Exception:  # the client went away (ClientDisconnected) or stalled (timeout)
                self.close_connection = True

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """werkzeug's request log line, built only if it will be written (``python -m
        simulator`` sets the werkzeug logger to WARNING)."""
        if logging.getLogger("werkzeug").isEnabledFor(logging.INFO):
            super().log_request(code, size)

    def send_header(self, keyword: str, value: str) -> None:
        """werkzeug's ``Connection: close`` is left out while the connection is kept."""
        if getattr(self, "_keep", False) and keyword.lower() == "connection" and value.lower() == "close":
            return
        super().send_header(keyword, value)

    def _framed_body(self) -> LimitedStream | None:
        """The request body as a stream limited to its Content-Length (0 if none), or None
        if this connection must close after the answer (not HTTP/1.1, ``Connection: close``,
        a chunked or malformed body length)."""
        if self.close_connection or self.request_version != "HTTP/1.1":
            return None
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return None
        length = self.headers.get("Content-Length", "0").strip()
        if not length.isdigit():
            return None
        return LimitedStream(self.rfile, int(length))


def make_server(host: str, port: int, app: Any) -> BaseWSGIServer:
    """werkzeug's threaded server on ``host``:``port`` (0: a free port) serving ``app`` with
    :class:`KeepAliveHandler`."""
    server = werkzeug_make_server(host, port, app, threaded=True, request_handler=KeepAliveHandler)
    server.open_connections = set()
    return server


def close_all(server: BaseWSGIServer) -> None:
    """Shut down every connection still open on ``server`` (from :func:`make_server`): their
    clients see it closed, as when the process exits."""
    with _LOCK:
        connections = list(server.open_connections)
    for connection in connections:
        try:
            connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
