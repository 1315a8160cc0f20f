"""Voices, languages and the limits Twilio puts on what `<Say>` and `<Play>` accept.

Follows twilio.com/docs/voice/twiml/say (text limits per voice family) and
twilio.com/docs/voice/twiml/play (an absolute audio URL).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

#: Voices offered in the chat page, by language (BCP 47 tag as Twilio's `language`).
VOICES: dict[str, list[str]] = {
    "ja-JP": ["Polly.Mizuki", "Polly.Takumi", "Polly.Kazuha-Neural", "Google.ja-JP-Standard-A", "Google.ja-JP-Standard-C"],
    "en-US": ["Polly.Joanna", "Polly.Matthew", "Google.en-US-Standard-C", "alice"],
    "en-GB": ["Polly.Amy", "Polly.Brian", "Google.en-GB-Standard-A"],
}

#: Each voice as the page shows it: its name and whether it sounds female or male.
VOICE_NAMES = {
    "Polly.Mizuki": "Mizuki (female)", "Polly.Takumi": "Takumi (male)", "Polly.Kazuha-Neural": "Kazuha (female, natural)",
    "Google.ja-JP-Standard-A": "Google A (female)", "Google.ja-JP-Standard-C": "Google C (male)",
    "Polly.Joanna": "Joanna (female)", "Polly.Matthew": "Matthew (male)", "Google.en-US-Standard-C": "Google C (female)",
    "alice": "Alice (female, basic)", "Polly.Amy": "Amy (female)", "Polly.Brian": "Brian (male)",
    "Google.en-GB-Standard-A": "Google A (female)",
}
#: Each language of `VOICES` as the page shows it.
LANGUAGE_NAMES = {"ja-JP": "Japanese", "en-US": "English (US)", "en-GB": "English (UK)"}
#: How fast `<Say>` speaks: SSML `<prosody rate>` (twilio.com/docs/voice/twiml/say/text-speech#prosody),
#: as the page shows it. Only Amazon Polly and Google voices read SSML; the basic voices speak at their own pace.
RATES = {"x-slow": "Very slow", "slow": "Slow", "medium": "Normal", "fast": "Fast", "x-fast": "Very fast"}

#: What the other side hears about the typing, by the room's language (its primary subtag; English
#: otherwise): `connect` when a call from the chat is answered, `typing` while the typist types.
#: The CONNECT_NOTICE and TYPING_NOTICE settings, when set, replace them in every language.
NOTICES = {
    "connect": {"ja": "この通話では、入力した文字を読み上げてお伝えします。入力しますので、少々お待ちください。",
                "en": "This call uses typed messages read aloud. Please wait while I type."},
    "typing": {"ja": "ただいま入力しています。少々お待ちください。", "en": "I am typing a reply. Please wait a moment."},
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
        raise InvalidMessage("Type something to say first: the message is empty.")
    limit = say_limit(voice)
    if len(text) > limit:
        raise InvalidMessage(
            f"The message is {len(text)} characters long; the voice {voice} can say at most {limit}. "
            "Split it into shorter messages."
        )
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
        raise InvalidMessage("Give the https address of an audio file to play.")
    try:
        parts = urlsplit(url)
        full = parts.scheme == "https" and parts.hostname and (parts.port or 443)  # ValueError: malformed host/port
    except ValueError:
        full = False
    if not full or any(char.isspace() or ord(char) < 32 for char in url):
        raise InvalidMessage("The audio address must be a full https:// URL, e.g. https://example.com/hello.mp3.")
    if len(url) > PLAY_URL_LIMIT:
        raise InvalidMessage(f"The audio address is longer than {PLAY_URL_LIMIT} characters.")
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
        raise InvalidMessage(f"Language {language!r} is not offered; choose one of {', '.join(VOICES)}.")
    if voice not in VOICES[language]:
        raise InvalidMessage(f"Voice {voice!r} does not speak {language}; choose one of {', '.join(VOICES[language])}.")
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
        raise InvalidMessage(f"Speed {rate!r} is not offered; choose one of {', '.join(RATES)}.")
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
        raise InvalidMessage("Keys are 1 to 32 of 0-9, * and #, with w (half a second's pause) or W (a second).")
    return digits


def notice(kind: str, language: str, setting: str = "") -> str:
    """The `kind` notice (`connect` or `typing`, see `NOTICES`) for a room speaking `language` (e.g. `ja-JP`).

    Returns:
        `setting` (CONNECT_NOTICE or TYPING_NOTICE) if it is set, else the text in that language, else in English.
    """
    texts = NOTICES[kind]
    return setting or texts.get(language.split("-", 1)[0].lower(), texts["en"])
