"""A small Python API over the simulator's control endpoints (``/_sim/...``), for tests."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import requests

__all__ = ["SimulatorClient", "PhoneHandle", "SimulatorError"]


class SimulatorError(Exception):
    """The simulator refused a control request, or did not settle in time."""


class SimulatorClient:
    """Drive and inspect a running simulator.

    Example:
        >>> sim = SimulatorClient("http://127.0.0.1:5100")
        >>> phone = sim.phone("+819012345678")
        >>> call_sid = phone.call("+815012345678")  # dial the Twilio number
        >>> sim.settle(timeout=10)
        >>> phone.heard()[0]["text"]

    Args:
        base_url: The simulator's URL, e.g. ``http://127.0.0.1:5100``.
        timeout: Real seconds each HTTP request may take (settle adds its own).
    """

    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()

    def _request(self, method: str, path: str, *, timeout: float | None = None,
                 **kwargs: Any) -> Any:
        response = self.session.request(method, self.base_url + path,
                                        timeout=timeout or self.timeout, **kwargs)
        if not response.ok:
            raise SimulatorError(f"{method} {path}: HTTP {response.status_code} {response.text}")
        return response.json()

    def phone(self, number: str) -> "PhoneHandle":
        """A handle on the virtual phone at ``number`` (E.164; created on first use)."""
        return PhoneHandle(self, number)

    def phones(self) -> list[dict[str, Any]]:
        """Every phone seen so far: dicts with number, script, calls, heard."""
        return self._request("GET", "/_sim/phones")

    def hang_up(self, call_sid: str) -> dict[str, Any]:
        """The phone on ``call_sid`` hangs up (or rejects the call while it rings).

        Returns:
            ``{"call_sid", "status"}`` (status before the hang-up is processed;
            call :meth:`settle` to see its effects).
        """
        return self._request("POST", f"/_sim/calls/{call_sid}/hangup")

    def settle(self, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Wait until no webhook, callback, ringing or Say/Play/Pause is in flight.

        Args:
            timeout: Real seconds to wait at most.

        Returns:
            The errors list (see :meth:`errors`); an empty list means all went well.

        Raises:
            SimulatorError: If it did not settle within ``timeout``.
        """
        result = self._request("POST", "/_sim/settle", json={"timeout": timeout},
                               timeout=timeout + self.timeout)
        if not result["settled"]:
            raise SimulatorError(f"simulator did not settle within {timeout} s")
        return result["errors"]

    def requests(self) -> list[dict[str, Any]]:
        """The REST journal: every REST request and response (method, path, query,
        content_type, body, status, response_content_type, response_body)."""
        return self._request("GET", "/_sim/requests")

    def timeline(self, call_sid: str | None = None, conference: str | None = None
                 ) -> list[dict[str, Any]]:
        """Timeline events, oldest first, optionally for one CallSid and/or one
        conference (FriendlyName or CF sid). Each has at, type ("status",
        "webhook", "heard", "conference", "announcement", "announcement-overlap",
        "error", ...), call_sid, conference, conference_sid and details."""
        params = {k: v for k, v in (("call_sid", call_sid), ("conference", conference)) if v}
        return self._request("GET", "/_sim/timeline", params=params)

    def errors(self) -> list[dict[str, Any]]:
        """Errors so far: dicts with at, type ("error" or "announcement-overlap"),
        code (Twilio's, e.g. 11200, 12100, 12200), message, call_sid, conference, url."""
        return self._request("GET", "/_sim/errors")

    def reset(self) -> None:
        """Forget everything; live calls are dropped without callbacks."""
        self._request("POST", "/_sim/reset")

    def conferences(self) -> list[dict[str, Any]]:
        """Every conference (Conference resources plus ``participants``)."""
        return self._request("GET", "/_sim/conferences")

    def calls(self) -> list[dict[str, Any]]:
        """Every call, oldest first (Call resources plus ``conference``)."""
        return self._request("GET", "/_sim/calls")


class PhoneHandle:
    """One virtual phone, from :meth:`SimulatorClient.phone`."""

    def __init__(self, client: SimulatorClient, number: str) -> None:
        self.client = client
        self.number = number
        self._path = f"/_sim/phones/{quote(number, safe='')}"

    def call(self, to: str) -> str:
        """Dial ``to`` (the Twilio number runs the voice webhook); returns the CallSid."""
        return self.client._request("POST", self._path + "/call", json={"to": to})["call_sid"]

    def script(self, steps: list[str], answer_after: float | None = None,
               default: str | None = None) -> dict[str, Any]:
        """Set how the next incoming calls are handled, one step per call.

        Args:
            steps: Each "answer", "busy", "no-answer", "fail" or "machine".
            answer_after: Simulated seconds of ringing before answering (default 1).
            default: The behaviour once ``steps`` run out (default "answer").
        """
        body: dict[str, Any] = {"script": steps}
        if answer_after is not None:
            body["answer_after"] = answer_after
        if default is not None:
            body["default"] = default
        return self.client._request("POST", self._path + "/script", json=body)

    def state(self) -> dict[str, Any]:
        """``{"number", "script", "default", "answer_after", "calls", "heard"}``."""
        return self.client._request("GET", self._path)

    def heard(self) -> list[dict[str, Any]]:
        """What it heard, oldest first: dicts with call_sid, kind ("say"/"play"/"pause"),
        text, url, voice, language, source ("twiml"/"announcement"), conference, at."""
        return self.state()["heard"]

    def calls(self) -> list[dict[str, Any]]:
        """Its calls, oldest first: call_sid, direction ("incoming"/"outgoing"),
        twilio_direction, from, to, status, created_at, answered_at, ended_at, conference."""
        return self.state()["calls"]
