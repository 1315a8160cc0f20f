"""TwiML that callchat returns to Twilio, built with `VoiceResponse` (pure functions).

Follows twilio.com/docs/voice/twiml/say, /play, /dial and /conference.
"""

from __future__ import annotations

from typing import Any, Mapping

from twilio.twiml.voice_response import Dial, VoiceResponse

#: Said to someone who calls a masked number outside a live session.
NOT_CONNECTED = {
    "ja-JP": "申し訳ございません。この番号は現在ご利用いただけません。メッセージをご利用ください。",
    "en-US": "Sorry, this number cannot connect your call right now. Please use messages instead.",
}

#: The conference events a room listens to (space separated, as `<Conference>` takes them).
CONFERENCE_EVENTS = "start end join leave announcement"


def join_room(room_id: str, greeting: str, voice: str, language: str, status_callback: str) -> VoiceResponse:
    """TwiML for an incoming call: a short greeting, then the caller joins their room.

    The caller's leaving ends the conference (`endConferenceOnExit`), so the room ends
    with the call even when the owner still listens.

    Args:
        room_id: the conference FriendlyName (the call's CallSid).
        greeting: text said before joining; nothing is said when empty.
        voice, language: `<Say>` voice and language, e.g. `Polly.Mizuki`, `ja-JP`.
        status_callback: absolute URL of the conference status callback.

    Returns:
        `<Response><Say/>?<Dial><Conference …>room_id</Conference></Dial></Response>`.
    """
    response = VoiceResponse()
    if greeting:
        response.say(greeting, voice=voice, language=language)
    dial = Dial()
    dial.conference(
        room_id,
        start_conference_on_enter=True,
        end_conference_on_exit=True,
        beep=False,
        participant_label="caller",
        status_callback=status_callback,
        status_callback_method="POST",
        status_callback_event=CONFERENCE_EVENTS,
    )
    response.append(dial)
    return response


def announcement(message: Mapping[str, Any]) -> VoiceResponse:
    """TwiML that Twilio fetches from a conference's AnnounceUrl to speak one message.

    Args:
        message: a stored message: `kind` (`say`|`play`), `body` (text or https URL),
            `voice`, `language`.

    Returns:
        `<Response><Say voice language>text</Say></Response>` or `<Response><Play>url</Play></Response>`.
    """
    response = VoiceResponse()
    if message["kind"] == "play":
        response.play(message["body"])
    else:
        response.say(message["body"], voice=message["voice"], language=message["language"])
    return response


def connect(callee: str, caller_id: str) -> VoiceResponse:
    """TwiML that connects a masked call: the callee sees `caller_id` (the proxy number), never the caller.

    Args:
        callee: the other party, E.164.
        caller_id: the pool number that was called, E.164.

    Returns:
        `<Response><Dial callerId=caller_id><Number>callee</Number></Dial></Response>`.
    """
    response = VoiceResponse()
    dial = Dial(caller_id=caller_id)
    dial.number(callee)
    response.append(dial)
    return response


def not_connected(voice: str, language: str) -> VoiceResponse:
    """TwiML for a call to a masked number that belongs to no live session: a polite sentence, then hang up."""
    response = VoiceResponse()
    response.say(NOT_CONNECTED.get(language, NOT_CONNECTED["en-US"]), voice=voice, language=language)
    response.hangup()
    return response
