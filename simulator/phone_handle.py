"""A handle on one virtual phone of a running simulator, from ``SimulatorClient.phone``."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

__all__ = ["PhoneHandle"]


class PhoneHandle:
    """One virtual phone, from :meth:`SimulatorClient.phone` (``client``: that client;
    its errors are its SimulatorError)."""

    def __init__(self, client: Any, number: str) -> None:
        self.client = client
        self.number = number
        self._path = f"/_sim/phones/{quote(number, safe='')}"

    def call(self, to: str) -> str:
        """Dial ``to`` (the Twilio number runs the voice webhook); returns the CallSid."""
        return self.client._request("POST", self._path + "/call", json={"to": to})["call_sid"]

    def script(self, steps: list[str], answer_after: float | None = None,
               default: str | None = None) -> dict[str, Any]:
        """Set how the next incoming calls are handled, one step per call, in the order
        the calls were placed (each takes its step when it is created).

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
        """``{"number", "script", "default", "answer_after", "menu", "calls", "heard",
        "said", "digits"}`` (``digits``: entries with call_sid, digits, source, at)."""
        return self.client._request("GET", self._path)

    def heard(self) -> list[dict[str, Any]]:
        """What it heard, oldest first: dicts with call_sid, kind ("say"/"play"/"pause"; "beep": a <Record>'s;
        "wait": hold music while alone in a conference that has not started, ``url``
        being the waitUrl; "hold": hold music while on hold, ``url`` being the
        HoldUrl), text (a play's text is its DTMF digits), url, voice, language, source
        ("twiml", "announcement", "wait" or "hold" for a waitUrl's or HoldUrl's TwiML,
        "loopback", "phone" for another phone speaking), speaker (the phone that spoke,
        for source "phone"), rate (a Say's SSML ``<prosody rate>``, else None), conference, at, and interrupted (True if it was cut short:
        the call was modified or hung up, the conference started or the participant
        was taken off hold, while it played, so the phone heard only its beginning)."""
        return self.state()["heard"]

    def say(self, text: str, call_sid: str | None = None) -> dict[str, Any]:
        """Say one sentence on the phone's call in progress (or ``call_sid``).

        Sentences are said one after another, each as long as a ``<Say>`` of the same
        text on the simulated clock. Whoever shares the call hears it (the others in a
        started conference, unless this one is muted or on hold, or they are on hold;
        the other end of a bridge); the call's Real-Time Transcriptions that cover
        ``inbound_track`` (what Twilio receives from this phone) send
        transcription-content: partial results first if PartialResults is true, then
        the final one; with no transcription running, nothing is sent. ``settle()``
        waits for it all. Returns ``{"call_sid", "text", "seconds"}`` (simulated
        seconds it takes); raises SimulatorError (HTTP 409) if the phone has no call in
        progress (or several and no ``call_sid``)."""
        body: dict[str, Any] = {"text": text}
        if call_sid is not None:
            body["call_sid"] = call_sid
        return self.client._request("POST", self._path + "/say", json=body)

    def press(self, digits: str, call_sid: str | None = None) -> dict[str, Any]:
        """Press DTMF keys (0-9, A-D, *, #) on the call in progress (or ``call_sid``); a
        ``finishOnKey`` key ends a ``<Record>``. Returns ``{"call_sid", "digits"}``; raises
        SimulatorError as :meth:`say` (HTTP 409), or HTTP 400 for other characters."""
        body = {"digits": digits, **({"call_sid": call_sid} if call_sid else {})}
        return self.client._request("POST", self._path + "/press", json=body)

    def said(self) -> list[dict[str, Any]]:
        """What it said, oldest first: dicts with call_sid, text, at (when it started),
        seconds, and heard_by (the numbers that heard it)."""
        return self.state()["said"]

    def digits(self, call_sid: str | None = None) -> str:
        """The DTMF tones it received (``<Play digits>`` on its call, or whispered to it
        in a conference), all calls or one, in order, pauses (w, W) left out: e.g.
        ``"1234#"``."""
        return "".join(d["digits"] for d in self.state()["digits"]
                       if call_sid in (None, d["call_sid"]))

    def menu(self, prompt: str | None = None,
             options: dict[str, str] | None = None) -> dict[str, Any]:
        """Make the phone act as a phone menu: when a call to it is answered it says
        ``prompt``, and when the DTMF tones it receives on a call complete one of
        ``options`` (digits -> reply, e.g. ``{"1": "Sales.", "9#": "Goodbye."}``) it
        says that reply (as :meth:`say`); tones that start no option are forgotten.
        ``menu()`` makes it an ordinary phone again. Returns :meth:`state`."""
        body: dict[str, Any] = {"options": options or {}}
        if prompt is not None:
            body["prompt"] = prompt
        return self.client._request("POST", self._path + "/menu", json=body)

    def calls(self) -> list[dict[str, Any]]:
        """Its calls, oldest first: call_sid, direction ("incoming"/"outgoing"), on_call
        (False for a <Dial> leg showing its number as caller ID: it cannot speak there),
        twilio_direction, from, to, status, created_at, answered_at, ended_at, conference."""
        return self.state()["calls"]
