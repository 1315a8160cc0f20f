"""Strict TwiML parsing: XML text in, a list of checked verbs out, or TwimlError."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field

from ..core.latency import SPEECH_SECONDS_PER_CHAR

__all__ = ["Node", "TwimlError", "parse", "parse_document", "parse_events", "say_seconds",
           "seconds", "loops",
           "ANNOUNCEMENT_VERBS", "CALL_EVENTS", "CONFERENCE_EVENTS", "RECORDING_EVENTS",
           "MAX_RECORD_SECONDS"]

# Twilio error codes (twilio.com/docs/api/errors/<code>): 12100 document parse failure,
# 12200 schema validation, 12300 invalid Content-Type, 13238 a verb other than Say, Play,
# Pause or Redirect in waitUrl, holdUrl or announceUrl TwiML.
PARSE_FAILURE = 12100
SCHEMA_VIOLATION = 12200
BAD_CONTENT_TYPE = 12300
INVALID_WAIT_VERB = 13238
PLAY_SECONDS = 2.0  # simulated length of any <Play> audio

_BOOL = {"true", "false"}
_METHOD = {"GET", "POST"}
_INT = re.compile(r"^\d+$")

# Attribute checks: None means any string.
_SAY = {"voice": None, "language": None, "loop": _INT}
_PLAY = {"loop": _INT, "digits": re.compile(r"^[0-9wW*#]+$")}
# SSML <prosody> inside <Say> (twilio.com/docs/voice/twiml/say/text-speech#prosody): rate as a word or 20%-200%.
_PROSODY = {"rate": re.compile(r"^(x-slow|slow|medium|fast|x-fast|([2-9][0-9]|1[0-9][0-9]|200)%)$"),
            "pitch": None, "volume": None}
_PAUSE = {"length": _INT}
_DIAL = {
    "action": None, "method": _METHOD, "timeout": _INT, "callerId": None,
    "hangupOnStar": _BOOL, "timeLimit": _INT, "answerOnBridge": _BOOL,
    "ringTone": None,
    "record": {"do-not-record", "record-from-answer", "record-from-ringing",
               "record-from-answer-dual", "record-from-ringing-dual", "true", "false"},
}
_NUMBER = {
    "sendDigits": None, "url": None, "method": _METHOD, "statusCallback": None,
    "statusCallbackEvent": None, "statusCallbackMethod": _METHOD,
}
_CONFERENCE = {
    "muted": _BOOL, "beep": {"true", "false", "onEnter", "onExit"},
    "startConferenceOnEnter": _BOOL, "endConferenceOnExit": _BOOL,
    "waitUrl": None, "waitMethod": _METHOD, "maxParticipants": _INT,
    "record": {"do-not-record", "record-from-start"}, "region": None,
    "coach": None, "trim": {"trim-silence", "do-not-trim"}, "statusCallback": None,
    "statusCallbackEvent": None, "statusCallbackMethod": _METHOD,
    "participantLabel": None, "jitterBufferSize": {"off", "small", "medium", "large"},
}
_TRANSCRIPTION = {
    "statusCallbackUrl": None, "name": None,
    "track": {"inbound_track", "outbound_track", "both_tracks"},
    "partialResults": _BOOL, "languageCode": None, "inboundTrackLabel": None,
    "outboundTrackLabel": None, "transcriptionEngine": None, "speechModel": None,
    "profanityFilter": _BOOL, "hints": None, "enableAutomaticPunctuation": _BOOL,
    "intelligenceService": None,
}
# <Record> (twilio.com/docs/voice/twiml/record#attributes): maxLength "greater than 1 and
# less than or equal to 14400" (checked in _check_content), finishOnKey "any digit, #, *".
MAX_RECORD_SECONDS = 14400
_RECORD = {
    "action": None, "method": _METHOD, "timeout": _INT,
    "finishOnKey": re.compile(r"^[0-9*#]*$"), "maxLength": _INT, "playBeep": _BOOL,
    "trim": {"trim-silence", "do-not-trim"}, "recordingStatusCallback": None,
    "recordingStatusCallbackMethod": _METHOD, "recordingStatusCallbackEvent": None,
    "transcribe": _BOOL, "transcribeCallback": None,
}

# name -> (attributes, allowed child elements, whether text content is allowed)
_VERBS = {
    "Say": (_SAY, {"prosody": (_PROSODY, True)}, True),
    "Play": (_PLAY, {}, True),
    "Pause": (_PAUSE, {}, False),
    "Dial": (_DIAL, {"Number": (_NUMBER, True), "Conference": (_CONFERENCE, True)}, True),
    "Redirect": ({"method": _METHOD}, {}, True),
    "Hangup": ({}, {}, False),
    "Record": (_RECORD, {}, False),
    "Start": ({}, {"Transcription": (_TRANSCRIPTION, False)}, False),
    "Stop": ({}, {"Transcription": (_TRANSCRIPTION, False)}, False),
}
ANNOUNCEMENT_VERBS = frozenset({"Say", "Play", "Pause", "Redirect"})

CONFERENCE_EVENTS = frozenset(
    {"start", "end", "join", "leave", "mute", "hold", "modify", "speaker", "announcement"})
CALL_EVENTS = frozenset({"initiated", "ringing", "answered", "completed"})
RECORDING_EVENTS = frozenset({"in-progress", "completed", "absent"})


class TwimlError(Exception):
    """A TwiML document the simulator refuses to run.

    Attributes:
        code: Twilio's error code: 12100 (not XML / no <Response>), 12200 (an
            unknown verb, noun, attribute or attribute value), 12300 (not TwiML
            nor audio) or 13238 (a verb an announcement or wait music may not use).
    """

    def __init__(self, message: str, code: int = SCHEMA_VIOLATION) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Node:
    """One TwiML verb or noun.

    Attributes:
        name: Element name, e.g. ``"Say"`` or ``"Conference"``.
        attrs: Its attributes, as written (strings).
        text: Its stripped text content ("" if none).
        children: Nested nouns (``Dial`` > ``Number``, ``Start``/``Stop`` > ``Transcription``).
    """

    name: str
    attrs: dict[str, str] = field(default_factory=dict)
    text: str = ""
    children: tuple["Node", ...] = ()


def parse(xml: str | bytes, *, announcement: bool = False) -> list[Node]:
    """Parse a TwiML document strictly (twilio.com/docs/voice/twiml).

    Args:
        xml: The document, e.g. ``'<Response><Say>Hi</Say></Response>'``.
        announcement: If True, allow only the verbs an announceUrl or waitUrl document
            may use: Say, Play, Pause, Redirect (twilio.com/docs/api/errors/13238).

    Returns:
        The verbs under ``<Response>``, in order.

    Raises:
        TwimlError: Code 12100 if it is not XML or the root is not ``<Response>``;
            code 12200 for any verb, noun, attribute or value outside the set
            the simulator knows; code 13238 for a verb an announcement may not
            use. Nothing is ever skipped silently.
    """
    if isinstance(xml, str):
        xml = xml.encode("utf-8")
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError as exc:
        raise TwimlError(f"Document parse failure: {exc}", PARSE_FAILURE) from None
    if root.tag != "Response":
        raise TwimlError(f"Root element must be <Response>, got <{root.tag}>", PARSE_FAILURE)
    _check_attrs(root, {})
    _check_no_text(root.text, "Response")
    verbs = []
    for element in root:
        _check_no_text(element.tail, "Response")
        if element.tag not in _VERBS:
            raise TwimlError(f"Unknown TwiML verb <{element.tag}>")
        if announcement and element.tag not in ANNOUNCEMENT_VERBS:
            raise TwimlError(f"<{element.tag}> is not allowed in an announcement or wait "
                             "music; only Say, Play, Pause and Redirect are",
                             INVALID_WAIT_VERB)
        verbs.append(_verb(element))
    return verbs


def parse_document(content_type: str, body: str | bytes, url: str | None, *,
                   announcement: bool = False) -> list[Node]:
    """Turn a webhook answer into verbs, as Twilio does for a voice or announce URL.

    Args:
        content_type: The answer's Content-Type header.
        body: The answer's body (bytes as received, or text).
        url: The URL it came from (an audio answer becomes ``<Play>url</Play>``).
        announcement: Passed to :func:`parse`.

    Returns:
        The verbs to run.

    Raises:
        TwimlError: As :func:`parse`, or code 12300 for a Content-Type that is
            neither XML/HTML/plain text nor audio.
    """
    mime = content_type.split(";")[0].strip().lower()
    if mime.startswith("audio/"):
        return [Node("Play", {}, url or "")]
    if mime and mime not in {"text/xml", "application/xml", "text/html", "text/plain"}:
        raise TwimlError(f"Invalid Content-Type {content_type!r}", BAD_CONTENT_TYPE)
    return parse(body, announcement=announcement)


def say_seconds(text: str, per_char: float = SPEECH_SECONDS_PER_CHAR) -> float:
    """Simulated seconds to speak ``text`` once: 0.5 s plus ``per_char`` seconds per
    character (0.06 by default; a simulator's setting is ``kernel.latency.speech_per_char``,
    ``core.latency``)."""
    return 0.5 + per_char * len(text)


def seconds(node: Node, per_char: float = SPEECH_SECONDS_PER_CHAR) -> float:
    """Simulated time one pass of a Say, Play or Pause takes (Say: :func:`say_seconds` at
    ``per_char``; Pause: its ``length``, default 1)."""
    if node.name == "Say":
        return say_seconds(node.text, per_char)
    if node.name == "Play":
        return PLAY_SECONDS
    return float(node.attrs.get("length", "1"))


def loops(node: Node) -> int:
    """How many times a Say or Play runs: its ``loop`` (default 1; 0 means 1000)."""
    count = int(node.attrs.get("loop", "1"))
    return 1000 if count == 0 else count


def parse_events(value: str | list[str] | None, allowed: frozenset[str]) -> frozenset[str]:
    """Split a statusCallbackEvent value into event names.

    Args:
        value: Space-separated names (TwiML), or a list of them (REST, one value
            per repeated form parameter, each possibly space-separated).
        allowed: The names this callback accepts.

    Returns:
        The set of names asked for (empty if ``value`` is empty).

    Raises:
        TwimlError: Code 12200 if a name is not in ``allowed``.
    """
    if not value:
        return frozenset()
    items = [value] if isinstance(value, str) else value
    names = {n for item in items for n in re.split(r"[\s,]+", item) if n}
    unknown = names - allowed
    if unknown:
        raise TwimlError(f"Unknown statusCallbackEvent {sorted(unknown)}; "
                         f"allowed: {sorted(allowed)}")
    return frozenset(names)


def _verb(element: ElementTree.Element) -> Node:
    attrs_spec, children_spec, text_ok = _VERBS[element.tag]
    _check_attrs(element, attrs_spec)
    children = []
    for child in element:
        if child.tag not in children_spec:
            raise TwimlError(f"<{child.tag}> is not allowed inside <{element.tag}>")
        child_attrs, child_text_ok = children_spec[child.tag]
        _check_attrs(child, child_attrs)
        if len(child):
            raise TwimlError(f"<{child.tag}> may not contain elements")
        if not child_text_ok:
            _check_no_text(child.text, child.tag)
        children.append(Node(child.tag, dict(child.attrib), (child.text or "").strip()))
        _check_no_text(child.tail, element.tag)
    text = (element.text or "").strip()
    if not text_ok:
        _check_no_text(text, element.tag)
    attrs = dict(element.attrib)
    if element.tag == "Say" and children:  # <Say><prosody rate>words</prosody></Say>: the words, at that rate
        if text or len(children) > 1:
            raise TwimlError("<Say> holds its words, or one <prosody> around them")
        text, attrs["rate"], children = children[0].text, children[0].attrs.get("rate", "medium"), []
    node = Node(element.tag, attrs, text, tuple(children))
    _check_content(node)
    return node


def _check_content(node: Node) -> None:
    if node.name == "Dial":
        if node.children and node.text:
            raise TwimlError("<Dial> has both a number as text and nouns")
        if not node.children and not node.text:
            raise TwimlError("<Dial> has nothing to dial")
        if len(node.children) > 1 and any(c.name == "Conference" for c in node.children):
            raise TwimlError("<Dial> may hold only one <Conference>")
        for child in node.children:
            if child.name == "Conference":
                if not child.text:
                    raise TwimlError("<Conference> needs a room name")
                parse_events(child.attrs.get("statusCallbackEvent"), CONFERENCE_EVENTS)
            else:
                parse_events(child.attrs.get("statusCallbackEvent"), CALL_EVENTS)
    elif node.name == "Record":
        parse_events(node.attrs.get("recordingStatusCallbackEvent"), RECORDING_EVENTS)
        if not 1 < int(node.attrs.get("maxLength", "3600")) <= MAX_RECORD_SECONDS:
            raise TwimlError(f"<Record> maxLength must be 2 to {MAX_RECORD_SECONDS} seconds")
    elif node.name == "Redirect" and not node.text:
        raise TwimlError("<Redirect> needs a URL")
    elif node.name == "Play" and not node.text and "digits" not in node.attrs:
        raise TwimlError("<Play> needs a URL or digits")
    elif node.name == "Say" and not node.text:
        raise TwimlError("<Say> has no text")
    elif node.name in ("Start", "Stop"):
        if len(node.children) != 1:
            raise TwimlError(f"<{node.name}> must hold exactly one <Transcription>")
        if node.name == "Stop" and not node.children[0].attrs.get("name"):
            raise TwimlError("<Stop><Transcription> needs the name of the one to stop")


def _check_attrs(element: ElementTree.Element, spec: dict) -> None:
    for name, value in element.attrib.items():
        if name not in spec:
            raise TwimlError(f"Unknown attribute {name!r} on <{element.tag}>")
        rule = spec[name]
        if rule is None:
            continue
        ok = rule.match(value) if isinstance(rule, re.Pattern) else value in rule
        if not ok:
            raise TwimlError(f"Invalid value {value!r} for {name!r} on <{element.tag}>")


def _check_no_text(text: str | None, where: str) -> None:
    if text and text.strip():
        raise TwimlError(f"Unexpected text {text.strip()[:40]!r} in <{where}>")
