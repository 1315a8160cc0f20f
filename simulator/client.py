"""A small Python API over the simulator's control endpoints (``/_sim/...``), for tests."""

from __future__ import annotations

from typing import Any

import requests

from .phone_handle import PhoneHandle

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

    def phone(self, number: str) -> PhoneHandle:
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
        """Wait until no webhook, callback, REST request, ringing or Say/Play/Pause is
        in flight. With a manual clock, ringing and Say/Play/Pause wait for
        :meth:`advance` and do not count; with an auto clock they take no wall time.

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
        """The REST journal: every REST request and response, in order of arrival (method,
        path, query, content_type, body, status, response_content_type, response_body,
        received_at and responded_at (wall clock), fault). A request is journaled as it
        arrives; its response fields are None until the response leaves (see
        ``core.latency``'s REST delay)."""
        return self._request("GET", "/_sim/requests")

    def timeline(self, call_sid: str | None = None, conference: str | None = None
                 ) -> list[dict[str, Any]]:
        """Timeline events, oldest first, optionally for one CallSid and/or one
        conference (FriendlyName or CF sid). Each has at, type ("status",
        "webhook", "heard", "conference", "announcement", "announcement-overlap",
        "error", "unexpected-call", "proxy", "chaos", ...), call_sid, conference,
        conference_sid and details."""
        params = {k: v for k, v in (("call_sid", call_sid), ("conference", conference)) if v}
        return self._request("GET", "/_sim/timeline", params=params)

    def errors(self) -> list[dict[str, Any]]:
        """Errors so far: dicts with at, type ("error", "announcement-overlap" or
        "unexpected-call", which also has ``number``), code (Twilio's, e.g. 11200,
        12100, 12200, 80905; None for unexpected-call), message, call_sid, conference, url."""
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

    # ---- Real-Time Transcription ---------------------------------------------------------

    def transcriptions(self, call_sid: str | None = None) -> list[dict[str, Any]]:
        """Every Real-Time Transcription started (TwiML or REST), or those of ``call_sid``:
        the RealtimeTranscription resource (sid GT…, call_sid, name, status
        "in-progress"/"stopped", date_updated, uri) plus ``attrs`` (its settings under
        their TwiML names, e.g. ``{"track": "inbound_track", "partialResults": "true"}``),
        status_callback_url, status_callback_method and next_sequence_id."""
        params = {"call_sid": call_sid} if call_sid else None
        return self._request("GET", "/_sim/transcriptions", params=params)

    def recordings(self, call_sid: str | None = None) -> list[dict[str, Any]]:
        """What ``<Record>`` recorded (all, or on ``call_sid``), oldest first: dicts with sid,
        call_sid, status ("in-progress", "completed"; "absent": nothing said), text (what the
        phone said), duration (s), url (RecordingUrl), digits (key, "hangup" or None),
        started_at, transcription_sid and transcription_status (see ``calls.record``)."""
        return self._request("GET", "/_sim/recordings",
                             params={"call_sid": call_sid} if call_sid else None)

    def transcription_error(self, call_sid: str, code: int = 32651,
                            message: str | None = None) -> list[str]:
        """Make the speech-to-text provider fail on ``call_sid``: each running
        transcription sends transcription-error (TranscriptionErrorCode ``code``,
        32650-32655; TranscriptionError ``message``), then transcription-stopped.
        Returns the sids (GT…) of those that failed ([] if none was running)."""
        body: dict[str, Any] = {"code": code}
        if message is not None:
            body["message"] = message
        return self._request("POST", f"/_sim/calls/{call_sid}/transcription-error",
                             json=body)["failed"]

    # ---- clock -----------------------------------------------------------------------

    def clock(self) -> dict[str, Any]:
        """``{"mode": "real"|"manual"|"auto", "now": simulated epoch seconds, "speed",
        "pending": timers waiting}``."""
        return self._request("GET", "/_sim/clock")

    def set_clock(self, mode: str | None = None, speed: float | None = None) -> dict[str, Any]:
        """Switch the clock (simulated time goes on from where it is).

        Args:
            mode: "real" (``speed`` simulated seconds per real second), "manual"
                (time moves only through :meth:`advance`) or "auto" (whenever
                only timed waits are in flight, time jumps to the next deadline,
                so a 60 s ring timeout takes no wall time).
            speed: Simulated seconds per real second in real mode.

        Returns:
            As :meth:`clock`.
        """
        body = {k: v for k, v in (("mode", mode), ("speed", speed)) if v is not None}
        return self._request("POST", "/_sim/clock", json=body)

    def advance(self, seconds: float, timeout: float = 30.0) -> dict[str, Any]:
        """Move simulated time forward, firing every timer due in deadline order and
        waiting, after each, for the webhooks and callbacks it set off.

        Args:
            seconds: Simulated seconds.
            timeout: Real seconds it may take in all.

        Returns:
            As :meth:`clock`.

        Raises:
            SimulatorError: If the work set off did not finish within ``timeout``.
        """
        result = self._request("POST", "/_sim/clock/advance",
                               json={"seconds": seconds, "timeout": timeout},
                               timeout=timeout + self.timeout)
        if not result.pop("settled"):
            raise SimulatorError(f"advance({seconds}) did not settle within {timeout} s")
        return result

    # ---- latency -----------------------------------------------------------------------

    def latency(self) -> dict[str, float]:
        """``{"rest", "webhook", "speech_per_char"}``: the latency settings in seconds
        (``simulator.core.latency``)."""
        return self._request("GET", "/_sim/latency")

    def set_latency(self, rest: float | None = None, webhook: float | None = None,
                    speech_per_char: float | None = None) -> dict[str, float]:
        """Change the latency settings without a restart (None leaves one as it is; a
        reset restores the configured ones).

        Args:
            rest: Real seconds each REST API response waits after its request arrived
                (the request takes effect on arrival; only the answer waits).
            webhook: Real seconds each webhook and status callback leaves late.
            speech_per_char: Simulated seconds of speech per character
                (a Say takes 0.5 s plus this per character).

        Returns:
            As :meth:`latency`.

        Raises:
            SimulatorError: If a value is not a number of seconds >= 0.
        """
        body = {name: value for name, value in (("rest", rest), ("webhook", webhook),
                                                ("speech_per_char", speech_per_char))
                if value is not None}
        return self._request("POST", "/_sim/latency", json=body)

    # ---- chaos and expectations ---------------------------------------------------------

    def chaos(self, repeat: int = 1, shuffle: bool = False,
              seed: int | None = None) -> dict[str, Any]:
        """Deliver each call status, AMD, conference status and Real-Time Transcription
        callback ``repeat`` times (same parameters and I-Twilio-Idempotency-Token, like a
        retry). With ``shuffle``, hold a call's callbacks until it ends, and a
        conference's or a transcription's until the simulator has nothing else in flight
        or the conference ends (the transcription stops), then send them in random
        order. ``chaos()`` turns it off. Voice requests are never affected.

        Returns:
            ``{"repeat", "shuffle", "seed"}``.
        """
        body: dict[str, Any] = {}
        if repeat != 1:
            body["repeat"] = repeat
        if shuffle:
            body["shuffle"] = True
        if seed is not None:
            body["seed"] = seed
        return self._request("POST", "/_sim/chaos", json=body)

    def inject_fault(self, method: str, path: str, kind: str, times: int = 1,
                     retry_after: int | None = None, seconds: float = 0.0) -> dict[str, Any]:
        """Make the next ``times`` REST requests ``method path`` fail (``simulator.core.faults``).

        Args:
            method: e.g. ``"POST"``.
            path: the route after ``/2010-04-01/Accounts/<AccountSid>/`` with ``*`` for a SID,
                e.g. ``"Calls.json"``, ``"Calls/*.json"``, ``"Conferences/*.json"``.
            kind: ``"429"``, ``"500"`` or ``"503"`` (not applied; Twilio's error body, and
                ``Retry-After: retry_after`` if given); ``"delay"`` (applied, answered after
                ``seconds`` real seconds); ``"drop-before"`` / ``"drop-after"`` (the connection
                closes without an answer, before or after the request is applied).
            times: how many matching requests, >= 1.

        Returns:
            The rule: ``{"method", "path", "kind", "times", "retry_after", "seconds", "fired"}``.
        """
        return self._request("POST", "/_sim/faults", json={
            "method": method, "path": path, "kind": kind, "times": times, "retry_after": retry_after,
            "seconds": seconds})

    def faults(self) -> list[dict[str, Any]]:
        """Every fault rule, with how often it ``fired``."""
        return self._request("GET", "/_sim/faults")

    def clear_faults(self) -> None:
        """Remove every fault rule: the REST APIs answer normally again."""
        self._request("DELETE", "/_sim/faults")

    def expect_calls(self, numbers: list[str] | None) -> dict[str, Any]:
        """Let the app call only ``numbers`` (E.164); None allows any. A call to any
        other number (Calls API, Participants API, <Dial>, Proxy) fails and shows up
        in :meth:`errors` as type "unexpected-call" with its ``number``.

        Returns:
            ``{"numbers": [...] or None}``.
        """
        return self._request("POST", "/_sim/expect", json={"numbers": numbers})

    # ---- the account's numbers and Proxy ---------------------------------------------------

    def numbers(self) -> list[dict[str, Any]]:
        """The account's Twilio numbers (IncomingPhoneNumber resources), primary first."""
        return self._request("GET", "/_sim/numbers")

    def add_number(self, phone_number: str, voice_url: str | None = None,
                   voice_method: str = "POST") -> dict[str, Any]:
        """Give the account another Twilio number (or re-point an existing one).

        Args:
            phone_number: E.164.
            voice_url: Its incoming-call webhook; None uses the simulator's voice_url.
            voice_method: "GET" or "POST".

        Returns:
            The IncomingPhoneNumber resource (``sid`` PN…).
        """
        return self._request("POST", "/_sim/numbers", json={
            "phone_number": phone_number, "voice_url": voice_url, "voice_method": voice_method})

    def proxy(self) -> dict[str, Any]:
        """Twilio Proxy's state: ``{"closed", "services": [{sid, unique_name, numbers,
        sessions: [{sid, unique_name, status, mode, participants}]}]}``."""
        return self._request("GET", "/_sim/proxy")

    def set_proxy_closed(self, closed: bool = True) -> dict[str, Any]:
        """Make every Proxy REST create (Service, PhoneNumber, Session, Participant)
        answer Twilio error 80506 (HTTP 403), or stop doing so."""
        return self._request("POST", "/_sim/proxy", json={"closed": closed})

    def create_proxy_service(self, friendly_name: str, numbers: list[str], *,
                             default_ttl: int | None = None,
                             out_of_session_callback_url: str | None = None) -> str:
        """Set up an "existing" Proxy service (works even while Proxy is closed).

        Args:
            friendly_name: Its UniqueName.
            numbers: E.164 numbers for its pool (added to the account if needed).
            default_ttl: Seconds; sessions' default Ttl (0: none).
            out_of_session_callback_url: TwiML URL for calls with no live session.

        Returns:
            The service's sid (KS…).
        """
        body = {"friendly_name": friendly_name, "numbers": numbers, "default_ttl": default_ttl,
                "out_of_session_callback_url": out_of_session_callback_url}
        return self._request("POST", "/_sim/proxy/services", json=body)["sid"]
