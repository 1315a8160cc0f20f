"""Jobs that place call attempts, hang them up, and report a call's outcome.

Attempts follow twilio.com/docs/voice/api/call-resource#create-a-call-resource (a call
with a message) and twilio.com/docs/voice/api/conference-participant-resource (a call
into a room), with status callbacks for initiated, ringing, answered and completed,
and answering machine detection (twilio.com/docs/voice/answering-machine-detection).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from datetime import timedelta
from typing import Any

import requests
from rq import Queue, Retry
from twilio.base.exceptions import TwilioRestException

from callchat import api_tokens, calls, numbers, rooms, status_callback, timeline, urls
from callchat.i18n import stored
from callchat.twiml import CONFERENCE_EVENTS
from callchat.twilio_client import retry_after
from jobs import CALL_EVENTS, backoff, config, queue, state, twilio

log = logging.getLogger(__name__)

#: Retries of the outcome webhook to a caller's system (seconds between tries).
#: An unanswered call's reason, once every attempt went unanswered (the page lists the attempts, and shows it
#: in the reader's language: `i18n.stored`).
NOBODY_ANSWERED = stored("nobody answered")
NOTIFY_RETRY = Retry(max=5, interval=[5, 30, 120, 600, 1800])


def attempt_job_id(call_id: str, n: int) -> str:
    """The RQ job id of attempt `n`: enqueueing it twice keeps one job."""
    return f"attempt-{call_id}-{n}"


def dial_entry(call_id: str) -> str:
    """The participant key (and Twilio participant label) of a call into a room."""
    return f"dial-{call_id}"


def _dial_fields(call: dict[str, Any]) -> dict[str, Any]:
    """What every dial entry shows besides its progress: who is called, and by which call."""
    return {"label": call["to"], "dial_id": call["id"], "max_attempts": call["max_attempts"]}


def update_dial_entry(r, call: dict[str, Any], **fields: Any) -> None:
    """Show a call-into-a-room's progress on the room page (no-op for calls with a message)."""
    if call.get("room"):
        rooms.upsert_participant(r, call["room"], dial_entry(call["id"]), number=call["to"], **_dial_fields(call),
                                 **fields)


def note_outcome(r, call: dict[str, Any], outcome: str, attempts: int) -> None:
    """Put a call-into-a-room's outcome (`calls.OUTCOMES`) after `attempts` attempts on the room's timeline."""
    if call.get("room"):
        timeline.record(r, call["room"], "call-outcome", number=numbers.redact(call["to"]), outcome=outcome,
                        attempts=attempts, call_id=call["id"])


def place_attempt(call_id: str, n: int, tries: int = 0) -> str | None:
    """Place attempt `n` of a call: a fresh Twilio call from TWILIO_PHONE_NUMBER.

    Safe to run twice: the attempt is claimed once in Redis before Twilio is asked. When
    Twilio answers 429 or 5xx, or does not answer (timeout, dropped connection), the same
    attempt is tried again later (`jobs.backoff`) for as long as the call is pending; a
    request that may have reached Twilio is first reconciled (`_placed_already`), so that
    nobody is called twice for one attempt. Any other 4xx ends the attempt with Twilio's code.

    Args:
        call_id: the call (32 hex).
        n: the attempt number, from 1.
        tries: requests already made for this attempt that got no usable answer (0 the first time).

    Returns:
        The attempt's CallSid (`CA…`), or None if it was not placed (already placed,
        call over, hourly cap reached, Twilio refused it, or it is to be tried again).
    """
    cfg = config()
    r = state(cfg)
    claim = calls.claim_attempt(r, call_id, n) if tries == 0 else _still_placing(r, call_id, n)
    if claim != "ok":
        log.info("attempt %s of call %s not placed: %s", n, call_id, claim)
        return None
    call = calls.get(r, call_id)
    if call["room"] and (rooms.get(r, call["room"]) or {}).get("status") != "live":
        calls.skip_attempt(r, call_id, n, "The room's call has ended.")
        after_attempt(r, queue(cfg), cfg, call_id, n, unanswered=False, give_up="the room's call ended")
        return None
    if tries == 0 and calls.count_destination(r, call["to"]) > int(cfg["DESTINATION_CALLS_PER_HOUR"]):
        log.info("attempt %s of call %s not placed: over DESTINATION_CALLS_PER_HOUR", n, call_id)
        calls.skip_attempt(r, call_id, n, f"{call['to']} was called too often in the last hour; try again later.")
        after_attempt(r, queue(cfg), cfg, call_id, n, unanswered=False, give_up="the hourly call limit was reached")
        return None
    client = twilio(cfg)
    try:
        call_sid = _placed_already(cfg, r, call, n) if tries else None
        if call_sid is None:
            call_sid = _create(cfg, call, n)
    except Exception as exc:  # noqa: BLE001 (sorted by backoff.transient; anything else is re-raised)
        if backoff.transient(exc):
            wait = backoff.delay(tries + 1, retry_after(client))
            log.warning("attempt %s of call %s to %s: no usable answer from Twilio (%s); trying again in %.1f s",
                        n, call_id, numbers.redact(call["to"]), _describe(exc), wait)
            queue(cfg).enqueue_in(timedelta(seconds=wait), place_attempt, call_id, n, tries + 1)
            return None
        if not isinstance(exc, TwilioRestException):
            raise
        log.warning("Twilio refused attempt %s of call %s to %s: %s %s", n, call_id, numbers.redact(call["to"]), exc.code,
                    numbers.redact_text(exc.msg))
        calls.skip_attempt(r, call_id, n, exc.msg, exc.code or "")
        after_attempt(r, queue(cfg), cfg, call_id, n, unanswered=False, give_up=f"Twilio refused the call ({exc.code})")
        return None
    calls.placed(r, call_id, n, call_sid)
    # Twilio may have answered slowly: the callee may have joined already (participant-join said so).
    update_dial_entry(r, call, unless_status=frozenset({"in the call"}), status="dialing", attempt=n, next_try_at="",
                      call_sid_live=call_sid)
    log.info("attempt %s/%s of call %s to %s placed: CallSid %s", n, call["max_attempts"], call_id,
             numbers.redact(call["to"]), call_sid)
    return call_sid


def _describe(exc: BaseException) -> str:
    """A short account of a failed request: Twilio's status and code, or the network error's class."""
    if isinstance(exc, TwilioRestException):
        return f"HTTP {exc.status}, code {exc.code}"
    return type(exc).__name__


def _still_placing(r, call_id: str, n: int) -> str:
    """For a retry of attempt `n`: `ok` if it is still being placed, else why not (`closed`, `taken`)."""
    call = calls.get(r, call_id)
    if call is None or call["outcome"] != "pending":
        return "closed"
    found = calls.attempt(r, call_id, n) or {}
    return "ok" if found.get("status") == "placing" else "taken"


def _create(cfg: dict[str, Any], call: dict[str, Any], n: int) -> str:
    """Ask Twilio to place attempt `n` (a participant into the call's room, or a call with a message); its CallSid."""
    base, call_id = cfg["PUBLIC_BASE_URL"], call["id"]
    common = {
        "from_": cfg["TWILIO_PHONE_NUMBER"], "to": call["to"], "timeout": call["ring_timeout"],
        "status_callback": urls.absolute(base, urls.ATTEMPT_STATUS, call_id=call_id, n=n),
        "status_callback_method": "POST", "status_callback_event": CALL_EVENTS,
    }
    if call["machine"] != "accept":
        common["machine_detection"] = "DetectMessageEnd" if call["machine"] == "leave_message" else "Enable"
    if call["room"]:
        return twilio(cfg).conferences(call["room"]).participants.create(
            label=dial_entry(call_id), beep="false", end_conference_on_exit=False,
            amd_status_callback=urls.absolute(base, urls.ATTEMPT_AMD, call_id=call_id, n=n),
            conference_status_callback=urls.absolute(base, urls.CONFERENCE_STATUS),
            conference_status_callback_event=CONFERENCE_EVENTS.split(), **common).call_sid
    return twilio(cfg).calls.create(url=urls.absolute(base, urls.ATTEMPT_TWIML, call_id=call_id, n=n),
                                    method="POST", **common).sid


#: Seconds of clock difference tolerated between callchat and Twilio when matching a call to an attempt.
CLOCK_SKEW = 60


def _placed_already(cfg: dict[str, Any], r, call: dict[str, Any], n: int) -> str | None:
    """Find the Twilio call an earlier, unanswered request for attempt `n` may have placed.

    Lists the calls from TWILIO_PHONE_NUMBER to the attempt's number
    (twilio.com/docs/voice/api/call-resource#read-multiple-call-resources, `To`, `From`)
    and takes one created since the attempt was requested that no other attempt of this
    call owns.

    Returns:
        Its CallSid, or None if Twilio placed nothing for this attempt.

    Raises:
        TwilioRestException, requests.RequestException: the list itself failed (retried like the create).
    """
    attempt = calls.attempt(r, call["id"], n) or {}
    since = float(attempt.get("requested_at") or 0) - CLOCK_SKEW
    owned = {a.get("call_sid") for a in calls.attempts(r, call["id"])} - {None, ""}
    for found in twilio(cfg).calls.list(to=call["to"], from_=cfg["TWILIO_PHONE_NUMBER"], limit=50):
        created = found.date_created.timestamp() if found.date_created else 0
        if created >= since and found.sid not in owned:
            log.info("attempt %s of call %s: Twilio had placed it (CallSid %s) although its answer was lost",
                     n, call["id"], found.sid)
            return found.sid
    return None


def after_attempt(r, q: Queue, cfg: dict[str, Any], call_id: str, n: int, unanswered: bool,
                  give_up: str = "", reached: str = "") -> None:
    """Decide what follows attempt `n` once it has ended (called once per attempt).

    Args:
        r: Redis client (decoded).
        q: the RQ queue, to schedule the next attempt with `enqueue_in`.
        cfg: settings.
        call_id, n: the attempt that ended.
        unanswered: busy, no-answer, failed, canceled, or a machine when `machine=retry`.
        give_up: stop trying now, with this reason.
        reached: the outcome when the person (or their voicemail) was reached.
    """
    call = calls.get(r, call_id)
    if call is None or call["outcome"] != "pending":
        return
    retention = int(cfg["CALL_RETENTION_SECONDS"])
    if reached:
        if calls.finish(r, call_id, reached, f"answered on attempt {n}", retention):
            note_outcome(r, call, reached, n)
            notify(q, call)
        return
    if unanswered and not give_up and n < call["max_attempts"]:
        at = time.time() + call["retry_delay"]
        if calls.schedule_next(r, call_id, n + 1, at):
            q.enqueue_in(timedelta(seconds=call["retry_delay"]), place_attempt, call_id, n + 1,
                         job_id=attempt_job_id(call_id, n + 1))
            update_dial_entry(r, call, status="no answer", attempt=n, next_try_at=at)
            log.info("call %s: attempt %s unanswered; attempt %s in %s s", call_id, n, n + 1, call["retry_delay"])
        return
    reason = give_up or NOBODY_ANSWERED
    if calls.finish(r, call_id, "not reached", reason, retention):
        update_dial_entry(r, call, status="not reached", attempt=n, next_try_at="")
        note_outcome(r, call, "not reached", n)
        notify(q, call)


def notify(q: Queue, call: dict[str, Any]) -> None:
    """Enqueue `notify_outcome` for a call whose outcome was just decided, if it asked for one."""
    if call.get("status_callback"):
        q.enqueue(notify_outcome, call["id"], retry=NOTIFY_RETRY)


def sign(body: bytes, token: str) -> str:
    """HMAC-SHA256 of a webhook body under `token`, hex: the `X-Callchat-Signature` header (RFC 2104).

    `token` is API_TOKEN, or for a call placed with an API token, that token's SHA-256 in hex
    (`api_tokens.signing_key`).
    """
    return hmac.new(token.encode(), body, hashlib.sha256).hexdigest()


def notify_outcome(call_id: str) -> int | None:
    """POST a call's final record as JSON to its `status_callback`, signed with `X-Callchat-Signature`.

    The URL is checked again first (`callchat.status_callback.check`: its host may resolve
    elsewhere by now); a refused one is logged as a warning and not posted to. Redirects
    are not followed: a 3xx answer is logged and kept as the answer.

    Returns:
        The HTTP status the receiver answered, or None if the call has no status_callback
        or it was refused.

    Raises:
        requests.RequestException: the receiver could not be reached or answered 4xx/5xx (RQ retries).
        LookupError: the API token that placed the call is gone from Redis, so there is no key to sign with.
    """
    cfg = config()
    r = state(cfg)
    record = calls.view(r, call_id)
    if record is None or not record["status_callback"]:
        return None
    try:
        status_callback.check(record["status_callback"], cfg["STATUS_CALLBACK_ALLOW_PRIVATE"])
    except status_callback.RefusedURL as exc:
        log.warning("call %s: outcome not posted to its status_callback: %s", call_id, exc)
        return None
    body = json.dumps(record, ensure_ascii=False, sort_keys=True).encode()
    key = api_tokens.signing_key(r, record["api_token"]) if record.get("api_token") else cfg["API_TOKEN"]
    response = requests.post(record["status_callback"], data=body, timeout=10, allow_redirects=False, headers={
        "Content-Type": "application/json", "X-Callchat-Signature": sign(body, key)})
    response.raise_for_status()
    if response.is_redirect:
        log.warning("call %s: the status_callback answered %s; redirects are not followed", call_id,
                    response.status_code)
    return response.status_code


def hang_up(call_sid: str) -> None:
    """End a Twilio call: cancel it if it has not been answered, else complete it.

    Args:
        call_sid: the call (`CA…`).
    """
    cfg = config()
    call = twilio(cfg).calls(call_sid)
    try:
        status = call.fetch().status
        if status in calls.TERMINAL:
            return
        call.update(status="canceled" if status in ("queued", "ringing") else "completed")
    except TwilioRestException as exc:
        if exc.status != 404:
            raise
        log.info("call %s already gone", call_sid)


def start_call(r, q: Queue, request: dict[str, Any], cfg: dict[str, Any]) -> dict[str, Any]:
    """Store a validated call request and enqueue its first attempt now.

    A call into a room first takes the number's place on the room page, atomically
    (`rooms.add_dialed`), so one number is never called into a room twice at once.

    Args:
        r: Redis client (decoded).
        q: the RQ queue.
        request: the output of `callchat.calls.validate`.
        cfg: settings.

    Returns:
        The call as `callchat.calls.view` shows it.

    Raises:
        calls.InvalidCall: (409) the number is already in the room, or being called into it;
            nothing is stored and no call is placed.
    """
    call_id = calls.new_id()
    if request["room"]:
        there = rooms.add_dialed(r, request["room"], dial_entry(call_id), request["to"],
                                 **_dial_fields(dict(request, id=call_id)), status="dialing", attempt=1, next_try_at="")
        if there and there.get("status") == "in the call":
            raise calls.InvalidCall(f"{request['to']} is already in this call.", 409)
        if there:
            raise calls.InvalidCall(f"{request['to']} is already being called into this call ({there.get('status')}).", 409)
    span = request["max_attempts"] * (request["retry_delay"] + request["ring_timeout"] + 3600)
    call = calls.create(r, request, span + int(cfg["CALL_RETENTION_SECONDS"]), call_id)
    q.enqueue(place_attempt, call["id"], 1, job_id=attempt_job_id(call["id"], 1))
    return calls.view(r, call["id"])


def cancel_call(r, q: Queue, call_id: str, cfg: dict[str, Any]) -> bool:
    """Cancel a call's pending attempts; an attempt still ringing is canceled at Twilio.

    A person already connected stays connected: only attempts not yet answered are stopped.

    Returns:
        True if the call was pending and is now cancelled.
    """
    if not calls.finish(r, call_id, "cancelled", "cancelled by request", int(cfg["CALL_RETENTION_SECONDS"])):
        return False
    for attempt in calls.attempts(r, call_id):
        if attempt.get("call_sid") and attempt["status"] in ("placing", "queued", "initiated", "ringing"):
            q.enqueue(hang_up, attempt["call_sid"])
    call = calls.get(r, call_id)
    update_dial_entry(r, call, status="cancelled", next_try_at="")
    note_outcome(r, call, "cancelled", int(call.get("attempts_made") or 0))
    notify(q, call)
    return True
