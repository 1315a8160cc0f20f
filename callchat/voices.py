"""Voices, languages and the limits Twilio puts on what `<Say>` and `<Play>` accept.

Follows twilio.com/docs/voice/twiml/say (text limits per voice family) and
twilio.com/docs/voice/twiml/play (an absolute audio URL).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from callchat.i18n import gettext as _, lazy_gettext as N_


#: Voices offered in the chat page, by language (BCP 47 tag as Twilio's `language`).
VOICES: dict[str, list[str]] = {
    "ja-JP": ["Polly.Mizuki", "Polly.Takumi", "Polly.Kazuha-Neural", "Google.ja-JP-Standard-A", "Google.ja-JP-Standard-C"],
    "en-US": ["Polly.Joanna", "Polly.Matthew", "Google.en-US-Standard-C", "alice"],
    "en-GB": ["Polly.Amy", "Polly.Brian", "Google.en-GB-Standard-A"],
}

#: Each voice's name and kind of voice, as the page shows them with its language (`voice_label`).
VOICE_NAMES = {
    "Polly.Mizuki": ("Mizuki", "female"), "Polly.Takumi": ("Takumi", "male"),
    "Polly.Kazuha-Neural": ("Kazuha", "female, natural"), "Google.ja-JP-Standard-A": ("Google A", "female"),
    "Google.ja-JP-Standard-C": ("Google C", "male"), "Polly.Joanna": ("Joanna", "female"),
    "Polly.Matthew": ("Matthew", "male"), "Google.en-US-Standard-C": ("Google C", "female"),
    "alice": ("Alice", "female, basic"), "Polly.Amy": ("Amy", "female"), "Polly.Brian": ("Brian", "male"),
    "Google.en-GB-Standard-A": ("Google A", "female"),
}
#: The kinds of voice of `VOICE_NAMES`, translated when shown.
VOICE_KINDS = {"female": N_("female"), "male": N_("male"), "female, natural": N_("female, natural"),
               "female, basic": N_("female, basic")}
#: Each language of `VOICES` as the page shows it (translated when shown).
LANGUAGE_NAMES = {"ja-JP": N_("Japanese"), "en-US": N_("English (US)"), "en-GB": N_("English (UK)")}
#: How fast `<Say>` speaks: SSML `<prosody rate>` (twilio.com/docs/voice/twiml/say/text-speech#prosody),
#: as the page shows it. Only Amazon Polly and Google voices read SSML; the basic voices speak at their own pace.
RATES = {"x-slow": N_("Very slow"), "slow": N_("Slow"), "medium": N_("Normal"), "fast": N_("Fast"), "x-fast": N_("Very fast")}

#: What callchat itself says on a call, by kind and the call's language (the primary subtag of the room's
#: `language`: `ja-JP` → `ja`; English for any other): one table, read by webhooks and jobs alike, with
#: no request language involved (a room speaks its own language, whatever the typist's page shows).
#:
#: - `greeting`: an incoming call, before it joins its room (the GREETING setting replaces it).
#: - `connect`: a call from the chat is answered (CONNECT_NOTICE replaces it).
#: - `typing`: while the typist types and nothing is queued (TYPING_NOTICE replaces it).
#: - `not_connected`: a call to a masked number outside a live session, before hanging up.
NOTICES = {
    "greeting": {"ja": "お電話ありがとうございます。担当者が文字で応答します。少々お待ちください。",
                 "en": "Thank you for calling. Someone will answer you by typing. Please hold on."},
    "connect": {"ja": "この通話では、入力した文字を読み上げてお伝えします。入力しますので、少々お待ちください。",
                "en": "This call uses typed messages read aloud. Please wait while I type."},
    "typing": {"ja": "ただいま入力しています。少々お待ちください。", "en": "I am typing a reply. Please wait a moment."},
    "not_connected": {"ja": "申し訳ございません。この番号は現在ご利用いただけません。メッセージをご利用ください。",
                      "en": "Sorry, this number cannot connect your call right now. Please use messages instead."},
    # A caller waiting for an operator (callchat.routing): while nobody is free, their place, voicemail.
    "busy": {"ja": "ただいま担当者がすべてふさがっております。このままお待ちください。",
             "en": "All our operators are busy. Please stay on the line."},
    "position": {"ja": "お待ちの方の{n}番目です。", "en": "You are number {n} in the queue."},
    "voicemail": {"ja": "ただいま電話に出ることができません。発信音のあとにご用件をお話しください。折り返しご連絡します。",
                  "en": "Nobody can take your call right now. Please leave a message after the tone, and we will call you back."},
    "recorded": {"ja": "メッセージを承りました。ありがとうございました。", "en": "Thank you. We have your message."},
    "answered": {"ja": "担当者がつながりました。文字で応答しますので、少々お待ちください。",
                 "en": "An operator has answered. They will reply by typing; please wait a moment."},
}

#: Longest `<Say>` text, in characters, per voice family (Twilio's documented limits).
SAY_LIMITS = {"Polly": 3000, "Google": 5000, "basic": 4096}

#: Longest audio URL we accept for `<Play>`, in characters.
PLAY_URL_LIMIT = 2000


#: DTMF keys for `<Play digits>`: 0-9, * and #, with w (0.5 s pause) and W (1 s), at most 32.
DIGITS = re.compile(r"[0-9*#wW]{1,32}")


class InvalidMessage(ValueError):
    """A message that Twilio would refuse or that makes no sense to send; str() reads well to a person."""


def say_limit(voice: str) -> int:
    """Return the longest text, in characters, that `<Say voice=…>` accepts.

    Args:
        voice: a Twilio voice name, e.g. `Polly.Mizuki`, `Google.ja-JP-Standard-A`, `alice`.
    """
    family = voice.split(".", 1)[0] if "." in voice else "basic"
    return SAY_LIMITS.get(family, SAY_LIMITS["basic"])


def check_say(text: str, voice: str) -> str:
    """Validate text to be spoken with `<Say>`.

    Args:
        text: what the person typed.
        voice: the room's voice, which decides the length limit.

    Returns:
        The text with surrounding white space removed.

    Raises:
        InvalidMessage: the text is empty or longer than the voice accepts.
    """
    text = (text or "").strip()
    if not text:
        raise InvalidMessage(_("Type something to say first: the message is empty."))
    limit = say_limit(voice)
    if len(text) > limit:
        raise InvalidMessage(_("The message is %(length)d characters long; the voice %(voice)s can say at most %(most)d. "
                               "Split it into shorter messages.", length=len(text), voice=voice_label(voice), most=limit))
    return text


def check_play(url: str) -> str:
    """Validate an audio URL for `<Play>`.

    Args:
        url: an absolute https URL of an MP3 or WAV file.

    Returns:
        The URL with surrounding white space removed.

    Raises:
        InvalidMessage: the URL is empty, not https, has no host (or a malformed one), holds spaces or
            control characters, or is too long.
    """
    url = (url or "").strip()
    if not url:
        raise InvalidMessage(_("Give the https address of an audio file to play."))
    try:
        parts = urlsplit(url)
        full = parts.scheme == "https" and parts.hostname and (parts.port or 443)  # ValueError: malformed host/port
    except ValueError:
        full = False
    if not full or any(char.isspace() or ord(char) < 32 for char in url):
        raise InvalidMessage(_("The audio address must be a full https:// URL, e.g. https://example.com/hello.mp3."))
    if len(url) > PLAY_URL_LIMIT:
        raise InvalidMessage(_("The audio address is longer than %(most)d characters.", most=PLAY_URL_LIMIT))
    return url


def check_voice(voice: str, language: str) -> tuple[str, str]:
    """Validate a room's voice and language pair.

    Args:
        voice: a Twilio voice name from `VOICES`.
        language: a language tag from `VOICES`, e.g. `ja-JP`.

    Returns:
        `(voice, language)`.

    Raises:
        InvalidMessage: the language is not offered or the voice does not speak it.
    """
    if language not in VOICES:
        raise InvalidMessage(_("Language %(language)r is not offered; choose one of %(offered)s.", language=language,
                               offered=", ".join(VOICES)))
    if voice not in VOICES[language]:
        raise InvalidMessage(_("Voice %(voice)r does not speak %(language)s; choose one of %(offered)s.", voice=voice,
                               language=language, offered=", ".join(VOICES[language])))
    return voice, language


def reads_ssml(voice: str) -> bool:
    """True for Amazon Polly and Google voices, which read SSML such as `<prosody>`; False for the basic ones."""
    return voice.startswith(("Polly.", "Google."))


def check_rate(rate: str) -> str:
    """Validate a speaking rate, one of `RATES`; return it.

    Raises:
        InvalidMessage: any other value.
    """
    if rate not in RATES:
        raise InvalidMessage(_("Speed %(rate)r is not offered; choose one of %(offered)s.", rate=rate, offered=", ".join(RATES)))
    return rate


def check_digits(digits: str) -> str:
    """Validate keys to press on the call's keypad with `<Play digits>` (twilio.com/docs/voice/twiml/play#attributes-digits).

    Args:
        digits: what the person typed or pressed, e.g. `1`, `123#`, `ww3`; spaces and dashes are dropped.

    Returns:
        The digits, e.g. `123#`.

    Raises:
        InvalidMessage: empty, longer than 32, or a character that is not a key (0-9 * #) or a pause (w W).
    """
    digits = re.sub(r"[\s-]", "", digits or "")
    if not DIGITS.fullmatch(digits):
        raise InvalidMessage(_("Keys are 1 to 32 of 0-9, * and #, with w (half a second's pause) or W (a second)."))
    return digits


def notice(kind: str, language: str, setting: str = "") -> str:
    """The `kind` notice (a key of `NOTICES`: `greeting`, `connect`, `typing`, `not_connected`, `busy`,
    `position` (with `{n}` to fill), `voicemail`, `recorded`, `answered`) for a call speaking `language` (e.g. `ja-JP`).

    Returns:
        `setting` (GREETING, CONNECT_NOTICE or TYPING_NOTICE) if it is set, else the text in that
        language, else in English.
    """
    texts = NOTICES[kind]
    return setting or texts.get(language.split("-", 1)[0].lower(), texts["en"])


def voice_label(voice: str) -> str:
    """How the page names `voice` in the request's language, e.g. `Polly.Mizuki` → "Mizuki (Japanese, female)" /
    "Mizuki (日本語, 女性)"; a voice not in `VOICE_NAMES` as its Twilio name."""
    if voice not in VOICE_NAMES:
        return voice
    name, kind = VOICE_NAMES[voice]
    language = next((language for language, offered in VOICES.items() if voice in offered), "")
    return _("%(name)s (%(language)s, %(kind)s)", name=name, language=LANGUAGE_NAMES.get(language, language),
             kind=VOICE_KINDS[kind])


def choices() -> dict[str, dict[str, object]]:
    """The room page's choices in the request's language, as plain strings (the page embeds `voices` as JSON).

    Returns:
        `{"voices": {language: [[voice, voice_label], …]}, "languages": {language: name}, "rates": {rate: name}}`.
    """
    return {"voices": {language: [[voice, voice_label(voice)] for voice in offered] for language, offered in VOICES.items()},
            "languages": {language: str(name) for language, name in LANGUAGE_NAMES.items()},
            "rates": {rate: str(name) for rate, name in RATES.items()}}
