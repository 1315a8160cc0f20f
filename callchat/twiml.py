"""TwiML that callchat returns to Twilio, built with `VoiceResponse` (pure functions).

Follows twilio.com/docs/voice/twiml/say, /play, /dial and /conference.
"""

from __future__ import annotations

from typing import Any, Mapping

from twilio.twiml.voice_response import Dial, VoiceResponse
from callchat.voices import notice, reads_ssml

#: Hold music: a track from the bucket Twilio's own hold-music twimlet plays
#: (twilio.com/labs/twimlets/holdmusic, Bucket=com.twilio.music.classical).
HOLD_MUSIC = "https://com.twilio.music.classical.s3.amazonaws.com/BusyStrings.mp3"

#: Seconds of silence after each pass of the hold music of a caller waiting for an operator.
WAIT_AFTER_MUSIC = 1

#: The participant label of the caller who opened a room.
CALLER_LABEL = "caller"

#: The conference events a room listens to (space separated, as `<Conference>` takes them).
CONFERENCE_EVENTS = "start end join leave announcement"


def answer(greeting: str, voice: str, language: str, wait_url: str) -> VoiceResponse:
    """TwiML for an incoming call: a short greeting, then the room's silent waiting loop.

    Args:
        greeting: text said first; nothing is said when empty.
        voice, language: `<Say>` voice and language, e.g. `Polly.Mizuki`, `ja-JP`.
        wait_url: absolute URL of the room's waiting loop (`urls.WAIT`).

    Returns:
        `<Response><Say/>?<Redirect method="POST">wait_url</Redirect></Response>`.
    """
    response = VoiceResponse()
    if greeting:
        response.say(greeting, voice=voice, language=language)
    response.redirect(wait_url, method="POST")
    return response


def wait(seconds: int, wait_url: str) -> VoiceResponse:
    """TwiML that keeps a lone caller on the line in silence until callchat redirects the call.

    A call whose TwiML runs out hangs up (twilio.com/docs/voice/twiml), so the call
    pauses and comes back; a message is delivered by modifying the live call
    (twilio.com/docs/voice/api/call-resource#update-a-call-resource), which interrupts
    the pause at once. No conference: a lone conference participant hears hold music.

    Args:
        seconds: length of each `<Pause>`.
        wait_url: absolute URL of this loop (`urls.WAIT`).

    Returns:
        `<Response><Pause length=seconds/><Redirect method="POST">wait_url</Redirect></Response>`.
    """
    response = VoiceResponse()
    response.pause(length=seconds)
    response.redirect(wait_url, method="POST")
    return response


def speak(message: Mapping[str, Any], spoken_url: str) -> VoiceResponse:
    """TwiML that says (or plays) one message to a lone caller, then reports it spoken.

    Args:
        message: a stored message, as for :func:`announcement`.
        spoken_url: absolute URL whose fetch marks the message spoken (`urls.SPOKEN`).

    Returns:
        `<Response><Say …>text</Say> or <Play>url</Play><Redirect method="POST">spoken_url</Redirect></Response>`.
    """
    response = announcement(message)
    response.redirect(spoken_url, method="POST")
    return response


def conference(room_id: str, status_callback: str) -> VoiceResponse:
    """TwiML that moves the caller into their room's conference (a second phone party answered).

    The caller's leaving ends the conference (`endConferenceOnExit`), so the room ends
    with the call even when the owner still listens.

    Args:
        room_id: the conference FriendlyName (the caller's CallSid).
        status_callback: absolute URL of the conference status callback.

    Returns:
        `<Response><Dial><Conference …>room_id</Conference></Dial></Response>`.
    """
    response = VoiceResponse()
    dial = Dial()
    dial.conference(
        room_id,
        start_conference_on_enter=True,
        end_conference_on_exit=True,
        beep=False,
        participant_label=CALLER_LABEL,
        status_callback=status_callback,
        status_callback_method="POST",
        status_callback_event=CONFERENCE_EVENTS,
    )
    response.append(dial)
    return response


def announcement(message: Mapping[str, Any]) -> VoiceResponse:
    """TwiML that Twilio fetches from a conference's AnnounceUrl to speak one message.

    Args:
        message: a stored message: `kind` (`say`|`play`|`digits`), `body` (text, https URL or digits),
            `voice`, `language`, `rate` (`voices.RATES`; "" or `medium`: the voice's own pace).

    A `digits` message is `<Play digits>` (twilio.com/docs/voice/twiml/play#attributes-digits):
    DTMF tones, as if the keys were pressed on the call.

    Returns:
        `<Response><Say voice language>text</Say></Response>` (`<Say><prosody rate>text</prosody></Say>` at
        another rate, for a voice that reads SSML), `<Response><Play>url</Play></Response>`
        or `<Response><Play digits="123#"/></Response>`.
    """
    response = VoiceResponse()
    rate = message.get("rate") or "medium"
    if message["kind"] == "digits":
        response.play(digits=message["body"])
    elif message["kind"] == "play":
        response.play(message["body"])
    elif rate != "medium" and reads_ssml(message["voice"]):
        response.say(voice=message["voice"], language=message["language"]).prosody(message["body"], rate=rate)
    else:
        response.say(message["body"], voice=message["voice"], language=message["language"])
    return response


def hold(seconds: int, hold_url: str) -> VoiceResponse:
    """Hold music: the HoldUrl of a held conference participant, and a held lone caller's loop.

    Only `<Play>`, `<Pause>` and `<Redirect>`, which a HoldUrl's TwiML may hold
    (twilio.com/docs/voice/api/conference-participant-resource#update-a-participant-resource).

    Args:
        seconds: the `<Pause>` after each pass of the music.
        hold_url: absolute URL of this TwiML (`urls.HOLD`), fetched again after the pause.

    Returns:
        `<Response><Play>HOLD_MUSIC</Play><Pause length=seconds/><Redirect method="POST">hold_url</Redirect></Response>`.
    """
    response = VoiceResponse()
    response.play(HOLD_MUSIC)
    response.pause(length=seconds)
    response.redirect(hold_url, method="POST")
    return response


def queue_wait(said: list[str], voice: str, language: str, seconds: int, music: bool, queue_url: str) -> VoiceResponse:
    """TwiML for a caller waiting for an operator (`callchat.routing`): what they are told, then hold music or
    silence, then the same URL again, which tells their new place (twilio.com/docs/voice/twiml/redirect).

    A message interrupts it at once by modifying the call, as the waiting loop (`wait`).

    Args:
        said: sentences to `<Say>` first (the busy notice, their place in the queue), maybe none.
        voice, language: the room's `<Say>` voice and language.
        seconds: the `<Pause>` before coming back (QUEUE_ANNOUNCE_SECONDS, or what is left of
            QUEUE_TIMEOUT_SECONDS); music: `<Play>` HOLD_MUSIC first (QUEUE_ANNOUNCE_SECONDS is 0).
        queue_url: absolute URL of this TwiML (`urls.QUEUE`).
    """
    response = VoiceResponse()
    for sentence in said:
        response.say(sentence, voice=voice, language=language)
    if music:
        response.play(HOLD_MUSIC)
    response.pause(length=max(1, seconds))
    response.redirect(queue_url, method="POST")
    return response


def voicemail(prompt: str, voice: str, language: str, max_seconds: int, action: str, recording_status: str,
              transcribed: str) -> VoiceResponse:
    """TwiML that asks a caller nobody answered to leave a message, and records it.

    Follows twilio.com/docs/voice/twiml/record: `action` gets RecordingUrl, RecordingDuration and
    RecordingSid when the recording ends (silence for `timeout` seconds, `#`, or `maxLength`);
    `recordingStatusCallback` when the recording is ready; `transcribeCallback` with
    TranscriptionText when Twilio has transcribed it.

    Args:
        prompt: what is said before the beep; voice, language: the room's `<Say>` voice and language.
        max_seconds: `maxLength` (VOICEMAIL_MAX_SECONDS).
        action, recording_status, transcribed: absolute URLs (`urls.RECORDED`, `urls.RECORDING_STATUS`,
            `urls.TRANSCRIBED`).
    """
    response = VoiceResponse()
    response.say(prompt, voice=voice, language=language)
    response.record(action=action, method="POST", max_length=max_seconds, timeout=5, finish_on_key="#", play_beep=True,
                    recording_status_callback=recording_status, recording_status_callback_method="POST",
                    recording_status_callback_event="completed", transcribe=True, transcribe_callback=transcribed)
    response.hangup()
    return response


def goodbye(said: str, voice: str, language: str) -> VoiceResponse:
    """`<Response><Say>said</Say><Hangup/></Response>`: the last words of a call."""
    response = VoiceResponse()
    response.say(said, voice=voice, language=language)
    response.hangup()
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


def hang_up() -> VoiceResponse:
    """`<Response><Hangup/></Response>`: for a call whose room is over."""
    response = VoiceResponse()
    response.hangup()
    return response


def silence() -> VoiceResponse:
    """`<Response/>`: an AnnounceUrl fetched again, whose message already went out (spoken at most once)."""
    return VoiceResponse()


def not_connected(voice: str, language: str) -> VoiceResponse:
    """TwiML for a call to a masked number that belongs to no live session: a polite sentence in `language`
    (`voices.NOTICES["not_connected"]`), then hang up."""
    response = VoiceResponse()
    response.say(notice("not_connected", language), voice=voice, language=language)
    response.hangup()
    return response
