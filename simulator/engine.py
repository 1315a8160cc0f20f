"""The simulator's state and bookkeeping: one lock, callbacks, timeline, errors, clock, settle, ops."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import deque
from typing import Any

from . import calls, chaos, conferences, numbers, proxy, webhooks
from .clock import Clock
from .locations import location_params
from .resources import (ApiError, billed_minutes, call_duration, call_json, conference_json,
                        not_found, participant_json, rfc2822)
from .state import Call, Conference, Participant, Phone, World, is_e164, new_sid

__all__ = ["Engine"]

log = logging.getLogger("simulator")

SIP_CODES = {"completed": 200, "busy": 486, "no-answer": 487, "canceled": 487, "failed": 500}
QUIET_WINDOW = 0.05  # real seconds with nothing in flight before settle says "settled"


class Engine:
    """The whole simulated Twilio account, thread-safe behind one re-entrant lock.

    Methods whose docstring says "lock held" (and the private lookups) expect
    the caller to hold ``self.lock``. The REST and control operations take it
    themselves and return JSON-ready dicts (resource bodies from ``resources``).

    Args:
        config: ``account_sid`` (AC + 32 hex), ``auth_token``, ``phone_number``
            (E.164, the account's primary Twilio number), ``voice_url`` (the
            "a call comes in" webhook of every number without its own; may be
            empty, and may be changed later), ``numbers`` (more Twilio numbers,
            see ``numbers.configured``), ``clock`` ("real", "manual" or "auto",
            or a Clock) and ``clock_speed`` (simulated seconds per real second).
    """

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config  # kept by reference: voice_url may change while running
        self.account_sid: str = config["account_sid"]
        self.auth_token: str = config["auth_token"]
        self.phone_number: str = config["phone_number"]
        clock = config.get("clock")
        self.clock: Clock = clock if isinstance(clock, Clock) else Clock(
            float(config.get("clock_speed", 1.0)), mode=clock or "real")
        self._clock_default = (self.clock.mode, self.clock.speed)  # what reset restores
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.clock.attach(self.cond)
        self.clock.listener = self._autopilot
        self.number_sids: dict[str, str] = {}  # E.164 -> PN sid, stable across resets
        self.world = self._new_world()
        self.phone_number_sid = self.world.numbers[self.phone_number].sid

    def _new_world(self) -> World:
        return World(numbers=numbers.build(self.config, self.number_sids, self.clock.now()),
                     proxy=proxy.ProxyAccount())

    @property
    def voice_url(self) -> str | None:
        """The primary number's incoming-call webhook (its own, or ``config["voice_url"]``)."""
        with self.lock:
            return self.number_voice(self.world, self.phone_number)[0]

    def number_voice(self, world: World, number: str) -> tuple[str | None, str]:
        """An account number's voice webhook: (URL or None, method) (lock held).

        A number without its own VoiceUrl uses ``config["voice_url"]``, read now.
        """
        record = world.numbers[number]
        url = record.voice_url if record.voice_url is not None else self.config.get("voice_url")
        return url or None, record.voice_method

    def is_account_number(self, number: str | None) -> bool:
        """True if ``number`` is one of the account's Twilio numbers."""
        with self.lock:
            return number in self.world.numbers

    # ---- bookkeeping (lock held) -------------------------------------------

    def begin(self, world: World) -> None:
        """Count one more thing in flight (lock held)."""
        world.in_flight += 1
        world.activity += 1
        self.cond.notify_all()

    def end(self, world: World) -> None:
        """Count one thing in flight as done (lock held); in auto mode, time may jump now."""
        world.in_flight -= 1
        world.activity += 1
        if world.held and self._busy(world) == 0:
            chaos.release_all(self, world)  # shuffled conference callbacks go out when quiet
        self.cond.notify_all()
        self._autopilot()

    def wake_idle(self, call: Call) -> None:
        """Put an idle call (one waiting in a conference or bridge) back in flight (lock held)."""
        if call.idle:
            call.idle = False
            self.begin(call.world)

    def record(self, world: World, type_: str, *, call_sid: str | None = None,
               conference: Conference | None = None, **details: Any) -> dict[str, Any]:
        """Append one event to the timeline (lock held) and return it.

        ``at`` is simulated time; ``real_at`` is the wall clock (``time.time()``) when it
        was recorded, for benchmarks that time the app against the real clock.
        """
        entry = {"at": self.clock.now(), "real_at": time.time(), "type": type_,
                 "call_sid": call_sid, "conference": conference.friendly_name if conference else None,
                 "conference_sid": conference.sid if conference else None, **details}
        world.timeline.append(entry)
        return entry

    def error(self, world: World, code: int | None, message: str, *, type_: str = "error",
              call_sid: str | None = None, conference: Conference | None = None,
              url: str | None = None, **details: Any) -> None:
        """Record a problem in the errors list and the timeline, and log it (lock held).

        Args:
            type_: "error", "announcement-overlap" or "unexpected-call".
            details: Extra fields for the entry, e.g. ``number``.
        """
        entry = self.record(world, type_, call_sid=call_sid, conference=conference,
                            code=code, message=message, url=url, **details)
        world.errors.append(entry)
        log.warning("simulator %s %s: %s (call %s, conference %s, url %s)", type_, code,
                    message, call_sid, entry["conference"], url)

    def phone(self, world: World, number: str) -> Phone:
        """The virtual phone at ``number``, created on first use (lock held)."""
        if number not in world.phones:
            world.phones[number] = Phone(number)
        return world.phones[number]

    def hear(self, call: Call, kind: str, *, text: str | None = None, url: str | None = None,
             voice: str | None = None, language: str | None = None, source: str = "twiml",
             conference: Conference | None = None) -> list[dict[str, Any]]:
        """Record that the phone on ``call`` heard a Say/Play/Pause.

        Args:
            call: The call whose far end (``call.phone_number``) heard it.
            kind: "say", "play" or "pause".
            text: What was said (say) or the DTMF digits played (play).
            url: The audio played (play).
            voice, language: The Say's attributes, or None.
            source: "twiml" or "announcement".
            conference: The conference that played it, if an announcement.

        Returns:
            The heard entries recorded (one, or one per listener of a looped-back
            call); set an entry's ``interrupted`` to True if the verb is cut short.
        """
        if call.plan and call.plan["kind"] == "loopback":
            return self._hear_loopback(call, kind, text=text, url=url, voice=voice,
                                       language=language)
        with self.lock:
            world = call.world
            entry = {"call_sid": call.sid, "kind": kind, "text": text, "url": url,
                     "voice": voice, "language": language, "source": source,
                     "conference": conference.friendly_name if conference else None,
                     "at": self.clock.now(), "interrupted": False}
            self.phone(world, call.phone_number).heard.append(entry)
            self.record(world, "heard", call_sid=call.sid, conference=conference,
                        number=call.phone_number, kind=kind, text=text, url=url,
                        voice=voice, language=language, source=source)
            return [entry]

    def _hear_loopback(self, call: Call, kind: str, **heard: Any) -> list[dict[str, Any]]:
        """What a looped-back call (see ``loops_back``) says or plays is heard by everyone
        else in the conference its inbound leg is in, with source "loopback"."""
        with self.lock:
            leg = call.world.calls[call.plan["leg"]]
            conf = call.world.conferences.get(leg.conference_sid or "")
            listeners = [call.world.calls[p.call_sid] for p in conf.connected()
                         if not p.hold and p.call_sid != leg.sid] if conf else []
        return [entry for listener in listeners
                for entry in self.hear(listener, kind, source="loopback", conference=conf,
                                       **heard)]

    def loops_back(self, call: Call) -> bool:
        """True if ``call`` is a Calls API call to one of the account's own numbers and
        ``config["loopback_calls"]`` is on: it then arrives there as an inbound call
        (``calls._loopback``). Off by default, as Twilio today refuses From == To (21266)."""
        with self.lock:
            return (bool(self.config.get("loopback_calls")) and call.direction == "outbound-api"
                    and call.plan is None and call.to in call.world.numbers)

    # ---- threads and signals ------------------------------------------------

    def start(self, call: Call) -> None:
        """Start ``call``'s runner thread; it is in flight from now (lock held)."""
        self.begin(call.world)
        threading.Thread(target=calls.run, args=(self, call), daemon=True,
                         name=f"call-{call.sid[-6:]}").start()

    def signal(self, call: Call, kind: str, payload: Any = None) -> None:
        """Tell a live call's runner something: "hangup" (payload: reason),
        "redirect" (payload: TwiML source dict) or "poke" (re-check your state)."""
        with self.lock:
            if not call.live:
                return
            call.signals.append((kind, payload))
            self.wake_idle(call)  # the waker puts it back in flight, so settle never sees a gap
            call.wake.set()
            self.cond.notify_all()  # a Clock.sleep waits on the condition, not on the event

    def enqueue(self, world: World, key: str, job: dict[str, Any]) -> None:
        """Queue a callback on the ordered queue ``key`` ("call:CA…" / "conference:CF…") (lock held).

        ``job`` has purpose, url, method, params, call_sid and conference.
        """
        if world.dead:
            return
        queue = world.queues.get(key)
        self.begin(world)
        if queue is None:
            world.queues[key] = queue = deque()
            threading.Thread(target=self._drain, args=(world, key), daemon=True).start()
        queue.append(job)

    def _drain(self, world: World, key: str) -> None:
        while True:
            with self.lock:
                queue = world.queues[key]
                if not queue:
                    del world.queues[key]
                    return
                job = queue.popleft()
            try:
                self.fetch(world, job["purpose"], job["url"], job["method"], job["params"],
                           call_sid=job.get("call_sid"), conference=job.get("conference"),
                           token=job.get("token"))
            except Exception:  # pragma: no cover - a bug in the simulator, keep the queue going
                log.exception("callback delivery failed")
            finally:
                with self.lock:
                    self.end(world)

    def fetch(self, world: World, purpose: str, url: str, method: str, params: dict[str, str], *,
              call_sid: str | None = None, conference: Conference | None = None,
              token: str | None = None) -> webhooks.WebhookResult:
        """Send one signed webhook, put it on the timeline, and log error 11200 if it failed.

        Args:
            purpose: "voice", "action", "redirect", "announce", "call-status",
                "conference-status", "amd-status", "transcription", "number-url"
                or "out-of-session" (a Proxy service's OutOfSessionCallbackUrl).
            token: The I-Twilio-Idempotency-Token (the same on a repeated delivery).
        """
        if world.dead:
            return webhooks.WebhookResult(url, method, params, error="simulator was reset",
                                          error_code=None)
        sent_at = time.time()  # wall clock as it leaves (the entry is recorded once answered)
        result = webhooks.send(url, method, params, self.auth_token, token)
        with self.lock:
            self.record(world, "webhook", call_sid=call_sid, conference=conference,
                        purpose=purpose, sent_at=sent_at, url=result.url, method=result.method,
                        params=params,
                        status=result.status, content_type=result.content_type,
                        body=result.body[:4000], error=result.error)
            if not result.ok:
                self.error(world, result.error_code, f"{purpose} webhook failed: {result.error}",
                           call_sid=call_sid, conference=conference, url=result.url)
        return result

    # ---- call webhook parameters (lock held) ---------------------------------

    def voice_params(self, call: Call, status: str | None = None) -> dict[str, str]:
        """The parameters of every voice request and call status callback
        (twilio.com/docs/voice/twiml#request-parameters), location ones included."""
        params = {"CallSid": call.sid, "AccountSid": call.account_sid, "From": call.from_,
                  "To": call.to, "Caller": call.from_, "Called": call.to,
                  "CallStatus": status or call.status, "ApiVersion": "2010-04-01",
                  "Direction": call.direction, **location_params(call.from_, call.to)}
        if call.parent_call_sid:
            params["ParentCallSid"] = call.parent_call_sid
        if call.answered_by and not call.async_amd:
            params["AnsweredBy"] = call.answered_by
        return params

    def call_event(self, call: Call, event: str) -> None:
        """Send the call's status callback for ``event`` if it asked for it (lock held).

        Follows twilio.com/docs/voice/api/call-resource: event "initiated",
        "ringing", "answered" (CallStatus in-progress) or "completed" (the
        terminal status), with CallbackSource, Timestamp and SequenceNumber;
        CallDuration and SipResponseCode on completed, and Duration (billed
        minutes) when it completed normally.
        """
        if not call.status_callback or event not in call.status_callback_events:
            return
        status = {"initiated": "initiated", "ringing": "ringing",
                  "answered": "in-progress"}.get(event, call.status)
        params = self.voice_params(call, status)
        if call.answered_by:
            params["AnsweredBy"] = call.answered_by
        params.update(CallbackSource="call-progress-events", Timestamp=rfc2822(self.clock.now()),
                      SequenceNumber=str(call.sequence))
        call.sequence += 1
        if event == "completed":
            params["CallDuration"] = str(call_duration(call))
            params["SipResponseCode"] = str(SIP_CODES[call.status])
            if call.status == "completed":
                params["Duration"] = str(billed_minutes(call))
        chaos.deliver(self, call.world, f"call:{call.sid}", {
            "purpose": "call-status", "url": call.status_callback,
            "method": call.status_callback_method, "params": params, "call_sid": call.sid},
            chaotic=call.direction == "outbound-api")

    def new_call(self, world: World, **fields: Any) -> Call:
        """Create and register a Call (lock held); both phones on it record it.

        Its PhoneNumberSid is that of the account number it is to (inbound) or from.
        """
        now = self.clock.now()
        call = Call(sid=new_sid("CA"), account_sid=self.account_sid, created_at=now,
                    updated_at=now, world=world, **fields)
        number = world.numbers.get(call.to) or world.numbers.get(call.from_)
        if number is not None:
            call.phone_number_sid = number.sid
        world.calls[call.sid] = call
        for number in {call.from_, call.to} - set(world.numbers):
            if is_e164(number):
                self.phone(world, number).call_sids.append(call.sid)
        self.record(world, "status", call_sid=call.sid, status=call.status,
                    direction=call.direction, **{"from": call.from_, "to": call.to})
        return call

    # ---- REST: calls ----------------------------------------------------------

    def create_call(self, spec: dict[str, Any]) -> dict[str, Any]:
        """POST Calls.json: place an outbound-api call to a virtual phone.

        Args:
            spec: Validated parameters: to, from_, url, method, twiml,
                status_callback, status_callback_method, status_callback_events,
                timeout (seconds), machine_detection, async_amd, amd_callback,
                amd_callback_method.

        Returns:
            The Call resource (status "queued").
        """
        with self.lock:
            call = self.new_call(self.world, direction="outbound-api", **spec)
            self.start(call)
            return call_json(call)

    def _call(self, sid: str) -> Call:
        call = self.world.calls.get(sid)
        if call is None or call.direction == "pstn":
            raise not_found(f"/2010-04-01/Accounts/{self.account_sid}/Calls/{sid}.json")
        return call

    def get_call(self, sid: str) -> dict[str, Any]:
        """GET Calls/{Sid}.json. Raises ApiError 20404 if unknown."""
        with self.lock:
            return call_json(self._call(sid))

    def list_calls(self, to: str | None = None, from_: str | None = None,
                   status: str | None = None, parent_call_sid: str | None = None
                   ) -> list[dict[str, Any]]:
        """GET Calls.json: every account call matching the filters, newest first."""
        with self.lock:
            return [call_json(c) for c in reversed(list(self.world.calls.values()))
                    if c.direction != "pstn" and (to is None or c.to == to)
                    and (from_ is None or c.from_ == from_)
                    and (status is None or c.status == status)
                    and (parent_call_sid is None or c.parent_call_sid == parent_call_sid)]

    def update_call(self, sid: str, status: str | None = None,
                    source: dict[str, Any] | None = None,
                    status_callback: str | None = None,
                    status_callback_method: str | None = None) -> dict[str, Any]:
        """POST Calls/{Sid}.json: hang up (Status) or redirect (Url/Twiml) a live call.

        Args:
            sid: The CallSid.
            status: "completed" ends the call whatever its state; "canceled" ends it
                only while queued or ringing.
            source: {"url", "method"} or {"twiml"}: new TwiML for an in-progress call.

        Raises:
            ApiError: 20404 if unknown; 21220 to redirect a call not in progress.
        """
        with self.lock:
            call = self._call(sid)
            if status_callback:
                call.status_callback = status_callback
            if status_callback_method:
                call.status_callback_method = status_callback_method
            if source is not None:
                if call.status != "in-progress":
                    raise ApiError(21220, "Call is not in-progress. Cannot redirect.", 400)
                self.signal(call, "redirect", {**source, "purpose": "redirect"})
            if status == "completed" or (status == "canceled" and
                                         call.status in ("queued", "ringing")):
                self.signal(call, "hangup", "api")
                self.cond.wait_for(lambda: not call.live, timeout=1.0)
            return call_json(call)

    # ---- REST: conferences and participants ----------------------------------

    def _conference(self, key: str) -> Conference:
        conf = self.world.conferences.get(key) or conferences.find_active(self.world, key)
        if conf is None:
            raise not_found(f"/2010-04-01/Accounts/{self.account_sid}/Conferences/{key}.json")
        return conf

    def get_conference(self, sid: str) -> dict[str, Any]:
        """GET Conferences/{Sid}.json. Raises ApiError 20404 if unknown."""
        with self.lock:
            return conference_json(self._conference(sid))

    def list_conferences(self, friendly_name: str | None = None,
                         status: str | None = None) -> list[dict[str, Any]]:
        """GET Conferences.json: matching conferences, newest first."""
        with self.lock:
            return [conference_json(c) for c in reversed(list(self.world.conferences.values()))
                    if (friendly_name is None or c.friendly_name == friendly_name)
                    and (status is None or c.status == status)]

    def update_conference(self, sid: str, status: str | None = None,
                          announce_url: str | None = None,
                          announce_method: str = "POST") -> dict[str, Any]:
        """POST Conferences/{Sid}.json: end it (Status=completed) or announce into it.

        Raises:
            ApiError: 20404 if unknown, or to announce into a conference that is
                not in-progress.
        """
        with self.lock:
            conf = self._conference(sid)
            if announce_url:
                conferences.announce(self, conf, announce_url, announce_method)
            if status == "completed" and conf.status != "completed":
                conferences.end(self, conf, "conference-ended-via-api", None)
            return conference_json(conf)

    def create_participant(self, key: str, spec: dict[str, Any],
                           settings: dict[str, Any]) -> dict[str, Any]:
        """POST Conferences/{ConferenceSid}/Participants.json: call ``spec["to"]`` into a conference.

        Args:
            key: A CF sid, or a FriendlyName (the conference is created if needed).
            spec: Call parameters, as for :meth:`create_call` (no url/twiml).
            settings: Participant settings (see ``conferences.join``).

        Returns:
            The Participant resource (status "queued").

        Raises:
            ApiError: 20404 for an unknown or completed CF sid.
        """
        with self.lock:
            world = self.world
            if re.fullmatch(r"CF[0-9a-fA-F]{32}", key):
                conf = world.conferences.get(key)
                if conf is None or conf.status == "completed":
                    raise not_found(f"/2010-04-01/Accounts/{self.account_sid}"
                                    f"/Conferences/{key}/Participants.json")
            else:
                conf = conferences.find_active(world, key) or conferences.create(self, world, key)
            call = self.new_call(world, direction="outbound-api", **spec)
            call.plan = {"kind": "conference", "conference_sid": conf.sid, "settings": settings}
            part = conferences.new_participant(self, conf, call, settings)
            self.start(call)
            return participant_json(part, self.account_sid)

    def _participant(self, conf_key: str, key: str) -> tuple[Conference, Participant]:
        conf = self._conference(conf_key)
        part = conf.participants.get(key) or next(
            (p for p in conf.participants.values() if p.label == key), None)
        if part is None:
            raise not_found(f"/2010-04-01/Accounts/{self.account_sid}/Conferences/{conf.sid}"
                            f"/Participants/{key}.json")
        return conf, part

    def list_participants(self, conf_key: str) -> list[dict[str, Any]]:
        """GET Participants.json: the conference's participants, in joining order."""
        with self.lock:
            conf = self._conference(conf_key)
            return [participant_json(p, self.account_sid) for p in conf.participants.values()]

    def get_participant(self, conf_key: str, key: str) -> dict[str, Any]:
        """GET Participants/{CallSid or Label}.json. Raises ApiError 20404 if unknown."""
        with self.lock:
            return participant_json(self._participant(conf_key, key)[1], self.account_sid)

    def update_participant(self, conf_key: str, key: str, changes: dict[str, Any],
                           announce_url: str | None = None,
                           announce_method: str = "POST") -> dict[str, Any]:
        """POST Participants/{CallSid}.json: mute, hold, relabel, or whisper (AnnounceUrl).

        Args:
            changes: Participant fields to set: muted, hold, label,
                end_conference_on_exit, coaching, call_sid_to_coach.

        Raises:
            ApiError: 20404 if unknown, or to whisper to someone not connected.
        """
        with self.lock:
            conf, part = self._participant(conf_key, key)
            conferences.update_participant(self, conf, part, changes)
            if announce_url:
                conferences.announce(self, conf, announce_url, announce_method,
                                     call_sid=part.call_sid)
            return participant_json(part, self.account_sid)

    def delete_participant(self, conf_key: str, key: str) -> None:
        """DELETE Participants/{CallSid}.json: kick a participant (its call goes on with
        the TwiML after <Dial>), or cancel one still being called."""
        with self.lock:
            conf, part = self._participant(conf_key, key)
            call = self.world.calls[part.call_sid]
            if part.status == "connected":
                conferences.leave(self, call, "participant_updated_via_api", "in-progress",
                                  kicked=True)
                self.signal(call, "poke")
            else:
                self.signal(call, "hangup", "api")

    # ---- control API ------------------------------------------------------------

    def phone_view(self, number: str) -> dict[str, Any]:
        """A phone's number, script, calls and heard list (lock taken)."""
        with self.lock:
            world = self.world
            phone = world.phones.get(number) or Phone(number)
            return {"number": phone.number, "script": list(phone.script),
                    "default": phone.default, "answer_after": phone.answer_after,
                    "calls": [self._phone_call(world.calls[s], number) for s in phone.call_sids],
                    "heard": [dict(h) for h in phone.heard]}

    def _phone_call(self, call: Call, number: str) -> dict[str, Any]:
        conf = self.world.conferences.get(call.conference_sid or "")
        return {"call_sid": call.sid, "direction": "outgoing" if call.from_ == number else "incoming",
                "twilio_direction": call.direction, "from": call.from_, "to": call.to,
                "status": call.status, "created_at": call.created_at,
                "answered_at": call.answered_at, "ended_at": call.end_time,
                "conference": conf.friendly_name if conf else None}

    def phones_view(self) -> list[dict[str, Any]]:
        """Every phone seen so far, as :meth:`phone_view`."""
        with self.lock:
            return [self.phone_view(n) for n in list(self.world.phones)]

    def set_script(self, number: str, script: list[str], answer_after: float | None = None,
                   default: str | None = None) -> dict[str, Any]:
        """Replace a phone's script (behaviours for its next incoming calls)."""
        with self.lock:
            phone = self.phone(self.world, number)
            phone.script = list(script)
            if answer_after is not None:
                phone.answer_after = float(answer_after)
            if default is not None:
                phone.default = default
            return self.phone_view(number)

    def dial(self, number: str, to: str) -> Call:
        """A virtual phone calls ``to``: one of the account's numbers (runs that number's
        voice webhook, or Twilio Proxy if the number is in a Proxy service's pool) or
        another virtual phone (a plain phone-to-phone call, invisible to the REST API).

        A call to a number with a StatusCallback sends it the call's completed event
        (twilio.com/docs/phone-numbers/api/incomingphonenumber-resource: "The URL we
        should call ... to send status information to your application").

        Raises:
            ApiError: 20001 if ``number`` is one of the account's numbers.
        """
        with self.lock:
            if number in self.world.numbers:
                raise ApiError(20001, f"{number} is one of the account's Twilio numbers, "
                               "not a virtual phone")
            inbound = to in self.world.numbers
            call = self.new_call(self.world, direction="inbound" if inbound else "pstn",
                                 from_=number, to=to, status="ringing" if inbound else "queued")
            if inbound:
                call.start_time = call.created_at
                record = self.world.numbers[to]
                call.status_callback = record.status_callback or None
                call.status_callback_method = record.status_callback_method
            self.start(call)
            return call

    def inbound_source(self, call: Call) -> dict[str, Any]:
        """Where an inbound call's TwiML comes from (lock taken).

        Returns:
            A ``calls.run_twiml`` source: the number's voice webhook, or what
            Proxy does with a call to a pool number (``{"twiml"}`` to connect it,
            the service's out-of-session URL, or ``{"reject": True}``).
        """
        with self.lock:
            source = proxy.route(self, call)
            if source is not None:
                return source
            url, method = self.number_voice(call.world, call.to)
            return {"url": url, "method": method, "purpose": "voice"}

    def hang_up(self, sid: str) -> dict[str, Any]:
        """The phone on ``sid`` hangs up (or rejects it while ringing).

        Raises:
            ApiError: 20404 if the call is unknown.
        """
        with self.lock:
            call = self.world.calls.get(sid)
            if call is None:
                raise not_found(f"/_sim/calls/{sid}")
            self.signal(call, "hangup", "phone")
            return {"call_sid": sid, "status": call.status}

    def calls_view(self) -> list[dict[str, Any]]:
        """Every call (also phone-to-phone ones), oldest first, as Call resources plus
        ``conference`` (FriendlyName or None)."""
        with self.lock:
            out = []
            for call in self.world.calls.values():
                conf = self.world.conferences.get(call.conference_sid or "")
                out.append({**call_json(call), "conference": conf.friendly_name if conf else None})
            return out

    def conferences_view(self) -> list[dict[str, Any]]:
        """Every conference, oldest first, with its ``participants``."""
        with self.lock:
            return [{**conference_json(c), "participants": [
                participant_json(p, self.account_sid) for p in c.participants.values()]}
                for c in self.world.conferences.values()]

    def timeline(self, call_sid: str | None = None,
                 conference: str | None = None) -> list[dict[str, Any]]:
        """Timeline events, oldest first, optionally for one CallSid and/or one
        conference (FriendlyName or CF sid)."""
        with self.lock:
            return [dict(e) for e in self.world.timeline
                    if (call_sid is None or e.get("call_sid") == call_sid)
                    and (conference is None or conference in (e.get("conference"),
                                                              e.get("conference_sid")))]

    def journal(self, entry: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Append one REST exchange to the journal (if given); return the journal."""
        with self.lock:
            if entry is not None:
                self.world.journal.append(entry)
            return list(self.world.journal)

    def errors(self) -> list[dict[str, Any]]:
        """Every error and announcement overlap so far, oldest first."""
        with self.lock:
            return [dict(e) for e in self.world.errors]

    def reset(self) -> None:
        """Forget everything; live calls are dropped without sending any callback.

        The account's numbers go back to the configured ones, chaos and call
        expectations are cleared, Proxy is emptied and reopened, and the clock
        returns to its configured mode and speed (time never goes back).
        """
        with self.lock:
            old = self.world
            old.dead = True
            for call in old.calls.values():
                self.signal(call, "hangup", "reset")
            self.clock.release(old)
            self.world = self._new_world()
            self.clock.set_mode(*self._clock_default)
            self.cond.notify_all()

    def _busy(self, world: World) -> int:
        """What settle waits for: in-flight work, less (in manual mode, where time stands
        still) the timed waits (lock held)."""
        timed = self.clock.pending(world) if self.clock.mode == "manual" else 0
        return world.in_flight - timed

    def settle(self, timeout: float = 10.0) -> bool:
        """Block until nothing is in flight for a quiet window (~50 ms real).

        In flight: webhooks and callbacks being sent or queued, REST requests
        being handled, and calls ringing or running TwiML (Say/Play/Pause).
        Calls idle in a conference or bridge are not. In ``auto`` clock mode
        timed waits take no wall time; in ``manual`` mode they do not count
        (nothing moves until :meth:`advance`).

        Args:
            timeout: Real seconds to wait at most.

        Returns:
            True if settled, False on timeout.
        """
        deadline = time.monotonic() + timeout
        with self.cond:
            mark, quiet_since = None, 0.0
            while True:
                now = time.monotonic()
                world = self.world
                busy = self._busy(world)
                if busy == 0 and mark == world.activity:
                    if now - quiet_since >= QUIET_WINDOW:
                        return True
                elif busy == 0:
                    mark, quiet_since = world.activity, now
                else:
                    mark = None
                if now >= deadline:
                    return False
                self.cond.wait(min(QUIET_WINDOW, deadline - now))

    def in_flight(self) -> int:
        """How many things are in flight now."""
        with self.lock:
            return self.world.in_flight

    # ---- clock control --------------------------------------------------------------

    def _autopilot(self) -> None:
        """Auto mode (lock held): while the world's only work in flight is timed waits
        (no webhook, callback or REST request), jump to the earliest timer's deadline."""
        clock = self.clock
        while clock.mode == "auto":
            world = self.world
            timed = clock.pending(world)
            if timed == 0 or world.in_flight > timed:
                return
            clock.advance_to(clock.next_deadline())

    def clock_view(self) -> dict[str, Any]:
        """``{"mode", "now" (simulated epoch seconds), "speed", "pending" (timers)}``."""
        return self.clock.view()

    def set_clock(self, mode: str | None = None, speed: float | None = None) -> dict[str, Any]:
        """Switch the clock to ``mode`` ("real", "manual", "auto") and/or ``speed``.

        Raises:
            ApiError: 20001 for an unknown mode or a speed that is not positive.
        """
        with self.lock:
            try:
                self.clock.set_mode(mode, speed)
            except ValueError as exc:
                raise ApiError(20001, str(exc)) from None
            self._autopilot()
            return self.clock.view()

    def advance(self, seconds: float, timeout: float = 30.0) -> bool:
        """Move simulated time forward ``seconds``, firing every timer due on the way in
        deadline order, and after each one waiting until what it set off (webhooks,
        callbacks, TwiML up to its next timed step) is done.

        Args:
            seconds: Simulated seconds, >= 0.
            timeout: Real seconds to wait at most, in all.

        Returns:
            True if it got there with nothing left in flight but timed waits;
            False if ``timeout`` ran out first.
        """
        limit = time.monotonic() + timeout
        with self.cond:
            target = self.clock.now() + seconds
            while self._quiesce(limit):
                deadline = self.clock.next_deadline()
                if deadline is None or deadline > target:
                    self.clock.advance_to(target)
                    return self._quiesce(limit)
                self.clock.advance_to(deadline)
            return False

    def _quiesce(self, limit: float) -> bool:
        """Wait (lock held) until nothing but timed waits is in flight, or real time ``limit``."""
        while True:
            world = self.world
            if world.in_flight <= self.clock.pending(world):
                return True
            remaining = limit - time.monotonic()
            if remaining <= 0:
                return False
            self.cond.wait(remaining)

    # ---- chaos and expectations -------------------------------------------------------

    def set_chaos(self, repeat: int = 1, shuffle: bool = False,
                  seed: int | None = None) -> dict[str, Any]:
        """Repeat (and maybe shuffle) call status callbacks; see ``chaos.configure``."""
        with self.lock:
            return chaos.configure(self.world, repeat, shuffle, seed)

    def chaos_view(self) -> dict[str, Any]:
        """``{"repeat", "shuffle", "seed"}``."""
        with self.lock:
            return chaos.view(self.world)

    def expect(self, allowed: list[str] | None) -> dict[str, Any]:
        """Allow calls only to the ``allowed`` numbers (E.164), or to any number if None.

        A call to any other number (Calls API, Participants API, <Dial>, or a
        Proxy connection) fails, and an "unexpected-call" error names it.
        """
        with self.lock:
            self.world.expected = None if allowed is None else frozenset(allowed)
            return self.expect_view()

    def expect_view(self) -> dict[str, Any]:
        """``{"numbers": [E.164, ...] or None}``."""
        with self.lock:
            expected = self.world.expected
            return {"numbers": None if expected is None else sorted(expected)}

    def expects(self, world: World, number: str) -> bool:
        """True if the app may call ``number`` (lock held)."""
        return world.expected is None or number in world.expected
